//! `gpu-mlp export`: a saved model as an ONNX file, for onnxruntime, tract, OpenCV and the
//! rest (see `docs/export.md`). Its flags live here with the work, so the command is one file.

use clap::Args;
use gpu_mlp::checkpoint;
use gpu_mlp::error::Result;
use gpu_mlp::inference::export::{self, LOGITS, PROBABILITIES};
use std::path::PathBuf;

pub const EXPORT_EXAMPLES: &str = "\
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

pub fn run(args: &ExportArgs) -> Result<()> {
    let ckpt = checkpoint::load(&args.model)?;
    let input = export::save(&args.onnx, &ckpt)?;
    println!(
        "exported {} ({}) to {}: input '{}' {}, outputs '{PROBABILITIES}' and '{LOGITS}' \
         float32 [{}, {}]",
        args.model.display(),
        ckpt.describe(),
        args.onnx.display(),
        export::INPUT,
        input.describe(),
        export::BATCH,
        ckpt.spec.classes
    );
    Ok(())
}
