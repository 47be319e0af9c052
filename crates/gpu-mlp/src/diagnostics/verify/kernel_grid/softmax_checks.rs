//! Softmax-cross-entropy in the kernel grid: training (dlogits) and evaluation (predictions
//! from an offset), the metrics slot, partial batches and logits past exp's range.

use super::{poison, Checker, SOFTMAX_BOUND};
use crate::data::Label;
use crate::engine::cpu::ops;
use crate::engine::gpu::kernels::softmax_cross_entropy::{path as sm, SoftmaxParams};
use crate::engine::gpu::kernels::StepRecord;

impl Checker<'_> {
    /// Softmax + cross-entropy on a partial batch (a third of the rows unused): the gradient,
    /// the loss sum and correct count of the step's slot, and evaluation-mode predictions.
    /// `spread`: the logits lie in (−spread, spread); from ~90 on, exp overflows without the
    /// max shift.
    pub(super) fn softmax(&mut self, rows: usize, classes: usize, spread: f32, case: &str) {
        let used = (rows - rows / 3).max(1);
        let shape = format!("{used} of {rows} rows x {classes}{case}");
        let logits: Vec<f32> = self
            .vec(rows * classes)
            .iter()
            .map(|v| v * spread)
            .collect();
        let labels: Vec<Label> = self
            .bytes(rows, classes as u32)
            .into_iter()
            .map(Label::from)
            .collect();
        let labels32: Vec<u32> = labels.iter().map(|&l| u32::from(l)).collect();
        let mut step = StepRecord::full(used);
        step.slot = 2;
        let mut want = poison(rows * classes);
        let m = ops::softmax_cross_entropy(
            &logits,
            &labels,
            used,
            classes,
            1.0 / used as f32,
            &mut want,
        );
        // Both modes on the same logits and labels, the gradient buffer poisoned.
        let lab = self.lab;
        let run = |params: SoftmaxParams, step: &StepRecord, predictions: usize| {
            let dlogits = poison(rows * classes);
            lab.softmax_cross_entropy(&params, step, &logits, &labels32, &dlogits, predictions)
        };
        let short = (used < rows).then_some(sm::SHORT_BATCH);
        let large = (spread >= 90.0).then_some(sm::LARGE_LOGITS);
        self.runs([Some(sm::TRAINING), Some(sm::SLOT), short, large]);
        let out = run(SoftmaxParams::training(classes), &step, 1);
        match out {
            Ok(out) => {
                let (head, tail) = out.dlogits.split_at(used * classes);
                let problem =
                    (!tail.iter().all(|v| v.is_nan())).then(|| "wrote past the batch".to_string());
                self.compare(
                    "softmax-ce dlogits",
                    &shape,
                    None,
                    head.to_vec(),
                    &want[..used * classes],
                    SOFTMAX_BOUND,
                    problem,
                );
                self.compare(
                    "softmax-ce loss sum",
                    &shape,
                    None,
                    vec![out.loss_sum],
                    &[m.loss_sum],
                    SOFTMAX_BOUND,
                    None,
                );
                self.compare(
                    "softmax-ce correct",
                    &shape,
                    None,
                    vec![out.correct as f32],
                    &[m.correct as f32],
                    0.0,
                    None,
                );
            }
            Err(e) => self.device_error("softmax-ce dlogits", &shape, None, e),
        }
        // Evaluation mode: predictions written from out_base on, the same slot figures.
        step.out_base = 1;
        self.runs([Some(sm::EVALUATION), Some(sm::SLOT), short, large]);
        let ev = run(SoftmaxParams::evaluation(classes), &step, used + 1);
        let want: Vec<f32> = (0..used)
            .map(|r| {
                let z = &logits[r * classes..(r + 1) * classes];
                ops::softmax_cross_entropy_row(z, labels[r] as usize).1 as f32
            })
            .collect();
        match ev {
            Ok(ev) => {
                let got: Vec<f32> = ev.predictions[1..].iter().map(|&p| p as f32).collect();
                let loss_rel = ((ev.loss_sum - m.loss_sum) / m.loss_sum).abs() as f64;
                let problem = if ev.correct != m.correct {
                    Some(format!("correct {} vs {}", ev.correct, m.correct))
                } else if loss_rel.is_nan() || loss_rel > SOFTMAX_BOUND {
                    Some(format!("evaluation loss sum rel error {loss_rel:.1e}"))
                } else {
                    None
                };
                self.compare(
                    "softmax-ce predictions",
                    &shape,
                    None,
                    got,
                    &want,
                    0.0,
                    problem,
                )
            }
            Err(e) => self.device_error("softmax-ce predictions", &shape, None, e),
        }
    }
}
