//! The GPU engine: resident data, one flat parameter buffer, every training step recorded on the
//! device. Pipelines, bind groups and buffers are created once (bind groups again only when a
//! split is replaced or the step table must grow); an epoch uploads its permutation and step
//! table once, records `steps_per_submit` steps per command buffer, and reads each chunk's metric
//! slots back while the next chunk runs.

use super::buffers;
use super::context::{DeviceNeeds, GpuContext};
use super::ops::matmul::{MatmulVariant, Product};
use super::ops::StepRecord;
use super::pipelines::Pipelines;
use super::profile::{self, StepProfile, TimestampProfile};
use super::programs::{self, Prepared};
use super::resources::{self, EngineBuffers, Resident};
use super::timing::timestamp_method;
use super::tuning::{self, TileChoices};
use super::GpuOptions;
use crate::data::Samples;
use crate::engine::{Engine, EpochPlan, Evaluation, OptimizerState, Split, StepMetrics};
use crate::error::{ConfigError, GpuError, Result};
use crate::model::dropout::DropoutMask;
use crate::model::optimizer::Optimizer;
use crate::model::{DenseLayer, ModelSpec};
use std::ops::Range;
use std::sync::Arc;

/// Everything of an engine but its prepared programs: what they are built from.
pub struct Core {
    pub ctx: Arc<GpuContext>,
    pub pipes: Arc<Pipelines>,
    pub spec: ModelSpec,
    pub layers: Vec<DenseLayer>,
    pub optimizer: Optimizer,
    pub mask: DropoutMask,
    pub max_batch: usize,
    pub opts: GpuOptions,
    pub tiles: TileChoices,
    pub buffers: EngineBuffers,
    pub train: Option<Resident>,
    pub test: Option<Resident>,
}

impl Core {
    /// The variant chosen for `product`.
    pub fn variant(&self, product: Product) -> Result<MatmulVariant, GpuError> {
        self.tiles.tile(product).ok_or_else(|| {
            GpuError::Device(format!(
                "internal: no tile chosen for the product {}",
                product.name()
            ))
        })
    }

    fn train_count(&self) -> usize {
        self.train.as_ref().map_or(0, |r| r.count)
    }
}

pub struct GpuEngine {
    core: Core,
    /// Built on first use and again after a split changes or when an epoch outgrows the tables.
    prepared: Option<Prepared>,
}

impl GpuEngine {
    /// What an engine for `spec` with batches up to `max_batch` needs from a device (the data
    /// set is checked when loaded).
    pub fn needs(spec: &ModelSpec, max_batch: usize, opts: &GpuOptions) -> DeviceNeeds {
        resources::needs(spec, max_batch, opts)
    }

    /// An engine on `ctx` (sharing `pipes` when given) for `spec`, starting from `parameters`
    /// (flat layout of [`ModelSpec::layers`]) and training with batches of at most `max_batch`
    /// rows. Checks the device's limits before allocating.
    pub fn new(
        ctx: Arc<GpuContext>,
        pipes: Option<Arc<Pipelines>>,
        spec: &ModelSpec,
        parameters: &[f32],
        optimizer: Optimizer,
        max_batch: usize,
        opts: GpuOptions,
    ) -> Result<Self> {
        crate::engine::check_max_batch(max_batch)?;
        spec.check_parameters(parameters)?;
        if opts.steps_per_submit == 0 || opts.eval_batch == 0 {
            return Err(ConfigError::new(
                "--steps-per-submit and the evaluation batch must be at least 1",
            )
            .into());
        }
        let rows = max_batch.max(opts.eval_batch);
        resources::check_buffers(&ctx, spec, rows)?;
        let pipes = match pipes {
            Some(p) => p,
            None => Arc::new(Pipelines::new(&ctx.device)?),
        };
        let layers = spec.layers();
        let products = programs::products(&layers, max_batch, opts.eval_batch);
        let tiles = tuning::choose(&ctx, &pipes, &products, &opts.tiles)?;
        let chosen = products.iter().filter_map(|p| Some((p, tiles.tile(*p)?)));
        resources::check_grids(&ctx, chosen)?;
        let core = Core {
            buffers: EngineBuffers::new(&ctx, spec, rows),
            train: None,
            test: None,
            layers,
            mask: DropoutMask::new(spec.dropout),
            spec: spec.clone(),
            optimizer,
            max_batch,
            opts,
            tiles,
            pipes,
            ctx,
        };
        // Compile every matmul variant now, so nothing compiles inside an epoch.
        for product in products {
            let variant = core.variant(product)?;
            core.pipes.matmul(&core.ctx.device, product.t, variant)?;
        }
        core.ctx.take_error()?;
        let mut engine = Self {
            core,
            prepared: None,
        };
        engine.set_parameters(parameters)?;
        Ok(engine)
    }

    pub fn context(&self) -> &Arc<GpuContext> {
        &self.core.ctx
    }

    pub fn pipelines(&self) -> &Arc<Pipelines> {
        &self.core.pipes
    }

    /// The matmul tiles of this engine's products and how they were found.
    pub fn tile_choices(&self) -> &TileChoices {
        &self.core.tiles
    }

    /// The prepared programs, with tables for at least `train_steps` training steps.
    fn prepare<'a>(
        slot: &'a mut Option<Prepared>,
        core: &Core,
        train_steps: usize,
    ) -> Result<&'a Prepared, GpuError> {
        let eval_batches = Prepared::eval_batches(core);
        let train_cap = match slot.take() {
            Some(p) if p.fits(train_steps, eval_batches) => return Ok(slot.insert(p)),
            Some(p) => train_steps.max(p.tables.train_cap),
            None => train_steps,
        };
        Ok(slot.insert(Prepared::new(core, train_cap.max(1), eval_batches)?))
    }

    /// Prepares `steps` profiling steps over the training split's first `max_batch` samples
    /// (Adam's first step each); returns the batch.
    fn prepare_profile(&mut self, steps: usize, what: &str) -> Result<(usize, &Prepared)> {
        let core = &self.core;
        let batch = core.max_batch.min(core.train_count());
        if batch == 0 {
            return Err(ConfigError::new(format!("{what} needs a loaded training split")).into());
        }
        let prepared = Self::prepare(&mut self.prepared, core, steps)?;
        let order: Vec<u32> = (0..batch as u32).collect();
        core.ctx
            .queue
            .write_buffer(&core.buffers.order, 0, bytemuck::cast_slice(&order));
        let record = StepRecord {
            step_size: core.optimizer.step_size(1),
            seed: 1,
            ..StepRecord::full(batch)
        };
        prepared.write_records(core, 0, &vec![record; steps]);
        Ok((batch, prepared))
    }

    /// Times each dispatch of a full-batch training step alone and the step as a whole
    /// (`repeats` back to back, wall clock after a warm-up). Needs the training split loaded;
    /// it trains on its first `max_batch` samples, changing the parameters.
    pub fn profile_step(&mut self, repeats: usize) -> Result<StepProfile> {
        let repeats = repeats.max(1);
        let ctx = Arc::clone(&self.core.ctx);
        let (batch, prepared) = self.prepare_profile(repeats, "profile_step")?;
        Ok(profile::wall_clock(&ctx, prepared, batch, repeats)?)
    }

    /// Times each dispatch of a full-batch training step with timestamp queries over `steps`
    /// steps (capped so the queries fit one query set) in one submission, after a warm-up step.
    /// Needs the training split loaded and a device opened with timestamp queries; trains on its
    /// first `max_batch` samples, changing the parameters.
    pub fn profile_step_timestamps(&mut self, steps: usize) -> Result<TimestampProfile> {
        let ctx = Arc::clone(&self.core.ctx);
        let method = timestamp_method(&ctx).ok_or_else(|| {
            GpuError::Device(format!(
                "{}: the device was opened without timestamp queries",
                ctx.info.name
            ))
        })?;
        let (batch, prepared) = self.prepare_profile(1, "profile_step_timestamps")?;
        Ok(profile::timestamps(&ctx, method, prepared, batch, steps)?)
    }
}

impl Engine for GpuEngine {
    fn describe(&self) -> String {
        self.core.ctx.describe()
    }

    fn load_split(&mut self, split: Split, samples: &Samples) -> Result<()> {
        let core = &mut self.core;
        if samples.features != core.spec.inputs {
            return Err(ConfigError::new(format!(
                "the data has {} features per sample, the model expects {}",
                samples.features, core.spec.inputs
            ))
            .into());
        }
        if let Some(bad) = samples
            .labels
            .iter()
            .find(|&&l| l as usize >= core.spec.classes)
        {
            return Err(ConfigError::new(format!(
                "label {bad} is out of range for a model with {} classes",
                core.spec.classes
            ))
            .into());
        }
        let r = Resident::upload(&core.ctx, samples)?;
        core.buffers
            .fit_split(&core.ctx, samples.count, split == Split::Train);
        match split {
            Split::Train => core.train = Some(r),
            Split::Test => core.test = Some(r),
        }
        self.prepared = None;
        core.ctx.take_error()?;
        Ok(())
    }

    fn set_parameters(&mut self, params: &[f32]) -> Result<()> {
        let core = &self.core;
        core.spec.check_parameters(params)?;
        core.ctx
            .queue
            .write_buffer(&core.buffers.params, 0, bytemuck::cast_slice(params));
        let mut encoder = core.ctx.device.create_command_encoder(&Default::default());
        encoder.clear_buffer(&core.buffers.moment1, 0, None);
        encoder.clear_buffer(&core.buffers.moment2, 0, None);
        core.ctx.queue.submit([encoder.finish()]);
        core.ctx.take_error()?;
        Ok(())
    }

    fn parameters(&mut self) -> Result<Vec<f32>> {
        let core = &self.core;
        Ok(buffers::read(
            &core.ctx,
            &core.buffers.params,
            0,
            core.spec.parameter_count(),
        )?)
    }

    fn optimizer_state(&mut self) -> Result<OptimizerState> {
        let core = &self.core;
        let n = core.spec.parameter_count();
        Ok(OptimizerState {
            moment1: buffers::read(&core.ctx, &core.buffers.moment1, 0, n)?,
            moment2: buffers::read(&core.ctx, &core.buffers.moment2, 0, n)?,
        })
    }

    fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<()> {
        let core = &self.core;
        state.check(&core.spec)?;
        let queue = &core.ctx.queue;
        queue.write_buffer(
            &core.buffers.moment1,
            0,
            bytemuck::cast_slice(&state.moment1),
        );
        queue.write_buffer(
            &core.buffers.moment2,
            0,
            bytemuck::cast_slice(&state.moment2),
        );
        Ok(core.ctx.take_error()?)
    }

    fn train_epoch(
        &mut self,
        plan: &EpochPlan,
        progress: &mut dyn FnMut(usize, &[StepMetrics]),
    ) -> Result<Vec<StepMetrics>> {
        let core = &self.core;
        let count = core
            .train
            .as_ref()
            .map(|r| r.count)
            .ok_or_else(|| ConfigError::new("no training split loaded"))?;
        plan.check(count, core.max_batch)?;
        let steps = plan.steps.len();
        if steps == 0 {
            return Ok(Vec::new());
        }
        let prepared = Self::prepare(&mut self.prepared, core, steps)?;
        let ctx = &core.ctx;
        ctx.queue
            .write_buffer(&core.buffers.order, 0, bytemuck::cast_slice(&plan.order));
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
                decay: s.decay,
                _pad: [0; 3],
            })
            .collect();
        prepared.write_records(core, 0, &records);
        let tables = &prepared.tables;
        let chunk = core.opts.steps_per_submit.min(tables.staging_steps).max(1);
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
                buffers::wait_mapped(ctx, &tables.staging[buf], bytes, rx, Some(index))?;
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
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            prepared.record(&mut encoder, &prepared.train, range.clone());
            encoder.copy_buffer_to_buffer(
                &tables.slots,
                range.start as u64 * 8,
                &tables.staging[buf],
                0,
                range.len() as u64 * 8,
            );
            let index = ctx.queue.submit([encoder.finish()]);
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
        ctx.take_error()?;
        Ok(all)
    }

    fn evaluate(&mut self, split: Split, rows: Range<usize>) -> Result<Evaluation> {
        let core = &self.core;
        let count = match split {
            Split::Train => core.train.as_ref(),
            Split::Test => core.test.as_ref(),
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
        let prepared = Self::prepare(&mut self.prepared, core, 1)?;
        let e = core.opts.eval_batch;
        let base = prepared.tables.train_cap;
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
        prepared.write_records(core, base, &records);
        let list = match split {
            Split::Train => &prepared.eval_train,
            Split::Test => &prepared.eval_test,
        };
        let ctx = &core.ctx;
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        prepared.record(&mut encoder, list, base..base + records.len());
        ctx.queue.submit([encoder.finish()]);
        let slots: Vec<u32> = buffers::read(
            ctx,
            &prepared.tables.slots,
            base as u64 * 8,
            2 * records.len(),
        )?;
        let predictions: Vec<u32> = buffers::read(ctx, &core.buffers.predictions, 0, rows.len())?;
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
