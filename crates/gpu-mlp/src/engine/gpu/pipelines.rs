//! Shader modules and compute pipelines of every kernel (`kernels`), one module and layout per
//! kernel and one pipeline per entry point and override set, compiled once per device: the
//! single-pipeline kernels up front, matmul variants on first request.

use super::context::error_chain;
use super::kernels::gather::Gather;
use super::kernels::matmul::{Matmul, MatmulCall, MatmulVariant, Transpose};
use super::kernels::mutant::Mutant;
use super::kernels::optimizer::OptimizerUpdate;
use super::kernels::softmax_cross_entropy::SoftmaxCrossEntropy;
use super::kernels::{Kernel, Layout};
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
    // `Kernel::check_limits` refuses any other before it compiles; (3) every storage index is clamped into, or guarded
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

/// One kernel's shader module and layouts on a device.
struct KernelModule {
    module: wgpu::ShaderModule,
    layout: Layout,
}

impl KernelModule {
    fn of<K: Kernel>(device: &wgpu::Device, checked: bool) -> Self {
        Self {
            module: module(device, K::SHADER.file, K::SHADER.source, checked),
            layout: Layout::of::<K>(device),
        }
    }
}

/// A compiled pipeline: its kernel, entry point and override constants (value bits).
type PipelineKey = (&'static str, &'static str, Vec<(&'static str, u64)>);

/// Every pipeline of the engine on one device. Pipelines with per-call override constants (the
/// matmul variants) are compiled on first request and kept; engines request theirs up front, so
/// nothing compiles inside an epoch.
pub struct Pipelines {
    kernels: HashMap<&'static str, KernelModule>,
    compiled: Mutex<HashMap<PipelineKey, wgpu::ComputePipeline>>,
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

    /// Pipelines with runtime checks or not, and with `mutant` compiled in (see
    /// `kernels::mutant`).
    pub fn build(
        device: &wgpu::Device,
        checked: bool,
        mutant: Option<Mutant>,
    ) -> Result<Self, GpuError> {
        let kernels = HashMap::from([
            (Matmul::NAME, KernelModule::of::<Matmul>(device, checked)),
            (Gather::NAME, KernelModule::of::<Gather>(device, checked)),
            (
                SoftmaxCrossEntropy::NAME,
                KernelModule::of::<SoftmaxCrossEntropy>(device, checked),
            ),
            (
                OptimizerUpdate::NAME,
                KernelModule::of::<OptimizerUpdate>(device, checked),
            ),
        ]);
        let pipelines = Self {
            kernels,
            compiled: Mutex::new(HashMap::new()),
            limits: device.limits(),
            mutant,
        };
        // The kernels without per-call constants now: a broken shader fails here.
        pipelines.compile::<Gather>(device, Gather::SHADER.entry_points[0], Vec::new())?;
        let softmax = SoftmaxCrossEntropy::SHADER.entry_points[0];
        pipelines.compile::<SoftmaxCrossEntropy>(device, softmax, Vec::new())?;
        let update = OptimizerUpdate::SHADER.entry_points[0];
        pipelines.compile::<OptimizerUpdate>(device, update, Vec::new())?;
        Ok(pipelines)
    }

    /// The device limits the pipelines were built under.
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The bind-group and pipeline layout of kernel `K`.
    pub fn layout<K: Kernel>(&self) -> Result<&Layout, GpuError> {
        Ok(&self.module::<K>()?.layout)
    }

    /// Kernel `K`'s module and layout: every kernel is registered in `build`.
    fn module<K: Kernel>(&self) -> Result<&KernelModule, GpuError> {
        self.kernels.get(K::NAME).ok_or_else(|| {
            GpuError::Device(format!(
                "internal: kernel {} is not registered in Pipelines::build",
                K::NAME
            ))
        })
    }

    /// The pipeline of `kernel`'s entry point and constants, compiled on first use (after its
    /// limits check).
    pub fn get<K: Kernel>(
        &self,
        device: &wgpu::Device,
        kernel: &K,
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        kernel.check_limits(&self.limits)?;
        self.compile::<K>(device, kernel.entry_point(), kernel.constants())
    }

    fn compile<K: Kernel>(
        &self,
        device: &wgpu::Device,
        entry: &'static str,
        mut constants: Vec<(&'static str, f64)>,
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        constants.extend(Mutant::constants(self.mutant));
        let key = (
            K::NAME,
            entry,
            constants.iter().map(|&(k, v)| (k, v.to_bits())).collect(),
        );
        let mut cache = self
            .compiled
            .lock()
            .map_err(|_| GpuError::Device("pipeline cache poisoned".into()))?;
        if let Some(p) = cache.get(&key) {
            return Ok(p.clone());
        }
        let kernel = self.module::<K>()?;
        let p = pipeline(device, &kernel.layout, &kernel.module, entry, &constants)?;
        cache.insert(key, p.clone());
        Ok(p)
    }

    /// The pipeline of matmul `variant` computing product `transpose`, compiled on first use.
    pub fn matmul(
        &self,
        device: &wgpu::Device,
        transpose: Transpose,
        variant: MatmulVariant,
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        let call = MatmulCall::packed(transpose, 1, 1, 1);
        self.get(device, &call.with_variant(variant))
    }
}
