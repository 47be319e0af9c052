//! The reference operations: one plain function per GPU kernel, same names, same conventions.
//!
//! Layouts are row-major f32: activations `[rows, features]`, weights `W[in, out]`. The three
//! matrix products go through `matrixmultiply`, whose strides give the transposed operands
//! without copies, so each product stays one readable call.

use crate::dropout::DropoutMask;
use crate::engine::StepMetrics;

/// Pixels are normalised by multiplying with this constant (not dividing by 255), so the GPU's
/// correctly rounded multiply gives the same bits.
pub const INV_255: f32 = 1.0 / 255.0;

/// How an operand is read by `gemm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operand {
    AsIs,
    Transposed,
}

/// `C[m,n] = op(A)·op(B)` where `op(A)` is `[m,k]` and `op(B)` is `[k,n]`, all row-major.
#[allow(clippy::too_many_arguments)]
fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    op_a: Operand,
    b: &[f32],
    op_b: Operand,
    c: &mut [f32],
) {
    assert!(
        a.len() >= m * k,
        "A holds {} values, needs {}",
        a.len(),
        m * k
    );
    assert!(
        b.len() >= k * n,
        "B holds {} values, needs {}",
        b.len(),
        k * n
    );
    assert!(
        c.len() >= m * n,
        "C holds {} values, needs {}",
        c.len(),
        m * n
    );
    if m == 0 || n == 0 {
        return;
    }
    // Row/column strides of the logical operand, whatever its storage.
    let (rsa, csa) = match op_a {
        Operand::AsIs => (k as isize, 1),
        Operand::Transposed => (1, m as isize),
    };
    let (rsb, csb) = match op_b {
        Operand::AsIs => (n as isize, 1),
        Operand::Transposed => (1, k as isize),
    };
    // SAFETY: the asserts above guarantee every index the strides reach is inside the slices,
    // and `c` cannot alias `a` or `b` (it is a unique borrow).
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// `C[m,n] = A[m,k]·B[k,n]` (forward).
pub fn matmul(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    gemm(m, k, n, a, Operand::AsIs, b, Operand::AsIs, c);
}

/// `C[m,n] = A[m,k]·B[n,k]ᵀ` (input gradient: `dX = dZ·Wᵀ`).
pub fn matmul_a_bt(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    gemm(m, k, n, a, Operand::AsIs, b, Operand::Transposed, c);
}

/// `C[m,n] = A[k,m]ᵀ·B[k,n]` (weight gradient: `dW = Xᵀ·dZ`).
pub fn matmul_at_b(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    gemm(m, k, n, a, Operand::Transposed, b, Operand::AsIs, c);
}

/// `z[r,c] += bias[c]`, then ReLU when `relu`. The GPU fuses this into the matmul's epilogue.
pub fn bias_activation(z: &mut [f32], bias: &[f32], rows: usize, cols: usize, relu: bool) {
    for row in z[..rows * cols].chunks_exact_mut(cols) {
        for (v, &b) in row.iter_mut().zip(bias) {
            let s = *v + b;
            *v = if relu { s.max(0.0) } else { s };
        }
    }
}

/// Dense layer forward: `z = x·W + b`, ReLU when `relu`.
#[allow(clippy::too_many_arguments)]
pub fn dense_forward(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    z: &mut [f32],
    rows: usize,
    fan_in: usize,
    fan_out: usize,
    relu: bool,
) {
    matmul(x, w, z, rows, fan_in, fan_out);
    bias_activation(z, bias, rows, fan_out, relu);
}

/// Inverted dropout in place: element `i` of the `[rows, cols]` activation is kept (and scaled)
/// when `mask.keeps(seed, layer, i)`, else zeroed.
pub fn dropout(a: &mut [f32], rows: usize, cols: usize, layer: u32, seed: u32, mask: DropoutMask) {
    for (i, v) in a[..rows * cols].iter_mut().enumerate() {
        *v = if mask.keeps(seed, layer, i as u32) {
            *v * mask.scale
        } else {
            0.0
        };
    }
}

/// Backward through ReLU and dropout, in place: `d[i] *= (a[i] > 0 ? scale : 0)` where `a` is the
/// layer's output after ReLU and dropout. (`a > 0` exactly when the unit was active and kept.)
pub fn relu_dropout_backward(d: &mut [f32], a: &[f32], rows: usize, cols: usize, scale: f32) {
    for (g, &act) in d[..rows * cols].iter_mut().zip(a) {
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

/// Softmax + sparse cross-entropy + its gradient in one pass, numerically stable
/// (max-shifted log-sum-exp). Writes `dlogits = (softmax − onehot)·grad_scale` (the loop passes
/// `1/rows` for a batch mean) and returns the batch's loss sum and correct count.
pub fn softmax_cross_entropy(
    logits: &[f32],
    labels: &[u8],
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

/// Adam update over the flat buffers (Keras numerics; `step_size` is the bias-corrected α_t).
#[allow(clippy::too_many_arguments)]
pub fn adam(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    step_size: f32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
) {
    for i in 0..params.len() {
        let g = grads[i];
        m[i] = beta1 * m[i] + (1.0 - beta1) * g;
        v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
        params[i] -= step_size * m[i] / (v[i].sqrt() + epsilon);
    }
}

/// Plain SGD update: `w -= lr·g`.
pub fn sgd(params: &mut [f32], grads: &[f32], lr: f32) {
    for (p, &g) in params.iter_mut().zip(grads) {
        *p -= lr * g;
    }
}

/// Builds a batch: rows `order[..]` of the u8 images, normalised to [0, 1], and their labels.
pub fn gather(
    images: &[u8],
    labels: &[u8],
    features: usize,
    order: &[u32],
    x: &mut [f32],
    batch_labels: &mut [u8],
) {
    for (r, &idx) in order.iter().enumerate() {
        let idx = idx as usize;
        let src = &images[idx * features..(idx + 1) * features];
        for (d, &p) in x[r * features..(r + 1) * features].iter_mut().zip(src) {
            *d = p as f32 * INV_255;
        }
        batch_labels[r] = labels[idx];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive triple loop, the definition of the products.
    fn naive(
        a: impl Fn(usize, usize) -> f32,
        b: impl Fn(usize, usize) -> f32,
        m: usize,
        k: usize,
        n: usize,
    ) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a(i, p) * b(p, j)).sum();
            }
        }
        c
    }

    fn close(x: &[f32], y: &[f32]) {
        for (a, b) in x.iter().zip(y) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn products_match_their_definitions() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let bt: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut c = vec![f32::NAN; m * n];
        matmul(&a, &bt, &mut c, m, k, n);
        close(
            &c,
            &naive(|i, p| a[i * k + p], |p, j| bt[p * n + j], m, k, n),
        );
        // A·Bᵀ with B stored [n,k]
        let b_nk: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.23).sin()).collect();
        matmul_a_bt(&a, &b_nk, &mut c, m, k, n);
        close(
            &c,
            &naive(|i, p| a[i * k + p], |p, j| b_nk[j * k + p], m, k, n),
        );
        // Aᵀ·B with A stored [k,m]
        let a_km: Vec<f32> = (0..k * m).map(|i| (i as f32 * 0.71).cos()).collect();
        matmul_at_b(&a_km, &bt, &mut c, m, k, n);
        close(
            &c,
            &naive(|i, p| a_km[p * m + i], |p, j| bt[p * n + j], m, k, n),
        );
    }

    #[test]
    fn adam_two_steps_by_hand() {
        // One parameter, g = 0.5 then g = -0.25, lr 0.1, Keras defaults.
        let opt = crate::optimizer::Optimizer::adam(0.1);
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-7f64);
        let mut p = [1.0f32];
        let (mut m, mut v) = ([0.0f32], [0.0f32]);
        adam(
            &mut p,
            &[0.5],
            &mut m,
            &mut v,
            opt.step_size(1),
            0.9,
            0.999,
            1e-7,
        );
        // m1 = 0.05, v1 = 0.00025, α1 = 0.1·sqrt(0.001)/0.1 = sqrt(0.001)
        let (m1, v1) = (0.05f64, 0.00025f64);
        let a1 = 0.1 * (1.0 - b2).sqrt() / (1.0 - b1);
        let p1 = 1.0 - a1 * m1 / (v1.sqrt() + eps);
        assert!((p[0] as f64 - p1).abs() < 1e-6, "{} vs {p1}", p[0]);
        adam(
            &mut p,
            &[-0.25],
            &mut m,
            &mut v,
            opt.step_size(2),
            0.9,
            0.999,
            1e-7,
        );
        let m2 = 0.9 * m1 + 0.1 * -0.25;
        let v2 = 0.999 * v1 + 0.001 * 0.0625;
        let a2 = 0.1 * (1.0 - b2 * b2).sqrt() / (1.0 - b1 * b1);
        let p2 = p1 - a2 * m2 / (v2.sqrt() + eps);
        assert!((m[0] as f64 - m2).abs() < 1e-6 * m2.abs());
        // (1 - β2) rounds to f32 with 1.3e-5 relative error, as it does in Keras.
        assert!((v[0] as f64 - v2).abs() < 3e-5 * v2.abs());
        assert!((p[0] as f64 - p2).abs() < 1e-6, "{} vs {p2}", p[0]);
    }

    #[test]
    fn softmax_cross_entropy_is_stable_and_its_gradient_rows_sum_to_zero() {
        let logits = [1e4f32, -1e4, 0.0, -1e4, 1e4, 3.0, 5.0, 5.0, 5.0];
        let labels = [1u8, 1, 2];
        let mut d = [f32::NAN; 9];
        let m = softmax_cross_entropy(&logits, &labels, 3, 3, 1.0 / 3.0, &mut d);
        assert!(m.loss_sum.is_finite());
        // Row 0: label 1 is 2e4 below the max, so its loss is 2e4; row 2 is uniform: ln 3.
        assert!(
            (m.loss_sum - (2e4 + 0.0 + 3f32.ln())).abs() < 1.0,
            "{}",
            m.loss_sum
        );
        // Row 1 is right; row 2 ties and picks class 0, not its label 2.
        assert_eq!(m.correct, 1);
        for row in d.chunks(3) {
            assert!(row.iter().all(|g| g.is_finite()));
            assert!(row.iter().sum::<f32>().abs() < 1e-6);
        }
    }
}
