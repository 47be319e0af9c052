//! Keeping and using a trained model: checkpoints (format, round trip, bad files, safe
//! writes), preprocessing of hand-drawn pictures, evaluation, and the pictures.

use gpu_mlp::checkpoint::{self, Checkpoint, CheckpointError};
use gpu_mlp::data::{Dataset, Samples};
use gpu_mlp::engine::cpu::CpuEngine;
use gpu_mlp::error::Error;
use gpu_mlp::inference::classifier::{top_k, Classifier};
use gpu_mlp::inference::preprocess;
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::model::ModelSpec;
use gpu_mlp::training::EpochRecord;
use gpu_mlp_cli::cli::{Cli, Command as CliCommand, TrainArgs};
use gpu_mlp_cli::commands::{eval, show, train_files::TrainFiles};
use gpu_mlp_cli::plots::{self, PredictionTile};
use safetensors::{Dtype, SafeTensors};
use std::fs;
use std::path::Path;
use std::process::Command;
use support::small_checkpoint;
use support::{assert_contains_all, hand_drawn_digits, mnist, png_bytes, succeeded, trained};

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

/// A valid checkpoint file's bytes with its JSON header replaced by `edit(header)`.
fn with_header(bytes: &[u8], edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let mut text = serde_json::to_vec(&header).unwrap();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

/// A valid checkpoint file's bytes with one more tensor, `optimizer.step`.
fn with_extra_tensor(bytes: &[u8]) -> Vec<u8> {
    let file = SafeTensors::deserialize(bytes).unwrap();
    let (_, meta) = SafeTensors::read_metadata(bytes).unwrap();
    let step = 1.0f32.to_le_bytes();
    let mut tensors = file.tensors();
    tensors.push((
        "optimizer.step".to_string(),
        safetensors::tensor::TensorView::new(Dtype::F32, vec![1], &step).unwrap(),
    ));
    safetensors::serialize(tensors, meta.metadata().clone()).unwrap()
}

#[test]
fn bad_checkpoint_files_get_one_clear_error_each() {
    let dir = tempfile::tempdir().unwrap();
    let good = checkpoint::to_bytes(&small_checkpoint()).unwrap();
    assert!(checkpoint::from_bytes(&good, Path::new("good")).is_ok());
    let meta = |key: &str, value: &str| {
        let (key, value) = (key.to_string(), value.to_string());
        with_header(&good, move |h| {
            h["__metadata__"][&key] = value.clone().into()
        })
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "not a valid safetensors checkpoint"),
        (
            "text",
            b"hello, I am not a model".to_vec(),
            "not a valid safetensors checkpoint",
        ),
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "not a valid safetensors checkpoint",
        ),
        (
            "renamed tensor",
            with_header(&good, |h| {
                let t = h
                    .as_object_mut()
                    .unwrap()
                    .remove("layers.0.weight")
                    .unwrap();
                h["encoder.weight"] = t;
            }),
            "no tensor 'layers.0.weight'",
        ),
        (
            "extra tensor",
            with_extra_tensor(&good),
            "unexpected tensors [\"optimizer.step\"]",
        ),
        (
            "bias shape",
            with_header(&good, |h| {
                h["layers.1.bias"]["shape"] = serde_json::json!([1, 3]);
            }),
            "'layers.1.bias' has shape [1, 3]",
        ),
        (
            "dtype",
            with_header(&good, |h| {
                h["layers.0.bias"]["dtype"] = "I32".into();
            }),
            "'layers.0.bias' is I32",
        ),
        (
            "hidden disagrees",
            meta("hidden", "32"),
            "the header says hidden=32 but the tensors say 8",
        ),
        (
            "class names",
            meta("class_names", "[\"a\", \"b\"]"),
            "2 class names for 3 classes",
        ),
        (
            "class names json",
            meta("class_names", "a,b,c"),
            "not a JSON list",
        ),
        ("input shape", meta("input_rows", "5"), "input shape 5x4"),
        (
            "newer format",
            meta("format_version", "9"),
            "newer than this gpu-mlp reads",
        ),
        (
            "normalisation",
            meta("pixel_normalisation", "(x-0.13)/0.31"),
            "only runs 'x/255'",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir
            .path()
            .join(format!("{}.safetensors", name.replace(' ', "-")));
        fs::write(&path, &bytes).unwrap();
        let err = checkpoint::load(&path)
            .err()
            .unwrap_or_else(|| panic!("{name} loaded"));
        let msg = err.to_string();
        assert!(
            msg.contains(expected),
            "{name}: expected '{expected}' in '{msg}'"
        );
        assert!(
            msg.contains(path.to_str().unwrap()),
            "{name}: the message names the file: {msg}"
        );
        assert!(!msg.contains('\n'), "{name}: one line: {msg}");
    }
    let err = checkpoint::load(&dir.path().join("absent.safetensors")).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err}");
    assert!(err.to_string().contains("No such file"), "{err}");
}

#[test]
fn a_pytorch_style_file_without_our_header_loads() {
    // What `safetensors.torch.save_file(model.state_dict(), ...)` writes for an MLP whose
    // layers are `self.layers = nn.ModuleList([...])`: tensors only, no gpu-mlp metadata.
    let ckpt = small_checkpoint();
    let bytes = with_header(&checkpoint::to_bytes(&ckpt).unwrap(), |h| {
        h.as_object_mut().unwrap().remove("__metadata__");
    });
    let back = checkpoint::from_bytes(&bytes, Path::new("torch.safetensors")).unwrap();
    assert_eq!(back.parameters, ckpt.parameters);
    assert_eq!(back.spec.hidden, vec![8]);
    assert_eq!((back.rows, back.cols), (4, 4));
    assert_eq!(back.class_names, ["0", "1", "2"]);
    assert_eq!(back.dataset, "unknown");
}

#[test]
fn unwritable_outputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope").join("m.safetensors");
    let err = checkpoint::save(&missing, &small_checkpoint()).unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err}");
    let err = checkpoint::save(dir.path(), &small_checkpoint())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot write") && err.contains("folder"),
        "{err}"
    );
    let record = EpochRecord {
        epoch: 1,
        loss: 0.5,
        accuracy: 0.8,
        validation: None,
        seconds: 1.0,
        samples_per_second: 1.0,
        learning_rate: None,
        best: false,
    };
    let err = plots::training_curves(&dir.path().join("nope").join("c.png"), &[record], "t")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot write") && err.contains("nope"),
        "{err}"
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing left behind"
    );
}

#[test]
fn non_image_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.png");
    fs::write(&path, "these are words, not pixels").unwrap();
    let err = preprocess::open(&path).unwrap_err().to_string();
    assert!(
        err.contains("notes.png") && err.contains("not a readable PNG, JPEG or BMP image"),
        "{err}"
    );
    let err = preprocess::open(&dir.path().join("absent.png"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("cannot read"), "{err}");
}

/// Run in a child process by `a_failed_write_keeps_the_existing_checkpoint` under a file-size
/// limit; does nothing when run any other way.
#[test]
#[ignore = "a helper run by a_failed_write_keeps_the_existing_checkpoint"]
fn child_save_under_file_size_limit() {
    let Some(target) = std::env::var_os("GPU_MLP_CHILD_TARGET") else {
        return;
    };
    // About 3 MB: far over the limit the parent sets.
    let spec = ModelSpec::new(784, vec![1000], 10, 0.0).unwrap();
    let big = Checkpoint::grey_images(
        spec.clone(),
        vec![0.5; spec.parameter_count()],
        (0..10).map(|c| c.to_string()).collect(),
        "big",
        (28, 28),
    );
    let err = checkpoint::save(Path::new(&target), &big).unwrap_err();
    println!("CHILD-ERROR: {err}");
}

#[test]
fn a_failed_write_keeps_the_existing_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    checkpoint::save(&path, &small_checkpoint()).unwrap();
    let before = fs::read(&path).unwrap();
    // The child may write at most 64 KiB per file (ulimit -f counts KiB in bash); with SIGXFSZ
    // ignored its write fails with EFBIG partway, as on a full disk.
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 64; exec "$0" "$@""#)
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_save_under_file_size_limit",
            "--ignored",
            "--nocapture",
        ])
        .env("GPU_MLP_CHILD_TARGET", &path)
        .output()
        .unwrap();
    let stdout = succeeded(&out, "the child");
    assert!(
        stdout.contains("CHILD-ERROR: cannot write") && stdout.contains("model.safetensors"),
        "the save must fail with a clear error: {stdout}"
    );
    assert_eq!(
        fs::read(&path).unwrap(),
        before,
        "the old checkpoint is intact"
    );
    assert!(checkpoint::load(&path).is_ok());
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["model.safetensors"], "no temporary file left behind");
}

/// Decodes a PNG and returns it with the count of pixels near `color`.
fn count_color(path: &Path, color: [u8; 3]) -> (image::RgbImage, usize) {
    count_where(path, |p| {
        p.iter().zip(color).all(|(a, b)| a.abs_diff(b) < 10)
    })
}

fn count_where(path: &Path, keep: impl Fn(&[u8; 3]) -> bool) -> (image::RgbImage, usize) {
    let img = image::open(path).unwrap().to_rgb8();
    let n = img.pixels().filter(|p| keep(&p.0)).count();
    (img, n)
}

#[test]
fn pictures_are_drawn() {
    let (ckpt, report) = trained();
    let data = mnist();
    let (_keep, dir) = support::picture_dir();

    // Training curves, with a validation series.
    let history: Vec<EpochRecord> = report
        .history
        .iter()
        .map(|r| EpochRecord {
            validation: Some((r.loss * 1.1, r.accuracy - 0.01)),
            ..r.clone()
        })
        .collect();
    let curves = dir.join("curves.png");
    plots::training_curves(&curves, &history, "784-64-10 on mnist").unwrap();
    let (img, blue) = count_color(&curves, [31, 119, 180]);
    let (_, orange) = count_color(&curves, [255, 127, 14]);
    assert_eq!(img.dimensions(), (1100, 460));
    assert!(
        blue > 200 && orange > 200,
        "both series drawn: {blue} {orange}"
    );

    // The 5x5 grid of training images.
    let samples = dir.join("samples.png");
    show::draw(&samples, data).unwrap();
    let (img, black) = count_color(&samples, [0, 0, 0]);
    assert_eq!(img.dimensions(), (5 * 170, 5 * 190 + 40));
    assert!(black > 5000, "digits drawn in dark ink: {black}");

    // Predictions on 15 test images, some of them wrong, so both colours show.
    let mut classifier = Classifier::from_checkpoint(ckpt.clone()).unwrap();
    let wrong: Vec<usize> = (0..data.test().count())
        .filter(|&i| report.test.predictions[i] != data.test().labels()[i] as u32)
        .take(3)
        .collect();
    let tiles: Vec<PredictionTile> = (0..12)
        .chain(wrong)
        .map(|i| {
            let pixels = data.test().input(i);
            PredictionTile {
                probabilities: classifier.probabilities(&pixels),
                pixels,
                truth: Some(data.test().labels()[i] as usize),
            }
        })
        .collect();
    let grid = dir.join("predictions.png");
    plots::prediction_grid(&grid, &tiles, (28, 28), &ckpt.class_names, 3, "predictions").unwrap();
    let (img, blue) = count_color(&grid, [31, 119, 180]);
    let (_, red) = count_color(&grid, [214, 39, 40]);
    assert_eq!(img.dimensions(), (3 * 400, 5 * 200 + 40));
    assert!(
        blue > 1000 && red > 100,
        "right in blue, wrong in red: {blue} {red}"
    );

    // The confusion heat map.
    let heat = dir.join("confusion.png");
    let confusion = eval::confusion_matrix(&report.test.predictions, data.test().labels(), 10);
    plots::confusion_heatmap(&heat, &confusion, &ckpt.class_names, "confusion").unwrap();
    let (_, dark) = count_where(&heat, |&[r, g, b]| r < 60 && g < 100 && b > 90);
    assert!(dark > 10 * 40 * 40, "ten dark diagonal cells: {dark}");
}
