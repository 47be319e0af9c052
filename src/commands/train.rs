//! `gpu-mlp train`.

use super::train_outputs::TrainOutputs;
use crate::cli::{OptimizerArg, TrainArgs};
use crate::error::Result;
use crate::optimizer::Optimizer;
use crate::report::{ConsoleReporter, MetricsFile};
use crate::train::{self, TrainConfig, TrainReport};

pub fn optimizer_from(args: &TrainArgs) -> Optimizer {
    match args.optimizer {
        OptimizerArg::Adam => Optimizer::Adam {
            lr: args.lr,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: args.adam_epsilon,
        },
        OptimizerArg::Sgd => Optimizer::Sgd { lr: args.lr },
    }
}

pub fn run(args: &TrainArgs) -> Result<TrainReport> {
    // Open the output first: an unwritable path should fail before minutes of training.
    let metrics = args
        .metrics_out
        .as_deref()
        .map(MetricsFile::create)
        .transpose()?;
    let outputs = TrainOutputs::prepare(args)?;
    let data = super::load_dataset(&args.data)?;
    let (spec, initial_parameters) = outputs.model(args, &data)?;
    let optimizer = optimizer_from(args);
    let config = TrainConfig {
        epochs: args.epochs as usize,
        batch_size: args.batch_size as usize,
        validation_split: args.validation_split,
        seed: args.seed,
        optimizer,
    };
    config.validate()?;
    if args.verify {
        // Refuse an adapter that computes wrong numbers before spending minutes on it.
        crate::verify::quick_check(
            super::devices::backend_choice(args.engine.backend)?,
            args.engine.adapter.as_deref(),
            &spec,
            optimizer,
            config.batch_size,
            args.seed,
            Some(&data.train),
        )?;
    }
    let (train_rows, val_rows) = config.split_rows(data.train.count);
    // A batch larger than the training split is the whole split: the engine needs no more.
    let engine_batch = config.batch_size.min(train_rows.max(1));
    let mut engine = super::open_engine(&args.engine, &spec, optimizer, engine_batch)?.engine;
    engine.set_parameters(&initial_parameters)?;
    println!(
        "{} on {} ({} train{}, {} test) - {} - batch {} - {}",
        spec.describe(),
        data.name,
        train_rows,
        if val_rows.is_empty() {
            String::new()
        } else {
            format!(", {} validation", val_rows.len())
        },
        data.test.count,
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
    let mut observer = outputs.observer(&mut reporter, args, &data, &spec, &engine_name);
    let report = train::run(&config, &data, engine.as_mut(), &mut observer)?;
    observer.finish(&report)?;
    Ok(report)
}
