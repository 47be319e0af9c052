//! `gpu-mlp devices`: every adapter wgpu finds, with what gpu-mlp needs to know about it. Also
//! the engine choice of the flags shared by `verify` and `bench`.

use crate::cli::{DevicesArgs, EngineArgs};
use gpu_mlp::diagnostics::records::{bytes, AdapterRecord};
use gpu_mlp::engine::gpu::{self, context::backends_or_env};
use gpu_mlp::engine::BackendChoice;
use gpu_mlp::error::{Error, Result};

/// The engine the flags choose, as `train` chooses it: `--backend`, else `$WGPU_BACKEND` (an
/// explicit choice, like the flag), else `auto`.
pub fn backend_choice(arg: Option<BackendChoice>) -> Result<BackendChoice> {
    Ok(match arg {
        Some(choice) => choice,
        None => match std::env::var("WGPU_BACKEND") {
            Ok(name) if !name.trim().is_empty() => name.parse::<BackendChoice>()?,
            _ => BackendChoice::Auto,
        },
    })
}

/// `--backend` (see [`backend_choice`]) and `--adapter` of the shared engine flags.
pub fn engine_choice(args: &EngineArgs) -> Result<(BackendChoice, Option<&str>)> {
    Ok((backend_choice(args.backend)?, args.adapter.as_deref()))
}

/// The lines `devices` prints for one adapter.
pub fn adapter_lines(a: &AdapterRecord) -> Vec<String> {
    let l = &a.limits;
    let features = if a.features.is_empty() {
        "none of timestamp-query, shader-f16, subgroup".to_string()
    } else {
        a.features.join(", ")
    };
    vec![
        format!("{}: {}", a.index, a.name),
        format!(
            "   backend {}, type {}{}, driver {} ({})",
            a.backend,
            a.device_type,
            if a.software { " (software)" } else { "" },
            if a.driver.is_empty() { "-" } else { &a.driver },
            if a.driver_info.is_empty() {
                "-"
            } else {
                &a.driver_info
            }
        ),
        format!(
            "   limits: buffer {}, storage binding {}, {} storage buffers per stage, workgroup \
             storage {}, {} invocations per workgroup, {} workgroups per dimension",
            bytes(l.max_buffer_size),
            bytes(l.max_storage_buffer_binding_size),
            l.max_storage_buffers_per_shader_stage,
            bytes(l.max_compute_workgroup_storage_size as u64),
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroups_per_dimension
        ),
        format!("   features: {features}"),
    ]
}

pub fn run(args: &DevicesArgs) -> Result<()> {
    // Without --backend, wgpu's own WGPU_BACKEND (a comma list too) filters the list.
    let backends = match args.backend {
        Some(BackendChoice::Cpu) => {
            return Err(gpu_mlp::config_error!(
                "--backend cpu is the CPU engine, not an adapter; `gpu-mlp devices` lists GPU \
                 adapters (omit --backend for all of them)"
            )
            .into())
        }
        choice => backends_or_env(choice.and_then(BackendChoice::wgpu_backends)),
    };
    let adapters: Vec<AdapterRecord> = gpu::list_adapters(backends)
        .iter()
        .map(AdapterRecord::from_summary)
        .collect();
    if args.json {
        let text = serde_json::to_string_pretty(&adapters).map_err(|e| Error::Write {
            path: "stdout".into(),
            source: e.into(),
        })?;
        println!("{text}");
        return Ok(());
    }
    if adapters.is_empty() {
        println!(
            "no GPU adapters found for backends {backends:?}; install a driver (e.g. \
             mesa-vulkan-drivers for lavapipe) or train on the CPU engine (--backend cpu)"
        );
        return Ok(());
    }
    for a in &adapters {
        for line in adapter_lines(a) {
            println!("{line}");
        }
    }
    let hardware = adapters.iter().any(|a| !a.software);
    println!(
        "\n--adapter takes an index or a name substring. {}",
        if hardware {
            "`--backend auto` trains on the first hardware adapter."
        } else {
            "Only software adapters: `--backend auto` trains on the CPU engine, which is faster \
             there; `--backend vulkan` forces the adapter."
        }
    );
    Ok(())
}
