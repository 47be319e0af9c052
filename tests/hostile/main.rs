//! What a hostile or careless user can hand to gpu-mlp: odd files, pictures that are not what
//! they say, settings that make training explode, bombs, lying headers, outputs aimed at
//! inputs. Each is one clear error or a plain note, and nothing of the user's is lost.
//!
//! Inputs are generated here (bombs are streamed into a temporary folder, never committed).
//! Limits that would make a bomb large are lowered through the environment variables
//! `docs/limits.md` describes, so the whole corpus runs in seconds.

mod class_names;
mod corpus;
#[cfg(target_os = "linux")]
mod draw_memory;
mod files;
mod header_row;
mod headers;
mod memory;
mod names;
mod outputs;
mod predict;
mod readers;
mod resume;
mod settings;
mod signals;
mod statuses;
mod text;
mod training;
