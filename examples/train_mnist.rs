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
    load_dataset, open_engine, save_checkpoint, train, BackendChoice, Checkpoint, DataSource,
    EngineOptions, EpochRecord, Evaluation, KnownDataset, LoadOptions, ModelSpec, Observer,
    TrainConfig,
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
    let config = TrainConfig::default();

    let opened = open_engine(
        BackendChoice::Auto,
        None,
        &spec,
        config.optimizer,
        config.batch_size,
        &EngineOptions::default(),
    )?;
    if let Some(note) = &opened.note {
        eprintln!("{note}");
    }
    let mut engine = opened.engine;
    println!(
        "{} on {} - {}",
        spec.describe(),
        data.name,
        engine.describe()
    );
    engine.set_parameters(&spec.init_parameters(config.seed))?;

    let report = train(&config, &data, engine.as_mut(), &mut Print)?;
    save_checkpoint(
        &out,
        &Checkpoint::for_dataset(spec, report.parameters, &data),
    )?;
    println!("saved the model to {}", out.display());
    Ok(())
}
