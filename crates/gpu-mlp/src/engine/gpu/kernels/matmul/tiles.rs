//! The matmul's tile strategies (`MatmulVariant`, each an entry point and its override
//! constants) and the products the engine runs them on (`Product`).

/// The shader's entry points (one per kind of tile strategy).
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

    pub(super) fn code(self) -> u32 {
        match self {
            Transpose::None => 0,
            Transpose::B => 1,
            Transpose::A => 2,
        }
    }
}

/// One matrix product as the engine runs it: which product and `m × k × n` at its largest m.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Product {
    pub transpose: Transpose,
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

impl Product {
    pub fn new(transpose: Transpose, m: usize, k: usize, n: usize) -> Self {
        Self { transpose, m, k, n }
    }

    /// `A*B 32x784x128`: the key in the tile cache file.
    pub fn name(&self) -> String {
        format!("{} {}x{}x{}", self.transpose.name(), self.m, self.k, self.n)
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

    /// The override constants of this variant computing product `transpose`.
    pub fn constants(self, transpose: Transpose) -> Vec<(&'static str, f64)> {
        let s = self.shape();
        let mut constants = vec![
            ("TRANS", transpose.code() as f64),
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
