//! The command line as a user meets it: help with examples, and clear one-line errors for bad
//! flag values (exit status ≠ 0, no panic, no backtrace).

use std::process::{Command, Output};

fn gpu_mlp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the gpu-mlp binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn train_help_shows_the_tutorial_networks() {
    // The helpers of tests/support find the binary from the test's own path; it is this one.
    let canonical = |p: &std::path::Path| std::fs::canonicalize(p).expect("the binary exists");
    assert_eq!(
        canonical(support::binary()),
        canonical(env!("CARGO_BIN_EXE_gpu-mlp").as_ref())
    );
    let out = gpu_mlp(&["train", "--help"]);
    assert!(out.status.success());
    let help = text(&out);
    for needle in [
        "--hidden 50,50",
        "--hidden 128,128,128",
        "--backend",
        "--validation-split",
        "--metrics-out",
    ] {
        assert!(help.contains(needle), "help lacks {needle}:\n{help}");
    }
}

#[test]
fn invalid_flag_values_get_clear_errors() {
    for (args, expect) in [
        (vec!["train", "--hidden", "0"], "at least 1 unit"),
        (vec!["train", "--hidden", "128,x"], "not a layer width"),
        (vec!["train", "--dropout", "1.5"], "[0, 1)"),
        (vec!["train", "--batch-size", "0"], "--batch-size"),
        (vec!["train", "--epochs", "0"], "--epochs"),
        (vec!["train", "--lr", "-1"], "positive"),
        (vec!["train", "--validation-split", "1"], "[0, 1)"),
        (vec!["train", "--dataset", "cifar"], "mnist"),
    ] {
        let out = gpu_mlp(&args);
        let msg = text(&out);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            msg.contains(expect),
            "{args:?}: expected '{expect}' in:\n{msg}"
        );
        assert!(!msg.contains("panicked"), "{args:?} panicked:\n{msg}");
    }
}

/// The library names settings ("training samples must be…"); `gpu-mlp` installs its flag table
/// first, so every message a user reads names the flag, byte for byte as before.
#[test]
fn library_errors_name_the_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("small.csv");
    let mut rows = String::from("a,b,label\n");
    for i in 0..40 {
        rows.push_str(&format!("{},{},{}\n", i % 7, i % 3, i % 2));
    }
    std::fs::write(&csv, rows).unwrap();
    let csv = csv.to_str().unwrap();
    let saved = tmp.path().join("run.safetensors");
    let saved = saved.to_str().unwrap();
    let train = |more: &[&str]| {
        let mut args = vec!["train", "--offline", "--data", csv, "--backend", "cpu"];
        args.extend_from_slice(more);
        gpu_mlp(&args)
    };
    let error_line = |out: &Output| {
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "succeeded: {err}");
        err.lines()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or_else(|| panic!("no error line in: {err}"))
            .replace(csv, "CSV")
    };
    let cases: [(&[&str], &str); 5] = [
        (
            &["--train-samples", "100"],
            "--train-samples must be between 1 and the 32 training samples; got 100",
        ),
        (
            &["--label-column", "7"],
            "CSV: --label-column 7 is past the last column: rows have 3 (indices 0..=2)",
        ),
        (
            &["--test-split", "0.001"],
            "--test-split 0.001 holds out no test samples: each class gives round(0.001 × its \
             size), keeping one for training, and the largest of the 2 classes has 20 samples; \
             use --test-split 0.03 or more, or pass --test-data PATH",
        ),
        (
            &["--validation-split", "0.999"],
            "--validation-split 0.999 leaves no training samples out of 32",
        ),
        (
            &["--early-stopping", "2", "--monitor", "xyz"],
            "invalid value 'xyz' for '--monitor <METRIC>': --monitor 'xyz': use val_loss, \
             val_accuracy, loss or accuracy",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(error_line(&train(args)), want, "{args:?}");
    }
    let first = train(&["--epochs", "1", "--save", saved]);
    assert!(first.status.success(), "{}", text(&first));
    assert_eq!(
        error_line(&train(&[
            "--epochs",
            "2",
            "--resume",
            saved,
            "--batch-size",
            "7"
        ])),
        "--batch-size 7 would change the results of the run --resume goes on with (it has 32); \
         leave the flag out"
    );
}
