//! Files a hostile or careless user can hand to gpu-mlp: devices, FIFOs, padded or lying
//! checkpoints, symlinks and read-only models as `--save` targets. Each gets one clear error
//! naming the path, or the documented behaviour, and nothing is lost.

use gpu_mlp::checkpoint::{self, Checkpoint};
use gpu_mlp::model::ModelSpec;
use std::collections::BTreeMap;
use std::path::Path;

fn small_checkpoint() -> Checkpoint {
    let spec = ModelSpec::new(16, vec![8], 3, 0.0).expect("a valid spec");
    Checkpoint {
        parameters: spec.init_parameters(3),
        spec,
        class_names: vec!["a".into(), "b".into(), "c".into()],
        dataset: "toy".into(),
        rows: 4,
        cols: 4,
        metadata: BTreeMap::new(),
    }
}

fn load_error(path: &Path) -> String {
    match checkpoint::load(path) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.to_string(),
    }
}

#[cfg(unix)]
#[test]
fn the_model_loader_refuses_devices_before_reading_them() {
    let err = load_error(Path::new("/dev/zero"));
    assert!(
        err.contains("/dev/zero") && err.contains("character device"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn the_model_loader_does_not_wait_on_a_fifo() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let fifo = dir.path().join("model.safetensors");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
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
    assert!(
        err.contains("padded.safetensors") && err.contains("but the file has"),
        "{err}"
    );
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
