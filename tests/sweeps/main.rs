//! gpu-mlp as the worker of a sweep engine, tested on the built binary: exit statuses and
//! summaries of diverged, interrupted and misconfigured runs; processes started together on an
//! empty cache (one download, one valid tile cache); and a real Optuna study, installed from PyPI
//! into a virtual environment, run by docs/sweeps/optuna-worker.sh with two workers on one
//! SQLite storage.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::loopback::{ok, Server};
use support::MNIST_DIR;

const BIN: &str = env!("CARGO_BIN_EXE_gpu-mlp");
const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

/// `gpu-mlp train` on a tiny network and a 1000-sample subset of the shared MNIST, on the CPU.
fn quick_train(extra: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "train",
        "--data",
        MNIST_DIR,
        "--backend",
        "cpu",
        "--hidden",
        "8",
    ])
    .args(["--train-samples", "1000"])
    .args(extra);
    cmd
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

fn explain(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Starts every command at once (output captured), then waits for each: all must succeed.
fn run_together(commands: impl IntoIterator<Item = Command>) {
    let children: Vec<_> = commands
        .into_iter()
        .map(|mut cmd| {
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", explain(&out));
    }
}

#[test]
fn a_completed_run_says_so_in_its_first_line_and_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let out = quick_train(&["--epochs", "2", "--lr", "0.01", "--validation-split", "0.1"])
        .arg("--summary-json")
        .arg(&summary)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", explain(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.contains("(900 train, 100 validation, 10000 test; --train-samples: a stratified subset of 1000 of 60000, seed 42)"),
        "{first}"
    );
    let s = read_json(&summary);
    assert_eq!(s["outcome"], "completed");
    assert_eq!(s["epochs_completed"], 2);
    assert_eq!(s["settings"]["train_samples"], 1000);
    assert_eq!(s["data"]["train_samples"], 900);
    assert!(s["test"]["accuracy"].as_f64().unwrap() > 0.5, "{s}");
    assert!(s["final"]["val_accuracy"].is_number(), "{s}");
    assert_eq!(s["engine"], "cpu");
}

#[test]
fn a_diverged_run_writes_its_summary_and_exits_with_3() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let out = quick_train(&["--optimizer", "sgd", "--lr", "1e20", "--summary-json"])
        .arg(&summary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", explain(&out));
    let s = read_json(&summary);
    assert_eq!(s["outcome"], "diverged");
    assert_eq!(s["exit_status"], 3);
    assert!(s["error"].as_str().unwrap().contains("diverged"), "{s}");
    assert!(s["test"].is_null());
    assert_eq!(s["settings"]["lr"], 1e20);
}

#[test]
fn bad_settings_exit_with_2_and_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trial.toml");
    for (text, named) in [
        ("lr = 0.01\nlearning_rate = 0.1\n", "learning_rate"),
        ("lr = -0.01\n", "'lr'"),
    ] {
        std::fs::write(&config, text).unwrap();
        let out = quick_train(&["--config"]).arg(&config).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", explain(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(named),
            "{}",
            explain(&out)
        );
    }
    // A setting that fails once the data is known is bad settings too.
    let out = quick_train(&["--train-samples", "70000"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", explain(&out));
    // A run that fails for another reason (here: no data) exits with 1.
    let out = Command::new(BIN)
        .args(["train", "--backend", "cpu", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_run_after_its_epoch_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let mut train = quick_train(&["--epochs", "100000", "--summary-json"]);
    train.arg(&summary).stderr(Stdio::null());
    // Stop the run after its first epoch as a batch scheduler does.
    let (status, rest) = support::signal_after_first_epoch(&mut train, "TERM");
    assert_eq!(status.code(), Some(143), "{rest:?}");
    let s = read_json(&summary);
    assert_eq!(s["outcome"], "interrupted", "{s}");
    assert_eq!(s["exit_status"], 143);
    let epochs = s["epochs_completed"].as_u64().unwrap();
    assert!((1..100000).contains(&epochs), "{s}");
    assert_eq!(s["final"]["epoch"], epochs);
}

/// A loopback mirror serving the shared MNIST files under `/mnist/`.
fn mnist_mirror() -> Server {
    let routes = MNIST_FILES
        .iter()
        .map(|name| {
            let bytes = std::fs::read(Path::new(MNIST_DIR).join(name)).unwrap();
            (format!("/mnist/{name}"), ok(bytes))
        })
        .collect();
    Server::start(routes)
}

/// A fresh machine: an empty per-user cache (data sets and tiles.json) and a working folder
/// without data, with the mirror as the only download source.
struct FreshMachine {
    root: tempfile::TempDir,
    mirror: Server,
}

impl FreshMachine {
    fn new() -> FreshMachine {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("work")).unwrap();
        FreshMachine {
            root,
            mirror: mnist_mirror(),
        }
    }

    fn cache(&self) -> PathBuf {
        self.root.path().join("cache").join("gpu-mlp")
    }

    fn work(&self) -> PathBuf {
        self.root.path().join("work")
    }

    /// `program` run in the working folder with this machine's environment.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(self.work())
            .env("XDG_CACHE_HOME", self.root.path().join("cache"))
            .env("GPU_MLP_MIRRORS", self.mirror.mirror("mnist"))
            .env_remove("GPU_MLP_DATA")
            .env_remove("GPU_MLP_TILE_CACHE");
        cmd
    }

    /// One download of each file, the cache holding exactly the four files, byte for byte.
    fn assert_one_copy_of_the_data(&self) {
        let mut asked = self.mirror.requests();
        asked.sort();
        let mut expected: Vec<String> = MNIST_FILES.iter().map(|f| format!("/mnist/{f}")).collect();
        expected.sort();
        assert_eq!(asked, expected, "each file downloaded once");
        let dir = self.cache().join("mnist");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut want: Vec<String> = MNIST_FILES.iter().map(|f| f.to_string()).collect();
        want.sort();
        assert_eq!(names, want, "the cache folder holds the four files only");
        for name in MNIST_FILES {
            let cached = std::fs::read(dir.join(name)).unwrap();
            let shared = std::fs::read(Path::new(MNIST_DIR).join(name)).unwrap();
            assert!(cached == shared, "{name} differs from the mirror's");
        }
    }
}

/// Whether a Vulkan adapter exists; with CI=true its absence fails the test.
fn vulkan_adapter() -> bool {
    let out = Command::new(BIN)
        .args(["devices", "--backend", "vulkan", "--json"])
        .output()
        .unwrap();
    let found = out.status.success()
        && serde_json::from_slice::<Value>(&out.stdout)
            .is_ok_and(|v| v.as_array().is_some_and(|a| !a.is_empty()));
    if !found && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and no Vulkan adapter:\n{}", explain(&out));
    }
    if !found {
        support::gpu::skip("no Vulkan adapter");
    }
    found
}

#[test]
fn four_trainings_started_together_share_the_caches() {
    if !vulkan_adapter() {
        return;
    }
    let machine = FreshMachine::new();
    // Different widths, so each run times products of its own and all must end up in the file.
    let widths = [8, 12, 16, 20];
    run_together(widths.iter().map(|w| {
        let mut cmd = machine.command(BIN);
        cmd.args(["train", "--backend", "vulkan", "--epochs", "1"])
            .args(["--train-samples", "500", "--hidden", &w.to_string()]);
        cmd
    }));
    machine.assert_one_copy_of_the_data();
    let tiles = read_json(&machine.cache().join("tiles.json"));
    let adapters = tiles["adapters"].as_object().expect("adapters");
    assert_eq!(adapters.len(), 1, "{tiles}");
    let products = adapters.values().next().unwrap()["products"]
        .as_object()
        .unwrap();
    for w in widths {
        let first_layer = format!("A*B 32x784x{w}");
        assert!(
            products.contains_key(&first_layer),
            "{first_layer} lost: {tiles}"
        );
    }
}

/// A virtual environment with Optuna from PyPI, made once per target folder.
fn optuna_venv() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("optuna-venv");
    let python = venv.join("bin").join("python3");
    let ready = |python: &Path| {
        Command::new(python)
            .args(["-c", "import optuna"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return venv;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .expect("python3 (with venv: Debian's python3-venv) must be installed");
    assert!(made.status.success(), "{}", explain(&made));
    let pip = Command::new(venv.join("bin").join("pip"))
        .args(["install", "--quiet", "optuna"])
        .output()
        .unwrap();
    assert!(
        pip.status.success(),
        "pip install optuna: {}",
        explain(&pip)
    );
    assert!(ready(&python), "optuna does not import after pip install");
    venv
}

#[test]
fn an_optuna_study_with_two_workers_on_one_storage() {
    let venv = optuna_venv();
    let machine = FreshMachine::new();
    let worker = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/sweeps/optuna-worker.sh");
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/sweeps.md"))
            .unwrap();
    let script = std::fs::read_to_string(&worker).unwrap();
    assert!(
        doc.contains(&script),
        "docs/sweeps.md shows the worker script as it is"
    );

    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let storage = "sqlite:///study.db";
    let shell = |args: &[&str]| {
        let mut cmd = machine.command("bash");
        cmd.args(args).env("PATH", &path).env("GPU_MLP", BIN);
        cmd
    };
    let created = shell(&[
        "-c",
        &format!("optuna create-study --storage {storage} --study-name lr --direction maximize"),
    ])
    .output()
    .unwrap();
    assert!(created.status.success(), "{}", explain(&created));
    let trials_per_worker = 3;
    run_together((0..2).map(|_| {
        let mut cmd = shell(&[worker.to_str().unwrap(), storage, "lr"]);
        cmd.arg(trials_per_worker.to_string())
            .args(["--backend", "cpu", "--hidden", "16", "--epochs", "1"])
            .args(["--train-samples", "2000", "--validation-split", "0.2"]);
        cmd
    }));

    let report = shell(&[
        "-c",
        &format!(
            "python3 -c 'import json, optuna; s = optuna.load_study(study_name=\"lr\", \
             storage=\"{storage}\"); print(json.dumps({{\"best\": s.best_trial.number, \
             \"best_value\": s.best_value, \"trials\": [[t.number, t.state.name, t.value, \
             t.params] for t in s.trials]}}))'"
        ),
    ])
    .output()
    .unwrap();
    assert!(report.status.success(), "{}", explain(&report));
    let study: Value = serde_json::from_slice(&report.stdout).unwrap();
    let trials = study["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 2 * trials_per_worker, "{study}");
    for trial in trials {
        let number = trial[0].as_u64().unwrap();
        assert_eq!(trial[1], "COMPLETE", "{study}");
        let summary = read_json(&machine.work().join(format!("summary-{number}.json")));
        assert_eq!(summary["outcome"], "completed");
        assert_eq!(trial[2], summary["final"]["val_accuracy"], "trial {number}");
        // The trial's learning rate is the one the run used (as f32).
        let asked = trial[3]["lr"].as_f64().unwrap();
        let used = summary["settings"]["lr"].as_f64().unwrap();
        assert!(
            ((asked - used) / asked).abs() < 1e-6,
            "asked {asked}, used {used}"
        );
    }
    let best = study["best"].as_u64().unwrap();
    let best_summary = read_json(&machine.work().join(format!("summary-{best}.json")));
    assert_eq!(study["best_value"], best_summary["final"]["val_accuracy"]);
    machine.assert_one_copy_of_the_data();
}
