//! `gpu-mlp export`: a saved model as an ONNX file, for onnxruntime, tract, OpenCV and the
//! rest (see `docs/export.md`).

use crate::cli::ExportArgs;
use gpu_mlp::checkpoint;
use gpu_mlp::error::Result;
use gpu_mlp::inference::export::{self, LOGITS, PROBABILITIES};

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
