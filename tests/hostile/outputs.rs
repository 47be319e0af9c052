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
