// Batch gather: the step's rows of the resident data set as f32, and their labels.
//
// Bindings (group 0):
//   0 uniform Params  features per sample; input_words: 0 for u8 pixels, 1 for f32 values
//   1 uniform Step    start, len, row_source (dynamic offset)
//   2 storage read    images: the data set's inputs: u8 pixels packed little-endian, 4 per
//                     u32, or f32 values (their bits, one per word), used as they are
//   3 storage read    labels: one u32 per sample
//   4 storage read    order: the epoch's permutation; row r of the batch is sample
//                     order[start + r] (or start + r when `row_source` is 1, for evaluation)
//   5 storage rw      batch_inputs: [len, features] f32, pixel · INV_255 (a multiply, bit-equal to the CPU)
//                     or the value
//   6 storage rw      batch_labels: [len] u32 labels
// Workgroup: 256 invocations in x, grid-stride. Values: one output element each. Pixels: when
// features % 4 == 0 (rows start on a word)
// each invocation turns one u32 word into four outputs (one load, one division per 4 pixels);
// otherwise one output element each. See gather/mod.rs for the grid.

struct Params { features: u32, input_words: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(2) var<storage, read> images: array<u32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read> order: array<u32>;
@group(0) @binding(5) var<storage, read_write> batch_inputs: array<f32>;
@group(0) @binding(6) var<storage, read_write> batch_labels: array<u32>;

// 1/255 rounded to f32, the bits of `cpu::ops::INV_255`.
const INV_255_BITS: u32 = 0x3b808081u;

// Byte `index` of a packed array, given the word that holds it.
fn byte_of(word: u32, index: u32) -> u32 {
    return (word >> ((index & 3u) * 8u)) & 0xffu;
}

// The data set's sample at batch row r: through the epoch's order, or in order for evaluation.
fn sample_of(r: u32) -> u32 {
    if step.row_source != 0u {
        return select(step.start, 0u, MUTANT == MUTANT_EVAL_ROW_OFFSET) + r;
    }
    return order[step.start + r];
}

fn label_of(sample: u32) -> u32 {
    return select(labels[sample], labels[sample] & 0xffu, MUTANT == MUTANT_GATHER_LABEL_BYTE);
}

@compute @workgroup_size(256, 1, 1)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let stride = nwg.x * 256u;
    let inv = bitcast<f32>(INV_255_BITS);
    if p.input_words == 0u && p.features % 4u == 0u {
        let words = p.features / 4u;
        for (var e = gid.x; e < step.len * words; e += stride) {
            let r = e / words;
            let fw = e - r * words;
            let sample = sample_of(r);
            let word = images[sample * words + fw];
            let o = 4u * e;
            batch_inputs[o] = f32(word & 0xffu) * inv;
            batch_inputs[o + 1u] = f32((word >> 8u) & 0xffu) * inv;
            batch_inputs[o + 2u] = f32((word >> 16u) & 0xffu) * inv;
            batch_inputs[o + 3u] = f32(word >> 24u) * inv;
            if fw == 0u {
                batch_labels[r] = label_of(sample);
            }
        }
        return;
    }
    for (var e = gid.x; e < step.len * p.features; e += stride) {
        let r = e / p.features;
        let f = e - r * p.features;
        let sample = sample_of(r);
        let i = sample * p.features + f;
        if p.input_words != 0u && MUTANT != MUTANT_GATHER_VALUES_AS_PIXELS {
            batch_inputs[e] = bitcast<f32>(images[i]);
        } else {
            batch_inputs[e] = f32(byte_of(images[i >> 2u], i)) * inv;
        }
        if f == 0u {
            batch_labels[r] = label_of(sample);
        }
    }
}
