//! Every GPU kernel against its CPU reference (`cpu::ops`), on fresh random inputs at ragged
//! shapes, outputs poisoned with NaN before each dispatch. Plus naga validation of every shader
//! (no adapter needed). All tests share one device and one pipeline set.
//!
//! Bounds (relative error ‖gpu − cpu‖ / ‖cpu‖): matmul variants 1e-5; softmax-CE dlogits 1e-5 and
//! loss sum 1e-5; Adam 1e-5 on parameters and moments; gather and SGD exact; dropout masks exact.

mod gpu_support;

use gpu_mlp::cpu::ops;
use gpu_mlp::dropout::DropoutMask;
use gpu_mlp::gpu::pipelines::{
    Epilogue, MatmulParams, OptimizerParams, Pipelines, RowsAre, StepRecord, SHADERS,
};
use gpu_mlp::gpu::{Tile, Transpose};
use gpu_support::{check_rel, lab, same_bits, Rng};

const TILES: [Tile; 3] = [Tile::REGISTER, Tile::REGISTER_64, Tile::SHARED_64];

fn validate(name: &str, source: &str, entry: &str, constants: &[(&str, f64)]) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    let flags = naga::valid::ValidationFlags::all();
    let caps = naga::valid::Capabilities::empty();
    let info = naga::valid::Validator::new(flags, caps)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    let mut pc = naga::back::PipelineConstants::default();
    for &(k, v) in constants {
        pc.insert(k.to_string(), v);
    }
    let (resolved, _) = naga::back::pipeline_constants::process_overrides(
        &module,
        &info,
        Some((naga::ShaderStage::Compute, entry)),
        &pc,
    )
    .unwrap_or_else(|e| panic!("{name} {entry} {constants:?}: {e}"));
    naga::valid::Validator::new(flags, caps)
        .validate(&resolved)
        .unwrap_or_else(|e| panic!("{name} {entry} {constants:?}: {}", e.emit_to_string(source)));
}

#[test]
fn every_shader_parses_and_validates_with_each_override_set() {
    for (name, source, entries) in SHADERS {
        for entry in *entries {
            if *name == "matmul.wgsl" {
                for t in Transpose::ALL {
                    for tile in TILES {
                        if (*entry == "matmul_shared") == tile.shared {
                            validate(name, source, entry, &Pipelines::matmul_constants(t, tile));
                        }
                    }
                }
            } else {
                validate(name, source, entry, &[]);
            }
        }
    }
}

#[test]
fn inv_255_constant_matches_the_shader() {
    assert_eq!(ops::INV_255.to_bits(), 0x3b80_8081);
    assert!(gpu_mlp::gpu::pipelines::GATHER_WGSL.contains("0x3b808081u"));
}

fn full_step(len: u32) -> StepRecord {
    StepRecord {
        len,
        grad_scale: 1.0 / len as f32,
        ..Default::default()
    }
}

/// Logical (m, k, n) product of each variant vs the CPU reference.
fn cpu_product(t: Transpose, a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut c = vec![f32::NAN; m * n];
    match t {
        Transpose::None => ops::matmul(a, b, &mut c, m, k, n),
        Transpose::B => ops::matmul_a_bt(a, b, &mut c, m, k, n),
        Transpose::A => ops::matmul_at_b(a, b, &mut c, m, k, n),
    }
    c
}

/// Each variant and tile against the reference; and every tile gives the same bits as the first
/// (the engine picks tiles by measured speed, which must not change what it computes).
#[test]
fn matmul_variants_match_the_reference_at_ragged_shapes() {
    let Some(lab) = lab() else { return };
    let mut rng = Rng::new(1);
    let mut cases = 0;
    for t in Transpose::ALL {
        for m in [1, 3, 32, 33] {
            for k in [1, 17, 128, 784] {
                for n in [1, 10, 65, 128] {
                    let a = rng.vec(m * k);
                    let b = rng.vec(k * n);
                    let want = cpu_product(t, &a, &b, m, k, n);
                    let p = MatmulParams::packed(t, m, k, n);
                    let mut first: Option<Vec<f32>> = None;
                    for tile in TILES {
                        let poison = vec![f32::NAN; m * n];
                        let got = lab
                            .matmul(t, tile, &p, &full_step(1), &a, &b, &poison, &a)
                            .unwrap();
                        let name = format!("{t:?} {tile:?} {m}x{k}x{n}");
                        check_rel(&name, &got, &want, 1e-5);
                        match &first {
                            None => first = Some(got),
                            Some(bits) => assert!(
                                same_bits(&got, bits),
                                "{name}: differs in bits from {:?}",
                                TILES[0]
                            ),
                        }
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cases, TILES.len() * 3 * 64);
}

#[test]
fn forward_epilogues_match_bias_relu_and_dropout_masks_are_identical() {
    let Some(lab) = lab() else { return };
    let mut rng = Rng::new(2);
    let mask = DropoutMask::new(0.2);
    for tile in TILES {
        for (rows, fan_in, fan_out) in [(33, 17, 65), (32, 784, 128), (3, 128, 10)] {
            let x = rng.vec(rows * fan_in);
            // W and bias in one flat buffer with an offset, as the engine stores them.
            let offset = 5;
            let mut flat = rng.vec(offset + fan_in * fan_out + fan_out);
            flat[..offset].fill(f32::NAN);
            let w = &flat[offset..offset + fan_in * fan_out];
            let bias = &flat[offset + fan_in * fan_out..];
            let mut p = MatmulParams::packed(Transpose::None, 4096, fan_in, fan_out);
            p.rows_is = RowsAre::M as u32;
            p.b_off = offset as u32;
            p.bias_off = (offset + fan_in * fan_out) as u32;
            p.layer = 1;
            p.threshold = mask.threshold;
            p.scale = mask.scale;
            let mut step = full_step(rows as u32);
            step.seed = 0xdead_beef;
            let poison = vec![f32::NAN; rows * fan_out];
            let mut run = |epilogue: Epilogue| {
                p.epilogue = epilogue as u32;
                lab.matmul(Transpose::None, tile, &p, &step, &x, &flat, &poison, &x)
                    .unwrap()
            };
            let plain = run(Epilogue::Bias);
            let relu = run(Epilogue::BiasRelu);
            let dropped = run(Epilogue::BiasReluDropout);
            for relu_on in [false, true] {
                let mut want = vec![f32::NAN; rows * fan_out];
                ops::dense_forward(&x, w, bias, &mut want, rows, fan_in, fan_out, relu_on);
                let got = if relu_on { &relu } else { &plain };
                check_rel(
                    &format!("forward relu={relu_on} {rows}x{fan_in}x{fan_out}"),
                    got,
                    &want,
                    1e-5,
                );
            }
            // The mask: apply the CPU dropout to the GPU's own ReLU output; must match bit for bit.
            let mut want = relu.clone();
            ops::dropout(&mut want, rows, fan_out, 1, step.seed, mask);
            let same = want
                .iter()
                .zip(&dropped)
                .all(|(a, b)| a.to_bits() == b.to_bits() || (*a == 0.0 && *b == 0.0));
            assert!(
                same,
                "dropout mask differs from the CPU reference ({tile:?} {rows}x{fan_out})"
            );
            let kept = dropped.iter().filter(|v| **v != 0.0).count();
            assert!(kept > 0 && kept < rows * fan_out || rows * fan_out < 50);
        }
    }
}

#[test]
fn backward_mask_epilogue_and_fused_bias_gradient_match() {
    let Some(lab) = lab() else { return };
    let mut rng = Rng::new(3);
    for tile in TILES {
        for (rows, fan_in, fan_out) in [(1, 17, 10), (33, 128, 65), (32, 784, 128), (3, 1, 1)] {
            // dX = dZ·Wᵀ ⊙ mask, W stored [fan_in, fan_out] at an offset in the flat buffer.
            let dz = rng.vec(rows * fan_out);
            let flat = rng.vec(7 + fan_in * fan_out);
            let w = &flat[7..];
            let act: Vec<f32> = rng
                .vec(rows * fan_in)
                .iter()
                .map(|v| v.max(0.0) * 1.25)
                .collect();
            let mut p = MatmulParams::packed(Transpose::B, 4096, fan_out, fan_in);
            p.rows_is = RowsAre::M as u32;
            p.b_off = 7;
            p.epilogue = Epilogue::ReluMask as u32;
            p.scale = 1.25;
            let got = lab
                .matmul(
                    Transpose::B,
                    tile,
                    &p,
                    &full_step(rows as u32),
                    &dz,
                    &flat,
                    &vec![f32::NAN; rows * fan_in],
                    &act,
                )
                .unwrap();
            let mut want = vec![f32::NAN; rows * fan_in];
            ops::matmul_a_bt(&dz, w, &mut want, rows, fan_out, fan_in);
            ops::relu_dropout_backward(&mut want, &act, rows, fan_in, 1.25);
            check_rel(
                &format!("dX {tile:?} {rows}x{fan_out}x{fan_in}"),
                &got,
                &want,
                1e-5,
            );

            // dW and db in one Aᵀ·B product with a ones row; C at an offset in the flat grads.
            let x = rng.vec(rows * fan_in);
            let mut p = MatmulParams::packed(Transpose::A, fan_in + 1, 4096, fan_out);
            p.a_rows = fan_in as u32;
            p.lda = fan_in as u32;
            p.rows_is = RowsAre::K as u32;
            p.c_off = 3;
            let grads = lab
                .matmul(
                    Transpose::A,
                    tile,
                    &p,
                    &full_step(rows as u32),
                    &x,
                    &dz,
                    &vec![f32::NAN; 3 + (fan_in + 1) * fan_out],
                    &x,
                )
                .unwrap();
            let mut dw = vec![f32::NAN; fan_in * fan_out];
            ops::matmul_at_b(&x, &dz, &mut dw, fan_in, rows, fan_out);
            let mut db = vec![f32::NAN; fan_out];
            ops::column_sums(&dz, rows, fan_out, &mut db);
            check_rel(
                &format!("dW {tile:?}"),
                &grads[3..3 + fan_in * fan_out],
                &dw,
                1e-5,
            );
            check_rel(
                &format!("db (column sums) {tile:?}"),
                &grads[3 + fan_in * fan_out..],
                &db,
                1e-5,
            );
            assert!(
                grads[..3].iter().all(|v| v.is_nan()),
                "wrote before its offset"
            );
        }
    }
}

#[test]
fn softmax_cross_entropy_matches_with_partial_batches() {
    let Some(lab) = lab() else { return };
    let mut rng = Rng::new(4);
    for (rows, classes) in [(1, 10), (3, 2), (33, 10), (300, 10), (64, 65)] {
        let logits: Vec<f32> = rng.vec(rows * classes).iter().map(|v| v * 8.0).collect();
        let labels: Vec<u8> = (0..rows)
            .map(|_| (rng.next_u32() % classes as u32) as u8)
            .collect();
        let labels32: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
        // Partial last batch: the buffers hold more rows than this step uses.
        let used = rows - rows / 3;
        let mut step = full_step(used as u32);
        step.slot = 2;
        let out = lab
            .softmax_ce(
                &logits,
                &labels32,
                classes,
                false,
                &step,
                &vec![f32::NAN; rows * classes],
                1,
            )
            .unwrap();
        let mut want = vec![f32::NAN; rows * classes];
        let m = ops::softmax_cross_entropy(
            &logits,
            &labels,
            used,
            classes,
            1.0 / used as f32,
            &mut want,
        );
        check_rel(
            &format!("dlogits {rows}x{classes}"),
            &out.dlogits[..used * classes],
            &want[..used * classes],
            1e-5,
        );
        assert!(
            out.dlogits[used * classes..].iter().all(|v| v.is_nan()),
            "wrote past the batch"
        );
        check_rel("loss sum", &[out.loss_sum], &[m.loss_sum], 1e-5);
        assert_eq!(out.correct, m.correct);
        // Evaluation mode: predictions at out_base, same slot figures.
        step.out_base = 1;
        let ev = lab
            .softmax_ce(
                &logits,
                &labels32,
                classes,
                true,
                &step,
                &vec![f32::NAN; rows * classes],
                used + 1,
            )
            .unwrap();
        for r in 0..used {
            let (_, p) = ops::softmax_cross_entropy_row(
                &logits[r * classes..(r + 1) * classes],
                labels[r] as usize,
            );
            assert_eq!(ev.predictions[1 + r], p as u32, "prediction of row {r}");
        }
        assert_eq!(ev.correct, m.correct);
        check_rel("eval loss sum", &[ev.loss_sum], &[m.loss_sum], 1e-5);
    }
}

#[test]
fn gather_normalises_bit_exactly_through_the_permutation() {
    let Some(lab) = lab() else { return };
    let mut rng = Rng::new(5);
    for (count, features, batch) in [(50, 784, 33), (7, 3, 5), (10, 17, 1)] {
        let images: Vec<u8> = (0..count * features)
            .map(|_| rng.next_u32() as u8)
            .collect();
        let labels: Vec<u8> = (0..count).map(|_| (rng.next_u32() % 10) as u8).collect();
        let mut order: Vec<u32> = (0..count as u32).rev().collect();
        order.rotate_left(3);
        let start = 1;
        let step = StepRecord {
            start: start as u32,
            len: batch as u32,
            ..Default::default()
        };
        let (x, y) = lab
            .gather(
                &images,
                &labels,
                features,
                &order,
                &step,
                &vec![f32::NAN; batch * features],
            )
            .unwrap();
        let mut want_x = vec![f32::NAN; batch * features];
        let mut want_y = vec![0u8; batch];
        ops::gather(
            &images,
            &labels,
            features,
            &order[start..start + batch],
            &mut want_x,
            &mut want_y,
        );
        assert!(same_bits(&x, &want_x), "pixels differ");
        assert_eq!(y, want_y.iter().map(|&l| l as u32).collect::<Vec<_>>());
        // Direct mode (evaluation): rows start.. of the data set.
        let step = StepRecord { direct: 1, ..step };
        let (x, _) = lab
            .gather(
                &images,
                &labels,
                features,
                &order,
                &step,
                &vec![f32::NAN; batch * features],
            )
            .unwrap();
        let direct: Vec<u32> = (start as u32..(start + batch) as u32).collect();
        ops::gather(
            &images,
            &labels,
            features,
            &direct,
            &mut want_x,
            &mut want_y,
        );
        assert!(same_bits(&x, &want_x), "direct pixels differ");
    }
}

#[test]
fn adam_and_sgd_updates_match() {
    let Some(lab) = lab() else { return };
    let mut rng = Rng::new(6);
    let n = 1000 + 17;
    let w = rng.vec(n);
    let g: Vec<f32> = rng.vec(n).iter().map(|v| v * 0.1).collect();
    let m = rng.vec(n).iter().map(|v| v * 0.01).collect::<Vec<_>>();
    let v = rng
        .vec(n)
        .iter()
        .map(|v| v.abs() * 1e-3)
        .collect::<Vec<_>>();
    let opt = gpu_mlp::optimizer::Optimizer::adam(1e-3);
    let step_size = opt.step_size(3);
    let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-7f32);
    let p = OptimizerParams {
        n: n as u32,
        kind: 0,
        beta1: b1,
        beta2: b2,
        one_minus_beta1: 1.0 - b1,
        one_minus_beta2: 1.0 - b2,
        epsilon: eps,
        _pad: 0,
    };
    let step = StepRecord {
        step_size,
        ..Default::default()
    };
    let out = lab.optimizer(&p, &step, &w, &g, &m, &v).unwrap();
    let (mut w2, mut m2, mut v2) = (w.clone(), m.clone(), v.clone());
    ops::adam(&mut w2, &g, &mut m2, &mut v2, step_size, b1, b2, eps);
    check_rel("adam m", &out.m, &m2, 1e-6);
    check_rel("adam v", &out.v, &v2, 1e-6);
    check_rel("adam params", &out.params, &w2, 1e-6);
    let sgd = OptimizerParams {
        n: n as u32,
        kind: 1,
        ..Default::default()
    };
    let step = StepRecord {
        step_size: 0.05,
        ..Default::default()
    };
    let out = lab.optimizer(&sgd, &step, &w, &g, &m, &v).unwrap();
    let mut w3 = w.clone();
    ops::sgd(&mut w3, &g, 0.05);
    check_rel("sgd params", &out.params, &w3, 1e-6);
    assert_eq!(out.m, m, "SGD leaves the moments alone");
    // n short of the buffers (not a multiple of four): the elements past n stay as they were.
    let short = n - 2;
    let part = OptimizerParams {
        n: short as u32,
        ..p
    };
    let step = StepRecord {
        step_size,
        ..Default::default()
    };
    let out = lab.optimizer(&part, &step, &w, &g, &m, &v).unwrap();
    let (mut w4, mut m4, mut v4) = (
        w[..short].to_vec(),
        m[..short].to_vec(),
        v[..short].to_vec(),
    );
    ops::adam(
        &mut w4,
        &g[..short],
        &mut m4,
        &mut v4,
        step_size,
        b1,
        b2,
        eps,
    );
    check_rel("adam params, n short", &out.params[..short], &w4, 1e-6);
    assert_eq!(
        out.params[short..],
        w[short..],
        "parameters past n untouched"
    );
    assert_eq!(out.m[short..], m[short..], "moments past n untouched");
    assert_eq!(out.v[short..], v[short..], "moments past n untouched");
}

#[test]
fn shapes_reaching_outside_the_buffers_are_refused_before_dispatch() {
    // The pipelines run without wgpu's bounds checks, so the lab must refuse these itself.
    let Some(lab) = lab() else { return };
    let (m, k, n) = (4, 8, 4);
    let a = vec![1.0; m * k];
    let b = vec![1.0; k * n];
    let c = vec![f32::NAN; m * n];
    for t in Transpose::ALL {
        let p = MatmulParams::packed(t, m, k, n);
        assert!(lab
            .matmul(t, Tile::REGISTER, &p, &full_step(1), &a, &b, &c, &a)
            .is_ok());
        let too_far = [
            MatmulParams { k: 9, ..p },
            MatmulParams { a_off: 1, ..p },
            MatmulParams { b_off: 1, ..p },
            MatmulParams { c_off: 1, ..p },
            MatmulParams {
                epilogue: Epilogue::Bias as u32,
                bias_off: (k * n - 3) as u32,
                ..p
            },
            MatmulParams {
                epilogue: Epilogue::ReluMask as u32,
                aux_off: (m * k) as u32,
                ..p
            },
        ];
        for bad in too_far {
            let got = lab.matmul(t, Tile::REGISTER, &bad, &full_step(1), &a, &b, &c, &a);
            assert!(got.is_err(), "{t:?} {bad:?} was dispatched");
        }
        // The step's batch length replacing m.
        let rows = MatmulParams {
            rows_is: RowsAre::M as u32,
            ..p
        };
        let got = lab.matmul(t, Tile::REGISTER, &rows, &full_step(5), &a, &b, &c, &a);
        assert!(got.is_err(), "{t:?}: 5 rows of 4 dispatched");
    }
    let p = OptimizerParams {
        n: 11,
        ..Default::default()
    };
    let ten = vec![0.0; 10];
    assert!(lab
        .optimizer(&p, &StepRecord::default(), &ten, &ten, &ten, &ten)
        .is_err());
}

/// The per-adapter tile choice: measured once, kept in the cache file, read back by a later
/// run (another file path stands for another process), and the file's choice is obeyed; an
/// unreadable file is reported and replaced.
#[test]
fn tile_choices_are_measured_once_and_remembered_per_adapter() {
    use gpu_mlp::gpu::tuning::{self, Product, TilePolicy};
    let Some(lab) = lab() else { return };
    let dir = tempfile::tempdir().unwrap();
    let measured = |path: &std::path::Path| TilePolicy::Measured {
        cache: Some(path.to_path_buf()),
    };
    let products = [
        Product::new(Transpose::None, 33, 17, 65),
        Product::new(Transpose::A, 130, 33, 10),
    ];
    let choose = |path: &std::path::Path| {
        tuning::choose(&lab.ctx, &lab.pipes, &products, &measured(path)).unwrap()
    };

    let path = dir.path().join("tiles.json");
    let first = choose(&path);
    assert_eq!(first.measured, 2);
    assert!(
        first.cache_problems.is_empty(),
        "{:?}",
        first.cache_problems
    );
    let note = first.note().unwrap();
    assert!(
        note.contains("2 products") && note.contains("tiles.json"),
        "{note}"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    for p in products {
        assert!(Tile::CANDIDATES.contains(&first.tile(p).unwrap()));
        assert!(text.contains(&p.name()), "{text}");
    }
    assert!(text.contains(&lab.ctx.describe()), "{text}");

    // Again in this process: from memory.
    let again = choose(&path);
    assert_eq!((again.measured, again.note()), (0, None));
    // A later run (another path, same contents): from the file, and the file's choice rules.
    let other = dir.path().join("other.json");
    let forced = Tile::CANDIDATES
        .into_iter()
        .find(|t| Some(*t) != first.tile(products[0]))
        .unwrap();
    let edited = text.replacen(
        &format!("\"tile\": \"{}\"", first.tile(products[0]).unwrap().name()),
        &format!("\"tile\": \"{}\"", forced.name()),
        1,
    );
    assert!(edited.contains(&products[0].name()));
    std::fs::write(&other, &edited).unwrap();
    let later = choose(&other);
    assert_eq!(later.measured, 0);
    // BTreeMap order puts "A*B 33x17x65" before "A^T*B ...", so the first "tile" edited is it.
    assert_eq!(later.tile(products[0]), Some(forced));
    assert_eq!(later.tile(products[1]), first.tile(products[1]));

    // Not a cache file: reported, measured again, replaced by a valid file.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{ half a file").unwrap();
    let fresh = choose(&bad);
    assert_eq!(fresh.measured, 2);
    let note = fresh.note().unwrap();
    assert!(note.contains("not a tile cache"), "{note}");
    let rewritten: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bad).unwrap()).unwrap();
    assert_eq!(rewritten["format"], "gpu-mlp matmul tiles 1");
}
