//! `gpu-mlp fetch`: download a known data set's four files into a folder.

use crate::cli::FetchArgs;
use gpu_mlp::config_error;
use gpu_mlp::data::fetch::{self, FetchOutcome};
use gpu_mlp::data::{self, KnownDataset};
use gpu_mlp::error::Result;

pub fn run(args: &FetchArgs) -> Result<()> {
    let dataset = KnownDataset::from_name(&args.dataset)?;
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => data::cache_dir(dataset).ok_or_else(|| {
            config_error!("no per-user cache folder on this system; pass --dir DIR")
        })?,
    };
    let mirrors = fetch::default_mirrors(dataset);
    let report = fetch::fetch(dataset, &dir, &mirrors, crate::download_bar::on_stderr())?;
    for file in &report.files {
        match &file.outcome {
            FetchOutcome::AlreadyPresent => {
                println!("{}: already present, checksum ok", file.path.display())
            }
            FetchOutcome::Downloaded { url, bytes } => {
                println!(
                    "{}: {bytes} bytes from {url}, checksum ok",
                    file.path.display()
                )
            }
        }
    }
    println!(
        "{dataset} is ready in {} (train with: gpu-mlp train --dataset {dataset})",
        report.dir.display()
    );
    Ok(())
}
