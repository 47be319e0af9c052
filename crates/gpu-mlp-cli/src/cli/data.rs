//! The data flags `train`, `eval`, `predict`, `show` and `verify` share.

use clap::Args;
use std::path::PathBuf;

/// Where the data comes from.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// A known data set, looked for in $GPU_MLP_DATA, ./data/<name>, the user cache and system
    /// folders, and downloaded into the cache when found nowhere. With --data, names what an IDX
    /// folder holds (for its class names). Default: mnist; for a saved model (eval, predict) the
    /// data it was trained on (its folder or file while that exists, else the known data set of
    /// its name)
    #[arg(long, value_parser = ["mnist", "fashion-mnist"])]
    pub dataset: Option<String>,
    /// Your own data, told apart by content: a folder with the four IDX files
    /// (train-images-idx3-ubyte[.gz], ...); an image folder (PATH/<class>/<image>, or
    /// PATH/train/<class>/... with PATH/test/<class>/...; PNG, JPEG, BMP, GIF, WebP); a CSV or
    /// TSV file (or .gz of one), one row per sample; or a NumPy .npz (x_train, y_train[, x_test,
    /// y_test], or x, y)
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// Never download: fail with the list of places looked at instead
    #[arg(long)]
    pub offline: bool,
    /// The test set: a separate file or folder of the same kind, instead of the data's own
    /// test part or a --test-split
    #[arg(long, value_name = "PATH")]
    pub test_data: Option<PathBuf>,
    /// Data without a test part (a CSV file, an image folder without train/ and test/, an .npz
    /// with only x and y): hold out this fraction of each class as the test set, drawn with
    /// --seed
    #[arg(long, value_name = "F", default_value_t = gpu_mlp::data::DEFAULT_TEST_SPLIT,
          value_parser = parse_test_split)]
    pub test_split: f64,
    /// CSV: the column holding the labels, by header name, 0-based index, first or last
    /// [default: the header column named label, class, target or y, in any case]
    #[arg(long, value_name = "NAME|INDEX|first|last")]
    pub label_column: Option<gpu_mlp::data::LabelColumn>,
    /// How values become inputs: auto (/255 for 8-bit data, kept packed; per-feature
    /// standardisation, measured on the training part, for other numbers), pixels (/255),
    /// standardize, or none
    #[arg(long, value_name = "auto|pixels|standardize|none", default_value = "auto",
          value_parser = parse_scale)]
    pub scale: gpu_mlp::data::ScaleRequest,
    /// Image folders: resize every image to WIDTHxHEIGHT [default: the size they all share]
    #[arg(long, value_name = "WxH", value_parser = gpu_mlp::data::parse_image_size)]
    pub image_size: Option<(u32, u32)>,
    /// Image folders: grey (1 input per pixel) or rgb (3) [default: gray when every image is
    /// stored grey]
    #[arg(long, value_name = "gray|rgb")]
    pub color: Option<gpu_mlp::data::ColorMode>,
}

impl Default for DataArgs {
    /// What the flags are when none is given.
    fn default() -> Self {
        Self {
            dataset: None,
            data: None,
            offline: false,
            test_data: None,
            test_split: gpu_mlp::data::DEFAULT_TEST_SPLIT,
            label_column: None,
            scale: gpu_mlp::data::ScaleRequest::Auto,
            image_size: None,
            color: None,
        }
    }
}

fn parse_test_split(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r > 0.0 && r < 1.0 => Ok(r),
        _ => Err(format!(
            "expected a fraction in (0, 1), e.g. 0.2; got '{s}'"
        )),
    }
}

fn parse_scale(s: &str) -> Result<gpu_mlp::data::ScaleRequest, String> {
    s.parse()
}
