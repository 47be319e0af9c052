//! What a loaded data set is: two splits of inputs (8-bit pixels or f32 values) and labels, their
//! shape, the scaling that made them, and the class names.

use super::{DataError, Scaling};
use crate::engine::cpu::ops::INV_255;
use std::path::{Path, PathBuf};

/// A class label: classes are counted up to [`MAX_CLASSES`].
pub type Label = u16;

/// The most classes a data set may have (labels `0..MAX_CLASSES`).
pub const MAX_CLASSES: usize = Label::MAX as usize;

/// The inputs of one split, `count × features`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub enum Inputs {
    /// Packed `u8` pixels (0 = background, 255 = full ink): both engines turn each into
    /// `p · (1/255)` on the way into the network, bit for bit alike, so 8-bit data stays a
    /// quarter of the size on the device.
    Pixels(Vec<u8>),
    /// `f32` values the network reads as they are (already scaled; see `data::Scaling`).
    Values(Vec<f32>),
}

/// No inputs (an empty split holds no pixels).
impl Default for Inputs {
    fn default() -> Self {
        Inputs::Pixels(Vec::new())
    }
}

impl Inputs {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Inputs::Pixels(p) => p.len(),
            Inputs::Values(v) => v.len(),
        }
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held in memory.
    pub fn bytes(&self) -> usize {
        match self {
            Inputs::Pixels(p) => p.len(),
            Inputs::Values(v) => v.len() * 4,
        }
    }

    /// The pixels, when the inputs are 8-bit.
    pub fn pixels(&self) -> Option<&[u8]> {
        match self {
            Inputs::Pixels(p) => Some(p),
            Inputs::Values(_) => None,
        }
    }
}

/// Inputs and labels of one split.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples {
    /// `count × features` inputs, row-major.
    pub(crate) inputs: Inputs,
    /// `count` class labels.
    pub(crate) labels: Vec<Label>,
    /// Number of samples.
    pub(crate) count: usize,
    /// Inputs per sample (pixels × channels of an image, or a table's feature columns).
    pub(crate) features: usize,
}

impl Samples {
    /// Samples from memory: `labels.len()` rows of `features` inputs each, one after another.
    ///
    /// ```
    /// use gpu_mlp::data::Inputs;
    /// let two = gpu_mlp::Samples::new(Inputs::Pixels(vec![0, 255, 255, 0]), vec![1, 0], 2)?;
    /// assert_eq!((two.count(), two.input(1)), (2, vec![1.0, 0.0]));
    /// assert!(gpu_mlp::Samples::new(Inputs::Pixels(vec![0; 3]), vec![1, 0], 2).is_err());
    /// # Ok::<(), gpu_mlp::error::DataError>(())
    /// ```
    pub fn new(inputs: Inputs, labels: Vec<Label>, features: usize) -> Result<Self, DataError> {
        if features == 0 {
            return Err(DataError::Invalid {
                problem: "samples need at least 1 input each".into(),
            });
        }
        if labels.len().checked_mul(features) != Some(inputs.len()) {
            return Err(DataError::Invalid {
                problem: format!(
                    "{} inputs do not make {} samples of {features}",
                    inputs.len(),
                    labels.len()
                )
                .into(),
            });
        }
        Ok(Self {
            count: labels.len(),
            inputs,
            labels,
            features,
        })
    }

    /// 8-bit pixel samples (see [`Samples::new`]).
    pub fn pixels(pixels: Vec<u8>, labels: Vec<Label>, features: usize) -> Result<Self, DataError> {
        Self::new(Inputs::Pixels(pixels), labels, features)
    }

    /// The input of sample `i` as the network reads it (pixels times 1/255).
    pub fn input(&self, i: usize) -> Vec<f32> {
        let range = i * self.features..(i + 1) * self.features;
        match &self.inputs {
            Inputs::Pixels(p) => p[range].iter().map(|&x| f32::from(x) * INV_255).collect(),
            Inputs::Values(v) => v[range].to_vec(),
        }
    }

    /// The inputs, `count × features`, row-major.
    pub fn inputs(&self) -> &Inputs {
        &self.inputs
    }

    /// The class label of each sample.
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    /// Number of samples.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Inputs per sample (pixels × channels of an image, or a table's feature columns).
    pub fn features(&self) -> usize {
        self.features
    }

    /// The inputs and labels, taken apart (to change them and build new samples).
    pub fn into_parts(self) -> (Inputs, Vec<Label>) {
        (self.inputs, self.labels)
    }

    /// The samples at `indices`, in that order (a subset, a split, a shuffle).
    pub fn select(&self, indices: &[usize]) -> Samples {
        let f = self.features;
        fn rows<T: Copy>(all: &[T], f: usize, indices: &[usize]) -> Vec<T> {
            indices
                .iter()
                .flat_map(|&i| &all[i * f..(i + 1) * f])
                .copied()
                .collect()
        }
        let inputs = match &self.inputs {
            Inputs::Pixels(p) => Inputs::Pixels(rows(p, f, indices)),
            Inputs::Values(v) => Inputs::Values(rows(v, f, indices)),
        };
        Samples {
            inputs,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            count: indices.len(),
            features: f,
        }
    }

    /// The first `n` samples.
    pub fn first(&self, n: usize) -> Samples {
        self.select(&(0..n.min(self.count)).collect::<Vec<_>>())
    }
}

/// Where a data set's samples came from; models record it, and it decides what `predict`
/// accepts (images for image sources, table rows for tables).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SourceKind {
    /// The four IDX files (MNIST's format).
    #[default]
    Idx,
    /// A folder of image files, one subfolder per class.
    ImageFolder,
    /// A CSV or TSV file: one row per sample.
    Csv,
    /// A NumPy `.npz` archive.
    Npz,
    /// Built in memory by a program.
    Memory,
}

impl SourceKind {
    /// The name models record (`idx`, `image-folder`, `csv`, `npz`, `memory`).
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Idx => "idx",
            SourceKind::ImageFolder => "image-folder",
            SourceKind::Csv => "csv",
            SourceKind::Npz => "npz",
            SourceKind::Memory => "memory",
        }
    }

    /// The kind named `name` (as [`SourceKind::name`] writes it).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            SourceKind::Idx,
            SourceKind::ImageFolder,
            SourceKind::Csv,
            SourceKind::Npz,
            SourceKind::Memory,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// A loaded data set: train and test splits with their shape and class names.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// `mnist`, `fashion-mnist`, or the folder or file name for `--data PATH`.
    pub(crate) name: String,
    /// One name per class, index = label.
    pub(crate) class_names: Vec<String>,
    /// Image height in pixels (1 for a table).
    pub(crate) rows: usize,
    /// Image width in pixels (a table's feature count).
    pub(crate) cols: usize,
    /// Values per pixel: 1 grey, 3 RGB (interleaved, row-major); 1 for a table.
    pub(crate) channels: usize,
    /// What kind of source the samples came from.
    pub(crate) source: SourceKind,
    /// How the source's raw values became `train`'s and `test`'s inputs; models keep it so new
    /// data is scaled the same way.
    pub(crate) scaling: Scaling,
    /// The training split.
    pub(crate) train: Samples,
    /// The test split.
    pub(crate) test: Samples,
    /// Where the files were found (empty for a data set built in memory).
    pub(crate) dir: PathBuf,
    /// The names of a table's feature columns, in input order (a CSV header); empty when unnamed.
    pub(crate) feature_names: Vec<String>,
}

impl Dataset {
    /// A data set from memory: `shape` is `(rows, cols)` of every image (`(1, features)` for a
    /// table), each sample holding one input per pixel (grey) or three (RGB, interleaved), and
    /// every label must name one of `class_names` (at least 2). Both splits need at least one
    /// sample. Its source is [`SourceKind::Memory`]; pixels are scaled by 1/255, values not.
    pub fn new(
        name: impl Into<String>,
        class_names: Vec<String>,
        shape: (usize, usize),
        train: Samples,
        test: Samples,
    ) -> Result<Self, DataError> {
        let name = name.into();
        let invalid = |problem: String| DataError::Invalid {
            problem: format!("data set {name}: {problem}").into(),
        };
        let (rows, cols) = shape;
        if class_names.len() < 2 {
            return Err(invalid(format!(
                "a classifier needs at least 2 classes, {} named",
                class_names.len()
            )));
        }
        for (split, samples) in [("train", &train), ("test", &test)] {
            if samples.count == 0 {
                return Err(invalid(format!("the {split} split holds no samples")));
            }
            if rows * cols == 0 || samples.features != train.features {
                return Err(invalid(format!(
                    "the {split} split has {} inputs per sample, {rows}x{cols} images cannot \
                     have them",
                    samples.features
                )));
            }
            if let Some(label) = samples
                .labels
                .iter()
                .find(|&&l| usize::from(l) >= class_names.len())
            {
                return Err(invalid(format!(
                    "the {split} split has label {label}, but only {} classes are named",
                    class_names.len()
                )));
            }
        }
        if let Some(problem) = control_in_names(&class_names) {
            return Err(invalid(problem));
        }
        if class_names.len() > MAX_CLASSES {
            return Err(invalid(format!(
                "{} classes named, at most {MAX_CLASSES} are supported",
                class_names.len()
            )));
        }
        if matches!(train.inputs, Inputs::Pixels(_)) != matches!(test.inputs, Inputs::Pixels(_)) {
            return Err(invalid(
                "one split holds pixels, the other values".to_string(),
            ));
        }
        // Grey images have one value per pixel, colour ones one per channel.
        let channels = train.features / (rows * cols);
        if channels * rows * cols != train.features || !matches!(channels, 1 | 3) {
            return Err(invalid(format!(
                "{} inputs per sample are not {rows}x{cols} grey or RGB pixels",
                train.features
            )));
        }
        let scaling = match train.inputs {
            Inputs::Pixels(_) => Scaling::Pixels,
            Inputs::Values(_) => Scaling::None,
        };
        Ok(Self {
            name,
            class_names,
            rows,
            cols,
            channels,
            source: SourceKind::Memory,
            scaling,
            train,
            test,
            dir: PathBuf::new(),
            feature_names: Vec::new(),
        })
    }

    /// `mnist`, `fashion-mnist`, or the folder or file name it was loaded from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names of a table's feature columns in input order (its CSV header); empty when the
    /// columns are unnamed.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// One name per class, index = label.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Image height in pixels (1 for a table).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Image width in pixels (a table's feature count).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Values per pixel: 1 grey, 3 RGB (interleaved, row-major); 1 for a table.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// What kind of source the samples came from.
    pub fn source(&self) -> SourceKind {
        self.source
    }

    /// How the source's raw values became the inputs; models keep it so new data is scaled the
    /// same way.
    pub fn scaling(&self) -> &Scaling {
        &self.scaling
    }

    /// The training split.
    pub fn train(&self) -> &Samples {
        &self.train
    }

    /// The test split.
    pub fn test(&self) -> &Samples {
        &self.test
    }

    /// Where the files were found (empty for a data set built in memory).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The same data set training on `train` instead (e.g. a subset of its training split); it
    /// must have the same inputs per sample and labels among the classes.
    pub fn with_train(mut self, train: Samples) -> Result<Self, DataError> {
        self.check_split("train", &train)?;
        self.train = train;
        Ok(self)
    }

    /// The same data set tested on `test` instead (see [`with_train`](Self::with_train)).
    pub fn with_test(mut self, test: Samples) -> Result<Self, DataError> {
        self.check_split("test", &test)?;
        self.test = test;
        Ok(self)
    }

    /// The same data set, said to come from `source` with its inputs made by `scaling` (e.g.
    /// arrays a program standardised itself).
    pub fn with_origin(mut self, source: SourceKind, scaling: Scaling) -> Self {
        self.source = source;
        self.scaling = scaling;
        self
    }

    /// The training and test splits, taken out of the data set (no copy).
    pub fn into_splits(self) -> (Samples, Samples) {
        (self.train, self.test)
    }

    fn check_split(&self, split: &str, samples: &Samples) -> Result<(), DataError> {
        let problem = if samples.features != self.features() {
            format!(
                "{} inputs per sample, the data set has {}",
                samples.features,
                self.features()
            )
        } else if let Some(l) = samples
            .labels
            .iter()
            .find(|&&l| l as usize >= self.classes())
        {
            format!("label {l}, but only {} classes are named", self.classes())
        } else if matches!(samples.inputs, Inputs::Pixels(_))
            != matches!(self.train.inputs, Inputs::Pixels(_))
        {
            "pixels and values mixed".to_string()
        } else {
            return Ok(());
        };
        Err(DataError::Invalid {
            problem: format!("data set {}: a new {split} split with {problem}", self.name).into(),
        })
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.class_names.len()
    }

    /// Inputs per sample, the model's input width.
    pub fn features(&self) -> usize {
        self.rows * self.cols * self.channels
    }

    /// True when the samples are images (`show` draws them, `predict` takes image files).
    pub fn is_image(&self) -> bool {
        matches!(self.source, SourceKind::Idx | SourceKind::ImageFolder) || self.rows > 1
    }
}

/// The first class name holding a control character (a newline, tab, escape), in words:
/// `predict` and `eval` print one class per line and field, so such a name could forge lines
/// or colour a terminal; it is refused where it enters (a data set, a checkpoint).
pub(crate) fn control_in_names(class_names: &[String]) -> Option<String> {
    let (i, name) = class_names
        .iter()
        .enumerate()
        .find(|(_, n)| n.chars().any(char::is_control))?;
    Some(format!(
        "class {i} is named '{}', which holds a control character (a newline, tab or escape); \
         rename it",
        crate::data::shown::shown(name.as_bytes())
    ))
}
