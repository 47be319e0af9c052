//! What `bench` runs: quick or full, repeats, and the figures' networks and shapes.

use crate::engine::gpu::GpuOptions;
use crate::model::ModelSpec;

/// What to run.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchOptions {
    /// The reduced set (under a minute on lavapipe).
    pub quick: bool,
    /// Timed runs per figure after the warm-up.
    pub repeats: usize,
    /// The GPU engine's training steps per command buffer (`--steps-per-submit`).
    pub steps_per_submit: usize,
}

impl BenchOptions {
    pub fn new(quick: bool, repeats: Option<usize>) -> Self {
        Self {
            quick,
            repeats: repeats.unwrap_or(if quick { 3 } else { 5 }).max(1),
            steps_per_submit: GpuOptions::default().steps_per_submit,
        }
    }

    /// The GPU engine's options for the training figures: `steps_per_submit` steps (at least
    /// one) per command buffer, the rest as `train` has them.
    pub fn gpu_options(&self) -> GpuOptions {
        GpuOptions {
            steps_per_submit: self.steps_per_submit.max(1),
            ..GpuOptions::default()
        }
    }

    /// Seconds one timed run aims at.
    pub(super) fn run_seconds(&self) -> f64 {
        if self.quick {
            0.2
        } else {
            0.4
        }
    }

    /// Seconds of timed runs one figure may take before its run count is cut.
    pub(super) fn budget_seconds(&self) -> f64 {
        if self.quick {
            2.5
        } else {
            20.0
        }
    }

    /// How many timed runs fit the budget when one run takes `run` seconds.
    pub(super) fn runs(&self, run: f64) -> usize {
        if run * self.repeats as f64 <= self.budget_seconds() {
            self.repeats
        } else {
            ((self.budget_seconds() / run) as usize).clamp(1, self.repeats)
        }
    }

    /// Iterations per run, from the time of one (warm) iteration.
    pub(super) fn iterations(&self, one: f64, max: usize) -> usize {
        ((self.run_seconds() / one.max(1e-9)).round() as usize).clamp(1, max)
    }

    /// The (network, batch) pairs of the training figures.
    pub fn trainings(&self) -> Vec<(ModelSpec, usize)> {
        let nets = networks();
        if self.quick {
            let mut out: Vec<(ModelSpec, usize)> = nets.iter().cloned().map(|n| (n, 32)).collect();
            out.push((nets[0].clone(), 256));
            out
        } else {
            nets.iter()
                .flat_map(|n| [32, 256, 1024].map(|b| (n.clone(), b)))
                .collect()
        }
    }

    /// The batch sizes of the model-shaped products.
    pub(super) fn matmul_batches(&self) -> &'static [usize] {
        if self.quick {
            &[32]
        } else {
            &[32, 256, 1024]
        }
    }

    pub(super) fn squares(&self) -> &'static [usize] {
        if self.quick {
            &[256, 512]
        } else {
            &[256, 512, 1024, 2048]
        }
    }
}

/// The three tutorial networks: the TensorFlow quickstart (784-128-10, dropout 0.2), the
/// Fashion-MNIST tutorial's 784-50-50-10, and a deeper 784-128-128-128-10.
pub fn networks() -> Vec<ModelSpec> {
    [
        (vec![128], 0.2),
        (vec![50, 50], 0.0),
        (vec![128, 128, 128], 0.0),
    ]
    .into_iter()
    .filter_map(|(hidden, dropout)| ModelSpec::new(784, hidden, 10, dropout).ok())
    .collect()
}
