//! The settings a user can get wrong, as data: library errors name a [`Setting`], never a
//! command-line flag, and each face of the library (the `gpu-mlp` command, the Python package)
//! names it in its own words.
//!
//! A message is a [`Phrase`]: text with typed slots for settings ("{epochs} must be at least
//! 1"). Left alone, a slot reads as the setting's plain name ("epochs must be at least 1", what
//! a program calling `Trainer::epochs(0)` should see); the command line installs a
//! [`Vocabulary`] that reads it as its flag ("--epochs must be at least 1"), the Python package
//! one that reads it as its parameter ("batch_size"). Advice is a phrase too: "use a smaller
//! {hidden widths} (or {batch size})" carries the settings to reduce.
//!
//! Why a phrase with slots rather than one error variant per message: the messages (about 50)
//! differ in shape far more than in kind, and each face only needs to swap the names, so the
//! slots are the data a face acts on ([`Phrase::settings`]) while the wording stays written once,
//! beside the check. Why one vocabulary per process rather than an argument to a renderer:
//! `Display` takes no arguments, and errors are formatted far from any face's reach (inside
//! `anyhow` chains, in `to_string()` calls, on server threads, inside other errors' messages);
//! a process is one face, so it installs its words once, before it does anything else.

use std::fmt;
use std::sync::OnceLock;

/// A setting of a training run, a data source or an engine, as a library error names it.
/// Exhaustive on purpose: a face's table of names is a `match` that a new setting must extend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Setting {
    /// Passes over the training data.
    Epochs,
    /// Samples per training step.
    BatchSize,
    /// The optimizer's learning rate.
    LearningRate,
    /// The shape of the learning rate over the run.
    LrSchedule,
    /// Steps of learning-rate warm-up.
    Warmup,
    /// The update rule.
    Optimizer,
    /// Adam's epsilon.
    AdamEpsilon,
    /// Decoupled weight decay.
    WeightDecay,
    /// The fraction of the training data held out for validation.
    ValidationSplit,
    /// Early stopping's patience, in epochs.
    EarlyStopping,
    /// The metric early stopping watches.
    Monitor,
    /// The least change early stopping counts as an improvement.
    MinDelta,
    /// Keeping the best epoch's parameters at the end.
    RestoreBest,
    /// The widths of the hidden layers.
    HiddenWidths,
    /// The dropout rate.
    Dropout,
    /// The seed of initialisation, shuffling and dropout.
    Seed,
    /// The engine: auto, a GPU backend or the CPU.
    Backend,
    /// Which GPU adapter.
    Adapter,
    /// Training steps recorded per GPU submission.
    StepsPerSubmit,
    /// A known data set, by name.
    Dataset,
    /// The data's folder or file.
    Data,
    /// A separate test set's file or folder.
    TestData,
    /// The fraction of each class held out as the test set.
    TestSplit,
    /// A seeded subset of the training samples.
    TrainSamples,
    /// The size images are resized to.
    ImageSize,
    /// Whether images keep their colour.
    Color,
    /// Which table column holds the labels.
    LabelColumn,
    /// How a picture becomes a model's input.
    Preprocess,
    /// Going on with a saved run.
    Resume,
    /// Starting from a saved model's parameters.
    InitFrom,
}

impl Setting {
    /// Every setting.
    pub const ALL: &'static [Setting] = &[
        Setting::Epochs,
        Setting::BatchSize,
        Setting::LearningRate,
        Setting::LrSchedule,
        Setting::Warmup,
        Setting::Optimizer,
        Setting::AdamEpsilon,
        Setting::WeightDecay,
        Setting::ValidationSplit,
        Setting::EarlyStopping,
        Setting::Monitor,
        Setting::MinDelta,
        Setting::RestoreBest,
        Setting::HiddenWidths,
        Setting::Dropout,
        Setting::Seed,
        Setting::Backend,
        Setting::Adapter,
        Setting::StepsPerSubmit,
        Setting::Dataset,
        Setting::Data,
        Setting::TestData,
        Setting::TestSplit,
        Setting::TrainSamples,
        Setting::ImageSize,
        Setting::Color,
        Setting::LabelColumn,
        Setting::Preprocess,
        Setting::Resume,
        Setting::InitFrom,
    ];

    /// Its plain name, as a sentence would say it ("batch size").
    pub fn name(self) -> &'static str {
        match self {
            Setting::Epochs => "epochs",
            Setting::BatchSize => "batch size",
            Setting::LearningRate => "learning rate",
            Setting::LrSchedule => "learning-rate schedule",
            Setting::Warmup => "warm-up",
            Setting::Optimizer => "optimizer",
            Setting::AdamEpsilon => "Adam epsilon",
            Setting::WeightDecay => "weight decay",
            Setting::ValidationSplit => "validation split",
            Setting::EarlyStopping => "early-stopping patience",
            Setting::Monitor => "monitor",
            Setting::MinDelta => "min delta",
            Setting::RestoreBest => "restore best",
            Setting::HiddenWidths => "hidden width",
            Setting::Dropout => "dropout",
            Setting::Seed => "seed",
            Setting::Backend => "backend",
            Setting::Adapter => "adapter",
            Setting::StepsPerSubmit => "steps per submit",
            Setting::Dataset => "data set",
            Setting::Data => "data",
            Setting::TestData => "test data",
            Setting::TestSplit => "test split",
            Setting::TrainSamples => "training samples",
            Setting::ImageSize => "image size",
            Setting::Color => "color",
            Setting::LabelColumn => "label column",
            Setting::Preprocess => "preprocess",
            Setting::Resume => "resume",
            Setting::InitFrom => "init from",
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The words a face of the library names settings with.
pub trait Vocabulary: Send + Sync {
    /// What `setting` is called ("--batch-size", "batch_size").
    fn name(&self, setting: Setting) -> &'static str;
    /// What a setting is called in general ("flag", "argument").
    fn setting_word(&self) -> &'static str;
}

/// The library's own words: each setting's [`Setting::name`].
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainNames;

impl Vocabulary for PlainNames {
    fn name(&self, setting: Setting) -> &'static str {
        setting.name()
    }
    fn setting_word(&self) -> &'static str {
        "setting"
    }
}

static INSTALLED: OnceLock<&'static dyn Vocabulary> = OnceLock::new();

/// Makes every [`Phrase`] of this process name settings with `words`. The first call wins;
/// a later one returns `false` and changes nothing.
pub fn use_vocabulary(words: &'static dyn Vocabulary) -> bool {
    INSTALLED.set(words).is_ok()
}

/// The vocabulary in force: the installed one, else [`PlainNames`].
pub fn vocabulary() -> &'static dyn Vocabulary {
    INSTALLED.get().copied().unwrap_or(&PlainNames)
}

/// One part of a [`Phrase`].
#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    /// Words as they are.
    Text(String),
    /// A setting, named by the vocabulary in force.
    Setting(Setting),
    /// The vocabulary's word for a setting ("flag").
    SettingWord,
}

impl From<&str> for Piece {
    fn from(text: &str) -> Self {
        Piece::Text(text.to_string())
    }
}

impl From<String> for Piece {
    fn from(text: String) -> Self {
        Piece::Text(text)
    }
}

impl From<Setting> for Piece {
    fn from(setting: Setting) -> Self {
        Piece::Setting(setting)
    }
}

/// A message whose settings are data: text with [`Setting`] slots.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Phrase {
    pieces: Vec<Piece>,
}

impl Phrase {
    /// A phrase of these pieces, in order.
    pub fn new(pieces: impl IntoIterator<Item = Piece>) -> Self {
        Self {
            pieces: pieces.into_iter().collect(),
        }
    }

    /// The settings it names, in order.
    pub fn settings(&self) -> impl Iterator<Item = Setting> + '_ {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Setting(s) => Some(*s),
            _ => None,
        })
    }

    /// This phrase, then `more`.
    pub fn followed_by(mut self, more: Phrase) -> Phrase {
        self.pieces.extend(more.pieces);
        self
    }

    /// The phrase in `words`.
    pub fn render(&self, words: &dyn Vocabulary) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            out.push_str(match piece {
                Piece::Text(text) => text,
                Piece::Setting(setting) => words.name(*setting),
                Piece::SettingWord => words.setting_word(),
            });
        }
        out
    }
}

/// In the [`vocabulary`] in force.
impl fmt::Display for Phrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(vocabulary()))
    }
}

impl From<String> for Phrase {
    fn from(text: String) -> Self {
        Self::new([Piece::Text(text)])
    }
}

impl From<&str> for Phrase {
    fn from(text: &str) -> Self {
        Self::new([Piece::from(text)])
    }
}

impl From<Setting> for Phrase {
    fn from(setting: Setting) -> Self {
        Self::new([Piece::Setting(setting)])
    }
}

/// `phrase![Setting::Epochs, " must be at least 1"]`: a [`Phrase`] of pieces (text,
/// `String`s, [`Setting`]s, [`Piece::SettingWord`]) in order.
#[macro_export]
macro_rules! phrase {
    ($($piece:expr),* $(,)?) => {
        $crate::setting::Phrase::new([$($crate::setting::Piece::from($piece)),*])
    };
}

/// A setting that cannot work (bad value, incompatible combination). Its message names the
/// settings as data ([`Setting`]), which each face of the library words its own way.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    message: Phrase,
}

impl ConfigError {
    /// An error with this message: text, or a [`Phrase`] naming settings.
    pub fn new(message: impl Into<Phrase>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The whole message.
    pub fn message(&self) -> &Phrase {
        &self.message
    }

    /// The settings the message names, in order (the first is the one to change).
    pub fn settings(&self) -> impl Iterator<Item = Setting> + '_ {
        self.message.settings()
    }
}

/// `config_error!("...{x}...")`: a [`ConfigError`] from a format string (the crate's own
/// shorthand, not part of the API).
#[doc(hidden)]
#[macro_export]
macro_rules! config_error {
    ($($arg:tt)*) => {
        $crate::setting::ConfigError::new(format!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Flags;
    impl Vocabulary for Flags {
        fn name(&self, setting: Setting) -> &'static str {
            match setting {
                Setting::Monitor => "--monitor",
                Setting::ValidationSplit => "--validation-split",
                _ => "--other",
            }
        }
        fn setting_word(&self) -> &'static str {
            "flag"
        }
    }

    #[test]
    fn every_setting_is_listed_once_with_its_own_name() {
        let mut names: Vec<&str> = Setting::ALL.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Setting::ALL.len());
    }

    #[test]
    fn slots_take_each_vocabulary_s_names() {
        let p = phrase![
            Setting::Monitor,
            " val_loss needs a ",
            Setting::ValidationSplit,
            "; leave the ",
            Piece::SettingWord,
            " out"
        ];
        assert_eq!(
            p.render(&PlainNames),
            "monitor val_loss needs a validation split; leave the setting out"
        );
        assert_eq!(
            p.render(&Flags),
            "--monitor val_loss needs a --validation-split; leave the flag out"
        );
        assert_eq!(
            p.settings().collect::<Vec<_>>(),
            [Setting::Monitor, Setting::ValidationSplit]
        );
        assert_eq!(Setting::BatchSize.to_string(), "batch size");
    }
}
