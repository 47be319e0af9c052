//! Taking the figures. Every timed region ends with the device idle (a wait, or a readback that
//! waits); every figure is the median of `repeats` runs after a warm-up run, each run long
//! enough (`BenchOptions::run_seconds`) for the clock's resolution not to matter. A product so
//! slow that the runs would exceed the figure's time budget gets fewer runs (at least one), and
//! its figure says so.

pub use super::options::{networks, BenchOptions};
use super::{BenchRecord, Figure, FORMAT};
use crate::data::{Inputs, Label, Samples};
use crate::diagnostics::records::{AdapterRecord, BuildInfo, HostInfo};
use crate::engine::cpu::CpuEngine;
use crate::engine::gpu::timing::{timestamp_method, MatmulTimer};
use crate::engine::gpu::{
    tuning, GpuContext, GpuEngine, GpuOptions, MatmulVariant, Pipelines, Product, Transpose,
};
use crate::engine::{Engine, EpochPlan, Split, StepPlan};
use crate::error::Result;
use crate::model::dropout;
use crate::model::optimizer::Optimizer;
use crate::model::ModelSpec;
use crate::training::shuffled_rows;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What the training figures train on.
pub const DATA_NOTE: &str = "synthetic u8 pixels and labels (784 features, 10 classes)";

/// Seeded random 28×28 images and labels.
pub(super) fn synthetic(count: usize) -> Samples {
    let mut rng = Pcg64Mcg::seed_from_u64(0xbe9c_4d47);
    Samples {
        inputs: Inputs::Pixels((0..count * 784).map(|_| rng.random::<u8>()).collect()),
        labels: (0..count)
            .map(|_| Label::from(rng.random_range(0..10u8)))
            .collect(),
        count,
        features: 784,
    }
}

/// The optimizer every bench engine trains with: Adam at 1e-3, as `train` does by default.
pub(super) fn optimizer() -> Optimizer {
    Optimizer::adam(1e-3)
}

/// A GPU engine as the bench trains it, sharing the device and the pipelines built once for the
/// whole run.
pub(super) fn gpu_engine(
    ctx: &Arc<GpuContext>,
    pipes: &Arc<Pipelines>,
    spec: &ModelSpec,
    batch: usize,
    options: GpuOptions,
) -> Result<GpuEngine> {
    GpuEngine::new(
        Arc::clone(ctx),
        Some(Arc::clone(pipes)),
        spec,
        &spec.init_parameters(1),
        optimizer(),
        batch,
        options,
    )
}

/// `steps` full batches through a shuffled order of `count` rows, wrapping around.
fn plan(count: usize, batch: usize, steps: usize, opt: Optimizer) -> EpochPlan {
    let mut rng = Pcg64Mcg::seed_from_u64(0x0051_a7e9);
    let order = shuffled_rows(count, &mut rng);
    let starts = count - batch + 1;
    EpochPlan {
        order,
        steps: (0..steps)
            .map(|i| {
                let t = i as u64 + 1;
                StepPlan {
                    start: ((i * batch) % starts) as u32,
                    len: batch as u32,
                    t: t as u32,
                    step_size: opt.step_size(t),
                    decay: opt.decay(1.0),
                    dropout_seed: dropout::step_seed(1, t),
                }
            })
            .collect(),
    }
}

/// Collects figures and prints each (with its group's heading) as it is taken.
pub(super) struct Figures<'a> {
    list: Vec<Figure>,
    kernel_timing: String,
    log: &'a mut dyn FnMut(&str),
}

impl<'a> Figures<'a> {
    pub(super) fn new(kernel_timing: &str, log: &'a mut dyn FnMut(&str)) -> Self {
        Self {
            list: Vec::new(),
            kernel_timing: kernel_timing.to_string(),
            log,
        }
    }

    pub(super) fn add(&mut self, f: Figure) {
        if self.list.last().is_none_or(|l| l.group != f.group) {
            (self.log)("");
            (self.log)(&super::group_heading(&f.group, &self.kernel_timing));
        }
        (self.log)(&super::figure_line(&f));
        self.list.push(f);
    }

    pub(super) fn note(&mut self, line: &str) {
        (self.log)(line);
    }
}

/// Throughput of full training steps: a warm-up, then runs of a plan long enough for
/// `run_seconds`, with `after_run(engine, seconds per step)` after each (the per-kernel profile
/// that pairs with it). Returns (samples/s of each run, seconds per step of each run, a note).
pub(super) fn training_runs<E: Engine>(
    engine: &mut E,
    count: usize,
    batch: usize,
    opt: Optimizer,
    opts: &BenchOptions,
    mut after_run: impl FnMut(&mut E, f64) -> Result<()>,
) -> Result<(Vec<f64>, Vec<f64>, String)> {
    let warm = plan(count, batch, 2, opt);
    let started = Instant::now();
    engine.train_epoch(&warm, &mut |_, _| {})?;
    let one = started.elapsed().as_secs_f64() / 2.0;
    let steps = opts.iterations(one, 20_000).max(3);
    let runs = opts.runs(one * steps as f64);
    let p = plan(count, batch, steps, opt);
    let (mut rates, mut step_times) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let started = Instant::now();
        engine.train_epoch(&p, &mut |_, _| {})?;
        let s = started.elapsed().as_secs_f64();
        rates.push((steps * batch) as f64 / s);
        step_times.push(s / steps as f64);
        after_run(engine, s / steps as f64)?;
    }
    let note = if runs < opts.repeats {
        format!("{runs} runs of {steps} steps (time budget)")
    } else {
        format!("{steps} steps per run")
    };
    Ok((rates, step_times, note))
}

fn unix_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The GPU figures on `ctx` (opened in `open_seconds`, with timestamp queries where the adapter
/// has them): start-up, matmul at the model's shapes and squares for each tile, and for each
/// training configuration its throughput, step time, per-kernel times and the share outside
/// kernels.
pub fn run_gpu(
    ctx: Arc<GpuContext>,
    open_seconds: f64,
    opts: &BenchOptions,
    log: &mut dyn FnMut(&str),
) -> Result<BenchRecord> {
    let started = Instant::now();
    let method = timestamp_method(&ctx);
    let mut timestamps = method.is_some();
    const WALL: &str = "wall clock (each dispatch alone, repeated back to back)";
    let mut figs = Figures::new(method.map_or(WALL, |m| m.describe()), log);
    let opt = optimizer();

    // Start-up: device, the fixed pipelines, the first engine (its matmul pipelines), the
    // first training step.
    let t = Instant::now();
    let pipes = Arc::new(Pipelines::new(&ctx.device)?);
    let pipes_s = t.elapsed().as_secs_f64();
    let (first_spec, first_batch) = (networks()[0].clone(), 32);
    let t = Instant::now();
    let mut first = gpu_engine(
        &ctx,
        &pipes,
        &first_spec,
        first_batch,
        GpuOptions::default(),
    )?;
    let engine_s = t.elapsed().as_secs_f64();
    let tiles = first.tile_choices();
    if tiles.measured > 0 {
        figs.note(&format!(
            "  the engine figure below includes timing the tiles of {} products ({:.2} s), done \
             once per adapter; run again for the start-up of later runs",
            tiles.measured, tiles.seconds
        ));
    }
    let data = synthetic(4096);
    let t = Instant::now();
    first.load_split(Split::Train, &data)?;
    first.set_parameters(&first_spec.init_parameters(1))?;
    first.train_epoch(&plan(data.count, first_batch, 1, opt), &mut |_, _| {})?;
    let first_step_s = t.elapsed().as_secs_f64();
    drop(first);
    let one = |name: &str, s: f64| Figure::from_samples(name, "startup", "s", false, &[s]);
    figs.add(one("startup: open the device", open_seconds));
    figs.add(one(
        "startup: compile gather, softmax-ce, optimizer",
        pipes_s,
    ));
    figs.add(one(
        "startup: engine for 784-128-10 (matmul pipelines, buffers)",
        engine_s,
    ));
    figs.add(one(
        "startup: upload data, first training step",
        first_step_s,
    ));
    figs.add(one(
        "startup: device to first training step",
        open_seconds + pipes_s + engine_s + first_step_s,
    ));

    // Matmul: the three products of a 784-128 layer at each batch, then squares.
    let tile_cache = tuning::default_cache_file();
    let limits = ctx.device.limits();
    let mut products: Vec<(&str, Transpose, (usize, usize, usize))> = Vec::new();
    for &b in opts.matmul_batches() {
        products.push(("forward X*W", Transpose::None, (b, 784, 128)));
        products.push(("weight grad [X 1]^T*dZ", Transpose::A, (785, b, 128)));
        products.push(("input grad dZ*W^T", Transpose::B, (b, 128, 784)));
    }
    for &n in opts.squares() {
        products.push(("square A*B", Transpose::None, (n, n, n)));
    }
    for (label, t, (m, k, n)) in products {
        let product = Product::new(t, m, k, n);
        let chosen = tuning::remembered(&ctx, product, tile_cache.as_deref());
        for tile in MatmulVariant::ALL {
            let name = format!("matmul {label} {m}x{k}x{n} {}", tile.name());
            if let Err(why) = tile.check(&limits) {
                figs.note(&format!("  {name}: skipped ({why})"));
                continue;
            }
            let timer = MatmulTimer::new(Arc::clone(&ctx), &pipes, product, tile)?;
            let warm = timer.sample(1)?;
            let dispatches = opts.iterations(warm, 10_000);
            let runs = opts.runs(warm * dispatches as f64);
            let mut rates = Vec::with_capacity(runs);
            for _ in 0..runs {
                rates.push(timer.flops / timer.sample(dispatches)? / 1e9);
            }
            let mut notes = Vec::new();
            if Some(tile) == chosen {
                notes.push("chosen".to_string());
            }
            if runs < opts.repeats {
                notes.push(format!("{runs} runs (time budget)"));
            }
            figs.add(
                Figure::from_samples(name, "matmul", "GFLOP/s", true, &rates)
                    .with_note(notes.join(", ")),
            );
        }
    }

    if let Some(best) = figs
        .list
        .iter()
        .filter(|f| f.group == "matmul")
        .max_by(|a, b| a.median.total_cmp(&b.median))
    {
        let line = format!(
            "  measured peak: {} GFLOP/s ({}); `bench --from FILE` shows each product's share",
            super::num(best.median),
            best.name
        );
        figs.note(&line);
    }

    // Training configurations.
    for (spec, batch) in opts.trainings() {
        let config = format!("{}, batch {batch}", spec.describe());
        let mut engine = gpu_engine(&ctx, &pipes, &spec, batch, opts.gpu_options())?;
        let count = load_training_data(&mut engine, &spec, batch, &data)?;
        // After each throughput run, the per-kernel times of a few steps: the share outside
        // kernels is taken run by run from figures measured next to each other.
        let mut per_kernel: Vec<(String, Vec<f64>)> = Vec::new();
        let mut sums: Vec<f64> = Vec::new();
        let mut notes: Vec<String> = Vec::new();
        let (rates, step_times, note) =
            training_runs(&mut engine, count, batch, opt, opts, |e, step| {
                let mut run: Option<Vec<(String, Vec<f64>)>> = None;
                if timestamps {
                    match e.profile_step_timestamps(3) {
                        Ok(p) => {
                            if p.busy() > 1.05 {
                                notes.push(format!(
                                    "  warning: the timestamps add up to {:.0}% of the wall \
                                     time; they over-report on this adapter",
                                    100.0 * p.busy()
                                ));
                            }
                            run = Some(p.kernels);
                        }
                        Err(err) => {
                            notes.push(format!(
                                "  timestamp queries failed ({err}); per-kernel times from the \
                                 wall clock"
                            ));
                            timestamps = false;
                        }
                    }
                }
                let run = match run {
                    Some(r) => r,
                    None => {
                        // Each dispatch alone, `reps` times back to back.
                        let reps = opts.iterations(2.0 * step, 1000).max(3);
                        let p = e.profile_step(reps)?;
                        p.kernels.into_iter().map(|(n, s)| (n, vec![s])).collect()
                    }
                };
                let steps = run.first().map_or(0, |k| k.1.len());
                let step_sums: Vec<f64> = (0..steps)
                    .map(|i| run.iter().map(|(_, s)| s[i]).sum())
                    .collect();
                sums.push(super::stats(&step_sums).0);
                for (i, (name, samples)) in run.into_iter().enumerate() {
                    match per_kernel.get_mut(i) {
                        Some(slot) => slot.1.extend(samples),
                        None => per_kernel.push((name, samples)),
                    }
                }
                Ok(())
            })?;
        for line in notes {
            figs.note(&line);
        }
        if !timestamps {
            figs.kernel_timing = WALL.to_string();
        }
        add_throughput_and_step(&mut figs, &config, &rates, &step_times, note);
        // Each run's share of the step time not covered by the kernels measured after it.
        let outside: Vec<f64> = step_times
            .iter()
            .zip(&sums)
            .map(|(step, kernels)| 100.0 * (1.0 - kernels / step))
            .collect();
        figs.add(Figure::from_samples(
            format!("{config}: outside kernels"),
            "train",
            "%",
            false,
            &outside,
        ));
        figs.add(microseconds(format!("{config}: kernels (sum)"), &sums));
        for (name, samples) in &per_kernel {
            figs.add(microseconds(format!("{config}: kernel {name}"), samples));
        }
    }

    let mut record = record(figs, opts, started, open_seconds);
    record.backend = ctx.info.backend.to_string();
    record.engine = ctx.describe();
    record.adapter = Some(AdapterRecord::from_context(&ctx));
    record.steps_per_submit = Some(opts.steps_per_submit);
    Ok(record)
}

/// The CPU engine's training figures (throughput and step time per configuration), named as
/// the GPU's so the records compare.
pub fn run_cpu(opts: &BenchOptions, log: &mut dyn FnMut(&str)) -> Result<BenchRecord> {
    let started = Instant::now();
    let mut figs = Figures::new("none (CPU engine)", log);
    let opt = optimizer();
    let mut engine_name = String::new();
    let data = synthetic(4096);
    for (spec, batch) in opts.trainings() {
        let config = format!("{}, batch {batch}", spec.describe());
        let mut engine = CpuEngine::new(&spec, &spec.init_parameters(1), opt, batch)?;
        engine_name = engine.describe();
        let count = load_training_data(&mut engine, &spec, batch, &data)?;
        let (rates, step_times, note) =
            training_runs(&mut engine, count, batch, opt, opts, |_, _| Ok(()))?;
        add_throughput_and_step(&mut figs, &config, &rates, &step_times, note);
    }
    let mut record = record(figs, opts, started, 0.0);
    record.backend = "cpu".to_string();
    record.engine = engine_name;
    Ok(record)
}

/// The record of a run from its figures, started at `started` after `open_seconds` of opening
/// the device; the caller names the engine (backend, engine, adapter, steps per submit).
pub(super) fn record(
    figs: Figures,
    opts: &BenchOptions,
    started: Instant,
    open_seconds: f64,
) -> BenchRecord {
    BenchRecord {
        format: FORMAT.to_string(),
        build: BuildInfo::current(),
        host: HostInfo::current(),
        backend: String::new(),
        engine: String::new(),
        adapter: None,
        quick: opts.quick,
        repeats: opts.repeats,
        steps_per_submit: None,
        kernel_timing: figs.kernel_timing,
        data: DATA_NOTE.to_string(),
        unix_time: unix_time(),
        seconds: started.elapsed().as_secs_f64() + open_seconds,
        figures: figs.list,
    }
}

/// Loads enough synthetic samples for four batches (at least the shared 4096) and fresh
/// parameters into an engine, the same for both engines; returns the sample count.
pub(super) fn load_training_data(
    engine: &mut dyn Engine,
    spec: &ModelSpec,
    batch: usize,
    shared: &Samples,
) -> Result<usize> {
    let count = (4 * batch).max(shared.count);
    if count == shared.count {
        engine.load_split(Split::Train, shared)?;
    } else {
        engine.load_split(Split::Train, &synthetic(count))?;
    }
    engine.set_parameters(&spec.init_parameters(1))?;
    Ok(count)
}

/// The two figures every training configuration reports, on either engine: samples/s and the
/// step time in µs, from the same runs.
fn add_throughput_and_step(
    figs: &mut Figures,
    config: &str,
    rates: &[f64],
    step_times: &[f64],
    note: String,
) {
    figs.add(
        Figure::from_samples(
            format!("{config}: throughput"),
            "train",
            "samples/s",
            true,
            rates,
        )
        .with_note(note),
    );
    figs.add(microseconds(format!("{config}: step"), step_times));
}

/// A training figure of times measured in seconds, shown in µs (lower is better).
fn microseconds(name: String, seconds: &[f64]) -> Figure {
    let us: Vec<f64> = seconds.iter().map(|s| s * 1e6).collect();
    Figure::from_samples(name, "train", "us", false, &us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_stay_inside_the_rows() {
        let p = plan(100, 32, 10, Optimizer::adam(1e-3));
        assert_eq!(p.steps.len(), 10);
        assert!(p.steps.iter().all(|s| s.start as usize + 32 <= 100));
        assert_eq!(p.steps[9].t, 10);
        let p = plan(32, 32, 3, Optimizer::adam(1e-3));
        assert!(p.steps.iter().all(|s| s.start == 0));
    }

    #[test]
    fn run_counts_respect_the_budget() {
        let o = BenchOptions::new(true, None);
        assert_eq!(o.repeats, 3);
        assert_eq!(o.runs(0.1), 3);
        assert_eq!(o.runs(100.0), 1);
        assert_eq!(o.iterations(1.0, 100), 1);
        assert!(o.iterations(1e-6, 100) == 100);
        assert_eq!(networks().len(), 3);
        assert_eq!(o.trainings().len(), 4);
        assert_eq!(BenchOptions::new(false, Some(2)).trainings().len(), 9);
    }
}
