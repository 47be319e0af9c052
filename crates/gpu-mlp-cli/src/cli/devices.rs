//! `gpu-mlp devices`'s flags.

use super::engine::backend_parser;
use clap::Args;
use gpu_mlp::engine::BackendChoice;

pub const EXAMPLES: &str = "\
Examples:
  gpu-mlp devices
  gpu-mlp devices --backend vulkan --json";

#[derive(Args, Debug, Clone)]
pub struct DevicesArgs {
    /// Only this graphics API's adapters (default: $WGPU_BACKEND, else every API)
    #[arg(long, value_parser = backend_parser())]
    pub backend: Option<BackendChoice>,
    /// Print JSON (one array, one object per adapter) instead of text
    #[arg(long)]
    pub json: bool,
}
