//! The tiled matrix product with a fused epilogue (`matmul.wgsl`), its calls (`MatmulCall`:
//! which product a layer runs, and its parameters) and its tile strategies (`tiles`).
//!
//! The tile strategies are numbered variants (`MatmulVariant`), as in a kernel lab: each is
//! correct for every shape and sums over k in the same order, so every variant gives the same
//! bits and the per-adapter choice (`gpu::tuning`) changes speed only, never results.

pub mod path;
mod tiles;

pub use tiles::{MatmulVariant, Product, Transpose, ENTRY_POINTS};

use super::contract::{check_workgroups, out_of_bounds, Kernel, Shader};
use super::mode::Code;
use super::step::StepRecord;
use crate::error::GpuError;
use crate::model::dropout::DropoutMask;
use crate::model::DenseLayer;

numbered_enum! {
    /// What the product's output goes through before it is stored.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Epilogue {
        /// Stored as it is.
        None = 0,
        /// `+ bias`.
        Bias = 1,
        /// `+ bias`, then ReLU.
        BiasRelu = 2,
        /// `+ bias`, ReLU, inverted dropout.
        BiasReluDropout = 3,
        /// `c = aux > 0 ? v·scale : 0` (ReLU and dropout backward).
        ReluMask = 4,
    }
}

impl Epilogue {
    /// The forward epilogue of a dense layer: bias only on the output layer, else ReLU, with
    /// dropout while training a model that has it.
    pub fn forward(output_layer: bool, training: bool, dropout: f32) -> Self {
        if output_layer {
            Epilogue::Bias
        } else if training && dropout > 0.0 {
            Epilogue::BiasReluDropout
        } else {
            Epilogue::BiasRelu
        }
    }

    /// Whether the epilogue adds the bias (read from B at `bias_off`).
    pub fn adds_bias(self) -> bool {
        matches!(
            self,
            Epilogue::Bias | Epilogue::BiasRelu | Epilogue::BiasReluDropout
        )
    }

    /// `matmul A*B +bias relu` and so on: the kernel's name in the check tables.
    pub fn kernel_name(self) -> &'static str {
        match self {
            Epilogue::Bias => "matmul A*B +bias",
            Epilogue::BiasRelu => "matmul A*B +bias relu",
            Epilogue::BiasReluDropout => "matmul A*B +bias relu dropout",
            Epilogue::None => "matmul A*B",
            Epilogue::ReluMask => "matmul A*B^T relu-mask",
        }
    }
}

numbered_enum! {
    /// Which dimension of a product is the step's batch length.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum StepRows {
        /// Neither: the product runs at its full shape.
        Neither = 0,
        /// m, the rows of A and C.
        M = 1,
        /// k, the summed dimension.
        K = 2,
    }
}

uniform_params! {
    /// The shader's `Params`, field for field. Build it with `MatmulCall`'s constructors, which
    /// say what a product is for; `m`, `k`, `n` are the product's largest shape (the step's
    /// batch length may replace m or k at run time, see `step_rows`).
    pub struct MatmulParams {
    pub m: u32,
    pub k: u32,
    pub n: u32,
    pub step_rows: Code<StepRows>,
    pub a_rows: u32,
    pub lda: u32,
    pub ldb: u32,
    pub ldc: u32,
    pub a_off: u32,
    pub b_off: u32,
    pub c_off: u32,
    pub aux_off: u32,
    pub bias_off: u32,
    pub epilogue: Code<Epilogue>,
    pub layer: u32,
    pub threshold: u32,
    pub scale: f32,
    pub _pad: [u32; 3],
    }
}

/// One product call: which product and its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatmulCall {
    pub transpose: Transpose,
    pub params: MatmulParams,
}

impl MatmulCall {
    /// A plain `m × k × n` product with packed operands (leading dimensions from the shapes),
    /// no offsets, no epilogue.
    pub fn packed(transpose: Transpose, m: usize, k: usize, n: usize) -> Self {
        let (lda, ldb) = match transpose {
            Transpose::None => (k, n),
            Transpose::B => (k, k),
            Transpose::A => (m, n),
        };
        let params = MatmulParams {
            m: m as u32,
            k: k as u32,
            n: n as u32,
            a_rows: m as u32,
            lda: lda as u32,
            ldb: ldb as u32,
            ldc: n as u32,
            scale: 1.0,
            ..Default::default()
        };
        Self { transpose, params }
    }

    /// Dense layer `index`'s forward product for batches of up to `rows` rows (the step's
    /// length): `A = X [rows, fan_in]`, `B` the flat parameters (W and b at the layer's
    /// offsets), `C [rows, fan_out]` through `epilogue` (`Epilogue::forward`).
    pub fn forward(
        layer: &DenseLayer,
        index: usize,
        rows: usize,
        epilogue: Epilogue,
        mask: DropoutMask,
    ) -> Self {
        let mut call = Self::packed(Transpose::None, rows, layer.fan_in, layer.fan_out);
        let p = &mut call.params;
        p.step_rows = StepRows::M.into();
        p.b_off = layer.weight_offset as u32;
        p.bias_off = layer.bias_offset as u32;
        p.epilogue = epilogue.into();
        p.layer = index as u32;
        p.threshold = mask.threshold;
        p.scale = mask.scale;
        call
    }

    /// The layer's weight and bias gradient in one product for batches of up to `rows` rows:
    /// `[dW; db] = [X 1]ᵀ·dZ`. Rows fan_in.. of op(A) read as ones, so row fan_in of C (the bias,
    /// right after W in the flat layout) gets the column sums of dZ; C is the flat gradient
    /// buffer at the layer's weight offset.
    pub fn weight_gradient(layer: &DenseLayer, rows: usize) -> Self {
        let mut call = Self::packed(Transpose::A, layer.fan_in + 1, rows, layer.fan_out);
        let p = &mut call.params;
        p.a_rows = layer.fan_in as u32;
        p.lda = layer.fan_in as u32;
        p.step_rows = StepRows::K.into();
        p.c_off = layer.weight_offset as u32;
        call
    }

    /// The layer's input gradient for batches of up to `rows` rows, ReLU and dropout backward
    /// fused: `dX = dZ·Wᵀ ⊙ (act > 0)·mask.scale`, `B` the flat parameters, `aux` the layer's
    /// input activation (already dropped and scaled in the forward pass).
    pub fn input_gradient(layer: &DenseLayer, rows: usize, mask: DropoutMask) -> Self {
        let mut call = Self::packed(Transpose::B, rows, layer.fan_out, layer.fan_in);
        let p = &mut call.params;
        p.step_rows = StepRows::M.into();
        p.b_off = layer.weight_offset as u32;
        p.epilogue = Epilogue::ReluMask.into();
        p.scale = mask.scale;
        call
    }

    /// The product at its largest shape: what a variant is chosen for.
    pub fn product(&self) -> Product {
        let p = &self.params;
        Product::new(self.transpose, p.m as usize, p.k as usize, p.n as usize)
    }

    /// This call with tile `variant`: the kernel to dispatch.
    pub fn with_variant(self, variant: MatmulVariant) -> Matmul {
        Matmul {
            call: self,
            variant,
        }
    }
}

storage_bindings! {
    /// The storage buffers of a product, in binding order (2 ..= 5; a and b again as 6, 7, the
    /// shader's vec4 views of them).
    pub struct MatmulBindings {
        /// A (read).
        a: read,
        /// B, and the bias of the forward epilogues (read).
        b: read,
        /// C (written).
        c: read_write,
        /// The ReLU-mask epilogue's activation (read; any buffer when unused).
        aux: read,
    }
    views {
        a4: a,
        b4: b,
    }
}

/// A product call at one tile strategy. CPU twins: [`crate::engine::cpu::ops::matmul`],
/// [`crate::engine::cpu::ops::matmul_a_bt`] and [`crate::engine::cpu::ops::matmul_at_b`] for
/// the three products, and for a layer's calls `matmul` +
/// [`crate::engine::cpu::ops::bias_activation`] + [`crate::engine::cpu::ops::dropout`],
/// `matmul_a_bt` + [`crate::engine::cpu::ops::relu_dropout_backward`], `matmul_at_b` +
/// [`crate::engine::cpu::ops::column_sums`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Matmul {
    pub call: MatmulCall,
    pub variant: MatmulVariant,
}

impl Kernel for Matmul {
    const NAME: &'static str = "matmul";
    const SHADER: Shader = Shader {
        file: "matmul/matmul.wgsl",
        source: shader!("matmul.wgsl"),
        entry_points: &ENTRY_POINTS,
    };
    const PATHS: &'static [super::paths::Path] = path::ALL;
    const SHAPE_READS: &'static [&'static str] = path::SHAPE_READS;
    type Params = MatmulParams;
    type Bindings<'a> = MatmulBindings<'a>;
    /// Elements of the a, b, c and aux buffers.
    type Extents<'a> = [usize; 4];

    fn params(&self) -> MatmulParams {
        self.call.params
    }

    fn entry_point(&self) -> &'static str {
        self.variant.entry_point()
    }

    fn constants(&self) -> Vec<(&'static str, f64)> {
        self.variant.constants(self.call.transpose)
    }

    /// The variant's grid, sized for the largest m (workgroups past the step's rows return at
    /// once).
    fn workgroups(&self) -> (u32, u32) {
        let p = &self.call.params;
        self.variant.workgroups(p.m as usize, p.n as usize)
    }

    /// The variant's tile against the shader's arrays and the device, and its grid.
    fn check_limits(&self, limits: &wgpu::Limits) -> Result<(), GpuError> {
        self.variant.check(limits).map_err(GpuError::Device)?;
        check_workgroups(Self::NAME, 0, 0, self.workgroups(), limits)
    }

    /// The call (with `step`'s batch length where it replaces a dimension) indexes inside
    /// buffers of `lens` = [a, b, c, aux] elements: the shader clamps reads to the shapes and
    /// guards writes by them, so the shapes fitting the buffers is all it needs.
    fn check_bounds(&self, step: &StepRecord, lens: &[usize; 4]) -> Result<(), GpuError> {
        let p = &self.call.params;
        let by_step =
            |rows: StepRows, v: u32| u64::from(if p.step_rows == rows { step.len } else { v });
        let (m, a_rows, k) = (
            by_step(StepRows::M, p.m),
            by_step(StepRows::M, p.a_rows),
            by_step(StepRows::K, p.k),
        );
        let n = u64::from(p.n);
        if m > u64::from(p.m) {
            return Err(out_of_bounds(Self::NAME)); // more rows than the grid covers
        }
        if m == 0 || n == 0 {
            return Ok(()); // no workgroup does any work
        }
        let [a_len, b_len, c_len, aux_len] = lens.map(|l| l as u64);
        let (lda, ldb, ldc) = (u64::from(p.lda), u64::from(p.ldb), u64::from(p.ldc));
        let inside = |last: u64, len: u64| last < len && last < u64::from(u32::MAX);
        let mut ok = inside(u64::from(p.c_off) + (m - 1) * ldc + n - 1, c_len);
        if k > 0 {
            ok &= a_rows > 0;
            let a_rows = a_rows.max(1);
            let (a_last, b_last) = match self.call.transpose {
                Transpose::None => ((a_rows - 1) * lda + k - 1, (k - 1) * ldb + n - 1),
                Transpose::B => ((a_rows - 1) * lda + k - 1, (n - 1) * ldb + k - 1),
                Transpose::A => ((k - 1) * lda + a_rows - 1, (k - 1) * ldb + n - 1),
            };
            ok &= inside(u64::from(p.a_off) + a_last, a_len);
            ok &= inside(u64::from(p.b_off) + b_last, b_len);
        }
        let epilogue = Epilogue::from_number(p.epilogue.number());
        if epilogue.is_some_and(Epilogue::adds_bias) {
            ok &= inside(u64::from(p.bias_off) + n - 1, b_len);
        }
        if p.epilogue == Epilogue::ReluMask {
            ok &= inside(u64::from(p.aux_off) + (m - 1) * ldc + n - 1, aux_len);
        }
        if ok {
            Ok(())
        } else {
            Err(out_of_bounds(Self::NAME))
        }
    }
}
