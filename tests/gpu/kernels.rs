//! The GPU kernels: naga validation of every assembled shader and a layout check of each
//! kernel's `Params`, step record and bindings against its WGSL (no adapter needed), then
//! `verify`'s kernel grid on the adapter (every kernel and matmul variant against its CPU
//! reference in `cpu::ops`, at ragged shapes, every plain product of a small sweep and a model's
//! shapes, outputs poisoned with NaN; bounds in `verify::kernel_grid`: products and softmax-CE 1e-5,
//! optimizer updates 1e-6, gather, counts, predictions and the bits across variants exact), the
//! grid failing on perturbed results, out-of-bounds calls refused, and the per-adapter tile choice.

use gpu_mlp::diagnostics::verify::kernel_grid::{check_kernels, Grid, KernelCheck};
use gpu_mlp::engine::cpu::ops;
use gpu_mlp::engine::gpu::kernels::gather::Gather;
use gpu_mlp::engine::gpu::kernels::matmul::{
    Epilogue, Matmul, MatmulCall, MatmulParams, MatmulVariant, Transpose,
};
use gpu_mlp::engine::gpu::kernels::mutant::Mutant;
use gpu_mlp::engine::gpu::kernels::optimizer::{OptimizerParams, OptimizerUpdate};
use gpu_mlp::engine::gpu::kernels::softmax_cross_entropy::SoftmaxCrossEntropy;
use gpu_mlp::engine::gpu::kernels::{
    storage_slots, Access, Kernel, StepRecord, UniformParams, SHADERS,
};
use gpu_mlp::engine::gpu::{KernelLab, Pipelines};
use gpu_mlp::model::ModelSpec;
use std::sync::Arc;
use support::gpu::lab;

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
    let mut validated = 0;
    for shader in SHADERS {
        let (name, source) = (shader.file, shader.source);
        assert!(
            source.starts_with(gpu_mlp::engine::gpu::kernels::PRELUDE_WGSL),
            "{name} is assembled with the prelude"
        );
        for entry in shader.entry_points {
            if name == Matmul::SHADER.file {
                for t in Transpose::ALL {
                    for variant in MatmulVariant::ALL {
                        if variant.entry_point() == *entry {
                            validate(name, source, entry, &variant.constants(t));
                            validated += 1;
                        }
                    }
                }
            } else {
                validate(name, source, entry, &[]);
                validated += 1;
            }
        }
    }
    assert_eq!(validated, 3 + 3 * MatmulVariant::ALL.len());
}

/// Each mutant's number is the prelude's constant of that name, and every shader validates with
/// each mutant compiled in.
#[test]
fn mutants_are_the_preludes_constants_and_validate() {
    let prelude = gpu_mlp::engine::gpu::kernels::PRELUDE_WGSL;
    assert!(prelude.contains("override MUTANT: u32 = 0u;"));
    for m in Mutant::ALL {
        let line = format!("const {}: u32 = {}u;", m.wgsl_constant(), m as u32);
        assert!(prelude.contains(&line), "the prelude lacks `{line}`");
        for shader in SHADERS {
            let (name, source) = (shader.file, shader.source);
            for entry in shader.entry_points {
                let mut constants = Mutant::constants(Some(m));
                if name == Matmul::SHADER.file {
                    constants.extend(MatmulVariant::Register32.constants(Transpose::A));
                }
                validate(name, source, entry, &constants);
            }
        }
    }
}

#[test]
fn inv_255_constant_matches_the_shader() {
    assert_eq!(ops::INV_255.to_bits(), 0x3b80_8081);
    assert!(Gather::SHADER.source.contains("0x3b808081u"));
}

/// The name, byte offset and size of each member of the WGSL struct `ty`, and its size.
fn wgsl_struct(module: &naga::Module, ty: naga::Handle<naga::Type>) -> (Vec<(String, u32)>, u32) {
    match &module.types[ty].inner {
        naga::TypeInner::Struct { members, span } => (
            members
                .iter()
                .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
                .collect(),
            *span,
        ),
        other => panic!("not a struct: {other:?}"),
    }
}

/// Checks a host struct (its fields' names and offsets, its size) against a WGSL struct: every
/// named field at the same offset, padding (`_pad…`) free to be split differently, same size.
fn same_layout<P: UniformParams>(what: &str, module: &naga::Module, ty: naga::Handle<naga::Type>) {
    let (members, span) = wgsl_struct(module, ty);
    let named = |fields: Vec<(String, u32)>| -> Vec<(String, u32)> {
        fields
            .into_iter()
            .filter(|(name, _)| !name.starts_with("_pad"))
            .collect()
    };
    let host = P::FIELDS
        .iter()
        .map(|&(name, offset)| (name.to_string(), offset as u32))
        .collect();
    assert_eq!(named(host), named(members), "{what}: fields and offsets");
    assert_eq!(
        std::mem::size_of::<P>() as u32,
        span,
        "{what}: size of the host struct against the WGSL struct"
    );
}

/// One kernel's WGSL against its Rust side: `Params` and `Step` (binding 0 and 1, uniform),
/// then each storage binding's index, name and access.
fn reflect<K: Kernel>() {
    let source = K::SHADER.source;
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{}: {}", K::NAME, e.emit_to_string(source)));
    let mut bound: Vec<_> = module
        .global_variables
        .iter()
        .filter_map(|(_, var)| Some((var.binding?, var)))
        .collect();
    bound.sort_by_key(|(b, _)| b.binding);
    let slots = storage_slots::<K>();
    assert_eq!(bound.len(), 2 + slots.len(), "{}: bindings", K::NAME);
    for (index, (binding, var)) in bound.iter().enumerate() {
        let what = format!("{} binding {index}", K::NAME);
        assert_eq!(
            (binding.group, binding.binding),
            (0, index as u32),
            "{what}"
        );
        match index {
            0 | 1 => {
                assert_eq!(var.space, naga::AddressSpace::Uniform, "{what}");
                if index == 0 {
                    same_layout::<K::Params>(&what, &module, var.ty);
                } else {
                    same_layout::<StepRecord>(&what, &module, var.ty);
                }
            }
            _ => {
                let (name, access) = slots[index - 2];
                assert_eq!(var.name.as_deref(), Some(name), "{what}");
                let wgsl_access = match var.space {
                    naga::AddressSpace::Storage { access } => access,
                    other => panic!("{what}: {other:?}, not storage"),
                };
                let expected = match access {
                    Access::Read => naga::StorageAccess::LOAD,
                    Access::ReadWrite => naga::StorageAccess::LOAD | naga::StorageAccess::STORE,
                };
                assert_eq!(wgsl_access, expected, "{what} ({name})");
            }
        }
    }
}

#[test]
fn each_kernels_params_step_and_bindings_match_its_wgsl() {
    // A new kernel is added here and to `SHADERS`.
    reflect::<Matmul>();
    reflect::<Gather>();
    reflect::<SoftmaxCrossEntropy>();
    reflect::<OptimizerUpdate>();
}

fn failures(checks: &[KernelCheck]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| {
            format!(
                "{} {} {}: {:.2e} {}",
                c.kernel, c.shape, c.tile, c.rel_error, c.note
            )
        })
        .collect()
}

/// The ragged shapes and those of a 784-`hidden`-10 model (dropout 0.2) at `batch` rows.
fn grid_with_model(hidden: &[usize], batch: usize, every_product: bool) -> Grid {
    let spec = ModelSpec::new(784, hidden.to_vec(), 10, 0.2).expect("a valid model");
    Grid {
        ragged: true,
        every_product,
        model: Some((spec, batch)),
    }
}

/// `verify`'s grid, the only kernel grid: every check passes on this adapter, every variant
/// runs every product, and every variant gives the first one's bits.
#[test]
fn the_kernel_grid_passes_on_the_adapter() {
    let Some(lab) = lab() else { return };
    let grid = grid_with_model(&[128, 64], 32, true);
    let checks = check_kernels(lab, &grid, 7, None, &mut |_| {});
    let failed = failures(&checks);
    assert!(
        failed.is_empty(),
        "{} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    let limits = lab.ctx.device.limits();
    for variant in MatmulVariant::ALL
        .into_iter()
        .filter(|v| v.check(&limits).is_ok())
    {
        let plain = checks
            .iter()
            .filter(|c| c.kernel.starts_with("matmul") && c.tile == variant.name())
            .count();
        assert!(plain >= 3 * 64, "{}: {plain} products", variant.name());
    }
    for kernel in [
        "gather",
        "softmax-ce dlogits",
        "adam w",
        "sgd w",
        "adam w (n short)",
    ] {
        assert!(
            checks.iter().any(|c| c.kernel == kernel),
            "no {kernel} check"
        );
    }
}

/// The kernels compiled with wgpu's runtime checks (bounds checks, loop bounding) give the same
/// bits as the engine's unchecked build over the whole grid: an access outside a buffer, clamped
/// or zeroed by the checks, would change a result.
#[test]
fn the_kernel_grid_gives_the_same_bits_with_runtime_checks() {
    let Some(lab) = lab() else { return };
    let pipes = Pipelines::with_runtime_checks(&lab.ctx.device, true).expect("checked pipelines");
    let checked = KernelLab::with_pipelines(Arc::clone(&lab.ctx), Arc::new(pipes));
    let grid = grid_with_model(&[65, 17], 33, false);
    let plain = check_kernels(lab, &grid, 9, None, &mut |_| {});
    let with_checks = check_kernels(&checked, &grid, 9, None, &mut |_| {});
    assert_eq!(plain.len(), with_checks.len());
    let failed = failures(&with_checks);
    assert!(failed.is_empty(), "checked build:\n{}", failed.join("\n"));
    let differ: Vec<String> = plain
        .iter()
        .zip(&with_checks)
        .filter(|(a, b)| a.output_bits != b.output_bits)
        .map(|(a, _)| format!("{} {} {}", a.kernel, a.shape, a.tile))
        .collect();
    assert!(differ.is_empty(), "bits differ:\n{}", differ.join("\n"));
    assert!(plain.iter().all(|c| c.output_bits != 0));
}

/// The grid is a check that can fail: a nudged element fails every check it touches.
#[test]
fn the_kernel_grid_fails_perturbed_results() {
    let Some(lab) = lab() else { return };
    let grid = Grid {
        ragged: true,
        every_product: false,
        model: None,
    };
    let checks = check_kernels(lab, &grid, 8, Some("matmul"), &mut |_| {});
    let (matmul, other): (Vec<_>, Vec<_>) =
        checks.iter().partition(|c| c.kernel.starts_with("matmul"));
    assert!(!matmul.is_empty() && !other.is_empty());
    assert!(
        matmul.iter().all(|c| !c.passed),
        "a perturbed product passed"
    );
    assert!(other.iter().all(|c| c.passed), "{:?}", failures(&checks));
    let checks = check_kernels(lab, &grid, 8, Some(""), &mut |_| {});
    assert!(
        checks.iter().all(|c| !c.passed),
        "{} perturbed checks passed",
        checks.iter().filter(|c| c.passed).count()
    );
}

#[test]
fn shapes_reaching_outside_the_buffers_are_refused_before_dispatch() {
    // The pipelines run without wgpu's bounds checks, so the lab must refuse these itself.
    let Some(lab) = lab() else { return };
    let (m, k, n) = (4, 8, 4);
    let a = vec![1.0; m * k];
    let b = vec![1.0; k * n];
    let c = vec![f32::NAN; m * n];
    let v = MatmulVariant::Register32;
    let full = StepRecord::full(1);
    for t in Transpose::ALL {
        let call = MatmulCall::packed(t, m, k, n);
        let p = call.params;
        assert!(lab.matmul(v, &call, &full, &a, &b, &c, &a).is_ok());
        let too_far = [
            MatmulParams { k: 9, ..p },
            MatmulParams { a_off: 1, ..p },
            MatmulParams { b_off: 1, ..p },
            MatmulParams { c_off: 1, ..p },
            MatmulParams {
                epilogue: Epilogue::Bias.into(),
                bias_off: (k * n - 3) as u32,
                ..p
            },
            MatmulParams {
                epilogue: Epilogue::ReluMask.into(),
                aux_off: (m * k) as u32,
                ..p
            },
        ];
        for params in too_far {
            let bad = MatmulCall {
                transpose: t,
                params,
            };
            let got = lab.matmul(v, &bad, &full, &a, &b, &c, &a);
            assert!(got.is_err(), "{t:?} {params:?} was dispatched");
        }
    }
    // The step's batch length replacing m: 5 rows of a layer made for 4.
    let layer = ModelSpec::new(m, vec![], n, 0.0).unwrap().layers()[0];
    let mask = gpu_mlp::model::dropout::DropoutMask::new(0.0);
    let rows = MatmulCall::forward(&layer, 0, m, Epilogue::Bias, mask);
    let (x, flat) = (vec![1.0; 5 * m], vec![1.0; m * n + n]);
    let c5 = vec![f32::NAN; 5 * n];
    let got = lab.matmul(v, &rows, &StepRecord::full(5), &x, &flat, &c5, &x);
    assert!(got.is_err(), "5 rows of 4 dispatched");
    assert!(lab
        .matmul(v, &rows, &StepRecord::full(4), &x, &flat, &c5, &x)
        .is_ok());
    let p = OptimizerParams {
        count: 11,
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
    use gpu_mlp::engine::gpu::tuning::{self, TilePolicy};
    use gpu_mlp::engine::gpu::Product;
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
        assert!(MatmulVariant::ALL.contains(&first.tile(p).unwrap()));
        assert!(text.contains(&p.name()), "{text}");
    }
    assert!(text.contains(&lab.ctx.describe()), "{text}");

    // Again in this process: from memory.
    let again = choose(&path);
    assert_eq!((again.measured, again.note()), (0, None));
    // A later run (another path, same contents): from the file, and the file's choice rules.
    let other = dir.path().join("other.json");
    let forced = MatmulVariant::ALL
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
