//! The errors of reading, finding and fetching data, and the hints they give.

use super::idx;
use super::{KnownDataset, Label};
use crate::setting::{vocabulary, Phrase, Setting};
use std::io;
use std::path::PathBuf;

/// Errors of reading, finding and fetching data. Each names the file (or data set) and the
/// problem on one line, and where it helps, what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A part of the library this build leaves out (a Cargo feature that is off).
    #[error("{what} are not built into this gpu-mlp (its Cargo feature `{feature}` is off)")]
    NotBuiltIn {
        what: &'static str,
        feature: &'static str,
    },

    /// A problem with a file that no more specific variant describes.
    #[error("{}: {problem}", path.display())]
    BadFile { path: PathBuf, problem: Phrase },

    /// The file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },

    /// A file or temporary file could not be written, synced or renamed.
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },

    /// The gzip stream is corrupt or cut off.
    #[error("{}: corrupt or truncated gzip data: {source}", path.display())]
    Gzip { path: PathBuf, source: io::Error },

    /// Fewer bytes than an IDX header.
    #[error("{}: truncated: an IDX header needs {needed} bytes, file has {found}", path.display())]
    TruncatedHeader {
        path: PathBuf,
        needed: u64,
        found: u64,
    },

    /// The payload is shorter than the header promises.
    #[error(
        "{}: truncated: header promises {expected} bytes of {what}, file has {found}",
        path.display()
    )]
    Truncated {
        path: PathBuf,
        /// `pixels` or `labels`.
        what: &'static str,
        expected: u64,
        found: u64,
    },

    /// Bytes follow the payload the header describes.
    #[error(
        "{}: {}{extra} unexpected bytes after the {expected} the header promises \
         (wrong header or two files joined?)",
        path.display(), if *at_least { "at least " } else { "" }
    )]
    TrailingBytes {
        path: PathBuf,
        expected: u64,
        extra: u64,
        /// Counting stopped at a limit: there are `extra` or more.
        at_least: bool,
    },

    /// Not the IDX file kind expected (or not IDX at all).
    #[error("{}: {}", path.display(), describe_magic(*found, *expected))]
    BadMagic {
        path: PathBuf,
        found: u32,
        expected: u32,
    },

    /// Dimensions that no real data set has (zero-sized or enormous images), or that cannot be
    /// written.
    #[error("{}: bad dimensions: {problem}", path.display())]
    BadDims { path: PathBuf, problem: String },

    /// The images and labels files of one split hold different numbers of samples.
    #[error(
        "{} holds {image_count} images but {} holds {label_count} labels; they must match",
        images.display(), labels.display()
    )]
    CountMismatch {
        images: PathBuf,
        image_count: usize,
        labels: PathBuf,
        label_count: usize,
    },

    /// Train and test images have different sizes.
    #[error(
        "{} has {}x{} images but {} has {}x{}; train and test images must have the same size",
        train.display(), train_dims.0, train_dims.1, test.display(), test_dims.0, test_dims.1
    )]
    DimsMismatch {
        train: PathBuf,
        train_dims: (usize, usize),
        test: PathBuf,
        test_dims: (usize, usize),
    },

    /// A label that names no class of the data set.
    #[error(
        "{}: sample {index} has label {label}, but {dataset} has only {classes} classes (0..={})",
        path.display(), classes.saturating_sub(1)
    )]
    LabelOutOfRange {
        path: PathBuf,
        dataset: String,
        index: usize,
        label: Label,
        classes: usize,
    },

    /// A test label that no training sample has: the model could never predict it, so the
    /// file is corrupt or belongs to another data set.
    #[error(
        "{}: sample {index} has label {label}, which no training sample has (the training \
         labels are {training}); is this the right test-labels file?",
        path.display()
    )]
    UnseenTestLabel {
        path: PathBuf,
        index: usize,
        label: Label,
        /// The training labels, e.g. `0..=9` or `0, 1, 4`.
        training: String,
    },

    /// A split holds no samples.
    #[error("{}: holds no samples", path.display())]
    Empty { path: PathBuf },

    /// A setting the data rules out (a test split that holds out nothing from these classes):
    /// the setting is what to change, so a command reports it as bad settings.
    #[error(transparent)]
    Setting(#[from] crate::setting::ConfigError),

    /// Samples or a data set built in memory whose parts do not fit together.
    #[error("{problem}")]
    Invalid {
        /// What does not fit, naming the data set or split.
        problem: Phrase,
    },

    /// A `--data DIR` folder lacks some of the four files.
    #[error(
        "{}: missing {}; a data folder needs train-images-idx3-ubyte, train-labels-idx1-ubyte, \
         t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each raw or .gz)",
        dir.display(), missing.join(", ")
    )]
    MissingFiles { dir: PathBuf, missing: Vec<String> },

    /// A data set name that is not one of the known ones.
    #[error(
        "unknown data set '{name}'; known data sets: {}; or pass {} DIR",
        KnownDataset::names().join(", "),
        vocabulary().name(Setting::Data)
    )]
    UnknownDataset { name: String },

    /// A known data set found in none of the places looked at (and not downloaded).
    #[error(
        "{dataset} not found; looked in: {}; {}{}",
        list_paths(searched), how_to_get(*dataset),
        fetch_error.as_ref().map(|e| format!("; the download failed: {e}")).unwrap_or_default()
    )]
    NotFound {
        dataset: KnownDataset,
        searched: Vec<PathBuf>,
        /// Why the automatic download failed, when one was tried.
        fetch_error: Option<Box<DataError>>,
    },

    /// No mirror could be reached at all (no network, DNS failure, refused connections).
    #[error(
        "could not reach any mirror for {dataset} (tried: {}): {reason}; check your network, \
         or download the files yourself and pass {} DIR",
        tried.join(", "),
        vocabulary().name(Setting::Data)
    )]
    Unreachable {
        dataset: String,
        tried: Vec<String>,
        reason: String,
    },

    /// Mirrors answered but none delivered the file (HTTP errors, oversized bodies, ...).
    #[error("could not download {file} for {dataset}: {}", attempts.join("; "))]
    Download {
        dataset: String,
        file: String,
        /// One `URL: what went wrong` per mirror tried.
        attempts: Vec<String>,
    },

    /// A downloaded file is not the expected one; it was discarded.
    #[error(
        "{}: downloaded from {url} but its SHA-256 is {found}, expected {}; the file was \
         discarded (a corrupt mirror or download; try again or another mirror via GPU_MLP_MIRRORS)",
        path.display(), expected.join(" or ")
    )]
    Checksum {
        path: PathBuf,
        url: String,
        found: String,
        expected: Vec<String>,
    },
}

fn describe_magic(found: u32, expected: u32) -> String {
    let kind = |m: u32| match m {
        idx::LABELS_MAGIC => "labels",
        idx::IMAGES_MAGIC => "images",
        _ => "IDX",
    };
    let what = if found == idx::LABELS_MAGIC || found == idx::IMAGES_MAGIC {
        format!(" (an IDX {} file)", kind(found))
    } else if found >> 16 != 0 {
        " (not an IDX file)".to_string()
    } else {
        " (an IDX file of another element type or rank)".to_string()
    };
    format!(
        "wrong magic number 0x{found:08x}{what}; expected 0x{expected:08x} for IDX {}",
        kind(expected)
    )
}

fn list_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "(nowhere: no folder to look in)".to_string();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn how_to_get(ds: KnownDataset) -> String {
    let mut s = format!(
        "get it with `gpu-mlp fetch {}`, or pass {} DIR with the four IDX files",
        ds.name(),
        vocabulary().name(Setting::Data)
    );
    if ds == KnownDataset::FashionMnist {
        s.push_str(", or run `apt-get install dataset-fashion-mnist` (Debian/Ubuntu)");
    }
    s
}

impl DataError {
    /// For `map_err`: an I/O failure reading or writing `path`.
    pub fn io_at(path: &std::path::Path) -> impl Fn(io::Error) -> DataError + '_ {
        move |source| DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// For `map_err` and early returns: `path` is there but unusable, and `problem` says why.
    pub fn bad_file(path: &std::path::Path) -> impl Fn(String) -> DataError + '_ {
        move |problem| DataError::BadFile {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }
}

impl From<crate::fsio::atomic::WriteError> for DataError {
    fn from(e: crate::fsio::atomic::WriteError) -> Self {
        DataError::Write {
            path: e.path,
            source: e.source,
        }
    }
}
