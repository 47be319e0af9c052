//! The GPU engine: resident data, one flat parameter buffer, every training step recorded on the
//! device. Pipelines, bind groups and buffers are created once (bind groups again only when a
//! split is replaced or the step table must grow); an epoch uploads its permutation and step
//! table once, records `steps_per_submit` steps per command buffer, and reads each chunk's metric
//! slots back while the next chunk runs.

pub mod buffers;
pub mod context;
pub mod kernels;
pub mod pipelines;
pub mod timing;
pub mod tuning;

pub use context::{list_adapters, AdapterSummary, DeviceNeeds, GpuContext, LimitsSummary};
pub use pipelines::{Pipelines, Tile, Transpose};
pub use tuning::{Product, TileChoices, TilePolicy};

use crate::data::Samples;
use crate::dropout::DropoutMask;
use crate::engine::{Engine, EpochPlan, Evaluation, Split, StepMetrics};
use crate::error::{ConfigError, GpuError, Result};
use crate::model::{DenseLayer, ModelSpec};
use crate::optimizer::Optimizer;
use buffers::STORAGE;
use pipelines::{
    Epilogue, GatherParams, MatmulParams, OptimizerParams, RowsAre, SoftmaxParams, StepRecord,
    STEP_RECORD_BYTES,
};
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

/// Settings of the GPU engine.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuOptions {
    /// Training steps recorded per command buffer (and per metric readback).
    pub steps_per_submit: usize,
    /// Rows per evaluation batch.
    pub eval_batch: usize,
    /// How each matmul product's tile is chosen (default: measured once per adapter and
    /// shape, remembered in the per-user cache; see `tuning`).
    pub tiles: TilePolicy,
}

impl Default for GpuOptions {
    fn default() -> Self {
        Self {
            steps_per_submit: 64,
            eval_batch: 2048,
            tiles: TilePolicy::default(),
        }
    }
}

/// One split resident on the device.
struct Resident {
    images: wgpu::Buffer,
    labels: wgpu::Buffer,
    count: usize,
}

/// One dispatch of a recorded step: pipeline, bind group (step record at a dynamic offset) and
/// grid.
struct Dispatch {
    name: String,
    pipeline: wgpu::ComputePipeline,
    group: wgpu::BindGroup,
    workgroups: (u32, u32),
}

/// Dispatch lists of a training step and of evaluation batches of each split, and the uniform
/// buffers their bind groups hold.
struct Programs {
    train: Vec<Dispatch>,
    eval_train: Vec<Dispatch>,
    eval_test: Vec<Dispatch>,
}

/// Per-step and per-batch tables, slots and readback buffers, sized for an epoch.
struct Tables {
    /// Step records at `stride`: training steps first, then evaluation batches.
    steps: wgpu::Buffer,
    /// (loss sum, correct) per training step, then per evaluation batch.
    slots: wgpu::Buffer,
    train_cap: usize,
    eval_cap: usize,
    /// Two MAP_READ buffers for chunked metric readback.
    staging: [wgpu::Buffer; 2],
    staging_steps: usize,
}

/// Seconds per call of each dispatch of a training step run alone, and of the whole step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepProfile {
    pub batch: usize,
    /// (dispatch name, seconds per dispatch) in step order.
    pub kernels: Vec<(String, f64)>,
    /// Seconds per training step, steps recorded back to back as in an epoch.
    pub step: f64,
}

impl StepProfile {
    pub fn kernel_sum(&self) -> f64 {
        self.kernels.iter().map(|(_, s)| s).sum()
    }
    /// How much longer a step takes than the sum of its kernels (0.1 = 10% overhead).
    pub fn overhead(&self) -> f64 {
        self.step / self.kernel_sum() - 1.0
    }
}

pub struct GpuEngine {
    ctx: Arc<GpuContext>,
    pipes: Arc<Pipelines>,
    spec: ModelSpec,
    layers: Vec<DenseLayer>,
    optimizer: Optimizer,
    mask: DropoutMask,
    max_batch: usize,
    opts: GpuOptions,
    tiles: TileChoices,
    stride: u64,
    params: wgpu::Buffer,
    grads: wgpu::Buffer,
    moment1: wgpu::Buffer,
    moment2: wgpu::Buffer,
    /// `acts[0]` input batch, `acts[i]` output of dense layer i-1.
    acts: Vec<wgpu::Buffer>,
    /// `deltas[i]` gradient w.r.t. the pre-activation of dense layer i.
    deltas: Vec<wgpu::Buffer>,
    labels: wgpu::Buffer,
    predictions: wgpu::Buffer,
    predictions_cap: usize,
    order: wgpu::Buffer,
    order_cap: usize,
    train: Option<Resident>,
    test: Option<Resident>,
    tables: Option<Tables>,
    programs: Option<Programs>,
}

fn gpu_err(e: GpuError) -> crate::Error {
    e.into()
}

/// Every matrix product an engine runs, at its largest m: forward at the training and the
/// evaluation batch, the weight gradient (with the bias row) and the input gradient of every
/// layer but the first.
fn products(layers: &[DenseLayer], max_batch: usize, eval_batch: usize) -> Vec<Product> {
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

impl GpuEngine {
    /// What an engine for `spec` with batches up to `max_batch` needs from a device (the data
    /// set is checked when loaded).
    pub fn needs(spec: &ModelSpec, max_batch: usize, opts: &GpuOptions) -> DeviceNeeds {
        let rows = max_batch.max(opts.eval_batch) as u64;
        let act = rows * spec.max_width() as u64 * 4;
        let params = spec.parameter_count() as u64 * 4;
        DeviceNeeds {
            buffer_bytes: act.max(params),
            storage_binding_bytes: act.max(params),
            ..DeviceNeeds::default()
        }
    }

    /// An engine on `ctx` (sharing `pipes` when given) for `spec`, training with batches of at
    /// most `max_batch` rows. Checks the device's limits before allocating.
    pub fn new(
        ctx: Arc<GpuContext>,
        pipes: Option<Arc<Pipelines>>,
        spec: &ModelSpec,
        optimizer: Optimizer,
        max_batch: usize,
        opts: GpuOptions,
    ) -> Result<Self> {
        if max_batch == 0 {
            return Err(ConfigError::new("--batch-size must be at least 1").into());
        }
        if opts.steps_per_submit == 0 || opts.eval_batch == 0 {
            return Err(ConfigError::new(
                "--steps-per-submit and the evaluation batch must be at least 1",
            )
            .into());
        }
        let limits = ctx.device.limits();
        let adapter = ctx.info.name.clone();
        let limit = |what: String| GpuError::Limit {
            adapter: adapter.clone(),
            what,
        };
        let rows = max_batch.max(opts.eval_batch);
        let act_bytes = rows as u64 * spec.max_width() as u64 * 4;
        if act_bytes > limits.max_storage_buffer_binding_size || act_bytes > limits.max_buffer_size
        {
            return Err(limit(format!(
                "a batch of {rows} rows × {} features needs {} MiB per activation buffer, the \
                 device binds at most {} MiB; use a smaller --batch-size",
                spec.max_width(),
                act_bytes >> 20,
                limits
                    .max_storage_buffer_binding_size
                    .min(limits.max_buffer_size)
                    >> 20
            ))
            .into());
        }
        let param_bytes = spec.parameter_count() as u64 * 4;
        if param_bytes > limits.max_storage_buffer_binding_size {
            return Err(limit(format!(
                "the model's {} parameters exceed the device's storage binding size",
                spec.parameter_count()
            ))
            .into());
        }
        if limits.max_storage_buffers_per_shader_stage < 5 {
            return Err(limit(format!(
                "the kernels bind 5 storage buffers, the device allows {}",
                limits.max_storage_buffers_per_shader_stage
            ))
            .into());
        }
        let pipes = match pipes {
            Some(p) => p,
            None => Arc::new(Pipelines::new(&ctx.device)?),
        };
        let layers = spec.layers();
        let products = products(&layers, max_batch, opts.eval_batch);
        let tiles = tuning::choose(&ctx, &pipes, &products, &opts.tiles)?;
        let max_groups = limits.max_compute_workgroups_per_dimension;
        for (product, tile) in products.iter().filter_map(|p| Some((p, tiles.tile(*p)?))) {
            if !product.fits(tile, &limits) {
                let (x, y) = tile.workgroups(product.m, product.n);
                return Err(limit(format!(
                    "a {}×{} product needs {x}×{y} workgroups, the device allows {max_groups} per dimension; use a smaller batch",
                    product.m, product.n
                ))
                .into());
            }
        }
        let stride = STEP_RECORD_BYTES.max(limits.min_uniform_buffer_offset_alignment as u64);
        let n = spec.parameter_count() as u64 * 4;
        let widths = spec.widths();
        let acts = widths
            .iter()
            .enumerate()
            .map(|(i, w)| {
                buffers::zeroed(&ctx, &format!("acts{i}"), (rows * w * 4) as u64, STORAGE)
            })
            .collect();
        let deltas = widths[1..]
            .iter()
            .enumerate()
            .map(|(i, w)| {
                buffers::zeroed(&ctx, &format!("delta{i}"), (rows * w * 4) as u64, STORAGE)
            })
            .collect();
        let engine = Self {
            params: buffers::zeroed(&ctx, "params", n, STORAGE),
            grads: buffers::zeroed(&ctx, "grads", n, STORAGE),
            moment1: buffers::zeroed(&ctx, "adam m", n, STORAGE),
            moment2: buffers::zeroed(&ctx, "adam v", n, STORAGE),
            acts,
            deltas,
            labels: buffers::zeroed(&ctx, "batch labels", rows as u64 * 4, STORAGE),
            predictions: buffers::zeroed(&ctx, "predictions", 16, STORAGE),
            predictions_cap: 0,
            order: buffers::zeroed(&ctx, "order", 16, STORAGE),
            order_cap: 0,
            train: None,
            test: None,
            tables: None,
            programs: None,
            layers,
            mask: DropoutMask::new(spec.dropout),
            spec: spec.clone(),
            optimizer,
            max_batch,
            opts,
            tiles,
            stride,
            pipes,
            ctx,
        };
        // Compile every matmul variant now, so nothing compiles inside an epoch.
        for product in products {
            engine
                .pipes
                .matmul(&engine.ctx.device, product.t, engine.tile(product)?)?;
        }
        engine.ctx.take_error()?;
        Ok(engine)
    }

    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    pub fn pipelines(&self) -> &Arc<Pipelines> {
        &self.pipes
    }

    /// The matmul tiles of this engine's products and how they were found.
    pub fn tile_choices(&self) -> &TileChoices {
        &self.tiles
    }

    fn tile(&self, product: Product) -> Result<Tile, GpuError> {
        self.tiles.tile(product).ok_or_else(|| {
            GpuError::Device(format!(
                "internal: no tile chosen for the product {}",
                product.name()
            ))
        })
    }

    fn eval_rows(&self) -> usize {
        self.opts.eval_batch
    }

    fn uniform<T: bytemuck::Pod>(&self, label: &str, value: &T) -> wgpu::Buffer {
        buffers::with_data(
            &self.ctx,
            label,
            std::slice::from_ref(value),
            wgpu::BufferUsages::UNIFORM,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &self,
        name: String,
        pipeline: wgpu::ComputePipeline,
        layout: &pipelines::Layout,
        params: &wgpu::Buffer,
        storage: &[&wgpu::Buffer],
        workgroups: (u32, u32),
        steps: &wgpu::Buffer,
    ) -> Dispatch {
        let mut entries = vec![
            wgpu::BindGroupEntry {
                binding: 0,
                resource: params.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: steps,
                    offset: 0,
                    size: std::num::NonZeroU64::new(STEP_RECORD_BYTES),
                }),
            },
        ];
        debug_assert_eq!(storage.len(), layout.storage.len());
        for (i, b) in storage.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: 2 + i as u32,
                resource: b.as_entire_binding(),
            });
        }
        let group = self
            .ctx
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&name),
                layout: &layout.bind_group,
                entries: &entries,
            });
        Dispatch {
            name,
            pipeline,
            group,
            workgroups,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn matmul_dispatch(
        &self,
        name: String,
        t: Transpose,
        p: MatmulParams,
        max_m: usize,
        shape_k: usize,
        bufs: [&wgpu::Buffer; 4],
        steps: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        let n = p.n as usize;
        let tile = self.tile(Product::new(t, max_m, shape_k, n))?;
        let pipeline = self.pipes.matmul(&self.ctx.device, t, tile)?;
        let params = self.uniform(&name, &p);
        Ok(self.dispatch(
            name,
            pipeline,
            &self.pipes.matmul_layout,
            &params,
            &bufs,
            tile.workgroups(max_m, n),
            steps,
        ))
    }

    /// Forward dispatches of every layer for batches of up to `rows` rows.
    fn forward(
        &self,
        rows: usize,
        training: bool,
        steps: &wgpu::Buffer,
    ) -> Result<Vec<Dispatch>, GpuError> {
        let last = self.layers.len() - 1;
        let mut out = Vec::new();
        for (l, layer) in self.layers.iter().enumerate() {
            let epilogue = if l == last {
                Epilogue::Bias
            } else if training && self.spec.dropout > 0.0 {
                Epilogue::BiasReluDropout
            } else {
                Epilogue::BiasRelu
            };
            let mut p = MatmulParams::packed(Transpose::None, rows, layer.fan_in, layer.fan_out);
            p.rows_is = RowsAre::M as u32;
            p.b_off = layer.weight_offset as u32;
            p.bias_off = layer.bias_offset as u32;
            p.epilogue = epilogue as u32;
            p.layer = l as u32;
            p.threshold = self.mask.threshold;
            p.scale = self.mask.scale;
            out.push(self.matmul_dispatch(
                format!("forward{l} {rows}x{}x{}", layer.fan_in, layer.fan_out),
                Transpose::None,
                p,
                rows,
                layer.fan_in,
                [
                    &self.acts[l],
                    &self.params,
                    &self.acts[l + 1],
                    &self.acts[l],
                ],
                steps,
            )?);
        }
        Ok(out)
    }

    fn gather_dispatch(&self, resident: &Resident, rows: usize, steps: &wgpu::Buffer) -> Dispatch {
        let p = GatherParams {
            features: self.spec.inputs as u32,
            count: resident.count as u32,
            ..Default::default()
        };
        let params = self.uniform("gather", &p);
        let groups = pipelines::gather_workgroups(rows, self.spec.inputs);
        self.dispatch(
            "gather".into(),
            self.pipes.gather.clone(),
            &self.pipes.gather_layout,
            &params,
            &[
                &resident.images,
                &resident.labels,
                &self.order,
                &self.acts[0],
                &self.labels,
            ],
            (groups, 1),
            steps,
        )
    }

    fn softmax_dispatch(
        &self,
        evaluation: bool,
        steps: &wgpu::Buffer,
        slots: &wgpu::Buffer,
    ) -> Dispatch {
        let p = SoftmaxParams {
            classes: self.spec.classes as u32,
            mode: evaluation as u32,
            ..Default::default()
        };
        let params = self.uniform("softmax_ce", &p);
        let last = self.layers.len();
        self.dispatch(
            "softmax_ce".into(),
            self.pipes.softmax.clone(),
            &self.pipes.softmax_layout,
            &params,
            &[
                &self.acts[last],
                &self.labels,
                &self.deltas[last - 1],
                slots,
                &self.predictions,
            ],
            (1, 1),
            steps,
        )
    }

    /// Builds every bind group and dispatch list (once per split/table change).
    fn build_programs(&self, tables: &Tables) -> Result<Programs, GpuError> {
        let steps = &tables.steps;
        let b = self.max_batch;
        let mut train = Vec::new();
        if let Some(resident) = &self.train {
            train.push(self.gather_dispatch(resident, b, steps));
        }
        train.extend(self.forward(b, true, steps)?);
        train.push(self.softmax_dispatch(false, steps, &tables.slots));
        let scale = if self.spec.dropout > 0.0 {
            self.mask.scale
        } else {
            1.0
        };
        for (l, layer) in self.layers.iter().enumerate().rev() {
            // dW and db in one product: rows fan_in of op(A) are ones, so row fan_in of C
            // (the bias, right after W in the flat layout) gets the column sums of dZ.
            let mut p = MatmulParams::packed(Transpose::A, layer.fan_in + 1, b, layer.fan_out);
            p.a_rows = layer.fan_in as u32;
            p.lda = layer.fan_in as u32;
            p.rows_is = RowsAre::K as u32;
            p.c_off = layer.weight_offset as u32;
            train.push(self.matmul_dispatch(
                format!("grad{l} {}x{b}x{}", layer.fan_in + 1, layer.fan_out),
                Transpose::A,
                p,
                layer.fan_in + 1,
                b,
                [&self.acts[l], &self.deltas[l], &self.grads, &self.acts[l]],
                steps,
            )?);
            if l > 0 {
                let mut p = MatmulParams::packed(Transpose::B, b, layer.fan_out, layer.fan_in);
                p.rows_is = RowsAre::M as u32;
                p.b_off = layer.weight_offset as u32;
                p.epilogue = Epilogue::ReluMask as u32;
                p.scale = scale;
                train.push(self.matmul_dispatch(
                    format!("backward{l} {b}x{}x{}", layer.fan_out, layer.fan_in),
                    Transpose::B,
                    p,
                    b,
                    layer.fan_out,
                    [
                        &self.deltas[l],
                        &self.params,
                        &self.deltas[l - 1],
                        &self.acts[l],
                    ],
                    steps,
                )?);
            }
        }
        let p = match self.optimizer {
            Optimizer::Adam {
                beta1,
                beta2,
                epsilon,
                ..
            } => OptimizerParams {
                n: self.spec.parameter_count() as u32,
                kind: 0,
                beta1,
                beta2,
                one_minus_beta1: 1.0 - beta1,
                one_minus_beta2: 1.0 - beta2,
                epsilon,
                _pad: 0,
            },
            Optimizer::Sgd { .. } => OptimizerParams {
                n: self.spec.parameter_count() as u32,
                kind: 1,
                ..Default::default()
            },
        };
        let params = self.uniform("optimizer", &p);
        train.push(self.dispatch(
            "optimizer".into(),
            self.pipes.optimizer.clone(),
            &self.pipes.optimizer_layout,
            &params,
            &[&self.params, &self.grads, &self.moment1, &self.moment2],
            (
                pipelines::optimizer_workgroups(self.spec.parameter_count()),
                1,
            ),
            steps,
        ));
        let e = self.eval_rows();
        let eval = |resident: Option<&Resident>| -> Result<Vec<Dispatch>, GpuError> {
            let Some(resident) = resident else {
                return Ok(Vec::new());
            };
            let mut list = vec![self.gather_dispatch(resident, e, steps)];
            list.extend(self.forward(e, false, steps)?);
            list.push(self.softmax_dispatch(true, steps, &tables.slots));
            Ok(list)
        };
        let eval_train = eval(self.train.as_ref())?;
        let eval_test = eval(self.test.as_ref())?;
        if self.train.is_none() {
            train.clear();
        }
        Ok(Programs {
            train,
            eval_train,
            eval_test,
        })
    }

    /// Makes sure tables hold `train_steps` training steps and programs exist.
    fn prepare(&mut self, train_steps: usize) -> Result<(), GpuError> {
        let counts = [&self.train, &self.test].map(|r| r.as_ref().map_or(0, |r| r.count));
        let eval_cap = counts
            .iter()
            .max()
            .copied()
            .unwrap_or(0)
            .div_ceil(self.eval_rows())
            .max(1);
        let fits = self
            .tables
            .as_ref()
            .is_some_and(|t| t.train_cap >= train_steps && t.eval_cap >= eval_cap);
        if !fits {
            let train_cap = train_steps
                .max(self.tables.as_ref().map_or(0, |t| t.train_cap))
                .max(1);
            let records = (train_cap + eval_cap) as u64;
            let limits = self.ctx.device.limits();
            if records * self.stride > limits.max_buffer_size {
                return Err(GpuError::Limit {
                    adapter: self.ctx.info.name.clone(),
                    what: format!(
                        "a step table of {records} steps does not fit in one buffer; use a larger --batch-size"
                    ),
                });
            }
            let staging_steps = self.opts.steps_per_submit.min(train_cap).max(eval_cap);
            let staging = || {
                buffers::zeroed(
                    &self.ctx,
                    "metric readback",
                    staging_steps as u64 * 8,
                    wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                )
            };
            self.tables = Some(Tables {
                steps: buffers::zeroed(
                    &self.ctx,
                    "step table",
                    records * self.stride,
                    wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                ),
                slots: buffers::zeroed(&self.ctx, "metric slots", records * 8, STORAGE),
                train_cap,
                eval_cap,
                staging: [staging(), staging()],
                staging_steps,
            });
            self.programs = None;
        }
        if self.programs.is_none() {
            let tables = self
                .tables
                .as_ref()
                .ok_or_else(|| GpuError::Device("no step table".into()))?;
            self.programs = Some(self.build_programs(tables)?);
        }
        Ok(())
    }

    /// Writes step records at record index `first`.
    fn write_records(&self, first: usize, records: &[StepRecord]) -> Result<(), GpuError> {
        let tables = self
            .tables
            .as_ref()
            .ok_or_else(|| GpuError::Device("no step table".into()))?;
        let stride = self.stride as usize;
        let mut bytes = vec![0u8; records.len() * stride];
        for (i, r) in records.iter().enumerate() {
            bytes[i * stride..i * stride + STEP_RECORD_BYTES as usize]
                .copy_from_slice(bytemuck::bytes_of(r));
        }
        self.ctx
            .queue
            .write_buffer(&tables.steps, first as u64 * self.stride, &bytes);
        Ok(())
    }

    /// Records the dispatches of `list` for each record index in `records` into one pass.
    fn record(&self, encoder: &mut wgpu::CommandEncoder, list: &[Dispatch], records: Range<usize>) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("steps"),
            timestamp_writes: None,
        });
        for s in records {
            let offset = (s as u64 * self.stride) as u32;
            for d in list {
                pass.set_pipeline(&d.pipeline);
                pass.set_bind_group(0, &d.group, &[offset]);
                pass.dispatch_workgroups(d.workgroups.0, d.workgroups.1, 1);
            }
        }
    }

    /// The step-table record of a profiling step: the first `batch` rows, Adam's first step.
    fn profiling_record(&self, batch: usize) -> StepRecord {
        StepRecord {
            start: 0,
            len: batch as u32,
            slot: 0,
            seed: 1,
            step_size: self.optimizer.step_size(1),
            grad_scale: 1.0 / batch as f32,
            direct: 0,
            out_base: 0,
        }
    }

    /// Times each dispatch of a full-batch training step alone and the step as a whole
    /// (`repeats` back to back, wall clock after a warm-up). Needs the training split loaded;
    /// it trains on its first `max_batch` samples, changing the parameters.
    pub fn profile_step(&mut self, repeats: usize) -> Result<StepProfile> {
        let count = self.train.as_ref().map_or(0, |r| r.count);
        let batch = self.max_batch.min(count);
        if batch == 0 {
            return Err(ConfigError::new("profile_step needs a loaded training split").into());
        }
        let repeats = repeats.max(1);
        let order: Vec<u32> = (0..count as u32).collect();
        self.prepare(repeats).map_err(gpu_err)?;
        self.ctx
            .queue
            .write_buffer(&self.order, 0, bytemuck::cast_slice(&order[..batch]));
        self.write_records(0, &vec![self.profiling_record(batch); repeats])?;
        let programs = self
            .programs
            .as_ref()
            .ok_or_else(|| GpuError::Device("no programs".into()))?;
        let run = |list: &[Dispatch], steps: usize| -> Result<f64, GpuError> {
            let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
            self.record(&mut encoder, list, 0..1);
            self.ctx.queue.submit([encoder.finish()]);
            self.ctx.wait()?;
            let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
            self.record(&mut encoder, list, 0..steps);
            let started = Instant::now();
            self.ctx.queue.submit([encoder.finish()]);
            self.ctx.wait()?;
            Ok(started.elapsed().as_secs_f64() / steps as f64)
        };
        let mut kernels = Vec::new();
        for d in &programs.train {
            let one = std::slice::from_ref(d);
            kernels.push((d.name.clone(), run(one, repeats)?));
        }
        let step = run(&programs.train, repeats)?;
        Ok(StepProfile {
            batch,
            kernels,
            step,
        })
    }
}

fn resident(ctx: &GpuContext, samples: &Samples) -> Result<Resident, GpuError> {
    let limits = ctx.device.limits();
    let bytes = samples.images.len().next_multiple_of(4) as u64;
    if bytes > limits.max_storage_buffer_binding_size || bytes > limits.max_buffer_size {
        return Err(GpuError::Limit {
            adapter: ctx.info.name.clone(),
            what: format!(
                "the data set's {} MiB of pixels exceed the device's {} MiB storage binding",
                bytes >> 20,
                limits.max_storage_buffer_binding_size >> 20
            ),
        });
    }
    if samples.images.len() >= u32::MAX as usize {
        return Err(GpuError::Limit {
            adapter: ctx.info.name.clone(),
            what: "data sets over 4 GiB are not supported".into(),
        });
    }
    Ok(Resident {
        images: buffers::with_data(ctx, "images", &buffers::pack_u8(&samples.images), STORAGE),
        labels: buffers::with_data(ctx, "labels", &buffers::pack_u8(&samples.labels), STORAGE),
        count: samples.count,
    })
}

impl Engine for GpuEngine {
    fn describe(&self) -> String {
        self.ctx.describe()
    }

    fn load_split(&mut self, split: Split, samples: &Samples) -> Result<()> {
        if samples.features != self.spec.inputs {
            return Err(ConfigError::new(format!(
                "the data has {} features per sample, the model expects {}",
                samples.features, self.spec.inputs
            ))
            .into());
        }
        if let Some(bad) = samples
            .labels
            .iter()
            .find(|&&l| l as usize >= self.spec.classes)
        {
            return Err(ConfigError::new(format!(
                "label {bad} is out of range for a model with {} classes",
                self.spec.classes
            ))
            .into());
        }
        let r = resident(&self.ctx, samples)?;
        if samples.count > self.predictions_cap {
            self.predictions_cap = samples.count;
            self.predictions =
                buffers::zeroed(&self.ctx, "predictions", samples.count as u64 * 4, STORAGE);
        }
        if split == Split::Train && samples.count > self.order_cap {
            self.order_cap = samples.count;
            self.order = buffers::zeroed(&self.ctx, "order", samples.count as u64 * 4, STORAGE);
        }
        match split {
            Split::Train => self.train = Some(r),
            Split::Test => self.test = Some(r),
        }
        self.programs = None;
        self.tables = None;
        self.ctx.take_error()?;
        Ok(())
    }

    fn set_parameters(&mut self, params: &[f32]) -> Result<()> {
        self.spec.check_parameters(params)?;
        self.ctx
            .queue
            .write_buffer(&self.params, 0, bytemuck::cast_slice(params));
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        encoder.clear_buffer(&self.moment1, 0, None);
        encoder.clear_buffer(&self.moment2, 0, None);
        self.ctx.queue.submit([encoder.finish()]);
        self.ctx.take_error()?;
        Ok(())
    }

    fn parameters(&mut self) -> Result<Vec<f32>> {
        Ok(buffers::read(
            &self.ctx,
            &self.params,
            0,
            self.spec.parameter_count(),
        )?)
    }

    fn train_epoch(
        &mut self,
        plan: &EpochPlan,
        progress: &mut dyn FnMut(usize, &[StepMetrics]),
    ) -> Result<Vec<StepMetrics>> {
        let count = self
            .train
            .as_ref()
            .map(|r| r.count)
            .ok_or_else(|| ConfigError::new("no training split loaded"))?;
        if plan.order.len() > count || plan.order.iter().any(|&i| i as usize >= count) {
            return Err(ConfigError::new(format!(
                "the epoch order refers to samples beyond the {count} loaded"
            ))
            .into());
        }
        for s in &plan.steps {
            if s.len == 0 || s.len as usize > self.max_batch {
                return Err(ConfigError::new(format!(
                    "a step of {} rows; the engine takes 1 to {} rows",
                    s.len, self.max_batch
                ))
                .into());
            }
            if s.start as usize + s.len as usize > plan.order.len() {
                return Err(ConfigError::new("a step reaches past the epoch order").into());
            }
        }
        let steps = plan.steps.len();
        if steps == 0 {
            return Ok(Vec::new());
        }
        self.prepare(steps)?;
        self.ctx
            .queue
            .write_buffer(&self.order, 0, bytemuck::cast_slice(&plan.order));
        let records: Vec<StepRecord> = plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| StepRecord {
                start: s.start,
                len: s.len,
                slot: i as u32,
                seed: s.dropout_seed,
                step_size: s.step_size,
                grad_scale: 1.0 / s.len as f32,
                direct: 0,
                out_base: 0,
            })
            .collect();
        self.write_records(0, &records)?;
        let (tables, programs) = match (&self.tables, &self.programs) {
            (Some(t), Some(p)) => (t, p),
            _ => return Err(GpuError::Device("engine not prepared".into()).into()),
        };
        let chunk = self.opts.steps_per_submit.min(tables.staging_steps).max(1);
        let mut all = Vec::with_capacity(steps);
        // (steps of the chunk, staging buffer, mapping result, submission) of the chunk in flight.
        type Pending = (
            Range<usize>,
            usize,
            std::sync::mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
            wgpu::SubmissionIndex,
        );
        let mut pending: Option<Pending> = None;
        let mut finish = |p: Pending, all: &mut Vec<StepMetrics>| -> Result<(), GpuError> {
            let (range, buf, rx, index) = p;
            let bytes = range.len() as u64 * 8;
            let raw: Vec<u32> =
                buffers::wait_mapped(&self.ctx, &tables.staging[buf], bytes, rx, Some(index))?;
            let new: Vec<StepMetrics> = raw
                .chunks_exact(2)
                .map(|s| StepMetrics {
                    loss_sum: f32::from_bits(s[0]),
                    correct: s[1],
                })
                .collect();
            all.extend_from_slice(&new);
            progress(range.end, &new);
            Ok(())
        };
        for (c, first) in (0..steps).step_by(chunk).enumerate() {
            let range = first..(first + chunk).min(steps);
            let buf = c % 2;
            let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
            self.record(&mut encoder, &programs.train, range.clone());
            encoder.copy_buffer_to_buffer(
                &tables.slots,
                range.start as u64 * 8,
                &tables.staging[buf],
                0,
                range.len() as u64 * 8,
            );
            let index = self.ctx.queue.submit([encoder.finish()]);
            let rx = buffers::start_map(&tables.staging[buf], range.len() as u64 * 8);
            // Chunk c is queued; now collect chunk c-1 while it runs.
            if let Some(p) = pending.take() {
                finish(p, &mut all)?;
            }
            pending = Some((range, buf, rx, index));
        }
        if let Some(p) = pending.take() {
            finish(p, &mut all)?;
        }
        self.ctx.take_error()?;
        Ok(all)
    }

    fn evaluate(&mut self, split: Split, rows: Range<usize>) -> Result<Evaluation> {
        let count = match split {
            Split::Train => self.train.as_ref(),
            Split::Test => self.test.as_ref(),
        }
        .map(|r| r.count)
        .ok_or_else(|| ConfigError::new(format!("no {split:?} split loaded")))?;
        if rows.end > count || rows.start > rows.end {
            return Err(ConfigError::new(format!(
                "evaluation rows {rows:?} exceed the {count} samples loaded"
            ))
            .into());
        }
        if rows.is_empty() {
            return Ok(Evaluation::default());
        }
        self.prepare(1)?;
        let e = self.eval_rows();
        let tables = self
            .tables
            .as_ref()
            .ok_or_else(|| GpuError::Device("no step table".into()))?;
        let base = tables.train_cap;
        let records: Vec<StepRecord> = rows
            .clone()
            .step_by(e)
            .enumerate()
            .map(|(b, start)| StepRecord {
                start: start as u32,
                len: (rows.end - start).min(e) as u32,
                slot: (base + b) as u32,
                direct: 1,
                out_base: (start - rows.start) as u32,
                grad_scale: 1.0,
                ..Default::default()
            })
            .collect();
        self.write_records(base, &records)?;
        let (tables, programs) = match (&self.tables, &self.programs) {
            (Some(t), Some(p)) => (t, p),
            _ => return Err(GpuError::Device("engine not prepared".into()).into()),
        };
        let list = match split {
            Split::Train => &programs.eval_train,
            Split::Test => &programs.eval_test,
        };
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        self.record(&mut encoder, list, base..base + records.len());
        self.ctx.queue.submit([encoder.finish()]);
        let slots: Vec<u32> =
            buffers::read(&self.ctx, &tables.slots, base as u64 * 8, 2 * records.len())?;
        let predictions: Vec<u32> = buffers::read(&self.ctx, &self.predictions, 0, rows.len())?;
        let mut result = Evaluation {
            count: rows.len(),
            predictions,
            ..Default::default()
        };
        for s in slots.chunks_exact(2) {
            result.loss_sum += f32::from_bits(s[0]) as f64;
            result.correct += s[1] as usize;
        }
        Ok(result)
    }
}
