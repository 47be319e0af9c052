//! Softmax + sparse cross-entropy + dlogits in one pass, the step's loss sum and correct count
//! written to its slot (`shaders/softmax_ce.wgsl`). CPU references:
//! `cpu::ops::softmax_cross_entropy` (training) and `softmax_cross_entropy_row` (predictions).

use super::{out_of_bounds, StepRecord};
use crate::error::GpuError;
use bytemuck::{Pod, Zeroable};

kernel_shader!("softmax_ce.wgsl", "softmax_ce");

/// The shader's `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct SoftmaxParams {
    pub classes: u32,
    /// 0 training (dlogits), 1 evaluation (predictions).
    pub mode: u32,
    pub _pad: [u32; 2],
}

impl SoftmaxParams {
    /// Training: writes dlogits.
    pub fn training(classes: usize) -> Self {
        Self {
            classes: classes as u32,
            mode: 0,
            ..Default::default()
        }
    }

    /// Evaluation: writes predictions.
    pub fn evaluation(classes: usize) -> Self {
        Self {
            classes: classes as u32,
            mode: 1,
            ..Default::default()
        }
    }

    /// Checks that a step over `len` rows stays inside its buffers (element counts).
    pub fn check_bounds(
        &self,
        step: &StepRecord,
        logits: usize,
        labels: &[u32],
        dlogits: usize,
        slots: usize,
        predictions: usize,
    ) -> Result<(), GpuError> {
        let (rows, classes) = (step.len as usize, self.classes as usize);
        let fits = classes >= 1
            && logits >= rows * classes
            && labels.len() >= rows
            && labels[..rows].iter().all(|&l| (l as usize) < classes)
            && (step.slot as usize) < slots
            && if self.mode == 1 {
                step.out_base as usize + rows <= predictions
            } else {
                dlogits >= rows * classes
            };
        if fits && rows * classes <= u32::MAX as usize {
            Ok(())
        } else {
            Err(out_of_bounds("softmax_ce"))
        }
    }
}

/// One workgroup; it loops over the rows.
pub const WORKGROUPS: (u32, u32) = (1, 1);

storage_bindings! {
    /// The storage buffers, in binding order (2 ..= 6).
    pub struct SoftmaxBindings("softmax_ce", SoftmaxParams) {
        /// `[len, classes]` logits (read).
        logits: read,
        /// `[len]` u32 labels (read).
        labels: read,
        /// `[len, classes]` gradient (written in training mode).
        dlogits: write,
        /// (loss sum, correct) per slot (written at the step's slot).
        slots: write,
        /// Predicted classes (written in evaluation mode from the step's `out_base`).
        predictions: write,
    }
}
