//! Matching a file's names to a saved model's: the classes its labels or folders name and the
//! columns its header names. The same set in another order is put in the model's order; a
//! different set is a problem that names what is missing and what is unexpected.

use super::raw::{RawLabels, RawPart};
use super::shown::shown;
use super::{DataError, Inputs, Label};
use std::collections::HashMap;

/// Names listed in a problem before the rest are counted.
const LISTED: usize = 5;

/// The names a saved model knows, which new data is matched to (`eval`, `predict`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelNames {
    /// One name per class, index = label. Classes named by their numbers (`0..n-1`) are not
    /// matched: their labels are numbers already.
    pub classes: Vec<String>,
    /// One name per input column of a table model, in the model's order; empty when the model
    /// records none (images, a table without a header, a checkpoint written before they were
    /// recorded): columns are then taken by position.
    pub features: Vec<String>,
}

impl ModelNames {
    /// True when the classes are real names, not the numbers `0..n-1`.
    pub fn names_classes(&self) -> bool {
        !self
            .classes
            .iter()
            .enumerate()
            .all(|(i, name)| *name == i.to_string())
    }
}

/// For each of the `wanted` columns, the index of the column of that name in `given`; `None`
/// when they are already in order. A different set (or a name given twice, which cannot be
/// matched) is the problem in words.
pub fn column_order(wanted: &[String], given: &[String]) -> Result<Option<Vec<usize>>, String> {
    if wanted == given {
        return Ok(None);
    }
    if let Some(twice) = repeated(given) {
        return Err(format!(
            "its header names column '{}' twice, so its columns cannot be matched to the \
             model's by name",
            shown(twice.as_bytes())
        ));
    }
    let index = positions(given);
    let order: Option<Vec<usize>> = wanted
        .iter()
        .map(|n| index.get(n.as_str()).copied())
        .collect();
    match order {
        Some(order) if given.len() == wanted.len() => Ok(Some(order)),
        _ => Err(format!(
            "its columns are not the model's: {}",
            difference(wanted, given)
        )),
    }
}

/// Rewrites each row of `values` (rows of `order.len()` values) so that its `k`th value is the
/// one that was at `order[k]` (see [`column_order`]).
pub fn reorder_rows<T: Copy>(values: &mut [T], order: &[usize]) {
    let mut row = Vec::with_capacity(order.len());
    for chunk in values.chunks_exact_mut(order.len()) {
        row.clear();
        row.extend_from_slice(chunk);
        for (out, &from) in chunk.iter_mut().zip(order) {
            *out = row[from];
        }
    }
}

/// The model's label of each of `given`'s classes (by name). A class the model does not know
/// is the problem in words; classes of the model that `given` lacks are fine (a test set may
/// hold some of them only).
pub fn class_labels(model: &[String], given: &[String]) -> Result<Vec<Label>, String> {
    let index = positions(model);
    let labels: Option<Vec<Label>> = given
        .iter()
        .map(|n| index.get(n.as_str()).map(|&i| i as Label))
        .collect();
    labels.ok_or_else(|| {
        format!(
            "its classes are not the model's: {}",
            difference(model, given)
        )
    })
}

/// Puts the columns of `part` in the order `wanted` names them, when its header names them
/// (else they are taken by position); a header naming other columns is an error.
pub(super) fn columns_in_order(part: &mut RawPart, wanted: &[String]) -> Result<(), DataError> {
    let Some(given) = &part.feature_names else {
        return Ok(());
    };
    let order = column_order(wanted, given).map_err(|problem| DataError::BadFile {
        path: part.path.clone(),
        problem: problem.into(),
    })?;
    if let Some(order) = order {
        match &mut part.inputs {
            Inputs::Pixels(p) => reorder_rows(p, &order),
            Inputs::Values(v) => reorder_rows(v, &order),
        }
        part.feature_names = Some(wanted.to_vec());
    }
    Ok(())
}

/// The labels of both parts as `model`'s classes, which their class names are matched to.
#[allow(clippy::type_complexity)]
pub(super) fn model_classes(
    model: &[String],
    train: &RawPart,
    test: Option<&RawPart>,
) -> Result<(Vec<String>, Vec<Label>, Option<Vec<Label>>), DataError> {
    let labels = |part: &RawPart| match &part.labels {
        RawLabels::Names { names, ids } => {
            let of_name = class_labels(model, names).map_err(|problem| DataError::BadFile {
                path: part.path.clone(),
                problem: problem.into(),
            })?;
            Ok(ids.iter().map(|&i| of_name[i as usize]).collect())
        }
        RawLabels::Numbers(_) | RawLabels::OneHot { .. } => Err(DataError::BadFile {
            path: part.path.clone(),
            problem: "its labels are numbers, but the training labels are not".into(),
        }),
    };
    let test_labels = test.map(labels).transpose()?;
    Ok((model.to_vec(), labels(train)?, test_labels))
}

/// `unexpected 'e'; missing 'd'`: the names of `given` not in `wanted`, then those of `wanted`
/// not in `given`, each list cut after a few names.
fn difference(wanted: &[String], given: &[String]) -> String {
    let not_in = |a: &[String], b: &[String]| -> Vec<String> {
        let b: std::collections::HashSet<&str> = b.iter().map(String::as_str).collect();
        a.iter()
            .filter(|n| !b.contains(n.as_str()))
            .cloned()
            .collect()
    };
    let mut parts = Vec::new();
    for (what, names) in [
        ("unexpected", not_in(given, wanted)),
        ("missing", not_in(wanted, given)),
    ] {
        if !names.is_empty() {
            parts.push(format!("{what} {}", listed(&names)));
        }
    }
    if parts.is_empty() {
        // Same names, other counts: only a repeat tells them apart.
        parts.push(format!(
            "{} names against the model's {}",
            given.len(),
            wanted.len()
        ));
    }
    parts.join("; ")
}

/// `'a', 'b' and 3 more`.
fn listed(names: &[String]) -> String {
    let mut text = names
        .iter()
        .take(LISTED)
        .map(|n| format!("'{}'", shown(n.as_bytes())))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED {
        text.push_str(&format!(" and {} more", names.len() - LISTED));
    }
    text
}

/// Where each of `names` is (the last place, for a name given twice).
fn positions(names: &[String]) -> HashMap<&str, usize> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect()
}

/// A name that appears twice in `names`.
fn repeated(names: &[String]) -> Option<&String> {
    let mut seen = std::collections::HashSet::new();
    names.iter().find(|n| !seen.insert(n.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn columns_are_matched_by_name() {
        let model = strings(&["a", "b", "c"]);
        assert_eq!(column_order(&model, &model), Ok(None));
        assert_eq!(
            column_order(&model, &strings(&["c", "a", "b"])),
            Ok(Some(vec![1, 2, 0]))
        );
        let err = column_order(&model, &strings(&["a", "b", "e"])).unwrap_err();
        assert!(err.ends_with("unexpected 'e'; missing 'c'"), "{err}");
        let err = column_order(&model, &strings(&["a", "b", "c", "d"])).unwrap_err();
        assert!(err.ends_with("unexpected 'd'"), "{err}");
        let err = column_order(&model, &strings(&["a", "a", "b"])).unwrap_err();
        assert!(err.contains("'a' twice"), "{err}");
        let many: Vec<String> = (0..9).map(|i| format!("x{i}")).collect();
        let err = column_order(&model, &many).unwrap_err();
        assert!(err.contains("'x4' and 4 more; missing"), "{err}");
    }

    #[test]
    fn rows_are_reordered() {
        let mut values = [1, 2, 3, 4, 5, 6];
        reorder_rows(&mut values, &[2, 0, 1]);
        assert_eq!(values, [3, 1, 2, 6, 4, 5]);
    }

    #[test]
    fn classes_are_matched_by_name() {
        let model = strings(&["a", "b", "c"]);
        assert_eq!(class_labels(&model, &strings(&["b", "c"])), Ok(vec![1, 2]));
        let err = class_labels(&model, &strings(&["a", "x"])).unwrap_err();
        assert!(err.ends_with("unexpected 'x'; missing 'b', 'c'"), "{err}");
        let numbered = ModelNames {
            classes: strings(&["0", "1"]),
            features: Vec::new(),
        };
        assert!(!numbered.names_classes());
        assert!(ModelNames {
            classes: model,
            features: Vec::new()
        }
        .names_classes());
    }
}
