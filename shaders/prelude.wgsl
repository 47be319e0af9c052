// Prepended to every shader (src/gpu/ops/mod.rs assembles them): the step record and the
// dropout hash, written once.

// One step's values at a dynamic offset of the step table (`ops::StepRecord` on the host).
struct Step {
    start: u32, len: u32, slot: u32, seed: u32,
    step_size: f32, grad_scale: f32, direct: u32, out_base: u32,
    decay: f32, _pad0: u32, _pad1: u32, _pad2: u32,
}

// The dropout hash of src/dropout.rs, bit for bit.
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

