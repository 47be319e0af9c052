//! Failures of reading a picture (a leaf: the crate's [`Error`](crate::Error) holds it).

/// Largest accepted width or height, so a hostile file cannot make us allocate gigabytes.
pub const MAX_SIDE: u32 = 8192;

/// Failures of reading an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    #[error("{name}: not a readable PNG, JPEG or BMP image ({detail})")]
    Decode { name: String, detail: String },
    #[error("{name}: the image is too large (at most {MAX_SIDE} pixels on a side); scale it down")]
    TooLarge { name: String },
}
