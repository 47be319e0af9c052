//! Data whose names differ from a saved model's: an image folder with another class, a CSV whose
//! header names the model's columns in another order, a test CSV with some of the text labels.
//! Classes and columns are matched by name where both sides have names; a difference is one
//! error line naming it, never predictions made against the wrong class or column.

use crate::corpus::{clean_error, quick, run};
use std::path::{Path, PathBuf};

/// Columns of the tables below, in training order.
const COLUMNS: [&str; 4] = ["a", "b", "c", "d"];

/// 60 rows of [`COLUMNS`] and a text label (`cat`, `dog`, `fish`, told apart by the features),
/// the columns written in the order `order` (indices into `COLUMNS`), keeping only the classes
/// `classes` names.
fn table(dir: &Path, name: &str, order: [usize; 4], classes: &[&str]) -> PathBuf {
    let header: Vec<&str> = order.iter().map(|&j| COLUMNS[j]).collect();
    let mut text = format!("{},label\n", header.join(","));
    for i in 0..60u32 {
        let class = ["cat", "dog", "fish"][i as usize % 3];
        if !classes.contains(&class) {
            continue;
        }
        let offset = (i % 3) * 60;
        let values: Vec<String> = (0..4u32)
            .map(|k| ((i * 7 + k * 29 + offset) % 250 + k * 3).to_string())
            .collect();
        let row: Vec<&str> = order.iter().map(|&j| values[j].as_str()).collect();
        text.push_str(&format!("{},{class}\n", row.join(",")));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the table");
    path
}

const ALL: [&str; 3] = ["cat", "dog", "fish"];

/// A model trained on `data`, saved in `dir`.
fn train(dir: &Path, data: &Path) -> PathBuf {
    let model = dir.join("model.safetensors");
    let save = ["--epochs", "20", "--save", model.to_str().unwrap()];
    let out = run(&quick(data.to_str().unwrap(), &save), &[]);
    support::succeeded(&out, "training");
    model
}

fn eval(model: &Path, data: &Path) -> std::process::Output {
    let (model, data) = (model.to_str().unwrap(), data.to_str().unwrap());
    let args = ["eval", "--backend", "cpu", "--model", model, "--data", data];
    run(&args, &[])
}

/// `eval`'s figures: what it prints after naming the data.
fn figures(out: &std::process::Output) -> String {
    let stdout = support::succeeded(out, "eval");
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("data:"))
        .skip(1)
        .filter(|l| !l.starts_with("note:"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn an_image_folder_with_another_class_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let folder = |name: &str, classes: &[&str]| {
        let root = dir.path().join(name);
        for (c, class) in classes.iter().enumerate() {
            std::fs::create_dir_all(root.join(class)).unwrap();
            for i in 0..4u8 {
                let img = image::GrayImage::from_fn(8, 8, |x, y| {
                    image::Luma([(x as u8 * 20 + y as u8 * (c as u8 + 1) * 9 + i) % 255])
                });
                img.save(root.join(class).join(format!("{i}.png"))).unwrap();
            }
        }
        root
    };
    let trained_on = folder("ab", &["a", "b"]);
    let other = folder("ac", &["a", "c"]);
    let model = train(dir.path(), &trained_on);
    let line = clean_error(&eval(&model, &other), "eval on {a, c}");
    for needle in ["'c'", "'b'", "unexpected", "missing"] {
        assert!(line.contains(needle), "{needle} is missing from {line}");
    }
}

#[test]
fn eval_matches_csv_columns_and_text_labels_by_name() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = table(dir.path(), "train.csv", [0, 1, 2, 3], &ALL);
    let model = train(dir.path(), &data);
    let as_trained = figures(&eval(&model, &data));

    // The same table, its columns in another order: the same figures.
    let shuffled = table(dir.path(), "shuffled.csv", [3, 1, 0, 2], &ALL);
    assert_eq!(figures(&eval(&model, &shuffled)), as_trained);

    // Two of the three classes: `dog` and `fish` stay the model's classes 1 and 2.
    let some = table(dir.path(), "some.csv", [0, 1, 2, 3], &["dog", "fish"]);
    let got = figures(&eval(&model, &some));
    let count = |name: &str| {
        let line = got
            .lines()
            .find(|l| l.contains(&format!(" {name} ")))
            .unwrap();
        line.split_whitespace()
            .nth(2)
            .unwrap()
            .parse::<usize>()
            .unwrap()
    };
    assert_eq!(
        (count("cat"), count("dog") > 0, count("fish") > 0),
        (0, true, true),
        "{got}"
    );

    // A class the model does not know, or a column it does not take: refused by name.
    let text = std::fs::read_to_string(&data)
        .unwrap()
        .replace(",fish", ",cow");
    let cow = dir.path().join("cow.csv");
    std::fs::write(&cow, text).unwrap();
    let line = clean_error(&eval(&model, &cow), "eval with a class 'cow'");
    assert!(
        line.contains("'cow'") && line.contains("unexpected"),
        "{line}"
    );
    let text = std::fs::read_to_string(&data)
        .unwrap()
        .replacen("a,b,c,d", "a,b,c,e", 1);
    let renamed = dir.path().join("renamed.csv");
    std::fs::write(&renamed, text).unwrap();
    let line = clean_error(&eval(&model, &renamed), "eval with a column 'e'");
    assert!(line.contains("'e'") && line.contains("'d'"), "{line}");
}

#[test]
fn predict_reads_csv_columns_by_name() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = table(dir.path(), "train.csv", [0, 1, 2, 3], &ALL);
    let model = train(dir.path(), &data);
    let predict = |rows: &Path| {
        let (model, rows) = (model.to_str().unwrap(), rows.to_str().unwrap());
        run(&["predict", "--model", model, rows], &[])
    };
    // Each row's answer, without the file name.
    let answers = |out: &std::process::Output| -> Vec<String> {
        support::succeeded(out, "predict")
            .lines()
            .map(|l| l.split_once(':').map_or(l, |(_, rest)| rest).to_string())
            .collect()
    };
    let as_trained = answers(&predict(&data));
    assert!(as_trained.len() >= 60, "{as_trained:?}");
    let shuffled = table(dir.path(), "shuffled.csv", [2, 0, 3, 1], &ALL);
    assert_eq!(answers(&predict(&shuffled)), as_trained);

    let text = std::fs::read_to_string(&data)
        .unwrap()
        .replacen("a,b,c,d", "a,x,c,d", 1);
    let renamed = dir.path().join("renamed.csv");
    std::fs::write(&renamed, text).unwrap();
    let line = clean_error(&predict(&renamed), "predict with a column 'x'");
    assert!(line.contains("'x'") && line.contains("'b'"), "{line}");
}
