//! The lockstep check of `gpu-mlp verify`: the model trained for K steps on the GPU engine and
//! on the CPU engine from the same initialisation, the same batches and the same dropout masks.
//! Each step's loss and correct count are compared; every few steps the parameters are read
//! back from both and their drift measured; at the end each layer's drift, and an evaluation
//! pass over the rows, are compared. The first [`CHECKED_STEPS`] steps are held to the bounds;
//! later ones are shown, not judged (see there).

use crate::data::{Inputs, Label, Samples, MAX_CLASSES};
use crate::engine::cpu::CpuEngine;
use crate::engine::gpu::{GpuContext, GpuEngine, GpuOptions, Pipelines};
use crate::engine::{Engine, EpochPlan, Split};
use crate::error::Result;
use crate::model::optimizer::Optimizer;
use crate::model::ModelSpec;
use crate::training::schedule::LrSchedule;

mod drift;
mod paths;

use crate::training::EpochPlanner;
use drift::{drift, moment_drifts, tensor_drifts};
pub use drift::{LayerDrift, BIAS_BOUND, MOMENT_BOUND, WEIGHT_BOUND};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;
use std::sync::Arc;

/// Relative error bound of each step's loss (sum over the batch).
pub const LOSS_BOUND: f64 = 1e-4;
/// Relative parameter drift allowed after the checked steps, over all parameters together.
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
            samples: split.first(rows),
            note: format!("{name} (first {rows} training rows)"),
        }
    }

    /// Seeded random pixels and labels; `why` says why real data is not used.
    pub fn random(features: usize, classes: usize, rows: usize, seed: u64, why: &str) -> Self {
        let mut rng = Pcg64Mcg::seed_from_u64(seed ^ 0x0da7_a5e7);
        let classes = classes.clamp(1, MAX_CLASSES) as u32;
        Self {
            samples: Samples {
                inputs: Inputs::Pixels((0..rows * features).map(|_| rng.random::<u8>()).collect()),
                labels: (0..rows)
                    .map(|_| rng.random_range(0..classes) as Label)
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
    /// The learning rate's schedule (the step table's per-step factors).
    pub schedule: LrSchedule,
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

/// One judged comparison of the lockstep run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LockstepCheck {
    /// `loss of steps 1-50`, `layer 0 W 784x128 drift`, ...
    pub name: String,
    pub value: f64,
    pub bound: f64,
    pub passed: bool,
}

impl LockstepCheck {
    fn new(name: impl Into<String>, value: f64, bound: f64) -> Self {
        Self {
            name: name.into(),
            value,
            bound,
            passed: within(value, bound),
        }
    }
}

/// A forward pass (no dropout) over the rows from a third of the way on with the trained
/// parameters on both engines (judged when the run is no longer than the checked steps).
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
    /// `constant`, or the schedule and its warm-up (`step:3:0.5, warm-up 4`).
    pub schedule: String,
    /// The kernel paths its steps and evaluation took (`matmul: epilogue bias`).
    pub paths: Vec<String>,
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
    /// Each tensor's drift after the checked steps (judged).
    pub layers: Vec<LayerDrift>,
    /// The tensor that drifted most by the last step (shown).
    pub worst_layer: Option<LayerDrift>,
    /// Losses and parameters that were NaN or infinite, on either engine, over all steps.
    pub non_finite: usize,
    pub evaluation: EvalAgreement,
    pub bounds: LockstepBounds,
    /// Every judged comparison.
    pub checks: Vec<LockstepCheck>,
    /// What was out of bounds, one line each.
    pub failures: Vec<String>,
    pub passed: bool,
}

/// `x <= bound`, false for NaN.
fn within(x: f64, bound: f64) -> bool {
    x <= bound
}

/// Relative error of a GPU figure against the CPU's; infinite when either is NaN or infinite
/// (two engines diverging alike is no agreement).
fn rel_error(gpu: f64, cpu: f64) -> f64 {
    if !gpu.is_finite() || !cpu.is_finite() {
        f64::INFINITY
    } else if gpu == cpu {
        0.0
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
    let init = spec.init_parameters(opts.seed);
    let mut gpu = GpuEngine::new(
        ctx,
        Some(pipes),
        spec,
        &init,
        opts.optimizer,
        batch,
        gpu_opts,
    )?;
    let mut cpu = CpuEngine::new(spec, &init, opts.optimizer, batch)?;
    let data = &rows.samples;
    gpu.load_split(Split::Train, data)?;
    cpu.load_split(Split::Train, data)?;

    let every = (steps / 10).max(1);
    let checked = steps.min(CHECKED_STEPS);
    let bounds = LockstepBounds {
        loss_rel_error: LOSS_BOUND,
        correct_difference: correct_bound(batch),
        param_rel_drift: PARAM_BOUND,
    };
    let schedule = opts.schedule.describe();
    log(&format!(
        "lockstep: {} - {} - lr {schedule} - batch {batch} - {steps} steps on {}",
        spec.describe(),
        opts.optimizer.describe(),
        rows.note
    ));
    log(&header());
    let mut planner = EpochPlanner::new(opts.seed, data.count, batch, opts.optimizer)
        .with_schedule(opts.schedule);
    let mut report_rows = Vec::new();
    let (mut worst_loss, mut worst_loss_step, mut worst_correct) = (0.0f64, 0usize, 0u32);
    let mut later_worst: Option<f64> = None;
    let mut checked_drift = 0.0;
    let mut layers = Vec::new();
    let mut non_finite = 0usize;
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
                non_finite +=
                    usize::from(!g.loss_sum.is_finite()) + usize::from(!c.loss_sum.is_finite());
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
                    layers = tensor_drifts(spec, &gp, &cp);
                    if matches!(opts.optimizer, Optimizer::Adam { .. }) {
                        // Both moments of every tensor, each within its bound.
                        let (gs, cs) = (gpu.optimizer_state()?, cpu.optimizer_state()?);
                        layers.extend(moment_drifts(spec, "m", &gs.moment1, &cs.moment1));
                        layers.extend(moment_drifts(spec, "v", &gs.moment2, &cs.moment2));
                    }
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

    let worst_layer = tensor_drifts(spec, &gp, &cp)
        .into_iter()
        .max_by(|a, b| a.rel_drift.total_cmp(&b.rel_drift));
    non_finite += [&gp, &cp]
        .iter()
        .map(|p| p.iter().filter(|v| !v.is_finite()).count())
        .sum::<usize>();
    let (final_drift, _) = drift(&gp, &cp);

    // From a row in the middle, as validation rows are read: a batch offset must be honoured.
    let first = data.count / 3;
    let eval_rows = (data.count - first).min(4096);
    let ge = gpu.evaluate(Split::Train, first..first + eval_rows)?;
    let ce = cpu.evaluate(Split::Train, first..first + eval_rows)?;
    let evaluation = EvalAgreement {
        rows: eval_rows,
        cpu_loss: ce.loss(),
        gpu_loss: ge.loss(),
        loss_rel_error: rel_error(ge.loss_sum, ce.loss_sum),
        prediction_mismatches: ge.prediction_mismatches(&ce),
        mismatch_bound: 1 + eval_rows / 1000,
        judged: steps <= CHECKED_STEPS,
    };

    let mut checks = vec![
        LockstepCheck::new(
            format!("loss rel error (worst of steps 1-{checked}, step {worst_loss_step})"),
            worst_loss,
            bounds.loss_rel_error,
        ),
        LockstepCheck::new(
            format!("correct-count difference (worst of steps 1-{checked})"),
            f64::from(worst_correct),
            f64::from(bounds.correct_difference),
        ),
        LockstepCheck::new(
            format!("parameter drift after {checked} steps"),
            checked_drift,
            bounds.param_rel_drift,
        ),
        LockstepCheck::new(
            format!("NaN or infinite losses and parameters over {steps} steps"),
            non_finite as f64,
            0.0,
        ),
    ];
    checks.extend(layers.iter().map(|t| {
        LockstepCheck::new(
            format!("{} drift after {checked} steps", t.name),
            t.rel_drift,
            t.bound,
        )
    }));
    if evaluation.judged {
        checks.push(LockstepCheck::new(
            "evaluation loss rel error",
            evaluation.loss_rel_error,
            LOSS_BOUND,
        ));
        checks.push(LockstepCheck::new(
            format!("evaluation predictions differing of {}", evaluation.rows),
            evaluation.prediction_mismatches as f64,
            evaluation.mismatch_bound as f64,
        ));
    }
    let failures: Vec<String> = checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| {
            format!(
                "{}: {} > {}",
                c.name,
                super::sci(c.value),
                super::sci(c.bound)
            )
        })
        .collect();
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
    for t in &layers {
        log(&format!(
            "  {} after {checked} steps (judged): rel drift {} (bound {:.0e}), max abs {}",
            t.name,
            super::sci(t.rel_drift),
            t.bound,
            super::sci(t.max_abs_drift)
        ));
    }
    if non_finite > 0 {
        log(&format!(
            "  {non_finite} NaN or infinite losses and parameters on the two engines"
        ));
    }
    for f in &failures {
        log(&format!("  FAIL: {f}"));
    }
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
        schedule,
        paths: paths::run_paths(spec, &opts.optimizer, &opts.schedule, data, batch, steps),
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
        non_finite,
        evaluation,
        bounds,
        checks,
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
        let (rel, _) = drift(&[f32::INFINITY], &[f32::INFINITY]);
        assert!(rel.is_infinite());
    }

    #[test]
    fn diverging_alike_is_no_agreement() {
        assert_eq!(rel_error(2.0, 2.0), 0.0);
        assert!((rel_error(1.5, 1.0) - 0.5).abs() < 1e-12);
        for (gpu, cpu) in [
            (f64::INFINITY, f64::INFINITY),
            (f64::NAN, 1.0),
            (1.0, f64::NEG_INFINITY),
        ] {
            assert!(!within(rel_error(gpu, cpu), LOSS_BOUND), "{gpu} vs {cpu}");
        }
    }

    #[test]
    fn every_tensor_has_its_bound() {
        let spec = ModelSpec::new(5, vec![3], 2, 0.0).expect("spec");
        let cpu: Vec<f32> = (0..spec.parameter_count())
            .map(|i| i as f32 + 1.0)
            .collect();
        let mut gpu = cpu.clone();
        // An error in the 2-wide last bias alone: far under the bound over all parameters,
        // far over it for that tensor.
        let last = spec.parameter_count() - 1;
        gpu[last] *= 1.001;
        assert!(drift(&gpu, &cpu).0 < PARAM_BOUND * 10.0);
        let tensors = tensor_drifts(&spec, &gpu, &cpu);
        let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "layer 0 W 5x3",
                "layer 0 b 3",
                "layer 1 W 3x2",
                "layer 1 b 2"
            ]
        );
        let over: Vec<&str> = tensors
            .iter()
            .filter(|t| !within(t.rel_drift, t.bound))
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(over, ["layer 1 b 2"]);
    }
}
