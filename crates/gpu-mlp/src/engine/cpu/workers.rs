//! The CPU engine's persistent worker threads.
//!
//! A training step at batch 32 takes about half a millisecond, so its products are split across
//! the cores by workers that stay alive for the whole run (rayon's pool: idle workers spin
//! briefly before they sleep, so a product started right after another finds them awake). The
//! engine runs each chunk of steps on a worker, never on the caller's thread, and every worker
//! flushes subnormals to zero from the moment it starts (`cpu::flush`).

use crate::engine::cpu::flush;
use crate::error::{ConfigError, Result};
use std::sync::{Arc, Mutex};

/// Environment variable that sets the CPU engine's thread count (default: the machine's
/// hardware threads).
pub const THREADS_VAR: &str = "GPU_MLP_CPU_THREADS";

pub struct Workers {
    pool: rayon::ThreadPool,
    threads: usize,
}

impl Workers {
    /// A pool of `threads` workers, each flushing subnormals to zero.
    pub fn new(threads: usize) -> Result<Self> {
        if threads == 0 {
            return Err(ConfigError::new("the CPU engine needs at least 1 thread").into());
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("gpu-mlp-cpu-{i}"))
            .start_handler(|_| flush::flush_subnormals_on_this_thread())
            .build()
            .map_err(|e| {
                ConfigError::new(format!(
                    "cannot start the CPU engine's {threads} worker threads: {e}"
                ))
            })?;
        Ok(Self { pool, threads })
    }

    /// The process's pool of `threads` workers, started on first use and shared by every
    /// engine with that thread count.
    pub fn shared(threads: usize) -> Result<Arc<Self>> {
        static POOLS: Mutex<Vec<Arc<Workers>>> = Mutex::new(Vec::new());
        let mut pools = POOLS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(found) = pools.iter().find(|w| w.threads == threads) {
            return Ok(Arc::clone(found));
        }
        let workers = Arc::new(Self::new(threads)?);
        pools.push(Arc::clone(&workers));
        Ok(workers)
    }

    /// The thread count from `GPU_MLP_CPU_THREADS`, else the machine's hardware threads.
    pub fn default_threads() -> Result<usize> {
        match std::env::var(THREADS_VAR) {
            Ok(value) => match value.trim().parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(ConfigError::new(format!(
                    "{THREADS_VAR}={value:?}: expected a thread count of at least 1"
                ))
                .into()),
            },
            Err(_) => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `work` on one of the workers and waits for it; a direct call when the caller is
    /// already one of them. Inside, `for_each_part` spreads work over all the workers.
    pub fn run<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        self.pool.install(work)
    }

    /// Calls `part(i)` for `i` in `0..parts`, spread over the workers, and returns when all
    /// are done. Which worker computes a part never changes what it computes.
    pub fn for_each_part(&self, parts: usize, part: &(dyn Fn(usize) + Sync)) {
        self.run(|| split_join(0..parts, part));
    }
}

/// Halves the range until one index is left, running the halves with `rayon::join` (on the
/// stack: nothing is allocated).
fn split_join(range: std::ops::Range<usize>, part: &(dyn Fn(usize) + Sync)) {
    match range.len() {
        0 => {}
        1 => part(range.start),
        len => {
            let mid = range.start + len / 2;
            rayon::join(
                || split_join(range.start..mid, part),
                || split_join(mid..range.end, part),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_worker_flushes_subnormals_and_the_caller_does_not() {
        let workers = Workers::new(2).expect("workers");
        let flushed = Mutex::new(Vec::new());
        workers.for_each_part(8, &|_| {
            flushed
                .lock()
                .expect("lock")
                .push(flush::flushes_subnormals())
        });
        let flushed = flushed.into_inner().expect("lock");
        assert_eq!(flushed.len(), 8);
        if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            assert!(flushed.iter().all(|&f| f), "{flushed:?}");
        }
        assert!(
            !flush::flushes_subnormals(),
            "the caller's thread was changed"
        );
    }

    #[test]
    fn parts_cover_the_range_once() {
        let workers = Workers::new(2).expect("workers");
        let seen = Mutex::new(Vec::new());
        workers.for_each_part(5, &|i| seen.lock().expect("lock").push(i));
        let mut seen = seen.into_inner().expect("lock");
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    }
}
