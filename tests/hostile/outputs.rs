//! No output can eat an input or another output: each clash is refused before anything is
//! opened for writing, naming both flags, however the path is spelled.

use crate::corpus::{clean_error, quick, run, tiny_csv};
use std::path::Path;

/// Runs `train` with `flags` and checks it is refused naming both `flags_named`, with every
/// file of `dir` as it was.
fn refused(dir: &Path, data: &Path, flags: &[&str], flags_named: [&str; 2]) {
    let before = snapshot(dir);
    let data = data.to_str().unwrap();
    let out = run(&quick(data, &[&["--epochs", "1"], flags].concat()), &[]);
    let line = clean_error(&out, &format!("{flags:?}"));
    for flag in flags_named {
        assert!(line.contains(flag), "{flags:?}: {line}");
    }
    assert_eq!(snapshot(dir), before, "{flags:?} changed a file");
}

/// Every file of `dir` (not following links) with its bytes.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.symlink_metadata().unwrap().is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn an_output_that_is_an_input_is_refused_however_it_is_spelled() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let root = dir.path();
    let data = tiny_csv(root, "t.csv");
    let test = tiny_csv(root, "test.csv");
    std::fs::create_dir(root.join("sub")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&data, root.join("link.csv")).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let dotted = s(&root.join("sub").join("..").join("t.csv"));
    let (data_s, test_s) = (s(&data), s(&test));
    for flag in ["--save", "--plot", "--summary-json", "--metrics-out"] {
        refused(root, &data, &[flag, &data_s], [flag, "--data"]);
        refused(root, &data, &[flag, &dotted], [flag, "--data"]);
        refused(
            root,
            &data,
            &["--test-data", &test_s, flag, &test_s],
            [flag, "--test-data"],
        );
    }
    #[cfg(unix)]
    refused(
        root,
        &data,
        &["--metrics-out", &s(&root.join("link.csv"))],
        ["--metrics-out", "--data"],
    );
}

#[test]
fn two_outputs_to_one_file_are_refused() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let root = dir.path();
    let data = tiny_csv(root, "t.csv");
    let out = root.join("out").to_str().unwrap().to_string();
    let dotted = root.join("sub/../out").to_str().unwrap().to_string();
    std::fs::create_dir(root.join("sub")).unwrap();
    refused(
        root,
        &data,
        &["--save", &out, "--plot", &out],
        ["--save", "--plot"],
    );
    refused(
        root,
        &data,
        &["--metrics-out", &out, "--summary-json", &dotted],
        ["--metrics-out", "--summary-json"],
    );
    assert!(!root.join("out").exists(), "a refused run wrote its output");
}

/// Standard output that cannot take a line (`> /dev/full`) ends each command with one error
/// line and a non-zero status, never a panic.
#[cfg(target_os = "linux")]
#[test]
fn a_full_standard_output_is_one_error_line() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = tiny_csv(dir.path(), "t.csv");
    let data = data.to_str().unwrap();
    let model = dir.path().join("m.safetensors");
    let model = model.to_str().unwrap();
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let commands: Vec<Vec<&str>> = vec![
        vec!["summary", "--hidden", "8"],
        quick(data, &["--epochs", "1", "--save", model]),
        quick(data, &["--epochs", "1", "--summary-json", "-"]),
    ];
    for args in commands {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
            .args(&args)
            .stdout(full())
            .output()
            .unwrap();
        let line = clean_error(&out, &format!("{args:?} > /dev/full"));
        assert!(line.contains("standard output"), "{args:?}: {line}");
    }
}

/// An output that cannot be written (a path ending in `/`, a folder that does not exist, a file
/// the user write-protected) is refused before training, and the protected file is kept: the
/// atomic save renames a new file over the old one, which the file's own mode does not stop.
#[cfg(unix)]
#[test]
fn an_output_that_cannot_be_written_is_refused_before_training() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let root = dir.path();
    let data = tiny_csv(root, "t.csv");
    let data = data.to_str().unwrap();
    let protected = root.join("kept.bin");
    std::fs::write(&protected, b"the user's file").unwrap();
    std::fs::set_permissions(&protected, std::fs::Permissions::from_mode(0o444)).unwrap();
    let s = |p: std::path::PathBuf| p.to_str().unwrap().to_string();
    let cases = [
        (format!("{}/", s(root.join("newdir"))), "names a folder"),
        (s(root.join("missing").join("x.bin")), "does not exist"),
        (s(protected.clone()), "write-protected"),
    ];
    for flag in ["--save", "--plot", "--metrics-out", "--summary-json"] {
        for (path, why) in &cases {
            let out = run(&quick(data, &["--epochs", "1", flag, path]), &[]);
            let what = format!("{flag} {path}");
            let line = clean_error(&out, &what);
            assert!(
                line.contains(path.as_str()) && line.contains(why),
                "{what}: {line}"
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                !stdout.contains("Epoch 1/"),
                "{what}: trained first: {stdout}"
            );
        }
    }
    assert_eq!(std::fs::read(&protected).unwrap(), b"the user's file");
    assert!(!root.join("newdir").exists() && !root.join("missing").exists());
    // A resumed run saves back into its file by default: a protected one is refused at once.
    let ckpt = s(root.join("run.safetensors"));
    let out = run(&quick(data, &["--epochs", "1", "--save", &ckpt]), &[]);
    support::succeeded(&out, "the first run");
    std::fs::set_permissions(&ckpt, std::fs::Permissions::from_mode(0o444)).unwrap();
    let before = std::fs::read(&ckpt).unwrap();
    let out = run(&["train", "--resume", &ckpt, "--epochs", "2"], &[]);
    let line = clean_error(&out, "--resume of a protected file");
    assert!(line.contains("write-protected"), "{line}");
    assert_eq!(std::fs::read(&ckpt).unwrap(), before);
}
