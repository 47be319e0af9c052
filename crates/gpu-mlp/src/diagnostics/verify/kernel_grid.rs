//! The kernel grid of `gpu-mlp verify`: every kernel on the adapter against its CPU reference
//! (`cpu::ops`), on fresh random inputs (never zeros) at ragged shapes and at the model's own
//! shapes, with each output poisoned (NaN) before the dispatch so an unwritten element fails.
//!
//! The measure is the relative error ‖gpu − cpu‖₂ / ‖cpu‖₂ against a bound: 1e-5 for the matrix
//! products and softmax-cross-entropy (f32 sums in another order), 1e-6 for the optimizer
//! updates, 0 (bit for bit) for the batch gather, counts and predictions. The largest absolute
//! error and the worst element are reported too.

mod optimizer_checks;

use super::norm::{ErrorNorm, Worst};
use crate::data::{Inputs, Label, Samples};
use crate::engine::cpu::ops;
use crate::engine::gpu::kernels::matmul::path as mm;
use crate::engine::gpu::kernels::matmul::{Epilogue, MatmulCall, MatmulVariant, Transpose};
use crate::engine::gpu::kernels::paths::Path;
use crate::engine::gpu::kernels::softmax_cross_entropy::SoftmaxParams;
use crate::engine::gpu::kernels::{gather::path as ga, softmax_cross_entropy::path as sm};
use crate::engine::gpu::kernels::{RowSource, StepRecord};
use crate::engine::gpu::GpuOptions;
use crate::engine::gpu::KernelLab;
use crate::error::GpuError;
use crate::model::dropout::DropoutMask;
use crate::model::{DenseLayer, ModelSpec};
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

/// The logical `m × k × n` product of a variant (A is `[k,m]` for `Aᵀ·B`, B is `[n,k]` for `A·Bᵀ`).
fn cpu_product(t: Transpose, a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut c = poison(m * n);
    match t {
        Transpose::None => ops::matmul(a, b, &mut c, m, k, n),
        Transpose::B => ops::matmul_a_bt(a, b, &mut c, m, k, n),
        Transpose::A => ops::matmul_at_b(a, b, &mut c, m, k, n),
    }
    c
}

/// A layer's product in the grid: a step of `rows` rows in buffers sized for `max_rows`, as the
/// engine's (rows past the step hold stale values, which the kernel must leave alone and a sum
/// over more than the step's rows would take in); `label` ends the checks' shapes.
#[derive(Clone, Copy)]
struct LayerStep<'a> {
    rows: usize,
    max_rows: usize,
    /// `(fan_in, fan_out)`.
    dims: (usize, usize),
    label: &'a str,
    /// Where the layer's weights start in the flat buffer; `None`: the check's own offset.
    offset: Option<usize>,
}

impl<'a> LayerStep<'a> {
    fn new(rows: usize, max_rows: usize, dims: (usize, usize), label: &'a str) -> Self {
        Self {
            rows,
            max_rows,
            dims,
            label,
            offset: None,
        }
    }

    /// The same step with the weights at `offset` (a model layer's own, or one aligned for
    /// vec4 loads).
    fn at_offset(self, offset: usize) -> Self {
        Self {
            offset: Some(offset),
            ..self
        }
    }

    /// A full step of `rows` rows, unlabelled (the ragged grid).
    fn full(rows: usize, dims: (usize, usize)) -> Self {
        Self::new(rows, rows, dims, "")
    }

    /// The layer, its weights starting at the step's offset (else `default`) of a flat buffer
    /// and its bias right after.
    fn layer_at(&self, default: usize) -> DenseLayer {
        let (fan_in, fan_out) = self.dims;
        let offset = self.offset.unwrap_or(default);
        DenseLayer {
            fan_in,
            fan_out,
            weight_offset: offset,
            bias_offset: offset + fan_in * fan_out,
        }
    }

    /// The paths of the step's rows and operand placement.
    fn paths(&self) -> [Option<Path>; 2] {
        let (fan_in, fan_out) = self.dims;
        let aligned = self
            .offset
            .is_some_and(|o| o % 4 == 0 && fan_in % 4 == 0 && fan_out % 4 == 0);
        [
            (self.rows < self.max_rows).then_some(mm::SHORT_BATCH),
            aligned.then_some(mm::OFFSETS_VEC4),
        ]
    }

    /// The check's shape: the product's `m x k x n` and the label.
    fn shape(&self, m: usize, k: usize, n: usize) -> String {
        format!("{m}x{k}x{n}{}", self.label)
    }
}

/// The inputs of one product call, run with every variant.
struct Operands<'a> {
    call: MatmulCall,
    step: StepRecord,
    a: &'a [f32],
    b: &'a [f32],
    c: &'a [f32],
    aux: &'a [f32],
}

/// One gather check: `batch` rows (and `spare` unused rows of the batch buffer) of `count`
/// samples of `features` inputs, through the order or `direct`, pixels or `values`.
#[derive(Clone, Copy)]
struct GatherCase {
    count: usize,
    features: usize,
    batch: usize,
    spare: usize,
    direct: bool,
    values: bool,
}

impl GatherCase {
    fn new(count: usize, features: usize, batch: usize) -> Self {
        Self {
            count,
            features,
            batch,
            spare: 0,
            direct: false,
            values: false,
        }
    }

    fn direct(self) -> Self {
        Self {
            direct: true,
            ..self
        }
    }

    fn values(self) -> Self {
        Self {
            values: true,
            ..self
        }
    }

    fn spare(self, spare: usize) -> Self {
        Self { spare, ..self }
    }
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

    /// Runs `ops` with every variant and compares what `output` takes of C with `want`; every
    /// variant must also give the first one's bits (the engine picks variants by measured
    /// speed, which must not change what it computes). `check_c` names a problem with the whole
    /// of C (a write outside the product).
    fn variants_of(
        &mut self,
        kernel: &str,
        shape: &str,
        ops: &Operands,
        want: &[f32],
        check_c: &dyn Fn(&[f32]) -> Option<String>,
        output: &dyn Fn(Vec<f32>) -> Vec<f32>,
    ) {
        let mut first: Option<(MatmulVariant, Vec<f32>)> = None;
        for variant in self.variants() {
            let got = self
                .lab
                .matmul(variant, &ops.call, &ops.step, ops.a, ops.b, ops.c, ops.aux);
            let c = match got {
                Ok(c) => c,
                Err(e) => {
                    self.device_error(kernel, shape, Some(variant), e);
                    continue;
                }
            };
            let mut problems: Vec<String> = check_c(&c).into_iter().collect();
            let got = output(c);
            match &first {
                None => first = Some((variant, got.clone())),
                Some((v, bits)) => {
                    let differ = got
                        .iter()
                        .zip(bits)
                        .filter(|(x, y)| x.to_bits() != y.to_bits())
                        .count();
                    if differ > 0 || got.len() != bits.len() {
                        problems.push(format!(
                            "{differ} elements differ in bits from {}",
                            v.name()
                        ));
                    }
                }
            }
            let problem = (!problems.is_empty()).then(|| problems.join("; "));
            self.compare(
                kernel,
                shape,
                Some(variant),
                got,
                want,
                MATMUL_BOUND,
                problem,
            );
        }
    }

    /// A packed product, no epilogue.
    fn plain(&mut self, t: Transpose, (m, k, n): (usize, usize, usize), case: &str) {
        let kernel = format!("matmul {}", t.name());
        let shape = format!("{m}x{k}x{n}{case}");
        let a = self.vec(m * k);
        let b = self.vec(k * n);
        let want = cpu_product(t, &a, &b, m, k, n);
        self.runs([
            Some(mm::product(t)),
            Some(mm::NO_EPILOGUE),
            Some(mm::FULL_SHAPE),
        ]);
        let ops = Operands {
            call: MatmulCall::packed(t, m, k, n),
            step: StepRecord::full(1),
            a: &a,
            b: &b,
            c: &poison(m * n),
            aux: &a,
        };
        self.variants_of(&kernel, &shape, &ops, &want, &|_| None, &|c| c);
    }

    /// A dense layer's forward product with its fused epilogue, as the engine dispatches it:
    /// W and b at offsets in one flat buffer, the batch length from the step record.
    fn forward(&mut self, at: LayerStep, epilogue: Epilogue, index: usize, mask: DropoutMask) {
        let (fan_in, fan_out) = at.dims;
        let (rows, max_rows) = (at.rows, at.max_rows);
        let shape = at.shape(rows, fan_in, fan_out);
        let layer = at.layer_at(5);
        let x = self.vec(max_rows * fan_in);
        let mut flat = self.vec(layer.bias_offset + fan_out);
        flat[..layer.weight_offset].fill(f32::NAN);
        let mut step = StepRecord::full(rows);
        step.seed = self.rng.random();
        let mut want = poison(rows * fan_out);
        let relu = epilogue != Epilogue::Bias;
        let (w, bias) = (layer.weights(&flat), layer.bias(&flat));
        let x_rows = &x[..rows * fan_in];
        ops::matmul(x_rows, w, &mut want, rows, fan_in, fan_out);
        ops::bias_activation(&mut want, bias, rows, fan_out, relu);
        if epilogue == Epilogue::BiasReluDropout {
            ops::dropout(&mut want, rows, fan_out, index as u32, step.seed, mask);
        }
        let dropout = (epilogue == Epilogue::BiasReluDropout)
            .then(|| mm::dropout_rate(mask))
            .flatten();
        let [short, aligned] = at.paths();
        let epilogue_path = Some(mm::epilogue(epilogue));
        let rows_path = Some(mm::STEP_ROWS_M);
        self.runs([
            Some(mm::A_B),
            epilogue_path,
            rows_path,
            dropout,
            short,
            aligned,
        ]);
        let ops = Operands {
            call: MatmulCall::forward(&layer, index, max_rows, epilogue, mask),
            step,
            a: &x,
            b: &flat,
            c: &poison(max_rows * fan_out),
            aux: &x,
        };
        // A different dropout mask shows as a large error anyway; say so plainly.
        let head = rows * fan_out;
        let masked = |c: &[f32]| {
            let differ = c
                .iter()
                .zip(&want)
                .filter(|(g, w)| (**g == 0.0) != (**w == 0.0))
                .count();
            let mut problems: Vec<String> = past_the_batch(c, head).into_iter().collect();
            if epilogue == Epilogue::BiasReluDropout && differ > 0 {
                problems.push(format!("{differ} elements dropped differently"));
            }
            (!problems.is_empty()).then(|| problems.join("; "))
        };
        let kernel = epilogue.kernel_name();
        self.variants_of(kernel, &shape, &ops, &want, &masked, &|mut c| {
            c.truncate(head);
            c
        });
    }

    /// The input gradient `dX = dZ·Wᵀ ⊙ (act > 0)·scale` (ReLU and dropout backward fused).
    fn backward(&mut self, at: LayerStep, scale: f32) {
        let (fan_in, fan_out) = at.dims;
        let (rows, max_rows) = (at.rows, at.max_rows);
        let shape = at.shape(rows, fan_out, fan_in);
        let layer = at.layer_at(7);
        let dz = self.vec(max_rows * fan_out);
        let flat = self.vec(layer.bias_offset);
        let act: Vec<f32> = self
            .vec(max_rows * fan_in)
            .iter()
            .map(|v| v.max(0.0) * scale)
            .collect();
        let mut want = poison(rows * fan_in);
        let dz_rows = &dz[..rows * fan_out];
        ops::matmul_a_bt(
            dz_rows,
            layer.weights(&flat),
            &mut want,
            rows,
            fan_out,
            fan_in,
        );
        ops::relu_dropout_backward(&mut want, &act[..rows * fan_in], rows, fan_in, scale);
        let mask = DropoutMask {
            threshold: 0,
            scale,
        };
        let [short, aligned] = at.paths();
        let scaled = (scale != 1.0).then_some(mm::RELU_MASK_SCALED);
        let rows_path = Some(mm::STEP_ROWS_M);
        self.runs([
            Some(mm::A_BT),
            Some(mm::RELU_MASK),
            rows_path,
            scaled,
            short,
            aligned,
        ]);
        let ops = Operands {
            call: MatmulCall::input_gradient(&layer, max_rows, mask),
            step: StepRecord::full(rows),
            a: &dz,
            b: &flat,
            c: &poison(max_rows * fan_in),
            aux: &act,
        };
        let kernel = Epilogue::ReluMask.kernel_name();
        let head = rows * fan_in;
        self.variants_of(
            kernel,
            &shape,
            &ops,
            &want,
            &|c| past_the_batch(c, head),
            &|mut c| {
                c.truncate(head);
                c
            },
        );
    }

    /// The weight and bias gradient in one product: `[dW; db] = [X 1]ᵀ·dZ`, written at an offset
    /// of the flat gradient buffer (nothing before it may change).
    fn grad(&mut self, at: LayerStep) {
        let (fan_in, fan_out) = at.dims;
        let (rows, max_rows) = (at.rows, at.max_rows);
        let kernel = "matmul A^T*B +ones-row";
        let shape = at.shape(fan_in + 1, rows, fan_out);
        let layer = at.layer_at(3);
        let x = self.vec(max_rows * fan_in);
        let dz = self.vec(max_rows * fan_out);
        let mut want = poison(fan_in * fan_out + fan_out);
        let (dw, db) = want.split_at_mut(fan_in * fan_out);
        let dz_rows = &dz[..rows * fan_out];
        ops::matmul_at_b(&x[..rows * fan_in], dz_rows, dw, fan_in, rows, fan_out);
        ops::column_sums(dz_rows, rows, fan_out, db);
        let offset = layer.weight_offset;
        let [short, aligned] = at.paths();
        let (ones, rows_path) = (Some(mm::ONES_ROW), Some(mm::STEP_ROWS_K));
        self.runs([Some(mm::AT_B), ones, rows_path, short, aligned]);
        let ops = Operands {
            call: MatmulCall::weight_gradient(&layer, max_rows),
            step: StepRecord::full(rows),
            a: &x,
            b: &dz,
            c: &poison(layer.bias_offset + fan_out),
            aux: &x,
        };
        let before = |c: &[f32]| {
            (!c[..offset].iter().all(|v| v.is_nan())).then(|| "wrote before its offset".to_string())
        };
        self.variants_of(kernel, &shape, &ops, &want, &before, &|mut c| {
            c.split_off(offset)
        });
    }

    /// The batch gather through a shuffled order from position 1 (or directly from sample 1,
    /// as evaluation reads from an offset), of u8 pixels normalised to [0, 1] or of f32
    /// values: bit for bit, labels included (drawn from 300 classes, so labels above a byte are
    /// checked too); with `spare` rows of the batch buffer past the step (a short last batch),
    /// which must stay unwritten.
    fn gather(&mut self, g: GatherCase, case: &str) {
        let GatherCase {
            count,
            features,
            batch,
            spare,
            direct,
            values,
        } = g;
        let kernel = match (direct, values) {
            (false, false) => "gather",
            (true, false) => "gather direct",
            (false, true) => "gather values",
            (true, true) => "gather direct values",
        };
        let shape = format!("batch {batch} (+{spare}) of {count}x{features}{case}");
        let images = if values {
            Inputs::Values(self.vec(count * features))
        } else {
            Inputs::Pixels(self.bytes(count * features, 256))
        };
        let labels: Vec<Label> = (0..count).map(|_| self.rng.random_range(0..300)).collect();
        let order = crate::training::shuffled_rows(count, &mut self.rng);
        let start = (count - batch).min(1);
        let step = StepRecord {
            start: start as u32,
            len: batch as u32,
            row_source: RowSource::direct_if(direct).into(),
            ..Default::default()
        };
        let rows: Vec<u32> = if direct {
            (start as u32..(start + batch) as u32).collect()
        } else {
            order[start..start + batch].to_vec()
        };
        let input_path = match (values, features % 4) {
            (true, _) => ga::VALUES,
            (false, 0) => ga::PIXEL_WORDS,
            (false, _) => ga::PIXEL_BYTES,
        };
        let big_label = rows.iter().any(|&r| labels[r as usize] > 255);
        self.runs([
            Some(input_path),
            (features == 784).then_some(ga::GREY_WIDTH),
            (features == 3072).then_some(ga::RGB_WIDTH),
            (!direct).then_some(ga::THROUGH_ORDER),
            (direct && start > 0).then_some(ga::DIRECT_FROM_OFFSET),
            big_label.then_some(ga::LABELS_ABOVE_255),
            (spare > 0).then_some(ga::SHORT_BATCH),
        ]);
        let head = batch * features;
        let got = self.lab.gather(
            &images,
            &labels,
            features,
            &order,
            &step,
            &poison(head + spare * features),
        );
        let mut want_x = poison(head);
        let mut want_y = vec![0; batch];
        let samples = Samples {
            inputs: images,
            labels,
            count,
            features,
        };
        ops::gather(&samples, &rows, &mut want_x, &mut want_y);
        match got {
            Ok((mut x, y)) => {
                let wrong = y
                    .iter()
                    .zip(&want_y)
                    .filter(|(g, w)| **g != **w as u32)
                    .count();
                let mut problems: Vec<String> = past_the_batch(&x, head).into_iter().collect();
                if wrong > 0 {
                    problems.push(format!("{wrong} labels differ"));
                }
                x.truncate(head);
                let problem = (!problems.is_empty()).then(|| problems.join("; "));
                self.compare(kernel, &shape, None, x, &want_x, 0.0, problem)
            }
            Err(e) => self.device_error(kernel, &shape, None, e),
        }
    }

    /// Softmax + cross-entropy on a partial batch (a third of the rows unused): the gradient,
    /// the loss sum and correct count of the step's slot, and evaluation-mode predictions.
    /// `spread`: the logits lie in (−spread, spread); from ~90 on, exp overflows without the
    /// max shift.
    fn softmax(&mut self, rows: usize, classes: usize, spread: f32, case: &str) {
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
