//! `gpu-mlp train`'s flags, and the library settings they give.

use super::data::DataArgs;
use super::engine::EngineArgs;
use super::network::NetworkArgs;
use super::values::{
    parse_non_negative, parse_non_negative_f32, parse_positive, parse_split, whole_number,
};
use clap::{Args, ValueEnum};
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::training::early_stopping::{EarlyStopping, Monitor};
use gpu_mlp::training::TrainConfig;
use std::path::PathBuf;

pub const EXAMPLES: &str = "\
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
  1    the run failed: a file missing, unreadable or corrupt (--data, --init-from, --resume),
       a file not writable, a device error, ...
  2    bad settings: a flag or --config value, a combination that cannot work, or one the data
       rules out (--train-samples past the data, a --test-split that holds out nothing)
  3    training diverged (the loss became NaN or infinite)
  130  interrupted by SIGINT, 143 by SIGTERM, 129 by SIGHUP (the first stops the run after its
       epoch and saves it to --save, for --resume; a second ends it at once)
A crash is a panic (101) or death by a signal. With --summary-json, a diverged or interrupted
run writes its summary too, its `outcome` saying which.";

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
    #[arg(long, default_value_t = 5, value_parser = whole_number(1, u64::MAX))]
    pub epochs: u64,
    #[arg(long, default_value_t = 32, value_parser = whole_number(1, u64::MAX))]
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
    #[arg(long, default_value_t = 0, value_name = "STEPS", value_parser = whole_number(0, u64::MAX))]
    pub warmup: u64,
    /// Stop once --monitor has not improved for PATIENCE epochs in a row (Keras's EarlyStopping)
    #[arg(long, value_name = "PATIENCE", value_parser = whole_number(1, u64::MAX))]
    pub early_stopping: Option<u64>,
    /// The metric early stopping watches: val_loss, val_accuracy, loss or accuracy [default:
    /// val_loss with a --validation-split, else loss]
    #[arg(long, value_name = "METRIC", requires = "early_stopping")]
    pub monitor: Option<Monitor>,
    /// An improvement must beat the best value so far by more than this [default: 0]
    #[arg(long, value_name = "DELTA", requires = "early_stopping", value_parser = parse_non_negative)]
    pub min_delta: Option<f64>,
    /// End with the parameters of the best epoch (by --monitor), whether or not training
    /// stopped early: they are tested and saved (Keras's restore_best_weights)
    #[arg(long, requires = "early_stopping")]
    pub restore_best: bool,
    /// Seed of initialisation, shuffling and dropout: same seed and engine, same numbers
    #[arg(long, default_value_t = 42, value_parser = whole_number(0, u64::MAX))]
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
    #[arg(long, value_name = "N", requires = "save", value_parser = whole_number(1, u64::MAX))]
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
    #[arg(long, value_name = "N", value_parser = whole_number(1, u64::MAX))]
    pub train_samples: Option<u64>,
}

impl TrainArgs {
    /// The optimizer the flags choose.
    pub fn optimizer(&self) -> Optimizer {
        match self.optimizer {
            OptimizerArg::Adam => Optimizer::Adam {
                lr: self.lr,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: self.adam_epsilon,
                weight_decay: self.weight_decay,
            },
            OptimizerArg::Sgd => Optimizer::Sgd { lr: self.lr },
        }
    }

    /// The training settings the flags give.
    pub fn config(&self) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs as usize,
            batch_size: self.batch_size as usize,
            validation_split: self.validation_split,
            seed: self.seed,
            optimizer: self.optimizer(),
            lr_schedule: self.lr_schedule,
            warmup: self.warmup,
            early_stopping: self.early_stopping.map(|patience| EarlyStopping {
                patience: patience as usize,
                monitor: self
                    .monitor
                    .unwrap_or(Monitor::default_for(self.validation_split)),
                min_delta: self.min_delta.unwrap_or(0.0),
                restore_best: self.restore_best,
            }),
        }
    }
}
