//! Small constructors for the ONNX messages a graph is made of: float tensors, typed graph
//! inputs and outputs, nodes with integer attributes, string properties. They keep the graph
//! builder one readable list of steps instead of nested message literals.

use super::onnx_proto::attribute_proto::AttributeType;
use super::onnx_proto::tensor_proto::DataType;
use super::onnx_proto::tensor_shape_proto::{dimension, Dimension};
use super::onnx_proto::type_proto::{self, Value};
use super::onnx_proto::{
    AttributeProto, NodeProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};

/// A graph dimension: a fixed size, or the named size that varies per call (the batch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    Fixed(usize),
    Named(&'static str),
}

/// An `f32` initializer named `name` of shape `dims` (row-major, as ONNX stores tensors),
/// its values little-endian in `raw_data`, the compact form runtimes read directly.
pub fn float_tensor(name: &str, dims: &[usize], values: &[f32]) -> TensorProto {
    debug_assert_eq!(dims.iter().product::<usize>(), values.len(), "{name}");
    TensorProto {
        name: Some(name.to_string()),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(DataType::Float as i32),
        raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..TensorProto::default()
    }
}

/// A graph input or output: a tensor of `elem` values shaped `dims`.
pub fn tensor_value(name: &str, elem: DataType, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Fixed(n) => dimension::Value::DimValue(*n as i64),
                Dim::Named(p) => dimension::Value::DimParam(p.to_string()),
            }),
            ..Dimension::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            value: Some(Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

/// A node of the default (`ai.onnx`) domain, named after its output.
pub fn node(op: &str, inputs: &[&str], output: &str, attributes: &[(&str, i64)]) -> NodeProto {
    NodeProto {
        op_type: Some(op.to_string()),
        name: Some(format!("{op}:{output}")),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        attribute: attributes
            .iter()
            .map(|&(name, value)| AttributeProto {
                name: Some(name.to_string()),
                r#type: Some(AttributeType::Int as i32),
                i: Some(value),
                ..AttributeProto::default()
            })
            .collect(),
        ..NodeProto::default()
    }
}

/// A `key = value` entry of the model's metadata properties.
pub fn property(key: &str, value: impl Into<String>) -> StringStringEntryProto {
    StringStringEntryProto {
        key: Some(key.to_string()),
        value: Some(value.into()),
    }
}
