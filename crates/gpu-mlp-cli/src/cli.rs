//! Subcommands and flags. Parsing and validation of single values lives here; the work lives in
//! `commands`.

use crate::commands::export::{ExportArgs, EXPORT_EXAMPLES};
use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};
use gpu_mlp::engine::BackendChoice;
use gpu_mlp::error::ConfigError;
use gpu_mlp::model::ModelSpec;
use std::path::PathBuf;

const TRAIN_EXAMPLES: &str = "\
Examples (the three tutorial networks):
  # TensorFlow quickstart: 784-128-10, dropout 0.2, Adam, batch 32, 5 epochs (the defaults)
  gpu-mlp train
  # Fashion-MNIST tutorial: 784-50-50-10 (a network given by --hidden has no dropout unless asked)
  gpu-mlp train --dataset fashion-mnist --hidden 50,50
  # A deeper net with dropout, a validation split and a metrics file
  gpu-mlp train --hidden 128,128,128 --dropout 0.2 --validation-split 0.1 --metrics-out m.jsonl
  # Any folder holding the four IDX files, on the CPU engine
  gpu-mlp train --data ./my-digits --backend cpu
  # Your own pictures: one folder per class (photos/cat/*.jpg, photos/dog/*.jpg), resized
  gpu-mlp train --data photos/ --image-size 32x32 --color rgb --hidden 256
  # Kaggle's MNIST CSV (label,pixel0..pixel783), 20% of each class held out for the test
  gpu-mlp train --data train.csv
  # A table whose labels are its last column (no header), with a separate test file
  gpu-mlp train --data iris.data --label-column last --test-data iris-test.data --epochs 50
  # Keras's mnist.npz (x_train, y_train, x_test, y_test), or your own x and y arrays
  gpu-mlp train --data mnist.npz
  # Save the model (and every 2 epochs), draw the loss and accuracy curves
  gpu-mlp train --save model.safetensors --checkpoint-every 2 --plot curves.png
  # A run you can kill at any moment: a checkpoint after every epoch, then go on from the last
  # one exactly as if never stopped (Ctrl-C saves one too), or extend it to 70 epochs
  gpu-mlp train --epochs 50 --save run.safetensors --checkpoint-every 1
  gpu-mlp train --resume run.safetensors
  gpu-mlp train --resume run.safetensors --epochs 70
  # Go on training a saved model for 3 more epochs (a warm start: Adam's moments start again)
  gpu-mlp train --init-from model.safetensors --epochs 3 --save model2.safetensors
  # 30 epochs with a cosine learning rate after 500 steps of warm-up
  gpu-mlp train --epochs 30 --lr 0.003 --warmup 500 --lr-schedule cosine
  # AdamW (decoupled weight decay, as PyTorch's default 0.01)
  gpu-mlp train --weight-decay 0.01
  # Up to 50 epochs, stopping when val_loss has not improved for 3; keep the best epoch's model
  gpu-mlp train --epochs 50 --validation-split 0.1 --early-stopping 3 --restore-best --save m.safetensors
  # One trial of a sweep: settings from a file, a quick subset, a summary a program reads
  gpu-mlp train --config trial.toml --train-samples 6000 --summary-json summary.json

A --config file (TOML, or JSON) holds the flags' names as keys, e.g. `lr = 0.01` and
`hidden = [64, 32]`; flags on the command line win over it. See docs/sweeps.md.

Exit status:
  0    the run completed
  1    the run failed (data not found, a file not writable, a device error, ...)
  2    bad settings: on the command line or in the --config file
  3    training diverged (the loss became NaN or infinite)
  130  interrupted by SIGINT, 143 by SIGTERM (the first stops the run after its epoch and
       saves it to --save, for --resume; a second ends it at once)
A crash is a panic (101) or death by a signal. With --summary-json, a diverged or interrupted
run writes its summary too, its `outcome` saying which.";

const EVAL_EXAMPLES: &str = "\
Examples:
  gpu-mlp eval --model model.safetensors
  gpu-mlp eval --model fashion.safetensors --confusion-png confusion.png
  gpu-mlp eval --model model.safetensors --data ./my-digits";

const PREDICT_EXAMPLES: &str = "\
Examples:
  # A digit drawn black on white (any size): prints the top 3 classes
  gpu-mlp predict --model model.safetensors digit.png
  # Test-set samples 0 and 17, with their true labels, as JSON
  gpu-mlp predict --model model.safetensors --index 0,17 --json
  # The tutorial's figure: 15 test images with predictions and probability bars
  gpu-mlp predict --model model.safetensors --grid predictions.png";

const DRAW_EXAMPLES: &str = "\
Examples:
  # Serve the page on http://127.0.0.1:8000/ and open it in the default browser
  gpu-mlp draw --model model.safetensors --open
  # Any free port (printed), e.g. when 8000 is taken
  gpu-mlp draw --model fashion.safetensors --port 0
  # Reachable from other machines (phones, tablets) on your network: say so explicitly
  gpu-mlp draw --model model.safetensors --host 0.0.0.0";

#[derive(Parser, Debug)]
#[command(
    name = "gpu-mlp",
    version,
    about = "Train and run MLP image classifiers on the GPU (WGSL compute shaders), \
             checked against a CPU reference engine",
    after_help = "Run `gpu-mlp <command> --help` for examples."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process, so the size of train's many flags costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a model and evaluate it on the test set
    #[command(after_help = TRAIN_EXAMPLES, allow_negative_numbers = true)]
    Train(TrainArgs),
    /// Print a network's layers and parameter counts (as Keras's model.summary()), its FLOPs per
    /// sample and the GPU dispatches of a training step
    #[command(after_help = SUMMARY_EXAMPLES)]
    Summary(SummaryArgs),
    /// Download a known data set's four files (SHA-256 checked)
    #[command(
        after_help = "Examples:\n  gpu-mlp fetch mnist\n  gpu-mlp fetch fashion-mnist --dir ./data/fashion-mnist"
    )]
    Fetch(FetchArgs),
    /// List the GPU adapters: name, backend, type, driver, the limits and features gpu-mlp uses
    #[command(after_help = DEVICES_EXAMPLES)]
    Devices(DevicesArgs),
    /// Check every GPU kernel against the CPU reference on this adapter, then train both
    /// engines in lockstep; exit status 1 when anything is out of bounds
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify(VerifyArgs),
    /// Measure matmul GFLOP/s, per-kernel step times and training throughput; save a record
    /// and compare it with another GPU's (or driver's)
    #[command(after_help = BENCH_EXAMPLES)]
    Bench(BenchArgs),
    /// Evaluate a saved model on a data set's test split: loss, accuracy, per class, confusion
    #[command(after_help = EVAL_EXAMPLES)]
    Eval(EvalArgs),
    /// Classify image files (PNG, JPEG, BMP) or test-set samples with a saved model
    #[command(after_help = PREDICT_EXAMPLES)]
    Predict(PredictArgs),
    /// Write a saved model as an ONNX file (onnxruntime, tract, OpenCV, ...): raw input in,
    /// probabilities and logits out
    #[command(after_help = EXPORT_EXAMPLES)]
    Export(ExportArgs),
    /// Draw a 5x5 grid of training images with their class names into a PNG
    #[command(
        after_help = "Examples:\n  gpu-mlp show\n  gpu-mlp show --dataset fashion-mnist --out fashion.png"
    )]
    Show(ShowArgs),
    /// Serve a local web page: draw a digit (or garment) and watch the model name it
    #[command(after_help = DRAW_EXAMPLES)]
    Draw(DrawArgs),
}

const SUMMARY_EXAMPLES: &str = "\
Examples:
  # the TensorFlow quickstart's network (784-128-10, dropout 0.2)
  gpu-mlp summary
  # the Fashion-MNIST tutorial's, and a saved model
  gpu-mlp summary --hidden 50,50
  gpu-mlp summary --model m.safetensors --batch-size 256";

const DEVICES_EXAMPLES: &str = "\
Examples:
  gpu-mlp devices
  gpu-mlp devices --backend vulkan --json";

const VERIFY_EXAMPLES: &str = "\
Examples:
  # every kernel on the default adapter, then 50 Adam and 50 SGD lockstep steps of 784-128-10
  gpu-mlp verify
  # a named adapter, the deeper tutorial network, a report to attach to a bug report
  gpu-mlp verify --backend vulkan --adapter 0 --hidden 128,128,128 --json verify.json

The lockstep check trains on the first rows of the data set when it is found locally (verify
never downloads) and on random pixels otherwise; the output says which. Exit status: 0 when every
check is within its bound, 1 otherwise.
Self-test of the checker: GPU_MLP_VERIFY_PERTURB=PREFIX (a kernel name prefix: matmul, gather,
softmax, adam, sgd; or lockstep) nudges one GPU output element of those checks before the
comparison, so they must fail and verify must exit with status 1.
Fault injection: GPU_MLP_MUTANT=NAME (e.g. matmul-no-bias, adam-pytorch-epsilon; an unknown name
lists them) compiles that kernel wrong on the device; verify says so first and must fail.";

const BENCH_EXAMPLES: &str = "\
Examples:
  # the reduced set (under a minute on lavapipe), saved
  gpu-mlp bench --backend vulkan --quick --json lavapipe.json
  # the full set on another GPU, compared figure by figure with the saved record
  gpu-mlp bench --backend vulkan --adapter nvidia --json rtx.json --compare lavapipe.json
  # the CPU engine's training throughput, for comparison
  gpu-mlp bench --backend cpu --quick --json cpu.json
  # compare two saved records without measuring
  gpu-mlp bench --from rtx.json --compare lavapipe.json
  # how training scales: batch 32..4096 x hidden width 128..4096, a record and a plot
  gpu-mlp bench --backend vulkan --sweep --json sweep.json --plot sweep.png
  # a corner of the sweep (about a minute on lavapipe), compared with an older sweep
  gpu-mlp bench --sweep --quick --compare old-sweep.json

Each figure is the median of repeated runs after a warm-up, with min and max. See
docs/benchmarking.md.";

/// Where the data comes from.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// A known data set, looked for in $GPU_MLP_DATA, ./data/<name>, the user cache and system
    /// folders, and downloaded into the cache when found nowhere. With --data, names what an IDX
    /// folder holds (for its class names). Default: mnist; for a saved model (eval, predict) the
    /// data it was trained on (its folder or file while that exists, else the known data set of
    /// its name)
    #[arg(long, value_parser = ["mnist", "fashion-mnist"])]
    pub dataset: Option<String>,
    /// Your own data, told apart by content: a folder with the four IDX files
    /// (train-images-idx3-ubyte[.gz], ...); an image folder (PATH/<class>/<image>, or
    /// PATH/train/<class>/... with PATH/test/<class>/...; PNG, JPEG, BMP, GIF, WebP); a CSV or
    /// TSV file (or .gz of one), one row per sample; or a NumPy .npz (x_train, y_train[, x_test,
    /// y_test], or x, y)
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// Never download: fail with the list of places looked at instead
    #[arg(long)]
    pub offline: bool,
    /// The test set: a separate file or folder of the same kind, instead of the data's own
    /// test part or a --test-split
    #[arg(long, value_name = "PATH")]
    pub test_data: Option<PathBuf>,
    /// Data without a test part (a CSV file, an image folder without train/ and test/, an .npz
    /// with only x and y): hold out this fraction of each class as the test set, drawn with
    /// --seed
    #[arg(long, value_name = "F", default_value_t = gpu_mlp::data::DEFAULT_TEST_SPLIT,
          value_parser = parse_test_split)]
    pub test_split: f64,
    /// CSV: the column holding the labels, by header name, 0-based index, first or last
    /// [default: the header column named label, class, target or y, in any case]
    #[arg(long, value_name = "NAME|INDEX|first|last")]
    pub label_column: Option<gpu_mlp::data::LabelColumn>,
    /// How values become inputs: auto (/255 for 8-bit data, kept packed; per-feature
    /// standardisation, measured on the training part, for other numbers), pixels (/255),
    /// standardize, or none
    #[arg(long, value_name = "auto|pixels|standardize|none", default_value = "auto",
          value_parser = parse_scale)]
    pub scale: gpu_mlp::data::ScaleRequest,
    /// Image folders: resize every image to WIDTHxHEIGHT [default: the size they all share]
    #[arg(long, value_name = "WxH", value_parser = gpu_mlp::data::parse_image_size)]
    pub image_size: Option<(u32, u32)>,
    /// Image folders: grey (1 input per pixel) or rgb (3) [default: gray when every image is
    /// stored grey]
    #[arg(long, value_name = "gray|rgb")]
    pub color: Option<gpu_mlp::data::ColorMode>,
}

impl Default for DataArgs {
    /// What the flags are when none is given.
    fn default() -> Self {
        Self {
            dataset: None,
            data: None,
            offline: false,
            test_data: None,
            test_split: gpu_mlp::data::DEFAULT_TEST_SPLIT,
            label_column: None,
            scale: gpu_mlp::data::ScaleRequest::Auto,
            image_size: None,
            color: None,
        }
    }
}

fn parse_test_split(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r > 0.0 && r < 1.0 => Ok(r),
        _ => Err(format!(
            "expected a fraction in (0, 1), e.g. 0.2; got '{s}'"
        )),
    }
}

fn parse_scale(s: &str) -> Result<gpu_mlp::data::ScaleRequest, String> {
    s.parse()
}

/// Which engine runs the work.
#[derive(Args, Debug, Clone)]
pub struct EngineArgs {
    /// Engine: auto takes a hardware GPU if there is one, else the CPU engine; a named GPU
    /// backend is always used (software adapters too). Default: $WGPU_BACKEND, else auto
    #[arg(long, value_parser = backend_parser())]
    pub backend: Option<BackendChoice>,
    /// Adapter by name (substring, case-insensitive) or index from `gpu-mlp devices`.
    /// Default: $WGPU_ADAPTER_NAME
    #[arg(long, value_name = "NAME|INDEX")]
    pub adapter: Option<String>,
    /// GPU engine: training steps recorded per command buffer (and per progress update)
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub steps_per_submit: u64,
}

/// `--backend` takes the engine choices by name.
fn backend_parser() -> impl clap::builder::TypedValueParser<Value = BackendChoice> {
    use clap::builder::{PossibleValuesParser, TypedValueParser};
    let names = BackendChoice::VARIANTS
        .iter()
        .map(|b| PossibleValue::new(b.name()));
    PossibleValuesParser::new(names).map(|name| {
        *BackendChoice::VARIANTS
            .iter()
            .find(|b| b.name() == name)
            .expect("clap passes only the names listed")
    })
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptimizerArg {
    Adam,
    Sgd,
}

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub epochs: u64,
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
    /// Learning rate
    #[arg(long, default_value_t = 1e-3, value_parser = parse_positive)]
    pub lr: f32,
    #[arg(long, value_enum, default_value_t = OptimizerArg::Adam)]
    pub optimizer: OptimizerArg,
    /// Adam's epsilon (Keras: 1e-7; PyTorch: 1e-8)
    #[arg(long, default_value_t = 1e-7, value_parser = parse_positive)]
    pub adam_epsilon: f32,
    /// Decoupled weight decay W (AdamW, as PyTorch's and Keras's): every step first takes
    /// lr_t·W·w off each parameter w (lr_t: the scheduled rate) [default: 0, plain Adam]
    #[arg(long, default_value_t = 0.0, value_name = "W", value_parser = parse_non_negative_f32)]
    pub weight_decay: f32,
    /// How the learning rate changes, per step over the whole run: constant,
    /// step:EVERY:FACTOR (times FACTOR after every EVERY steps), exponential:FACTOR (times FACTOR
    /// per epoch, applied smoothly) or cosine (down to 0 at the last step)
    #[arg(long, default_value = "constant", value_name = "SCHEDULE")]
    pub lr_schedule: gpu_mlp::training::schedule::Schedule,
    /// Ramp the learning rate up linearly over the first STEPS steps (then the schedule starts)
    #[arg(long, default_value_t = 0, value_name = "STEPS")]
    pub warmup: u64,
    /// Stop once --monitor has not improved for PATIENCE epochs in a row (Keras's EarlyStopping)
    #[arg(long, value_name = "PATIENCE", value_parser = clap::value_parser!(u64).range(1..))]
    pub early_stopping: Option<u64>,
    /// The metric early stopping watches: val_loss, val_accuracy, loss or accuracy [default:
    /// val_loss with a --validation-split, else loss]
    #[arg(long, value_name = "METRIC", requires = "early_stopping")]
    pub monitor: Option<gpu_mlp::training::early_stopping::Monitor>,
    /// An improvement must beat the best value so far by more than this [default: 0]
    #[arg(long, value_name = "DELTA", requires = "early_stopping", value_parser = parse_non_negative)]
    pub min_delta: Option<f64>,
    /// End with the parameters of the best epoch (by --monitor), whether or not training
    /// stopped early: they are tested and saved (Keras's restore_best_weights)
    #[arg(long, requires = "early_stopping")]
    pub restore_best: bool,
    /// Seed of initialisation, shuffling and dropout: same seed and engine, same numbers
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Hold out this fraction of the training data (its end, before shuffling) for validation
    #[arg(long, default_value_t = 0.0, value_parser = parse_split)]
    pub validation_split: f64,
    /// Write one JSON line per epoch and a last one with the test result
    #[arg(long, value_name = "FILE")]
    pub metrics_out: Option<PathBuf>,
    /// Save the trained model here (safetensors, PyTorch layout; see docs/checkpoint-format.md)
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Also save to the --save file every N epochs, so an interrupted run keeps its progress
    #[arg(long, value_name = "N", requires = "save", value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: Option<u64>,
    /// Start from a saved model's parameters instead of a fresh initialisation. Its layer sizes
    /// are used (--hidden is not), and its dropout rate unless --dropout is given; this run's
    /// other settings (--lr, --epochs, ...) apply
    #[arg(long, value_name = "FILE")]
    pub init_from: Option<PathBuf>,
    /// Go on with a run from its --save file (written by --checkpoint-every, a Ctrl-C or the
    /// run's end): its settings, parameters, Adam's moments, history and early-stopping state,
    /// so it ends bit for bit as if never stopped. No other flag is needed; one that would
    /// change the results is refused, and --epochs may extend the run
    #[arg(long, value_name = "FILE", conflicts_with_all = ["init_from", "config"])]
    pub resume: Option<PathBuf>,
    /// Draw loss and accuracy per epoch (training and validation) into this PNG, updated after
    /// every epoch
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Before training on a GPU, check its kernels and a few lockstep steps against the CPU
    /// reference (as `gpu-mlp verify` does, reduced); refuse to train when any is out of bounds
    #[arg(long)]
    pub verify: bool,
    /// Read settings from a TOML or JSON file whose keys are these flags' names (`lr = 0.01`,
    /// `hidden = [64, 32]`, `batch_size = 64`); a flag on the command line wins over the file
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// When the run ends (completed, diverged or interrupted), write one JSON object: settings,
    /// final and best metrics, the test result, time, engine, commit and outcome. `-`: the last
    /// line of stdout
    #[arg(long, value_name = "FILE|-")]
    pub summary_json: Option<PathBuf>,
    /// Train on N samples of the training part: a class-stratified subset drawn with --seed,
    /// taken before --validation-split (quick screening runs of a sweep)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub train_samples: Option<u64>,
}

/// The TensorFlow quickstart's network: Dense(128, relu) → Dropout(0.2) → Dense(classes).
pub const DEFAULT_HIDDEN: [usize; 1] = [128];
/// The quickstart's dropout rate; it belongs to the quickstart network, so a network described
/// with `--hidden` trains without dropout unless `--dropout` asks (as the Fashion-MNIST tutorial's
/// 784-50-50-10 does: 0.2 there costs it ~1 pp after 5 epochs).
pub const DEFAULT_NETWORK_DROPOUT: f32 = 0.2;

/// The network `train` builds and `summary` describes: the quickstart's unless the flags say.
#[derive(Args, Debug, Clone)]
pub struct NetworkArgs {
    /// Hidden layer widths, comma-separated; "none" for no hidden layer [default: 128, the
    /// quickstart's Dense(128) with its Dropout(0.2)]
    #[arg(long, value_parser = parse_hidden, value_name = "W1,W2,..")]
    pub hidden: Option<HiddenLayers>,
    /// Dropout rate after every hidden layer while training, in [0, 1) [default: 0.2 for the
    /// default network, 0 for one given by --hidden, the saved rate with train --init-from]
    #[arg(long, value_parser = parse_rate, value_name = "RATE")]
    pub dropout: Option<f32>,
}

impl NetworkArgs {
    /// The fresh network the flags describe, from `inputs` to `classes`.
    pub fn spec(&self, inputs: usize, classes: usize) -> Result<ModelSpec, ConfigError> {
        ModelSpec::new(
            inputs,
            self.hidden_layers(),
            classes,
            self.dropout_rate(None),
        )
    }

    /// Hidden widths: `--hidden`, else the quickstart's.
    pub fn hidden_layers(&self) -> Vec<usize> {
        match &self.hidden {
            Some(hidden) => hidden.0.clone(),
            None => DEFAULT_HIDDEN.to_vec(),
        }
    }

    /// Dropout rate: `--dropout`, else `saved` (a checkpoint's rate), else the quickstart's for
    /// the default network and none for one given by `--hidden`.
    pub fn dropout_rate(&self, saved: Option<f32>) -> f32 {
        match (self.dropout, saved, &self.hidden) {
            (Some(rate), _, _) => rate,
            (None, Some(rate), _) => rate,
            (None, None, None) => DEFAULT_NETWORK_DROPOUT,
            (None, None, Some(_)) => 0.0,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct SummaryArgs {
    /// A saved model (from `train --save`): its layers and dropout
    #[arg(long, value_name = "FILE", conflicts_with_all = ["hidden", "dropout", "inputs", "classes"])]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Inputs per sample (MNIST's 28x28 pixels)
    #[arg(long, default_value_t = 784, value_parser = clap::value_parser!(u64).range(1..))]
    pub inputs: u64,
    /// Classes
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..))]
    pub classes: u64,
    /// Batch size of the training step whose FLOPs are counted
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
}

#[derive(Args, Debug, Clone)]
pub struct DevicesArgs {
    /// Only this graphics API's adapters (default: $WGPU_BACKEND, else every API)
    #[arg(long, value_parser = backend_parser())]
    pub backend: Option<BackendChoice>,
    /// Print JSON (one array, one object per adapter) instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct VerifyArgs {
    /// The data set defines the model's inputs and classes (default MNIST: 784 -> 10) and gives
    /// the lockstep check its rows; verify never downloads
    #[command(flatten)]
    pub data: DataArgs,
    /// The adapter to check (--backend auto: the most capable adapter, software ones included)
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Hidden layer widths of the model whose shapes are checked
    #[arg(long, default_value = "128", value_parser = parse_hidden, value_name = "W1,W2,..")]
    pub hidden: HiddenLayers,
    /// Dropout rate of the model (its mask is checked bit for bit)
    #[arg(long, default_value_t = 0.2, value_parser = parse_rate)]
    pub dropout: f32,
    /// Batch size of the model's shapes and of the lockstep steps
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub batch_size: u64,
    /// Lockstep training steps on both engines; the first 50 are held to the bounds, later ones
    /// show how the engines drift apart (0 skips the lockstep check)
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub steps: u64,
    /// Seed of the random inputs, the initialisation, the shuffle and dropout
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write the whole result with the adapter's info to FILE (JSON), e.g. for a bug report
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// The engine to measure: a GPU backend (every figure) or cpu (training throughput only).
    /// auto: what `train` would use
    #[command(flatten)]
    pub engine: EngineArgs,
    /// A reduced set that finishes in under a minute on lavapipe
    #[arg(long)]
    pub quick: bool,
    /// Runs per figure after the warm-up (default 5, 3 with --quick)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub repeats: Option<u64>,
    /// Write the record (build, host, adapter, every figure with its unit) to FILE (JSON)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Print each figure's ratio to the one in this older record (new / old)
    #[arg(long, value_name = "OLD.json")]
    pub compare: Option<PathBuf>,
    /// Measure how training scales instead: samples/s and GFLOP/s of 784-W-W-10 over batch
    /// sizes 32..4096 and widths 128..4096 (--quick: a corner of it), as a share of the best
    /// matmul rate measured on the same device
    #[arg(long)]
    pub sweep: bool,
    /// Where --sweep draws its plot (throughput against batch, one line per width)
    #[arg(
        long,
        value_name = "FILE.png",
        default_value = "sweep.png",
        requires = "sweep"
    )]
    pub plot: PathBuf,
    /// Read a saved record instead of measuring (print it, or compare it with --compare)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["quick", "repeats", "backend", "adapter"])]
    pub from: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// The saved model (from `train --save`)
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Draw the confusion matrix as a heat map into this PNG
    #[arg(long, value_name = "FILE")]
    pub confusion_png: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct PredictArgs {
    /// The saved model (from `train --save`)
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Images to classify (PNG, JPEG or BMP, any size, colour or grey), prepared as
    /// --preprocess says; or, for a model trained on a table, CSV/TSV files of rows of feature
    /// values (a header naming the label column leaves that column out)
    #[arg(value_name = "IMAGE|ROWS.csv")]
    pub images: Vec<PathBuf>,
    /// How an image becomes the model's input: mnist (grey, inverted when the background is
    /// light, cropped, fitted and centred as MNIST's digits were) or plain (resized to the
    /// model's size and colour). Default: mnist for 28x28 grey models, plain for others
    #[arg(long, value_name = "HOW", value_parser = preprocess_parser())]
    pub preprocess: Option<gpu_mlp::inference::preprocess::Preprocess>,
    /// Classify test-set sample N (repeat or separate with commas) and show its true label
    #[arg(long, value_name = "N", value_delimiter = ',')]
    pub index: Vec<usize>,
    /// How many of the most probable classes to print
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub top: u64,
    /// Print JSON (one array, one object per image) instead of text
    #[arg(long)]
    pub json: bool,
    /// Draw each image with its prediction and a bar chart of class probabilities into this
    /// PNG; with no IMAGE or --index, the first 15 test images
    #[arg(long, value_name = "FILE")]
    pub grid: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Args, Debug, Clone)]
pub struct DrawArgs {
    /// The saved model (from `train --save`); its class names label the page
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Port to listen on; 0 picks a free one (the URL is printed)
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Address to listen on. The default answers this machine only; 0.0.0.0 (or ::) opens the
    /// page to every machine that can reach this one
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDRESS")]
    pub host: String,
    /// Open the page in the default browser (xdg-open, open or start)
    #[arg(long)]
    pub open: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Args, Debug, Clone)]
pub struct ShowArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The PNG to write
    #[arg(long, value_name = "FILE", default_value = "samples.png")]
    pub out: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct FetchArgs {
    #[arg(value_parser = ["mnist", "fashion-mnist"])]
    pub dataset: String,
    /// Where to put the files (default: the per-user cache that `train` searches)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Hidden layer widths (a newtype so clap treats the list as one value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiddenLayers(pub Vec<usize>);

fn parse_hidden(s: &str) -> Result<HiddenLayers, String> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("none") {
        return Ok(HiddenLayers(Vec::new()));
    }
    s.split(',')
        .map(|part| match part.trim().parse::<usize>() {
            Ok(0) => Err("every hidden layer needs at least 1 unit (got 0)".to_string()),
            Ok(w) => Ok(w),
            Err(_) => Err(format!(
                "'{part}' is not a layer width; use e.g. 128 or 128,64 or none"
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(HiddenLayers)
}

fn parse_rate(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(r) if (0.0..1.0).contains(&r) => Ok(r),
        _ => Err(format!("expected a rate in [0, 1), e.g. 0.2; got '{s}'")),
    }
}

fn parse_split(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..1.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "expected a fraction in [0, 1), e.g. 0.1; got '{s}'"
        )),
    }
}

fn parse_non_negative_f32(s: &str) -> Result<f32, String> {
    parse_non_negative(s).map(|v| v as f32)
}

fn parse_non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("expected a number >= 0, e.g. 0.001; got '{s}'")),
    }
}

fn parse_positive(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("expected a positive number, e.g. 0.001; got '{s}'")),
    }
}

/// `--preprocess mnist|plain`, spelled as the library's [`Preprocess`] variants.
///
/// [`Preprocess`]: gpu_mlp::inference::preprocess::Preprocess
fn preprocess_parser(
) -> impl clap::builder::TypedValueParser<Value = gpu_mlp::inference::preprocess::Preprocess> {
    use clap::builder::{PossibleValuesParser, TypedValueParser};
    use gpu_mlp::inference::preprocess::Preprocess;
    PossibleValuesParser::new(["mnist", "plain"]).map(|s| match s.as_str() {
        "mnist" => Preprocess::Mnist,
        _ => Preprocess::Plain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_lists_parse() {
        assert_eq!(parse_hidden("128,64").unwrap().0, vec![128, 64]);
        assert_eq!(parse_hidden("none").unwrap().0, Vec::<usize>::new());
        assert!(parse_hidden("128,0").is_err());
        assert!(parse_hidden("12x").is_err());
    }

    fn train_args(extra: &[&str]) -> TrainArgs {
        let argv = ["gpu-mlp", "train"].iter().chain(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Train(args) => args,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn dropout_comes_with_the_default_network_only() {
        let quickstart = train_args(&[]);
        assert_eq!(quickstart.network.hidden_layers(), vec![128]);
        assert_eq!(quickstart.network.dropout_rate(None), 0.2);
        // A network described by --hidden (even the same widths) has no dropout unless asked.
        assert_eq!(
            train_args(&["--hidden", "50,50"])
                .network
                .dropout_rate(None),
            0.0
        );
        assert_eq!(
            train_args(&["--hidden", "128"]).network.dropout_rate(None),
            0.0
        );
        let asked = train_args(&["--hidden", "50,50", "--dropout", "0.3"]);
        assert_eq!(asked.network.hidden_layers(), vec![50, 50]);
        assert_eq!(asked.network.dropout_rate(None), 0.3);
        // A checkpoint's rate wins over the defaults, --dropout over the checkpoint's.
        assert_eq!(quickstart.network.dropout_rate(Some(0.1)), 0.1);
        assert_eq!(asked.network.dropout_rate(Some(0.1)), 0.3);
    }

    #[test]
    fn definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
