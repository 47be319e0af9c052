//! The rows `predict` classifies with a table model: a CSV (or TSV, either gzipped) file of
//! feature values, one sample per row. A header is optional (a first row with a cell that is
//! not a number); a label column the header names is left out, so the file the model was
//! trained on can be given as it is.

use crate::data::DataError;
use crate::error::Result;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// Header names taken for the label column, in any case (as `train` takes them), besides the
/// one the model's training recorded.
pub const LABEL_NAMES: [&str; 4] = ["label", "class", "target", "y"];

/// One row of raw feature values, named for the output (`rows.csv:3`, its line in the file).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub source: String,
    pub values: Vec<f32>,
}

/// Reads the rows of `path` for a model of `features` inputs. `label_column` is the label
/// column's name recorded by training, if any. Every problem is an error naming the file and
/// the line: a row of another length, a cell that is not a finite number, no rows at all.
pub fn read(path: &Path, features: usize, label_column: Option<&str>) -> Result<Vec<Row>> {
    let bad = |problem: String| DataError::BadFile {
        path: path.to_path_buf(),
        problem,
    };
    let file = File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path.to_string_lossy().to_lowercase();
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    let delimiter = if stem.ends_with(".tsv") { b'\t' } else { b',' };
    let reader: Box<dyn Read> = if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .from_reader(reader);

    let mut rows = Vec::new();
    // The column left out (a label column named by the header), once the first row is read.
    let mut skip: Option<Option<usize>> = None;
    let mut record = csv::StringRecord::new();
    loop {
        let more = csv.read_record(&mut record).map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            bad(format!("line {line}: {e}"))
        })?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line());
        if skip.is_none() {
            let header = record.iter().any(|cell| cell.parse::<f64>().is_err());
            if header {
                let label = label_index(&record, features, label_column);
                check_width(record.len() - usize::from(label.is_some()), features)
                    .map_err(|p| bad(format!("line {line} (the header): {p}")))?;
                skip = Some(label);
                continue;
            }
            skip = Some(None);
        }
        let left_out = skip.flatten();
        let width = record.len() - usize::from(left_out.is_some());
        check_width(width, features).map_err(|p| bad(format!("line {line}: {p}")))?;
        let mut values = Vec::with_capacity(features);
        for (column, cell) in record.iter().enumerate() {
            if Some(column) == left_out {
                continue;
            }
            match cell.parse::<f32>() {
                Ok(v) if v.is_finite() => values.push(v),
                Ok(v) => {
                    return Err(bad(format!(
                        "line {line}, column {}: {v} is not a finite number",
                        column + 1
                    ))
                    .into())
                }
                Err(_) => {
                    return Err(bad(format!(
                        "line {line}, column {}: '{cell}' is not a number",
                        column + 1
                    ))
                    .into())
                }
            }
        }
        rows.push(Row {
            source: format!("{}:{line}", path.display()),
            values,
        });
    }
    if rows.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        }
        .into());
    }
    Ok(rows)
}

/// The header's label column: only when the header has one column more than the model's
/// features and one is named as training's label column was (or `label`, `class`, ...).
fn label_index(
    header: &csv::StringRecord,
    features: usize,
    label_column: Option<&str>,
) -> Option<usize> {
    if header.len() != features + 1 {
        return None;
    }
    header.iter().position(|name| {
        label_column.is_some_and(|l| l == name)
            || LABEL_NAMES.iter().any(|l| l.eq_ignore_ascii_case(name))
    })
}

/// The problem with a row of `width` feature cells for a model of `features`, if any.
fn check_width(width: usize, features: usize) -> std::result::Result<(), String> {
    if width == features {
        return Ok(());
    }
    let hint = if width == features + 1 {
        "; if one is the label, give the file a header that names it (e.g. label) or leave \
         the column out"
    } else {
        ""
    };
    Err(format!(
        "{width} cells, but the model takes {features} features{hint}"
    ))
}
