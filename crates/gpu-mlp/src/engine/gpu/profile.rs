//! Where a training step's time goes: each dispatch of the engine's own step program timed
//! alone by the wall clock (`wall_clock`), or by timestamp queries inside one run of the step
//! (`timestamps`).
//!
//! Timestamps: the step program is recorded with a timestamp between its dispatches (or, where
//! the adapter only has pass-level timestamps, each dispatch in a pass of its own), and the same
//! run is also timed by the wall clock (submit to idle). Timestamps can under-report (a driver
//! may write one before the previous work has drained, or pass-level timestamps may miss what
//! happens between passes); `TimestampProfile::busy` (device time against wall time) is the
//! check that they do not.

use super::buffers;
use super::context::GpuContext;
use super::dispatch::Dispatch;
use super::programs::StepPrograms;
use super::timing::TimestampMethod;
use crate::error::GpuError;
use std::time::Instant;

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

/// Times each dispatch of `programs`' training step alone and the whole step, `repeats` step
/// records back to back (written by the caller), by the wall clock after a warm-up run.
pub fn wall_clock(
    ctx: &GpuContext,
    programs: &StepPrograms,
    batch: usize,
    repeats: usize,
) -> Result<StepProfile, GpuError> {
    let run = |list: &[Dispatch], steps: usize| -> Result<f64, GpuError> {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        programs.record(&mut encoder, list, 0..1);
        ctx.queue.submit([encoder.finish()]);
        ctx.wait()?;
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        programs.record(&mut encoder, list, 0..steps);
        let started = Instant::now();
        ctx.queue.submit([encoder.finish()]);
        ctx.wait()?;
        Ok(started.elapsed().as_secs_f64() / steps as f64)
    };
    let mut kernels = Vec::new();
    for d in &programs.training_step {
        kernels.push((d.name.clone(), run(std::slice::from_ref(d), repeats)?));
    }
    let step = run(&programs.training_step, repeats)?;
    Ok(StepProfile {
        batch,
        kernels,
        step,
    })
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

/// Times each dispatch of `programs`' training step (its first step record, written by the
/// caller) with timestamp queries over `steps` steps (capped so the queries fit one query set)
/// in one submission, after a warm-up step.
pub fn timestamps(
    ctx: &GpuContext,
    method: TimestampMethod,
    programs: &StepPrograms,
    batch: usize,
    steps: usize,
) -> Result<TimestampProfile, GpuError> {
    let list = &programs.training_step;
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
    let device = &ctx.device;

    // Warm-up: one step as the engine records it.
    let mut encoder = device.create_command_encoder(&Default::default());
    programs.record(&mut encoder, list, 0..1);
    ctx.queue.submit([encoder.finish()]);
    ctx.wait()?;

    let set = device.create_query_set(&wgpu::QuerySetDescriptor {
        label: Some("step timestamps"),
        ty: wgpu::QueryType::Timestamp,
        count: queries,
    });
    let resolve = buffers::zeroed(
        ctx,
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
                for (i, dispatch) in list.iter().enumerate() {
                    dispatch.encode(&mut pass, 0, 1);
                    pass.write_timestamp(&set, base + i as u32 + 1);
                }
            }
        }
        TimestampMethod::PassPerDispatch => {
            for s in 0..steps {
                for (i, dispatch) in list.iter().enumerate() {
                    let q = (s * per_step + 2 * i) as u32;
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some(&dispatch.name),
                        timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                            query_set: &set,
                            beginning_of_pass_write_index: Some(q),
                            end_of_pass_write_index: Some(q + 1),
                        }),
                    });
                    dispatch.encode(&mut pass, 0, 1);
                }
            }
        }
    }
    encoder.resolve_query_set(&set, 0..queries, &resolve, 0);
    let command = encoder.finish();
    let started = Instant::now();
    ctx.queue.submit([command]);
    ctx.wait()?;
    let wall = started.elapsed().as_secs_f64() / steps as f64;
    let ticks: Vec<u64> = buffers::read(ctx, &resolve, 0, queries as usize)?;
    if ticks.iter().all(|&t| t == 0) {
        return Err(GpuError::Device(format!(
            "{}: every timestamp read back as 0",
            ctx.info.name
        )));
    }
    let period_s = ctx.queue.get_timestamp_period() as f64 * 1e-9;
    let seconds = |from: u64, to: u64| to.saturating_sub(from) as f64 * period_s;
    // (start, end) query of dispatch i of step s.
    let bounds = |s: usize, i: usize| match method {
        TimestampMethod::InsidePass => (s * per_step + i, s * per_step + i + 1),
        TimestampMethod::PassPerDispatch => (s * per_step + 2 * i, s * per_step + 2 * i + 1),
    };
    let kernels = list
        .iter()
        .enumerate()
        .map(|(i, dispatch)| {
            let times = (0..steps)
                .map(|s| {
                    let (a, b) = bounds(s, i);
                    seconds(ticks[a], ticks[b])
                })
                .collect();
            (dispatch.name.clone(), times)
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
