//! Using a trained model: the [`classifier`] and the preprocessing that turns any picture into
//! the model's input ([`preprocess`]).

pub mod classifier;
pub(crate) mod image_error;
pub mod preprocess;
