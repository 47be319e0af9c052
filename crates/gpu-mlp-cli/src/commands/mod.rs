//! The subcommands' work. Each returns the library's typed errors; `main` prints them.

pub mod bench;
pub mod devices;
pub mod draw;
pub mod eval;
pub mod export;
pub mod fetch;
pub mod predict;
pub mod predict_rows;
pub mod show;
pub mod summary;
pub mod train;
pub mod train_files;
pub mod verify;

use crate::cli::{DataArgs, EngineArgs};
use gpu_mlp::data::{self, DataSource, Dataset, LoadOptions, ModelNames, SourceKind, TestOrigin};
use gpu_mlp::engine::gpu::GpuOptions;
use gpu_mlp::engine::{self, EngineOptions, OpenedEngine};
use gpu_mlp::error::Result;
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::model::ModelSpec;

/// Loads the data set the flags name (see `data::load`), fetching a known one when it is found
/// nowhere unless `--offline`. A `--test-split` is drawn with the default seed.
pub fn load_dataset(args: &DataArgs) -> Result<Dataset> {
    Ok(load_dataset_seeded(args, LoadOptions::default().seed)?.0)
}

/// [`load_dataset`] with `seed` drawing the `--test-split`, also saying how the test set was
/// made.
pub fn load_dataset_seeded(args: &DataArgs, seed: u64) -> Result<(Dataset, TestOrigin)> {
    load_dataset_for(args, seed, None)
}

/// [`load_dataset_seeded`] for a saved model whose class and column names the data's are
/// matched to (`None`: as they come).
pub fn load_dataset_for(
    args: &DataArgs,
    seed: u64,
    model_names: Option<ModelNames>,
) -> Result<(Dataset, TestOrigin)> {
    let source = DataSource::choose(args.dataset.as_deref(), args.data.as_deref())?;
    let options = LoadOptions {
        offline: args.offline,
        progress: crate::download_bar::on_stderr(),
        scale: args.scale.clone(),
        label_column: args.label_column.clone(),
        image_size: args.image_size,
        color: args.color,
        test_data: args.test_data.clone(),
        test_split: args.test_split,
        seed,
        model_names,
    };
    let (data, origin) = data::load_explained(&source, &options)?;
    for note in unused_data_flags(args, data.source()) {
        eprintln!("note: {note}");
    }
    Ok((data, origin))
}

/// The data flags given that the loaded source has no use for, said rather than silently
/// dropped (a `--label-column` on an image folder is a mistake worth knowing about).
fn unused_data_flags(args: &DataArgs, source: SourceKind) -> Vec<String> {
    let mut notes = Vec::new();
    let kind = match source {
        SourceKind::Idx => "IDX files",
        SourceKind::ImageFolder => "an image folder",
        SourceKind::Csv => "a CSV file",
        SourceKind::Npz => "an .npz file",
        SourceKind::Memory => "data in memory",
    };
    if args.label_column.is_some() && source != SourceKind::Csv {
        notes.push(format!(
            "--label-column is for CSV files; the data is {kind}"
        ));
    }
    for (given, flag) in [
        (args.image_size.is_some(), "--image-size"),
        (args.color.is_some(), "--color"),
    ] {
        if given && source != SourceKind::ImageFolder {
            notes.push(format!("{flag} is for image folders; the data is {kind}"));
        }
    }
    notes
}

/// The engine the flags choose: `--backend`, else `$WGPU_BACKEND` (an explicit choice, like the
/// flag), else `auto`; `--adapter`; `--steps-per-submit`.
pub fn engine_options(args: &EngineArgs) -> Result<EngineOptions> {
    Ok(EngineOptions {
        backend: devices::backend_choice(args.backend)?,
        adapter: args.adapter.clone(),
        gpu: GpuOptions {
            steps_per_submit: args.steps_per_submit as usize,
            ..GpuOptions::default()
        },
    })
}

/// Says the engine's note (e.g. why `auto` chose the CPU) on stderr.
pub fn say_note(opened: &OpenedEngine) {
    if let Some(note) = &opened.note {
        eprintln!("{note}");
    }
}

/// The engine the flags choose ([`engine_options`]) holding `parameters`, its note said.
pub fn open_engine(
    args: &EngineArgs,
    spec: &ModelSpec,
    parameters: &[f32],
    optimizer: Optimizer,
    max_batch: usize,
) -> Result<OpenedEngine> {
    let options = engine_options(args)?;
    let opened = engine::open_engine(&options, spec, parameters, optimizer, max_batch)?;
    say_note(&opened);
    Ok(opened)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_flags_the_source_cannot_use_are_said() {
        let args = DataArgs {
            label_column: Some(data::LabelColumn::Last),
            color: Some(data::ColorMode::Rgb),
            ..DataArgs::default()
        };
        let notes = unused_data_flags(&args, SourceKind::Idx);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].starts_with("--label-column") && notes[1].starts_with("--color"));
        assert!(unused_data_flags(&args, SourceKind::Csv)[0].starts_with("--color"));
        assert!(unused_data_flags(&DataArgs::default(), SourceKind::Npz).is_empty());
    }
}
