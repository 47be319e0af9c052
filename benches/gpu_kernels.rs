//! Each kernel alone: the matmul variants at the MLP shapes (GFLOP/s), to choose tiles per
//! adapter (785x32x128 and 129x32x128 are the weight gradients of a batch-32 step;
//! `GPU_BENCH_VARIANTS=forward|backward|grad` picks one product). The median of a few runs of
//! back-to-back dispatches after a warm-up (`MatmulTimer`). Run: `cargo bench --bench
//! gpu_kernels` (`GPU_BENCH_TILES=1,3` picks matmul variants by number; `GPU_BENCH_CHECKS=1` also
//! times each product with wgpu's runtime checks kept, next to the engine's unchecked modules).

use gpu_mlp::engine::gpu::timing::MatmulTimer;
use gpu_mlp::engine::gpu::{DeviceNeeds, GpuContext, MatmulVariant, Pipelines, Product, Transpose};
use std::sync::Arc;

fn main() {
    let backends = std::env::var("GPU_BENCH_BACKEND")
        .map(|s| wgpu::Backends::from_comma_list(&s))
        .unwrap_or(wgpu::Backends::VULKAN);
    let ctx = match GpuContext::open(Some(backends), None, &DeviceNeeds::default()) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("no GPU: {e}");
            return;
        }
    };
    println!("{}", ctx.describe());
    let mut pipes = vec![("", Pipelines::new(&ctx.device).expect("pipelines"))];
    if std::env::var("GPU_BENCH_CHECKS").is_ok_and(|v| v == "1") {
        let checked = Pipelines::with_runtime_checks(&ctx.device, true).expect("pipelines");
        pipes.push((" checked", checked));
    }
    let tiles: Vec<MatmulVariant> = match std::env::var("GPU_BENCH_TILES") {
        Ok(list) => list
            .split(',')
            .filter_map(|v| MatmulVariant::from_number(v.trim().parse().ok()?))
            .collect(),
        Err(_) => MatmulVariant::ALL.to_vec(),
    };
    let variants: Vec<Transpose> = match std::env::var("GPU_BENCH_VARIANTS").as_deref() {
        Ok("forward") => vec![Transpose::None],
        Ok("grad") => vec![Transpose::A],
        Ok("backward") => vec![Transpose::B],
        _ => Transpose::ALL.to_vec(),
    };
    for tile in tiles {
        for &t in &variants {
            for (m, k, n) in [
                (32, 784, 128),
                (256, 784, 128),
                (1024, 784, 128),
                (32, 128, 128),
                (785, 32, 128),
                (129, 32, 128),
            ] {
                let product = Product::new(t, m, k, n);
                for (label, pipes) in &pipes {
                    let timed = MatmulTimer::new(ctx.clone(), pipes, product, tile)
                        .and_then(|timer| timer.median(5, 0.002));
                    match timed {
                        Ok(s) => println!(
                            "matmul {} {}. {}{label}: {:.2} GFLOP/s ({:.1} µs)",
                            product.name(),
                            tile.number(),
                            tile.name(),
                            product.flops() / s / 1e9,
                            s * 1e6
                        ),
                        Err(e) => println!("{}: {e}", tile.name()),
                    }
                }
            }
        }
    }
}
