//! What every picture shares: the embedded font, matplotlib's colours, rendering into a PNG
//! file, and drawing an image with its caption.

use gpu_mlp::error::{Error, Result};
use gpu_mlp::fsio::atomic;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;
use std::sync::Once;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// matplotlib's default colours, so the pictures look like the tutorials'.
pub const TAB_BLUE: RGBColor = RGBColor(31, 119, 180);
pub const TAB_ORANGE: RGBColor = RGBColor(255, 127, 14);
pub const TAB_RED: RGBColor = RGBColor(214, 39, 40);
pub(super) const GREY: RGBColor = RGBColor(119, 119, 119);
pub(super) const LIGHT_GREY: RGBColor = RGBColor(200, 200, 200);

pub(super) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
pub(super) type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Cannot fail for the embedded font (a unit test checks it); text would then fail to draw
        // with a clear error rather than panic.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Draws a `width × height` picture with `draw` and writes it to `path` as PNG.
pub(super) fn render(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&Area) -> DrawResult,
) -> Result<()> {
    register_font();
    let plot_error = |e: Box<dyn std::error::Error>| Error::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut buffer = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(e.into()))?;
        draw(&root).map_err(plot_error)?;
        root.present().map_err(|e| plot_error(e.into()))?;
    }
    let picture = image::RgbImage::from_raw(width, height, buffer)
        .expect("the buffer was sized for width × height RGB pixels");
    let mut png = Vec::new();
    picture
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Error::Plot {
            path: path.to_path_buf(),
            message: format!("PNG encoding failed: {e}"),
        })?;
    Ok(atomic::write_atomically(path, &png)?)
}

pub(super) fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size).into_font())
}

pub(super) fn centred(size: u32, color: &RGBColor) -> TextStyle<'static> {
    (FAMILY, size)
        .into_font()
        .color(color)
        .pos(Pos::new(HPos::Center, VPos::Center))
}

/// Draws an image (values in `[0, 1]`, 1 = ink) as dark ink on white, like matplotlib's
/// `binary` colour map in the tutorials, or in its colours when it holds three values (RGB) per
/// pixel, filling `area`'s largest centred square of whole pixels, with a thin frame.
pub(super) fn draw_image(area: &Area, pixels: &[f32], rows: usize, cols: usize) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    let scale = (w as usize / cols.max(1))
        .min(h as usize / rows.max(1))
        .max(1) as i32;
    let (img_w, img_h) = (scale * cols as i32, scale * rows as i32);
    let x0 = (w as i32 - img_w) / 2;
    let y0 = (h as i32 - img_h) / 2;
    let rgb = pixels.len() == 3 * rows * cols;
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    for r in 0..rows {
        for c in 0..cols {
            let color = if rgb {
                let p = &pixels[3 * (r * cols + c)..3 * (r * cols + c + 1)];
                RGBColor(byte(p[0]), byte(p[1]), byte(p[2]))
            } else {
                let v = 255 - byte(pixels[r * cols + c]);
                RGBColor(v, v, v)
            };
            if color == WHITE {
                continue;
            }
            let (x, y) = (x0 + c as i32 * scale, y0 + r as i32 * scale);
            area.draw(&Rectangle::new(
                [(x, y), (x + scale, y + scale)],
                color.filled(),
            ))?;
        }
    }
    area.draw(&Rectangle::new(
        [(x0 - 1, y0 - 1), (x0 + img_w, y0 + img_h)],
        LIGHT_GREY.stroke_width(1),
    ))?;
    Ok(())
}

/// Writes `text` centred in `area` (raised by `lift` pixels), shrinking the font from `size`
/// until it fits the width, so long class names ("Ankle boot 72% (Ankle boot)") stay whole.
pub(super) fn draw_caption(
    area: &Area,
    text: &str,
    size: u32,
    color: &RGBColor,
    lift: i32,
) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    let mut size = size;
    while size > 8 && area.estimate_text_size(text, &centred(size, color))?.0 + 6 > w {
        size -= 1;
    }
    area.draw_text(
        text,
        &centred(size, color),
        (w as i32 / 2, h as i32 / 2 - lift),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_font_is_valid() {
        assert!(plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    }
}
