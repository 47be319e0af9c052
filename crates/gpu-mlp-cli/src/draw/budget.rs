//! Memory shared by the images being decoded at the same time: each request reserves what its
//! image will take (estimated from the header, before decoding) and waits for its share, so
//! concurrent uploads of large images cannot add up to gigabytes.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Makes the allocator give every block of 1 MiB or more (a decoded picture, a resize pass) back
/// to the system when it is freed, so that what the budget no longer holds is no longer resident.
/// glibc otherwise raises its mmap threshold to the largest block freed so far (up to 32 MiB);
/// later blocks of that size are carved from the arena of the thread that asked, and each
/// connection's thread keeps its arena's share after its decode: 16 connections of 4096² grey
/// PNGs peaked at 1.18 GB against the 512 MiB budget (430 MB with the threshold fixed).
pub fn return_freed_pictures() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tuning parameter of glibc's allocator (under its own lock).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// A fixed number of bytes handed out in reservations.
pub struct DecodeBudget {
    capacity: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

/// Why a reservation was not granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// More than the whole budget: it could never be granted.
    TooLarge { capacity: u64 },
    /// Others held the budget for the whole wait.
    Busy,
}

/// Bytes held until dropped.
pub struct Reservation<'a> {
    budget: &'a DecodeBudget,
    bytes: u64,
}

impl DecodeBudget {
    pub fn new(capacity: u64) -> Self {
        Self {
            capacity,
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Reserves `bytes`, waiting at most `wait` for others to release theirs.
    pub fn reserve(&self, bytes: u64, wait: Duration) -> Result<Reservation<'_>, Refusal> {
        if bytes > self.capacity {
            return Err(Refusal::TooLarge {
                capacity: self.capacity,
            });
        }
        let end = Instant::now() + wait;
        // A poisoned lock only means another request panicked; the count itself is intact.
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        while *used + bytes > self.capacity {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Refusal::Busy);
            }
            used = self
                .freed
                .wait_timeout(used, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *used += bytes;
        Ok(Reservation {
            budget: self,
            bytes,
        })
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut used = self.budget.used.lock().unwrap_or_else(|p| p.into_inner());
        *used -= self.bytes;
        self.budget.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_wait_for_each_other_and_never_exceed_the_budget() {
        let budget = DecodeBudget::new(100);
        let first = budget.reserve(60, Duration::ZERO).unwrap();
        assert_eq!(
            budget.reserve(50, Duration::from_millis(20)).err(),
            Some(Refusal::Busy)
        );
        assert_eq!(
            budget.reserve(101, Duration::ZERO).err(),
            Some(Refusal::TooLarge { capacity: 100 })
        );
        let second = budget.reserve(40, Duration::ZERO).unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| budget.reserve(50, Duration::from_secs(30)).is_ok());
            std::thread::sleep(Duration::from_millis(20));
            drop(first);
            assert!(waiter.join().unwrap());
        });
        drop(second);
        assert!(budget.reserve(100, Duration::ZERO).is_ok());
    }
}
