//! `gpu-mlp export`'s flags.

use clap::Args;
use std::path::PathBuf;

pub const EXAMPLES: &str = "\
Examples:
  # MNIST model to ONNX: input uint8 [N, 28, 28], outputs probabilities and logits [N, 10]
  gpu-mlp export --model model.safetensors --onnx model.onnx
  # Then, in Python: onnxruntime.InferenceSession('model.onnx').run(None, {'input': x})

The graph scales the raw input as the model's training data was scaled (x/255, or the stored
per-feature mean and standard deviation); opset 13, IR version 7. See docs/export.md.";

#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// The saved model (from `train --save`)
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// The ONNX file to write (replaced atomically when it exists)
    #[arg(long, value_name = "FILE.onnx")]
    pub onnx: PathBuf,
}
