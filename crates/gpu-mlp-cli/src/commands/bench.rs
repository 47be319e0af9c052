//! `gpu-mlp bench`: measure (or read a saved record), print, save, compare.

use super::devices::engine_choice;
use crate::cli::BenchArgs;
use gpu_mlp::diagnostics::bench::sweep::{self, SweepOptions};
use gpu_mlp::diagnostics::bench::{self, measure, BenchRecord};
use gpu_mlp::diagnostics::records::{read_json, write_json};
use gpu_mlp::engine::gpu::{DeviceNeeds, GpuContext};
use gpu_mlp::engine::BackendChoice;
use gpu_mlp::error::{Error, Result};
use gpu_mlp::fsio::atomic;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Reads a saved record, refusing another format.
pub fn read_record(path: &Path) -> Result<BenchRecord> {
    let record: BenchRecord = read_json(path, "a gpu-mlp bench record")?;
    if record.format != bench::FORMAT {
        return Err(Error::Read {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "a record of format '{}'; this gpu-mlp reads '{}'",
                    record.format,
                    bench::FORMAT
                ),
            ),
        });
    }
    Ok(record)
}

/// Opens the GPU the flags name, with timestamp queries where the adapter has them; `None` when
/// the run is the CPU engine's (`--backend cpu`, or `auto` without a hardware adapter, as
/// `train` would choose).
fn open(args: &BenchArgs) -> Result<Option<(Arc<GpuContext>, f64)>> {
    let (choice, adapter) = engine_choice(&args.engine)?;
    // The defaults hold every buffer of the run (the largest: a 2048² matrix, 16 MiB).
    let needs = DeviceNeeds {
        optional_features: wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES,
        ..DeviceNeeds::default()
    };
    let started = Instant::now();
    let ctx = gpu_mlp::diagnostics::verify::open_adapter(choice, adapter, &needs, true)?;
    if ctx.is_none() && choice == BackendChoice::Auto {
        println!(
            "no hardware GPU adapter: measuring the CPU engine, which `train --backend auto` \
             would use (--backend vulkan measures a software adapter)"
        );
    }
    Ok(ctx.map(|c| (c, started.elapsed().as_secs_f64())))
}

/// ` --sweep --quick`: the flags that change what is measured, for the first line.
fn flags(args: &BenchArgs) -> String {
    let mut out = String::new();
    if args.sweep {
        out.push_str(" --sweep");
    }
    if args.quick {
        out.push_str(" --quick");
    }
    out
}

pub fn run(args: &BenchArgs) -> Result<BenchRecord> {
    let old = args.compare.as_deref().map(read_record).transpose()?;
    for path in args.json.iter().chain(args.sweep.then_some(&args.plot)) {
        atomic::check_writable(path)?;
    }
    let record = match &args.from {
        Some(path) => {
            let record = read_record(path)?;
            for line in bench::record_lines(&record) {
                println!("{line}");
            }
            record
        }
        None => {
            let mut opts = measure::BenchOptions::new(args.quick, args.repeats.map(|r| r as usize));
            opts.steps_per_submit = args.engine.steps_per_submit as usize;
            let mut log = |line: &str| println!("{line}");
            let record = match open(args)? {
                Some((ctx, open_s)) => {
                    println!(
                        "gpu-mlp {} bench{} on {}",
                        gpu_mlp::diagnostics::records::BuildInfo::current().describe(),
                        flags(args),
                        ctx.describe()
                    );
                    println!(
                        "each figure: median of {} runs after a warm-up [min - max]",
                        opts.repeats
                    );
                    if args.sweep {
                        sweep::run_gpu(
                            ctx,
                            open_s,
                            &SweepOptions::new(opts.quick),
                            &opts,
                            &mut log,
                        )?
                    } else {
                        measure::run_gpu(ctx, open_s, &opts, &mut log)?
                    }
                }
                None => {
                    println!(
                        "gpu-mlp {} bench{} on the CPU engine (training figures only)",
                        gpu_mlp::diagnostics::records::BuildInfo::current().describe(),
                        flags(args),
                    );
                    if args.sweep {
                        sweep::run_cpu(&SweepOptions::new(opts.quick), &opts, &mut log)?
                    } else {
                        measure::run_cpu(&opts, &mut log)?
                    }
                }
            };
            println!();
            println!(
                "{} figures in {:.1} s",
                record.figures.len(),
                record.seconds
            );
            record
        }
    };
    if let Some(path) = &args.json {
        write_json(path, &record)?;
        println!("record written to {}", path.display());
    }
    if args.sweep {
        {
            let curves = sweep::curves(&record);
            crate::plots::scaling_curves(
                &args.plot,
                &curves.title,
                ("samples/s", &curves.throughput),
                ("% of the best matmul rate", &curves.share),
            )?;
        }
        println!("plot written to {}", args.plot.display());
    }
    if let (Some(old), Some(path)) = (&old, &args.compare) {
        println!();
        println!("compared with {}:", path.display());
        for line in bench::comparison_lines(&record, old) {
            println!("{line}");
        }
    }
    Ok(record)
}
