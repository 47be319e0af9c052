//! The CPU engine: the reference the GPU is checked against, and a fast trainer where no GPU
//! exists. Every buffer is allocated once at construction; a training step allocates nothing.

pub mod flush;
pub mod ops;
pub mod workers;

use crate::data::{Label, Samples};
use crate::engine::{Engine, EpochPlan, Evaluation, OptimizerState, Split, StepMetrics};
use crate::error::{ConfigError, Result};
use crate::model::dropout::DropoutMask;
use crate::model::optimizer::Optimizer;
use crate::model::{DenseLayer, ModelSpec};
use ops::StepDropout;
use std::ops::Range;
use std::sync::Arc;
use workers::Workers;

/// Rows per chunk when evaluating (bounds scratch memory; any value gives the same numbers).
const EVAL_CHUNK: usize = 1000;
/// The most an evaluation chunk's scratch memory may take: a model of a million inputs
/// evaluates a few rows at a time instead of asking for gigabytes.
const EVAL_BYTES: u64 = 64 << 20;

/// Rows per evaluation chunk of `spec`: 1000, fewer (at least 1) where their scratch memory
/// would pass 64 MiB. The memory check counts these rows.
pub fn eval_rows(spec: &ModelSpec) -> usize {
    let per_row = spec.memory_bytes(0, 1).max(1);
    usize::try_from(EVAL_BYTES / per_row).map_or(EVAL_CHUNK, |rows| rows.clamp(1, EVAL_CHUNK))
}

/// Training steps run on the workers between two progress reports to the caller.
const STEPS_PER_REPORT: usize = 64;

/// Activations and gradients for up to `rows` samples.
struct Workspace {
    rows: usize,
    /// `acts[0]` is the input batch, `acts[i]` the output of dense layer `i-1` (after ReLU and
    /// dropout for hidden layers; logits for the last).
    acts: Vec<Vec<f32>>,
    /// `deltas[i]`: gradient of the loss w.r.t. the pre-activation of dense layer `i`.
    deltas: Vec<Vec<f32>>,
    labels: Vec<Label>,
}

impl Workspace {
    fn new(spec: &ModelSpec, rows: usize) -> Self {
        let widths = spec.widths();
        Self {
            rows,
            acts: widths.iter().map(|w| vec![0.0; rows * w]).collect(),
            deltas: widths[1..].iter().map(|w| vec![0.0; rows * w]).collect(),
            labels: vec![0; rows],
        }
    }
}

pub struct CpuEngine {
    spec: ModelSpec,
    layers: Vec<DenseLayer>,
    optimizer: Optimizer,
    mask: DropoutMask,
    params: Vec<f32>,
    grads: Vec<f32>,
    moment1: Vec<f32>,
    moment2: Vec<f32>,
    train: Samples,
    test: Samples,
    batch: Workspace,
    eval: Option<Workspace>,
    workers: Arc<Workers>,
}

impl CpuEngine {
    /// An engine for `spec` starting from `parameters` (flat layout of [`ModelSpec::layers`],
    /// e.g. [`ModelSpec::init_parameters`]) that trains with batches of at most `max_batch` rows,
    /// on `GPU_MLP_CPU_THREADS` threads (default: the machine's hardware threads). An engine
    /// always holds parameters: none at all would train a dead network without a word.
    pub fn new(
        spec: &ModelSpec,
        parameters: &[f32],
        optimizer: Optimizer,
        max_batch: usize,
    ) -> Result<Self> {
        Self::with_threads(
            spec,
            parameters,
            optimizer,
            max_batch,
            Workers::default_threads()?,
        )
    }

    /// `new` with an explicit thread count. The results do not depend on it.
    pub fn with_threads(
        spec: &ModelSpec,
        parameters: &[f32],
        optimizer: Optimizer,
        max_batch: usize,
        threads: usize,
    ) -> Result<Self> {
        crate::engine::check_max_batch(max_batch)?;
        spec.check_parameters(parameters)?;
        let n = spec.parameter_count();
        Ok(Self {
            layers: spec.layers(),
            mask: DropoutMask::new(spec.dropout),
            optimizer,
            params: parameters.to_vec(),
            grads: vec![0.0; n],
            moment1: vec![0.0; n],
            moment2: vec![0.0; n],
            train: Samples::default(),
            test: Samples::default(),
            batch: Workspace::new(spec, max_batch),
            eval: None,
            workers: Workers::shared(threads)?,
            spec: spec.clone(),
        })
    }

    /// The gradient buffer of the last step (flat layout), for gradient checks.
    pub fn gradients(&self) -> &[f32] {
        &self.grads
    }

    /// Forward and backward pass on `x` (`rows × inputs`, already normalised) with `labels`,
    /// leaving the gradients in `gradients()`. Dropout uses `dropout_seed` when the spec has it.
    /// Returns the batch's metrics. This is one training step without the update.
    pub fn forward_backward(
        &mut self,
        x: &[f32],
        labels: &[Label],
        dropout_seed: u32,
    ) -> StepMetrics {
        let rows = labels.len();
        assert!(
            rows <= self.batch.rows,
            "batch of {rows} rows, engine built for {}",
            self.batch.rows
        );
        self.batch.acts[0][..x.len()].copy_from_slice(x);
        self.batch.labels[..rows].copy_from_slice(labels);
        let workers = Arc::clone(&self.workers);
        workers.run(|| self.step_on_workspace(rows, dropout_seed))
    }

    fn step_on_workspace(&mut self, rows: usize, dropout_seed: u32) -> StepMetrics {
        let Self {
            layers,
            params,
            grads,
            batch,
            mask,
            spec,
            workers,
            ..
        } = self;
        let last = layers.len() - 1;
        let dropout_on = spec.dropout > 0.0;
        let dropout = dropout_on.then_some((*mask, dropout_seed));
        forward(workers, layers, params, batch, rows, dropout);
        let classes = layers[last].fan_out;
        let metrics = ops::softmax_cross_entropy(
            &batch.acts[last + 1],
            &batch.labels,
            rows,
            classes,
            1.0 / rows as f32,
            &mut batch.deltas[last],
        );
        let scale = if dropout_on { mask.scale } else { 1.0 };
        for (l, layer) in layers.iter().enumerate().rev() {
            let (w_grad, rest) = grads[layer.weight_offset..].split_at_mut(layer.weight_len());
            ops::weight_gradient_on(
                workers,
                &batch.acts[l],
                &batch.deltas[l],
                w_grad,
                rows,
                layer.fan_in,
                layer.fan_out,
            );
            ops::column_sums(
                &batch.deltas[l],
                rows,
                layer.fan_out,
                &mut rest[..layer.fan_out],
            );
            if l > 0 {
                let (below, this) = batch.deltas.split_at_mut(l);
                ops::input_gradient_on(
                    workers,
                    &this[0],
                    layer.weights(params),
                    &batch.acts[l],
                    &mut below[l - 1],
                    rows,
                    layer.fan_in,
                    layer.fan_out,
                    scale,
                );
            }
        }
        metrics
    }

    fn apply_update(&mut self, step_size: f32) {
        match self.optimizer {
            Optimizer::Adam {
                beta1,
                beta2,
                epsilon,
                ..
            } => ops::adam_on(
                &self.workers,
                &mut self.params,
                &self.grads,
                &mut self.moment1,
                &mut self.moment2,
                ops::AdamStep {
                    step_size,
                    beta1,
                    beta2,
                    epsilon,
                },
            ),
            Optimizer::Sgd { .. } => ops::sgd(&mut self.params, &self.grads, step_size),
        }
    }

    /// Class probabilities for already-normalised inputs (`rows × inputs`).
    pub fn predict_probabilities(&mut self, x: &[f32]) -> Vec<f32> {
        let inputs = self.spec.inputs;
        let classes = self.spec.classes;
        let rows = x.len() / inputs;
        let mut out = vec![0.0; rows * classes];
        let ws = self
            .eval
            .get_or_insert_with(|| Workspace::new(&self.spec, eval_rows(&self.spec)));
        let chunk = ws.rows;
        for start in (0..rows).step_by(chunk) {
            let n = (rows - start).min(chunk);
            ws.acts[0][..n * inputs].copy_from_slice(&x[start * inputs..(start + n) * inputs]);
            let (layers, params) = (&self.layers, &self.params);
            self.workers
                .run(|| forward(&self.workers, layers, params, ws, n, None));
            let logits = &ws.acts[self.layers.len()];
            for r in 0..n {
                ops::softmax(
                    &logits[r * classes..(r + 1) * classes],
                    &mut out[(start + r) * classes..(start + r + 1) * classes],
                );
            }
        }
        out
    }
}

/// Forward pass over the first `rows` rows of `ws.acts[0]`, on the workers; with `dropout`
/// (the mask and the step's seed) every hidden layer's output is dropped as in training.
fn forward(
    workers: &Workers,
    layers: &[DenseLayer],
    params: &[f32],
    ws: &mut Workspace,
    rows: usize,
    dropout: Option<(DropoutMask, u32)>,
) {
    let last = layers.len() - 1;
    for (l, layer) in layers.iter().enumerate() {
        let (inputs, outputs) = ws.acts.split_at_mut(l + 1);
        let hidden = l < last;
        ops::dense_forward_on(
            workers,
            &inputs[l],
            layer.weights(params),
            layer.bias(params),
            &mut outputs[0],
            rows,
            layer.fan_in,
            layer.fan_out,
            hidden,
            dropout.filter(|_| hidden).map(|(mask, seed)| StepDropout {
                mask,
                layer: l as u32,
                seed,
            }),
        );
    }
}

impl Engine for CpuEngine {
    fn describe(&self) -> String {
        match self.workers.threads() {
            1 => "cpu (matrixmultiply, 1 thread)".to_string(),
            n => format!("cpu (matrixmultiply, {n} threads)"),
        }
    }

    fn load_split(&mut self, split: Split, samples: &Samples) -> Result<()> {
        if samples.features != self.spec.inputs {
            return Err(ConfigError::new(format!(
                "the data has {} features per sample, the model expects {}",
                samples.features, self.spec.inputs
            ))
            .into());
        }
        match split {
            Split::Train => self.train = samples.clone(),
            Split::Test => self.test = samples.clone(),
        }
        Ok(())
    }

    fn set_parameters(&mut self, params: &[f32]) -> Result<()> {
        self.spec.check_parameters(params)?;
        self.params.copy_from_slice(params);
        self.moment1.fill(0.0);
        self.moment2.fill(0.0);
        Ok(())
    }

    fn parameters(&mut self) -> Result<Vec<f32>> {
        Ok(self.params.clone())
    }

    fn optimizer_state(&mut self) -> Result<OptimizerState> {
        Ok(OptimizerState {
            moment1: self.moment1.clone(),
            moment2: self.moment2.clone(),
        })
    }

    fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<()> {
        state.check(&self.spec)?;
        self.moment1.copy_from_slice(&state.moment1);
        self.moment2.copy_from_slice(&state.moment2);
        Ok(())
    }

    fn train_epoch(
        &mut self,
        plan: &EpochPlan,
        progress: &mut dyn FnMut(usize, &[StepMetrics]),
    ) -> Result<Vec<StepMetrics>> {
        plan.check(self.train.count, self.batch.rows)?;
        let mut all = Vec::with_capacity(plan.steps.len());
        let workers = Arc::clone(&self.workers);
        for chunk in plan.steps.chunks(STEPS_PER_REPORT) {
            let done = all.len();
            workers.run(|| {
                for step in chunk {
                    let rows = step.len as usize;
                    let order = &plan.order[step.start as usize..step.start as usize + rows];
                    ops::gather_on(
                        &self.workers,
                        &self.train,
                        order,
                        &mut self.batch.acts[0],
                        &mut self.batch.labels,
                    );
                    let metrics = self.step_on_workspace(rows, step.dropout_seed);
                    if step.decay != 0.0 {
                        ops::decay(&mut self.params, step.decay);
                    }
                    self.apply_update(step.step_size);
                    all.push(metrics);
                }
            });
            progress(all.len(), &all[done..]);
        }
        Ok(all)
    }

    fn evaluate(&mut self, split: Split, rows: Range<usize>) -> Result<Evaluation> {
        let samples = match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        };
        if rows.end > samples.count {
            return Err(ConfigError::new(format!(
                "evaluation rows {rows:?} exceed the {} samples loaded",
                samples.count
            ))
            .into());
        }
        let ws = self
            .eval
            .get_or_insert_with(|| Workspace::new(&self.spec, eval_rows(&self.spec)));
        let classes = self.spec.classes;
        let mut result = Evaluation {
            count: rows.len(),
            ..Default::default()
        };
        result.predictions.reserve(rows.len());
        let mut start = rows.start;
        while start < rows.end {
            let n = (rows.end - start).min(ws.rows);
            let order: Vec<u32> = (start as u32..(start + n) as u32).collect();
            ops::gather(samples, &order, &mut ws.acts[0], &mut ws.labels);
            let (layers, params) = (&self.layers, &self.params);
            self.workers
                .run(|| forward(&self.workers, layers, params, ws, n, None));
            let logits = &ws.acts[self.layers.len()];
            for r in 0..n {
                let label = ws.labels[r] as usize;
                let (loss, predicted) =
                    ops::softmax_cross_entropy_row(&logits[r * classes..(r + 1) * classes], label);
                result.loss_sum += loss as f64;
                result.correct += (predicted == label) as usize;
                result.predictions.push(predicted as u32);
            }
            start += n;
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::training::EpochPlanner;

    /// 150 steps of the quickstart shape with dropout, at batch 100 (ragged last batch), on
    /// `threads` workers: the parameters, the step metrics and a test evaluation.
    fn train(threads: usize) -> (Vec<u32>, Vec<StepMetrics>, Evaluation) {
        let (count, features) = (1000, 784);
        let samples = Samples {
            inputs: crate::data::Inputs::Pixels(
                (0..count * features)
                    .map(|i| ((i * 2_654_435_761usize) >> 7) as u8)
                    .collect(),
            ),
            labels: (0..count).map(|i| (i * 7 % 10) as Label).collect(),
            count,
            features,
        };
        let spec = ModelSpec::new(features, vec![128, 64], 10, 0.2).expect("spec");
        let optimizer = Optimizer::adam(1e-3);
        let mut engine =
            CpuEngine::with_threads(&spec, &spec.init_parameters(5), optimizer, 96, threads)
                .expect("engine");
        engine.load_split(Split::Train, &samples).expect("train");
        engine.load_split(Split::Test, &samples).expect("test");
        let mut planner = EpochPlanner::new(3, count, 96, optimizer);
        let mut metrics = Vec::new();
        for _ in 0..14 {
            let plan = planner.next_epoch();
            metrics.extend(engine.train_epoch(&plan, &mut |_, _| {}).expect("epoch"));
        }
        let params = engine.parameters().expect("parameters");
        let evaluation = engine.evaluate(Split::Test, 0..count).expect("evaluate");
        (
            params.iter().map(|p| p.to_bits()).collect(),
            metrics,
            evaluation,
        )
    }

    /// Adam's moments of an input that is never active decay by β₁ per step; from the smallest
    /// normal float the next step would be subnormal, and the engine's workers make it 0.
    #[test]
    fn decaying_moments_are_flushed_to_zero_not_subnormal() {
        let (count, features) = (64, 20);
        let samples = Samples {
            // feature 0 is always 0, so its weights' gradients are exactly 0
            inputs: crate::data::Inputs::Pixels(
                (0..count * features)
                    .map(|i| {
                        if i % features == 0 {
                            0
                        } else {
                            (i * 37 % 251) as u8
                        }
                    })
                    .collect(),
            ),
            labels: (0..count).map(|i| (i % 3) as Label).collect(),
            count,
            features,
        };
        let spec = ModelSpec::new(features, vec![8], 3, 0.0).expect("spec");
        let optimizer = Optimizer::adam(1e-3);
        for threads in [1, 2] {
            let init = spec.init_parameters(1);
            let mut engine =
                CpuEngine::with_threads(&spec, &init, optimizer, 16, threads).expect("engine");
            engine.load_split(Split::Train, &samples).expect("train");
            engine.moment1.fill(f32::MIN_POSITIVE);
            let plan = EpochPlanner::new(1, count, 16, optimizer).next_epoch();
            engine.train_epoch(&plan, &mut |_, _| {}).expect("epoch");
            let first_row = &engine.moment1[engine.layers[0].weight_offset..][..8];
            assert_eq!(first_row, &[0.0; 8], "moments of the silent input");
            let subnormal = engine.moment1.iter().filter(|m| m.is_subnormal()).count();
            assert_eq!(
                subnormal, 0,
                "{subnormal} subnormal moments on {threads} threads"
            );
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let (params, metrics, evaluation) = train(1);
        for threads in [2, 3] {
            let (p, m, e) = train(threads);
            assert!(p == params, "parameters differ with {threads} threads");
            assert_eq!(m, metrics, "step metrics differ with {threads} threads");
            assert_eq!(e.loss_sum.to_bits(), evaluation.loss_sum.to_bits());
            assert_eq!(e.predictions, evaluation.predictions);
        }
    }
}
