//! `gpu-mlp bench --sweep`: how training scales on one engine. Full training steps of a
//! 784-W-W-10 network over batch sizes (32 … 4096) and hidden widths (128 … 4096), each point as
//! samples/s and as achieved GFLOP/s, and that rate as a share of the best matrix-product rate
//! measured on the same adapter (or CPU) in the same run. The figures go into an ordinary
//! [`BenchRecord`] (group `sweep`), so `--json`, `--from` and `--compare` work as for every
//! record; [`curves`] gives throughput against batch, one line per width, for a face to draw.
//!
//! Two hidden layers, so a wide network's W×W product is measured and not only the 784×W input
//! layer. A point whose step would take longer than [`SweepOptions::max_step_seconds`] at the
//! measured peak is skipped and says so: the full sweep is meant for real GPUs, where a
//! 4096-wide step at batch 4096 (about 0.5 TFLOP) takes tens of milliseconds.

use super::measure::{self, BenchOptions, Figures};
use super::{BenchRecord, Figure};
use crate::engine::cpu::{ops, CpuEngine};
use crate::engine::gpu::timing::MatmulTimer;
use crate::engine::gpu::{GpuContext, MatmulVariant, Pipelines, Product, Transpose};
use crate::engine::Engine;
use crate::error::Result;
use crate::model::ModelSpec;
use std::sync::Arc;
use std::time::Instant;

/// The figure group of the sweep.
pub const GROUP: &str = "sweep";

/// Which points to measure.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepOptions {
    pub batches: Vec<usize>,
    pub widths: Vec<usize>,
    /// Side of the square product whose best rate is the peak.
    pub peak_side: usize,
    /// Points whose step would take longer than this at the peak are skipped.
    pub max_step_seconds: f64,
}

impl SweepOptions {
    /// The full grid, or with `quick` a corner of it that takes under two minutes on lavapipe.
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                batches: vec![32, 256, 2048],
                widths: vec![128, 1024],
                peak_side: 1024,
                max_step_seconds: 0.5,
            }
        } else {
            Self {
                batches: vec![32, 64, 128, 256, 512, 1024, 2048, 4096],
                widths: vec![128, 256, 512, 1024, 2048, 4096],
                peak_side: 2048,
                max_step_seconds: 2.0,
            }
        }
    }
}

/// The sweep's network at hidden width `width`: 784-W-W-10, no dropout.
pub fn network(width: usize) -> Result<ModelSpec> {
    Ok(ModelSpec::new(784, vec![width, width], 10, 0.0)?)
}

/// Name of a point's figures, e.g. `784-512-512-10, batch 256`.
fn point_name(width: usize, batch: usize) -> String {
    format!("sweep 784-{width}-{width}-10, batch {batch}")
}

/// The best rate of a `side`³ product on the adapter over every matmul variant it can run
/// (GFLOP/s).
fn gpu_peak(
    ctx: &Arc<GpuContext>,
    pipes: &Pipelines,
    side: usize,
    opts: &BenchOptions,
) -> Result<f64> {
    let limits = ctx.device.limits();
    let product = Product::new(Transpose::None, side, side, side);
    let mut best: f64 = 0.0;
    for variant in MatmulVariant::ALL {
        if variant.check(&limits).is_err() {
            continue;
        }
        let timer = MatmulTimer::new(Arc::clone(ctx), pipes, product, variant)?;
        let seconds = timer.median(opts.repeats, 0.2)?;
        best = best.max(timer.flops / seconds / 1e9);
    }
    Ok(best)
}

/// The best rate of a `side`³ product through the CPU engine's GEMM (GFLOP/s).
fn cpu_peak(side: usize, opts: &BenchOptions) -> f64 {
    let a: Vec<f32> = (0..side * side)
        .map(|i| (i % 7) as f32 * 0.25 + 0.125)
        .collect();
    let b: Vec<f32> = (0..side * side)
        .map(|i| (i % 5) as f32 * 0.5 - 1.0)
        .collect();
    let mut c = vec![0.0f32; side * side];
    let flops = 2.0 * (side as f64).powi(3);
    let time = |c: &mut [f32], reps: usize| {
        let started = Instant::now();
        for _ in 0..reps {
            ops::matmul(&a, &b, c, side, side, side);
        }
        started.elapsed().as_secs_f64() / reps as f64
    };
    let warm = time(&mut c, 1);
    let reps = opts.iterations(warm, 1000);
    (0..opts.repeats)
        .map(|_| flops / time(&mut c, reps) / 1e9)
        .fold(0.0, f64::max)
}

/// Measures every point with engines from `open` and adds their figures after the peak's.
fn points<E: Engine>(
    figs: &mut Figures,
    sweep: &SweepOptions,
    opts: &BenchOptions,
    peak: f64,
    mut open: impl FnMut(&ModelSpec, usize) -> Result<E>,
) -> Result<()> {
    let opt = measure::optimizer();
    let data = measure::synthetic(4096);
    for &width in &sweep.widths {
        let spec = network(width)?;
        for &batch in &sweep.batches {
            let name = point_name(width, batch);
            let flops = spec.training_flops(batch);
            let estimate = flops / (peak * 1e9);
            if estimate > sweep.max_step_seconds {
                figs.note(&format!(
                    "  {name}: skipped (a step is {:.0} GFLOP, about {:.1} s at the peak)",
                    flops / 1e9,
                    estimate
                ));
                continue;
            }
            let mut engine = match open(&spec, batch) {
                Ok(e) => e,
                Err(crate::Error::Gpu(e @ crate::error::GpuError::Limit { .. })) => {
                    figs.note(&format!("  {name}: skipped ({e})"));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let count = measure::load_training_data(&mut engine, &spec, batch, &data)?;
            let (rates, step_times, note) =
                measure::training_runs(&mut engine, count, batch, opt, opts, |_, _| Ok(()))?;
            figs.add(
                Figure::from_samples(
                    format!("{name}: throughput"),
                    GROUP,
                    "samples/s",
                    true,
                    &rates,
                )
                .with_note(note),
            );
            let achieved: Vec<f64> = step_times.iter().map(|s| flops / s / 1e9).collect();
            let (median, _, _) = super::stats(&achieved);
            figs.add(
                Figure::from_samples(
                    format!("{name}: achieved"),
                    GROUP,
                    "GFLOP/s",
                    true,
                    &achieved,
                )
                .with_note(format!("{:.0}% of the peak", 100.0 * median / peak)),
            );
        }
    }
    Ok(())
}

/// The peak figure every sweep starts with.
fn peak_figure(side: usize, peak: f64) -> Figure {
    Figure::from_samples(
        format!("sweep peak: best matmul {side}x{side}x{side}"),
        GROUP,
        "GFLOP/s",
        true,
        &[peak],
    )
}

/// The sweep's record: the peak figure, then every point's, timed from `started` (plus the
/// `open_seconds` the device took before it); the caller names the engine.
fn sweep_record<E: Engine>(
    mut figs: Figures<'_>,
    sweep: &SweepOptions,
    opts: &BenchOptions,
    peak: f64,
    (started, open_seconds): (Instant, f64),
    open: impl FnMut(&ModelSpec, usize) -> Result<E>,
) -> Result<BenchRecord> {
    figs.add(peak_figure(sweep.peak_side, peak));
    points(&mut figs, sweep, opts, peak, open)?;
    Ok(measure::record(figs, opts, started, open_seconds))
}

/// The sweep on a GPU adapter (opened in `open_seconds`), with the engine as `train` builds it.
pub fn run_gpu(
    ctx: Arc<GpuContext>,
    open_seconds: f64,
    sweep: &SweepOptions,
    opts: &BenchOptions,
    log: &mut dyn FnMut(&str),
) -> Result<BenchRecord> {
    let started = Instant::now();
    let pipes = Arc::new(Pipelines::new(&ctx.device)?);
    let peak = gpu_peak(&ctx, &pipes, sweep.peak_side, opts)?;
    let figs = Figures::new("none (whole steps)", log);
    let timing = (started, open_seconds);
    let mut record = sweep_record(figs, sweep, opts, peak, timing, |spec, batch| {
        measure::gpu_engine(&ctx, &pipes, spec, batch, opts.gpu_options())
    })?;
    record.backend = ctx.info.backend.to_string();
    record.engine = ctx.describe();
    record.adapter = Some(crate::diagnostics::records::AdapterRecord::from_context(
        &ctx,
    ));
    record.steps_per_submit = Some(opts.steps_per_submit);
    Ok(record)
}

/// The sweep on the CPU engine.
pub fn run_cpu(
    sweep: &SweepOptions,
    opts: &BenchOptions,
    log: &mut dyn FnMut(&str),
) -> Result<BenchRecord> {
    let started = Instant::now();
    let peak = cpu_peak(sweep.peak_side, opts);
    let figs = Figures::new("none (CPU engine)", log);
    let mut engine_name = String::new();
    let mut record = sweep_record(figs, sweep, opts, peak, (started, 0.0), |spec, batch| {
        let engine = CpuEngine::new(spec, &spec.init_parameters(1), measure::optimizer(), batch)?;
        engine_name = engine.describe();
        Ok(engine)
    })?;
    record.backend = "cpu".to_string();
    record.engine = engine_name;
    Ok(record)
}

/// A sweep's curves: samples/s against batch size, one line per width, and the share of the
/// peak matmul rate beside it.
pub struct Curves {
    /// `gpu-mlp bench --sweep: <device>`.
    pub title: String,
    /// Per width (`784-W-W-10`), (batch, samples/s) points.
    pub throughput: Vec<(String, Vec<(f64, f64)>)>,
    /// Per width, (batch, % of the best matmul rate) points.
    pub share: Vec<(String, Vec<(f64, f64)>)>,
}

/// The curves of a sweep's `record`, for a face to draw.
pub fn curves(record: &BenchRecord) -> Curves {
    let peak = record
        .figures
        .iter()
        .find(|f| f.group == GROUP && f.name.starts_with("sweep peak"))
        .map_or(f64::NAN, |f| f.median);
    let mut throughput: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut share: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for f in record.figures.iter().filter(|f| f.group == GROUP) {
        let Some((width, batch, what)) = parse_point(&f.name) else {
            continue;
        };
        let label = format!("784-{width}-{width}-10");
        let (series, value) = match what {
            "throughput" => (&mut throughput, f.median),
            "achieved" => (&mut share, 100.0 * f.median / peak),
            _ => continue,
        };
        match series.iter_mut().find(|(l, _)| *l == label) {
            Some((_, points)) => points.push((batch as f64, value)),
            None => series.push((label, vec![(batch as f64, value)])),
        }
    }
    Curves {
        title: format!("gpu-mlp bench --sweep: {}", record.device_line()),
        throughput,
        share,
    }
}

/// (width, batch, `throughput`|`achieved`) of a point's figure name.
fn parse_point(name: &str) -> Option<(usize, usize, &str)> {
    let rest = name.strip_prefix("sweep 784-")?;
    let (width, rest) = rest.split_once('-')?;
    let (_, rest) = rest.split_once(", batch ")?;
    let (batch, what) = rest.split_once(": ")?;
    Some((width.parse().ok()?, batch.parse().ok()?, what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_count_every_product_of_a_step() {
        // 784-128-10 at batch 32: forward + weight grad of both layers, input grad of the second.
        let spec = ModelSpec::new(784, vec![128], 10, 0.0).unwrap();
        let want = 2.0 * 32.0 * (2.0 * 784.0 * 128.0 + 3.0 * 128.0 * 10.0);
        assert_eq!(spec.training_flops(32), want);
        let spec = network(512).unwrap();
        assert_eq!(spec.hidden, vec![512, 512]);
        assert_eq!(
            spec.training_flops(1),
            2.0 * (2.0 * 784.0 * 512.0 + 3.0 * 512.0 * 512.0 + 3.0 * 512.0 * 10.0)
        );
    }

    #[test]
    fn point_names_parse_back() {
        assert_eq!(
            parse_point(&format!("{}: throughput", point_name(512, 2048))),
            Some((512, 2048, "throughput"))
        );
        assert_eq!(parse_point("sweep peak: best matmul 1024x1024x1024"), None);
        assert_eq!(parse_point("784-128-10, batch 32: throughput"), None);
    }

    #[test]
    fn grids_cover_the_issue_range() {
        let full = SweepOptions::new(false);
        assert_eq!(full.batches.first(), Some(&32));
        assert_eq!(full.batches.last(), Some(&4096));
        assert_eq!(full.widths.first(), Some(&128));
        assert_eq!(full.widths.last(), Some(&4096));
        let quick = SweepOptions::new(true);
        assert!(quick.batches.len() * quick.widths.len() < full.batches.len() * full.widths.len());
    }
}
