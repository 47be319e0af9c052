//! Timing for `gpu-mlp bench`: a matmul timer that builds its buffers once (large products are
//! dispatched as few times as possible), and the device time of each dispatch of a real training
//! step from timestamp queries.
//!
//! Timestamps: the engine's own step program is recorded with a timestamp between its dispatches
//! (or, where the adapter only has pass-level timestamps, each dispatch in a pass of its own),
//! and the same run is also timed by the wall clock (submit to idle). Timestamps can
//! under-report (a driver may write one before the previous work has drained, or pass-level
//! timestamps may miss what happens between passes); `TimestampProfile::busy` (device time
//! against wall time) is the check that they do not.

use super::buffers::{self, STORAGE};
use super::context::GpuContext;
use super::pipelines::{MatmulParams, Pipelines, StepRecord, Tile, Transpose, STEP_RECORD_BYTES};
use super::{gpu_err, GpuEngine};
use crate::error::{ConfigError, GpuError, Result};
use std::sync::Arc;
use std::time::Instant;

/// True when the device was opened with timestamp queries (see `DeviceNeeds::optional_features`).
pub fn has_timestamps(ctx: &GpuContext) -> bool {
    ctx.device
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY)
}

/// How `GpuEngine::profile_step_timestamps` times a step on this device, if it can.
pub fn timestamp_method(ctx: &GpuContext) -> Option<TimestampMethod> {
    let features = ctx.device.features();
    if !features.contains(wgpu::Features::TIMESTAMP_QUERY) {
        None
    } else if features.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES) {
        Some(TimestampMethod::InsidePass)
    } else {
        Some(TimestampMethod::PassPerDispatch)
    }
}

/// One packed `m × k × n` product of a variant and tile, ready to dispatch again and again.
pub struct MatmulTimer {
    ctx: Arc<GpuContext>,
    pipeline: wgpu::ComputePipeline,
    group: wgpu::BindGroup,
    workgroups: (u32, u32),
    /// Floating-point operations of one product (2·m·k·n).
    pub flops: f64,
    // Kept alive for the bind group.
    _buffers: Vec<wgpu::Buffer>,
}

impl MatmulTimer {
    pub fn new(
        ctx: Arc<GpuContext>,
        pipes: &Pipelines,
        t: Transpose,
        tile: Tile,
        (m, k, n): (usize, usize, usize),
    ) -> Result<Self, GpuError> {
        let pipeline = pipes.matmul(&ctx.device, t, tile)?;
        // Non-zero, non-denormal inputs; the values do not matter for timing.
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.25 + 0.125).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.5 - 1.0).collect();
        let params = MatmulParams::packed(t, m, k, n);
        let uniform = wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST;
        let bufs = vec![
            buffers::with_data(&ctx, "params", std::slice::from_ref(&params), uniform),
            buffers::with_data(
                &ctx,
                "step",
                std::slice::from_ref(&StepRecord::default()),
                uniform,
            ),
            buffers::with_data(&ctx, "a", &a, STORAGE),
            buffers::with_data(&ctx, "b", &b, STORAGE),
            buffers::zeroed(&ctx, "c", (m * n * 4) as u64, STORAGE),
        ];
        let mut entries = vec![
            wgpu::BindGroupEntry {
                binding: 0,
                resource: bufs[0].as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &bufs[1],
                    offset: 0,
                    size: std::num::NonZeroU64::new(STEP_RECORD_BYTES),
                }),
            },
        ];
        // a, b, c, aux (the mask source; unused without an epilogue, so A again).
        for (binding, buf) in [(2, &bufs[2]), (3, &bufs[3]), (4, &bufs[4]), (5, &bufs[2])] {
            entries.push(wgpu::BindGroupEntry {
                binding,
                resource: buf.as_entire_binding(),
            });
        }
        let group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("matmul timer"),
            layout: &pipes.matmul_layout.bind_group,
            entries: &entries,
        });
        ctx.take_error()?;
        Ok(Self {
            pipeline,
            group,
            workgroups: tile.workgroups(m, n),
            flops: 2.0 * m as f64 * k as f64 * n as f64,
            _buffers: bufs,
            ctx,
        })
    }

    /// Wall-clock seconds per dispatch over `dispatches` dispatches in one pass and one
    /// submission, from submit until the device is idle.
    pub fn time(&self, dispatches: usize) -> Result<f64, GpuError> {
        let dispatches = dispatches.max(1);
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("matmul timer"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &self.group, &[0]);
            for _ in 0..dispatches {
                pass.dispatch_workgroups(self.workgroups.0, self.workgroups.1, 1);
            }
        }
        let command = encoder.finish();
        let started = Instant::now();
        self.ctx.queue.submit([command]);
        self.ctx.wait()?;
        Ok(started.elapsed().as_secs_f64() / dispatches as f64)
    }
}

/// Where the timestamps of a step profile were written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampMethod {
    /// Between the dispatches of the step recorded as the engine records it (one compute pass):
    /// dispatch i's time runs from the timestamp after dispatch i-1 to the one after it, so it
    /// includes the barrier before it. Needs `TIMESTAMP_QUERY_INSIDE_PASSES`.
    InsidePass,
    /// At the start and end of a compute pass per dispatch (adapters with plain
    /// `TIMESTAMP_QUERY` only, e.g. Apple GPUs); the step is split into one pass per dispatch.
    PassPerDispatch,
}

impl TimestampMethod {
    pub fn describe(self) -> &'static str {
        match self {
            TimestampMethod::InsidePass => {
                "timestamp queries between the dispatches of the step's one compute pass"
            }
            TimestampMethod::PassPerDispatch => {
                "timestamp queries around each dispatch in its own compute pass"
            }
        }
    }
}

/// Device times of a training step's dispatches, from timestamp queries.
#[derive(Clone, Debug, PartialEq)]
pub struct TimestampProfile {
    pub batch: usize,
    pub method: TimestampMethod,
    /// (dispatch name, seconds of each timed step) in step order.
    pub kernels: Vec<(String, Vec<f64>)>,
    /// Seconds from the first dispatch's start to the last one's end, of each timed step.
    pub spans: Vec<f64>,
    /// Wall-clock seconds per step of the same run (submit until idle, divided by the steps).
    pub wall: f64,
}

impl TimestampProfile {
    /// Sum over the step's dispatches of their device times, per timed step.
    pub fn kernel_sums(&self) -> Vec<f64> {
        (0..self.spans.len())
            .map(|r| self.kernels.iter().map(|(_, s)| s[r]).sum())
            .collect()
    }

    /// Device time of the whole run over its wall time: about 1 when the device is never idle,
    /// lower when launches or the host dominate; above 1 only when timestamps over-report.
    pub fn busy(&self) -> f64 {
        self.spans.iter().sum::<f64>() / (self.wall * self.spans.len() as f64)
    }
}

impl GpuEngine {
    /// Times each dispatch of a full-batch training step with timestamp queries over `steps`
    /// steps (capped so the queries fit one query set) in one submission, after a warm-up step.
    /// Needs the training split loaded and a device opened with timestamp queries; trains on its
    /// first `max_batch` samples, changing the parameters.
    pub fn profile_step_timestamps(&mut self, steps: usize) -> Result<TimestampProfile> {
        let method = timestamp_method(&self.ctx).ok_or_else(|| {
            GpuError::Device(format!(
                "{}: the device was opened without timestamp queries",
                self.ctx.info.name
            ))
        })?;
        let count = self.train.as_ref().map_or(0, |r| r.count);
        let batch = self.max_batch.min(count);
        if batch == 0 {
            return Err(
                ConfigError::new("profile_step_timestamps needs a loaded training split").into(),
            );
        }
        self.prepare(1).map_err(gpu_err)?;
        let order: Vec<u32> = (0..batch as u32).collect();
        self.ctx
            .queue
            .write_buffer(&self.order, 0, bytemuck::cast_slice(&order));
        self.write_records(0, &[self.profiling_record(batch)])?;
        let programs = self
            .programs
            .as_ref()
            .ok_or_else(|| GpuError::Device("no programs".into()))?;
        let list = &programs.train;
        let d = list.len();
        // Queries per step: one before the first dispatch and one after each (inside a pass),
        // or a start and an end per dispatch (a pass each).
        let per_step = match method {
            TimestampMethod::InsidePass => d + 1,
            TimestampMethod::PassPerDispatch => 2 * d,
        };
        let max_steps = (wgpu::QUERY_SET_MAX_QUERIES as usize / per_step.max(1)).max(1);
        let steps = steps.clamp(1, max_steps);
        let queries = (steps * per_step) as u32;
        let device = &self.ctx.device;

        // Warm-up: one step as the engine records it.
        let mut encoder = device.create_command_encoder(&Default::default());
        self.record(&mut encoder, list, 0..1);
        self.ctx.queue.submit([encoder.finish()]);
        self.ctx.wait()?;

        let set = device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("step timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: queries,
        });
        let resolve = buffers::zeroed(
            &self.ctx,
            "timestamp resolve",
            queries as u64 * 8,
            wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        );
        let mut encoder = device.create_command_encoder(&Default::default());
        match method {
            TimestampMethod::InsidePass => {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("steps"),
                    timestamp_writes: None,
                });
                for s in 0..steps {
                    let base = (s * per_step) as u32;
                    pass.write_timestamp(&set, base);
                    for (i, disp) in list.iter().enumerate() {
                        pass.set_pipeline(&disp.pipeline);
                        pass.set_bind_group(0, &disp.group, &[0]);
                        pass.dispatch_workgroups(disp.workgroups.0, disp.workgroups.1, 1);
                        pass.write_timestamp(&set, base + i as u32 + 1);
                    }
                }
            }
            TimestampMethod::PassPerDispatch => {
                for s in 0..steps {
                    for (i, disp) in list.iter().enumerate() {
                        let q = (s * per_step + 2 * i) as u32;
                        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                            label: Some(&disp.name),
                            timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                                query_set: &set,
                                beginning_of_pass_write_index: Some(q),
                                end_of_pass_write_index: Some(q + 1),
                            }),
                        });
                        pass.set_pipeline(&disp.pipeline);
                        pass.set_bind_group(0, &disp.group, &[0]);
                        pass.dispatch_workgroups(disp.workgroups.0, disp.workgroups.1, 1);
                    }
                }
            }
        }
        encoder.resolve_query_set(&set, 0..queries, &resolve, 0);
        let command = encoder.finish();
        let started = Instant::now();
        self.ctx.queue.submit([command]);
        self.ctx.wait()?;
        let wall = started.elapsed().as_secs_f64() / steps as f64;
        let ticks: Vec<u64> = buffers::read(&self.ctx, &resolve, 0, queries as usize)?;
        if ticks.iter().all(|&t| t == 0) {
            return Err(GpuError::Device(format!(
                "{}: every timestamp read back as 0",
                self.ctx.info.name
            ))
            .into());
        }
        let period_s = self.ctx.queue.get_timestamp_period() as f64 * 1e-9;
        let seconds = |from: u64, to: u64| to.saturating_sub(from) as f64 * period_s;
        // (start, end) query of dispatch i of step s.
        let bounds = |s: usize, i: usize| match method {
            TimestampMethod::InsidePass => (s * per_step + i, s * per_step + i + 1),
            TimestampMethod::PassPerDispatch => (s * per_step + 2 * i, s * per_step + 2 * i + 1),
        };
        let kernels = list
            .iter()
            .enumerate()
            .map(|(i, disp)| {
                let times = (0..steps)
                    .map(|s| {
                        let (a, b) = bounds(s, i);
                        seconds(ticks[a], ticks[b])
                    })
                    .collect();
                (disp.name.clone(), times)
            })
            .collect();
        let spans = (0..steps)
            .map(|s| seconds(ticks[bounds(s, 0).0], ticks[bounds(s, d - 1).1]))
            .collect();
        Ok(TimestampProfile {
            batch,
            method,
            kernels,
            spans,
            wall,
        })
    }
}
