//! `gpu-mlp export` checked by a runtime no one here wrote: tract loads each exported model and,
//! on every test sample, names the class `gpu-mlp eval` names and gives the CPU engine's
//! probabilities within 1e-5. Three models: MNIST (grey pictures, `uint8 [N, 28, 28]`), a
//! standardised float table from a CSV (`float32 [N, F]`, with a constant column) and an RGB
//! image folder of non-square pictures (`uint8 [N, H, W, 3]`), plus an 8-bit table
//! (`uint8 [N, F]`); and bad input answered by one `error:` line.

use gpu_mlp::checkpoint::{self, Checkpoint};
use gpu_mlp::data::Samples;
use gpu_mlp::engine::cpu::CpuEngine;
use gpu_mlp::inference::export;
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::{BackendChoice, Classifier};
use gpu_mlp_cli::cli::{DataArgs, EngineArgs, EvalArgs};
use gpu_mlp_cli::commands::eval;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::path::{Path, PathBuf};
use support::{fails, gpu_mlp, mnist, succeeded, trained};
use tract_onnx::prelude::*;

/// The largest difference allowed between tract's and the CPU engine's probabilities.
const TOLERANCE: f32 = 1e-5;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs the ONNX file at `path` in tract on `input`: `(probabilities, logits)`, flat.
fn tract_run(path: &Path, input: Tensor) -> (Vec<f32>, Vec<f32>) {
    let model = tract_onnx::onnx()
        .model_for_path(path)
        .expect("tract reads the file")
        .into_optimized()
        .expect("tract types and optimises the graph")
        .into_runnable()
        .expect("tract plans the graph");
    let out = model
        .run(tvec!(input.into()))
        .expect("tract runs the graph");
    assert_eq!(out.len(), 2, "two outputs: probabilities and logits");
    let flat = |t: &TValue| -> Vec<f32> {
        t.to_plain_array_view::<f32>()
            .expect("f32 outputs")
            .iter()
            .copied()
            .collect()
    };
    (flat(&out[0]), flat(&out[1]))
}

/// The CPU engine's probabilities for every sample of `test` (network inputs, scaled).
fn cpu_probabilities(ckpt: &Checkpoint, test: &Samples) -> Vec<f32> {
    let inputs: Vec<f32> = (0..test.count()).flat_map(|i| test.input(i)).collect();
    Classifier::from_checkpoint(ckpt.clone())
        .unwrap()
        .probabilities_batch(&inputs)
}

/// Index of the first largest value of each row of `classes` values.
fn arg_max_rows(values: &[f32], classes: usize) -> Vec<u32> {
    values
        .chunks(classes)
        .map(|row| gpu_mlp::engine::cpu::ops::arg_max(row).0 as u32)
        .collect()
}

/// tract on `raw` (the samples as a user holds them) against `eval`'s classes and the CPU
/// engine's probabilities, for the whole batch and for one sample alone (the batch is dynamic).
fn check_runs_alike(onnx: &Path, raw: Tensor, eval_classes: &[u32], cpu: &[f32], classes: usize) {
    let (probabilities, logits) = tract_run(onnx, raw.clone());
    assert_eq!(probabilities.len(), cpu.len(), "{} outputs", onnx.display());
    let (worst, at) = probabilities
        .iter()
        .zip(cpu)
        .map(|(a, b)| (a - b).abs())
        .enumerate()
        .fold((0.0f32, 0), |w, (i, d)| if d > w.0 { (d, i) } else { w });
    assert!(
        worst <= TOLERANCE,
        "{}: probability {} of sample {} is {} in tract, {} on the CPU engine",
        onnx.display(),
        at % classes,
        at / classes,
        probabilities[at],
        cpu[at]
    );
    assert_eq!(arg_max_rows(&logits, classes), eval_classes, "classes");
    assert_eq!(arg_max_rows(&probabilities, classes), eval_classes);
    let first = raw.slice(0, 0, 1).unwrap();
    let (one, _) = tract_run(onnx, first);
    for (a, b) in one.iter().zip(&cpu[..classes]) {
        assert!((a - b).abs() <= TOLERANCE, "batch of 1: {one:?} vs {cpu:?}");
    }
}

/// The model properties tract reads from the file.
fn properties(onnx: &Path) -> Vec<(String, String)> {
    let proto = tract_onnx::onnx()
        .proto_model_for_path(onnx)
        .expect("tract parses the file");
    assert_eq!(proto.ir_version, export::IR_VERSION);
    assert_eq!(proto.opset_import[0].version, export::OPSET);
    proto
        .metadata_props
        .into_iter()
        .map(|p| (p.key, p.value))
        .collect()
}

fn property(props: &[(String, String)], key: &str) -> String {
    props
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no property {key} in {props:?}"))
        .1
        .clone()
}

/// What `gpu-mlp eval --backend cpu` predicts for the model at `model` (with `test_data`).
fn eval_classes(model: &Path, test_data: Option<PathBuf>) -> Vec<u32> {
    let args = EvalArgs {
        model: model.to_path_buf(),
        data: DataArgs {
            test_data,
            ..DataArgs::default()
        },
        engine: EngineArgs {
            backend: Some(BackendChoice::Cpu),
            adapter: None,
            steps_per_submit: 64,
        },
        confusion_png: None,
    };
    eval::run(&args).expect("eval runs").evaluation.predictions
}

#[test]
fn mnist_model_runs_in_tract_as_on_the_cpu_engine() {
    let (ckpt, _) = trained();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("mnist.safetensors");
    let onnx = dir.path().join("mnist.onnx");
    checkpoint::save(&model, ckpt).unwrap();
    let out = succeeded(
        &gpu_mlp(&["export", "--model", s(&model), "--onnx", s(&onnx)]),
        "export",
    );
    assert!(
        out.contains("input 'input' uint8 [N, 28, 28]") && out.contains("float32 [N, 10]"),
        "{out}"
    );

    let test = mnist().test();
    // `gpu-mlp eval`'s classes: its evaluation on the CPU engine.
    let mut engine =
        CpuEngine::new(&ckpt.spec, &ckpt.parameters, Optimizer::adam(1e-3), 1).unwrap();
    let classes = eval::evaluate(&mut engine, ckpt, test)
        .unwrap()
        .evaluation
        .predictions;
    let pixels = test.inputs().pixels().expect("MNIST is 8-bit");
    let raw = Tensor::from_shape(&[test.count(), 28, 28], pixels).unwrap();
    check_runs_alike(&onnx, raw, &classes, &cpu_probabilities(ckpt, test), 10);

    let props = properties(&onnx);
    let names: Vec<String> = serde_json::from_str(&property(&props, "class_names")).unwrap();
    assert_eq!(names, ckpt.class_names);
    assert_eq!(property(&props, "input_shape"), "[28,28]");
    assert_eq!(property(&props, "source"), "idx");
    assert_eq!(property(&props, "scale"), "pixels");
    assert_eq!(
        property(&props, "gpu_mlp_version"),
        env!("CARGO_PKG_VERSION")
    );
}

/// Trains a small model on `data` with the CPU engine through the command line; its path.
fn train(dir: &Path, data: &Path, extra: &[&str]) -> PathBuf {
    let model = dir.join("model.safetensors");
    let mut args = vec![
        "train",
        "--data",
        s(data),
        "--backend",
        "cpu",
        "--hidden",
        "16",
    ];
    args.extend_from_slice(&["--batch-size", "16", "--seed", "3", "--save", s(&model)]);
    args.extend_from_slice(extra);
    succeeded(&gpu_mlp(&args), &format!("{args:?}"));
    model
}

/// Rows of a table of 3 classes: `(features, label)`. Columns of very different scales, one
/// `constant` (its standard deviation is 0: the scaling maps it to 0, whatever a test row
/// holds there), one noise.
fn float_rows(rng: &mut Pcg64Mcg, n: usize, constant: f32) -> Vec<([f32; 5], u16)> {
    (0..n)
        .map(|i| {
            let c = (i % 3) as u16;
            let noise = |rng: &mut Pcg64Mcg| rng.random_range(-1.0f32..1.0);
            let f = [
                f32::from(c) * 2.0 + noise(rng),
                1000.0 + 300.0 * f32::from(c) + 120.0 * noise(rng),
                0.001 * (f32::from(c) + noise(rng)),
                constant,
                noise(rng),
            ];
            (f, c)
        })
        .collect()
}

fn write_csv(path: &Path, rows: &[([f32; 5], u16)]) {
    let mut text = String::from("f0,f1,f2,f3,f4,label\n");
    for (f, c) in rows {
        let cells: Vec<String> = f.iter().map(|v| v.to_string()).collect();
        text.push_str(&format!("{},{c}\n", cells.join(",")));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn standardised_table_model_runs_in_tract_as_on_the_cpu_engine() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Pcg64Mcg::seed_from_u64(21);
    let (train_csv, test_csv) = (dir.path().join("train.csv"), dir.path().join("test.csv"));
    write_csv(&train_csv, &float_rows(&mut rng, 300, 7.5));
    let test_rows = float_rows(&mut rng, 120, 9.0);
    write_csv(&test_csv, &test_rows);
    let model = train(
        dir.path(),
        &train_csv,
        &["--test-data", s(&test_csv), "--epochs", "20"],
    );
    let ckpt = checkpoint::load(&model).unwrap();
    assert_eq!(ckpt.scaling.name(), "standardize");
    let onnx = dir.path().join("table.onnx");
    let input = gpu_mlp::export_onnx(&onnx, &ckpt).unwrap();
    assert_eq!(input.describe(), "float32 [N, 5]");

    let classes = eval_classes(&model, Some(test_csv.clone()));
    let data_args = DataArgs {
        test_data: Some(test_csv),
        ..DataArgs::default()
    };
    let data = eval::data_for_checkpoint(&data_args, &ckpt, &model).unwrap();
    let test = eval::test_for_model(&data, &ckpt).unwrap();
    let raw: Vec<f32> = test_rows.iter().flat_map(|(f, _)| *f).collect();
    let raw = Tensor::from_shape(&[test_rows.len(), 5], &raw).unwrap();
    check_runs_alike(&onnx, raw, &classes, &cpu_probabilities(&ckpt, &test), 3);
    assert_eq!(property(&properties(&onnx), "source"), "csv");
}

#[test]
fn eight_bit_table_model_takes_uint8_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Pcg64Mcg::seed_from_u64(5);
    let mut text = String::from("a,b,c,d,e,g,label\n");
    for i in 0..240 {
        let c = i % 3;
        let cells: Vec<String> = (0..6)
            .map(|j| {
                let base = if j % 3 == c { 200 } else { 40 };
                (base + rng.random_range(0..56u32)).min(255).to_string()
            })
            .collect();
        text.push_str(&format!("{},{c}\n", cells.join(",")));
    }
    let csv = dir.path().join("bytes.csv");
    std::fs::write(&csv, text).unwrap();
    let model = train(dir.path(), &csv, &["--epochs", "10", "--scale", "pixels"]);
    let ckpt = checkpoint::load(&model).unwrap();
    let onnx = dir.path().join("bytes.onnx");
    assert_eq!(
        gpu_mlp::export_onnx(&onnx, &ckpt).unwrap().describe(),
        "uint8 [N, 6]"
    );
    let data = eval::data_for_checkpoint(&DataArgs::default(), &ckpt, &model).unwrap();
    let test = eval::test_for_model(&data, &ckpt).unwrap();
    let pixels = test.inputs().pixels().expect("8-bit rows stay 8-bit");
    let raw = Tensor::from_shape(&[test.count(), 6], pixels).unwrap();
    let classes = eval_classes(&model, None);
    check_runs_alike(&onnx, raw, &classes, &cpu_probabilities(&ckpt, &test), 3);
}

#[test]
fn rgb_model_runs_in_tract_as_on_the_cpu_engine() {
    let dir = tempfile::tempdir().unwrap();
    let pictures = dir.path().join("colours");
    let mut rng = Pcg64Mcg::seed_from_u64(9);
    // 6 wide, 5 high: a width and height swapped anywhere would not fit.
    for (c, name) in ["red", "green", "blue"].iter().enumerate() {
        std::fs::create_dir_all(pictures.join(name)).unwrap();
        for i in 0..40 {
            let img = image::RgbImage::from_fn(6, 5, |x, _| {
                let mut px = [0u8; 3];
                for (k, v) in px.iter_mut().enumerate() {
                    let lit = k == c && x % 2 == (i % 2) as u32;
                    *v = if lit { 150 } else { 20 } + rng.random_range(0..100u8);
                }
                image::Rgb(px)
            });
            img.save(pictures.join(name).join(format!("{i:02}.png")))
                .unwrap();
        }
    }
    let model = train(dir.path(), &pictures, &["--epochs", "15", "--color", "rgb"]);
    let ckpt = checkpoint::load(&model).unwrap();
    assert_eq!((ckpt.rows, ckpt.cols, ckpt.channels), (5, 6, 3));
    let onnx = dir.path().join("rgb.onnx");
    let out = succeeded(
        &gpu_mlp(&["export", "--model", s(&model), "--onnx", s(&onnx)]),
        "export",
    );
    assert!(out.contains("uint8 [N, 5, 6, 3]"), "{out}");
    let data = eval::data_for_checkpoint(&DataArgs::default(), &ckpt, &model).unwrap();
    let test = eval::test_for_model(&data, &ckpt).unwrap();
    let pixels = test.inputs().pixels().expect("pictures are 8-bit");
    let raw = Tensor::from_shape(&[test.count(), 5, 6, 3], pixels).unwrap();
    let classes = eval_classes(&model, None);
    check_runs_alike(&onnx, raw, &classes, &cpu_probabilities(&ckpt, &test), 3);
    let props = properties(&onnx);
    assert_eq!(property(&props, "input_shape"), "[5,6,3]");
    assert_eq!(property(&props, "source"), "image-folder");
}

#[test]
fn bad_input_is_one_clear_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("out.onnx");
    let export = |model: &Path, out: &Path, expected: &str| {
        fails(&["export", "--model", s(model), "--onnx", s(out)], expected);
    };

    let not_a_model = dir.path().join("notes.safetensors");
    std::fs::write(&not_a_model, "these are notes, not a model").unwrap();
    export(&not_a_model, &onnx, "not a valid safetensors checkpoint");
    export(
        &dir.path().join("missing.safetensors"),
        &onnx,
        "cannot read",
    );
    assert!(!onnx.exists());

    let model = dir.path().join("m.safetensors");
    checkpoint::save(&model, &support::small_checkpoint()).unwrap();
    export(&model, Path::new("/dev/full"), "character device");
    export(&model, dir.path(), "folder");
    export(
        &model,
        &dir.path().join("no/such/dir/m.onnx"),
        "cannot write",
    );
    // A good file stays whole when a write over it fails.
    succeeded(
        &gpu_mlp(&["export", "--model", s(&model), "--onnx", s(&onnx)]),
        "export",
    );
    let before = std::fs::read(&onnx).unwrap();
    export(&not_a_model, &onnx, "not a valid safetensors checkpoint");
    assert_eq!(std::fs::read(&onnx).unwrap(), before);

    // A scaling this gpu-mlp does not know (a later version's, or a damaged header).
    let mut ckpt = support::small_checkpoint();
    ckpt.scaling = gpu_mlp::data::Scaling::None;
    checkpoint::save(&model, &ckpt).unwrap();
    let bytes = std::fs::read(&model).unwrap();
    let (from, to) = (br#""scale":"none""#, br#""scale":"log!""#);
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("the header records the scale");
    let mut changed = bytes.clone();
    changed[at..at + to.len()].copy_from_slice(to);
    std::fs::write(&model, changed).unwrap();
    export(&model, &onnx, "scale 'log!' is not one gpu-mlp knows");
    assert_eq!(std::fs::read(&onnx).unwrap(), before);
}
