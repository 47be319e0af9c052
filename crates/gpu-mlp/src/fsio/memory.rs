//! How much memory this machine can still give, so a model too large for it is refused with
//! the figures before anything is allocated (instead of the kernel's out-of-memory killer or an
//! allocation failure taking the process, or the machine, down).

use crate::error::ConfigError;

/// Where the machine's free memory cannot be read (not Linux), the most a run may ask for.
pub const FALLBACK_LIMIT: u64 = 32 << 30;

/// Memory available to new allocations without swapping (`MemAvailable` of /proc/meminfo),
/// or `None` where it cannot be read.
pub fn available_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo_available(&meminfo)
}

fn parse_meminfo_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Bytes as GiB with one decimal, for messages.
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Refuses `needed` bytes for `what` (e.g. "training 784-100000-10 on the cpu engine with
/// batches of 64") when the machine does not have them; `advice` says what to change.
pub fn ensure_available(needed: u64, what: &str, advice: &str) -> Result<(), ConfigError> {
    let (limit, of) = match available_bytes() {
        Some(bytes) => (bytes, "available on this machine"),
        None => (
            FALLBACK_LIMIT,
            "the most gpu-mlp asks for where it cannot read free memory",
        ),
    };
    if needed <= limit {
        return Ok(());
    }
    Err(ConfigError::new(format!(
        "{what} needs about {} of memory; {} is {of}: {advice}",
        gib(needed),
        gib(limit)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mem_available() {
        let sample = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2097152 kB\n";
        assert_eq!(parse_meminfo_available(sample), Some(2 << 30));
        assert_eq!(parse_meminfo_available("MemTotal: 5 kB\n"), None);
    }

    #[test]
    fn refuses_more_than_there_is_with_the_figures() {
        assert!(ensure_available(1 << 20, "a small run", "-").is_ok());
        let err = ensure_available(u64::MAX / 2, "a huge run", "use a smaller --hidden")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("a huge run needs about") && err.contains("use a smaller --hidden"),
            "{err}"
        );
    }
}
