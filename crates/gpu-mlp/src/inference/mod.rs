//! Using a trained model: the [`classifier`], the preprocessing that turns any picture into
//! the model's input ([`preprocess`]), and [`export`] to ONNX for other runtimes.

pub mod classifier;
pub mod export;
pub mod preprocess;
