//! `gpu-mlp devices`, `verify` and `bench` as a user runs them (the binary), plus the timestamp
//! path of the step profile checked against the wall clock. On the Vulkan adapter (lavapipe in
//! CI; `WGPU_BACKEND` picks another API); with `CI=true` a missing adapter fails instead of
//! skipping.

use gpu_mlp::data::Samples;
use gpu_mlp::engine::gpu::kernels::mutant::{self, Mutant};
use gpu_mlp::engine::gpu::timing::{timestamp_method, TimestampMethod};
use gpu_mlp::engine::gpu::{DeviceNeeds, GpuContext, GpuEngine, GpuOptions};
use gpu_mlp::engine::BackendChoice;
use gpu_mlp::engine::{Engine, Split};
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::model::ModelSpec;
use serde_json::Value;
use std::sync::Arc;
use support::gpu::{gpu_mlp, gpu_mlp_json, Rng};

/// The `--backend` value of the adapter under test: `WGPU_BACKEND` when it names one API.
fn backend() -> String {
    match std::env::var("WGPU_BACKEND").map(|v| v.trim().to_lowercase()) {
        Ok(v) if ["vulkan", "metal", "dx12", "gl"].contains(&v.as_str()) => v,
        _ => "vulkan".to_string(),
    }
}

/// True when `gpu-mlp devices` lists an adapter of the backend under test; false (skip) when
/// not, unless `CI=true`, where that fails the test.
fn adapter_present() -> bool {
    let out = gpu_mlp(&["devices", "--backend", &backend(), "--json"], &[]);
    out.succeeded("devices");
    let list: Value = serde_json::from_slice(&out.stdout).expect("devices --json prints JSON");
    let present = list.as_array().is_some_and(|a| !a.is_empty());
    if !present {
        support::gpu::skip(&format!("no {} adapter", backend()));
    }
    present
}

fn assert_adapter_fields(adapter: &Value) {
    for key in [
        "name",
        "backend",
        "device_type",
        "vendor",
        "driver",
        "driver_info",
    ] {
        assert!(adapter[key].is_string(), "adapter.{key} missing: {adapter}");
    }
    assert!(!adapter["name"].as_str().unwrap_or("").is_empty());
    assert!(adapter["limits"]["max_storage_buffer_binding_size"].is_u64());
}

#[test]
fn verify_passes_on_the_adapter_and_reports_it() {
    if !adapter_present() {
        return;
    }
    let out = gpu_mlp_json(&["verify", "--backend", &backend(), "--steps", "12"], &[]);
    let shown = out.succeeded("verify");
    assert!(shown.contains("max abs err") && shown.contains("rel err") && shown.contains("bound"));
    assert!(shown.contains("PASS:"), "{shown}");
    assert!(shown.contains("worst layer"), "{shown}");
    let report = out.json();
    assert_eq!(report["format"], "gpu-mlp-verify/2");
    assert_eq!(report["passed"], true);
    assert_adapter_fields(&report["adapter"]);
    assert!(report["build"]["git_commit"].is_string());
    let kernels = report["kernels"].as_array().expect("kernel checks");
    for name in [
        "matmul A*B",
        "gather",
        "softmax-ce dlogits",
        "adam w",
        "sgd w",
    ] {
        assert!(
            kernels.iter().any(|k| k["kernel"] == name),
            "no {name} check"
        );
    }
    assert!(kernels.iter().any(|k| k["shape"]
        .as_str()
        .is_some_and(|s| s.contains("784x128 (model L0 train)"))));
    // Every kernel path was run by some check (the coverage test: a path verify stops running
    // fails here).
    let listed = gpu_mlp::engine::gpu::kernels::all_paths();
    let paths = report["paths"].as_array().expect("paths covered");
    assert_eq!(paths.len(), listed.len());
    for path in &listed {
        let id = path.id();
        let ran = kernels
            .iter()
            .filter(|k| {
                k["paths"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p == &id))
            })
            .count();
        assert!(ran > 0, "no verify check runs the path '{id}'");
        assert!(paths.iter().any(|p| p["path"] == id && p["checks"] == ran));
    }
    assert_eq!(report["paths_missed"].as_array().map(Vec::len), Some(0));
    assert!(shown.contains(&format!("kernel paths: {0} of {0} run", listed.len())));
    // Lockstep runs with Adam, SGD under a schedule and AdamW under another with dropout
    // toggled; every tensor judged on its own, Adam's moments too.
    let runs = report["lockstep"].as_array().expect("lockstep runs");
    let optimizers: Vec<&str> = runs
        .iter()
        .filter_map(|l| l["optimizer"].as_str())
        .collect();
    assert_eq!(runs.len(), 3, "{optimizers:?}");
    assert!(optimizers[0].starts_with("Adam(") && optimizers[1].starts_with("SGD"));
    assert!(optimizers[2].starts_with("AdamW"));
    assert_eq!(runs[0]["schedule"], "constant");
    assert_eq!(runs[1]["schedule"], "step:3:0.5, warm-up 4");
    assert_eq!(runs[2]["schedule"], "cosine, warm-up 2");
    let took = |run: usize, path: &str| {
        runs[run]["paths"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p == path))
    };
    assert!(took(1, "optimizer: scheduled step size") && took(1, "optimizer: sgd"));
    assert!(took(2, "optimizer: adamw, decay > 0") && !took(2, "optimizer: adam, decay 0"));
    assert!(took(0, "matmul: epilogue bias relu dropout") && took(0, "optimizer: adam, decay 0"));
    assert!(
        !took(2, "matmul: epilogue bias relu dropout"),
        "dropout toggled off"
    );
    assert!(took(0, "gather: rows direct from an offset") && took(0, "softmax_ce: metrics slot"));
    let mut lockstep_checks = 0;
    for (lockstep, tensors) in runs.iter().zip([12, 4, 12]) {
        assert_eq!(lockstep["steps"], 12);
        assert!(lockstep["worst_layer"]["name"].is_string());
        assert!(!lockstep["rows"].as_array().expect("rows").is_empty());
        let layers = lockstep["layers"].as_array().expect("tensors");
        assert_eq!(
            layers.len(),
            tensors,
            "W and b of both layers (and m and v of each)"
        );
        let checks = lockstep["checks"].as_array().expect("checks");
        for t in layers {
            let name = t["name"].as_str().expect("tensor name");
            assert!(t["bound"].as_f64().is_some_and(|b| b > 0.0));
            assert!(
                checks
                    .iter()
                    .any(|c| c["name"].as_str().is_some_and(|n| n.starts_with(name))),
                "{name} is not judged"
            );
        }
        lockstep_checks += checks.len();
    }
    assert_eq!(
        report["checks"].as_u64(),
        Some((kernels.len() + lockstep_checks) as u64)
    );
}

#[test]
fn verify_exits_1_when_a_kernel_is_perturbed() {
    if !adapter_present() {
        return;
    }
    let args = [
        "verify",
        "--backend",
        &backend(),
        "--steps",
        "0",
        "--hidden",
        "17",
    ];
    let out = gpu_mlp_json(&args, &[("GPU_MLP_VERIFY_PERTURB", "matmul")]);
    let shown = &out.shown;
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("FAIL"), "{shown}");
    assert!(shown.contains("failed verification"), "{shown}");
    let report = out.json();
    assert_eq!(report["passed"], false);
    assert_eq!(report["perturbed"], "matmul");
    let kernels = report["kernels"].as_array().expect("kernel checks");
    // Every matmul check fails, every other one still passes: the checker sees the one element.
    for k in kernels {
        let is_matmul = k["kernel"]
            .as_str()
            .is_some_and(|n| n.starts_with("matmul"));
        assert_eq!(k["passed"], !is_matmul, "{k}");
    }
}

/// Fault injection on the device: every mutant kernel (a plausible bug compiled into the
/// shader) makes `verify` say so first, fail with exit status 1, and fail checks of that kernel
/// only; an unknown mutant is refused. (Without a mutant it passes: the test above.)
#[test]
fn verify_fails_every_mutant_kernel_and_names_it() {
    if !adapter_present() {
        return;
    }
    let args = ["verify", "--backend", &backend(), "--steps", "12"];
    for m in Mutant::ALL {
        let out = gpu_mlp_json(&args, &[(mutant::ENV, m.name())]);
        let shown = &out.shown;
        assert_eq!(out.status.code(), Some(1), "{} passed:\n{shown}", m.name());
        let first = shown.lines().next().unwrap_or_default();
        assert!(
            first.contains(m.name()) && first.contains("WRONG on purpose"),
            "{first}"
        );
        let report = out.json();
        assert_eq!(report["mutant"], m.name());
        assert_eq!(report["passed"], false);
        let failed: Vec<&str> = report["kernels"]
            .as_array()
            .expect("kernel checks")
            .iter()
            .filter(|k| k["passed"] == false)
            .filter_map(|k| k["kernel"].as_str())
            .collect();
        assert!(!failed.is_empty(), "{}: no kernel check failed", m.name());
        assert!(
            failed.iter().all(|k| k.starts_with(m.kernel())),
            "{} broke {:?}, expected only {}",
            m.name(),
            failed,
            m.kernel()
        );
    }
    let out = gpu_mlp(&args, &[(mutant::ENV, "no-such-bug")]);
    assert_ne!(out.status.code(), Some(0));
    assert!(out.shown.contains("names no mutant"), "{}", out.shown);
}

#[test]
fn bench_quick_writes_a_complete_record_that_compares_to_itself_as_one() {
    if !adapter_present() {
        return;
    }
    let args = [
        "bench",
        "--backend",
        &backend(),
        "--quick",
        "--repeats",
        "1",
    ];
    let out = gpu_mlp_json(&args, &[]);
    out.succeeded("bench");
    let record = out.json();
    assert_eq!(record["format"], "gpu-mlp-bench/1");
    assert_eq!(record["backend"], backend());
    assert_adapter_fields(&record["adapter"]);
    for key in ["version", "git_commit"] {
        assert!(record["build"][key].is_string(), "build.{key}");
    }
    assert!(record["kernel_timing"].is_string());
    let figures = record["figures"].as_array().expect("figures");
    for f in figures {
        for key in ["name", "group", "unit"] {
            assert!(f[key].is_string(), "{key} of {f}");
        }
        for key in ["median", "min", "max"] {
            assert!(f[key].as_f64().is_some_and(f64::is_finite), "{key} of {f}");
        }
        assert!(f["runs"].as_u64().is_some_and(|r| r >= 1));
    }
    let has = |group: &str, unit: &str| {
        figures
            .iter()
            .any(|f| f["group"] == group && f["unit"] == unit)
    };
    assert!(has("startup", "s") && has("matmul", "GFLOP/s"));
    assert!(has("train", "samples/s") && has("train", "%") && has("train", "us"));
    assert!(figures
        .iter()
        .any(|f| f["note"].as_str().is_some_and(|n| n.contains("chosen"))));
    for net in [
        "784-128-10, dropout 0.2",
        "784-50-50-10",
        "784-128-128-128-10",
    ] {
        let name = format!("{net}, batch 32: throughput");
        assert!(figures.iter().any(|f| f["name"] == name), "no {name}");
    }

    let path = out.json_path();
    let compared = gpu_mlp(&["bench", "--from", path, "--compare", path], &[]);
    let shown = compared.succeeded("bench --compare");
    let ratios: Vec<&str> = shown
        .lines()
        .skip_while(|l| !l.contains("new/old"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert_eq!(ratios.len(), figures.len(), "{shown}");
    for line in ratios {
        let tail: Vec<&str> = line.split_whitespace().rev().take(2).collect();
        assert_eq!(tail, ["1.00x", "1.00"], "{line}");
    }
    assert!(shown.contains("geometric mean speed-up 1.00x"), "{shown}");
}

/// `train --verify`'s check: the model's shapes and 10 lockstep steps on the adapter; nothing to
/// check on the CPU engine.
#[test]
fn quick_check_passes_on_the_adapter_and_skips_the_cpu_engine() {
    let spec = ModelSpec::new(784, vec![50, 50], 10, 0.0).expect("spec");
    let opt = Optimizer::adam(1e-3);
    let cpu = gpu_mlp::diagnostics::verify::quick_check(
        BackendChoice::Cpu,
        None,
        &spec,
        opt,
        32,
        1,
        None,
    );
    assert!(matches!(cpu, Ok(None)), "{cpu:?}");
    if !adapter_present() {
        return;
    }
    let choice: BackendChoice = backend().parse().expect("a backend name");
    let report = gpu_mlp::diagnostics::verify::quick_check(choice, None, &spec, opt, 32, 1, None)
        .expect("the adapter passes")
        .expect("a GPU was checked");
    assert!(report.passed);
    assert!(report.kernels.iter().all(|k| k.shape.contains("(model")));
    let steps: Vec<usize> = report.lockstep.iter().map(|l| l.steps).collect();
    assert_eq!(steps, [10, 10, 10], "Adam, SGD and AdamW");
}

#[test]
fn bench_refuses_a_file_that_is_not_a_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"format\": \"something else\"}").expect("write");
    let out = gpu_mlp(&["bench", "--from", bad.to_str().expect("utf-8")], &[]);
    assert_eq!(out.status.code(), Some(1));
    let shown = &out.shown;
    assert!(shown.contains("not a gpu-mlp bench record"), "{shown}");
    assert!(!shown.contains("panicked"), "{shown}");
}

/// The timestamp path against the wall clock: device time of back-to-back steps may not exceed
/// the wall time of the same submission (over-reporting), and must cover most of it for a step
/// big enough to keep the device busy (under-reporting, e.g. timestamps that miss the work
/// between passes or are written before the work is done). With `CI=true` an adapter without
/// timestamp queries fails the test (lavapipe has them) after checking that the engine refuses
/// the timestamp profile cleanly.
#[test]
fn step_timestamps_agree_with_the_wall_clock() {
    // Both ways of placing the timestamps: between the dispatches of one pass, and (a device
    // opened without TIMESTAMP_QUERY_INSIDE_PASSES, as on Apple GPUs) a pass per dispatch.
    for features in [
        wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES,
        wgpu::Features::TIMESTAMP_QUERY,
    ] {
        if !timestamps_agree(features) {
            return;
        }
    }
}

/// The attempts at the figures a loaded machine can spoil (the wall clock stretches when other
/// processes take the CPU a software adapter runs on): one must pass.
const TIMING_ATTEMPTS: usize = 3;

/// One device opened with `features` (where the adapter has them); false when skipped.
fn timestamps_agree(features: wgpu::Features) -> bool {
    let needs = DeviceNeeds {
        optional_features: features,
        ..DeviceNeeds::default()
    };
    let ctx = match GpuContext::open(Some(support::gpu::backends()), None, &needs) {
        Ok(ctx) => Arc::new(ctx),
        Err(e) => {
            support::gpu::skip(&format!("no usable GPU adapter: {e}"));
            return false;
        }
    };
    let spec = ModelSpec::new(784, vec![128], 10, 0.2).expect("spec");
    let batch = 256;
    let mut engine = GpuEngine::new(
        Arc::clone(&ctx),
        None,
        &spec,
        &spec.init_parameters(1),
        Optimizer::adam(1e-3),
        batch,
        GpuOptions::default(),
    )
    .expect("engine");
    let mut rng = Rng::new(11);
    let data = Samples::new(
        gpu_mlp::data::Inputs::Pixels((0..batch * 784).map(|_| rng.next_u32() as u8).collect()),
        (0..batch).map(|_| (rng.next_u32() % 10) as u16).collect(),
        784,
    )
    .expect("samples");
    engine.load_split(Split::Train, &data).expect("load");
    let Some(method) = timestamp_method(&ctx) else {
        // What can be checked without timestamps: the profile is refused, not made up.
        assert!(engine.profile_step_timestamps(2).is_err());
        support::gpu::skip(&format!("{} has no timestamp queries", ctx.describe()));
        return false;
    };
    let expected = if features.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES) {
        method
    } else {
        TimestampMethod::PassPerDispatch
    };
    assert_eq!(method, expected);
    let mut spoiled = Vec::new();
    for _ in 0..TIMING_ATTEMPTS {
        match timing_attempt(&mut engine, &ctx, method, batch) {
            Ok(()) => return true,
            Err(e) => spoiled.push(e),
        }
    }
    panic!(
        "timestamps disagree with the wall clock in all {TIMING_ATTEMPTS} attempts:\n{}",
        spoiled.join("\n")
    );
}

/// One profile by timestamps and one by the wall clock. Panics on what no load can cause (a
/// malformed profile, over-reporting); returns what a load can (under-reporting, a kernel's two
/// timings apart) as an error.
fn timing_attempt(
    engine: &mut GpuEngine,
    ctx: &GpuContext,
    method: TimestampMethod,
    batch: usize,
) -> Result<(), String> {
    let p = engine
        .profile_step_timestamps(6)
        .expect("timestamp profile");
    assert_eq!(p.batch, batch);
    assert_eq!(p.spans.len(), 6);
    let names: Vec<&str> = p.kernels.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"gather"));
    assert_eq!(names.last(), Some(&"optimizer"));
    assert!(names.iter().any(|n| n.starts_with("forward0")));
    for (name, times) in &p.kernels {
        assert!(
            times.iter().all(|t| *t > 0.0 && t.is_finite()),
            "{name}: {times:?}"
        );
    }
    if method == TimestampMethod::InsidePass {
        // Consecutive timestamps: the kernels tile the span exactly.
        for (sum, span) in p.kernel_sums().iter().zip(&p.spans) {
            assert!((sum - span).abs() <= 1e-9 + 1e-6 * span, "{sum} vs {span}");
        }
    }
    let busy = p.busy();
    // Device time inside wall time: a load stretches the wall clock, never the reverse.
    assert!(
        busy <= 1.05,
        "timestamps over-report: {:.1} ms of device time in {:.1} ms of wall time per step",
        p.spans.iter().sum::<f64>() / p.spans.len() as f64 * 1e3,
        p.wall * 1e3
    );
    if ctx.is_software() && busy < 0.5 {
        // On a software adapter the device is the CPU: a back-to-back run keeps it busy.
        return Err(format!("timestamps under-report: busy {busy:.2}"));
    }
    // The largest kernel timed inside the step and alone (wall clock) agree within a factor 3.
    let alone = engine.profile_step(5).expect("wall-clock profile");
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (name, stamped) = p
        .kernels
        .iter()
        .map(|(n, t)| (n.clone(), median(t)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("kernels");
    let wall = alone
        .kernels
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .expect("the same dispatch in the wall-clock profile");
    if stamped < 3.0 * wall && wall < 3.0 * stamped {
        Ok(())
    } else {
        Err(format!(
            "{name}: {:.0} us (timestamps) vs {:.0} us (wall clock, alone)",
            stamped * 1e6,
            wall * 1e6
        ))
    }
}

/// `bench --sweep --quick` on `engine`: a record with the peak and, for every point of the
/// quick grid, its throughput and achieved rate (or a line saying why it was skipped), a plot
/// that is a real picture, and a record that compares to itself as 1.
fn sweep_writes_record_and_plot(engine: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let png = dir.path().join("sweep.png");
    let png_arg = png.to_str().expect("utf-8");
    let args = [
        "bench",
        "--backend",
        engine,
        "--sweep",
        "--quick",
        "--repeats",
        "1",
    ];
    let out = gpu_mlp_json(&[&args[..], &["--plot", png_arg]].concat(), &[]);
    let shown = out.succeeded("bench --sweep");
    let record = out.json();
    let figures = record["figures"].as_array().expect("figures");
    assert!(figures.iter().all(|f| f["group"] == "sweep"), "{shown}");
    let peak = figures
        .iter()
        .find(|f| {
            f["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("sweep peak"))
        })
        .and_then(|f| f["median"].as_f64())
        .expect("a peak figure");
    assert!(peak.is_finite() && peak > 0.0, "peak {peak}");
    let sweep = gpu_mlp::diagnostics::bench::sweep::SweepOptions::new(true);
    let mut measured = 0;
    for &width in &sweep.widths {
        for &batch in &sweep.batches {
            let point = format!("sweep 784-{width}-{width}-10, batch {batch}");
            let find = |what: &str| {
                let name = format!("{point}: {what}");
                figures.iter().find(|f| f["name"] == name.as_str())
            };
            match (find("throughput"), find("achieved")) {
                (Some(rate), Some(achieved)) => {
                    measured += 1;
                    assert!(rate["median"].as_f64().is_some_and(|v| v > 0.0), "{rate}");
                    let gflops = achieved["median"].as_f64().expect("achieved");
                    assert!(gflops > 0.0 && gflops < 10.0 * peak, "{achieved}");
                    let note = achieved["note"].as_str().unwrap_or("");
                    assert!(note.ends_with("% of the peak"), "{achieved}");
                }
                _ => assert!(
                    shown.contains(&format!("{point}: skipped")),
                    "{point} neither measured nor skipped:\n{shown}"
                ),
            }
        }
    }
    assert!(measured >= 2, "at most one point measured:\n{shown}");
    let plot = image::open(&png).expect("the plot is a PNG").to_rgb8();
    assert_eq!(plot.dimensions(), (1200, 500));
    // Both panels carry the first line's colour (matplotlib blue).
    for half in [0..600, 600..1200] {
        let blue = half
            .flat_map(|x| (0..500).map(move |y| (x, y)))
            .filter(|&(x, y)| plot.get_pixel(x, y).0 == [31, 119, 180])
            .count();
        assert!(blue > 50, "a panel without its first line ({blue} pixels)");
    }
    let json = out.json_path();
    let compared = gpu_mlp(&["bench", "--from", json, "--compare", json], &[]);
    let shown = compared.succeeded("bench --compare");
    assert!(shown.contains("geometric mean speed-up 1.00x"), "{shown}");
}

#[test]
fn sweep_on_the_cpu_engine_writes_record_and_plot() {
    sweep_writes_record_and_plot("cpu");
}

#[test]
fn sweep_on_the_adapter_writes_record_and_plot() {
    if !adapter_present() {
        return;
    }
    sweep_writes_record_and_plot(&backend());
}
