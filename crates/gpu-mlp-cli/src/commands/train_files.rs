//! What `train` keeps besides the console: `--save` / `--checkpoint-every` checkpoints (with
//! the training state `--resume` goes on from), `--init-from` / `--resume` starting parameters,
//! and the `--plot` picture. Kept apart from `train.rs` so the engine selection there and this
//! stay independent.

use crate::cli::TrainArgs;
use crate::plots;
use gpu_mlp::checkpoint::{self, Checkpoint};
use gpu_mlp::data::{DataDigest, Dataset, LabelColumn};
use gpu_mlp::engine::Evaluation;
use gpu_mlp::error::{CheckpointError, Result};
use gpu_mlp::fsio::atomic;
use gpu_mlp::model::ModelSpec;
use gpu_mlp::training::resume::ResumeState;
use gpu_mlp::training::{EpochEnd, EpochRecord, Observer, Snapshot, TrainReport};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The output and input files of a training run, checked before any data is loaded so a bad
/// path fails in a second rather than after the training.
pub struct TrainFiles {
    save: Option<PathBuf>,
    every: Option<usize>,
    plot: Option<PathBuf>,
    /// `--init-from`'s or `--resume`'s checkpoint.
    init: Option<(PathBuf, Checkpoint)>,
    resumed: bool,
}

impl TrainFiles {
    /// Checks that `--save` and `--plot` can be written and loads `--init-from` or `--resume`
    /// (which must hold a training state).
    pub fn prepare(args: &TrainArgs) -> Result<Self> {
        for path in [&args.save, &args.plot].into_iter().flatten() {
            atomic::check_writable(path)?;
        }
        let init = match args.resume.as_ref().or(args.init_from.as_ref()) {
            Some(path) => Some((path.clone(), checkpoint::load(path)?)),
            None => None,
        };
        if let (Some(path), Some((_, ckpt))) = (&args.resume, &init) {
            if ckpt.resume.is_none() {
                return Err(CheckpointError::Invalid {
                    path: path.clone(),
                    problem: gpu_mlp::training::resume::NO_STATE.to_string(),
                }
                .into());
            }
        }
        Ok(Self {
            // A resumed run saves back into the file it goes on from unless --save says where.
            save: args.save.clone().or_else(|| args.resume.clone()),
            every: args.checkpoint_every.map(|n| n as usize),
            plot: args.plot.clone(),
            init,
            resumed: args.resume.is_some(),
        })
    }

    /// `--resume`'s file and training state.
    pub fn resume(&self) -> Option<(&Path, &ResumeState)> {
        let (path, ckpt) = self.init.as_ref().filter(|_| self.resumed)?;
        Some((path.as_path(), ckpt.resume.as_ref()?))
    }

    /// The network to train and its starting parameters: fresh Glorot ones for `--hidden`, or
    /// `--init-from`'s (its layer sizes; its dropout unless `--dropout`), checked against the data.
    pub fn model(&self, args: &TrainArgs, data: &Dataset) -> Result<(ModelSpec, Vec<f32>)> {
        match &self.init {
            None => {
                let spec = args.network.spec(data.features(), data.classes())?;
                // Before the first allocation of the parameters; the engine checks its own share.
                let what = format!("the model {}", spec.describe());
                let host = spec.memory_bytes(gpu_mlp::model::HOST_PARAMETER_COPIES, 0);
                gpu_mlp::fsio::memory::ensure_available(host, &what, "use a smaller --hidden")?;
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
                    let hidden = if hidden.is_empty() {
                        "none".to_string()
                    } else {
                        hidden.join(",")
                    };
                    if self.resumed {
                        return Err(gpu_mlp::error::ConfigError::new(format!(
                            "--hidden would change the results of the run --resume goes on \
                             with (it has {hidden}); leave the flag out"
                        ))
                        .into());
                    }
                    println!(
                        "note: --init-from {} has hidden layers {hidden}; --hidden is not used",
                        path.display(),
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
                // A final save after --restore-best holds the best epoch's parameters as the
                // model and the last epoch's, which training goes on from, apart.
                let resumed = ckpt.resume.as_ref().filter(|_| self.resumed);
                let parameters = resumed.and_then(|state| state.parameters.as_ref());
                Ok((spec, parameters.unwrap_or(&ckpt.parameters).clone()))
            }
        }
    }

    /// An observer that saves checkpoints and plots. The optimizer `args` give and `engine` (its description) go into the
    /// checkpoint's metadata, `settings` (the run's, for `--resume`) into its training state.
    pub fn observer<'a>(
        &'a self,
        args: &TrainArgs,
        data: &Dataset,
        spec: &ModelSpec,
        engine: &str,
        settings: Map<String, Value>,
    ) -> TrainFilesObserver<'a> {
        let mut metadata = BTreeMap::new();
        for (key, value) in [
            ("epochs", args.epochs.to_string()),
            ("batch_size", args.batch_size.to_string()),
            ("optimizer", args.optimizer().describe()),
            ("learning_rate", args.lr.to_string()),
            ("adam_epsilon", args.adam_epsilon.to_string()),
            ("seed", args.seed.to_string()),
            ("validation_split", args.validation_split.to_string()),
            ("engine", engine.to_string()),
            ("train_samples", data.train().count().to_string()),
            ("test_samples", data.test().count().to_string()),
            // Absolute, so eval and predict find it from any folder.
            (
                "data_dir",
                data.dir()
                    .canonicalize()
                    .unwrap_or_else(|_| data.dir().to_path_buf())
                    .display()
                    .to_string(),
            ),
        ] {
            metadata.insert(key.to_string(), value);
        }
        // What reading the data again needs: eval and predict take the label column from here.
        if let Some(column) = &args.data.label_column {
            let text = match column {
                LabelColumn::Name(name) => name.clone(),
                other => other.to_string(),
            };
            metadata.insert("label_column".to_string(), text);
        }
        metadata.insert("test_split".to_string(), args.data.test_split.to_string());
        if let Some((path, _)) = &self.init {
            let key = if self.resumed {
                "resumed_from"
            } else {
                "init_from"
            };
            metadata.insert(key.to_string(), path.display().to_string());
        }
        let mut template = Checkpoint::for_dataset(spec.clone(), Vec::new(), data);
        template.metadata = metadata;
        TrainFilesObserver {
            files: self,
            template,
            settings,
            data_digest: self.save.as_ref().map(|_| DataDigest::of(data)),
            history: self
                .resume()
                .map_or_else(Vec::new, |(_, s)| s.history.clone()),
            last_state: None,
            title: format!("{} on {}", spec.describe(), data.name()),
        }
    }
}

/// Saves checkpoints (periodic, interrupted, final) and redraws the plot.
pub struct TrainFilesObserver<'a> {
    files: &'a TrainFiles,
    /// The checkpoint to write, less its parameters, metrics and training state.
    template: Checkpoint,
    /// The run's settings, for the training state.
    settings: Map<String, Value>,
    /// The samples the run trains and tests on, for the training state (with `--save` only).
    data_digest: Option<DataDigest>,
    history: Vec<EpochRecord>,
    /// The training state after the last epoch, with its parameters, for the final checkpoint.
    last_state: Option<ResumeState>,
    title: String,
}

impl TrainFilesObserver<'_> {
    /// A checkpoint of `parameters` with the metrics of the epochs so far (and the test) and
    /// the training state `resume` to go on from.
    fn checkpoint(
        &self,
        parameters: &[f32],
        test: Option<&Evaluation>,
        resume: Option<ResumeState>,
    ) -> Checkpoint {
        let mut ckpt = self.template.clone();
        ckpt.parameters = parameters.to_vec();
        ckpt.resume = resume;
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

    /// Writes the final checkpoint (with the test metrics) and plot, and says where. It can be
    /// resumed (e.g. with a larger `--epochs`); when `--restore-best` put the best epoch's
    /// parameters back, the last epoch's, which training would go on from, go in apart.
    pub fn finish(self, report: &TrainReport) -> Result<()> {
        if self.last_state.is_none() {
            if let Some((resumed, state)) = self.files.resume() {
                return self.nothing_done(resumed, state);
            }
        }
        if let Some(path) = &self.files.save {
            let restored = report.stopping.as_ref().is_some_and(|s| s.restored);
            let state = self.last_state.clone().map(|state| ResumeState {
                parameters: state.parameters.filter(|_| restored),
                ..state
            });
            let ckpt = self.checkpoint(&report.parameters, Some(&report.test), state);
            checkpoint::save(path, &ckpt)?;
            println!("saved the model to {}", path.display());
        }
        if let Some(path) = &self.files.plot {
            println!("drew loss and accuracy per epoch into {}", path.display());
        }
        Ok(())
    }
}

impl TrainFilesObserver<'_> {
    /// A resumed run that had no epoch left: its file stays as it was (or is copied whole to
    /// another `--save`), so it can still be extended by a larger `--epochs`.
    fn nothing_done(&self, resumed: &Path, state: &ResumeState) -> Result<()> {
        let done = state.epochs_completed();
        println!(
            "nothing to do: {} has finished its run ({done} epoch{}); it is left as it was. \
             Pass a larger --epochs to go on",
            resumed.display(),
            if done == 1 { "" } else { "s" }
        );
        let Some(save) = &self.files.save else {
            return Ok(());
        };
        if crate::output_paths::same_file(save, resumed) {
            return Ok(());
        }
        if let Some((_, ckpt)) = &self.files.init {
            checkpoint::save(save, ckpt)?;
            println!("saved the model to {}", save.display());
        }
        Ok(())
    }
}

impl Observer for TrainFilesObserver<'_> {
    fn epoch_finished(&mut self, record: &EpochRecord, _epochs: usize) -> Result<()> {
        self.history.push(record.clone());
        if let Some(path) = &self.files.plot {
            plots::training_curves(path, &self.history, &self.title)?;
        }
        Ok(())
    }

    fn wants_snapshot(&self, end: EpochEnd) -> bool {
        let due = self
            .files
            .every
            .is_some_and(|n| end.epoch.is_multiple_of(n));
        self.files.save.is_some() && (due || end.last || end.interrupted)
    }

    fn epoch_snapshot(&mut self, snapshot: &Snapshot) -> Result<()> {
        let end = snapshot.end;
        let Some(path) = &self.files.save else {
            return Ok(());
        };
        let state = ResumeState {
            data_digest: self.data_digest.clone(),
            ..ResumeState::from_snapshot(self.settings.clone(), snapshot)
        };
        let due = self
            .files
            .every
            .is_some_and(|n| end.epoch.is_multiple_of(n));
        if due || end.interrupted {
            let ckpt = self.checkpoint(snapshot.parameters, None, Some(state.clone()));
            checkpoint::save(path, &ckpt)?;
            if end.interrupted {
                println!(
                    "interrupted: the run after epoch {} is saved to {1}; go on with \
                     `gpu-mlp train --resume {1}`",
                    end.epoch,
                    path.display()
                );
            } else {
                println!(
                    "checkpoint: epoch {} saved to {}",
                    end.epoch,
                    path.display()
                );
            }
        }
        if end.last {
            self.last_state = Some(ResumeState {
                parameters: Some(snapshot.parameters.to_vec()),
                ..state
            });
        }
        Ok(())
    }
}
