// Tiled matrix product with a fused epilogue: C[m,n] = epilogue(op(A)·op(B)).
//
// Bindings (group 0):
//   0 uniform Params  shapes, leading dimensions, offsets (in f32 elements), epilogue
//   1 uniform Step    this step's record (dynamic offset): `len` replaces m (step_rows = 1) or k
//                     (step_rows = 2), `seed` drives the dropout epilogue
//   2 storage read    a: A, [m,k] row-major with stride lda (TRANS 0, 1) or [k,m] (TRANS 2)
//   3 storage read    b: B, [k,n] with stride ldb (TRANS 0, 2) or [n,k] (TRANS 1); also holds
//                     the bias at bias_off (forward: b is the flat parameter buffer)
//   4 storage rw      c: C, [m,n] row-major with stride ldc
//   5 storage read    aux: the layer's activation for the ReLU/dropout backward mask
//   6, 7 storage read a4, b4: the buffers of a and b again, as vec4 (matmul_shared with VEC4)
// Override constants (each distinct set is one pipeline):
//   TRANS 0 = A·B (forward), 1 = A·Bᵀ (dX = dZ·Wᵀ), 2 = Aᵀ·B (dW = Xᵀ·dZ)
//   WG_X, WG_Y workgroup size (WG_X·WG_Y ≤ 256); TM×TN outputs per invocation (matmul_reg:
//   TM ∈ {4, 8, 12, 16}, TN ≤ 16, TM·TN ≤ 128; matmul_shared: TM, TN ≤ 16, TM·TN ≤ 128)
//   PAD (matmul_shared) floats between the rows of the workgroup slabs: with 1, the k-major
//   stores of a 64-wide slab (invocations e, e+1 at k, k+1) fall in different memory banks
//   instead of all in one; BK·(WG_Y·TM + PAD) and BK·(WG_X·TN + PAD) ≤ 2048
//   VEC4 (matmul_shared) stages an operand four floats per load where its layout allows (offset
//   and leading dimension multiples of 4, and its contiguous dimension too, so that a vec4 lies
//   wholly inside or wholly outside the shape), one float at a time otherwise (a uniform branch
//   per operand and dispatch); both stage the same values. Needs WG_Y·TM and WG_X·TN multiples
//   of 4
// Entry points:
//   matmul_reg    register tiling only; a workgroup covers (WG_Y·TM) rows × (WG_X·TN) columns
//   matmul_shared the same tile staged through workgroup memory, BK = 16 deep slabs
//                 (needs WG_Y·TM ≤ 128 and WG_X·TN ≤ 128)
// Invocation (lx, ly) owns rows (wg.y·WG_Y + ly)·TM + i and columns wg.x·WG_X·TN + lx + j·WG_X,
// so neighbouring invocations touch neighbouring columns. Reads are clamped into the valid range
// (no branch in the inner loop) and only valid outputs are written.
// Rows i in [a_rows, m) of op(A) read as 1.0: with m = fan_in + 1 the Aᵀ·B product also writes the
// column sums of B (the bias gradient) into row fan_in of C, which is where the flat layout keeps
// the bias after W.
// matmul_reg keeps K one step at a time: unrolling it by 4 (no vec4 loads) ran about 2x slower
// on lavapipe (more live registers per invocation).
// Both entry points accumulate each output as the same chain fma(a_q, b_q, acc) for q = 0..k-1
// (the shared tile's zero padding past k adds exact zeros), so every tile gives the same bits and
// the per-adapter tile choice (gpu/tuning.rs) changes speed only, never results.
// Epilogues (uniform branch): 0 none, 1 +bias, 2 +bias then ReLU, 3 +bias, ReLU, inverted dropout
// (`dropout_hash` of the prelude, model/dropout.rs's hash), 4 backward mask c = aux > 0 ? v·scale : 0.

struct Params {
    m: u32, k: u32, n: u32, step_rows: u32,
    a_rows: u32, lda: u32, ldb: u32, ldc: u32,
    a_off: u32, b_off: u32, c_off: u32, aux_off: u32,
    bias_off: u32, epilogue: u32, layer: u32, threshold: u32,
    scale: f32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read> aux: array<f32>;
@group(0) @binding(6) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> b4: array<vec4<f32>>;

override TRANS: u32 = 0u;
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;
override TM: u32 = 8u;
override TN: u32 = 8u;
override PAD: u32 = 0u;
override VEC4: bool = false;

const BK: u32 = 16u;

var<workgroup> sa: array<f32, 2048>; // [BK][WG_Y·TM + PAD]
var<workgroup> sb: array<f32, 2048>; // [BK][WG_X·TN + PAD]

struct Dims { m: u32, a_rows: u32, k: u32 }

fn dims() -> Dims {
    let by_step = MUTANT != MUTANT_SHORT_BATCH_UNMASKED;
    let m = select(p.m, step.len, by_step && p.step_rows == 1u);
    let a_rows = select(p.a_rows, step.len, by_step && p.step_rows == 1u);
    var k = select(p.k, step.len, by_step && p.step_rows == 2u);
    if MUTANT == MUTANT_MATMUL_SKIP_LAST_K && k > 1u {
        k -= 1u;
    }
    return Dims(m, a_rows, k);
}

// What rows i in [a_rows, m) of op(A) read: ones (the bias gradient's row).
fn ones_row() -> f32 {
    return select(1.0, 0.0, MUTANT == MUTANT_BIAS_GRADIENT_DROPPED);
}

fn bias(j: u32) -> f32 {
    return select(b[p.bias_off + j], 0.0, MUTANT == MUTANT_MATMUL_NO_BIAS);
}

// op(A)[i, q] for a row i already clamped below a_rows.
fn load_a(i: u32, q: u32) -> f32 {
    if TRANS == 2u {
        return a[p.a_off + q * p.lda + i];
    }
    return a[p.a_off + i * p.lda + q];
}

// op(B)[q, j] for a column j already clamped below n.
fn load_b(q: u32, j: u32) -> f32 {
    if TRANS == 1u {
        return b[p.b_off + j * p.ldb + q];
    }
    return b[p.b_off + q * p.ldb + j];
}

fn epilogue(i: u32, j: u32, v: f32) -> f32 {
    switch p.epilogue {
        case 1u: {
            return v + bias(j);
        }
        case 2u: {
            return max(v + bias(j), 0.0);
        }
        case 3u: {
            let s = max(v + bias(j), 0.0);
            let threshold = select(p.threshold, 0x80000000u, MUTANT == MUTANT_DROPOUT_RATE_FIXED);
            if dropout_hash(step.seed, p.layer, i * p.n + j) >= threshold {
                return select(s * p.scale, s, MUTANT == MUTANT_DROPOUT_UNSCALED);
            }
            return 0.0;
        }
        case 4u: {
            let row = select(i, max(i, 1u) - 1u, MUTANT == MUTANT_RELU_MASK_ROW_OFFSET);
            let live = aux[p.aux_off + row * p.ldc + j] > 0.0;
            if live != (MUTANT == MUTANT_RELU_MASK_INVERTED) {
                return select(v * p.scale, v, MUTANT == MUTANT_RELU_MASK_UNSCALED);
            }
            return 0.0;
        }
        default: {
            return v;
        }
    }
}

fn store(row0: u32, col0: u32, m: u32, acc: ptr<function, array<f32, 128>>) {
    for (var ii = 0u; ii < TM; ii++) {
        let i = row0 + ii;
        for (var jj = 0u; jj < TN; jj++) {
            let j = col0 + jj * WG_X;
            if i < m && j < p.n {
                c[p.c_off + i * p.ldc + j] = epilogue(i, j, (*acc)[ii * TN + jj]);
            }
        }
    }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_reg(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let d = dims();
    if wg.y * WG_Y * TM >= d.m {
        return;
    }
    let row0 = (wg.y * WG_Y + lid.y) * TM;
    let col0 = wg.x * WG_X * TN + lid.x;
    // Rows are held four to a vec4 (TM/4 of them), so every loop below has at most TN or TM/4
    // iterations and unrolls into plain registers.
    var ra: array<vec4<u32>, 4>;
    var ones: array<vec4<bool>, 4>;
    for (var r = 0u; r < TM / 4u; r++) {
        let i = vec4<u32>(row0 + 4u * r) + vec4<u32>(0u, 1u, 2u, 3u);
        ra[r] = min(i, vec4<u32>(d.a_rows - 1u));
        ones[r] = i >= vec4<u32>(d.a_rows);
    }
    var cb: array<u32, 16>;
    for (var jj = 0u; jj < TN; jj++) {
        cb[jj] = min(col0 + jj * WG_X, p.n - 1u);
    }
    var acc: array<vec4<f32>, 32>; // [TM/4][TN]
    var av: array<vec4<f32>, 4>;
    for (var q = 0u; q < d.k; q++) {
        for (var r = 0u; r < TM / 4u; r++) {
            let i = ra[r];
            let v = vec4<f32>(load_a(i.x, q), load_a(i.y, q), load_a(i.z, q), load_a(i.w, q));
            av[r] = select(v, vec4<f32>(ones_row()), ones[r]);
        }
        for (var jj = 0u; jj < TN; jj++) {
            let bv = vec4<f32>(load_b(q, cb[jj]));
            for (var r = 0u; r < TM / 4u; r++) {
                acc[r * TN + jj] = fma(av[r], bv, acc[r * TN + jj]);
            }
        }
    }
    for (var r = 0u; r < TM / 4u; r++) {
        for (var jj = 0u; jj < TN; jj++) {
            let j = col0 + jj * WG_X;
            let v = acc[r * TN + jj];
            for (var e = 0u; e < 4u; e++) {
                let i = row0 + 4u * r + e;
                if i < d.m && j < p.n {
                    c[p.c_off + i * p.ldc + j] = epilogue(i, j, v[e]);
                }
            }
        }
    }
}

// The workgroup slabs of matmul_shared: sa[kk][ii] = op(A)[tile_row + ii, k0 + kk] and
// sb[kk][jj] = op(B)[k0 + kk, tile_col + jj], zeros past k; rows from a_rows read ones_row(),
// rows and columns past the shape read clamped values (their outputs are never stored).
// Load e of a slab `width` wide fills `per` consecutive elements from (kk, ii) = slab_at(...):
// along the slab's row when the operand is stored with that dimension contiguous (`along`:
// consecutive invocations read consecutive addresses), else along k.
fn slab_at(e: u32, width: u32, along: bool, per: u32) -> vec2<u32> {
    if along {
        return vec2<u32>(e / (width / per), per * (e % (width / per)));
    }
    return vec2<u32>(per * (e % (BK / per)), e / (BK / per));
}

// Where element c of the load at `at` goes in a slab with rows `ld` apart.
fn slab_index(at: vec2<u32>, c: u32, ld: u32, along: bool) -> u32 {
    return select((at.x + c) * ld + at.y, at.x * ld + at.y + c, along);
}

// The vec4 holding element (q, r) of an operand at `off` with rows `ld` apart: stored [k, rows]
// (`along`) or [rows, k], clamped into the shape (a multiple of 4 in the contiguous dimension).
fn vec4_at(off: u32, ld: u32, along: bool, q: u32, k: u32, r: u32, rows: u32) -> u32 {
    if along {
        return (off + min(q, k - 1u) * ld + min(r, rows - 4u)) / 4u;
    }
    return (off + min(r, rows - 1u) * ld + min(q, k - 4u)) / 4u;
}

fn stage_a(k0: u32, tile_row: u32, tid: u32, d: Dims) {
    let bm = WG_Y * TM;
    for (var e = tid; e < bm * BK; e += WG_X * WG_Y) {
        let at = slab_at(e, bm, TRANS == 2u, 1u);
        let i = tile_row + at.y;
        let q = min(k0 + at.x, d.k - 1u);
        let v = select(load_a(min(i, d.a_rows - 1u), q), ones_row(), i >= d.a_rows);
        sa[at.x * (bm + PAD) + at.y] = select(0.0, v, k0 + at.x < d.k);
    }
}

fn stage_b(k0: u32, tile_col: u32, tid: u32, d: Dims) {
    let bn = WG_X * TN;
    for (var e = tid; e < bn * BK; e += WG_X * WG_Y) {
        let at = slab_at(e, bn, TRANS != 1u, 1u);
        let q = min(k0 + at.x, d.k - 1u);
        let v = load_b(q, min(tile_col + at.y, p.n - 1u));
        sb[at.x * (bn + PAD) + at.y] = select(0.0, v, k0 + at.x < d.k);
    }
}

// stage_a's slab, four floats per load: four consecutive rows i (A stored [k, m]) or four
// consecutive k (A stored [m, k]). With a_rows (or k) a multiple of 4 a vec4 lies wholly below
// it or wholly at or past it, so one select per vec4 gives stage_a's values.
fn stage_a_vec4(k0: u32, tile_row: u32, tid: u32, d: Dims) {
    let bm = WG_Y * TM;
    let along = TRANS == 2u;
    for (var e = tid; e < bm * BK / 4u; e += WG_X * WG_Y) {
        let at = slab_at(e, bm, along, 4u);
        let i = tile_row + at.y;
        let q = k0 + at.x;
        var v = a4[vec4_at(p.a_off, p.lda, along, q, d.k, i, d.a_rows)];
        v = select(v, vec4<f32>(ones_row()), i >= d.a_rows);
        v = select(vec4<f32>(0.0), v, q < d.k);
        for (var c = 0u; c < 4u; c++) {
            sa[slab_index(at, c, bm + PAD, along)] = v[c];
        }
    }
}

// stage_b's slab, four floats per load: four consecutive columns (B stored [k, n]) or four
// consecutive k (B stored [n, k]), with n (or k) a multiple of 4.
fn stage_b_vec4(k0: u32, tile_col: u32, tid: u32, d: Dims) {
    let bn = WG_X * TN;
    let along = TRANS != 1u;
    for (var e = tid; e < bn * BK / 4u; e += WG_X * WG_Y) {
        let at = slab_at(e, bn, along, 4u);
        let j = tile_col + at.y;
        let q = k0 + at.x;
        let v = select(vec4<f32>(0.0), b4[vec4_at(p.b_off, p.ldb, along, q, d.k, j, p.n)], q < d.k);
        for (var c = 0u; c < 4u; c++) {
            sb[slab_index(at, c, bn + PAD, along)] = v[c];
        }
    }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_shared(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let d = dims();
    let bm = WG_Y * TM;
    let bn = WG_X * TN;
    let lda_s = bm + PAD;
    let ldb_s = bn + PAD;
    if wg.y * bm >= d.m {
        return;
    }
    let tid = lid.y * WG_X + lid.x;
    let tile_row = wg.y * bm;
    let tile_col = wg.x * bn;
    // Whether each operand's vec4 reads stay aligned and wholly inside or outside its shape.
    let a_vec4 = VEC4 && p.a_off % 4u == 0u && p.lda % 4u == 0u
        && select(d.k, d.a_rows, TRANS == 2u) % 4u == 0u;
    let b_vec4 = VEC4 && p.b_off % 4u == 0u && p.ldb % 4u == 0u
        && select(p.n, d.k, TRANS == 1u) % 4u == 0u;
    var acc: array<f32, 128>;
    var av: array<f32, 16>;
    for (var k0 = 0u; k0 < d.k; k0 += BK) {
        if a_vec4 {
            stage_a_vec4(k0, tile_row, tid, d);
        } else {
            stage_a(k0, tile_row, tid, d);
        }
        if b_vec4 {
            stage_b_vec4(k0, tile_col, tid, d);
        } else {
            stage_b(k0, tile_col, tid, d);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            for (var ii = 0u; ii < TM; ii++) {
                av[ii] = sa[kk * lda_s + lid.y * TM + ii];
            }
            for (var jj = 0u; jj < TN; jj++) {
                let bv = sb[kk * ldb_s + lid.x + jj * WG_X];
                for (var ii = 0u; ii < TM; ii++) {
                    acc[ii * TN + jj] = fma(av[ii], bv, acc[ii * TN + jj]);
                }
            }
        }
        workgroupBarrier();
    }
    store(tile_row + lid.y * TM, tile_col + lid.x, d.m, &acc);
}
