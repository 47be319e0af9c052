//! The optimizer update over the flat parameter buffer (`shaders/optimizer.wgsl`). CPU
//! references: `cpu::ops::adam` and `cpu::ops::sgd`.

use crate::model::optimizer::Optimizer;
use bytemuck::{Pod, Zeroable};

kernel_shader!("optimizer.wgsl", "update");

/// The shader's `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct OptimizerParams {
    pub n: u32,
    /// 0 Adam, 1 SGD.
    pub kind: u32,
    pub beta1: f32,
    pub beta2: f32,
    pub one_minus_beta1: f32,
    pub one_minus_beta2: f32,
    pub epsilon: f32,
    pub _pad: u32,
}

impl OptimizerParams {
    /// `optimizer`'s update of `n` parameters (the step size comes with each step record).
    pub fn new(optimizer: &Optimizer, n: usize) -> Self {
        match *optimizer {
            Optimizer::Adam {
                beta1,
                beta2,
                epsilon,
                ..
            } => Self {
                n: n as u32,
                kind: 0,
                beta1,
                beta2,
                one_minus_beta1: 1.0 - beta1,
                one_minus_beta2: 1.0 - beta2,
                epsilon,
                _pad: 0,
            },
            Optimizer::Sgd { .. } => Self {
                n: n as u32,
                kind: 1,
                ..Default::default()
            },
        }
    }

    /// The same update over the first `n` parameters only.
    pub fn with_count(self, n: usize) -> Self {
        Self {
            n: n as u32,
            ..self
        }
    }
}

/// Workgroups of the update of `n` parameters: 64 invocations each, every invocation looping
/// over about four vec4 (fewer, longer-lived invocations: on lavapipe each workgroup has a fixed
/// cost). The buffers it binds must hold ⌈n/4⌉ vec4.
pub fn workgroups(n: usize) -> (u32, u32) {
    ((n.div_ceil(4) as u32).div_ceil(64 * 4).clamp(1, 1024), 1)
}

storage_bindings! {
    /// The storage buffers, in binding order (2 ..= 5), each ⌈n/4⌉ vec4.
    pub struct OptimizerBindings("optimizer", OptimizerParams) {
        /// Parameters (updated).
        w: write,
        /// Gradients (read).
        g: read,
        /// First moments (Adam; updated).
        m: write,
        /// Second moments (Adam; updated).
        v: write,
    }
}
