//! The lockstep check of `gpu-mlp verify`: the model trained for K steps on the GPU engine and
//! on the CPU engine from the same initialisation, the same batches and the same dropout masks.
//! Each step's loss and correct count are compared; every few steps the parameters are read
//! back from both and their drift measured; at the end each layer's drift, and an evaluation
//! pass over the rows, are compared. The first [`CHECKED_STEPS`] steps are held to the bounds;
//! later ones are shown, not judged (see there).

use crate::cpu::CpuEngine;
use crate::data::Samples;
use crate::engine::{Engine, EpochPlan, Split};
use crate::error::Result;
use crate::gpu::{GpuContext, GpuEngine, GpuOptions, Pipelines};
use crate::model::ModelSpec;
use crate::optimizer::Optimizer;
use crate::train::EpochPlanner;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;
use std::sync::Arc;

/// Relative error bound of each step's loss (sum over the batch).
pub const LOSS_BOUND: f64 = 1e-4;
/// Relative parameter drift allowed after the checked steps.
pub const PARAM_BOUND: f64 = 1e-4;
/// The steps held to the bounds. Over longer runs the engines' rounding differences grow
/// chaotically (a ReLU mask flips on a near-zero input, Adam normalises a tiny gradient
/// difference into a full step, and the trajectories part), so later steps are shown but not
/// judged: a wrong kernel shows within the first steps.
pub const CHECKED_STEPS: usize = 50;

/// How many correct counts may differ in a batch: an arg-max between two near-equal logits can
/// flip with the last bit.
pub fn correct_bound(batch: usize) -> u32 {
    (batch as u32 / 256).max(1)
}

/// The rows the lockstep run trains on, and what they are.
#[derive(Clone, Debug)]
pub struct LockstepRows {
    pub samples: Samples,
    /// `mnist (first 1589 training rows)` or `random u8 pixels and labels (...)`.
    pub note: String,
}

impl LockstepRows {
    /// Rows for `steps` steps of `batch` (the last step short when the batch allows it), at most
    /// 60000.
    pub fn needed(steps: usize, batch: usize) -> usize {
        (steps.max(1) * batch - batch / 3).clamp(1, 60_000)
    }

    /// The first `rows` samples of `split`.
    pub fn from_split(split: &Samples, rows: usize, name: &str) -> Self {
        let rows = rows.min(split.count).max(1).min(split.count);
        Self {
            samples: Samples {
                images: split.images[..rows * split.features].to_vec(),
                labels: split.labels[..rows].to_vec(),
                count: rows,
                features: split.features,
            },
            note: format!("{name} (first {rows} training rows)"),
        }
    }

    /// Seeded random pixels and labels; `why` says why real data is not used.
    pub fn random(features: usize, classes: usize, rows: usize, seed: u64, why: &str) -> Self {
        let mut rng = Pcg64Mcg::seed_from_u64(seed ^ 0x0da7_a5e7);
        let classes = classes.clamp(1, 256) as u32;
        Self {
            samples: Samples {
                images: (0..rows * features).map(|_| rng.random::<u8>()).collect(),
                labels: (0..rows)
                    .map(|_| rng.random_range(0..classes) as u8)
                    .collect(),
                count: rows,
                features,
            },
            note: format!("random u8 pixels and labels, {rows} rows ({why})"),
        }
    }
}

/// What to train.
#[derive(Clone, Debug, PartialEq)]
pub struct LockstepOptions {
    pub spec: ModelSpec,
    pub optimizer: Optimizer,
    pub batch: usize,
    pub steps: usize,
    pub seed: u64,
}

/// One printed row: the losses of step `step` and the parameter drift after it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LockstepRow {
    pub step: usize,
    /// Mean loss of the step's batch on each engine.
    pub cpu_loss: f64,
    pub gpu_loss: f64,
    pub loss_rel_error: f64,
    pub cpu_correct: u32,
    pub gpu_correct: u32,
    /// ‖θ_gpu − θ_cpu‖ / ‖θ_cpu‖ over all parameters.
    pub param_rel_drift: f64,
    pub param_max_abs_drift: f64,
}

/// The drift of one weight matrix or bias vector after the last step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerDrift {
    /// `layer 1 W 128x10` or `layer 1 b 10`.
    pub name: String,
    pub rel_drift: f64,
    pub max_abs_drift: f64,
}

/// A forward pass (no dropout) over the rows with the trained parameters on both engines
/// (judged when the run is no longer than the checked steps).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalAgreement {
    pub rows: usize,
    pub cpu_loss: f64,
    pub gpu_loss: f64,
    pub loss_rel_error: f64,
    pub prediction_mismatches: usize,
    pub mismatch_bound: usize,
    pub judged: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LockstepBounds {
    pub loss_rel_error: f64,
    pub correct_difference: u32,
    pub param_rel_drift: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LockstepReport {
    pub model: String,
    pub optimizer: String,
    pub steps: usize,
    pub batch: usize,
    pub data: String,
    pub rows: Vec<LockstepRow>,
    /// The first steps, held to the bounds.
    pub checked_steps: usize,
    /// Worst figures over the checked steps.
    pub worst_loss_rel_error: f64,
    pub worst_loss_step: usize,
    pub worst_correct_difference: u32,
    /// Parameter drift after the checked steps.
    pub checked_param_rel_drift: f64,
    /// Worst loss error after the checked steps (shown, not judged).
    pub later_worst_loss_rel_error: Option<f64>,
    /// Parameter drift after the last step.
    pub final_param_rel_drift: f64,
    pub layers: Vec<LayerDrift>,
    pub worst_layer: Option<LayerDrift>,
    pub evaluation: EvalAgreement,
    pub bounds: LockstepBounds,
    /// What was out of bounds, one line each.
    pub failures: Vec<String>,
    pub passed: bool,
}

/// (relative drift, largest absolute drift) of `gpu` against `cpu`.
fn drift(gpu: &[f32], cpu: &[f32]) -> (f64, f64) {
    let e = super::norm::ErrorNorm::of(gpu, cpu);
    (e.rel, e.max_abs)
}

/// `x <= bound`, false for NaN.
fn within(x: f64, bound: f64) -> bool {
    x <= bound
}

fn rel_error(gpu: f64, cpu: f64) -> f64 {
    if gpu == cpu {
        0.0
    } else if gpu.is_nan() || cpu.is_nan() {
        f64::INFINITY
    } else {
        (gpu - cpu).abs() / cpu.abs().max(1e-30)
    }
}

/// The column header of the printed rows.
pub fn header() -> String {
    format!(
        "  {:>6}  {:>10}  {:>10}  {:>12}  {:>15}  {:>17}  {:>12}",
        "step",
        "cpu loss",
        "gpu loss",
        "loss rel err",
        "correct cpu/gpu",
        "param drift (rel)",
        "max abs"
    )
}

pub fn row_line(r: &LockstepRow) -> String {
    format!(
        "  {:>6}  {:>10.6}  {:>10.6}  {:>12}  {:>15}  {:>17}  {:>12}",
        r.step,
        r.cpu_loss,
        r.gpu_loss,
        super::sci(r.loss_rel_error),
        format!("{}/{}", r.cpu_correct, r.gpu_correct),
        super::sci(r.param_rel_drift),
        super::sci(r.param_max_abs_drift)
    )
}

/// Trains both engines in lockstep on `rows`; `log` gets the printed lines as they come.
/// `perturb_params` nudges one GPU parameter before the final comparison (self-test).
pub fn run(
    ctx: Arc<GpuContext>,
    pipes: Arc<Pipelines>,
    opts: &LockstepOptions,
    rows: &LockstepRows,
    perturb_params: bool,
    log: &mut dyn FnMut(&str),
) -> Result<LockstepReport> {
    let spec = &opts.spec;
    let batch = opts.batch.max(1);
    let steps = opts.steps.max(1);
    let gpu_opts = GpuOptions {
        steps_per_submit: 16,
        ..Default::default()
    };
    let mut gpu = GpuEngine::new(ctx, Some(pipes), spec, opts.optimizer, batch, gpu_opts)?;
    let mut cpu = CpuEngine::new(spec, opts.optimizer, batch)?;
    let data = &rows.samples;
    gpu.load_split(Split::Train, data)?;
    cpu.load_split(Split::Train, data)?;
    let init = spec.init_parameters(opts.seed);
    gpu.set_parameters(&init)?;
    cpu.set_parameters(&init)?;

    let every = (steps / 10).max(1);
    let checked = steps.min(CHECKED_STEPS);
    let bounds = LockstepBounds {
        loss_rel_error: LOSS_BOUND,
        correct_difference: correct_bound(batch),
        param_rel_drift: PARAM_BOUND,
    };
    log(&format!(
        "lockstep: {} - {} - batch {batch} - {steps} steps on {}",
        spec.describe(),
        opts.optimizer.describe(),
        rows.note
    ));
    log(&header());
    let mut planner = EpochPlanner::new(opts.seed, data.count, batch, opts.optimizer);
    let mut report_rows = Vec::new();
    let (mut worst_loss, mut worst_loss_step, mut worst_correct) = (0.0f64, 0usize, 0u32);
    let mut later_worst: Option<f64> = None;
    let mut checked_drift = 0.0;
    let mut done = 0usize;
    let (mut gp, mut cp) = (init.clone(), init);
    while done < steps {
        let plan = planner.next_epoch();
        let mut i = 0;
        while i < plan.steps.len() && done < steps {
            // Stop at every printed row and at the end of the checked steps.
            let mut take = (every - done % every)
                .min(plan.steps.len() - i)
                .min(steps - done);
            if done < checked {
                take = take.min(checked - done);
            }
            let part = EpochPlan {
                order: plan.order.clone(),
                steps: plan.steps[i..i + take].to_vec(),
            };
            let gm = gpu.train_epoch(&part, &mut |_, _| {})?;
            let cm = cpu.train_epoch(&part, &mut |_, _| {})?;
            let mut last = None;
            for (j, ((g, c), s)) in gm.iter().zip(&cm).zip(&part.steps).enumerate() {
                let step = done + j + 1;
                let loss_rel = rel_error(g.loss_sum as f64, c.loss_sum as f64);
                if step <= checked {
                    if loss_rel > worst_loss || worst_loss_step == 0 {
                        worst_loss = loss_rel;
                        worst_loss_step = step;
                    }
                    worst_correct = worst_correct.max(g.correct.abs_diff(c.correct));
                } else {
                    later_worst = Some(later_worst.map_or(loss_rel, |w: f64| w.max(loss_rel)));
                }
                last = Some((step, *g, *c, s.len, loss_rel));
            }
            done += take;
            i += take;
            let row_due = done.is_multiple_of(every) || done == steps;
            if row_due || done == checked {
                gp = gpu.parameters()?;
                cp = cpu.parameters()?;
                if perturb_params {
                    let k = gp.len() / 2;
                    gp[k] += 1.0 + gp[k].abs();
                }
                let (rel, max_abs) = drift(&gp, &cp);
                if done == checked {
                    checked_drift = rel;
                }
                if let (true, Some((step, g, c, len, loss_rel))) = (row_due, last) {
                    let row = LockstepRow {
                        step,
                        cpu_loss: c.loss_sum as f64 / len as f64,
                        gpu_loss: g.loss_sum as f64 / len as f64,
                        loss_rel_error: loss_rel,
                        cpu_correct: c.correct,
                        gpu_correct: g.correct,
                        param_rel_drift: rel,
                        param_max_abs_drift: max_abs,
                    };
                    log(&row_line(&row));
                    report_rows.push(row);
                }
            }
        }
    }

    let layers: Vec<LayerDrift> = spec
        .layers()
        .iter()
        .enumerate()
        .flat_map(|(l, layer)| {
            let w = layer.weight_offset..layer.weight_offset + layer.weight_len();
            let b = layer.bias_offset..layer.bias_offset + layer.fan_out;
            let (wr, wa) = drift(&gp[w.clone()], &cp[w]);
            let (br, ba) = drift(&gp[b.clone()], &cp[b]);
            [
                LayerDrift {
                    name: format!("layer {l} W {}x{}", layer.fan_in, layer.fan_out),
                    rel_drift: wr,
                    max_abs_drift: wa,
                },
                LayerDrift {
                    name: format!("layer {l} b {}", layer.fan_out),
                    rel_drift: br,
                    max_abs_drift: ba,
                },
            ]
        })
        .collect();
    let worst_layer = layers
        .iter()
        .max_by(|a, b| a.rel_drift.total_cmp(&b.rel_drift))
        .cloned();
    let (final_drift, _) = drift(&gp, &cp);

    let eval_rows = data.count.min(4096);
    let ge = gpu.evaluate(Split::Train, 0..eval_rows)?;
    let ce = cpu.evaluate(Split::Train, 0..eval_rows)?;
    let mismatches = ge
        .predictions
        .iter()
        .zip(&ce.predictions)
        .filter(|(a, b)| a != b)
        .count();
    let evaluation = EvalAgreement {
        rows: eval_rows,
        cpu_loss: ce.loss(),
        gpu_loss: ge.loss(),
        loss_rel_error: rel_error(ge.loss_sum, ce.loss_sum),
        prediction_mismatches: mismatches,
        mismatch_bound: 1 + eval_rows / 1000,
        judged: steps <= CHECKED_STEPS,
    };

    let mut failures = Vec::new();
    if !within(worst_loss, bounds.loss_rel_error) {
        failures.push(format!(
            "step {worst_loss_step}: loss rel error {worst_loss:.2e} > {:.0e}",
            bounds.loss_rel_error
        ));
    }
    if worst_correct > bounds.correct_difference {
        failures.push(format!(
            "correct counts differ by {worst_correct} in a batch (bound {})",
            bounds.correct_difference
        ));
    }
    if !within(checked_drift, bounds.param_rel_drift) {
        failures.push(format!(
            "parameter drift {checked_drift:.2e} > {:.0e} after {checked} steps",
            bounds.param_rel_drift
        ));
    }
    if evaluation.judged && !within(evaluation.loss_rel_error, LOSS_BOUND) {
        failures.push(format!(
            "evaluation loss rel error {:.2e} > {LOSS_BOUND:.0e}",
            evaluation.loss_rel_error
        ));
    }
    if evaluation.judged && evaluation.prediction_mismatches > evaluation.mismatch_bound {
        failures.push(format!(
            "{} of {} evaluation predictions differ (bound {})",
            evaluation.prediction_mismatches, evaluation.rows, evaluation.mismatch_bound
        ));
    }
    log(&format!(
        "  steps 1-{checked} (judged): worst loss rel err {} at step {worst_loss_step} (bound \
         {:.0e}); correct counts differ by at most {worst_correct} (bound {}); parameter drift \
         {} (bound {:.0e})",
        super::sci(worst_loss),
        bounds.loss_rel_error,
        bounds.correct_difference,
        super::sci(checked_drift),
        bounds.param_rel_drift
    ));
    if let Some(later) = later_worst {
        log(&format!(
            "  steps {}-{steps} (shown, not judged: rounding differences grow chaotically over \
             long runs): worst loss rel err {}; parameter drift {}",
            checked + 1,
            super::sci(later),
            super::sci(final_drift)
        ));
    }
    if let Some(w) = &worst_layer {
        log(&format!(
            "  worst layer after {steps} steps: {} - rel drift {}, max abs {}",
            w.name,
            super::sci(w.rel_drift),
            super::sci(w.max_abs_drift)
        ));
    }
    log(&format!(
        "  evaluation of {} rows: loss {:.6} (cpu) vs {:.6} (gpu), rel err {}; {} predictions \
         differ{}",
        evaluation.rows,
        evaluation.cpu_loss,
        evaluation.gpu_loss,
        super::sci(evaluation.loss_rel_error),
        evaluation.prediction_mismatches,
        if evaluation.judged {
            format!(" (bound {})", evaluation.mismatch_bound)
        } else {
            " (not judged after more than 50 steps)".to_string()
        }
    ));
    Ok(LockstepReport {
        model: spec.describe(),
        optimizer: opts.optimizer.describe(),
        steps,
        batch,
        data: rows.note.clone(),
        rows: report_rows,
        checked_steps: checked,
        worst_loss_rel_error: worst_loss,
        worst_loss_step,
        worst_correct_difference: worst_correct,
        checked_param_rel_drift: checked_drift,
        later_worst_loss_rel_error: later_worst,
        final_param_rel_drift: final_drift,
        layers,
        worst_layer,
        evaluation,
        bounds,
        passed: failures.is_empty(),
        failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_grow_with_the_batch() {
        assert_eq!(correct_bound(32), 1);
        assert_eq!(correct_bound(1024), 4);
        assert_eq!(LockstepRows::needed(50, 32), 50 * 32 - 10);
        assert_eq!(LockstepRows::needed(1, 1), 1);
    }

    #[test]
    fn drift_is_relative_and_nan_is_infinite() {
        let (rel, max_abs) = drift(&[1.0, 2.0], &[1.0, 2.0]);
        assert_eq!((rel, max_abs), (0.0, 0.0));
        let (rel, _) = drift(&[f32::NAN], &[1.0]);
        assert!(rel.is_infinite());
    }
}
