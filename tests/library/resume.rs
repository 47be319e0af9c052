//! Exact resume: a run killed at any moment and resumed from its last checkpoint ends with the
//! same bits (parameters, Adam's moments, metrics lines, test loss) as the same run never
//! interrupted, on the CPU engine and on Vulkan; and the checks `--resume` makes.

use gpu_mlp::checkpoint;
use gpu_mlp::engine::cpu::CpuEngine;
use gpu_mlp::engine::Engine;
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::model::ModelSpec;
use gpu_mlp::training::resume::ResumeState;
use gpu_mlp::training::{self, EpochEnd, Observer, Progress, Silent, Snapshot, TrainConfig};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// A `gpu-mlp train` run writing its model and metrics file into `dir`.
fn train_into(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"));
    cmd.arg("train")
        .args(args)
        .arg("--save")
        .arg(dir.join("m.safetensors"))
        .arg("--metrics-out")
        .arg(dir.join("m.jsonl"));
    cmd
}

/// `gpu-mlp train --resume model` with `more` flags, run to its end, writing the metrics file
/// beside the model again (a resumed run writes only the outputs its command line names).
fn resume(model: &Path, more: &[&str]) -> std::process::Output {
    let metrics = model.with_file_name("m.jsonl");
    Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .args(["train", "--resume"])
        .arg(model)
        .arg("--metrics-out")
        .arg(metrics)
        .args(more)
        .output()
        .unwrap()
}

/// The flags of a CPU run on 300 MNIST samples, then `more`.
fn tiny_run<'a>(more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--backend", "cpu", "--data", support::MNIST_DIR];
    args.extend(["--train-samples", "300"]);
    args.extend_from_slice(more);
    args
}

/// The metrics file's lines without the timing columns.
fn metrics(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("m.jsonl")).unwrap();
    text.lines()
        .map(|line| {
            let mut v: Value = serde_json::from_str(line).unwrap();
            if let Some(map) = v.as_object_mut() {
                map.remove("seconds");
                map.remove("samples_per_second");
            }
            v
        })
        .collect()
}

/// Every tensor of the saved model by name, as its bytes.
fn tensors(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(dir.join("m.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect()
}

/// Runs `args` (a run of many short epochs) once uninterrupted, and once killed with SIGKILL
/// right after its first checkpoint and resumed with `--resume` alone; both must end with the
/// same bits. Returns the uninterrupted run's metrics lines.
#[cfg(unix)]
fn assert_kill_and_resume_is_exact(args: &[&str]) -> Vec<Value> {
    assert_stop_and_resume_is_exact(args, |first| {
        first.args(["--checkpoint-every", "2"]);
        support::kill_after_first_checkpoint(first);
    })
}

/// As [`assert_kill_and_resume_is_exact`], with the first run stopped by `stop`.
#[cfg(unix)]
fn assert_stop_and_resume_is_exact(args: &[&str], stop: impl FnOnce(&mut Command)) -> Vec<Value> {
    let whole = tempfile::tempdir().unwrap();
    let killed = tempfile::tempdir().unwrap();
    let out = train_into(whole.path(), args).output().unwrap();
    let stdout = support::succeeded(&out, "the uninterrupted run");

    let mut first = train_into(killed.path(), args);
    first.stderr(std::process::Stdio::null());
    stop(&mut first);
    let saved = checkpoint::load(killed.path().join("m.safetensors")).unwrap();
    let state = saved.resume.expect("a checkpoint holds the training state");
    let epochs: usize = args[args.iter().position(|a| *a == "--epochs").unwrap() + 1]
        .parse()
        .unwrap();
    assert!(
        (1..epochs).contains(&state.epochs_completed()),
        "killed after epoch {}",
        state.epochs_completed()
    );

    let out = resume(&killed.path().join("m.safetensors"), &[]);
    let resumed = support::succeeded(&out, "the resumed run");
    assert!(resumed.contains("resuming "), "{resumed}");
    let backend = args[args.iter().position(|a| *a == "--backend").unwrap() + 1];
    let engine_line = resumed.lines().next().unwrap_or("").to_lowercase();
    assert!(engine_line.contains(backend), "not on {backend}: {resumed}");
    let test_line = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("test loss: "))
            .map(str::to_string)
    };
    assert_eq!(test_line(&resumed), test_line(&stdout));
    let lines = metrics(whole.path());
    assert_eq!(metrics(killed.path()), lines, "metrics lines");
    assert_eq!(
        tensors(killed.path()),
        tensors(whole.path()),
        "tensors of the saved models"
    );
    // The killed run's temporary files (if it died in a write) are gone after the next save.
    let mut left: Vec<String> = std::fs::read_dir(killed.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["m.jsonl", "m.safetensors"]);
    lines
}

/// A run of `epochs` short epochs on `samples` MNIST samples (784-64-10, dropout 0.2). The
/// killed runs need epochs enough after the first checkpoint (half a second or more) for the
/// kill to land before the end.
fn small_run(samples: &'static str, epochs: &'static str) -> Vec<&'static str> {
    vec![
        "--data",
        support::MNIST_DIR,
        "--train-samples",
        samples,
        "--hidden",
        "64",
        "--dropout",
        "0.2",
        "--epochs",
        epochs,
        "--batch-size",
        "32",
        "--seed",
        "3",
        "--lr",
        "0.002",
    ]
}

#[cfg(unix)]
#[test]
fn a_killed_cpu_run_resumes_bit_for_bit() {
    let mut args = small_run("6000", "40");
    args.extend(["--backend", "cpu"]);
    assert_kill_and_resume_is_exact(&args);
}

#[cfg(unix)]
#[test]
fn a_killed_run_with_a_schedule_early_stopping_and_validation_resumes_bit_for_bit() {
    // Early stopping fires after epoch 24 of 30, after the resume.
    let mut args = small_run("12000", "30");
    args.extend(["--backend", "cpu", "--validation-split", "0.2"]);
    args.extend(["--lr-schedule", "cosine", "--warmup", "60"]);
    args.extend(["--early-stopping", "4", "--restore-best"]);
    args.extend(["--weight-decay", "0.01"]);
    let lines = assert_kill_and_resume_is_exact(&args);
    assert!(lines[0].get("val_loss").is_some() && lines[0].get("learning_rate").is_some());
    assert!(
        lines.iter().any(|l| l["stop"] == "early_stopping"),
        "early stopping fires: {lines:?}"
    );
}

/// A Ctrl-C's checkpoint is one to resume from, and the run says how.
#[cfg(unix)]
#[test]
fn an_interrupted_run_resumes_bit_for_bit() {
    let mut args = small_run("6000", "40");
    args.extend(["--backend", "cpu"]);
    assert_stop_and_resume_is_exact(&args, |first| {
        let (status, rest) = support::signal_after_first_epoch(first, "INT");
        assert_eq!(status.code(), Some(130), "{rest:?}");
        let said = rest.join("\n");
        assert!(said.contains("`gpu-mlp train --resume "), "{said}");
    });
}

#[cfg(unix)]
#[test]
fn a_killed_vulkan_run_resumes_bit_for_bit() {
    if support::gpu::lab().is_none() {
        return; // no adapter: counted as skipped (a failure under CI=true)
    }
    let mut args = small_run("2000", "16");
    args.extend(["--backend", "vulkan", "--steps-per-submit", "8"]);
    args.extend(["--validation-split", "0.1"]);
    assert_kill_and_resume_is_exact(&args);
}

/// Keeps the snapshot after epoch `at` as the training state a checkpoint would hold.
struct KeepSnapshot {
    at: usize,
    kept: Option<(Vec<f32>, ResumeState)>,
}

impl Observer for KeepSnapshot {
    fn wants_snapshot(&self, end: EpochEnd) -> bool {
        end.epoch == self.at
    }
    fn epoch_snapshot(&mut self, snapshot: &Snapshot) -> gpu_mlp::error::Result<()> {
        let state = ResumeState::from_snapshot(Default::default(), snapshot);
        self.kept = Some((snapshot.parameters.to_vec(), state));
        Ok(())
    }
}

#[test]
fn the_loop_goes_on_from_a_snapshot_as_if_never_stopped() {
    let data = support::small_mnist(500, 200);
    let spec = ModelSpec::new(784, vec![24], 10, 0.25).unwrap();
    let config = TrainConfig {
        epochs: 5,
        batch_size: 20,
        validation_split: 0.2,
        seed: 11,
        optimizer: Optimizer::adamw(3e-3, 0.02),
        lr_schedule: "step:30:0.5".parse().unwrap(),
        warmup: 10,
        early_stopping: Some(gpu_mlp::training::early_stopping::EarlyStopping {
            patience: 4,
            monitor: gpu_mlp::training::early_stopping::Monitor::ValLoss,
            min_delta: 0.0,
            restore_best: true,
        }),
    };
    let engine = || {
        let init = spec.init_parameters(5);
        CpuEngine::new(&spec, &init, config.optimizer, config.batch_size).unwrap()
    };
    let mut keep = KeepSnapshot { at: 2, kept: None };
    let whole = training::run(&config, &data, &mut engine(), &mut keep).unwrap();
    let (parameters, state) = keep.kept.expect("a snapshot after epoch 2");
    assert_eq!(state.epochs_completed(), 2);

    // Through the file, as `--resume` reads it.
    let mut ckpt = checkpoint::Checkpoint::for_dataset(spec.clone(), parameters, &data);
    ckpt.resume = Some(state);
    let bytes = checkpoint::to_bytes(&ckpt).unwrap();
    let back = checkpoint::from_bytes(&bytes, Path::new("snapshot")).unwrap();
    assert_eq!(
        back.resume, ckpt.resume,
        "the training state survives the file"
    );
    assert_eq!(back.parameters, ckpt.parameters);
    let state = back.resume.unwrap();

    let mut resumed = engine();
    resumed.set_parameters(&back.parameters).unwrap();
    resumed
        .set_optimizer_state(state.moments.as_ref().unwrap())
        .unwrap();
    let progress: Progress = state.progress(config.early_stopping).unwrap();
    let rest = training::run_from(&config, &data, &mut resumed, &mut Silent, progress).unwrap();
    let timeless = |h: &[training::EpochRecord]| {
        h.iter()
            .map(|r| {
                (
                    r.epoch,
                    r.loss,
                    r.accuracy,
                    r.validation,
                    r.learning_rate,
                    r.best,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(timeless(&rest.history), timeless(&whole.history));
    assert_eq!(rest.test, whole.test);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&rest.parameters), bits(&whole.parameters));
    assert_eq!(rest.stopping, whole.stopping);
}

#[test]
fn flags_that_change_the_results_are_refused_and_epochs_may_extend() {
    let dir = tempfile::tempdir().unwrap();
    let args = tiny_run(&["--hidden", "8", "--epochs", "2"]);
    let out = train_into(dir.path(), &args).output().unwrap();
    support::succeeded(&out, "the first run");
    let model = dir.path().join("m.safetensors");
    // The training state rides along without bothering the commands that use the model.
    for command in [
        &["eval", "--backend", "cpu", "--data", support::MNIST_DIR][..],
        &["predict", "--data", support::MNIST_DIR, "--index", "0"],
        &["summary"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
            .args(command)
            .arg("--model")
            .arg(&model)
            .output()
            .unwrap();
        support::succeeded(&out, command[0]);
    }
    for (flag, named) in [
        (&["--lr", "0.01"][..], "--lr 0.01"),
        (&["--seed", "1"], "--seed 1"),
        (&["--batch-size", "16"], "--batch-size 16"),
        (&["--dropout", "0.5"], "--dropout 0.5"),
        (&["--hidden", "16"], "--hidden"),
        (&["--validation-split", "0.1"], "--validation-split 0.1"),
        (&["--lr-schedule", "cosine"], "--lr-schedule cosine"),
        (&["--epochs", "1"], "--epochs 1"),
    ] {
        let out = resume(&model, flag);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag:?}: {stderr}");
        assert!(stderr.contains(named), "{flag:?}: {stderr}");
    }
    let out = resume(&model, &["--init-from", model.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));

    // --epochs extends the finished run: as a run of 3 epochs from the start.
    let out = resume(&model, &["--epochs", "3"]);
    let extended = support::succeeded(&out, "the extended run");
    assert!(extended.contains("resuming "), "{extended}");
    let straight = tempfile::tempdir().unwrap();
    let mut three = args.to_vec();
    three[9] = "3";
    let out = train_into(straight.path(), &three).output().unwrap();
    support::succeeded(&out, "the 3-epoch run");
    assert_eq!(metrics(dir.path()), metrics(straight.path()));
    assert_eq!(tensors(dir.path()), tensors(straight.path()));

    // A model without a training state says what to do instead.
    let plain = dir.path().join("plain.safetensors");
    let mut ckpt = checkpoint::load(&model).unwrap();
    ckpt.resume = None;
    checkpoint::save(&plain, &ckpt).unwrap();
    let out = resume(&plain, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no training state") && stderr.contains("--init-from"),
        "{stderr}"
    );
}

/// A run whose `--restore-best` put the best epoch's parameters back saves the last epoch's
/// apart, so `--resume --epochs N` goes on from where training stood: as a run of N epochs.
#[test]
fn a_restored_run_extends_from_its_last_epoch_not_its_best() {
    let args = |epochs| {
        tiny_run(&[
            "--hidden",
            "16",
            "--validation-split",
            "0.3",
            "--lr",
            "0.02",
            "--early-stopping",
            "10",
            "--restore-best",
            "--epochs",
            epochs,
        ])
    };
    let (short, long) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let out = train_into(short.path(), &args("4")).output().unwrap();
    let said = support::succeeded(&out, "the 4-epoch run");
    assert!(said.contains("best epoch 3 (val_loss"), "{said}");
    assert!(said.contains("restored its parameters"), "{said}");
    let saved = checkpoint::load(short.path().join("m.safetensors")).unwrap();
    let state = saved
        .resume
        .expect("a restored run's final save can be resumed");
    assert!(state.parameters.is_some_and(|p| p != saved.parameters));

    let out = resume(&short.path().join("m.safetensors"), &["--epochs", "8"]);
    support::succeeded(&out, "the extended run");
    let out = train_into(long.path(), &args("8")).output().unwrap();
    support::succeeded(&out, "the 8-epoch run");
    assert_eq!(metrics(short.path()), metrics(long.path()));
    assert_eq!(tensors(short.path()), tensors(long.path()));
}
