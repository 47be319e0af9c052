//! The rows `predict` classifies with a table model: a CSV (or TSV, either gzipped) file of
//! feature values, one sample per row. A header is optional (a first row with a cell that is
//! not a number). A row with one cell more than the model's features holds a label, left out
//! where it can be found: the column training recorded as its label column (the model's
//! `label_column`: a name, `first`, `last` or a 0-based index), else a header column named
//! `label`, `class`, `target` or `y`; so the file the model was trained on can be given as it is.

use gpu_mlp::data::{self, DataError, LabelColumn};
use gpu_mlp::error::Result;
use std::path::Path;

/// One row of raw feature values, named for the output (`rows.csv:3`, its line in the file).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub source: String,
    pub values: Vec<f32>,
}

/// Reads the rows of `path` for a model of `features` inputs, whose columns training named
/// `columns` (empty: unnamed, taken by position; else a header's columns are matched to them
/// by name). `label_column` is the label column recorded by training, if any. Every problem is
/// an error naming the file and the line: a header naming other columns, a row of another
/// length, a cell that is not a finite number, no rows at all.
pub fn read(
    path: &Path,
    columns: &[String],
    features: usize,
    label_column: Option<&LabelColumn>,
) -> Result<Vec<Row>> {
    let bad = DataError::bad_file(path);
    // Opened as training opens its files (gzip by content, delimiter by name then content).
    let mut csv = data::csv_reader(path)?;

    let mut rows = Vec::new();
    // The column left out (the label's), decided by the first row.
    let mut skip: Option<Option<usize>> = None;
    // Where each of the model's columns is in a row, when a header puts them in another order.
    let mut order: Option<Vec<usize>> = None;
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
            let header = record
                .iter()
                .any(|cell| cell.trim().parse::<f64>().is_err());
            let label = label_index(path, &record, header, features, label_column);
            skip = Some(label);
            if header && !columns.is_empty() {
                let named: Vec<String> = record
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| Some(j) != label)
                    .map(|(_, cell)| cell.trim().to_string())
                    .collect();
                order = data::column_order(columns, &named)
                    .map_err(|p| bad(format!("line {line} (the header): {p}")))?;
            }
            if header {
                check_width(record.len() - usize::from(label.is_some()), features)
                    .map_err(|p| bad(format!("line {line} (the header): {p}")))?;
                continue;
            }
        }
        let left_out = skip.flatten();
        let width = record.len() - usize::from(left_out.is_some());
        check_width(width, features).map_err(|p| bad(format!("line {line}: {p}")))?;
        let mut values = Vec::with_capacity(features);
        for (column, cell) in record.iter().enumerate() {
            if Some(column) == left_out {
                continue;
            }
            match cell.trim().parse::<f32>() {
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
        if let Some(order) = &order {
            values = order.iter().map(|&j| values[j]).collect();
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

/// The label column of a file whose first row is `first` (a header or not): only when it has
/// one column more than the model's features, found as training finds it (`label_index`): the
/// column training recorded, else a header column named `label`, `class`, `target` or `y`.
fn label_index(
    path: &Path,
    first: &csv::StringRecord,
    header: bool,
    features: usize,
    label_column: Option<&LabelColumn>,
) -> Option<usize> {
    if first.len() != features + 1 {
        return None;
    }
    let names: Option<Vec<String>> =
        header.then(|| first.iter().map(|c| c.trim().to_string()).collect());
    data::label_index(path, names.as_deref(), first.len(), label_column).ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The values `read` takes from `content` for 2 features with `recorded` as the label
    /// column, or its error.
    fn values(content: &str, recorded: Option<&str>) -> std::result::Result<Vec<f32>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        std::fs::write(&path, content).unwrap();
        let recorded: Option<LabelColumn> = recorded.map(|r| r.parse().unwrap());
        read(&path, &[], 2, recorded.as_ref())
            .map(|rows| rows.into_iter().flat_map(|r| r.values).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_label_column_is_left_out_where_training_or_the_header_names_it() {
        assert_eq!(
            values("1,2,0\n3,4,1\n", Some("last")),
            Ok(vec![1., 2., 3., 4.])
        );
        assert_eq!(
            values("0,1,2\n1,3,4\n", Some("first")),
            Ok(vec![1., 2., 3., 4.])
        );
        assert_eq!(values("1,0,2\n", Some("1")), Ok(vec![1., 2.]));
        assert_eq!(
            values("a,Price,b\n1,9,2\n", Some("price")),
            Ok(vec![1., 2.])
        );
        assert_eq!(values("a,b,Target\n1,2,9\n", None), Ok(vec![1., 2.]));
        // Read as training reads files: a semicolon-separated table too.
        assert_eq!(values("1;2\n3;4\n", None), Ok(vec![1., 2., 3., 4.]));
        // Rows of exactly the features keep every column, whatever was recorded.
        assert_eq!(values("label,b\n1,2\n", Some("last")), Ok(vec![1., 2.]));
        let err = values("1,2,0\n", None).unwrap_err();
        assert!(
            err.contains("line 1: 3 cells, but the model takes 2 features; if one is the label"),
            "{err}"
        );
        let err = values("a,b,c\n1,2,0\n", Some("d")).unwrap_err();
        assert!(err.contains("line 1 (the header): 3 cells"), "{err}");
    }
}
