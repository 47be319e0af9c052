//! The one training loop, the same for every engine: epochs, seeded shuffles, batches (the last
//! one may be short), Keras-style validation split, sample-weighted metrics, divergence check.

use crate::data::Dataset;
use crate::engine::{Engine, Evaluation, OptimizerState, Split, StepMetrics};
use crate::error::{ConfigError, Error, Result};
use crate::model::optimizer::Optimizer;
use crate::phrase;
use crate::setting::Setting;
use crate::training::early_stopping::{EarlyStopping, Stopping, Watch};
use crate::training::planner::EpochPlanner;
use crate::training::record::EpochRecord;
use crate::training::schedule::{LrSchedule, Schedule};
use std::time::Instant;

/// How to train (the model itself is the engine's).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per optimizer step (the last step of an epoch may be short).
    pub batch_size: usize,
    /// Fraction of the training data held out, taken from its end before shuffling (Keras).
    pub validation_split: f64,
    /// Seed of the shuffles and of dropout (initialisation is [`ModelSpec::init_parameters`](crate::ModelSpec::init_parameters)'s).
    pub seed: u64,
    /// The update rule.
    pub optimizer: Optimizer,
    /// The shape of the learning rate over the run (`--lr-schedule`).
    pub lr_schedule: Schedule,
    /// Steps of linear learning-rate warm-up (`--warmup`; 0: none).
    pub warmup: u64,
    /// Stop when a metric stops improving (`--early-stopping`).
    pub early_stopping: Option<EarlyStopping>,
}

/// The TensorFlow quickstart's settings, as `gpu-mlp train` has them: 5 epochs of batch 32,
/// Adam with Keras's defaults (lr 1e-3, ε 1e-7), no validation split, seed 42.
impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 5,
            batch_size: 32,
            validation_split: 0.0,
            seed: 42,
            optimizer: Optimizer::adam(1e-3),
            lr_schedule: Schedule::Constant,
            warmup: 0,
            early_stopping: None,
        }
    }
}

impl TrainConfig {
    /// Checks the settings a user can get wrong; the errors name the [`Setting`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.epochs == 0 {
            return Err(ConfigError::new(phrase![
                Setting::Epochs,
                " must be at least 1"
            ]));
        }
        if self.batch_size == 0 {
            return Err(ConfigError::new(phrase![
                Setting::BatchSize,
                " must be at least 1"
            ]));
        }
        if !(0.0..1.0).contains(&self.validation_split) {
            return Err(ConfigError::new(phrase![
                Setting::ValidationSplit,
                format!(" must be in [0, 1), got {}", self.validation_split)
            ]));
        }
        if let Some(rule) = &self.early_stopping {
            if rule.patience == 0 {
                return Err(ConfigError::new(phrase![
                    Setting::EarlyStopping,
                    " must be at least 1 epoch"
                ]));
            }
            if rule.monitor.needs_validation() && self.validation_split == 0.0 {
                return Err(ConfigError::new(phrase![
                    Setting::Monitor,
                    format!(" {} needs a ", rule.monitor),
                    Setting::ValidationSplit
                ]));
            }
            if !(rule.min_delta >= 0.0 && rule.min_delta.is_finite()) {
                return Err(ConfigError::new(phrase![
                    Setting::MinDelta,
                    format!(" must be a number >= 0, got {}", rule.min_delta)
                ]));
            }
        }
        let lr = self.optimizer.lr();
        if !(lr > 0.0 && lr.is_finite()) {
            return Err(ConfigError::new(phrase![
                Setting::LearningRate,
                format!(" must be a positive number, got {lr}")
            ]));
        }
        Ok(())
    }

    /// Rows used for training and the range held out for validation, for `n` training samples.
    pub fn split_rows(&self, n: usize) -> (usize, std::ops::Range<usize>) {
        let train = (n as f64 * (1.0 - self.validation_split)).floor() as usize;
        (train, train..n)
    }

    /// The learning-rate schedule of a run on `train_rows` rows: its step counts come from the
    /// batches the planner makes.
    pub fn schedule(&self, train_rows: usize) -> LrSchedule {
        let steps_per_epoch = train_rows.div_ceil(self.batch_size.max(1)) as u64;
        LrSchedule {
            schedule: self.lr_schedule,
            warmup: self.warmup,
            steps_per_epoch,
            total_steps: steps_per_epoch.saturating_mul(self.epochs as u64),
        }
    }
}

/// Where a run stands between epochs: what the loop needs, besides the engine's parameters and
/// optimizer moments, to go on as if it had never stopped (a `--resume` checkpoint holds it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// One record per finished epoch, in order; its length is the epochs completed.
    pub history: Vec<EpochRecord>,
    /// The loss beyond which a step counts as exploded, set by the run's first step.
    pub loss_ceiling: Option<f32>,
    /// Early stopping's best epoch and patience so far (none without early stopping).
    pub watch: Option<Watch>,
    /// The best epoch's parameters, kept under `--restore-best`.
    pub best_parameters: Option<Vec<f32>>,
}

impl Progress {
    /// The start of a run of `config`: no epoch finished yet.
    pub fn new(config: &TrainConfig) -> Self {
        Self {
            watch: config.early_stopping.map(Watch::new),
            ..Self::default()
        }
    }

    /// Epochs finished.
    pub fn epochs_completed(&self) -> usize {
        self.history.len()
    }
}

/// Why the loop offers a snapshot after an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochEnd {
    /// 1-based epoch just finished.
    pub epoch: usize,
    /// No epoch follows (the last one, or early stopping fired).
    pub last: bool,
    /// A signal asked the run to stop here.
    pub interrupted: bool,
}

/// Everything a resumable checkpoint needs after an epoch.
pub struct Snapshot<'a> {
    pub end: EpochEnd,
    pub progress: &'a Progress,
    /// The parameters in force after the epoch (not the best ones).
    pub parameters: &'a [f32],
    /// Adam's moments (none under SGD, which keeps none).
    pub moments: Option<&'a OptimizerState>,
}

/// The outcome of a run.
#[derive(Clone, Debug)]
pub struct TrainReport {
    /// One record per epoch (those before a resume included).
    pub history: Vec<EpochRecord>,
    /// The test split's evaluation after the last epoch.
    pub test: Evaluation,
    /// The trained parameters, in [`ModelSpec::layers`](crate::ModelSpec::layers)' flat layout.
    pub parameters: Vec<f32>,
    /// How early stopping ended the run, when it was asked for.
    pub stopping: Option<Stopping>,
}

/// What the loop tells the outside world (console, metrics file, plots). All methods default
/// to doing nothing.
pub trait Observer {
    /// Epoch `epoch` of `epochs` starts; it has `steps` optimizer steps.
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize, _steps: usize) {}
    /// `steps_done` steps of the epoch have finished; running mean loss and accuracy so far.
    fn epoch_progress(&mut self, _steps_done: usize, _loss: f64, _accuracy: f64) {}
    /// Epoch `record.epoch` of `epochs` finished (validation included); an error stops the run.
    fn epoch_finished(&mut self, _record: &EpochRecord, _epochs: usize) -> Result<()> {
        Ok(())
    }
    /// The last epoch ran under early stopping (before the test); an error stops the run.
    fn stopped(&mut self, _stopping: &Stopping) -> Result<()> {
        Ok(())
    }
    /// The test split was evaluated after the last epoch; an error stops the run.
    fn tested(&mut self, _test: &Evaluation) -> Result<()> {
        Ok(())
    }
    /// Whether to stop after the epoch just finished (e.g. a signal came): the error the run
    /// ends with. Asked once per epoch, after `epoch_finished`.
    fn stop_requested(&mut self, _epoch: usize) -> Option<Error> {
        None
    }
    /// Whether `epoch_snapshot` wants a snapshot at `end` (a readback on a GPU, so only when
    /// asked; checkpoints use it).
    fn wants_snapshot(&self, _end: EpochEnd) -> bool {
        false
    }
    /// The run's state after an epoch, when `wants_snapshot` said so.
    fn epoch_snapshot(&mut self, _snapshot: &Snapshot) -> Result<()> {
        Ok(())
    }
}

/// An observer that ignores everything (tests, benchmarks).
pub struct Silent;
impl Observer for Silent {}

/// Several observers, each told of everything in order. Of the calls that can fail, every
/// observer is called even after one failed (so a failed console write still lets the checkpoint
/// and the summary see the epoch), and the first error is returned.
pub struct Observers<'a>(pub Vec<&'a mut dyn Observer>);

impl Observers<'_> {
    fn each(&mut self, mut call: impl FnMut(&mut dyn Observer) -> Result<()>) -> Result<()> {
        let mut first = Ok(());
        for observer in &mut self.0 {
            let result = call(&mut **observer);
            if first.is_ok() {
                first = result;
            }
        }
        first
    }
}

impl Observer for Observers<'_> {
    fn epoch_started(&mut self, epoch: usize, epochs: usize, steps: usize) {
        for observer in &mut self.0 {
            observer.epoch_started(epoch, epochs, steps);
        }
    }
    fn epoch_progress(&mut self, steps_done: usize, loss: f64, accuracy: f64) {
        for observer in &mut self.0 {
            observer.epoch_progress(steps_done, loss, accuracy);
        }
    }
    fn epoch_finished(&mut self, record: &EpochRecord, epochs: usize) -> Result<()> {
        self.each(|o| o.epoch_finished(record, epochs))
    }
    fn stop_requested(&mut self, epoch: usize) -> Option<Error> {
        self.0.iter_mut().find_map(|o| o.stop_requested(epoch))
    }
    fn stopped(&mut self, stopping: &Stopping) -> Result<()> {
        self.each(|o| o.stopped(stopping))
    }
    fn tested(&mut self, test: &Evaluation) -> Result<()> {
        self.each(|o| o.tested(test))
    }
    fn wants_snapshot(&self, end: EpochEnd) -> bool {
        self.0.iter().any(|o| o.wants_snapshot(end))
    }
    fn epoch_snapshot(&mut self, snapshot: &Snapshot) -> Result<()> {
        self.each(|o| {
            if o.wants_snapshot(snapshot.end) {
                o.epoch_snapshot(snapshot)
            } else {
                Ok(())
            }
        })
    }
}

/// A step's mean loss beyond this many times the run's starting loss means training has
/// exploded (e.g. `--lr 1e9`): healthy runs only go down from there, apart from brief bumps.
const EXPLOSION_FACTOR: f32 = 100.0;

/// The mean loss per sample above which training has exploded: `EXPLOSION_FACTOR` times the
/// first step's loss, or that of guessing uniformly among `classes` if higher (a run started
/// from a trained model begins with a small loss).
fn exploded_loss(first_step: f32, classes: usize) -> f32 {
    EXPLOSION_FACTOR * first_step.max((classes.max(2) as f32).ln())
}

/// Trains `engine` (already holding its initial parameters: [`Engine::set_parameters`]) on
/// `data`'s training split as `config` says, telling `observer` of the progress, then evaluates
/// the test split. Loads both splits into the engine. `gpu-mlp train` runs this same loop.
///
/// Fails on settings that cannot work ([`Error::Config`]), a loss that became NaN or infinite
/// ([`Error::Diverged`]), an engine's failure, or an error the observer returns.
pub fn run(
    config: &TrainConfig,
    data: &Dataset,
    engine: &mut dyn Engine,
    observer: &mut dyn Observer,
) -> Result<TrainReport> {
    run_from(config, data, engine, observer, Progress::new(config))
}

/// [`run`] going on from `progress`, with `engine` holding the parameters and optimizer moments
/// of that point ([`Engine::set_optimizer_state`]): the epochs after it are planned, trained and
/// reported bit for bit as in a run that was never stopped.
pub fn run_from(
    config: &TrainConfig,
    data: &Dataset,
    engine: &mut dyn Engine,
    observer: &mut dyn Observer,
    mut progress: Progress,
) -> Result<TrainReport> {
    config.validate()?;
    let (train_rows, validation_rows) = config.split_rows(data.train.count);
    if train_rows == 0 {
        return Err(ConfigError::new(phrase![
            Setting::ValidationSplit,
            format!(
                " {} leaves no training samples out of {}",
                config.validation_split, data.train.count
            )
        ])
        .into());
    }
    let done = progress.epochs_completed();
    if done > config.epochs {
        return Err(ConfigError::new(phrase![
            Setting::Epochs,
            format!(
                " {} is fewer than the {done} epochs the run has finished",
                config.epochs
            )
        ])
        .into());
    }
    if progress.watch.map(|w| w.rule()) != config.early_stopping {
        return Err(ConfigError::new(phrase![
            "the early-stopping state does not belong to this run's ",
            Setting::EarlyStopping
        ])
        .into());
    }
    engine.load_split(Split::Train, &data.train)?;
    engine.load_split(Split::Test, &data.test)?;

    let schedule = config.schedule(train_rows);
    let mut planner =
        EpochPlanner::new(config.seed, train_rows, config.batch_size, config.optimizer)
            .with_schedule(schedule);
    planner.fast_forward(done);
    // Room for the epochs ahead, within reason: `--epochs 1000000000000` plans each epoch as
    // it comes, and its history grows with the epochs actually run.
    progress
        .history
        .reserve((config.epochs - done).min(1 << 12));
    let restore_best = config.early_stopping.is_some_and(|r| r.restore_best);
    let keeps_moments = matches!(config.optimizer, Optimizer::Adam { .. });
    // A run stopped by early stopping right after its last checkpoint stops here again.
    let mut stopped_after = progress
        .watch
        .filter(|w| w.exhausted() && done < config.epochs)
        .map(|_| done);
    let first = if stopped_after.is_some() {
        config.epochs + 1
    } else {
        done + 1
    };
    for epoch in first..=config.epochs {
        let plan = planner.next_epoch();
        observer.epoch_started(epoch, config.epochs, plan.steps.len());
        let started = Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0u64, 0u64);
        let mut progress_shown = |done: usize, new: &[StepMetrics]| {
            let first = done - new.len();
            for (m, step) in new.iter().zip(&plan.steps[first..done]) {
                loss_sum += m.loss_sum as f64;
                correct += m.correct as u64;
                seen += step.len as u64;
            }
            observer.epoch_progress(
                done,
                loss_sum / seen.max(1) as f64,
                correct as f64 / seen.max(1) as f64,
            );
        };
        let metrics = engine.train_epoch(&plan, &mut progress_shown)?;
        let step_loss = |i: usize| metrics[i].loss_sum / plan.steps[i].len.max(1) as f32;
        let ceiling = *progress
            .loss_ceiling
            .get_or_insert_with(|| exploded_loss(step_loss(0), data.class_names.len()));
        let exploded = |loss: f32| !loss.is_finite() || loss > ceiling;
        if let Some(bad) = (0..metrics.len()).find(|&i| exploded(step_loss(i))) {
            return Err(Error::Diverged {
                epoch,
                step: bad + 1,
                value: step_loss(bad),
            });
        }
        let seconds = started.elapsed().as_secs_f64();
        let validation = if validation_rows.is_empty() {
            None
        } else {
            let v = engine.evaluate(Split::Train, validation_rows.clone())?;
            Some((v.loss(), v.accuracy()))
        };
        let loss: f64 = metrics.iter().map(|m| m.loss_sum as f64).sum::<f64>() / train_rows as f64;
        let accuracy = metrics.iter().map(|m| m.correct as f64).sum::<f64>() / train_rows as f64;
        let mut record = EpochRecord {
            epoch,
            loss,
            accuracy,
            validation,
            seconds,
            samples_per_second: train_rows as f64 / seconds.max(1e-9),
            learning_rate: schedule
                .varies()
                .then(|| planner.learning_rate(planner.steps_taken())),
            best: false,
        };
        let verdict = progress.watch.as_mut().map(|w| w.observe(&record));
        if let Some(verdict) = verdict {
            record.best = verdict.improved;
            if verdict.improved && restore_best {
                progress.best_parameters = Some(engine.parameters()?);
            }
        }
        observer.epoch_finished(&record, config.epochs)?;
        progress.history.push(record);
        let stop = verdict.is_some_and(|v| v.stop) && epoch < config.epochs;
        let interruption = observer.stop_requested(epoch);
        let end = EpochEnd {
            epoch,
            last: stop || epoch == config.epochs,
            interrupted: interruption.is_some(),
        };
        if observer.wants_snapshot(end) {
            let parameters = engine.parameters()?;
            let moments = if keeps_moments {
                Some(engine.optimizer_state()?)
            } else {
                None
            };
            observer.epoch_snapshot(&Snapshot {
                end,
                progress: &progress,
                parameters: &parameters,
                moments: moments.as_ref(),
            })?;
        }
        if let Some(error) = interruption {
            return Err(error);
        }
        if stop {
            stopped_after = Some(epoch);
            break;
        }
    }
    let Progress {
        history,
        watch,
        best_parameters,
        ..
    } = progress;
    let stopping = match watch {
        Some(watch) => {
            // Only when a later epoch moved away from the best one do parameters change.
            let last = history.last().map_or(0, |r| r.epoch);
            let restore = best_parameters.filter(|_| watch.best().is_some_and(|b| b.0 != last));
            let restored = restore.is_some();
            if let Some(best) = restore {
                engine.set_parameters(&best)?;
            }
            let stopping = Stopping {
                rule: watch.rule(),
                best: watch.best(),
                stopped_after,
                restored,
            };
            observer.stopped(&stopping)?;
            Some(stopping)
        }
        None => None,
    };
    let test = engine.evaluate(Split::Test, 0..data.test.count)?;
    observer.tested(&test)?;
    Ok(TrainReport {
        history,
        test,
        parameters: engine.parameters()?,
        stopping,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_split_takes_the_end() {
        let cfg = TrainConfig {
            epochs: 1,
            batch_size: 1,
            validation_split: 0.1,
            seed: 0,
            ..TrainConfig::default()
        };
        assert_eq!(cfg.split_rows(60000), (54000, 54000..60000));
    }
}
