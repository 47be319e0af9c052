//! `gpu-mlp show`'s flags.

use super::data::DataArgs;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct ShowArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The PNG to write
    #[arg(long, value_name = "FILE", default_value = "samples.png")]
    pub out: PathBuf,
}
