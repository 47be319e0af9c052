//! The host's file system and memory: atomic writes ([`atomic`]), advisory file locks
//! ([`lock`]), the up-front memory check ([`memory`]) and the bounds on what an input may make
//! the process allocate ([`budget`]).

pub mod atomic;
pub mod budget;
pub mod lock;
pub mod memory;
