//! Train and run multilayer-perceptron image classifiers (MNIST, Fashion-MNIST, any IDX data set)
//! on the GPU through hand-written WGSL compute shaders, with a CPU reference engine as the
//! oracle and the fallback. The `gpu-mlp` command line is built on this API.
//!
//! The crate root is the whole API a program needs:
//!
//! - a data set: [`Dataset`], loaded with [`load_dataset`] from a [`DataSource`] (a
//!   [`KnownDataset`] looked for and fetched by name, or a folder), or built in memory;
//! - a model: [`ModelSpec`] (layer sizes, dropout) and its Glorot initialisation;
//! - training: a [`Trainer`] states each setting once (optimizer, batch size, epochs, seed, the
//!   engine as a [`BackendChoice`]: `Auto` takes a hardware GPU when there is one, else the CPU
//!   engine), opens the engine and trains, telling an [`Observer`] of the progress; it returns a
//!   [`TrainReport`] with the history, the test result and the parameters. Below it,
//!   [`open_engine`] and the loop [`train`] take an [`Engine`] and a [`TrainConfig`];
//! - use: a [`Checkpoint`] ([`save_checkpoint`], [`load_checkpoint`]) and a [`Classifier`] that
//!   predicts from pixels or from any picture;
//! - elsewhere: [`export_onnx`] writes a checkpoint as an ONNX model for onnxruntime, tract and
//!   the other ONNX runtimes (raw input in, the model's scaling in the graph).
//!
//! # Example
//!
//! Train a small network on the CPU engine on four made-up 2×2 images, then classify one:
//!
//! ```
//! use gpu_mlp::{
//!     BackendChoice, Checkpoint, Classifier, Dataset, ModelSpec, Optimizer, Samples, Silent,
//!     Trainer,
//! };
//!
//! # fn main() -> gpu_mlp::Result<()> {
//! // Class 0 is ink on the left column, class 1 ink on the right.
//! let samples = Samples::pixels(vec![255, 0, 255, 0, 0, 255, 0, 255, 200, 0, 255, 0, 0, 200, 0, 255],
//!                               vec![0, 1, 0, 1], 4)?;
//! let data = Dataset::new("columns", vec!["left".into(), "right".into()], (2, 2),
//!                         samples.clone(), samples)?;
//!
//! let spec = ModelSpec::new(data.features(), vec![8], data.classes(), 0.0)?;
//! let report = Trainer::new(spec.clone())
//!     .optimizer(Optimizer::adam(0.01))
//!     .batch_size(2)
//!     .epochs(40)
//!     .backend(BackendChoice::Cpu)
//!     .fit(&data, &mut Silent)?;
//! assert_eq!(report.history.len(), 40);
//! assert_eq!(report.test.accuracy(), 1.0);
//!
//! let mut classifier =
//!     Classifier::from_checkpoint(Checkpoint::for_dataset(spec, report.parameters, &data))?;
//! let p = classifier.probabilities(&[0.0, 1.0, 0.0, 1.0]);
//! assert!(p[1] > 0.9, "ink on the right is class 1: {p:?}");
//! # Ok(())
//! # }
//! ```
//!
//! `examples/train_mnist.rs` trains the TensorFlow quickstart network on MNIST and saves it;
//! `examples/classify.rs` loads a checkpoint and names a picture.
//!
//! # Modules
//!
//! Besides the root, [`error`] holds the typed errors; their messages name a [`Setting`] in
//! plain words ("batch size must be at least 1"), and [`setting`] lets a front end (the command
//! line, the Python package) name settings its own way. The other modules are the command line's
//! and the engines' insides. Those the integration tests and benchmarks reach into (the engines,
//! the data readers, the commands) stay `pub` but hidden from the documentation: they are not a
//! stable API. The rest is private.

/// `Display` for types shown by their `name()` (the word a flag or a file spells them with).
macro_rules! display_as_name {
    ($t:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

pub mod checkpoint;
pub mod data;
pub mod diagnostics;
pub mod engine;
pub mod error;
pub mod fsio;
pub mod inference;
pub mod model;
pub mod setting;
pub mod training;

pub use checkpoint::{load as load_checkpoint, save as save_checkpoint, Checkpoint};
pub use data::{load as load_dataset, DataSource, Dataset, KnownDataset, LoadOptions, Samples};
pub use engine::{
    open_engine, BackendChoice, Engine, EngineOptions, EpochPlan, Evaluation, OpenedEngine, Split,
    StepMetrics, StepPlan,
};
pub use error::{Error, Result};
pub use inference::classifier::{top_k, Classifier};
pub use inference::export::save as export_onnx;
pub use model::optimizer::Optimizer;
pub use model::{DenseLayer, ModelSpec};
pub use setting::Setting;
pub use training::{
    run as train, EpochRecord, Observer, Silent, TrainConfig, TrainReport, Trainer,
};
