//! The GPU engine: resident data, one flat parameter buffer, every training step recorded on the
//! device. Pipelines, bind groups and buffers are created once (bind groups again only when a
//! split is replaced or the step table must grow); an epoch uploads its permutation and step
//! table once, records `steps_per_submit` steps per command buffer, and reads each chunk's metric
//! slots back while the next chunk runs.

use super::buffers;
use super::context::{DeviceNeeds, GpuContext};
use super::kernels::{RowSource, StepRecord};
use super::pipelines::Pipelines;
use super::profile::{self, StepProfile, TimestampProfile};
use super::programs::{self, StepPrograms};
use super::resources::{self, DeviceKernels, EngineBuffers, EngineResources, ModelSetup};
use super::resources::{ResidentSplit, ResidentSplits};
use super::timing::timestamp_method;
use super::tuning::{self, TileChoices};
use super::GpuOptions;
use crate::data::Samples;
use crate::engine::{Engine, EpochPlan, Evaluation, OptimizerState, Split, StepMetrics};
use crate::error::{ConfigError, GpuError, Result};
use crate::model::dropout::DropoutMask;
use crate::model::optimizer::Optimizer;
use crate::model::ModelSpec;
use std::ops::Range;
use std::sync::Arc;

pub struct GpuEngine {
    resources: EngineResources,
    /// Built on first use and again after a split changes or when an epoch outgrows the tables.
    programs: Option<StepPrograms>,
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
            return Err(ConfigError::new(crate::phrase![
                crate::setting::Setting::StepsPerSubmit,
                " and the evaluation batch must be at least 1"
            ])
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
        let resources = EngineResources {
            buffers: EngineBuffers::new(&ctx, spec, rows),
            splits: ResidentSplits::default(),
            model: ModelSetup {
                layers,
                dropout: DropoutMask::new(spec.dropout),
                spec: spec.clone(),
                optimizer,
            },
            max_batch,
            options: opts,
            device: DeviceKernels {
                tiles,
                pipelines: pipes,
                ctx,
            },
        };
        // Compile every matmul variant now, so nothing compiles inside an epoch.
        let device = &resources.device;
        for product in products {
            let variant = device.variant(product)?;
            let pipelines = &device.pipelines;
            pipelines.matmul(&device.ctx.device, product.transpose, variant)?;
        }
        device.ctx.take_error()?;
        let mut engine = Self {
            resources,
            programs: None,
        };
        engine.set_parameters(parameters)?;
        Ok(engine)
    }

    pub fn context(&self) -> &Arc<GpuContext> {
        &self.resources.device.ctx
    }

    pub fn pipelines(&self) -> &Arc<Pipelines> {
        &self.resources.device.pipelines
    }

    /// The matmul tiles of this engine's products and how they were found.
    pub fn tile_choices(&self) -> &TileChoices {
        &self.resources.device.tiles
    }

    /// The step programs, with tables for at least `train_steps` training steps.
    fn programs<'a>(
        built: &'a mut Option<StepPrograms>,
        resources: &EngineResources,
        train_steps: usize,
    ) -> Result<&'a StepPrograms, GpuError> {
        let eval_batches = StepPrograms::eval_batches(resources);
        let train_steps = match built.take() {
            Some(p) if p.fits(train_steps, eval_batches) => return Ok(built.insert(p)),
            Some(p) => train_steps.max(p.tables.train_steps),
            None => train_steps,
        };
        let programs = StepPrograms::new(resources, train_steps.max(1), eval_batches)?;
        Ok(built.insert(programs))
    }

    /// Prepares `steps` profiling steps over the training split's first `max_batch` samples
    /// (Adam's first step each); returns the batch.
    fn prepare_profile(&mut self, steps: usize, what: &str) -> Result<(usize, &StepPrograms)> {
        let resources = &self.resources;
        let train_count = resources.splits.train.as_ref().map_or(0, |r| r.count);
        let batch = resources.max_batch.min(train_count);
        if batch == 0 {
            return Err(ConfigError::new(format!("{what} needs a loaded training split")).into());
        }
        let programs = Self::programs(&mut self.programs, resources, steps)?;
        let order: Vec<u32> = (0..batch as u32).collect();
        let queue = &resources.device.ctx.queue;
        queue.write_buffer(&resources.buffers.order, 0, bytemuck::cast_slice(&order));
        let record = StepRecord {
            step_size: resources.model.optimizer.step_size(1),
            seed: 1,
            ..StepRecord::full(batch)
        };
        programs.write_records(queue, 0, &vec![record; steps]);
        Ok((batch, programs))
    }

    /// Times each dispatch of a full-batch training step alone and the step as a whole
    /// (`repeats` back to back, wall clock after a warm-up). Needs the training split loaded;
    /// it trains on its first `max_batch` samples, changing the parameters.
    pub fn profile_step(&mut self, repeats: usize) -> Result<StepProfile> {
        let repeats = repeats.max(1);
        let ctx = Arc::clone(self.context());
        let (batch, programs) = self.prepare_profile(repeats, "profile_step")?;
        Ok(profile::wall_clock(&ctx, programs, batch, repeats)?)
    }

    /// Times each dispatch of a full-batch training step with timestamp queries over `steps`
    /// steps (capped so the queries fit one query set) in one submission, after a warm-up step.
    /// Needs the training split loaded and a device opened with timestamp queries; trains on its
    /// first `max_batch` samples, changing the parameters.
    pub fn profile_step_timestamps(&mut self, steps: usize) -> Result<TimestampProfile> {
        let ctx = Arc::clone(self.context());
        let method = timestamp_method(&ctx).ok_or_else(|| {
            GpuError::Device(format!(
                "{}: the device was opened without timestamp queries",
                ctx.info.name
            ))
        })?;
        let (batch, programs) = self.prepare_profile(1, "profile_step_timestamps")?;
        Ok(profile::timestamps(&ctx, method, programs, batch, steps)?)
    }
}

impl Engine for GpuEngine {
    fn describe(&self) -> String {
        self.context().describe()
    }

    fn load_split(&mut self, split: Split, samples: &Samples) -> Result<()> {
        let resources = &mut self.resources;
        let spec = &resources.model.spec;
        if samples.features != spec.inputs {
            return Err(ConfigError::new(format!(
                "the data has {} features per sample, the model expects {}",
                samples.features, spec.inputs
            ))
            .into());
        }
        if let Some(bad) = samples.labels.iter().find(|&&l| l as usize >= spec.classes) {
            return Err(ConfigError::new(format!(
                "label {bad} is out of range for a model with {} classes",
                spec.classes
            ))
            .into());
        }
        let ctx = &resources.device.ctx;
        let resident = ResidentSplit::upload(ctx, samples)?;
        let training = split == Split::Train;
        resources.buffers.fit_split(ctx, samples.count, training);
        resources.splits.set(split, resident);
        self.programs = None;
        ctx.take_error()?;
        Ok(())
    }

    fn set_parameters(&mut self, params: &[f32]) -> Result<()> {
        let (resources, ctx) = (&self.resources, self.context());
        resources.model.spec.check_parameters(params)?;
        let bufs = &resources.buffers;
        ctx.queue
            .write_buffer(&bufs.params, 0, bytemuck::cast_slice(params));
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        encoder.clear_buffer(&bufs.moment1, 0, None);
        encoder.clear_buffer(&bufs.moment2, 0, None);
        ctx.queue.submit([encoder.finish()]);
        ctx.take_error()?;
        Ok(())
    }

    fn parameters(&mut self) -> Result<Vec<f32>> {
        let resources = &self.resources;
        Ok(buffers::read(
            self.context(),
            &resources.buffers.params,
            0,
            resources.model.spec.parameter_count(),
        )?)
    }

    fn optimizer_state(&mut self) -> Result<OptimizerState> {
        let (resources, ctx) = (&self.resources, self.context());
        let count = resources.model.spec.parameter_count();
        Ok(OptimizerState {
            moment1: buffers::read(ctx, &resources.buffers.moment1, 0, count)?,
            moment2: buffers::read(ctx, &resources.buffers.moment2, 0, count)?,
        })
    }

    fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<()> {
        let (resources, ctx) = (&self.resources, self.context());
        state.check(&resources.model.spec)?;
        let bufs = &resources.buffers;
        ctx.queue
            .write_buffer(&bufs.moment1, 0, bytemuck::cast_slice(&state.moment1));
        ctx.queue
            .write_buffer(&bufs.moment2, 0, bytemuck::cast_slice(&state.moment2));
        Ok(ctx.take_error()?)
    }

    fn train_epoch(
        &mut self,
        plan: &EpochPlan,
        progress: &mut dyn FnMut(usize, &[StepMetrics]),
    ) -> Result<Vec<StepMetrics>> {
        let resources = &self.resources;
        let count = resources
            .splits
            .train
            .as_ref()
            .map(|r| r.count)
            .ok_or_else(|| ConfigError::new("no training split loaded"))?;
        plan.check(count, resources.max_batch)?;
        let steps = plan.steps.len();
        if steps == 0 {
            return Ok(Vec::new());
        }
        let programs = Self::programs(&mut self.programs, resources, steps)?;
        let ctx = &resources.device.ctx;
        let order = bytemuck::cast_slice(&plan.order);
        ctx.queue.write_buffer(&resources.buffers.order, 0, order);
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
                row_source: RowSource::Order.into(),
                out_base: 0,
                decay: s.decay,
                _pad: [0; 3],
            })
            .collect();
        programs.write_records(&ctx.queue, 0, &records);
        let tables = &programs.tables;
        let per_submit = resources.options.steps_per_submit;
        let chunk = per_submit.min(tables.staging_steps).max(1);
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
            programs.record(&mut encoder, &programs.training_step, range.clone());
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
        let resources = &self.resources;
        let count = (resources.splits.get(split))
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
        let programs = Self::programs(&mut self.programs, resources, 1)?;
        let eval_batch = resources.options.eval_batch;
        let base = programs.tables.train_steps;
        let records: Vec<StepRecord> = rows
            .clone()
            .step_by(eval_batch)
            .enumerate()
            .map(|(batch, start)| StepRecord {
                start: start as u32,
                len: (rows.end - start).min(eval_batch) as u32,
                slot: (base + batch) as u32,
                row_source: RowSource::Direct.into(),
                out_base: (start - rows.start) as u32,
                grad_scale: 1.0,
                ..Default::default()
            })
            .collect();
        let ctx = &resources.device.ctx;
        programs.write_records(&ctx.queue, base, &records);
        let list = match split {
            Split::Train => &programs.evaluate_train,
            Split::Test => &programs.evaluate_test,
        };
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        programs.record(&mut encoder, list, base..base + records.len());
        ctx.queue.submit([encoder.finish()]);
        let slots: Vec<u32> = buffers::read(
            ctx,
            &programs.tables.slots,
            base as u64 * 8,
            2 * records.len(),
        )?;
        let predictions = &resources.buffers.predictions;
        let predictions: Vec<u32> = buffers::read(ctx, predictions, 0, rows.len())?;
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
