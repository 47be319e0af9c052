//! `train --summary-json FILE|-`: one JSON object when the run ends, so a sweep engine reads a
//! trial's result instead of digging it out of the console: the settings in force (under the
//! `--config` keys, so they can be fed back as a config), final and best metrics with their
//! epochs, the test result, time and throughput, engine and adapter, the build's commit and the
//! outcome. Written for a diverged or interrupted run too, with what it got to.

use crate::cli::TrainArgs;
use crate::exit_status::Outcome;
use gpu_mlp::data::Dataset;
use gpu_mlp::engine::Evaluation;
use gpu_mlp::error::Result;
use gpu_mlp::model::ModelSpec;
use gpu_mlp::training::early_stopping::EarlyStopping;
use gpu_mlp::training::{EpochRecord, Observer, TrainReport};
use serde_json::{json, Map, Value};
use std::path::Path;

/// The `format` field: names this layout, so readers can check what they parse.
pub const FORMAT: &str = "gpu-mlp train summary 1";

/// What the summary says about the run besides its results, known before training starts.
#[derive(Clone, Debug)]
pub struct RunFacts {
    pub settings: Map<String, Value>,
    /// `784-128-10, dropout 0.2`.
    pub model: String,
    pub dataset: String,
    /// Samples trained on per epoch, held out for validation, and in the test split.
    pub train_samples: usize,
    pub validation_samples: usize,
    pub test_samples: usize,
    /// The training part's size before `--train-samples` took its subset.
    pub subset_of: Option<usize>,
    /// The engine as it describes itself (`cpu (matrixmultiply)`, `Vulkan: <adapter> [..]`).
    pub engine: String,
}

impl RunFacts {
    /// The facts of a run of `args` training `spec` on `data` (`train_rows` of its training
    /// part, `validation_rows` held out), `subset_of` the training part's size before
    /// `--train-samples`, on `engine` (as it describes itself).
    pub fn new(
        args: &TrainArgs,
        spec: &ModelSpec,
        data: &Dataset,
        (train_rows, validation_rows): (usize, usize),
        subset_of: Option<usize>,
        engine: String,
    ) -> Self {
        Self {
            settings: settings(args, spec),
            model: spec.describe(),
            dataset: data.name().to_string(),
            train_samples: train_rows,
            validation_samples: validation_rows,
            test_samples: data.test().count(),
            subset_of,
            engine,
        }
    }
}

/// The settings a training state records for a run of `args` training `spec` with the early
/// stopping `rule`: those of `--summary-json`, with paths made absolute (so `--resume` works from
/// any folder), the effective monitor and min-delta spelled out, and without `init_from` (the
/// parameters are in the checkpoint).
pub fn run_settings(
    args: &TrainArgs,
    spec: &ModelSpec,
    rule: Option<EarlyStopping>,
) -> Map<String, Value> {
    let mut settings = settings(args, spec);
    settings.remove("init_from");
    if spec.hidden.is_empty() {
        settings.insert("hidden".into(), json!("none"));
    }
    if let Some(rule) = rule {
        settings.insert("monitor".into(), json!(rule.monitor.name()));
        settings.insert("min_delta".into(), json!(rule.min_delta));
    }
    for key in ["data", "metrics_out", "save", "plot"] {
        if let Some(Value::String(path)) = settings.get(key) {
            let path = Path::new(path);
            let absolute = path
                .canonicalize()
                .or_else(|_| std::path::absolute(path))
                .unwrap_or_else(|_| path.to_path_buf());
            settings.insert(key.into(), json!(absolute.display().to_string()));
        }
    }
    settings
}

/// The settings in force, keyed as in a `--config` file (absent ones left out). `spec` gives
/// the network actually trained (`--init-from`'s layers, the resolved dropout).
pub fn settings(args: &TrainArgs, spec: &ModelSpec) -> Map<String, Value> {
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| json!(p.display().to_string()));
    let entries = [
        ("dataset", args.data.dataset.as_ref().map(|d| json!(d))),
        ("data", path(&args.data.data)),
        ("offline", Some(json!(args.data.offline))),
        (
            "backend",
            args.engine
                .backend
                .map(|b| json!(format!("{b:?}").to_lowercase())),
        ),
        ("adapter", args.engine.adapter.as_ref().map(|a| json!(a))),
        (
            "steps_per_submit",
            Some(json!(args.engine.steps_per_submit)),
        ),
        ("hidden", Some(json!(spec.hidden))),
        ("dropout", Some(decimal(spec.dropout))),
        ("epochs", Some(json!(args.epochs))),
        ("batch_size", Some(json!(args.batch_size))),
        ("lr", Some(decimal(args.lr))),
        (
            "optimizer",
            Some(json!(format!("{:?}", args.optimizer).to_lowercase())),
        ),
        ("adam_epsilon", Some(decimal(args.adam_epsilon))),
        ("weight_decay", Some(decimal(args.weight_decay))),
        ("lr_schedule", Some(json!(args.lr_schedule.to_string()))),
        ("warmup", Some(json!(args.warmup))),
        ("early_stopping", args.early_stopping.map(|n| json!(n))),
        ("monitor", args.monitor.map(|m| json!(m.name()))),
        ("min_delta", args.min_delta.map(|d| json!(d))),
        ("restore_best", Some(json!(args.restore_best))),
        ("seed", Some(json!(args.seed))),
        ("validation_split", Some(json!(args.validation_split))),
        ("train_samples", args.train_samples.map(|n| json!(n))),
        ("metrics_out", path(&args.metrics_out)),
        ("save", path(&args.save)),
        ("checkpoint_every", args.checkpoint_every.map(|n| json!(n))),
        ("init_from", path(&args.init_from)),
        ("plot", path(&args.plot)),
        ("verify", Some(json!(args.verify))),
    ];
    entries
        .into_iter()
        .filter_map(|(key, value)| value.map(|v| (key.to_string(), v)))
        .collect()
}

/// An `f32` setting as its shortest decimal (`0.02`, not the nearest double's `0.0199999995…`).
fn decimal(x: f32) -> Value {
    x.to_string()
        .parse::<f64>()
        .map_or(Value::Null, |v| json!(v))
}

/// Keeps the epochs and the test result for the summary; ends the run after an epoch once
/// SIGINT, SIGTERM or SIGHUP came (see `crate::interrupt`).
pub struct Recorder {
    history: Vec<EpochRecord>,
    test: Option<Evaluation>,
}

impl Recorder {
    /// A recorder of a run that has finished the epochs of `history` already (a resumed one).
    pub fn new(history: Vec<EpochRecord>) -> Self {
        Self {
            history,
            test: None,
        }
    }

    /// The epochs and the test result seen.
    pub fn into_results(self) -> (Vec<EpochRecord>, Option<Evaluation>) {
        (self.history, self.test)
    }
}

impl Observer for Recorder {
    fn epoch_finished(&mut self, record: &EpochRecord, _epochs: usize) -> Result<()> {
        self.history.push(record.clone());
        Ok(())
    }

    fn stop_requested(&mut self, epoch: usize) -> Option<gpu_mlp::error::Error> {
        crate::interrupt::requested()
            .map(|signal| crate::interrupt::Interrupted { signal, epoch }.into())
    }

    fn tested(&mut self, test: &Evaluation) -> Result<()> {
        self.test = Some(test.clone());
        Ok(())
    }
}

/// The summary of a run that ended with `outcome` (and `error`, its message, unless it
/// completed) after `history`, `test` and `seconds` of wall time in all.
pub fn summary(
    facts: &RunFacts,
    history: &[EpochRecord],
    test: Option<&Evaluation>,
    outcome: Outcome,
    error: Option<String>,
    seconds: f64,
) -> Value {
    let train_seconds: f64 = history.iter().map(|r| r.seconds).sum();
    let trained = (facts.train_samples * history.len()) as f64;
    let is_gpu = !facts.engine.starts_with("cpu");
    json!({
        "format": FORMAT,
        "outcome": outcome.name(),
        "exit_status": outcome.exit_status(),
        "error": error,
        "settings": facts.settings,
        "model": facts.model,
        "data": {
            "dataset": facts.dataset,
            "train_samples": facts.train_samples,
            "validation_samples": facts.validation_samples,
            "test_samples": facts.test_samples,
            "subset_of": facts.subset_of,
        },
        "epochs_completed": history.len(),
        "final": history.last().map(epoch_metrics),
        "best": best(history),
        "test": test.map(|t| json!({"loss": t.loss(), "accuracy": t.accuracy()})),
        "seconds": seconds,
        "train_seconds": train_seconds,
        "samples_per_second": if train_seconds > 0.0 { Some(trained / train_seconds) } else { None },
        "engine": if is_gpu { "gpu" } else { "cpu" },
        "adapter": is_gpu.then_some(&facts.engine),
        "engine_description": facts.engine,
        "version": env!("CARGO_PKG_VERSION"),
        "commit": gpu_mlp::diagnostics::records::BuildInfo::current().git_commit,
    })
}

/// One epoch's figures, under the names `--metrics-out` uses.
fn epoch_metrics(r: &EpochRecord) -> Value {
    let mut m = json!({"epoch": r.epoch, "loss": r.loss, "accuracy": r.accuracy});
    if let Some((val_loss, val_accuracy)) = r.validation {
        m["val_loss"] = json!(val_loss);
        m["val_accuracy"] = json!(val_accuracy);
    }
    m
}

/// The best value of each metric and the (first) epoch that had it: lowest losses, highest
/// accuracies.
fn best(history: &[EpochRecord]) -> Value {
    type Metric = fn(&EpochRecord) -> Option<f64>;
    let metrics: [(&str, Metric, bool); 4] = [
        ("loss", |r| Some(r.loss), false),
        ("accuracy", |r| Some(r.accuracy), true),
        ("val_loss", |r| r.validation.map(|v| v.0), false),
        ("val_accuracy", |r| r.validation.map(|v| v.1), true),
    ];
    let mut out = Map::new();
    for (name, metric, higher_is_better) in metrics {
        let mut best: Option<(f64, usize)> = None;
        for r in history {
            let Some(v) = metric(r) else { continue };
            let better = match best {
                None => true,
                Some((b, _)) if higher_is_better => v > b,
                Some((b, _)) => v < b,
            };
            if better {
                best = Some((v, r.epoch));
            }
        }
        if let Some((value, epoch)) = best {
            out.insert(name.to_string(), json!({"value": value, "epoch": epoch}));
        }
    }
    Value::Object(out)
}

/// Writes `summary` to `path` atomically (a reader sees no file or the whole object), or as the
/// last line of stdout for `-`.
pub fn write(path: &Path, summary: &Value) -> Result<()> {
    if path == Path::new("-") {
        println!("{summary}");
        return Ok(());
    }
    let mut text = serde_json::to_string_pretty(summary).unwrap_or_else(|_| summary.to_string());
    text.push('\n');
    Ok(gpu_mlp::fsio::atomic::write_atomically(
        path,
        text.as_bytes(),
    )?)
}

/// Writes the summary of a run that ended in `result` to `path` (see [`write()`]). Failing to
/// write it is the run's error only when the run itself succeeded; otherwise the run's own error
/// (and its exit status) stands and this one is printed.
pub fn write_for(
    path: &Path,
    facts: &RunFacts,
    history: &[EpochRecord],
    test: Option<&Evaluation>,
    result: &Result<TrainReport>,
    seconds: f64,
) -> Result<()> {
    let error = result.as_ref().err().map(|e| e.to_string());
    let outcome = match result {
        Ok(report)
            if report
                .stopping
                .as_ref()
                .is_some_and(|s| s.stopped_after.is_some()) =>
        {
            Outcome::StoppedEarly
        }
        _ => Outcome::of(result),
    };
    let value = summary(facts, history, test, outcome, error, seconds);
    match (write(path, &value), result) {
        (Err(e), Ok(_)) => Err(e),
        (Err(e), Err(_)) => {
            eprintln!("error: {e}");
            Ok(())
        }
        (Ok(()), _) => Ok(()),
    }
}

/// Fails now when `path` could not be written at the end (`-` always can).
pub fn check_writable(path: &Path) -> Result<()> {
    if path == Path::new("-") {
        return Ok(());
    }
    Ok(gpu_mlp::fsio::atomic::check_writable(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use crate::run_config::parse_cli;

    fn record(epoch: usize, loss: f64, accuracy: f64, val: Option<(f64, f64)>) -> EpochRecord {
        EpochRecord {
            epoch,
            loss,
            accuracy,
            validation: val,
            seconds: 2.0,
            learning_rate: None,
            best: false,
            samples_per_second: 50.0,
        }
    }

    fn facts(engine: &str) -> RunFacts {
        RunFacts {
            settings: Map::new(),
            model: "784-16-10".into(),
            dataset: "mnist".into(),
            train_samples: 100,
            validation_samples: 10,
            test_samples: 50,
            subset_of: Some(60000),
            engine: engine.into(),
        }
    }

    #[test]
    fn final_and_best_metrics_name_their_epochs() {
        let history = [
            record(1, 0.9, 0.70, Some((0.8, 0.75))),
            record(2, 0.5, 0.85, Some((0.6, 0.80))),
            record(3, 0.4, 0.88, Some((0.7, 0.78))),
        ];
        let test = Evaluation {
            count: 50,
            loss_sum: 25.0,
            correct: 40,
            predictions: vec![],
        };
        let s = summary(
            &facts("cpu (matrixmultiply)"),
            &history,
            Some(&test),
            Outcome::Completed,
            None,
            7.5,
        );
        assert_eq!(s["format"], FORMAT);
        assert_eq!(
            (s["outcome"].as_str(), s["exit_status"].as_u64()),
            (Some("completed"), Some(0))
        );
        assert_eq!(s["epochs_completed"], 3);
        assert_eq!(s["final"]["epoch"], 3);
        assert_eq!(s["final"]["val_accuracy"], 0.78);
        assert_eq!(
            s["best"]["val_accuracy"],
            json!({"value": 0.80, "epoch": 2})
        );
        assert_eq!(s["best"]["val_loss"], json!({"value": 0.6, "epoch": 2}));
        assert_eq!(s["best"]["loss"], json!({"value": 0.4, "epoch": 3}));
        assert_eq!(s["best"]["accuracy"], json!({"value": 0.88, "epoch": 3}));
        assert_eq!(s["test"], json!({"loss": 0.5, "accuracy": 0.8}));
        assert_eq!(
            (s["seconds"].as_f64(), s["train_seconds"].as_f64()),
            (Some(7.5), Some(6.0))
        );
        assert_eq!(s["samples_per_second"], 50.0);
        assert_eq!(
            (s["engine"].as_str(), s["adapter"].as_str()),
            (Some("cpu"), None)
        );
        assert_eq!(s["data"]["subset_of"], 60000);
        assert_eq!(
            s["commit"],
            gpu_mlp::diagnostics::records::BuildInfo::current().git_commit
        );
        assert!(s["error"].is_null());
    }

    #[test]
    fn a_run_that_ends_early_says_how() {
        let gpu = "Vulkan: llvmpipe [Cpu, llvmpipe Mesa]";
        let history = [record(1, 0.9, 0.7, None)];
        let s = summary(
            &facts(gpu),
            &history,
            None,
            Outcome::Diverged,
            Some("training diverged".into()),
            1.0,
        );
        assert_eq!(
            (s["outcome"].as_str(), s["exit_status"].as_u64()),
            (Some("diverged"), Some(3))
        );
        assert_eq!(s["error"], "training diverged");
        assert!(s["test"].is_null());
        assert!(
            s["best"].get("val_loss").is_none(),
            "no validation, no val metrics"
        );
        assert_eq!(
            (s["engine"].as_str(), s["adapter"].as_str()),
            (Some("gpu"), Some(gpu))
        );
        let s = summary(
            &facts(gpu),
            &[],
            None,
            Outcome::Interrupted { signal: 15 },
            None,
            1.0,
        );
        assert_eq!(
            (s["outcome"].as_str(), s["exit_status"].as_u64()),
            (Some("interrupted"), Some(143))
        );
        assert!(s["final"].is_null() && s["samples_per_second"].is_null());
    }

    #[test]
    fn settings_read_back_as_a_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let parse = |argv: &[&str]| match parse_cli(argv) {
            Ok(Cli {
                command: Command::Train(args),
            }) => args,
            other => panic!("{other:?}"),
        };
        let args = parse(&[
            "gpu-mlp",
            "train",
            "--hidden",
            "64,32",
            "--lr",
            "0.02",
            "--optimizer",
            "sgd",
            "--backend",
            "cpu",
            "--train-samples",
            "600",
            "--validation-split",
            "0.25",
            "--offline",
            "--save",
            "m.safetensors",
            "--checkpoint-every",
            "2",
        ]);
        let spec = args.network.spec(784, 10).unwrap();
        let first = settings(&args, &spec);
        let config = dir.path().join("again.json");
        std::fs::write(&config, Value::Object(first.clone()).to_string()).unwrap();
        let again = parse(&["gpu-mlp", "train", "--config", config.to_str().unwrap()]);
        let spec = again.network.spec(784, 10).unwrap();
        assert_eq!(settings(&again, &spec), first);
        assert_eq!(first["hidden"], json!([64, 32]));
        assert_eq!(first["optimizer"], "sgd");
    }

    #[test]
    fn written_whole_to_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        let s = summary(&facts("cpu"), &[], None, Outcome::Completed, None, 0.0);
        write(&path, &s).unwrap();
        let back: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back, s);
        assert!(check_writable(&dir.path().join("missing").join("s.json")).is_err());
        assert!(check_writable(Path::new("-")).is_ok());
    }
}
