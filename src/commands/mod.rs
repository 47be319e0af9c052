//! The subcommands' work. Each returns the library's typed errors; `main` prints them.

pub mod draw;
pub mod eval;
pub mod fetch;
pub mod predict;
pub mod show;
pub mod train;
pub mod train_outputs;

use crate::cli::DataArgs;
use crate::data::Dataset;
use crate::error::Result;

/// Loads the data set the flags name (see `data::load`).
pub fn load_dataset(args: &DataArgs) -> Result<Dataset> {
    let _ = args;
    unimplemented!("wired to the data layer when it lands")
}
