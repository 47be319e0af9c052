//! The boundary between the training loop and an engine (CPU reference or GPU), and the choice
//! of engine (`select`: `--backend`, `--adapter`).
//!
//! The loop plans a whole epoch up front (sample order and per-step values) and hands it to the
//! engine in one call, so a GPU engine can record every step without a host round trip; the
//! engine reports per-step metrics through `progress` as they become available.

pub mod cpu;
pub mod gpu;
mod select;
pub use select::{open_engine, software_only_note, BackendChoice, EngineOptions, OpenedEngine};

use crate::data::Samples;
use crate::error::{ConfigError, Result};
use crate::model::ModelSpec;
use std::ops::Range;

/// Which resident data set an evaluation or epoch refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training images (validation rows, if any, are a range at its end).
    Train,
    /// The test images.
    Test,
}

/// One optimizer step: which rows of the epoch order form its batch, and its scalar inputs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepPlan {
    /// First position in `EpochPlan::order` of this batch.
    pub start: u32,
    /// Rows in this batch (the last batch of an epoch may be short).
    pub len: u32,
    /// 1-based global step count (Adam's `t`).
    pub t: u32,
    /// The optimizer's step size at `t` (Adam's bias-corrected `α_t`, or SGD's lr).
    pub step_size: f32,
    /// AdamW's decoupled decay: `w -= decay·w` before the update (0: none).
    pub decay: f32,
    /// Seed of this step's dropout masks (`dropout::step_seed`).
    pub dropout_seed: u32,
}

/// Everything an engine needs to run one epoch.
#[derive(Clone, Debug, Default)]
pub struct EpochPlan {
    /// Indices into the training split, in this epoch's shuffled order.
    pub order: Vec<u32>,
    /// One entry per optimizer step, in order.
    pub steps: Vec<StepPlan>,
}

impl EpochPlan {
    /// Checks the plan against an engine holding `loaded` training samples and taking at most
    /// `max_rows` rows a step: every index names a loaded sample, every step has 1 to
    /// `max_rows` rows and lies inside the order.
    pub fn check(&self, loaded: usize, max_rows: usize) -> std::result::Result<(), ConfigError> {
        if self.order.len() > loaded || self.order.iter().any(|&i| i as usize >= loaded) {
            return Err(ConfigError::new(format!(
                "the epoch order refers to samples beyond the {loaded} loaded"
            )));
        }
        for s in &self.steps {
            if s.len == 0 || s.len as usize > max_rows {
                return Err(ConfigError::new(format!(
                    "a step of {} rows; the engine takes 1 to {max_rows} rows",
                    s.len
                )));
            }
            if s.start as usize + s.len as usize > self.order.len() {
                return Err(ConfigError::new("a step reaches past the epoch order"));
            }
        }
        Ok(())
    }
}

/// What one step measured, on the batch before its update (with dropout active).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepMetrics {
    /// Sum over the batch of the per-sample cross-entropy.
    pub loss_sum: f32,
    /// Samples whose arg-max logit equals the label.
    pub correct: u32,
}

/// The result of a forward pass over a range of a split (no dropout).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    /// Samples evaluated.
    pub count: usize,
    /// Sum of per-sample cross-entropy, accumulated in f64.
    pub loss_sum: f64,
    /// Samples whose arg-max class equals the label.
    pub correct: usize,
    /// Arg-max class of every sample, in order.
    pub predictions: Vec<u32>,
}

impl Evaluation {
    /// Mean cross-entropy per sample.
    pub fn loss(&self) -> f64 {
        self.loss_sum / self.count.max(1) as f64
    }
    /// Fraction of samples classified correctly.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.count.max(1) as f64
    }
    /// How many samples `other` (of the same rows, e.g. on the other engine) predicts
    /// differently.
    pub fn prediction_mismatches(&self, other: &Evaluation) -> usize {
        self.predictions
            .iter()
            .zip(&other.predictions)
            .filter(|(a, b)| a != b)
            .count()
    }
}

/// Adam's moments, each in the parameters' flat layout: what a resumed run needs besides the
/// parameters and the step count (which the plan carries) to go on as if never stopped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimizerState {
    /// First moments `m`.
    pub moment1: Vec<f32>,
    /// Second moments `v`.
    pub moment2: Vec<f32>,
}

impl OptimizerState {
    /// Checks that both moments have the layout of `spec`'s parameters.
    pub fn check(&self, spec: &ModelSpec) -> std::result::Result<(), ConfigError> {
        spec.check_parameters(&self.moment1)?;
        spec.check_parameters(&self.moment2)
    }
}

/// A training engine. Both engines compute the same operations with the same conventions, so
/// the CPU engine is the GPU engine's oracle.
pub trait Engine {
    /// One line naming the engine and device, e.g. `cpu (2 threads)` or `vulkan: llvmpipe`.
    fn describe(&self) -> String;

    /// Makes a split resident (uploads it once on a GPU). Replaces an earlier one of the same kind.
    fn load_split(&mut self, split: Split, samples: &Samples) -> Result<()>;

    /// Replaces the parameters (flat layout of `ModelSpec::layers`) and resets optimizer state.
    fn set_parameters(&mut self, params: &[f32]) -> Result<()>;

    /// The current parameters (a readback on a GPU).
    fn parameters(&mut self) -> Result<Vec<f32>>;

    /// The optimizer's moments (a readback on a GPU; zeros under SGD, which keeps none).
    fn optimizer_state(&mut self) -> Result<OptimizerState>;

    /// Replaces the optimizer's moments; after [`set_parameters`](Self::set_parameters), which
    /// zeroes them.
    fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<()>;

    /// Runs every step of `plan` over the training split, in order. `progress` is called with the
    /// number of steps finished so far and the metrics of the steps finished since the last call;
    /// the returned vector holds every step's metrics.
    fn train_epoch(
        &mut self,
        plan: &EpochPlan,
        progress: &mut dyn FnMut(usize, &[StepMetrics]),
    ) -> Result<Vec<StepMetrics>>;

    /// Forward pass (no dropout) over `rows` of a resident split.
    fn evaluate(&mut self, split: Split, rows: Range<usize>) -> Result<Evaluation>;
}

/// Both engines are built for batches of up to `max_batch` rows; none is a setting error.
pub fn check_max_batch(max_batch: usize) -> Result<(), ConfigError> {
    if max_batch == 0 {
        return Err(ConfigError::new(crate::phrase![
            crate::setting::Setting::BatchSize,
            " must be at least 1"
        ]));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(start: u32, len: u32) -> StepPlan {
        StepPlan {
            start,
            len,
            t: 1,
            step_size: 1e-3,
            decay: 0.0,
            dropout_seed: 0,
        }
    }

    #[test]
    fn a_plan_must_fit_the_loaded_samples_and_the_batch() {
        let plan = |order: Vec<u32>, steps: Vec<StepPlan>| EpochPlan { order, steps };
        assert!(plan(vec![2, 0, 1], vec![step(0, 2), step(2, 1)])
            .check(3, 2)
            .is_ok());
        let refused = [
            (plan(vec![0, 3], vec![step(0, 2)]), "beyond the 3 loaded"),
            (
                plan(vec![0, 1, 2, 0], vec![step(0, 2)]),
                "beyond the 3 loaded",
            ),
            (plan(vec![0, 1, 2], vec![step(0, 3)]), "1 to 2 rows"),
            (plan(vec![0, 1, 2], vec![step(0, 0)]), "1 to 2 rows"),
            (
                plan(vec![0, 1, 2], vec![step(2, 2)]),
                "past the epoch order",
            ),
        ];
        for (plan, why) in refused {
            let e = plan.check(3, 2).expect_err(why).to_string();
            assert!(e.contains(why), "{e}");
        }
    }
}
