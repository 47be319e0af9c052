//! The optimizer update in the kernel grid: Adam and AdamW (decay zero and non-zero), a step size
//! and decay scaled by a schedule's factor, Keras's and PyTorch's ε where sqrt(v) is near it,
//! SGD, and a count short of the buffers.

use super::{Checker, ADAM_UPDATE_BOUND, OPTIMIZER_BOUND};
use crate::engine::cpu::ops;
use crate::engine::gpu::kernels::optimizer::{path as op, OptimizerParams};
use crate::engine::gpu::kernels::paths::Path;
use crate::engine::gpu::kernels::StepRecord;
use crate::model::optimizer::Optimizer;

/// A schedule's factor other than 1 (half the base rate, as a decay or warm-up gives).
const SCHEDULE_FACTOR: f64 = 0.5;

/// Adam's third step of `optimizer` with the learning rate scaled by `factor`, on the CPU
/// reference as the CPU engine runs it (AdamW's decay first): the kernel's parameters, the step
/// record and the expected parameters and moments.
fn adam_reference(
    optimizer: &Optimizer,
    factor: f64,
    [w, g, m, v]: [&[f32]; 4],
) -> (OptimizerParams, StepRecord, [Vec<f32>; 3]) {
    let p = OptimizerParams::new(optimizer, w.len());
    let step = StepRecord {
        step_size: optimizer.scheduled_step_size(3, factor),
        decay: optimizer.decay(factor),
        ..Default::default()
    };
    let (mut w2, mut m2, mut v2) = (w.to_vec(), m.to_vec(), v.to_vec());
    if step.decay != 0.0 {
        ops::decay(&mut w2, step.decay);
    }
    ops::adam(&mut w2, g, &mut m2, &mut v2, adam_step(&p, &step));
    (p, step, [w2, m2, v2])
}

fn adam_step(p: &OptimizerParams, step: &StepRecord) -> ops::AdamStep {
    ops::AdamStep {
        step_size: step.step_size,
        beta1: p.beta1,
        beta2: p.beta2,
        epsilon: p.epsilon,
    }
}

/// The paths of an Adam update with `step`.
fn adam_paths(step: &StepRecord, factor: f64) -> [Option<Path>; 2] {
    let rule = if step.decay != 0.0 {
        op::ADAMW
    } else {
        op::ADAM
    };
    [Some(rule), (factor != 1.0).then_some(op::SCHEDULED)]
}

/// Adam with `epsilon` (Keras's defaults otherwise) and AdamW's decay `weight_decay`.
fn adam_with(epsilon: f32, weight_decay: f32) -> Optimizer {
    match Optimizer::adamw(1e-3, weight_decay) {
        Optimizer::Adam {
            lr,
            beta1,
            beta2,
            weight_decay,
            ..
        } => Optimizer::Adam {
            lr,
            beta1,
            beta2,
            epsilon,
            weight_decay,
        },
        sgd => sgd,
    }
}

impl Checker<'_> {
    /// One Adam update (parameters and both moments), one AdamW update at a scheduled rate, one
    /// SGD update at a scheduled rate, and an Adam update of fewer parameters than the buffers.
    pub(super) fn optimizers(&mut self, n: usize, case: &str) {
        let shape = format!("n {n}{case}");
        let w = self.vec(n);
        let g: Vec<f32> = self.vec(n).iter().map(|v| v * 0.1).collect();
        let m: Vec<f32> = self.vec(n).iter().map(|v| v * 0.01).collect();
        let v: Vec<f32> = self.vec(n).iter().map(|v| v.abs() * 1e-3).collect();
        let runs = [
            ("adam", Optimizer::adam(1e-3), 1.0),
            // Decay 1e-4 of each parameter: 100 times the bound.
            ("adamw", Optimizer::adamw(1e-3, 0.2), SCHEDULE_FACTOR),
        ];
        for (name, optimizer, factor) in runs {
            let (p, step, [w2, m2, v2]) = adam_reference(&optimizer, factor, [&w, &g, &m, &v]);
            let shape = if factor == 1.0 {
                shape.clone()
            } else {
                format!("{shape}, lr x{factor}")
            };
            self.runs(adam_paths(&step, factor));
            match self.lab.optimizer(&p, &step, &w, &g, &m, &v) {
                Ok(out) => {
                    for (tensor, got, want) in [
                        ("w", out.params, w2),
                        ("m", out.moment1, m2),
                        ("v", out.moment2, v2),
                    ] {
                        let kernel = format!("{name} {tensor}");
                        self.compare(&kernel, &shape, None, got, &want, OPTIMIZER_BOUND, None);
                    }
                }
                Err(e) => self.device_error(&format!("{name} w"), &shape, None, e),
            }
        }
        let lr = 0.05;
        let sgd = OptimizerParams::new(&Optimizer::Sgd { lr }, n);
        let sgd_step = StepRecord {
            step_size: Optimizer::Sgd { lr }.scheduled_step_size(3, SCHEDULE_FACTOR),
            ..Default::default()
        };
        let mut w3 = w.clone();
        ops::sgd(&mut w3, &g, sgd_step.step_size);
        self.runs([Some(op::SGD), Some(op::SCHEDULED)]);
        let sgd_shape = format!("{shape}, lr x{SCHEDULE_FACTOR}");
        match self.lab.optimizer(&sgd, &sgd_step, &w, &g, &m, &v) {
            Ok(out) => {
                let problem = (out.moment1 != m || out.moment2 != v)
                    .then(|| "changed the moments (SGD has none)".to_string());
                let bound = OPTIMIZER_BOUND;
                self.compare("sgd w", &sgd_shape, None, out.params, &w3, bound, problem)
            }
            Err(e) => self.device_error("sgd w", &sgd_shape, None, e),
        }
        self.adam_short(n, [&w, &g, &m, &v], case);
    }

    /// Adam over `n − 2` of `n` parameters, not a multiple of four: the elements past it stay
    /// as they were (the last vec4 is shared).
    fn adam_short(&mut self, n: usize, [w, g, m, v]: [&[f32]; 4], case: &str) {
        let short = n.saturating_sub(2);
        let shape = format!("n {short} of {n}{case}");
        let part = [&w[..short], &g[..short], &m[..short], &v[..short]];
        let (p, step, [w4, ..]) = adam_reference(&Optimizer::adam(1e-3), 1.0, part);
        self.runs([Some(op::ADAM), Some(op::COUNT_SHORT)]);
        match self.lab.optimizer(&p.with_count(short), &step, w, g, m, v) {
            Ok(out) => {
                let untouched = out.params[short..] == w[short..]
                    && out.moment1[short..] == m[short..]
                    && out.moment2[short..] == v[short..];
                let problem = (!untouched).then(|| "changed values past n".to_string());
                let got = out.params[..short].to_vec();
                let kernel = "adam w (n short)";
                self.compare(kernel, &shape, None, got, &w4, OPTIMIZER_BOUND, problem)
            }
            Err(e) => self.device_error("adam w (n short)", &shape, None, e),
        }
    }

    /// One Adam update judged on the update itself, `w_new − w` (judged on the parameters alone,
    /// an update ~1e-4 of a parameter is checked to ~1%): parameters small beside their updates,
    /// and second moments so small that sqrt(v) is near ε, where ε's value and placement
    /// (Keras's `sqrt(v) + ε̂`, the reference, against PyTorch's `sqrt(v)/sqrt(1 − β2^t) + ε`)
    /// change the update by up to 2x. At Keras's ε (1e-7) and PyTorch's default (1e-8).
    pub(super) fn adam_update(&mut self, n: usize, case: &str) {
        for (epsilon, path) in [(1e-7f32, op::KERAS_EPSILON), (1e-8, op::PYTORCH_EPSILON)] {
            let shape = format!("n {n}, eps {epsilon:.0e}, sqrt(v) near eps{case}");
            let w: Vec<f32> = self.vec(n).iter().map(|v| v * 1e-3).collect();
            let g: Vec<f32> = self.vec(n).iter().map(|v| v * 1e-6).collect();
            let m: Vec<f32> = self.vec(n).iter().map(|v| v * 1e-7).collect();
            let eps2 = f64::from(epsilon).powi(2) as f32;
            let v: Vec<f32> = self.vec(n).iter().map(|v| v.abs() * eps2).collect();
            let optimizer = adam_with(epsilon, 0.0);
            let (p, step, [w2, ..]) = adam_reference(&optimizer, 1.0, [&w, &g, &m, &v]);
            let update = |after: &[f32]| -> Vec<f32> {
                after
                    .iter()
                    .zip(&w)
                    .map(|(a, b)| (f64::from(*a) - f64::from(*b)) as f32)
                    .collect()
            };
            self.runs([Some(op::ADAM), Some(path)]);
            match self.lab.optimizer(&p, &step, &w, &g, &m, &v) {
                Ok(out) => {
                    let got = update(&out.params);
                    let want = update(&w2);
                    let bound = ADAM_UPDATE_BOUND;
                    self.compare("adam update", &shape, None, got, &want, bound, None);
                }
                Err(e) => self.device_error("adam update", &shape, None, e),
            }
        }
    }
}
