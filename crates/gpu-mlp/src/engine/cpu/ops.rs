//! The reference operations: one plain function per GPU kernel, same names, same conventions.
//!
//! Layouts are row-major f32: activations `[rows, features]`, weights `W[in, out]`. The three
//! matrix products go through `matrixmultiply`, whose strides give the transposed operands
//! without copies, so each product stays one readable call.

use crate::data::{Inputs, Label, Samples};
use crate::engine::cpu::workers::Workers;
use crate::engine::StepMetrics;
use crate::model::dropout::DropoutMask;
use rayon::prelude::*;

/// Pixels are normalised by multiplying with this constant (not dividing by 255), so the GPU's
/// correctly rounded multiply gives the same bits.
pub const INV_255: f32 = 1.0 / 255.0;

/// How an operand is read by `gemm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operand {
    AsIs,
    Transposed,
}

/// Products smaller than this many multiply-adds run whole on one worker: splitting them
/// costs more in hand-offs than it saves.
const MIN_SPLIT_MACS: usize = 1 << 18;

/// Parts of C are multiples of this many rows or columns, so each keeps whole register tiles.
const PART_ALIGN: usize = 16;

/// A raw pointer the workers share; each writes only its own part of C.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: the parts of C that `gemm` hands to different workers never overlap.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// The element `offset` places in (a method, so closures capture the whole wrapper).
    ///
    /// # Safety
    /// `offset` must lie inside the buffer.
    unsafe fn at(&self, offset: usize) -> *mut f32 {
        self.0.add(offset)
    }
}

/// What happens to each finished row segment of C, while it is still in cache:
/// `(row, first column, values)`. The GPU's matmul epilogues, per segment.
type Epilogue<'a> = &'a (dyn Fn(usize, usize, &mut [f32]) + Sync);

/// `C[m,n] = op(A)·op(B)` where `op(A)` is `[m,k]` and `op(B)` is `[k,n]`, all row-major, then
/// `epilogue` on every row segment of C.
///
/// With `workers`, C is cut along its longer side into one part per worker (each part packs
/// only its share of the operand that side indexes) and the parts are computed at once. Every
/// element is still the same dot product over the whole of k in the same order, so the bits do
/// not depend on the number of parts (tested).
#[allow(clippy::too_many_arguments)]
fn gemm(
    workers: Option<&Workers>,
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    op_a: Operand,
    b: &[f32],
    op_b: Operand,
    c: &mut [f32],
    epilogue: Epilogue,
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
        Operand::AsIs => (k, 1),
        Operand::Transposed => (1, m),
    };
    let (rsb, csb) = match op_b {
        Operand::AsIs => (n, 1),
        Operand::Transposed => (1, k),
    };
    let split_rows = m >= n;
    let side = if split_rows { m } else { n };
    let parts = match workers {
        Some(w) if m * k * n >= MIN_SPLIT_MACS => w.threads().min(side.div_ceil(PART_ALIGN)),
        _ => 1,
    };
    let step = side.div_ceil(parts).next_multiple_of(PART_ALIGN);
    let out = SharedOut(c.as_mut_ptr());
    let part = |i: usize| {
        let span = (i * step).min(side)..((i + 1) * step).min(side);
        let (rows, cols) = if split_rows {
            (span, 0..n)
        } else {
            (0..m, span)
        };
        if rows.is_empty() || cols.is_empty() {
            return;
        }
        // SAFETY: the asserts above keep every index the strides reach inside `a`, `b` and
        // `c`; `c` is a unique borrow, so it aliases neither operand; parts cover disjoint
        // rows or columns of C, so no two workers write the same element.
        unsafe {
            let c_part = out.at(rows.start * n + cols.start);
            matrixmultiply::sgemm(
                rows.len(),
                k,
                cols.len(),
                1.0,
                a.as_ptr().add(rows.start * rsa),
                rsa as isize,
                csa as isize,
                b.as_ptr().add(cols.start * csb),
                rsb as isize,
                csb as isize,
                0.0,
                c_part,
                n as isize,
                1,
            );
            for r in rows {
                let segment =
                    std::slice::from_raw_parts_mut(out.at(r * n + cols.start), cols.len());
                epilogue(r, cols.start, segment);
            }
        }
    };
    match workers {
        Some(w) if parts > 1 => w.for_each_part(parts, &part),
        _ => part(0),
    }
}

/// The identity epilogue: the product alone.
fn product_only(_row: usize, _first_col: usize, _values: &mut [f32]) {}

/// `C[m,n] = A[m,k]·B[k,n]` (forward).
pub fn matmul(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    gemm(
        None,
        m,
        k,
        n,
        a,
        Operand::AsIs,
        b,
        Operand::AsIs,
        c,
        &product_only,
    );
}

/// `C[m,n] = A[m,k]·B[n,k]ᵀ` (input gradient: `dX = dZ·Wᵀ`).
pub fn matmul_a_bt(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    gemm(
        None,
        m,
        k,
        n,
        a,
        Operand::AsIs,
        b,
        Operand::Transposed,
        c,
        &product_only,
    );
}

/// `C[m,n] = A[k,m]ᵀ·B[k,n]` (weight gradient: `dW = Xᵀ·dZ`).
pub fn matmul_at_b(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    gemm(
        None,
        m,
        k,
        n,
        a,
        Operand::Transposed,
        b,
        Operand::AsIs,
        c,
        &product_only,
    );
}

/// `z[r,c] += bias[c]`, then ReLU when `relu`. The GPU fuses this into the matmul's epilogue.
pub fn bias_activation(z: &mut [f32], bias: &[f32], rows: usize, cols: usize, relu: bool) {
    for row in z[..rows * cols].chunks_exact_mut(cols) {
        bias_activation_row(row, bias, relu);
    }
}

/// One row (or row segment, with the matching `bias` segment) of `bias_activation`.
fn bias_activation_row(z: &mut [f32], bias: &[f32], relu: bool) {
    for (v, &b) in z.iter_mut().zip(bias) {
        let s = *v + b;
        *v = if relu { s.max(0.0) } else { s };
    }
}

/// The dropout of one hidden layer at one step: which mask, and where it is drawn from.
#[derive(Clone, Copy, Debug)]
pub struct StepDropout {
    pub mask: DropoutMask,
    pub layer: u32,
    pub seed: u32,
}

/// Dense layer forward on the workers, `z = x·W + b`, ReLU when `relu`, then `dropout` when
/// given: each part finishes its rows of `z` right after its product, with the bits of the
/// three passes `matmul`, `bias_activation`, `dropout`.
#[allow(clippy::too_many_arguments)]
pub fn dense_forward_on(
    workers: &Workers,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    z: &mut [f32],
    rows: usize,
    fan_in: usize,
    fan_out: usize,
    relu: bool,
    dropout: Option<StepDropout>,
) {
    let epilogue = |row: usize, first_col: usize, values: &mut [f32]| {
        bias_activation_row(values, &bias[first_col..], relu);
        if let Some(d) = dropout {
            dropout_segment(values, row * fan_out + first_col, d.layer, d.seed, d.mask);
        }
    };
    gemm(
        Some(workers),
        rows,
        fan_in,
        fan_out,
        x,
        Operand::AsIs,
        w,
        Operand::AsIs,
        z,
        &epilogue,
    );
}

/// `matmul_at_b` on the workers: the weight gradient `dW[fan_in, fan_out] = Xᵀ·dZ`.
pub fn weight_gradient_on(
    workers: &Workers,
    x: &[f32],
    dz: &[f32],
    dw: &mut [f32],
    rows: usize,
    fan_in: usize,
    fan_out: usize,
) {
    gemm(
        Some(workers),
        fan_in,
        rows,
        fan_out,
        x,
        Operand::Transposed,
        dz,
        Operand::AsIs,
        dw,
        &product_only,
    );
}

/// `matmul_a_bt` then `relu_dropout_backward` on the workers: the gradient of the layer below,
/// `dX = (dZ·Wᵀ) ⊙ (a > 0 ? scale : 0)`, each part masking its rows right after its product.
#[allow(clippy::too_many_arguments)]
pub fn input_gradient_on(
    workers: &Workers,
    dz: &[f32],
    w: &[f32],
    a: &[f32],
    dx: &mut [f32],
    rows: usize,
    fan_in: usize,
    fan_out: usize,
    scale: f32,
) {
    let epilogue = |row: usize, first_col: usize, values: &mut [f32]| {
        let start = row * fan_in + first_col;
        relu_dropout_backward_segment(values, &a[start..start + values.len()], scale);
    };
    gemm(
        Some(workers),
        rows,
        fan_out,
        fan_in,
        dz,
        Operand::AsIs,
        w,
        Operand::Transposed,
        dx,
        &epilogue,
    );
}

/// Inverted dropout in place: element `i` of the `[rows, cols]` activation is kept (and scaled)
/// when `mask.keeps(seed, layer, i)`, else zeroed.
pub fn dropout(a: &mut [f32], rows: usize, cols: usize, layer: u32, seed: u32, mask: DropoutMask) {
    dropout_segment(&mut a[..rows * cols], 0, layer, seed, mask);
}

/// `dropout` on the elements `first_index..` of the activation, held in `a`.
fn dropout_segment(a: &mut [f32], first_index: usize, layer: u32, seed: u32, mask: DropoutMask) {
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
fn relu_dropout_backward_segment(d: &mut [f32], a: &[f32], scale: f32) {
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

/// Adam update over the flat buffers (Keras numerics).
pub fn adam(params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32], step: AdamStep) {
    let n = params.len();
    let buffers = AdamBuffers {
        params,
        grads: &grads[..n],
        m: &mut m[..n],
        v: &mut v[..n],
    };
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, checked on the line above.
        unsafe { adam_avx512(buffers, step) };
        return;
    }
    adam_loop(buffers, step);
}

/// The four buffers of one Adam update, all of one length.
struct AdamBuffers<'a> {
    params: &'a mut [f32],
    grads: &'a [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
}

/// The scalars of one Adam update.
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    /// The bias-corrected α_t.
    pub step_size: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
}

/// `adam_loop` compiled for 16-float vectors. Its square roots and divisions (Adam's cost) are
/// correctly rounded at any width and Rust never fuses a multiply-add, so it gives the same
/// bits as the plain loop.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn adam_avx512(buffers: AdamBuffers, step: AdamStep) {
    adam_loop(buffers, step);
}

/// The Adam step itself (zipped slices: no bounds checks, so it vectorises).
#[inline(always)]
fn adam_loop(b: AdamBuffers, s: AdamStep) {
    for (((p, &g), m), v) in b.params.iter_mut().zip(b.grads).zip(b.m).zip(b.v) {
        *m = s.beta1 * *m + (1.0 - s.beta1) * g;
        *v = s.beta2 * *v + (1.0 - s.beta2) * g * g;
        *p -= s.step_size * *m / (v.sqrt() + s.epsilon);
    }
}

/// `adam` on the workers, each on its own slice of the buffers (element-wise, so the same
/// bits however the buffers are cut).
pub fn adam_on(
    workers: &Workers,
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    step: AdamStep,
) {
    let chunk = params.len().div_ceil(workers.threads()).max(1);
    workers.run(|| {
        params
            .par_chunks_mut(chunk)
            .zip(grads.par_chunks(chunk))
            .zip(m.par_chunks_mut(chunk))
            .zip(v.par_chunks_mut(chunk))
            .for_each(|(((p, g), m), v)| adam(p, g, m, v, step));
    });
}

/// AdamW's decoupled weight decay, applied before the Adam update: `w -= decay·w`.
pub fn decay(params: &mut [f32], decay: f32) {
    for p in params.iter_mut() {
        *p -= *p * decay;
    }
}

/// Plain SGD update: `w -= lr·g`.
pub fn sgd(params: &mut [f32], grads: &[f32], lr: f32) {
    for (p, &g) in params.iter_mut().zip(grads) {
        *p -= lr * g;
    }
}

/// Builds a batch: rows `order[..]` of the samples' inputs (pixels times 1/255, values as
/// they are) and their labels.
pub fn gather(samples: &Samples, order: &[u32], x: &mut [f32], batch_labels: &mut [Label]) {
    let features = samples.features;
    for (r, &idx) in order.iter().enumerate() {
        let idx = idx as usize;
        let src = idx * features..(idx + 1) * features;
        let dst = &mut x[r * features..(r + 1) * features];
        match &samples.inputs {
            Inputs::Pixels(p) => {
                for (d, &p) in dst.iter_mut().zip(&p[src]) {
                    *d = p as f32 * INV_255;
                }
            }
            Inputs::Values(v) => dst.copy_from_slice(&v[src]),
        }
        batch_labels[r] = samples.labels[idx];
    }
}

/// `gather` on the workers, each building its own rows of the batch.
pub fn gather_on(
    workers: &Workers,
    samples: &Samples,
    order: &[u32],
    x: &mut [f32],
    batch_labels: &mut [Label],
) {
    let rows = order.len().div_ceil(workers.threads()).max(1);
    workers.run(|| {
        order
            .par_chunks(rows)
            .zip(x.par_chunks_mut(rows * samples.features))
            .zip(batch_labels.par_chunks_mut(rows))
            .for_each(|((order, x), batch_labels)| gather(samples, order, x, batch_labels));
    });
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

    fn values(len: usize, salt: f32) -> Vec<f32> {
        (0..len).map(|i| (i as f32 * salt).sin()).collect()
    }

    /// The workers' fused, split kernels give the bits of the plain passes, for thread counts
    /// that split C along rows and along columns into ragged parts.
    #[test]
    fn split_fused_kernels_give_the_bits_of_the_plain_passes() {
        let mask = DropoutMask::new(0.3);
        for threads in [2, 3] {
            let workers = Workers::new(threads).expect("workers");
            // rows > columns, then columns > rows; neither a multiple of the part alignment
            for (rows, fan_in, fan_out) in [(200, 784, 130), (33, 300, 785)] {
                let x = values(rows * fan_in, 0.37);
                let w = values(fan_in * fan_out, 0.11);
                let bias = values(fan_out, 0.7);
                let dropout = StepDropout {
                    mask,
                    layer: 1,
                    seed: 99,
                };
                let mut plain = vec![f32::NAN; rows * fan_out];
                matmul(&x, &w, &mut plain, rows, fan_in, fan_out);
                bias_activation(&mut plain, &bias, rows, fan_out, true);
                super::dropout(&mut plain, rows, fan_out, 1, 99, mask);
                let mut fused = vec![f32::NAN; rows * fan_out];
                dense_forward_on(
                    &workers,
                    &x,
                    &w,
                    &bias,
                    &mut fused,
                    rows,
                    fan_in,
                    fan_out,
                    true,
                    Some(dropout),
                );
                assert_eq!(
                    bits(&plain),
                    bits(&fused),
                    "forward {rows}x{fan_in}x{fan_out}"
                );

                let dz = values(rows * fan_out, 0.23);
                let mut plain = vec![f32::NAN; rows * fan_in];
                matmul_a_bt(&dz, &w, &mut plain, rows, fan_out, fan_in);
                relu_dropout_backward(&mut plain, &x, rows, fan_in, mask.scale);
                let mut fused = vec![f32::NAN; rows * fan_in];
                input_gradient_on(
                    &workers, &dz, &w, &x, &mut fused, rows, fan_in, fan_out, mask.scale,
                );
                assert_eq!(bits(&plain), bits(&fused), "dX {rows}x{fan_out}x{fan_in}");

                let mut plain = vec![f32::NAN; fan_in * fan_out];
                matmul_at_b(&x, &dz, &mut plain, fan_in, rows, fan_out);
                let mut split = vec![f32::NAN; fan_in * fan_out];
                weight_gradient_on(&workers, &x, &dz, &mut split, rows, fan_in, fan_out);
                assert_eq!(bits(&plain), bits(&split), "dW {fan_in}x{rows}x{fan_out}");
            }
        }
    }

    #[test]
    fn adam_and_gather_on_the_workers_match_the_plain_loops() {
        let workers = Workers::new(3).expect("workers");
        let n = 1001;
        let grads = values(n, 0.3);
        let (mut p1, mut m1, mut v1) = (values(n, 0.1), values(n, 0.2), vec![0.5; n]);
        let (mut p2, mut m2, mut v2) = (p1.clone(), m1.clone(), v1.clone());
        let (mut p3, mut m3, mut v3) = (p1.clone(), m1.clone(), v1.clone());
        let step = AdamStep {
            step_size: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        };
        adam(&mut p1, &grads, &mut m1, &mut v1, step);
        adam_on(&workers, &mut p2, &grads, &mut m2, &mut v2, step);
        // the plain loop, compiled for the baseline vector width
        let buffers = AdamBuffers {
            params: &mut p3,
            grads: &grads,
            m: &mut m3,
            v: &mut v3,
        };
        adam_loop(buffers, step);
        for (p, m, v) in [(&p2, &m2, &v2), (&p3, &m3, &v3)] {
            assert_eq!(bits(&p1), bits(p));
            assert_eq!(bits(&m1), bits(m));
            assert_eq!(bits(&v1), bits(v));
        }

        let (features, count) = (7, 20);
        let pixels = (0..features * count)
            .map(|i| (i * 37 % 256) as u8)
            .collect();
        let labels: Vec<Label> = (0..count).map(|i| (i % 10) as Label).collect();
        let samples = Samples::pixels(pixels, labels, features).expect("samples");
        let order: Vec<u32> = (0..11).map(|i| (i * 7 % count) as u32).collect();
        let (mut x1, mut l1) = (vec![f32::NAN; 16 * features], vec![Label::MAX; 16]);
        let (mut x2, mut l2) = (x1.clone(), l1.clone());
        gather(&samples, &order, &mut x1, &mut l1);
        gather_on(&workers, &samples, &order, &mut x2, &mut l2);
        assert_eq!(bits(&x1[..11 * features]), bits(&x2[..11 * features]));
        assert_eq!(l1, l2);
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn adam_two_steps_by_hand() {
        // One parameter, g = 0.5 then g = -0.25, lr 0.1, Keras defaults.
        let opt = crate::model::optimizer::Optimizer::adam(0.1);
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-7f64);
        let mut p = [1.0f32];
        let (mut m, mut v) = ([0.0f32], [0.0f32]);
        let keras = |step_size| AdamStep {
            step_size,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        };
        adam(&mut p, &[0.5], &mut m, &mut v, keras(opt.step_size(1)));
        // m1 = 0.05, v1 = 0.00025, α1 = 0.1·sqrt(0.001)/0.1 = sqrt(0.001)
        let (m1, v1) = (0.05f64, 0.00025f64);
        let a1 = 0.1 * (1.0 - b2).sqrt() / (1.0 - b1);
        let p1 = 1.0 - a1 * m1 / (v1.sqrt() + eps);
        assert!((p[0] as f64 - p1).abs() < 1e-6, "{} vs {p1}", p[0]);
        adam(&mut p, &[-0.25], &mut m, &mut v, keras(opt.step_size(2)));
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
        let labels: [Label; 3] = [1, 1, 2];
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
