//! ONNX export: a checkpoint as an ONNX model that onnxruntime (C, C++, C#, Java, JavaScript,
//! Python), tract (Rust), OpenCV's dnn and the converters to TFLite or Core ML run.
//!
//! The graph takes the model's raw input as `predict` and `eval` take it, with a batch
//! dimension `N` of any size: `uint8` pixels `[N, H, W]` (grey) or `[N, H, W, C]` (colour), or
//! `uint8 [N, F]` rows of an 8-bit table, or `float32 [N, F]` features (`float32 [N, H, W]`
//! for pictures stored as floats in a `.npz`). It scales them inside the graph as training
//! did, and gives `probabilities` (softmax) and `logits`, both `float32 [N, classes]`; see
//! [`graph`] for the nodes. The class names, input shape, source kind, scaling and gpu-mlp
//! version are the model's metadata properties.
//!
//! Opset 13 and IR version 7: every current runtime reads them (onnxruntime since 1.6, tract,
//! onnxruntime-web), and opset 13's `Softmax` is the plain per-row softmax.
//!
//! The messages are `prost` structs generated from onnx.proto ([`onnx_proto`], see
//! `scripts/regen-onnx-proto.sh`); prost writes the wire format.

mod graph;
#[allow(clippy::all, clippy::pedantic, missing_docs)]
#[rustfmt::skip]
pub mod onnx_proto;
mod parts;

use crate::checkpoint::Checkpoint;
use crate::data::{Scaling, SourceKind};
use crate::error::{ConfigError, Result};
use crate::fsio::atomic;
use onnx_proto::tensor_proto::DataType;
use onnx_proto::{ModelProto, OperatorSetIdProto};
use parts::property;
use prost::Message;
use std::path::Path;

/// The `ai.onnx` operator set the graph uses.
pub const OPSET: i64 = 13;
/// The ONNX IR version written (the one that came with opset 13).
pub const IR_VERSION: i64 = 7;
/// Name of the graph's input.
pub const INPUT: &str = "input";
/// Name of the `[N, classes]` softmax output.
pub const PROBABILITIES: &str = "probabilities";
/// Name of the `[N, classes]` output before the softmax.
pub const LOGITS: &str = "logits";
/// Name of the batch dimension, which takes any size.
pub const BATCH: &str = "N";

/// The element type of the graph's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputType {
    /// 8-bit values: pixels, or an 8-bit table's cells.
    U8,
    /// 32-bit floats: a table's features (or pictures stored as floats).
    F32,
}

impl InputType {
    /// The numpy / ONNX name: `uint8`, `float32`.
    pub fn name(self) -> &'static str {
        match self {
            InputType::U8 => "uint8",
            InputType::F32 => "float32",
        }
    }

    fn onnx(self) -> DataType {
        match self {
            InputType::U8 => DataType::Uint8,
            InputType::F32 => DataType::Float,
        }
    }
}

/// What the exported graph takes per call: `dtype` values shaped `[N, shape...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnnxInput {
    pub dtype: InputType,
    /// The shape of one sample: `[H, W]`, `[H, W, C]` or `[F]`.
    pub shape: Vec<usize>,
}

impl OnnxInput {
    /// The input of `ckpt`'s graph. Pixels (`x/255`) and the picture sources (IDX files, image
    /// folders, whose pixels are 8-bit whatever the scaling) take `uint8`; tables scaled
    /// otherwise take `float32`, as `predict` reads their rows. Pictures keep their shape.
    pub fn of(ckpt: &Checkpoint) -> Self {
        let u8_source = matches!(ckpt.source, SourceKind::Idx | SourceKind::ImageFolder);
        let dtype = if ckpt.scaling == Scaling::Pixels || u8_source {
            InputType::U8
        } else {
            InputType::F32
        };
        let shape = match (ckpt.is_image(), ckpt.channels) {
            (false, _) => vec![ckpt.spec.inputs],
            (true, 1) => vec![ckpt.rows, ckpt.cols],
            (true, c) => vec![ckpt.rows, ckpt.cols, c],
        };
        Self { dtype, shape }
    }

    /// `uint8 [N, 28, 28]`.
    pub fn describe(&self) -> String {
        let dims: Vec<String> = std::iter::once(BATCH.to_string())
            .chain(self.shape.iter().map(|d| d.to_string()))
            .collect();
        format!("{} [{}]", self.dtype.name(), dims.join(", "))
    }
}

/// The ONNX model of `ckpt`: the graph, the opset, and the metadata properties.
pub fn model(ckpt: &Checkpoint) -> Result<ModelProto> {
    ckpt.validate()
        .map_err(|problem| ConfigError::new(format!("cannot export this model: {problem}")))?;
    let input = OnnxInput::of(ckpt);
    let version = env!("CARGO_PKG_VERSION");
    let metadata_props = vec![
        property("class_names", json(&ckpt.class_names)),
        property("input_shape", json(&input.shape)),
        property("input_dtype", input.dtype.name()),
        property("source", ckpt.source.name()),
        property("scale", ckpt.scaling.name()),
        property("dataset", ckpt.dataset.as_str()),
        property("architecture", ckpt.spec.describe()),
        property("gpu_mlp_version", version),
    ];
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("gpu-mlp".to_string()),
        producer_version: Some(version.to_string()),
        model_version: Some(1),
        doc_string: Some(format!(
            "{}; input '{INPUT}' {}",
            ckpt.describe(),
            input.describe()
        )),
        graph: Some(graph::build(ckpt, &input)),
        metadata_props,
        ..ModelProto::default()
    })
}

/// `value` as JSON (class names, a shape: nothing that can fail to serialise).
fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("names and sizes serialise")
}

/// The bytes of the `.onnx` file of `ckpt`.
pub fn to_bytes(ckpt: &Checkpoint) -> Result<Vec<u8>> {
    Ok(model(ckpt)?.encode_to_vec())
}

/// Writes `ckpt` as an ONNX model to `path` (through the atomic writer: a failed write leaves
/// no half-written file and never replaces a device or a folder) and says what its input is.
pub fn save(path: &Path, ckpt: &Checkpoint) -> Result<OnnxInput> {
    let bytes = to_bytes(ckpt)?;
    atomic::write_atomically(path, &bytes)?;
    Ok(OnnxInput::of(ckpt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelSpec;

    fn grey(rows: usize, cols: usize, hidden: Vec<usize>) -> Checkpoint {
        let spec = ModelSpec::new(rows * cols, hidden, 3, 0.2).unwrap();
        let names = vec!["a".into(), "b".into(), "c".into()];
        Checkpoint::grey_images(
            spec.clone(),
            spec.init_parameters(1),
            names,
            "toy",
            (rows, cols),
        )
    }

    fn ops(ckpt: &Checkpoint) -> Vec<String> {
        let model = ModelProto::decode(to_bytes(ckpt).unwrap().as_slice()).unwrap();
        let graph = model.graph.unwrap();
        graph.node.into_iter().map(|n| n.op_type.unwrap()).collect()
    }

    #[test]
    fn the_input_is_what_predict_takes() {
        let picture = grey(2, 3, vec![4]);
        let input = OnnxInput::of(&picture);
        assert_eq!(input.describe(), "uint8 [N, 2, 3]");
        let mut table = grey(1, 6, vec![4]);
        table.source = SourceKind::Csv;
        assert_eq!(OnnxInput::of(&table).describe(), "uint8 [N, 6]");
        table.scaling = Scaling::standardize(&[0.0; 6], 6);
        assert_eq!(OnnxInput::of(&table).describe(), "float32 [N, 6]");
        // Float pictures from an .npz stay float; an IDX folder's pixels are 8-bit.
        let mut floats = grey(2, 3, vec![4]);
        (floats.source, floats.scaling) = (SourceKind::Npz, Scaling::None);
        assert_eq!(OnnxInput::of(&floats).describe(), "float32 [N, 2, 3]");
        floats.source = SourceKind::Idx;
        assert_eq!(OnnxInput::of(&floats).dtype, InputType::U8);
    }

    #[test]
    fn the_graph_is_the_engines_steps_without_dropout() {
        let picture = grey(2, 3, vec![4, 5]);
        assert_eq!(
            ops(&picture),
            ["Cast", "Flatten", "Mul", "Gemm", "Relu", "Gemm", "Relu", "Gemm", "Softmax"]
        );
        let mut table = grey(1, 3, vec![]);
        table.source = SourceKind::Csv;
        table.scaling = Scaling::Standardize {
            mean: vec![1.0, 2.0, 3.0],
            std: vec![0.5, 0.0, 2.0],
        };
        assert_eq!(ops(&table), ["Sub", "Div", "Mul", "Gemm", "Softmax"]);
        table.scaling = Scaling::Standardize {
            mean: vec![1.0, 2.0, 3.0],
            std: vec![0.5, 1.0, 2.0],
        };
        assert_eq!(ops(&table), ["Sub", "Div", "Gemm", "Softmax"]);
        table.scaling = Scaling::None;
        assert_eq!(ops(&table), ["Gemm", "Softmax"]);
    }

    #[test]
    fn an_inconsistent_checkpoint_is_refused() {
        let mut bad = grey(2, 2, vec![3]);
        bad.parameters.pop();
        let err = to_bytes(&bad).unwrap_err().to_string();
        assert!(err.starts_with("cannot export this model:"), "{err}");
    }
}
