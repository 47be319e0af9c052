//! `gpu-mlp verify` and `train --verify`: does this adapter compute the right numbers?
//!
//! Two parts, both against the CPU reference engine: the kernel grid ([`kernel_grid`]: every kernel
//! at ragged shapes and the model's shapes, a table of errors against bounds) and a lockstep
//! training run ([`lockstep`]: K steps on both engines from the same start). The report holds
//! the adapter's identity, so it can be attached to a bug report as JSON.
//!
//! Self-test of the checker: with `GPU_MLP_VERIFY_PERTURB=PREFIX` (a kernel-name prefix such as
//! `matmul`, `gather`, `softmax`, `adam`, `sgd`, or `lockstep` for the final parameters), one
//! GPU output element of each matching check is changed before the comparison, so those checks
//! must fail and verify must exit with status 1. Only verify reads it; training never does.
//!
//! Fault injection on the device: with `GPU_MLP_MUTANT=NAME` (see [`Mutant`]) verify compiles
//! one kernel deliberately wrong and says so first; it must then fail, naming that kernel.

pub mod kernel_grid;
pub mod lockstep;
pub mod norm;

pub use kernel_grid::{Grid, KernelCheck};
pub use lockstep::{LockstepOptions, LockstepReport, LockstepRows};

use crate::diagnostics::records::{AdapterRecord, BuildInfo, HostInfo};
use crate::engine::gpu::kernels;
use crate::engine::gpu::kernels::mutant::{self, Mutant};
use crate::engine::gpu::KernelLab;
use crate::engine::gpu::Pipelines;
use crate::engine::gpu::{self, DeviceNeeds, GpuContext, GpuEngine, GpuOptions};
use crate::engine::BackendChoice;
use crate::error::{ConfigError, GpuError, Result, VerifyFailed};
use crate::model::optimizer::Optimizer;
use crate::model::ModelSpec;
use crate::training::schedule::{LrSchedule, Schedule};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// The environment variable of the checker's self-test (see the module docs).
pub const PERTURB_ENV: &str = "GPU_MLP_VERIFY_PERTURB";

/// The `format` field of the JSON report.
pub const FORMAT: &str = "gpu-mlp-verify/2";

/// What to check.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyOptions {
    pub spec: ModelSpec,
    pub optimizer: Optimizer,
    pub batch: usize,
    /// Lockstep steps (0: no lockstep check).
    pub steps: usize,
    pub seed: u64,
    /// The ragged-shape grid besides the model's shapes.
    pub ragged: bool,
}

/// The whole result, as `--json` writes it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VerifyReport {
    pub format: String,
    pub build: BuildInfo,
    pub host: HostInfo,
    pub adapter: AdapterRecord,
    pub model: String,
    pub batch: usize,
    pub seed: u64,
    /// The `GPU_MLP_VERIFY_PERTURB` value when the self-test was on.
    pub perturbed: Option<String>,
    /// The `GPU_MLP_MUTANT` value when a kernel was compiled wrong on purpose.
    pub mutant: Option<String>,
    pub kernels: Vec<KernelCheck>,
    /// Every kernel path (`kernels::paths`) and how many checks ran it.
    pub paths: Vec<PathCoverage>,
    /// The paths no check ran (the ragged grid runs them all).
    pub paths_missed: Vec<String>,
    /// One lockstep run per optimizer (see [`lockstep_optimizers`]); empty with `--steps 0`.
    pub lockstep: Vec<LockstepReport>,
    pub checks: usize,
    pub failed: usize,
    pub passed: bool,
    pub seconds: f64,
}

/// One kernel path and the number of checks that ran it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PathCoverage {
    /// `matmul: epilogue bias` ([`kernels::paths::Path::id`]).
    pub path: String,
    /// Kernel checks that ran it.
    pub checks: usize,
    /// Lockstep runs whose training or evaluation took it.
    pub lockstep_runs: usize,
}

/// How many of `checks` ran each of the kernels' paths.
pub fn path_coverage(checks: &[KernelCheck]) -> Vec<PathCoverage> {
    kernels::all_paths()
        .iter()
        .map(|p| {
            let path = p.id();
            let checks = checks.iter().filter(|c| c.paths.contains(&path)).count();
            PathCoverage {
                path,
                checks,
                lockstep_runs: 0,
            }
        })
        .collect()
}

impl VerifyReport {
    /// The error to end with when anything failed.
    pub fn failure(&self) -> Option<VerifyFailed> {
        if self.passed {
            return None;
        }
        let first = self
            .kernels
            .iter()
            .find(|c| !c.passed)
            .map(|c| {
                format!(
                    "{} {}: rel error {} > {}",
                    c.kernel,
                    c.shape,
                    sci(c.rel_error),
                    bound(c.bound)
                )
            })
            .or_else(|| {
                self.lockstep.iter().find_map(|l| {
                    l.failures
                        .first()
                        .map(|f| format!("lockstep {}: {f}", l.optimizer))
                })
            })
            .unwrap_or_else(|| "unknown".to_string());
        Some(VerifyFailed {
            adapter: self.adapter.name.clone(),
            failed: self.failed,
            total: self.checks,
            first,
        })
    }
}

/// `1.23e-6`, `0`, `inf`.
pub fn sci(x: f64) -> String {
    if x == 0.0 {
        "0".to_string()
    } else if x.is_infinite() {
        "inf".to_string()
    } else if x.is_nan() {
        "NaN".to_string()
    } else {
        format!("{x:.2e}")
    }
}

fn bound(b: f64) -> String {
    if b == 0.0 {
        "exact".to_string()
    } else {
        format!("{b:.0e}")
    }
}

/// The kernel table's header line.
pub fn table_header() -> String {
    format!(
        "{:<30} {:<32} {:<12} {:>11} {:>9} {:>7}  result",
        "kernel", "shape", "tile", "max abs err", "rel err", "bound"
    )
}

/// One line of the kernel table (plus the worst element and the note of a failure).
pub fn table_row(c: &KernelCheck) -> String {
    let mut line = format!(
        "{:<30} {:<32} {:<12} {:>11} {:>9} {:>7}  {}",
        c.kernel,
        c.shape,
        c.tile,
        sci(c.max_abs_error),
        sci(c.rel_error),
        bound(c.bound),
        if c.passed { "pass" } else { "FAIL" }
    );
    if let Some(w) = &c.worst {
        line.push_str(&format!(
            "  (worst: element {}: gpu {} vs cpu {})",
            w.index, w.gpu as f32, w.cpu as f32
        ));
    }
    if !c.note.is_empty() {
        line.push_str(&format!("  [{}]", c.note));
    }
    line
}

/// The self-test setting, lower case, if set and not empty.
pub fn perturbation() -> Option<String> {
    std::env::var(PERTURB_ENV)
        .ok()
        .map(|v| v.trim().to_lowercase())
        .filter(|v| !v.is_empty())
}

/// The mutant `GPU_MLP_MUTANT` names (an unknown name is a configuration error).
pub fn mutant_from_env() -> Result<Option<Mutant>> {
    Mutant::from_env().map_err(|e| ConfigError::new(e).into())
}

/// The loud line of a run with a mutant.
pub fn mutant_line(m: Mutant) -> String {
    format!(
        "{}={}: the {} kernel is compiled WRONG on purpose (fault injection); verify must fail",
        mutant::ENV,
        m.name(),
        m.kernel()
    )
}

/// What a verification run needs from the device.
pub fn device_needs(spec: &ModelSpec, batch: usize) -> DeviceNeeds {
    GpuEngine::needs(spec, batch, &GpuOptions::default()).max(DeviceNeeds::default())
}

/// Opens the adapter a verification checks. `for_training`: `auto` means what `train` would
/// use (a hardware adapter, else the CPU engine: `None`); otherwise `auto` takes the most
/// capable adapter, software ones included. `cpu` is `None`: there is nothing to check.
pub fn open_adapter(
    choice: BackendChoice,
    adapter: Option<&str>,
    needs: &DeviceNeeds,
    for_training: bool,
) -> Result<Option<Arc<GpuContext>>> {
    let open = |backends: Option<wgpu::Backends>, adapter: Option<&str>| {
        GpuContext::open(backends, adapter, needs).map(|c| Some(Arc::new(c)))
    };
    match choice {
        BackendChoice::Cpu => Ok(None),
        BackendChoice::Auto if for_training => {
            // The same choice as `engine::open_engine`.
            if adapter.is_some() || std::env::var_os("WGPU_ADAPTER_NAME").is_some() {
                return Ok(open(None, adapter)?);
            }
            let adapters = gpu::list_adapters(gpu::context::backends_or_env(None));
            match adapters.iter().find(|a| a.is_hardware()) {
                Some(hw) => Ok(open(None, Some(&hw.index.to_string()))?),
                None => Ok(None),
            }
        }
        BackendChoice::Auto => Ok(open(None, adapter)?),
        explicit => match open(explicit.wgpu_backends(), adapter) {
            Err(GpuError::NoAdapter { detail }) => Err(GpuError::NoAdapter {
                detail: crate::error::for_backend(explicit, detail),
            }
            .into()),
            other => Ok(other?),
        },
    }
}

/// Runs the kernel grid and (with `opts.steps > 0`) the lockstep check on `ctx`. `log` gets the
/// table and the lockstep lines as they come. A failed check is in the report, not an error;
/// errors are what kept the run from finishing.
pub fn run(
    ctx: Arc<GpuContext>,
    opts: &VerifyOptions,
    rows: &LockstepRows,
    log: &mut dyn FnMut(&str),
) -> Result<VerifyReport> {
    let started = Instant::now();
    if opts.batch == 0 {
        return Err(ConfigError::new(crate::phrase![
            crate::setting::Setting::BatchSize,
            " must be at least 1"
        ])
        .into());
    }
    let perturbed = perturbation();
    if let Some(p) = &perturbed {
        log(&format!(
            "{PERTURB_ENV}={p}: one GPU output of every '{p}...' check is perturbed on purpose \
             (self-test of the checker); those checks must fail"
        ));
    }
    let mutant = mutant_from_env()?;
    if let Some(m) = mutant {
        log(&mutant_line(m));
    }
    let pipes = Pipelines::build(&ctx.device, false, mutant)?;
    let lab = KernelLab::with_pipelines(Arc::clone(&ctx), Arc::new(pipes));
    log(&table_header());
    let grid = Grid {
        ragged: opts.ragged,
        every_product: false,
        model: Some((opts.spec.clone(), opts.batch)),
    };
    let checks =
        kernel_grid::check_kernels(&lab, &grid, opts.seed, perturbed.as_deref(), &mut |c| {
            log(&table_row(c))
        });
    let kernels_failed = checks.iter().filter(|c| !c.passed).count();
    log(&format!(
        "kernels: {} of {} checks within bounds",
        checks.len() - kernels_failed,
        checks.len()
    ));
    let mut paths = path_coverage(&checks);
    let paths_missed: Vec<String> = paths
        .iter()
        .filter(|p| p.checks == 0)
        .map(|p| p.path.clone())
        .collect();
    log(&format!(
        "kernel paths: {} of {} run{}",
        paths.len() - paths_missed.len(),
        paths.len(),
        if paths_missed.is_empty() {
            String::new()
        } else {
            format!(" (not run: {})", paths_missed.join(", "))
        }
    ));
    let mut lockstep = Vec::new();
    if opts.steps > 0 {
        let perturb_params = perturbed
            .as_deref()
            .is_some_and(|p| "lockstep".starts_with(p));
        for (optimizer, schedule, spec) in lockstep_runs(opts) {
            log("");
            let lopts = LockstepOptions {
                spec,
                optimizer,
                schedule,
                batch: opts.batch,
                steps: opts.steps,
                seed: opts.seed,
            };
            lockstep.push(lockstep::run(
                Arc::clone(&ctx),
                Arc::clone(&lab.pipes),
                &lopts,
                rows,
                perturb_params,
                log,
            )?);
        }
    }
    for p in &mut paths {
        p.lockstep_runs = lockstep
            .iter()
            .filter(|l| l.paths.contains(&p.path))
            .count();
    }
    let failed = kernels_failed + lockstep.iter().map(|l| l.failures.len()).sum::<usize>();
    let checks_total = checks.len() + lockstep.iter().map(|l| l.checks.len()).sum::<usize>();
    Ok(VerifyReport {
        format: FORMAT.to_string(),
        build: BuildInfo::current(),
        host: HostInfo::current(),
        adapter: AdapterRecord::from_context(&ctx),
        model: opts.spec.describe(),
        batch: opts.batch,
        seed: opts.seed,
        perturbed,
        mutant: mutant.map(|m| m.name().to_string()),
        kernels: checks,
        paths,
        paths_missed,
        lockstep,
        checks: checks_total,
        failed,
        passed: failed == 0,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The optimizers of the lockstep runs: the one asked for, then SGD (or Adam when SGD was asked
/// for). Adam's update is invariant to the gradient's scale, so a kernel that scales gradients
/// wrongly passes an Adam-only lockstep; SGD's update is the gradient itself.
pub fn lockstep_optimizers(asked: Optimizer) -> Vec<Optimizer> {
    let companion = match asked {
        Optimizer::Sgd { .. } => Optimizer::adam(1e-3),
        _ => Optimizer::Sgd { lr: 0.05 },
    };
    vec![asked, companion]
}

/// The lockstep runs: the model and optimizer asked for at a constant rate; the companion of
/// [`lockstep_optimizers`] under a warm-up and a step schedule (the step table's factors); and
/// AdamW (decay 0.1; plain Adam when AdamW was asked for) under a warm-up and cosine decay,
/// with dropout toggled (on at 0.3 when the model has none, else off).
pub fn lockstep_runs(opts: &VerifyOptions) -> Vec<(Optimizer, LrSchedule, ModelSpec)> {
    let [asked, companion] =
        <[Optimizer; 2]>::try_from(lockstep_optimizers(opts.optimizer)).expect("two optimizers");
    let scheduled = |schedule: Schedule, warmup: u64| LrSchedule {
        schedule,
        warmup,
        steps_per_epoch: 1,
        total_steps: opts.steps as u64,
    };
    let third = match asked {
        Optimizer::Adam { weight_decay, .. } if weight_decay != 0.0 => Optimizer::adam(1e-3),
        _ => Optimizer::adamw(1e-3, 0.1),
    };
    let mut toggled = opts.spec.clone();
    toggled.dropout = if opts.spec.dropout > 0.0 { 0.0 } else { 0.3 };
    let step = Schedule::Step {
        every: 3,
        factor: 0.5,
    };
    vec![
        (asked, LrSchedule::constant(), opts.spec.clone()),
        (companion, scheduled(step, 4), opts.spec.clone()),
        (third, scheduled(Schedule::Cosine, 2), toggled),
    ]
}

/// The last line of a run: `PASS: ...` or `FAIL: ...`.
pub fn summary_line(r: &VerifyReport) -> String {
    format!(
        "{}: {} of {} checks within bounds on {} ({:.1} s)",
        if r.passed { "PASS" } else { "FAIL" },
        r.checks - r.failed,
        r.checks,
        r.adapter.name,
        r.seconds
    )
}

/// `train --verify`: the model's kernel shapes and 10 lockstep steps on the adapter training
/// would use, printed to stdout. Returns `Ok(None)` when training runs on the CPU engine
/// (nothing to check), the report when every check passed, and [`VerifyFailed`] (as
/// `Error::Verify`) when any did not. `train` gives the lockstep run its first rows.
pub fn quick_check(
    choice: BackendChoice,
    adapter: Option<&str>,
    spec: &ModelSpec,
    optimizer: Optimizer,
    batch: usize,
    seed: u64,
    train: Option<&crate::data::Samples>,
) -> Result<Option<VerifyReport>> {
    let Some(ctx) = open_adapter(choice, adapter, &device_needs(spec, batch), true)? else {
        println!("verify: training runs on the CPU engine, the reference itself; nothing to check");
        return Ok(None);
    };
    println!("verify: {} against the CPU reference", ctx.describe());
    let steps = 10;
    let needed = LockstepRows::needed(steps, batch);
    let rows = match train {
        Some(samples) if samples.count > 0 => {
            LockstepRows::from_split(samples, needed, "the training data")
        }
        _ => LockstepRows::random(
            spec.inputs,
            spec.classes,
            needed,
            seed,
            "no training rows given",
        ),
    };
    let opts = VerifyOptions {
        spec: spec.clone(),
        optimizer,
        batch,
        steps,
        seed,
        ragged: false,
    };
    let report = run(ctx, &opts, &rows, &mut |line| println!("{line}"))?;
    println!("{}", summary_line(&report));
    match report.failure() {
        Some(failed) => Err(failed.into()),
        None => Ok(Some(report)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_compactly() {
        assert_eq!(sci(0.0), "0");
        assert_eq!(sci(f64::INFINITY), "inf");
        assert_eq!(sci(1.234e-6), "1.23e-6");
        assert_eq!(bound(0.0), "exact");
        assert_eq!(bound(1e-5), "1e-5");
    }

    #[test]
    fn the_lockstep_runs_sgd_as_well_as_adam() {
        let adam = Optimizer::adam(1e-3);
        let sgd = Optimizer::Sgd { lr: 0.1 };
        for asked in [adam, sgd] {
            let runs = lockstep_optimizers(asked);
            assert_eq!(runs[0], asked);
            assert!(runs.iter().any(|o| matches!(o, Optimizer::Sgd { .. })));
            assert!(runs.iter().any(|o| matches!(o, Optimizer::Adam { .. })));
        }
    }
}
