//! Using a trained model: the [`classifier`], the preprocessing that turns any picture into
//! the model's input ([`preprocess`]), and [`export`] to ONNX for other runtimes.

pub mod classifier;
pub mod export;
pub(crate) mod image_error;
pub mod preprocess;
