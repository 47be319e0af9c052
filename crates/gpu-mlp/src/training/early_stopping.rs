//! Early stopping, as Keras's `EarlyStopping`: watch one metric after every epoch, stop once it
//! has not improved by more than `min_delta` for `patience` epochs in a row, and (with
//! `restore_best`) end with the parameters of the best epoch whether or not stopping fired.

use crate::error::ConfigError;
use crate::setting::Setting;
use crate::training::record::EpochRecord;
use std::str::FromStr;

/// The metric early stopping watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    ValLoss,
    ValAccuracy,
    Loss,
    Accuracy,
}

impl Monitor {
    /// The name, as the epoch lines and the metrics file spell it.
    pub fn name(self) -> &'static str {
        match self {
            Monitor::ValLoss => "val_loss",
            Monitor::ValAccuracy => "val_accuracy",
            Monitor::Loss => "loss",
            Monitor::Accuracy => "accuracy",
        }
    }

    /// Keras's default: the validation loss when there is a validation split, else the loss.
    pub fn default_for(validation_split: f64) -> Self {
        if validation_split > 0.0 {
            Monitor::ValLoss
        } else {
            Monitor::Loss
        }
    }

    /// Whether the metric needs validation rows.
    pub fn needs_validation(self) -> bool {
        matches!(self, Monitor::ValLoss | Monitor::ValAccuracy)
    }

    /// Accuracies improve upwards, losses downwards.
    fn higher_is_better(self) -> bool {
        matches!(self, Monitor::ValAccuracy | Monitor::Accuracy)
    }

    /// The metric's value in `record` (none for a validation metric without validation rows).
    pub fn value(self, record: &EpochRecord) -> Option<f64> {
        match self {
            Monitor::ValLoss => record.validation.map(|v| v.0),
            Monitor::ValAccuracy => record.validation.map(|v| v.1),
            Monitor::Loss => Some(record.loss),
            Monitor::Accuracy => Some(record.accuracy),
        }
    }
}

display_as_name!(Monitor);

impl FromStr for Monitor {
    type Err = ConfigError;
    fn from_str(text: &str) -> Result<Self, ConfigError> {
        [
            Monitor::ValLoss,
            Monitor::ValAccuracy,
            Monitor::Loss,
            Monitor::Accuracy,
        ]
        .into_iter()
        .find(|m| m.name() == text)
        .ok_or_else(|| {
            ConfigError::new(crate::phrase![
                Setting::Monitor,
                format!(" '{text}': use val_loss, val_accuracy, loss or accuracy")
            ])
        })
    }
}

/// The rule: what to watch and how long to wait for an improvement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStopping {
    /// Epochs without improvement after which training stops.
    pub patience: usize,
    pub monitor: Monitor,
    /// An improvement must beat the best value by more than this.
    pub min_delta: f64,
    /// End with the best epoch's parameters (for the test evaluation and the saved model).
    pub restore_best: bool,
}

/// Where the watched metric stands after some epochs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Watch {
    rule: EarlyStopping,
    /// The best epoch so far and its value.
    best: Option<(usize, f64)>,
    /// Epochs since the best one.
    wait: usize,
}

/// What an epoch meant to the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The epoch is the best so far.
    pub improved: bool,
    /// Patience ran out: train no further.
    pub stop: bool,
}

impl Watch {
    pub fn new(rule: EarlyStopping) -> Self {
        Self {
            rule,
            best: None,
            wait: 0,
        }
    }

    pub fn rule(&self) -> EarlyStopping {
        self.rule
    }

    /// The best epoch so far and its value.
    pub fn best(&self) -> Option<(usize, f64)> {
        self.best
    }

    /// Epochs since the best one (all of them while there is none).
    pub fn wait(&self) -> usize {
        self.wait
    }

    /// The watch of `rule` as a run left it (`best`, `wait`: as [`best`](Self::best) and
    /// [`wait`](Self::wait) said), so a resumed run goes on counting.
    pub fn resume(rule: EarlyStopping, best: Option<(usize, f64)>, wait: usize) -> Self {
        Self { rule, best, wait }
    }

    /// Patience ran out: the run stops after this epoch.
    pub fn exhausted(&self) -> bool {
        self.wait >= self.rule.patience
    }

    /// Takes in a finished epoch. A value that is not a number never improves.
    pub fn observe(&mut self, record: &EpochRecord) -> Verdict {
        let value = self.rule.monitor.value(record).unwrap_or(f64::NAN);
        let improved = match self.best {
            None => !value.is_nan(),
            Some((_, best)) if self.rule.monitor.higher_is_better() => {
                value - self.rule.min_delta > best
            }
            Some((_, best)) => value + self.rule.min_delta < best,
        };
        if improved {
            self.best = Some((record.epoch, value));
            self.wait = 0;
        } else {
            self.wait += 1;
        }
        Verdict {
            improved,
            stop: self.exhausted(),
        }
    }
}

/// How early stopping ended a run, for the console, the metrics file and the summary.
#[derive(Clone, Debug, PartialEq)]
pub struct Stopping {
    pub rule: EarlyStopping,
    /// The best epoch and its value (none when no epoch gave a number).
    pub best: Option<(usize, f64)>,
    /// The epoch after which patience ran out, when it did before the last one.
    pub stopped_after: Option<usize>,
    /// Whether the parameters were set back to the best epoch's.
    pub restored: bool,
}

impl Stopping {
    /// One line for the console: why training stopped (or that it did not) and what was kept.
    pub fn describe(&self) -> String {
        let rule = self.rule;
        let mut line = match self.stopped_after {
            Some(epoch) => format!(
                "early stopping: {} did not improve by more than {} for {} epoch{}; stopped \
                 after epoch {epoch}",
                rule.monitor,
                rule.min_delta,
                rule.patience,
                if rule.patience == 1 { "" } else { "s" },
            ),
            None => format!(
                "early stopping: {} kept improving within patience {}; ran every epoch",
                rule.monitor, rule.patience
            ),
        };
        if let Some((epoch, value)) = self.best {
            line.push_str(&format!(
                "; best epoch {epoch} ({} {value:.4})",
                rule.monitor
            ));
        }
        if self.restored {
            line.push_str("; restored its parameters");
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize, loss: f64, val: Option<(f64, f64)>) -> EpochRecord {
        EpochRecord {
            epoch,
            loss,
            accuracy: 1.0 - loss,
            validation: val,
            seconds: 1.0,
            samples_per_second: 1.0,
            learning_rate: None,
            best: false,
        }
    }

    fn rule(monitor: Monitor, patience: usize, min_delta: f64) -> EarlyStopping {
        EarlyStopping {
            patience,
            monitor,
            min_delta,
            restore_best: false,
        }
    }

    #[test]
    fn stops_after_patience_epochs_without_improvement() {
        let mut watch = Watch::new(rule(Monitor::Loss, 2, 0.0));
        let verdicts: Vec<(bool, bool)> = [0.5, 0.4, 0.45, 0.39, 0.39, 0.41]
            .iter()
            .enumerate()
            .map(|(i, &loss)| {
                let v = watch.observe(&record(i + 1, loss, None));
                (v.improved, v.stop)
            })
            .collect();
        assert_eq!(
            verdicts,
            [
                (true, false),
                (true, false),
                (false, false),
                (true, false),
                (false, false),
                (false, true)
            ]
        );
        assert_eq!(watch.best(), Some((4, 0.39)));
    }

    #[test]
    fn min_delta_and_direction_follow_the_metric() {
        let mut watch = Watch::new(rule(Monitor::ValAccuracy, 1, 0.01));
        assert!(watch.observe(&record(1, 0.0, Some((0.3, 0.90)))).improved);
        let small = watch.observe(&record(2, 0.0, Some((0.3, 0.905))));
        assert_eq!(
            small,
            Verdict {
                improved: false,
                stop: true
            }
        );
        assert!(watch.observe(&record(3, 0.0, Some((0.3, 0.92)))).improved);
        let mut watch = Watch::new(rule(Monitor::ValLoss, 3, 0.0));
        assert!(!watch.observe(&record(1, 0.1, None)).improved, "no value");
        assert!(
            !watch
                .observe(&record(2, 0.1, Some((f64::NAN, 0.5))))
                .improved
        );
        assert!(watch.observe(&record(3, 0.1, Some((0.2, 0.5)))).improved);
        assert_eq!(watch.best(), Some((3, 0.2)));
    }

    #[test]
    fn monitors_parse_by_name() {
        for m in [
            Monitor::ValLoss,
            Monitor::ValAccuracy,
            Monitor::Loss,
            Monitor::Accuracy,
        ] {
            assert_eq!(m.name().parse::<Monitor>().unwrap(), m);
        }
        assert!("val_acc"
            .parse::<Monitor>()
            .unwrap_err()
            .to_string()
            .starts_with("monitor 'val_acc': use val_loss"));
        assert_eq!(Monitor::default_for(0.1), Monitor::ValLoss);
        assert_eq!(Monitor::default_for(0.0), Monitor::Loss);
    }
}
