//! The subcommands' work. Each returns the library's typed errors; `main` prints them.

pub mod fetch;
pub mod train;

use crate::cli::DataArgs;
use crate::data::Dataset;
use crate::error::Result;

/// Loads the data set the flags name (see `data::load`).
pub fn load_dataset(args: &DataArgs) -> Result<Dataset> {
    let _ = args;
    unimplemented!("wired to the data layer when it lands")
}
