//! Single-kernel runs on host data: each call uploads its inputs, dispatches one kernel once and
//! reads the outputs back. For tests against the CPU reference and for timing kernels alone;
//! the training engine (`GpuEngine`) never goes through here.
//!
//! The pipelines run without wgpu's runtime bounds checks (see `pipelines::module`), so every
//! call here first checks that the shapes and offsets it was given stay inside the buffers it
//! uploads; a call that would index outside them is an error, not a dispatch.

use super::buffers::{self, STORAGE};
use super::context::GpuContext;
use super::pipelines::{
    GatherParams, Layout, MatmulParams, OptimizerParams, Pipelines, RowsAre, SoftmaxParams,
    StepRecord, Tile, Transpose,
};
use crate::error::GpuError;
use std::sync::Arc;
use std::time::Instant;

/// One device and its compiled pipelines, for kernel-by-kernel work.
pub struct KernelLab {
    pub ctx: Arc<GpuContext>,
    pub pipes: Arc<Pipelines>,
}

/// What the softmax + cross-entropy kernel produced.
#[derive(Clone, Debug, PartialEq)]
pub struct SoftmaxOutput {
    pub dlogits: Vec<f32>,
    pub loss_sum: f32,
    pub correct: u32,
    pub predictions: Vec<u32>,
}

/// Optimizer state after one update.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerOutput {
    pub params: Vec<f32>,
    pub m: Vec<f32>,
    pub v: Vec<f32>,
}

impl KernelLab {
    pub fn new(ctx: Arc<GpuContext>) -> Result<Self, GpuError> {
        let pipes = Arc::new(Pipelines::new(&ctx.device)?);
        Ok(Self { ctx, pipes })
    }

    pub fn with_pipelines(ctx: Arc<GpuContext>, pipes: Arc<Pipelines>) -> Self {
        Self { ctx, pipes }
    }

    fn uniform<T: bytemuck::Pod>(&self, value: &T) -> wgpu::Buffer {
        buffers::with_data(
            &self.ctx,
            "params",
            std::slice::from_ref(value),
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        )
    }

    fn bind_group(
        &self,
        layout: &Layout,
        params: &wgpu::Buffer,
        step: &wgpu::Buffer,
        storage: &[&wgpu::Buffer],
    ) -> wgpu::BindGroup {
        let mut entries = vec![
            wgpu::BindGroupEntry {
                binding: 0,
                resource: params.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: step,
                    offset: 0,
                    size: std::num::NonZeroU64::new(super::pipelines::STEP_RECORD_BYTES),
                }),
            },
        ];
        for (i, b) in storage.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: 2 + i as u32,
                resource: b.as_entire_binding(),
            });
        }
        self.ctx
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &layout.bind_group,
                entries: &entries,
            })
    }

    fn run(
        &self,
        pipeline: &wgpu::ComputePipeline,
        group: &wgpu::BindGroup,
        workgroups: (u32, u32),
        repeats: usize,
    ) -> Result<(), GpuError> {
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, group, &[0]);
            for _ in 0..repeats {
                pass.dispatch_workgroups(workgroups.0, workgroups.1, 1);
            }
        }
        self.ctx.queue.submit([encoder.finish()]);
        self.ctx.wait()
    }

    /// `C = epilogue(op(A)·op(B))` with `params` as given (checked against the slice lengths); `c` is C's initial contents (poison
    /// it to see unwritten elements), `aux` the mask source of the ReLU-mask epilogue.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul(
        &self,
        t: Transpose,
        tile: Tile,
        params: &MatmulParams,
        step: &StepRecord,
        a: &[f32],
        b: &[f32],
        c: &[f32],
        aux: &[f32],
    ) -> Result<Vec<f32>, GpuError> {
        check_matmul(t, params, step, [a.len(), b.len(), c.len(), aux.len()])?;
        let pipeline = self.pipes.matmul(&self.ctx.device, t, tile)?;
        let bufs = [
            buffers::with_data(&self.ctx, "a", a, STORAGE),
            buffers::with_data(&self.ctx, "b", b, STORAGE),
            buffers::with_data(&self.ctx, "c", c, STORAGE),
            buffers::with_data(&self.ctx, "aux", aux, STORAGE),
        ];
        let (pb, sb) = (self.uniform(params), self.uniform(step));
        let group = self.bind_group(
            &self.pipes.matmul_layout,
            &pb,
            &sb,
            &[&bufs[0], &bufs[1], &bufs[2], &bufs[3]],
        );
        let m = if params.rows_is == 1 {
            step.len
        } else {
            params.m
        };
        self.run(
            &pipeline,
            &group,
            tile.workgroups(m as usize, params.n as usize),
            1,
        )?;
        buffers::read(&self.ctx, &bufs[2], 0, c.len())
    }

    /// Seconds per dispatch of a packed `m × k × n` product (random-free inputs: timing only),
    /// averaged over `repeats` dispatches in one submission after one warm-up dispatch.
    pub fn time_matmul(
        &self,
        t: Transpose,
        tile: Tile,
        m: usize,
        k: usize,
        n: usize,
        repeats: usize,
    ) -> Result<f64, GpuError> {
        let pipeline = self.pipes.matmul(&self.ctx.device, t, tile)?;
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.25).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.5).collect();
        let bufs = [
            buffers::with_data(&self.ctx, "a", &a, STORAGE),
            buffers::with_data(&self.ctx, "b", &b, STORAGE),
            buffers::zeroed(&self.ctx, "c", (m * n * 4) as u64, STORAGE),
        ];
        let params = MatmulParams::packed(t, m, k, n);
        let (pb, sb) = (self.uniform(&params), self.uniform(&StepRecord::default()));
        let group = self.bind_group(
            &self.pipes.matmul_layout,
            &pb,
            &sb,
            &[&bufs[0], &bufs[1], &bufs[2], &bufs[0]],
        );
        let wg = tile.workgroups(m, n);
        self.run(&pipeline, &group, wg, 1)?;
        let started = Instant::now();
        self.run(&pipeline, &group, wg, repeats.max(1))?;
        Ok(started.elapsed().as_secs_f64() / repeats.max(1) as f64)
    }

    /// The batch of `step` from u8 `images`/`labels` (`features` per sample) and `order`:
    /// returns the normalised rows (`x_init` poisons them first) and the labels.
    pub fn gather(
        &self,
        images: &[u8],
        labels: &[u8],
        features: usize,
        order: &[u32],
        step: &StepRecord,
        x_init: &[f32],
    ) -> Result<(Vec<f32>, Vec<u32>), GpuError> {
        let rows = step.len as usize;
        let (start, count) = (step.start as usize, labels.len());
        let samples_ok = if step.direct != 0 {
            start + rows <= count
        } else {
            order
                .get(start..start + rows)
                .is_some_and(|o| o.iter().all(|&s| (s as usize) < count))
        };
        if !samples_ok || images.len() < count * features || x_init.len() < rows * features {
            return Err(out_of_bounds("gather"));
        }
        let bufs = [
            buffers::with_data(&self.ctx, "images", &buffers::pack_u8(images), STORAGE),
            buffers::with_data(&self.ctx, "labels", &buffers::pack_u8(labels), STORAGE),
            buffers::with_data(&self.ctx, "order", order, STORAGE),
            buffers::with_data(&self.ctx, "x", x_init, STORAGE),
            buffers::with_data(&self.ctx, "y", &vec![u32::MAX; rows], STORAGE),
        ];
        let params = GatherParams {
            features: features as u32,
            count: labels.len() as u32,
            ..Default::default()
        };
        let (pb, sb) = (self.uniform(&params), self.uniform(step));
        let refs: Vec<&wgpu::Buffer> = bufs.iter().collect();
        let group = self.bind_group(&self.pipes.gather_layout, &pb, &sb, &refs);
        let workgroups = super::pipelines::gather_workgroups(rows, features);
        self.run(&self.pipes.gather, &group, (workgroups, 1), 1)?;
        Ok((
            buffers::read(&self.ctx, &bufs[3], 0, x_init.len())?,
            buffers::read(&self.ctx, &bufs[4], 0, rows)?,
        ))
    }

    /// Softmax + cross-entropy of `step.len` rows of `logits` (training mode writes dlogits over
    /// `dlogits_init`; evaluation mode writes predictions at `step.out_base`).
    #[allow(clippy::too_many_arguments)]
    pub fn softmax_ce(
        &self,
        logits: &[f32],
        labels: &[u32],
        classes: usize,
        evaluation: bool,
        step: &StepRecord,
        dlogits_init: &[f32],
        predictions: usize,
    ) -> Result<SoftmaxOutput, GpuError> {
        let slots = step.slot as usize + 1;
        let rows = step.len as usize;
        let fits = classes >= 1
            && logits.len() >= rows * classes
            && labels.len() >= rows
            && labels[..rows].iter().all(|&l| (l as usize) < classes)
            && if evaluation {
                step.out_base as usize + rows <= predictions
            } else {
                dlogits_init.len() >= rows * classes
            };
        if !fits || rows * classes > u32::MAX as usize {
            return Err(out_of_bounds("softmax_ce"));
        }
        let bufs = [
            buffers::with_data(&self.ctx, "logits", logits, STORAGE),
            buffers::with_data(&self.ctx, "labels", labels, STORAGE),
            buffers::with_data(&self.ctx, "dlogits", dlogits_init, STORAGE),
            buffers::with_data(&self.ctx, "slots", &vec![f32::NAN; 2 * slots], STORAGE),
            buffers::with_data(
                &self.ctx,
                "predictions",
                &vec![u32::MAX; predictions],
                STORAGE,
            ),
        ];
        let params = SoftmaxParams {
            classes: classes as u32,
            mode: evaluation as u32,
            ..Default::default()
        };
        let (pb, sb) = (self.uniform(&params), self.uniform(step));
        let refs: Vec<&wgpu::Buffer> = bufs.iter().collect();
        let group = self.bind_group(&self.pipes.softmax_layout, &pb, &sb, &refs);
        self.run(&self.pipes.softmax, &group, (1, 1), 1)?;
        let slot: Vec<u32> = buffers::read(&self.ctx, &bufs[3], step.slot as u64 * 8, 2)?;
        Ok(SoftmaxOutput {
            dlogits: buffers::read(&self.ctx, &bufs[2], 0, dlogits_init.len())?,
            loss_sum: f32::from_bits(slot[0]),
            correct: slot[1],
            predictions: buffers::read(&self.ctx, &bufs[4], 0, predictions)?,
        })
    }

    /// One optimizer update of `w` with gradients `g` and moments `m`, `v`.
    pub fn optimizer(
        &self,
        params: &OptimizerParams,
        step: &StepRecord,
        w: &[f32],
        g: &[f32],
        m: &[f32],
        v: &[f32],
    ) -> Result<OptimizerOutput, GpuError> {
        let n = params.n as usize;
        if [w.len(), g.len(), m.len(), v.len()]
            .iter()
            .any(|&len| len < n)
        {
            return Err(out_of_bounds("optimizer"));
        }
        // The shader reads whole vec4: pad each slice to a multiple of four.
        let padded = |x: &[f32]| {
            let mut x = x.to_vec();
            x.resize(x.len().next_multiple_of(4).max(4), 0.0);
            x
        };
        let bufs = [
            buffers::with_data(&self.ctx, "w", &padded(w), STORAGE),
            buffers::with_data(&self.ctx, "g", &padded(g), STORAGE),
            buffers::with_data(&self.ctx, "m", &padded(m), STORAGE),
            buffers::with_data(&self.ctx, "v", &padded(v), STORAGE),
        ];
        let (pb, sb) = (self.uniform(params), self.uniform(step));
        let refs: Vec<&wgpu::Buffer> = bufs.iter().collect();
        let group = self.bind_group(&self.pipes.optimizer_layout, &pb, &sb, &refs);
        let workgroups = super::pipelines::optimizer_workgroups(n);
        self.run(&self.pipes.optimizer, &group, (workgroups, 1), 1)?;
        Ok(OptimizerOutput {
            params: buffers::read(&self.ctx, &bufs[0], 0, w.len())?,
            m: buffers::read(&self.ctx, &bufs[2], 0, m.len())?,
            v: buffers::read(&self.ctx, &bufs[3], 0, v.len())?,
        })
    }
}

fn out_of_bounds(kernel: &str) -> GpuError {
    GpuError::Device(format!(
        "{kernel}: the given shapes reach outside the given buffers"
    ))
}

/// Checks that a matmul with `params` (and `step`'s batch length where it replaces a dimension)
/// indexes inside buffers of `lens` = [a, b, c, aux] elements: the shaders clamp reads to the
/// shapes and guard writes by them, so the shapes fitting the buffers is all they need.
fn check_matmul(
    t: Transpose,
    p: &MatmulParams,
    step: &StepRecord,
    lens: [usize; 4],
) -> Result<(), GpuError> {
    let by_step =
        |is: RowsAre, v: u32| u64::from(if p.rows_is == is as u32 { step.len } else { v });
    let (m, a_rows, k) = (
        by_step(RowsAre::M, p.m),
        by_step(RowsAre::M, p.a_rows),
        by_step(RowsAre::K, p.k),
    );
    let n = u64::from(p.n);
    if m == 0 || n == 0 {
        return Ok(()); // no workgroup does any work
    }
    let [a_len, b_len, c_len, aux_len] = lens.map(|l| l as u64);
    let (lda, ldb, ldc) = (u64::from(p.lda), u64::from(p.ldb), u64::from(p.ldc));
    let inside = |last: u64, len: u64| last < len && last < u64::from(u32::MAX);
    let mut ok = inside(u64::from(p.c_off) + (m - 1) * ldc + n - 1, c_len);
    if k > 0 {
        ok &= a_rows > 0;
        let a_rows = a_rows.max(1);
        let (a_last, b_last) = match t {
            Transpose::None => ((a_rows - 1) * lda + k - 1, (k - 1) * ldb + n - 1),
            Transpose::B => ((a_rows - 1) * lda + k - 1, (n - 1) * ldb + k - 1),
            Transpose::A => ((k - 1) * lda + a_rows - 1, (k - 1) * ldb + n - 1),
        };
        ok &= inside(u64::from(p.a_off) + a_last, a_len);
        ok &= inside(u64::from(p.b_off) + b_last, b_len);
    }
    if (1..=3).contains(&p.epilogue) {
        ok &= inside(u64::from(p.bias_off) + n - 1, b_len);
    }
    if p.epilogue == 4 {
        ok &= inside(u64::from(p.aux_off) + (m - 1) * ldc + n - 1, aux_len);
    }
    if ok {
        Ok(())
    } else {
        Err(out_of_bounds("matmul"))
    }
}
