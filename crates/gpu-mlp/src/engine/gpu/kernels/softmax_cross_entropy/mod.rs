//! Softmax + sparse cross-entropy + dlogits in one pass, the step's loss sum and correct count
//! written to its slot (`softmax_cross_entropy.wgsl`).

use super::contract::{check_workgroups, out_of_bounds, Kernel, Shader};
use super::mode::Code;
use super::paths::Path;
use super::step::StepRecord;
use crate::error::GpuError;

/// The paths of softmax-cross-entropy (see `kernels::paths`).
pub mod path {
    use crate::engine::gpu::kernels::paths::Path;

    const K: &str = "softmax_ce";
    /// Training: dlogits scaled by the step's 1/len.
    pub const TRAINING: Path = Path::new(K, "training (dlogits)", &["p.mode", "step.grad_scale"]);
    /// Evaluation: predictions from the step's `out_base`.
    pub const EVALUATION: Path = Path::new(
        K,
        "evaluation (predictions at out_base)",
        &["p.mode", "step.out_base"],
    );
    /// The step's metrics slot.
    pub const SLOT: Path = Path::new(K, "metrics slot", &["step.slot"]);
    /// Fewer rows than the buffers hold.
    pub const SHORT_BATCH: Path = Path::new(K, "short last batch", &["step.len"]);
    /// Logits past exp's range: the max shift.
    pub const LARGE_LOGITS: Path = Path::new(K, "large logits (max shift)", &[]);

    pub const ALL: &[Path] = &[TRAINING, EVALUATION, SLOT, SHORT_BATCH, LARGE_LOGITS];
}

numbered_enum! {
    /// What the kernel writes besides the step's metrics.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum SoftmaxMode {
        /// The loss gradient, dlogits.
        Training = 0,
        /// The predicted classes.
        Evaluation = 1,
    }
}

uniform_params! {
    /// The shader's `Params`.
    pub struct SoftmaxParams {
        pub classes: u32,
        pub mode: Code<SoftmaxMode>,
        pub _pad: [u32; 2],
    }
}

impl SoftmaxParams {
    /// `classes` classes in `mode`.
    pub fn new(classes: usize, mode: SoftmaxMode) -> Self {
        Self {
            classes: classes as u32,
            mode: mode.into(),
            ..Default::default()
        }
    }

    /// Training: writes dlogits.
    pub fn training(classes: usize) -> Self {
        Self::new(classes, SoftmaxMode::Training)
    }

    /// Evaluation: writes predictions.
    pub fn evaluation(classes: usize) -> Self {
        Self::new(classes, SoftmaxMode::Evaluation)
    }
}

storage_bindings! {
    /// The storage buffers, in binding order (2 ..= 6).
    pub struct SoftmaxBindings {
        /// `[len, classes]` logits (read).
        logits: read,
        /// `[len]` u32 labels (read).
        labels: read,
        /// `[len, classes]` gradient (written in training mode).
        dlogits: read_write,
        /// (loss sum, correct) per slot (written at the step's slot).
        slots: read_write,
        /// Predicted classes (written in evaluation mode from the step's `out_base`).
        predictions: read_write,
    }
}

/// What the bounds check needs: buffer lengths in elements, and the labels (each must name a
/// class).
pub struct SoftmaxExtents<'a> {
    pub logits: usize,
    pub labels: &'a [u32],
    pub dlogits: usize,
    pub slots: usize,
    pub predictions: usize,
}

/// One softmax + cross-entropy pass. CPU twins:
/// [`crate::engine::cpu::ops::softmax_cross_entropy`] (training) and
/// [`crate::engine::cpu::ops::softmax_cross_entropy_row`] (predictions).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftmaxCrossEntropy {
    pub params: SoftmaxParams,
}

impl Kernel for SoftmaxCrossEntropy {
    const NAME: &'static str = "softmax_ce";
    const SHADER: Shader = Shader {
        file: "softmax_cross_entropy/softmax_cross_entropy.wgsl",
        source: shader!("softmax_cross_entropy.wgsl"),
        entry_points: &["softmax_ce"],
    };
    const PATHS: &'static [Path] = path::ALL;
    const SHAPE_READS: &'static [&'static str] = &["p.classes"];
    type Params = SoftmaxParams;
    type Bindings<'a> = SoftmaxBindings<'a>;
    type Extents<'a> = SoftmaxExtents<'a>;

    fn params(&self) -> SoftmaxParams {
        self.params
    }

    /// One workgroup; it loops over the rows.
    fn workgroups(&self) -> (u32, u32) {
        (1, 1)
    }

    /// 256 invocations, a loss and a count each in workgroup memory.
    fn check_limits(&self, limits: &wgpu::Limits) -> Result<(), GpuError> {
        check_workgroups(Self::NAME, 256, 2 * 256 * 4, self.workgroups(), limits)
    }

    /// A step over `len` rows stays inside its buffers.
    fn check_bounds(&self, step: &StepRecord, extents: &SoftmaxExtents) -> Result<(), GpuError> {
        let (rows, classes) = (step.len as usize, self.params.classes as usize);
        let fits = classes >= 1
            && extents.logits >= rows * classes
            && extents.labels.len() >= rows
            && extents.labels[..rows]
                .iter()
                .all(|&l| (l as usize) < classes)
            && (step.slot as usize) < extents.slots
            && if self.params.mode == SoftmaxMode::Evaluation {
                step.out_base as usize + rows <= extents.predictions
            } else {
                extents.dlogits >= rows * classes
            };
        if fits && rows * classes <= u32::MAX as usize {
            Ok(())
        } else {
            Err(out_of_bounds(Self::NAME))
        }
    }
}
