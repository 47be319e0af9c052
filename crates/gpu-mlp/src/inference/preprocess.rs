//! From an arbitrary picture of one digit (or garment) to the model's input, the way MNIST's
//! images were made, so a model trained on MNIST sees new images in the form it learned:
//! grey, light ink on a dark background, cropped to the content, scaled to fit a 20×20 box
//! (for 28×28 inputs) keeping the aspect ratio, and placed so its centre of mass is at the
//! centre of the field. Without this, a black digit drawn on a white canvas, or a small digit
//! in a corner, is classified badly however good the model is.
//!
//! Models of other pictures (a folder of photos, RGB or grey, any size) take them as they were
//! trained: [`plain`] resizes a picture to the model's size and colour, nothing more.

pub use super::image_error::{ImageError, MAX_SIDE};
use crate::error::{Error, Result};
use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, ImageBuffer, Luma};
use std::io::Cursor;
use std::path::Path;

/// Larger pictures are first scaled down to this many pixels on their longer side: plenty to
/// find a digit that ends up 20 pixels tall, and it bounds the work for a phone photo.
const WORKING_SIDE: u32 = 1024;

/// Ink below this fraction of the darkest stroke is noise (JPEG ringing, paper texture).
const NOISE_FLOOR: f32 = 0.08;

/// Decodes a PNG, JPEG or BMP image from memory (the format is taken from the bytes).
pub fn decode(bytes: &[u8]) -> Result<DynamicImage> {
    decode_named(bytes, "the image")
}

/// Reads and decodes an image file.
pub fn open(path: &Path) -> Result<DynamicImage> {
    open_noting(path).map(|(image, _)| image)
}

/// Reads and decodes an image file, with a note when the decoder had to make up part of it
/// (a JPEG cut short decodes without error, its missing part grey).
pub fn open_noting(path: &Path) -> Result<(DynamicImage, Option<String>)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let image = decode_named(&bytes, &path.display().to_string())?;
    let note = jpeg_looks_truncated(&bytes).then(|| {
        format!(
            "{}: the JPEG data ends before its end marker (the file looks truncated); \
             the missing part of the picture was filled in",
            path.display()
        )
    });
    Ok((image, note))
}

/// True for JPEG data without its end-of-image marker (`FF D9`) at the end (trailing zero
/// bytes allowed, as some cameras pad files).
fn jpeg_looks_truncated(bytes: &[u8]) -> bool {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    !bytes[..end].ends_with(&[0xFF, 0xD9])
}

fn decode_named(bytes: &[u8], name: &str) -> Result<DynamicImage> {
    let fail = |detail: String| -> Error {
        ImageError::Decode {
            name: name.to_string(),
            detail,
        }
        .into()
    };
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| fail(e.to_string()))?;
    if reader.format().is_none() {
        return Err(fail("unrecognised file contents".to_string()));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    reader.limits(limits);
    // A decoder bug must not take the program (or the draw server's connection) down: a
    // malformed JPEG once tripped an assertion inside the JPEG decoder's upsampler.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.decode()))
        .map_err(|_| fail("the decoder failed on this file (it is malformed)".to_string()))?;
    decoded.map_err(|e| match e {
        image::ImageError::Limits(_) => ImageError::TooLarge {
            name: name.to_string(),
        }
        .into(),
        other => fail(other.to_string()),
    })
}

/// Bytes that decoding a `width × height` picture of `bytes_per_pixel` and preparing it with
/// [`prepare`] take at most, from its header, for budgeting memory before decoding: the decoded
/// picture; when it is larger than `WORKING_SIDE`, the first pass of shrinking it, which the
/// `image` crate makes in four 32-bit floats a pixel whatever the picture's channels (so a grey
/// picture's pass is 16 times its decoded size, not 4); then, per pixel of the shrunk picture,
/// its own bytes and the float maps `prepare` makes of it (grey and alpha, ink, the crop).
pub fn working_memory(width: u32, height: u32, bytes_per_pixel: u8) -> u64 {
    const FLOAT_PASS: u64 = 4 * 4;
    const FLOAT_MAPS: u64 = 8 + 4 + 4;
    let (w, h) = (u64::from(width), u64::from(height));
    let side = u64::from(WORKING_SIDE);
    let decoded = w * h * u64::from(bytes_per_pixel);
    let shrink_pass = if w.max(h) > side {
        (w * h).min(w.max(h) * side) * FLOAT_PASS
    } else {
        0
    };
    let kept = (w * h).min(side * side);
    decoded + shrink_pass + kept * (u64::from(bytes_per_pixel) + FLOAT_MAPS)
}

/// How a picture becomes a model's input (`predict --preprocess`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preprocess {
    /// As MNIST's digits were made ([`prepare`]): grey, cropped, fitted and centred.
    Mnist,
    /// Resized to the model's size and colour ([`plain`]).
    Plain,
}

impl Preprocess {
    /// MNIST's way for models of 28×28 grey images (digits and garments), plain for the rest.
    pub fn default_for(rows: usize, cols: usize, channels: usize) -> Self {
        if (rows, cols, channels) == (28, 28, 1) {
            Preprocess::Mnist
        } else {
            Preprocess::Plain
        }
    }
}

/// A picture as `rows × cols` pixels of `channels` (1: grey, 3: RGB interleaved), row-major
/// `u8`: converted to grey or RGB (transparency dropped), then resized (triangle filter, aspect
/// ratio not kept) unless it has that size already. The image-folder reader makes its training
/// images in this same order, so a picture from the training folder gives the same inputs.
pub fn plain(img: &DynamicImage, rows: usize, cols: usize, channels: usize) -> Vec<u8> {
    let size = (cols as u32, rows as u32);
    match channels {
        3 => resized_to(img.to_rgb8(), size),
        _ => resized_to(img.to_luma8(), size),
    }
}

/// `img`'s pixels at `(width, height)`: as they are when it has that size, else resized.
fn resized_to<P>(img: ImageBuffer<P, Vec<u8>>, (w, h): (u32, u32)) -> Vec<u8>
where
    P: image::Pixel<Subpixel = u8> + 'static,
{
    if img.dimensions() == (w, h) {
        img.into_raw()
    } else {
        image::imageops::resize(&img, w, h, FilterType::Triangle).into_raw()
    }
}

/// Pixels of a data set (0..=255) as model inputs (`x/255`, the checkpoint's normalisation).
pub fn normalise(pixels: &[u8]) -> Vec<f32> {
    pixels.iter().map(|&p| p as f32 / 255.0).collect()
}

/// Model inputs (`[0, 1]`, row-major) as a grey picture, for showing what the model sees.
pub fn to_grey_image(pixels: &[f32], rows: usize, cols: usize) -> GrayImage {
    GrayImage::from_fn(cols as u32, rows as u32, |x, y| {
        let v = pixels[y as usize * cols + x as usize];
        Luma([(v.clamp(0.0, 1.0) * 255.0).round() as u8])
    })
}

/// Turns any image into a `rows × cols` model input in `[0, 1]` (row-major, 1 = ink), MNIST
/// style: grey; inverted when the background is light; cropped to the content; scaled to fit a
/// box of 20/28 of the field keeping the aspect ratio; centred by centre of mass. A blank image
/// gives all zeros.
pub fn prepare(img: &DynamicImage, rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; rows * cols];
    if rows == 0 || cols == 0 || img.width() == 0 || img.height() == 0 {
        return out;
    }
    let shrunk;
    let img = if img.width().max(img.height()) > WORKING_SIDE {
        shrunk = img.resize(WORKING_SIDE, WORKING_SIDE, FilterType::Triangle);
        &shrunk
    } else {
        img
    };
    let ink = ink_map(img);
    let Some((x0, y0, x1, y1)) = bounding_box(&ink) else {
        return out;
    };
    let cropped = image::imageops::crop_imm(&ink, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();

    // Fit the box MNIST uses (20 of 28), scaled for other input sizes.
    let box_rows = ((rows as f64 * 20.0 / 28.0).round() as usize).max(1);
    let box_cols = ((cols as f64 * 20.0 / 28.0).round() as usize).max(1);
    let (w, h) = (cropped.width() as f64, cropped.height() as f64);
    let scale = (box_rows as f64 / h).min(box_cols as f64 / w);
    let new_w = ((w * scale).round() as u32).clamp(1, box_cols as u32);
    let new_h = ((h * scale).round() as u32).clamp(1, box_rows as u32);
    let mut digit = image::imageops::resize(&cropped, new_w, new_h, FilterType::Triangle);
    // Thin strokes in a large picture fade when averaged down; restore full contrast.
    let peak = digit.pixels().map(|p| p[0]).fold(0.0f32, f32::max);
    if peak <= 0.0 {
        return out;
    }
    for p in digit.pixels_mut() {
        p[0] = (p[0] / peak).clamp(0.0, 1.0);
    }

    // Centre of mass (pixel centres at +0.5), moved onto the field's centre, kept inside it.
    let (mut mass, mut my, mut mx) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y, p) in digit.enumerate_pixels() {
        let v = p[0] as f64;
        mass += v;
        mx += v * (x as f64 + 0.5);
        my += v * (y as f64 + 0.5);
    }
    let place = |centre: f64, field: usize, size: u32| -> usize {
        let offset = (field as f64 / 2.0 - centre).round();
        offset.clamp(0.0, (field - size as usize) as f64) as usize
    };
    let top = place(my / mass, rows, new_h);
    let left = place(mx / mass, cols, new_w);
    for (x, y, p) in digit.enumerate_pixels() {
        out[(top + y as usize) * cols + left + x as usize] = p[0];
    }
    out
}

/// Ink intensity in `[0, 1]` per pixel: grey, transparent parts filled with the colour that
/// contrasts with the drawing, inverted if the background is light, background level removed,
/// contrast stretched, noise zeroed.
fn ink_map(img: &DynamicImage) -> ImageBuffer<Luma<f32>, Vec<f32>> {
    let la = img.to_luma_alpha32f();
    // A drawing on a transparent canvas: put it on white if its strokes are dark, else on black.
    let (weighted, alpha) = la.pixels().fold((0.0f64, 0.0f64), |(s, a), p| {
        (s + (p[0] * p[1]) as f64, a + p[1] as f64)
    });
    let backdrop = if alpha > 0.0 && weighted / alpha < 0.5 {
        1.0
    } else {
        0.0
    };
    let mut grey = ImageBuffer::from_fn(la.width(), la.height(), |x, y| {
        let p = la.get_pixel(x, y);
        let (l, a) = (p[0].clamp(0.0, 1.0), p[1].clamp(0.0, 1.0));
        Luma([a * l + (1.0 - a) * backdrop])
    });
    let mut background = border_median(&grey);
    if background > 0.5 {
        for p in grey.pixels_mut() {
            p[0] = 1.0 - p[0];
        }
        background = 1.0 - background;
    }
    let peak = grey.pixels().map(|p| p[0]).fold(0.0f32, f32::max) - background;
    for p in grey.pixels_mut() {
        let v = if peak > 1e-3 {
            (p[0] - background) / peak
        } else {
            0.0
        };
        p[0] = if v < NOISE_FLOOR { 0.0 } else { v.min(1.0) };
    }
    grey
}

/// The median of the outermost pixels: the background, whatever the drawing in the middle.
fn border_median(img: &ImageBuffer<Luma<f32>, Vec<f32>>) -> f32 {
    let (w, h) = img.dimensions();
    let mut border: Vec<f32> = Vec::with_capacity(2 * (w + h) as usize);
    for x in 0..w {
        border.push(img.get_pixel(x, 0)[0]);
        border.push(img.get_pixel(x, h - 1)[0]);
    }
    for y in 0..h {
        border.push(img.get_pixel(0, y)[0]);
        border.push(img.get_pixel(w - 1, y)[0]);
    }
    border.sort_unstable_by(f32::total_cmp);
    border[border.len() / 2]
}

/// Inclusive box `(x0, y0, x1, y1)` around every non-zero pixel; `None` when there is none.
fn bounding_box(img: &ImageBuffer<Luma<f32>, Vec<f32>>) -> Option<(u32, u32, u32, u32)> {
    let mut found: Option<(u32, u32, u32, u32)> = None;
    for (x, y, p) in img.enumerate_pixels() {
        if p[0] > 0.0 {
            found = Some(match found {
                None => (x, y, x, y),
                Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w × h` white canvas with a black filled rectangle.
    fn canvas_with_block(w: u32, h: u32, block: (u32, u32, u32, u32)) -> DynamicImage {
        let (bx, by, bw, bh) = block;
        DynamicImage::ImageLuma8(GrayImage::from_fn(w, h, |x, y| {
            let inside = x >= bx && x < bx + bw && y >= by && y < by + bh;
            Luma([if inside { 0 } else { 255 }])
        }))
    }

    fn centre_of_mass(p: &[f32], rows: usize, cols: usize) -> (f64, f64) {
        let (mut m, mut y, mut x) = (0.0, 0.0, 0.0);
        for r in 0..rows {
            for c in 0..cols {
                let v = p[r * cols + c] as f64;
                m += v;
                y += v * (r as f64 + 0.5);
                x += v * (c as f64 + 0.5);
            }
        }
        (y / m, x / m)
    }

    #[test]
    fn dark_ink_on_white_is_inverted_cropped_scaled_and_centred() {
        // A tall block in the top-left corner of a large white canvas.
        let img = canvas_with_block(300, 200, (10, 20, 40, 160));
        let p = prepare(&img, 28, 28);
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
        let rows_with_ink = (0..28).filter(|r| p[r * 28..(r + 1) * 28].iter().any(|&v| v > 0.5));
        assert_eq!(rows_with_ink.count(), 20, "fits the 20-pixel box in height");
        let cols_with_ink = (0..28)
            .filter(|&c| (0..28).any(|r| p[r * 28 + c] > 0.5))
            .count();
        assert_eq!(cols_with_ink, 5, "keeps the 1:4 aspect ratio");
        let (cy, cx) = centre_of_mass(&p, 28, 28);
        assert!(
            (cy - 14.0).abs() <= 0.5 && (cx - 14.0).abs() <= 0.5,
            "{cy} {cx}"
        );
        // Background is zero.
        assert_eq!(p[0], 0.0);
    }

    #[test]
    fn light_ink_on_black_and_transparent_canvases_work_too() {
        let white_on_black = DynamicImage::ImageLuma8(GrayImage::from_fn(50, 50, |x, y| {
            Luma([if (20..30).contains(&x) && (5..45).contains(&y) {
                255
            } else {
                0
            }])
        }));
        let a = prepare(&white_on_black, 28, 28);
        // Black strokes on a transparent canvas, as a browser canvas exports them.
        let transparent =
            DynamicImage::ImageLumaA8(image::GrayAlphaImage::from_fn(50, 50, |x, y| {
                let ink = (20..30).contains(&x) && (5..45).contains(&y);
                image::LumaA([0, if ink { 255 } else { 0 }])
            }));
        let b = prepare(&transparent, 28, 28);
        assert_eq!(a, b);
        assert!(a.iter().any(|&v| v > 0.9));
    }

    #[test]
    fn blank_images_give_zeros_and_other_sizes_scale_the_box() {
        let blank = DynamicImage::ImageLuma8(GrayImage::from_pixel(40, 40, Luma([255])));
        assert!(prepare(&blank, 28, 28).iter().all(|&v| v == 0.0));
        let img = canvas_with_block(64, 64, (8, 8, 48, 48));
        let p = prepare(&img, 14, 14);
        let inked = p.iter().filter(|&&v| v > 0.5).count();
        assert_eq!(inked, 100, "a square fills a 10x10 box in a 14x14 field");
    }

    #[test]
    fn huge_pictures_are_refused_and_large_ones_shrunk() {
        let wide = DynamicImage::ImageLuma8(GrayImage::from_pixel(MAX_SIDE + 1, 1, Luma([0])));
        let mut png = Vec::new();
        wide.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let err = decode(&png).unwrap_err().to_string();
        assert!(
            err.contains("too large (at most 8192 pixels on a side)"),
            "{err}"
        );
        // A 3000-pixel photo of a block gives the same input as a 300-pixel one.
        let big = canvas_with_block(3000, 2000, (100, 200, 400, 1600));
        let small = canvas_with_block(300, 200, (10, 20, 40, 160));
        let (a, b) = (prepare(&big, 28, 28), prepare(&small, 28, 28));
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(diff < 0.1, "max difference {diff}");
    }

    #[test]
    fn plain_resizes_to_the_models_size_and_colour_and_keeps_a_fitting_picture() {
        let rgb = DynamicImage::ImageRgb8(image::RgbImage::from_fn(4, 2, |x, y| {
            image::Rgb([x as u8 * 60, y as u8 * 100, 7])
        }));
        let same = plain(&rgb, 2, 4, 3);
        assert_eq!(same.len(), 24);
        assert_eq!(&same[3..6], &[60, 0, 7], "pixel (1, 0), RGB interleaved");
        assert_eq!(plain(&rgb, 5, 3, 3).len(), 45);
        let grey = plain(&rgb, 2, 4, 1);
        assert_eq!(grey, rgb.to_luma8().into_raw());
        assert_eq!(Preprocess::default_for(28, 28, 1), Preprocess::Mnist);
        for (rows, cols, channels) in [(28, 28, 3), (32, 32, 1), (1, 4, 1)] {
            assert_eq!(
                Preprocess::default_for(rows, cols, channels),
                Preprocess::Plain
            );
        }
    }

    #[test]
    fn non_images_are_clear_errors() {
        let err = decode(b"definitely not a picture").unwrap_err().to_string();
        assert!(
            err.contains("not a readable PNG, JPEG or BMP image"),
            "{err}"
        );
        // A PNG signature followed by garbage is recognised but fails to decode.
        let mut truncated = b"\x89PNG\r\n\x1a\n".to_vec();
        truncated.extend_from_slice(&[0u8; 20]);
        assert!(decode(&truncated).is_err());
    }
}
