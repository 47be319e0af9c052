//! What a training run shows on the console: a progress bar per epoch, one Keras-shaped line per
//! epoch and the test result (each epoch also goes to the `--metrics-out` file when one is given).

use crate::metrics_file::MetricsFile;
use gpu_mlp::engine::Evaluation;
use gpu_mlp::error::Result;
use gpu_mlp::training::early_stopping::Stopping;
use gpu_mlp::training::{EpochRecord, Observer};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

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
