//! The batch gather in the kernel grid: pixels on and across words, f32 values, grey and RGB
//! widths, rows through the order and direct from an offset, labels above 255, short batches.

use super::{past_the_batch, poison, Checker};
use crate::data::{Inputs, Label, Samples};
use crate::engine::cpu::ops;
use crate::engine::gpu::kernels::gather::path as ga;
use crate::engine::gpu::kernels::{RowSource, StepRecord};
use rand::Rng;

/// One gather check: `batch` rows (and `spare` unused rows of the batch buffer) of `count`
/// samples of `features` inputs, through the order or `direct`, pixels or `values`.
#[derive(Clone, Copy)]
pub(super) struct GatherCase {
    count: usize,
    features: usize,
    batch: usize,
    spare: usize,
    direct: bool,
    values: bool,
}

impl GatherCase {
    pub(super) fn new(count: usize, features: usize, batch: usize) -> Self {
        Self {
            count,
            features,
            batch,
            spare: 0,
            direct: false,
            values: false,
        }
    }

    pub(super) fn direct(self) -> Self {
        Self {
            direct: true,
            ..self
        }
    }

    pub(super) fn values(self) -> Self {
        Self {
            values: true,
            ..self
        }
    }

    pub(super) fn spare(self, spare: usize) -> Self {
        Self { spare, ..self }
    }
}

impl Checker<'_> {
    /// The batch gather through a shuffled order from position 1 (or directly from sample 1,
    /// as evaluation reads from an offset), of u8 pixels normalised to [0, 1] or of f32
    /// values: bit for bit, labels included (drawn from 300 classes, so labels above a byte are
    /// checked too); with `spare` rows of the batch buffer past the step (a short last batch),
    /// which must stay unwritten.
    pub(super) fn gather(&mut self, g: GatherCase, case: &str) {
        let GatherCase {
            count,
            features,
            batch,
            spare,
            direct,
            values,
        } = g;
        let kernel = match (direct, values) {
            (false, false) => "gather",
            (true, false) => "gather direct",
            (false, true) => "gather values",
            (true, true) => "gather direct values",
        };
        let shape = format!("batch {batch} (+{spare}) of {count}x{features}{case}");
        let images = if values {
            Inputs::Values(self.vec(count * features))
        } else {
            Inputs::Pixels(self.bytes(count * features, 256))
        };
        let labels: Vec<Label> = (0..count).map(|_| self.rng.random_range(0..300)).collect();
        let order = crate::training::shuffled_rows(count, &mut self.rng);
        let start = (count - batch).min(1);
        let step = StepRecord {
            start: start as u32,
            len: batch as u32,
            row_source: RowSource::direct_if(direct).into(),
            ..Default::default()
        };
        let rows: Vec<u32> = if direct {
            (start as u32..(start + batch) as u32).collect()
        } else {
            order[start..start + batch].to_vec()
        };
        let input_path = match (values, features % 4) {
            (true, _) => ga::VALUES,
            (false, 0) => ga::PIXEL_WORDS,
            (false, _) => ga::PIXEL_BYTES,
        };
        let big_label = rows.iter().any(|&r| labels[r as usize] > 255);
        self.runs([
            Some(input_path),
            (features == 784).then_some(ga::GREY_WIDTH),
            (features == 3072).then_some(ga::RGB_WIDTH),
            (!direct).then_some(ga::THROUGH_ORDER),
            (direct && start > 0).then_some(ga::DIRECT_FROM_OFFSET),
            big_label.then_some(ga::LABELS_ABOVE_255),
            (spare > 0).then_some(ga::SHORT_BATCH),
        ]);
        let head = batch * features;
        let got = self.lab.gather(
            &images,
            &labels,
            features,
            &order,
            &step,
            &poison(head + spare * features),
        );
        let mut want_x = poison(head);
        let mut want_y = vec![0; batch];
        let samples = Samples {
            inputs: images,
            labels,
            count,
            features,
        };
        ops::gather(&samples, &rows, &mut want_x, &mut want_y);
        match got {
            Ok((mut x, y)) => {
                let wrong = y
                    .iter()
                    .zip(&want_y)
                    .filter(|(g, w)| **g != **w as u32)
                    .count();
                let mut problems: Vec<String> = past_the_batch(&x, head).into_iter().collect();
                if wrong > 0 {
                    problems.push(format!("{wrong} labels differ"));
                }
                x.truncate(head);
                let problem = (!problems.is_empty()).then(|| problems.join("; "));
                self.compare(kernel, &shape, None, x, &want_x, 0.0, problem)
            }
            Err(e) => self.device_error(kernel, &shape, None, e),
        }
    }
}
