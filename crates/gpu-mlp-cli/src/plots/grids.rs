//! Picture grids: `show`'s sample images and `predict --grid`'s predictions with their
//! class probabilities.

use super::canvas::{
    draw_caption, draw_image, font, render, Area, DrawResult, GREY, TAB_BLUE, TAB_RED,
};
use gpu_mlp::error::Result;
use plotters::prelude::*;
use std::path::Path;

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
    fn argmax_takes_the_first_largest() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, 0.2]), 1);
        assert_eq!(argmax(&[]), 0);
    }
}
