//! `gpu-mlp show`: the first 25 training images with their class names in a 5x5 grid, the
//! tutorials' first look at the data. Grey or RGB images; a table has no pictures to draw.

use crate::cli::ShowArgs;
use crate::plots::{self, Tile};
use gpu_mlp::data::{Dataset, Inputs};
use gpu_mlp::error::{ConfigError, Result};
use gpu_mlp::fsio::atomic;
use std::path::Path;

/// Images in the grid (5 x 5).
pub const SHOWN: usize = 25;

/// Draws the first `SHOWN` training images of `data` with their class names into `path`;
/// refuses a table (its rows are not pictures).
pub fn draw(path: &Path, data: &Dataset) -> Result<()> {
    if !data.is_image() {
        return Err(ConfigError::new(format!(
            "show draws images, but '{}' is a table ({} source, {} features per row): there is \
             nothing to draw",
            data.name(),
            data.source().name(),
            data.features()
        ))
        .into());
    }
    let tiles: Vec<Tile> = (0..SHOWN.min(data.train().count()))
        .map(|i| {
            let label = data.train().labels()[i] as usize;
            Tile {
                pixels: picture(data, i),
                caption: data
                    .class_names()
                    .get(label)
                    .cloned()
                    .unwrap_or_else(|| label.to_string()),
            }
        })
        .collect();
    let title = format!("{}: the first {} training images", data.name(), tiles.len());
    plots::image_grid(path, &tiles, (data.rows(), data.cols()), 5, &title)
}

/// Training image `i` as values in `[0, 1]`: pixels as the model sees them; other values
/// (standardised, or floats of any range) stretched from their smallest to their largest.
fn picture(data: &Dataset, i: usize) -> Vec<f32> {
    let values = data.train().input(i);
    if matches!(data.train().inputs(), Inputs::Pixels(_)) {
        return values;
    }
    let (lo, hi) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let range = hi - lo;
    values
        .iter()
        .map(|&v| if range > 0.0 { (v - lo) / range } else { 0.0 })
        .collect()
}

pub fn run(args: &ShowArgs) -> Result<()> {
    atomic::check_writable(&args.out)?;
    let data = super::load_dataset(&args.data)?;
    draw(&args.out, &data)?;
    println!(
        "drew the first {} training images of {} with their class names into {}",
        SHOWN.min(data.train().count()),
        data.name(),
        args.out.display()
    );
    Ok(())
}
