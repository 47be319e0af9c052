//! Which input each command gives a model of one's own data: `eval` hands IDX pixels to a
//! standardised model in its own scaling, `predict` preprocesses as MNIST only for 28x28 grey
//! models, and `draw` and `show` refuse what they cannot show.

use crate::own_models::{json_probabilities, noise, rgb_data, s, saved, table_data, train_model};
use clap::Parser;
use gpu_mlp::data::{self, idx::Compression, Dataset, Inputs, Samples, Scaling, SourceKind};
use gpu_mlp::engine::cpu::ops::INV_255;
use gpu_mlp::engine::cpu::CpuEngine;
use gpu_mlp::engine::{Engine, Split};
use gpu_mlp::inference::classifier::Classifier;
use gpu_mlp::inference::preprocess::{self, Preprocess};
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::model::ModelSpec;
use gpu_mlp_cli::cli::{Cli, Command as CliCommand};
use gpu_mlp_cli::commands::{draw, show};
use std::path::Path;
use support::{gpu_mlp, small_checkpoint, succeeded};

/// 4x4 grey pictures: class `c` has a bright row `c`, over noise.
fn grey_rows(count: usize, seed: u64) -> Samples {
    let mut rand = noise(seed);
    let mut pixels = Vec::with_capacity(count * 16);
    let labels: Vec<u16> = (0..count).map(|i| (i % 3) as u16).collect();
    for &class in &labels {
        for p in 0..16 {
            let bright = p / 4 == usize::from(class);
            pixels.push((if bright { 140.0 } else { 20.0 } + 100.0 * rand()) as u8);
        }
    }
    Samples::new(Inputs::Pixels(pixels), labels, 16).unwrap()
}

/// `samples`' pixels as raw values 0..=255.
fn raw_pixels(samples: &Samples) -> Vec<f32> {
    let pixels = samples.inputs().pixels().unwrap();
    pixels.iter().map(|&p| f32::from(p)).collect()
}

/// `samples`' pixels as raw values scaled by `scaling`.
fn standardised(samples: &Samples, scaling: &Scaling) -> Samples {
    let mut values = raw_pixels(samples);
    scaling.apply_all(&mut values, samples.features());
    Samples::new(
        Inputs::Values(values),
        samples.labels().to_vec(),
        samples.features(),
    )
    .unwrap()
}

#[test]
fn eval_gives_idx_pixels_to_a_standardised_model_in_its_own_scaling() {
    let names: Vec<String> = ["0", "1", "2"].map(String::from).to_vec();
    let pixels = Dataset::new(
        "rows",
        names.clone(),
        (4, 4),
        grey_rows(60, 5),
        grey_rows(15, 6),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("rows");
    data::write_dir(&folder, &pixels, Compression::None).unwrap();
    // Trained on the standardised pixels, as `--scale standardize` trains.
    let scaling = Scaling::standardize(&raw_pixels(pixels.train()), 16);
    let trained_on = Dataset::new(
        "rows",
        names,
        (4, 4),
        standardised(pixels.train(), &scaling),
        standardised(pixels.test(), &scaling),
    )
    .unwrap()
    .with_origin(SourceKind::Idx, scaling);
    let ckpt = train_model(&trained_on, 8);
    let model = saved(dir.path(), "rows.safetensors", &ckpt);

    let mut engine =
        CpuEngine::new(&ckpt.spec, &ckpt.parameters, Optimizer::adam(1e-3), 1).unwrap();
    engine.load_split(Split::Test, trained_on.test()).unwrap();
    let e = engine
        .evaluate(Split::Test, 0..trained_on.test().count())
        .unwrap();
    let expected = format!(
        "test loss: {:.4} - test accuracy: {:.4}",
        e.loss(),
        e.accuracy()
    );
    let text = succeeded(
        &gpu_mlp(&[
            "eval",
            "--backend",
            "cpu",
            "--model",
            s(&model),
            "--data",
            s(&folder),
        ]),
        "eval of a standardised model",
    );
    assert!(
        text.contains(&expected),
        "expected {expected:?} in:\n{text}"
    );
}

#[test]
fn preprocess_is_mnist_for_28x28_grey_models_unless_told_and_plain_otherwise() {
    let spec = ModelSpec::new(784, vec![8], 10, 0.0).unwrap();
    let mut ckpt = small_checkpoint();
    (ckpt.parameters, ckpt.spec, ckpt.rows, ckpt.cols) = (spec.init_parameters(9), spec, 28, 28);
    ckpt.class_names = (0..10).map(|c| c.to_string()).collect();
    let dir = tempfile::tempdir().unwrap();
    let model = saved(dir.path(), "digits.safetensors", &ckpt);
    // A dark bar on a light 60x60 canvas: MNIST's way crops, inverts and centres it.
    let picture = image::GrayImage::from_fn(60, 60, |x, y| {
        image::Luma([if (5..15).contains(&x) && (5..50).contains(&y) {
            20
        } else {
            230
        }])
    });
    let path = dir.path().join("bar.png");
    picture.save(&path).unwrap();
    let img = image::DynamicImage::ImageLuma8(picture);
    let mut classifier = Classifier::from_checkpoint(ckpt).unwrap();
    let mnist = classifier.prepare(&img, Preprocess::Mnist).unwrap();
    let plain = classifier.prepare(&img, Preprocess::Plain).unwrap();
    assert_eq!(mnist.inputs, preprocess::prepare(&img, 28, 28));
    let resized = preprocess::plain(&img, 28, 28, 1);
    let as_the_engines_do: Vec<f32> = resized.iter().map(|&p| f32::from(p) * INV_255).collect();
    assert_eq!(plain.inputs, as_the_engines_do);
    assert_ne!(mnist.inputs, plain.inputs);
    let run = |extra: &[&str]| {
        let mut args = vec!["predict", "--json", "--model", s(&model)];
        args.extend(extra);
        args.push(s(&path));
        json_probabilities(&succeeded(&gpu_mlp(&args), "predict")).concat()
    };
    let by_default = run(&[]);
    assert_eq!(by_default, classifier.probabilities(&mnist.inputs));
    assert_eq!(run(&["--preprocess", "mnist"]), by_default);
    assert_eq!(
        run(&["--preprocess", "plain"]),
        classifier.probabilities(&plain.inputs)
    );
    // Another size is resized plainly unless told.
    let mut small = small_checkpoint();
    small.source = SourceKind::ImageFolder;
    let small = Classifier::from_checkpoint(small).unwrap();
    assert_eq!(small.default_preprocess(), Preprocess::Plain);
}

#[test]
fn draw_serves_grey_image_models_only_and_show_refuses_tables() {
    let dir = tempfile::tempdir().unwrap();
    let rgb = saved(dir.path(), "rgb.safetensors", &train_model(&rgb_data(), 8));
    let (table, _) = table_data();
    let table_model = saved(dir.path(), "table.safetensors", &train_model(&table, 8));
    let grey = saved(dir.path(), "grey.safetensors", &small_checkpoint());
    let start = |model: &Path| {
        let cli =
            Cli::try_parse_from(["gpu-mlp", "draw", "--port", "0", "--model", s(model)]).unwrap();
        let CliCommand::Draw(args) = cli.command else {
            panic!("parsed as draw")
        };
        draw::start(&args).map(|_| ()).map_err(|e| e.to_string())
    };
    let err = start(&rgb).unwrap_err();
    assert!(
        err.contains("draw serves models of grey images")
            && err.contains("takes 4x4 RGB images, but the draw page draws in one colour"),
        "{err}"
    );
    let err = start(&table_model).unwrap_err();
    assert!(
        err.contains("takes rows of 5 features, not pictures"),
        "{err}"
    );
    start(&grey).expect("a grey image model is served");

    let out = dir.path().join("samples.png");
    let err = show::draw(&out, &table).unwrap_err().to_string();
    assert!(
        err.contains("'table' is a table (csv source, 5 features per row)"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
    show::draw(&out, &rgb_data()).unwrap();
    let drawn = image::open(&out).unwrap().to_rgb8();
    assert!(
        drawn
            .pixels()
            .any(|p| p[0] > 120 && p[1] < 100 && p[2] < 100),
        "the red pictures are drawn in colour"
    );
}

/// `eval` on a table with another number of columns than the model's: one line saying both
/// counts, not the standardisation's internals.
#[test]
fn eval_on_data_of_another_width_says_both_widths() {
    let (data, _) = table_data();
    let ckpt = train_model(&data, 8);
    let tmp = tempfile::tempdir().unwrap();
    let model = saved(tmp.path(), "table.safetensors", &ckpt);
    let csv = tmp.path().join("wider.csv");
    let mut text = String::from("a,b,c,d,e,f,label\n");
    for row in 0..20 {
        text += &format!("{row},1,2,3,4,5,{}\n", ["low", "mid", "high"][row % 3]);
    }
    std::fs::write(&csv, text).unwrap();
    let out = gpu_mlp(&[
        "eval",
        "--backend",
        "cpu",
        "--model",
        s(&model),
        "--data",
        s(&csv),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("6 features per sample, but the model was trained on 5"),
        "{stderr}"
    );
}
