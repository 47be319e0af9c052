//! The GPU side, in layers: a device (`context`, `buffers`); the kernels, one folder each under
//! one contract (`kernels`); their pipelines (`pipelines`) and the one way a kernel is bound and
//! encoded (`dispatch`); above them the training engine (`engine`, with `programs` its recorded
//! work and `resources` what it holds), the kernel lab (`lab`: single-kernel runs for checks),
//! timing (`timing`, `profile`) and the per-adapter tile choice (`tuning`).

pub mod buffers;
pub mod context;
pub mod dispatch;
mod engine;
pub mod kernels;
pub mod lab;
pub mod pipelines;
pub mod profile;
mod programs;
mod resources;
pub mod timing;
pub mod tuning;

pub use context::{list_adapters, AdapterSummary, DeviceNeeds, GpuContext, LimitsSummary};
pub use engine::GpuEngine;
pub use kernels::matmul::{MatmulVariant, Product, Transpose};
pub use lab::KernelLab;
pub use pipelines::Pipelines;
pub use profile::{StepProfile, TimestampProfile};
pub use tuning::{TileChoices, TilePolicy};

/// Settings of the GPU engine.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuOptions {
    /// Training steps recorded per command buffer (and per metric readback).
    pub steps_per_submit: usize,
    /// Rows per evaluation batch.
    pub eval_batch: usize,
    /// How each matmul product's tile is chosen (default: measured once per adapter and
    /// shape, remembered in the per-user cache; see `tuning`).
    pub tiles: TilePolicy,
}

impl Default for GpuOptions {
    fn default() -> Self {
        Self {
            steps_per_submit: 64,
            eval_batch: 2048,
            tiles: TilePolicy::default(),
        }
    }
}
