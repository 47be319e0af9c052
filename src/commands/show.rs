//! `gpu-mlp show`: the first 25 training images with their class names in a 5x5 grid, the
//! tutorials' first look at the data.

use crate::cli::ShowArgs;
use crate::data::Dataset;
use crate::error::Result;
use crate::output;
use crate::plots::{self, Tile};
use std::path::Path;

/// Images in the grid (5 x 5).
pub const SHOWN: usize = 25;

/// Draws the first `SHOWN` training images of `data` with their class names into `path`.
pub fn draw(path: &Path, data: &Dataset) -> Result<()> {
    let tiles: Vec<Tile> = (0..SHOWN.min(data.train.count))
        .map(|i| {
            let label = data.train.labels[i] as usize;
            Tile {
                pixels: data.train.input(i),
                caption: data
                    .class_names
                    .get(label)
                    .cloned()
                    .unwrap_or_else(|| label.to_string()),
            }
        })
        .collect();
    let title = format!("{}: the first {} training images", data.name, tiles.len());
    plots::image_grid(path, &tiles, (data.rows, data.cols), 5, &title)
}

pub fn run(args: &ShowArgs) -> Result<()> {
    output::check_writable(&args.out)?;
    let data = super::load_dataset(&args.data)?;
    draw(&args.out, &data)?;
    println!(
        "drew the first {} training images of {} with their class names into {}",
        SHOWN.min(data.train.count),
        data.name,
        args.out.display()
    );
    Ok(())
}
