//! How much memory this machine can still give, so a model too large for it is refused with
//! the figures before anything is allocated (instead of the kernel's out-of-memory killer or an
//! allocation failure taking the process, or the machine, down). A container's cgroup limit and
//! an address-space limit (`ulimit -v`) count as the machine's free memory does.

use crate::error::ConfigError;
use crate::setting::Phrase;
#[cfg(test)]
use crate::setting::Setting;

/// Where the machine's free memory cannot be read (not Linux), the most a run may ask for.
pub const FALLBACK_LIMIT: u64 = 32 << 30;

/// Memory this process may still take: the least of the machine's `MemAvailable`, what the
/// address-space limit (`ulimit -v`, `RLIMIT_AS`) leaves above the process's current size, and
/// what its cgroup's `memory.max` leaves above `memory.current` (a container's limit). `None`
/// where none of them can be read.
pub fn available_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    [
        meminfo.as_deref().and_then(parse_meminfo_available),
        address_space_left(),
        cgroup_left(),
    ]
    .into_iter()
    .flatten()
    .min()
}

fn parse_meminfo_available(meminfo: &str) -> Option<u64> {
    kib_field(meminfo, "MemAvailable:")
}

/// A `Name:   123 kB` field of a /proc file, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `RLIMIT_AS` less the address space the process holds already (`VmSize`).
#[cfg(unix)]
fn address_space_left() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the one struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } != 0
        || limit.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let used = kib_field(&status, "VmSize:").unwrap_or(0);
    // rlim_t is u64 on Linux, not on every unix.
    #[allow(clippy::unnecessary_cast)]
    let limit = limit.rlim_cur as u64;
    Some(limit.saturating_sub(used))
}

#[cfg(not(unix))]
fn address_space_left() -> Option<u64> {
    None
}

/// What the process's cgroup (v2, else v1) lets it still take.
fn cgroup_left() -> Option<u64> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let read = |path: String| std::fs::read_to_string(path).ok();
    if let Some(group) = membership.lines().find_map(|l| l.strip_prefix("0::")) {
        let dir = format!("/sys/fs/cgroup{}", group.trim_end_matches('/'));
        return cgroup_room(
            read(format!("{dir}/memory.max")).as_deref(),
            read(format!("{dir}/memory.current")).as_deref(),
        );
    }
    let dir = "/sys/fs/cgroup/memory";
    cgroup_room(
        read(format!("{dir}/memory.limit_in_bytes")).as_deref(),
        read(format!("{dir}/memory.usage_in_bytes")).as_deref(),
    )
}

/// A cgroup's limit (`max` or bytes; v1's "no limit" is a huge number) less its usage.
fn cgroup_room(limit: Option<&str>, usage: Option<&str>) -> Option<u64> {
    let limit: u64 = limit?.trim().parse().ok()?;
    if limit >= 1 << 60 {
        return None;
    }
    let usage: u64 = usage.and_then(|u| u.trim().parse().ok()).unwrap_or(0);
    Some(limit.saturating_sub(usage))
}

/// Bytes as GiB with one decimal, for messages.
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Refuses `needed` bytes for `what` (e.g. "training 784-100000-10 on the cpu engine with
/// batches of 64") when the machine does not have them; `advice` says what to change.
pub fn ensure_available(
    needed: u64,
    what: &str,
    advice: impl Into<Phrase>,
) -> Result<(), ConfigError> {
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
    let figures = format!(
        "{what} needs about {} of memory; {} is {of}: ",
        gib(needed),
        gib(limit)
    );
    Err(ConfigError::new(
        Phrase::from(figures).followed_by(advice.into()),
    ))
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
    fn reads_a_cgroups_room() {
        assert_eq!(cgroup_room(Some("max\n"), Some("100\n")), None);
        assert_eq!(cgroup_room(Some("1000\n"), Some("100\n")), Some(900));
        assert_eq!(cgroup_room(Some("9223372036854771712"), Some("1")), None);
        assert_eq!(cgroup_room(None, Some("1")), None);
    }

    #[cfg(unix)]
    #[test]
    fn the_address_space_limit_counts() {
        // The test process has no limit unless its runner set one; either way the figure is
        // no more than the machine's.
        if let (Some(all), Some(left)) = (available_bytes(), address_space_left()) {
            assert!(all <= left);
        }
    }

    #[test]
    fn refuses_more_than_there_is_with_the_figures() {
        assert!(ensure_available(1 << 20, "a small run", "-").is_ok());
        let advice = crate::phrase!["use a smaller ", Setting::HiddenWidths];
        let err = ensure_available(u64::MAX / 2, "a huge run", advice).unwrap_err();
        assert_eq!(err.settings().collect::<Vec<_>>(), [Setting::HiddenWidths]);
        let err = err.to_string();
        assert!(
            err.starts_with("a huge run needs about")
                && err.ends_with("use a smaller hidden width"),
            "{err}"
        );
    }
}
