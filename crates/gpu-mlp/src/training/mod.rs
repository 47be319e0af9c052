//! Training: the one loop both engines run ([`run`]), its learning-rate schedules, early
//! stopping, and the state a checkpoint carries to resume exactly.

pub mod early_stopping;
mod planner;
mod record;
pub mod resume;
mod run;
pub mod schedule;
mod trainer;

pub use planner::{shuffled_rows, EpochPlanner};
pub use record::EpochRecord;
pub use run::*;
pub use trainer::Trainer;
