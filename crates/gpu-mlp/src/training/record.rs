//! What one epoch measured: the line `train` prints, the row `--metrics-out` writes, what early
//! stopping watches and a resumed run's history holds.

/// The figures of one epoch, as printed and as written to `--metrics-out`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch (with dropout, before each step's update).
    pub loss: f64,
    /// Training accuracy over the epoch, measured as the loss is.
    pub accuracy: f64,
    /// `(loss, accuracy)` on the validation rows after the epoch, when there are any.
    pub validation: Option<(f64, f64)>,
    /// Wall-clock seconds of the epoch's training steps.
    pub seconds: f64,
    /// Training samples per second of the epoch.
    pub samples_per_second: f64,
    /// The learning rate in force at the epoch's last step, when a schedule or warm-up varies it.
    pub learning_rate: Option<f64>,
    /// Early stopping's watched metric is the best so far at this epoch.
    pub best: bool,
}
