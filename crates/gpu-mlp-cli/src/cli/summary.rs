//! `gpu-mlp summary`'s flags (Keras's `model.summary()` of a network).

use super::network::NetworkArgs;
use super::values::whole_number;
use clap::Args;
use std::path::PathBuf;

pub const EXAMPLES: &str = "\
Examples:
  # the TensorFlow quickstart's network (784-128-10, dropout 0.2)
  gpu-mlp summary
  # the Fashion-MNIST tutorial's, and a saved model
  gpu-mlp summary --hidden 50,50
  gpu-mlp summary --model m.safetensors --batch-size 256";

#[derive(Args, Debug, Clone)]
pub struct SummaryArgs {
    /// A saved model (from `train --save`): its layers and dropout
    #[arg(long, value_name = "FILE", conflicts_with_all = ["hidden", "dropout", "inputs", "classes"])]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Inputs per sample (MNIST's 28x28 pixels)
    #[arg(long, default_value_t = 784, value_parser = whole_number(1, u64::MAX))]
    pub inputs: u64,
    /// Classes
    #[arg(long, default_value_t = 10, value_parser = whole_number(2, u64::MAX))]
    pub classes: u64,
    /// Batch size of the training step whose FLOPs are counted
    #[arg(long, default_value_t = 32, value_parser = whole_number(1, u64::MAX))]
    pub batch_size: u64,
}
