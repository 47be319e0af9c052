//! CSV and TSV files (raw or gzip): one row per sample, one column of labels, every other
//! column a feature.
//!
//! The file is streamed (the `csv` crate) into one growing buffer: while every feature cell is a
//! whole number 0..=255 the buffer holds packed `u8` (so MNIST written as CSV is MNIST, bit for
//! bit, at a quarter of the memory); at the first other value it turns into `f32` for good.
//!
//! A first row is a header when one of its cells is not a number where the second row's is (a
//! file whose label column is text still has numeric feature columns to tell by), or when it is
//! the column numbers (`0,1,2,...` or `1,2,3,...`, pandas' header over unnamed columns) and its
//! label is no other row's: as a sample it would be a class of its own. The label
//! column is `--label-column`, else the header column named `label`, `class`, `target` or `y`
//! (any case). Labels are whole numbers (the classes `0..=max`) or text (class names, sorted).

use super::header_row::{column_numbers, drop_first, only_first};
use super::raw::{not_finite_label, parse_class_number, NameTable, RawLabels, RawPart};
use super::shown::shown;
use super::text_bounds::{out_of_bounds, BoundedText};
use super::{DataError, Inputs, Label, LabelColumn};
use crate::fsio::budget::{self, Exceeded, Limit};
use crate::phrase;
use crate::setting::{ConfigError, Phrase, Setting};
use csv::{ByteRecord, ReaderBuilder};
use flate2::bufread::MultiGzDecoder;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::mpsc;

/// Header names taken as the label column when `--label-column` is not given, in this order.
const LABEL_NAMES: [&str; 4] = ["label", "class", "target", "y"];
/// Rows handed from the splitting thread to the parsing one at a time, and batches in flight.
const BATCH_ROWS: usize = 128;
/// The most a batch's records may hold: rows of a million cells go a few at a time (a batch
/// of 128 such rows would take a gigabyte for a file of a few megabytes).
const BATCH_BYTES: usize = 4 << 20;
const QUEUED_BATCHES: usize = 4;
/// Bytes buffered per read (the CSV reader's reads then bypass the peeking buffer's copy).
const BUFFER: usize = 1 << 16;
/// The two leading bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads a CSV or TSV file (see the module docs).
pub fn read_csv(
    path: impl AsRef<Path>,
    label_column: Option<&LabelColumn>,
) -> Result<RawPart, DataError> {
    let path = path.as_ref();
    let bad = DataError::bad_file(path);
    let mut csv = csv_reader(path)?;

    let mut first = ByteRecord::new();
    let mut second = ByteRecord::new();
    let read = |csv: &mut csv::Reader<_>, rec: &mut ByteRecord| {
        csv.read_byte_record(rec).map_err(|e| csv_error(path, e))
    };
    let any = read(&mut csv, &mut first)?;
    if !any || (first.len() == 1 && first[0].is_empty()) {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let has_second = read(&mut csv, &mut second)?;
    let header = if has_second {
        (0..first.len()).any(|j| !is_number(&first[j]) && second.get(j).is_some_and(is_number))
    } else {
        first.iter().any(|c| !is_number(c))
    };
    let names: Option<Vec<String>> = header.then(|| {
        first
            .iter()
            .map(|c| String::from_utf8_lossy(c.trim_ascii()).into_owned())
            .collect()
    });
    let width = first.len();
    let label = label_index(path, names.as_deref(), width, label_column)?;
    if width < 2 {
        return Err(bad(
            "has one column: a sample needs its label and at least one feature".to_string(),
        ));
    }
    let column_name = |j: usize| match &names {
        Some(n) => format!("column {} ({})", j + 1, shown(n[j].as_bytes())),
        None => format!("column {}", j + 1),
    };

    let mut rows = Rows::new(width - 1);
    let mut handle = |rec: &ByteRecord, line: u64| -> Result<(), DataError> {
        if rec.len() != width {
            return Err(bad(format!(
                "line {line} has {} fields, but line 1 has {width}",
                rec.len()
            )));
        }
        rows.admit_row()
            .map_err(|e| bad(format!("line {line}: {e}")))?;
        rows.push(rec, label)
            .map_err(|(j, problem)| bad(format!("line {line}, {}: {problem}", column_name(j))))
    };
    if !header {
        handle(&first, 1)?;
    }
    if has_second {
        handle(&second, line_number(&second, 2))?;
        // The rest in two stages on two threads: one splits records (the `csv` crate), this one
        // parses their cells; a bad cell stops both.
        let (batches, received) = mpsc::sync_channel::<(Vec<ByteRecord>, usize)>(QUEUED_BATCHES);
        // Parsed batches come back to be filled again: no allocation per record.
        let (give_back, recycled) = mpsc::channel::<Vec<ByteRecord>>();
        let (fields, bytes) = (width, second.as_slice().len() + width);
        // A record holds its bytes and one end offset per field.
        let record_bytes = bytes + fields * std::mem::size_of::<usize>();
        let batch_rows = (BATCH_BYTES / record_bytes).clamp(1, BATCH_ROWS);
        std::thread::scope(|s| {
            let splitter = s.spawn(move || -> Result<(), DataError> {
                loop {
                    let mut batch = recycled.try_recv().unwrap_or_else(|_| {
                        vec![ByteRecord::with_capacity(bytes, fields); batch_rows]
                    });
                    let (mut filled, mut more) = (0, true);
                    while more && filled < batch_rows {
                        let rec = &mut batch[filled];
                        more = read(&mut csv, rec)?;
                        // Blank lines (and the empty record at the end) are overwritten.
                        if more && !(rec.len() == 1 && rec[0].is_empty()) {
                            filled += 1;
                        }
                    }
                    // A closed channel: the parser stopped at a bad cell and reports it.
                    if batches.send((batch, filled)).is_err() || !more {
                        return Ok(());
                    }
                }
            });
            for (batch, filled) in received {
                for rec in &batch[..filled] {
                    handle(rec, line_number(rec, 0))?;
                }
                // The splitter may be done already; then the batch is simply dropped.
                let _ = give_back.send(batch);
            }
            splitter.join().unwrap_or_else(|_| {
                Err(DataError::BadFile {
                    path: path.to_path_buf(),
                    problem: "the CSV reader thread panicked".into(),
                })
            })
        })?;
    }
    let mut labels = rows.labels.finish();
    if !header && column_numbers(&first) && only_first(&labels) {
        // pandas' header over unnamed columns: a class of one sample otherwise.
        eprintln!(
            "gpu-mlp: note: {}: line 1 ({}) is read as a header of column numbers, not as a \
             sample: its label {} is on no other line (to read it as a sample, put a header \
             line above it)",
            path.display(),
            shown(&first.iter().collect::<Vec<_>>().join(&b","[..])),
            shown(first[label].trim_ascii())
        );
        drop_first(&mut rows.inputs, &mut labels, width - 1);
        rows.count -= 1;
    }
    if rows.count == 0 {
        // A header and nothing else.
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(RawPart {
        path: path.to_path_buf(),
        shape: (1, width - 1, 1),
        feature_names: names.map(|mut n| {
            n.remove(label);
            n
        }),
        inputs: rows.inputs,
        labels,
    })
}

/// The 1-based line a record starts on.
fn line_number(rec: &ByteRecord, fallback: u64) -> u64 {
    rec.position().map_or(fallback, |p| p.line())
}

/// The rows read so far: features packed as `u8` until a value needs `f32`.
struct Rows {
    features: usize,
    /// The most the rows may take (the input limit).
    limit: Limit,
    inputs: Inputs,
    labels: LabelsSoFar,
    count: usize,
}

impl Rows {
    fn new(features: usize) -> Self {
        Self {
            features,
            limit: budget::input_limit(),
            inputs: Inputs::Pixels(Vec::new()),
            labels: LabelsSoFar::Numbers(Vec::new()),
            count: 0,
        }
    }

    /// Fails when one more row would take the rows past the input limit (counted as their
    /// vectors hold them: room for twice the rows once one grows).
    fn admit_row(&self) -> Result<(), Exceeded> {
        let value = match self.inputs {
            Inputs::Pixels(_) => 1,
            Inputs::Values(_) => 4,
        };
        let row = self.features as u64 * value + 4;
        let rows = (self.count as u64 + 1).next_power_of_two();
        self.limit.admit(rows.saturating_mul(row), || {
            format!(
                "{rows} rows of {} values need {} bytes",
                self.features,
                rows.saturating_mul(row)
            )
        })
    }

    /// Appends one row; on a bad cell, its 0-based column and what is wrong with it.
    fn push(&mut self, rec: &ByteRecord, label: usize) -> Result<(), (usize, String)> {
        self.labels.push(&rec[label]).map_err(|p| (label, p))?;
        let features = rec.iter().enumerate().filter(|&(j, _)| j != label);
        if let Inputs::Pixels(p) = &mut self.inputs {
            let start = p.len();
            p.reserve(self.features);
            for (_, cell) in features.clone() {
                match as_byte(cell) {
                    Some(byte) => p.push(byte),
                    None => break,
                }
            }
            if p.len() - start == self.features {
                self.count += 1;
                return Ok(());
            }
            // A value that is not a byte: everything becomes f32 from here on.
            p.truncate(start);
            let mut values = Vec::with_capacity(p.len() + self.features);
            values.extend(p.iter().map(|&b| f32::from(b)));
            self.inputs = Inputs::Values(values);
        }
        if let Inputs::Values(v) = &mut self.inputs {
            v.reserve(self.features);
            for (j, cell) in features {
                v.push(parse_value(cell).map_err(|p| (j, p))?);
            }
        }
        self.count += 1;
        Ok(())
    }
}

/// Labels read so far: numbers until the first one that is not, then names.
enum LabelsSoFar {
    Numbers(Vec<Label>),
    Names(NameTable, Vec<u32>),
}

impl LabelsSoFar {
    fn push(&mut self, cell: &[u8]) -> Result<(), String> {
        let text =
            std::str::from_utf8(cell.trim_ascii()).map_err(|_| "the label is not UTF-8 text")?;
        if text.is_empty() {
            return Err("the label is empty".to_string());
        }
        if let LabelsSoFar::Numbers(numbers) = self {
            match parse_class_number(text) {
                Some(Ok(l)) => {
                    numbers.push(l);
                    return Ok(());
                }
                Some(Err(problem)) => return Err(problem),
                None => {
                    // A label that is not a number: the labels are class names.
                    let mut table = NameTable::default();
                    let ids = numbers.iter().map(|n| table.id(&n.to_string())).collect();
                    *self = LabelsSoFar::Names(table, ids);
                }
            }
        }
        if let LabelsSoFar::Names(table, ids) = self {
            if let Some(problem) = not_finite_label(text) {
                return Err(problem);
            }
            ids.push(table.id(text));
        }
        Ok(())
    }

    fn finish(self) -> RawLabels {
        match self {
            LabelsSoFar::Numbers(n) => RawLabels::Numbers(n),
            LabelsSoFar::Names(table, ids) => table.finish(ids),
        }
    }
}

/// A whole number 0..=255 written with digits only (the fast path of every pixel).
fn as_byte(cell: &[u8]) -> Option<u8> {
    let cell = cell.trim_ascii();
    if cell.is_empty() || cell.len() > 3 {
        return None;
    }
    let mut v: u32 = 0;
    for &c in cell {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    u8::try_from(v).ok()
}

/// A finite number, or what is wrong with the cell.
fn parse_value(cell: &[u8]) -> Result<f32, String> {
    let cell = cell.trim_ascii();
    if cell.is_empty() {
        return Err("the cell is empty (a missing value?)".to_string());
    }
    let parsed = std::str::from_utf8(cell).map(str::parse::<f32>);
    match parsed {
        Ok(Ok(v)) if v.is_finite() => Ok(v),
        // Finite as written, but past f32's range (1e300 from a float64 column).
        Ok(Ok(_))
            if std::str::from_utf8(cell)
                .is_ok_and(|t| t.parse::<f64>().is_ok_and(f64::is_finite)) =>
        {
            Err(format!(
                "'{}' is too large for a 32-bit float (at most about 3.4e38 in size); scale the \
             column down",
                shown(cell)
            ))
        }
        Ok(Ok(_)) => Err(format!("'{}' is not a finite number", shown(cell))),
        _ => Err(format!("'{}' is not a number", shown(cell))),
    }
}

fn is_number(cell: &[u8]) -> bool {
    std::str::from_utf8(cell.trim_ascii()).is_ok_and(|t| t.parse::<f64>().is_ok())
}

/// The 0-based index of the label column of rows `width` wide, with header `names` if any:
/// `asked` (`--label-column`), else the header column named `label`, `class`, `target` or `y`.
pub fn label_index(
    path: impl AsRef<Path>,
    names: Option<&[String]>,
    width: usize,
    asked: Option<&LabelColumn>,
) -> Result<usize, DataError> {
    let path = path.as_ref();
    let bad = |problem: Phrase| DataError::BadFile {
        path: path.to_path_buf(),
        problem,
    };
    // An asked-for column the file does not have: the setting is what to change (exit 2 in
    // the CLI), worded as a problem of the file would be.
    let bad_setting = |problem: Phrase| {
        DataError::Setting(ConfigError::new(
            Phrase::from(format!("{}: ", path.display())).followed_by(problem),
        ))
    };
    let listed = || {
        let n = names.unwrap_or_default();
        let mut s = n
            .iter()
            .take(8)
            .map(|name| shown(name.as_bytes()))
            .collect::<Vec<_>>()
            .join(", ");
        if n.len() > 8 {
            s.push_str(&format!(", ... ({} columns)", n.len()));
        }
        s
    };
    match (asked, names) {
        (Some(LabelColumn::First), _) => Ok(0),
        (Some(LabelColumn::Last), _) => Ok(width - 1),
        (Some(LabelColumn::Index(i)), _) if *i < width => Ok(*i),
        (Some(LabelColumn::Index(i)), _) => Err(bad_setting(phrase![
            Setting::LabelColumn,
            format!(
                " {i} is past the last column: rows have {width} (indices 0..={})",
                width - 1
            )
        ])),
        (Some(LabelColumn::Name(name)), Some(names)) => {
            let exact = named(names, |n| n == name);
            let found = if exact.is_empty() {
                named(names, |n| n.eq_ignore_ascii_case(name))
            } else {
                exact
            };
            if found.is_empty() {
                return Err(bad_setting(phrase![
                    Setting::LabelColumn,
                    format!(" '{name}' names no column (columns: {})", listed())
                ]));
            }
            only_one(path, names, &found)
        }
        (Some(LabelColumn::Name(name)), None) => Err(bad_setting(phrase![
            format!("has no header row, so no column is named '{name}'; pass "),
            Setting::LabelColumn,
            " first, last or a 0-based INDEX"
        ])),
        (None, Some(names)) => {
            let Some(found) = LABEL_NAMES
                .iter()
                .map(|want| named(names, |n| n.eq_ignore_ascii_case(want)))
                .find(|found| !found.is_empty())
            else {
                return Err(bad(phrase![
                    format!(
                        "no column is named label, class, target or y (columns: {}); say \
                         which holds the labels with ",
                        listed()
                    ),
                    Setting::LabelColumn,
                    " NAME|INDEX|first|last"
                ]));
            };
            only_one(path, names, &found)
        }
        (None, None) => Err(bad(phrase![
            "has no header row, so which column holds the labels is not known; pass ",
            Setting::LabelColumn,
            " last (or first, or a 0-based INDEX)"
        ])),
    }
}

/// The 0-based indices of the header columns whose name passes `matches`.
fn named(names: &[String], matches: impl Fn(&str) -> bool) -> Vec<usize> {
    (0..names.len()).filter(|&j| matches(&names[j])).collect()
}

/// The one column of `found`; two or more of one name are refused (taking the first would
/// train on the other as a feature), naming their indices so that one can be chosen.
fn only_one(path: &Path, names: &[String], found: &[usize]) -> Result<usize, DataError> {
    match found {
        [j] => Ok(*j),
        _ => {
            let indices: Vec<String> = found.iter().map(|j| j.to_string()).collect();
            let (last, rest) = indices.split_last().expect("two or more columns");
            Err(DataError::BadFile {
                path: path.to_path_buf(),
                problem: phrase![
                    format!(
                        "columns {} and {last} (0-based) are each named '{}'; say which holds \
                         the labels with ",
                        rest.join(", "),
                        shown(names[found[0]].as_bytes())
                    ),
                    Setting::LabelColumn,
                    " INDEX"
                ],
            })
        }
    }
}

/// The records of a CSV or TSV file as training reads them: gzip told by its magic bytes, the
/// delimiter by the name and then the first line, no header taken for granted, rows of any
/// length (the caller checks them). `predict` reads a table model's rows through it too.
pub fn csv_reader(path: impl AsRef<Path>) -> Result<csv::Reader<TextReader>, DataError> {
    let path = path.as_ref();
    let mut reader = open_text(path)?;
    let delimiter = delimiter(path, reader.fill_buf().map_err(|e| io_error(path, e))?);
    Ok(ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(BUFFER)
        .from_reader(reader))
}

/// A text file's bytes, gunzipped when it is gzip.
pub type TextReader = BufReader<Box<dyn Read + Send>>;

/// Tab for `.tsv`/`.tab` files and for a first line with more tabs than commas; `;` for one
/// with semicolons and no commas; else a comma.
fn delimiter(path: &Path, start: &[u8]) -> u8 {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if name.ends_with(".tsv") || name.ends_with(".tab") {
        return b'\t';
    }
    let line = start.split(|&b| b == b'\n').next().unwrap_or_default();
    let count = |c: u8| line.iter().filter(|&&b| b == c).count();
    let (tabs, commas, semicolons) = (count(b'\t'), count(b','), count(b';'));
    if tabs > commas {
        b'\t'
    } else if commas == 0 && semicolons > 0 {
        b';'
    } else {
        b','
    }
}

/// The file's text, gunzipped when it is gzip (told by content).
fn open_text(path: &Path) -> Result<TextReader, DataError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut raw = BufReader::with_capacity(BUFFER, file);
    let is_gzip = raw
        .fill_buf()
        .map_err(|e| io_error(path, e))?
        .starts_with(&GZIP_MAGIC);
    let inner: Box<dyn Read + Send> = if is_gzip {
        Box::new(BoundedText::new(MultiGzDecoder::new(raw)))
    } else {
        Box::new(BoundedText::new(raw))
    };
    Ok(BufReader::with_capacity(BUFFER, inner))
}

fn io_error(path: &Path, source: std::io::Error) -> DataError {
    if let Some(problem) = out_of_bounds(&source) {
        return DataError::BadFile {
            path: path.to_path_buf(),
            problem: problem.into(),
        };
    }
    match source.kind() {
        std::io::ErrorKind::InvalidInput
        | std::io::ErrorKind::InvalidData
        | std::io::ErrorKind::UnexpectedEof => DataError::Gzip {
            path: path.to_path_buf(),
            source,
        },
        _ => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
    }
}

fn csv_error(path: &Path, e: csv::Error) -> DataError {
    let problem = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => io_error(path, source),
        _ => DataError::BadFile {
            path: path.to_path_buf(),
            problem: problem.into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_take_the_fast_path_only_when_whole_and_small() {
        assert_eq!(as_byte(b"0"), Some(0));
        assert_eq!(as_byte(b"255"), Some(255));
        assert_eq!(as_byte(b"256"), None);
        assert_eq!(as_byte(b"1.5"), None);
        assert_eq!(as_byte(b"-1"), None);
        assert_eq!(as_byte(b""), None);
    }

    #[test]
    fn delimiters_are_told_by_name_then_content() {
        assert_eq!(delimiter(Path::new("a.tsv.gz"), b"1,2"), b'\t');
        assert_eq!(delimiter(Path::new("a.csv"), b"1\t2\t3\n"), b'\t');
        assert_eq!(delimiter(Path::new("a.csv"), b"1;2;3\n"), b';');
        assert_eq!(delimiter(Path::new("a.csv"), b"1,2,3\n"), b',');
    }
}
