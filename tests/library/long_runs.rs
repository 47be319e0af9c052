//! Runs left alone: learning-rate schedules and warm-up (per-step rates against their formulas,
//! the rate in force in the history), early stopping and AdamW on the CPU engine and real MNIST,
//! and `gpu-mlp summary`.

use gpu_mlp::data::Dataset;
use gpu_mlp::engine::cpu::CpuEngine;
use gpu_mlp::engine::StepPlan;
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::training::early_stopping::{EarlyStopping, Monitor};
use gpu_mlp::training::{self, EpochPlanner, Silent, TrainConfig, TrainReport};
use gpu_mlp::{BackendChoice, Trainer};

/// Every step of `epochs` epochs of `config` over `rows` rows.
fn planned_steps(config: &TrainConfig, rows: usize) -> Vec<StepPlan> {
    let mut planner = EpochPlanner::new(config.seed, rows, config.batch_size, config.optimizer)
        .with_schedule(config.schedule(rows));
    (0..config.epochs)
        .flat_map(|_| planner.next_epoch().steps)
        .collect()
}

#[test]
fn scheduled_step_sizes_follow_their_formulas() {
    // 37 rows in batches of 8: 5 steps an epoch (the last one short), 15 in 3 epochs.
    let rows = 37;
    let adam = TrainConfig {
        epochs: 3,
        batch_size: 8,
        optimizer: Optimizer::adam(2e-3),
        lr_schedule: "step:4:0.5".parse().unwrap(),
        warmup: 3,
        ..TrainConfig::default()
    };
    let steps = planned_steps(&adam, rows);
    assert_eq!(steps.len(), 15);
    for step in &steps {
        let t = step.t as f64;
        let factor = if t <= 3.0 {
            t / 3.0
        } else {
            0.5f64.powf(((t - 4.0) / 4.0).floor())
        };
        let (beta1, beta2) = (0.9f32 as f64, 0.999f32 as f64);
        let correction =
            (1.0 - beta2.powi(step.t as i32)).sqrt() / (1.0 - beta1.powi(step.t as i32));
        let expected = (2e-3f32 as f64 * correction * factor) as f32;
        assert_eq!(step.step_size, expected, "Adam step {}", step.t);
        assert_eq!(step.decay, 0.0, "no weight decay: exactly none");
    }
    let adamw = TrainConfig {
        optimizer: Optimizer::adamw(2e-3, 0.25),
        ..adam.clone()
    };
    for (step, plain) in planned_steps(&adamw, rows).iter().zip(&steps) {
        let t = step.t as f64;
        let factor = if t <= 3.0 {
            t / 3.0
        } else {
            0.5f64.powf(((t - 4.0) / 4.0).floor())
        };
        // AdamW decays by the scheduled learning rate, without Adam's bias correction.
        let expected = (2e-3f32 as f64 * factor * 0.25) as f32;
        assert_eq!(step.decay, expected, "AdamW step {}", step.t);
        assert_eq!(step.step_size, plain.step_size);
    }

    let sgd = TrainConfig {
        optimizer: Optimizer::Sgd { lr: 0.1 },
        lr_schedule: "cosine".parse().unwrap(),
        warmup: 5,
        ..adam
    };
    for step in planned_steps(&sgd, rows) {
        let t = step.t as f64;
        let factor = if t <= 5.0 {
            t / 5.0
        } else {
            // Cosine over the 10 steps after the warm-up, from 1 at step 6 towards 0.
            (1.0 + (std::f64::consts::PI * (t - 6.0) / 10.0).cos()) / 2.0
        };
        let expected = (0.1f32 as f64 * factor) as f32;
        assert_eq!(step.step_size, expected, "SGD step {}", step.t);
    }
}

#[test]
fn a_constant_schedule_plans_the_unscheduled_bits() {
    let config = TrainConfig {
        epochs: 2,
        batch_size: 16,
        ..TrainConfig::default()
    };
    for step in planned_steps(&config, 100) {
        assert_eq!(
            step.step_size.to_bits(),
            config.optimizer.step_size(step.t as u64).to_bits()
        );
    }
}

fn train_cpu(config: &TrainConfig, data: &Dataset, hidden: usize) -> TrainReport {
    let spec =
        gpu_mlp::model::ModelSpec::new(data.features(), vec![hidden], data.classes(), 0.0).unwrap();
    Trainer::new(spec)
        .config(config.clone())
        .backend(BackendChoice::Cpu)
        .fit(data, &mut Silent)
        .unwrap()
}

#[test]
fn the_history_names_the_rate_in_force_only_when_it_varies() {
    let data = support::small_mnist(400, 100);
    let constant = TrainConfig {
        epochs: 2,
        batch_size: 50,
        ..TrainConfig::default()
    };
    let report = train_cpu(&constant, &data, 16);
    assert!(report.history.iter().all(|r| r.learning_rate.is_none()));

    let decaying = TrainConfig {
        lr_schedule: "exponential:0.5".parse().unwrap(),
        ..constant.clone()
    };
    let report = train_cpu(&decaying, &data, 16);
    // 8 steps an epoch; the rate at an epoch's last step t is 1e-3 · 0.5^((t - 1) / 8).
    for (record, t) in report.history.iter().zip([8.0, 16.0]) {
        let expected = 1e-3f32 as f64 * 0.5f64.powf((t - 1.0) / 8.0);
        assert_eq!(
            record.learning_rate,
            Some(expected),
            "epoch {}",
            record.epoch
        );
    }
    let plain = train_cpu(&constant, &data, 16);
    assert!(
        plain.parameters != report.parameters,
        "the schedule changes the training"
    );
}

/// The epoch after which `patience` epochs in a row have not lowered `values`' running minimum.
fn expected_stop(values: &[f64], patience: usize) -> Option<usize> {
    let mut best = f64::INFINITY;
    let mut wait = 0;
    for (i, &v) in values.iter().enumerate() {
        if v < best {
            best = v;
            wait = 0;
        } else {
            wait += 1;
            if wait == patience {
                return Some(i + 1);
            }
        }
    }
    None
}

#[test]
fn early_stopping_fires_at_the_right_epoch_and_restores_the_best_parameters() {
    // A high learning rate on 160 training rows overfits within a few epochs: the validation
    // loss turns up and patience must run out long before epoch 40.
    let data = support::small_mnist(200, 100);
    let config = TrainConfig {
        epochs: 40,
        batch_size: 16,
        validation_split: 0.2,
        optimizer: Optimizer::adam(1e-2),
        early_stopping: Some(EarlyStopping {
            patience: 2,
            monitor: Monitor::ValLoss,
            min_delta: 0.0,
            restore_best: true,
        }),
        ..TrainConfig::default()
    };
    let report = train_cpu(&config, &data, 32);
    let val_losses: Vec<f64> = report
        .history
        .iter()
        .map(|r| r.validation.unwrap().0)
        .collect();
    let stop = expected_stop(&val_losses, 2).expect("the validation loss stops improving");
    assert_eq!(
        report.history.len(),
        stop,
        "trained no further than the stop"
    );
    let stopping = report.stopping.clone().expect("a stopping report");
    assert_eq!(stopping.stopped_after, Some(stop));
    let best_epoch = (0..stop)
        .min_by(|&a, &b| val_losses[a].total_cmp(&val_losses[b]))
        .unwrap()
        + 1;
    assert_eq!(stopping.best.map(|b| b.0), Some(best_epoch));
    assert!(stopping.restored && best_epoch < stop);
    let marked: Vec<usize> = report
        .history
        .iter()
        .filter(|r| r.best)
        .map(|r| r.epoch)
        .collect();
    assert_eq!(marked.last(), Some(&best_epoch), "the best epoch is marked");

    // The same run cut at the best epoch ends with the very parameters that were restored.
    let to_best = TrainConfig {
        epochs: best_epoch,
        early_stopping: None,
        ..config.clone()
    };
    let reference = train_cpu(&to_best, &data, 32);
    assert!(
        reference.parameters == report.parameters,
        "restored parameters differ from epoch {best_epoch}'s"
    );
    assert_eq!(
        reference.test, report.test,
        "tested with the best parameters"
    );
}

#[test]
fn early_stopping_shows_in_the_metrics_file_and_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("m.jsonl");
    let summary = dir.path().join("s.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .args(["train", "--backend", "cpu", "--data", support::MNIST_DIR])
        .args([
            "--train-samples",
            "300",
            "--validation-split",
            "0.3",
            "--lr",
            "0.02",
        ])
        .args([
            "--epochs",
            "40",
            "--early-stopping",
            "1",
            "--monitor",
            "val_accuracy",
        ])
        .arg("--metrics-out")
        .arg(&metrics)
        .arg("--summary-json")
        .arg(&summary)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" - best so far\n"), "{stdout}");
    assert!(
        stdout.contains("early stopping: val_accuracy did not improve"),
        "{stdout}"
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stop = &lines[lines.len() - 2];
    assert_eq!(stop["stop"], "early_stopping", "{stop}");
    assert_eq!(stop["monitor"], "val_accuracy");
    assert_eq!(stop["epochs_run"], (lines.len() - 2) as u64);
    assert!(lines.len() - 2 < 40, "stopped early");
    assert!(lines[lines.len() - 1].get("test_loss").is_some());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(summary["outcome"], "stopped_early");

    // A validation metric without validation rows is refused before training.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .args(["train", "--backend", "cpu", "--data", support::MNIST_DIR])
        .args(["--early-stopping", "2", "--monitor", "val_loss"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--monitor val_loss needs a --validation-split"),
        "{stderr}"
    );
}

#[test]
fn adamw_takes_lr_times_w_of_each_parameter_before_the_adam_step() {
    // One step on one picture: AdamW and Adam see the same gradient at the same parameters, so
    // AdamW's result is Adam's less lr·W·w0 of every starting parameter w0. The weights of blank
    // pixels get a zero gradient and Adam leaves them be: AdamW gives exactly w0 - w0·(lr·W).
    let (lr, w) = (0.01f32, 0.2f32);
    let full = support::mnist();
    let data = full
        .clone()
        .with_train(support::take(full.train(), 1))
        .expect("a train split")
        .with_test(support::take(full.test(), 1))
        .expect("a test split");
    let spec = gpu_mlp::model::ModelSpec::new(784, vec![], 10, 0.0).unwrap();
    let init = spec.init_parameters(3);
    let one_step = |optimizer: Optimizer| {
        let config = TrainConfig {
            epochs: 1,
            batch_size: 1,
            optimizer,
            ..TrainConfig::default()
        };
        let mut engine = CpuEngine::new(&spec, &init, optimizer, 1).unwrap();
        training::run(&config, &data, &mut engine, &mut Silent)
            .unwrap()
            .parameters
    };
    let adam = one_step(Optimizer::adam(lr));
    let adamw = one_step(Optimizer::adamw(lr, w));
    let decay = (lr as f64 * w as f64) as f32;
    let blank: Vec<usize> = (0..784)
        .filter(|&p| data.train().inputs().pixels().expect("pixels")[p] == 0)
        .collect();
    assert!(blank.len() > 300, "an MNIST digit is mostly blank");
    for &pixel in &blank {
        for class in 0..10 {
            let i = pixel * 10 + class;
            assert_eq!(adam[i], init[i], "Adam moves no weight of a blank pixel");
            assert_eq!(adamw[i], init[i] - init[i] * decay, "weight {i}");
        }
    }
    for i in 0..init.len() {
        let by_hand = adam[i] as f64 - init[i] as f64 * decay as f64;
        assert!(
            (adamw[i] as f64 - by_hand).abs() <= 1e-7,
            "parameter {i}: {} vs {by_hand}",
            adamw[i]
        );
    }
}

fn summary(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .arg("summary")
        .args(args)
        .output()
        .unwrap();
    support::succeeded(&out, "summary")
}

#[test]
fn summary_counts_the_tutorial_networks_as_keras_does() {
    for (args, total, dispatches) in [
        (&[][..], "101,770", 8),
        (&["--hidden", "50,50"][..], "42,310", 11),
        (
            &["--hidden", "128,128,128", "--dropout", "0.2"][..],
            "134,794",
            14,
        ),
    ] {
        let out = summary(args);
        assert!(out.contains(&format!("\nTotal params: {total} (")), "{out}");
        assert!(
            out.contains(&format!("\nTrainable params: {total} (")),
            "{out}"
        );
        assert!(
            out.contains(&format!("on the GPU {dispatches} dispatches")),
            "{out}"
        );
    }
    let quickstart = summary(&[]);
    assert!(quickstart.contains(" dropout (Dropout)  "), "{quickstart}");
    assert!(quickstart.contains("FLOPs per sample: 203,264 for inference, 409,088 for training"));
    // 101,770 parameters × 4 bytes × 4 buffers, plus 922 activations × 16 bytes per row:
    // 2,100,384 bytes at batch 32 (CPU), 31,840,416 at the GPU's 2,048 evaluation rows;
    // 784 bytes per sample of u8 data.
    assert!(
        quickstart.contains(
            "Memory at batch 32: CPU engine 2.00 MB; GPU engine 30.37 MB on the device \
             (activations for evaluation batches of 2048); plus the data, resident as u8: \
             7.48 MB per 10,000 samples"
        ),
        "{quickstart}"
    );

    // A saved model's own layers.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let spec = gpu_mlp::model::ModelSpec::new(784, vec![50, 50], 10, 0.0).unwrap();
    let data = support::small_mnist(10, 10);
    let ckpt =
        gpu_mlp::checkpoint::Checkpoint::for_dataset(spec.clone(), spec.init_parameters(1), &data);
    gpu_mlp::checkpoint::save(&path, &ckpt).unwrap();
    let saved = summary(&["--model", path.to_str().unwrap()]);
    assert!(saved.starts_with("Model: \"784-50-50-10\""), "{saved}");
    assert!(saved.contains("\nTotal params: 42,310 ("), "{saved}");
}

#[test]
fn parameters_and_moments_carried_to_a_fresh_cpu_engine_continue_bit_for_bit() {
    let data = support::small_mnist(300, 10);
    let spec = gpu_mlp::model::ModelSpec::new(784, vec![32], 10, 0.2).unwrap();
    let opt = Optimizer::adam(2e-3);
    let init = spec.init_parameters(4);
    let mut first = CpuEngine::new(&spec, &init, opt, 25).unwrap();
    let mut second = CpuEngine::new(&spec, &init, opt, 25).unwrap();
    support::assert_moments_carry_over(&mut first, &mut second, &spec, opt, data.train());
}

/// The first Ctrl-C ends the run after its epoch: the run as that epoch left it is saved, the
/// way on (`--resume`) is printed, and the exit status is 130 (128 + SIGINT).
#[cfg(unix)]
#[test]
fn ctrl_c_saves_the_model_after_its_epoch_and_exits_with_130() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let mut train = std::process::Command::new(env!("CARGO_BIN_EXE_gpu-mlp"));
    train
        .args(["train", "--backend", "cpu", "--data", support::MNIST_DIR])
        .args([
            "--train-samples",
            "1000",
            "--hidden",
            "16",
            "--epochs",
            "100000",
        ])
        .arg("--save")
        .arg(&model)
        .stderr(std::process::Stdio::null());
    let (status, rest) = support::signal_after_first_epoch(&mut train, "INT");
    assert_eq!(status.code(), Some(130), "{rest:?}");
    let said = rest.join("\n");
    assert!(said.contains("interrupted: the run after epoch"), "{said}");
    let way_on = format!("`gpu-mlp train --resume {}`", model.display());
    assert!(said.contains(&way_on), "{said}");
    let saved = gpu_mlp::checkpoint::load(&model).expect("the interrupted run's model loads");
    let epochs: usize = saved.metadata["epochs_completed"].parse().unwrap();
    assert!((1..100000).contains(&epochs), "{epochs}");
    assert_eq!(saved.spec.hidden, vec![16]);
    let state = saved.resume.expect("the interrupted run can be resumed");
    assert_eq!(state.epochs_completed(), epochs);
    assert!(state.moments.is_some(), "with Adam's moments");
}
