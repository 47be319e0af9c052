//! The network: its layer sizes and parameter layout ([`ModelSpec`]), the optimizer's settings
//! ([`optimizer`]) and the dropout mask both engines compute bit for bit ([`dropout`]).

pub mod dropout;
pub mod optimizer;
mod spec;

pub use spec::*;
