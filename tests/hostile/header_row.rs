//! A first row of column numbers (pandas writes `0,1,2,3,4` over unnamed columns) is a header,
//! not a sample whose label is a class of its own; a first row that is a sample stays one.

use crate::corpus::{quick, run};
use gpu_mlp::checkpoint;
use std::path::Path;

/// 60 rows of 4 features and a label (3 classes, `labels[i % 3]`) under the first row `first`.
fn table(dir: &Path, first: &str, labels: [&str; 3]) -> std::path::PathBuf {
    let mut text = format!("{first}\n");
    for i in 0..60u32 {
        let class = i % 3;
        let v = |k: u32| (i * 7 + k * 13 + class * 50) % 255;
        let label = labels[class as usize];
        text.push_str(&format!("{},{},{},{},{label}\n", v(1), v(2), v(3), v(4)));
    }
    let path = dir.join("pandas.csv");
    std::fs::write(&path, text).expect("write the table");
    path
}

/// Trains on `data` with `--label-column last`: the model's classes and the run's stderr.
fn classes_trained(dir: &Path, data: &Path) -> (Vec<String>, String) {
    let model = dir.join("m.safetensors");
    let more = ["--label-column", "last", "--epochs", "1"];
    let mut args = quick(data.to_str().unwrap(), &more);
    args.extend(["--save", model.to_str().unwrap()]);
    let out = run(&args, &[]);
    support::succeeded(&out, "training");
    let ckpt = checkpoint::load(&model).expect("the saved model");
    (
        ckpt.class_names,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_first_row_of_column_numbers_is_a_header() {
    for (first, labels) in [
        ("0,1,2,3,4", ["0", "1", "2"]),
        ("1,2,3,4,5", ["0", "1", "2"]),
        ("0,1,2,3,4", ["cat", "dog", "fish"]),
    ] {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let (classes, stderr) = classes_trained(dir.path(), &table(dir.path(), first, labels));
        assert_eq!(classes, labels, "first row {first}:\n{stderr}");
        assert!(
            stderr.contains("line 1") && stderr.contains("header"),
            "{first}: {stderr}"
        );
    }
}

#[test]
fn a_first_row_whose_label_recurs_is_a_sample() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    // Label 2 is a class of the other rows: `0,1,2` with label 2 is a sample like them.
    let (classes, stderr) =
        classes_trained(dir.path(), &table(dir.path(), "0,1,2,3,2", ["0", "1", "2"]));
    assert_eq!(classes, ["0", "1", "2"]);
    assert!(!stderr.contains("header"), "{stderr}");
}
