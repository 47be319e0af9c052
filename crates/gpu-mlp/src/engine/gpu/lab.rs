//! The kernel lab: single-kernel runs on host data. Each call uploads its inputs, dispatches
//! one kernel once and reads the outputs back. For checking kernels against the CPU reference
//! (`verify`'s kernel checks); the training engine (`GpuEngine`) never goes through here, and
//! timing goes through `timing::MatmulTimer`.
//!
//! The pipelines run without wgpu's runtime bounds checks (see `pipelines::module`), so every
//! call here first checks, with the kernel's own bounds check (`Kernel::check_bounds`), that
//! the shapes and offsets it was given stay inside the buffers it uploads; a call that would
//! index outside them is an error, not a dispatch.

use super::buffers::{self, STORAGE};
use super::context::GpuContext;
use super::dispatch::Dispatch;
use super::kernels::gather::{self, Gather, GatherBindings, GatherExtents, GatherParams};
use super::kernels::matmul::{MatmulBindings, MatmulCall, MatmulVariant};
use super::kernels::optimizer::{OptimizerBindings, OptimizerParams, OptimizerUpdate};
use super::kernels::softmax_cross_entropy::{
    SoftmaxBindings, SoftmaxCrossEntropy, SoftmaxExtents, SoftmaxParams,
};
use super::kernels::{Kernel, StepRecord};
use super::pipelines::Pipelines;
use crate::data::{Inputs, Label};
use crate::error::GpuError;
use std::sync::Arc;

/// One device and its compiled pipelines, for kernel-by-kernel work.
pub struct KernelLab {
    pub ctx: Arc<GpuContext>,
    pub pipes: Arc<Pipelines>,
}

/// What the softmax + cross-entropy kernel produced.
#[derive(Clone, Debug, PartialEq)]
pub struct SoftmaxOutput {
    pub dlogits: Vec<f32>,
    pub loss_sum: f32,
    pub correct: u32,
    pub predictions: Vec<u32>,
}

/// Optimizer state after one update.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerOutput {
    pub params: Vec<f32>,
    pub moment1: Vec<f32>,
    pub moment2: Vec<f32>,
}

impl KernelLab {
    pub fn new(ctx: Arc<GpuContext>) -> Result<Self, GpuError> {
        let pipes = Arc::new(Pipelines::new(&ctx.device)?);
        Ok(Self { ctx, pipes })
    }

    pub fn with_pipelines(ctx: Arc<GpuContext>, pipes: Arc<Pipelines>) -> Self {
        Self { ctx, pipes }
    }

    /// Checks `kernel`'s bounds against `extents`, then dispatches it once on `bindings` with a
    /// one-record step table holding `step`, and waits.
    fn run<K: Kernel>(
        &self,
        kernel: &K,
        step: &StepRecord,
        extents: &K::Extents<'_>,
        bindings: &K::Bindings<'_>,
    ) -> Result<(), GpuError> {
        kernel.check_bounds(step, extents)?;
        let steps = buffers::with_data(
            &self.ctx,
            "step",
            std::slice::from_ref(step),
            wgpu::BufferUsages::UNIFORM,
        );
        let dispatch = Dispatch::new(&self.ctx, &self.pipes, K::NAME, kernel, bindings, &steps)?;
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            dispatch.encode(&mut pass, 0, 1);
        }
        self.ctx.queue.submit([encoder.finish()]);
        self.ctx.wait()
    }

    /// `C = epilogue(op(A)·op(B))` of `call` with `variant` (checked against the slice lengths);
    /// `c` is C's initial contents (poison it to see unwritten elements), `aux` the mask source
    /// of the ReLU-mask epilogue.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul(
        &self,
        variant: MatmulVariant,
        call: &MatmulCall,
        step: &StepRecord,
        a: &[f32],
        b: &[f32],
        c: &[f32],
        aux: &[f32],
    ) -> Result<Vec<f32>, GpuError> {
        let lens = [a.len(), b.len(), c.len(), aux.len()];
        let [a, b, c_buf, aux] =
            [a, b, c, aux].map(|x| buffers::with_data(&self.ctx, "m", x, STORAGE));
        let bindings = MatmulBindings {
            a: &a,
            b: &b,
            c: &c_buf,
            aux: &aux,
        };
        self.run(&call.with_variant(variant), step, &lens, &bindings)?;
        buffers::read(&self.ctx, &c_buf, 0, c.len())
    }

    /// The batch of `step` from `images`/`labels` (`features` per sample) and `order`:
    /// returns the gathered rows (`x_init` poisons them first) and the labels.
    pub fn gather(
        &self,
        images: &Inputs,
        labels: &[Label],
        features: usize,
        order: &[u32],
        step: &StepRecord,
        x_init: &[f32],
    ) -> Result<(Vec<f32>, Vec<u32>), GpuError> {
        let rows = step.len as usize;
        let kernel = Gather {
            params: GatherParams::new(features, images),
            // Sized for the whole batch buffer, as the engine's for a short last batch.
            max_rows: (x_init.len() / features.max(1)).max(rows),
        };
        let extents = GatherExtents {
            samples: labels.len(),
            inputs: images.len(),
            order,
            batch_inputs: x_init.len(),
        };
        let images = gather::upload_inputs(&self.ctx, images);
        let labels = buffers::with_data(&self.ctx, "labels", &gather::label_words(labels), STORAGE);
        let order = buffers::with_data(&self.ctx, "order", order, STORAGE);
        let x = buffers::with_data(&self.ctx, "x", x_init, STORAGE);
        let y = buffers::with_data(&self.ctx, "y", &vec![u32::MAX; rows], STORAGE);
        let bindings = GatherBindings {
            images: &images,
            labels: &labels,
            order: &order,
            batch_inputs: &x,
            batch_labels: &y,
        };
        self.run(&kernel, step, &extents, &bindings)?;
        Ok((
            buffers::read(&self.ctx, &x, 0, x_init.len())?,
            buffers::read(&self.ctx, &y, 0, rows)?,
        ))
    }

    /// Softmax + cross-entropy of `step.len` rows of `logits` (training mode writes dlogits over
    /// `dlogits_init`; evaluation mode writes `predictions` values from `step.out_base`).
    pub fn softmax_cross_entropy(
        &self,
        params: &SoftmaxParams,
        step: &StepRecord,
        logits: &[f32],
        labels: &[u32],
        dlogits_init: &[f32],
        predictions: usize,
    ) -> Result<SoftmaxOutput, GpuError> {
        let slots = step.slot as usize + 1;
        let extents = SoftmaxExtents {
            logits: logits.len(),
            labels,
            dlogits: dlogits_init.len(),
            slots,
            predictions,
        };
        let logits = buffers::with_data(&self.ctx, "logits", logits, STORAGE);
        let labels = buffers::with_data(&self.ctx, "labels", labels, STORAGE);
        let dlogits = buffers::with_data(&self.ctx, "dlogits", dlogits_init, STORAGE);
        let slot_buf = buffers::with_data(&self.ctx, "slots", &vec![f32::NAN; 2 * slots], STORAGE);
        let preds = vec![u32::MAX; predictions];
        let preds = buffers::with_data(&self.ctx, "predictions", &preds, STORAGE);
        let bindings = SoftmaxBindings {
            logits: &logits,
            labels: &labels,
            dlogits: &dlogits,
            slots: &slot_buf,
            predictions: &preds,
        };
        let kernel = SoftmaxCrossEntropy { params: *params };
        self.run(&kernel, step, &extents, &bindings)?;
        let slot: Vec<u32> = buffers::read(&self.ctx, &slot_buf, step.slot as u64 * 8, 2)?;
        Ok(SoftmaxOutput {
            dlogits: buffers::read(&self.ctx, &dlogits, 0, dlogits_init.len())?,
            loss_sum: f32::from_bits(slot[0]),
            correct: slot[1],
            predictions: buffers::read(&self.ctx, &preds, 0, predictions)?,
        })
    }

    /// One optimizer update of `params` with gradients `grads` and moments `moment1`,
    /// `moment2`.
    pub fn optimizer(
        &self,
        update: &OptimizerParams,
        step: &StepRecord,
        params: &[f32],
        grads: &[f32],
        moment1: &[f32],
        moment2: &[f32],
    ) -> Result<OptimizerOutput, GpuError> {
        let lens = [params.len(), grads.len(), moment1.len(), moment2.len()];
        // The shader reads whole vec4: pad each slice to a multiple of four.
        let padded = |x: &[f32]| {
            let mut x = x.to_vec();
            x.resize(x.len().next_multiple_of(4).max(4), 0.0);
            buffers::with_data(&self.ctx, "optimizer", &x, STORAGE)
        };
        let uploaded = [params, grads, moment1, moment2].map(padded);
        let bindings = OptimizerBindings {
            params: &uploaded[0],
            grads: &uploaded[1],
            moment1: &uploaded[2],
            moment2: &uploaded[3],
        };
        let kernel = OptimizerUpdate { params: *update };
        self.run(&kernel, step, &lens, &bindings)?;
        let read = |i: usize| buffers::read(&self.ctx, &uploaded[i], 0, lens[i]);
        Ok(OptimizerOutput {
            params: read(0)?,
            moment1: read(2)?,
            moment2: read(3)?,
        })
    }
}
