//! `gpu-mlp fetch`'s flags.

use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct FetchArgs {
    #[arg(value_parser = ["mnist", "fashion-mnist"])]
    pub dataset: String,
    /// Where to put the files (default: the per-user cache that `train` searches)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}
