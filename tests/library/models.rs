//! Keeping and using a trained model: checkpoints (format, round trip, `--init-from`),
//! preprocessing of hand-drawn pictures, and evaluation. Bad files and safe writes:
//! `checkpoint_files.rs`; the pictures: `pictures.rs`.

use gpu_mlp::checkpoint::{self, Checkpoint, CheckpointError};
use gpu_mlp::data::{Dataset, Samples};
use gpu_mlp::engine::cpu::CpuEngine;
use gpu_mlp::error::Error;
use gpu_mlp::inference::classifier::{top_k, Classifier};
use gpu_mlp::inference::preprocess;
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp_cli::cli::{Cli, Command as CliCommand, TrainArgs};
use gpu_mlp_cli::commands::{eval, train_files::TrainFiles};
use gpu_mlp_cli::plots::{self};
use safetensors::{Dtype, SafeTensors};
use std::fs;
use support::{assert_contains_all, hand_drawn_digits, mnist, png_bytes, trained};

fn first_test_images(n: usize) -> Vec<f32> {
    let data = mnist();
    (0..n).flat_map(|i| data.test().input(i)).collect()
}

/// The fixture model and its checkpoint file's bytes.
fn trained_file() -> (&'static Checkpoint, Vec<u8>) {
    let (ckpt, _) = trained();
    (ckpt, checkpoint::to_bytes(ckpt).unwrap())
}

/// A checkpoint after a save to a file and a load back from it.
fn saved_and_loaded(ckpt: &Checkpoint) -> Checkpoint {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    checkpoint::save(&path, ckpt).unwrap();
    checkpoint::load(&path).unwrap()
}

#[test]
fn checkpoint_round_trip_keeps_every_bit_and_prediction() {
    let (ckpt, _) = trained();
    let back = saved_and_loaded(ckpt);

    assert_eq!(back.spec, ckpt.spec);
    let bits = |p: &[f32]| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&back.parameters), bits(&ckpt.parameters));
    assert_eq!(back.class_names, ckpt.class_names);
    assert_eq!(
        (back.dataset.as_str(), back.rows, back.cols),
        ("mnist", 28, 28)
    );
    assert_eq!(back.metadata["epochs"], "3");
    assert_eq!(
        back.metadata["test_accuracy"],
        ckpt.metadata["test_accuracy"]
    );
    assert_eq!(back.metadata["gpu_mlp_version"], env!("CARGO_PKG_VERSION"));

    let x = first_test_images(300);
    let before = Classifier::from_checkpoint(ckpt.clone())
        .unwrap()
        .probabilities_batch(&x);
    let after = Classifier::from_checkpoint(back)
        .unwrap()
        .probabilities_batch(&x);
    assert_eq!(
        bits(&before),
        bits(&after),
        "identical predictions after the round trip"
    );
}

#[test]
fn tensors_use_pytorch_names_shapes_and_layout() {
    let (ckpt, bytes) = trained_file();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "layers.0.bias",
            "layers.0.weight",
            "layers.1.bias",
            "layers.1.weight"
        ]
    );
    let layers = ckpt.spec.layers();
    for (i, layer) in layers.iter().enumerate() {
        let w = file.tensor(&format!("layers.{i}.weight")).unwrap();
        let b = file.tensor(&format!("layers.{i}.bias")).unwrap();
        assert_eq!(w.dtype(), Dtype::F32);
        assert_eq!(
            w.shape(),
            [layer.fan_out, layer.fan_in],
            "[out, in] like torch.nn.Linear"
        );
        assert_eq!(b.shape(), [layer.fan_out]);
        let at =
            |data: &[u8], k: usize| f32::from_le_bytes(data[4 * k..4 * k + 4].try_into().unwrap());
        // file[o, k] == ours[k, o] for a spread of entries.
        let ours = layer.weights(&ckpt.parameters);
        for (o, k) in [
            (0, 0),
            (3, 50),
            (layer.fan_out - 1, layer.fan_in - 1),
            (5, 7),
        ] {
            assert_eq!(
                at(w.data(), o * layer.fan_in + k),
                ours[k * layer.fan_out + o]
            );
        }
        assert_eq!(at(b.data(), 2), layer.bias(&ckpt.parameters)[2]);
    }
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let header = meta.metadata().clone().unwrap();
    for (key, value) in [
        ("format", "gpu-mlp"),
        ("format_version", "1"),
        ("inputs", "784"),
        ("hidden", "64"),
        ("classes", "10"),
        ("dropout", "0"),
        ("dataset", "mnist"),
        (
            "class_names",
            r#"["0","1","2","3","4","5","6","7","8","9"]"#,
        ),
        ("input_rows", "28"),
        ("input_cols", "28"),
        ("pixel_normalisation", "x/255"),
        ("input_channels", "1"),
        ("source", "idx"),
        ("scale", "pixels"),
        ("activation", "relu"),
        ("gpu_mlp_version", env!("CARGO_PKG_VERSION")),
        ("epochs", "3"),
    ] {
        assert_eq!(
            header.get(key).map(String::as_str),
            Some(value),
            "header key {key}"
        );
    }
}

/// The forward pass written only from the documented format (as docs/checkpoint-format.md's
/// numpy snippet does it) gives the engine's probabilities.
#[test]
fn forward_pass_from_the_file_alone_matches_the_engine() {
    let (ckpt, bytes) = trained_file();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let floats = |name: &str| -> (Vec<f32>, Vec<usize>) {
        let t = file.tensor(name).unwrap();
        let v = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        (v, t.shape().to_vec())
    };
    let x = first_test_images(20);
    let mut classifier = Classifier::from_checkpoint(ckpt.clone()).unwrap();
    for row in 0..20 {
        let mut a: Vec<f32> = x[row * 784..(row + 1) * 784].to_vec();
        for i in 0..2 {
            let (w, shape) = floats(&format!("layers.{i}.weight"));
            let (b, _) = floats(&format!("layers.{i}.bias"));
            let (out, inp) = (shape[0], shape[1]);
            // x @ W.T + b, then ReLU on hidden layers.
            a = (0..out)
                .map(|o| {
                    let z = b[o] + (0..inp).map(|k| a[k] * w[o * inp + k]).sum::<f32>();
                    if i == 0 {
                        z.max(0.0)
                    } else {
                        z
                    }
                })
                .collect();
        }
        let max = a.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f32> = a.iter().map(|z| (z - max).exp()).collect();
        let sum: f32 = exp.iter().sum();
        let engine = classifier.probabilities(&x[row * 784..(row + 1) * 784]);
        for (e, p) in exp.iter().map(|v| v / sum).zip(engine) {
            assert!((e - p).abs() < 1e-5, "row {row}: {e} vs {p}");
        }
    }
}

#[test]
fn hand_drawn_digits_are_recognised() {
    let (ckpt, _) = trained();
    let mut classifier = Classifier::from_checkpoint(ckpt.clone()).unwrap();
    let (_keep, dir) = support::picture_dir();
    let mut seen = Vec::new();
    let mut results = Vec::new();
    for (digit, picture) in hand_drawn_digits() {
        let png = png_bytes(&picture);
        fs::write(dir.join(format!("drawn-{digit}.png")), &png).unwrap();
        let img = preprocess::decode(&png).unwrap();
        let input = preprocess::prepare(&img, 28, 28);
        let best = top_k(&classifier.probabilities(&input), 3);
        seen.push(plots::Tile {
            pixels: input,
            caption: format!("drawn {digit}: {} {:.0}%", best[0].0, 100.0 * best[0].1),
        });
        results.push((digit, best));
    }
    // What the model saw, for a person to check the preprocessing.
    plots::image_grid(
        &dir.join("drawn-as-seen.png"),
        &seen,
        (28, 28),
        4,
        "as the model sees them",
    )
    .unwrap();
    for (digit, best) in results {
        assert_eq!(best[0].0, digit, "drawn {digit}, top 3 {best:?}");
    }
    // A JPEG of the same 7 decodes and is recognised too.
    let (digit, seven) = hand_drawn_digits().remove(0);
    let mut jpeg = Vec::new();
    seven
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let p = classifier
        .classify_image(&preprocess::decode(&jpeg).unwrap())
        .unwrap();
    assert_eq!(top_k(&p, 1)[0].0, digit);
}

#[test]
fn a_mnist_image_survives_preprocessing_almost_unchanged() {
    // MNIST's own images are already in the target form; preprocessing them again must keep
    // the prediction and most of the picture (it only re-crops, re-fits and re-centres).
    let (ckpt, _) = trained();
    let mut classifier = Classifier::from_checkpoint(ckpt.clone()).unwrap();
    let data = mnist();
    let mut same = 0;
    for i in 0..50 {
        let x = data.test().input(i);
        let img = image::DynamicImage::ImageLuma8(preprocess::to_grey_image(&x, 28, 28));
        let again = preprocess::prepare(&img, 28, 28);
        let a = top_k(&classifier.probabilities(&x), 1)[0].0;
        let b = top_k(&classifier.probabilities(&again), 1)[0].0;
        same += (a == b) as usize;
    }
    assert!(same >= 47, "only {same}/50 keep their prediction");
}

#[test]
fn evaluation_of_the_saved_model_matches_the_end_of_training() {
    let (ckpt, report) = trained();
    let loaded = saved_and_loaded(ckpt);
    let mut engine =
        CpuEngine::new(&loaded.spec, &loaded.parameters, Optimizer::adam(1e-3), 1).unwrap();
    let r = eval::evaluate(&mut engine, &loaded, mnist().test()).unwrap();
    assert_eq!(r.evaluation.correct, report.test.correct);
    assert_eq!(r.evaluation.predictions, report.test.predictions);
    assert!((r.evaluation.loss() - report.test.loss()).abs() < 1e-9);
    // The confusion matrix adds up and its diagonal is the correct count.
    let total: usize = r.confusion.iter().flatten().sum();
    let diagonal: usize = (0..10).map(|i| r.confusion[i][i]).sum();
    assert_eq!(
        (total, diagonal),
        (mnist().test().count(), report.test.correct)
    );
    let text = eval::format_report(&r);
    assert!(text.contains(&format!("test accuracy: {:.4}", report.test.accuracy())));
}

fn train_args(extra: &[&str]) -> TrainArgs {
    let mut argv = vec!["gpu-mlp", "train"];
    argv.extend_from_slice(extra);
    match <Cli as clap::Parser>::try_parse_from(argv).unwrap().command {
        CliCommand::Train(args) => args,
        other => panic!("parsed {other:?}"),
    }
}

/// A small data set of `rows × cols` images and `classes` classes.
fn toy_data(rows: usize, cols: usize, classes: usize) -> Dataset {
    let samples = |n: usize| {
        Samples::new(
            gpu_mlp::data::Inputs::Pixels(
                (0..n * rows * cols).map(|i| (i * 37 % 256) as u8).collect(),
            ),
            (0..n).map(|i| (i % classes) as u16).collect(),
            rows * cols,
        )
        .expect("samples")
    };
    Dataset::new(
        "toy",
        (0..classes).map(|c| format!("c{c}")).collect(),
        (rows, cols),
        samples(40),
        samples(10),
    )
    .expect("a data set")
    .with_origin(
        gpu_mlp::data::SourceKind::Idx,
        gpu_mlp::data::Scaling::Pixels,
    )
}

#[test]
fn init_from_checks_shapes_and_takes_the_checkpoint() {
    let (ckpt, _) = trained();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    checkpoint::save(&path, ckpt).unwrap();
    let path_text = path.to_str().unwrap();

    // Different images: refused with both shapes named.
    let args = train_args(&["--init-from", path_text, "--hidden", "64"]);
    let outputs = TrainFiles::prepare(&args).unwrap();
    let err = outputs.model(&args, &toy_data(10, 10, 10)).unwrap_err();
    assert!(
        matches!(err, Error::Checkpoint(CheckpointError::Mismatch { .. })),
        "{err}"
    );
    let msg = err.to_string();
    assert_contains_all(&msg, &["28x28", "10x10"]);
    // Same images, different class count: refused too.
    let err = outputs
        .model(&args, &toy_data(28, 28, 5))
        .unwrap_err()
        .to_string();
    assert_contains_all(&err, &["10 classes", "5 classes"]);

    // Matching data: the checkpoint's layers and parameters, this run's dropout.
    let args = train_args(&[
        "--init-from",
        path_text,
        "--hidden",
        "128,128",
        "--dropout",
        "0.1",
    ]);
    let outputs = TrainFiles::prepare(&args).unwrap();
    let (spec, parameters) = outputs.model(&args, &toy_data(28, 28, 10)).unwrap();
    assert_eq!(spec.hidden, vec![64]);
    assert_eq!(spec.dropout, 0.1);
    assert_eq!(parameters, ckpt.parameters);

    // Without --dropout, training goes on at the checkpoint's rate (0 here), not the quickstart's.
    let args = train_args(&["--init-from", path_text]);
    let outputs = TrainFiles::prepare(&args).unwrap();
    let (spec, _) = outputs.model(&args, &toy_data(28, 28, 10)).unwrap();
    assert_eq!(spec.dropout, ckpt.spec.dropout);
    assert_ne!(spec.dropout, gpu_mlp_cli::cli::DEFAULT_NETWORK_DROPOUT);

    // A missing --init-from fails before any data is read.
    let args = train_args(&["--init-from", "/no/such/model.safetensors"]);
    let err = TrainFiles::prepare(&args).err().unwrap().to_string();
    assert!(
        err.starts_with("cannot read /no/such/model.safetensors"),
        "{err}"
    );
    // And so does an unwritable --save or --plot.
    for flag in ["--save", "--plot"] {
        let bad = dir.path().join("missing-dir").join("out");
        let args = train_args(&[flag, bad.to_str().unwrap()]);
        let err = TrainFiles::prepare(&args).err().unwrap().to_string();
        assert!(
            err.contains("cannot write") && err.contains("missing-dir"),
            "{flag}: {err}"
        );
    }
}
