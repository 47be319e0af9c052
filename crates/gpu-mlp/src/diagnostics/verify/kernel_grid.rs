//! The kernel grid of `gpu-mlp verify`: every kernel on the adapter against its CPU reference
//! (`cpu::ops`), on fresh random inputs (never zeros) at ragged shapes and at the model's own
//! shapes, with each output poisoned (NaN) before the dispatch so an unwritten element fails.
//!
//! The measure is the relative error ‖gpu − cpu‖₂ / ‖cpu‖₂ against a bound: 1e-5 for the matrix
//! products and softmax-cross-entropy (f32 sums in another order), 1e-6 for the optimizer
//! updates, 0 (bit for bit) for the batch gather, counts and predictions. The largest absolute
//! error and the worst element are reported too.

mod gather_checks;
mod matmul_checks;
mod optimizer_checks;
mod softmax_checks;

use super::norm::{ErrorNorm, Worst};
use crate::engine::gpu::kernels::matmul::{Epilogue, MatmulVariant, Transpose};
use crate::engine::gpu::kernels::paths::Path;
use crate::engine::gpu::GpuOptions;
use crate::engine::gpu::KernelLab;
use crate::error::GpuError;
use crate::model::dropout::DropoutMask;
use crate::model::ModelSpec;
use gather_checks::GatherCase;
use matmul_checks::LayerStep;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;

/// Relative error bound of the matrix products (all epilogues).
pub const MATMUL_BOUND: f64 = 1e-5;
/// Relative error bound of softmax-cross-entropy's gradient and loss sum.
pub const SOFTMAX_BOUND: f64 = 1e-5;
/// Relative error bound of the Adam and SGD updates.
pub const OPTIMIZER_BOUND: f64 = 1e-6;
/// Relative error bound of Adam's update `w_new − w` (parameters 10x its size, so their last
/// bit is ~1e-6 of it).
pub const ADAM_UPDATE_BOUND: f64 = 1e-5;

/// One row of the table: one kernel at one shape (and tile) against the reference.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KernelCheck {
    /// `matmul A*B^T relu-mask`, `gather`, `softmax-ce dlogits`, `adam m`, ...
    pub kernel: String,
    /// `33x65x127` (m×k×n of a product), `batch 32 of 784`, `n 101770`, with `(model ...)` when
    /// it is a shape of the model being checked.
    pub shape: String,
    /// The matmul tile (`reg 32x64`), empty for other kernels.
    pub tile: String,
    pub max_abs_error: f64,
    pub rel_error: f64,
    pub bound: f64,
    pub passed: bool,
    pub worst: Option<Worst>,
    /// A hash of the GPU output's bits (before any perturbation), to compare builds of the same
    /// kernels bit for bit (e.g. with and without runtime checks).
    #[serde(skip)]
    pub output_bits: u64,
    /// The kernel paths it ran (`matmul: epilogue bias`, see `kernels::paths`).
    pub paths: Vec<String>,
    /// Why it failed beyond the bound (`wrote past the batch`, bits differing between tiles, a
    /// device error) or that it was perturbed on purpose.
    pub note: String,
}

/// Which shapes to check.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// The ragged shapes (1, 3, 17, 33, 65, 127, 130, 784: not multiples of any tile; 20, 36, 68
    /// too, multiples of 4 for the vec4 loads).
    pub ragged: bool,
    /// Every plain product of m ∈ {1, 3, 32, 33}, k ∈ {1, 17, 128, 784}, n ∈ {1, 10, 65, 128}
    /// (the tests run it; 192 products per tile).
    pub every_product: bool,
    /// The model's shapes at this batch size.
    pub model: Option<(ModelSpec, usize)>,
}

fn poison(n: usize) -> Vec<f32> {
    vec![f32::NAN; n]
}

/// FNV-1a over the values' bits.
fn bits_hash(values: &[f32]) -> u64 {
    values.iter().fold(0xcbf2_9ce4_8422_2325, |h, v| {
        (h ^ u64::from(v.to_bits())).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A problem when anything of `c` past its first `head` elements (the rows past the step's
/// batch) was written.
fn past_the_batch(c: &[f32], head: usize) -> Option<String> {
    let written = c.iter().skip(head).filter(|v| !v.is_nan()).count();
    (written > 0).then(|| format!("wrote {written} elements past the batch"))
}

/// Runs the checks one by one, reporting each as it finishes.
struct Checker<'a> {
    lab: &'a KernelLab,
    rng: Pcg64Mcg,
    perturb: Option<String>,
    checks: Vec<KernelCheck>,
    report: &'a mut dyn FnMut(&KernelCheck),
    /// The paths of the checks being run.
    running: Vec<Path>,
}

impl Checker<'_> {
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| self.rng.random_range(-1.0f32..1.0))
            .collect()
    }

    fn bytes(&mut self, n: usize, below: u32) -> Vec<u8> {
        (0..n)
            .map(|_| self.rng.random_range(0..below.clamp(1, 256)) as u8)
            .collect()
    }

    /// Every variant the engine may pick on this device (it measures which is fastest per
    /// product, so any of them can run).
    fn variants(&self) -> Vec<MatmulVariant> {
        let limits = self.lab.ctx.device.limits();
        MatmulVariant::ALL
            .into_iter()
            .filter(|v| v.check(&limits).is_ok())
            .collect()
    }

    /// The checks that follow run `paths`.
    fn runs(&mut self, paths: impl IntoIterator<Item = Option<Path>>) {
        self.running = paths.into_iter().flatten().collect();
    }

    fn running_ids(&self) -> Vec<String> {
        self.running.iter().map(Path::id).collect()
    }

    fn perturbs(&self, kernel: &str) -> bool {
        self.perturb
            .as_deref()
            .is_some_and(|p| kernel.to_lowercase().starts_with(p))
    }

    fn push(&mut self, check: KernelCheck) {
        (self.report)(&check);
        self.checks.push(check);
    }

    /// Compares `got` with `want` against `bound`; `problem` fails the check whatever the error.
    #[allow(clippy::too_many_arguments)]
    fn compare(
        &mut self,
        kernel: &str,
        shape: &str,
        variant: Option<MatmulVariant>,
        mut got: Vec<f32>,
        want: &[f32],
        bound: f64,
        problem: Option<String>,
    ) {
        let mut notes: Vec<String> = problem.iter().cloned().collect();
        let output_bits = bits_hash(&got);
        if self.perturbs(kernel) && !got.is_empty() {
            let i = got.len() / 2;
            got[i] += 1.0 + got[i].abs();
            notes.push(format!("element {i} perturbed"));
        }
        let error = ErrorNorm::of(&got, want);
        let passed = problem.is_none() && error.within(bound);
        self.push(KernelCheck {
            kernel: kernel.to_string(),
            shape: shape.to_string(),
            tile: variant.map(|v| v.name()).unwrap_or_default(),
            max_abs_error: error.max_abs,
            rel_error: error.rel,
            bound,
            passed,
            worst: if passed { None } else { error.worst },
            output_bits,
            paths: self.running_ids(),
            note: notes.join("; "),
        });
    }

    fn device_error(
        &mut self,
        kernel: &str,
        shape: &str,
        variant: Option<MatmulVariant>,
        e: GpuError,
    ) {
        self.push(KernelCheck {
            kernel: kernel.to_string(),
            shape: shape.to_string(),
            tile: variant.map(|v| v.name()).unwrap_or_default(),
            max_abs_error: f64::INFINITY,
            rel_error: f64::INFINITY,
            bound: 0.0,
            passed: false,
            worst: None,
            output_bits: 0,
            paths: self.running_ids(),
            note: e.to_string(),
        });
    }
}

/// Runs the grid on `lab`'s device; `report` sees each check as it finishes. `perturb` (a
/// kernel-name prefix, lower case) nudges one output element of the matching checks.
pub fn check_kernels(
    lab: &KernelLab,
    grid: &Grid,
    seed: u64,
    perturb: Option<&str>,
    report: &mut dyn FnMut(&KernelCheck),
) -> Vec<KernelCheck> {
    let mut c = Checker {
        lab,
        rng: Pcg64Mcg::seed_from_u64(seed ^ 0x7e71_f1ed),
        perturb: perturb.map(str::to_lowercase),
        checks: Vec::new(),
        report,
        running: Vec::new(),
    };
    let mask = DropoutMask::new(0.2);
    if grid.every_product {
        for t in Transpose::ALL {
            for m in [1, 3, 32, 33] {
                for k in [1, 17, 128, 784] {
                    for n in [1, 10, 65, 128] {
                        c.plain(t, (m, k, n), "");
                    }
                }
            }
        }
    }
    if grid.ragged {
        for t in Transpose::ALL {
            // (36, 20, 68): vec4-aligned operands, no dimension a multiple of a tile.
            for shape in [
                (1, 1, 1),
                (3, 17, 10),
                (36, 20, 68),
                (33, 65, 127),
                (127, 784, 65),
                (130, 17, 33),
            ] {
                c.plain(t, shape, "");
            }
        }
        for epilogue in [
            Epilogue::Bias,
            Epilogue::BiasRelu,
            Epilogue::BiasReluDropout,
        ] {
            c.forward(LayerStep::full(33, (17, 65)), epilogue, 1, mask);
            c.forward(LayerStep::full(3, (128, 10)), epilogue, 1, mask);
            // Every operand aligned for vec4 loads, k and n not multiples of the tile.
            let aligned = LayerStep::full(33, (20, 68)).at_offset(8);
            c.forward(aligned, epilogue, 1, mask);
        }
        // Dropout at a second rate, at or above one half.
        let high = DropoutMask::new(0.5);
        c.forward(
            LayerStep::full(33, (17, 65)),
            Epilogue::BiasReluDropout,
            2,
            high,
        );
        c.backward(LayerStep::full(33, (65, 17)), 1.25);
        c.backward(LayerStep::full(130, (128, 10)), 1.0);
        c.backward(LayerStep::full(1, (17, 10)), 1.25);
        c.backward(LayerStep::full(3, (1, 1)), 1.0);
        c.backward(LayerStep::full(33, (68, 20)).at_offset(8), 1.25);
        c.grad(LayerStep::full(33, (17, 65)));
        c.grad(LayerStep::full(36, (20, 68)));
        c.grad(LayerStep::full(1, (3, 1)));
        c.grad(LayerStep::full(3, (1, 1)));
    }
    if let Some((spec, batch)) = &grid.model {
        let batch = (*batch).max(1);
        let layers = spec.layers();
        let last = layers.len() - 1;
        let mask = DropoutMask::new(spec.dropout);
        let eval_rows = GpuOptions::default().eval_batch;
        for (l, &layer) in layers.iter().enumerate() {
            // At the layer's own offsets in the flat parameters, as the engine dispatches it.
            let dims = (layer.fan_in, layer.fan_out);
            let training = Epilogue::forward(l == last, true, spec.dropout);
            let label = format!(" (model L{l} train)");
            let full = LayerStep::new(batch, batch, dims, &label).at_offset(layer.weight_offset);
            c.forward(full, training, l, mask);
            // Evaluation batches: up to eval_rows rows (so the engine may pick another tile),
            // no dropout.
            let eval = Epilogue::forward(l == last, false, spec.dropout);
            let label = format!(" (model L{l} eval)");
            c.forward(
                LayerStep::new(batch, eval_rows, dims, &label).at_offset(layer.weight_offset),
                eval,
                l,
                mask,
            );
            c.grad(full);
            if l > 0 {
                c.backward(full, mask.scale);
            }
            // An epoch's short last batch: fewer rows than the buffers and the grid were made
            // for (the engine sizes both for full batches).
            let short = batch - batch / 3;
            if short < batch {
                let label = format!(" (model L{l} short batch)");
                let at = LayerStep::new(short, batch, dims, &label).at_offset(layer.weight_offset);
                c.forward(at, training, l, mask);
                c.grad(at);
                if l > 0 {
                    c.backward(at, mask.scale);
                }
            }
        }
    }
    if grid.ragged {
        let g = GatherCase::new;
        c.gather(g(50, 784, 33), "");
        c.gather(g(7, 3, 5), "");
        c.gather(g(10, 17, 1).spare(2), "");
        c.gather(g(50, 17, 33).direct(), "");
        c.gather(g(50, 17, 33).values(), "");
        c.gather(g(9, 5, 4).direct().values().spare(3), "");
        // RGB rows (32x32x3), pixels and values.
        c.gather(g(12, 3072, 5).spare(1), "");
        c.gather(g(12, 3072, 5).values(), "");
        for (rows, classes) in [(1, 10), (3, 2), (33, 10), (300, 10), (64, 65)] {
            c.softmax(rows, classes, 8.0, "");
        }
        c.softmax(33, 10, 200.0, " (large logits)");
        c.optimizers(1017, "");
        c.adam_update(1017, "");
    }
    if let Some((spec, batch)) = &grid.model {
        let batch = (*batch).max(1);
        let count = batch + batch / 2 + 1;
        let g = GatherCase::new(count, spec.inputs, batch);
        c.gather(g, " (model)");
        c.gather(g.direct(), " (model)");
        // The epoch's short last batch, in buffers made for full ones.
        let short = batch - batch / 3;
        if short < batch {
            let g = GatherCase::new(count, spec.inputs, short).spare(batch - short);
            c.gather(g, " (model short batch)");
        }
        c.softmax(batch + batch / 2, spec.classes, 8.0, " (model)");
        c.softmax(
            batch + batch / 2,
            spec.classes,
            200.0,
            " (model, large logits)",
        );
        c.optimizers(spec.parameter_count(), " (model)");
        c.adam_update(spec.parameter_count(), " (model)");
    }
    c.checks
}
