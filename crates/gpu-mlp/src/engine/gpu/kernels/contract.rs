//! What every kernel states, in one shape: the [`Kernel`] trait, its typed bindings and uniform
//! parameters, and the checks every kernel makes.

use super::paths::Path;
use super::step::StepRecord;
use crate::error::GpuError;
use bytemuck::Pod;

/// A kernel's WGSL: its file (beside its module), the source with the prelude in front and the
/// entry points.
#[derive(Clone, Copy, Debug)]
pub struct Shader {
    pub file: &'static str,
    pub source: &'static str,
    pub entry_points: &'static [&'static str],
}

/// How a kernel binds a storage buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

/// A kernel's storage buffers as named fields (declared with `storage_bindings!`, which writes
/// the binding order once).
pub trait StorageBindings {
    /// The WGSL name and access of each storage binding, from binding 2 on.
    const SLOTS: &'static [(&'static str, Access)];

    /// The buffers, in binding order.
    fn buffers(&self) -> Vec<&wgpu::Buffer>;
}

/// A shader's `Params` on the host (declared with `uniform_params!`).
pub trait UniformParams: Pod {
    /// Each field's name and byte offset, in order.
    const FIELDS: &'static [(&'static str, usize)];
}

/// One GPU kernel: a value of an implementing type is one dispatch's settings (its parameters
/// and whatever sizes its grid). Each implementation names its CPU twin in `cpu::ops` with an
/// intra-doc link: the reference `verify` checks it against.
pub trait Kernel {
    /// The name in labels, errors and the pipeline cache.
    const NAME: &'static str;
    /// Its WGSL.
    const SHADER: Shader;
    /// Every path of the kernel: what `verify` must run (see [`Path`]).
    const PATHS: &'static [Path];
    /// The shader reads that only size or place the work (shapes, offsets, tile constants):
    /// every other read must be named by a path.
    const SHAPE_READS: &'static [&'static str];
    /// The shader's `Params` uniform, field for field.
    type Params: UniformParams;
    /// Its storage buffers.
    type Bindings<'a>: StorageBindings;
    /// What the bounds check needs of the buffers a call binds: their lengths in elements, and
    /// the contents of the host data the kernel indexes through.
    type Extents<'a>;

    /// The uniform parameters of this dispatch.
    fn params(&self) -> Self::Params;

    /// The entry point this dispatch runs.
    fn entry_point(&self) -> &'static str {
        Self::SHADER.entry_points[0]
    }

    /// The override constants of its pipeline (besides the mutant's; none by default).
    fn constants(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }

    /// Workgroups in x and y.
    fn workgroups(&self) -> (u32, u32);

    /// Checks the dispatch against the device's limits (workgroup size and memory, grid).
    fn check_limits(&self, limits: &wgpu::Limits) -> Result<(), GpuError>;

    /// Checks that a dispatch with `step` indexes inside buffers of these extents (the
    /// pipelines run without wgpu's runtime bounds checks).
    fn check_bounds(&self, step: &StepRecord, extents: &Self::Extents<'_>) -> Result<(), GpuError>;
}

/// The error of a kernel call whose shapes reach outside its buffers (checked before any
/// dispatch: the pipelines run without wgpu's bounds checks).
pub fn out_of_bounds(kernel: &str) -> GpuError {
    GpuError::Device(format!(
        "{kernel}: the given shapes reach outside the given buffers"
    ))
}

/// The storage bindings of `K` (bindings 2, 3, ...).
pub fn storage_slots<K: Kernel>() -> &'static [(&'static str, Access)] {
    <K::Bindings<'static> as StorageBindings>::SLOTS
}

/// The limits check of a kernel with `invocations` per workgroup, `workgroup_bytes` of
/// workgroup memory and `grid` workgroups.
pub fn check_workgroups(
    kernel: &str,
    invocations: u32,
    workgroup_bytes: u32,
    grid: (u32, u32),
    limits: &wgpu::Limits,
) -> Result<(), GpuError> {
    let most = limits.max_compute_workgroups_per_dimension;
    let problem = if invocations > limits.max_compute_invocations_per_workgroup {
        format!("{invocations} invocations per workgroup")
    } else if workgroup_bytes > limits.max_compute_workgroup_storage_size {
        format!("{workgroup_bytes} bytes of workgroup storage")
    } else if grid.0 > most || grid.1 > most {
        format!(
            "{}x{} workgroups, the device allows {most} per dimension",
            grid.0, grid.1
        )
    } else {
        return Ok(());
    };
    Err(GpuError::Device(format!("{kernel}: {problem}")))
}
