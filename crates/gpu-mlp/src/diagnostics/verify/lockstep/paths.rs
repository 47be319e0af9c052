//! The kernel paths a lockstep run's training steps and evaluation take (`kernels::paths`),
//! from what it trains: the model, the optimizer and schedule, the rows and the batch.

use crate::data::{Inputs, Samples};
use crate::engine::gpu::kernels::gather::path as ga;
use crate::engine::gpu::kernels::matmul::{path as mm, Epilogue};
use crate::engine::gpu::kernels::optimizer::path as op;
use crate::engine::gpu::kernels::paths::Path;
use crate::engine::gpu::kernels::softmax_cross_entropy::path as sm;
use crate::model::dropout::DropoutMask;
use crate::model::optimizer::Optimizer;
use crate::model::ModelSpec;
use crate::training::schedule::LrSchedule;

/// The paths of `steps` training steps of `batch` rows of `data` (then an evaluation from an
/// offset), as [`Path::id`]s.
pub fn run_paths(
    spec: &ModelSpec,
    optimizer: &Optimizer,
    schedule: &LrSchedule,
    data: &Samples,
    batch: usize,
    steps: usize,
) -> Vec<String> {
    let mask = DropoutMask::new(spec.dropout);
    let hidden = spec.layers().len() > 1;
    let rule = match optimizer {
        Optimizer::Sgd { .. } => op::SGD,
        Optimizer::Adam { weight_decay, .. } if *weight_decay != 0.0 => op::ADAMW,
        Optimizer::Adam { .. } => op::ADAM,
    };
    let input = match (&data.inputs, data.features % 4) {
        (Inputs::Values(_), _) => ga::VALUES,
        (Inputs::Pixels(_), 0) => ga::PIXEL_WORDS,
        (Inputs::Pixels(_), _) => ga::PIXEL_BYTES,
    };
    // A short last batch runs when an epoch ends within the steps on a partial batch.
    let short = !data.count.is_multiple_of(batch) && steps >= data.count.div_ceil(batch);
    let paths: [Option<Path>; 20] = [
        Some(ga::THROUGH_ORDER),
        Some(ga::DIRECT_FROM_OFFSET),
        Some(input),
        (data.features == 784).then_some(ga::GREY_WIDTH),
        (data.features == 3072).then_some(ga::RGB_WIDTH),
        data.labels
            .iter()
            .any(|&l| l > 255)
            .then_some(ga::LABELS_ABOVE_255),
        short.then_some(ga::SHORT_BATCH),
        Some(mm::A_B),
        Some(mm::AT_B),
        Some(mm::BIAS),
        Some(mm::STEP_ROWS_M),
        Some(mm::STEP_ROWS_K),
        Some(mm::ONES_ROW),
        hidden.then_some(mm::epilogue(Epilogue::forward(false, true, spec.dropout))),
        (hidden && spec.dropout > 0.0)
            .then(|| mm::dropout_rate(mask))
            .flatten(),
        hidden.then_some(mm::RELU_MASK),
        (hidden && mask.scale != 1.0).then_some(mm::RELU_MASK_SCALED),
        Some(rule),
        schedule.varies().then_some(op::SCHEDULED),
        short.then_some(mm::SHORT_BATCH),
    ];
    let mut ids: Vec<String> = paths.into_iter().flatten().map(|p| p.id()).collect();
    ids.extend([sm::TRAINING, sm::EVALUATION, sm::SLOT].map(|p| p.id()));
    if hidden {
        ids.push(mm::A_BT.id());
        // Evaluation runs the hidden layers without dropout.
        ids.push(mm::BIAS_RELU.id());
    }
    ids.sort();
    ids.dedup();
    ids
}
