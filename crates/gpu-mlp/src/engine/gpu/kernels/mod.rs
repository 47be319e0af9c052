//! The GPU kernels, one folder each (`<op>/mod.rs` beside its `<op>.wgsl`), all under one
//! contract ([`Kernel`]): WGSL and entry points, uniform `Params` ([`UniformParams`]), typed
//! storage bindings ([`StorageBindings`], the binding order written once), grid, bounds check and
//! CPU twin (an intra-doc link to `cpu::ops` on each implementation). Every dispatch, of the
//! engine, the kernel lab, the timer and the profiler, is a `gpu::dispatch::Dispatch` of one of
//! these kernels.
//!
//! Every kernel binds group 0 as: 0 its parameters (uniform), 1 the step record (uniform with a
//! dynamic offset: kernels find their step by offset), 2.. its storage buffers in its order.
//! `tests/gpu_kernels.rs` reflects each module with naga and checks both against the Rust side.

/// A kernel's `<file>` (beside its `mod.rs`, one folder below this one) with the prelude in
/// front, assembled at compile time.
macro_rules! shader {
    ($file:literal) => {
        concat!(include_str!("../prelude.wgsl"), include_str!($file))
    };
}

/// An enum of the numbers a shader uses (`Variant = N`), with `ALL` (every variant in the order
/// written: the list is written once) and [`Numbered`] to carry it in a uniform ([`Code`]).
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

            /// The variant's number in the shader.
            pub fn number(self) -> u32 {
                self as u32
            }

            /// The variant numbered `number`.
            pub fn from_number(number: u32) -> Option<Self> {
                Self::ALL.into_iter().find(|v| v.number() == number)
            }
        }

        impl $crate::engine::gpu::kernels::mode::Numbered for $name {
            fn number(self) -> u32 {
                self as u32
            }
        }
    };
}

/// A shader's uniform `Params` on the host, `#[repr(C)]` and `Pod`, with the name and byte offset
/// of each field ([`UniformParams::FIELDS`]) for the layout test against the WGSL struct.
macro_rules! uniform_params {
    (
        $(#[$doc:meta])*
        pub struct $name:ident {
            $($(#[$field_doc:meta])* pub $field:ident: $ty:ty,)+
        }
    ) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name {
            $($(#[$field_doc])* pub $field: $ty,)+
        }

        impl $crate::engine::gpu::kernels::contract::UniformParams for $name {
            const FIELDS: &'static [(&'static str, usize)] =
                &[$((stringify!($field), std::mem::offset_of!($name, $field))),+];
        }
    };
}

/// A kernel's storage buffers (bindings 2, 3, ... in the order listed, each `read` or
/// `read_write`, named as in the WGSL) as a struct of named buffers; `views` bind a listed
/// buffer again under another WGSL name (read-only, after the listed ones). The binding order is
/// written only here.
macro_rules! storage_bindings {
    (
        $(#[$doc:meta])*
        pub struct $name:ident {
            $($(#[$field_doc:meta])* $field:ident: $access:ident,)+
        }
        $(views { $($view:ident: $of:ident,)+ })?
    ) => {
        $(#[$doc])*
        pub struct $name<'a> {
            $($(#[$field_doc])* pub $field: &'a wgpu::Buffer,)+
        }

        impl $crate::engine::gpu::kernels::contract::StorageBindings for $name<'_> {
            const SLOTS: &'static [(&'static str, $crate::engine::gpu::kernels::contract::Access)] = &[
                $((stringify!($field), storage_bindings!(@access $access)),)+
                $($((stringify!($view), $crate::engine::gpu::kernels::contract::Access::Read),)+)?
            ];

            fn buffers(&self) -> Vec<&wgpu::Buffer> {
                vec![$(self.$field,)+ $($(self.$of,)+)?]
            }
        }
    };
    (@access read) => { $crate::engine::gpu::kernels::contract::Access::Read };
    (@access read_write) => { $crate::engine::gpu::kernels::contract::Access::ReadWrite };
}

mod binding;
mod contract;
pub mod gather;
pub mod matmul;
mod mode;
pub mod mutant;
pub mod optimizer;
pub mod paths;
pub mod softmax_cross_entropy;
mod step;

pub use binding::Layout;
pub use contract::{
    check_workgroups, out_of_bounds, storage_slots, Access, Kernel, Shader, StorageBindings,
    UniformParams,
};
pub use mode::{Code, Numbered};
pub use step::{RowSource, StepRecord, STEP_RECORD_BYTES};

/// The shared WGSL prelude (the `Step` struct, the dropout hash, the mutants), prepended to
/// every shader.
pub const PRELUDE_WGSL: &str = include_str!("prelude.wgsl");

/// Every kernel's shader, for validation and the layout test.
pub const SHADERS: [Shader; 4] = [
    <matmul::Matmul as Kernel>::SHADER,
    <gather::Gather as Kernel>::SHADER,
    <softmax_cross_entropy::SoftmaxCrossEntropy as Kernel>::SHADER,
    <optimizer::OptimizerUpdate as Kernel>::SHADER,
];

/// Every kernel's paths, the kernels in the order of [`SHADERS`].
pub fn all_paths() -> Vec<paths::Path> {
    [
        <matmul::Matmul as Kernel>::PATHS,
        <gather::Gather as Kernel>::PATHS,
        <softmax_cross_entropy::SoftmaxCrossEntropy as Kernel>::PATHS,
        <optimizer::OptimizerUpdate as Kernel>::PATHS,
    ]
    .concat()
}

// Every kernel stays within the storage buffers the device layer asks for.
const _: () = {
    use super::context::STORAGE_BUFFERS_PER_KERNEL as MOST;
    let counts = [
        <matmul::MatmulBindings as StorageBindings>::SLOTS.len(),
        <gather::GatherBindings as StorageBindings>::SLOTS.len(),
        <softmax_cross_entropy::SoftmaxBindings as StorageBindings>::SLOTS.len(),
        <optimizer::OptimizerBindings as StorageBindings>::SLOTS.len(),
    ];
    let mut i = 0;
    while i < counts.len() {
        assert!(counts[i] <= MOST as usize);
        i += 1;
    }
};
