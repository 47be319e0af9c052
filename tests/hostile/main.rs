//! The hostile corpus: inputs and command lines a careless or hostile user gives gpu-mlp, each
//! generated here (bombs are streamed into a temporary folder, never committed), each answered
//! with one clear error or the documented behaviour, and nothing of the user's lost.
//!
//! Limits that would make a bomb large are lowered through the environment variables
//! `docs/limits.md` describes, so the whole corpus runs in seconds.

#[path = "../support/mod.rs"]
mod support;

mod corpus;
mod headers;
mod memory;
mod outputs;
mod resume;
mod text;
