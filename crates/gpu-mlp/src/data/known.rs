//! The catalogue: the data sets this crate knows by name, their class names and the system
//! folder a distribution installs one into.

use super::DataError;
use std::path::Path;
use std::str::FromStr;

/// A data set this crate knows by name: its class names, where it is looked for, how to fetch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KnownDataset {
    /// MNIST handwritten digits, classes "0" to "9".
    Mnist,
    /// Zalando's Fashion-MNIST: ten kinds of clothing.
    FashionMnist,
}

impl KnownDataset {
    /// Every known data set.
    pub const ALL: [KnownDataset; 2] = [KnownDataset::Mnist, KnownDataset::FashionMnist];

    /// The name used on the command line and as the folder name.
    pub fn name(self) -> &'static str {
        match self {
            KnownDataset::Mnist => "mnist",
            KnownDataset::FashionMnist => "fashion-mnist",
        }
    }

    /// All known names, for messages.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|d| d.name()).collect()
    }

    /// Class names, indexed by label.
    pub fn class_names(self) -> &'static [&'static str] {
        match self {
            KnownDataset::Mnist => &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            KnownDataset::FashionMnist => &[
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
        }
    }

    /// Parses a name, ignoring case, `-` and `_` (so `Fashion_MNIST` and `fashionmnist` work).
    pub fn from_name(name: &str) -> Result<Self, DataError> {
        Self::recognise(name).ok_or_else(|| DataError::UnknownDataset {
            name: name.to_string(),
        })
    }

    pub(super) fn recognise(name: &str) -> Option<Self> {
        let norm: String = name
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        Self::ALL
            .into_iter()
            .find(|d| d.name().replace('-', "") == norm)
    }

    /// A system-wide folder a distribution package installs the files into, if there is one
    /// (Debian's `dataset-fashion-mnist`).
    pub fn system_dir(self) -> Option<&'static Path> {
        match self {
            KnownDataset::Mnist => None,
            KnownDataset::FashionMnist => Some(Path::new("/usr/share/datasets/fashion-mnist")),
        }
    }
}

display_as_name!(KnownDataset);

impl FromStr for KnownDataset {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, DataError> {
        Self::from_name(s)
    }
}
