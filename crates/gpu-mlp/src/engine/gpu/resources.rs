//! What an engine needs from a device and what it holds there: the limit checks made before
//! anything is allocated, the engine's buffers, the data set splits resident on the device, and
//! `EngineResources`, all of it together: what the step programs are built from.

use super::buffers::{self, STORAGE};
use super::context::{DeviceNeeds, GpuContext, STORAGE_BUFFERS_PER_KERNEL};
use super::kernels::gather::{self, GatherParams};
use super::kernels::matmul::{MatmulVariant, Product};
use super::pipelines::Pipelines;
use super::tuning::TileChoices;
use super::GpuOptions;
use crate::data::{Inputs, Samples};
use crate::engine::Split;
use crate::error::GpuError;
use crate::model::dropout::DropoutMask;
use crate::model::optimizer::Optimizer;
use crate::model::{DenseLayer, ModelSpec};
use crate::setting::{Phrase, Setting};
use std::sync::Arc;

/// Everything an engine holds but its step programs: what they are built from.
pub struct EngineResources {
    pub device: DeviceKernels,
    pub model: ModelSetup,
    /// The most rows of a training batch.
    pub max_batch: usize,
    pub options: GpuOptions,
    pub buffers: EngineBuffers,
    pub splits: ResidentSplits,
}

/// The device with its compiled kernels and the matmul tile chosen for each product.
pub struct DeviceKernels {
    pub ctx: Arc<GpuContext>,
    pub pipelines: Arc<Pipelines>,
    pub tiles: TileChoices,
}

impl DeviceKernels {
    /// The variant chosen for `product`.
    pub fn variant(&self, product: Product) -> Result<MatmulVariant, GpuError> {
        self.tiles.tile(product).ok_or_else(|| {
            GpuError::Device(format!(
                "internal: no tile chosen for the product {}",
                product.name()
            ))
        })
    }
}

/// The model the engine trains, as its kernels see it.
pub struct ModelSetup {
    pub spec: ModelSpec,
    /// Each dense layer's shape and offsets in the flat parameters.
    pub layers: Vec<DenseLayer>,
    pub optimizer: Optimizer,
    pub dropout: DropoutMask,
}

/// The data set splits loaded on the device.
#[derive(Default)]
pub struct ResidentSplits {
    pub train: Option<ResidentSplit>,
    pub test: Option<ResidentSplit>,
}

impl ResidentSplits {
    pub fn get(&self, split: Split) -> Option<&ResidentSplit> {
        match split {
            Split::Train => self.train.as_ref(),
            Split::Test => self.test.as_ref(),
        }
    }

    pub fn set(&mut self, split: Split, resident: ResidentSplit) {
        match split {
            Split::Train => self.train = Some(resident),
            Split::Test => self.test = Some(resident),
        }
    }

    /// Samples of the larger split (0 with none loaded).
    pub fn largest(&self) -> usize {
        [&self.train, &self.test]
            .map(|r| r.as_ref().map_or(0, |r| r.count))
            .into_iter()
            .max()
            .unwrap_or(0)
    }
}

/// What an engine for `spec` with batches up to `max_batch` needs from a device (the data set is
/// checked when loaded).
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

fn limit(ctx: &GpuContext, what: impl Into<Phrase>) -> GpuError {
    GpuError::Limit {
        adapter: ctx.info.name.clone(),
        what: what.into(),
    }
}

/// Checks the buffers of an engine for `spec` with batches of up to `rows` rows against the
/// device's limits.
pub fn check_buffers(ctx: &GpuContext, spec: &ModelSpec, rows: usize) -> Result<(), GpuError> {
    let limits = ctx.device.limits();
    let act_bytes = rows as u64 * spec.max_width() as u64 * 4;
    if act_bytes > limits.max_storage_buffer_binding_size || act_bytes > limits.max_buffer_size {
        return Err(limit(
            ctx,
            crate::phrase![
                format!(
                    "a batch of {rows} rows × {} features needs {} MiB per activation buffer, \
                     the device binds at most {} MiB; use a smaller ",
                    spec.max_width(),
                    act_bytes >> 20,
                    limits
                        .max_storage_buffer_binding_size
                        .min(limits.max_buffer_size)
                        >> 20
                ),
                Setting::BatchSize
            ],
        ));
    }
    if spec.parameter_count() as u64 * 4 > limits.max_storage_buffer_binding_size {
        return Err(limit(
            ctx,
            format!(
                "the model's {} parameters exceed the device's storage binding size",
                spec.parameter_count()
            ),
        ));
    }
    if limits.max_storage_buffers_per_shader_stage < STORAGE_BUFFERS_PER_KERNEL {
        return Err(limit(
            ctx,
            format!(
                "the kernels bind {} storage buffers, the device allows {}",
                STORAGE_BUFFERS_PER_KERNEL, limits.max_storage_buffers_per_shader_stage
            ),
        ));
    }
    Ok(())
}

/// Checks that the device can launch the grid of each product's chosen variant.
pub fn check_grids<'a>(
    ctx: &GpuContext,
    chosen: impl Iterator<Item = (&'a Product, MatmulVariant)>,
) -> Result<(), GpuError> {
    let limits = ctx.device.limits();
    for (product, variant) in chosen {
        if !product.fits(variant, &limits) {
            let (x, y) = variant.workgroups(product.m, product.n);
            return Err(limit(
                ctx,
                format!(
                    "a {}×{} product needs {x}×{y} workgroups, the device allows {} per \
                     dimension; use a smaller batch",
                    product.m, product.n, limits.max_compute_workgroups_per_dimension
                ),
            ));
        }
    }
    Ok(())
}

/// The engine's buffers on the device.
pub struct EngineBuffers {
    pub params: wgpu::Buffer,
    pub grads: wgpu::Buffer,
    pub moment1: wgpu::Buffer,
    pub moment2: wgpu::Buffer,
    /// `acts[0]` input batch, `acts[i]` output of dense layer i-1.
    pub acts: Vec<wgpu::Buffer>,
    /// `deltas[i]` gradient w.r.t. the pre-activation of dense layer i.
    pub deltas: Vec<wgpu::Buffer>,
    pub labels: wgpu::Buffer,
    pub predictions: wgpu::Buffer,
    predictions_cap: usize,
    pub order: wgpu::Buffer,
    order_cap: usize,
}

impl EngineBuffers {
    /// Buffers for `spec` with batches of up to `rows` rows (prediction and order buffers grow
    /// with the splits loaded).
    pub fn new(ctx: &GpuContext, spec: &ModelSpec, rows: usize) -> Self {
        let n = spec.parameter_count() as u64 * 4;
        let widths = spec.widths();
        let batch =
            |label: String, w: &usize| buffers::zeroed(ctx, &label, (rows * w * 4) as u64, STORAGE);
        Self {
            params: buffers::zeroed(ctx, "params", n, STORAGE),
            grads: buffers::zeroed(ctx, "grads", n, STORAGE),
            moment1: buffers::zeroed(ctx, "adam m", n, STORAGE),
            moment2: buffers::zeroed(ctx, "adam v", n, STORAGE),
            acts: widths
                .iter()
                .enumerate()
                .map(|(i, w)| batch(format!("acts{i}"), w))
                .collect(),
            deltas: widths[1..]
                .iter()
                .enumerate()
                .map(|(i, w)| batch(format!("delta{i}"), w))
                .collect(),
            labels: buffers::zeroed(ctx, "batch labels", rows as u64 * 4, STORAGE),
            predictions: buffers::zeroed(ctx, "predictions", 16, STORAGE),
            predictions_cap: 0,
            order: buffers::zeroed(ctx, "order", 16, STORAGE),
            order_cap: 0,
        }
    }

    /// Grows the prediction buffer (and for a training split the order buffer) to `count`
    /// samples.
    pub fn fit_split(&mut self, ctx: &GpuContext, count: usize, training: bool) {
        if count > self.predictions_cap {
            self.predictions_cap = count;
            self.predictions = buffers::zeroed(ctx, "predictions", count as u64 * 4, STORAGE);
        }
        if training && count > self.order_cap {
            self.order_cap = count;
            self.order = buffers::zeroed(ctx, "order", count as u64 * 4, STORAGE);
        }
    }
}

/// One split resident on the device.
pub struct ResidentSplit {
    pub images: wgpu::Buffer,
    pub labels: wgpu::Buffer,
    pub count: usize,
    /// The gather's parameters for these inputs (pixels or values).
    pub gather: GatherParams,
}

impl ResidentSplit {
    /// Uploads `samples` after checking they fit the device.
    pub fn upload(ctx: &GpuContext, samples: &Samples) -> Result<Self, GpuError> {
        let limits = ctx.device.limits();
        let bytes = samples.inputs.bytes().next_multiple_of(4) as u64;
        let kind = match samples.inputs {
            Inputs::Pixels(_) => "pixels",
            Inputs::Values(_) => "values",
        };
        let most = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        if bytes > most {
            return Err(limit(
                ctx,
                crate::phrase![
                    format!(
                        "the data's {} MiB of {kind} ({} samples of {} inputs) exceed the \
                         device's {} MiB storage binding; use fewer samples (",
                        bytes >> 20,
                        samples.count,
                        samples.features,
                        most >> 20
                    ),
                    Setting::TrainSamples,
                    ") or the CPU engine"
                ],
            ));
        }
        if samples.inputs.len() >= u32::MAX as usize {
            return Err(limit(ctx, "data sets over 4 Gi values are not supported"));
        }
        Ok(Self {
            images: gather::upload_inputs(ctx, &samples.inputs),
            labels: buffers::with_data(
                ctx,
                "labels",
                &gather::label_words(&samples.labels),
                STORAGE,
            ),
            count: samples.count,
            gather: GatherParams::new(samples.features, &samples.inputs),
        })
    }
}
