//! The CPU engine: the reference the GPU is checked against, and a fast trainer where no GPU
//! exists. Every buffer is allocated once at construction; a training step allocates nothing.

pub mod ops;

use crate::data::Samples;
use crate::dropout::DropoutMask;
use crate::engine::{Engine, EpochPlan, Evaluation, Split, StepMetrics};
use crate::error::{ConfigError, Result};
use crate::model::{DenseLayer, ModelSpec};
use crate::optimizer::Optimizer;
use std::ops::Range;

/// Rows per chunk when evaluating (bounds scratch memory; any value gives the same numbers).
const EVAL_CHUNK: usize = 1000;

/// Activations and gradients for up to `rows` samples.
struct Workspace {
    rows: usize,
    /// `acts[0]` is the input batch, `acts[i]` the output of dense layer `i-1` (after ReLU and
    /// dropout for hidden layers; logits for the last).
    acts: Vec<Vec<f32>>,
    /// `deltas[i]`: gradient of the loss w.r.t. the pre-activation of dense layer `i`.
    deltas: Vec<Vec<f32>>,
    labels: Vec<u8>,
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
}

impl CpuEngine {
    /// An engine for `spec` that trains with batches of at most `max_batch` rows.
    pub fn new(spec: &ModelSpec, optimizer: Optimizer, max_batch: usize) -> Result<Self> {
        if max_batch == 0 {
            return Err(ConfigError::new("--batch-size must be at least 1").into());
        }
        let n = spec.parameter_count();
        Ok(Self {
            layers: spec.layers(),
            mask: DropoutMask::new(spec.dropout),
            optimizer,
            params: vec![0.0; n],
            grads: vec![0.0; n],
            moment1: vec![0.0; n],
            moment2: vec![0.0; n],
            train: Samples::default(),
            test: Samples::default(),
            batch: Workspace::new(spec, max_batch),
            eval: None,
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
    pub fn forward_backward(&mut self, x: &[f32], labels: &[u8], dropout_seed: u32) -> StepMetrics {
        let rows = labels.len();
        assert!(
            rows <= self.batch.rows,
            "batch of {rows} rows, engine built for {}",
            self.batch.rows
        );
        self.batch.acts[0][..x.len()].copy_from_slice(x);
        self.batch.labels[..rows].copy_from_slice(labels);
        self.step_on_workspace(rows, dropout_seed)
    }

    fn step_on_workspace(&mut self, rows: usize, dropout_seed: u32) -> StepMetrics {
        let Self {
            layers,
            params,
            grads,
            batch,
            mask,
            spec,
            ..
        } = self;
        let last = layers.len() - 1;
        let dropout_on = spec.dropout > 0.0;
        for (l, layer) in layers.iter().enumerate() {
            let (inputs, outputs) = batch.acts.split_at_mut(l + 1);
            let z = &mut outputs[0];
            ops::dense_forward(
                &inputs[l],
                layer.weights(params),
                layer.bias(params),
                z,
                rows,
                layer.fan_in,
                layer.fan_out,
                l < last,
            );
            if l < last && dropout_on {
                ops::dropout(z, rows, layer.fan_out, l as u32, dropout_seed, *mask);
            }
        }
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
            ops::matmul_at_b(
                &batch.acts[l],
                &batch.deltas[l],
                w_grad,
                layer.fan_in,
                rows,
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
                let d_in = &mut below[l - 1];
                ops::matmul_a_bt(
                    &this[0],
                    layer.weights(params),
                    d_in,
                    rows,
                    layer.fan_out,
                    layer.fan_in,
                );
                ops::relu_dropout_backward(d_in, &batch.acts[l], rows, layer.fan_in, scale);
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
            } => ops::adam(
                &mut self.params,
                &self.grads,
                &mut self.moment1,
                &mut self.moment2,
                step_size,
                beta1,
                beta2,
                epsilon,
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
            .get_or_insert_with(|| Workspace::new(&self.spec, EVAL_CHUNK));
        for start in (0..rows).step_by(EVAL_CHUNK) {
            let n = (rows - start).min(EVAL_CHUNK);
            ws.acts[0][..n * inputs].copy_from_slice(&x[start * inputs..(start + n) * inputs]);
            forward_inference(&self.layers, &self.params, ws, n);
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

/// Forward pass without dropout over the first `rows` rows of `ws.acts[0]`.
fn forward_inference(layers: &[DenseLayer], params: &[f32], ws: &mut Workspace, rows: usize) {
    let last = layers.len() - 1;
    for (l, layer) in layers.iter().enumerate() {
        let (inputs, outputs) = ws.acts.split_at_mut(l + 1);
        ops::dense_forward(
            &inputs[l],
            layer.weights(params),
            layer.bias(params),
            &mut outputs[0],
            rows,
            layer.fan_in,
            layer.fan_out,
            l < last,
        );
    }
}

impl Engine for CpuEngine {
    fn describe(&self) -> String {
        let threads = std::env::var("MATMUL_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok());
        match threads {
            Some(t) => format!("cpu (matrixmultiply, {t} threads)"),
            None => "cpu (matrixmultiply)".to_string(),
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

    fn train_epoch(
        &mut self,
        plan: &EpochPlan,
        progress: &mut dyn FnMut(usize, &[StepMetrics]),
    ) -> Result<Vec<StepMetrics>> {
        let mut all = Vec::with_capacity(plan.steps.len());
        for (i, step) in plan.steps.iter().enumerate() {
            let rows = step.len as usize;
            if rows > self.batch.rows {
                return Err(ConfigError::new(format!(
                    "a step of {rows} rows exceeds the engine's batch size {}",
                    self.batch.rows
                ))
                .into());
            }
            let order = &plan.order[step.start as usize..step.start as usize + rows];
            ops::gather(
                &self.train.images,
                &self.train.labels,
                self.train.features,
                order,
                &mut self.batch.acts[0],
                &mut self.batch.labels,
            );
            let metrics = self.step_on_workspace(rows, step.dropout_seed);
            self.apply_update(step.step_size);
            all.push(metrics);
            progress(i + 1, std::slice::from_ref(&metrics));
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
            .get_or_insert_with(|| Workspace::new(&self.spec, EVAL_CHUNK));
        let classes = self.spec.classes;
        let mut result = Evaluation {
            count: rows.len(),
            ..Default::default()
        };
        result.predictions.reserve(rows.len());
        let mut start = rows.start;
        while start < rows.end {
            let n = (rows.end - start).min(EVAL_CHUNK);
            let order: Vec<u32> = (start as u32..(start + n) as u32).collect();
            ops::gather(
                &samples.images,
                &samples.labels,
                samples.features,
                &order,
                &mut ws.acts[0],
                &mut ws.labels,
            );
            forward_inference(&self.layers, &self.params, ws, n);
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
