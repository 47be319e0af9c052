//! `train --metrics-out FILE`: one JSON line per epoch, the early-stopping line and the test
//! result, for scripts that follow a run.

use gpu_mlp::engine::Evaluation;
use gpu_mlp::error::{Error, Result};
use gpu_mlp::training::early_stopping::Stopping;
use gpu_mlp::training::EpochRecord;
use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(Serialize)]
struct EpochJson {
    epoch: usize,
    loss: f64,
    accuracy: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    val_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    val_accuracy: Option<f64>,
    seconds: f64,
    samples_per_second: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    learning_rate: Option<f64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    best: bool,
}

/// The line that says where and why training stopped, when early stopping was asked for.
#[derive(Serialize)]
struct StoppingJson {
    /// `early_stopping` when patience ran out, `completed` when every epoch ran.
    stop: &'static str,
    epochs_run: usize,
    monitor: &'static str,
    patience: usize,
    min_delta: f64,
    best_epoch: Option<usize>,
    best: Option<f64>,
    restored_best: bool,
}

#[derive(Serialize)]
struct TestJson {
    test_loss: f64,
    test_accuracy: f64,
}

/// The `--metrics-out` file: one JSON object per line. Created before training starts, so an
/// unwritable path fails at once rather than after the run.
pub struct MetricsFile {
    path: PathBuf,
    out: BufWriter<File>,
}

impl MetricsFile {
    pub fn create(path: &Path) -> Result<Self> {
        // The checks every output gets (a folder, a missing folder, a write-protected file)
        // before File::create truncates it.
        gpu_mlp::fsio::atomic::check_writable(path)?;
        let file = File::create(path).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        })
    }

    fn write_line(&mut self, value: &impl Serialize) -> Result<()> {
        let line = serde_json::to_string(value).expect("metrics serialise to JSON");
        writeln!(self.out, "{line}")
            .and_then(|_| self.out.flush())
            .map_err(|source| Error::Write {
                path: self.path.clone(),
                source,
            })
    }

    pub fn epoch(&mut self, r: &EpochRecord) -> Result<()> {
        self.write_line(&EpochJson {
            epoch: r.epoch,
            loss: r.loss,
            accuracy: r.accuracy,
            val_loss: r.validation.map(|v| v.0),
            val_accuracy: r.validation.map(|v| v.1),
            seconds: r.seconds,
            samples_per_second: r.samples_per_second,
            learning_rate: r.learning_rate,
            best: r.best,
        })
    }

    /// The early-stopping line, after the last epoch's; `epochs_run` epochs ran.
    pub fn stopping(&mut self, s: &Stopping, epochs_run: usize) -> Result<()> {
        self.write_line(&StoppingJson {
            stop: if s.stopped_after.is_some() {
                "early_stopping"
            } else {
                "completed"
            },
            epochs_run,
            monitor: s.rule.monitor.name(),
            patience: s.rule.patience,
            min_delta: s.rule.min_delta,
            best_epoch: s.best.map(|b| b.0),
            best: s.best.map(|b| b.1),
            restored_best: s.restored,
        })
    }

    pub fn test(&mut self, test: &Evaluation) -> Result<()> {
        self.write_line(&TestJson {
            test_loss: test.loss(),
            test_accuracy: test.accuracy(),
        })
    }
}
