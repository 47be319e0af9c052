//! What `verify` and `bench` records say about where a result came from (the gpu-mlp build, the
//! host, the adapter), so a bug report or a benchmark figure can be traced to its code, driver
//! and device; `devices` prints the same adapter fields. And reading and writing them as JSON.

use crate::engine::gpu::{AdapterSummary, GpuContext, LimitsSummary};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::Path;

/// The build: crate version and the git commit `build.rs` saw ("unknown" outside a checkout).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    pub version: String,
    pub git_commit: String,
}

impl BuildInfo {
    pub fn current() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: option_env!("GPU_MLP_GIT_COMMIT")
                .unwrap_or("unknown")
                .to_string(),
        }
    }

    /// `0.1.0 (3f2a9c1d0b7e)`.
    pub fn describe(&self) -> String {
        let short: String = self.git_commit.chars().take(12).collect();
        format!("{} ({short})", self.version)
    }
}

/// The machine: OS, architecture, CPU model and hardware threads (the CPU engine's figures depend
/// on them, and so do a software adapter's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    pub os: String,
    pub arch: String,
    pub cpu: String,
    pub threads: usize,
}

impl HostInfo {
    pub fn current() -> Self {
        Self {
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            cpu: cpu_model().unwrap_or_else(|| "unknown".to_string()),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// The CPU's model name from `/proc/cpuinfo` (Linux), if readable.
fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// One adapter, as records and `gpu-mlp devices` show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterRecord {
    /// Position in the enumeration (`--adapter INDEX`).
    pub index: usize,
    pub name: String,
    /// `vulkan`, `metal`, `dx12`, `gl`.
    pub backend: String,
    pub device_type: String,
    /// Vendor id and, when known, its name: `0x10de (NVIDIA)`. Empty where not known.
    pub vendor: String,
    /// Device id, `0x2684`. Empty where not known.
    pub device: String,
    pub driver: String,
    pub driver_info: String,
    /// A software rasteriser (lavapipe / llvmpipe, WARP).
    pub software: bool,
    pub limits: LimitsSummary,
    /// Optional features gpu-mlp can use: `timestamp-query`, `shader-f16`, `subgroup`.
    pub features: Vec<String>,
}

impl AdapterRecord {
    /// From an enumeration entry (no vendor or device id: `list_adapters` does not keep them).
    pub fn from_summary(s: &AdapterSummary) -> Self {
        let mut features = Vec::new();
        if s.timestamp_queries {
            features.push("timestamp-query".to_string());
        }
        if s.shader_f16 {
            features.push("shader-f16".to_string());
        }
        if s.subgroups {
            features.push("subgroup".to_string());
        }
        Self {
            index: s.index,
            name: s.name.clone(),
            backend: s.backend.clone(),
            device_type: s.device_type.clone(),
            vendor: String::new(),
            device: String::new(),
            driver: s.driver.clone(),
            driver_info: s.driver_info.clone(),
            software: s.software,
            limits: s.limits.clone(),
            features,
        }
    }

    /// The adapter of an open device, with its vendor and device ids.
    pub fn from_context(ctx: &GpuContext) -> Self {
        let mut record = Self::from_summary(&ctx.summary);
        record.vendor = vendor_name(ctx.info.vendor);
        record.device = format!("{:#06x}", ctx.info.device);
        record
    }

    /// `llvmpipe (LLVM 19.1.7, 256 bits) - vulkan, Cpu, llvmpipe Mesa 25.0.7`.
    pub fn describe(&self) -> String {
        format!(
            "{} - {}, {}, {} {}",
            self.name, self.backend, self.device_type, self.driver, self.driver_info
        )
    }
}

/// `0x10de (NVIDIA)`: the PCI vendor id (Vulkan's superset) with its name where known.
pub fn vendor_name(id: u32) -> String {
    let name = match id {
        0x1002 | 0x1022 => "AMD",
        0x10de => "NVIDIA",
        0x8086 => "Intel",
        0x106b => "Apple",
        0x13b5 => "ARM",
        0x5143 => "Qualcomm",
        0x1010 => "Imagination",
        0x1414 => "Microsoft",
        0x14e4 => "Broadcom",
        0x10005 => "Mesa",
        _ => "",
    };
    if name.is_empty() {
        format!("{id:#06x}")
    } else {
        format!("{id:#06x} ({name})")
    }
}

/// Bytes as `256 MiB` / `2 GiB` / `48 KiB`.
pub fn bytes(n: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    if n >= GIB && n.is_multiple_of(GIB) {
        format!("{} GiB", n / GIB)
    } else if n >= MIB {
        format!("{} MiB", n / MIB)
    } else if n >= KIB {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} B")
    }
}

/// Writes `value` as pretty JSON to `path` atomically (see `output::write_atomically`); check
/// the path with `output::check_writable` before long work.
pub fn write_json<T: Serialize>(path: impl AsRef<Path>, value: &T) -> Result<()> {
    let path = path.as_ref();
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Write {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    bytes.push(b'\n');
    Ok(crate::fsio::atomic::write_atomically(path, &bytes)?)
}

/// Reads a JSON record; a file that is not one is a read error saying why.
pub fn read_json<T: serde::de::DeserializeOwned>(path: impl AsRef<Path>, what: &str) -> Result<T> {
    let path = path.as_ref();
    let fail = |source: std::io::Error| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(fail)?;
    serde_json::from_reader(std::io::BufReader::new(file)).map_err(|e| {
        fail(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not {what}: {e}"),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_ids_are_named_where_known() {
        assert_eq!(vendor_name(0x10de), "0x10de (NVIDIA)");
        assert_eq!(vendor_name(0x10005), "0x10005 (Mesa)");
        assert_eq!(vendor_name(0x1234), "0x1234");
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(bytes(2 << 30), "2 GiB");
        assert_eq!(bytes(128 << 20), "128 MiB");
        assert_eq!(bytes(32768), "32 KiB");
        assert_eq!(bytes(100), "100 B");
    }

    #[test]
    fn the_build_is_named() {
        let b = BuildInfo::current();
        assert_eq!(b.version, env!("CARGO_PKG_VERSION"));
        assert!(!b.git_commit.is_empty());
    }
}
