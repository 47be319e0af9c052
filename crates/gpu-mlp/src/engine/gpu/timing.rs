//! Timing on the device: the one matmul timer (`gpu-mlp bench`, the tile tuner, the benches)
//! and how this device can timestamp a step (`profile` uses it).

use super::buffers::{self, STORAGE};
use super::context::GpuContext;
use super::dispatch::Dispatch;
use super::kernels::matmul::{MatmulBindings, MatmulCall, MatmulVariant, Product};
use super::kernels::StepRecord;
use super::pipelines::Pipelines;
use crate::error::GpuError;
use std::sync::Arc;
use std::time::Instant;

/// True when the device was opened with timestamp queries (see `DeviceNeeds::optional_features`).
pub fn has_timestamps(ctx: &GpuContext) -> bool {
    ctx.device
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY)
}

/// How `GpuEngine::profile_step_timestamps` times a step on this device, if it can.
pub fn timestamp_method(ctx: &GpuContext) -> Option<TimestampMethod> {
    let features = ctx.device.features();
    if !features.contains(wgpu::Features::TIMESTAMP_QUERY) {
        None
    } else if features.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES) {
        Some(TimestampMethod::InsidePass)
    } else {
        Some(TimestampMethod::PassPerDispatch)
    }
}

/// One packed product of a variant, its buffers built once, ready to dispatch again and again.
pub struct MatmulTimer {
    ctx: Arc<GpuContext>,
    product: Product,
    operands: Operands,
    dispatch: Dispatch,
    /// Floating-point operations of one product (2·m·k·n).
    pub flops: f64,
}

/// A timer's buffers, kept so that other tiles of the same product can share them.
struct Operands {
    a: wgpu::Buffer,
    b: wgpu::Buffer,
    c: wgpu::Buffer,
    steps: wgpu::Buffer,
}

impl MatmulTimer {
    pub fn new(
        ctx: Arc<GpuContext>,
        pipes: &Pipelines,
        product: Product,
        variant: MatmulVariant,
    ) -> Result<Self, GpuError> {
        let Product { m, k, n, .. } = product;
        // Non-zero, non-denormal inputs; the values do not matter for timing.
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.25 + 0.125).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.5 - 1.0).collect();
        let operands = Operands {
            a: buffers::with_data(&ctx, "a", &a, STORAGE),
            b: buffers::with_data(&ctx, "b", &b, STORAGE),
            c: buffers::zeroed(&ctx, "c", (m * n * 4) as u64, STORAGE),
            steps: buffers::with_data(
                &ctx,
                "step",
                std::slice::from_ref(&StepRecord::default()),
                wgpu::BufferUsages::UNIFORM,
            ),
        };
        Self::on(ctx, pipes, product, operands, variant)
    }

    /// The same product with another tile, on this timer's buffers (no second copy of them).
    pub fn with_variant(
        &self,
        pipes: &Pipelines,
        variant: MatmulVariant,
    ) -> Result<Self, GpuError> {
        let operands = Operands {
            a: self.operands.a.clone(),
            b: self.operands.b.clone(),
            c: self.operands.c.clone(),
            steps: self.operands.steps.clone(),
        };
        Self::on(
            Arc::clone(&self.ctx),
            pipes,
            self.product,
            operands,
            variant,
        )
    }

    fn on(
        ctx: Arc<GpuContext>,
        pipes: &Pipelines,
        product: Product,
        operands: Operands,
        variant: MatmulVariant,
    ) -> Result<Self, GpuError> {
        let Product { transpose, m, k, n } = product;
        let kernel = MatmulCall::packed(transpose, m, k, n).with_variant(variant);
        // aux is the mask source, unused without an epilogue: A again.
        let bindings = MatmulBindings {
            a: &operands.a,
            b: &operands.b,
            c: &operands.c,
            aux: &operands.a,
        };
        let dispatch = Dispatch::new(
            &ctx,
            pipes,
            "matmul timer",
            &kernel,
            &bindings,
            &operands.steps,
        )?;
        ctx.take_error()?;
        Ok(Self {
            dispatch,
            flops: product.flops(),
            product,
            operands,
            ctx,
        })
    }

    /// Wall-clock seconds per product over `dispatches` back-to-back dispatches in one pass and
    /// one submission: the clock starts at submit and stops once the device is idle.
    pub fn sample(&self, dispatches: usize) -> Result<f64, GpuError> {
        let dispatches = dispatches.max(1);
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("matmul timer"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            self.dispatch.encode(&mut pass, 0, dispatches);
        }
        let command = encoder.finish();
        let started = Instant::now();
        self.ctx.queue.submit([command]);
        self.ctx.wait()?;
        Ok(started.elapsed().as_secs_f64() / dispatches as f64)
    }

    /// Dispatches per sample for about `budget_s` of work (one for products slower than that),
    /// after a warm-up dispatch that also takes any first-dispatch compilation (lavapipe
    /// compiles there).
    pub fn calibrate(&self, budget_s: f64) -> Result<usize, GpuError> {
        self.sample(1)?;
        let once = self.sample(1)?;
        Ok(((budget_s / once.max(1e-7)).ceil() as usize).clamp(1, 64))
    }

    /// Seconds per product: the median of `repeats` samples of about `budget_s` of work each
    /// (see `calibrate`).
    pub fn median(&self, repeats: usize, budget_s: f64) -> Result<f64, GpuError> {
        let dispatches = self.calibrate(budget_s)?;
        let mut samples = (0..repeats.max(1))
            .map(|_| self.sample(dispatches))
            .collect::<Result<Vec<f64>, GpuError>>()?;
        samples.sort_by(f64::total_cmp);
        Ok(samples[samples.len() / 2])
    }
}

/// Where the timestamps of a step profile were written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampMethod {
    /// Between the dispatches of the step recorded as the engine records it (one compute pass):
    /// dispatch i's time runs from the timestamp after dispatch i-1 to the one after it, so it
    /// includes the barrier before it. Needs `TIMESTAMP_QUERY_INSIDE_PASSES`.
    InsidePass,
    /// At the start and end of a compute pass per dispatch (adapters with plain
    /// `TIMESTAMP_QUERY` only, e.g. Apple GPUs); the step is split into one pass per dispatch.
    PassPerDispatch,
}

impl TimestampMethod {
    pub fn describe(self) -> &'static str {
        match self {
            TimestampMethod::InsidePass => {
                "timestamp queries between the dispatches of the step's one compute pass"
            }
            TimestampMethod::PassPerDispatch => {
                "timestamp queries around each dispatch in its own compute pass"
            }
        }
    }
}
