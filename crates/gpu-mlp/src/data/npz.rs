//! NumPy `.npz` archives (a zip of `.npy` arrays, as `numpy.savez` writes them).
//!
//! Keras's `mnist.npz` layout: `x_train`, `y_train` or `x`, `y`, each optionally with a test
//! part `x_test`, `y_test`. Inputs are images `[n, h, w]`, `[n, h, w, c]` (c = 1 or 3) or
//! features `[n, f]`, as `u8` (kept packed) or any other number type, float16 included (read as
//! `f32`, exactly). Labels are whole numbers `[n]` (or `[n, 1]`), or one-hot rows
//! `[n, classes]`: then the model has `classes` outputs, used or not.
//!
//! Each array's bytes are read from the archive as they arrive (never sized from the zip's or
//! the `.npy` header's claims): the header's length field is bounded before the header is read,
//! the size its shape claims is admitted against the input limit ([`crate::fsio::budget`])
//! before the data are, and the data must be exactly that size before a value is decoded (with
//! `npyz`).

use super::raw::{check_size, parse_class_number, RawLabels, RawPart};
use super::shown::shown_up_to;
use super::{DataError, Inputs, Label, MAX_CLASSES};
use crate::fsio::budget::{self, ClaimError};
use npyz::{half, DType, NpyFile, NpyHeader, Order, TypeChar};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The train part and, when the archive has one, the test part.
pub fn read_npz(path: impl AsRef<Path>) -> Result<(RawPart, Option<RawPart>), DataError> {
    let path = path.as_ref();
    let bad = DataError::bad_file(path);
    let file = File::open(path).map_err(DataError::io_at(path))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| bad(format!("not a readable .npz (zip) archive: {e}")))?;
    let keys: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok())
        .map(|n| n.strip_suffix(".npy").unwrap_or(&n).to_string())
        .collect();
    let has = |k: &str| keys.iter().any(|n| n == k);
    let (x, y) = if has("x_train") && has("y_train") {
        ("x_train", "y_train")
    } else if has("x") && has("y") {
        ("x", "y")
    } else {
        let mut listed = keys.clone();
        listed.sort();
        return Err(bad(format!(
            "holds the arrays {}; expected x_train and y_train (with x_test and y_test), or x \
             and y",
            if listed.is_empty() {
                "(none)".to_string()
            } else {
                listed.join(", ")
            }
        )));
    };
    // Either layout may carry its test part as x_test and y_test (Keras names them so).
    let test = match (has("x_test"), has("y_test")) {
        (true, true) => Some(("x_test", "y_test")),
        (false, false) => None,
        _ => {
            return Err(bad(
                "has only one of x_test and y_test; a test part needs both".to_string(),
            ))
        }
    };
    let mut part = |x: &str, y: &str| -> Result<RawPart, DataError> {
        let inputs = Array::read(&mut zip, path, x)?;
        let labels = Array::read(&mut zip, path, y)?;
        split_part(path, &inputs, &labels)
    };
    let train = part(x, y)?;
    let test = test.map(|(x, y)| part(x, y)).transpose()?;
    Ok((train, test))
}

/// The longest `.npy` header read: numpy's own are a few hundred bytes (numpy refuses to load
/// ones over 10,000 by default), so a longer length field is a lie, not a header.
const MAX_NPY_HEADER: u64 = 1 << 16;

/// Reads an `.npy` array's header from `entry`: its bytes (the data follow them) and what they
/// say. The header length field is checked before those bytes are read, and they are read as
/// they arrive, so npyz (which sizes a buffer from the field) only ever sees proven bytes.
fn read_header(entry: &mut dyn Read) -> Result<(NpyHeader, Vec<u8>), String> {
    let mut bytes = Vec::new();
    let take = |entry: &mut dyn Read, bytes: &mut Vec<u8>, n: u64| -> Result<(), String> {
        let got = entry
            .take(n)
            .read_to_end(bytes)
            .map_err(|e| format!("cannot read it: {e}"))?;
        if (got as u64) < n {
            return Err("not a .npy array: its header is cut off".to_string());
        }
        Ok(())
    };
    // Magic (6 bytes), version (2), then the header length: 2 bytes in version 1, else 4.
    take(entry, &mut bytes, 8)?;
    if !bytes.starts_with(b"\x93NUMPY") {
        return Err("not a .npy array: it lacks the \\x93NUMPY magic".to_string());
    }
    let field = if bytes[6] == 1 { 2 } else { 4 };
    take(entry, &mut bytes, field)?;
    let length = bytes[8..]
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    if length > MAX_NPY_HEADER {
        return Err(format!(
            "not a .npy array: its header length field says {length} bytes (numpy's headers \
             are at most {MAX_NPY_HEADER})"
        ));
    }
    take(entry, &mut bytes, length)?;
    let header = NpyHeader::from_reader(&mut &bytes[..]).map_err(|e| {
        let why = shown_up_to(e.to_string().as_bytes(), 160);
        format!("not a .npy array: {why}")
    })?;
    Ok((header, bytes))
}

/// One `.npy` array of the archive: its header and its data bytes, proven to match.
struct Array {
    key: String,
    header: NpyHeader,
    data: Vec<u8>,
    offset: usize,
}

impl Array {
    fn read(zip: &mut zip::ZipArchive<File>, path: &Path, key: &str) -> Result<Array, DataError> {
        let bad = |problem: String| DataError::BadFile {
            path: path.to_path_buf(),
            problem: format!("array {key}: {problem}").into(),
        };
        let with_ext = format!("{key}.npy");
        let name = if zip.index_for_name(&with_ext).is_some() {
            with_ext.as_str()
        } else {
            key
        };
        let mut entry = zip
            .by_name(name)
            .map_err(|e| bad(format!("cannot open it: {e}")))?;
        let (header, data) = read_header(&mut entry).map_err(bad)?;
        let offset = data.len();
        let mut array = Array {
            key: key.to_string(),
            header,
            data,
            offset,
        };
        if array.header.order() != Order::C {
            return Err(bad(
                "is stored in Fortran order; save it in C order (np.ascontiguousarray)".into(),
            ));
        }
        let (_, size) = array.scalar().map_err(bad)?;
        let elements = array
            .header
            .shape()
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d));
        let expected = elements.and_then(|n| n.checked_mul(size));
        let claim = || {
            format!(
                "its header claims {} of shape {:?}, {} bytes",
                dtype_words(&array.header.dtype()),
                array.header.shape(),
                expected.map_or("more than 2^64".to_string(), |e| e.to_string())
            )
        };
        let (claimed, what) = (expected.unwrap_or(u64::MAX), claim());
        let holds = |found: String| bad(format!("{what}, but it holds {found}"));
        match budget::read_claimed(&mut entry, &mut array.data, claimed, claim) {
            Ok(()) => Ok(array),
            Err(ClaimError::TooLarge(e)) => Err(bad(e.to_string())),
            Err(ClaimError::Io(e)) => Err(bad(format!("cannot read it: {e}"))),
            Err(ClaimError::Short { found }) => Err(holds(found.to_string())),
            Err(ClaimError::Long) => Err(holds("more".to_string())),
        }
    }

    /// The element's kind and size in bytes, for the number types numpy has.
    fn scalar(&self) -> Result<(TypeChar, u64), String> {
        let dtype = self.header.dtype();
        if let DType::Plain(t) = &dtype {
            let (kind, size) = (t.type_char(), t.size_field());
            let number = match kind {
                TypeChar::Bool => size == 1,
                TypeChar::Int | TypeChar::Uint => matches!(size, 1 | 2 | 4 | 8),
                TypeChar::Float => matches!(size, 2 | 4 | 8),
                _ => false,
            };
            if number {
                return Ok((kind, size));
            }
        }
        Err(format!(
            "holds {}; expected numbers (bool, int or uint of 8 to 64 bits, float of 16 to 64)",
            dtype_words(&dtype)
        ))
    }

    fn shape(&self) -> &[u64] {
        self.header.shape()
    }

    fn file(&self) -> NpyFile<&[u8]> {
        NpyFile::with_header(self.header.clone(), &self.data[self.offset..])
    }

    /// The values as `u8` when they are stored so, else as `f32`.
    fn values(&self) -> Result<Inputs, String> {
        let read_err = |e: std::io::Error| format!("cannot decode it: {e}");
        let (kind, size) = self.scalar()?;
        let f = self.file();
        Ok(match (kind, size) {
            (TypeChar::Uint, 1) => Inputs::Pixels(f.into_vec::<u8>().map_err(read_err)?),
            (TypeChar::Float, 2) => Inputs::Values(
                f.into_vec::<half::f16>()
                    .map_err(read_err)?
                    .into_iter()
                    .map(half::f16::to_f32)
                    .collect(),
            ),
            (TypeChar::Float, 4) => Inputs::Values(f.into_vec::<f32>().map_err(read_err)?),
            _ => Inputs::Values(self.as_f64()?.into_iter().map(|v| v as f32).collect()),
        })
    }

    /// Every value as `f64` (labels, and numbers of less common types).
    fn as_f64(&self) -> Result<Vec<f64>, String> {
        let read_err = |e: std::io::Error| format!("cannot decode it: {e}");
        let f = self.file();
        macro_rules! read {
            ($t:ty) => {
                f.into_vec::<$t>()
                    .map_err(read_err)?
                    .into_iter()
                    .map(|v| v as f64)
                    .collect()
            };
        }
        Ok(match self.scalar()? {
            (TypeChar::Uint, 1) => read!(u8),
            (TypeChar::Uint, 2) => read!(u16),
            (TypeChar::Uint, 4) => read!(u32),
            (TypeChar::Uint, _) => read!(u64),
            (TypeChar::Int, 1) => read!(i8),
            (TypeChar::Int, 2) => read!(i16),
            (TypeChar::Int, 4) => read!(i32),
            (TypeChar::Int, _) => read!(i64),
            (TypeChar::Float, 2) => f
                .into_vec::<half::f16>()
                .map_err(read_err)?
                .into_iter()
                .map(|v| f64::from(v.to_f32()))
                .collect(),
            (TypeChar::Float, 4) => read!(f32),
            (TypeChar::Float, _) => read!(f64),
            _ => f
                .into_vec::<bool>()
                .map_err(read_err)?
                .into_iter()
                .map(|b| if b { 1.0 } else { 0.0 })
                .collect(),
        })
    }
}

/// One part from its inputs and labels arrays.
fn split_part(path: &Path, x: &Array, y: &Array) -> Result<RawPart, DataError> {
    let bad = |key: &str, problem: String| DataError::BadFile {
        path: path.to_path_buf(),
        problem: format!("array {key}: {problem}").into(),
    };
    let dims: Vec<usize> = x.shape().iter().map(|&d| d as usize).collect();
    let (count, shape) = match dims[..] {
        [n, f] => (n, (1, f, 1)),
        [n, h, w] => (n, (h, w, 1)),
        [n, h, w, c @ (1 | 3)] => (n, (h, w, c)),
        [_, _, _, c] => {
            return Err(bad(
                &x.key,
                format!("images of {c} channels; only 1 (grey) or 3 (RGB) are supported"),
            ))
        }
        _ => {
            return Err(bad(
                &x.key,
                format!(
                    "shape {:?}; expected images [n, h, w], [n, h, w, c] or features [n, f]",
                    x.shape()
                ),
            ))
        }
    };
    if count == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let features = shape.0 * shape.1 * shape.2;
    if features == 0 {
        return Err(bad(&x.key, "a sample of 0 values".to_string()));
    }
    check_size(path, count as u64, features as u64, 4)?;
    let inputs = x.values().map_err(|p| bad(&x.key, p))?;
    if let Inputs::Values(v) = &inputs {
        if let Some(i) = v.iter().position(|v| !v.is_finite()) {
            return Err(bad(
                &x.key,
                format!(
                    "sample {}, value {} is {}; every value must be a finite number",
                    i / features,
                    i % features,
                    v[i]
                ),
            ));
        }
    }
    let labels = labels(y, count).map_err(|p| bad(&y.key, p))?;
    Ok(RawPart {
        feature_names: None,
        path: path.to_path_buf(),
        inputs,
        labels,
        shape,
    })
}

/// Class numbers from `[n]` or `[n, 1]` labels, or one-hot `[n, classes]` ones (whose width
/// is the class count, so a class no sample has still has its output).
fn labels(y: &Array, count: usize) -> Result<RawLabels, String> {
    let shape: Vec<u64> = y.shape().to_vec();
    let n = shape.first().copied().unwrap_or(0) as usize;
    if n != count {
        return Err(format!("{n} labels for {count} samples; they must match"));
    }
    let values = y.as_f64()?;
    match shape[..] {
        [_] | [_, 1] => values
            .iter()
            .enumerate()
            .map(|(i, &v)| match parse_class_number(&v.to_string()) {
                Some(Ok(l)) => Ok(l),
                Some(Err(p)) => Err(format!("sample {i}: {p}")),
                None => Err(format!("sample {i}: label {v} is not a whole number")),
            })
            .collect::<Result<_, _>>()
            .map(RawLabels::Numbers),
        [_, 0] => Err("labels of 0 classes".to_string()),
        [_, k] if k > MAX_CLASSES as u64 => Err(format!(
            "one-hot labels of {k} classes; at most {MAX_CLASSES} are supported"
        )),
        [_, k] => values
            .chunks_exact(k as usize)
            .enumerate()
            .map(|(i, row)| {
                let hot: Vec<usize> = (0..row.len()).filter(|&j| row[j] != 0.0).collect();
                match hot[..] {
                    [j] if row[j] == 1.0 => Ok(j as Label),
                    _ => Err(format!(
                        "sample {i} is not one-hot (a single 1, the rest 0)"
                    )),
                }
            })
            .collect::<Result<_, _>>()
            .map(|labels| RawLabels::OneHot {
                classes: k as usize,
                labels,
            }),
        _ => Err(format!(
            "shape {shape:?}; expected labels [n], [n, 1] or one-hot [n, classes]"
        )),
    }
}

/// An element type in numpy's words (`float16`, `int64`, `complex128`), never a Rust structure.
fn dtype_words(dtype: &DType) -> String {
    let t = match dtype {
        DType::Plain(t) => t,
        DType::Array(n, inner) => return format!("arrays of {n} {}", dtype_words(inner)),
        DType::Record(fields) => return format!("records of {} named fields", fields.len()),
    };
    let (size, bits) = (t.size_field(), t.size_field() * 8);
    match t.type_char() {
        TypeChar::Bool => "bool".to_string(),
        TypeChar::Int => format!("int{bits}"),
        TypeChar::Uint => format!("uint{bits}"),
        TypeChar::Float => format!("float{bits}"),
        TypeChar::Complex => format!("complex{bits}"),
        TypeChar::TimeDelta => "timedelta64".to_string(),
        TypeChar::DateTime => "datetime64".to_string(),
        TypeChar::ByteStr => format!("byte strings of {size} bytes"),
        TypeChar::UnicodeStr => format!("text of {size} characters"),
        _ => format!("raw records of {size} bytes"),
    }
}
