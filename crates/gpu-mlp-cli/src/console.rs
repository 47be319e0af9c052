//! What a training run shows and writes: a progress bar per epoch, one Keras-shaped line per
//! epoch, the test result, and the `--metrics-out` JSON lines.

use gpu_mlp::engine::Evaluation;
use gpu_mlp::error::{Error, Result};
use gpu_mlp::training::early_stopping::Stopping;
use gpu_mlp::training::{EpochRecord, Observer};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// One epoch line, as Keras prints it:
/// `Epoch 3/5 - 4.1s - loss: 0.1234 - accuracy: 0.9630 - val_loss: 0.1100 - val_accuracy: 0.9680`.
pub fn epoch_line(r: &EpochRecord, epochs: usize) -> String {
    let mut line = format!(
        "Epoch {}/{} - {:.1}s - loss: {:.4} - accuracy: {:.4}",
        r.epoch, epochs, r.seconds, r.loss, r.accuracy
    );
    if let Some((val_loss, val_accuracy)) = r.validation {
        line.push_str(&format!(
            " - val_loss: {val_loss:.4} - val_accuracy: {val_accuracy:.4}"
        ));
    }
    if let Some(lr) = r.learning_rate {
        line.push_str(&format!(" - lr: {lr:.4e}"));
    }
    if r.best {
        line.push_str(" - best so far");
    }
    line
}

/// `test loss: 0.0790 - test accuracy: 0.9765`.
pub fn test_line(test: &Evaluation) -> String {
    format!(
        "test loss: {:.4} - test accuracy: {:.4}",
        test.loss(),
        test.accuracy()
    )
}

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

/// The console view of a run: progress bar (only on a terminal) and the epoch lines on stdout.
pub struct ConsoleReporter {
    bar: Option<ProgressBar>,
    show_progress: bool,
    pub metrics: Option<MetricsFile>,
    /// The last epoch printed.
    epochs_run: usize,
}

impl ConsoleReporter {
    pub fn new(metrics: Option<MetricsFile>) -> Self {
        Self {
            bar: None,
            show_progress: std::io::stdout().is_terminal(),
            metrics,
            epochs_run: 0,
        }
    }
}

impl Observer for ConsoleReporter {
    fn epoch_started(&mut self, epoch: usize, epochs: usize, steps: usize) {
        if !self.show_progress {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stdout());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} {wide_bar} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
            )
            .expect("static progress template is valid"),
        );
        bar.set_prefix(format!("Epoch {epoch}/{epochs}"));
        self.bar = Some(bar);
    }

    fn epoch_progress(&mut self, steps_done: usize, loss: f64, accuracy: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(steps_done as u64);
            bar.set_message(format!("loss: {loss:.4} - accuracy: {accuracy:.4}"));
        }
    }

    fn epoch_finished(&mut self, record: &EpochRecord, epochs: usize) -> Result<()> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        println!("{}", epoch_line(record, epochs));
        self.epochs_run = record.epoch;
        match &mut self.metrics {
            Some(m) => m.epoch(record),
            None => Ok(()),
        }
    }

    fn stopped(&mut self, stopping: &Stopping) -> Result<()> {
        println!("{}", stopping.describe());
        match &mut self.metrics {
            Some(m) => m.stopping(stopping, self.epochs_run),
            None => Ok(()),
        }
    }

    fn tested(&mut self, test: &Evaluation) -> Result<()> {
        println!("{}", test_line(test));
        match &mut self.metrics {
            Some(m) => m.test(test),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_the_keras_shape() {
        let r = EpochRecord {
            epoch: 3,
            loss: 0.12341,
            accuracy: 0.963,
            validation: Some((0.11, 0.968)),
            seconds: 4.14,
            samples_per_second: 1.0,
            learning_rate: None,
            best: false,
        };
        assert_eq!(
            epoch_line(&r, 5),
            "Epoch 3/5 - 4.1s - loss: 0.1234 - accuracy: 0.9630 - val_loss: 0.1100 - val_accuracy: 0.9680"
        );
        let scheduled = EpochRecord {
            learning_rate: Some(2.5e-4),
            best: true,
            ..r
        };
        assert!(epoch_line(&scheduled, 5)
            .ends_with(" - val_accuracy: 0.9680 - lr: 2.5000e-4 - best so far"));
        let t = Evaluation {
            count: 4,
            loss_sum: 0.316,
            correct: 3,
            predictions: vec![],
        };
        assert_eq!(test_line(&t), "test loss: 0.0790 - test accuracy: 0.7500");
    }
}
