//! `gpu-mlp verify`: every kernel on the chosen adapter against the CPU reference, then a
//! lockstep training run; exit status 1 (through `VerifyFailed`) when anything is out of bounds.

use super::devices::engine_choice;
use crate::cli::VerifyArgs;
use gpu_mlp::data::{DataError, Dataset, KnownDataset};
use gpu_mlp::diagnostics::records::write_json;
use gpu_mlp::diagnostics::verify::{self, LockstepRows, VerifyOptions, VerifyReport};
use gpu_mlp::engine::BackendChoice;
use gpu_mlp::error::{Error, Result};
use gpu_mlp::fsio::atomic;
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::model::ModelSpec;

/// The data set's shape and rows, looked for locally only (verify never downloads): `None`
/// with the known data set when it is not found, so the shapes still come from it.
fn find_data(args: &VerifyArgs) -> Result<std::result::Result<Dataset, KnownDataset>> {
    let mut data = args.data.clone();
    data.offline = true;
    match super::load_dataset(&data) {
        Ok(ds) => Ok(Ok(ds)),
        Err(Error::Data(DataError::NotFound { dataset, .. })) if args.data.data.is_none() => {
            Ok(Err(dataset))
        }
        Err(e) => Err(e),
    }
}

pub fn run(args: &VerifyArgs) -> Result<VerifyReport> {
    let (choice, adapter) = engine_choice(&args.engine)?;
    if choice == BackendChoice::Cpu {
        return Err(gpu_mlp::config_error!(
            "verify checks a GPU adapter against the CPU engine; with --backend cpu there is \
             nothing to check (use auto, vulkan, metal, dx12 or gl; `gpu-mlp devices` lists them)"
        )
        .into());
    }
    // Open the report first: an unwritable path should fail before the checks run.
    if let Some(path) = &args.json {
        atomic::check_writable(path)?;
    }
    let batch = args.batch_size as usize;
    let steps = args.steps as usize;
    let needed = LockstepRows::needed(steps, batch);
    let (spec, rows) = match find_data(args)? {
        Ok(ds) => {
            let spec = ModelSpec::new(
                ds.features(),
                args.hidden.0.clone(),
                ds.classes(),
                args.dropout,
            )?;
            let rows = LockstepRows::from_split(ds.train(), needed, ds.name());
            (spec, rows)
        }
        Err(known) => {
            let classes = known.class_names().len();
            let spec = ModelSpec::new(784, args.hidden.0.clone(), classes, args.dropout)?;
            let why = format!("{known} not found locally; `gpu-mlp fetch {known}` gets it");
            let rows = LockstepRows::random(784, classes, needed, args.seed, &why);
            (spec, rows)
        }
    };
    if let Some(m) = verify::mutant_from_env()? {
        println!("{}", verify::mutant_line(m));
    }
    let ctx = verify::open_adapter(choice, adapter, &verify::device_needs(&spec, batch), false)?
        .ok_or_else(|| gpu_mlp::config_error!("no adapter to verify"))?;
    println!(
        "gpu-mlp {} verify: {} against the CPU reference",
        gpu_mlp::diagnostics::records::BuildInfo::current().describe(),
        ctx.describe()
    );
    println!(
        "model {} - batch {batch} - seed {} - every matmul tile the engine may pick",
        spec.describe(),
        args.seed,
    );
    println!();
    let opts = VerifyOptions {
        spec,
        optimizer: Optimizer::adam(1e-3),
        batch,
        steps,
        seed: args.seed,
        ragged: true,
    };
    let report = verify::run(ctx, &opts, &rows, &mut |line| println!("{line}"))?;
    println!();
    println!("{}", verify::summary_line(&report));
    if let Some(path) = &args.json {
        write_json(path, &report)?;
        println!("report written to {}", path.display());
    }
    match report.failure() {
        Some(failed) => Err(failed.into()),
        None => Ok(report),
    }
}
