//! One dispatch of a kernel, and the one place a dispatch is encoded (set pipeline, bind,
//! dispatch): the engine's step programs, the kernel lab, the matmul timer and the profiler all
//! record through [`Dispatch::encode`].

use super::context::GpuContext;
use super::kernels::Kernel;
use super::pipelines::Pipelines;
use crate::error::GpuError;

/// A kernel bound to its buffers: pipeline, bind group (step record at a dynamic offset) and
/// grid.
pub struct Dispatch {
    /// What it computes, e.g. `forward0 32x784x128` (profiles list dispatches by it).
    pub name: String,
    pub pipeline: wgpu::ComputePipeline,
    pub group: wgpu::BindGroup,
    pub workgroups: (u32, u32),
}

impl Dispatch {
    /// `kernel` on `bindings`, reading its step records from `steps`: its pipeline (checked
    /// against the device's limits), its parameters uploaded and bound, its grid.
    pub fn new<K: Kernel>(
        ctx: &GpuContext,
        pipelines: &Pipelines,
        name: impl Into<String>,
        kernel: &K,
        bindings: &K::Bindings<'_>,
        steps: &wgpu::Buffer,
    ) -> Result<Self, GpuError> {
        let name = name.into();
        let pipeline = pipelines.get(&ctx.device, kernel)?;
        let group = pipelines
            .layout::<K>()?
            .bind(ctx, &name, kernel, bindings, steps);
        Ok(Self {
            name,
            pipeline,
            group,
            workgroups: kernel.workgroups(),
        })
    }

    /// Encodes the dispatch `times` times in `pass`, reading the step record at byte
    /// `step_offset` of the step table.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>, step_offset: u32, times: usize) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.group, &[step_offset]);
        for _ in 0..times {
            pass.dispatch_workgroups(self.workgroups.0, self.workgroups.1, 1);
        }
    }
}

/// Records the dispatches of `list` once for each step-table record in `records`, into one
/// compute pass (the record at index s sits at byte `s · stride`).
pub fn record(
    encoder: &mut wgpu::CommandEncoder,
    list: &[Dispatch],
    stride: u64,
    records: std::ops::Range<usize>,
) {
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some("steps"),
        timestamp_writes: None,
    });
    for s in records {
        let offset = (s as u64 * stride) as u32;
        for d in list {
            d.encode(&mut pass, offset, 1);
        }
    }
}
