//! Data sets: IDX folders, image folders, CSV/TSV files and NumPy `.npz` archives in; `u8`
//! pixels or `f32` values, and labels, out.
//!
//! A data set is a folder with the four canonical IDX files (each raw or gzip; when both
//! `NAME.gz` and `NAME` exist the `.gz` is used, since that is what [`fetch`] writes and
//! verifies):
//! `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte`.
//!
//! Known data sets ([`KnownDataset`]) are looked for in [`search_dirs`] order and, when found
//! nowhere, downloaded into the per-user cache (like Keras' `load_data`) unless offline. Any other
//! folder is loaded with [`load_dir`]; its class names are "0".."N-1". `--data PATH` may also
//! name an image folder, a CSV/TSV file or a `.npz` archive ([`DataSource::Path`], told apart
//! by content); [`LoadOptions`] says how its test part is made and its inputs scaled.
//!
//! The files by idea: `dataset` (what a loaded data set is), `digest` (what `--resume` checks
//! the data against), `error`, `known` (the catalogue),
//! `search` (where one is looked for, and loading by source), `folder` (a folder's four files),
//! `source` (a path's kind, and assembling its parts: classes, test split, scaling), `table`
//! (CSV), `npz`, `images` (image folders), `raw` (what those readers hand over), `names`
//! (matching a file's class and column names to a saved model's), `split`
//! (`--test-split`), `options` ([`LoadOptions`]),
//! [`idx`] (the file format), [`fetch`] (downloads); this root writes data sets ([`write_dir`],
//! through the crate's one atomic writer, `output::AtomicFile`).

mod dataset;
mod digest;
mod download;
pub(crate) mod error;
pub mod fetch;
mod folder;
#[cfg(feature = "formats")]
mod header_row;
pub mod idx;
mod images;
mod known;
mod names;
#[cfg(feature = "formats")]
mod npz;
mod options;
mod raw;
mod scaling;
mod search;
pub mod shown;
mod source;
mod split;
pub mod subset;
#[cfg(feature = "formats")]
mod table;
#[cfg(feature = "formats")]
mod text_bounds;
#[cfg(feature = "formats")]
pub use table::{csv_reader, label_index};

pub(crate) use dataset::control_in_names;
pub use dataset::{Dataset, Inputs, Label, Samples, SourceKind, MAX_CLASSES};
pub use digest::DataDigest;
pub use error::DataError;
pub use folder::{
    find_files, load_dir, DataFiles, FILE_STEMS, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES,
    TRAIN_LABELS,
};
pub use known::KnownDataset;
pub use names::{column_order, ModelNames};
pub use options::{
    parse_image_size, ColorMode, LabelColumn, LoadOptions, ScaleRequest, DEFAULT_TEST_SPLIT,
};
pub use scaling::Scaling;
pub use search::{
    cache_dir, load, load_explained, load_known, search_dirs, DataSource, Search, DATA_ENV,
};
pub use source::TestOrigin;

use std::fs;
use std::path::Path;

/// Writes a data set's four files into `dir` (created if needed) under the canonical names,
/// `.gz` when compressed; e.g. to export a subset for another tool.
pub fn write_dir(
    dir: impl AsRef<Path>,
    data: &Dataset,
    compression: idx::Compression,
) -> Result<(), DataError> {
    let dir = dir.as_ref();
    fs::create_dir_all(dir).map_err(|source| DataError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let ext = match compression {
        idx::Compression::None => "",
        idx::Compression::Gzip => ".gz",
    };
    let path = |stem: &str| dir.join(format!("{stem}{ext}"));
    for (samples, images, labels) in [
        (&data.train, TRAIN_IMAGES, TRAIN_LABELS),
        (&data.test, TEST_IMAGES, TEST_LABELS),
    ] {
        // IDX holds 8-bit grey images with 8-bit labels; anything else would be cut short.
        let unfit = |problem: &str| DataError::Invalid {
            problem: format!("{} cannot be written as IDX files: {problem}", data.name).into(),
        };
        let pixels = samples
            .inputs
            .pixels()
            .filter(|_| data.channels == 1)
            .ok_or_else(|| unfit("its inputs are not 8-bit grey pixels"))?;
        let labels_u8 = samples
            .labels
            .iter()
            .map(|&l| u8::try_from(l))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| unfit("it has labels above 255"))?;
        idx::write_images(path(images), pixels, data.rows, data.cols, compression)?;
        idx::write_labels(path(labels), &labels_u8, compression)?;
    }
    Ok(())
}
