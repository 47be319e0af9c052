//! The matrix products in the kernel grid: the three products plain, a layer's forward product
//! with each epilogue (dropout at two rates), its input gradient (ReLU-mask, scaled by dropout)
//! and its weight gradient with the ones row, at full and short batches, at offsets; every tile
//! variant the engine may pick, each giving the first one's bits.

use super::{past_the_batch, poison, Checker, MATMUL_BOUND};
use crate::engine::cpu::ops;
use crate::engine::gpu::kernels::matmul::path as mm;
use crate::engine::gpu::kernels::matmul::{Epilogue, MatmulCall, MatmulVariant, Transpose};
use crate::engine::gpu::kernels::paths::Path;
use crate::engine::gpu::kernels::StepRecord;
use crate::model::dropout::DropoutMask;
use crate::model::DenseLayer;
use rand::Rng;

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
pub(super) struct LayerStep<'a> {
    rows: usize,
    max_rows: usize,
    /// `(fan_in, fan_out)`.
    dims: (usize, usize),
    label: &'a str,
    /// Where the layer's weights start in the flat buffer; `None`: the check's own offset.
    offset: Option<usize>,
}

impl<'a> LayerStep<'a> {
    pub(super) fn new(rows: usize, max_rows: usize, dims: (usize, usize), label: &'a str) -> Self {
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
    pub(super) fn at_offset(self, offset: usize) -> Self {
        Self {
            offset: Some(offset),
            ..self
        }
    }

    /// A full step of `rows` rows, unlabelled (the ragged grid).
    pub(super) fn full(rows: usize, dims: (usize, usize)) -> Self {
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

impl Checker<'_> {
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
    pub(super) fn plain(&mut self, t: Transpose, (m, k, n): (usize, usize, usize), case: &str) {
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
    pub(super) fn forward(
        &mut self,
        at: LayerStep,
        epilogue: Epilogue,
        index: usize,
        mask: DropoutMask,
    ) {
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
    pub(super) fn backward(&mut self, at: LayerStep, scale: f32) {
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
    pub(super) fn grad(&mut self, at: LayerStep) {
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
}
