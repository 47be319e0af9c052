//! Writing output files safely: checkpoints and pictures go to a temporary file in the target's
//! folder, are flushed to disk, then renamed over the target. A crash or a failed write leaves
//! either the old file or the new one, never a torn mix, and never destroys what was there.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temporary files of concurrent writes within one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The folder a path's file lives in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates a fresh, uniquely named temporary file next to `path`.
fn create_temp(path: &Path) -> Result<(PathBuf, File)> {
    let write_error = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .ok_or_else(|| {
            write_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the path names a folder, not a file",
            ))
        })?
        .to_string_lossy()
        .into_owned();
    if path.is_dir() {
        return Err(write_error(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a folder; give a file name",
        )));
    }
    let dir = parent_dir(path);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(write_error(source)),
        }
    }
}

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename, fsync of the folder.
/// On any failure the temporary file is removed and an existing `path` is left untouched.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let (temp, mut file) = create_temp(path)?;
    let written = file
        .write_all(bytes)
        .and_then(|_| file.sync_all())
        .and_then(|_| {
            drop(file);
            fs::rename(&temp, path)
        });
    if let Err(source) = written {
        let _ = fs::remove_file(&temp);
        return Err(Error::Write {
            path: path.to_path_buf(),
            source,
        });
    }
    // Make the rename itself durable. Not every platform can open a folder; the data is safe
    // either way, so a failure here is not reported.
    if let Ok(dir) = File::open(parent_dir(path)) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Fails now if `path` could not be written later (missing folder, a folder in the way, no
/// permission), so a long training run does not end in an unwritable path. Writes nothing that
/// stays: it creates and removes a temporary file next to `path`.
pub fn check_writable(path: &Path) -> Result<()> {
    let (temp, file) = create_temp(path)?;
    drop(file);
    let _ = fs::remove_file(temp);
    Ok(())
}

/// Words for what a path is when it is not a regular file.
pub(crate) fn describe_kind(kind: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "something else"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_folder_and_folder_paths_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("out.bin");
        let err = write_atomically(&missing, b"x").unwrap_err().to_string();
        assert!(
            err.contains("cannot write") && err.contains("no-such-dir"),
            "{err}"
        );
        assert!(check_writable(&missing).is_err());
        let err = check_writable(dir.path()).unwrap_err().to_string();
        assert!(err.contains("folder"), "{err}");
        assert!(check_writable(&dir.path().join("fine.bin")).is_ok());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
