//! The GPU engine as a whole: lockstep with the CPU engine, determinism, chunked submission,
//! end-to-end training on real MNIST, and engine selection. One device and pipeline set shared.

use gpu_mlp::data::{Dataset, Samples};
use gpu_mlp::engine::cpu::CpuEngine;
use gpu_mlp::engine::gpu::{GpuEngine, GpuOptions};
use gpu_mlp::engine::{self, BackendChoice, EngineOptions};
use gpu_mlp::engine::{Engine, Split, StepMetrics};
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::model::ModelSpec;
use gpu_mlp::training::{self, EpochPlanner, Silent, TrainConfig};
use support::gpu::{check_rel, lab, mnist, same_bits, Rng};

/// A GPU engine on the shared lab device, starting from seed 1's parameters (the tests that
/// compare runs give both engines theirs).
fn gpu_engine(
    spec: &ModelSpec,
    opt: Optimizer,
    batch: usize,
    opts: GpuOptions,
) -> Option<GpuEngine> {
    let lab = lab()?;
    Some(
        GpuEngine::new(
            lab.ctx.clone(),
            Some(lab.pipes.clone()),
            spec,
            &spec.init_parameters(1),
            opt,
            batch,
            opts,
        )
        .unwrap(),
    )
}

/// Real MNIST rows when the shared files exist, else seeded random pixels and labels.
fn training_rows(n: usize) -> Samples {
    if let Some(s) = mnist("train", n) {
        return s;
    }
    eprintln!(
        "MNIST not found at {}; using random data",
        support::gpu::mnist_dir().display()
    );
    let mut rng = Rng::new(9);
    Samples::new(
        gpu_mlp::data::Inputs::Pixels((0..n * 784).map(|_| rng.next_u32() as u8).collect()),
        (0..n).map(|_| (rng.next_u32() % 10) as u16).collect(),
        784,
    )
    .expect("samples")
}

#[test]
fn lockstep_with_the_cpu_engine_for_50_adam_steps_with_dropout() {
    let spec = ModelSpec::new(784, vec![128, 128], 10, 0.2).unwrap();
    let opt = Optimizer::adam(1e-3);
    let Some(mut gpu) = gpu_engine(
        &spec,
        opt,
        32,
        GpuOptions {
            steps_per_submit: 16,
            ..Default::default()
        },
    ) else {
        return;
    };
    // 50 steps, the last one short (19 rows).
    let rows = 49 * 32 + 19;
    let data = training_rows(rows);
    let init = spec.init_parameters(7);
    let mut cpu = CpuEngine::new(&spec, &init, opt, 32).unwrap();
    let plan = EpochPlanner::new(7, rows, 32, opt).next_epoch();
    assert_eq!(plan.steps.len(), 50);
    let run = |engine: &mut dyn Engine| -> (Vec<StepMetrics>, Vec<f32>) {
        engine.load_split(Split::Train, &data).unwrap();
        engine.set_parameters(&init).unwrap();
        let mut calls = 0;
        let metrics = engine
            .train_epoch(&plan, &mut |done, new| {
                calls += 1;
                assert!(done <= 50 && !new.is_empty());
            })
            .unwrap();
        assert!(calls >= 1);
        (metrics, engine.parameters().unwrap())
    };
    let (gm, gp) = run(&mut gpu);
    let (cm, cp) = run(&mut cpu);
    for (i, (g, c)) in gm.iter().zip(&cm).enumerate() {
        let rel = ((g.loss_sum - c.loss_sum) / c.loss_sum).abs();
        assert!(
            rel <= 1e-4,
            "step {}: loss {} (gpu) vs {} (cpu), rel {rel:.2e}",
            i + 1,
            g.loss_sum,
            c.loss_sum
        );
        assert!(
            (g.correct as i64 - c.correct as i64).abs() <= 1,
            "step {}: correct {} vs {}",
            i + 1,
            g.correct,
            c.correct
        );
    }
    check_rel("final parameters after 50 steps", &gp, &cp, 1e-4);
}

#[test]
fn lockstep_with_the_cpu_engine_under_a_warmed_up_cosine_schedule_with_adamw() {
    let spec = ModelSpec::new(784, vec![64], 10, 0.0).unwrap();
    let opt = Optimizer::adamw(3e-3, 1.0);
    let Some(mut gpu) = gpu_engine(&spec, opt, 40, GpuOptions::default()) else {
        return;
    };
    let rows = 400;
    let data = training_rows(rows);
    let init = spec.init_parameters(5);
    let mut cpu = CpuEngine::new(&spec, &init, opt, 40).unwrap();
    let config = TrainConfig {
        epochs: 2,
        batch_size: 40,
        optimizer: opt,
        lr_schedule: "cosine".parse().unwrap(),
        warmup: 6,
        ..TrainConfig::default()
    };
    let mut planner = EpochPlanner::new(5, rows, 40, opt).with_schedule(config.schedule(rows));
    let plans = [planner.next_epoch(), planner.next_epoch()];
    let scheduled: Vec<f32> = plans
        .iter()
        .flat_map(|p| &p.steps)
        .map(|s| s.step_size)
        .collect();
    let unscheduled: Vec<f32> = (1..=20).map(|t| opt.step_size(t)).collect();
    let lowered = scheduled
        .iter()
        .zip(&unscheduled)
        .filter(|(s, u)| s < u)
        .count();
    assert_eq!(
        lowered, 18,
        "all but steps 6 and 7 (factor 1) run below the base rate"
    );
    let run = |engine: &mut dyn Engine| -> (Vec<StepMetrics>, Vec<f32>) {
        engine.load_split(Split::Train, &data).unwrap();
        engine.set_parameters(&init).unwrap();
        let mut metrics = Vec::new();
        for plan in &plans {
            metrics.extend(engine.train_epoch(plan, &mut |_, _| {}).unwrap());
        }
        (metrics, engine.parameters().unwrap())
    };
    let (gm, gp) = run(&mut gpu);
    let (cm, cp) = run(&mut cpu);
    for (i, (g, c)) in gm.iter().zip(&cm).enumerate() {
        let rel = ((g.loss_sum - c.loss_sum) / c.loss_sum).abs();
        assert!(rel <= 1e-4, "step {}: loss rel {rel:.2e}", i + 1);
    }
    check_rel("parameters after 20 scheduled AdamW steps", &gp, &cp, 1e-4);
}

#[test]
fn parameters_and_moments_carried_to_a_fresh_engine_continue_bit_for_bit() {
    let spec = ModelSpec::new(784, vec![32], 10, 0.2).unwrap();
    let opt = Optimizer::adam(2e-3);
    let Some(mut first) = gpu_engine(&spec, opt, 25, GpuOptions::default()) else {
        return;
    };
    let mut second = gpu_engine(&spec, opt, 25, GpuOptions::default()).unwrap();
    let data = training_rows(300);
    support::assert_moments_carry_over(&mut first, &mut second, &spec, opt, &data);
}

#[test]
fn same_seed_gives_identical_bits_whatever_the_chunking() {
    let spec = ModelSpec::new(784, vec![64, 32], 10, 0.3).unwrap();
    let opt = Optimizer::adam(2e-3);
    let Some(mut a) = gpu_engine(&spec, opt, 50, GpuOptions::default()) else {
        return;
    };
    let mut b = gpu_engine(
        &spec,
        opt,
        50,
        GpuOptions {
            steps_per_submit: 3,
            ..Default::default()
        },
    )
    .unwrap();
    let data = training_rows(1000);
    let init = spec.init_parameters(3);
    let mut planner = EpochPlanner::new(3, 1000, 50, opt);
    let plans = [planner.next_epoch(), planner.next_epoch()];
    let run = |engine: &mut GpuEngine| {
        engine.load_split(Split::Train, &data).unwrap();
        engine.set_parameters(&init).unwrap();
        let mut metrics = Vec::new();
        for plan in &plans {
            metrics.extend(engine.train_epoch(plan, &mut |_, _| {}).unwrap());
        }
        let eval = engine.evaluate(Split::Train, 100..900).unwrap();
        (metrics, engine.parameters().unwrap(), eval)
    };
    let first = run(&mut a);
    let again = run(&mut a);
    let chunked = run(&mut b);
    for other in [&again, &chunked] {
        let bits = |m: &[StepMetrics]| {
            m.iter()
                .map(|s| (s.loss_sum.to_bits(), s.correct))
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&first.0), bits(&other.0), "per-step metrics differ");
        assert!(same_bits(&first.1, &other.1), "parameters differ");
        assert_eq!(first.2, other.2, "evaluations differ");
    }
}

#[test]
fn trains_mnist_end_to_end_and_evaluates_like_the_cpu() {
    let (Some(train_rows), Some(test_rows)) = (mnist("train", 10_000), mnist("t10k", 2_000)) else {
        let dir = support::gpu::mnist_dir();
        support::gpu::skip(&format!("MNIST not found at {}", dir.display()));
        return;
    };
    let spec = ModelSpec::new(784, vec![128], 10, 0.2).unwrap();
    let opt = Optimizer::adam(1e-3);
    let Some(mut gpu) = gpu_engine(&spec, opt, 64, GpuOptions::default()) else {
        return;
    };
    // The engine starts from seed 1's parameters; the run starts from seed 42's.
    let data = Dataset::new(
        "mnist",
        (0..10).map(|d| d.to_string()).collect(),
        (28, 28),
        train_rows,
        test_rows,
    )
    .expect("a data set")
    .with_origin(
        gpu_mlp::data::SourceKind::Idx,
        gpu_mlp::data::Scaling::Pixels,
    );
    let config = TrainConfig {
        epochs: 1,
        batch_size: 64,
        validation_split: 0.1,
        seed: 42,
        optimizer: opt,
        ..TrainConfig::default()
    };
    gpu.set_parameters(&spec.init_parameters(42)).unwrap();
    let report = training::run(&config, &data, &mut gpu, &mut Silent).unwrap();
    let record = &report.history[0];
    eprintln!(
        "gpu e2e: train loss {:.4} acc {:.4}, val {:?}, test acc {:.4} ({:.0} samples/s)",
        record.loss,
        record.accuracy,
        record.validation,
        report.test.accuracy(),
        record.samples_per_second
    );
    assert!(
        report.test.accuracy() >= 0.85,
        "test accuracy {}",
        report.test.accuracy()
    );
    assert_eq!(report.test.predictions.len(), 2000);
    // The CPU engine with the GPU's parameters evaluates the same.
    let mut cpu = CpuEngine::new(&spec, &report.parameters, opt, 64).unwrap();
    cpu.load_split(Split::Test, data.test()).unwrap();
    let c = cpu.evaluate(Split::Test, 0..2000).unwrap();
    let g = &report.test;
    assert!(
        (c.loss_sum - g.loss_sum).abs() <= 1e-4 * c.loss_sum,
        "eval loss {} vs {}",
        g.loss_sum,
        c.loss_sum
    );
    let differ = c.prediction_mismatches(g);
    assert!(differ <= 2, "{differ} predictions differ");
}

#[test]
fn batch_too_large_for_the_device_is_a_limit_error() {
    let Some(lab) = lab() else { return };
    let spec = ModelSpec::new(784, vec![128], 10, 0.0).unwrap();
    let huge = (lab.ctx.device.limits().max_storage_buffer_binding_size / (784 * 4) + 1) as usize;
    let err = GpuEngine::new(
        lab.ctx.clone(),
        Some(lab.pipes.clone()),
        &spec,
        &spec.init_parameters(1),
        Optimizer::adam(1e-3),
        huge,
        GpuOptions::default(),
    )
    .err()
    .expect("must fail");
    let text = err.to_string();
    // The advice carries the setting to change, which `gpu-mlp` names `--batch-size`.
    match err {
        gpu_mlp::Error::Gpu(gpu_mlp::error::GpuError::Limit { what, .. }) => {
            assert_eq!(
                what.settings().collect::<Vec<_>>(),
                [gpu_mlp::Setting::BatchSize]
            );
        }
        _ => panic!("not a limit error: {text}"),
    }
    assert!(text.ends_with("use a smaller batch size"), "{text}");
}

#[test]
fn engine_selection_follows_the_adapters() {
    if lab().is_none() {
        return;
    }
    let spec = ModelSpec::new(784, vec![32], 10, 0.0).unwrap();
    let opt = Optimizer::adam(1e-3);
    // The fixed tile rule: a first run on this adapter would otherwise add a note that it timed
    // the tiles (this test is about the engine choice and its note).
    let on = |backend: BackendChoice, adapter: Option<&str>| EngineOptions {
        backend,
        adapter: adapter.map(str::to_string),
        gpu: GpuOptions {
            tiles: gpu_mlp::engine::gpu::TilePolicy::Rule,
            ..GpuOptions::default()
        },
    };
    let init = spec.init_parameters(1);
    let open = |opts: EngineOptions| engine::open_engine(&opts, &spec, &init, opt, 32);
    let cpu = open(on(BackendChoice::Cpu, None)).unwrap();
    assert!(cpu.engine.describe().starts_with("cpu"));
    let adapters = gpu_mlp::engine::gpu::list_adapters(wgpu::Backends::all());
    assert!(!adapters.is_empty());
    if std::env::var_os("WGPU_ADAPTER_NAME").is_none() && std::env::var_os("WGPU_BACKEND").is_none()
    {
        let auto = open(on(BackendChoice::Auto, None)).unwrap();
        if adapters.iter().any(|a| a.is_hardware()) {
            assert!(auto.note.is_none() && !auto.engine.describe().starts_with("cpu"));
        } else {
            let note = engine::software_only_note().to_string();
            assert_eq!(auto.note.as_deref(), Some(note.as_str()));
            assert!(auto.engine.describe().starts_with("cpu"));
        }
    }
    let vk = open(on(BackendChoice::Vulkan, None)).unwrap();
    assert!(
        vk.engine.describe().starts_with("vulkan"),
        "{}",
        vk.engine.describe()
    );
    assert!(vk.note.is_none(), "{:?}", vk.note);
    let missing = open(on(BackendChoice::Vulkan, Some("no such adapter")));
    assert!(matches!(
        missing,
        Err(gpu_mlp::Error::Gpu(
            gpu_mlp::error::GpuError::NoAdapter { .. }
        ))
    ));
}

/// Evaluation as validation and test use it: a range that starts in the middle of a split and
/// spans several evaluation batches. Every sample's prediction and loss (the loss from one-row
/// ranges, on both sides of each batch boundary) agrees with the CPU engine's, and the range's
/// loss is the sum of its samples'.
#[test]
fn evaluation_from_an_offset_over_several_batches_agrees_per_sample() {
    let spec = ModelSpec::new(784, vec![64], 10, 0.2).unwrap();
    let opt = Optimizer::adam(1e-3);
    let eval_batch = 64;
    let opts = GpuOptions {
        eval_batch,
        ..Default::default()
    };
    let Some(mut gpu) = gpu_engine(&spec, opt, 32, opts) else {
        return;
    };
    let params = spec.init_parameters(5);
    let mut cpu = CpuEngine::new(&spec, &params, opt, 32).unwrap();
    let train_rows = training_rows(400);
    let (inputs, mut labels) = training_rows(300).into_parts();
    labels.reverse();
    let test_rows = Samples::new(inputs, labels, 784).unwrap();
    for engine in [&mut gpu as &mut dyn Engine, &mut cpu] {
        engine.load_split(Split::Train, &train_rows).unwrap();
        engine.load_split(Split::Test, &test_rows).unwrap();
        engine.set_parameters(&params).unwrap();
    }
    // 3 full evaluation batches and a short one, from row 37 (validation: the end of Train).
    for (split, range) in [
        (Split::Train, 37..37 + 3 * eval_batch + 21),
        (Split::Test, 250..300),
    ] {
        let g = gpu.evaluate(split, range.clone()).unwrap();
        let c = cpu.evaluate(split, range.clone()).unwrap();
        assert_eq!(g.count, range.len());
        assert_eq!(g.predictions, c.predictions, "{split:?} {range:?}");
        assert_eq!(g.correct, c.correct);
        check_rel(
            "range loss",
            &[g.loss_sum as f32],
            &[c.loss_sum as f32],
            1e-5,
        );
        let mut per_sample = 0.0;
        for row in range.clone() {
            let g1 = gpu.evaluate(split, row..row + 1).unwrap();
            let c1 = cpu.evaluate(split, row..row + 1).unwrap();
            assert_eq!(g1.predictions, c1.predictions, "{split:?} row {row}");
            check_rel(
                &format!("row {row} loss"),
                &[g1.loss_sum as f32],
                &[c1.loss_sum as f32],
                1e-5,
            );
            per_sample += g1.loss_sum;
        }
        check_rel(
            "range vs its samples",
            &[g.loss_sum as f32],
            &[per_sample as f32],
            1e-5,
        );
    }
}
