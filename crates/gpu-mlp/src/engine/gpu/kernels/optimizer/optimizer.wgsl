// Optimizer update over the flat parameter buffer, in one dispatch (Keras numerics).
//
// Bindings (group 0):
//   0 uniform Params  count (parameters), rule (0 Adam, 1 SGD), β1, β2, 1−β1, 1−β2, ε (host-rounded f32)
//   1 uniform Step    step_size: Adam's bias-corrected α_t (computed on the host), or SGD's lr;
//                     decay: AdamW's lr_t·W (0 for Adam)
//   2 storage rw      params: 4 to a vec4: ⌈count/4⌉ vec4 (buffers padded to 16 bytes)
//   3 storage read    grads: gradients, same layout
//   4 storage rw      moment1: first moments m, same layout (Adam)
//   5 storage rw      moment2: second moments v, same layout (Adam)
// Workgroup: 64 invocations in x, grid-stride over the ⌈count/4⌉ vec4 (the host dispatches few
// workgroups, each invocation looping over several vec4: see optimizer/mod.rs).
// Elements past count in the last vec4 are left as they are.
// Adam: m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g·g; w -= α_t·m / (sqrt(v) + ε), after AdamW's
// w -= decay·w (with decay 0 the bits are Adam's). SGD: w -= lr·g.
// Each lane computes exactly the scalar expression, so results match the CPU reference bit for
// bit wherever it does.

struct Params {
    count: u32, rule: u32, beta1: f32, beta2: f32,
    one_minus_beta1: f32, one_minus_beta2: f32, epsilon: f32, _pad0: u32,
}

@group(0) @binding(2) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> moment1: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> moment2: array<vec4<f32>>;

const WG: u32 = 64u;

@compute @workgroup_size(WG, 1, 1)
fn update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let stride = nwg.x * WG;
    let lr = step.step_size;
    let n4 = (p.count + 3u) / 4u;
    let lanes = vec4<u32>(0u, 1u, 2u, 3u);
    if p.rule == 1u {
        for (var i = gid.x; i < n4; i += stride) {
            let live = vec4<u32>(4u * i) + lanes < vec4<u32>(p.count);
            let wi = params[i];
            params[i] = select(wi, wi - lr * grads[i], live);
        }
        return;
    }
    for (var i = gid.x; i < n4; i += stride) {
        let live = vec4<u32>(4u * i) + lanes < vec4<u32>(p.count);
        let gi = grads[i];
        let m0 = moment1[i];
        let v0 = moment2[i];
        let w0 = params[i];
        let wd = select(w0 - w0 * step.decay, w0, MUTANT == MUTANT_ADAMW_DECAY_DROPPED);
        let mi = p.beta1 * m0 + p.one_minus_beta1 * gi;
        let vi = p.beta2 * v0 + p.one_minus_beta2 * gi * gi;
        moment1[i] = select(m0, mi, live);
        moment2[i] = select(v0, vi, live);
        // PyTorch's ε is added to sqrt(v)/sqrt(1 − β2^t): at t = 1 that is ε·sqrt(1 − β2) here.
        let pytorch = MUTANT == MUTANT_ADAM_PYTORCH_EPSILON;
        let epsilon = select(p.epsilon, 1e-7, MUTANT == MUTANT_ADAM_EPSILON_FIXED);
        let eps = select(epsilon, epsilon * sqrt(p.one_minus_beta2), pytorch);
        params[i] = select(w0, wd - lr * mi / (sqrt(vi) + eps), live);
    }
}
