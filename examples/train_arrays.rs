//! Trains MNIST from arrays in memory with the library alone (even `--no-default-features`):
//! `cargo run --release -p gpu-mlp --example train_arrays -- [MNIST_DIR]`
use gpu_mlp::data::idx::{read_images, read_labels};
use gpu_mlp::{BackendChoice, Dataset, ModelSpec, Optimizer, Samples, Silent, Trainer};

fn main() -> gpu_mlp::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or("../shared/data/mnist".into());
    // Any arrays will do: 784 pixels (0-255) per image, one label (0-9) each.
    let split = |part: &str| -> gpu_mlp::Result<Samples> {
        let pixels = read_images(format!("{dir}/{part}-images-idx3-ubyte.gz"))?.pixels;
        let labels = read_labels(format!("{dir}/{part}-labels-idx1-ubyte.gz"))?;
        Ok(Samples::pixels(
            pixels,
            labels.into_iter().map(u16::from).collect(),
            784,
        )?)
    };
    let names = (0..10).map(|d| d.to_string()).collect();
    let data = Dataset::new("mnist", names, (28, 28), split("train")?, split("t10k")?)?;
    let report = Trainer::new(ModelSpec::new(784, vec![128], 10, 0.2)?)
        .optimizer(Optimizer::adam(1e-3))
        .batch_size(32)
        .epochs(5)
        .seed(42)
        .backend(BackendChoice::Auto)
        .fit(&data, &mut Silent)?;
    println!("test accuracy {:.4}", report.test.accuracy());
    Ok(())
}
