//! The network flags `train` and `summary` share.

use super::values::{parse_hidden, parse_rate, HiddenLayers};
use clap::Args;
use gpu_mlp::error::ConfigError;
use gpu_mlp::model::ModelSpec;

/// The TensorFlow quickstart's network: Dense(128, relu) → Dropout(0.2) → Dense(classes).
pub const DEFAULT_HIDDEN: [usize; 1] = [128];
/// The quickstart's dropout rate; it belongs to the quickstart network, so a network described
/// with `--hidden` trains without dropout unless `--dropout` asks (as the Fashion-MNIST tutorial's
/// 784-50-50-10 does: 0.2 there costs it ~1 pp after 5 epochs).
pub const DEFAULT_NETWORK_DROPOUT: f32 = 0.2;

/// The network `train` builds and `summary` describes: the quickstart's unless the flags say.
#[derive(Args, Debug, Clone)]
pub struct NetworkArgs {
    /// Hidden layer widths, comma-separated; "none" for no hidden layer [default: 128, the
    /// quickstart's Dense(128) with its Dropout(0.2)]
    #[arg(long, value_parser = parse_hidden, value_name = "W1,W2,..")]
    pub hidden: Option<HiddenLayers>,
    /// Dropout rate after every hidden layer while training, in [0, 1) [default: 0.2 for the
    /// default network, 0 for one given by --hidden, the saved rate with train --init-from]
    #[arg(long, value_parser = parse_rate, value_name = "RATE")]
    pub dropout: Option<f32>,
}

impl NetworkArgs {
    /// The fresh network the flags describe, from `inputs` to `classes`.
    pub fn spec(&self, inputs: usize, classes: usize) -> Result<ModelSpec, ConfigError> {
        ModelSpec::new(
            inputs,
            self.hidden_layers(),
            classes,
            self.dropout_rate(None),
        )
    }

    /// Hidden widths: `--hidden`, else the quickstart's.
    pub fn hidden_layers(&self) -> Vec<usize> {
        match &self.hidden {
            Some(hidden) => hidden.0.clone(),
            None => DEFAULT_HIDDEN.to_vec(),
        }
    }

    /// Dropout rate: `--dropout`, else `saved` (a checkpoint's rate), else the quickstart's for
    /// the default network and none for one given by `--hidden`.
    pub fn dropout_rate(&self, saved: Option<f32>) -> f32 {
        match (self.dropout, saved, &self.hidden) {
            (Some(rate), _, _) => rate,
            (None, Some(rate), _) => rate,
            (None, None, None) => DEFAULT_NETWORK_DROPOUT,
            (None, None, Some(_)) => 0.0,
        }
    }
}
