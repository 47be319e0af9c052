//! Models of one's own data carry what they need: checkpoints keep the input's channels, the
//! source kind and the scaling (standardisation tensors included), old files still load, and
//! `predict`, `eval`, `show` and `draw` use a model as its training data was used: an RGB image
//! model and a standardised table model give, after a save and a load, exactly the
//! probabilities the engine gives on the same samples.

use gpu_mlp::checkpoint::{self, Checkpoint};
use gpu_mlp::data::{Dataset, Inputs, Samples, Scaling, SourceKind};
use gpu_mlp::engine::cpu::CpuEngine;
use gpu_mlp::engine::{Engine, Split};
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::model::ModelSpec;
use gpu_mlp::training::{Silent, TrainConfig};
use gpu_mlp::{BackendChoice, Trainer};
use gpu_mlp_cli::commands::eval;
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use support::{fails, gpu_mlp, small_checkpoint, succeeded};

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small deterministic generator (the tests need no statistical quality, only variety).
pub(crate) fn noise(seed: u64) -> impl FnMut() -> f32 {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32) / (1u64 << 24) as f32
    }
}

/// Trains `data` a few epochs on the CPU engine; the model's checkpoint.
pub(crate) fn train_model(data: &Dataset, hidden: usize) -> Checkpoint {
    let spec = ModelSpec::new(data.features(), vec![hidden], data.classes(), 0.0).unwrap();
    let config = TrainConfig {
        epochs: 5,
        batch_size: 8,
        optimizer: Optimizer::adam(0.01),
        ..TrainConfig::default()
    };
    let report = Trainer::new(spec.clone())
        .config(config)
        .backend(BackendChoice::Cpu)
        .fit(data, &mut Silent)
        .unwrap();
    Checkpoint::for_dataset(spec, report.parameters, data)
}

/// What the engine says of `samples` with `ckpt`'s parameters: probabilities (sample by
/// sample, `classes` each) and the evaluation's predicted classes.
fn engine_view(ckpt: &Checkpoint, samples: &Samples) -> (Vec<f32>, Vec<u32>) {
    let mut engine =
        CpuEngine::new(&ckpt.spec, &ckpt.parameters, Optimizer::adam(1e-3), 1).unwrap();
    let probabilities = (0..samples.count())
        .flat_map(|i| engine.predict_probabilities(&samples.input(i)))
        .collect();
    engine.load_split(Split::Test, samples).unwrap();
    let evaluation = engine.evaluate(Split::Test, 0..samples.count()).unwrap();
    (probabilities, evaluation.predictions)
}

/// `predict --json` output: each prediction's probabilities, in order.
pub(crate) fn json_probabilities(stdout: &str) -> Vec<Vec<f32>> {
    let parsed: serde_json::Value = serde_json::from_str(stdout).expect("predict --json is JSON");
    parsed
        .as_array()
        .expect("an array")
        .iter()
        .map(|p| {
            p["probabilities"]
                .as_array()
                .expect("probabilities")
                .iter()
                .map(|v| v.as_f64().expect("a number") as f32)
                .collect()
        })
        .collect()
}

fn argmax(p: &[f32]) -> u32 {
    (0..p.len()).fold(0, |best, i| if p[i] > p[best] { i } else { best }) as u32
}

/// 4x4 RGB pictures: class 0 reddish, 1 greenish, 2 bluish, with noise.
fn rgb_images(count: usize, seed: u64) -> Samples {
    let mut rand = noise(seed);
    let mut pixels = Vec::with_capacity(count * 48);
    let mut labels = Vec::with_capacity(count);
    for i in 0..count {
        let class = i % 3;
        labels.push(class as u16);
        for _ in 0..16 {
            for channel in 0..3 {
                let base = if channel == class { 150.0 } else { 40.0 };
                pixels.push((base + 100.0 * rand()) as u8);
            }
        }
    }
    Samples::new(Inputs::Pixels(pixels), labels, 48).unwrap()
}

pub(crate) fn rgb_data() -> Dataset {
    let names = vec!["red".into(), "green".into(), "blue".into()];
    let data = Dataset::new(
        "colours",
        names,
        (4, 4),
        rgb_images(90, 1),
        rgb_images(12, 2),
    )
    .unwrap();
    let scaling = data.scaling().clone();
    data.with_origin(SourceKind::ImageFolder, scaling)
}

/// Raw table rows of 5 features on very different scales, 3 classes, and their labels.
fn raw_table(count: usize, seed: u64) -> (Vec<f32>, Vec<u16>) {
    let mut rand = noise(seed);
    let mut values = Vec::with_capacity(count * 5);
    let mut labels = Vec::with_capacity(count);
    for i in 0..count {
        let class = (i % 3) as f32;
        labels.push((i % 3) as u16);
        values.extend([
            1000.0 + 300.0 * class + 250.0 * rand(),
            0.01 * class + 0.02 * rand(),
            -5.0 + rand(),
            42.0,
            7.5 * class - 3.0 * rand(),
        ]);
    }
    (values, labels)
}

/// A table data set standardised with its training part's measurements, and the raw test
/// rows.
pub(crate) fn table_data() -> (Dataset, Vec<f32>) {
    let (mut train_values, train_labels) = raw_table(120, 3);
    let (raw_test, test_labels) = raw_table(9, 4);
    let scaling = Scaling::standardize(&train_values, 5);
    scaling.apply_all(&mut train_values, 5);
    let mut test_values = raw_test.clone();
    scaling.apply_all(&mut test_values, 5);
    let names = vec!["low".into(), "mid".into(), "high".into()];
    let data = Dataset::new(
        "table",
        names,
        (1, 5),
        Samples::new(Inputs::Values(train_values), train_labels, 5).unwrap(),
        Samples::new(Inputs::Values(test_values), test_labels, 5).unwrap(),
    )
    .unwrap()
    .with_origin(SourceKind::Csv, scaling);
    (data, raw_test)
}

pub(crate) fn saved(dir: &Path, name: &str, ckpt: &Checkpoint) -> PathBuf {
    let path = dir.join(name);
    checkpoint::save(&path, ckpt).unwrap();
    path
}

#[test]
fn checkpoints_keep_channels_source_and_scaling() {
    let dir = tempfile::tempdir().unwrap();
    let mut table = small_checkpoint();
    (table.rows, table.cols, table.source) = (1, 16, SourceKind::Csv);
    table.scaling = Scaling::Standardize {
        mean: (0..16).map(|i| i as f32 * 1.5 - 3.0).collect(),
        std: (0..16)
            .map(|i| if i == 3 { 0.0 } else { 0.25 + i as f32 })
            .collect(),
    };
    let mut rgb = small_checkpoint();
    rgb.spec = ModelSpec::new(12, vec![8], 3, 0.0).unwrap();
    rgb.parameters = rgb.spec.init_parameters(4);
    (rgb.rows, rgb.cols, rgb.channels, rgb.source) = (2, 2, 3, SourceKind::ImageFolder);
    let mut raw = small_checkpoint();
    (raw.source, raw.scaling) = (SourceKind::Npz, Scaling::None);
    for ckpt in [&table, &rgb, &raw, &small_checkpoint()] {
        let back = checkpoint::load(saved(dir.path(), "m.safetensors", ckpt)).unwrap();
        assert_eq!(
            (back.rows, back.cols, back.channels, back.source),
            (ckpt.rows, ckpt.cols, ckpt.channels, ckpt.source)
        );
        assert_eq!(back.scaling, ckpt.scaling);
        assert_eq!(back.parameters, ckpt.parameters);
    }
    // The standardisation is two plain tensors any safetensors reader finds.
    let bytes = std::fs::read(saved(dir.path(), "t.safetensors", &table)).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let std = file.tensor("scaling.std").unwrap();
    assert_eq!((std.dtype(), std.shape()), (Dtype::F32, &[16][..]));
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta["scale"], "standardize");
    assert_eq!(meta["source"], "csv");
    // Older readers, which know version 1 only, refuse it rather than misread it.
    assert_eq!(meta["format_version"], "2");
    assert!(!meta.contains_key("pixel_normalisation"), "{meta:?}");
    let bytes = std::fs::read(saved(dir.path(), "r.safetensors", &rgb)).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(
        (meta["input_channels"].as_str(), meta["scale"].as_str()),
        ("3", "pixels")
    );
    assert!(meta["pixel_layout"].contains("RGB"), "{meta:?}");
    assert_eq!(meta["format_version"], "2");
    let bytes = std::fs::read(saved(dir.path(), "g.safetensors", &small_checkpoint())).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(meta.metadata().clone().unwrap()["format_version"], "1");
}

/// A file with `tensors` (name, shape, values) and `metadata`, as another tool might write it.
fn safetensors_file(
    tensors: &[(&str, Vec<usize>, Vec<f32>)],
    metadata: &[(&str, &str)],
) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            (
                name.to_string(),
                TensorView::new(Dtype::F32, shape.clone(), b).unwrap(),
            )
        })
        .collect();
    let meta: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    safetensors::serialize(views, Some(meta)).unwrap()
}

#[test]
fn old_checkpoints_load_as_grey_idx_pixel_models_and_bad_scalings_are_refused() {
    let layers = || {
        vec![
            ("layers.0.weight", vec![3, 4], vec![0.5; 12]),
            ("layers.0.bias", vec![3], vec![0.0; 3]),
        ]
    };
    // The keys gpu-mlp wrote before channels, source and scale were recorded.
    let old = [
        ("format", "gpu-mlp"),
        ("format_version", "1"),
        ("input_rows", "2"),
        ("input_cols", "2"),
        ("pixel_normalisation", "x/255"),
    ];
    let ckpt =
        checkpoint::from_bytes(&safetensors_file(&layers(), &old), Path::new("old")).unwrap();
    assert_eq!(
        (
            ckpt.rows,
            ckpt.cols,
            ckpt.channels,
            ckpt.source,
            ckpt.scaling
        ),
        (2, 2, 1, SourceKind::Idx, Scaling::Pixels)
    );

    let refused = |tensors: Vec<(&str, Vec<usize>, Vec<f32>)>, meta: &[(&str, &str)]| {
        checkpoint::from_bytes(
            &safetensors_file(&tensors, meta),
            Path::new("bad.safetensors"),
        )
        .unwrap_err()
        .to_string()
    };
    let with = |extra: &[(&'static str, usize)]| {
        let mut t = layers();
        t.extend(extra.iter().map(|&(n, len)| (n, vec![len], vec![1.0; len])));
        t
    };
    let standardize = [("scale", "standardize")];
    let err = refused(with(&[("scaling.mean", 4)]), &standardize);
    assert!(err.contains("are not both there"), "{err}");
    let err = refused(
        with(&[("scaling.mean", 4), ("scaling.std", 3)]),
        &standardize,
    );
    assert!(
        err.contains("'scaling.std' is F32 [3]; expected F32 [4]"),
        "{err}"
    );
    let err = refused(with(&[("scaling.mean", 4), ("scaling.std", 4)]), &[]);
    assert!(err.contains("its scale is 'pixels'"), "{err}");
    let err = refused(with(&[("optimizer.m", 4)]), &[]);
    assert!(
        err.contains("unexpected tensors [\"optimizer.m\"]"),
        "{err}"
    );
    let err = refused(layers(), &[("scale", "log")]);
    assert!(
        err.contains("scale 'log' is not one gpu-mlp knows"),
        "{err}"
    );
    let err = refused(layers(), &[("input_channels", "3")]);
    assert!(err.contains("does not give the 4 inputs"), "{err}");
    let err = refused(layers(), &[("source", "parquet")]);
    assert!(err.contains("source 'parquet'"), "{err}");
    let mut bad_std = with(&[("scaling.mean", 4), ("scaling.std", 4)]);
    bad_std[3].2[1] = -1.0;
    let err = refused(bad_std, &standardize);
    assert!(err.contains("negative"), "{err}");
}

#[test]
fn an_rgb_image_model_predicts_its_pictures_as_the_engine_does() {
    let data = rgb_data();
    let ckpt = train_model(&data, 16);
    let (expected, predicted) = engine_view(&ckpt, data.test());
    assert!(
        predicted
            .iter()
            .zip(data.test().labels())
            .filter(|(p, l)| **p == u32::from(**l))
            .count()
            >= 10,
        "the colours are learnt: {predicted:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let model = saved(dir.path(), "colours.safetensors", &ckpt);
    let pixels = data.test().inputs().pixels().unwrap();
    let mut args = vec!["predict", "--json", "--model", s(&model)];
    let files: Vec<PathBuf> = (0..data.test().count())
        .map(|i| {
            let path = dir.path().join(format!("{i}.png"));
            image::RgbImage::from_raw(4, 4, pixels[i * 48..(i + 1) * 48].to_vec())
                .unwrap()
                .save(&path)
                .unwrap();
            path
        })
        .collect();
    args.extend(files.iter().map(|p| s(p)));
    let out = succeeded(&gpu_mlp(&args), "predict on RGB pictures");
    let got: Vec<f32> = json_probabilities(&out).concat();
    assert_eq!(got, expected, "the same probabilities, bit for bit");
    let classes: Vec<u32> = got.chunks(3).map(argmax).collect();
    assert_eq!(classes, predicted);

    // A larger picture is resized (plain, the default for this model) to 4x4 colour.
    let big = dir.path().join("big.png");
    image::RgbImage::from_pixel(40, 40, image::Rgb([10, 200, 20]))
        .save(&big)
        .unwrap();
    let text = succeeded(
        &gpu_mlp(&["predict", "--top", "1", "--model", s(&model), s(&big)]),
        "predict on a big picture",
    );
    assert!(
        text.starts_with(&format!("{}: green ", big.display())),
        "{text}"
    );
    fails(
        &[
            "predict",
            "--preprocess",
            "mnist",
            "--model",
            s(&model),
            s(&big),
        ],
        "--preprocess mnist makes grey digits, but the model takes 4x4 RGB images",
    );
}

#[test]
fn a_table_model_predicts_csv_rows_with_its_own_standardisation() {
    let (data, raw_test) = table_data();
    let ckpt = train_model(&data, 12);
    let (expected, predicted) = engine_view(&ckpt, data.test());
    let dir = tempfile::tempdir().unwrap();
    let model = saved(dir.path(), "table.safetensors", &ckpt);
    // The label column is named by the header and left out; it sits in the middle.
    let mut csv = String::from("f0,f1,label,f2,f3,f4\n");
    for (i, row) in raw_test.chunks(5).enumerate() {
        let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        csv.push_str(&format!(
            "{},{},{},{}\n",
            cells[0],
            cells[1],
            data.test().labels()[i],
            cells[2..].join(",")
        ));
    }
    let rows = dir.path().join("rows.csv");
    std::fs::write(&rows, &csv).unwrap();
    let out = succeeded(
        &gpu_mlp(&["predict", "--json", "--model", s(&model), s(&rows)]),
        "predict on CSV rows",
    );
    let got: Vec<f32> = json_probabilities(&out).concat();
    assert_eq!(got, expected, "standardised as in training, bit for bit");
    assert_eq!(got.chunks(3).map(argmax).collect::<Vec<_>>(), predicted);

    // Text: one line per row, named by its line in the file, with the class and probability.
    let text = succeeded(
        &gpu_mlp(&["predict", "--top", "1", "--model", s(&model), s(&rows)]),
        "predict on CSV rows as text",
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 9, "{text}");
    let first_class = ["low", "mid", "high"][predicted[0] as usize];
    assert!(
        lines[0].starts_with(&format!("{}:2: {first_class} ", rows.display()))
            && lines[0].ends_with('%'),
        "{text}"
    );

    // The same rows headerless, features only, load the same.
    let plain = dir.path().join("plain.tsv");
    let tsv: Vec<String> = raw_test
        .chunks(5)
        .map(|r| {
            r.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect();
    std::fs::write(&plain, tsv.join("\n")).unwrap();
    let out = succeeded(
        &gpu_mlp(&["predict", "--json", "--model", s(&model), s(&plain)]),
        "predict on TSV rows",
    );
    assert_eq!(json_probabilities(&out).concat(), expected);
    // And gzipped.
    let gz = dir.path().join("rows.csv.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, csv.as_bytes()).unwrap();
    std::fs::write(&gz, encoder.finish().unwrap()).unwrap();
    let out = succeeded(
        &gpu_mlp(&["predict", "--json", "--model", s(&model), s(&gz)]),
        "predict on gzipped CSV rows",
    );
    assert_eq!(json_probabilities(&out).concat(), expected);

    let bad = dir.path().join("bad.csv");
    for (content, expected) in [
        (
            "1,2,3,4,5\n1,2,3,4\n",
            "bad.csv: line 2: 4 cells, but the model takes 5 features",
        ),
        (
            "1,2,3,4,5\n1,2,NaN,4,5\n",
            "bad.csv: line 2, column 3: NaN is not a finite number",
        ),
        (
            "a,b,c,d,e\n1,2,x3,4,5\n",
            "bad.csv: line 2, column 3: 'x3' is not a number",
        ),
        (
            "1,2,3,4,5,0\n",
            "6 cells, but the model takes 5 features; if one is the label",
        ),
        ("a,b,c,d,e\n", "bad.csv: holds no samples"),
    ] {
        std::fs::write(&bad, content).unwrap();
        fails(&["predict", "--model", s(&model), s(&bad)], expected);
    }
    fails(
        &[
            "predict",
            "--grid",
            s(&dir.path().join("g.png")),
            "--model",
            s(&model),
            s(&rows),
        ],
        "--grid draws pictures, but",
    );
    fails(
        &["predict", "--model", s(&model), s(&rows), "digit.png"],
        "digit.png is a picture, but",
    );
}

#[test]
fn eval_scales_the_data_with_the_models_scaling() {
    let (data, raw_test) = table_data();
    let ckpt = train_model(&data, 12);
    // The same test rows as loaded raw (no scaling): the model's standardisation is applied.
    let raw_rows = Samples::new(
        Inputs::Values(raw_test.clone()),
        data.test().labels().to_vec(),
        5,
    )
    .unwrap();
    let raw = (data.clone().with_test(raw_rows).unwrap()).with_origin(data.source(), Scaling::None);
    let scaled = eval::test_for_model(&raw, &ckpt).unwrap();
    assert_eq!(scaled.inputs(), data.test().inputs());
    // Already in the model's scaling: used as it is.
    assert!(matches!(
        eval::test_for_model(&data, &ckpt).unwrap(),
        std::borrow::Cow::Borrowed(_)
    ));
    // Scaled another way when loaded: refused, not scaled twice.
    let other = raw
        .clone()
        .with_origin(raw.source(), Scaling::standardize(&raw_test, 5));
    let err = eval::test_for_model(&other, &ckpt).unwrap_err().to_string();
    assert!(err.contains("needs its own 'standardize' scaling"), "{err}");
    // 8-bit pixels for a standardised model: the raw values 0..=255, standardised.
    let mut pixel_model = ckpt.clone();
    pixel_model.scaling = Scaling::Standardize {
        mean: vec![100.0; 5],
        std: vec![50.0; 5],
    };
    let pixel_rows = Samples::new(Inputs::Pixels(vec![0, 50, 100, 150, 250]), vec![1], 5).unwrap();
    let pixels = Dataset::new(
        "pixels",
        data.class_names().to_vec(),
        (1, 5),
        pixel_rows.clone(),
        pixel_rows,
    )
    .unwrap()
    .with_origin(data.source(), Scaling::Pixels);
    let scaled = eval::test_for_model(&pixels, &pixel_model).unwrap();
    assert_eq!(
        *scaled.inputs(),
        Inputs::Values(vec![-2.0, -1.0, 0.0, 1.0, 3.0])
    );
}
