//! Writing output files safely: checkpoints, pictures, records and downloads go to a temporary
//! file in the target's folder, are flushed to disk, then renamed over the target. A crash or a
//! failed write leaves either the old file or the new one, never a torn mix, and never destroys
//! what was there.
//!
//! What is replaced, and how:
//! - only a regular file (or nothing): a device (`/dev/full`), a FIFO, a socket or a folder at
//!   the target is refused, so running as root cannot turn a device node into a file;
//! - a symbolic link is written through: its target file is replaced and the link stays (a
//!   dangling link creates its target);
//! - a replaced file keeps its permissions (a model saved with mode 600 stays 600), and a file
//!   the user may not write (no write bit, or another user's) is refused, not replaced: the
//!   rename needs only the folder's permission;
//! - a path ending in a separator (`out/`) names a folder and is refused, as is one in a folder
//!   that does not exist (the message says which);
//! - temporaries this crate left behind when a process was killed mid-save
//!   (`.NAME.<pid>.<n>.tmp` next to the target, their process gone) are removed at the next save.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temporary files of concurrent writes within one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Symbolic links followed to reach the file a write replaces (as the kernel's limit, 40).
const MAX_LINKS: usize = 40;

/// True when `path` ends in a separator (`out/`): it names a folder, not a file.
fn names_a_folder(path: &Path) -> bool {
    let text = path.as_os_str().to_string_lossy();
    text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR)
}

/// The folder a path's file lives in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A file that could not be written: created, filled, synced or renamed into place. Its own
/// type, so the writer depends on no caller's errors (data sets, checkpoints, records all use
/// it); each turns it into its own (`DataError::Write`, `Error::Write`) with the same words.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct WriteError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub source: io::Error,
}

fn write_error(path: &Path, source: io::Error) -> WriteError {
    WriteError {
        path: path.to_path_buf(),
        source,
    }
}

fn refusal(path: &Path, kind: io::ErrorKind, why: String) -> WriteError {
    write_error(path, io::Error::new(kind, why))
}

/// The file a write to `path` replaces: `path` itself, or where its chain of symbolic links
/// ends; refused when that is something other than a regular file or nothing.
fn resolve_target(path: &Path) -> Result<PathBuf, WriteError> {
    let mut target = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let meta = match fs::symlink_metadata(&target) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(target),
            Err(e) => return Err(write_error(path, e)),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            let link = fs::read_link(&target).map_err(|e| write_error(path, e))?;
            target = parent_dir(&target).join(link);
        } else if kind.is_dir() {
            return Err(refusal(
                path,
                io::ErrorKind::IsADirectory,
                "it is a folder; give a file name".to_string(),
            ));
        } else if kind.is_file() {
            if write_protected(&target, &meta) {
                return Err(refusal(
                    path,
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "{} is write-protected{}; refusing to replace it: make it writable \
                         (chmod u+w) or choose another path",
                        target.display(),
                        mode_text(&meta)
                    ),
                ));
            }
            return Ok(target);
        } else {
            return Err(refusal(
                path,
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is {}, not a regular file; refusing to replace it",
                    target.display(),
                    describe_kind(kind)
                ),
            ));
        }
    }
    Err(refusal(
        path,
        io::ErrorKind::InvalidInput,
        format!("more than {MAX_LINKS} symbolic links (a loop?)"),
    ))
}

/// True when the user may not write the file `target` itself. Writing a new file and renaming
/// it over the old one needs only the folder's permission, so without this a file the user
/// protected (`chmod a-w`, or another user's) would be replaced regardless. A file without any
/// write bit counts as protected even for root, as `rm` and `cp -i` treat it.
fn write_protected(target: &Path, meta: &fs::Metadata) -> bool {
    if meta.permissions().readonly() {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let Ok(c_path) = std::ffi::CString::new(target.as_os_str().as_bytes()) else {
            return false;
        };
        // SAFETY: `c_path` is a NUL-terminated string that outlives the call.
        let rc = unsafe { libc::access(c_path.as_ptr(), libc::W_OK) };
        rc != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EACCES)
    }
    #[cfg(not(unix))]
    {
        let _ = target;
        false
    }
}

/// ` (mode 0444)`: the permission bits, where there are such.
fn mode_text(meta: &fs::Metadata) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        format!(" (mode {:04o})", meta.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        String::new()
    }
}

/// True when `pid` names a running process (unknown: assumed running, so nothing is removed).
fn process_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        Path::new("/proc").join(pid.to_string()).exists()
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return true;
        };
        // SAFETY: signal 0 only checks that the process exists; nothing is sent.
        let rc = unsafe { libc::kill(pid, 0) };
        rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// The pid in a temporary name of ours for `name` (`.NAME.<pid>.<n>.tmp`), if it is one.
fn temp_owner(entry: &str, name: &str) -> Option<u32> {
    let rest = entry
        .strip_prefix('.')?
        .strip_prefix(name)?
        .strip_prefix('.')?;
    let rest = rest.strip_suffix(".tmp")?;
    let (pid, n) = rest.split_once('.')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Removes temporaries for `name` in `dir` left by processes that are gone (killed mid-save).
/// Best effort: a folder that cannot be listed keeps them.
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|n| temp_owner(n, name)) else {
            continue;
        };
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && pid != me && !process_alive(pid) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// A file written under a temporary name in its destination folder, then synced and renamed
/// into place by [`AtomicFile::commit`]: readers see the old file or the whole new one, never a
/// torn one. Dropped without commit, the temporary file is removed.
pub(crate) struct AtomicFile {
    tmp: PathBuf,
    /// The file replaced at commit (where `path`'s links lead).
    dest: PathBuf,
    /// The path as the user gave it, for messages.
    path: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Starts a write to `dest` (see the module's notes for what may be replaced).
    pub(crate) fn create(dest: &Path) -> Result<Self, WriteError> {
        // `out/` names a folder even where none exists yet: the rename at the end would fail.
        if names_a_folder(dest) {
            return Err(refusal(
                dest,
                io::ErrorKind::IsADirectory,
                "the path ends in a separator, so it names a folder; give a file name".to_string(),
            ));
        }
        let target = resolve_target(dest)?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                refusal(
                    dest,
                    io::ErrorKind::InvalidInput,
                    "the path names a folder, not a file".to_string(),
                )
            })?;
        let dir = parent_dir(&target);
        remove_stale_temporaries(dir, &name);
        // The replaced file's permissions carry over to its successor.
        let permissions = fs::metadata(&target).ok().map(|m| m.permissions());
        let (tmp, file) = loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(file) => break (tmp, file),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(refusal(
                        dest,
                        io::ErrorKind::NotFound,
                        format!("the folder {} does not exist", dir.display()),
                    ));
                }
                Err(source) => return Err(write_error(dest, source)),
            }
        };
        let mut atomic = AtomicFile {
            tmp,
            dest: target,
            path: dest.to_path_buf(),
            file: Some(file),
        };
        if let Some(permissions) = permissions {
            let applied = atomic
                .open_file()
                .and_then(|f| f.set_permissions(permissions));
            applied.map_err(|e| write_error(dest, e))?;
        }
        Ok(atomic)
    }

    /// The temporary file's path (for messages; the downloader's).
    #[cfg_attr(not(feature = "fetch"), allow(dead_code))]
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
    pub(crate) fn commit(mut self) -> Result<(), WriteError> {
        if let Some(file) = self.file.take() {
            file.sync_all().map_err(|e| write_error(&self.path, e))?;
            // Closed before the rename: some platforms cannot rename an open file.
        }
        fs::rename(&self.tmp, &self.dest).map_err(|e| write_error(&self.path, e))?;
        // The rename is durable once the folder is synced. Not every platform or file system
        // can sync a folder; the data itself is already on disk, so this is best effort.
        if let Ok(dir) = File::open(parent_dir(&self.dest)) {
            let _ = dir.sync_all();
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

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename, fsync of the folder.
/// On any failure the temporary file is removed and an existing `path` is left untouched.
pub fn write_atomically(path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), WriteError> {
    let path = path.as_ref();
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes).map_err(|e| write_error(path, e))?;
    file.commit()
}

/// Fails now if `path` could not be written later (missing folder, a folder or a device in the
/// way, no permission), so a long training run does not end in an unwritable path. Writes
/// nothing that stays: it creates and removes a temporary file next to `path`.
pub fn check_writable(path: impl AsRef<Path>) -> Result<(), WriteError> {
    let path = path.as_ref();
    AtomicFile::create(path)?;
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
        assert!(check_writable(dir.path().join("fine.bin")).is_ok());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        let err = check_writable(&missing).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
        // A name ending in a separator is a folder even where none exists yet.
        let trailing = PathBuf::from(format!("{}/", dir.path().join("new").display()));
        let err = check_writable(&trailing).unwrap_err().to_string();
        assert!(err.contains("names a folder"), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn a_write_protected_file_is_not_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kept.bin");
        fs::write(&path, b"kept").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
        let err = write_atomically(&path, b"new").unwrap_err().to_string();
        assert!(err.contains("write-protected (mode 0444)"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"kept");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }
}
