//! The tiled matrix product with a fused epilogue (`shaders/matmul.wgsl`). CPU references:
//! `cpu::ops::matmul`, `matmul_a_bt`, `matmul_at_b` for the three products, and for a layer's
//! calls `matmul` + `bias_activation` + `dropout`, `matmul_a_bt` + `relu_dropout_backward`,
//! `matmul_at_b` + `column_sums`.
//!
//! The tile strategies are numbered variants (`MatmulVariant`), as in a kernel lab: each is
//! correct for every shape and sums over k in the same order, so every variant gives the same
//! bits and the per-adapter choice (`gpu::tuning`) changes speed only, never results.

use super::{bind_group, out_of_bounds, Layout, StepRecord};
use crate::engine::gpu::context::GpuContext;
use crate::error::GpuError;
use crate::model::dropout::DropoutMask;
use crate::model::DenseLayer;
use bytemuck::{Pod, Zeroable};

/// The assembled shader.
pub const WGSL: &str = shader!("matmul.wgsl");

/// The shader's entry points (one per tile strategy).
pub const ENTRY_POINTS: [&str; 2] = ["matmul_reg", "matmul_shared"];

/// The three products (`TRANS` override), named as their CPU twins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transpose {
    /// `A·B` (forward; `cpu::ops::matmul`).
    None,
    /// `A·Bᵀ` (input gradient; `cpu::ops::matmul_a_bt`).
    B,
    /// `Aᵀ·B` (weight gradient; `cpu::ops::matmul_at_b`).
    A,
}

impl Transpose {
    pub const ALL: [Transpose; 3] = [Transpose::None, Transpose::B, Transpose::A];

    /// `A*B`, `A*B^T` or `A^T*B`.
    pub fn name(self) -> &'static str {
        match self {
            Transpose::None => "A*B",
            Transpose::B => "A*B^T",
            Transpose::A => "A^T*B",
        }
    }

    fn code(self) -> u32 {
        match self {
            Transpose::None => 0,
            Transpose::B => 1,
            Transpose::A => 2,
        }
    }
}

/// Matmul epilogues (see shaders/matmul.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epilogue {
    None = 0,
    Bias = 1,
    BiasRelu = 2,
    BiasReluDropout = 3,
    /// `c = aux > 0 ? v·scale : 0` (ReLU and dropout backward).
    ReluMask = 4,
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

/// Which dimension of a product is the step's batch length (`rows_is`; 0: neither).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RowsAre {
    M = 1,
    K = 2,
}

/// The shader's `Params`, field for field. Build it with the constructors, which say what a
/// product is for; `m`, `k`, `n` are the product's largest shape (the step's batch length may
/// replace m or k at run time, see `rows_is`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct MatmulParams {
    pub m: u32,
    pub k: u32,
    pub n: u32,
    pub rows_is: u32,
    pub a_rows: u32,
    pub lda: u32,
    pub ldb: u32,
    pub ldc: u32,
    pub a_off: u32,
    pub b_off: u32,
    pub c_off: u32,
    pub aux_off: u32,
    pub bias_off: u32,
    pub epilogue: u32,
    pub layer: u32,
    pub threshold: u32,
    pub scale: f32,
    pub _pad: [u32; 3],
}

/// One product call: which product and its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatmulCall {
    pub t: Transpose,
    pub params: MatmulParams,
}

impl MatmulCall {
    /// A plain `m × k × n` product with packed operands (leading dimensions from the shapes),
    /// no offsets, no epilogue.
    pub fn packed(t: Transpose, m: usize, k: usize, n: usize) -> Self {
        let (lda, ldb) = match t {
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
        Self { t, params }
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
        p.rows_is = RowsAre::M as u32;
        p.b_off = layer.weight_offset as u32;
        p.bias_off = layer.bias_offset as u32;
        p.epilogue = epilogue as u32;
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
        p.rows_is = RowsAre::K as u32;
        p.c_off = layer.weight_offset as u32;
        call
    }

    /// The layer's input gradient for batches of up to `rows` rows, ReLU and dropout backward
    /// fused: `dX = dZ·Wᵀ ⊙ (act > 0)·mask.scale`, `B` the flat parameters, `aux` the layer's
    /// input activation (already dropped and scaled in the forward pass).
    pub fn input_gradient(layer: &DenseLayer, rows: usize, mask: DropoutMask) -> Self {
        let mut call = Self::packed(Transpose::B, rows, layer.fan_out, layer.fan_in);
        let p = &mut call.params;
        p.rows_is = RowsAre::M as u32;
        p.b_off = layer.weight_offset as u32;
        p.epilogue = Epilogue::ReluMask as u32;
        p.scale = mask.scale;
        call
    }

    /// The product at its largest shape: what a variant is chosen for.
    pub fn product(&self) -> Product {
        let p = &self.params;
        Product::new(self.t, p.m as usize, p.k as usize, p.n as usize)
    }

    /// The grid of `variant` for this call (sized for the largest m; workgroups past the step's
    /// rows return at once).
    pub fn workgroups(&self, variant: MatmulVariant) -> (u32, u32) {
        variant.workgroups(self.params.m as usize, self.params.n as usize)
    }

    /// Checks that the call (with `step`'s batch length where it replaces a dimension) indexes
    /// inside buffers of `lens` = [a, b, c, aux] elements: the shader clamps reads to the shapes
    /// and guards writes by them, so the shapes fitting the buffers is all it needs.
    pub fn check_bounds(&self, step: &StepRecord, lens: [usize; 4]) -> Result<(), GpuError> {
        let p = &self.params;
        let by_step =
            |is: RowsAre, v: u32| u64::from(if p.rows_is == is as u32 { step.len } else { v });
        let (m, a_rows, k) = (
            by_step(RowsAre::M, p.m),
            by_step(RowsAre::M, p.a_rows),
            by_step(RowsAre::K, p.k),
        );
        let n = u64::from(p.n);
        if m > u64::from(p.m) {
            return Err(out_of_bounds("matmul")); // more rows than the grid covers
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
            let (a_last, b_last) = match self.t {
                Transpose::None => ((a_rows - 1) * lda + k - 1, (k - 1) * ldb + n - 1),
                Transpose::B => ((a_rows - 1) * lda + k - 1, (n - 1) * ldb + k - 1),
                Transpose::A => ((k - 1) * lda + a_rows - 1, (k - 1) * ldb + n - 1),
            };
            ok &= inside(u64::from(p.a_off) + a_last, a_len);
            ok &= inside(u64::from(p.b_off) + b_last, b_len);
        }
        if (1..=3).contains(&p.epilogue) {
            ok &= inside(u64::from(p.bias_off) + n - 1, b_len);
        }
        if p.epilogue == Epilogue::ReluMask as u32 {
            ok &= inside(u64::from(p.aux_off) + (m - 1) * ldc + n - 1, aux_len);
        }
        if ok {
            Ok(())
        } else {
            Err(out_of_bounds("matmul"))
        }
    }
}

/// The storage buffers of a product, in binding order (2, 3, 4, 5; a and b again as 6, 7, the
/// shader's vec4 views of them).
pub struct MatmulBindings<'a> {
    /// A (read).
    pub a: &'a wgpu::Buffer,
    /// B, and the bias of the forward epilogues (read).
    pub b: &'a wgpu::Buffer,
    /// C (written).
    pub c: &'a wgpu::Buffer,
    /// The ReLU-mask epilogue's activation (read; any buffer when unused).
    pub aux: &'a wgpu::Buffer,
}

impl MatmulBindings<'_> {
    /// Read-only flag of each storage binding.
    pub const STORAGE: &'static [bool] = &[true, true, false, true, true, true];

    /// The bind group of `params` with these buffers and the step table `steps`.
    pub fn bind(
        &self,
        ctx: &GpuContext,
        label: &str,
        layout: &Layout,
        params: &MatmulParams,
        steps: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        let storage = [self.a, self.b, self.c, self.aux, self.a, self.b];
        bind_group(ctx, label, layout, params, steps, &storage)
    }
}

/// One matrix product as the engine runs it: which product and `m × k × n` at its largest m.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Product {
    pub t: Transpose,
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

impl Product {
    pub fn new(t: Transpose, m: usize, k: usize, n: usize) -> Self {
        Self { t, m, k, n }
    }

    /// `A*B 32x784x128`: the key in the tile cache file.
    pub fn name(&self) -> String {
        format!("{} {}x{}x{}", self.t.name(), self.m, self.k, self.n)
    }

    /// Floating-point operations of one product (2·m·k·n).
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.k as f64 * self.n as f64
    }

    /// True when the device can run `variant` and launch the grid it needs for this product.
    pub fn fits(&self, variant: MatmulVariant, limits: &wgpu::Limits) -> bool {
        let (x, y) = variant.workgroups(self.m, self.n);
        let most = limits.max_compute_workgroups_per_dimension;
        variant.check(limits).is_ok() && x <= most && y <= most
    }
}

/// A tile's override constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct TileShape {
    /// Stage operands through workgroup memory (`matmul_shared`) or not (`matmul_reg`).
    shared: bool,
    wg_x: u32,
    wg_y: u32,
    /// Output rows per invocation.
    tm: u32,
    /// Output columns per invocation.
    tn: u32,
    /// Floats between the rows of the workgroup-memory slabs (`PAD`).
    pad: u32,
    /// Stage operands four floats per load where they are aligned (`VEC4`).
    vec4: bool,
}

numbered_enum! {
    /// The matmul's tile strategies, numbered as in a kernel lab (new ones take the next number).
    /// `ALL` are the per-adapter measurement's candidates (`gpu::tuning`); `verify` and the
    /// tests check each of them.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum MatmulVariant {
        /// 1. Register tiling, 8x8 invocations of 4 rows × 8 columns (32 × 64 outputs per
        ///    workgroup): on lavapipe (where workgroup memory does not pay) the best shape for
        ///    batch-sized m ≤ 64.
        Register32 = 1,
        /// 2. Register tiling, 8x8 invocations of 8 × 8 (64 × 64 per workgroup): on lavapipe the best
        ///    shape once m ≥ 128 (about 1.5x variant 1 there, half of it at m = 32).
        Register64 = 2,
        /// 3. A 64x64 workgroup tile staged through workgroup memory, 8x8 micro-tile per
        ///    invocation: the usual shape on hardware GPUs.
        Shared64 = 3,
        /// 4. Register tiling in narrow workgroups, 16x2 invocations of 4 rows × 1 column (8 × 16
        ///    outputs): a batch-32 product runs as many workgroups (32 for 32×784×128 where variant 1
        ///    runs 2), to occupy a GPU with many compute units.
        Narrow8 = 4,
        /// 5. Variant 3 with its workgroup-memory slabs padded by one float per row, so that the
        ///    k-major stores of A (and of B in `A·Bᵀ`) do not all fall in one memory bank, and each
        ///    operand staged by vec4 loads where its offset, leading dimension and contiguous
        ///    dimension are multiples of 4 (one float at a time otherwise).
        Shared64Padded = 5,
    }
}

impl MatmulVariant {
    /// The variant's number.
    pub fn number(self) -> u32 {
        self as u32
    }

    /// The variant numbered `number`.
    pub fn from_number(number: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.number() == number)
    }

    fn shape(self) -> TileShape {
        let square = |shared, tm, pad, vec4| TileShape {
            shared,
            wg_x: 8,
            wg_y: 8,
            tm,
            tn: 8,
            pad,
            vec4,
        };
        match self {
            MatmulVariant::Register32 => square(false, 4, 0, false),
            MatmulVariant::Register64 => square(false, 8, 0, false),
            MatmulVariant::Shared64 => square(true, 8, 0, false),
            MatmulVariant::Shared64Padded => square(true, 8, 1, true),
            MatmulVariant::Narrow8 => TileShape {
                shared: false,
                wg_x: 16,
                wg_y: 2,
                tm: 4,
                tn: 1,
                pad: 0,
                vec4: false,
            },
        }
    }

    /// Whether the variant may pay on a software adapter (lavapipe), where workgroup memory is
    /// plain memory and every workgroup has a fixed cost: the tuner times only these there.
    pub fn suits_software_adapters(self) -> bool {
        matches!(self, MatmulVariant::Register32 | MatmulVariant::Register64)
    }

    /// Whether the variant stages operands through workgroup memory.
    pub fn uses_workgroup_memory(self) -> bool {
        self.shape().shared
    }

    /// `reg 32x64`: the strategy and the rows × columns a workgroup covers (the name in the
    /// tile cache, benchmark records and check tables).
    pub fn name(self) -> String {
        let s = self.shape();
        format!(
            "{} {}x{}{}{}",
            if s.shared { "shared" } else { "reg" },
            self.rows(),
            self.cols(),
            if s.pad > 0 { " padded" } else { "" },
            if s.vec4 { " vec4" } else { "" }
        )
    }

    /// Rows of C a workgroup covers.
    pub fn rows(self) -> u32 {
        let s = self.shape();
        s.wg_y * s.tm
    }

    /// Columns of C a workgroup covers.
    pub fn cols(self) -> u32 {
        let s = self.shape();
        s.wg_x * s.tn
    }

    /// Checks the shape against the shader's fixed arrays and the adapter's limits.
    pub fn check(self, limits: &wgpu::Limits) -> Result<(), String> {
        let s = self.shape();
        let name = self.name();
        if s.tm == 0 || s.tn == 0 || s.wg_x == 0 || s.wg_y == 0 {
            return Err(format!("{name}: zero-sized tile"));
        }
        if !s.shared && !s.tm.is_multiple_of(4) {
            return Err(format!("{name}: register tiles hold rows four to a vec4"));
        }
        if s.tm > 16 || s.tn > 16 || s.tm * s.tn > 128 {
            return Err(format!(
                "{name}: at most 16 rows/columns and 128 outputs per invocation"
            ));
        }
        let invocations = s.wg_x * s.wg_y;
        if invocations > 256 || invocations > limits.max_compute_invocations_per_workgroup {
            return Err(format!("{name}: {invocations} invocations per workgroup"));
        }
        if s.shared {
            if self.rows() > 128 || self.cols() > 128 {
                return Err(format!("{name}: a shared tile covers at most 128x128"));
            }
            if s.vec4 && !(self.rows().is_multiple_of(4) && self.cols().is_multiple_of(4)) {
                return Err(format!(
                    "{name}: vec4 staging needs tiles in multiples of 4"
                ));
            }
            if 16 * (self.rows().max(self.cols()) + s.pad) > 2048 {
                return Err(format!(
                    "{name}: a padded slab exceeds the shader's 2048 floats"
                ));
            }
            if 2 * 2048 * 4 > limits.max_compute_workgroup_storage_size {
                return Err(format!(
                    "{name}: needs 16 KiB of workgroup storage, the device allows {}",
                    limits.max_compute_workgroup_storage_size
                ));
            }
        }
        Ok(())
    }

    /// Workgroups for an `m × n` output.
    pub fn workgroups(self, m: usize, n: usize) -> (u32, u32) {
        (
            (n as u32).div_ceil(self.cols()),
            (m as u32).div_ceil(self.rows()),
        )
    }

    /// A fixed rule for a product of `m` rows (`TilePolicy::Rule`; the engine measures by
    /// default): register tiling on software adapters (measured faster there at every MLP shape;
    /// the larger tile from m = 128 rows), and the workgroup-memory tile on hardware GPUs.
    ///
    /// Measured on lavapipe and not taken (2026-11, Mesa 25.0.7, unchecked modules): an 8x16
    /// micro-tile for the batch-32 weight gradients (slower in the engine's step than alone);
    /// a 4x2 micro-tile for n ≤ 16 (output layer 1.5x faster, 2-3% of a step, but two more
    /// pipelines took the cold start from 3-5 s to 8-9 s).
    pub fn choose(software: bool, m: usize) -> Self {
        match (software, m >= 128) {
            (true, false) => MatmulVariant::Register32,
            (true, true) => MatmulVariant::Register64,
            (false, _) => MatmulVariant::Shared64,
        }
    }

    /// The shader entry point.
    pub fn entry_point(self) -> &'static str {
        if self.shape().shared {
            ENTRY_POINTS[1]
        } else {
            ENTRY_POINTS[0]
        }
    }

    /// The override constants of this variant computing product `t`.
    pub fn constants(self, t: Transpose) -> Vec<(&'static str, f64)> {
        let s = self.shape();
        let mut constants = vec![
            ("TRANS", t.code() as f64),
            ("WG_X", s.wg_x as f64),
            ("WG_Y", s.wg_y as f64),
            ("TM", s.tm as f64),
            ("TN", s.tn as f64),
        ];
        if s.shared {
            constants.push(("PAD", s.pad as f64));
            constants.push(("VEC4", f64::from(u8::from(s.vec4))));
        }
        constants
    }
}
