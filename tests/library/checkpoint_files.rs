//! Checkpoint files gone wrong and written safely: one clear error per bad file, PyTorch-style
//! files without our header, unwritable outputs, and a failed write that keeps the old file.

use gpu_mlp::checkpoint::{self, Checkpoint};
use gpu_mlp::error::Error;
use gpu_mlp::inference::preprocess;
use gpu_mlp::model::ModelSpec;
use gpu_mlp::training::EpochRecord;
use gpu_mlp_cli::plots::{self};
use safetensors::{Dtype, SafeTensors};
use std::fs;
use std::path::Path;
use std::process::Command;
use support::small_checkpoint;
use support::succeeded;

/// A valid checkpoint file's bytes with its JSON header replaced by `edit(header)`.
fn with_header(bytes: &[u8], edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let mut text = serde_json::to_vec(&header).unwrap();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

/// A valid checkpoint file's bytes with one more tensor, `optimizer.step`.
fn with_extra_tensor(bytes: &[u8]) -> Vec<u8> {
    let file = SafeTensors::deserialize(bytes).unwrap();
    let (_, meta) = SafeTensors::read_metadata(bytes).unwrap();
    let step = 1.0f32.to_le_bytes();
    let mut tensors = file.tensors();
    tensors.push((
        "optimizer.step".to_string(),
        safetensors::tensor::TensorView::new(Dtype::F32, vec![1], &step).unwrap(),
    ));
    safetensors::serialize(tensors, meta.metadata().clone()).unwrap()
}

#[test]
fn bad_checkpoint_files_get_one_clear_error_each() {
    let dir = tempfile::tempdir().unwrap();
    let good = checkpoint::to_bytes(&small_checkpoint()).unwrap();
    assert!(checkpoint::from_bytes(&good, Path::new("good")).is_ok());
    let meta = |key: &str, value: &str| {
        let (key, value) = (key.to_string(), value.to_string());
        with_header(&good, move |h| {
            h["__metadata__"][&key] = value.clone().into()
        })
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "not a valid safetensors checkpoint"),
        (
            "text",
            b"hello, I am not a model".to_vec(),
            "not a valid safetensors checkpoint",
        ),
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "not a valid safetensors checkpoint",
        ),
        (
            "renamed tensor",
            with_header(&good, |h| {
                let t = h
                    .as_object_mut()
                    .unwrap()
                    .remove("layers.0.weight")
                    .unwrap();
                h["encoder.weight"] = t;
            }),
            "no tensor 'layers.0.weight'",
        ),
        (
            "extra tensor",
            with_extra_tensor(&good),
            "unexpected tensors [\"optimizer.step\"]",
        ),
        (
            "bias shape",
            with_header(&good, |h| {
                h["layers.1.bias"]["shape"] = serde_json::json!([1, 3]);
            }),
            "'layers.1.bias' has shape [1, 3]",
        ),
        (
            "dtype",
            with_header(&good, |h| {
                h["layers.0.bias"]["dtype"] = "I32".into();
            }),
            "'layers.0.bias' is I32",
        ),
        (
            "hidden disagrees",
            meta("hidden", "32"),
            "the header says hidden=32 but the tensors say 8",
        ),
        (
            "class names",
            meta("class_names", "[\"a\", \"b\"]"),
            "2 class names for 3 classes",
        ),
        (
            "class names json",
            meta("class_names", "a,b,c"),
            "not a JSON list",
        ),
        ("input shape", meta("input_rows", "5"), "input shape 5x4"),
        (
            "newer format",
            meta("format_version", "9"),
            "newer than this gpu-mlp reads",
        ),
        (
            "normalisation",
            meta("pixel_normalisation", "(x-0.13)/0.31"),
            "only runs 'x/255'",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir
            .path()
            .join(format!("{}.safetensors", name.replace(' ', "-")));
        fs::write(&path, &bytes).unwrap();
        let err = checkpoint::load(&path)
            .err()
            .unwrap_or_else(|| panic!("{name} loaded"));
        let msg = err.to_string();
        assert!(
            msg.contains(expected),
            "{name}: expected '{expected}' in '{msg}'"
        );
        assert!(
            msg.contains(path.to_str().unwrap()),
            "{name}: the message names the file: {msg}"
        );
        assert!(!msg.contains('\n'), "{name}: one line: {msg}");
    }
    let err = checkpoint::load(dir.path().join("absent.safetensors")).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err}");
    assert!(err.to_string().contains("No such file"), "{err}");
}

#[test]
fn a_pytorch_style_file_without_our_header_loads() {
    // What `safetensors.torch.save_file(model.state_dict(), ...)` writes for an MLP whose
    // layers are `self.layers = nn.ModuleList([...])`: tensors only, no gpu-mlp metadata.
    let ckpt = small_checkpoint();
    let bytes = with_header(&checkpoint::to_bytes(&ckpt).unwrap(), |h| {
        h.as_object_mut().unwrap().remove("__metadata__");
    });
    let back = checkpoint::from_bytes(&bytes, Path::new("torch.safetensors")).unwrap();
    assert_eq!(back.parameters, ckpt.parameters);
    assert_eq!(back.spec.hidden, vec![8]);
    assert_eq!((back.rows, back.cols), (4, 4));
    assert_eq!(back.class_names, ["0", "1", "2"]);
    assert_eq!(back.dataset, "unknown");
}

#[test]
fn unwritable_outputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope").join("m.safetensors");
    let err = checkpoint::save(&missing, &small_checkpoint()).unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err}");
    let err = checkpoint::save(dir.path(), &small_checkpoint())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot write") && err.contains("folder"),
        "{err}"
    );
    let record = EpochRecord {
        epoch: 1,
        loss: 0.5,
        accuracy: 0.8,
        validation: None,
        seconds: 1.0,
        samples_per_second: 1.0,
        learning_rate: None,
        best: false,
    };
    let err = plots::training_curves(&dir.path().join("nope").join("c.png"), &[record], "t")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot write") && err.contains("nope"),
        "{err}"
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing left behind"
    );
}

#[test]
fn non_image_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.png");
    fs::write(&path, "these are words, not pixels").unwrap();
    let err = preprocess::open(&path).unwrap_err().to_string();
    assert!(
        err.contains("notes.png") && err.contains("not a readable PNG, JPEG or BMP image"),
        "{err}"
    );
    let err = preprocess::open(dir.path().join("absent.png"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("cannot read"), "{err}");
}

/// Run in a child process by `a_failed_write_keeps_the_existing_checkpoint` under a file-size
/// limit; does nothing when run any other way.
#[test]
#[ignore = "a helper run by a_failed_write_keeps_the_existing_checkpoint"]
fn child_save_under_file_size_limit() {
    let Some(target) = std::env::var_os("GPU_MLP_CHILD_TARGET") else {
        return;
    };
    // About 3 MB: far over the limit the parent sets.
    let spec = ModelSpec::new(784, vec![1000], 10, 0.0).unwrap();
    let big = Checkpoint::grey_images(
        spec.clone(),
        vec![0.5; spec.parameter_count()],
        (0..10).map(|c| c.to_string()).collect(),
        "big",
        (28, 28),
    );
    let err = checkpoint::save(Path::new(&target), &big).unwrap_err();
    println!("CHILD-ERROR: {err}");
}

#[test]
fn a_failed_write_keeps_the_existing_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    checkpoint::save(&path, &small_checkpoint()).unwrap();
    let before = fs::read(&path).unwrap();
    // The child may write at most 64 KiB per file (ulimit -f counts KiB in bash); with SIGXFSZ
    // ignored its write fails with EFBIG partway, as on a full disk.
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 64; exec "$0" "$@""#)
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            support::test_name(concat!(
                module_path!(),
                "::child_save_under_file_size_limit"
            )),
            "--ignored",
            "--nocapture",
        ])
        .env("GPU_MLP_CHILD_TARGET", &path)
        .output()
        .unwrap();
    let stdout = succeeded(&out, "the child");
    assert!(
        stdout.contains("CHILD-ERROR: cannot write") && stdout.contains("model.safetensors"),
        "the save must fail with a clear error: {stdout}"
    );
    assert_eq!(
        fs::read(&path).unwrap(),
        before,
        "the old checkpoint is intact"
    );
    assert!(checkpoint::load(&path).is_ok());
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["model.safetensors"], "no temporary file left behind");
}
