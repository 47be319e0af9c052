//! Is this adapter right, and how fast is it: `verify` (the kernel grid and the lockstep),
//! `bench` (timed figures and sweeps) and the records both write.

pub mod bench;
pub mod records;
pub mod verify;
