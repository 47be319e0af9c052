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
