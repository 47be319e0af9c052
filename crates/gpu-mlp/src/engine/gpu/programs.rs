//! The recorded work of a prepared engine: the dispatch lists of a training step and of the
//! evaluation batches of each split, and the step table, metric slots and readback buffers they
//! run on. `Prepared` exists only once all of them are built, so running needs no checks.

use super::buffers::{self, STORAGE};
use super::engine::Core;
use super::ops::gather::{self, GatherBindings};
use super::ops::matmul::{Epilogue, MatmulBindings, MatmulCall, Product, Transpose};
use super::ops::optimizer::{self, OptimizerBindings, OptimizerParams};
use super::ops::softmax_cross_entropy::{self, SoftmaxBindings, SoftmaxParams};
use super::ops::{StepRecord, STEP_RECORD_BYTES};
use super::resources::Resident;
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

/// One dispatch of a recorded step: pipeline, bind group (step record at a dynamic offset) and
/// grid.
pub struct Dispatch {
    pub name: String,
    pub pipeline: wgpu::ComputePipeline,
    pub group: wgpu::BindGroup,
    pub workgroups: (u32, u32),
}

/// Records the dispatches of `list` once for each step-table record in `records`, into one
/// compute pass (the record at index s sits at byte `s · stride`).
pub fn record(
    encoder: &mut wgpu::CommandEncoder,
    list: &[Dispatch],
    stride: u64,
    records: Range<usize>,
) {
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some("steps"),
        timestamp_writes: None,
    });
    for s in records {
        let offset = (s as u64 * stride) as u32;
        for d in list {
            pass.set_pipeline(&d.pipeline);
            pass.set_bind_group(0, &d.group, &[offset]);
            pass.dispatch_workgroups(d.workgroups.0, d.workgroups.1, 1);
        }
    }
}

/// Per-step and per-batch tables, slots and readback buffers, sized for an epoch.
pub struct Tables {
    /// Step records at `stride`: training steps first, then evaluation batches.
    pub steps: wgpu::Buffer,
    pub stride: u64,
    /// (loss sum, correct) per training step, then per evaluation batch.
    pub slots: wgpu::Buffer,
    pub train_cap: usize,
    pub eval_cap: usize,
    /// Two MAP_READ buffers for chunked metric readback.
    pub staging: [wgpu::Buffer; 2],
    pub staging_steps: usize,
}

/// An engine ready to run: its tables and the dispatch lists bound to them.
pub struct Prepared {
    pub tables: Tables,
    /// A training step (empty without a training split).
    pub train: Vec<Dispatch>,
    /// An evaluation batch of the training split and of the test split (empty when not loaded).
    pub eval_train: Vec<Dispatch>,
    pub eval_test: Vec<Dispatch>,
}

impl Prepared {
    /// Evaluation batches the splits of `core` need.
    pub fn eval_batches(core: &Core) -> usize {
        let counts = [&core.train, &core.test].map(|r| r.as_ref().map_or(0, |r| r.count));
        let largest = counts.into_iter().max().unwrap_or(0);
        largest.div_ceil(core.opts.eval_batch).max(1)
    }

    /// True when the tables hold `train_steps` steps and the splits' evaluation batches.
    pub fn fits(&self, train_steps: usize, eval_batches: usize) -> bool {
        self.tables.train_cap >= train_steps && self.tables.eval_cap >= eval_batches
    }

    /// Tables for `train_cap` training steps and `eval_cap` evaluation batches, and every
    /// dispatch list of `core` bound to them.
    pub fn new(core: &Core, train_cap: usize, eval_cap: usize) -> Result<Self, GpuError> {
        let ctx = &core.ctx;
        let records = (train_cap + eval_cap) as u64;
        // Each record starts at a multiple of the dynamic-offset alignment.
        let stride = STEP_RECORD_BYTES
            .next_multiple_of(ctx.device.limits().min_uniform_buffer_offset_alignment as u64);
        if records * stride > ctx.device.limits().max_buffer_size {
            return Err(GpuError::Limit {
                adapter: ctx.info.name.clone(),
                what: format!(
                    "a step table of {records} steps does not fit in one buffer; use a larger --batch-size"
                ),
            });
        }
        let staging_steps = core.opts.steps_per_submit.min(train_cap).max(eval_cap);
        let staging = || {
            buffers::zeroed(
                ctx,
                "metric readback",
                staging_steps as u64 * 8,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            )
        };
        let tables = Tables {
            steps: buffers::zeroed(
                ctx,
                "step table",
                records * stride,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            ),
            stride,
            slots: buffers::zeroed(ctx, "metric slots", records * 8, STORAGE),
            train_cap,
            eval_cap,
            staging: [staging(), staging()],
            staging_steps,
        };
        let build = Builder {
            core,
            tables: &tables,
        };
        let b = core.max_batch;
        let e = core.opts.eval_batch;
        let (train, eval_train) = match &core.train {
            Some(r) => (build.training(r, b)?, build.evaluation(r, e)?),
            None => (Vec::new(), Vec::new()),
        };
        let eval_test = match &core.test {
            Some(r) => build.evaluation(r, e)?,
            None => Vec::new(),
        };
        Ok(Self {
            tables,
            train,
            eval_train,
            eval_test,
        })
    }

    /// Writes step records at record index `first`.
    pub fn write_records(&self, core: &Core, first: usize, records: &[StepRecord]) {
        let stride = self.tables.stride as usize;
        let mut bytes = vec![0u8; records.len() * stride];
        for (i, r) in records.iter().enumerate() {
            bytes[i * stride..i * stride + STEP_RECORD_BYTES as usize]
                .copy_from_slice(bytemuck::bytes_of(r));
        }
        core.ctx.queue.write_buffer(
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
        record(encoder, list, self.tables.stride, records)
    }
}

/// Builds dispatch lists of an engine against one set of tables.
struct Builder<'a> {
    core: &'a Core,
    tables: &'a Tables,
}

impl Builder<'_> {
    fn matmul(
        &self,
        name: String,
        call: MatmulCall,
        bindings: MatmulBindings,
    ) -> Result<Dispatch, GpuError> {
        let core = self.core;
        let variant = core.variant(call.product())?;
        let pipeline = core.pipes.matmul(&core.ctx.device, call.t, variant)?;
        let group = bindings.bind(
            &core.ctx,
            &name,
            &core.pipes.matmul_layout,
            &call.params,
            &self.tables.steps,
        );
        Ok(Dispatch {
            name,
            pipeline,
            group,
            workgroups: call.workgroups(variant),
        })
    }

    /// Forward dispatches of every layer for batches of up to `rows` rows.
    fn forward(&self, rows: usize, training: bool) -> Result<Vec<Dispatch>, GpuError> {
        let core = self.core;
        let bufs = &core.buffers;
        let last = core.layers.len() - 1;
        let mut out = Vec::new();
        for (l, layer) in core.layers.iter().enumerate() {
            let epilogue = Epilogue::forward(l == last, training, core.spec.dropout);
            out.push(self.matmul(
                format!("forward{l} {rows}x{}x{}", layer.fan_in, layer.fan_out),
                MatmulCall::forward(layer, l, rows, epilogue, core.mask),
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

    fn gather(&self, resident: &Resident, rows: usize) -> Dispatch {
        let core = self.core;
        let bindings = GatherBindings {
            images: &resident.images,
            labels: &resident.labels,
            order: &core.buffers.order,
            x: &core.buffers.acts[0],
            y: &core.buffers.labels,
        };
        let params = resident.gather;
        Dispatch {
            name: "gather".into(),
            pipeline: core.pipes.gather.clone(),
            group: bindings.bind(
                &core.ctx,
                &core.pipes.gather_layout,
                &params,
                &self.tables.steps,
            ),
            workgroups: gather::workgroups(rows, core.spec.inputs),
        }
    }

    fn softmax(&self, params: SoftmaxParams) -> Dispatch {
        let core = self.core;
        let bufs = &core.buffers;
        let last = core.layers.len();
        let bindings = SoftmaxBindings {
            logits: &bufs.acts[last],
            labels: &bufs.labels,
            dlogits: &bufs.deltas[last - 1],
            slots: &self.tables.slots,
            predictions: &bufs.predictions,
        };
        Dispatch {
            name: "softmax_ce".into(),
            pipeline: core.pipes.softmax.clone(),
            group: bindings.bind(
                &core.ctx,
                &core.pipes.softmax_layout,
                &params,
                &self.tables.steps,
            ),
            workgroups: softmax_cross_entropy::WORKGROUPS,
        }
    }

    /// A training step of up to `b` rows: gather, forward, loss, backward (weight then input
    /// gradient, last layer first), optimizer.
    fn training(&self, resident: &Resident, b: usize) -> Result<Vec<Dispatch>, GpuError> {
        let core = self.core;
        let bufs = &core.buffers;
        let mut train = vec![self.gather(resident, b)];
        train.extend(self.forward(b, true)?);
        train.push(self.softmax(SoftmaxParams::training(core.spec.classes)));
        for (l, layer) in core.layers.iter().enumerate().rev() {
            train.push(self.matmul(
                format!("grad{l} {}x{b}x{}", layer.fan_in + 1, layer.fan_out),
                MatmulCall::weight_gradient(layer, b),
                MatmulBindings {
                    a: &bufs.acts[l],
                    b: &bufs.deltas[l],
                    c: &bufs.grads,
                    aux: &bufs.acts[l],
                },
            )?);
            if l > 0 {
                train.push(self.matmul(
                    format!("backward{l} {b}x{}x{}", layer.fan_out, layer.fan_in),
                    MatmulCall::input_gradient(layer, b, core.mask),
                    MatmulBindings {
                        a: &bufs.deltas[l],
                        b: &bufs.params,
                        c: &bufs.deltas[l - 1],
                        aux: &bufs.acts[l],
                    },
                )?);
            }
        }
        let n = core.spec.parameter_count();
        let params = OptimizerParams::new(&core.optimizer, n);
        let bindings = OptimizerBindings {
            w: &bufs.params,
            g: &bufs.grads,
            m: &bufs.moment1,
            v: &bufs.moment2,
        };
        train.push(Dispatch {
            name: "optimizer".into(),
            pipeline: core.pipes.optimizer.clone(),
            group: bindings.bind(
                &core.ctx,
                &core.pipes.optimizer_layout,
                &params,
                &self.tables.steps,
            ),
            workgroups: optimizer::workgroups(n),
        });
        Ok(train)
    }

    /// An evaluation batch of up to `e` rows: gather, forward, predictions and metrics.
    fn evaluation(&self, resident: &Resident, e: usize) -> Result<Vec<Dispatch>, GpuError> {
        let mut list = vec![self.gather(resident, e)];
        list.extend(self.forward(e, false)?);
        list.push(self.softmax(SoftmaxParams::evaluation(self.core.spec.classes)));
        Ok(list)
    }
}
