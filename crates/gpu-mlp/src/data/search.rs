//! Where a data set comes from: a known one looked for by name in a list of folders (and
//! downloaded into the per-user cache when found nowhere), or a folder given by the user.

use super::source::{adapt_known, load_path, TestOrigin};
use super::{fetch, find_files, load_dir, DataError, Dataset, KnownDataset, LoadOptions};
use std::fmt;
use std::path::{Path, PathBuf};

/// Environment variable: a folder holding the four files, or `<name>/` subfolders of them.
pub const DATA_ENV: &str = "GPU_MLP_DATA";

/// What to load: a known data set found by name, a given IDX folder, or any source at a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// Looked for in [`search_dirs`], fetched when missing (unless offline).
    Known(KnownDataset),
    /// `--data DIR`. `hint` names the data set the folder holds (for its class names); without
    /// one, a folder named like a known data set counts as that one.
    Dir {
        /// The folder holding the four files.
        dir: PathBuf,
        /// The known data set the folder holds, if any.
        hint: Option<KnownDataset>,
    },
    /// `--data PATH`: whatever the path holds, told by its content: a folder of the four IDX
    /// files (as [`DataSource::Dir`]), an image folder, a `.npz` archive or a CSV/TSV file.
    Path {
        /// The folder or file.
        path: PathBuf,
        /// The known data set an IDX folder holds, if any.
        hint: Option<KnownDataset>,
    },
}

impl DataSource {
    /// The source a run asks for: a path wins (with the named data set, if any, as its hint);
    /// otherwise the named data set, MNIST when none is named.
    pub fn choose(dataset: Option<&str>, data_dir: Option<&Path>) -> Result<Self, DataError> {
        let known = dataset.map(KnownDataset::from_name).transpose()?;
        Ok(match data_dir {
            Some(path) => DataSource::Path {
                path: path.to_path_buf(),
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
            DataSource::Dir { dir: path, hint } | DataSource::Path { path, hint } => match hint {
                None => write!(f, "{}", path.display()),
                Some(ds) => write!(f, "{} ({ds})", path.display()),
            },
        }
    }
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

/// Loads a data set: a known one from wherever it is (downloading it if allowed), an IDX
/// folder, or any source at a path; with `opts`'s test part and scaling.
pub fn load(source: &DataSource, opts: &LoadOptions) -> Result<Dataset, DataError> {
    load_explained(source, opts).map(|(data, _)| data)
}

/// [`load`], also saying how the test part was made (for the first line of a run).
pub fn load_explained(
    source: &DataSource,
    opts: &LoadOptions,
) -> Result<(Dataset, TestOrigin), DataError> {
    match source {
        DataSource::Known(ds) => adapt_known(load_known(*ds, &Search::standard(*ds), opts)?, opts),
        DataSource::Dir { dir, hint } => adapt_known(load_dir(dir, *hint)?, opts),
        DataSource::Path { path, hint } => load_path(path, *hint, opts),
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
    if cfg!(not(feature = "fetch")) {
        let why = DataError::NotBuiltIn {
            what: "downloads of known data sets",
            feature: "fetch",
        };
        return Err(not_found(Some(Box::new(why))));
    }
    eprintln!(
        "gpu-mlp: {ds} was not found locally; downloading it into {}",
        dest.display()
    );
    let spec = fetch::FetchSpec::known(ds).with_mirrors(search.mirrors.clone());
    match fetch::fetch_spec(&spec, dest, opts.progress) {
        Ok(_) => load_dir(dest, Some(ds)),
        Err(e) => Err(not_found(Some(Box::new(e)))),
    }
}

/// Built without `fetch` (`cargo test -p gpu-mlp`; the workspace's tests build it with).
#[cfg(all(test, not(feature = "fetch")))]
mod tests {
    use super::*;

    /// A known data set found nowhere says downloads are not built in, and nothing is
    /// downloaded or created.
    #[test]
    fn without_fetch_a_missing_known_data_set_says_downloads_are_not_built_in() {
        let tmp = tempfile::tempdir().unwrap();
        let search = Search {
            dirs: vec![tmp.path().join("nowhere")],
            fetch_to: Some(tmp.path().join("cache")),
            mirrors: vec!["http://127.0.0.1:9/".to_string()],
        };
        let e = load_known(KnownDataset::Mnist, &search, &LoadOptions::default()).unwrap_err();
        let DataError::NotFound {
            fetch_error: Some(why),
            ..
        } = &e
        else {
            panic!("not the not-found error: {e}");
        };
        assert!(
            matches!(
                **why,
                DataError::NotBuiltIn {
                    feature: "fetch",
                    ..
                }
            ),
            "{why}"
        );
        assert!(
            e.to_string()
                .contains("downloads of known data sets are not built in"),
            "{e}"
        );
        assert!(!tmp.path().join("cache").exists());
    }
}
