//! Loads a saved model and names the pictures given: the three most probable classes of each.
//!
//! ```sh
//! cargo run --release --example train_mnist            # writes mnist.safetensors
//! cargo run --release --example classify -- mnist.safetensors digit.png [more.png ...]
//! ```
//!
//! A picture may be any PNG, JPEG or BMP: it is prepared as MNIST's digits were (grey, inverted
//! when the background is light, cropped, fitted into 20×20 and centred in 28×28).

use gpu_mlp::{top_k, Classifier};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [model, pictures @ ..] = args.as_slice() else {
        eprintln!("usage: classify MODEL.safetensors PICTURE...");
        return ExitCode::from(2);
    };
    if pictures.is_empty() {
        eprintln!("usage: classify MODEL.safetensors PICTURE...");
        return ExitCode::from(2);
    }
    match classify(model, pictures) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn classify(model: &Path, pictures: &[PathBuf]) -> gpu_mlp::Result<()> {
    let mut classifier = Classifier::load(model)?;
    for picture in pictures {
        let probabilities = classifier.classify_file(picture)?;
        let ranked: Vec<String> = top_k(&probabilities, 3)
            .into_iter()
            .map(|(class, p)| format!("{} {:.1}%", classifier.class_names()[class], 100.0 * p))
            .collect();
        println!("{}: {}", picture.display(), ranked.join(", "));
    }
    Ok(())
}
