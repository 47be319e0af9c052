//! Each kernel alone: the matmul variants at the MLP shapes for a set of tile shapes (GFLOP/s),
//! to choose tiles per adapter (785x32x128 and 129x32x128 are the weight gradients of a batch-32
//! step; `GPU_BENCH_VARIANTS=forward|backward|grad` picks one variant). Wall clock over many
//! dispatches in one submission, after a warm-up dispatch. Run: `cargo bench --bench gpu_kernels` (`GPU_BENCH_TILES=reg:8x8x4x8,...`
//! overrides the tiles: strategy:wg_x x wg_y x tm x tn; `GPU_BENCH_CHECKS=1` also times each
//! product with wgpu's runtime checks kept, interleaved with the engine's unchecked modules).

use gpu_mlp::gpu::kernels::KernelLab;
use gpu_mlp::gpu::{DeviceNeeds, GpuContext, Pipelines, Tile, Transpose};
use std::sync::Arc;

fn parse_tile(s: &str) -> Option<Tile> {
    let (kind, dims) = s.split_once(':')?;
    let d: Vec<u32> = dims
        .split('x')
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    (d.len() == 4).then(|| Tile {
        shared: kind == "shared",
        wg_x: d[0],
        wg_y: d[1],
        tm: d[2],
        tn: d[3],
    })
}

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
    let mut labs = vec![("", KernelLab::new(ctx.clone()).expect("pipelines"))];
    if std::env::var("GPU_BENCH_CHECKS").is_ok_and(|v| v == "1") {
        let pipes = Pipelines::with_runtime_checks(&ctx.device, true).expect("pipelines");
        labs.push((
            " checked",
            KernelLab::with_pipelines(ctx.clone(), Arc::new(pipes)),
        ));
    }
    let tiles: Vec<Tile> = match std::env::var("GPU_BENCH_TILES") {
        Ok(list) => list.split(',').filter_map(parse_tile).collect(),
        Err(_) => Tile::CANDIDATES.to_vec(),
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
                let reps = (200_000_000 / (m * k * n)).clamp(5, 400);
                for (label, lab) in &labs {
                    match lab.time_matmul(t, tile, m, k, n, reps) {
                        Ok(s) => println!(
                        "matmul {t:?} {m}x{k}x{n} {}:{}x{}x{}x{}{label}: {:.2} GFLOP/s ({:.1} µs)",
                        if tile.shared { "shared" } else { "reg" },
                        tile.wg_x,
                        tile.wg_y,
                        tile.tm,
                        tile.tn,
                        2.0 * (m * k * n) as f64 / s / 1e9,
                        s * 1e6
                    ),
                        Err(e) => println!("{tile:?}: {e}"),
                    }
                }
            }
        }
    }
}
