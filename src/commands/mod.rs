//! The subcommands' work. Each returns the library's typed errors; `main` prints them.

pub mod draw;
pub mod eval;
pub mod fetch;
pub mod predict;
pub mod show;
pub mod train;
pub mod train_outputs;

use crate::cli::DataArgs;
use crate::data::{self, DataSource, Dataset, LoadOptions};
use crate::error::Result;
use std::io::IsTerminal;

/// Loads the data set the flags name (see `data::load`), fetching a known one when it is found
/// nowhere unless `--offline`.
pub fn load_dataset(args: &DataArgs) -> Result<Dataset> {
    let source = DataSource::from_flags(args.dataset.as_deref(), args.data.as_deref())?;
    let options = LoadOptions {
        offline: args.offline,
        show_progress: std::io::stderr().is_terminal(),
    };
    Ok(data::load(&source, &options)?)
}
