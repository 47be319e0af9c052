//! The optimizer update over the flat parameter buffer (`optimizer.wgsl`).

use super::contract::{check_workgroups, out_of_bounds, Kernel, Shader};
use super::mode::Code;
use super::paths::Path;
use super::step::StepRecord;
use crate::error::GpuError;
use crate::model::optimizer::Optimizer;

/// The optimizer's paths (see `kernels::paths`).
pub mod path {
    use crate::engine::gpu::kernels::paths::Path;

    const K: &str = "optimizer";
    const ADAM_READS: &[&str] = &[
        "p.rule",
        "p.beta1",
        "p.beta2",
        "p.one_minus_beta1",
        "p.one_minus_beta2",
        "step.step_size",
    ];
    /// Adam without decay (the step's decay 0).
    pub const ADAM: Path = Path::new(K, "adam, decay 0", ADAM_READS);
    /// AdamW: the step's decay non-zero.
    pub const ADAMW: Path = Path::new(K, "adamw, decay > 0", &["step.decay"]);
    /// Keras's ε (1e-7) and PyTorch's default (1e-8), each where sqrt(v) is near it.
    pub const KERAS_EPSILON: Path = Path::new(K, "adam eps 1e-7 (Keras)", &["p.epsilon"]);
    pub const PYTORCH_EPSILON: Path = Path::new(K, "adam eps 1e-8 (PyTorch)", &["p.epsilon"]);
    pub const SGD: Path = Path::new(K, "sgd", &["p.rule", "step.step_size"]);
    /// A step size (and decay) scaled by a schedule's factor other than 1.
    pub const SCHEDULED: Path = Path::new(K, "scheduled step size", &["step.step_size"]);
    /// Fewer parameters than the buffers hold, not a multiple of four.
    pub const COUNT_SHORT: Path = Path::new(K, "count short of the buffers", &["p.count"]);

    pub const ALL: &[Path] = &[
        ADAM,
        ADAMW,
        KERAS_EPSILON,
        PYTORCH_EPSILON,
        SGD,
        SCHEDULED,
        COUNT_SHORT,
    ];
}

numbered_enum! {
    /// Which update rule the kernel applies.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum UpdateRule {
        /// Adam (AdamW with the step's decay).
        Adam = 0,
        /// Plain SGD.
        Sgd = 1,
    }
}

uniform_params! {
    /// The shader's `Params`.
    pub struct OptimizerParams {
        /// Parameters updated.
        pub count: u32,
        pub rule: Code<UpdateRule>,
        pub beta1: f32,
        pub beta2: f32,
        pub one_minus_beta1: f32,
        pub one_minus_beta2: f32,
        pub epsilon: f32,
        pub _pad: u32,
    }
}

impl OptimizerParams {
    /// `optimizer`'s update of `count` parameters (the step size comes with each step record).
    pub fn new(optimizer: &Optimizer, count: usize) -> Self {
        match *optimizer {
            Optimizer::Adam {
                beta1,
                beta2,
                epsilon,
                ..
            } => Self {
                count: count as u32,
                rule: UpdateRule::Adam.into(),
                beta1,
                beta2,
                one_minus_beta1: 1.0 - beta1,
                one_minus_beta2: 1.0 - beta2,
                epsilon,
                _pad: 0,
            },
            Optimizer::Sgd { .. } => Self {
                count: count as u32,
                rule: UpdateRule::Sgd.into(),
                ..Default::default()
            },
        }
    }

    /// The same update over the first `count` parameters only.
    pub fn with_count(self, count: usize) -> Self {
        Self {
            count: count as u32,
            ..self
        }
    }
}

storage_bindings! {
    /// The storage buffers, in binding order (2 ..= 5), each ⌈count/4⌉ vec4.
    pub struct OptimizerBindings {
        /// Parameters (updated).
        params: read_write,
        /// Gradients (read).
        grads: read,
        /// First moments (Adam; updated).
        moment1: read_write,
        /// Second moments (Adam; updated).
        moment2: read_write,
    }
}

/// One optimizer update. CPU twins: [`crate::engine::cpu::ops::adam`] and
/// [`crate::engine::cpu::ops::sgd`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptimizerUpdate {
    pub params: OptimizerParams,
}

impl Kernel for OptimizerUpdate {
    const NAME: &'static str = "optimizer";
    const SHADER: Shader = Shader {
        file: "optimizer/optimizer.wgsl",
        source: shader!("optimizer.wgsl"),
        entry_points: &["update"],
    };
    const PATHS: &'static [Path] = path::ALL;
    const SHAPE_READS: &'static [&'static str] = &["p.count"];
    type Params = OptimizerParams;
    type Bindings<'a> = OptimizerBindings<'a>;
    /// Floats in the params, grads, moment1 and moment2 buffers.
    type Extents<'a> = [usize; 4];

    fn params(&self) -> OptimizerParams {
        self.params
    }

    /// 64 invocations each, every invocation looping over about four vec4 (fewer, longer-lived
    /// invocations: on lavapipe each workgroup has a fixed cost).
    fn workgroups(&self) -> (u32, u32) {
        let vec4s = (self.params.count as usize).div_ceil(4) as u32;
        (vec4s.div_ceil(64 * 4).clamp(1, 1024), 1)
    }

    fn check_limits(&self, limits: &wgpu::Limits) -> Result<(), GpuError> {
        check_workgroups(Self::NAME, 64, 0, self.workgroups(), limits)
    }

    /// Each buffer holds the `count` values updated (buffers are padded to whole vec4 when
    /// made: `buffers::zeroed` rounds to 16 bytes, the lab pads its slices).
    fn check_bounds(&self, _step: &StepRecord, lens: &[usize; 4]) -> Result<(), GpuError> {
        if lens.iter().all(|&len| len >= self.params.count as usize) {
            Ok(())
        } else {
            Err(out_of_bounds(Self::NAME))
        }
    }
}
