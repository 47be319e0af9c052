// Softmax + sparse cross-entropy + dlogits in one pass (max-shifted log-sum-exp), and the batch's
// loss sum and correct count written to the step's slot without atomics (fixed-order tree sum).
//
// Bindings (group 0):
//   0 uniform Params  classes, mode (0 training: write dlogits; 1 evaluation: write predictions)
//   1 uniform Step    len (rows), slot, grad_scale (= 1/len, from the host), out_base
//   2 storage read    logits: [len, classes]
//   3 storage read    labels: [len] u32
//   4 storage rw      dlogits: [len, classes], (softmax − onehot)·grad_scale (training)
//   5 storage rw      slots: array<Slot>; slots[slot] = (loss sum, correct count)
//   6 storage rw      predictions: arg-max class of row r at out_base + r (evaluation)
// Workgroup: one workgroup of 256 invocations; invocation t handles rows t, t+256, ...; then a
// tree reduction in workgroup memory. Dispatch exactly (1, 1, 1).

struct Params { classes: u32, mode: u32, _pad0: u32, _pad1: u32 }

struct Slot { loss_sum: f32, correct: u32 }

@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(5) var<storage, read_write> slots: array<Slot>;
@group(0) @binding(6) var<storage, read_write> predictions: array<u32>;

const WG: u32 = 256u;
var<workgroup> sh_loss: array<f32, 256>;
var<workgroup> sh_correct: array<u32, 256>;

@compute @workgroup_size(256, 1, 1)
fn softmax_ce(@builtin(local_invocation_index) t: u32) {
    let classes = p.classes;
    var loss = 0.0;
    var correct = 0u;
    for (var r = t; r < step.len; r += WG) {
        let base = r * classes;
        let label = labels[r];
        // First maximum, as cpu::ops::arg_max.
        var mx = logits[base];
        var am = 0u;
        for (var cl = 1u; cl < classes; cl++) {
            let v = logits[base + cl];
            if v > mx {
                mx = v;
                am = cl;
            }
        }
        let shift = select(mx, 0.0, MUTANT == MUTANT_SOFTMAX_NO_MAX_SHIFT);
        var sum = 0.0;
        for (var cl = 0u; cl < classes; cl++) {
            sum += exp(logits[base + cl] - shift);
        }
        loss += log(sum) + shift - logits[base + label];
        correct += select(0u, 1u, am == label);
        if p.mode == 0u {
            for (var cl = 0u; cl < classes; cl++) {
                let prob = exp(logits[base + cl] - shift) / sum;
                dlogits[base + cl] = (prob - select(0.0, 1.0, cl == label)) * step.grad_scale;
            }
        } else {
            let base = select(step.out_base, 0u, MUTANT == MUTANT_SOFTMAX_OUT_BASE_IGNORED);
            predictions[base + r] = am;
        }
    }
    sh_loss[t] = loss;
    sh_correct[t] = correct;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if t < s {
            sh_loss[t] += sh_loss[t + s];
            sh_correct[t] += sh_correct[t + s];
        }
        workgroupBarrier();
    }
    if t == 0u {
        slots[step.slot] = Slot(sh_loss[0], sh_correct[0]);
    }
}
