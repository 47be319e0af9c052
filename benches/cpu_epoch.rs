//! CPU engine throughput: one full MNIST-sized epoch (60,000 samples, batch 32) of the tutorial
//! networks, on the engine's default thread count (`GPU_MLP_CPU_THREADS`).
//!
//! `cargo bench --bench cpu_epoch`; `CPU_EPOCH_BATCHES=32,256,1024` for other batch sizes (each
//! adds about 30 s per network). Pixels are random bytes: the dense products cost the same
//! whatever the values, and the bench needs no data files. (`scripts/compare-pytorch.sh`
//! compares with PyTorch on real MNIST.)

use criterion::{criterion_group, criterion_main, Criterion};
use gpu_mlp::data::Samples;
use gpu_mlp::engine::cpu::CpuEngine;
use gpu_mlp::engine::{Engine, Split};
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::model::ModelSpec;
use gpu_mlp::training::EpochPlanner;
use rand::{Rng, SeedableRng};
use std::time::Duration;

const SAMPLES: usize = 60_000;

/// Batch sizes from `CPU_EPOCH_BATCHES` (comma-separated), else 32.
fn batch_sizes() -> Vec<usize> {
    match std::env::var("CPU_EPOCH_BATCHES") {
        Ok(list) => list
            .split(',')
            .map(|b| {
                b.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("CPU_EPOCH_BATCHES: {b:?} is not a batch size"))
            })
            .collect(),
        Err(_) => vec![32],
    }
}

fn synthetic_mnist() -> Samples {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
    let pixels = (0..SAMPLES * 784).map(|_| rng.random()).collect();
    let labels = (0..SAMPLES).map(|_| rng.random_range(0..10)).collect();
    Samples::pixels(pixels, labels, 784).unwrap()
}

fn epoch(c: &mut Criterion) {
    let data = synthetic_mnist();
    for batch in batch_sizes() {
        let mut group = c.benchmark_group(format!("cpu_epoch_60k_batch{batch}"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(25));
        for (name, hidden, dropout) in [
            ("784-128-10_dropout0.2", vec![128], 0.2),
            ("784-128-128-128-10", vec![128, 128, 128], 0.0),
            ("784-50-50-10", vec![50, 50], 0.0),
        ] {
            let spec = ModelSpec::new(784, hidden, 10, dropout).unwrap();
            let optimizer = Optimizer::adam(1e-3);
            let init = spec.init_parameters(1);
            let mut engine = CpuEngine::new(&spec, &init, optimizer, batch).unwrap();
            engine.load_split(Split::Train, &data).unwrap();
            let mut planner = EpochPlanner::new(1, SAMPLES, batch, optimizer);
            group.bench_function(name, |b| {
                b.iter(|| {
                    let plan = planner.next_epoch();
                    engine.train_epoch(&plan, &mut |_, _| {}).unwrap()
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, epoch);
criterion_main!(benches);
