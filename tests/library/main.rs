//! The library through its public API (and the commands the CLI crate exposes): data sets and
//! their files, downloads, checkpoints and the pictures, CPU gradients, schedules and early
//! stopping, and exact resume.

mod checkpoint_files;
mod cpu_gradients;
mod data;
mod data_sets;
mod fetch;
mod long_runs;
mod models;
mod pictures;
mod resume;
