//! `gpu-mlp train --backend vulkan` through the command line, on the whole MNIST training set
//! (uploaded once, 44 MiB of pixels: larger than a device's default limits would allow), with
//! most of it held out for validation so the run stays short on a software adapter.

/// Runs `train` on `backend` and returns what it showed, asserting success.
fn train(backend: &str) -> String {
    let args = [
        &["train", "--backend", backend, "--data", support::MNIST_DIR][..],
        &["--epochs", "1", "--hidden", "32", "--batch-size", "32"],
        &["--validation-split", "0.9", "--steps-per-submit", "16"],
    ]
    .concat();
    support::gpu::gpu_mlp(&args, &[])
        .succeeded("train")
        .to_string()
}

fn test_accuracy(stdout: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("test loss: "))
        .unwrap_or_else(|| panic!("no test line in {stdout}"));
    line.rsplit(": ").next().unwrap().parse().unwrap()
}

#[test]
fn train_on_vulkan_uploads_the_whole_data_set_and_agrees_with_the_cpu_engine() {
    if support::gpu::lab().is_none() {
        return; // no adapter: counted as skipped (a failure under CI=true)
    }
    let gpu = train("vulkan");
    assert!(gpu.lines().next().unwrap_or("").contains("vulkan"), "{gpu}");
    let epoch = gpu
        .lines()
        .find(|l| l.starts_with("Epoch 1/1 - "))
        .unwrap_or_else(|| panic!("no epoch line in {gpu}"));
    assert!(epoch.contains(" - val_accuracy: "), "{epoch}");
    let cpu = train("cpu");
    let (g, c) = (test_accuracy(&gpu), test_accuracy(&cpu));
    assert!(g > 0.85, "vulkan test accuracy {g}");
    assert!((g - c).abs() <= 0.003, "vulkan {g} vs cpu {c}");
}
