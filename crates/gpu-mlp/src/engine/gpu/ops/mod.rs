//! One module per GPU kernel. Each owns its WGSL source (assembled with `shaders/prelude.wgsl`),
//! its uniform parameters and the constructors that say what a call is for, its typed bindings
//! (the binding order, written once), its grid and its limits. The training engine, the kernel
//! lab, the timers, `verify` and the tests all go through these modules. Each kernel carries the
//! name of its CPU twin in `cpu::ops`, the reference it is checked against.
//!
//! Every kernel binds group 0 as: 0 its parameters (uniform), 1 the step record (uniform with a
//! dynamic offset: kernels find their step by offset), 2.. its storage buffers in its order.

/// `shaders/<file>` with the prelude in front, assembled at compile time.
macro_rules! shader {
    ($file:literal) => {
        concat!(
            include_str!("../../../../shaders/prelude.wgsl"),
            include_str!(concat!("../../../../shaders/", $file))
        )
    };
}

/// An enum of the numbers a shader uses (`Variant = N`), with `ALL`, every variant in the order
/// written: the list is written once.
macro_rules! numbered_enum {
    (
        $(#[$doc:meta])*
        pub enum $name:ident {
            $($(#[$variant_doc:meta])* $variant:ident = $number:literal,)+
        }
    ) => {
        $(#[$doc])*
        pub enum $name {
            $($(#[$variant_doc])* $variant = $number,)+
        }

        impl $name {
            /// Every variant, in the order they are written.
            pub const ALL: [$name; [$($number),+].len()] = [$($name::$variant),+];
        }
    };
}

/// A one-entry-point kernel's assembled shader (`WGSL`, from `shaders/<file>`) and the name of
/// its entry point (`ENTRY_POINT`).
macro_rules! kernel_shader {
    ($file:literal, $entry:literal) => {
        /// The assembled shader.
        pub const WGSL: &str = shader!($file);

        /// The shader's entry point.
        pub const ENTRY_POINT: &str = $entry;
    };
}

/// A kernel's storage buffers (bindings 2, 3, ... in the order listed, each `read` or `write`)
/// as a struct of named buffers, with the layout's read-only flags and the one call that binds
/// them with the kernel's params and the step table: the binding order is written only here.
macro_rules! storage_bindings {
    (
        $(#[$doc:meta])*
        pub struct $name:ident($label:literal, $params:ty) {
            $($(#[$field_doc:meta])* $field:ident: $access:ident,)+
        }
    ) => {
        $(#[$doc])*
        pub struct $name<'a> {
            $($(#[$field_doc])* pub $field: &'a wgpu::Buffer,)+
        }

        impl $name<'_> {
            /// Read-only flag of each storage binding.
            pub const STORAGE: &'static [bool] = &[$(storage_bindings!(@read_only $access)),+];

            /// The bind group of `params` with these buffers and the step table `steps`.
            pub fn bind(
                &self,
                ctx: &crate::engine::gpu::context::GpuContext,
                layout: &super::Layout,
                params: &$params,
                steps: &wgpu::Buffer,
            ) -> wgpu::BindGroup {
                super::bind_group(ctx, $label, layout, params, steps, &[$(self.$field),+])
            }
        }
    };
    (@read_only read) => { true };
    (@read_only write) => { false };
}

pub mod gather;
pub mod matmul;
pub mod mutant;
pub mod optimizer;
pub mod softmax_cross_entropy;

use super::buffers;
use super::context::GpuContext;
use bytemuck::{Pod, Zeroable};

/// The shared WGSL prelude (the `Step` struct, the dropout hash), prepended to every shader.
pub const PRELUDE_WGSL: &str = include_str!("../../../../shaders/prelude.wgsl");

/// Every assembled shader with its entry points, for validation.
pub const SHADERS: &[(&str, &str, &[&str])] = &[
    ("matmul.wgsl", matmul::WGSL, &matmul::ENTRY_POINTS),
    ("gather.wgsl", gather::WGSL, &[gather::ENTRY_POINT]),
    (
        "softmax_ce.wgsl",
        softmax_cross_entropy::WGSL,
        &[softmax_cross_entropy::ENTRY_POINT],
    ),
    ("optimizer.wgsl", optimizer::WGSL, &[optimizer::ENTRY_POINT]),
];

/// The most storage buffers any kernel binds.
pub const MAX_STORAGE_BINDINGS: u32 = 6;

/// Bytes of one step record in the shaders.
pub const STEP_RECORD_BYTES: u64 = 48;

/// One step's values, as the prelude's `Step` struct reads them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct StepRecord {
    /// First position of the batch in the order buffer (or first sample when `direct`).
    pub start: u32,
    /// Rows in the batch.
    pub len: u32,
    /// Metric slot this step writes.
    pub slot: u32,
    /// Dropout seed.
    pub seed: u32,
    /// Adam's α_t or SGD's lr.
    pub step_size: f32,
    /// `1/len` rounded on the host (the CPU reference's `1.0 / rows as f32`).
    pub grad_scale: f32,
    /// 1: row r is sample `start + r` (evaluation); 0: sample `order[start + r]`.
    pub direct: u32,
    /// Where evaluation predictions of this batch start.
    pub out_base: u32,
    /// AdamW's decoupled decay of this step (0: none).
    pub decay: f32,
    pub _pad: [u32; 3],
}

impl StepRecord {
    /// A training step over all `len` rows of a batch (seed 0, first slot).
    pub fn full(len: usize) -> Self {
        Self {
            len: len as u32,
            grad_scale: 1.0 / len.max(1) as f32,
            ..Default::default()
        }
    }
}

/// A kernel's bind-group layout and its pipeline layout.
pub struct Layout {
    pub bind_group: wgpu::BindGroupLayout,
    pub pipeline: wgpu::PipelineLayout,
}

impl Layout {
    /// The layout of a kernel whose storage bindings (2, 3, ...) have these read-only flags.
    pub fn new(device: &wgpu::Device, label: &str, storage: &[bool]) -> Self {
        let uniform = |binding, dynamic, size: u64| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: dynamic,
                min_binding_size: std::num::NonZeroU64::new(size),
            },
            count: None,
        };
        let mut entries = vec![uniform(0, false, 0), uniform(1, true, STEP_RECORD_BYTES)];
        for (i, &read_only) in storage.iter().enumerate() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: 2 + i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            });
        }
        let bind_group = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(label),
            entries: &entries,
        });
        let pipeline = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(label),
            bind_group_layouts: &[Some(&bind_group)],
            immediate_size: 0,
        });
        Self {
            bind_group,
            pipeline,
        }
    }
}

/// A bind group of `params` (uploaded here; the group keeps the buffer alive), the step table
/// `steps` (one record bound, at the dispatch's dynamic offset) and `storage` in binding order.
/// Called only by the kernels' typed bindings, which fix `storage`'s order.
fn bind_group<P: Pod>(
    ctx: &GpuContext,
    label: &str,
    layout: &Layout,
    params: &P,
    steps: &wgpu::Buffer,
    storage: &[&wgpu::Buffer],
) -> wgpu::BindGroup {
    let params = buffers::with_data(
        ctx,
        label,
        std::slice::from_ref(params),
        wgpu::BufferUsages::UNIFORM,
    );
    let mut entries = vec![
        wgpu::BindGroupEntry {
            binding: 0,
            resource: params.as_entire_binding(),
        },
        wgpu::BindGroupEntry {
            binding: 1,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: steps,
                offset: 0,
                size: std::num::NonZeroU64::new(STEP_RECORD_BYTES),
            }),
        },
    ];
    for (i, b) in storage.iter().enumerate() {
        entries.push(wgpu::BindGroupEntry {
            binding: 2 + i as u32,
            resource: b.as_entire_binding(),
        });
    }
    ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout: &layout.bind_group,
        entries: &entries,
    })
}

/// The error of a kernel call whose shapes reach outside its buffers (checked before any
/// dispatch: the pipelines run without wgpu's bounds checks).
pub fn out_of_bounds(kernel: &str) -> crate::error::GpuError {
    crate::error::GpuError::Device(format!(
        "{kernel}: the given shapes reach outside the given buffers"
    ))
}
