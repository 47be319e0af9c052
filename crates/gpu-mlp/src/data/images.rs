//! Image folders: `root/<class>/<image>`, or `root/train/<class>/…` with `root/test/<class>/…`
//! (as Keras's `image_dataset_from_directory` and torchvision's `ImageFolder` read them).
//!
//! Classes are the subfolders in sorted name order; images are the files with an image
//! extension (PNG, JPEG, BMP, GIF, WebP) in a class folder or in its subfolders at any depth (as
//! Keras reads them), in sorted path order; other files and hidden ones are skipped. Every image is first probed (size and colour type, from its header), then decoded on
//! every core, converted to grey or RGB and, where its size is not the chosen one, resized.

use super::idx::MAX_IMAGE_PIXELS;
use super::raw::{check_size, NameTable, RawPart};
use super::{ColorMode, DataError, Inputs};
use crate::fsio::budget;
use crate::setting::Setting;
use image::imageops::FilterType;
use image::{ColorType, ImageBuffer, ImageDecoder, ImageReader, Pixel};
use rayon::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

/// File extensions read as images (compared ignoring case).
const IMAGE_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "jfif"];

/// One part's image files, with the name of each one's class.
struct Listing {
    root: PathBuf,
    files: Vec<PathBuf>,
    classes: Vec<String>,
    class_of: Vec<u32>,
}

/// True when `dir` has a subfolder (a class, or `train`/`test`), so it is read as an image
/// folder.
pub fn looks_like_image_folder(dir: impl AsRef<Path>) -> bool {
    let dir = dir.as_ref();
    subfolders(dir).is_ok_and(|s| !s.is_empty())
}

/// The train part and, with the `train/` + `test/` layout, the test part. `size` and `color`
/// are the images' `(width, height)` and colour when given, else what the images share.
pub fn read_image_folder(
    root: impl AsRef<Path>,
    size: Option<(u32, u32)>,
    color: Option<ColorMode>,
) -> Result<(RawPart, Option<RawPart>), DataError> {
    let root = root.as_ref();
    let (train_dir, test_dir) = (root.join("train"), root.join("test"));
    let split = train_dir.is_dir()
        && test_dir.is_dir()
        && looks_like_image_folder(&train_dir)
        && looks_like_image_folder(&test_dir);
    let listings = if split {
        vec![list(&train_dir)?, list(&test_dir)?]
    } else {
        vec![list(root)?]
    };
    let mut parts = read_listings(&listings, size, color)?.into_iter();
    let train = parts.next().ok_or_else(|| DataError::Empty {
        path: root.to_path_buf(),
    })?;
    Ok((train, parts.next()))
}

/// Reads the images of `listings` alike (one size and colour for all of them).
fn read_listings(
    listings: &[Listing],
    size: Option<(u32, u32)>,
    color: Option<ColorMode>,
) -> Result<Vec<RawPart>, DataError> {
    let all: Vec<&PathBuf> = listings.iter().flat_map(|l| &l.files).collect();
    let probes = all
        .par_iter()
        .map(|p| probe(p))
        .collect::<Result<Vec<_>, _>>()?;
    // Without --image-size, every sample is an image's own size: refuse absurd ones up front.
    let too_big = |&((w, h), _): &((u32, u32), bool)| {
        size.is_none() && u64::from(w) * u64::from(h) > MAX_IMAGE_PIXELS
    };
    if let Some(i) = probes.iter().position(too_big) {
        let (w, h) = probes[i].0;
        return Err(DataError::BadFile {
            path: all[i].clone(),
            problem: crate::phrase![
                format!(
                    "its header gives {w}x{h} pixels, more than the {MAX_IMAGE_PIXELS} an \
                     input may have; pass "
                ),
                Setting::ImageSize,
                " WxH to shrink the images"
            ],
        });
    }
    // With --image-size, a picture is decoded whole before it is shrunk: refuse one whose
    // decoding would take far more than the size asked for (a decompression bomb).
    if let Some((w, h)) = size {
        let limit = decode_limit(w, h);
        if let Some(i) = probes
            .iter()
            .position(|&((pw, ph), _)| decoded_bytes(pw, ph) > limit)
        {
            let (pw, ph) = probes[i].0;
            return Err(DataError::BadFile {
                path: all[i].clone(),
                problem: format!(
                    "its header gives {pw}x{ph} pixels: decoding it would take {}, more than \
                     the {} allowed for pictures shrunk to {w}x{h} (see docs/limits.md)",
                    budget::size_text(decoded_bytes(pw, ph)),
                    budget::size_text(limit)
                )
                .into(),
            });
        }
    }
    let (width, height) = match size {
        Some(s) => s,
        None => {
            let Some(&(first, _)) = probes.first() else {
                return Err(DataError::Empty {
                    path: listings[0].root.clone(),
                });
            };
            if let Some(i) = probes.iter().position(|p| p.0 != first) {
                return Err(DataError::BadFile {
                    path: all[i].clone(),
                    problem: crate::phrase![
                        format!(
                            "is {}x{} but {} is {}x{}; pass ",
                            probes[i].0 .0,
                            probes[i].0 .1,
                            all[0].display(),
                            first.0,
                            first.1
                        ),
                        Setting::ImageSize,
                        " WxH to resize every image to one size"
                    ],
                });
            }
            first
        }
    };
    let color = color.unwrap_or(if probes.iter().all(|p| p.1) {
        ColorMode::Gray
    } else {
        ColorMode::Rgb
    });
    let channels = match color {
        ColorMode::Gray => 1,
        ColorMode::Rgb => 3,
    };
    let features = width as usize * height as usize * channels;
    listings
        .iter()
        .map(|listing| {
            let n = listing.files.len();
            let mut pixels = vec![0u8; check_size(&listing.root, n as u64, features as u64, 1)?];
            pixels
                .par_chunks_mut(features)
                .zip(listing.files.par_iter())
                .try_for_each(|(out, path)| decode_into(path, (width, height), color, out))?;
            let mut names = NameTable::default();
            let class_ids: Vec<u32> = listing.classes.iter().map(|c| names.id(c)).collect();
            let ids = listing
                .class_of
                .iter()
                .map(|&c| class_ids[c as usize])
                .collect();
            Ok(RawPart {
                feature_names: None,
                path: listing.root.clone(),
                inputs: Inputs::Pixels(pixels),
                labels: names.finish(ids),
                shape: (height as usize, width as usize, channels),
            })
        })
        .collect()
}

/// An image's `(width, height)` and whether it is stored grey, from its header.
fn probe(path: &Path) -> Result<((u32, u32), bool), DataError> {
    let decoder = ImageReader::open(path)
        .map_err(DataError::io_at(path))?
        .with_guessed_format()
        .map_err(DataError::io_at(path))?
        .into_decoder()
        .map_err(|e| undecodable(path, e))?;
    let grey = matches!(
        decoder.color_type(),
        ColorType::L8 | ColorType::La8 | ColorType::L16 | ColorType::La16
    );
    Ok((decoder.dimensions(), grey))
}

/// The least a picture's decoding may take, whatever size it is shrunk to: a 24-megapixel
/// photo.
const MIN_DECODE_BYTES: u64 = 96 << 20;
/// How much larger than its target (in pixels) a picture may be before it is refused.
const MAX_SHRINK: u64 = 1024;

/// The bytes one picture's decoding may take when it is shrunk to `w`×`h`: `MAX_SHRINK` times
/// the target's pixels (32× per side), at least `MIN_DECODE_BYTES`, and within the input limit.
fn decode_limit(w: u32, h: u32) -> u64 {
    let target = decoded_bytes(w, h).saturating_mul(MAX_SHRINK);
    target
        .max(MIN_DECODE_BYTES)
        .min(budget::input_limit().bytes)
}

/// What decoding a `w`×`h` picture takes as 8-bit RGBA.
fn decoded_bytes(w: u32, h: u32) -> u64 {
    u64::from(w) * u64::from(h) * 4
}

/// Decodes one image into `out` as `size` grey or RGB pixels.
fn decode_into(
    path: &Path,
    size: (u32, u32),
    color: ColorMode,
    out: &mut [u8],
) -> Result<(), DataError> {
    let mut reader = ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(DataError::io_at(path))?;
    // A backstop for a header that the probe read otherwise than the decoder does.
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(decode_limit(size.0, size.1));
    reader.limits(limits);
    let image = reader.decode().map_err(|e| undecodable(path, e))?;
    let fit = |w: u32, h: u32| (w, h) != size;
    match color {
        ColorMode::Gray => {
            let mut grey = image.to_luma8();
            if fit(grey.width(), grey.height()) {
                grey = resized(&grey, size);
            }
            out.copy_from_slice(grey.as_raw());
        }
        ColorMode::Rgb => {
            let mut rgb = image.to_rgb8();
            if fit(rgb.width(), rgb.height()) {
                rgb = resized(&rgb, size);
            }
            out.copy_from_slice(rgb.as_raw());
        }
    }
    Ok(())
}

/// `img` at `(w, h)` (triangle filter). `imageops::resize` filters the columns first, into a
/// float buffer of the source's width by the target's height (16 bytes a pixel): an 8×8 picture
/// made 1×16777216 would take 2 GiB there. Where that buffer would be larger than both the
/// source and the target, the rows are filtered first instead (one resize per direction), so
/// the float buffers never pass 16 bytes a pixel of the larger of the two.
fn resized<P>(img: &ImageBuffer<P, Vec<u8>>, (w, h): (u32, u32)) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8> + 'static,
{
    let pixels = |w: u32, h: u32| u64::from(w) * u64::from(h);
    let (src_w, src_h) = img.dimensions();
    let columns_first = pixels(src_w, h);
    if columns_first <= pixels(src_w, src_h).max(pixels(w, h)) {
        return image::imageops::resize(img, w, h, FilterType::Triangle);
    }
    let rows_done = image::imageops::resize(img, w, src_h, FilterType::Triangle);
    image::imageops::resize(&rows_done, w, h, FilterType::Triangle)
}

fn undecodable(path: &Path, e: image::ImageError) -> DataError {
    DataError::BadFile {
        path: path.to_path_buf(),
        problem: format!("cannot decode the image: {e}").into(),
    }
}

/// The class folders of `root` and their images.
fn list(root: &Path) -> Result<Listing, DataError> {
    let classes = subfolders(root)?;
    if classes.is_empty() {
        return Err(DataError::BadFile {
            path: root.to_path_buf(),
            problem: "has no class folders: expected one subfolder of images per class".into(),
        });
    }
    let mut files = Vec::new();
    let mut class_of = Vec::new();
    for (c, class) in classes.iter().enumerate() {
        let dir = root.join(class);
        let images = image_files(&dir)?;
        if images.is_empty() {
            return Err(DataError::BadFile {
                path: dir,
                problem: "holds no images (PNG, JPEG, BMP, GIF or WebP files)".into(),
            });
        }
        class_of.extend(std::iter::repeat_n(c as u32, images.len()));
        files.extend(images);
    }
    Ok(Listing {
        root: root.to_path_buf(),
        files,
        classes,
        class_of,
    })
}

/// The names of `dir`'s visible subfolders, sorted.
fn subfolders(dir: &Path) -> Result<Vec<String>, DataError> {
    let mut names: Vec<String> = entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    Ok(names)
}

/// How many folders deep below a class folder images are looked for: Keras reads a class's
/// nested folders whole; the bound ends a symbolic link that loops.
const MAX_DEPTH: usize = 16;

/// The image files (by extension) of `dir` and, as Keras's `image_dataset_from_directory` reads
/// them, of its subfolders at any depth up to `MAX_DEPTH`, sorted by path.
fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut files = Vec::new();
    gather_images(dir, 0, &mut files)?;
    files.sort();
    Ok(files)
}

/// Appends the image files of `dir`, `depth` folders below its class folder, and of its
/// subfolders.
fn gather_images(dir: &Path, depth: usize, files: &mut Vec<PathBuf>) -> Result<(), DataError> {
    for path in entries(dir)? {
        if path.is_dir() {
            if depth == MAX_DEPTH {
                return Err(DataError::BadFile {
                    path,
                    problem: format!(
                        "lies more than {MAX_DEPTH} folders below its class folder, deeper than \
                         images are looked for (a symbolic link that loops?)"
                    )
                    .into(),
                });
            }
            gather_images(&path, depth + 1, files)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
            && path.is_file()
        {
            files.push(path);
        }
    }
    Ok(())
}

/// The visible (not dot-named) entries of `dir`.
fn entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let io = |source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if !entry.file_name().to_string_lossy().starts_with('.') {
            out.push(entry.path());
        }
    }
    Ok(out)
}
