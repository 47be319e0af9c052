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

use crate::data::{Dataset, Scaling, SourceKind};
use crate::engine::OptimizerState;
use crate::error::{Error, Result};
use crate::model::ModelSpec;
use crate::output;
use crate::resume::{self, ResumeState, TensorGroup};
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

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
    pub const INPUT_ROWS: &str = "input_rows";
    pub const INPUT_COLS: &str = "input_cols";
    pub const PIXEL_NORMALISATION: &str = "pixel_normalisation";
    pub const PIXEL_LAYOUT: &str = "pixel_layout";
    pub const INPUT_CHANNELS: &str = "input_channels";
    pub const SOURCE: &str = "source";
    pub const SCALE: &str = "scale";
    pub const RESUME: &str = crate::resume::METADATA_KEY;

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

/// What can be wrong with a checkpoint file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Not a readable safetensors file at all (truncated, random bytes, bad header).
    #[error("{}: not a valid safetensors checkpoint: {problem}", path.display())]
    Corrupt { path: PathBuf, problem: String },
    /// A safetensors file whose tensors or header do not make an MLP gpu-mlp can use.
    #[error("{}: unusable checkpoint: {problem}", path.display())]
    Invalid { path: PathBuf, problem: String },
    /// A good checkpoint that does not fit the data it is used with.
    #[error("{}: {problem}", path.display())]
    Mismatch { path: PathBuf, problem: String },
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
        matches!(self.source, SourceKind::Idx | SourceKind::ImageFolder)
            || (self.source != SourceKind::Csv && self.rows > 1)
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
    pub fn check_fits(&self, path: &Path, data: &Dataset) -> Result<()> {
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

/// The file's bytes: tensors in PyTorch layout plus the header map.
pub fn to_bytes(ckpt: &Checkpoint) -> Result<Vec<u8>, String> {
    ckpt.validate()?;
    // Little-endian f32 bytes, kept alive for the views.
    let mut buffers = layer_tensors(&ckpt.spec, &ckpt.parameters, None);
    let mut header = header(ckpt);
    if let Some(state) = &ckpt.resume {
        if let Some(m) = &state.moments {
            buffers.extend(layer_tensors(&ckpt.spec, &m.moment1, Some(resume::MOMENT1)));
            buffers.extend(layer_tensors(&ckpt.spec, &m.moment2, Some(resume::MOMENT2)));
        }
        if let Some(best) = &state.best_parameters {
            buffers.extend(layer_tensors(&ckpt.spec, best, Some(resume::BEST)));
        }
        if let Some(last) = &state.parameters {
            buffers.extend(layer_tensors(&ckpt.spec, last, Some(resume::TRAINING)));
        }
        header.insert(keys::RESUME.to_string(), state.to_json()?);
    }
    if let Scaling::Standardize { mean, std } = &ckpt.scaling {
        for (name, values) in [(SCALING_MEAN, mean), (SCALING_STD, std)] {
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            buffers.push((name.to_string(), vec![values.len()], bytes));
        }
    }
    let views = buffers
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    let bytes = safetensors::serialize(views, Some(header)).map_err(|e| e.to_string())?;
    canonical(&bytes)
}

/// `values` (in the flat layout of `spec`'s parameters) as named tensors in PyTorch layout:
/// `layers.{i}.weight` `[out, in]` (transposed) and `layers.{i}.bias` `[out]`, the names inside
/// `group`'s when given.
fn layer_tensors(
    spec: &ModelSpec,
    values: &[f32],
    group: Option<TensorGroup>,
) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    let name = |base: String| group.map_or_else(|| base.clone(), |g| g.name(&base));
    let mut buffers = Vec::new();
    for (i, layer) in spec.layers().iter().enumerate() {
        let w = layer.weights(values);
        let mut bytes = Vec::with_capacity(4 * w.len());
        for o in 0..layer.fan_out {
            for k in 0..layer.fan_in {
                bytes.extend_from_slice(&w[k * layer.fan_out + o].to_le_bytes());
            }
        }
        buffers.push((
            name(format!("layers.{i}.weight")),
            vec![layer.fan_out, layer.fan_in],
            bytes,
        ));
        let b: Vec<u8> = layer
            .bias(values)
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        buffers.push((name(format!("layers.{i}.bias")), vec![layer.fan_out], b));
    }
    buffers
}

/// `group`'s tensors for `spec`'s layers in the flat layout (the inverse of [`layer_tensors`]):
/// none when the file has none of them; an error when it has some, or one of the wrong shape.
fn read_group(
    tensors: &SafeTensors,
    spec: &ModelSpec,
    group: TensorGroup,
) -> Result<Option<Vec<f32>>, String> {
    let mut values = Vec::with_capacity(spec.parameter_count());
    let mut found = 0;
    let layers = spec.layers();
    for (i, layer) in layers.iter().enumerate() {
        for (base, shape) in [
            (
                format!("layers.{i}.weight"),
                vec![layer.fan_out, layer.fan_in],
            ),
            (format!("layers.{i}.bias"), vec![layer.fan_out]),
        ] {
            let name = group.name(&base);
            let Ok(t) = tensors.tensor(&name) else {
                continue;
            };
            if t.dtype() != Dtype::F32 || t.shape() != shape.as_slice() {
                return Err(format!(
                    "'{name}' is {:?} {:?}; expected F32 {shape:?} as '{base}'",
                    t.dtype(),
                    t.shape()
                ));
            }
            let v = f32s(t.data());
            if shape.len() == 2 {
                // [out, in] in the file, [in, out] in memory.
                for k in 0..layer.fan_in {
                    values.extend((0..layer.fan_out).map(|o| v[o * layer.fan_in + k]));
                }
            } else {
                values.extend_from_slice(&v);
            }
            found += 1;
        }
    }
    match found {
        0 => Ok(None),
        n if n == 2 * layers.len() => Ok(Some(values)),
        n => Err(format!(
            "it holds {n} of the {} tensors '{}layers.*{}'",
            2 * layers.len(),
            group.prefix,
            group.suffix
        )),
    }
}

/// The same file with its JSON header's keys sorted. `safetensors::serialize` takes the header
/// map as a `HashMap`, whose order changes from run to run; sorted, the same model always gives
/// the same bytes (so files can be compared and hashed). Offsets are relative to the data, which
/// does not move, so only the header length changes.
fn canonical(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let n = u64::from_le_bytes(bytes[..8].try_into().map_err(|_| "short file")?) as usize;
    let header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).map_err(|e| e.to_string())?;
    let sorted: BTreeMap<&String, serde_json::Value> = header
        .iter()
        .map(|(k, v)| {
            let v = match v.as_object() {
                // `__metadata__`: a string map; re-collect it sorted.
                Some(map) => serde_json::to_value(map.iter().collect::<BTreeMap<_, _>>())
                    .map_err(|e| e.to_string())?,
                None => v.clone(),
            };
            Ok((k, v))
        })
        .collect::<Result<_, String>>()?;
    let mut text = serde_json::to_vec(&sorted).map_err(|e| e.to_string())?;
    // The format pads the header with spaces to a multiple of 8 bytes.
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + text.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + n..]);
    Ok(out)
}

/// The version a model needs its reader to know: 1 for grey pixels (as every version reads
/// them), 2 for colour, tables and other scalings.
fn format_version(ckpt: &Checkpoint) -> u32 {
    if ckpt.channels == 1 && ckpt.scaling == Scaling::Pixels && ckpt.is_image() {
        1
    } else {
        FORMAT_VERSION
    }
}

/// The header's string map: the free-form metadata, then the format's own keys over it.
fn header(ckpt: &Checkpoint) -> HashMap<String, String> {
    let mut map: HashMap<String, String> = ckpt
        .metadata
        .iter()
        .filter(|(k, _)| !keys::RESERVED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let spec = &ckpt.spec;
    let hidden: Vec<String> = spec.hidden.iter().map(|h| h.to_string()).collect();
    let widths: Vec<String> = spec.widths().iter().map(|w| w.to_string()).collect();
    let class_names =
        serde_json::to_string(&ckpt.class_names).expect("a list of strings serialises to JSON");
    for (key, value) in [
        (keys::FORMAT, FORMAT.to_string()),
        (keys::FORMAT_VERSION, format_version(ckpt).to_string()),
        (keys::GPU_MLP_VERSION, env!("CARGO_PKG_VERSION").to_string()),
        (keys::ARCHITECTURE, format!("mlp {}", widths.join("-"))),
        (keys::INPUTS, spec.inputs.to_string()),
        (keys::HIDDEN, hidden.join(",")),
        (keys::CLASSES, spec.classes.to_string()),
        (keys::ACTIVATION, "relu".to_string()),
        (
            keys::OUTPUT,
            "logits (softmax gives probabilities)".to_string(),
        ),
        (keys::DROPOUT, spec.dropout.to_string()),
        (keys::DATASET, ckpt.dataset.clone()),
        (keys::CLASS_NAMES, class_names),
        (keys::INPUT_ROWS, ckpt.rows.to_string()),
        (keys::INPUT_COLS, ckpt.cols.to_string()),
        (keys::INPUT_CHANNELS, ckpt.channels.to_string()),
        (keys::SOURCE, ckpt.source.name().to_string()),
        (keys::SCALE, ckpt.scaling.name().to_string()),
    ] {
        map.insert(key.to_string(), value);
    }
    // Pixel models say how a pixel becomes an input, for readers that predate `scale`.
    if ckpt.scaling == Scaling::Pixels {
        let layout = match (ckpt.source, ckpt.channels) {
            (SourceKind::Idx, 1) => {
                "row-major, 0 = background, 255 = ink (white digit on black, as in MNIST)"
            }
            (_, 3) => "row-major, RGB interleaved (r, g, b of each pixel in turn)",
            _ => "row-major, one grey value per pixel",
        };
        map.insert(
            keys::PIXEL_NORMALISATION.to_string(),
            PIXEL_NORMALISATION.to_string(),
        );
        map.insert(keys::PIXEL_LAYOUT.to_string(), layout.to_string());
    }
    map
}

/// Writes `ckpt` to `path` through a temporary file and a rename: a crash or a failed write
/// never leaves a torn file and never destroys an existing one.
pub fn save(path: &Path, ckpt: &Checkpoint) -> Result<()> {
    let bytes = to_bytes(ckpt).map_err(|problem| CheckpointError::Invalid {
        path: path.to_path_buf(),
        problem,
    })?;
    output::write_atomically(path, &bytes)
}

/// Largest safetensors header read (ours are a few KiB: names, class names, settings).
pub const MAX_HEADER_BYTES: u64 = 16 << 20;

/// Largest tensor data read: far beyond any MLP gpu-mlp trains, far below what would exhaust
/// memory by its size alone.
pub const MAX_TENSOR_BYTES: u64 = 8 << 30;

/// Reads a checkpoint, checking everything a file can get wrong. The header is read and checked
/// against the file's length first, so a device, a huge file or a header that promises more
/// than the file holds costs nothing before it is refused.
pub fn load(path: &Path) -> Result<Checkpoint> {
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
            output::describe_kind(kind)
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

/// How many bytes of tensor data a safetensors header describes (the largest end offset).
fn tensor_bytes(header: &[u8]) -> std::result::Result<u64, String> {
    let entries: HashMap<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| e.to_string())?;
    let mut end = 0u64;
    for (name, entry) in &entries {
        if name == "__metadata__" {
            continue;
        }
        let offsets = entry
            .get("data_offsets")
            .and_then(|v| v.as_array())
            .filter(|a| a.len() == 2)
            .and_then(|a| Some((a[0].as_u64()?, a[1].as_u64()?)))
            .ok_or_else(|| format!("tensor '{name}' has no valid data_offsets"))?;
        if offsets.0 > offsets.1 {
            return Err(format!("tensor '{name}' ends before it starts"));
        }
        end = end.max(offsets.1);
    }
    Ok(end)
}

/// Parses a checkpoint from memory; `path` names it in errors. Files without gpu-mlp's header
/// (e.g. a PyTorch `state_dict` saved with safetensors) load too: the architecture comes from
/// the tensor shapes, class names default to `0..n`, and a square input is assumed.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    let corrupt = |problem: String| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        problem,
    };
    let invalid = |problem: String| -> Error {
        CheckpointError::Invalid {
            path: path.to_path_buf(),
            problem,
        }
        .into()
    };
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| corrupt(e.to_string()))?;
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
    let mut header: BTreeMap<String, String> = meta
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();

    if let Some(v) = header.get(keys::FORMAT_VERSION) {
        match v.parse::<u32>() {
            Ok(n) if n <= FORMAT_VERSION => {}
            _ => {
                return Err(invalid(format!(
                    "format version '{v}' is newer than this gpu-mlp reads ({FORMAT_VERSION}); \
                     update gpu-mlp"
                )));
            }
        }
    }
    for (key, wanted) in [
        (keys::PIXEL_NORMALISATION, PIXEL_NORMALISATION),
        (keys::ACTIVATION, "relu"),
    ] {
        if let Some(v) = header.get(key) {
            if v != wanted {
                return Err(invalid(format!(
                    "{key} is '{v}'; gpu-mlp only runs '{wanted}'"
                )));
            }
        }
    }

    // The architecture is what the tensors say; the header, where present, must agree.
    let mut widths: Vec<usize> = Vec::new();
    let mut parameters: Vec<f32> = Vec::new();
    let mut layer_values: Vec<(Vec<f32>, Vec<f32>)> = Vec::new();
    for i in 0.. {
        let weight_name = format!("layers.{i}.weight");
        let bias_name = format!("layers.{i}.bias");
        let weight = match tensors.tensor(&weight_name) {
            Ok(t) => t,
            Err(_) if i > 0 => break,
            Err(_) => {
                return Err(invalid(
                    "it holds no tensor 'layers.0.weight'; gpu-mlp reads MLPs saved as \
                     layers.{i}.weight [out, in] and layers.{i}.bias [out]"
                        .to_string(),
                ));
            }
        };
        let bias = tensors
            .tensor(&bias_name)
            .map_err(|_| invalid(format!("'{weight_name}' has no '{bias_name}'")))?;
        for (name, t) in [(&weight_name, &weight), (&bias_name, &bias)] {
            if t.dtype() != Dtype::F32 {
                return Err(invalid(format!(
                    "'{name}' is {:?}; gpu-mlp reads F32 tensors",
                    t.dtype()
                )));
            }
        }
        let (out, fan_in) = match *weight.shape() {
            [out, fan_in] if out > 0 && fan_in > 0 => (out, fan_in),
            ref s => {
                return Err(invalid(format!(
                    "'{weight_name}' has shape {s:?}; expected [out, in]"
                )));
            }
        };
        if bias.shape() != [out] {
            return Err(invalid(format!(
                "'{bias_name}' has shape {:?}; expected [{out}] to match '{weight_name}' {:?}",
                bias.shape(),
                weight.shape()
            )));
        }
        match widths.last() {
            None => widths.push(fan_in),
            Some(&prev) if prev != fan_in => {
                return Err(invalid(format!(
                    "'{weight_name}' takes {fan_in} inputs but layer {} gives {prev}",
                    i - 1
                )));
            }
            Some(_) => {}
        }
        widths.push(out);
        layer_values.push((f32s(weight.data()), f32s(bias.data())));
    }
    let inputs = widths[0];
    let classes = widths[widths.len() - 1];
    let hidden = widths[1..widths.len() - 1].to_vec();
    let hidden_text = hidden
        .iter()
        .map(|h| h.to_string())
        .collect::<Vec<_>>()
        .join(",");
    for (key, from_tensors) in [
        (keys::INPUTS, inputs.to_string()),
        (keys::CLASSES, classes.to_string()),
        (keys::HIDDEN, hidden_text),
    ] {
        if let Some(v) = header.get(key) {
            if v.replace(' ', "") != from_tensors {
                return Err(invalid(format!(
                    "the header says {key}={v} but the tensors say {from_tensors}"
                )));
            }
        }
    }
    let dropout = match header.get(keys::DROPOUT) {
        Some(v) => v
            .parse::<f32>()
            .map_err(|_| invalid(format!("dropout '{v}' is not a number")))?,
        None => 0.0,
    };
    let spec = ModelSpec::new(inputs, hidden, classes, dropout).map_err(|e| invalid(e.message))?;
    let resume = resume_state(&tensors, &spec, header.get(keys::RESUME)).map_err(invalid)?;

    let class_names = match header.get(keys::CLASS_NAMES) {
        Some(v) => {
            let names: Vec<String> = serde_json::from_str(v)
                .map_err(|e| invalid(format!("class_names is not a JSON list of strings ({e})")))?;
            if names.len() != classes {
                return Err(invalid(format!(
                    "{} class names for {classes} classes",
                    names.len()
                )));
            }
            names
        }
        None => (0..classes).map(|c| c.to_string()).collect(),
    };
    let parse_dim = |key: &str| -> Result<Option<usize>> {
        header
            .get(key)
            .map(|v| {
                v.parse::<usize>()
                    .map_err(|_| invalid(format!("{key} '{v}' is not a size")))
            })
            .transpose()
    };
    // Files from before channels were recorded hold grey images.
    let channels = parse_dim(keys::INPUT_CHANNELS)?.unwrap_or(1);
    if !matches!(channels, 1 | 3) {
        return Err(invalid(format!(
            "input_channels '{channels}' is neither 1 (grey) nor 3 (RGB)"
        )));
    }
    let (rows, cols) = match (parse_dim(keys::INPUT_ROWS)?, parse_dim(keys::INPUT_COLS)?) {
        (Some(r), Some(c)) => (r, c),
        _ => {
            let pixels = inputs / channels;
            let side = (pixels as f64).sqrt().round() as usize;
            if side * side == pixels {
                (side, side)
            } else {
                (1, pixels)
            }
        }
    };
    if rows.checked_mul(cols).and_then(|p| p.checked_mul(channels)) != Some(inputs) {
        return Err(invalid(format!(
            "input shape {rows}x{cols}x{channels} does not give the {inputs} inputs of \
             layers.0.weight"
        )));
    }
    let source = match header.get(keys::SOURCE) {
        Some(v) => SourceKind::from_name(v)
            .ok_or_else(|| invalid(format!("source '{v}' is not a kind gpu-mlp knows")))?,
        None => SourceKind::Idx,
    };
    let scaling = read_scaling(&tensors, header.get(keys::SCALE), inputs).map_err(invalid)?;
    if scaling != Scaling::Pixels && header.contains_key(keys::PIXEL_NORMALISATION) {
        return Err(invalid(format!(
            "the header says both scale={} and pixel_normalisation",
            scaling.name()
        )));
    }

    parameters.reserve(spec.parameter_count());
    for (layer, (weight, bias)) in spec.layers().iter().zip(&layer_values) {
        // [out, in] in the file, [in, out] in memory.
        for k in 0..layer.fan_in {
            for o in 0..layer.fan_out {
                parameters.push(weight[o * layer.fan_in + k]);
            }
        }
        parameters.extend_from_slice(bias);
    }
    let dataset = header
        .get(keys::DATASET)
        .cloned()
        .unwrap_or_else(|| "unknown".to_string());
    header.retain(|k, _| !keys::RESERVED.contains(&k.as_str()));
    let ckpt = Checkpoint {
        spec,
        parameters,
        class_names,
        dataset,
        rows,
        cols,
        channels,
        source,
        scaling,
        metadata: header,
        resume,
    };
    ckpt.validate().map_err(invalid)?;
    Ok(ckpt)
}

/// The scaling a file records: the `scale` key (absent in older files, whose inputs were
/// pixels) and, for `standardize`, the `[inputs]` F32 tensors `scaling.mean` and `scaling.std`,
/// which no other scaling may carry.
fn read_scaling(
    tensors: &SafeTensors,
    scale: Option<&String>,
    inputs: usize,
) -> Result<Scaling, String> {
    let vector = |name: &str| -> Result<Option<Vec<f32>>, String> {
        let Ok(t) = tensors.tensor(name) else {
            return Ok(None);
        };
        if t.dtype() != Dtype::F32 || t.shape() != [inputs] {
            return Err(format!(
                "'{name}' is {:?} {:?}; expected F32 [{inputs}], one value per input",
                t.dtype(),
                t.shape()
            ));
        }
        Ok(Some(f32s(t.data())))
    };
    let (mean, std) = (vector(SCALING_MEAN)?, vector(SCALING_STD)?);
    let scaling = match scale.map(String::as_str) {
        None | Some("pixels") => Scaling::Pixels,
        Some("none") => Scaling::None,
        Some("standardize") => {
            return match (mean, std) {
                (Some(mean), Some(std)) => Ok(Scaling::Standardize { mean, std }),
                _ => Err(format!(
                    "scale is 'standardize' but the tensors '{SCALING_MEAN}' and \
                     '{SCALING_STD}' are not both there"
                )),
            };
        }
        Some(other) => {
            return Err(format!(
                "scale '{other}' is not one gpu-mlp knows (pixels, standardize, none)"
            ));
        }
    };
    if mean.is_some() || std.is_some() {
        return Err(format!(
            "the file holds standardisation tensors but its scale is '{}'",
            scaling.name()
        ));
    }
    Ok(scaling)
}

/// The training state of a file: its `resume` header text with the extra tensors it goes with.
/// Any tensor besides `spec`'s layers, the scaling's and the known training-state groups is
/// refused, as are
/// training-state tensors without the header text.
fn resume_state(
    tensors: &SafeTensors,
    spec: &ModelSpec,
    text: Option<&String>,
) -> std::result::Result<Option<ResumeState>, String> {
    let groups = [
        resume::MOMENT1,
        resume::MOMENT2,
        resume::BEST,
        resume::TRAINING,
    ];
    let [moment1, moment2, best, last] = groups.map(|g| read_group(tensors, spec, g));
    let (moment1, moment2, best, last) = (moment1?, moment2?, best?, last?);
    let layers = spec.layers().len();
    let present = [
        moment1.is_some(),
        moment2.is_some(),
        best.is_some(),
        last.is_some(),
    ];
    // A standardised model's scaling tensors are read (and checked) by `read_scaling`.
    let scaling = [SCALING_MEAN, SCALING_STD];
    let scaling_present = scaling.iter().filter(|n| tensors.tensor(n).is_ok()).count();
    let expected = 2 * layers * (1 + present.iter().filter(|p| **p).count()) + scaling_present;
    if tensors.len() != expected {
        let known: Vec<String> = (0..layers)
            .flat_map(|i| [format!("layers.{i}.weight"), format!("layers.{i}.bias")])
            .flat_map(|base| {
                let grouped = groups.map(|g| g.name(&base));
                std::iter::once(base).chain(grouped)
            })
            .chain(scaling.map(String::from))
            .collect();
        let mut extra: Vec<&str> = tensors
            .names()
            .into_iter()
            .filter(|n| !known.iter().any(|k| k == *n))
            .collect();
        extra.sort_unstable();
        return Err(format!(
            "unexpected tensors {extra:?} besides layers.0..{layers}, the scaling's \
             scaling.mean/std and the training state's optimizer.layers.*, \
             early_stopping.best.layers.* and training.layers.*"
        ));
    }
    let moments = match (moment1, moment2) {
        (Some(moment1), Some(moment2)) => Some(OptimizerState { moment1, moment2 }),
        (None, None) => None,
        _ => return Err("it holds one of Adam's two moments without the other".to_string()),
    };
    match text {
        Some(text) => ResumeState::from_json(text, moments, best, last).map(Some),
        None if present.contains(&true) => Err(format!(
            "it holds training-state tensors but no '{}' header key",
            keys::RESUME
        )),
        None => Ok(None),
    }
}

/// Little-endian f32 values of a tensor's bytes (which need not be aligned).
fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Checkpoint {
        let spec = ModelSpec::new(6, vec![4, 3], 2, 0.25).unwrap();
        let parameters = (0..spec.parameter_count())
            .map(|i| i as f32 * 0.5 - 7.0)
            .collect();
        Checkpoint {
            spec,
            parameters,
            class_names: vec!["cat".into(), "dog \"quoted\"".into()],
            dataset: "pets".into(),
            rows: 2,
            cols: 3,
            channels: 1,
            source: SourceKind::Idx,
            scaling: Scaling::Pixels,
            metadata: BTreeMap::from([("epochs".to_string(), "3".to_string())]),
            resume: None,
        }
    }

    #[test]
    fn bytes_round_trip_exactly() {
        let ckpt = small();
        let bytes = to_bytes(&ckpt).unwrap();
        let back = from_bytes(&bytes, Path::new("x")).unwrap();
        let mut expected = ckpt.clone();
        expected.metadata.insert(
            keys::GPU_MLP_VERSION.into(),
            env!("CARGO_PKG_VERSION").into(),
        );
        assert_eq!(back, expected);
    }

    #[test]
    fn the_same_model_always_gives_the_same_bytes() {
        let first = to_bytes(&small()).unwrap();
        for _ in 0..5 {
            assert_eq!(to_bytes(&small()).unwrap(), first);
        }
        let text = String::from_utf8_lossy(&first[8..200]).into_owned();
        assert!(
            text.starts_with("{\"__metadata__\":{\"activation\""),
            "{text}"
        );
    }

    /// `small()` with a training state: moments, best parameters and two epochs of history.
    fn resumable() -> Checkpoint {
        let mut ckpt = small();
        let n = ckpt.parameters.len();
        let values = |scale: f32| (0..n).map(|i| i as f32 * scale).collect::<Vec<f32>>();
        let record = |epoch| crate::train::EpochRecord {
            epoch,
            loss: 0.1 + 1.0 / 3.0,
            accuracy: 2.0 / 3.0,
            validation: Some((0.7, 0.25)),
            seconds: 1.5,
            samples_per_second: 1e5 / 3.0,
            learning_rate: Some(1e-3 / 7.0),
            best: epoch == 1,
        };
        ckpt.resume = Some(ResumeState {
            settings: serde_json::from_str(r#"{"lr": 0.001, "hidden": [4, 3]}"#).unwrap(),
            history: vec![record(1), record(2)],
            loss_ceiling: Some(230.1),
            watch: Some(resume::WatchState {
                best_epoch: Some(1),
                best: Some(0.7),
                wait: 1,
            }),
            best_parameters: Some(values(-0.25)),
            moments: Some(OptimizerState {
                moment1: values(1e-3),
                moment2: values(1e-7),
            }),
            parameters: Some(values(0.125)),
        });
        ckpt
    }

    #[test]
    fn the_training_state_round_trips_exactly() {
        let ckpt = resumable();
        let bytes = to_bytes(&ckpt).unwrap();
        assert_eq!(to_bytes(&ckpt).unwrap(), bytes, "the same bytes every time");
        let back = from_bytes(&bytes, Path::new("x")).unwrap();
        assert_eq!(back.resume, ckpt.resume);
        assert_eq!(back.parameters, ckpt.parameters);
        assert!(!back.metadata.contains_key(keys::RESUME));
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let text = String::from_utf8_lossy(&bytes[8..8 + header_len]).into_owned();
        for name in [
            "optimizer.layers.0.weight.m",
            "optimizer.layers.2.bias.v",
            "early_stopping.best.layers.1.weight",
            "training.layers.0.bias",
        ] {
            assert!(text.contains(&format!("\"{name}\"")), "{name} in {text}");
        }
    }

    #[test]
    fn a_standardised_training_checkpoint_keeps_its_scaling_and_its_state() {
        let mut ckpt = resumable();
        ckpt.source = SourceKind::Csv;
        ckpt.scaling = Scaling::Standardize {
            mean: (0..6).map(|i| i as f32 * 0.25).collect(),
            std: vec![1.5, 0.0, 2.0, 1.0, 0.5, 3.0],
        };
        let back = from_bytes(&to_bytes(&ckpt).unwrap(), Path::new("x")).unwrap();
        assert_eq!(back.scaling, ckpt.scaling);
        assert_eq!(back.resume, ckpt.resume);
    }

    /// `ckpt`'s bytes with the tensors `keep` accepts, plus `extra` ones (name, shape).
    fn rewritten(
        ckpt: &Checkpoint,
        keep: impl Fn(&str) -> bool,
        extra: &[(&str, &[usize])],
    ) -> Vec<u8> {
        let bytes = to_bytes(ckpt).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        let zeros: Vec<Vec<u8>> = extra
            .iter()
            .map(|(_, shape)| vec![0u8; 4 * shape.iter().product::<usize>()])
            .collect();
        let mut views: Vec<(String, TensorView)> = file
            .tensors()
            .into_iter()
            .filter(|(name, _)| keep(name))
            .collect();
        for ((name, shape), data) in extra.iter().zip(&zeros) {
            views.push((
                name.to_string(),
                TensorView::new(Dtype::F32, shape.to_vec(), data).unwrap(),
            ));
        }
        safetensors::serialize(views, meta.metadata().clone()).unwrap()
    }

    #[test]
    fn only_whole_known_training_state_groups_load() {
        let refused = |bytes: Vec<u8>| from_bytes(&bytes, Path::new("x")).unwrap_err().to_string();
        let ckpt = resumable();
        let err = refused(rewritten(&ckpt, |_| true, &[("optimizer.extra", &[2])]));
        assert!(
            err.contains("unexpected tensors [\"optimizer.extra\"]"),
            "{err}"
        );
        let err = refused(rewritten(&ckpt, |n| n != "optimizer.layers.1.bias.v", &[]));
        assert!(
            err.contains("5 of the 6 tensors 'optimizer.layers.*.v'"),
            "{err}"
        );
        let err = refused(rewritten(&ckpt, |n| !n.ends_with(".v"), &[]));
        assert!(err.contains("one of Adam's two moments"), "{err}");
        let err = refused(rewritten(
            &ckpt,
            |n| n != "optimizer.layers.0.weight.m",
            &[("optimizer.layers.0.weight.m", &[6, 4])],
        ));
        assert!(err.contains("expected F32 [4, 6]"), "{err}");
        // Training-state tensors need the header's state.
        let bytes = to_bytes(&ckpt).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        let mut header = meta.metadata().clone().unwrap();
        header.remove(keys::RESUME);
        let stateless = safetensors::serialize(file.tensors(), Some(header)).unwrap();
        let err = refused(stateless);
        assert!(
            err.contains("training-state tensors but no 'resume'"),
            "{err}"
        );
        let moments_only = rewritten(&ckpt, |n| !n.starts_with("early_stopping."), &[]);
        let back = from_bytes(&moments_only, Path::new("x")).unwrap();
        assert!(back.resume.unwrap().best_parameters.is_none());
    }

    #[test]
    fn inconsistent_checkpoints_are_not_written() {
        let mut ckpt = small();
        ckpt.parameters.pop();
        assert!(to_bytes(&ckpt).unwrap_err().contains("parameters"));
        let mut ckpt = small();
        ckpt.class_names.push("cow".into());
        assert!(to_bytes(&ckpt).unwrap_err().contains("class names"));
        let mut ckpt = small();
        ckpt.parameters[3] = f32::NAN;
        assert!(to_bytes(&ckpt).unwrap_err().contains("NaN"));
    }
}
