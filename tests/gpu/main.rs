//! The GPU engine: its kernels against the CPU reference, training in lockstep and end to end,
//! the GPU through the command line, and `devices`, `verify` and `bench`. One device and
//! pipeline set for the whole binary (`support::gpu::lab`). Without an adapter each test is
//! skipped (counted in one line at the end), or fails under `CI=true`.

mod cli;
mod commands;
mod kernels;
mod training;
mod verify_bench;
