//! pandas' header over unnamed columns: `df.to_csv()` writes the column numbers (`0,1,2,...`)
//! as the first line, which reads as a sample of a class of its own. The table reader takes
//! such a line as a header when its label is no other row's (see `table`'s module docs).

use super::raw::RawLabels;
use super::Inputs;
use csv::ByteRecord;

/// True when `row` is the numbers of its columns, counted from 0 or from 1 (`0,1,2,3,4`), as
/// pandas writes them over a table whose columns have no names; 3 columns at least.
pub(super) fn column_numbers(row: &ByteRecord) -> bool {
    let numbers: Option<Vec<usize>> = row
        .iter()
        .map(|c| std::str::from_utf8(c.trim_ascii()).ok()?.parse().ok())
        .collect();
    numbers.is_some_and(|n| {
        n.len() >= 3 && (0..2).any(|from| n.iter().enumerate().all(|(j, &v)| v == j + from))
    })
}

/// True when the first sample's class is no other sample's.
pub(super) fn only_first(labels: &RawLabels) -> bool {
    match labels {
        RawLabels::Numbers(n) => n.len() > 1 && !n[1..].contains(&n[0]),
        // Not from a table: its width is the class count.
        RawLabels::OneHot { .. } => false,
        RawLabels::Names { ids, .. } => ids.len() > 1 && !ids[1..].contains(&ids[0]),
    }
}

/// Leaves out the first sample (of `features` inputs) and its class, which no other has.
pub(super) fn drop_first(inputs: &mut Inputs, labels: &mut RawLabels, features: usize) {
    match inputs {
        Inputs::Pixels(p) => drop(p.drain(..features)),
        Inputs::Values(v) => drop(v.drain(..features)),
    }
    match labels {
        RawLabels::Numbers(n) | RawLabels::OneHot { labels: n, .. } => drop(n.remove(0)),
        RawLabels::Names { names, ids } => {
            let gone = ids.remove(0);
            names.remove(gone as usize);
            // The names stay sorted; those after the one left out move down.
            ids.iter_mut().filter(|i| **i > gone).for_each(|i| *i -= 1);
        }
    }
}
