// Prepended to every shader (kernels/mod.rs assembles them): the bindings every kernel
// shares, the step record and the dropout hash, written once.

// One step's values at a dynamic offset of the step table (`kernels::StepRecord` on the host).
struct Step {
    start: u32, len: u32, slot: u32, seed: u32,
    step_size: f32, grad_scale: f32, row_source: u32, out_base: u32,
    decay: f32, _pad0: u32, _pad1: u32, _pad2: u32,
}

// Group 0 of every kernel: 0 its own `Params` (each shader declares the struct), 1 its step
// record; its storage buffers follow from binding 2.
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;

// The dropout hash of model/dropout.rs, bit for bit.
fn mix32(x0: u32) -> u32 {
    var x = x0;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

fn dropout_hash(seed: u32, layer: u32, index: u32) -> u32 {
    return mix32(seed ^ mix32((layer + 0x9e3779b9u) ^ mix32(index)));
}


// Fault injection for testing `verify` (kernels/mutant.rs): 0, the default, is the correct
// kernel, and every `MUTANT == ...` branch folds away; GPU_MLP_MUTANT sets one of these.
override MUTANT: u32 = 0u;
const MUTANT_MATMUL_SKIP_LAST_K: u32 = 1u;
const MUTANT_MATMUL_NO_BIAS: u32 = 2u;
const MUTANT_RELU_MASK_INVERTED: u32 = 3u;
const MUTANT_RELU_MASK_ROW_OFFSET: u32 = 4u;
const MUTANT_DROPOUT_UNSCALED: u32 = 5u;
const MUTANT_ADAM_PYTORCH_EPSILON: u32 = 6u;
const MUTANT_SOFTMAX_NO_MAX_SHIFT: u32 = 7u;
const MUTANT_SHORT_BATCH_UNMASKED: u32 = 8u;
const MUTANT_BIAS_GRADIENT_DROPPED: u32 = 9u;
const MUTANT_EVAL_ROW_OFFSET: u32 = 10u;
const MUTANT_ADAMW_DECAY_DROPPED: u32 = 11u;
const MUTANT_ADAM_EPSILON_FIXED: u32 = 12u;
const MUTANT_GATHER_VALUES_AS_PIXELS: u32 = 13u;
const MUTANT_GATHER_LABEL_BYTE: u32 = 14u;
const MUTANT_SOFTMAX_OUT_BASE_IGNORED: u32 = 15u;
const MUTANT_DROPOUT_RATE_FIXED: u32 = 16u;
const MUTANT_RELU_MASK_UNSCALED: u32 = 17u;
