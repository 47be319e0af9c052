//! `gpu-mlp eval`'s flags.

use super::data::DataArgs;
use super::engine::EngineArgs;
use clap::Args;
use std::path::PathBuf;

pub const EXAMPLES: &str = "\
Examples:
  gpu-mlp eval --model model.safetensors
  gpu-mlp eval --model fashion.safetensors --confusion-png confusion.png
  gpu-mlp eval --model model.safetensors --data ./my-digits";

#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// The saved model (from `train --save`)
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Draw the confusion matrix as a heat map into this PNG
    #[arg(long, value_name = "FILE")]
    pub confusion_png: Option<PathBuf>,
}
