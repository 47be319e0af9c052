//! One rule for exit statuses 1 and 2 across commands: 2 for bad usage or settings (a flag's
//! value, a combination, a `--config` file's contents, a value the data rules out), 1 for a
//! failure while running (a file missing, unreadable or corrupt, a device error).

use crate::corpus::{clean_error, quick, run, tiny_csv};
use std::path::Path;

/// A CSV of `classes` classes with `each` rows apiece.
fn small_classes(dir: &Path, classes: usize, each: usize) -> String {
    let mut text = String::from("a,b,label\n");
    for i in 0..classes * each {
        text.push_str(&format!("{},{},c{}\n", i % 7, i % 5, i % classes));
    }
    let path = dir.join(format!("small{classes}x{each}.csv"));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// Runs `args` and checks its status and that its error line holds each of `needles`.
fn ends_with(args: &[&str], status: i32, needles: &[&str]) {
    let out = run(args, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(status), "{args:?}: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or("");
    for needle in needles {
        assert!(
            line.contains(needle),
            "{args:?}: {needle:?} missing: {stderr}"
        );
    }
}

#[test]
fn bad_settings_exit_2_and_failures_exit_1() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = tiny_csv(dir.path(), "t.csv");
    let data = data.to_str().unwrap();
    let corrupt = dir.path().join("corrupt.safetensors");
    std::fs::write(&corrupt, b"not a checkpoint at all").unwrap();
    let corrupt = corrupt.to_str().unwrap();
    let missing = dir.path().join("missing.csv");
    let missing = missing.to_str().unwrap();
    let small = small_classes(dir.path(), 30, 3);
    // Bad settings, found by the parser, by a combination, by the data.
    ends_with(&quick(data, &["--epochs", "-3"]), 2, &["--epochs"]);
    let sgd = ["--optimizer", "sgd", "--weight-decay", "0.1"];
    ends_with(&quick(data, &sgd), 2, &["--weight-decay"]);
    ends_with(
        &quick(data, &["--train-samples", "70000"]),
        2,
        &["--train-samples"],
    );
    ends_with(
        &quick(&small, &["--test-split", "0.1"]),
        2,
        &["--test-split"],
    );
    // A label column the file does not have, by name or past its last column.
    ends_with(
        &quick(data, &["--label-column", "nosuch"]),
        2,
        &["t.csv", "--label-column 'nosuch' names no column", "label"],
    );
    ends_with(
        &quick(data, &["--label-column", "9"]),
        2,
        &["t.csv", "--label-column 9 is past the last column"],
    );
    ends_with(&["summary", "--inputs", "0"], 2, &["--inputs"]);
    // Failures: a file missing, or not what it should be, whichever flag names it.
    ends_with(&quick(missing, &[]), 1, &[missing]);
    ends_with(&quick(data, &["--init-from", corrupt]), 1, &[corrupt]);
    ends_with(&quick(data, &["--resume", corrupt]), 1, &[corrupt]);
    ends_with(&["train", "--resume", missing], 1, &[missing]);
    ends_with(&["eval", "--model", corrupt, "--data", data], 1, &[corrupt]);
    ends_with(&["summary", "--model", corrupt], 1, &[corrupt]);
}

#[test]
fn a_test_split_of_many_small_classes_says_why_nothing_is_held_out() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    // 90 samples, yet 0.1 of each class of 3 rounds to none.
    let small = small_classes(dir.path(), 30, 3);
    let out = run(&quick(&small, &["--test-split", "0.1"]), &[]);
    let line = clean_error(&out, "30 classes of 3");
    for needle in [
        "30 classes has 3 samples",
        "--test-split 0.17 or more",
        "--test-data",
    ] {
        assert!(line.contains(needle), "{needle:?} missing: {line}");
    }
    // The advice works.
    let out = run(
        &quick(&small, &["--test-split", "0.17", "--epochs", "1"]),
        &[],
    );
    let stdout = support::succeeded(&out, "--test-split 0.17");
    assert!(stdout.contains("60 train, 30 test"), "{stdout}");
    // Classes of one sample each: no split can hold one out.
    let singles = small_classes(dir.path(), 20, 1);
    let out = run(&quick(&singles, &["--test-split", "0.5"]), &[]);
    let line = clean_error(&out, "20 classes of 1");
    assert!(
        line.contains("single sample") && line.contains("--test-data"),
        "{line}"
    );
}
