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
//!
//! The files by idea: `dataset` (what a loaded data set is), `error`, `known` (the catalogue),
//! `search` (where one is looked for, and loading by source), `folder` (a folder's four files),
//! [`idx`] (the file format), [`fetch`] (downloads); this root writes data sets ([`write_dir`]
//! and the atomic file the writers use).

mod dataset;
mod error;
pub mod fetch;
mod folder;
pub mod idx;
mod known;
mod search;

pub use dataset::{Dataset, Samples};
pub use error::DataError;
pub use folder::{
    find_files, load_dir, DataFiles, FILE_STEMS, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES,
    TRAIN_LABELS,
};
pub use known::KnownDataset;
pub use search::{
    cache_dir, load, load_known, search_dirs, DataSource, LoadOptions, Search, DATA_ENV,
};

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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

/// A file written under a temporary name in its destination folder, then synced and renamed
/// into place by [`AtomicFile::commit`]: readers see the old file or the whole new one, never a
/// torn one. Dropped without commit, the temporary file is removed.
pub(crate) struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    pub(crate) fn create(dest: &Path) -> Result<Self, DataError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let werr = |path: &Path, source| DataError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                werr(
                    dest,
                    io::Error::new(io::ErrorKind::InvalidInput, "not a file path"),
                )
            })?;
        let tmp = dir.join(format!(
            ".{name}.{}.{}.part",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| werr(&tmp, e))?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            file: Some(file),
        })
    }

    /// The temporary file's path (for messages).
    pub(crate) fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    fn open_file(&mut self) -> io::Result<&mut File> {
        // `None` only once `commit` or `drop` has closed it; neither leaves `self` usable.
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("temporary file already closed"))
    }

    /// Flushes the data to disk, renames it over the destination and syncs the folder.
    pub(crate) fn commit(mut self) -> Result<(), DataError> {
        let werr = |path: &Path, source| DataError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(file) = self.file.take() {
            file.sync_all().map_err(|e| werr(&self.tmp, e))?;
            // Closed before the rename: some platforms cannot rename an open file.
        }
        fs::rename(&self.tmp, &self.dest).map_err(|e| werr(&self.dest, e))?;
        // The rename is durable once the folder is synced. Not every platform or file system
        // can sync a folder; the data itself is already on disk, so this is best effort.
        #[cfg(unix)]
        if let Some(dir) = self.dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl io::Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.open_file()?.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.open_file()?.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            self.file.take();
            let _ = fs::remove_file(&self.tmp);
        }
    }
}
