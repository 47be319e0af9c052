//! Engine selection: `--backend auto|vulkan|metal|dx12|gl|cpu` and `--adapter NAME|INDEX` to a
//! boxed `Engine`. `auto` takes a hardware adapter when there is one and otherwise the CPU
//! engine, which beats a software rasteriser such as lavapipe.

use crate::engine::cpu::{self, CpuEngine};
use crate::engine::gpu::{self, GpuContext, GpuEngine, GpuOptions};
use crate::engine::Engine;
use crate::error::{ConfigError, GpuError, Result};
use crate::fsio::memory;
use crate::model::optimizer::Optimizer;
use crate::model::{ModelSpec, CPU_ENGINE_PARAMETER_COPIES, HOST_PARAMETER_COPIES};
use crate::phrase;
use crate::setting::{Phrase, Setting};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Which engine (and for the GPU, which graphics API) to train on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BackendChoice {
    /// A hardware GPU adapter if there is one, else the CPU engine.
    #[default]
    Auto,
    /// A GPU through Vulkan.
    Vulkan,
    /// A GPU through Metal.
    Metal,
    /// A GPU through Direct3D 12.
    Dx12,
    /// A GPU through OpenGL (ES).
    Gl,
    /// The CPU engine.
    Cpu,
}

impl BackendChoice {
    /// Every choice, in the order `--backend` lists them.
    pub const VARIANTS: &'static [BackendChoice] = &[
        BackendChoice::Auto,
        BackendChoice::Vulkan,
        BackendChoice::Metal,
        BackendChoice::Dx12,
        BackendChoice::Gl,
        BackendChoice::Cpu,
    ];

    /// The name `--backend` takes.
    pub fn name(self) -> &'static str {
        match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Vulkan => "vulkan",
            BackendChoice::Metal => "metal",
            BackendChoice::Dx12 => "dx12",
            BackendChoice::Gl => "gl",
            BackendChoice::Cpu => "cpu",
        }
    }

    /// The wgpu backends of an explicit GPU choice (`None` for auto and cpu).
    pub fn wgpu_backends(self) -> Option<wgpu::Backends> {
        match self {
            BackendChoice::Vulkan => Some(wgpu::Backends::VULKAN),
            BackendChoice::Metal => Some(wgpu::Backends::METAL),
            BackendChoice::Dx12 => Some(wgpu::Backends::DX12),
            BackendChoice::Gl => Some(wgpu::Backends::GL),
            BackendChoice::Auto | BackendChoice::Cpu => None,
        }
    }
}

display_as_name!(BackendChoice);

impl FromStr for BackendChoice {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let lower = s.trim().to_lowercase();
        let alias = match lower.as_str() {
            "vk" => "vulkan",
            "mtl" => "metal",
            "d3d12" => "dx12",
            "gles" | "opengl" => "gl",
            other => other,
        };
        Self::VARIANTS
            .iter()
            .copied()
            .find(|v| v.name() == alias)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::VARIANTS.iter().map(|v| v.name()).collect();
                ConfigError::new(phrase![
                    Setting::Backend,
                    format!(" '{s}' is not one of {}", names.join(", "))
                ])
            })
    }
}

/// Which engine to open, and its settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EngineOptions {
    /// The engine (and for a GPU, the graphics API).
    pub backend: BackendChoice,
    /// A GPU adapter by index or name substring; without it `WGPU_ADAPTER_NAME` picks one.
    pub adapter: Option<String>,
    /// The GPU engine's settings (ignored by the CPU engine).
    pub gpu: GpuOptions,
}

/// An engine ready to train, and a line to show the user about how it was chosen.
pub struct OpenedEngine {
    /// The engine, holding the parameters it was opened with.
    pub engine: Box<dyn Engine>,
    /// How the engine was chosen, when that is worth telling the user (e.g. why `auto` chose the CPU).
    pub note: Option<String>,
}

impl fmt::Debug for OpenedEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedEngine")
            .field("engine", &self.engine.describe())
            .field("note", &self.note)
            .finish()
    }
}

/// What to change when a model does not fit the machine's memory.
fn memory_advice() -> Phrase {
    phrase![
        "use a smaller ",
        Setting::HiddenWidths,
        " (or ",
        Setting::BatchSize,
        ")"
    ]
}

/// The note printed when `auto` falls back to the CPU engine.
pub fn software_only_note() -> Phrase {
    phrase![
        "only a software Vulkan adapter (llvmpipe) found; using the CPU engine, which is faster \
         there (use ",
        Setting::Backend,
        " vulkan to force it)"
    ]
}

/// Opens the engine `opts` names for `spec`, holding `parameters` (flat layout of
/// [`ModelSpec::layers`]), to train with `optimizer` on batches of up to `max_batch` rows.
/// `opts.adapter` (index or name substring) picks among GPU adapters; without it
/// `WGPU_ADAPTER_NAME` does, and `auto` honours `WGPU_BACKEND`. [`Trainer`](crate::Trainer)
/// opens its engine through this.
pub fn open_engine(
    opts: &EngineOptions,
    spec: &ModelSpec,
    parameters: &[f32],
    optimizer: Optimizer,
    max_batch: usize,
) -> Result<OpenedEngine> {
    // Each engine checks the parameters' count; the memory checks come first.
    let (choice, adapter) = (opts.backend, opts.adapter.as_deref());
    // Refuse a model this machine cannot hold before any engine allocates for it.
    let cpu_memory = |spec: &ModelSpec| {
        let copies = HOST_PARAMETER_COPIES + CPU_ENGINE_PARAMETER_COPIES;
        let what = format!(
            "the model {} on the cpu engine (batch {max_batch})",
            spec.describe()
        );
        // The training batch's scratch memory and evaluation's, both held for the whole run.
        let rows = max_batch.saturating_add(cpu::eval_rows(spec));
        memory::ensure_available(spec.memory_bytes(copies, rows), &what, memory_advice())
    };
    // The GPU engine and its note (tiles timed on first use of an adapter, cache problems).
    let gpu_engine =
        |backends: Option<wgpu::Backends>, adapter: Option<&str>| -> Result<OpenedEngine> {
            let what = format!(
                "the model {} (host side of the GPU engine)",
                spec.describe()
            );
            let host = spec.memory_bytes(HOST_PARAMETER_COPIES, 0);
            memory::ensure_available(host, &what, memory_advice())?;
            let needs = GpuEngine::needs(spec, max_batch, &opts.gpu);
            let ctx = Arc::new(GpuContext::open(backends, adapter, &needs)?);
            let engine = GpuEngine::new(
                ctx,
                None,
                spec,
                parameters,
                optimizer,
                max_batch,
                opts.gpu.clone(),
            )?;
            Ok(OpenedEngine {
                note: engine.tile_choices().note(),
                engine: Box::new(engine),
            })
        };
    match choice {
        BackendChoice::Cpu => {
            cpu_memory(spec)?;
            Ok(OpenedEngine {
                engine: Box::new(CpuEngine::new(spec, parameters, optimizer, max_batch)?),
                note: None,
            })
        }
        BackendChoice::Auto => {
            let named = adapter.is_some() || std::env::var_os("WGPU_ADAPTER_NAME").is_some();
            if named {
                return gpu_engine(None, adapter);
            }
            let adapters = gpu::list_adapters(gpu::context::backends_or_env(None));
            if let Some(hw) = adapters.iter().find(|a| a.is_hardware()) {
                return gpu_engine(None, Some(&hw.index.to_string()));
            }
            let note = if adapters.iter().any(|a| a.software) {
                software_only_note().to_string()
            } else {
                "no GPU adapter found; using the CPU engine".to_string()
            };
            cpu_memory(spec)?;
            Ok(OpenedEngine {
                engine: Box::new(CpuEngine::new(spec, parameters, optimizer, max_batch)?),
                note: Some(note),
            })
        }
        explicit => {
            let backends = explicit.wgpu_backends();
            match gpu_engine(backends, adapter) {
                Err(crate::Error::Gpu(GpuError::NoAdapter { detail })) => {
                    Err(GpuError::NoAdapter {
                        detail: crate::error::for_backend(explicit, detail),
                    }
                    .into())
                }
                other => other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_choices_parse_and_print_round_trip() {
        for &v in BackendChoice::VARIANTS {
            assert_eq!(v.to_string().parse::<BackendChoice>().unwrap(), v);
        }
        assert_eq!(
            "VK".parse::<BackendChoice>().unwrap(),
            BackendChoice::Vulkan
        );
        assert_eq!(
            "d3d12".parse::<BackendChoice>().unwrap(),
            BackendChoice::Dx12
        );
        let err = "cuda".parse::<BackendChoice>().unwrap_err().to_string();
        assert!(err.contains("auto, vulkan, metal, dx12, gl, cpu"), "{err}");
        assert_eq!(BackendChoice::default(), BackendChoice::Auto);
    }
}
