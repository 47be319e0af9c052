//! The host's file system and memory: atomic writes ([`atomic`]), advisory file locks
//! ([`lock`]) and the up-front memory check ([`memory`]).

pub mod atomic;
pub mod lock;
pub mod memory;
