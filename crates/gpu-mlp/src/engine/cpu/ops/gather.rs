//! Building a batch from the resident samples in the epoch's order: the gather kernel's twin.

use super::INV_255;
use crate::data::{Inputs, Label, Samples};
use crate::engine::cpu::workers::Workers;
use rayon::prelude::*;

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
