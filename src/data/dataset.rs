//! What a loaded data set is: two splits of `u8` pixels and labels, their image shape and the
//! class names.

use super::DataError;
use std::path::PathBuf;

/// Images and labels of one split, as stored in the IDX files.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples {
    /// `count × features` pixels, row-major, 0..=255.
    pub images: Vec<u8>,
    /// `count` class labels.
    pub labels: Vec<u8>,
    /// Number of samples.
    pub count: usize,
    /// Pixels per image (rows × cols).
    pub features: usize,
}

impl Samples {
    /// Samples from memory: `labels.len()` images of `features` pixels each, one after another
    /// in `images` (0 = background, 255 = full ink, as in MNIST).
    ///
    /// ```
    /// let two = gpu_mlp::Samples::new(vec![0, 255, 255, 0], vec![1, 0], 2)?;
    /// assert_eq!((two.count, two.image(1)), (2, &[255, 0][..]));
    /// assert!(gpu_mlp::Samples::new(vec![0; 3], vec![1, 0], 2).is_err());
    /// # Ok::<(), gpu_mlp::error::DataError>(())
    /// ```
    pub fn new(images: Vec<u8>, labels: Vec<u8>, features: usize) -> Result<Self, DataError> {
        if features == 0 {
            return Err(DataError::Invalid {
                problem: "samples need at least 1 pixel per image".to_string(),
            });
        }
        if labels.len().checked_mul(features) != Some(images.len()) {
            return Err(DataError::Invalid {
                problem: format!(
                    "{} pixels do not make {} images of {features} pixels",
                    images.len(),
                    labels.len()
                ),
            });
        }
        Ok(Self {
            count: labels.len(),
            images,
            labels,
            features,
        })
    }

    /// The pixels of sample `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * self.features..(i + 1) * self.features]
    }
}

/// A loaded data set: train and test splits with their shape and class names.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// `mnist`, `fashion-mnist`, or the folder name for `--data DIR`.
    pub name: String,
    /// One name per class, index = label.
    pub class_names: Vec<String>,
    /// Image height in pixels.
    pub rows: usize,
    /// Image width in pixels.
    pub cols: usize,
    /// The training split.
    pub train: Samples,
    /// The test split.
    pub test: Samples,
    /// Where the files were found (empty for a data set built in memory).
    pub dir: PathBuf,
}

impl Dataset {
    /// A data set from memory: `shape` is `(rows, cols)` of every image, and every label must
    /// name one of `class_names` (at least 2). Both splits need at least one sample.
    pub fn new(
        name: impl Into<String>,
        class_names: Vec<String>,
        shape: (usize, usize),
        train: Samples,
        test: Samples,
    ) -> Result<Self, DataError> {
        let name = name.into();
        let invalid = |problem: String| DataError::Invalid {
            problem: format!("data set {name}: {problem}"),
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
            if samples.features != rows * cols {
                return Err(invalid(format!(
                    "the {split} split has {} pixels per image, {rows}x{cols} images have {}",
                    samples.features,
                    rows * cols
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
        Ok(Self {
            name,
            class_names,
            rows,
            cols,
            train,
            test,
            dir: PathBuf::new(),
        })
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.class_names.len()
    }

    /// Pixels per image, the model's input width.
    pub fn features(&self) -> usize {
        self.rows * self.cols
    }
}
