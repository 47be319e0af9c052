//! The inference graph of a checkpoint, step by step as the engines compute it:
//! raw input → `Cast` to float (8-bit input) → `Flatten` (pictures) → the model's scaling
//! (`Mul` by 1/255, or `Sub` mean, `Div` std) → `Gemm` + `Relu` per hidden layer → `Gemm`
//! (`logits`) → `Softmax` (`probabilities`). Dropout is a training-time operation and has no
//! node. Each step uses the same f32 constants as the CPU engine (the same 1/255, the same
//! per-feature mean and std), so only the order of the sums in the products differs.

use super::onnx_proto::tensor_proto::DataType;
use super::onnx_proto::{GraphProto, NodeProto, TensorProto};
use super::parts::{float_tensor, node, tensor_value, Dim};
use super::{InputType, OnnxInput, BATCH, INPUT, LOGITS, PROBABILITIES};
use crate::checkpoint::Checkpoint;
use crate::data::Scaling;
use crate::engine::cpu::ops::INV_255;

/// The nodes and constants so far, and the name of the value the next node reads.
struct Builder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    last: String,
}

impl Builder {
    /// Appends `op` reading the last value (then `constants`), writing `output`.
    fn then(&mut self, op: &str, constants: &[&str], output: &str, attributes: &[(&str, i64)]) {
        let mut inputs = vec![self.last.as_str()];
        inputs.extend_from_slice(constants);
        self.nodes.push(node(op, &inputs, output, attributes));
        self.last = output.to_string();
    }

    /// Adds an `f32` constant and returns its name.
    fn constant(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        self.initializers.push(float_tensor(name, dims, values));
        name.to_string()
    }

    /// Scales the input as `scaling` says, with the CPU engine's own f32 constants.
    fn scale(&mut self, scaling: &Scaling, inputs: usize) {
        match scaling {
            Scaling::Pixels => {
                let c = self.constant("scaling.inv_255", &[], &[INV_255]);
                self.then("Mul", &[&c], "scaled", &[]);
            }
            Scaling::Standardize { mean, std } => {
                // `(x - mean) / std`, and 0 for a constant feature (std 0): divided by 1 there,
                // then multiplied by 0, so every other feature is divided exactly as on the CPU.
                let safe: Vec<f32> = std.iter().map(|&s| if s > 0.0 { s } else { 1.0 }).collect();
                let m = self.constant("scaling.mean", &[inputs], mean);
                let s = self.constant("scaling.std", &[inputs], &safe);
                self.then("Sub", &[&m], "centred", &[]);
                self.then("Div", &[&s], "scaled", &[]);
                if std.iter().any(|&s| s <= 0.0) {
                    let keep: Vec<f32> = std.iter().map(|&s| f32::from(s > 0.0)).collect();
                    let k = self.constant("scaling.keep", &[inputs], &keep);
                    self.then("Mul", &[&k], "scaled.kept", &[]);
                }
            }
            Scaling::None => {}
        }
    }
}

/// The whole graph of `ckpt` (which must be valid: see `Checkpoint::validate`).
pub(super) fn build(ckpt: &Checkpoint, input: &OnnxInput) -> GraphProto {
    let spec = &ckpt.spec;
    let mut g = Builder {
        nodes: Vec::new(),
        initializers: Vec::new(),
        last: INPUT.to_string(),
    };
    if input.dtype == InputType::U8 {
        g.then("Cast", &[], "input.f32", &[("to", DataType::Float as i64)]);
    }
    if input.shape.len() > 1 {
        g.then("Flatten", &[], "input.flat", &[("axis", 1)]);
    }
    g.scale(&ckpt.scaling, spec.inputs);

    let layers = spec.layers();
    for (i, layer) in layers.iter().enumerate() {
        // Our W[in, out] is Gemm's B as it is (transB = 0): Keras's kernel layout.
        let w = g.constant(
            &format!("layers.{i}.kernel"),
            &[layer.fan_in, layer.fan_out],
            layer.weights(&ckpt.parameters),
        );
        let b = g.constant(
            &format!("layers.{i}.bias"),
            &[layer.fan_out],
            layer.bias(&ckpt.parameters),
        );
        if i + 1 == layers.len() {
            g.then("Gemm", &[&w, &b], LOGITS, &[]);
        } else {
            g.then("Gemm", &[&w, &b], &format!("layers.{i}.linear"), &[]);
            g.then("Relu", &[], &format!("layers.{i}.relu"), &[]);
        }
    }
    g.then("Softmax", &[], PROBABILITIES, &[("axis", 1)]);

    let mut input_dims = vec![Dim::Named(BATCH)];
    input_dims.extend(input.shape.iter().map(|&d| Dim::Fixed(d)));
    let output_dims = [Dim::Named(BATCH), Dim::Fixed(spec.classes)];
    GraphProto {
        name: Some(format!("gpu-mlp {}", spec.describe())),
        doc_string: Some(ckpt.describe()),
        node: g.nodes,
        initializer: g.initializers,
        input: vec![tensor_value(INPUT, input.dtype.onnx(), &input_dims)],
        output: vec![
            tensor_value(PROBABILITIES, DataType::Float, &output_dims),
            tensor_value(LOGITS, DataType::Float, &output_dims),
        ],
        ..GraphProto::default()
    }
}
