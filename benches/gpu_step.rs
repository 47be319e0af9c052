//! Training step of 784-128-128-128-10 at batch 32, 256 and 1024 on vulkan and on the CPU engine
//! (samples/s), the matmul alone at the MLP shapes (GFLOP/s), and each kernel of a batch-32 step
//! timed alone against the whole step (orchestration overhead). Wall clock, after the device is
//! idle (every timed region ends with a wait). Run: `cargo bench --bench gpu_step`.
//! `GPU_BENCH_BACKEND=vulkan|gl|...` picks the wgpu backend (default vulkan).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gpu_mlp::data::Samples;
use gpu_mlp::engine::cpu::CpuEngine;
use gpu_mlp::engine::gpu::timing::MatmulTimer;
use gpu_mlp::engine::gpu::tuning::{self, TilePolicy};
use gpu_mlp::engine::gpu::{
    DeviceNeeds, GpuContext, GpuEngine, GpuOptions, MatmulVariant, Pipelines, Product, Transpose,
};
use gpu_mlp::engine::{Engine, EpochPlan, Split, StepPlan};
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::model::ModelSpec;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCHES: [usize; 3] = [32, 256, 1024];

fn spec() -> ModelSpec {
    ModelSpec::new(784, vec![128, 128, 128], 10, 0.2).expect("valid spec")
}

fn data(n: usize) -> Samples {
    let mut x = 12345u32;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    Samples::new(
        gpu_mlp::data::Inputs::Pixels((0..n * 784).map(|_| next() as u8).collect()),
        (0..n).map(|_| (next() % 10) as u16).collect(),
        784,
    )
    .expect("samples")
}

/// `steps` full batches over the first `batch` samples.
fn plan(batch: usize, steps: u64, opt: Optimizer) -> EpochPlan {
    EpochPlan {
        order: (0..batch as u32).collect(),
        steps: (1..=steps)
            .map(|t| StepPlan {
                start: 0,
                len: batch as u32,
                t: t as u32,
                step_size: opt.step_size(t),
                decay: opt.decay(1.0),
                dropout_seed: t as u32,
            })
            .collect(),
    }
}

fn context() -> Option<Arc<GpuContext>> {
    let backends = std::env::var("GPU_BENCH_BACKEND")
        .map(|s| wgpu::Backends::from_comma_list(&s))
        .unwrap_or(wgpu::Backends::VULKAN);
    match GpuContext::open(Some(backends), None, &DeviceNeeds::default()) {
        Ok(ctx) => Some(Arc::new(ctx)),
        Err(e) => {
            eprintln!("no GPU benchmarks: {e}");
            None
        }
    }
}

fn train_step(c: &mut Criterion) {
    let spec = spec();
    let opt = Optimizer::adam(1e-3);
    let samples = data(1024);
    let ctx = context();
    let mut group = c.benchmark_group("train_step 784-128-128-128-10");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    for batch in BATCHES {
        group.throughput(Throughput::Elements(batch as u64));
        let mut engines: Vec<(String, Box<dyn Engine>)> = Vec::new();
        let init = spec.init_parameters(1);
        if let Some(ctx) = &ctx {
            let gpu = GpuEngine::new(
                ctx.clone(),
                None,
                &spec,
                &init,
                opt,
                batch,
                GpuOptions::default(),
            )
            .expect("GPU engine");
            engines.push((ctx.info.backend.to_string(), Box::new(gpu)));
        }
        engines.push((
            "cpu".into(),
            Box::new(CpuEngine::new(&spec, &init, opt, batch).expect("cpu")),
        ));
        for (name, mut engine) in engines {
            engine.load_split(Split::Train, &samples).expect("load");
            eprintln!("{name}: {}", engine.describe());
            group.bench_with_input(BenchmarkId::new(name, batch), &batch, |b, &batch| {
                b.iter_custom(|iters| {
                    let plan = plan(batch, iters, opt);
                    let started = Instant::now();
                    engine.train_epoch(&plan, &mut |_, _| {}).expect("train");
                    started.elapsed()
                })
            });
        }
    }
    group.finish();
}

fn matmul(c: &mut Criterion) {
    let Some(ctx) = context() else { return };
    let pipes = Pipelines::new(&ctx.device).expect("pipelines");
    let mut group = c.benchmark_group("matmul");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    for (m, k, n) in [(32, 784, 128), (256, 784, 128), (1024, 784, 128)] {
        for tile in MatmulVariant::ALL {
            let name = tile.name().replace(' ', "");
            let product = Product::new(Transpose::None, m, k, n);
            let timer = MatmulTimer::new(ctx.clone(), &pipes, product, tile).expect("timer");
            group.throughput(Throughput::Elements((2 * m * k * n) as u64));
            group.bench_function(BenchmarkId::new(name, format!("{m}x{k}x{n}")), |b| {
                b.iter_custom(|iters| {
                    let s = timer.sample(iters as usize).expect("matmul");
                    Duration::from_secs_f64(s * iters as f64)
                })
            });
        }
    }
    group.finish();
    // One-line summaries in GFLOP/s (criterion reports elements/s = FLOP/s too), each with the
    // tile the engine picks for that product (measured once per adapter, as `train` does).
    let products: Vec<Product> = [(32, 784, 128), (256, 784, 128), (1024, 784, 128)]
        .into_iter()
        .flat_map(|(m, k, n)| Transpose::ALL.map(|t| Product::new(t, m, k, n)))
        .collect();
    let choices =
        tuning::choose(&ctx, &pipes, &products, &TilePolicy::default()).expect("tile choice");
    for p in products {
        let tile = choices.tile(p).expect("chosen");
        let timed = MatmulTimer::new(ctx.clone(), &pipes, p, tile).and_then(|t| t.median(5, 0.002));
        if let Ok(s) = timed {
            eprintln!(
                "matmul {} {}: {:.2} GFLOP/s",
                p.name(),
                tile.name(),
                p.flops() / s / 1e9
            );
        }
    }
}

fn kernels_alone(_c: &mut Criterion) {
    // Start-up: adapter, device, pipelines, upload, first step (the Mesa shader cache decides
    // most of it on lavapipe: run once with a fresh MESA_SHADER_CACHE_DIR for the cold figure).
    let samples = data(1024);
    let started = Instant::now();
    let Some(ctx) = context() else { return };
    let spec = spec();
    let opt = Optimizer::adam(1e-3);
    let init = spec.init_parameters(1);
    let mut gpu = GpuEngine::new(ctx, None, &spec, &init, opt, 32, GpuOptions::default())
        .expect("GPU engine");
    gpu.load_split(Split::Train, &samples).expect("load");
    gpu.train_epoch(&plan(32, 1, opt), &mut |_, _| {})
        .expect("first step");
    eprintln!(
        "start-up to the end of the first training step: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let profile = gpu.profile_step(200).expect("profile");
    for (name, s) in &profile.kernels {
        eprintln!("kernel {name:<28} {:>9.1} µs", s * 1e6);
    }
    eprintln!(
        "batch {}: step {:.1} µs, kernels alone {:.1} µs, overhead {:+.1}%",
        profile.batch,
        profile.step * 1e6,
        profile.kernel_sum() * 1e6,
        profile.overhead() * 100.0
    );
}

criterion_group!(benches, kernels_alone, matmul, train_step);
criterion_main!(benches);
