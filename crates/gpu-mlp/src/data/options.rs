//! How [`load`](super::load) reads a source: downloads, the test part, scaling, and the settings
//! of each source kind (`--label-column`, `--image-size`, `--color`).

use super::Scaling;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The test split `--test-split` holds out by default when a source has no test part of its own.
pub const DEFAULT_TEST_SPLIT: f64 = 0.2;

/// How [`load`](super::load) behaves beyond where it looks.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Never download: a known data set that is not found locally is an error.
    pub offline: bool,
    /// Hears of downloads (`None`: silent); the command line draws a bar with it.
    pub progress: super::fetch::Progress,
    /// How raw values become the network's inputs (`--scale`).
    pub scale: ScaleRequest,
    /// The label column of a CSV file (`--label-column`); `None`: a header column named `label`,
    /// `class`, `target` or `y` (any case).
    pub label_column: Option<LabelColumn>,
    /// Resize every image of an image folder to `(width, height)` (`--image-size`); `None`: the
    /// size they all share.
    pub image_size: Option<(u32, u32)>,
    /// Grey or RGB inputs from an image folder (`--color`); `None`: grey when every image is.
    pub color: Option<ColorMode>,
    /// A separate test set (`--test-data`), replacing the source's own test part.
    pub test_data: Option<PathBuf>,
    /// The fraction held out as the test set when the source has no test part and no
    /// `test_data` is given (`--test-split`), stratified by class.
    pub test_split: f64,
    /// Seeds the `test_split` draw (the run's `--seed`).
    pub seed: u64,
    /// The names of a saved model the data is for (`eval`): labels that are class names and
    /// header columns are matched to the model's by name; `None`: taken as they come.
    pub model_names: Option<super::ModelNames>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            offline: false,
            progress: None,
            scale: ScaleRequest::Auto,
            label_column: None,
            image_size: None,
            color: None,
            test_data: None,
            test_split: DEFAULT_TEST_SPLIT,
            seed: 42,
            model_names: None,
        }
    }
}

/// What `--scale` asks for, or the scaling a saved model was trained with.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ScaleRequest {
    /// 8-bit data: /255 (kept packed as `u8`); other data: standardised per feature on the
    /// training part.
    #[default]
    Auto,
    /// Every value times 1/255 (8-bit data stays packed).
    Pixels,
    /// Per feature `(x - mean) / std`, measured on the training part.
    Standardize,
    /// Values as they are (8-bit data becomes `f32` 0..=255).
    None,
    /// Exactly this scaling, measured before (`eval --data` with a saved model's scaling), so new
    /// data is scaled as the model's training data was.
    Given(Scaling),
}

impl FromStr for ScaleRequest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(ScaleRequest::Auto),
            "pixels" => Ok(ScaleRequest::Pixels),
            "standardize" | "standardise" => Ok(ScaleRequest::Standardize),
            "none" => Ok(ScaleRequest::None),
            _ => Err(format!(
                "expected auto, pixels, standardize or none; got '{s}'"
            )),
        }
    }
}

/// Which CSV column holds the labels (`--label-column NAME|INDEX|first|last`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelColumn {
    /// The header column of this name (exact, else ignoring case).
    Name(String),
    /// The column at this 0-based index.
    Index(usize),
    /// The first column.
    First,
    /// The last column.
    Last,
}

impl FromStr for LabelColumn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim() {
            "" => return Err("expected a column name, a 0-based index, first or last".into()),
            "first" => LabelColumn::First,
            "last" => LabelColumn::Last,
            t => match t.parse::<usize>() {
                Ok(i) => LabelColumn::Index(i),
                Err(_) => LabelColumn::Name(t.to_string()),
            },
        })
    }
}

impl fmt::Display for LabelColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelColumn::Name(n) => write!(f, "'{n}'"),
            LabelColumn::Index(i) => write!(f, "{i}"),
            LabelColumn::First => f.write_str("first"),
            LabelColumn::Last => f.write_str("last"),
        }
    }
}

/// The inputs an image folder gives (`--color`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorMode {
    /// One value per pixel (luma).
    Gray,
    /// Three values per pixel, interleaved.
    Rgb,
}

impl FromStr for ColorMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "gray" | "grey" => Ok(ColorMode::Gray),
            "rgb" => Ok(ColorMode::Rgb),
            _ => Err(format!("expected gray or rgb; got '{s}'")),
        }
    }
}

/// Parses `--image-size WxH` (e.g. `28x28`).
pub fn parse_image_size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("expected WIDTHxHEIGHT, e.g. 28x28; got '{s}'");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h) = (
        w.trim().parse::<u32>().map_err(|_| bad())?,
        h.trim().parse::<u32>().map_err(|_| bad())?,
    );
    if w == 0 || h == 0 || u64::from(w) * u64::from(h) > super::idx::MAX_IMAGE_PIXELS {
        return Err(format!(
            "an image needs between 1 and {} pixels; got {s}",
            super::idx::MAX_IMAGE_PIXELS
        ));
    }
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        assert_eq!("last".parse(), Ok(LabelColumn::Last));
        assert_eq!("3".parse(), Ok(LabelColumn::Index(3)));
        assert_eq!("Species".parse(), Ok(LabelColumn::Name("Species".into())));
        assert_eq!(parse_image_size("32x24"), Ok((32, 24)));
        assert!(parse_image_size("32").is_err());
        assert!(parse_image_size("0x5").is_err());
        assert_eq!("standardize".parse(), Ok(ScaleRequest::Standardize));
        assert!("nope".parse::<ScaleRequest>().is_err());
        assert_eq!("grey".parse(), Ok(ColorMode::Gray));
    }
}
