//! IDX files (the MNIST format): a big-endian header, then unsigned bytes.
//!
//! Layout: magic `00 00 08 NDIMS`, then NDIMS big-endian `u32` sizes, then the payload. Labels
//! are `0x00000801` (`[n]`), images `0x00000803` (`[n, rows, cols]`). Files may be gzip-compressed;
//! compression is recognised from the content (magic `1f 8b`), never from the file name.
//!
//! The reader trusts nothing in a header: the payload is read in bounded steps and the buffer
//! only grows as bytes actually arrive, so a header claiming billions of images in a tiny file
//! is an error after reading that file, not an allocation failure.

use super::{DataError, Inputs, Label, Samples};
use crate::fsio::atomic::AtomicFile;
use byteorder::{BigEndian, ReadBytesExt, WriteBytesExt};
use flate2::bufread::MultiGzDecoder;
use flate2::write::GzEncoder;
use std::fs::File;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::path::Path;

/// Magic number of an IDX labels file (`u8 [n]`).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Magic number of an IDX images file (`u8 [n, rows, cols]`).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// The largest image accepted, in pixels (16 Mi, e.g. 4096×4096): anything bigger is a corrupt
/// header, not a data set this crate can train on.
pub const MAX_IMAGE_PIXELS: u64 = 1 << 24;

/// The two leading bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Bytes requested per read of the payload; the buffer grows by at most this (amortised).
const READ_STEP: u64 = 4 << 20;
/// How many trailing bytes are counted before the error says "at least".
const TRAILING_COUNT_LIMIT: u64 = 1 << 20;

/// Images as stored in an IDX file: `count × rows × cols` pixels, row-major.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

/// How a written IDX file is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Plain IDX bytes.
    None,
    /// Gzip, as the canonical `*.gz` distribution files.
    Gzip,
}

/// The kind of IDX file expected, for magic checks and messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Labels,
    Images,
}

impl Kind {
    fn magic(self) -> u32 {
        match self {
            Kind::Labels => LABELS_MAGIC,
            Kind::Images => IMAGES_MAGIC,
        }
    }
    fn header_len(self) -> u64 {
        match self {
            Kind::Labels => 8,
            Kind::Images => 16,
        }
    }
    fn payload(self) -> &'static str {
        match self {
            Kind::Labels => "labels",
            Kind::Images => "pixels",
        }
    }
}

/// Reads an IDX images file (gzip or raw).
pub fn read_images(path: impl AsRef<Path>) -> Result<IdxImages, DataError> {
    let path = path.as_ref();
    let mut file = open(path)?;
    let header = read_header(&mut file, path, Kind::Images)?;
    let [count, rows, cols] = [header[0], header[1], header[2]];
    let pixels = u64::from(rows) * u64::from(cols);
    if pixels == 0 || pixels > MAX_IMAGE_PIXELS {
        return Err(DataError::BadDims {
            path: path.to_path_buf(),
            problem: format!(
                "header gives images of {rows}x{cols} pixels; expected between 1 and \
                 {MAX_IMAGE_PIXELS} pixels per image"
            ),
        });
    }
    // At most 2^32 · 2^24 = 2^56: cannot overflow u64.
    let expected = u64::from(count) * pixels;
    let data = read_payload(&mut file, path, Kind::Images, expected)?;
    Ok(IdxImages {
        count: to_usize(count, path)?,
        rows: to_usize(rows, path)?,
        cols: to_usize(cols, path)?,
        pixels: data,
    })
}

/// Reads an IDX labels file (gzip or raw).
pub fn read_labels(path: impl AsRef<Path>) -> Result<Vec<u8>, DataError> {
    let path = path.as_ref();
    let mut file = open(path)?;
    let header = read_header(&mut file, path, Kind::Labels)?;
    read_payload(&mut file, path, Kind::Labels, u64::from(header[0]))
}

/// Reads one split (an images file and its labels file) and checks that the counts agree.
/// Returns the samples and the image dimensions `(rows, cols)`.
pub fn read_samples(
    images_path: impl AsRef<Path>,
    labels_path: impl AsRef<Path>,
) -> Result<(Samples, usize, usize), DataError> {
    let images_path = images_path.as_ref();
    let labels_path = labels_path.as_ref();
    let images = read_images(images_path)?;
    let labels = read_labels(labels_path)?;
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images: images_path.to_path_buf(),
            image_count: images.count,
            labels: labels_path.to_path_buf(),
            label_count: labels.len(),
        });
    }
    let samples = Samples {
        count: images.count,
        features: images.rows * images.cols,
        inputs: Inputs::Pixels(images.pixels),
        labels: labels.into_iter().map(Label::from).collect(),
    };
    Ok((samples, images.rows, images.cols))
}

/// Writes an IDX images file; `pixels` holds whole `rows × cols` images. Written to a temporary
/// file and renamed, so `path` is either the old file or the complete new one.
pub fn write_images(
    path: impl AsRef<Path>,
    pixels: &[u8],
    rows: usize,
    cols: usize,
    compression: Compression,
) -> Result<(), DataError> {
    let path = path.as_ref();
    let bad = |problem: String| DataError::BadDims {
        path: path.to_path_buf(),
        problem,
    };
    let per_image = rows
        .checked_mul(cols)
        .filter(|&p| p > 0 && p as u64 <= MAX_IMAGE_PIXELS)
        .ok_or_else(|| bad(format!("cannot write images of {rows}x{cols} pixels")))?;
    if !pixels.len().is_multiple_of(per_image) {
        return Err(bad(format!(
            "{} pixels are not a whole number of {rows}x{cols} images",
            pixels.len()
        )));
    }
    let dims = [pixels.len() / per_image, rows, cols];
    write_idx(path, IMAGES_MAGIC, &dims, pixels, compression)
}

/// Writes an IDX labels file, atomically like [`write_images`].
pub fn write_labels(
    path: impl AsRef<Path>,
    labels: &[u8],
    compression: Compression,
) -> Result<(), DataError> {
    let path = path.as_ref();
    write_idx(path, LABELS_MAGIC, &[labels.len()], labels, compression)
}

fn write_idx(
    path: &Path,
    magic: u32,
    dims: &[usize],
    payload: &[u8],
    compression: Compression,
) -> Result<(), DataError> {
    let mut header = Vec::with_capacity(4 + 4 * dims.len());
    let werr = |source: io::Error| DataError::Write {
        path: path.to_path_buf(),
        source,
    };
    header.write_u32::<BigEndian>(magic).map_err(werr)?;
    for &d in dims {
        let d = u32::try_from(d).map_err(|_| DataError::BadDims {
            path: path.to_path_buf(),
            problem: format!(
                "dimension {d} does not fit the IDX header (at most {})",
                u32::MAX
            ),
        })?;
        header.write_u32::<BigEndian>(d).map_err(werr)?;
    }
    let mut out = AtomicFile::create(path)?;
    let written = (|| -> io::Result<()> {
        let file = io::BufWriter::new(&mut out);
        match compression {
            Compression::None => {
                let mut w = file;
                w.write_all(&header)?;
                w.write_all(payload)?;
                w.flush()
            }
            Compression::Gzip => {
                let mut gz = GzEncoder::new(file, flate2::Compression::default());
                gz.write_all(&header)?;
                gz.write_all(payload)?;
                gz.finish()?.flush()
            }
        }
    })();
    written.map_err(werr)?;
    Ok(out.commit()?)
}

/// An opened IDX file: the byte stream after any gzip layer, and the file length when raw.
struct Opened {
    reader: Box<dyn Read>,
    /// `Some(len)` for a raw file (so a wrong payload length is reported before reading),
    /// `None` for gzip, whose decompressed length is known only by reading it.
    raw_len: Option<u64>,
}

/// Opens `path`, recognising gzip from its first two bytes.
fn open(path: &Path) -> Result<Opened, DataError> {
    let ioerr = |source: io::Error| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(ioerr)?;
    let len = file.metadata().map_err(ioerr)?.len();
    let mut buffered = BufReader::with_capacity(1 << 16, file);
    // Peek without consuming. A regular file returns a full buffer unless it is shorter, so a
    // single fill_buf sees both magic bytes of any gzip file.
    let is_gzip = buffered.fill_buf().map_err(ioerr)?.starts_with(&GZIP_MAGIC);
    Ok(if is_gzip {
        Opened {
            reader: Box::new(MultiGzDecoder::new(buffered)),
            raw_len: None,
        }
    } else {
        Opened {
            reader: Box::new(buffered),
            raw_len: Some(len),
        }
    })
}

/// Reads and checks the magic and dimensions; returns the sizes (1 for labels, 3 for images).
fn read_header(f: &mut Opened, path: &Path, kind: Kind) -> Result<Vec<u32>, DataError> {
    let need = kind.header_len();
    let mut raw = Vec::with_capacity(need as usize);
    let gz = f.raw_len.is_none();
    let got = (&mut f.reader)
        .take(need)
        .read_to_end(&mut raw)
        .map_err(|e| read_error(path, gz, e))?;
    if (got as u64) < need {
        return Err(DataError::TruncatedHeader {
            path: path.to_path_buf(),
            needed: need,
            found: got as u64,
        });
    }
    let mut cur = io::Cursor::new(raw);
    let magic = cur
        .read_u32::<BigEndian>()
        .map_err(|e| read_error(path, gz, e))?;
    if magic != kind.magic() {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found: magic,
            expected: kind.magic(),
        });
    }
    let ndims = (magic & 0xff) as usize;
    let mut dims = Vec::with_capacity(ndims);
    for _ in 0..ndims {
        dims.push(
            cur.read_u32::<BigEndian>()
                .map_err(|e| read_error(path, gz, e))?,
        );
    }
    Ok(dims)
}

/// Reads exactly `expected` payload bytes and checks that nothing follows. The buffer grows with
/// the data read (in steps of at most `READ_STEP`), never to the size the header claims up front.
fn read_payload(
    f: &mut Opened,
    path: &Path,
    kind: Kind,
    expected: u64,
) -> Result<Vec<u8>, DataError> {
    let gz = f.raw_len.is_none();
    let r = &mut f.reader;
    if let Some(len) = f.raw_len {
        // Raw file: the length is known, so check it before reading anything.
        let have = len.saturating_sub(kind.header_len());
        if have < expected {
            return Err(truncated(path, kind, expected, have));
        }
        if have > expected {
            return Err(DataError::TrailingBytes {
                path: path.to_path_buf(),
                expected,
                extra: have - expected,
                at_least: false,
            });
        }
    }
    let too_big = || DataError::BadDims {
        path: path.to_path_buf(),
        problem: format!(
            "header promises {expected} bytes of {}, more than this machine can hold",
            kind.payload()
        ),
    };
    crate::fsio::budget::input_limit()
        .admit(expected, || {
            format!("header promises {expected} bytes of {}", kind.payload())
        })
        .map_err(|e| DataError::BadFile {
            path: path.to_path_buf(),
            problem: e.to_string().into(),
        })?;
    // A raw file has just proven it holds `expected` bytes: size the buffer once. A gzip stream
    // proves it only by decompressing, so its buffer grows as the data arrives.
    let mut data = Vec::new();
    if f.raw_len.is_some() {
        let exact = usize::try_from(expected).map_err(|_| too_big())?;
        data.try_reserve_exact(exact).map_err(|_| too_big())?;
    }
    while (data.len() as u64) < expected {
        let want = (expected - data.len() as u64).min(READ_STEP);
        data.try_reserve(want as usize).map_err(|_| too_big())?;
        let got = r
            .take(want)
            .read_to_end(&mut data)
            .map_err(|e| read_error(path, gz, e))?;
        if got == 0 {
            return Err(truncated(path, kind, expected, data.len() as u64));
        }
    }
    // Anything after the payload means the header and the data disagree. Reading on also makes
    // the gzip decoder check its trailer (CRC and length).
    let extra = io::copy(&mut r.take(TRAILING_COUNT_LIMIT), &mut io::sink())
        .map_err(|e| read_error(path, gz, e))?;
    if extra > 0 {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            expected,
            extra,
            at_least: extra == TRAILING_COUNT_LIMIT,
        });
    }
    // Growth may have overshot by up to half; the data set lives as long as the run.
    data.shrink_to_fit();
    Ok(data)
}

fn truncated(path: &Path, kind: Kind, expected: u64, found: u64) -> DataError {
    DataError::Truncated {
        path: path.to_path_buf(),
        what: kind.payload(),
        expected,
        found,
    }
}

/// Errors while reading: the gzip decoder reports corrupt data as `InvalidInput` / `InvalidData`
/// and a cut-off stream as `UnexpectedEof`; everything else (and any raw-file error) is I/O.
fn read_error(path: &Path, gz: bool, source: io::Error) -> DataError {
    match source.kind() {
        ErrorKind::InvalidInput | ErrorKind::InvalidData | ErrorKind::UnexpectedEof if gz => {
            DataError::Gzip {
                path: path.to_path_buf(),
                source,
            }
        }
        _ => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
    }
}

fn to_usize(v: u32, path: &Path) -> Result<usize, DataError> {
    usize::try_from(v).map_err(|_| DataError::BadDims {
        path: path.to_path_buf(),
        problem: format!("size {v} does not fit this machine's address space"),
    })
}
