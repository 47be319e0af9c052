//! The three matrix products and their fused epilogues (bias, ReLU, dropout): the twins of
//! the GPU's matmul kernel, through `matrixmultiply`, split across the workers.

use super::{dropout_segment, relu_dropout_backward_segment};
use crate::engine::cpu::workers::Workers;
use crate::model::dropout::DropoutMask;

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
