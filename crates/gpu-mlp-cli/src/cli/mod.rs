//! Subcommands and flags: one file per subcommand's flags (named as its module in `commands`,
//! where the work lives), and the data, engine and network flags several share. Parsing and
//! validation of single values lives here too.

use clap::{Parser, Subcommand};

mod bench;
mod data;
mod devices;
mod draw;
mod engine;
mod eval;
mod export;
mod fetch;
mod network;
mod predict;
mod show;
mod summary;
mod train;
mod values;
mod verify;

pub use bench::BenchArgs;
pub use data::DataArgs;
pub use devices::DevicesArgs;
pub use draw::DrawArgs;
pub use engine::EngineArgs;
pub use eval::EvalArgs;
pub use export::ExportArgs;
pub use fetch::FetchArgs;
pub use network::{NetworkArgs, DEFAULT_HIDDEN, DEFAULT_NETWORK_DROPOUT};
pub use predict::PredictArgs;
pub use show::ShowArgs;
pub use summary::SummaryArgs;
pub use train::{OptimizerArg, TrainArgs};
pub use values::HiddenLayers;
pub use verify::VerifyArgs;

#[derive(Parser, Debug)]
#[command(
    name = "gpu-mlp",
    version,
    about = "Train and run MLP image classifiers on the GPU (WGSL compute shaders), \
             checked against a CPU reference engine",
    after_help = "Run `gpu-mlp <command> --help` for examples.\n\n\
                  Exit status:\n  \
                  0  done\n  \
                  1  a failure while running: a file missing, unreadable or not writable, a device \
                  error\n  \
                  2  bad usage or settings: a flag's value, a combination, a --config file's \
                  contents\n\
                  train adds 3 (diverged) and 128 + a signal: see `gpu-mlp train --help`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process, so the size of train's many flags costs nothing worth a Box.
// A command with whole-number flags takes `-3` as a value, so its parser can say that a
// positive number is wanted (not that `-3` is an unknown flag).
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a model and evaluate it on the test set
    #[command(after_help = train::EXAMPLES, allow_negative_numbers = true)]
    Train(TrainArgs),
    /// Print a network's layers and parameter counts (as Keras's model.summary()), its FLOPs per
    /// sample and the GPU dispatches of a training step
    #[command(after_help = summary::EXAMPLES, allow_negative_numbers = true)]
    Summary(SummaryArgs),
    /// Download a known data set's four files (SHA-256 checked)
    #[command(
        after_help = "Examples:\n  gpu-mlp fetch mnist\n  gpu-mlp fetch fashion-mnist --dir ./data/fashion-mnist"
    )]
    Fetch(FetchArgs),
    /// List the GPU adapters: name, backend, type, driver, the limits and features gpu-mlp uses
    #[command(after_help = devices::EXAMPLES)]
    Devices(DevicesArgs),
    /// Check every GPU kernel against the CPU reference on this adapter, then train both
    /// engines in lockstep; exit status 1 when anything is out of bounds
    #[command(after_help = verify::EXAMPLES, allow_negative_numbers = true)]
    Verify(VerifyArgs),
    /// Measure matmul GFLOP/s, per-kernel step times and training throughput; save a record
    /// and compare it with another GPU's (or driver's)
    #[command(after_help = bench::EXAMPLES, allow_negative_numbers = true)]
    Bench(BenchArgs),
    /// Evaluate a saved model on a data set's test split: loss, accuracy, per class, confusion
    #[command(after_help = eval::EXAMPLES)]
    Eval(EvalArgs),
    /// Classify image files (PNG, JPEG, BMP) or test-set samples with a saved model
    #[command(after_help = predict::EXAMPLES, allow_negative_numbers = true)]
    Predict(PredictArgs),
    /// Write a saved model as an ONNX file (onnxruntime, tract, OpenCV, ...): raw input in,
    /// probabilities and logits out
    #[command(after_help = export::EXAMPLES)]
    Export(ExportArgs),
    /// Draw a 5x5 grid of training images with their class names into a PNG
    #[command(
        after_help = "Examples:\n  gpu-mlp show\n  gpu-mlp show --dataset fashion-mnist --out fashion.png"
    )]
    Show(ShowArgs),
    /// Serve a local web page: draw a digit (or garment) and watch the model name it
    #[command(after_help = draw::EXAMPLES)]
    Draw(DrawArgs),
}

#[cfg(test)]
mod tests {
    use super::values::parse_hidden;
    use super::*;

    #[test]
    fn hidden_lists_parse() {
        assert_eq!(parse_hidden("128,64").unwrap().0, vec![128, 64]);
        assert_eq!(parse_hidden("none").unwrap().0, Vec::<usize>::new());
        assert!(parse_hidden("128,0").is_err());
        assert!(parse_hidden("12x").is_err());
        // Blank is refused: an empty shell variable, not a wish for no hidden layer.
        assert!(parse_hidden("").is_err() && parse_hidden(" ").is_err());
    }

    fn train_args(extra: &[&str]) -> TrainArgs {
        let argv = ["gpu-mlp", "train"].iter().chain(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Train(args) => args,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn dropout_comes_with_the_default_network_only() {
        let quickstart = train_args(&[]);
        assert_eq!(quickstart.network.hidden_layers(), vec![128]);
        assert_eq!(quickstart.network.dropout_rate(None), 0.2);
        // A network described by --hidden (even the same widths) has no dropout unless asked.
        assert_eq!(
            train_args(&["--hidden", "50,50"])
                .network
                .dropout_rate(None),
            0.0
        );
        assert_eq!(
            train_args(&["--hidden", "128"]).network.dropout_rate(None),
            0.0
        );
        let asked = train_args(&["--hidden", "50,50", "--dropout", "0.3"]);
        assert_eq!(asked.network.hidden_layers(), vec![50, 50]);
        assert_eq!(asked.network.dropout_rate(None), 0.3);
        // A checkpoint's rate wins over the defaults, --dropout over the checkpoint's.
        assert_eq!(quickstart.network.dropout_rate(Some(0.1)), 0.1);
        assert_eq!(asked.network.dropout_rate(Some(0.1)), 0.3);
    }

    #[test]
    fn definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
