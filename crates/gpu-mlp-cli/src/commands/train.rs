//! `gpu-mlp train`.

use super::train_files::TrainFiles;
use crate::cli::{OptimizerArg, TrainArgs};
use crate::console::ConsoleReporter;
use crate::metrics_file::MetricsFile;
use crate::run_summary::{self as summary, Recorder, RunFacts};
use gpu_mlp::data::{DataDigest, Dataset, SourceKind, TestOrigin};
use gpu_mlp::error::{ConfigError, Error, Result};
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::training::resume::{self, ResumeState};
use gpu_mlp::training::{Observer, Observers, Progress, TrainConfig, TrainReport, Trainer};
use std::path::{Path, PathBuf};

pub fn run(args: &TrainArgs) -> Result<TrainReport> {
    let started = std::time::Instant::now();
    check_paths(args)?;
    // Open the output first: an unwritable path should fail before minutes of training.
    let metrics = args
        .metrics_out
        .as_deref()
        .map(MetricsFile::create)
        .transpose()?;
    if let Some(path) = &args.summary_json {
        summary::check_writable(path)?;
    }
    // A first Ctrl-C (or SIGTERM) ends the run after its epoch, saving a checkpoint to
    // --resume from when --save is given; a second one ends it at once.
    crate::interrupt::install();
    let files = TrainFiles::prepare(args)?;
    let (mut data, test_origin) = super::load_dataset_seeded(&args.data, args.seed)?;
    let subset_of = args.train_samples.map(|_| data.train().count());
    if let Some(n) = args.train_samples {
        let subset = gpu_mlp::data::subset::stratified(data.train(), n as usize, args.seed)?;
        data = data.with_train(subset)?;
    }
    let (spec, initial_parameters) = files.model(args, &data)?;
    let config = args.config();
    let optimizer = config.optimizer;
    if args.weight_decay != 0.0 && args.optimizer != OptimizerArg::Adam {
        return Err(ConfigError::new(
            "--weight-decay is AdamW's decoupled decay: it needs --optimizer adam",
        )
        .into());
    }
    config.validate()?;
    let settings = summary::run_settings(args, &spec, config.early_stopping);
    let progress = match files.resume() {
        Some((path, state)) => resumed_progress(path, state, &settings, &config, &data)?,
        None => Progress::new(&config),
    };
    if args.verify {
        // Refuse an adapter that computes wrong numbers before spending minutes on it.
        gpu_mlp::diagnostics::verify::quick_check(
            super::devices::backend_choice(args.engine.backend)?,
            args.engine.adapter.as_deref(),
            &spec,
            optimizer,
            config.batch_size,
            args.seed,
            Some(data.train()),
        )?;
    }
    let (train_rows, val_rows) = config.split_rows(data.train().count());
    let mut trainer = Trainer::new(spec.clone())
        .config(config.clone())
        .engine(super::engine_options(&args.engine)?)
        .parameters(initial_parameters);
    if let Some(moments) = files.resume().and_then(|(_, state)| state.moments.clone()) {
        trainer = trainer.optimizer_state(moments);
    }
    let opened = trainer.open(&data)?;
    super::say_note(&opened);
    let mut engine = opened.engine;
    // An IDX data set's test part is its t10k files, as ever; any other origin is said.
    let test_from = match (&test_origin, data.source()) {
        (TestOrigin::Own, SourceKind::Idx) => String::new(),
        (origin, _) => format!("; test set: {origin}"),
    };
    println!(
        "{} on {} ({} train{}, {} test{test_from}{}) - {} - batch {} - {}",
        spec.describe(),
        data.name(),
        train_rows,
        if val_rows.is_empty() {
            String::new()
        } else {
            format!(", {} validation", val_rows.len())
        },
        data.test().count(),
        subset_of.map_or(String::new(), |all| format!(
            "; --train-samples: a stratified subset of {} of {all}, seed {}",
            data.train().count(),
            args.seed
        )),
        optimizer.describe(),
        config.batch_size,
        engine.describe(),
    );
    if config.batch_size > train_rows {
        println!(
            "note: --batch-size {} is more than the {train_rows} training samples: each epoch is \
             one step over all of them",
            config.batch_size
        );
    }
    let mut reporter = ConsoleReporter::new(metrics);
    let engine_name = engine.describe();
    if let Some((path, state)) = files.resume() {
        println!(
            "resuming {} after epoch {} of {}",
            path.display(),
            state.epochs_completed(),
            config.epochs
        );
        for key in ["backend", "adapter"] {
            if state.settings.get(key) != settings.get(key) {
                println!(
                    "note: the run began with another --{key}; engines agree closely but not \
                     bit for bit, so the resumed run's numbers may differ in their last digits"
                );
            }
        }
        // The finished epochs' lines again, on the console and in the metrics file.
        for record in &progress.history {
            reporter.epoch_finished(record, config.epochs)?;
        }
    }
    let facts = RunFacts::new(
        args,
        &spec,
        &data,
        (train_rows, val_rows.len()),
        subset_of,
        engine_name.clone(),
    );
    let mut files_observer = files.observer(args, &data, &spec, &engine_name, settings);
    let mut recorder = Recorder::new(progress.history.clone());
    let mut observers = Observers(vec![&mut reporter, &mut files_observer, &mut recorder]);
    let result = trainer.fit_on(engine.as_mut(), &data, &mut observers, progress);
    let (history, test) = recorder.into_results();
    let result = result.and_then(|report| files_observer.finish(&report).map(|()| report));
    if let Some(path) = &args.summary_json {
        let seconds = started.elapsed().as_secs_f64();
        summary::write_for(path, &facts, &history, test.as_ref(), &result, seconds)?;
    }
    result
}

/// Refuses, before anything is opened for writing, an output that is an input or another
/// output. (`--save` may be the `--resume` file: that is where a resumed run saves.)
fn check_paths(args: &TrainArgs) -> Result<()> {
    fn given<'a>(pairs: &[(&'static str, &'a Option<PathBuf>)]) -> Vec<(&'static str, &'a Path)> {
        pairs
            .iter()
            .filter_map(|(flag, path)| path.as_deref().map(|p| (*flag, p)))
            .collect()
    }
    let inputs = given(&[
        ("--data", &args.data.data),
        ("--test-data", &args.data.test_data),
        ("--config", &args.config),
    ]);
    let outputs = given(&[
        ("--save", &args.save),
        ("--metrics-out", &args.metrics_out),
        ("--plot", &args.plot),
        ("--summary-json", &args.summary_json),
    ]);
    crate::output_paths::check(&inputs, &outputs)?;
    // A checkpoint started from is an input of every output but --save, which may replace it.
    let started_from = given(&[("--resume", &args.resume), ("--init-from", &args.init_from)]);
    let not_save: Vec<(&str, &Path)> = outputs.into_iter().filter(|o| o.0 != "--save").collect();
    crate::output_paths::check(&started_from, &not_save)?;
    Ok(())
}

/// Where the run `--resume` goes on from stands, checked against the resumed run's `settings`
/// (a flag that would change its numbers is refused), `config` and `data` (other samples than
/// the run trained on are refused, when the file recorded them).
fn resumed_progress(
    path: &Path,
    state: &ResumeState,
    settings: &serde_json::Map<String, serde_json::Value>,
    config: &TrainConfig,
    data: &Dataset,
) -> Result<Progress> {
    resume::check_unchanged(&state.settings, settings)?;
    let invalid = |problem: String| -> Error {
        gpu_mlp::error::CheckpointError::Invalid {
            path: path.to_path_buf(),
            problem,
        }
        .into()
    };
    if let Some(saved) = &state.data_digest {
        let now = DataDigest::of(data);
        if *saved != now {
            return Err(gpu_mlp::error::CheckpointError::Mismatch {
                path: path.to_path_buf(),
                problem: format!(
                    "its run trained on other data (it recorded {saved}; the data given now \
                     hold {now}), so resuming would not go on with the same run; start a new run \
                     from its parameters with --init-from"
                ),
            }
            .into());
        }
    }
    let adam = matches!(config.optimizer, Optimizer::Adam { .. });
    if adam != state.moments.is_some() {
        return Err(invalid(format!(
            "its training state {} Adam's moments for a run of {}",
            if adam { "lacks" } else { "holds" },
            config.optimizer.describe()
        )));
    }
    state.progress(config.early_stopping).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_settings_are_the_commands() {
        use crate::cli::{Cli, Command};
        use clap::Parser;
        let Command::Train(args) = Cli::parse_from(["gpu-mlp", "train"]).command else {
            panic!("not the train command");
        };
        assert_eq!(args.config(), TrainConfig::default());
    }
}
