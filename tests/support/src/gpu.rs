//! Shared by the GPU tests: one device and one pipeline set per binary (lavapipe JITs each
//! pipeline for seconds), the count of tests skipped for want of an adapter, seeded random data,
//! error norms, and MNIST from the data layer.

use gpu_mlp::data::{Dataset, KnownDataset, Samples};
use gpu_mlp::diagnostics::verify::norm::ErrorNorm;
use gpu_mlp::engine::gpu::KernelLab;
use gpu_mlp::engine::gpu::{DeviceNeeds, GpuContext};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// The shared kernel lab, or `None` (with the reason printed) when no adapter exists. With
/// `CI=true` a missing adapter fails the test instead.
pub fn lab() -> Option<&'static KernelLab> {
    static LAB: OnceLock<Result<KernelLab, String>> = OnceLock::new();
    let lab = LAB.get_or_init(|| {
        let ctx = GpuContext::open(Some(backends()), None, &DeviceNeeds::default())
            .map_err(|e| e.to_string())?;
        // With an adapter, anything failing from here on is a bug, not a reason to skip.
        Ok(KernelLab::new(Arc::new(ctx)).unwrap_or_else(|e| panic!("{e}")))
    });
    match lab {
        Ok(lab) => Some(lab),
        Err(e) => {
            skip(&format!("no usable GPU adapter: {e}"));
            None
        }
    }
}

/// Whether this is a CI run (`CI=true`), where a GPU test that cannot run fails.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// GPU tests of this process that ran nothing, and why (each reason once).
static SKIPPED: Mutex<(usize, Vec<String>)> = Mutex::new((0, Vec::new()));

/// The calling GPU test cannot run, for want of what `why` says (an adapter, a feature, its
/// data): under `CI=true` that fails it; otherwise it is counted, and when the test binary ends
/// one line on stderr says how many were skipped and why, since the harness reports them "ok".
pub fn skip(why: &str) {
    assert!(!ci(), "CI=true and {why}");
    let first = {
        let mut skipped = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
        skipped.0 += 1;
        if !skipped.1.iter().any(|r| r == why) {
            skipped.1.push(why.to_string());
        }
        skipped.0 == 1
    };
    if first {
        say_at_exit();
    }
}

/// Registers [`say_skipped`] to run when the process exits, after the harness's summary (a
/// passing test's own output is captured, so a line printed by the test would not show).
fn say_at_exit() {
    #[cfg(unix)]
    {
        extern "C" fn at_exit() {
            say_skipped();
        }
        // SAFETY: `at_exit` is a plain function that neither unwinds nor calls `exit`.
        let registered = unsafe { libc::atexit(at_exit) } == 0;
        if registered {
            return;
        }
    }
    // Without atexit, say it at once: stderr written directly is not captured.
    say_skipped();
}

/// The skip line: written to stderr directly, which the test harness does not capture.
fn say_skipped() {
    use std::io::Write;
    let skipped = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
    // Cargo names a test binary `<name>-<16 hex digits>`: the name is the test target's.
    let stem = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let binary = match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name.to_string()
        }
        _ => stem,
    };
    let _ = writeln!(
        std::io::stderr(),
        "{binary}: skipped {} GPU test{}: {} (set CI=true to fail instead)",
        skipped.0,
        if skipped.0 == 1 { "" } else { "s" },
        skipped.1.join("; ")
    );
}

/// The backends the GPU tests run on: `WGPU_BACKEND`, else Vulkan.
pub fn backends() -> wgpu::Backends {
    wgpu::Backends::from_env().unwrap_or(wgpu::Backends::VULKAN)
}

/// A small seeded generator (xorshift) so inputs are fresh per shape but reproducible.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 32) as u32
    }
    /// Uniform in [-1, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
}

/// True when both slices hold the same floats bit for bit (NaN patterns and zero signs included).
pub fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// ‖got − want‖ / ‖want‖ (the crate's `ErrorNorm`); panics with the worst element when above
/// `bound`.
pub fn check_rel(what: &str, got: &[f32], want: &[f32], bound: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let e = ErrorNorm::of(got, want);
    assert!(
        e.within(bound),
        "{what}: relative error {:.3e} > {bound:e}; worst element {:?}",
        e.rel,
        e.worst
    );
}

/// Where the shared MNIST files live (`GPU_MLP_MNIST` overrides).
pub fn mnist_dir() -> PathBuf {
    std::env::var_os("GPU_MLP_MNIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist")
        })
}

/// MNIST through the crate's data layer (one IDX reader in the project), loaded once per test
/// binary; `None` when the files are absent or unreadable.
pub fn mnist_dataset() -> Option<&'static Dataset> {
    static MNIST: OnceLock<Option<Dataset>> = OnceLock::new();
    MNIST
        .get_or_init(|| gpu_mlp::data::load_dir(mnist_dir(), Some(KnownDataset::Mnist)).ok())
        .as_ref()
}

/// The first `n` samples of an MNIST split (`train` or `t10k`), or `None` if the files are absent.
pub fn mnist(split: &str, n: usize) -> Option<Samples> {
    let data = mnist_dataset()?;
    let all = if split == "t10k" {
        data.test()
    } else {
        data.train()
    };
    Some(all.first(n))
}

/// Runs this build's `gpu-mlp` binary with `args`, without the checker's self-test and
/// fault-injection variables unless `env` sets them.
pub fn gpu_mlp(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = std::process::Command::new(crate::binary());
    cmd.args(args)
        .env_remove(gpu_mlp::diagnostics::verify::PERTURB_ENV)
        .env_remove(gpu_mlp::engine::gpu::kernels::mutant::ENV);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the gpu-mlp binary runs");
    Run {
        status: out.status,
        shown: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        stdout: out.stdout,
        json: None,
    }
}

/// [`gpu_mlp`] with `--json FILE` added (a fresh temporary file): for the commands that write a
/// report or record, read back with [`Run::json`].
pub fn gpu_mlp_json(args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("report.json");
    let file = path.to_str().expect("utf-8 path");
    let mut run = gpu_mlp(&[args, &["--json", file]].concat(), env);
    run.json = Some((dir, path));
    run
}

/// A finished run of the binary.
pub struct Run {
    pub status: std::process::ExitStatus,
    /// Its stdout and stderr, as one text.
    pub shown: String,
    pub stdout: Vec<u8>,
    /// The `--json` file [`gpu_mlp_json`] named, and the folder that holds it while the run lives.
    json: Option<(tempfile::TempDir, PathBuf)>,
}

impl Run {
    /// What it showed, after asserting that it succeeded (`what` names it in the message).
    pub fn succeeded(&self, what: &str) -> &str {
        assert!(self.status.success(), "{what} failed:\n{}", self.shown);
        &self.shown
    }

    /// The `--json` file's path.
    pub fn json_path(&self) -> &str {
        let (_, path) = self.json.as_ref().expect("a run of gpu_mlp_json");
        path.to_str().expect("utf-8 path")
    }

    /// The `--json` file, parsed.
    pub fn json(&self) -> serde_json::Value {
        let bytes = std::fs::read(self.json_path()).expect("the JSON file was written");
        serde_json::from_slice(&bytes).expect("valid JSON")
    }
}
