//! Typed errors of the library. Each says what was wrong, where, and how to fix it;
//! `main` turns them into one line on stderr and a non-zero exit status.

use std::path::PathBuf;

pub use crate::checkpoint::CheckpointError;
pub use crate::data::DataError;
pub use crate::preprocess::ImageError;

/// A flag or setting that cannot work (bad value, incompatible combination).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    pub message: String,
}

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// `config_error!("...{x}...")`: a [`ConfigError`] from a format string.
#[macro_export]
macro_rules! config_error {
    ($($arg:tt)*) => {
        $crate::error::ConfigError::new(format!($($arg)*))
    };
}

/// Failures of the GPU engine: no adapter, a limit the adapter cannot meet, a device error.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter found{detail}")]
    NoAdapter { detail: String },
    #[error("adapter '{adapter}' cannot run this: {what}")]
    Limit { adapter: String, what: String },
    #[error("GPU device error: {0}")]
    Device(String),
}

/// Everything the library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// An adapter failed `verify` / `train --verify`.
    #[error(transparent)]
    Verify(#[from] crate::verify::VerifyFailed),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A picture could not be drawn (the plotting library failed; not an I/O error).
    #[error("cannot draw {}: {message}", path.display())]
    Plot { path: PathBuf, message: String },
    #[error(
        "training diverged at epoch {epoch}, step {step}: the loss became {value}; \
         try a lower learning rate (--lr)"
    )]
    Diverged {
        epoch: usize,
        step: usize,
        value: f32,
    },
    /// SIGINT or SIGTERM stopped training after an epoch (`train --summary-json`).
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
