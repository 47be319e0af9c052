//! The batch gather (`gather.wgsl`): a step's rows of the resident data set (u8 pixels
//! normalised to f32, or f32 values as they are), and their labels.

use super::contract::{check_workgroups, out_of_bounds, Kernel, Shader};
use super::mode::Code;
use super::paths::Path;
use super::step::{RowSource, StepRecord};
use crate::data::{Inputs, Label};
use crate::engine::gpu::buffers::{self, STORAGE};
use crate::engine::gpu::context::GpuContext;
use crate::error::GpuError;

/// The gather's paths (see `kernels::paths`).
pub mod path {
    use crate::engine::gpu::kernels::paths::Path;

    const K: &str = "gather";
    /// u8 pixels, each row starting on a word: four outputs per load.
    pub const PIXEL_WORDS: Path = Path::new(K, "pixels, rows on words", &["p.input_words"]);
    /// u8 pixels, rows across words (features not a multiple of 4): one byte per output.
    pub const PIXEL_BYTES: Path = Path::new(K, "pixels, rows across words", &["p.input_words"]);
    /// f32 values, used as they are.
    pub const VALUES: Path = Path::new(K, "values (f32)", &["p.input_words"]);
    /// Grey 28x28 rows (784 inputs) and RGB 32x32x3 rows (3072).
    pub const GREY_WIDTH: Path = Path::new(K, "grey width 784", &[]);
    pub const RGB_WIDTH: Path = Path::new(K, "RGB width 3072", &[]);
    /// Training: rows through the epoch's order, from the step's start.
    pub const THROUGH_ORDER: Path = Path::new(
        K,
        "rows through the order",
        &["step.row_source", "step.start"],
    );
    /// Evaluation: rows in order from an offset.
    pub const DIRECT_FROM_OFFSET: Path = Path::new(
        K,
        "rows direct from an offset",
        &["step.row_source", "step.start"],
    );
    pub const LABELS_ABOVE_255: Path = Path::new(K, "labels above 255", &[]);
    /// Fewer rows than the batch buffers hold.
    pub const SHORT_BATCH: Path = Path::new(K, "short last batch", &["step.len"]);

    pub const ALL: &[Path] = &[
        PIXEL_WORDS,
        PIXEL_BYTES,
        VALUES,
        GREY_WIDTH,
        RGB_WIDTH,
        THROUGH_ORDER,
        DIRECT_FROM_OFFSET,
        LABELS_ABOVE_255,
        SHORT_BATCH,
    ];
}

numbered_enum! {
    /// What the resident words of a data set hold.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum InputWords {
        /// u8 pixels packed four to a word.
        Pixels = 0,
        /// f32 values, one per word.
        Values = 1,
    }
}

uniform_params! {
    /// The shader's `Params`.
    pub struct GatherParams {
        pub features: u32,
        pub input_words: Code<InputWords>,
        pub _pad: [u32; 2],
    }
}

impl GatherParams {
    /// Rows of `features` inputs each, of the kind `inputs` holds.
    pub fn new(features: usize, inputs: &Inputs) -> Self {
        let words = match inputs {
            Inputs::Pixels(_) => InputWords::Pixels,
            Inputs::Values(_) => InputWords::Values,
        };
        Self {
            features: features as u32,
            input_words: words.into(),
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

storage_bindings! {
    /// The storage buffers of a gather, in binding order (2 ..= 6).
    pub struct GatherBindings {
        /// The data set's inputs ([`upload_inputs`]).
        images: read,
        /// The data set's labels ([`label_words`]).
        labels: read,
        /// The epoch's permutation (unused by direct steps).
        order: read,
        /// The batch's rows, `[len, features]` f32 (written).
        batch_inputs: read_write,
        /// The batch's labels, `[len]` u32 (written).
        batch_labels: read_write,
    }
}

/// What the gather's bounds check needs: the data set's size and the permutation it follows.
pub struct GatherExtents<'a> {
    /// Samples in the data set.
    pub samples: usize,
    /// Input values in the data set (`Inputs::len`).
    pub inputs: usize,
    pub order: &'a [u32],
    /// Floats of the batch-inputs buffer.
    pub batch_inputs: usize,
}

/// A gather of up to `max_rows` rows. CPU twin: [`crate::engine::cpu::ops::gather`] (bit for
/// bit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gather {
    pub params: GatherParams,
    pub max_rows: usize,
}

impl Kernel for Gather {
    const NAME: &'static str = "gather";
    const SHADER: Shader = Shader {
        file: "gather/gather.wgsl",
        source: shader!("gather.wgsl"),
        entry_points: &["gather"],
    };
    const PATHS: &'static [Path] = path::ALL;
    const SHAPE_READS: &'static [&'static str] = &["p.features"];
    type Params = GatherParams;
    type Bindings<'a> = GatherBindings<'a>;
    type Extents<'a> = GatherExtents<'a>;

    fn params(&self) -> GatherParams {
        self.params
    }

    /// 256 invocations each, one per u32 word of pixels (four outputs; the grid-stride loop
    /// covers the rest when features are not a multiple of four).
    fn workgroups(&self) -> (u32, u32) {
        let words = (self.max_rows * self.params.features as usize).div_ceil(4) as u32;
        (words.div_ceil(256).clamp(1, 8192), 1)
    }

    fn check_limits(&self, limits: &wgpu::Limits) -> Result<(), GpuError> {
        check_workgroups(Self::NAME, 256, 0, self.workgroups(), limits)
    }

    /// `step` reads samples inside the data set through `order` and writes inside the batch.
    fn check_bounds(&self, step: &StepRecord, extents: &GatherExtents) -> Result<(), GpuError> {
        let (start, rows) = (step.start as usize, step.len as usize);
        let features = self.params.features as usize;
        let count = extents.samples;
        let samples_ok = if step.row_source == RowSource::Direct {
            start + rows <= count
        } else {
            extents
                .order
                .get(start..start + rows)
                .is_some_and(|o| o.iter().all(|&s| (s as usize) < count))
        };
        if samples_ok
            && rows <= self.max_rows
            && extents.inputs >= count * features
            && extents.batch_inputs >= rows * features
        {
            Ok(())
        } else {
            Err(out_of_bounds(Self::NAME))
        }
    }
}
