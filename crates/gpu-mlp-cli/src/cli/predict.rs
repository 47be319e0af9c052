//! `gpu-mlp predict`'s flags.

use super::data::DataArgs;
use super::values::whole_number;
use clap::Args;
use std::path::PathBuf;

pub const EXAMPLES: &str = "\
Examples:
  # A digit drawn black on white (any size): prints the top 3 classes
  gpu-mlp predict --model model.safetensors digit.png
  # Test-set samples 0 and 17, with their true labels, as JSON
  gpu-mlp predict --model model.safetensors --index 0,17 --json
  # The tutorial's figure: 15 test images with predictions and probability bars
  gpu-mlp predict --model model.safetensors --grid predictions.png";

#[derive(Args, Debug, Clone)]
pub struct PredictArgs {
    /// The saved model (from `train --save`)
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Images to classify (PNG, JPEG or BMP, any size, colour or grey), prepared as
    /// --preprocess says; or, for a model trained on a table, CSV/TSV files of rows of feature
    /// values (a header naming the label column leaves that column out)
    #[arg(value_name = "IMAGE|ROWS.csv")]
    pub images: Vec<PathBuf>,
    /// How an image becomes the model's input: mnist (grey, inverted when the background is
    /// light, cropped, fitted and centred as MNIST's digits were) or plain (resized to the
    /// model's size and colour). Default: mnist for 28x28 grey models, plain for others
    #[arg(long, value_name = "HOW", value_parser = preprocess_parser())]
    pub preprocess: Option<gpu_mlp::inference::preprocess::Preprocess>,
    /// Classify test-set sample N (repeat or separate with commas) and show its true label
    #[arg(long, value_name = "N", value_delimiter = ',')]
    pub index: Vec<usize>,
    /// How many of the most probable classes to print
    #[arg(long, default_value_t = 3, value_parser = whole_number(1, u64::MAX))]
    pub top: u64,
    /// Print JSON (one array, one object per image) instead of text
    #[arg(long)]
    pub json: bool,
    /// Draw each image with its prediction and a bar chart of class probabilities into this
    /// PNG; with no IMAGE or --index, the first 15 test images
    #[arg(long, value_name = "FILE")]
    pub grid: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
}

/// `--preprocess mnist|plain`, spelled as the library's [`Preprocess`] variants.
///
/// [`Preprocess`]: gpu_mlp::inference::preprocess::Preprocess
fn preprocess_parser(
) -> impl clap::builder::TypedValueParser<Value = gpu_mlp::inference::preprocess::Preprocess> {
    use clap::builder::{PossibleValuesParser, TypedValueParser};
    use gpu_mlp::inference::preprocess::Preprocess;
    PossibleValuesParser::new(["mnist", "plain"]).map(|s| match s.as_str() {
        "mnist" => Preprocess::Mnist,
        _ => Preprocess::Plain,
    })
}
