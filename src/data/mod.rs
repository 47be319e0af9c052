//! Data sets: IDX files in, `u8` pixels and labels out.
//!
//! A data set is a folder with the four canonical IDX files (each raw or gzip; when both
//! `NAME.gz` and `NAME` exist the `.gz` is used, since that is what [`fetch`] writes and
//! verifies):
//! `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte`.
//!
//! Known data sets ([`KnownDataset`]) are looked for in [`search_dirs`] order and, when found
//! nowhere, downloaded into the per-user cache (like Keras' `load_data`) unless offline. Any other
//! folder is loaded with [`load_dir`]; its class names are "0".."N-1".

pub mod fetch;
pub mod idx;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

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

/// Errors of reading, finding and fetching data. Each names the file (or data set) and the
/// problem on one line, and where it helps, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A problem with a file that no more specific variant describes.
    #[error("{}: {problem}", path.display())]
    BadFile { path: PathBuf, problem: String },

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
        label: u8,
        classes: usize,
    },

    /// A split holds no samples.
    #[error("{}: holds no samples", path.display())]
    Empty { path: PathBuf },

    /// A `--data DIR` folder lacks some of the four files.
    #[error(
        "{}: missing {}; a data folder needs train-images-idx3-ubyte, train-labels-idx1-ubyte, \
         t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each raw or .gz)",
        dir.display(), missing.join(", ")
    )]
    MissingFiles { dir: PathBuf, missing: Vec<String> },

    /// A data set name that is not one of the known ones.
    #[error(
        "unknown data set '{name}'; known data sets: {}; or pass --data DIR",
        KnownDataset::names().join(", ")
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
         or download the files yourself and pass --data DIR",
        tried.join(", ")
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
        "get it with `gpu-mlp fetch {}`, or pass --data DIR with the four IDX files",
        ds.name()
    );
    if ds == KnownDataset::FashionMnist {
        s.push_str(", or run `apt-get install dataset-fashion-mnist` (Debian/Ubuntu)");
    }
    s
}

/// The canonical file names of a data set folder, without `.gz`.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
/// All four, in the order train images, train labels, test images, test labels.
pub const FILE_STEMS: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// Environment variable: a folder holding the four files, or `<name>/` subfolders of them.
pub const DATA_ENV: &str = "GPU_MLP_DATA";

/// A data set this crate knows by name: its class names, where it is looked for, how to fetch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KnownDataset {
    Mnist,
    FashionMnist,
}

impl KnownDataset {
    pub const ALL: [KnownDataset; 2] = [KnownDataset::Mnist, KnownDataset::FashionMnist];

    /// The name used on the command line and as the folder name.
    pub fn name(self) -> &'static str {
        match self {
            KnownDataset::Mnist => "mnist",
            KnownDataset::FashionMnist => "fashion-mnist",
        }
    }

    /// All known names, for messages.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|d| d.name()).collect()
    }

    /// Class names, indexed by label.
    pub fn class_names(self) -> &'static [&'static str] {
        match self {
            KnownDataset::Mnist => &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            KnownDataset::FashionMnist => &[
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
        }
    }

    /// Parses a name, ignoring case, `-` and `_` (so `Fashion_MNIST` and `fashionmnist` work).
    pub fn from_name(name: &str) -> Result<Self, DataError> {
        Self::recognise(name).ok_or_else(|| DataError::UnknownDataset {
            name: name.to_string(),
        })
    }

    fn recognise(name: &str) -> Option<Self> {
        let norm: String = name
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        Self::ALL
            .into_iter()
            .find(|d| d.name().replace('-', "") == norm)
    }

    /// A system-wide folder a distribution package installs the files into, if there is one
    /// (Debian's `dataset-fashion-mnist`).
    pub fn system_dir(self) -> Option<&'static Path> {
        match self {
            KnownDataset::Mnist => None,
            KnownDataset::FashionMnist => Some(Path::new("/usr/share/datasets/fashion-mnist")),
        }
    }
}

impl fmt::Display for KnownDataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KnownDataset {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, DataError> {
        Self::from_name(s)
    }
}

/// What to load: a known data set found by name, or a given folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// Looked for in [`search_dirs`], fetched when missing (unless offline).
    Known(KnownDataset),
    /// `--data DIR`. `hint` names the data set the folder holds (for its class names); without
    /// one, a folder named like a known data set counts as that one.
    Dir {
        dir: PathBuf,
        hint: Option<KnownDataset>,
    },
}

impl DataSource {
    /// From the usual flags: `--data DIR` wins (with `--dataset NAME` as its hint); otherwise
    /// the named data set, MNIST when none is named.
    pub fn from_flags(dataset: Option<&str>, data_dir: Option<&Path>) -> Result<Self, DataError> {
        let known = dataset.map(KnownDataset::from_name).transpose()?;
        Ok(match data_dir {
            Some(dir) => DataSource::Dir {
                dir: dir.to_path_buf(),
                hint: known,
            },
            None => DataSource::Known(known.unwrap_or(KnownDataset::Mnist)),
        })
    }
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSource::Known(ds) => write!(f, "{ds}"),
            DataSource::Dir { dir, hint: None } => write!(f, "{}", dir.display()),
            DataSource::Dir {
                dir,
                hint: Some(ds),
            } => write!(f, "{} ({ds})", dir.display()),
        }
    }
}

/// How [`load`] behaves beyond where it looks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Never download: a known data set that is not found locally is an error.
    pub offline: bool,
    /// Show a download progress bar (only drawn when stderr is a terminal).
    pub show_progress: bool,
}

/// Where a known data set is looked for, and where it is downloaded to when missing.
/// [`Search::standard`] is what [`load`] uses; tests and tools can build their own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    /// Folders tried in order; the first holding all four files is used.
    pub dirs: Vec<PathBuf>,
    /// Download destination when found nowhere (`None`: no cache folder on this system).
    pub fetch_to: Option<PathBuf>,
    /// Mirror base URLs to download from.
    pub mirrors: Vec<String>,
}

impl Search {
    /// [`search_dirs`], the per-user cache and [`fetch::default_mirrors`].
    pub fn standard(ds: KnownDataset) -> Self {
        Search {
            dirs: search_dirs(ds),
            fetch_to: cache_dir(ds),
            mirrors: fetch::default_mirrors(ds),
        }
    }
}

/// Every folder looked at for a known data set, in order:
/// 1. `$GPU_MLP_DATA/<name>/`, then `$GPU_MLP_DATA/` itself (skipped when that folder is named
///    after another known data set, so `GPU_MLP_DATA=.../mnist` never passes for Fashion-MNIST);
/// 2. `./data/<name>/` (relative to the current directory);
/// 3. the per-user cache `<cache>/gpu-mlp/<name>/` (`~/.cache` on Linux), where downloads go;
/// 4. a distribution's folder, if any ([`KnownDataset::system_dir`]).
pub fn search_dirs(ds: KnownDataset) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(env) = std::env::var_os(DATA_ENV).filter(|v| !v.is_empty()) {
        let root = PathBuf::from(env);
        dirs.push(root.join(ds.name()));
        let named_other = root
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(KnownDataset::recognise)
            .is_some_and(|other| other != ds);
        if !named_other {
            dirs.push(root);
        }
    }
    let local = Path::new("data").join(ds.name());
    dirs.push(match std::env::current_dir() {
        Ok(cwd) => cwd.join(local),
        Err(_) => local,
    });
    if let Some(cache) = cache_dir(ds) {
        dirs.push(cache);
    }
    if let Some(sys) = ds.system_dir() {
        dirs.push(sys.to_path_buf());
    }
    dirs
}

/// The per-user cache folder of a data set, `<cache>/gpu-mlp/<name>` (`None` when the system
/// has no cache folder, e.g. no home directory).
pub fn cache_dir(ds: KnownDataset) -> Option<PathBuf> {
    dirs::cache_dir().map(|c| c.join("gpu-mlp").join(ds.name()))
}

/// The four files of a data set folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFiles {
    pub train_images: PathBuf,
    pub train_labels: PathBuf,
    pub test_images: PathBuf,
    pub test_labels: PathBuf,
}

/// Finds the four canonical files in `dir` (each `NAME.gz` or, failing that, `NAME`).
pub fn find_files(dir: &Path) -> Result<DataFiles, DataError> {
    let mut found = Vec::with_capacity(4);
    let mut missing = Vec::new();
    for stem in FILE_STEMS {
        let gz = dir.join(format!("{stem}.gz"));
        let raw = dir.join(stem);
        if is_data_file(&gz)? {
            found.push(gz);
        } else if is_data_file(&raw)? {
            found.push(raw);
        } else {
            missing.push(format!("{stem}[.gz]"));
        }
    }
    match <[PathBuf; 4]>::try_from(found) {
        Ok([train_images, train_labels, test_images, test_labels]) if missing.is_empty() => {
            Ok(DataFiles {
                train_images,
                train_labels,
                test_images,
                test_labels,
            })
        }
        _ => Err(DataError::MissingFiles {
            dir: dir.to_path_buf(),
            missing,
        }),
    }
}

/// True for a file, false for nothing there; an error, with the real cause, for anything else
/// (a link loop or one to nowhere, no permission, a folder), which is not "missing".
fn is_data_file(path: &Path) -> Result<bool, DataError> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(true),
        Ok(_) => Err(DataError::BadFile {
            path: path.to_path_buf(),
            problem: "not a regular file".to_string(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound && !path.is_symlink() => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(DataError::BadFile {
            path: path.to_path_buf(),
            problem: "a symbolic link to a file that does not exist".to_string(),
        }),
        Err(source) => Err(DataError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Loads a data set: a known one from wherever it is (downloading it if allowed), or a folder.
pub fn load(source: &DataSource, opts: &LoadOptions) -> Result<Dataset, DataError> {
    match source {
        DataSource::Known(ds) => load_known(*ds, &Search::standard(*ds), opts),
        DataSource::Dir { dir, hint } => load_dir(dir, *hint),
    }
}

/// Loads a known data set from the first of `search.dirs` (then `search.fetch_to`) that holds
/// all four files. Found nowhere: downloads it into `search.fetch_to` (saying so on stderr)
/// unless `opts.offline`. A folder that has the files but fails to load is an error, not skipped.
pub fn load_known(
    ds: KnownDataset,
    search: &Search,
    opts: &LoadOptions,
) -> Result<Dataset, DataError> {
    // Where downloads go is always looked at too (last, if `dirs` does not list it already),
    // so a data set fetched once is found from then on.
    let mut searched = search.dirs.clone();
    if let Some(dest) = &search.fetch_to {
        if !searched.contains(dest) {
            searched.push(dest.clone());
        }
    }
    for dir in &searched {
        if find_files(dir).is_ok() {
            return load_dir(dir, Some(ds));
        }
    }
    let not_found = |fetch_error| DataError::NotFound {
        dataset: ds,
        searched,
        fetch_error,
    };
    let Some(dest) = search.fetch_to.as_ref().filter(|_| !opts.offline) else {
        return Err(not_found(None));
    };
    eprintln!(
        "gpu-mlp: {ds} was not found locally; downloading it into {}",
        dest.display()
    );
    let spec = fetch::FetchSpec::known(ds).with_mirrors(search.mirrors.clone());
    match fetch::fetch_spec(&spec, dest, opts.show_progress) {
        Ok(_) => load_dir(dest, Some(ds)),
        Err(e) => Err(not_found(Some(Box::new(e)))),
    }
}

/// Loads the data set in `dir` (see [`DataSource::Dir`] for `hint`). Class names come from the
/// known data set when there is one (labels must then be below its class count), else they are
/// "0".."N-1" with N = largest label + 1, at least 2.
pub fn load_dir(dir: &Path, hint: Option<KnownDataset>) -> Result<Dataset, DataError> {
    let files = find_files(dir)?;
    let folder_name = folder_name(dir);
    let known = hint.or_else(|| KnownDataset::recognise(&folder_name));

    // The two splits are independent: decode them side by side (gzip decoding dominates).
    let (train, test) = std::thread::scope(|s| {
        let test = s.spawn(|| idx::read_samples(&files.test_images, &files.test_labels));
        let train = idx::read_samples(&files.train_images, &files.train_labels);
        let test = test.join().unwrap_or_else(|_| {
            Err(DataError::BadFile {
                path: files.test_images.clone(),
                problem: "the reader thread panicked".to_string(),
            })
        });
        (train, test)
    });
    let (train, rows, cols) = train?;
    let (test, test_rows, test_cols) = test?;
    if (rows, cols) != (test_rows, test_cols) {
        return Err(DataError::DimsMismatch {
            train: files.train_images,
            train_dims: (rows, cols),
            test: files.test_images,
            test_dims: (test_rows, test_cols),
        });
    }
    for (samples, path) in [(&train, &files.train_images), (&test, &files.test_images)] {
        if samples.count == 0 {
            return Err(DataError::Empty { path: path.clone() });
        }
    }

    let (name, class_names) = match known {
        Some(ds) => {
            let classes = ds.class_names().len();
            for (samples, path) in [(&train, &files.train_labels), (&test, &files.test_labels)] {
                if let Some((index, &label)) = samples
                    .labels
                    .iter()
                    .enumerate()
                    .find(|(_, &l)| usize::from(l) >= classes)
                {
                    return Err(DataError::LabelOutOfRange {
                        path: path.clone(),
                        dataset: ds.name().to_string(),
                        index,
                        label,
                        classes,
                    });
                }
            }
            let names = ds.class_names().iter().map(|s| s.to_string()).collect();
            (ds.name().to_string(), names)
        }
        None => {
            let max = train.labels.iter().chain(&test.labels).copied().max();
            let classes = max.map_or(0, |m| usize::from(m) + 1).max(2);
            (folder_name, (0..classes).map(|c| c.to_string()).collect())
        }
    };
    Ok(Dataset {
        name,
        class_names,
        rows,
        cols,
        train,
        test,
        dir: dir.to_path_buf(),
    })
}

/// The folder's own name (of its canonical form for paths like `.`), for naming the data set.
fn folder_name(dir: &Path) -> String {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    name(dir)
        .or_else(|| dir.canonicalize().ok().and_then(|p| name(&p)))
        .unwrap_or_else(|| "data".to_string())
}

/// Writes a data set's four files into `dir` (created if needed) under the canonical names,
/// `.gz` when compressed; e.g. to export a subset for another tool.
pub fn write_dir(
    dir: &Path,
    data: &Dataset,
    compression: idx::Compression,
) -> Result<(), DataError> {
    fs::create_dir_all(dir).map_err(|source| DataError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let ext = match compression {
        idx::Compression::None => "",
        idx::Compression::Gzip => ".gz",
    };
    let path = |stem: &str| dir.join(format!("{stem}{ext}"));
    idx::write_images(
        &path(TRAIN_IMAGES),
        &data.train.images,
        data.rows,
        data.cols,
        compression,
    )?;
    idx::write_labels(&path(TRAIN_LABELS), &data.train.labels, compression)?;
    idx::write_images(
        &path(TEST_IMAGES),
        &data.test.images,
        data.rows,
        data.cols,
        compression,
    )?;
    idx::write_labels(&path(TEST_LABELS), &data.test.labels, compression)
}
