//! The engine flags of the commands that compute.

use super::values::whole_number;
use clap::builder::PossibleValue;
use clap::Args;
use gpu_mlp::engine::BackendChoice;

/// Which engine runs the work.
#[derive(Args, Debug, Clone)]
pub struct EngineArgs {
    /// Engine: auto takes a hardware GPU if there is one, else the CPU engine; a named GPU
    /// backend is always used (software adapters too). Default: $WGPU_BACKEND, else auto
    #[arg(long, value_parser = backend_parser())]
    pub backend: Option<BackendChoice>,
    /// Adapter by name (substring, case-insensitive) or index from `gpu-mlp devices`.
    /// Default: $WGPU_ADAPTER_NAME
    #[arg(long, value_name = "NAME|INDEX")]
    pub adapter: Option<String>,
    /// GPU engine: training steps recorded per command buffer (and per progress update)
    #[arg(long, default_value_t = 64, value_parser = whole_number(1, 4096))]
    pub steps_per_submit: u64,
}

/// `--backend` takes the engine choices by name.
pub(super) fn backend_parser() -> impl clap::builder::TypedValueParser<Value = BackendChoice> {
    use clap::builder::{PossibleValuesParser, TypedValueParser};
    let names = BackendChoice::VARIANTS
        .iter()
        .map(|b| PossibleValue::new(b.name()));
    PossibleValuesParser::new(names).map(|name| {
        *BackendChoice::VARIANTS
            .iter()
            .find(|b| b.name() == name)
            .expect("clap passes only the names listed")
    })
}
