//! Files a hostile or careless user can hand to gpu-mlp: devices, FIFOs, padded or lying
//! checkpoints, symlinks and read-only models as `--save` targets. Each gets one clear error
//! naming the path, or the documented behaviour, and nothing is lost.

use gpu_mlp::checkpoint;
use std::path::Path;
use support::{assert_contains_all, small_checkpoint};

fn load_error(path: &Path) -> String {
    match checkpoint::load(path) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.to_string(),
    }
}

/// A FIFO (named pipe) called `name` in `dir`.
#[cfg(unix)]
fn mkfifo(dir: &Path, name: &str) -> std::path::PathBuf {
    let fifo = dir.join(name);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo {}", fifo.display());
    fifo
}

#[cfg(unix)]
#[test]
fn the_model_loader_refuses_devices_before_reading_them() {
    let err = load_error(Path::new("/dev/zero"));
    assert_contains_all(&err, &["/dev/zero", "character device"]);
}

#[cfg(unix)]
#[test]
fn the_model_loader_does_not_wait_on_a_fifo() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let fifo = mkfifo(dir.path(), "model.safetensors");
    let err = load_error(&fifo);
    assert!(err.contains("FIFO"), "{err}");
}

#[test]
fn a_padded_checkpoint_is_refused_from_its_header() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("padded.safetensors");
    checkpoint::save(&path, &small_checkpoint()).expect("save");
    let good_len = std::fs::metadata(&path).expect("stat").len();
    // 2 GiB of (sparse) padding: refused from the header, never read.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    file.set_len(good_len + (2 << 30)).expect("pad");
    drop(file);
    let err = load_error(&path);
    assert_contains_all(&err, &["padded.safetensors", "but the file has"]);
}

#[test]
fn a_header_that_promises_more_than_the_file_holds_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("lying.safetensors");
    let mut bytes = checkpoint::to_bytes(&small_checkpoint()).expect("encode");
    // The header length itself says 1 TiB.
    bytes[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    std::fs::write(&path, &bytes).expect("write");
    let err = load_error(&path);
    assert!(err.contains("header claims 1099511627776 bytes"), "{err}");

    // Too short for a header.
    std::fs::write(&path, b"abc").expect("write");
    let err = load_error(&path);
    assert!(err.contains("too few for a header"), "{err}");
}

fn save_error(path: &Path) -> String {
    match checkpoint::save(path, &small_checkpoint()) {
        Ok(()) => panic!("saved over {}", path.display()),
        Err(e) => e.to_string(),
    }
}

#[cfg(unix)]
#[test]
fn saving_never_replaces_a_device_or_a_fifo() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().expect("a temporary folder");
    // A link to a device: replacing the link would hide the bug; the device is what it names.
    let link = dir.path().join("to-null.safetensors");
    std::os::unix::fs::symlink("/dev/null", &link).expect("make a link");
    let err = save_error(&link);
    assert_contains_all(&err, &["to-null.safetensors", "character device"]);
    assert!(std::fs::symlink_metadata(&link)
        .expect("stat")
        .file_type()
        .is_symlink());

    let fifo = mkfifo(dir.path(), "pipe.safetensors");
    let err = save_error(&fifo);
    assert_contains_all(&err, &["pipe.safetensors", "FIFO"]);
    assert!(gpu_mlp::fsio::atomic::check_writable(&fifo).is_err());
    assert!(std::fs::metadata(&fifo)
        .expect("stat")
        .file_type()
        .is_fifo());
    // Nothing was left behind.
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 2);
}

#[cfg(unix)]
#[test]
fn saving_through_a_symlink_replaces_its_target_and_keeps_the_link() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let models = dir.path().join("models");
    std::fs::create_dir(&models).expect("mkdir");
    let real = models.join("v1.safetensors");
    std::fs::write(&real, b"old").expect("write");
    let link = dir.path().join("current.safetensors");
    std::os::unix::fs::symlink("models/v1.safetensors", &link).expect("make a link");
    checkpoint::save(&link, &small_checkpoint()).expect("save through the link");
    assert!(std::fs::symlink_metadata(&link)
        .expect("stat")
        .file_type()
        .is_symlink());
    let loaded = checkpoint::load(&real).expect("the target holds the new model");
    assert_eq!(loaded.parameters, small_checkpoint().parameters);
    // A loop is an error, not a hang.
    let a = dir.path().join("a");
    std::os::unix::fs::symlink("b", &a).expect("link");
    std::os::unix::fs::symlink("a", dir.path().join("b")).expect("link");
    assert!(save_error(&a).contains("symbolic links"));
}

#[cfg(unix)]
#[test]
fn a_replaced_file_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("private.safetensors");
    std::fs::write(&path, b"old").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    checkpoint::save(&path, &small_checkpoint()).expect("save");
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
}

#[test]
fn stale_temporaries_of_killed_saves_are_removed() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("model.safetensors");
    // Left by a process that is gone (no pid is this high), by this live process, and by
    // someone else's naming.
    let stale = dir.path().join(".model.safetensors.4294967295.3.tmp");
    let live = dir
        .path()
        .join(format!(".model.safetensors.{}.999.tmp", std::process::id()));
    let foreign = dir.path().join(".model.safetensors.notes.tmp");
    for p in [&stale, &live, &foreign] {
        std::fs::write(p, b"partial").expect("write");
    }
    checkpoint::save(&path, &small_checkpoint()).expect("save");
    assert!(!stale.exists(), "the stale temporary is still there");
    assert!(live.exists() && foreign.exists());
}

#[cfg(unix)]
#[test]
fn data_files_that_exist_but_cannot_be_used_are_not_called_missing() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let loop_link = dir.path().join("train-images-idx3-ubyte");
    std::os::unix::fs::symlink("train-images-idx3-ubyte", &loop_link).expect("link");
    let err = unusable_data_error(dir.path(), "a link loop is not a data file");
    assert!(err.contains("train-images-idx3-ubyte"), "{err}");
    assert!(err.to_lowercase().contains("symbolic links"), "{err}");

    std::fs::remove_file(&loop_link).expect("unlink");
    std::os::unix::fs::symlink("gone", &loop_link).expect("link");
    let err = unusable_data_error(dir.path(), "a dangling link is not a data file");
    assert!(err.contains("does not exist"), "{err}");
}

/// `find_files`' error for `dir`, whose files are there but unusable: it must not call them
/// missing.
#[cfg(unix)]
fn unusable_data_error(dir: &Path, why: &str) -> String {
    let err = gpu_mlp::data::find_files(dir).expect_err(why).to_string();
    assert!(!err.contains("missing"), "{err}");
    err
}
