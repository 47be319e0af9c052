//! Checkpoints: a trained model in a `.safetensors` file that other tools can read.
//!
//! Tensors use PyTorch's layout and names, so `torch.nn.Linear` layers in a `ModuleList` called
//! `layers` (or a few lines of numpy) load them directly: `layers.{i}.weight` is `[out, in]` and
//! `layers.{i}.bias` is `[out]`, f32, `i` counting dense layers from 0. Our own layout is
//! `W[in, out]` (Keras), so weights are transposed on the way in and out. The header's string
//! map records what a reader needs besides the numbers (architecture, class names, input shape,
//! channels, source kind, scaling) and what a person wants to know later (data set, training
//! settings, final metrics, gpu-mlp version). A standardised model also holds its per-feature
//! `scaling.mean` and `scaling.std` tensors. `docs/checkpoint-format.md` describes the format.

pub(crate) mod error;
use crate::data::{Dataset, Scaling, SourceKind};
use crate::engine::OptimizerState;
use crate::error::{Error, Result};
use crate::fsio::atomic;
use crate::model::ModelSpec;
use crate::training::resume::{self, ResumeState, TensorGroup};
pub use error::CheckpointError;
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Value of the `format` key: marks files written by gpu-mlp.
pub const FORMAT: &str = "gpu-mlp";
/// The highest `format_version` this gpu-mlp reads; files with a higher version are refused.
/// Version 2 added colour, tables and scalings other than `x/255`; a model of grey pixels is
/// still written as version 1, which older versions read correctly, while they refuse the
/// models they would misread.
pub const FORMAT_VERSION: u32 = 2;
/// How pixels (`u8`, 0 = background) become model inputs under `Scaling::Pixels`.
pub const PIXEL_NORMALISATION: &str = "x/255";
/// Tensor names of a standardised model's per-feature mean and standard deviation (`[inputs]`).
pub const SCALING_MEAN: &str = "scaling.mean";
pub const SCALING_STD: &str = "scaling.std";

/// Header keys that `Checkpoint`'s own fields (or fixed facts of the format) are written to;
/// every other key lands in `Checkpoint::metadata`.
pub mod keys {
    pub const FORMAT: &str = "format";
    pub const FORMAT_VERSION: &str = "format_version";
    pub const GPU_MLP_VERSION: &str = "gpu_mlp_version";
    pub const ARCHITECTURE: &str = "architecture";
    pub const INPUTS: &str = "inputs";
    pub const HIDDEN: &str = "hidden";
    pub const CLASSES: &str = "classes";
    pub const ACTIVATION: &str = "activation";
    pub const OUTPUT: &str = "output";
    pub const DROPOUT: &str = "dropout";
    pub const DATASET: &str = "dataset";
    pub const CLASS_NAMES: &str = "class_names";
    pub const FEATURE_NAMES: &str = "feature_names";
    pub const INPUT_ROWS: &str = "input_rows";
    pub const INPUT_COLS: &str = "input_cols";
    pub const PIXEL_NORMALISATION: &str = "pixel_normalisation";
    pub const PIXEL_LAYOUT: &str = "pixel_layout";
    pub const INPUT_CHANNELS: &str = "input_channels";
    pub const SOURCE: &str = "source";
    pub const SCALE: &str = "scale";
    pub const RESUME: &str = crate::training::resume::METADATA_KEY;

    /// Keys owned by the format; `Checkpoint::metadata` never holds them.
    pub const RESERVED: &[&str] = &[
        FORMAT,
        FORMAT_VERSION,
        ARCHITECTURE,
        INPUTS,
        HIDDEN,
        CLASSES,
        ACTIVATION,
        OUTPUT,
        DROPOUT,
        DATASET,
        CLASS_NAMES,
        FEATURE_NAMES,
        INPUT_ROWS,
        INPUT_COLS,
        PIXEL_NORMALISATION,
        PIXEL_LAYOUT,
        INPUT_CHANNELS,
        SOURCE,
        SCALE,
        RESUME,
    ];
}

/// A trained model and what is needed to use it on new images.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub spec: ModelSpec,
    /// All weights and biases in the flat layout of `ModelSpec::layers` (`W[in, out]`).
    pub parameters: Vec<f32>,
    /// One name per class, index = label.
    pub class_names: Vec<String>,
    /// The names of a table model's input columns, in input order (its training CSV's header);
    /// empty when they were unnamed or not recorded: columns are then taken by position.
    pub feature_names: Vec<String>,
    /// The data set it was trained on (`mnist`, `fashion-mnist`, or a folder's name).
    pub dataset: String,
    /// Input image height and width (1 and the feature count for a table);
    /// `rows * cols * channels == spec.inputs`.
    pub rows: usize,
    pub cols: usize,
    /// Values per pixel: 1 grey, 3 RGB (interleaved); 1 for a table.
    pub channels: usize,
    /// The kind of source it was trained on: decides what `predict` takes.
    pub source: SourceKind,
    /// How raw inputs become the network's inputs (applied by `predict` and `eval`).
    pub scaling: Scaling,
    /// Everything else in the header: training settings, final metrics, gpu-mlp version.
    pub metadata: BTreeMap<String, String>,
    /// What `train --resume` needs to go on (training checkpoints only).
    pub resume: Option<ResumeState>,
}

impl Checkpoint {
    /// A grey image model (8-bit pixels scaled by 1/255, as IDX data) of `parameters` for
    /// `spec`, its classes named `class_names`, taking `rows × cols` images of the data set
    /// `dataset`; no metadata. Other inputs: set `channels`, `source` and `scaling`.
    pub fn grey_images(
        spec: ModelSpec,
        parameters: Vec<f32>,
        class_names: Vec<String>,
        dataset: &str,
        (rows, cols): (usize, usize),
    ) -> Self {
        Self {
            spec,
            parameters,
            class_names,
            feature_names: Vec::new(),
            dataset: dataset.to_string(),
            rows,
            cols,
            channels: 1,
            source: SourceKind::Idx,
            scaling: Scaling::Pixels,
            metadata: BTreeMap::new(),
            resume: None,
        }
    }

    /// A checkpoint of `parameters` for `spec`, trained on `data` (names, shape); no metadata.
    pub fn for_dataset(spec: ModelSpec, parameters: Vec<f32>, data: &Dataset) -> Self {
        Self {
            spec,
            parameters,
            class_names: data.class_names.clone(),
            feature_names: data.feature_names.clone(),
            dataset: data.name.clone(),
            rows: data.rows,
            cols: data.cols,
            channels: data.channels,
            source: data.source,
            scaling: data.scaling.clone(),
            metadata: BTreeMap::new(),
            resume: None,
        }
    }

    /// True when the model takes images (`predict` reads image files, `show` and `draw` apply),
    /// false for a table's rows. Decided as `Dataset::is_image` decides it.
    pub fn is_image(&self) -> bool {
        matches!(self.source, SourceKind::Idx | SourceKind::ImageFolder) || self.rows > 1
    }

    /// `28x28 images`, `32x32 RGB images`, or `4 features`: what the model takes, in words.
    pub fn input_words(&self) -> String {
        shape_words(self.is_image(), self.rows, self.cols, self.channels)
    }

    /// Checks that the fields agree with each other; the problem in words otherwise.
    pub fn validate(&self) -> Result<(), String> {
        let expected = self.spec.parameter_count();
        if self.parameters.len() != expected {
            return Err(format!(
                "{} parameters for a {} network, which has {expected}",
                self.parameters.len(),
                self.spec.describe()
            ));
        }
        if self.class_names.len() != self.spec.classes {
            return Err(format!(
                "{} class names for {} classes",
                self.class_names.len(),
                self.spec.classes
            ));
        }
        if let Some(problem) = crate::data::control_in_names(&self.class_names) {
            return Err(problem);
        }
        if !self.feature_names.is_empty() && self.feature_names.len() != self.spec.inputs {
            return Err(format!(
                "{} feature names for {} inputs",
                self.feature_names.len(),
                self.spec.inputs
            ));
        }
        if !matches!(self.channels, 1 | 3)
            || self.rows * self.cols * self.channels != self.spec.inputs
        {
            return Err(format!(
                "input shape {}x{}x{} does not give the model's {} inputs",
                self.rows, self.cols, self.channels, self.spec.inputs
            ));
        }
        if let Scaling::Standardize { mean, std } = &self.scaling {
            if mean.len() != self.spec.inputs || std.len() != self.spec.inputs {
                return Err(format!(
                    "{} means and {} standard deviations for {} inputs",
                    mean.len(),
                    std.len(),
                    self.spec.inputs
                ));
            }
            if let Some(bad) = mean.iter().chain(std).find(|v| !v.is_finite()) {
                return Err(format!("the standardisation holds {bad}"));
            }
            if let Some(bad) = std.iter().find(|&&s| s < 0.0) {
                return Err(format!("a standard deviation is negative ({bad})"));
            }
        }
        if let Some(pos) = self.parameters.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "parameter {pos} is {}; the model diverged",
                self.parameters[pos]
            ));
        }
        if let Some(state) = &self.resume {
            let moments = state.moments.iter().flat_map(|m| [&m.moment1, &m.moment2]);
            if moments
                .chain(&state.best_parameters)
                .chain(&state.parameters)
                .any(|v| v.len() != expected)
            {
                return Err(format!(
                    "its training state's tensors do not have the network's {expected} values"
                ));
            }
        }
        Ok(())
    }

    /// One line: `784-128-10, dropout 0.2 (mnist, 28x28, 10 classes)`.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}, {}, {} classes)",
            self.spec.describe(),
            self.dataset,
            self.input_words().trim_end_matches(" images"),
            self.spec.classes
        )
    }

    /// Fails with a clear `Mismatch` unless the model takes `data`'s inputs and labels: the
    /// same number of inputs and classes, the same channels, and (when both are images) the
    /// same image size. MNIST as a CSV table fits an MNIST image model: its rows hold the same
    /// 784 pixels.
    pub fn check_fits(&self, path: impl AsRef<Path>, data: &Dataset) -> Result<()> {
        let path = path.as_ref();
        let shape_differs = self.channels != data.channels
            || (self.is_image()
                && data.is_image()
                && (self.rows, self.cols) != (data.rows, data.cols));
        if self.spec.inputs != data.features()
            || shape_differs
            || self.spec.classes != data.classes()
        {
            return Err(CheckpointError::Mismatch {
                path: path.to_path_buf(),
                problem: format!(
                    "the model takes {} and {} classes ({}), but the data '{}' has {} and {} \
                     classes; use a checkpoint trained on this kind of data",
                    self.input_words(),
                    self.spec.classes,
                    self.dataset,
                    data.name,
                    shape_words(data.is_image(), data.rows, data.cols, data.channels),
                    data.classes()
                ),
            }
            .into());
        }
        Ok(())
    }
}

/// `28x28 images`, `32x32 RGB images`, or `4 features`.
fn shape_words(image: bool, rows: usize, cols: usize, channels: usize) -> String {
    match (image, channels) {
        (false, _) => format!("{} features", rows * cols * channels),
        (true, 3) => format!("{rows}x{cols} RGB images"),
        (true, _) => format!("{rows}x{cols} images"),
    }
}

mod read;
#[cfg(test)]
mod tests;
mod write;

pub use read::from_bytes;
use read::tensor_bytes;
pub use write::to_bytes;

/// Writes `ckpt` to `path` through a temporary file and a rename: a crash or a failed write
/// never leaves a torn file and never destroys an existing one.
pub fn save(path: impl AsRef<Path>, ckpt: &Checkpoint) -> Result<()> {
    let path = path.as_ref();
    let bytes = to_bytes(ckpt).map_err(|problem| CheckpointError::Invalid {
        path: path.to_path_buf(),
        problem,
    })?;
    Ok(atomic::write_atomically(path, &bytes)?)
}

/// Largest safetensors header read (ours are a few KiB: names, class names, settings).
pub const MAX_HEADER_BYTES: u64 = 16 << 20;

/// Largest tensor data read: far beyond any MLP gpu-mlp trains, far below what would exhaust
/// memory by its size alone.
pub const MAX_TENSOR_BYTES: u64 = 8 << 30;

/// Reads a checkpoint, checking everything a file can get wrong. The header is read and checked
/// against the file's length first, so a device, a huge file or a header that promises more
/// than the file holds costs nothing before it is refused.
pub fn load(path: impl AsRef<Path>) -> Result<Checkpoint> {
    let path = path.as_ref();
    use std::io::Read;
    let read_error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let corrupt = |problem: String| -> Error {
        CheckpointError::Corrupt {
            path: path.to_path_buf(),
            problem,
        }
        .into()
    };
    // Checked before opening: opening a FIFO would wait for a writer.
    let kind = std::fs::metadata(path).map_err(read_error)?.file_type();
    if !kind.is_file() {
        return Err(corrupt(format!(
            "it is {}, not a regular file",
            atomic::describe_kind(kind)
        )));
    }
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    let len = file.metadata().map_err(read_error)?.len();
    let mut prefix = [0u8; 8];
    file.read_exact(&mut prefix)
        .map_err(|_| corrupt(format!("the file has {len} bytes, too few for a header")))?;
    let header_len = u64::from_le_bytes(prefix);
    if header_len > MAX_HEADER_BYTES || 8 + header_len > len {
        return Err(corrupt(format!(
            "the header claims {header_len} bytes but the file has {len} bytes (at most \
             {MAX_HEADER_BYTES} header bytes are read)"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header).map_err(read_error)?;
    let data_len = tensor_bytes(&header).map_err(|e| corrupt(format!("bad header: {e}")))?;
    if data_len > MAX_TENSOR_BYTES {
        return Err(corrupt(format!(
            "the header promises {data_len} bytes of tensors, more than the {MAX_TENSOR_BYTES} \
             gpu-mlp reads"
        )));
    }
    let total = 8 + header_len + data_len;
    if total != len {
        return Err(corrupt(format!(
            "the header promises {data_len} bytes of tensors, so {total} bytes in all, but the \
             file has {len} bytes"
        )));
    }
    let mut bytes = Vec::with_capacity(total as usize);
    bytes.extend_from_slice(&prefix);
    bytes.extend_from_slice(&header);
    // `take` keeps a file that grows while it is read from growing this buffer.
    file.take(data_len)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 != total {
        return Err(corrupt("the file changed while it was read".to_string()));
    }
    from_bytes(&bytes, path)
}
