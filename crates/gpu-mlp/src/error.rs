//! Typed errors of the library. Each says what was wrong, where, and how to fix it;
//! `main` turns them into one line on stderr and a non-zero exit status.

use std::path::PathBuf;

pub use crate::checkpoint::error::CheckpointError;
pub use crate::data::error::DataError;
pub use crate::inference::image_error::ImageError;
pub use crate::setting::{ConfigError, Phrase, Setting};

/// Failures of the GPU engine: no adapter, a limit the adapter cannot meet, a device error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    /// No adapter (or none matching the request); `detail` says what was asked for.
    #[error("no GPU adapter found{detail}")]
    NoAdapter {
        /// What was asked for, e.g. ` for --backend vulkan` (the backend setting, named by the
        /// vocabulary in force), or empty.
        detail: Phrase,
    },
    /// The adapter's limits or features cannot hold this model or batch.
    #[error("adapter '{adapter}' cannot run this: {what}")]
    Limit {
        /// The adapter's name.
        adapter: String,
        /// The limit and what would need it (with the setting to change).
        what: Phrase,
    },
    /// The device or driver failed (lost device, out of memory, validation error).
    #[error("GPU device error: {0}")]
    Device(String),
}

/// `detail` of [`GpuError::NoAdapter`] when the backend was named: ` for --backend vulkan…`.
pub(crate) fn for_backend(backend: impl std::fmt::Display, detail: Phrase) -> Phrase {
    crate::phrase![" for ", Setting::Backend, format!(" {backend}")].followed_by(detail)
}

/// The adapter computed something out of bounds: the error an adapter check
/// (`verify`, `train --verify`) ends with (exit status 1).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{adapter} failed verification: {failed} of {total} checks out of bounds ({first}); \
     train on the CPU engine with {} cpu, and please report it with the output of \
     `gpu-mlp verify --json report.json`",
    crate::setting::vocabulary().name(Setting::Backend)
)]
pub struct VerifyFailed {
    /// The adapter's name.
    pub adapter: String,
    /// Checks out of bounds.
    pub failed: usize,
    /// Checks run.
    pub total: usize,
    /// The first failing check, one line.
    pub first: String,
}

/// Everything the library can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting that cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Reading, finding or fetching a data set failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A checkpoint file could not be used.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A picture could not be read or decoded.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A picture could not be drawn (the plotting library failed; not an I/O error).
    #[error("cannot draw {}: {message}", path.display())]
    Plot {
        /// The picture's file.
        path: PathBuf,
        /// What the plotting library said.
        message: String,
    },
    /// The GPU engine failed.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// An adapter failed `verify` / `train --verify`.
    #[error(transparent)]
    Verify(#[from] VerifyFailed),
    /// The training loss became NaN or infinite.
    #[error(
        "training diverged at epoch {epoch}, step {step}: the loss became {value}; \
         try a lower learning rate ({})",
        crate::setting::vocabulary().name(Setting::LearningRate)
    )]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// The step's loss sum.
        value: f32,
    },
    /// SIGINT, SIGTERM or SIGHUP stopped training after an epoch (`train --summary-json`).
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

impl From<crate::fsio::atomic::WriteError> for Error {
    fn from(e: crate::fsio::atomic::WriteError) -> Self {
        Error::Write {
            path: e.path,
            source: e.source,
        }
    }
}

/// The library's result: [`Error`] unless another error type is named.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A run stopped by a signal after `epoch` finished epochs (the observer that watches for
/// signals returns it; the library itself installs no handler).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by {} after epoch {epoch}", signal_name(*signal))]
pub struct Interrupted {
    /// The signal's number (1 SIGHUP, 2 SIGINT, 15 SIGTERM).
    pub signal: i32,
    /// Finished epochs when it came.
    pub epoch: usize,
}

fn signal_name(signal: i32) -> String {
    match signal {
        1 => "SIGHUP".to_string(),
        2 => "SIGINT".to_string(),
        15 => "SIGTERM".to_string(),
        n => format!("signal {n}"),
    }
}
