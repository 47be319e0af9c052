//! Trains the TensorFlow quickstart network on MNIST from a program: 784-128-10 with dropout
//! 0.2, Adam, batch 32, 5 epochs, on the GPU when there is a hardware one, else on the CPU
//! engine; prints one line per epoch and saves the model.
//!
//! ```sh
//! cargo run --release --example train_mnist -- [MNIST_DIR] [OUT.safetensors]
//! ```
//!
//! `MNIST_DIR` (default `../shared/data/mnist`) holds the four IDX files (`gpu-mlp fetch mnist
//! --dir DIR` downloads them); `OUT` defaults to `mnist.safetensors`.

use gpu_mlp::{
    load_dataset, save_checkpoint, BackendChoice, Checkpoint, DataSource, EpochRecord, Evaluation,
    KnownDataset, LoadOptions, ModelSpec, Observer, Optimizer, Trainer,
};
use std::path::PathBuf;

/// Prints what `gpu-mlp train` prints, without the progress bar.
struct Print;

impl Observer for Print {
    fn epoch_finished(&mut self, record: &EpochRecord, epochs: usize) -> gpu_mlp::Result<()> {
        println!(
            "epoch {}/{epochs}: loss {:.4}, accuracy {:.4} ({:.1} s)",
            record.epoch, record.loss, record.accuracy, record.seconds
        );
        Ok(())
    }

    fn tested(&mut self, test: &Evaluation) -> gpu_mlp::Result<()> {
        println!(
            "test: loss {:.4}, accuracy {:.4}",
            test.loss(),
            test.accuracy()
        );
        Ok(())
    }
}

fn main() -> gpu_mlp::Result<()> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let dir = args.next().unwrap_or_else(|| "../shared/data/mnist".into());
    let out = args.next().unwrap_or_else(|| "mnist.safetensors".into());

    let source = DataSource::Dir {
        dir,
        hint: Some(KnownDataset::Mnist),
    };
    let data = load_dataset(&source, &LoadOptions::default())?;
    // The quickstart: Dense(128, relu) -> Dropout(0.2) -> Dense(10).
    let spec = ModelSpec::new(data.features(), vec![128], data.classes(), 0.2)?;
    let trainer = Trainer::new(spec.clone())
        .optimizer(Optimizer::adam(1e-3))
        .batch_size(32)
        .epochs(5)
        .seed(42)
        .backend(BackendChoice::Auto);

    // `fit` would open the engine itself; opening it first shows which one trains.
    let opened = trainer.open(&data)?;
    if let Some(note) = &opened.note {
        eprintln!("{note}");
    }
    let mut engine = opened.engine;
    println!(
        "{} on {} - {}",
        spec.describe(),
        data.name(),
        engine.describe()
    );
    let start = gpu_mlp::training::Progress::new(trainer.settings());
    let report = trainer.fit_on(engine.as_mut(), &data, &mut Print, start)?;
    save_checkpoint(
        &out,
        &Checkpoint::for_dataset(spec, report.parameters, &data),
    )?;
    println!("saved the model to {}", out.display());
    Ok(())
}
