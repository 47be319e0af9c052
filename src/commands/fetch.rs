//! `gpu-mlp fetch`.

use crate::cli::FetchArgs;
use crate::error::Result;

pub fn run(args: &FetchArgs) -> Result<()> {
    let _ = args;
    unimplemented!("wired to the data layer when it lands")
}
