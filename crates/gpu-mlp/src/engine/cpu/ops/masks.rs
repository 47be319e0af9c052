//! Dropout's mask, the ReLU/dropout backward mask and the bias gradient's column sums.

use crate::model::dropout::DropoutMask;

/// Inverted dropout in place: element `i` of the `[rows, cols]` activation is kept (and scaled)
/// when `mask.keeps(seed, layer, i)`, else zeroed.
pub fn dropout(a: &mut [f32], rows: usize, cols: usize, layer: u32, seed: u32, mask: DropoutMask) {
    dropout_segment(&mut a[..rows * cols], 0, layer, seed, mask);
}

/// `dropout` on the elements `first_index..` of the activation, held in `a`.
pub(super) fn dropout_segment(
    a: &mut [f32],
    first_index: usize,
    layer: u32,
    seed: u32,
    mask: DropoutMask,
) {
    for (i, v) in a.iter_mut().enumerate() {
        *v = if mask.keeps(seed, layer, (first_index + i) as u32) {
            *v * mask.scale
        } else {
            0.0
        };
    }
}

/// Backward through ReLU and dropout, in place: `d[i] *= (a[i] > 0 ? scale : 0)` where `a` is the
/// layer's output after ReLU and dropout. (`a > 0` exactly when the unit was active and kept.)
pub fn relu_dropout_backward(d: &mut [f32], a: &[f32], rows: usize, cols: usize, scale: f32) {
    relu_dropout_backward_segment(&mut d[..rows * cols], a, scale);
}

/// `relu_dropout_backward` on matching segments of `d` and `a`.
pub(super) fn relu_dropout_backward_segment(d: &mut [f32], a: &[f32], scale: f32) {
    for (g, &act) in d.iter_mut().zip(a) {
        *g = if act > 0.0 { *g * scale } else { 0.0 };
    }
}

/// Column sums `out[c] = Σ_r d[r,c]` (bias gradient).
pub fn column_sums(d: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    out[..cols].fill(0.0);
    for row in d[..rows * cols].chunks_exact(cols) {
        for (o, &g) in out.iter_mut().zip(row) {
            *o += g;
        }
    }
}
