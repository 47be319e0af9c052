//! The tutorials' pictures as PNG files: training curves, a grid of sample images, predictions
//! next to their class probabilities, and a confusion-matrix heat map.
//!
//! Drawing is done by `plotters` into an in-memory RGB buffer, encoded by `image`, and written
//! through `atomic::write_atomically`, so a failed write is one clear error and never leaves a
//! half-written picture. Text uses the embedded DejaVu Sans (assets/fonts, Bitstream Vera
//! licence), so no system font library is needed.

mod canvas;
mod confusion;
mod curves;
mod grids;

pub use canvas::{TAB_BLUE, TAB_ORANGE, TAB_RED};
pub use confusion::confusion_heatmap;
pub use curves::{scaling_curves, training_curves, Series};
pub use grids::{image_grid, prediction_grid, PredictionTile, Tile};
