//! Softmax with cross-entropy and its gradient, the twin of the GPU's softmax kernel.

use crate::data::Label;
use crate::engine::StepMetrics;

/// Softmax + sparse cross-entropy + its gradient in one pass, numerically stable
/// (max-shifted log-sum-exp). Writes `dlogits = (softmax − onehot)·grad_scale` (the loop passes
/// `1/rows` for a batch mean) and returns the batch's loss sum and correct count.
pub fn softmax_cross_entropy(
    logits: &[f32],
    labels: &[Label],
    rows: usize,
    classes: usize,
    grad_scale: f32,
    dlogits: &mut [f32],
) -> StepMetrics {
    let mut metrics = StepMetrics::default();
    for r in 0..rows {
        let z = &logits[r * classes..(r + 1) * classes];
        let label = labels[r] as usize;
        let (arg_max, max) = arg_max(z);
        let sum: f32 = z.iter().map(|&v| (v - max).exp()).sum();
        metrics.loss_sum += sum.ln() + max - z[label];
        metrics.correct += (arg_max == label) as u32;
        let g = &mut dlogits[r * classes..(r + 1) * classes];
        for (c, (gv, &zv)) in g.iter_mut().zip(z).enumerate() {
            let p = (zv - max).exp() / sum;
            *gv = (p - if c == label { 1.0 } else { 0.0 }) * grad_scale;
        }
    }
    metrics
}

/// Per-sample loss and arg-max for evaluation (no gradient). Returns (loss, predicted class).
pub fn softmax_cross_entropy_row(z: &[f32], label: usize) -> (f32, usize) {
    let (arg_max, max) = arg_max(z);
    let sum: f32 = z.iter().map(|&v| (v - max).exp()).sum();
    (sum.ln() + max - z[label], arg_max)
}

/// Index and value of the first maximum.
pub fn arg_max(z: &[f32]) -> (usize, f32) {
    z.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 {
                (i, v)
            } else {
                best
            }
        })
}

/// Row-wise softmax of logits (for prediction).
pub fn softmax(z: &[f32], out: &mut [f32]) {
    let (_, max) = arg_max(z);
    let mut sum = 0.0;
    for (o, &v) in out.iter_mut().zip(z) {
        *o = (v - max).exp();
        sum += *o;
    }
    out.iter_mut().for_each(|o| *o /= sum);
}
