//! `gpu-mlp verify`'s flags.

use super::data::DataArgs;
use super::engine::EngineArgs;
use super::values::{parse_hidden, parse_rate, whole_number, HiddenLayers};
use clap::Args;
use std::path::PathBuf;

pub const EXAMPLES: &str = "\
Examples:
  # every kernel on the default adapter, then 50 Adam and 50 SGD lockstep steps of 784-128-10
  gpu-mlp verify
  # a named adapter, the deeper tutorial network, a report to attach to a bug report
  gpu-mlp verify --backend vulkan --adapter 0 --hidden 128,128,128 --json verify.json

The lockstep check trains on the first rows of the data set when it is found locally (verify
never downloads) and on random pixels otherwise; the output says which. Exit status: 0 when every
check is within its bound, 1 otherwise.
Self-test of the checker: GPU_MLP_VERIFY_PERTURB=PREFIX (a kernel name prefix: matmul, gather,
softmax, adam, sgd; or lockstep) nudges one GPU output element of those checks before the
comparison, so they must fail and verify must exit with status 1.
Fault injection: GPU_MLP_MUTANT=NAME (e.g. matmul-no-bias, adam-pytorch-epsilon; an unknown name
lists them) compiles that kernel wrong on the device; verify says so first and must fail.";

#[derive(Args, Debug, Clone)]
pub struct VerifyArgs {
    /// The data set defines the model's inputs and classes (default MNIST: 784 -> 10) and gives
    /// the lockstep check its rows; verify never downloads
    #[command(flatten)]
    pub data: DataArgs,
    /// The adapter to check (--backend auto: the most capable adapter, software ones included)
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Hidden layer widths of the model whose shapes are checked
    #[arg(long, default_value = "128", value_parser = parse_hidden, value_name = "W1,W2,..")]
    pub hidden: HiddenLayers,
    /// Dropout rate of the model (its mask is checked bit for bit)
    #[arg(long, default_value_t = 0.2, value_parser = parse_rate)]
    pub dropout: f32,
    /// Batch size of the model's shapes and of the lockstep steps
    #[arg(long, default_value_t = 32, value_parser = whole_number(1, 65536))]
    pub batch_size: u64,
    /// Lockstep training steps on both engines; the first 50 are held to the bounds, later ones
    /// show how the engines drift apart (0 skips the lockstep check)
    #[arg(long, default_value_t = 50, value_parser = whole_number(0, 100_000))]
    pub steps: u64,
    /// Seed of the random inputs, the initialisation, the shuffle and dropout
    #[arg(long, default_value_t = 42, value_parser = whole_number(0, u64::MAX))]
    pub seed: u64,
    /// Write the whole result with the adapter's info to FILE (JSON), e.g. for a bug report
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}
