//! Softmax + sparse cross-entropy + dlogits in one pass, the step's loss sum and correct count
//! written to its slot (`shaders/softmax_ce.wgsl`). CPU references:
//! `cpu::ops::softmax_cross_entropy` (training) and `softmax_cross_entropy_row` (predictions).

use super::{bind_group, out_of_bounds, Layout, StepRecord};
use crate::error::GpuError;
use crate::gpu::context::GpuContext;
use bytemuck::{Pod, Zeroable};

/// The assembled shader.
pub const WGSL: &str = shader!("softmax_ce.wgsl");

pub const ENTRY_POINT: &str = "softmax_ce";

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

/// The storage buffers, in binding order (2 ..= 6).
pub struct SoftmaxBindings<'a> {
    /// `[len, classes]` logits (read).
    pub logits: &'a wgpu::Buffer,
    /// `[len]` u32 labels (read).
    pub labels: &'a wgpu::Buffer,
    /// `[len, classes]` gradient (written in training mode).
    pub dlogits: &'a wgpu::Buffer,
    /// (loss sum, correct) per slot (written at the step's slot).
    pub slots: &'a wgpu::Buffer,
    /// Predicted classes (written in evaluation mode from the step's `out_base`).
    pub predictions: &'a wgpu::Buffer,
}

impl SoftmaxBindings<'_> {
    /// Read-only flag of each storage binding.
    pub const STORAGE: &'static [bool] = &[true, true, false, false, false];

    pub fn bind(
        &self,
        ctx: &GpuContext,
        layout: &Layout,
        params: &SoftmaxParams,
        steps: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        let storage = [
            self.logits,
            self.labels,
            self.dlogits,
            self.slots,
            self.predictions,
        ];
        bind_group(ctx, "softmax_ce", layout, params, steps, &storage)
    }
}
