//! What the command line's integration tests share: a slice of real MNIST and a model trained
//! on it in a few seconds (once per test binary), hand-drawn digit pictures, running the built
//! `gpu-mlp` binary, signals to a running one; the GPU device and its skip count ([`gpu`]), and
//! a loopback HTTP server ([`loopback`]).

pub mod gpu;
pub mod loopback;

use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::data::{self, Dataset, KnownDataset, Samples};
use gpu_mlp::engine::Engine;
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::model::ModelSpec;
use gpu_mlp::training::{self, Silent, TrainConfig, TrainReport, Trainer};
use gpu_mlp::BackendChoice;
use image::{Rgb, RgbImage};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Where CI and the developers keep MNIST (relative to this crate's root, as to the command
/// line's).
pub const MNIST_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/mnist");

/// Training samples used by the fixture model: enough for ~95% test accuracy in seconds.
pub const TRAIN_SAMPLES: usize = 12_000;
/// Test samples the fixture keeps.
pub const TEST_SAMPLES: usize = 2_000;

/// The first `n` samples of `s` (all of them when it has fewer).
pub fn take(s: &Samples, n: usize) -> Samples {
    s.first(n)
}

/// The fixture's MNIST cut to `train` and `test` rows.
pub fn small_mnist(train: usize, test: usize) -> Dataset {
    let full = mnist();
    full.clone()
        .with_train(take(full.train(), train))
        .expect("a train split")
        .with_test(take(full.test(), test))
        .expect("a test split")
}

/// The first `TRAIN_SAMPLES` training and `TEST_SAMPLES` test samples of real MNIST.
pub fn mnist() -> &'static Dataset {
    static DATA: OnceLock<Dataset> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = Path::new(MNIST_DIR);
        assert!(
            dir.is_dir(),
            "MNIST is expected at {} (relative to the crate root)",
            dir.display()
        );
        let full = data::load_dir(dir, Some(KnownDataset::Mnist)).expect("MNIST loads");
        let (train, test) = (
            take(full.train(), TRAIN_SAMPLES),
            take(full.test(), TEST_SAMPLES),
        );
        full.with_train(train)
            .expect("a train split")
            .with_test(test)
            .expect("a test split")
    })
}

/// The fixture's training settings.
pub fn config() -> TrainConfig {
    TrainConfig {
        epochs: 3,
        batch_size: 32,
        validation_split: 0.0,
        seed: 7,
        optimizer: Optimizer::adam(1e-3),
        ..TrainConfig::default()
    }
}

/// A 784-64-10 model trained on `mnist()` with the CPU engine, and its report.
pub fn trained() -> &'static (Checkpoint, TrainReport) {
    static MODEL: OnceLock<(Checkpoint, TrainReport)> = OnceLock::new();
    MODEL.get_or_init(|| {
        let data = mnist();
        let spec = ModelSpec::new(data.features(), vec![64], data.classes(), 0.0).unwrap();
        let cfg = config();
        let report = Trainer::new(spec.clone())
            .config(cfg.clone())
            .backend(BackendChoice::Cpu)
            .fit(data, &mut Silent)
            .unwrap();
        assert!(
            report.test.accuracy() > 0.9,
            "the fixture model should learn MNIST, got {}",
            report.test.accuracy()
        );
        let mut ckpt = Checkpoint::for_dataset(spec, report.parameters.clone(), data);
        ckpt.metadata = BTreeMap::from([
            ("epochs".to_string(), cfg.epochs.to_string()),
            (
                "test_accuracy".to_string(),
                format!("{:.6}", report.test.accuracy()),
            ),
        ]);
        (ckpt, report)
    })
}

/// Stamps a filled disc of radius `r` at every point along the polyline `points`.
pub fn stroke(img: &mut RgbImage, points: &[(f32, f32)], r: f32, ink: Rgb<u8>) {
    for pair in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        let steps = ((x1 - x0).hypot(y1 - y0).ceil() as usize).max(1);
        for s in 0..=steps {
            let t = s as f32 / steps as f32;
            let (cx, cy) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
            let (lo_x, hi_x) = ((cx - r).floor().max(0.0) as u32, (cx + r).ceil() as u32);
            let (lo_y, hi_y) = ((cy - r).floor().max(0.0) as u32, (cy + r).ceil() as u32);
            for y in lo_y..=hi_y.min(img.height() - 1) {
                for x in lo_x..=hi_x.min(img.width() - 1) {
                    if (x as f32 - cx).hypot(y as f32 - cy) <= r {
                        img.put_pixel(x, y, ink);
                    }
                }
            }
        }
    }
}

/// Hand-drawn digits as a person would draw them on a 280 × 280 white canvas with a thick dark
/// pen, not centred and not MNIST-sized: `(digit, picture)`.
pub fn hand_drawn_digits() -> Vec<(usize, RgbImage)> {
    let canvas = || RgbImage::from_pixel(280, 280, Rgb([255, 255, 255]));
    let navy = Rgb([20, 30, 90]);
    let black = Rgb([0, 0, 0]);
    let mut seven = canvas();
    stroke(
        &mut seven,
        &[(60.0, 50.0), (200.0, 50.0), (150.0, 140.0), (110.0, 240.0)],
        11.0,
        black,
    );
    let mut one = canvas();
    stroke(&mut one, &[(150.0, 40.0), (150.0, 250.0)], 12.0, navy);
    let mut zero = canvas();
    let ring: Vec<(f32, f32)> = (0..=48)
        .map(|i| {
            let a = i as f32 / 48.0 * std::f32::consts::TAU;
            (120.0 + 55.0 * a.cos(), 150.0 + 85.0 * a.sin())
        })
        .collect();
    stroke(&mut zero, &ring, 11.0, black);
    let mut four = canvas();
    stroke(
        &mut four,
        &[(110.0, 40.0), (70.0, 160.0), (190.0, 160.0)],
        11.0,
        black,
    );
    stroke(&mut four, &[(165.0, 70.0), (165.0, 250.0)], 11.0, black);
    vec![(7, seven), (1, one), (0, zero), (4, four)]
}

/// PNG bytes of a picture.
pub fn png_bytes(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("PNG encodes");
    out
}

/// A folder for pictures a person should look at: `$GPU_MLP_TEST_PICTURES` if set (kept),
/// else a temporary one (removed).
pub fn picture_dir() -> (Option<tempfile::TempDir>, PathBuf) {
    match std::env::var_os("GPU_MLP_TEST_PICTURES") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).unwrap();
            (None, dir)
        }
        None => {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().to_path_buf();
            (Some(tmp), path)
        }
    }
}

/// The `gpu-mlp` binary of this build. Cargo builds a package's binaries before its integration
/// tests, into the folder above the tests' `deps/`; `CARGO_BIN_EXE_gpu-mlp` only exists while a
/// test target itself compiles (`tests/cli/flags.rs` checks that both name the same file).
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let test = std::env::current_exe().expect("the test binary's path");
        let profile = test
            .parent()
            .and_then(Path::parent)
            .expect("a test binary lives in target/<profile>/deps");
        let binary = profile.join(format!("gpu-mlp{}", std::env::consts::EXE_SUFFIX));
        assert!(
            binary.is_file(),
            "the gpu-mlp binary is not at {} (cargo test builds it)",
            binary.display()
        );
        binary
    })
}

/// A test's name as the harness filters it (`--exact`), from its full path
/// (`concat!(module_path!(), "::test_fn")`): the path less the test binary's crate name, so a
/// test that runs itself in a child process keeps finding itself when its file moves.
pub fn test_name(path: &str) -> &str {
    path.split_once("::").map_or(path, |(_, name)| name)
}

/// Runs the gpu-mlp binary with `args` (no backtraces, no `GPU_MLP_DATA` from outside).
pub fn gpu_mlp(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("GPU_MLP_DATA")
        .output()
        .expect("the gpu-mlp binary runs")
}

/// Runs a command that must fail: exit status ≠ 0, one `error:` line containing `expected`.
pub fn fails(args: &[&str], expected: &str) {
    let out = gpu_mlp(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{args:?} succeeded:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let line = stderr.lines().last().unwrap_or("");
    assert!(
        line.starts_with("error: ") && line.contains(expected),
        "{args:?}: expected an 'error: ...{expected}...' line, got:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
}

/// The standard output of a finished process that must have succeeded; on failure both of its
/// streams go into the message, after `what` it was.
pub fn succeeded(out: &std::process::Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed:\n{stdout}{stderr}");
    stdout.into_owned()
}

/// Asserts that `text` contains each of `needles`, showing the text when one is missing.
pub fn assert_contains_all(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} is missing from:\n{text}");
    }
}

/// A tiny valid checkpoint (16 inputs as 4x4, one hidden layer of 8, classes a, b, c) for tests
/// of the file format and of saving.
pub fn small_checkpoint() -> Checkpoint {
    let spec = ModelSpec::new(16, vec![8], 3, 0.0).expect("a valid spec");
    Checkpoint::grey_images(
        spec.clone(),
        spec.init_parameters(3),
        vec!["a".into(), "b".into(), "c".into()],
        "toy",
        (4, 4),
    )
}

/// Trains `first` one epoch, carries its parameters and Adam's moments to `second`, and checks
/// that the next epoch runs bit for bit alike on both (metrics, parameters, moments), and that
/// moments of the wrong length are refused. Both engines are fresh for `spec` with `opt` at
/// batch 25; `train` holds at least 300 rows.
pub fn assert_moments_carry_over(
    first: &mut dyn Engine,
    second: &mut dyn Engine,
    spec: &ModelSpec,
    opt: Optimizer,
    train: &Samples,
) {
    let mut planner = training::EpochPlanner::new(4, 300, 25, opt);
    let plans = [planner.next_epoch(), planner.next_epoch()];
    for engine in [first as &mut dyn Engine, second] {
        engine
            .load_split(gpu_mlp::engine::Split::Train, train)
            .unwrap();
        engine.set_parameters(&spec.init_parameters(4)).unwrap();
    }
    first.train_epoch(&plans[0], &mut |_, _| {}).unwrap();
    let state = first.optimizer_state().unwrap();
    assert!(state.moment2.iter().any(|&v| v > 0.0), "Adam has moments");
    second.set_parameters(&first.parameters().unwrap()).unwrap();
    second.set_optimizer_state(&state).unwrap();
    let a = first.train_epoch(&plans[1], &mut |_, _| {}).unwrap();
    let b = second.train_epoch(&plans[1], &mut |_, _| {}).unwrap();
    assert_eq!(a, b, "the continued epoch's metrics");
    let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
    assert_eq!(
        bits(first.parameters().unwrap()),
        bits(second.parameters().unwrap()),
        "the continued epoch's parameters"
    );
    assert_eq!(
        first.optimizer_state().unwrap(),
        second.optimizer_state().unwrap()
    );
    assert!(
        second
            .set_optimizer_state(&gpu_mlp::engine::OptimizerState::default())
            .is_err(),
        "wrong lengths are refused"
    );
}

/// Spawns `cmd` (a `gpu-mlp train` run) with its standard output piped, waits for its first
/// epoch line, sends it `signal` (`INT`, `TERM`) as a user or a scheduler would, and returns
/// how it ended and the lines it printed after that.
#[cfg(unix)]
pub fn signal_after_first_epoch(
    cmd: &mut std::process::Command,
    signal: &str,
) -> (std::process::ExitStatus, Vec<String>) {
    signal_after_line(cmd, signal, "Epoch 1/")
}

/// Spawns `cmd` (a `gpu-mlp train` run with `--checkpoint-every`) with its standard output
/// piped, waits for its first checkpoint and kills it at once with SIGKILL, as a crash or the
/// out-of-memory killer would, in the middle of the next epoch. Asserts that the signal ended it
/// (the run must be long enough not to finish first).
#[cfg(unix)]
pub fn kill_after_first_checkpoint(cmd: &mut std::process::Command) {
    use std::os::unix::process::ExitStatusExt;
    let (status, rest) = signal_after_line(cmd, "KILL", "checkpoint: epoch ");
    assert_eq!(
        status.signal(),
        Some(9),
        "the run ended by itself ({status}) before SIGKILL; make it longer: {rest:?}"
    );
}

/// Spawns `cmd` with its standard output piped, waits for the first line starting with
/// `prefix`, sends it `signal` with `kill`, and returns how it ended and the lines it printed
/// after that.
#[cfg(unix)]
pub fn signal_after_line(
    cmd: &mut std::process::Command,
    signal: &str,
    prefix: &str,
) -> (std::process::ExitStatus, Vec<String>) {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    // The child starts as a terminal's foreground command would, with the signals at their
    // defaults, however this test binary was started (a background job ignores SIGINT, `nohup`
    // SIGHUP, and both are inherited).
    // SAFETY: signal() is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(signal, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let seen = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.starts_with(prefix));
    assert!(seen.is_some(), "no line starting with {prefix:?}");
    let signalled = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    (child.wait().unwrap(), rest)
}
