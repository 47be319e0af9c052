//! Your own data (`--data PATH`): MNIST written by the test as a Kaggle CSV, as Keras's
//! `mnist.npz` and as a PNG class-folder tree loads to exactly the IDX folder's samples and
//! trains to the same bits; float tables train on both engines; text and one-hot labels; the
//! stratified `--test-split`. Bad inputs: `own_data_errors.rs`; tables of small numbers
//! and image sizes and colours: `own_data_kinds.rs`; through the binary:
//! `own_data_cli.rs`.

use gpu_mlp::data::{
    self, DataError, DataSource, Dataset, Inputs, KnownDataset, LabelColumn, LoadOptions, Samples,
    ScaleRequest, Scaling, SourceKind, TestOrigin,
};
use gpu_mlp::engine::cpu::CpuEngine;
use gpu_mlp::engine::gpu::{GpuEngine, GpuOptions};
use gpu_mlp::engine::Engine;
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::model::ModelSpec;
use gpu_mlp::training::{self, Silent, TrainConfig, TrainReport};
use npyz::WriterBuilder;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Enough MNIST to train a few hundred steps in well under a second per engine.
const TRAIN: usize = 3000;
const TEST: usize = 500;

/// The first `TRAIN` and `TEST` samples of real MNIST, as the IDX reader gives them.
pub(crate) fn mnist() -> &'static Dataset {
    static DATA: OnceLock<Dataset> = OnceLock::new();
    DATA.get_or_init(|| {
        let full = data::load_dir(Path::new(support::MNIST_DIR), Some(KnownDataset::Mnist))
            .expect("MNIST is expected at ../shared/data/mnist (relative to the crate root)");
        let (train, test) = (full.train().first(TRAIN), full.test().first(TEST));
        full.with_train(train)
            .expect("a train split")
            .with_test(test)
            .expect("a test split")
    })
}

pub(crate) fn load(path: &Path, opts: &LoadOptions) -> Result<(Dataset, TestOrigin), DataError> {
    data::load_explained(
        &DataSource::Path {
            path: path.to_path_buf(),
            hint: None,
        },
        opts,
    )
}

pub(crate) fn load_ok(path: &Path, opts: &LoadOptions) -> Dataset {
    load(path, opts)
        .unwrap_or_else(|e| panic!("{} should load: {e}", path.display()))
        .0
}

/// The error of loading `path`, which must be one line naming `names` (a file, an image).
pub(crate) fn load_err(path: &Path, opts: &LoadOptions, names: &Path) -> String {
    let e = load(path, opts)
        .expect_err("bad input must not load")
        .to_string();
    assert!(!e.contains('\n'), "message spans lines: {e}");
    assert!(
        e.contains(&names.display().to_string()),
        "message does not name {}: {e}",
        names.display()
    );
    e
}

pub(crate) fn pixels(s: &Samples) -> &[u8] {
    s.inputs().pixels().expect("8-bit inputs")
}

/// 784-32-10, `epochs` of batch 32, seed 7.
fn train_for(epochs: usize, data: &Dataset, engine: &mut dyn Engine) -> TrainReport {
    let config = TrainConfig {
        epochs,
        batch_size: 32,
        validation_split: 0.1,
        seed: 7,
        optimizer: Optimizer::adam(1e-3),
        ..TrainConfig::default()
    };
    let spec = spec_for(data);
    engine.set_parameters(&spec.init_parameters(7)).unwrap();
    training::run(&config, data, engine, &mut Silent).expect("training runs")
}

/// One epoch (see [`train_for`]).
fn train_on(data: &Dataset, engine: &mut dyn Engine) -> TrainReport {
    train_for(1, data, engine)
}

fn spec_for(data: &Dataset) -> ModelSpec {
    ModelSpec::new(data.features(), vec![32], data.classes(), 0.1).unwrap()
}

fn train_cpu(data: &Dataset) -> TrainReport {
    let spec = spec_for(data);
    let mut engine =
        CpuEngine::new(&spec, &spec.init_parameters(7), Optimizer::adam(1e-3), 32).unwrap();
    train_on(data, &mut engine)
}

/// The GPU engine (Vulkan; lavapipe here), or `None` when there is no adapter (a failure with
/// `CI=true`).
fn gpu(data: &Dataset) -> Option<GpuEngine> {
    let lab = support::gpu::lab()?;
    Some(
        GpuEngine::new(
            lab.ctx.clone(),
            Some(lab.pipes.clone()),
            &spec_for(data),
            &spec_for(data).init_parameters(7),
            Optimizer::adam(1e-3),
            32,
            GpuOptions::default(),
        )
        .unwrap(),
    )
}

/// Every loss, accuracy and parameter of a run, as bits.
fn bits(report: &TrainReport) -> (Vec<u64>, u64, Vec<u32>) {
    let history = report
        .history
        .iter()
        .flat_map(|r| {
            let (vl, va) = r.validation.unwrap_or_default();
            [r.loss, r.accuracy, vl, va].map(f64::to_bits)
        })
        .collect();
    let params = report.parameters.iter().map(|p| p.to_bits()).collect();
    (history, report.test.loss_sum.to_bits(), params)
}

/// `labels` and `pixels` of a split as a Kaggle CSV (`label,pixel0..pixel783`).
pub(crate) fn write_kaggle_csv(path: &Path, s: &Samples) {
    let mut text = String::from("label");
    for j in 0..s.features() {
        write!(text, ",pixel{j}").unwrap();
    }
    text.push('\n');
    for (i, row) in pixels(s).chunks(s.features()).enumerate() {
        write!(text, "{}", s.labels()[i]).unwrap();
        for p in row {
            write!(text, ",{p}").unwrap();
        }
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// One `.npy` array (written with `npyz`).
pub(crate) fn npy<T: npyz::AutoSerialize + Copy>(shape: &[u64], values: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut out)
        .begin_nd()
        .unwrap();
    writer.extend(values.iter().copied()).unwrap();
    writer.finish().unwrap();
    out
}

/// An `.npz` archive of `arrays` (`name`, `.npy` bytes), deflated as `numpy.savez_compressed`
/// writes them.
pub(crate) fn write_npz(path: &Path, arrays: &[(&str, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in arrays {
        zip.start_file(format!("{name}.npy"), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// MNIST's arrays as Keras's `mnist.npz` holds them: `u8 [n, 28, 28]` images, `u8 [n]` labels.
fn mnist_arrays(x: &str, y: &str, s: &Samples) -> [(String, Vec<u8>); 2] {
    let labels: Vec<u8> = s.labels().iter().map(|&l| l as u8).collect();
    [
        (x.to_string(), npy(&[s.count() as u64, 28, 28], pixels(s))),
        (y.to_string(), npy(&[s.count() as u64], &labels)),
    ]
}

fn write_arrays(path: &Path, arrays: &[(String, Vec<u8>)]) {
    let borrowed: Vec<(&str, Vec<u8>)> = arrays
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    write_npz(path, &borrowed);
}

/// `s` sorted by class (stably), as an image folder lists it.
fn by_class(s: &Samples) -> Samples {
    let mut order: Vec<usize> = (0..s.count()).collect();
    order.sort_by_key(|&i| s.labels()[i]);
    s.select(&order)
}

/// A split as `dir/<label>/<index>.png` grey PNGs (names zero-padded, so sorted = written order).
fn write_png_tree(dir: &Path, s: &Samples) {
    for (i, row) in pixels(s).chunks(s.features()).enumerate() {
        let class = dir.join(s.labels()[i].to_string());
        std::fs::create_dir_all(&class).unwrap();
        image::GrayImage::from_raw(28, 28, row.to_vec())
            .unwrap()
            .save(class.join(format!("{i:05}.png")))
            .unwrap();
    }
}

#[test]
fn mnist_as_kaggle_csv_trains_to_the_idx_bits() {
    let idx = mnist();
    let tmp = tempfile::tempdir().unwrap();
    let (train_csv, test_csv) = (tmp.path().join("train.csv"), tmp.path().join("test.csv"));
    write_kaggle_csv(&train_csv, idx.train());
    write_kaggle_csv(&test_csv, idx.test());
    let opts = LoadOptions {
        test_data: Some(test_csv.clone()),
        ..LoadOptions::default()
    };
    let (csv, origin) = load(&train_csv, &opts).unwrap();
    assert_eq!(origin, TestOrigin::Given(test_csv));
    assert_eq!(
        (csv.source(), csv.scaling().clone()),
        (SourceKind::Csv, Scaling::Pixels)
    );
    // The u8 path: the very samples the IDX reader gives, as 28x28 pictures.
    assert_eq!((csv.train(), csv.test()), (idx.train(), idx.test()));
    assert_eq!((csv.rows(), csv.cols(), csv.channels()), (28, 28, 1));
    assert!(csv.is_image());
    assert_eq!(csv.class_names(), idx.class_names());
    assert_eq!(bits(&train_cpu(&csv)), bits(&train_cpu(idx)));

    // A gzipped, headerless copy with the label last reads the same with --label-column last.
    let mut text = String::new();
    for (i, row) in pixels(idx.train()).chunks(784).enumerate().take(50) {
        for p in row {
            write!(text, "{p},").unwrap();
        }
        writeln!(text, "{}", idx.train().labels()[i]).unwrap();
    }
    let gz = tmp.path().join("last.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(text.as_bytes()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    // The library names the setting; `gpu-mlp` names its flag (`flags::every_library_message…`).
    let err = load_err(&gz, &LoadOptions::default(), &gz);
    assert!(err.contains("pass label column last"), "{err}");
    let last = LoadOptions {
        label_column: Some(LabelColumn::Last),
        test_split: 0.2,
        ..LoadOptions::default()
    };
    let d = load_ok(&gz, &last);
    assert_eq!(d.train().count() + d.test().count(), 50);
    assert_eq!(d.features(), 784);
}

#[test]
fn mnist_as_npz_trains_to_the_idx_bits() {
    let idx = mnist();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("mnist.npz");
    let mut arrays = mnist_arrays("x_train", "y_train", idx.train()).to_vec();
    arrays.extend(mnist_arrays("x_test", "y_test", idx.test()));
    write_arrays(&path, &arrays);
    let (npz, origin) = load(&path, &LoadOptions::default()).unwrap();
    assert_eq!(
        (origin, npz.source(), npz.name()),
        (TestOrigin::Own, SourceKind::Npz, "mnist")
    );
    assert_eq!((npz.rows(), npz.cols(), npz.channels()), (28, 28, 1));
    assert_eq!((npz.train(), npz.test()), (idx.train(), idx.test()));
    assert_eq!(bits(&train_cpu(&npz)), bits(&train_cpu(idx)));
}

#[test]
fn mnist_as_png_folders_trains_to_the_idx_bits_on_both_engines() {
    let idx = mnist();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("digits");
    write_png_tree(&root.join("train"), idx.train());
    write_png_tree(&root.join("test"), idx.test());
    let (png, origin) = load(&root, &LoadOptions::default()).unwrap();
    assert_eq!(
        (origin, png.source()),
        (TestOrigin::Own, SourceKind::ImageFolder)
    );
    assert_eq!((png.rows(), png.cols(), png.channels()), (28, 28, 1));
    assert_eq!(png.class_names(), idx.class_names());
    // An image folder lists its samples class by class.
    let sorted = idx
        .clone()
        .with_train(by_class(idx.train()))
        .expect("a train split")
        .with_test(by_class(idx.test()))
        .expect("a test split");
    assert_eq!((png.train(), png.test()), (sorted.train(), sorted.test()));
    assert_eq!(bits(&train_cpu(&png)), bits(&train_cpu(&sorted)));
    if let (Some(mut a), Some(mut b)) = (gpu(&png), gpu(&sorted)) {
        assert_eq!(
            bits(&train_on(&png, &mut a)),
            bits(&train_on(&sorted, &mut b))
        );
    }
}

/// Three Gaussian blobs in 5 float features, far from 0 and of unequal spread (so scaling
/// matters), one row per sample with a text label among the columns.
pub(crate) fn blobs_csv(path: &Path, rows: usize) {
    let mut rng = support::gpu::Rng::new(11);
    let names = ["setosa", "versicolor", "virginica"];
    let mut text = String::from("f0,f1,species,f2,f3,f4\n");
    for i in 0..rows {
        let c = i % 3;
        let v: Vec<f32> = (0..5)
            .map(|j| 100.0 + 10.0 * j as f32 + 3.0 * c as f32 * (j + 1) as f32 + rng.f32())
            .collect();
        writeln!(
            text,
            "{},{},{},{},{},{}",
            v[0], v[1], names[c], v[2], v[3], v[4]
        )
        .unwrap();
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_float_csv_with_text_labels_is_standardised_and_trains_on_both_engines() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("flowers.csv");
    blobs_csv(&path, 600);
    let opts = LoadOptions {
        label_column: Some(LabelColumn::Name("Species".into())),
        ..LoadOptions::default()
    };
    let (d, origin) = load(&path, &opts).unwrap();
    assert_eq!(
        origin,
        TestOrigin::Split {
            fraction: 0.2,
            seed: 42
        }
    );
    assert_eq!(d.class_names(), ["setosa", "versicolor", "virginica"]);
    assert_eq!(
        (d.train().count(), d.test().count(), d.features()),
        (480, 120, 5)
    );
    // Standardised with the training part's numbers: each training column has mean 0, sd 1.
    let Scaling::Standardize { mean, std } = d.scaling() else {
        panic!(
            "float data is standardised by default, got {:?}",
            d.scaling()
        )
    };
    assert!(mean[0] > 100.0 && std.iter().all(|&s| s > 0.0));
    let Inputs::Values(v) = d.train().inputs() else {
        panic!("float data is f32")
    };
    for j in 0..5 {
        let col: Vec<f64> = v.iter().skip(j).step_by(5).map(|&x| f64::from(x)).collect();
        let m = col.iter().sum::<f64>() / col.len() as f64;
        let sd = (col.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / col.len() as f64).sqrt();
        assert!(
            m.abs() < 1e-4 && (sd - 1.0).abs() < 1e-4,
            "column {j}: mean {m}, sd {sd}"
        );
    }
    // The test part is scaled with the same numbers: applying them to its raw rows gives it.
    let raw = load_ok(
        &path,
        &LoadOptions {
            scale: ScaleRequest::None,
            ..opts.clone()
        },
    );
    let mut again = raw.test().input(0);
    d.scaling().apply(&mut again);
    assert_eq!(again, d.test().input(0));
    // ... and a saved model's scaling given back reproduces the data exactly.
    let given = load_ok(
        &path,
        &LoadOptions {
            scale: ScaleRequest::Given(d.scaling().clone()),
            ..opts.clone()
        },
    );
    assert_eq!((given.train(), given.test()), (d.train(), d.test()));

    let spec = spec_for(&d);
    let mut cpu =
        CpuEngine::new(&spec, &spec.init_parameters(7), Optimizer::adam(1e-3), 32).unwrap();
    let cpu = train_for(10, &d, &mut cpu);
    assert!(cpu.test.accuracy() > 0.9, "cpu: {}", cpu.test.accuracy());
    if let Some(mut engine) = gpu(&d) {
        let gpu = train_for(10, &d, &mut engine);
        // The engines' own lockstep bounds: losses agree to a few parts in 10^5.
        for (c, g) in cpu.history.iter().zip(&gpu.history) {
            assert!(
                (c.loss - g.loss).abs() <= 1e-4 * c.loss.abs().max(1.0),
                "{c:?} vs {g:?}"
            );
        }
        assert_eq!(gpu.test.correct, cpu.test.correct);
    }
}

#[test]
fn one_hot_npz_labels_and_features_train() {
    // The tutorial's own data: 3 classes, f64 features [n, 4], one-hot f32 labels [n, 3].
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tutorial.npz");
    let n = 90;
    let x: Vec<f64> = (0..n * 4)
        .map(|i| ((i / 4) % 3) as f64 * 2.0 + (i % 4) as f64 * 0.1)
        .collect();
    let y: Vec<f32> = (0..n * 3)
        .map(|i| if (i / 3) % 3 == i % 3 { 1.0 } else { 0.0 })
        .collect();
    write_npz(
        &path,
        &[
            ("x", npy(&[n as u64, 4], &x)),
            ("y", npy(&[n as u64, 3], &y)),
        ],
    );
    let (d, origin) = load(&path, &LoadOptions::default()).unwrap();
    assert!(matches!(origin, TestOrigin::Split { .. }));
    assert_eq!(d.class_names(), ["0", "1", "2"]);
    assert_eq!(
        (d.train().count() + d.test().count(), d.features()),
        (90, 4)
    );
    assert!(matches!(d.scaling(), Scaling::Standardize { .. }));
    let mut all: Vec<u16> = d.train().labels().to_vec();
    all.extend(d.test().labels());
    assert_eq!(
        (0..3)
            .map(|c| all.iter().filter(|&&l| l == c).count())
            .collect::<Vec<_>>(),
        [30, 30, 30]
    );

    // A row that is not one-hot is an error naming the array and sample.
    let mut y2 = y.clone();
    y2[5] = 1.0;
    write_npz(
        &path,
        &[
            ("x", npy(&[n as u64, 4], &x)),
            ("y", npy(&[n as u64, 3], &y2)),
        ],
    );
    let e = load_err(&path, &LoadOptions::default(), &path);
    assert!(
        e.contains("array y") && e.contains("sample 1") && e.contains("one-hot"),
        "{e}"
    );
}

#[test]
fn test_split_is_stratified_and_seeded() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("skewed.csv");
    // Class 0: 200 rows, class 1: 50, class 2: 10.
    let mut text = String::from("x,y\n");
    for (class, count) in [(0, 200), (1, 50), (2, 10)] {
        for i in 0..count {
            writeln!(text, "{}.5,{class}", i * 3 + class).unwrap();
        }
    }
    std::fs::write(&path, text).unwrap();
    let split = |fraction: f64, seed: u64| {
        load_ok(
            &path,
            &LoadOptions {
                test_split: fraction,
                seed,
                ..LoadOptions::default()
            },
        )
    };
    let d = split(0.2, 1);
    let count = |s: &Samples, c: u16| s.labels().iter().filter(|&&l| l == c).count();
    assert_eq!([0, 1, 2].map(|c| count(d.test(), c)), [40, 10, 2]);
    assert_eq!([0, 1, 2].map(|c| count(d.train(), c)), [160, 40, 8]);
    // Same seed, same split; another seed, another draw of the same sizes.
    assert_eq!(split(0.2, 1).test(), d.test());
    let other = split(0.2, 2);
    assert_ne!(other.test(), d.test());
    assert_eq!([0, 1, 2].map(|c| count(other.test(), c)), [40, 10, 2]);
    assert_eq!(split(0.5, 1).test().count(), 130);
}

/// Writes `text` to `dir/name` and returns the path.
pub(crate) fn put(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}
