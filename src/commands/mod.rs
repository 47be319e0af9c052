//! The subcommands' work. Each returns the library's typed errors; `main` prints them.

pub mod bench;
pub mod devices;
pub mod draw;
pub mod eval;
pub mod fetch;
pub mod predict;
pub mod predict_rows;
pub mod show;
pub mod summary;
pub mod train;
pub mod train_outputs;
pub mod verify;

use crate::cli::{DataArgs, EngineArgs};
use crate::data::{self, DataSource, Dataset, LoadOptions, TestOrigin};
use crate::engine::{self, EngineOptions, OpenedEngine};
use crate::error::Result;
use crate::gpu::GpuOptions;
use crate::model::ModelSpec;
use crate::optimizer::Optimizer;
use std::io::IsTerminal;

/// Loads the data set the flags name (see `data::load`), fetching a known one when it is found
/// nowhere unless `--offline`. A `--test-split` is drawn with the default seed.
pub fn load_dataset(args: &DataArgs) -> Result<Dataset> {
    Ok(load_dataset_seeded(args, LoadOptions::default().seed)?.0)
}

/// [`load_dataset`] with `seed` drawing the `--test-split`, also saying how the test set was
/// made.
pub fn load_dataset_seeded(args: &DataArgs, seed: u64) -> Result<(Dataset, TestOrigin)> {
    let source = DataSource::from_flags(args.dataset.as_deref(), args.data.as_deref())?;
    let options = LoadOptions {
        offline: args.offline,
        show_progress: std::io::stderr().is_terminal(),
        scale: args.scale.clone(),
        label_column: args.label_column.clone(),
        image_size: args.image_size,
        color: args.color,
        test_data: args.test_data.clone(),
        test_split: args.test_split,
        seed,
    };
    Ok(data::load_explained(&source, &options)?)
}

/// The engine the flags choose: `--backend`, else `$WGPU_BACKEND` (an explicit choice, like the
/// flag), else `auto`. Prints the engine's note (e.g. why `auto` chose the CPU) on stderr.
pub fn open_engine(
    args: &EngineArgs,
    spec: &ModelSpec,
    optimizer: Optimizer,
    max_batch: usize,
) -> Result<OpenedEngine> {
    let choice = devices::backend_choice(args.backend)?;
    let options = EngineOptions {
        gpu: GpuOptions {
            steps_per_submit: args.steps_per_submit as usize,
            ..GpuOptions::default()
        },
    };
    let opened = engine::open_engine(
        choice,
        args.adapter.as_deref(),
        spec,
        optimizer,
        max_batch,
        &options,
    )?;
    if let Some(note) = &opened.note {
        eprintln!("{note}");
    }
    Ok(opened)
}
