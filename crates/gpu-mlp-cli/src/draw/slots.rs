//! The draw server's connection slots. At most a fixed number of connections are answered at
//! once; when all slots are taken, a connection still sending its request after `evict_after`
//! (or one only lingering after its answer) gives its slot to the newcomer, so a few slow or
//! idle clients cannot lock every quick one out. Only when no slot can be freed does the
//! newcomer get a 503.

use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What a connection is doing, for choosing whom to evict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the client's request (evictable after `evict_after`).
    Reading,
    /// Working on the answer or sending it (never evicted).
    Answering,
    /// Answered; draining the client's leftover input (evictable at once).
    Lingering,
}

struct Entry {
    id: u64,
    phase: Phase,
    since: Instant,
    /// A handle on the same socket, to wake the connection's thread when it is evicted.
    stream: TcpStream,
    evicted: Arc<AtomicBool>,
}

struct Table {
    next_id: u64,
    entries: Vec<Entry>,
}

/// The table of connections being answered.
pub struct Slots {
    capacity: usize,
    evict_after: Duration,
    table: Mutex<Table>,
}

/// One connection's place in the table; dropping it frees the slot.
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
    evicted: Arc<AtomicBool>,
}

impl Slots {
    pub fn new(capacity: usize, evict_after: Duration) -> Arc<Self> {
        Arc::new(Self {
            capacity,
            evict_after,
            table: Mutex::new(Table {
                next_id: 0,
                entries: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A poisoned lock only means a connection thread panicked; the table is intact.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for `stream`, evicting a slow or lingering connection if all are taken; `None`
    /// when none can be freed (or the socket cannot be shared), to be answered with a 503.
    pub fn admit(self: &Arc<Self>, stream: &TcpStream) -> Option<Slot> {
        let handle = stream.try_clone().ok()?;
        let mut table = self.lock();
        if table.entries.len() >= self.capacity {
            let victim = self.victim(&table.entries)?;
            let entry = table.entries.swap_remove(victim);
            entry.evicted.store(true, Ordering::SeqCst);
            // Wakes the connection's blocked read with an end of input; it answers 408 itself.
            let _ = entry.stream.shutdown(Shutdown::Read);
        }
        let id = table.next_id;
        table.next_id += 1;
        let evicted = Arc::new(AtomicBool::new(false));
        table.entries.push(Entry {
            id,
            phase: Phase::Reading,
            since: Instant::now(),
            stream: handle,
            evicted: Arc::clone(&evicted),
        });
        Some(Slot {
            slots: Arc::clone(self),
            id,
            evicted,
        })
    }

    /// Whom to evict: a lingering connection first, else the oldest one still reading its
    /// request for at least `evict_after`.
    fn victim(&self, entries: &[Entry]) -> Option<usize> {
        if let Some(i) = entries.iter().position(|e| e.phase == Phase::Lingering) {
            return Some(i);
        }
        entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.phase == Phase::Reading && e.since.elapsed() >= self.evict_after)
            .min_by_key(|(_, e)| e.since)
            .map(|(i, _)| i)
    }

    /// Connections holding a slot now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Slot {
    /// Records what the connection does now (nothing once it was evicted).
    pub fn set_phase(&self, phase: Phase) {
        let mut table = self.slots.lock();
        if let Some(entry) = table.entries.iter_mut().find(|e| e.id == self.id) {
            entry.phase = phase;
            entry.since = Instant::now();
        }
    }

    /// True when another connection took this one's slot.
    pub fn was_evicted(&self) -> bool {
        self.evicted.load(Ordering::SeqCst)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.slots.lock();
        if let Some(i) = table.entries.iter().position(|e| e.id == self.id) {
            table.entries.swap_remove(i);
        }
    }
}
