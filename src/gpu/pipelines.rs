//! Shader modules from `shaders/*.wgsl`, their bind-group layouts, the override constants of each
//! matmul variant, and the uniform records the shaders read (mirrored field for field).
//!
//! Every kernel binds group 0 as: 0 its static parameters (uniform), 1 the step record (uniform
//! with a dynamic offset: kernels find their step by offset), 2.. storage buffers.

use crate::error::GpuError;
use bytemuck::{Pod, Zeroable};
use std::collections::HashMap;
use std::sync::Mutex;

pub const MATMUL_WGSL: &str = include_str!("../../shaders/matmul.wgsl");
pub const GATHER_WGSL: &str = include_str!("../../shaders/gather.wgsl");
pub const SOFTMAX_CE_WGSL: &str = include_str!("../../shaders/softmax_ce.wgsl");
pub const OPTIMIZER_WGSL: &str = include_str!("../../shaders/optimizer.wgsl");

/// Every shader with its entry points, for validation.
pub const SHADERS: &[(&str, &str, &[&str])] = &[
    ("matmul.wgsl", MATMUL_WGSL, &["matmul_reg", "matmul_shared"]),
    ("gather.wgsl", GATHER_WGSL, &["gather"]),
    ("softmax_ce.wgsl", SOFTMAX_CE_WGSL, &["softmax_ce"]),
    ("optimizer.wgsl", OPTIMIZER_WGSL, &["update"]),
];

/// Bytes of one step record in the shaders.
pub const STEP_RECORD_BYTES: u64 = 32;

/// One step's values, as every shader's `Step` struct reads them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct StepRecord {
    /// First position of the batch in the order buffer (or first sample when `direct`).
    pub start: u32,
    /// Rows in the batch.
    pub len: u32,
    /// Metric slot this step writes.
    pub slot: u32,
    /// Dropout seed.
    pub seed: u32,
    /// Adam's α_t or SGD's lr.
    pub step_size: f32,
    /// `1/len` rounded on the host (the CPU reference's `1.0 / rows as f32`).
    pub grad_scale: f32,
    /// 1: row r is sample `start + r` (evaluation); 0: sample `order[start + r]`.
    pub direct: u32,
    /// Where evaluation predictions of this batch start.
    pub out_base: u32,
}

/// Matmul epilogues (see shaders/matmul.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epilogue {
    None = 0,
    Bias = 1,
    BiasRelu = 2,
    BiasReluDropout = 3,
    /// `c = aux > 0 ? v·scale : 0` (ReLU and dropout backward).
    ReluMask = 4,
}

/// Which dimension of a matmul is the step's batch length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowsAre {
    Fixed = 0,
    M = 1,
    K = 2,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct MatmulParams {
    pub m: u32,
    pub k: u32,
    pub n: u32,
    pub rows_is: u32,
    pub a_rows: u32,
    pub lda: u32,
    pub ldb: u32,
    pub ldc: u32,
    pub a_off: u32,
    pub b_off: u32,
    pub c_off: u32,
    pub aux_off: u32,
    pub bias_off: u32,
    pub epilogue: u32,
    pub layer: u32,
    pub threshold: u32,
    pub scale: f32,
    pub _pad: [u32; 3],
}

impl MatmulParams {
    /// A plain product of the given variant with packed operands (leading dimensions from the
    /// shapes), no offsets, no epilogue.
    pub fn packed(t: Transpose, m: usize, k: usize, n: usize) -> Self {
        let (lda, ldb) = match t {
            Transpose::None => (k, n),
            Transpose::B => (k, k),
            Transpose::A => (m, n),
        };
        Self {
            m: m as u32,
            k: k as u32,
            n: n as u32,
            a_rows: m as u32,
            lda: lda as u32,
            ldb: ldb as u32,
            ldc: n as u32,
            scale: 1.0,
            ..Default::default()
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct GatherParams {
    pub features: u32,
    pub count: u32,
    pub _pad: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct SoftmaxParams {
    pub classes: u32,
    /// 0 training (dlogits), 1 evaluation (predictions).
    pub mode: u32,
    pub _pad: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct OptimizerParams {
    pub n: u32,
    /// 0 Adam, 1 SGD.
    pub kind: u32,
    pub beta1: f32,
    pub beta2: f32,
    pub one_minus_beta1: f32,
    pub one_minus_beta2: f32,
    pub epsilon: f32,
    pub _pad: u32,
}

/// Workgroups of the optimizer dispatch over `n` parameters: 64 invocations each, every invocation
/// looping over about four vec4 (fewer, longer-lived invocations: on lavapipe each workgroup has a
/// fixed cost). The buffers it binds must hold ⌈n/4⌉ vec4.
pub fn optimizer_workgroups(n: usize) -> u32 {
    (n.div_ceil(4) as u32).div_ceil(64 * 4).clamp(1, 1024)
}

/// Workgroups of the gather dispatch for `rows` rows of `features`: 256 invocations each, one
/// per u32 word of pixels (four outputs; the grid-stride loop covers the rest when features are
/// not a multiple of four).
pub fn gather_workgroups(rows: usize, features: usize) -> u32 {
    ((rows * features).div_ceil(4) as u32)
        .div_ceil(256)
        .clamp(1, 8192)
}

/// The matrix product variants (`TRANS` override).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transpose {
    /// `A·B` (forward).
    None,
    /// `A·Bᵀ` (input gradient).
    B,
    /// `Aᵀ·B` (weight gradient).
    A,
}

impl Transpose {
    pub const ALL: [Transpose; 3] = [Transpose::None, Transpose::B, Transpose::A];

    /// `A*B`, `A*B^T` or `A^T*B`.
    pub fn name(self) -> &'static str {
        match self {
            Transpose::None => "A*B",
            Transpose::B => "A*B^T",
            Transpose::A => "A^T*B",
        }
    }
    fn code(self) -> u32 {
        match self {
            Transpose::None => 0,
            Transpose::B => 1,
            Transpose::A => 2,
        }
    }
}

/// A matmul tile shape (override constants) and strategy (entry point).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tile {
    /// Stage operands through workgroup memory (`matmul_shared`) or not (`matmul_reg`).
    pub shared: bool,
    pub wg_x: u32,
    pub wg_y: u32,
    /// Output rows per invocation.
    pub tm: u32,
    /// Output columns per invocation.
    pub tn: u32,
}

impl Tile {
    /// Register tiling, 8x8 invocations of 4 rows × 8 columns (32 × 64 outputs per workgroup):
    /// on lavapipe (where workgroup memory does not pay) the best shape for batch-sized m ≤ 64.
    pub const REGISTER: Tile = Tile {
        shared: false,
        wg_x: 8,
        wg_y: 8,
        tm: 4,
        tn: 8,
    };
    /// Register tiling, 8x8 invocations of 8 × 8 (64 × 64 per workgroup): on lavapipe the best
    /// shape once m ≥ 128 (about 1.5x the smaller tile there, half of it at m = 32).
    pub const REGISTER_64: Tile = Tile {
        shared: false,
        wg_x: 8,
        wg_y: 8,
        tm: 8,
        tn: 8,
    };
    /// 64x64 workgroup tile staged through workgroup memory, 8x8 micro-tile per invocation: the
    /// usual shape on hardware GPUs.
    pub const SHARED_64: Tile = Tile {
        shared: true,
        wg_x: 8,
        wg_y: 8,
        tm: 8,
        tn: 8,
    };

    /// Every tile the engine may run, the per-adapter measurement's candidates
    /// (`gpu::tuning`); verify and the tests check each of them.
    pub const CANDIDATES: [Tile; 3] = [Tile::REGISTER, Tile::REGISTER_64, Tile::SHARED_64];

    /// `reg 32x64`: the strategy and the rows × columns a workgroup covers.
    pub fn name(&self) -> String {
        format!(
            "{} {}x{}",
            if self.shared { "shared" } else { "reg" },
            self.rows(),
            self.cols()
        )
    }

    /// Rows of C a workgroup covers.
    pub fn rows(&self) -> u32 {
        self.wg_y * self.tm
    }
    /// Columns of C a workgroup covers.
    pub fn cols(&self) -> u32 {
        self.wg_x * self.tn
    }

    /// Checks the shape against the shader's fixed arrays and the adapter's limits.
    pub fn check(&self, limits: &wgpu::Limits) -> Result<(), String> {
        if self.tm == 0 || self.tn == 0 || self.wg_x == 0 || self.wg_y == 0 {
            return Err(format!("{self:?}: zero-sized tile"));
        }
        if !self.shared && !self.tm.is_multiple_of(4) {
            return Err(format!("{self:?}: register tiles hold rows four to a vec4"));
        }
        if self.tm > 16 || self.tn > 16 || self.tm * self.tn > 128 {
            return Err(format!(
                "{self:?}: at most 16 rows/columns and 128 outputs per invocation"
            ));
        }
        let invocations = self.wg_x * self.wg_y;
        if invocations > 256 || invocations > limits.max_compute_invocations_per_workgroup {
            return Err(format!("{self:?}: {invocations} invocations per workgroup"));
        }
        if self.shared {
            if self.rows() > 128 || self.cols() > 128 {
                return Err(format!("{self:?}: a shared tile covers at most 128x128"));
            }
            if 2 * 2048 * 4 > limits.max_compute_workgroup_storage_size {
                return Err(format!(
                    "{self:?}: needs 16 KiB of workgroup storage, the device allows {}",
                    limits.max_compute_workgroup_storage_size
                ));
            }
        }
        Ok(())
    }

    /// Workgroups for an `m × n` output.
    pub fn workgroups(&self, m: usize, n: usize) -> (u32, u32) {
        (
            (n as u32).div_ceil(self.cols()),
            (m as u32).div_ceil(self.rows()),
        )
    }

    /// A fixed rule for an `m × k × n` product (`TilePolicy::Rule`; the engine measures by
    /// default): register tiling on software adapters (measured faster there at every MLP shape;
    /// the larger tile from m = 128 rows), and shared-memory tiles on hardware GPUs.
    ///
    /// Measured on lavapipe and not taken (2026-11, Mesa 25.0.7, unchecked modules): an 8x16
    /// micro-tile for the batch-32 weight gradients (slower in the engine's step than alone);
    /// a 4x2 micro-tile for n ≤ 16 (output layer 1.5x faster, 2-3% of a step, but two more
    /// pipelines took the cold start from 3-5 s to 8-9 s).
    pub fn choose(software: bool, m: usize, _k: usize, _n: usize) -> Tile {
        match (software, m >= 128) {
            (true, false) => Tile::REGISTER,
            (true, true) => Tile::REGISTER_64,
            (false, _) => Tile::SHARED_64,
        }
    }
}

/// A bind-group layout and its pipeline layout.
pub struct Layout {
    pub bind_group: wgpu::BindGroupLayout,
    pub pipeline: wgpu::PipelineLayout,
    /// Read-only flag of each storage binding (2, 3, ...).
    pub storage: &'static [bool],
}

const MATMUL_STORAGE: &[bool] = &[true, true, false, true];
const GATHER_STORAGE: &[bool] = &[true, true, true, false, false];
const SOFTMAX_STORAGE: &[bool] = &[true, true, false, false, false];
const OPTIMIZER_STORAGE: &[bool] = &[false, true, false, false];

fn layout(device: &wgpu::Device, label: &str, storage: &'static [bool]) -> Layout {
    let uniform = |binding, dynamic, size: u64| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: dynamic,
            min_binding_size: std::num::NonZeroU64::new(size),
        },
        count: None,
    };
    let mut entries = vec![uniform(0, false, 0), uniform(1, true, STEP_RECORD_BYTES)];
    for (i, &read_only) in storage.iter().enumerate() {
        entries.push(wgpu::BindGroupLayoutEntry {
            binding: 2 + i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        });
    }
    let bind_group = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(label),
        entries: &entries,
    });
    let pipeline = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(&bind_group)],
        immediate_size: 0,
    });
    Layout {
        bind_group,
        pipeline,
        storage,
    }
}

fn module(device: &wgpu::Device, label: &str, source: &str, checked: bool) -> wgpu::ShaderModule {
    let desc = wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    };
    if checked {
        return device.create_shader_module(desc);
    }
    // SAFETY: `ShaderRuntimeChecks::unchecked()` drops naga's bounds checks (on local arrays, and
    // on buffers where the driver has no robust access of its own) and its loop bounding. That is
    // sound for our shaders because (1) every loop runs to a bound read from a uniform with a
    // positive step far below u32::MAX (no infinite loop); (2) local and workgroup arrays are
    // indexed below their sizes for every tile `Tile::check` accepts, and `Pipelines::matmul`
    // compiles no other tile; (3) every storage index is clamped into, or guarded by, the shapes
    // in the kernel's uniforms, and those shapes fit the bound buffers: `GpuEngine` derives
    // them from the buffers it allocated and the steps it validated (`train_epoch`, `evaluate`),
    // and `KernelLab` checks caller-given shapes against the buffer lengths before dispatching.
    unsafe { device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked()) }
}

/// Creates a pipeline inside a validation error scope, so a bad shader is a typed error.
fn pipeline(
    device: &wgpu::Device,
    layout: &Layout,
    module: &wgpu::ShaderModule,
    entry: &str,
    constants: &[(&str, f64)],
) -> Result<wgpu::ComputePipeline, GpuError> {
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let p = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(entry),
        layout: Some(&layout.pipeline),
        module,
        entry_point: Some(entry),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants,
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    });
    match pollster::block_on(scope.pop()) {
        None => Ok(p),
        Some(e) => Err(GpuError::Device(format!(
            "pipeline {entry}: {}",
            error_chain(&e)
        ))),
    }
}

/// An error with its sources, one line (wgpu's Display alone says only "Validation Error").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Every pipeline of the engine on one device. Matmul variants are compiled on first request
/// and kept; engines request theirs up front, so nothing compiles inside an epoch.
pub struct Pipelines {
    pub matmul_layout: Layout,
    pub gather_layout: Layout,
    pub softmax_layout: Layout,
    pub optimizer_layout: Layout,
    pub gather: wgpu::ComputePipeline,
    pub softmax: wgpu::ComputePipeline,
    pub optimizer: wgpu::ComputePipeline,
    matmul_module: wgpu::ShaderModule,
    matmul: Mutex<HashMap<(Transpose, Tile), wgpu::ComputePipeline>>,
    limits: wgpu::Limits,
    checked: bool,
}

impl Pipelines {
    /// The engine's pipelines: shader modules without naga's runtime checks (see `module`).
    pub fn new(device: &wgpu::Device) -> Result<Self, GpuError> {
        Self::with_runtime_checks(device, false)
    }

    /// Pipelines from modules with (`checked`) or without wgpu's injected runtime checks
    /// (bounds checks, loop bounding). Checked modules are for developing a new shader and for
    /// measuring what the checks cost.
    pub fn with_runtime_checks(device: &wgpu::Device, checked: bool) -> Result<Self, GpuError> {
        let matmul_layout = layout(device, "matmul", MATMUL_STORAGE);
        let gather_layout = layout(device, "gather", GATHER_STORAGE);
        let softmax_layout = layout(device, "softmax_ce", SOFTMAX_STORAGE);
        let optimizer_layout = layout(device, "optimizer", OPTIMIZER_STORAGE);
        let gather_module = module(device, "gather.wgsl", GATHER_WGSL, checked);
        let softmax_module = module(device, "softmax_ce.wgsl", SOFTMAX_CE_WGSL, checked);
        let optimizer_module = module(device, "optimizer.wgsl", OPTIMIZER_WGSL, checked);
        Ok(Self {
            gather: pipeline(device, &gather_layout, &gather_module, "gather", &[])?,
            softmax: pipeline(device, &softmax_layout, &softmax_module, "softmax_ce", &[])?,
            optimizer: pipeline(device, &optimizer_layout, &optimizer_module, "update", &[])?,
            matmul_module: module(device, "matmul.wgsl", MATMUL_WGSL, checked),
            matmul_layout,
            gather_layout,
            softmax_layout,
            optimizer_layout,
            matmul: Mutex::new(HashMap::new()),
            limits: device.limits(),
            checked,
        })
    }

    /// Whether the modules keep wgpu's runtime checks.
    pub fn checked(&self) -> bool {
        self.checked
    }

    /// The override constants of a matmul variant.
    pub fn matmul_constants(t: Transpose, tile: Tile) -> [(&'static str, f64); 5] {
        [
            ("TRANS", t.code() as f64),
            ("WG_X", tile.wg_x as f64),
            ("WG_Y", tile.wg_y as f64),
            ("TM", tile.tm as f64),
            ("TN", tile.tn as f64),
        ]
    }

    /// The pipeline of a matmul variant, compiled on first use.
    pub fn matmul(
        &self,
        device: &wgpu::Device,
        t: Transpose,
        tile: Tile,
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        let mut cache = self
            .matmul
            .lock()
            .map_err(|_| GpuError::Device("pipeline cache poisoned".into()))?;
        if let Some(p) = cache.get(&(t, tile)) {
            return Ok(p.clone());
        }
        tile.check(&self.limits).map_err(GpuError::Device)?;
        let entry = if tile.shared {
            "matmul_shared"
        } else {
            "matmul_reg"
        };
        let p = pipeline(
            device,
            &self.matmul_layout,
            &self.matmul_module,
            entry,
            &Self::matmul_constants(t, tile),
        )?;
        cache.insert((t, tile), p.clone());
        Ok(p)
    }
}
