//! What can be wrong with a checkpoint file (a leaf: the crate's [`Error`](crate::Error) holds it).

use std::path::PathBuf;

/// What can be wrong with a checkpoint file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Not a readable safetensors file at all (truncated, random bytes, bad header).
    #[error("{}: not a valid safetensors checkpoint: {problem}", path.display())]
    Corrupt { path: PathBuf, problem: String },
    /// A safetensors file whose tensors or header do not make an MLP gpu-mlp can use.
    #[error("{}: unusable checkpoint: {problem}", path.display())]
    Invalid { path: PathBuf, problem: String },
    /// A good checkpoint that does not fit the data it is used with.
    #[error("{}: {problem}", path.display())]
    Mismatch { path: PathBuf, problem: String },
}
