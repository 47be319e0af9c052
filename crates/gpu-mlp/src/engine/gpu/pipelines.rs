//! Shader modules and compute pipelines of every kernel (`ops`), compiled once per device;
//! matmul variants on first request.

use super::ops::matmul::{MatmulBindings, MatmulVariant, Transpose};
use super::ops::mutant::Mutant;
use super::ops::{self, gather::GatherBindings, optimizer::OptimizerBindings};
use super::ops::{softmax_cross_entropy::SoftmaxBindings, Layout};
use crate::error::GpuError;
use std::collections::HashMap;
use std::sync::Mutex;

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
    // indexed below their sizes for every variant `MatmulVariant::check` accepts, and
    // `Pipelines::matmul` compiles no other; (3) every storage index is clamped into, or guarded
    // by, the shapes in the kernel's uniforms (the matmul's vec4 views are read only where
    // offsets, leading dimensions and the contiguous dimension are multiples of 4, so every vec4
    // ends at or before the last element the shapes reach), and those shapes fit the bound
    // buffers: `GpuEngine` derives them from the buffers it allocated and the steps it validated
    // (`train_epoch`, `evaluate`), and `KernelLab` checks caller-given shapes against the buffer
    // lengths before dispatching.
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
    matmul: Mutex<HashMap<(Transpose, MatmulVariant), wgpu::ComputePipeline>>,
    limits: wgpu::Limits,
    /// The deliberately wrong kernel compiled in (`verify`'s fault injection), if any.
    pub mutant: Option<Mutant>,
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
        Self::build(device, checked, None)
    }

    /// Pipelines with runtime checks or not, and with `mutant` compiled in (see `ops::mutant`).
    pub fn build(
        device: &wgpu::Device,
        checked: bool,
        mutant: Option<Mutant>,
    ) -> Result<Self, GpuError> {
        use ops::{gather, optimizer, softmax_cross_entropy};
        let constants = Mutant::constants(mutant);
        let matmul_layout = Layout::new(device, "matmul", MatmulBindings::STORAGE);
        let gather_layout = Layout::new(device, "gather", GatherBindings::STORAGE);
        let softmax_layout = Layout::new(device, "softmax_ce", SoftmaxBindings::STORAGE);
        let optimizer_layout = Layout::new(device, "optimizer", OptimizerBindings::STORAGE);
        let gather_module = module(device, "gather.wgsl", gather::WGSL, checked);
        let softmax_module = module(
            device,
            "softmax_ce.wgsl",
            softmax_cross_entropy::WGSL,
            checked,
        );
        let optimizer_module = module(device, "optimizer.wgsl", optimizer::WGSL, checked);
        Ok(Self {
            gather: pipeline(
                device,
                &gather_layout,
                &gather_module,
                gather::ENTRY_POINT,
                &constants,
            )?,
            softmax: pipeline(
                device,
                &softmax_layout,
                &softmax_module,
                softmax_cross_entropy::ENTRY_POINT,
                &constants,
            )?,
            optimizer: pipeline(
                device,
                &optimizer_layout,
                &optimizer_module,
                optimizer::ENTRY_POINT,
                &constants,
            )?,
            matmul_module: module(device, "matmul.wgsl", ops::matmul::WGSL, checked),
            matmul_layout,
            gather_layout,
            softmax_layout,
            optimizer_layout,
            matmul: Mutex::new(HashMap::new()),
            limits: device.limits(),
            mutant,
        })
    }

    /// The pipeline of matmul `variant` computing product `t`, compiled on first use.
    pub fn matmul(
        &self,
        device: &wgpu::Device,
        t: Transpose,
        variant: MatmulVariant,
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        let mut cache = self
            .matmul
            .lock()
            .map_err(|_| GpuError::Device("pipeline cache poisoned".into()))?;
        if let Some(p) = cache.get(&(t, variant)) {
            return Ok(p.clone());
        }
        variant.check(&self.limits).map_err(GpuError::Device)?;
        let mut constants = variant.constants(t);
        constants.extend(Mutant::constants(self.mutant));
        let p = pipeline(
            device,
            &self.matmul_layout,
            &self.matmul_module,
            variant.entry_point(),
            &constants,
        )?;
        cache.insert((t, variant), p.clone());
        Ok(p)
    }
}
