//! Each tensor's drift in the lockstep run: weights, biases and Adam's two moments, each against
//! its own bound.

use crate::model::ModelSpec;
use serde::Serialize;

/// Relative drift allowed for each weight matrix alone after the checked steps: an error
/// confined to one small tensor would hide under the first layer's in the drift of all of them.
pub const WEIGHT_BOUND: f64 = 1e-4;
/// The same for each bias vector (measured: ~1e-6 after 50 steps on lavapipe).
pub const BIAS_BOUND: f64 = 1e-4;
/// Relative drift allowed for each tensor's Adam moments after the checked steps: they follow
/// the gradients, whose rounding differs more than the parameters' (measured: see the README).
pub const MOMENT_BOUND: f64 = 1e-3;
/// The drift of one weight matrix or bias vector, and its bound.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerDrift {
    /// `layer 1 W 128x10` or `layer 1 b 10`.
    pub name: String,
    pub rel_drift: f64,
    pub max_abs_drift: f64,
    pub bound: f64,
}

/// (relative drift, largest absolute drift) of `gpu` against `cpu`.
pub(super) fn drift(gpu: &[f32], cpu: &[f32]) -> (f64, f64) {
    let e = crate::diagnostics::verify::norm::ErrorNorm::of(gpu, cpu);
    (e.rel, e.max_abs)
}

/// Each weight matrix's and bias vector's drift of `gpu` against `cpu`, with its bound.
pub(super) fn tensor_drifts(spec: &ModelSpec, gpu: &[f32], cpu: &[f32]) -> Vec<LayerDrift> {
    tensor_drifts_of(spec, "", gpu, cpu, [WEIGHT_BOUND, BIAS_BOUND])
}

/// Each tensor's drift of one of Adam's moments (`what`: `m`, `v`).
pub(super) fn moment_drifts(
    spec: &ModelSpec,
    what: &str,
    gpu: &[f32],
    cpu: &[f32],
) -> Vec<LayerDrift> {
    tensor_drifts_of(spec, what, gpu, cpu, [MOMENT_BOUND; 2])
}

/// Each weight matrix's and bias vector's drift of `gpu` against `cpu` (`what` in front of
/// their names), with the weights' and biases' bounds.
fn tensor_drifts_of(
    spec: &ModelSpec,
    what: &str,
    gpu: &[f32],
    cpu: &[f32],
    [weight_bound, bias_bound]: [f64; 2],
) -> Vec<LayerDrift> {
    let what = if what.is_empty() {
        String::new()
    } else {
        format!("{what} of ")
    };
    let tensor = |name: String, range: std::ops::Range<usize>, bound| {
        let (rel_drift, max_abs_drift) = drift(&gpu[range.clone()], &cpu[range]);
        LayerDrift {
            name,
            rel_drift,
            max_abs_drift,
            bound,
        }
    };
    spec.layers()
        .iter()
        .enumerate()
        .flat_map(|(l, layer)| {
            let w = layer.weight_offset..layer.weight_offset + layer.weight_len();
            let b = layer.bias_offset..layer.bias_offset + layer.fan_out;
            [
                tensor(
                    format!("{what}layer {l} W {}x{}", layer.fan_in, layer.fan_out),
                    w,
                    weight_bound,
                ),
                tensor(
                    format!("{what}layer {l} b {}", layer.fan_out),
                    b,
                    bias_bound,
                ),
            ]
        })
        .collect()
}
