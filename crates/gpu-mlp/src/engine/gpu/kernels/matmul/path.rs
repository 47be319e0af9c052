//! The product's paths (see `kernels::paths`): the three products, the epilogues, dropout at a
//! low and a high rate, the step's batch length in m or k, the ones row of the bias gradient and
//! operands at offsets.

use super::{Epilogue, Transpose};
use crate::engine::gpu::kernels::paths::Path;
use crate::model::dropout::DropoutMask;

const K: &str = "matmul";

pub const A_B: Path = Path::new(K, "A*B", &["TRANS"]);
pub const A_BT: Path = Path::new(K, "A*B^T", &["TRANS"]);
pub const AT_B: Path = Path::new(K, "A^T*B", &["TRANS"]);
pub const NO_EPILOGUE: Path = Path::new(K, "epilogue none", &["p.epilogue"]);
pub const BIAS: Path = Path::new(K, "epilogue bias", &["p.epilogue", "p.bias_off"]);
pub const BIAS_RELU: Path = Path::new(K, "epilogue bias relu", &["p.epilogue", "p.bias_off"]);
pub const BIAS_RELU_DROPOUT: Path = Path::new(
    K,
    "epilogue bias relu dropout",
    &[
        "p.epilogue",
        "p.layer",
        "p.threshold",
        "p.scale",
        "step.seed",
    ],
);
/// Dropout below rate 0.5 and at 0.5 or above: the threshold and scale are the step's data.
pub const DROPOUT_LOW_RATE: Path = Path::new(K, "dropout rate < 0.5", &["p.threshold", "p.scale"]);
pub const DROPOUT_HIGH_RATE: Path =
    Path::new(K, "dropout rate >= 0.5", &["p.threshold", "p.scale"]);
pub const RELU_MASK: Path = Path::new(K, "epilogue relu-mask", &["p.epilogue", "p.aux_off"]);
/// The ReLU backward of a layer with dropout: the mask's scale multiplies the gradient.
pub const RELU_MASK_SCALED: Path = Path::new(K, "relu-mask scaled (dropout)", &["p.scale"]);
/// The product at the shape it was made for.
pub const FULL_SHAPE: Path = Path::new(K, "full shape", &["p.step_rows"]);
/// The step's batch length replaces m (forward, input gradient) ...
pub const STEP_ROWS_M: Path = Path::new(K, "step rows in m", &["p.step_rows", "step.len"]);
/// ... or k (weight gradient).
pub const STEP_ROWS_K: Path = Path::new(K, "step rows in k", &["p.step_rows", "step.len"]);
/// A short last batch: fewer rows than the buffers and grid were made for.
pub const SHORT_BATCH: Path = Path::new(K, "short last batch", &["step.len"]);
/// Rows of op(A) past `a_rows` read as ones: the bias gradient.
pub const ONES_ROW: Path = Path::new(K, "ones row (bias gradient)", &["p.a_rows"]);
/// Operands at offsets of one flat buffer, aligned for the vec4 loads.
pub const OFFSETS_VEC4: Path = Path::new(
    K,
    "operands at offsets, vec4 loads",
    &["VEC4", "p.a_off", "p.b_off", "p.c_off"],
);

pub const ALL: &[Path] = &[
    A_B,
    A_BT,
    AT_B,
    NO_EPILOGUE,
    BIAS,
    BIAS_RELU,
    BIAS_RELU_DROPOUT,
    DROPOUT_LOW_RATE,
    DROPOUT_HIGH_RATE,
    RELU_MASK,
    RELU_MASK_SCALED,
    FULL_SHAPE,
    STEP_ROWS_M,
    STEP_ROWS_K,
    SHORT_BATCH,
    ONES_ROW,
    OFFSETS_VEC4,
];

/// The reads that only size the product or pick its tile.
pub const SHAPE_READS: &[&str] = &[
    "p.m", "p.k", "p.n", "p.lda", "p.ldb", "p.ldc", "WG_X", "WG_Y", "TM", "TN", "PAD",
];

/// The path of a product.
pub fn product(t: Transpose) -> Path {
    match t {
        Transpose::None => A_B,
        Transpose::B => A_BT,
        Transpose::A => AT_B,
    }
}

/// The path of an epilogue.
pub fn epilogue(e: Epilogue) -> Path {
    match e {
        Epilogue::None => NO_EPILOGUE,
        Epilogue::Bias => BIAS,
        Epilogue::BiasRelu => BIAS_RELU,
        Epilogue::BiasReluDropout => BIAS_RELU_DROPOUT,
        Epilogue::ReluMask => RELU_MASK,
    }
}

/// The rate path of a dropout mask (none when it drops nothing).
pub fn dropout_rate(mask: DropoutMask) -> Option<Path> {
    if mask.threshold == 0 {
        None
    } else if mask.threshold < 1 << 31 {
        Some(DROPOUT_LOW_RATE)
    } else {
        Some(DROPOUT_HIGH_RATE)
    }
}
