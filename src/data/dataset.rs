//! What a loaded data set is: two splits of `u8` pixels and labels, their image shape and the
//! class names.

use std::path::PathBuf;

/// Images and labels of one split, as stored in the IDX files.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples {
    /// `count × features` pixels, row-major, 0..=255.
    pub images: Vec<u8>,
    /// `count` class labels.
    pub labels: Vec<u8>,
    pub count: usize,
    /// Pixels per image (rows × cols).
    pub features: usize,
}

impl Samples {
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
    pub class_names: Vec<String>,
    pub rows: usize,
    pub cols: usize,
    pub train: Samples,
    pub test: Samples,
    /// Where the files were found.
    pub dir: PathBuf,
}

impl Dataset {
    pub fn classes(&self) -> usize {
        self.class_names.len()
    }
    pub fn features(&self) -> usize {
        self.rows * self.cols
    }
}
