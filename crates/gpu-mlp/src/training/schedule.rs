//! Learning-rate schedules: the factor the base learning rate is multiplied by at each step.
//!
//! Both engines take their step size from the step table the loop plans (`StepPlan::step_size`),
//! so a schedule costs nothing on the device: the GPU reads the scheduled rate from the same
//! table it reads Adam's bias correction from. The factor is computed in f64 from the step
//! number alone, so a run and its resume get the same bits.
//!
//! `--lr-schedule`:
//! - `constant` (default): 1.
//! - `step:EVERY:FACTOR`: multiplied by FACTOR after every EVERY steps
//!   (`FACTOR^floor(s / EVERY)`), as PyTorch's `StepLR` counts in steps.
//! - `exponential:FACTOR`: multiplied by FACTOR per epoch, applied smoothly at every step
//!   (`FACTOR^(s / steps_per_epoch)`), as Keras's `ExponentialDecay` with `decay_steps` one epoch.
//! - `cosine`: from 1 down to 0 over the run's steps (`(1 + cos(π·s / S)) / 2`), as
//!   `CosineDecay` / `CosineAnnealingLR`.
//!
//! `--warmup W` ramps linearly from `1/W` to 1 over the first W steps; the schedule's `s` then
//! counts from the end of the warm-up (`s = t - 1 - W` for the 1-based step `t`, and `S` is the
//! run's steps less W).

use crate::error::ConfigError;
use crate::setting::Setting;
use std::fmt;
use std::str::FromStr;

/// The shape of the learning rate over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Schedule {
    #[default]
    Constant,
    Step {
        every: u64,
        factor: f64,
    },
    Exponential {
        factor: f64,
    },
    Cosine,
}

/// A schedule with its warm-up and the run's length, ready to give each step's factor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LrSchedule {
    pub schedule: Schedule,
    /// Steps of linear warm-up (0: none).
    pub warmup: u64,
    /// Steps per epoch (for `exponential`).
    pub steps_per_epoch: u64,
    /// Steps of the whole run (for `cosine`).
    pub total_steps: u64,
}

impl LrSchedule {
    /// The constant rate: every factor is exactly 1.
    pub fn constant() -> Self {
        Self {
            schedule: Schedule::Constant,
            warmup: 0,
            steps_per_epoch: 1,
            total_steps: 1,
        }
    }

    /// `constant`, `cosine, warm-up 2`.
    pub fn describe(&self) -> String {
        if self.warmup > 0 {
            format!("{}, warm-up {}", self.schedule, self.warmup)
        } else {
            self.schedule.to_string()
        }
    }

    /// Whether the rate ever differs from the base rate.
    pub fn varies(&self) -> bool {
        self.schedule != Schedule::Constant || self.warmup > 0
    }

    /// The factor of the base learning rate at 1-based step `t`.
    pub fn factor(&self, t: u64) -> f64 {
        let t = t.max(1);
        if t <= self.warmup {
            return t as f64 / self.warmup as f64;
        }
        let s = (t - 1 - self.warmup) as f64;
        match self.schedule {
            Schedule::Constant => 1.0,
            Schedule::Step { every, factor } => factor.powf((s / every as f64).floor()),
            Schedule::Exponential { factor } => factor.powf(s / self.steps_per_epoch.max(1) as f64),
            Schedule::Cosine => {
                let span = self.total_steps.saturating_sub(self.warmup).max(1) as f64;
                0.5 * (1.0 + (std::f64::consts::PI * (s / span).min(1.0)).cos())
            }
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Constant => f.write_str("constant"),
            Schedule::Step { every, factor } => write!(f, "step:{every}:{factor}"),
            Schedule::Exponential { factor } => write!(f, "exponential:{factor}"),
            Schedule::Cosine => f.write_str("cosine"),
        }
    }
}

impl FromStr for Schedule {
    type Err = ConfigError;
    fn from_str(text: &str) -> Result<Self, ConfigError> {
        let bad = |why: &str| {
            ConfigError::new(crate::phrase![
                Setting::LrSchedule,
                format!(
                    " '{text}': {why}; use constant, step:EVERY:FACTOR (e.g. step:1000:0.5), \
                     exponential:FACTOR (per epoch, e.g. exponential:0.9) or cosine"
                )
            ])
        };
        let factor = |f: &str| -> Result<f64, ConfigError> {
            match f.parse::<f64>() {
                Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
                _ => Err(bad("FACTOR must be a positive number")),
            }
        };
        let parts: Vec<&str> = text.trim().split(':').collect();
        match parts.as_slice() {
            ["constant"] => Ok(Schedule::Constant),
            ["cosine"] => Ok(Schedule::Cosine),
            ["exponential", f] => Ok(Schedule::Exponential { factor: factor(f)? }),
            ["step", every, f] => match every.parse::<u64>() {
                Ok(every) if every > 0 => Ok(Schedule::Step {
                    every,
                    factor: factor(f)?,
                }),
                _ => Err(bad("EVERY must be a whole number of steps, at least 1")),
            },
            _ => Err(bad("unknown schedule")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(schedule: Schedule, warmup: u64) -> LrSchedule {
        LrSchedule {
            schedule,
            warmup,
            steps_per_epoch: 100,
            total_steps: 1000,
        }
    }

    #[test]
    fn constant_is_exactly_one() {
        let s = LrSchedule::constant();
        assert!(!s.varies());
        assert!((1..5000).all(|t| s.factor(t) == 1.0));
    }

    #[test]
    fn factors_follow_their_formulas() {
        let step = sched(
            Schedule::Step {
                every: 300,
                factor: 0.5,
            },
            0,
        );
        assert_eq!(step.factor(1), 1.0);
        assert_eq!(step.factor(300), 1.0);
        assert_eq!(step.factor(301), 0.5);
        assert_eq!(step.factor(601), 0.25);
        let exp = sched(Schedule::Exponential { factor: 0.9 }, 0);
        assert_eq!(exp.factor(1), 1.0);
        assert!((exp.factor(101) - 0.9).abs() < 1e-15);
        assert!((exp.factor(51) - 0.9f64.sqrt()).abs() < 1e-15);
        let cos = sched(Schedule::Cosine, 0);
        assert_eq!(cos.factor(1), 1.0);
        assert!((cos.factor(501) - 0.5).abs() < 1e-12);
        assert!(cos.factor(1000) < 1e-4 && cos.factor(1000) > 0.0);
    }

    #[test]
    fn warmup_ramps_then_hands_over() {
        let s = sched(Schedule::Cosine, 100);
        assert!(s.varies());
        assert_eq!(s.factor(1), 0.01);
        assert_eq!(s.factor(50), 0.5);
        assert_eq!(s.factor(100), 1.0);
        assert_eq!(s.factor(101), 1.0, "the schedule starts after the warm-up");
        assert!(
            (s.factor(551) - 0.5).abs() < 1e-12,
            "cosine spans the 900 steps left"
        );
        assert_eq!(sched(Schedule::Constant, 10).factor(11), 1.0);
    }

    #[test]
    fn schedules_parse_and_print_round_trip() {
        for text in ["constant", "cosine", "exponential:0.9", "step:1000:0.5"] {
            let s: Schedule = text.parse().unwrap();
            assert_eq!(s.to_string(), text);
        }
        for bad in [
            "",
            "linear",
            "step:0:0.5",
            "step:10",
            "exponential:-1",
            "step:x:0.5",
        ] {
            let err = bad.parse::<Schedule>().unwrap_err().to_string();
            assert!(err.starts_with("learning-rate schedule '"), "{bad}: {err}");
        }
    }
}
