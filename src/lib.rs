//! gpu-mlp: train and run MLP image classifiers on the GPU through WGSL compute shaders, with a
//! CPU reference engine as the oracle and the fallback. See README.md and DESIGN notes in the
//! module docs.

pub mod bench;
pub mod checkpoint;
pub mod classifier;
pub mod cli;
pub mod commands;
pub mod cpu;
pub mod data;
pub mod draw;
pub mod dropout;
pub mod engine;
pub mod error;
pub mod gpu;
pub mod memory;
pub mod model;
pub mod optimizer;
pub mod output;
pub mod plots;
pub mod preprocess;
pub mod records;
pub mod report;
pub mod train;
pub mod verify;

pub use error::{Error, Result};
