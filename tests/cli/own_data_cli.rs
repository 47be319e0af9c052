//! Your own data through the command line: a CSV trained and a bad one refused, and a Kaggle
//! CSV model that is a picture model and also takes CSV rows.

use crate::own_data::{blobs_csv, mnist, pixels, put, write_kaggle_csv};
use std::process::Command;

#[test]
fn the_cli_trains_a_csv_and_refuses_a_bad_one() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("flowers.csv");
    blobs_csv(&good, 90);
    let run_on = |backend: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
            .args(["train", "--backend", backend, "--epochs", "1", "--offline"])
            .args(args)
            .output()
            .unwrap()
    };
    let run = |args: &[&str]| run_on("cpu", args);
    let flowers = [
        "--data",
        good.to_str().unwrap(),
        "--label-column",
        "species",
    ];
    let mut backends = vec!["cpu"];
    if support::gpu::lab().is_some() {
        backends.push("vulkan");
    }
    for backend in backends {
        let out = run_on(backend, &flowers);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{backend}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let first = stdout.lines().next().unwrap_or_default();
        assert!(
            first.contains(
                "5-128-3, dropout 0.2 on flowers (72 train, 18 test; test set: 20% of each \
                 class held out (--test-split 0.2, seed 42))"
            ) && first.contains(backend),
            "{first}"
        );
        assert!(stdout.contains("test accuracy"), "{backend}: {stdout}");
    }
    let bad = put(tmp.path(), "bad.csv", "a,label\n1,0\n2,zero\n3,1\n4\n");
    let out = run(&["--data", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("bad.csv: line 5 has 1 fields"), "{stderr}");
}

#[test]
fn a_kaggle_csv_model_is_a_picture_model_that_also_takes_csv_rows() {
    let idx = mnist();
    let tmp = tempfile::tempdir().unwrap();
    let train_csv = tmp.path().join("train.csv");
    write_kaggle_csv(&train_csv, &idx.train().first(600));
    let model = tmp.path().join("digits.safetensors");
    let gpu_mlp = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{args:?}: {text}");
        text
    };
    let (csv, path) = (train_csv.to_str().unwrap(), model.to_str().unwrap());
    gpu_mlp(&[
        "train",
        "--backend",
        "cpu",
        "--epochs",
        "1",
        "--data",
        csv,
        "--save",
        path,
    ]);
    let grid = tmp.path().join("grid.png");
    gpu_mlp(&["show", "--data", csv, "--out", grid.to_str().unwrap()]);
    assert!(grid.exists());
    // Kaggle's test.csv: pixel columns only, a row per digit; and the same digit as a picture.
    let rows = tmp.path().join("rows.csv");
    let mut text = (0..784)
        .map(|j| format!("pixel{j}"))
        .collect::<Vec<_>>()
        .join(",");
    text.push('\n');
    let digit = &pixels(idx.test())[..784];
    let cells: Vec<String> = digit.iter().map(|p| p.to_string()).collect();
    text.push_str(&cells.join(","));
    text.push('\n');
    std::fs::write(&rows, text).unwrap();
    let picture = tmp.path().join("digit.png");
    image::GrayImage::from_raw(28, 28, digit.to_vec())
        .unwrap()
        .save(&picture)
        .unwrap();
    let out = gpu_mlp(&[
        "predict",
        "--model",
        path,
        rows.to_str().unwrap(),
        picture.to_str().unwrap(),
    ]);
    assert!(out.contains("rows.csv:2: "), "{out}");
    assert!(out.contains("digit.png"), "{out}");
}
