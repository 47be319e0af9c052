//! The batch gather (`shaders/gather.wgsl`): a step's rows of the resident data set (u8 pixels
//! normalised to f32, or f32 values as they are), and their labels. CPU reference:
//! `cpu::ops::gather` (bit for bit).

use super::{out_of_bounds, StepRecord};
use crate::data::{Inputs, Label};
use crate::engine::gpu::buffers::{self, STORAGE};
use crate::engine::gpu::context::GpuContext;
use crate::error::GpuError;
use bytemuck::{Pod, Zeroable};

kernel_shader!("gather.wgsl", "gather");

/// The shader's `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct GatherParams {
    pub features: u32,
    /// 0: the resident words are packed u8 pixels; 1: f32 values.
    pub values: u32,
    pub _pad: [u32; 2],
}

impl GatherParams {
    /// Rows of `features` inputs each, of the kind `inputs` holds.
    pub fn new(features: usize, inputs: &Inputs) -> Self {
        Self {
            features: features as u32,
            values: matches!(inputs, Inputs::Values(_)) as u32,
            ..Default::default()
        }
    }
}

/// A storage buffer of the words the shader reads for `inputs`: pixels packed four to a u32 (a
/// quarter of the memory), values one per word, uploaded straight from the samples.
pub fn upload_inputs(ctx: &GpuContext, inputs: &Inputs) -> wgpu::Buffer {
    match inputs {
        Inputs::Pixels(p) => buffers::with_data(ctx, "images", &buffers::pack_u8(p), STORAGE),
        Inputs::Values(v) => buffers::with_data(ctx, "images", v, STORAGE),
    }
}

/// The labels as the shader reads them, one u32 each.
pub fn label_words(labels: &[Label]) -> Vec<u32> {
    labels.iter().map(|&l| u32::from(l)).collect()
}

/// Workgroups of the gather for `rows` rows of `features`: 256 invocations each, one per u32
/// word of pixels (four outputs; the grid-stride loop covers the rest when features are not a
/// multiple of four).
pub fn workgroups(rows: usize, features: usize) -> (u32, u32) {
    let groups = ((rows * features).div_ceil(4) as u32)
        .div_ceil(256)
        .clamp(1, 8192);
    (groups, 1)
}

storage_bindings! {
    /// The storage buffers of a gather, in binding order (2 ..= 6).
    pub struct GatherBindings("gather", GatherParams) {
        /// The data set's inputs ([`upload_inputs`]).
        images: read,
        /// The data set's labels ([`label_words`]).
        labels: read,
        /// The epoch's permutation (unused by direct steps).
        order: read,
        /// The batch's rows, `[len, features]` f32 (written).
        x: write,
        /// The batch's labels, `[len]` u32 (written).
        y: write,
    }
}

/// Checks that `step` reads samples inside a data set of `count` samples of `features`
/// (`images` input values) through `order`, and writes inside `x_len` floats.
pub fn check_bounds(
    step: &StepRecord,
    count: usize,
    features: usize,
    images: usize,
    order: &[u32],
    x_len: usize,
) -> Result<(), GpuError> {
    let (start, rows) = (step.start as usize, step.len as usize);
    let samples_ok = if step.direct != 0 {
        start + rows <= count
    } else {
        order
            .get(start..start + rows)
            .is_some_and(|o| o.iter().all(|&s| (s as usize) < count))
    };
    if samples_ok && images >= count * features && x_len >= rows * features {
        Ok(())
    } else {
        Err(out_of_bounds("gather"))
    }
}
