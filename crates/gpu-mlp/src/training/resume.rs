//! Exact resume: what a training checkpoint carries besides the model, so that
//! `gpu-mlp train --resume FILE` goes on as if the run had never stopped.
//!
//! In the file (see `docs/checkpoint-format.md`): Adam's moments as extra tensors
//! `optimizer.layers.{i}.weight.m` / `.v` and `optimizer.layers.{i}.bias.m` / `.v`, and under
//! `--restore-best` the best epoch's parameters as `early_stopping.best.layers.{i}.weight` /
//! `.bias`, and when the model's parameters are those best ones (a run's final save), the last
//! epoch's as `training.layers.{i}.*`, all in the shapes and layout of `layers.{i}.*`; everything else (the settings, the
//! history, early stopping's count) as one JSON object under the header key `resume`.

use crate::data::DataDigest;
use crate::engine::OptimizerState;
use crate::error::ConfigError;
use crate::training::early_stopping::{EarlyStopping, Watch};
use crate::training::{EpochRecord, Progress, Snapshot};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The header key holding the JSON part.
pub const METADATA_KEY: &str = "resume";
/// The JSON part's `version`; files with a higher one are refused.
pub const VERSION: u32 = 1;

/// A group of extra tensors, one per `layers.{i}.weight` and `.bias`: the parameter's name
/// between `prefix` and `suffix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorGroup {
    pub prefix: &'static str,
    pub suffix: &'static str,
}

impl TensorGroup {
    const fn new(prefix: &'static str, suffix: &'static str) -> Self {
        Self { prefix, suffix }
    }

    /// The group's name for the parameter tensor `name` (`layers.0.weight`).
    pub fn name(self, name: &str) -> String {
        format!("{}{name}{}", self.prefix, self.suffix)
    }
}

/// Adam's first moments.
pub const MOMENT1: TensorGroup = TensorGroup::new("optimizer.", ".m");
/// Adam's second moments.
pub const MOMENT2: TensorGroup = TensorGroup::new("optimizer.", ".v");
/// The best epoch's parameters (`--restore-best`).
pub const BEST: TensorGroup = TensorGroup::new("early_stopping.best.", "");

/// The parameters training goes on from, when the model's are not they (the final save after
/// `--restore-best` put the best epoch's back).
pub const TRAINING: TensorGroup = TensorGroup::new("training.", "");

/// Early stopping's count where the run left it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchState {
    pub best_epoch: Option<usize>,
    pub best: Option<f64>,
    /// Epochs since the best one.
    pub wait: usize,
}

/// The training state of a checkpoint, for `--resume`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResumeState {
    /// The run's settings keyed as `--config` keys, so `--resume` hands them back to the flags.
    pub settings: Map<String, Value>,
    /// One record per finished epoch.
    pub history: Vec<EpochRecord>,
    /// The loss beyond which a step counts as exploded (set by the run's first step).
    pub loss_ceiling: Option<f32>,
    pub watch: Option<WatchState>,
    /// The best epoch's parameters (`--restore-best`), in the flat layout.
    pub best_parameters: Option<Vec<f32>>,
    /// Adam's moments (none under SGD).
    pub moments: Option<OptimizerState>,
    /// The parameters training goes on from, when they are not the checkpoint's own (which are
    /// then the best epoch's, put back by `--restore-best`).
    pub parameters: Option<Vec<f32>>,
    /// The samples the run trained and tested on (none in files written before it was
    /// recorded): a resume on other data is refused.
    pub data_digest: Option<DataDigest>,
}

/// The JSON part. Floats are written as their shortest decimal and read back exactly.
#[derive(Serialize, Deserialize)]
struct StateJson {
    version: u32,
    epochs_completed: usize,
    loss_ceiling: Option<f64>,
    early_stopping: Option<WatchState>,
    history: Vec<EpochRecord>,
    settings: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data_digest: Option<DataDigest>,
}

impl ResumeState {
    /// The state in `snapshot` of a run with `settings`.
    pub fn from_snapshot(settings: Map<String, Value>, snapshot: &Snapshot) -> Self {
        let progress = snapshot.progress;
        Self {
            settings,
            history: progress.history.clone(),
            loss_ceiling: progress.loss_ceiling,
            watch: progress.watch.map(|w| WatchState {
                best_epoch: w.best().map(|b| b.0),
                best: w.best().map(|b| b.1),
                wait: w.wait(),
            }),
            best_parameters: progress.best_parameters.clone(),
            moments: snapshot.moments.cloned(),
            parameters: None,
            data_digest: None,
        }
    }

    /// Epochs finished.
    pub fn epochs_completed(&self) -> usize {
        self.history.len()
    }

    /// The loop's progress, under the early-stopping `rule` of the resumed run.
    pub fn progress(&self, rule: Option<EarlyStopping>) -> Result<Progress, String> {
        let watch = match (rule, self.watch) {
            (None, None) => None,
            (Some(rule), Some(w)) => {
                let best = match (w.best_epoch, w.best) {
                    (Some(epoch), Some(value)) => Some((epoch, value)),
                    (None, None) => None,
                    _ => return Err("early stopping's best epoch is half given".to_string()),
                };
                Some(Watch::resume(rule, best, w.wait))
            }
            _ => {
                return Err(
                    "its early-stopping state does not match its --early-stopping".to_string(),
                )
            }
        };
        Ok(Progress {
            history: self.history.clone(),
            loss_ceiling: self.loss_ceiling,
            watch,
            best_parameters: self.best_parameters.clone(),
        })
    }

    /// The JSON part, for the header.
    pub fn to_json(&self) -> Result<String, String> {
        serde_json::to_string(&StateJson {
            version: VERSION,
            epochs_completed: self.epochs_completed(),
            loss_ceiling: self.loss_ceiling.map(f64::from),
            early_stopping: self.watch,
            history: self.history.clone(),
            settings: self.settings.clone(),
            data_digest: self.data_digest.clone(),
        })
        .map_err(|e| format!("the training state does not fit JSON: {e}"))
    }

    /// The state from the header's JSON part and the extra tensors read with it.
    pub fn from_json(
        text: &str,
        moments: Option<OptimizerState>,
        best_parameters: Option<Vec<f32>>,
        parameters: Option<Vec<f32>>,
    ) -> Result<Self, String> {
        let json: StateJson = serde_json::from_str(text)
            .map_err(|e| format!("its '{METADATA_KEY}' training state is malformed: {e}"))?;
        if json.version > VERSION {
            return Err(format!(
                "its training state has version {}, newer than this gpu-mlp reads ({VERSION}); \
                 update gpu-mlp",
                json.version
            ));
        }
        let numbered = json
            .history
            .iter()
            .enumerate()
            .all(|(i, r)| r.epoch == i + 1);
        if json.history.len() != json.epochs_completed || !numbered {
            return Err(format!(
                "its training state says {} epochs finished but its history does not number \
                 them 1..",
                json.epochs_completed
            ));
        }
        Ok(Self {
            settings: json.settings,
            history: json.history,
            loss_ceiling: json.loss_ceiling.map(|c| c as f32),
            watch: json.early_stopping,
            best_parameters,
            moments,
            parameters,
            data_digest: json.data_digest,
        })
    }
}

/// Why a checkpoint without a training state cannot be resumed.
pub const NO_STATE: &str = "it holds no training state to resume (it was not saved by \
     `gpu-mlp train --save`, or by an older gpu-mlp); start a new run from its parameters with \
     --init-from";

/// The settings that decide a run's numbers: `--resume` refuses a flag that changes one.
/// (`epochs` may grow; the engine, the outputs and `--offline` may change.)
const RESULT_KEYS: &[&str] = &[
    "dataset",
    "data",
    "train_samples",
    "validation_split",
    "seed",
    "hidden",
    "dropout",
    "batch_size",
    "optimizer",
    "lr",
    "adam_epsilon",
    "weight_decay",
    "lr_schedule",
    "warmup",
    "early_stopping",
    "monitor",
    "min_delta",
    "restore_best",
];

/// Fails, naming the flag, when `now` (the resumed run's settings) changes one of `saved`'s
/// that decide the numbers, or takes `--epochs` below the run's.
pub fn check_unchanged(
    saved: &Map<String, Value>,
    now: &Map<String, Value>,
) -> Result<(), ConfigError> {
    let shown = |v: Option<&Value>| match v {
        None | Some(Value::Null) => "not set".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    for key in RESULT_KEYS {
        let (before, after) = (saved.get(*key), now.get(*key));
        if before != after {
            return Err(ConfigError::new(format!(
                "--{} {} would change the results of the run --resume goes on with (it has {}); \
                 leave the flag out",
                key.replace('_', "-"),
                shown(after),
                shown(before)
            )));
        }
    }
    let epochs = |s: &Map<String, Value>| s.get("epochs").and_then(Value::as_u64);
    if let (Some(before), Some(after)) = (epochs(saved), epochs(now)) {
        if after < before {
            return Err(ConfigError::new(format!(
                "--epochs {after} is fewer than the resumed run's {before}; --epochs may only \
                 extend it"
            )));
        }
    }
    Ok(())
}
