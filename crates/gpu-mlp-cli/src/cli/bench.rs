//! `gpu-mlp bench`'s flags.

use super::engine::EngineArgs;
use super::values::whole_number;
use clap::Args;
use std::path::PathBuf;

pub const EXAMPLES: &str = "\
Examples:
  # the reduced set (under a minute on lavapipe), saved
  gpu-mlp bench --backend vulkan --quick --json lavapipe.json
  # the full set on another GPU, compared figure by figure with the saved record
  gpu-mlp bench --backend vulkan --adapter nvidia --json rtx.json --compare lavapipe.json
  # the CPU engine's training throughput, for comparison
  gpu-mlp bench --backend cpu --quick --json cpu.json
  # compare two saved records without measuring
  gpu-mlp bench --from rtx.json --compare lavapipe.json
  # how training scales: batch 32..4096 x hidden width 128..4096, a record and a plot
  gpu-mlp bench --backend vulkan --sweep --json sweep.json --plot sweep.png
  # a corner of the sweep (about a minute on lavapipe), compared with an older sweep
  gpu-mlp bench --sweep --quick --compare old-sweep.json

Each figure is the median of repeated runs after a warm-up, with min and max. See
docs/benchmarking.md.";

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// The engine to measure: a GPU backend (every figure) or cpu (training throughput only).
    /// auto: what `train` would use
    #[command(flatten)]
    pub engine: EngineArgs,
    /// A reduced set that finishes in under a minute on lavapipe
    #[arg(long)]
    pub quick: bool,
    /// Runs per figure after the warm-up (default 5, 3 with --quick)
    #[arg(long, value_parser = whole_number(1, 1000))]
    pub repeats: Option<u64>,
    /// Write the record (build, host, adapter, every figure with its unit) to FILE (JSON)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Print each figure's ratio to the one in this older record (new / old)
    #[arg(long, value_name = "OLD.json")]
    pub compare: Option<PathBuf>,
    /// Measure how training scales instead: samples/s and GFLOP/s of 784-W-W-10 over batch
    /// sizes 32..4096 and widths 128..4096 (--quick: a corner of it), as a share of the best
    /// matmul rate measured on the same device
    #[arg(long)]
    pub sweep: bool,
    /// Where --sweep draws its plot (throughput against batch, one line per width)
    #[arg(
        long,
        value_name = "FILE.png",
        default_value = "sweep.png",
        requires = "sweep"
    )]
    pub plot: PathBuf,
    /// Read a saved record instead of measuring (print it, or compare it with --compare)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["quick", "repeats", "backend", "adapter"])]
    pub from: Option<PathBuf>,
}
