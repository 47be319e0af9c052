//! `train --save/--plot/--checkpoint-every/--init-from`, `eval`, `predict` and `show` as a
//! user runs them, on a small slice of real MNIST written to a folder (so each run takes
//! a second), and every bad input answered by one `error:` line and a failing exit status.

use gpu_mlp::checkpoint;
use gpu_mlp::data::{self, idx::Compression, Dataset, Samples};
use std::path::{Path, PathBuf};
use support::{assert_contains_all, fails, gpu_mlp, hand_drawn_digits, mnist, succeeded, trained};

fn ok(args: &[&str]) -> String {
    succeeded(&gpu_mlp(args), &format!("{args:?}"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The arguments of the command line `line`, split at spaces, each `{}` taking the next of
/// `paths` whole (spaces and all).
fn argv<'a>(line: &'a str, paths: &[&'a Path]) -> Vec<&'a str> {
    let mut paths = paths.iter();
    let args = line
        .split_whitespace()
        .map(|word| match word {
            "{}" => s(paths.next().expect("a path for each {}")),
            _ => word,
        })
        .collect();
    assert!(paths.next().is_none(), "more paths than {{}} in {line}");
    args
}

/// `dir/digits`: the first 3000 training and the fixture's test images of MNIST as IDX files.
fn digits_dir(dir: &Path) -> PathBuf {
    let m = mnist();
    let take = |x: &Samples, n: usize| x.first(n);
    let subset = m
        .clone()
        .with_train(take(m.train(), 3000))
        .expect("a train split")
        .with_test(m.test().clone())
        .expect("a test split");
    let path = dir.join("digits");
    data::write_dir(&path, &subset, Compression::None).unwrap();
    path
}

/// `dir/tiny`: 10x10 images, so no 28x28 model fits it.
fn tiny_dir(dir: &Path) -> PathBuf {
    let samples = |n: usize| {
        let pixels = (0..n * 100).map(|i| (i * 29 % 256) as u8).collect();
        Samples::pixels(pixels, (0..n).map(|i| (i % 10) as u16).collect(), 100).unwrap()
    };
    let names = (0..10).map(|c| c.to_string()).collect();
    let tiny = Dataset::new("tiny", names, (10, 10), samples(50), samples(20)).unwrap();
    let path = dir.join("tiny");
    data::write_dir(&path, &tiny, Compression::None).unwrap();
    path
}

/// The fixture model saved to `dir/model.safetensors`.
fn saved_model(dir: &Path) -> PathBuf {
    let path = dir.join("model.safetensors");
    checkpoint::save(&path, &trained().0).unwrap();
    path
}

fn test_accuracy_line(text: &str) -> &str {
    text.lines()
        .find(|l| l.starts_with("test loss:"))
        .unwrap_or_else(|| panic!("no test line in:\n{text}"))
}

#[test]
fn train_save_then_eval_reports_the_same_test_accuracy() {
    let tmp = tempfile::tempdir().unwrap();
    let digits = digits_dir(tmp.path());
    let model = tmp.path().join("m.safetensors");
    let curves = tmp.path().join("curves.png");
    let trained = ok(&argv(
        "train --data {} --backend cpu --hidden 32 --epochs 2 --validation-split 0.1 \
         --save {} --checkpoint-every 1 --plot {}",
        &[&digits, &model, &curves],
    ));
    assert_contains_all(
        &trained,
        &["checkpoint: epoch 1 saved to", "saved the model to"],
    );
    let ckpt = checkpoint::load(&model).unwrap();
    assert_eq!(ckpt.metadata["epochs_completed"], "2");
    assert_eq!(ckpt.metadata["validation_split"], "0.1");
    assert!(ckpt.metadata.contains_key("val_accuracy"));
    assert_eq!(ckpt.dataset, "digits");
    assert_eq!(image::open(&curves).unwrap().width(), 1100);

    // No data flags: eval finds the folder the model was trained on (its data_dir). Same
    // engine as training, so the same figures to the last digit.
    let heat = tmp.path().join("confusion.png");
    let evaluated = ok(&argv(
        "eval --model {} --backend cpu --confusion-png {}",
        &[&model, &heat],
    ));
    assert_eq!(test_accuracy_line(&evaluated), test_accuracy_line(&trained));
    assert_contains_all(&evaluated, &["confusion matrix", "accuracy"]);
    assert!(image::open(&heat).is_ok());

    // Going on from the checkpoint: starts where it left off (loss well below a fresh start).
    let more = ok(&argv(
        "train --data {} --backend cpu --epochs 1 --init-from {} --hidden 32",
        &[&digits, &model],
    ));
    let first_loss = |text: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with("Epoch 1/")).unwrap();
        line.split("loss: ").nth(1).unwrap()[..6].parse().unwrap()
    };
    assert!(
        first_loss(&more) < first_loss(&trained),
        "{more}\n{trained}"
    );
}

#[test]
fn predict_names_drawn_digits_and_test_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let model = saved_model(tmp.path());
    let digits = digits_dir(tmp.path());
    let mut files = Vec::new();
    for (digit, picture) in hand_drawn_digits() {
        let path = tmp.path().join(format!("drawn-{digit}.png"));
        picture.save(&path).unwrap();
        files.push((digit, path));
    }
    let mut args = vec!["predict", "--model", s(&model)];
    args.extend(files.iter().map(|(_, p)| s(p)));
    let text = ok(&args);
    for (digit, path) in &files {
        let line = text.lines().find(|l| l.starts_with(s(path))).unwrap();
        assert!(
            line.starts_with(&format!("{}: {digit} ", s(path))),
            "{line}"
        );
        assert_eq!(line.matches('%').count(), 3, "top 3: {line}");
    }

    args.push("--json");
    let json: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    for ((digit, _), p) in files.iter().zip(json.as_array().unwrap()) {
        assert_eq!(p["top"][0]["class"], *digit);
        let total: f64 = p["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .sum();
        assert!((total - 1.0).abs() < 1e-4);
    }

    let text = ok(&argv(
        "predict --model {} --data {} --index 0,1",
        &[&model, &digits],
    ));
    assert!(text.starts_with("test[0]: 7 "), "{text}");
    assert_contains_all(&text, &["(true: 7) right", "test[1]: ", "(true: 2)"]);

    let grid = tmp.path().join("grid.png");
    let text = ok(&argv(
        "predict --model {} --data {} --grid {}",
        &[&model, &digits, &grid],
    ));
    assert_eq!(text.lines().filter(|l| l.starts_with("test[")).count(), 15);
    let img = image::open(&grid).unwrap();
    assert_eq!((img.width(), img.height()), (1200, 1040));
}

#[test]
fn show_draws_the_first_training_images() {
    let tmp = tempfile::tempdir().unwrap();
    let digits = digits_dir(tmp.path());
    let out = tmp.path().join("samples.png");
    let text = ok(&["show", "--data", s(&digits), "--out", s(&out)]);
    assert!(text.contains("25 training images"), "{text}");
    let img = image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (850, 990));
}

#[test]
fn bad_inputs_get_one_clear_error_line() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let model = saved_model(t);
    let tiny = tiny_dir(t);
    let digits = digits_dir(t);
    let missing = t.join("absent.safetensors");
    let corrupt = t.join("corrupt.safetensors");
    std::fs::write(
        &corrupt,
        b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}",
    )
    .unwrap();
    let notes = t.join("notes.png");
    std::fs::write(&notes, "words, not pixels").unwrap();
    let seven = t.join("seven.png");
    hand_drawn_digits().remove(0).1.save(&seven).unwrap();
    let nowhere = t.join("no-such-dir");
    let unwritable = |name: &str| nowhere.join(name).to_str().unwrap().to_string();

    fails(&["eval", "--model", s(&missing)], "cannot read");
    fails(
        &["predict", "--model", s(&corrupt), s(&seven)],
        "not a valid safetensors checkpoint",
    );
    fails(
        &["predict", "--model", s(&model), s(&notes)],
        "not a readable PNG, JPEG or BMP image",
    );
    fails(
        &["predict", "--model", s(&model), s(&t.join("absent.png"))],
        "cannot read",
    );
    fails(&["predict", "--model", s(&model)], "nothing to predict");
    fails(
        &[
            "predict",
            "--model",
            s(&model),
            s(&seven),
            "--grid",
            &unwritable("g.png"),
        ],
        "cannot write",
    );
    fails(
        &[
            "predict",
            "--model",
            s(&model),
            "--data",
            s(&digits),
            "--index",
            "2000",
        ],
        "--index 2000",
    );
    fails(
        &["eval", "--model", s(&model), "--data", s(&tiny)],
        "the model takes 28x28 images",
    );
    fails(
        &[
            "eval",
            "--model",
            s(&model),
            "--data",
            s(&digits),
            "--confusion-png",
            &unwritable("c.png"),
        ],
        "cannot write",
    );
    fails(
        &[
            "train",
            "--data",
            s(&tiny),
            "--backend",
            "cpu",
            "--init-from",
            s(&model),
        ],
        "the model takes 28x28 images and 10 classes (mnist), but the data 'tiny' has 10x10",
    );
    fails(
        &["train", "--data", s(&tiny), "--init-from", s(&corrupt)],
        "not a valid safetensors",
    );
    fails(
        &[
            "train",
            "--data",
            s(&tiny),
            "--save",
            &unwritable("m.safetensors"),
        ],
        "cannot write",
    );
    fails(
        &["train", "--data", s(&tiny), "--plot", &unwritable("p.png")],
        "cannot write",
    );
    fails(
        &["show", "--data", s(&tiny), "--out", &unwritable("s.png")],
        "cannot write",
    );
    fails(&["show", "--data", s(&tiny), "--out", s(t)], "folder");
    // --checkpoint-every needs --save.
    let out = gpu_mlp(&["train", "--checkpoint-every", "2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--save"));
}
