//! Loading MNIST from its IDX files (gzip, as distributed) against loading the same 70,000
//! samples written as CSV files (Kaggle's layout, `label,pixel0..pixel783`: 60,000 training
//! rows, ~110 MB, and 10,000 test rows through `--test-data`).
//!
//! `cargo bench --bench data_load` (about a minute). Needs MNIST at `../shared/data/mnist` or
//! `$MNIST_DIR`. The CSV files are written once into a temporary folder before timing.

use criterion::{criterion_group, criterion_main, Criterion};
use gpu_mlp::data::{self, DataSource, KnownDataset, LoadOptions, Samples};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn mnist_dir() -> PathBuf {
    std::env::var_os("MNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/data/mnist"
            ))
        })
}

/// `samples` as a Kaggle-style CSV file.
fn write_csv(path: &Path, samples: &Samples) {
    let pixels = samples.inputs().pixels().expect("MNIST is 8-bit");
    let mut text = String::with_capacity(samples.count() * 2000);
    text.push_str("label");
    for j in 0..samples.features() {
        write!(text, ",pixel{j}").expect("write to a String");
    }
    text.push('\n');
    for (row, &label) in pixels.chunks(samples.features()).zip(samples.labels()) {
        write!(text, "{label}").expect("write to a String");
        for p in row {
            write!(text, ",{p}").expect("write to a String");
        }
        text.push('\n');
    }
    std::fs::write(path, text).expect("write the CSV file");
}

fn load(c: &mut Criterion) {
    let dir = mnist_dir();
    let idx = data::load_dir(&dir, Some(KnownDataset::Mnist)).expect("MNIST loads");
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let (train, test) = (tmp.path().join("train.csv"), tmp.path().join("test.csv"));
    write_csv(&train, idx.train());
    write_csv(&test, idx.test());
    let csv_source = DataSource::Path {
        path: train.clone(),
        hint: None,
    };
    let csv_options = LoadOptions {
        test_data: Some(test),
        ..LoadOptions::default()
    };
    let loaded = data::load(&csv_source, &csv_options).expect("the CSV files load");
    assert_eq!((loaded.train(), loaded.test()), (idx.train(), idx.test()));
    drop((idx, loaded));

    let mut group = c.benchmark_group("load_mnist");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("idx_gz", |b| {
        b.iter(|| black_box(data::load_dir(&dir, Some(KnownDataset::Mnist)).expect("loads")))
    });
    group.bench_function("csv", |b| {
        b.iter(|| black_box(data::load(&csv_source, &csv_options).expect("loads")))
    });
    group.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
