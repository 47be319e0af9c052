// Optimizer update over the flat parameter buffer, in one dispatch (Keras numerics).
//
// Bindings (group 0):
//   0 uniform Params  n (parameters), kind (0 Adam, 1 SGD), β1, β2, 1−β1, 1−β2, ε (host-rounded f32)
//   1 uniform Step    step_size: Adam's bias-corrected α_t (computed on the host), or SGD's lr
//   2 storage rw      w: parameters [n]
//   3 storage read    g: gradients [n]
//   4 storage rw      m: first moments [n] (Adam)
//   5 storage rw      v: second moments [n] (Adam)
// Workgroup: 256 invocations in x, grid-stride over n.
// Adam: m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g·g; w -= α_t·m / (sqrt(v) + ε). SGD: w -= lr·g.

struct Params {
    n: u32, kind: u32, beta1: f32, beta2: f32,
    one_minus_beta1: f32, one_minus_beta2: f32, epsilon: f32, _pad0: u32,
}

struct Step {
    start: u32, len: u32, slot: u32, seed: u32,
    step_size: f32, grad_scale: f32, direct: u32, out_base: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> m: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let stride = nwg.x * 256u;
    let lr = step.step_size;
    if p.kind == 1u {
        for (var i = gid.x; i < p.n; i += stride) {
            w[i] -= lr * g[i];
        }
        return;
    }
    for (var i = gid.x; i < p.n; i += stride) {
        let gi = g[i];
        let mi = p.beta1 * m[i] + p.one_minus_beta1 * gi;
        let vi = p.beta2 * v[i] + p.one_minus_beta2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] -= lr * mi / (sqrt(vi) + p.epsilon);
    }
}
