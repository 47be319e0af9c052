//! A data set folder: the four canonical IDX files (each raw or `.gz`), found and read into a
//! [`Dataset`] (`write_dir` in the module root writes one).

use super::{idx, DataError, Dataset, KnownDataset, SourceKind, MAX_CLASSES};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The canonical file names of a data set folder, without `.gz`.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
/// All four, in the order train images, train labels, test images, test labels.
pub const FILE_STEMS: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// The four files of a data set folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFiles {
    pub train_images: PathBuf,
    pub train_labels: PathBuf,
    pub test_images: PathBuf,
    pub test_labels: PathBuf,
}

/// Finds the four canonical files in `dir` (each `NAME.gz` or, failing that, `NAME`).
pub fn find_files(dir: impl AsRef<Path>) -> Result<DataFiles, DataError> {
    let dir = dir.as_ref();
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
            problem: "not a regular file".into(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound && !path.is_symlink() => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(DataError::BadFile {
            path: path.to_path_buf(),
            problem: "a symbolic link to a file that does not exist".into(),
        }),
        Err(source) => Err(DataError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The labels marked in `seen`, as `0..=9` when they run without a gap from 0, else listed.
pub(super) fn label_list(seen: &[bool]) -> String {
    let labels: Vec<usize> = (0..seen.len()).filter(|&l| seen[l]).collect();
    match labels.last() {
        Some(&last) if labels.len() == last + 1 => format!("0..={last}"),
        _ => labels
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Loads the data set in `dir` (see [`DataSource::Dir`](super::DataSource::Dir) for `hint`).
/// Class names come from the known data set when there is one (labels must then be below its
/// class count), else they are "0".."N-1" with N = largest label + 1, at least 2.
pub fn load_dir(dir: impl AsRef<Path>, hint: Option<KnownDataset>) -> Result<Dataset, DataError> {
    let dir = dir.as_ref();
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
                problem: "the reader thread panicked".into(),
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
            // The classes are what the training labels use; a test label outside them would
            // silently widen the model (a corrupt file of 255s made a 256-class model).
            let mut seen = vec![false; MAX_CLASSES];
            for &l in &train.labels {
                seen[usize::from(l)] = true;
            }
            if let Some((index, &label)) = test
                .labels
                .iter()
                .enumerate()
                .find(|(_, &l)| !seen[usize::from(l)])
            {
                return Err(DataError::UnseenTestLabel {
                    path: files.test_labels,
                    index,
                    label,
                    training: label_list(&seen),
                });
            }
            let max = train.labels.iter().copied().max();
            let classes = max.map_or(0, |m| usize::from(m) + 1).max(2);
            (folder_name, (0..classes).map(|c| c.to_string()).collect())
        }
    };
    // Everything `Dataset::new` checks was checked above, naming the file.
    Ok(Dataset {
        dir: dir.to_path_buf(),
        source: SourceKind::Idx,
        ..Dataset::new(name, class_names, (rows, cols), train, test)?
    })
}

/// The folder's own name (of its canonical form for paths like `.`), for naming the data set.
fn folder_name(dir: &Path) -> String {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    name(dir)
        .or_else(|| dir.canonicalize().ok().and_then(|p| name(&p)))
        .unwrap_or_else(|| "data".to_string())
}
