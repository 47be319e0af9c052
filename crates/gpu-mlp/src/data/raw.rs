//! What a source reader (CSV, `.npz`, image folder) hands over: one part's unscaled inputs and
//! its labels as the file spells them (numbers or class names), with the shape of a sample.
//! `assemble` turns these into a [`Dataset`](super::Dataset).

use super::{DataError, Inputs, Label};
use std::collections::HashMap;
use std::path::PathBuf;

/// Labels as a source spells them.
#[derive(Clone, Debug, PartialEq)]
pub enum RawLabels {
    /// Class numbers (`0..MAX_CLASSES`); the classes are `0..=max`.
    Numbers(Vec<Label>),
    /// Class numbers from one-hot rows: the classes are `0..classes` (the rows' width), used or
    /// not, as Keras sizes a model from `to_categorical`'s width. (Only `.npz` files hold
    /// one-hot rows, so a build without the `formats` feature never makes one.)
    #[cfg_attr(not(feature = "formats"), allow(dead_code))]
    OneHot { classes: usize, labels: Vec<Label> },
    /// Class names: `ids[i]` indexes `names`, which is sorted.
    Names { names: Vec<String>, ids: Vec<u32> },
}

/// One part (train or test) of a source, before classes are matched up and values scaled.
#[derive(Clone, Debug)]
pub struct RawPart {
    /// The file or folder it came from, for messages.
    pub path: PathBuf,
    /// `count × rows·cols·channels` values: `Pixels` when every value is an integer 0..=255.
    pub inputs: Inputs,
    pub labels: RawLabels,
    /// `(rows, cols, channels)` of a sample; `(1, features, 1)` for a table.
    pub shape: (usize, usize, usize),
    /// The names a header gives the feature columns, in order (a table with a header only).
    pub feature_names: Option<Vec<String>>,
}

impl RawLabels {
    /// The class numbers and the least class count they imply, unless the labels are names.
    pub fn numbers(&self) -> Option<(&[Label], usize)> {
        match self {
            RawLabels::Numbers(labels) => {
                let classes = labels.iter().map(|&l| usize::from(l) + 1).max();
                Some((labels, classes.unwrap_or(0)))
            }
            RawLabels::OneHot { classes, labels } => Some((labels, *classes)),
            RawLabels::Names { .. } => None,
        }
    }
}

impl RawPart {
    /// Values per sample.
    pub fn features(&self) -> usize {
        self.shape.0 * self.shape.1 * self.shape.2
    }
}

/// Gathers class names in order of first appearance and hands out their ids; `finish` sorts the
/// names (as Keras and scikit-learn order classes) and renumbers.
#[derive(Default)]
pub struct NameTable {
    index: HashMap<String, u32>,
    names: Vec<String>,
}

impl NameTable {
    /// The id of `name`, new ones numbered in order of appearance.
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.index.insert(name.to_string(), id);
        self.names.push(name.to_string());
        id
    }

    /// Labels for `ids` (from [`NameTable::id`]) with the names sorted.
    pub fn finish(self, ids: Vec<u32>) -> RawLabels {
        let mut order: Vec<u32> = (0..self.names.len() as u32).collect();
        order.sort_by(|&a, &b| self.names[a as usize].cmp(&self.names[b as usize]));
        let mut renumber = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            renumber[old as usize] = new as u32;
        }
        let names = order
            .iter()
            .map(|&old| self.names[old as usize].clone())
            .collect();
        let ids = ids.into_iter().map(|id| renumber[id as usize]).collect();
        RawLabels::Names { names, ids }
    }
}

/// Parses a class number as a label: a whole number `0..MAX_CLASSES`, written as an integer
/// (`3`) or a float with nothing after the point (`3.0`, as pandas writes integer columns that
/// held a NaN); any other number (`2.5`, `1e3`, `-1`, `NaN`, `inf`) is an error. `None` when the
/// text is no number at all. (The table and .npz readers', so part of the `formats` feature.)
#[cfg(feature = "formats")]
pub fn parse_class_number(text: &str) -> Option<Result<Label, String>> {
    use super::MAX_CLASSES;
    let t = text.trim();
    // Only an error shows the text (cut short: a label may be a million digits long).
    let shown = || super::shown::shown(t.as_bytes());
    if let Some(problem) = not_finite_label(t) {
        return Some(Err(problem));
    }
    let value: f64 = match t.parse::<u64>() {
        Ok(v) => v as f64,
        Err(_) => match t.parse::<f64>() {
            // `1e3` is no one's way of writing class 1000: a measurement, or a mangled column.
            Ok(_) if t.contains(['e', 'E']) => {
                return Some(Err(format!(
                    "label {} is written with an exponent; class numbers are written as \
                     integers (0, 1, ...)",
                    shown()
                )))
            }
            Ok(v) if v.fract() == 0.0 && !t.starts_with('-') => v,
            Ok(v) if v.fract() == 0.0 => {
                return Some(Err(format!(
                    "label {} is negative; labels are 0 or more",
                    shown()
                )))
            }
            // A measurement, not a class: a regression target would make one class per value.
            Ok(_) => {
                return Some(Err(format!(
                    "label {} is not a whole number; labels are class numbers (0, 1, ...) or \
                     class names",
                    shown()
                )))
            }
            Err(_) => return None,
        },
    };
    Some(if value < MAX_CLASSES as f64 {
        Ok(value as Label)
    } else {
        Err(format!(
            "label {} is too large: at most {MAX_CLASSES} classes (labels 0..={}) are supported",
            shown(),
            MAX_CLASSES - 1
        ))
    })
}

/// What is wrong with a label that reads as NaN or an infinity (a missing value as numpy and
/// pandas write one), which is neither a class number nor a class name.
#[cfg(feature = "formats")]
pub fn not_finite_label(text: &str) -> Option<String> {
    let t = text.trim();
    t.parse::<f64>().is_ok_and(|v| !v.is_finite()).then(|| {
        format!(
            "label {} is not a finite number (a missing label?); labels are class numbers \
             (0, 1, ...) or class names",
            super::shown::shown(t.as_bytes())
        )
    })
}

/// Checks that `count` samples of `features` values fit in memory as `bytes_per_value`-byte
/// values (the input limit of [`crate::fsio::budget`]), before anything that size is
/// allocated; returns the number of values.
pub fn check_size(
    path: &std::path::Path,
    count: u64,
    features: u64,
    bytes_per_value: u64,
) -> Result<usize, DataError> {
    let bad = |problem: String| DataError::BadDims {
        path: path.to_path_buf(),
        problem,
    };
    let values = count
        .checked_mul(features)
        .filter(|n| n.checked_mul(bytes_per_value).is_some())
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| {
            bad(format!(
                "{count} samples of {features} values are more than this machine can hold"
            ))
        })?;
    crate::fsio::budget::input_limit()
        .admit(values as u64 * bytes_per_value, || {
            format!(
                "{count} samples of {features} values need {} bytes",
                values as u64 * bytes_per_value
            )
        })
        .map_err(|e| bad(e.to_string()))?;
    Ok(values)
}
