//! The reference operations: one plain function per GPU kernel, same names, same conventions.
//!
//! Layouts are row-major f32: activations `[rows, features]`, weights `W[in, out]`. The three
//! matrix products go through `matrixmultiply`, whose strides give the transposed operands
//! without copies, so each product stays one readable call.

mod gather;
mod masks;
mod optimizer;
mod products;
mod softmax;

pub use gather::*;
pub use masks::*;
pub use optimizer::*;
pub use products::*;
pub use softmax::*;

/// Pixels are normalised by multiplying with this constant (not dividing by 255), so the GPU's
/// correctly rounded multiply gives the same bits.
pub const INV_255: f32 = 1.0 / 255.0;

#[cfg(test)]
mod tests;
