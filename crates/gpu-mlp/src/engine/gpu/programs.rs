//! The recorded work of an engine: the dispatch lists of a training step and of the evaluation
//! batches of each split, and the step table, metric slots and readback buffers they run on.
//! `StepPrograms` exists only once all of them are built, so running needs no checks.

use super::buffers::{self, STORAGE};
use super::dispatch::{self, Dispatch};
use super::kernels::gather::{Gather, GatherBindings};
use super::kernels::matmul::{Epilogue, MatmulBindings, MatmulCall, Product, Transpose};
use super::kernels::optimizer::{OptimizerBindings, OptimizerParams, OptimizerUpdate};
use super::kernels::softmax_cross_entropy::{SoftmaxBindings, SoftmaxCrossEntropy, SoftmaxParams};
use super::kernels::{StepRecord, STEP_RECORD_BYTES};
use super::resources::{EngineResources, ResidentSplit};
use crate::error::GpuError;
use crate::model::DenseLayer;
use std::ops::Range;

/// Every matrix product an engine runs, at its largest m: forward at the training and the
/// evaluation batch, the weight gradient (with the bias row) and the input gradient of every
/// layer but the first.
pub fn products(layers: &[DenseLayer], max_batch: usize, eval_batch: usize) -> Vec<Product> {
    let mut out = Vec::new();
    for rows in [max_batch, eval_batch] {
        for l in layers {
            out.push(Product::new(Transpose::None, rows, l.fan_in, l.fan_out));
        }
    }
    for (i, l) in layers.iter().enumerate() {
        out.push(Product::new(
            Transpose::A,
            l.fan_in + 1,
            max_batch,
            l.fan_out,
        ));
        if i > 0 {
            out.push(Product::new(Transpose::B, max_batch, l.fan_out, l.fan_in));
        }
    }
    out
}

/// Per-step and per-batch tables, slots and readback buffers, sized for an epoch.
pub struct StepTables {
    /// Step records at `stride`: training steps first, then evaluation batches.
    pub steps: wgpu::Buffer,
    /// Bytes between records (the record size rounded up to the dynamic-offset alignment).
    pub stride: u64,
    /// (loss sum, correct) per training step, then per evaluation batch.
    pub slots: wgpu::Buffer,
    /// Training steps the tables hold (their records and slots come first).
    pub train_steps: usize,
    /// Evaluation batches the tables hold, after the training steps.
    pub eval_batches: usize,
    /// Two MAP_READ buffers for chunked metric readback.
    pub staging: [wgpu::Buffer; 2],
    /// Steps each staging buffer holds.
    pub staging_steps: usize,
}

/// An engine ready to run: its tables and the dispatch lists bound to them.
pub struct StepPrograms {
    pub tables: StepTables,
    /// A training step (empty without a training split).
    pub training_step: Vec<Dispatch>,
    /// An evaluation batch of the training split (empty when not loaded).
    pub evaluate_train: Vec<Dispatch>,
    /// An evaluation batch of the test split (empty when not loaded).
    pub evaluate_test: Vec<Dispatch>,
}

impl StepPrograms {
    /// Evaluation batches the splits of `engine` need.
    pub fn eval_batches(engine: &EngineResources) -> usize {
        let largest = engine.splits.largest();
        largest.div_ceil(engine.options.eval_batch).max(1)
    }

    /// True when the tables hold `train_steps` steps and the splits' evaluation batches.
    pub fn fits(&self, train_steps: usize, eval_batches: usize) -> bool {
        self.tables.train_steps >= train_steps && self.tables.eval_batches >= eval_batches
    }

    /// Tables for `train_steps` training steps and `eval_batches` evaluation batches, and every
    /// dispatch list of `engine` bound to them.
    pub fn new(
        engine: &EngineResources,
        train_steps: usize,
        eval_batches: usize,
    ) -> Result<Self, GpuError> {
        let ctx = &engine.device.ctx;
        let records = (train_steps + eval_batches) as u64;
        // Each record starts at a multiple of the dynamic-offset alignment.
        let stride = STEP_RECORD_BYTES
            .next_multiple_of(ctx.device.limits().min_uniform_buffer_offset_alignment as u64);
        if records * stride > ctx.device.limits().max_buffer_size {
            return Err(GpuError::Limit {
                adapter: ctx.info.name.clone(),
                what: crate::phrase![
                    format!(
                        "a step table of {records} steps does not fit in one buffer; use a \
                         larger "
                    ),
                    crate::setting::Setting::BatchSize
                ],
            });
        }
        let staging_steps = engine
            .options
            .steps_per_submit
            .min(train_steps)
            .max(eval_batches);
        let staging = || {
            buffers::zeroed(
                ctx,
                "metric readback",
                staging_steps as u64 * 8,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            )
        };
        let tables = StepTables {
            steps: buffers::zeroed(
                ctx,
                "step table",
                records * stride,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            ),
            stride,
            slots: buffers::zeroed(ctx, "metric slots", records * 8, STORAGE),
            train_steps,
            eval_batches,
            staging: [staging(), staging()],
            staging_steps,
        };
        let build = ProgramBuilder {
            engine,
            tables: &tables,
        };
        let max_batch = engine.max_batch;
        let eval_batch = engine.options.eval_batch;
        let (training_step, evaluate_train) = match &engine.splits.train {
            Some(r) => (
                build.training(r, max_batch)?,
                build.evaluation(r, eval_batch)?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        let evaluate_test = match &engine.splits.test {
            Some(r) => build.evaluation(r, eval_batch)?,
            None => Vec::new(),
        };
        Ok(Self {
            tables,
            training_step,
            evaluate_train,
            evaluate_test,
        })
    }

    /// Writes step records at record index `first`.
    pub fn write_records(&self, queue: &wgpu::Queue, first: usize, records: &[StepRecord]) {
        let stride = self.tables.stride as usize;
        let mut bytes = vec![0u8; records.len() * stride];
        for (i, r) in records.iter().enumerate() {
            bytes[i * stride..i * stride + STEP_RECORD_BYTES as usize]
                .copy_from_slice(bytemuck::bytes_of(r));
        }
        queue.write_buffer(
            &self.tables.steps,
            first as u64 * self.tables.stride,
            &bytes,
        );
    }

    /// Records `list` for each record index in `records` into one pass.
    pub fn record(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        list: &[Dispatch],
        records: Range<usize>,
    ) {
        dispatch::record(encoder, list, self.tables.stride, records)
    }
}

/// Builds dispatch lists of an engine against one set of tables.
struct ProgramBuilder<'a> {
    engine: &'a EngineResources,
    tables: &'a StepTables,
}

impl ProgramBuilder<'_> {
    fn matmul(
        &self,
        name: String,
        call: MatmulCall,
        bindings: MatmulBindings,
    ) -> Result<Dispatch, GpuError> {
        let device = &self.engine.device;
        let kernel = call.with_variant(device.variant(call.product())?);
        let steps = &self.tables.steps;
        Dispatch::new(
            &device.ctx,
            &device.pipelines,
            name,
            &kernel,
            &bindings,
            steps,
        )
    }

    /// Forward dispatches of every layer for batches of up to `rows` rows.
    fn forward(&self, rows: usize, training: bool) -> Result<Vec<Dispatch>, GpuError> {
        let model = &self.engine.model;
        let bufs = &self.engine.buffers;
        let last = model.layers.len() - 1;
        let mut out = Vec::new();
        for (l, layer) in model.layers.iter().enumerate() {
            let epilogue = Epilogue::forward(l == last, training, model.spec.dropout);
            out.push(self.matmul(
                format!("forward{l} {rows}x{}x{}", layer.fan_in, layer.fan_out),
                MatmulCall::forward(layer, l, rows, epilogue, model.dropout),
                MatmulBindings {
                    a: &bufs.acts[l],
                    b: &bufs.params,
                    c: &bufs.acts[l + 1],
                    aux: &bufs.acts[l],
                },
            )?);
        }
        Ok(out)
    }

    fn gather(&self, resident: &ResidentSplit, rows: usize) -> Result<Dispatch, GpuError> {
        let engine = self.engine;
        let bindings = GatherBindings {
            images: &resident.images,
            labels: &resident.labels,
            order: &engine.buffers.order,
            batch_inputs: &engine.buffers.acts[0],
            batch_labels: &engine.buffers.labels,
        };
        let kernel = Gather {
            params: resident.gather,
            max_rows: rows,
        };
        self.dispatch("gather", &kernel, &bindings)
    }

    /// A dispatch of a kernel without tile choice on the tables' step records.
    fn dispatch<K: super::kernels::Kernel>(
        &self,
        name: &str,
        kernel: &K,
        bindings: &K::Bindings<'_>,
    ) -> Result<Dispatch, GpuError> {
        let device = &self.engine.device;
        let steps = &self.tables.steps;
        Dispatch::new(
            &device.ctx,
            &device.pipelines,
            name,
            kernel,
            bindings,
            steps,
        )
    }

    fn softmax(&self, params: SoftmaxParams) -> Result<Dispatch, GpuError> {
        let bufs = &self.engine.buffers;
        let last = self.engine.model.layers.len();
        let bindings = SoftmaxBindings {
            logits: &bufs.acts[last],
            labels: &bufs.labels,
            dlogits: &bufs.deltas[last - 1],
            slots: &self.tables.slots,
            predictions: &bufs.predictions,
        };
        self.dispatch("softmax_ce", &SoftmaxCrossEntropy { params }, &bindings)
    }

    /// A training step of up to `rows` rows: gather, forward, loss, backward (weight then input
    /// gradient, last layer first), optimizer.
    fn training(&self, resident: &ResidentSplit, rows: usize) -> Result<Vec<Dispatch>, GpuError> {
        let model = &self.engine.model;
        let bufs = &self.engine.buffers;
        let mut train = vec![self.gather(resident, rows)?];
        train.extend(self.forward(rows, true)?);
        train.push(self.softmax(SoftmaxParams::training(model.spec.classes))?);
        for (l, layer) in model.layers.iter().enumerate().rev() {
            train.push(self.matmul(
                format!("grad{l} {}x{rows}x{}", layer.fan_in + 1, layer.fan_out),
                MatmulCall::weight_gradient(layer, rows),
                MatmulBindings {
                    a: &bufs.acts[l],
                    b: &bufs.deltas[l],
                    c: &bufs.grads,
                    aux: &bufs.acts[l],
                },
            )?);
            if l > 0 {
                train.push(self.matmul(
                    format!("backward{l} {rows}x{}x{}", layer.fan_out, layer.fan_in),
                    MatmulCall::input_gradient(layer, rows, model.dropout),
                    MatmulBindings {
                        a: &bufs.deltas[l],
                        b: &bufs.params,
                        c: &bufs.deltas[l - 1],
                        aux: &bufs.acts[l],
                    },
                )?);
            }
        }
        let update = OptimizerUpdate {
            params: OptimizerParams::new(&model.optimizer, model.spec.parameter_count()),
        };
        let bindings = OptimizerBindings {
            params: &bufs.params,
            grads: &bufs.grads,
            moment1: &bufs.moment1,
            moment2: &bufs.moment2,
        };
        train.push(self.dispatch("optimizer", &update, &bindings)?);
        Ok(train)
    }

    /// An evaluation batch of up to `rows` rows: gather, forward, predictions and metrics.
    fn evaluation(&self, resident: &ResidentSplit, rows: usize) -> Result<Vec<Dispatch>, GpuError> {
        let mut list = vec![self.gather(resident, rows)?];
        list.extend(self.forward(rows, false)?);
        let classes = self.engine.model.spec.classes;
        list.push(self.softmax(SoftmaxParams::evaluation(classes))?);
        Ok(list)
    }
}
