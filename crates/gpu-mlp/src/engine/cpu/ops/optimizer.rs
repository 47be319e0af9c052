//! Adam (Keras's or PyTorch's ε), decoupled weight decay and SGD: the optimizer kernel's twin.

use crate::engine::cpu::workers::Workers;
use rayon::prelude::*;

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
pub(super) struct AdamBuffers<'a> {
    pub(super) params: &'a mut [f32],
    pub(super) grads: &'a [f32],
    pub(super) m: &'a mut [f32],
    pub(super) v: &'a mut [f32],
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
pub(super) fn adam_loop(b: AdamBuffers, s: AdamStep) {
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
