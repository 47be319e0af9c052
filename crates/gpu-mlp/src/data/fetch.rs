//! Downloading the known data sets: the four canonical `.gz` files, each tried on every mirror
//! in turn, checked against pinned SHA-256 digests, and written atomically (temporary file in the
//! destination folder, fsync, rename), so an interrupted or bad download never leaves a file that
//! looks complete.
//!
//! [`FetchSpec`] holds what to download and which digests to accept; [`FetchSpec::known`] gives
//! the real ones, and tests build their own against a local server.

use super::download::download_once;
use super::{DataError, KnownDataset};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Environment variable: comma-separated mirror base URLs replacing the built-in ones.
pub const MIRRORS_ENV: &str = "GPU_MLP_MIRRORS";

/// The lock file processes fetching into `dir` take turns on: beside the folder
/// (`.mnist.fetch-lock` next to `mnist/`), so the folder holds the data set's files only.
pub fn fetch_lock_path(dir: impl AsRef<Path>) -> PathBuf {
    let dir = dir.as_ref();
    let name = dir
        .file_name()
        .map_or_else(|| "data".into(), |n| n.to_string_lossy());
    let lock = format!(".{name}.fetch-lock");
    match dir.parent() {
        Some(parent) if dir.file_name().is_some() => parent.join(lock),
        _ => dir.join(lock),
    }
}

/// One file of a known data set, as distributed.
struct KnownFile {
    name: &'static str,
    /// Size of the canonical file in bytes; downloads are refused past this plus some slack.
    size: u64,
    /// Accepted SHA-256 digests of the `.gz` file: the canonical distribution file first, then
    /// re-compressed copies whose decompressed content is byte-identical to it.
    sha256: &'static [&'static str],
}

// MNIST. First digest of each file: the canonical distribution files (the ones the original
// site published and the mirrors below serve; TensorFlow Datasets pins the same digests and
// sizes). Second: a re-compressed copy (gzip -9, mtime 0) of the same content, as kept in this
// project's shared data folder; its decompressed files have the canonical decompressed digests
// (train images ba891046..., train labels 65a50cbb..., test images 0fa7898d..., test labels
// ff7bcfd4...).
const MNIST_FILES: [KnownFile; 4] = [
    KnownFile {
        name: "train-images-idx3-ubyte.gz",
        size: 9_912_422,
        sha256: &[
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
        ],
    },
    KnownFile {
        name: "train-labels-idx1-ubyte.gz",
        size: 28_881,
        sha256: &[
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
        ],
    },
    KnownFile {
        name: "t10k-images-idx3-ubyte.gz",
        size: 1_648_877,
        sha256: &[
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
        ],
    },
    KnownFile {
        name: "t10k-labels-idx1-ubyte.gz",
        size: 4_542,
        sha256: &[
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
        ],
    },
];

// Fashion-MNIST. First digest: the canonical distribution files of Zalando Research (whose
// published MD5s are 8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...). Second: Debian's
// `dataset-fashion-mnist` package (/usr/share/datasets/fashion-mnist), the same streams with the
// file name dropped from the gzip header (hence 23-24 bytes smaller).
const FASHION_FILES: [KnownFile; 4] = [
    KnownFile {
        name: "train-images-idx3-ubyte.gz",
        size: 26_421_880,
        sha256: &[
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        ],
    },
    KnownFile {
        name: "train-labels-idx1-ubyte.gz",
        size: 29_515,
        sha256: &[
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        ],
    },
    KnownFile {
        name: "t10k-images-idx3-ubyte.gz",
        size: 4_422_102,
        sha256: &[
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        ],
    },
    KnownFile {
        name: "t10k-labels-idx1-ubyte.gz",
        size: 5_148,
        sha256: &[
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        ],
    },
];

/// The built-in mirrors (base URLs; a file's URL is base + file name).
pub fn builtin_mirrors(ds: KnownDataset) -> &'static [&'static str] {
    match ds {
        KnownDataset::Mnist => &[
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ],
        KnownDataset::FashionMnist => &[
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            // Keras' copy (`keras.datasets.fashion_mnist`), same canonical names.
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        ],
    }
}

/// The mirrors to use: `$GPU_MLP_MIRRORS` (comma-separated base URLs) when set and non-empty,
/// else [`builtin_mirrors`].
pub fn default_mirrors(ds: KnownDataset) -> Vec<String> {
    let from_env: Vec<String> = std::env::var(MIRRORS_ENV)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if from_env.is_empty() {
        builtin_mirrors(ds).iter().map(|s| s.to_string()).collect()
    } else {
        from_env
    }
}

/// One file to download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpec {
    /// File name, both on the mirror (appended to the base URL) and in the destination folder.
    pub name: String,
    /// Accepted SHA-256 digests (lowercase hex); the file must match one of them.
    pub sha256: Vec<String>,
    /// The most bytes accepted from a server for this file.
    pub max_bytes: u64,
}

/// What [`fetch_spec`] downloads: files, their digests, and the mirrors to try in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchSpec {
    /// Name for messages (`mnist`).
    pub dataset: String,
    pub files: Vec<FileSpec>,
    pub mirrors: Vec<String>,
}

impl FetchSpec {
    /// The canonical files of a known data set with their pinned digests, from
    /// [`default_mirrors`].
    pub fn known(ds: KnownDataset) -> Self {
        let table = match ds {
            KnownDataset::Mnist => &MNIST_FILES,
            KnownDataset::FashionMnist => &FASHION_FILES,
        };
        FetchSpec {
            dataset: ds.name().to_string(),
            files: table
                .iter()
                .map(|f| FileSpec {
                    name: f.name.to_string(),
                    sha256: f.sha256.iter().map(|s| s.to_string()).collect(),
                    // 1/8 slack: room for a mirror's own re-compression, no room to fill a disk.
                    max_bytes: f.size + f.size / 8 + 4096,
                })
                .collect(),
            mirrors: default_mirrors(ds),
        }
    }

    /// The same files from other mirrors.
    pub fn with_mirrors(mut self, mirrors: Vec<String>) -> Self {
        self.mirrors = mirrors;
        self
    }
}

/// What happened to each file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchReport {
    pub dir: PathBuf,
    pub files: Vec<FetchedFile>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedFile {
    pub path: PathBuf,
    pub outcome: FetchOutcome,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchOutcome {
    /// Already in the folder with an accepted digest; not downloaded again.
    AlreadyPresent,
    /// Downloaded from `url` and verified.
    Downloaded { url: String, bytes: u64 },
}

/// Downloads a known data set's four `.gz` files into `dir` from `mirrors` (e.g.
/// [`default_mirrors`]), verifying their pinned digests. See [`fetch_spec`].
pub fn fetch(
    ds: KnownDataset,
    dir: impl AsRef<Path>,
    mirrors: &[String],
    progress: Progress,
) -> Result<FetchReport, DataError> {
    let dir = dir.as_ref();
    fetch_spec(
        &FetchSpec::known(ds).with_mirrors(mirrors.to_vec()),
        dir,
        progress,
    )
}

/// Downloads every file of `spec` into `dir` (created if needed). A file already there with an
/// accepted digest is kept; otherwise each mirror is tried in turn until one serves bytes with an
/// accepted digest, which then replace the file atomically. A failed or mismatching download
/// leaves nothing behind and never touches a file already there. Stops at the first file no
/// mirror could deliver. `progress` hears of each file's bytes.
pub fn fetch_spec(
    spec: &FetchSpec,
    dir: impl AsRef<Path>,
    progress: Progress,
) -> Result<FetchReport, DataError> {
    let dir = dir.as_ref();
    fs::create_dir_all(dir).map_err(|source| DataError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    // One process downloads at a time; one that waited finds the files there.
    let lock_path = fetch_lock_path(dir);
    let _lock = crate::fsio::lock::FileLock::acquire(&lock_path, || {
        eprintln!(
            "gpu-mlp: waiting for another gpu-mlp process fetching into {}",
            dir.display()
        )
    })
    .map_err(|source| DataError::Write {
        path: lock_path.clone(),
        source,
    })?;
    let mut report = FetchReport {
        dir: dir.to_path_buf(),
        files: Vec::with_capacity(spec.files.len()),
    };
    for file in &spec.files {
        let path = dir.join(&file.name);
        let outcome = if path.is_file() && accepts(file, &sha256_file(&path)?) {
            FetchOutcome::AlreadyPresent
        } else {
            download_file(spec, file, &path, progress)?
        };
        report.files.push(FetchedFile { path, outcome });
    }
    Ok(report)
}

/// The SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: impl AsRef<Path>) -> Result<String, DataError> {
    let path = path.as_ref();
    let ioerr = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = File::open(path).map_err(ioerr)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ioerr(e)),
        }
    }
    Ok(hex(&hasher.finalize()))
}

pub(super) fn accepts(file: &FileSpec, digest: &str) -> bool {
    file.sha256.iter().any(|d| d.eq_ignore_ascii_case(digest))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why one mirror did not deliver a file.
#[cfg_attr(not(feature = "fetch"), allow(dead_code))]
pub(super) enum Failure {
    /// No connection at all (refused, DNS, timeout): the network or the host is down.
    Unreachable(String),
    /// The server answered, but not with the file (HTTP error, too large, cut off).
    Failed(String),
    /// The bytes arrived but are not the expected file.
    Mismatch(String),
}

/// Tries every mirror for one file; the first good download wins.
fn download_file(
    spec: &FetchSpec,
    file: &FileSpec,
    path: &Path,
    progress: Progress,
) -> Result<FetchOutcome, DataError> {
    let mut tried = Vec::new();
    let mut failures = Vec::new();
    for base in &spec.mirrors {
        let url = join_url(base, &file.name);
        match download_once(&url, file, path, progress)? {
            Ok(bytes) => return Ok(FetchOutcome::Downloaded { url, bytes }),
            Err(f) => {
                tried.push(url);
                failures.push(f);
            }
        }
    }
    // Most telling failure first: a wrong file is alarming, no network is common.
    let mismatch = tried
        .iter()
        .zip(&failures)
        .rev()
        .find_map(|(url, f)| match f {
            Failure::Mismatch(found) => Some((url.clone(), found.clone())),
            _ => None,
        });
    if let Some((url, found)) = mismatch {
        return Err(DataError::Checksum {
            path: path.to_path_buf(),
            url,
            found,
            expected: file.sha256.clone(),
        });
    }
    if !failures.is_empty()
        && failures
            .iter()
            .all(|f| matches!(f, Failure::Unreachable(_)))
    {
        let reason = match failures.last() {
            Some(Failure::Unreachable(r)) => r.clone(),
            _ => String::new(),
        };
        return Err(DataError::Unreachable {
            dataset: spec.dataset.clone(),
            tried,
            reason,
        });
    }
    let mut attempts: Vec<String> = tried
        .iter()
        .zip(&failures)
        .map(|(url, f)| match f {
            Failure::Unreachable(m) | Failure::Failed(m) | Failure::Mismatch(m) => {
                format!("{url}: {m}")
            }
        })
        .collect();
    if attempts.is_empty() {
        attempts.push(format!("no mirrors configured (set {MIRRORS_ENV})"));
    }
    Err(DataError::Download {
        dataset: spec.dataset.clone(),
        file: file.name.clone(),
        attempts,
    })
}

fn join_url(base: &str, name: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

/// Hears of one file's download, so a face can draw it (the library draws nothing).
pub trait DownloadProgress {
    /// `bytes` more arrived.
    fn advance(&mut self, bytes: u64);
    /// The file arrived whole.
    fn finish(&mut self);
    /// The download broke off.
    fn abandon(&mut self);
}

/// Starts a [`DownloadProgress`] for a file's name and its announced length; `None`: silent.
pub type Progress = Option<fn(&str, Option<u64>) -> Box<dyn DownloadProgress>>;
