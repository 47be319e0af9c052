//! Instance, adapter and device selection: which adapters exist, which one a run uses, and the
//! device limits it asks for. `GpuContext` is shared by the training engine, single-kernel runs
//! and tests.

use crate::error::GpuError;
use crate::setting::{Phrase, Setting};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// The limits of an adapter that matter to gpu-mlp, as `devices` lists them and records store
/// them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsSummary {
    pub max_buffer_size: u64,
    pub max_storage_buffer_binding_size: u64,
    pub max_storage_buffers_per_shader_stage: u32,
    pub max_compute_workgroup_storage_size: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroups_per_dimension: u32,
}

impl LimitsSummary {
    fn from_limits(l: &wgpu::Limits) -> Self {
        Self {
            max_buffer_size: l.max_buffer_size,
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
        }
    }
}

/// One adapter as `gpu-mlp devices` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    /// Position in the enumeration (what `--adapter INDEX` refers to).
    pub index: usize,
    pub name: String,
    /// `vulkan`, `metal`, `dx12`, `gl`.
    pub backend: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `VirtualGpu`, `Cpu` or `Other`.
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    /// A software rasteriser (device type Cpu, e.g. lavapipe/llvmpipe).
    pub software: bool,
    pub limits: LimitsSummary,
    pub timestamp_queries: bool,
    pub shader_f16: bool,
    pub subgroups: bool,
}

impl AdapterSummary {
    fn new(index: usize, adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let features = adapter.features();
        Self {
            index,
            name: info.name.clone(),
            backend: info.backend.to_string(),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            software: info.device_type == wgpu::DeviceType::Cpu,
            limits: LimitsSummary::from_limits(&adapter.limits()),
            timestamp_queries: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            subgroups: features.contains(wgpu::Features::SUBGROUP),
        }
    }

    /// A hardware adapter: a discrete, integrated or virtual GPU.
    pub fn is_hardware(&self) -> bool {
        matches!(
            self.device_type.as_str(),
            "DiscreteGpu" | "IntegratedGpu" | "VirtualGpu"
        )
    }
}

/// The backends to search: `requested` if given, else `WGPU_BACKEND`, else every backend.
pub fn backends_or_env(requested: Option<wgpu::Backends>) -> wgpu::Backends {
    requested
        .or_else(wgpu::Backends::from_env)
        .unwrap_or(wgpu::Backends::all())
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

fn enumerate(instance: &wgpu::Instance, backends: wgpu::Backends) -> Vec<wgpu::Adapter> {
    pollster::block_on(instance.enumerate_adapters(backends))
}

/// Every adapter of `backends`, in enumeration order.
pub fn list_adapters(backends: wgpu::Backends) -> Vec<AdapterSummary> {
    let instance = instance(backends);
    enumerate(&instance, backends)
        .iter()
        .enumerate()
        .map(|(i, a)| AdapterSummary::new(i, a))
        .collect()
}

/// Rank for the default choice: discrete before integrated before virtual before software.
fn preference(device_type: wgpu::DeviceType) -> u8 {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// Picks an adapter: by index or case-insensitive name substring when `wanted` (or, failing that,
/// `WGPU_ADAPTER_NAME`) is given, else the most capable one.
fn choose(
    adapters: Vec<wgpu::Adapter>,
    wanted: Option<&str>,
    backends: wgpu::Backends,
) -> Result<(usize, wgpu::Adapter), GpuError> {
    let names = || {
        adapters
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{i}: {}", a.get_info().name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if adapters.is_empty() {
        return Err(GpuError::NoAdapter {
            detail: crate::phrase![
                format!(
                    " for backends {backends:?} (install a Vulkan driver, e.g. \
                     mesa-vulkan-drivers for lavapipe, or use "
                ),
                Setting::Backend,
                " cpu)"
            ],
        });
    }
    let env_name = std::env::var("WGPU_ADAPTER_NAME").ok();
    let wanted = wanted.or(env_name.as_deref()).map(str::trim);
    match wanted {
        Some(w) if !w.is_empty() => {
            if let Ok(index) = w.parse::<usize>() {
                let count = adapters.len();
                let listed = names();
                return adapters.into_iter().enumerate().nth(index).ok_or_else(|| {
                    GpuError::NoAdapter {
                        detail: crate::phrase![
                            ": ",
                            Setting::Adapter,
                            format!(" {index} is out of range, {count} found ({listed})")
                        ],
                    }
                });
            }
            let lower = w.to_lowercase();
            let listed = names();
            adapters
                .into_iter()
                .enumerate()
                .find(|(_, a)| a.get_info().name.to_lowercase().contains(&lower))
                .ok_or_else(|| GpuError::NoAdapter {
                    detail: format!(" whose name contains '{w}' (found: {listed})").into(),
                })
        }
        _ => adapters
            .into_iter()
            .enumerate()
            .min_by_key(|(i, a)| (preference(a.get_info().device_type), *i))
            .ok_or_else(|| GpuError::NoAdapter {
                detail: Phrase::default(),
            }),
    }
}

/// The storage buffers a kernel may bind: what every device is asked for (the kernels are
/// checked against it at compile time, in `kernels`). Six: the matmul's a, b, c, aux and its
/// vec4 views of a and b; WebGPU's default allows eight, its downlevel default four.
pub const STORAGE_BUFFERS_PER_KERNEL: u32 = 6;

/// What a run needs from the device; checked against the adapter before the device is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceNeeds {
    /// The largest buffer the run creates.
    pub buffer_bytes: u64,
    /// The largest storage binding (e.g. the resident data set).
    pub storage_binding_bytes: u64,
    pub storage_buffers_per_stage: u32,
    pub workgroup_storage_bytes: u32,
    pub invocations_per_workgroup: u32,
    /// Features to enable where the adapter has them (e.g. `TIMESTAMP_QUERY` for profiling);
    /// check `device.features()` after opening.
    pub optional_features: wgpu::Features,
}

impl Default for DeviceNeeds {
    /// What every gpu-mlp kernel set needs at least (the WebGPU defaults for sizes).
    fn default() -> Self {
        Self {
            buffer_bytes: 256 << 20,
            storage_binding_bytes: 128 << 20,
            storage_buffers_per_stage: STORAGE_BUFFERS_PER_KERNEL,
            workgroup_storage_bytes: 16384,
            invocations_per_workgroup: 256,
            optional_features: wgpu::Features::empty(),
        }
    }
}

impl DeviceNeeds {
    /// The larger of two needs, field by field.
    pub fn max(self, other: Self) -> Self {
        Self {
            buffer_bytes: self.buffer_bytes.max(other.buffer_bytes),
            storage_binding_bytes: self.storage_binding_bytes.max(other.storage_binding_bytes),
            storage_buffers_per_stage: self
                .storage_buffers_per_stage
                .max(other.storage_buffers_per_stage),
            workgroup_storage_bytes: self
                .workgroup_storage_bytes
                .max(other.workgroup_storage_bytes),
            invocations_per_workgroup: self
                .invocations_per_workgroup
                .max(other.invocations_per_workgroup),
            optional_features: self.optional_features | other.optional_features,
        }
    }

    /// The limits to request: the downlevel defaults raised to these needs, each checked
    /// against what the adapter offers. Buffer and binding sizes are the adapter's maximum
    /// (a need up to 256 MiB is only a default allowance, not a requirement).
    fn limits(&self, name: &str, offered: &wgpu::Limits) -> Result<wgpu::Limits, GpuError> {
        let fail = |what: String| GpuError::Limit {
            adapter: name.to_string(),
            what: what.into(),
        };
        let mut l = wgpu::Limits::downlevel_defaults();
        let size = |need: u64, max: u64, what: &str| -> Result<u64, GpuError> {
            // Take the adapter's whole allowance: the resident data sets are loaded after the
            // device exists, and a larger limit costs nothing.
            if need <= max || need <= 256 << 20 {
                Ok(max)
            } else {
                Err(fail(format!(
                    "{what} of {} MiB needed, the adapter allows {} MiB (use a smaller batch or data set)",
                    need >> 20,
                    max >> 20
                )))
            }
        };
        l.max_buffer_size = size(self.buffer_bytes, offered.max_buffer_size, "a buffer")?;
        l.max_storage_buffer_binding_size = size(
            self.storage_binding_bytes,
            offered.max_storage_buffer_binding_size,
            "a storage binding",
        )?;
        let count = |need: u32, max: u32, what: &str| -> Result<u32, GpuError> {
            if need <= max {
                Ok(need)
            } else {
                Err(fail(format!(
                    "{need} {what} needed, the adapter allows {max}"
                )))
            }
        };
        // Each count limit: what the engine needs of it, checked against the adapter's.
        macro_rules! counts {
            ($($limit:ident: $need:expr, $what:literal;)+) => {
                $(l.$limit = count($need, offered.$limit, $what)?;)+
            };
        }
        counts! {
            max_storage_buffers_per_shader_stage: self.storage_buffers_per_stage, "storage buffers per shader stage";
            max_compute_workgroup_storage_size: self.workgroup_storage_bytes, "bytes of workgroup storage";
            max_compute_invocations_per_workgroup: self.invocations_per_workgroup, "invocations per workgroup";
            max_compute_workgroup_size_x: self.invocations_per_workgroup, "invocations in workgroup x";
            max_dynamic_uniform_buffers_per_pipeline_layout: 1, "dynamic uniform buffers";
        }
        l.max_compute_workgroups_per_dimension =
            offered.max_compute_workgroups_per_dimension.min(65535);
        // Alignments are minimums: take the adapter's (a request may not be stricter than it).
        l.min_uniform_buffer_offset_alignment = offered.min_uniform_buffer_offset_alignment;
        l.min_storage_buffer_offset_alignment = offered.min_storage_buffer_offset_alignment;
        Ok(l)
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

/// An open device: what every GPU run holds.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub summary: AdapterSummary,
    /// Validation or device errors reported outside an error scope, oldest first.
    errors: Arc<Mutex<Vec<String>>>,
}

impl GpuContext {
    /// Opens `adapter` (index or name substring; else `WGPU_ADAPTER_NAME`; else the best one) of
    /// `backends` (else `WGPU_BACKEND`; else all) with the limits `needs` asks for.
    pub fn open(
        backends: Option<wgpu::Backends>,
        adapter: Option<&str>,
        needs: &DeviceNeeds,
    ) -> Result<Self, GpuError> {
        let backends = backends_or_env(backends);
        let instance = instance(backends);
        let all = enumerate(&instance, backends);
        let (index, chosen) = choose(all, adapter, backends)?;
        let info = chosen.get_info();
        let summary = AdapterSummary::new(index, &chosen);
        let required_limits = needs.limits(&info.name, &chosen.limits())?;
        let desc = wgpu::DeviceDescriptor {
            label: Some("gpu-mlp"),
            required_features: chosen.features() & needs.optional_features,
            required_limits,
            ..Default::default()
        };
        let (device, queue) = pollster::block_on(chosen.request_device(&desc))
            .map_err(|e| GpuError::Device(format!("{}: {e}", info.name)))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&errors);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(error_chain(&e));
            }
        }));
        Ok(Self {
            device,
            queue,
            info,
            summary,
            errors,
        })
    }

    /// `vulkan: llvmpipe (LLVM 19.1.7, 256 bits) [Cpu, Mesa 25.0.7]`.
    pub fn describe(&self) -> String {
        format!(
            "{}: {} [{:?}, {} {}]",
            self.info.backend,
            self.info.name,
            self.info.device_type,
            self.info.driver,
            self.info.driver_info
        )
    }

    /// True on a software rasteriser (lavapipe).
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// The first device error reported since the last call, as a typed error.
    pub fn take_error(&self) -> Result<(), GpuError> {
        let mut errors = self
            .errors
            .lock()
            .map_err(|_| GpuError::Device("error log poisoned".into()))?;
        if errors.is_empty() {
            return Ok(());
        }
        let all = std::mem::take(&mut *errors);
        Err(GpuError::Device(all.join("; ")))
    }

    /// Blocks until all submitted work is done, then reports any device error.
    pub fn wait(&self) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Device(format!("waiting for the device: {e}")))?;
        self.take_error()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_count_limit_is_raised_to_the_need_or_refused_by_name() {
        let offered = wgpu::Limits::default();
        let needs = DeviceNeeds {
            storage_buffers_per_stage: 7,
            workgroup_storage_bytes: 8192,
            ..DeviceNeeds::default()
        };
        let l = needs.limits("test", &offered).expect("within the offer");
        assert_eq!(l.max_storage_buffers_per_shader_stage, 7);
        assert_eq!(l.max_compute_workgroup_storage_size, 8192);
        assert_eq!(l.max_compute_invocations_per_workgroup, 256);
        assert_eq!(l.max_compute_workgroup_size_x, 256);
        assert_eq!(l.max_dynamic_uniform_buffers_per_pipeline_layout, 1);
        let too_many = DeviceNeeds {
            invocations_per_workgroup: offered.max_compute_invocations_per_workgroup + 1,
            ..DeviceNeeds::default()
        };
        let e = too_many.limits("test", &offered).unwrap_err().to_string();
        assert!(e.contains("invocations per workgroup needed"), "{e}");
    }
}
