//! The GPU engine through the command line, where only the library was tested before:
//! `train --verify`, `--checkpoint-every` and `--init-from` on the adapter, `eval --backend
//! vulkan` against the CPU engine, and training stopping on a NaN loss. On MNIST (the shared
//! files); with `CI=true` a missing adapter or missing MNIST fails instead of skipping.

use gpu_mlp::engine::gpu::kernels::mutant::{self, Mutant};
use std::path::Path;
use support::gpu::{gpu_mlp, Run};

/// A scratch folder when the adapter and MNIST are there; `None` (skip) when not, unless
/// `CI=true`.
fn ready() -> Option<tempfile::TempDir> {
    support::gpu::lab()?; // None: counted as skipped (a failure under CI=true)
    let dir = support::gpu::mnist_dir();
    let present = dir.join("train-images-idx3-ubyte.gz").exists();
    if !present {
        support::gpu::skip(&format!("MNIST not found at {}", dir.display()));
    }
    present.then(|| tempfile::tempdir().expect("temp dir"))
}

/// `train` on the adapter: a 784-32-10 model on 2,000 MNIST rows, with `extra` flags.
fn train(extra: &[&str], env: &[(&str, &str)]) -> Run {
    let data = support::gpu::mnist_dir();
    let mut args = vec![
        "train",
        "--backend",
        "vulkan",
        "--data",
        data.to_str().expect("utf-8 path"),
        "--hidden",
        "32",
        "--train-samples",
        "2000",
        "--validation-split",
        "0.2",
    ];
    args.extend_from_slice(extra);
    gpu_mlp(&args, env)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The `loss: X` of the first epoch line.
fn first_epoch_loss(shown: &str) -> f64 {
    let line = shown
        .lines()
        .find(|l| l.starts_with("Epoch 1/"))
        .unwrap_or_else(|| panic!("no epoch line in {shown}"));
    line.split(" - loss: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no loss in {line}"))
}

/// The `test loss: X - test accuracy: Y` line.
fn test_line(shown: &str) -> (f64, f64) {
    let line = shown
        .lines()
        .find(|l| l.starts_with("test loss: "))
        .unwrap_or_else(|| panic!("no test line in {shown}"));
    let numbers: Vec<f64> = line
        .split(": ")
        .skip(1)
        .filter_map(|s| s.split(' ').next().and_then(|n| n.parse().ok()))
        .collect();
    assert_eq!(numbers.len(), 2, "{line}");
    (numbers[0], numbers[1])
}

/// `train --verify` checks the adapter before training: it passes, then trains; with a kernel
/// compiled wrong on purpose it refuses to train and saves nothing.
#[test]
fn train_verify_checks_the_adapter_first_and_refuses_a_wrong_kernel() {
    let Some(dir) = ready() else {
        return;
    };
    let model = dir.path().join("m.gmlp");
    let out = train(&["--epochs", "1", "--verify", "--save", path(&model)], &[]);
    let shown = out.succeeded("train --verify");
    let pass = shown.find("PASS: ").unwrap_or_else(|| panic!("{shown}"));
    let epoch = shown.find("Epoch 1/1").unwrap_or_else(|| panic!("{shown}"));
    assert!(pass < epoch, "verified after training:\n{shown}");
    assert!(
        shown.contains("lockstep: ") && shown.contains("SGD"),
        "{shown}"
    );
    assert!(model.exists());

    let broken = dir.path().join("broken.gmlp");
    let args = ["--epochs", "1", "--verify", "--save", path(&broken)];
    let out = train(&args, &[(mutant::ENV, Mutant::MatmulNoBias.name())]);
    let shown = &out.shown;
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("failed verification"), "{shown}");
    assert!(!shown.contains("Epoch 1/1"), "trained anyway:\n{shown}");
    assert!(!broken.exists(), "saved a model anyway");
}

/// Checkpoints every epoch on the adapter, `eval --backend vulkan` of the saved model agrees with
/// the CPU engine's and with what training printed, and `--init-from` continues from it.
#[test]
fn checkpoints_eval_and_init_from_on_the_adapter() {
    let Some(dir) = ready() else {
        return;
    };
    let model = dir.path().join("m.gmlp");
    let saved = path(&model);
    let out = train(
        &["--epochs", "2", "--checkpoint-every", "1", "--save", saved],
        &[],
    );
    let trained = out.succeeded("train");
    for epoch in [1, 2] {
        let line = format!("checkpoint: epoch {epoch} saved to");
        assert!(trained.contains(&line), "no '{line}' in:\n{trained}");
    }
    assert!(model.exists());
    let fresh_loss = first_epoch_loss(trained);
    let (train_loss, train_acc) = test_line(trained);

    let data = support::gpu::mnist_dir();
    let eval = |backend: &str| {
        let args = [
            "eval",
            "--model",
            saved,
            "--data",
            path(&data),
            "--backend",
            backend,
        ];
        let out = gpu_mlp(&args, &[]);
        let shown = out.succeeded("eval");
        assert!(shown.contains(&format!("engine: {backend}")), "{shown}");
        test_line(shown)
    };
    let (gpu_loss, gpu_acc) = eval("vulkan");
    let (cpu_loss, cpu_acc) = eval("cpu");
    assert_eq!(gpu_acc, cpu_acc, "test accuracy on vulkan vs cpu");
    assert!(
        (gpu_loss - cpu_loss).abs() <= 2e-4,
        "{gpu_loss} vs {cpu_loss}"
    );
    assert_eq!(gpu_acc, train_acc, "eval vs what training printed");
    assert!((gpu_loss - train_loss).abs() <= 2e-4);

    let next = dir.path().join("next.gmlp");
    let out = train(
        &["--epochs", "1", "--init-from", saved, "--save", path(&next)],
        &[],
    );
    let continued = first_epoch_loss(out.succeeded("train --init-from"));
    assert!(
        continued < 0.75 * fresh_loss,
        "--init-from started over: first epoch loss {continued} vs {fresh_loss} from scratch"
    );
    assert!(next.exists());
}

/// A learning rate that overflows the parameters makes the loss NaN on the adapter: training
/// stops with advice, fails, and saves nothing.
#[test]
fn a_nan_loss_stops_training_on_the_adapter() {
    let Some(dir) = ready() else {
        return;
    };
    let model = dir.path().join("m.gmlp");
    let args = ["--epochs", "2", "--optimizer", "sgd", "--lr", "1e30"];
    let out = train(&[&args[..], &["--save", path(&model)]].concat(), &[]);
    let shown = &out.shown;
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains("loss became NaN"), "{shown}");
    assert!(shown.contains("--lr"), "{shown}");
    assert!(!shown.contains("Epoch 2/2"), "kept training:\n{shown}");
    assert!(!model.exists(), "saved a diverged model");
}
