//! What `train` keeps besides the console: `--save` / `--checkpoint-every` checkpoints,
//! `--init-from` starting parameters, and the `--plot` picture. Kept apart from `train.rs` so
//! the engine selection there and this stay independent.

use crate::checkpoint::{self, Checkpoint};
use crate::cli::TrainArgs;
use crate::data::Dataset;
use crate::early_stopping::Stopping;
use crate::engine::Evaluation;
use crate::error::{CheckpointError, Result};
use crate::model::ModelSpec;
use crate::optimizer::Optimizer;
use crate::output;
use crate::plots;
use crate::train::{EpochRecord, Observer, TrainReport};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The output and input files of a training run, checked before any data is loaded so a bad
/// path fails in a second rather than after the training.
pub struct TrainOutputs {
    save: Option<PathBuf>,
    every: Option<usize>,
    plot: Option<PathBuf>,
    init: Option<(PathBuf, Checkpoint)>,
}

impl TrainOutputs {
    /// Checks that `--save` and `--plot` can be written and loads `--init-from`.
    pub fn prepare(args: &TrainArgs) -> Result<Self> {
        for path in [&args.save, &args.plot].into_iter().flatten() {
            output::check_writable(path)?;
        }
        let init = match &args.init_from {
            Some(path) => Some((path.clone(), checkpoint::load(path)?)),
            None => None,
        };
        Ok(Self {
            save: args.save.clone(),
            every: args.checkpoint_every.map(|n| n as usize),
            plot: args.plot.clone(),
            init,
        })
    }

    /// The network to train and its starting parameters: fresh Glorot ones for `--hidden`, or
    /// `--init-from`'s (its layer sizes; its dropout unless `--dropout`), checked against the data.
    pub fn model(&self, args: &TrainArgs, data: &Dataset) -> Result<(ModelSpec, Vec<f32>)> {
        match &self.init {
            None => {
                let spec = args.network.spec(data.features(), data.classes())?;
                // Before the first allocation of the parameters; the engine checks its own share.
                let what = format!("the model {}", spec.describe());
                let host = spec.memory_bytes(crate::model::HOST_PARAMETER_COPIES, 0);
                crate::memory::ensure_available(host, &what, "use a smaller --hidden")?;
                let parameters = spec.init_parameters(args.seed);
                Ok((spec, parameters))
            }
            Some((path, ckpt)) => {
                ckpt.check_fits(path, data)?;
                if args
                    .network
                    .hidden
                    .as_ref()
                    .is_some_and(|h| h.0 != ckpt.spec.hidden)
                {
                    let hidden: Vec<String> =
                        ckpt.spec.hidden.iter().map(|h| h.to_string()).collect();
                    println!(
                        "note: --init-from {} has hidden layers {}; --hidden is not used",
                        path.display(),
                        if hidden.is_empty() {
                            "none".to_string()
                        } else {
                            hidden.join(",")
                        }
                    );
                }
                let spec = ModelSpec::new(
                    ckpt.spec.inputs,
                    ckpt.spec.hidden.clone(),
                    ckpt.spec.classes,
                    args.network.dropout_rate(Some(ckpt.spec.dropout)),
                )?;
                if ckpt.parameters.len() != spec.parameter_count() {
                    return Err(CheckpointError::Invalid {
                        path: path.clone(),
                        problem: "parameter count does not match its layers".to_string(),
                    }
                    .into());
                }
                Ok((spec, ckpt.parameters.clone()))
            }
        }
    }

    /// An observer that passes everything to `inner` and also saves checkpoints and plots.
    /// `optimizer` (the one `args` gave) and `engine` (its description) go into the
    /// checkpoint's metadata.
    pub fn observer<'a>(
        &'a self,
        inner: &'a mut dyn Observer,
        args: &TrainArgs,
        data: &Dataset,
        spec: &ModelSpec,
        optimizer: Optimizer,
        engine: &str,
    ) -> OutputObserver<'a> {
        let mut metadata = BTreeMap::new();
        for (key, value) in [
            ("epochs", args.epochs.to_string()),
            ("batch_size", args.batch_size.to_string()),
            ("optimizer", optimizer.describe()),
            ("learning_rate", args.lr.to_string()),
            ("adam_epsilon", args.adam_epsilon.to_string()),
            ("seed", args.seed.to_string()),
            ("validation_split", args.validation_split.to_string()),
            ("engine", engine.to_string()),
            ("train_samples", data.train.count.to_string()),
            ("test_samples", data.test.count.to_string()),
            // Absolute, so eval and predict find it from any folder.
            (
                "data_dir",
                data.dir
                    .canonicalize()
                    .unwrap_or_else(|_| data.dir.clone())
                    .display()
                    .to_string(),
            ),
        ] {
            metadata.insert(key.to_string(), value);
        }
        if let Some((path, _)) = &self.init {
            metadata.insert("init_from".to_string(), path.display().to_string());
        }
        let mut template = Checkpoint::for_dataset(spec.clone(), Vec::new(), data);
        template.metadata = metadata;
        OutputObserver {
            outputs: self,
            inner,
            template,
            history: Vec::new(),
            title: format!("{} on {}", spec.describe(), data.name),
        }
    }
}

/// Forwards to the console observer; saves periodic checkpoints and redraws the plot.
pub struct OutputObserver<'a> {
    outputs: &'a TrainOutputs,
    inner: &'a mut dyn Observer,
    /// The checkpoint to write, less its parameters and metrics.
    template: Checkpoint,
    history: Vec<EpochRecord>,
    title: String,
}

impl OutputObserver<'_> {
    /// A checkpoint of `parameters` with the metrics of the epochs so far (and the test).
    fn checkpoint(&self, parameters: &[f32], test: Option<&Evaluation>) -> Checkpoint {
        let mut ckpt = self.template.clone();
        ckpt.parameters = parameters.to_vec();
        if let Some(last) = self.history.last() {
            let m = &mut ckpt.metadata;
            m.insert("epochs_completed".into(), last.epoch.to_string());
            m.insert("loss".into(), format!("{:.6}", last.loss));
            m.insert("accuracy".into(), format!("{:.6}", last.accuracy));
            if let Some((val_loss, val_accuracy)) = last.validation {
                m.insert("val_loss".into(), format!("{val_loss:.6}"));
                m.insert("val_accuracy".into(), format!("{val_accuracy:.6}"));
            }
        }
        if let Some(test) = test {
            let m = &mut ckpt.metadata;
            m.insert("test_loss".into(), format!("{:.6}", test.loss()));
            m.insert("test_accuracy".into(), format!("{:.6}", test.accuracy()));
        }
        ckpt
    }

    /// Writes the final checkpoint (with the test metrics) and plot, and says where.
    pub fn finish(self, report: &TrainReport) -> Result<()> {
        if let Some(path) = &self.outputs.save {
            checkpoint::save(
                path,
                &self.checkpoint(&report.parameters, Some(&report.test)),
            )?;
            println!("saved the model to {}", path.display());
        }
        if let Some(path) = &self.outputs.plot {
            println!("drew loss and accuracy per epoch into {}", path.display());
        }
        Ok(())
    }
}

impl OutputObserver<'_> {
    /// After a signal stopped the run between epochs: saves `parameters` (those of the last
    /// finished epoch) when `--save` was given and says how to go on from them.
    pub fn finish_interrupted(self, parameters: &[f32]) -> Result<()> {
        let Some(path) = &self.outputs.save else {
            return Ok(());
        };
        checkpoint::save(path, &self.checkpoint(parameters, None))?;
        let epoch = self.history.last().map_or(0, |r| r.epoch);
        println!(
            "interrupted: the model after epoch {epoch} is saved to {0}; go on from it with \
             --init-from {0} (its parameters; Adam's moments start again)",
            path.display()
        );
        Ok(())
    }
}

impl Observer for OutputObserver<'_> {
    fn epoch_started(&mut self, epoch: usize, epochs: usize, steps: usize) {
        self.inner.epoch_started(epoch, epochs, steps);
    }

    fn epoch_progress(&mut self, steps_done: usize, loss: f64, accuracy: f64) {
        self.inner.epoch_progress(steps_done, loss, accuracy);
    }

    fn epoch_finished(&mut self, record: &EpochRecord, epochs: usize) -> Result<()> {
        self.inner.epoch_finished(record, epochs)?;
        self.history.push(record.clone());
        if let Some(path) = &self.outputs.plot {
            plots::training_curves(path, &self.history, &self.title)?;
        }
        Ok(())
    }

    fn stopped(&mut self, stopping: &Stopping) -> Result<()> {
        self.inner.stopped(stopping)
    }

    fn tested(&mut self, test: &Evaluation) -> Result<()> {
        self.inner.tested(test)
    }

    fn wants_parameters(&self, epoch: usize) -> bool {
        self.inner.wants_parameters(epoch)
            || self
                .outputs
                .every
                .is_some_and(|n| self.outputs.save.is_some() && epoch.is_multiple_of(n))
    }

    fn epoch_parameters(&mut self, record: &EpochRecord, parameters: &[f32]) -> Result<()> {
        if self.inner.wants_parameters(record.epoch) {
            self.inner.epoch_parameters(record, parameters)?;
        }
        if let (Some(path), Some(n)) = (&self.outputs.save, self.outputs.every) {
            if record.epoch.is_multiple_of(n) {
                checkpoint::save(path, &self.checkpoint(parameters, None))?;
                println!(
                    "checkpoint: epoch {} saved to {}",
                    record.epoch,
                    path.display()
                );
            }
        }
        Ok(())
    }
}
