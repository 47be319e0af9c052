//! The tutorials' pictures as PNG files: training curves, a grid of sample images, predictions
//! next to their class probabilities, and a confusion-matrix heat map.
//!
//! Drawing is done by `plotters` into an in-memory RGB buffer, encoded by `image`, and written
//! through `atomic::write_atomically`, so a failed write is one clear error and never leaves a
//! half-written picture. Text uses the embedded DejaVu Sans (assets/fonts, Bitstream Vera
//! licence), so no system font library is needed.

use gpu_mlp::error::{Error, Result};
use gpu_mlp::fsio::atomic;
use gpu_mlp::training::EpochRecord;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;
use std::sync::Once;

const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// matplotlib's default colours, so the pictures look like the tutorials'.
pub const TAB_BLUE: RGBColor = RGBColor(31, 119, 180);
pub const TAB_ORANGE: RGBColor = RGBColor(255, 127, 14);
pub const TAB_RED: RGBColor = RGBColor(214, 39, 40);
const GREY: RGBColor = RGBColor(119, 119, 119);
const LIGHT_GREY: RGBColor = RGBColor(200, 200, 200);

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Cannot fail for the embedded font (a unit test checks it); text would then fail to draw
        // with a clear error rather than panic.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Draws a `width × height` picture with `draw` and writes it to `path` as PNG.
fn render(
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
    atomic::write_atomically(path, &png)
}

fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size).into_font())
}

fn centred(size: u32, color: &RGBColor) -> TextStyle<'static> {
    (FAMILY, size)
        .into_font()
        .color(color)
        .pos(Pos::new(HPos::Center, VPos::Center))
}

/// Draws an image (values in `[0, 1]`, 1 = ink) as dark ink on white, like matplotlib's
/// `binary` colour map in the tutorials, or in its colours when it holds three values (RGB) per
/// pixel, filling `area`'s largest centred square of whole pixels, with a thin frame.
fn draw_image(area: &Area, pixels: &[f32], rows: usize, cols: usize) -> DrawResult {
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
fn draw_caption(area: &Area, text: &str, size: u32, color: &RGBColor, lift: i32) -> DrawResult {
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

/// `train --plot`: loss and accuracy per epoch, training and (when held out) validation,
/// side by side like the tutorials' `history` plots.
pub fn training_curves(path: &Path, history: &[EpochRecord], title: &str) -> Result<()> {
    render(path, (1100, 460), |root| {
        let root = root.titled(title, font(20))?;
        let (left, right) = root.split_horizontally(550);
        let loss: Vec<(f64, f64, Option<f64>)> = history
            .iter()
            .map(|r| (r.epoch as f64, r.loss, r.validation.map(|v| v.0)))
            .collect();
        let accuracy: Vec<(f64, f64, Option<f64>)> = history
            .iter()
            .map(|r| (r.epoch as f64, r.accuracy, r.validation.map(|v| v.1)))
            .collect();
        curve_panel(&left, "loss", &loss, true)?;
        curve_panel(&right, "accuracy", &accuracy, false)
    })
}

/// One panel of `training_curves`: `(epoch, train, validation)` points.
fn curve_panel(
    area: &Area,
    name: &str,
    points: &[(f64, f64, Option<f64>)],
    from_zero: bool,
) -> DrawResult {
    let epochs = points.len().max(1) as f64;
    let values = points
        .iter()
        .flat_map(|p| std::iter::once(p.1).chain(p.2))
        .filter(|v| v.is_finite());
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    // Room around the points, also when there is one epoch (or all values are equal).
    let pad = ((hi - lo) * 0.1).max(hi.abs() * 0.05).max(0.005);
    let y_range = if from_zero {
        0.0..hi + pad
    } else {
        (lo - pad).max(0.0)..(hi + pad).min(1.0)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(name, font(18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5..epochs + 0.5, y_range)?;
    chart
        .configure_mesh()
        .x_labels(points.len().clamp(1, 12) + 1)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-6 && *x >= 1.0 {
                format!("{}", x.round())
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| format!("{y:.3}"))
        .x_desc("epoch")
        .y_desc(name)
        .label_style(font(13))
        .axis_desc_style(font(14))
        .light_line_style(WHITE)
        .draw()?;
    let train: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.1)).collect();
    let validation: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| p.2.map(|v| (p.0, v)))
        .collect();
    for (series, label, color) in [
        (train, "training", TAB_BLUE),
        (validation, "validation", TAB_ORANGE),
    ] {
        if series.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(series.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(if from_zero {
            SeriesLabelPosition::UpperRight
        } else {
            SeriesLabelPosition::LowerRight
        })
        .label_font(font(13))
        .background_style(WHITE.mix(0.9))
        .border_style(LIGHT_GREY)
        .draw()?;
    Ok(())
}

/// Named lines of `(x, y)` points.
pub type Series = [(String, Vec<(f64, f64)>)];

/// `bench --sweep`: two panels against batch size, one line per series: a rate on a log scale
/// on the left (e.g. samples/s), a share of the peak from zero on the right.
pub fn scaling_curves(
    path: &Path,
    title: &str,
    left: (&str, &Series),
    right: (&str, &Series),
) -> Result<()> {
    render(path, (1200, 500), |root| {
        let root = root.titled(title, font(18))?;
        let (a, b) = root.split_horizontally(600);
        scaling_panel(&a, left.0, left.1, true)?;
        scaling_panel(&b, right.0, right.1, false)
    })
}

/// matplotlib's next colours after blue, orange and red's neighbours, for up to six lines.
const LINE_COLOURS: [RGBColor; 6] = [
    TAB_BLUE,
    TAB_ORANGE,
    RGBColor(44, 160, 44),
    TAB_RED,
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// The smallest and largest positive finite values, or `fallback` when there are none.
fn positive_span(values: impl Iterator<Item = f64>, fallback: (f64, f64)) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo.is_finite() {
        (lo, hi)
    } else {
        fallback
    }
}

/// One panel of `scaling_curves`: a log-scale y axis for rates, a linear one from zero for
/// shares. The x axis is log2 of the batch size, so powers of two are evenly spaced and
/// labelled with their value.
fn scaling_panel(area: &Area, name: &str, series: &Series, log_y: bool) -> DrawResult {
    let points = || series.iter().flat_map(|(_, p)| p.iter().copied());
    let (x_lo, x_hi) = positive_span(points().map(|p| p.0), (32.0, 4096.0));
    let (y_lo, y_hi) = positive_span(points().map(|p| p.1), (1.0, 100.0));
    let (x_lo, x_hi) = (x_lo.log2().floor(), x_hi.log2().ceil());
    let x_range = x_lo - 0.3..x_hi + 0.3;
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(name, font(16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    let ticks = (x_hi - x_lo) as usize + 3;
    if log_y {
        let y_range = (y_lo / 1.5..y_hi * 1.5).log_scale();
        let mut chart = builder.build_cartesian_2d(x_range, y_range)?;
        scaling_lines(&mut chart, name, series, ticks)
    } else {
        let mut chart = builder.build_cartesian_2d(x_range, 0.0..y_hi * 1.15)?;
        scaling_lines(&mut chart, name, series, ticks)
    }
}

/// The mesh, the lines and the legend of a `scaling_panel`.
fn scaling_lines<'a, Y: Ranged<ValueType = f64> + ValueFormatter<f64>>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, Y>>,
    name: &str,
    series: &Series,
    ticks: usize,
) -> DrawResult {
    chart
        .configure_mesh()
        .x_desc("batch size")
        .y_desc(name)
        .x_labels(ticks)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-6 {
                format!("{}", x.round().exp2())
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| gpu_mlp::diagnostics::bench::num(*y))
        .label_style(font(12))
        .axis_desc_style(font(13))
        .light_line_style(WHITE)
        .draw()?;
    for ((label, line), color) in series.iter().zip(LINE_COLOURS.iter().cycle()) {
        let line: Vec<(f64, f64)> = line
            .iter()
            .filter(|p| p.0 > 0.0 && p.1.is_finite() && p.1 > 0.0)
            .map(|p| (p.0.log2(), p.1))
            .collect();
        let color = *color;
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(line.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(font(12))
        .background_style(WHITE.mix(0.9))
        .border_style(LIGHT_GREY)
        .draw()?;
    Ok(())
}

/// An image with a caption under it.
pub struct Tile {
    /// `rows × cols` values in `[0, 1]`, 1 = ink, or `rows × cols × 3` RGB values in `[0, 1]`.
    pub pixels: Vec<f32>,
    pub caption: String,
}

/// `show`: images in a `grid_rows × grid_cols` grid, each with its caption (the class name),
/// like the tutorial's first look at the data.
pub fn image_grid(
    path: &Path,
    tiles: &[Tile],
    (rows, cols): (usize, usize),
    grid_cols: usize,
    title: &str,
) -> Result<()> {
    let grid_cols = grid_cols.max(1);
    let grid_rows = tiles.len().div_ceil(grid_cols).max(1);
    let (cell_w, cell_h) = (170u32, 190u32);
    let size = (cell_w * grid_cols as u32, cell_h * grid_rows as u32 + 40);
    render(path, size, |root| {
        let root = root.titled(title, font(20))?;
        let cells = root.split_evenly((grid_rows, grid_cols));
        for (tile, cell) in tiles.iter().zip(&cells) {
            let (image_area, caption_area) = cell.split_vertically(cell_h - 34);
            draw_image(&image_area.margin(8, 0, 8, 8), &tile.pixels, rows, cols)?;
            draw_caption(&caption_area, &tile.caption, 15, &BLACK, 4)?;
        }
        Ok(())
    })
}

/// One picture of `predict --grid`: an image, what the model thinks of it, and the truth.
pub struct PredictionTile {
    /// `rows × cols` values in `[0, 1]`, 1 = ink, or RGB (as [`Tile`]): what the model saw.
    pub pixels: Vec<f32>,
    pub probabilities: Vec<f32>,
    /// The true class when known (test-set samples); `None` for image files.
    pub truth: Option<usize>,
}

/// `predict --grid`: each image with "predicted confidence% (true)" under it, blue when right,
/// red when wrong (black when the truth is unknown), next to a bar chart of the class
/// probabilities with the predicted bar red and the true bar blue, as in the TensorFlow
/// classification tutorial.
pub fn prediction_grid(
    path: &Path,
    tiles: &[PredictionTile],
    (rows, cols): (usize, usize),
    class_names: &[String],
    grid_cols: usize,
    title: &str,
) -> Result<()> {
    let grid_cols = grid_cols.max(1);
    let grid_rows = tiles.len().div_ceil(grid_cols).max(1);
    let (image_w, bars_w, cell_h) = (170u32, 230u32, 200u32);
    let cell_w = image_w + bars_w;
    let size = (cell_w * grid_cols as u32, cell_h * grid_rows as u32 + 40);
    render(path, size, |root| {
        let root = root.titled(title, font(20))?;
        let cells = root.split_evenly((grid_rows, grid_cols));
        for (tile, cell) in tiles.iter().zip(&cells) {
            let (image_cell, bars_cell) = cell.split_horizontally(image_w);
            let predicted = argmax(&tile.probabilities);
            let confidence = tile.probabilities.get(predicted).copied().unwrap_or(0.0);
            let name = |c: usize| {
                class_names
                    .get(c)
                    .map_or_else(|| c.to_string(), |n| n.clone())
            };
            let (caption, color) = match tile.truth {
                Some(t) => (
                    format!(
                        "{} {:.0}% ({})",
                        name(predicted),
                        100.0 * confidence,
                        name(t)
                    ),
                    if t == predicted { TAB_BLUE } else { TAB_RED },
                ),
                None => (
                    format!("{} {:.0}%", name(predicted), 100.0 * confidence),
                    BLACK,
                ),
            };
            let (image_area, caption_area) = image_cell.split_vertically(cell_h - 36);
            draw_image(&image_area.margin(10, 0, 8, 8), &tile.pixels, rows, cols)?;
            draw_caption(&caption_area, &caption, 14, &color, 6)?;
            probability_bars(&bars_cell, &tile.probabilities, predicted, tile.truth)?;
        }
        Ok(())
    })
}

/// The bar chart of one prediction: grey bars, predicted class red, true class blue (so a
/// right prediction shows one blue bar).
fn probability_bars(
    area: &Area,
    probabilities: &[f32],
    predicted: usize,
    truth: Option<usize>,
) -> DrawResult {
    let n = probabilities.len();
    let mut chart = ChartBuilder::on(area)
        .margin_top(14)
        .margin_right(14)
        .margin_bottom(6)
        .x_label_area_size(22)
        .y_label_area_size(32)
        .build_cartesian_2d(-0.5..n as f64 - 0.5, 0.0..1.0f64)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(n + 1)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-6 && *x >= 0.0 {
                format!("{}", x.round())
            } else {
                String::new()
            }
        })
        .y_labels(3)
        .y_label_formatter(&|y| format!("{y:.1}"))
        .label_style(font(11))
        .draw()?;
    chart.draw_series(probabilities.iter().enumerate().map(|(c, &p)| {
        let color = if Some(c) == truth {
            TAB_BLUE
        } else if c == predicted {
            if truth.is_some() {
                TAB_RED
            } else {
                BLACK
            }
        } else {
            GREY
        };
        Rectangle::new(
            [(c as f64 - 0.38, 0.0), (c as f64 + 0.38, p as f64)],
            color.filled(),
        )
    }))?;
    Ok(())
}

/// `eval --confusion-png`: a heat map of the confusion matrix (rows: true class, columns:
/// predicted class), shaded by the square root of the fraction of each true class (so rare
/// confusions show), with the counts written in.
pub fn confusion_heatmap(
    path: &Path,
    matrix: &[Vec<usize>],
    class_names: &[String],
    title: &str,
) -> Result<()> {
    let n = matrix.len().max(1);
    let cell = (700 / n as u32).clamp(14, 70);
    let text_size = (cell / 4).clamp(8, 15);
    let label_w = 150u32;
    let (grid_x, grid_y) = (label_w + 40, 90u32);
    let size = (grid_x + cell * n as u32 + 40, grid_y + cell * n as u32 + 90);
    render(path, size, |root| {
        root.draw_text(title, &centred(20, &BLACK), (size.0 as i32 / 2, 22))?;
        root.draw_text(
            "predicted class",
            &centred(16, &BLACK),
            ((grid_x + cell * n as u32 / 2) as i32, 56),
        )?;
        root.draw_text(
            "true class",
            &font(16).pos(Pos::new(HPos::Right, VPos::Center)),
            (grid_x as i32 - 8, grid_y as i32 - 14),
        )?;
        let name = |c: usize| match class_names.get(c) {
            Some(n) if *n != c.to_string() => format!("{c} {n}"),
            _ => c.to_string(),
        };
        for (t, row) in matrix.iter().enumerate() {
            let total = row.iter().sum::<usize>().max(1) as f64;
            let y = (grid_y + t as u32 * cell) as i32;
            root.draw_text(
                &name(t),
                &font(text_size + 1).pos(Pos::new(HPos::Right, VPos::Center)),
                (grid_x as i32 - 8, y + cell as i32 / 2),
            )?;
            for (p, &count) in row.iter().enumerate() {
                let x = (grid_x + p as u32 * cell) as i32;
                // White to matplotlib's dark blue; the square root makes the few mistakes
                // visible next to the large diagonal.
                let shade = (count as f64 / total).sqrt();
                let mix = |full: u8| (255.0 - shade * (255.0 - full as f64)).round() as u8;
                let fill = RGBColor(mix(8), mix(48), mix(107));
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell as i32, y + cell as i32)],
                    fill.filled(),
                ))?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell as i32, y + cell as i32)],
                    LIGHT_GREY.stroke_width(1),
                ))?;
                if count > 0 && cell >= 24 {
                    let ink = if shade > 0.6 { WHITE } else { BLACK };
                    root.draw_text(
                        &count.to_string(),
                        &centred(text_size, &ink),
                        (x + cell as i32 / 2, y + cell as i32 / 2),
                    )?;
                }
            }
        }
        // Column labels: class indices (names are on the rows; long names would overlap).
        for p in 0..matrix.len() {
            let x = (grid_x + p as u32 * cell + cell / 2) as i32;
            root.draw_text(
                &p.to_string(),
                &centred(text_size + 1, &BLACK),
                (x, grid_y as i32 - 14),
            )?;
        }
        let bottom = (grid_y + cell * n as u32) as i32;
        let total: usize = matrix.iter().flatten().sum();
        let correct: usize = (0..matrix.len()).map(|i| matrix[i][i]).sum();
        root.draw_text(
            &format!(
                "{correct} of {total} right ({:.2}%); shade: square root of the fraction of the true class",
                100.0 * correct as f64 / total.max(1) as f64
            ),
            &centred(14, &GREY),
            (size.0 as i32 / 2, bottom + 40),
        )?;
        Ok(())
    })
}

/// Index of the largest value (the first of equals); 0 for an empty slice.
fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv {
                (i, v)
            } else {
                (bi, bv)
            }
        })
        .0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_font_is_valid() {
        assert!(plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    }

    #[test]
    fn argmax_takes_the_first_largest() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, 0.2]), 1);
        assert_eq!(argmax(&[]), 0);
    }
}
