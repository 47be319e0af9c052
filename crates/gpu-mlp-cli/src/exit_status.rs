//! How a training run ended, and the exit status each ending gives, so a sweep engine can tell a
//! diverged trial (prune it) from bad settings or a failure (fail it) from a crash (a panic: 101,
//! or death by a signal). Documented in `train --help` and docs/sweeps.md.

use gpu_mlp::error::{DataError, Error};

/// The run failed: data not found, a file not writable, a device error, ...
pub const EXIT_FAILED: u8 = 1;
/// The settings are wrong: a flag, a `--config` key or value, a combination that cannot work.
/// (clap's own usage errors exit with 2 too.)
pub const EXIT_BAD_SETTINGS: u8 = 2;
/// Training diverged: the loss became NaN or infinite.
pub const EXIT_DIVERGED: u8 = 3;

/// How a training run ended, as `--summary-json` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every epoch ran and the test set was evaluated.
    Completed,
    /// Stopped before the last epoch by `--early-stopping`.
    StoppedEarly,
    /// The loss became NaN or infinite.
    Diverged,
    /// Stopped after an epoch by SIGINT, SIGTERM or SIGHUP (the signal's number).
    Interrupted { signal: i32 },
    /// Training started but an error ended it (a device or file error).
    Failed,
}

impl Outcome {
    /// The name in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::StoppedEarly => "stopped_early",
            Outcome::Diverged => "diverged",
            Outcome::Interrupted { .. } => "interrupted",
            Outcome::Failed => "failed",
        }
    }

    /// The process's exit status: 128 + the signal for an interrupted run, as a shell reports a
    /// process the signal ended.
    pub fn exit_status(self) -> u8 {
        match self {
            Outcome::Completed | Outcome::StoppedEarly => 0,
            Outcome::Diverged => EXIT_DIVERGED,
            Outcome::Interrupted { signal } => 128u8.saturating_add(signal.clamp(0, 127) as u8),
            Outcome::Failed => EXIT_FAILED,
        }
    }

    /// How a run that ended in `result` ended.
    pub fn of<T>(result: &Result<T, Error>) -> Outcome {
        match result {
            Ok(_) => Outcome::Completed,
            Err(err) => Outcome::of_error(err),
        }
    }

    /// How a run that failed with `err` ended.
    pub fn of_error(err: &Error) -> Outcome {
        match err {
            Error::Diverged { .. } => Outcome::Diverged,
            Error::Interrupted(stop) => Outcome::Interrupted {
                signal: stop.signal,
            },
            _ => Outcome::Failed,
        }
    }
}

/// The exit status for a command that failed with `err`.
pub fn exit_status(err: &Error) -> u8 {
    match err {
        Error::Config(_) | Error::Data(DataError::Setting(_)) => EXIT_BAD_SETTINGS,
        other => Outcome::of_error(other).exit_status(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupt::Interrupted;
    use gpu_mlp::error::ConfigError;

    #[test]
    fn each_ending_has_its_own_status() {
        let diverged = Error::Diverged {
            epoch: 1,
            step: 2,
            value: f32::NAN,
        };
        let interrupted = Error::Interrupted(Interrupted {
            signal: 15,
            epoch: 1,
        });
        let bad = Error::Config(ConfigError::new("bad"));
        let failed = Error::Write {
            path: "x".into(),
            source: std::io::Error::other("disk full"),
        };
        // A setting the data rules out is a bad setting too; a data file's own fault is not.
        let unfit = Error::Data(DataError::Setting(ConfigError::new("--test-split")));
        let unreadable = Error::Data(DataError::Empty { path: "x".into() });
        let statuses: Vec<u8> = [&diverged, &interrupted, &bad, &failed, &unfit, &unreadable]
            .map(exit_status)
            .to_vec();
        assert_eq!(statuses, vec![3, 143, 2, 1, 2, 1]);
        assert_eq!(Outcome::of(&Ok::<(), Error>(())).exit_status(), 0);
        assert_eq!(Outcome::of::<()>(&Err(diverged)).name(), "diverged");
        assert_eq!(Outcome::of::<()>(&Err(interrupted)).name(), "interrupted");
    }
}
