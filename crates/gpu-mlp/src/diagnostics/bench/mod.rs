//! `gpu-mlp bench`: figures that are honest, comparable and saved.
//!
//! A [`BenchRecord`] holds where it was measured (build, host, adapter, backend, how kernels
//! were timed) and a list of [`Figure`]s, each the median of repeated runs after a warm-up with
//! its min, max, run count and unit. [`measure`] takes the figures; [`compare`] lines two records
//! up figure by figure (by name) as ratios, so two GPUs, two drivers or the GPU and the CPU
//! engine can be compared line by line.

pub mod measure;
mod options;
pub mod sweep;

use crate::diagnostics::records::{AdapterRecord, BuildInfo, HostInfo};
use serde::{Deserialize, Serialize};

/// The `format` field of a record; a record of another format is refused.
pub const FORMAT: &str = "gpu-mlp-bench/1";

/// One measured quantity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// Unique within a record, stable across adapters and engines (the key of `--compare`).
    pub name: String,
    /// `startup`, `matmul`, `train`.
    pub group: String,
    /// `GFLOP/s`, `samples/s`, `us`, `%`, `s`.
    pub unit: String,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// How many timed runs the median is of.
    pub runs: usize,
    pub higher_is_better: bool,
    /// E.g. `chosen` for the tile the engine measured fastest for that product on this adapter,
    /// or why there were fewer runs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl Figure {
    /// The median, min and max of `samples` (non-empty).
    pub fn from_samples(
        name: impl Into<String>,
        group: &str,
        unit: &str,
        higher_is_better: bool,
        samples: &[f64],
    ) -> Self {
        let (median, min, max) = stats(samples);
        Self {
            name: name.into(),
            group: group.to_string(),
            unit: unit.to_string(),
            median,
            min,
            max,
            runs: samples.len(),
            higher_is_better,
            note: String::new(),
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }
}

/// (median, min, max); the median of an even count is the mean of the middle two. NaN for none.
pub fn stats(samples: &[f64]) -> (f64, f64, f64) {
    if samples.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (median, s[0], s[n - 1])
}

/// A saved benchmark run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchRecord {
    pub format: String,
    pub build: BuildInfo,
    pub host: HostInfo,
    /// `vulkan`, `metal`, `dx12`, `gl` or `cpu`.
    pub backend: String,
    /// The engine's description line.
    pub engine: String,
    /// The GPU adapter (none for the CPU engine).
    pub adapter: Option<AdapterRecord>,
    pub quick: bool,
    /// Timed runs per figure (some large products get fewer; each figure says how many).
    pub repeats: usize,
    /// The GPU engine's training steps per command buffer (none for the CPU engine).
    #[serde(default)]
    pub steps_per_submit: Option<usize>,
    /// How per-kernel step times were taken: `timestamp queries` or `wall clock`.
    pub kernel_timing: String,
    /// What the training figures train on.
    pub data: String,
    /// Seconds since the Unix epoch when the run finished.
    pub unix_time: u64,
    /// Wall time of the whole run.
    pub seconds: f64,
    pub figures: Vec<Figure>,
}

impl BenchRecord {
    /// `llvmpipe (LLVM 15.0.6, 256 bits) - vulkan, Cpu, llvmpipe Mesa 25.0.7` or the CPU engine.
    pub fn device_line(&self) -> String {
        match &self.adapter {
            Some(a) => a.describe(),
            None => format!(
                "{} on {} ({} threads)",
                self.engine, self.host.cpu, self.host.threads
            ),
        }
    }
}

/// A figure of the new record next to the same figure of the old one.
#[derive(Clone, Debug, PartialEq)]
pub struct Ratio {
    pub name: String,
    pub unit: String,
    pub old: f64,
    pub new: f64,
    /// new / old.
    pub ratio: f64,
    /// How many times better the new figure is (ratio, or 1/ratio where lower is better).
    pub speedup: f64,
}

/// Two records lined up by figure name.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Comparison {
    /// In the new record's order.
    pub ratios: Vec<Ratio>,
    /// Figures only in the new record, and only in the old one.
    pub only_new: Vec<String>,
    pub only_old: Vec<String>,
}

pub fn compare(new: &BenchRecord, old: &BenchRecord) -> Comparison {
    let mut out = Comparison::default();
    for f in &new.figures {
        match old
            .figures
            .iter()
            .find(|o| o.name == f.name && o.unit == f.unit)
        {
            Some(o) => {
                let ratio = if f.median == o.median {
                    1.0
                } else {
                    f.median / o.median
                };
                out.ratios.push(Ratio {
                    name: f.name.clone(),
                    unit: f.unit.clone(),
                    old: o.median,
                    new: f.median,
                    ratio,
                    speedup: if f.higher_is_better {
                        ratio
                    } else {
                        1.0 / ratio
                    },
                })
            }
            None => out.only_new.push(f.name.clone()),
        }
    }
    out.only_old = old
        .figures
        .iter()
        .filter(|o| {
            !new.figures
                .iter()
                .any(|f| f.name == o.name && f.unit == o.unit)
        })
        .map(|o| o.name.clone())
        .collect();
    out
}

/// A number with about three significant digits.
pub fn num(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        format!("{x}")
    } else if a >= 1000.0 || a == 0.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else if a >= 0.01 {
        format!("{x:.3}")
    } else {
        format!("{x:.2e}")
    }
}

const NAME_WIDTH: usize = 64;

/// One figure as a line: name, median and unit, [min - max], runs, note.
pub fn figure_line(f: &Figure) -> String {
    let mut line = format!(
        "  {:<NAME_WIDTH$} {:>10} {:<9}",
        f.name,
        num(f.median),
        f.unit
    );
    if f.runs != 1 {
        line.push_str(&format!(" [{} - {}] x{}", num(f.min), num(f.max), f.runs));
    }
    if !f.note.is_empty() {
        line.push_str(&format!("  {}", f.note));
    }
    line.truncate(line.trim_end().len());
    line
}

/// The heading printed before a group's first figure.
pub fn group_heading(group: &str, kernel_timing: &str) -> String {
    match group {
        "startup" => "startup (one run each; later runs reuse the driver's shader cache)".into(),
        "matmul" => "matmul (GFLOP/s; wall clock over many dispatches in one submission; \
                     `chosen` = the tile the engine timed fastest for a product it runs)"
            .into(),
        "train" if kernel_timing.starts_with("none") => {
            "training: throughput and step time of full steps as `train` runs them".into()
        }
        "train" => format!(
            "training: throughput and step time of full steps as `train` runs them; per-kernel \
             times inside the step ({kernel_timing}); `outside kernels` = share of the step's \
             wall time not spent in its kernels"
        ),
        "sweep" => "sweep: full training steps of 784-W-W-10 over batch sizes and widths; \
                    `achieved` = the step's matrix-product GFLOP/s, as a share of the best \
                    square product measured on the same device in the same run"
            .into(),
        other => other.to_string(),
    }
}

/// The whole record as text, grouped.
pub fn record_lines(r: &BenchRecord) -> Vec<String> {
    let mut lines = vec![
        format!(
            "gpu-mlp {} bench{} - {}",
            r.build.describe(),
            if r.quick { " --quick" } else { "" },
            r.device_line()
        ),
        format!(
            "each figure: median of {} runs after a warm-up [min - max]; kernel times: {}; data: {}",
            r.repeats, r.kernel_timing, r.data
        ),
    ];
    let peak = r
        .figures
        .iter()
        .filter(|f| f.group == "matmul")
        .map(|f| f.median)
        .fold(0.0, f64::max);
    let mut group = "";
    for f in &r.figures {
        if f.group != group {
            group = &f.group;
            lines.push(String::new());
            lines.push(group_heading(group, &r.kernel_timing));
        }
        let mut line = figure_line(f);
        if f.group == "matmul" && peak > 0.0 {
            line.push_str(&format!("  ({:.0}% of the best)", 100.0 * f.median / peak));
        }
        lines.push(line);
    }
    lines.push(String::new());
    lines.push(format!("{} figures in {:.1} s", r.figures.len(), r.seconds));
    lines
}

/// The comparison as text: each shared figure with both medians, new/old and the speed-up.
pub fn comparison_lines(new: &BenchRecord, old: &BenchRecord) -> Vec<String> {
    let c = compare(new, old);
    let mut lines = vec![
        format!("new: {} ({})", new.device_line(), new.build.describe()),
        format!("old: {} ({})", old.device_line(), old.build.describe()),
        format!(
            "  {:<NAME_WIDTH$} {:>10} {:>10} {:<9} {:>8} {:>8}",
            "figure", "old", "new", "unit", "new/old", "speed-up"
        ),
    ];
    for r in &c.ratios {
        lines.push(format!(
            "  {:<NAME_WIDTH$} {:>10} {:>10} {:<9} {:>8.2} {:>7.2}x",
            r.name,
            num(r.old),
            num(r.new),
            r.unit,
            r.ratio,
            r.speedup
        ));
    }
    for (which, names) in [("new", &c.only_new), ("old", &c.only_old)] {
        if !names.is_empty() {
            let shown: Vec<&str> = names.iter().take(4).map(String::as_str).collect();
            lines.push(format!(
                "{} figures only in the {which} record: {}{}",
                names.len(),
                shown.join("; "),
                if names.len() > shown.len() {
                    "; ..."
                } else {
                    ""
                }
            ));
        }
    }
    let speedups: Vec<f64> = c
        .ratios
        .iter()
        .map(|r| r.speedup)
        .filter(|s| s.is_finite() && *s > 0.0)
        .collect();
    if !speedups.is_empty() {
        let geo = (speedups.iter().map(|s| s.ln()).sum::<f64>() / speedups.len() as f64).exp();
        lines.push(format!(
            "{} figures compared; geometric mean speed-up {geo:.2}x (> 1: the new record is better)",
            speedups.len()
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        assert_eq!(stats(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(stats(&[4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
        assert!(stats(&[]).0.is_nan());
    }

    #[test]
    fn ratios_follow_the_direction_of_better() {
        let fig =
            |name: &str, v: f64, higher: bool| Figure::from_samples(name, "g", "u", higher, &[v]);
        let rec = |figures| BenchRecord {
            format: FORMAT.into(),
            build: BuildInfo::current(),
            host: HostInfo::current(),
            backend: "cpu".into(),
            engine: "cpu".into(),
            adapter: None,
            quick: true,
            repeats: 1,
            steps_per_submit: None,
            kernel_timing: "none".into(),
            data: "synthetic".into(),
            unix_time: 0,
            seconds: 0.0,
            figures,
        };
        let old = rec(vec![
            fig("a", 100.0, true),
            fig("b", 10.0, false),
            fig("c", 1.0, true),
        ]);
        let new = rec(vec![
            fig("a", 200.0, true),
            fig("b", 20.0, false),
            fig("d", 1.0, true),
        ]);
        let c = compare(&new, &old);
        assert_eq!(c.ratios.len(), 2);
        assert_eq!((c.ratios[0].ratio, c.ratios[0].speedup), (2.0, 2.0));
        assert_eq!((c.ratios[1].ratio, c.ratios[1].speedup), (2.0, 0.5));
        assert_eq!(c.only_new, vec!["d"]);
        assert_eq!(c.only_old, vec!["c"]);
        let same = compare(&old, &old);
        assert!(same
            .ratios
            .iter()
            .all(|r| r.ratio == 1.0 && r.speedup == 1.0));
    }

    #[test]
    fn numbers_keep_three_digits() {
        assert_eq!(num(1234.4), "1234");
        assert_eq!(num(123.44), "123.4");
        assert_eq!(num(12.344), "12.34");
        assert_eq!(num(0.1234), "0.123");
        assert_eq!(num(0.0), "0");
    }
}
