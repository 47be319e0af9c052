//! Training settings a careless user can give: a learning rate that makes training explode, a
//! batch larger than the data. Each stops or is said plainly, never a silent bad model.

use gpu_mlp::engine::cpu::CpuEngine;
use gpu_mlp::engine::gpu::{GpuEngine, GpuOptions};
use gpu_mlp::engine::Engine;
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::model::ModelSpec;
use gpu_mlp::training::{self, Silent, TrainConfig};
use gpu_mlp::Error;

/// A config whose learning rate makes training explode.
fn exploding(optimizer: Optimizer) -> TrainConfig {
    TrainConfig {
        epochs: 2,
        batch_size: 64,
        validation_split: 0.0,
        seed: 1,
        optimizer,
        ..TrainConfig::default()
    }
}

/// Trains `engine` (holding seed `config.seed`'s parameters) with `config` and requires the run
/// to stop with the learning-rate advice.
fn assert_diverges(config: &TrainConfig, engine: &mut dyn Engine) {
    let optimizer = config.optimizer;
    match training::run(config, support::mnist(), engine, &mut Silent) {
        Err(e @ Error::Diverged { .. }) => {
            assert!(e.to_string().contains("lower learning rate"), "{e}")
        }
        Err(e) => panic!("{optimizer:?}: another error: {e}"),
        Ok(report) => panic!(
            "{optimizer:?}: trained to loss {} without complaint",
            report.history.last().map_or(f64::NAN, |r| r.loss)
        ),
    }
}

fn small_spec() -> ModelSpec {
    let data = support::mnist();
    ModelSpec::new(data.features(), vec![32], data.classes(), 0.0).expect("a spec")
}

#[test]
fn an_exploding_loss_stops_training_with_advice() {
    let spec = small_spec();
    for optimizer in [Optimizer::adam(1e9), Optimizer::Sgd { lr: 1e9 }] {
        let config = exploding(optimizer);
        let init = spec.init_parameters(config.seed);
        let mut engine =
            CpuEngine::new(&spec, &init, config.optimizer, config.batch_size).expect("engine");
        assert_diverges(&config, &mut engine);
    }
}

/// The same on the GPU engine: the check lives in the one training loop both engines share.
#[test]
fn an_exploding_loss_stops_gpu_training_with_advice() {
    let Some(lab) = support::gpu::lab() else {
        return;
    };
    let spec = small_spec();
    let config = exploding(Optimizer::adam(1e9));
    let mut engine = GpuEngine::new(
        lab.ctx.clone(),
        Some(lab.pipes.clone()),
        &spec,
        &spec.init_parameters(config.seed),
        config.optimizer,
        config.batch_size,
        GpuOptions::default(),
    )
    .expect("a GPU engine");
    assert_diverges(&config, &mut engine);
}

/// 784-100000000-10: about 80 billion parameters, beyond any machine's memory.
fn huge_spec() -> ModelSpec {
    ModelSpec::new(784, vec![100_000_000], 10, 0.0).expect("a spec")
}

#[test]
fn a_model_larger_than_memory_is_refused_before_allocating() {
    let spec = huge_spec();
    assert!(spec.memory_bytes(7, 64) > spec.parameter_count() as u64 * 4 * 7);
    // No parameters: they would not fit either; the memory check comes first.
    let opened = gpu_mlp::engine::open_engine(
        &gpu_mlp::engine::EngineOptions {
            backend: gpu_mlp::engine::BackendChoice::Cpu,
            ..Default::default()
        },
        &spec,
        &[],
        Optimizer::adam(1e-3),
        64,
    );
    let err = match opened {
        Ok(_) => panic!("an engine for {} opened", spec.describe()),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("784-100000000-10")
            && err.contains("GiB")
            && err.ends_with("use a smaller hidden width (or batch size)"),
        "{err}"
    );
}

#[test]
fn train_refuses_a_huge_hidden_layer_with_the_figures() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .args(["train", "--data", support::MNIST_DIR, "--epochs", "1"])
        .args(["--hidden", "100000000", "--backend", "cpu"])
        .output()
        .expect("run gpu-mlp");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Too large a model is a setting that cannot work: the bad-settings status, not a failure.
    let bad_settings = i32::from(gpu_mlp_cli::exit_status::EXIT_BAD_SETTINGS);
    assert_eq!(out.status.code(), Some(bad_settings), "{stderr}");
    assert!(
        stderr.contains("needs about") && stderr.contains("GiB"),
        "{stderr}"
    );
}

#[test]
fn a_batch_larger_than_the_data_is_said_plainly() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .args(["train", "--data", support::MNIST_DIR, "--epochs", "1"])
        .args([
            "--hidden",
            "8",
            "--batch-size",
            "1000000",
            "--backend",
            "cpu",
        ])
        .output()
        .expect("run gpu-mlp");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("--batch-size 1000000 is more than the 60000 training samples"),
        "{stdout}"
    );
}
