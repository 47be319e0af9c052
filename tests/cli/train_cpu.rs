//! End to end on real MNIST with the CPU engine: accuracy, determinism, metrics file, and the
//! command line's epoch lines and data errors.

use gpu_mlp::data::{self, Dataset, KnownDataset, Samples};
use gpu_mlp::engine::cpu::CpuEngine;
use gpu_mlp::engine::Engine;
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::model::ModelSpec;
use gpu_mlp::training::{self, Silent, TrainConfig, TrainReport};
use gpu_mlp::{BackendChoice, Trainer};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use support::{assert_contains_all, succeeded, MNIST_DIR};

fn mnist() -> &'static Dataset {
    static DATA: OnceLock<Dataset> = OnceLock::new();
    DATA.get_or_init(|| data::load_dir(Path::new(MNIST_DIR), Some(KnownDataset::Mnist)).unwrap())
}

/// MNIST cut to its first `train` training and `test` test samples.
fn mnist_head(train: usize, test: usize) -> Dataset {
    let head = |s: &Samples, n: usize| s.first(n);
    let full = mnist();
    full.clone()
        .with_train(head(full.train(), train))
        .expect("a train split")
        .with_test(head(full.test(), test))
        .expect("a test split")
}

fn train(data: &Dataset, hidden: Vec<usize>, dropout: f32, config: &TrainConfig) -> TrainReport {
    let spec = ModelSpec::new(data.features(), hidden, data.classes(), dropout).unwrap();
    Trainer::new(spec)
        .config(config.clone())
        .backend(BackendChoice::Cpu)
        .fit(data, &mut Silent)
        .unwrap()
}

fn config(epochs: usize, batch_size: usize, validation_split: f64, seed: u64) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size,
        validation_split,
        seed,
        optimizer: Optimizer::adam(1e-3),
        ..TrainConfig::default()
    }
}

#[test]
fn one_epoch_of_the_quickstart_net_passes_95_percent() {
    let report = train(mnist(), vec![128], 0.2, &config(1, 32, 0.0, 42));
    let acc = report.test.accuracy();
    assert!(acc >= 0.95, "test accuracy {acc}");
    assert_eq!(report.test.count, 10_000);
    assert_eq!(report.history.len(), 1);
    assert!(report.history[0].validation.is_none());
}

#[test]
fn same_seed_gives_identical_bits_and_another_seed_does_not() {
    let small = mnist_head(6000, 1000);
    let cfg = config(2, 50, 0.1, 7);
    let a = train(&small, vec![32, 16], 0.2, &cfg);
    let b = train(&small, vec![32, 16], 0.2, &cfg);
    let bits = |r: &TrainReport| -> Vec<u64> {
        r.history
            .iter()
            .flat_map(|e| [e.loss.to_bits(), e.validation.unwrap().0.to_bits()])
            .chain([r.test.loss_sum.to_bits()])
            .collect()
    };
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(a.parameters, b.parameters);
    let c = train(&small, vec![32, 16], 0.2, &config(2, 50, 0.1, 8));
    assert_ne!(bits(&a), bits(&c));
}

#[test]
fn the_last_short_batch_is_trained_on() {
    // 1000 rows in batches of 300: steps of 300, 300, 300 and 100.
    let small = mnist_head(1000, 100);
    let spec = ModelSpec::new(784, vec![8], 10, 0.0).unwrap();
    let mut planner = training::EpochPlanner::new(1, 1000, 300, Optimizer::adam(1e-3));
    let plan = planner.next_epoch();
    let rows: Vec<u32> = plan.steps.iter().map(|s| s.len).collect();
    assert_eq!(rows, [300, 300, 300, 100]);
    // The same epoch without its short step: the first three steps alone.
    let three = gpu_mlp::engine::EpochPlan {
        order: plan.order.clone(),
        steps: plan.steps[..3].to_vec(),
    };
    let train = |plan: &gpu_mlp::engine::EpochPlan| {
        let init = spec.init_parameters(1);
        let mut engine = CpuEngine::new(&spec, &init, Optimizer::adam(1e-3), 300).unwrap();
        engine
            .load_split(gpu_mlp::engine::Split::Train, small.train())
            .unwrap();
        let mut calls = 0;
        let metrics = engine
            .train_epoch(plan, &mut |_, new| calls += new.len())
            .unwrap();
        assert_eq!((metrics.len(), calls), (plan.steps.len(), plan.steps.len()));
        (metrics, engine.parameters().unwrap())
    };
    let (four_steps, after_four) = train(&plan);
    let (three_steps, after_three) = train(&three);
    // The first three steps are the same either way; the fourth, on 100 rows, measured its
    // batch and moved every layer's parameters.
    assert_eq!(four_steps[..3], three_steps[..]);
    let short = four_steps[3];
    assert!(short.loss_sum > 0.0 && short.loss_sum.is_finite() && short.correct <= 100);
    for (i, layer) in spec.layers().iter().enumerate() {
        let weights_moved = layer.weights(&after_three) != layer.weights(&after_four);
        let bias_moved = layer.bias(&after_three) != layer.bias(&after_four);
        assert!(
            weights_moved,
            "the short step left layer {i}'s weights unchanged"
        );
        assert!(bias_moved, "the short step left layer {i}'s bias unchanged");
    }
}

#[test]
fn the_command_prints_keras_lines_and_writes_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("m.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .args([
            "train",
            "--backend",
            "cpu",
            "--data",
            MNIST_DIR,
            "--epochs",
            "1",
        ])
        .args([
            "--hidden",
            "16",
            "--batch-size",
            "256",
            "--validation-split",
            "0.1",
        ])
        .arg("--metrics-out")
        .arg(&metrics)
        .output()
        .unwrap();
    let stdout = succeeded(&out, "train");
    let epoch = stdout
        .lines()
        .find(|l| l.starts_with("Epoch 1/1 - "))
        .expect(&stdout);
    let keys = [
        " - loss: ",
        " - accuracy: ",
        " - val_loss: ",
        " - val_accuracy: ",
    ];
    assert_contains_all(epoch, &keys);
    assert!(stdout
        .lines()
        .any(|l| l.starts_with("test loss: ") && l.contains(" - test accuracy: ")));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let keys: Vec<&str> = lines[0]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    let mut expected = vec![
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "seconds",
        "samples_per_second",
    ];
    expected.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, expected);
    assert!(lines[1]["test_accuracy"].as_f64().unwrap() > 0.8);
    assert!(lines[1]["test_loss"].as_f64().is_some());
}

/// Runs `command`, which must fail with one line on stderr, and returns that line.
fn fails_with_one_line(command: &mut Command) -> String {
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
fn missing_data_lists_the_places_looked_at() {
    let home = tempfile::tempdir().unwrap();
    let stderr = fails_with_one_line(
        Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
            .args(["train", "--dataset", "mnist", "--offline"])
            .current_dir(home.path())
            .env("HOME", home.path())
            .env("XDG_CACHE_HOME", home.path().join("cache"))
            .env_remove("GPU_MLP_DATA"),
    );
    assert!(
        stderr.contains("data/mnist") && stderr.contains("gpu-mlp fetch mnist"),
        "{stderr}"
    );
}

#[test]
fn a_corrupt_file_gives_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        std::fs::copy(Path::new(MNIST_DIR).join(name), dir.path().join(name)).unwrap();
    }
    // Cut the test labels short: a truncated gzip stream.
    let labels = dir.path().join("t10k-labels-idx1-ubyte.gz");
    let bytes = std::fs::read(&labels).unwrap();
    std::fs::write(&labels, &bytes[..bytes.len() / 2]).unwrap();
    let stderr = fails_with_one_line(
        Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
            .args(["train", "--backend", "cpu", "--data"])
            .arg(dir.path()),
    );
    assert!(
        stderr.contains("t10k-labels-idx1-ubyte.gz") && !stderr.contains("panicked"),
        "{stderr}"
    );
}
