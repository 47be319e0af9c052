//! `gpu-mlp draw`'s flags.

use super::engine::EngineArgs;
use clap::Args;
use std::path::PathBuf;

pub const EXAMPLES: &str = "\
Examples:
  # Serve the page on http://127.0.0.1:8000/ and open it in the default browser
  gpu-mlp draw --model model.safetensors --open
  # Any free port (printed), e.g. when 8000 is taken
  gpu-mlp draw --model fashion.safetensors --port 0
  # Reachable from other machines (phones, tablets) on your network: say so explicitly
  gpu-mlp draw --model model.safetensors --host 0.0.0.0";

#[derive(Args, Debug, Clone)]
pub struct DrawArgs {
    /// The saved model (from `train --save`); its class names label the page
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Port to listen on; 0 picks a free one (the URL is printed)
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Address to listen on. The default answers this machine only; 0.0.0.0 (or ::) opens the
    /// page to every machine that can reach this one
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDRESS")]
    pub host: String,
    /// Open the page in the default browser (xdg-open, open or start)
    #[arg(long)]
    pub open: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}
