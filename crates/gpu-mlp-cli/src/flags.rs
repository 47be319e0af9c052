//! The one table from the library's [`Setting`]s to this command line's flags. `main`
//! installs it before anything else, so every library message names flags ("--epochs must be
//! at least 1") where the library alone names settings ("epochs must be at least 1").

use gpu_mlp::setting::{use_vocabulary, Vocabulary};
use gpu_mlp::Setting;

/// Why a checkpoint without a training state cannot be resumed (`train --resume`).
pub const NO_STATE: &str = "it holds no training state to resume (it was not saved by \
     `gpu-mlp train --save`, or by an older gpu-mlp); start a new run from its parameters with \
     --init-from";

/// Settings named as `gpu-mlp` flags.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags;

impl Vocabulary for Flags {
    fn name(&self, setting: Setting) -> &'static str {
        flag(setting)
    }
    fn setting_word(&self) -> &'static str {
        "flag"
    }
}

/// The flag that sets `setting`.
pub fn flag(setting: Setting) -> &'static str {
    match setting {
        Setting::Epochs => "--epochs",
        Setting::BatchSize => "--batch-size",
        Setting::LearningRate => "--lr",
        Setting::LrSchedule => "--lr-schedule",
        Setting::Warmup => "--warmup",
        Setting::Optimizer => "--optimizer",
        Setting::AdamEpsilon => "--adam-epsilon",
        Setting::WeightDecay => "--weight-decay",
        Setting::ValidationSplit => "--validation-split",
        Setting::EarlyStopping => "--early-stopping",
        Setting::Monitor => "--monitor",
        Setting::MinDelta => "--min-delta",
        Setting::RestoreBest => "--restore-best",
        Setting::HiddenWidths => "--hidden",
        Setting::Dropout => "--dropout",
        Setting::Seed => "--seed",
        Setting::Backend => "--backend",
        Setting::Adapter => "--adapter",
        Setting::StepsPerSubmit => "--steps-per-submit",
        Setting::Dataset => "--dataset",
        Setting::Data => "--data",
        Setting::TestData => "--test-data",
        Setting::TestSplit => "--test-split",
        Setting::TrainSamples => "--train-samples",
        Setting::ImageSize => "--image-size",
        Setting::Color => "--color",
        Setting::LabelColumn => "--label-column",
        Setting::Preprocess => "--preprocess",
        Setting::Resume => "--resume",
        Setting::InitFrom => "--init-from",
    }
}

/// Makes library messages name flags for the rest of the process (a second call is harmless).
pub fn install() {
    use_vocabulary(&Flags);
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every long flag of every subcommand.
    fn all_flags() -> Vec<String> {
        let cli = crate::cli::Cli::command();
        cli.get_subcommands()
            .chain([&cli])
            .flat_map(|c| c.get_arguments())
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect()
    }

    #[test]
    fn every_setting_is_named_by_a_flag_the_command_line_has() {
        let flags = all_flags();
        for setting in Setting::ALL {
            let f = flag(*setting);
            assert!(flags.iter().any(|g| g == f), "{setting:?}: no flag {f}");
        }
    }
}
