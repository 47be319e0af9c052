//! What the data readers make of files a careless user saves: numpy types in numpy's words,
//! float16 arrays, an `.npz` test part beside `x` and `y`, one-hot labels with an unused class,
//! images in a class's subfolders, labels such as `1e3`, `NaN` or `2.0`, two `label` columns,
//! and a `--resume` on data that changed.

use crate::corpus::{error_naming, quick, run, tiny_csv};
use crate::headers::npy_header;
use std::io::Write;
use std::path::{Path, PathBuf};
use support::succeeded;

/// An `.npz` archive of `members` (name without `.npy`, then the array's whole bytes).
fn npz(dir: &Path, name: &str, members: &[(&str, Vec<u8>)]) -> PathBuf {
    let path = dir.join(name);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for (member, bytes) in members {
        zip.start_file(
            format!("{member}.npy"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    path
}

/// A `.npy` array of type `descr` and `shape` holding `data`.
fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = npy_header(descr, shape);
    bytes.extend_from_slice(data);
    bytes
}

/// `n` samples of 4 features (small multiples of 1/4, exact in float16) and their classes
/// (`i % 3`), as little-endian bytes of the features through `to_bytes` and int64 labels.
fn samples(n: usize, to_bytes: fn(f32) -> Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let class = i % 3;
        for k in 0..4 {
            let v = ((i * 7 + k * 13 + class * 50) % 64) as f32 / 4.0;
            x.extend(to_bytes(v));
        }
        y.extend((class as i64).to_le_bytes());
    }
    (x, y)
}

fn f32_bytes(v: f32) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// `v` as IEEE half precision (exact for the values `samples` makes: k/4, k < 64).
fn f16_bytes(v: f32) -> Vec<u8> {
    let bits = v.to_bits();
    let half = if v == 0.0 {
        0u16
    } else {
        let exponent = ((bits >> 23) & 0xff) as i32 - 127 + 15;
        let mantissa = (bits >> 13) & 0x3ff;
        assert!((1..31).contains(&exponent) && bits & 0x1fff == 0, "{v}");
        ((exponent as u16) << 10) | mantissa as u16
    };
    half.to_le_bytes().to_vec()
}

/// A quick CPU run's stdout on `data` (it must succeed), with `more` flags.
fn trained(data: &Path, more: &[&str]) -> String {
    let out = run(&quick(data.to_str().unwrap(), more), &[]);
    succeeded(&out, &data.display().to_string())
}

/// The first line of a run: `WIDTHS on NAME (N train, ...)`.
fn first_line(stdout: &str) -> &str {
    stdout.lines().next().unwrap_or("")
}

#[test]
fn npz_type_errors_say_numpy_types_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    let labels = npy("<i8", "(3,)", &[0; 24]);
    let complex = npz(
        dir.path(),
        "complex.npz",
        &[("x", npy("<c8", "(3, 4)", &[0; 96])), ("y", labels.clone())],
    );
    let out = run(&quick(complex.to_str().unwrap(), &[]), &[]);
    let line = error_naming(&out, "complex inputs", &["array x", "holds complex64"]);
    let short = npz(
        dir.path(),
        "short.npz",
        &[("x", npy("<i8", "(3, 4)", &[0; 10])), ("y", labels.clone())],
    );
    let out = run(&quick(short.to_str().unwrap(), &[]), &[]);
    let line2 = error_naming(
        &out,
        "a cut-off array",
        &["int64 of shape [3, 4], 96 bytes"],
    );
    let text = npz(
        dir.path(),
        "text.npz",
        &[("x", npy("<U5", "(3,)", &[0; 60])), ("y", labels)],
    );
    let out = run(&quick(text.to_str().unwrap(), &[]), &[]);
    let line3 = error_naming(&out, "text inputs", &["holds text of 5 characters"]);
    for line in [line, line2, line3] {
        for debug in ["TypeStr", "Plain(", "TypeChar", "{", "Int8", "Complex"] {
            assert!(!line.contains(debug), "a Rust structure in: {line}");
        }
    }
}

#[test]
fn float16_inputs_train_exactly_as_the_same_values_in_float32() {
    let dir = tempfile::tempdir().unwrap();
    let (mut outputs, mut models) = (Vec::new(), Vec::new());
    for (kind, descr, to_bytes) in [
        ("half", "<f2", f16_bytes as fn(f32) -> Vec<u8>),
        ("single", "<f4", f32_bytes),
    ] {
        let folder = dir.path().join(kind);
        std::fs::create_dir(&folder).unwrap();
        let (x, y) = samples(60, to_bytes);
        let data = npz(
            &folder,
            "data.npz",
            &[
                ("x", npy(descr, "(60, 4)", &x)),
                ("y", npy("<i8", "(60,)", &y)),
            ],
        );
        let model = folder.join("model.safetensors");
        outputs.push(trained(
            &data,
            &["--epochs", "3", "--save", model.to_str().unwrap()],
        ));
        models.push(gpu_mlp::checkpoint::load(&model).unwrap().parameters);
    }
    assert!(
        models[0] == models[1],
        "float16 inputs trained other weights"
    );
    // Every printed loss and accuracy alike (the per-epoch times aside).
    let numbers = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.split_whitespace().filter(|w| !w.ends_with('s')).collect())
            .filter(|l: &String| !l.starts_with("saved"))
            .collect()
    };
    assert_eq!(numbers(&outputs[0]), numbers(&outputs[1]), "{outputs:#?}");
}

#[test]
fn an_npz_of_x_and_y_uses_its_x_test_and_y_test_as_the_test_part() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = samples(60, f32_bytes);
    let (x_test, y_test) = samples(15, f32_bytes);
    let data = npz(
        dir.path(),
        "xy.npz",
        &[
            ("x", npy("<f4", "(60, 4)", &x)),
            ("y", npy("<i8", "(60,)", &y)),
            ("x_test", npy("<f4", "(15, 4)", &x_test)),
            ("y_test", npy("<i8", "(15,)", &y_test)),
        ],
    );
    let stdout = trained(&data, &["--epochs", "1"]);
    let line = first_line(&stdout);
    assert!(
        line.contains("(60 train, 15 test; test set: the data's own test part)"),
        "{line}"
    );
}

#[test]
fn one_hot_labels_give_as_many_classes_as_their_width_even_with_one_unused() {
    let dir = tempfile::tempdir().unwrap();
    let (x, _) = samples(60, f32_bytes);
    // Five columns; only the first three are ever hot.
    let mut y = Vec::new();
    for i in 0..60 {
        let mut row = [0f32; 5];
        row[i % 3] = 1.0;
        row.iter().for_each(|v| y.extend(v.to_le_bytes()));
    }
    let data = npz(
        dir.path(),
        "onehot.npz",
        &[
            ("x", npy("<f4", "(60, 4)", &x)),
            ("y", npy("<f4", "(60, 5)", &y)),
        ],
    );
    let stdout = trained(&data, &["--epochs", "1"]);
    assert!(first_line(&stdout).starts_with("4-8-5 on"), "{stdout}");
}

/// A 4×4 grey PNG of `shade` at `path` (its folders made).
fn png(path: &Path, shade: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_pixel(4, 4, image::Luma([shade]))
        .save(path)
        .unwrap();
}

/// The samples a run's first line counts: train, validation and test.
fn samples_counted(line: &str) -> usize {
    let inside = line.split_once('(').map_or("", |(_, rest)| rest);
    let inside = inside.split(';').next().unwrap_or("");
    inside
        .split(", ")
        .filter_map(|part| part.split_whitespace().next()?.parse::<usize>().ok())
        .sum()
}

#[test]
fn images_in_a_class_folders_subfolders_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    for i in 0..10 {
        png(&root.join("dark").join(format!("{i}.png")), 10 + i);
        // The other class keeps its images only in nested folders.
        let nested = if i % 2 == 0 { "2023" } else { "2024/june" };
        png(
            &root.join("light").join(nested).join(format!("{i}.png")),
            200 + i,
        );
    }
    let stdout = trained(&root, &["--epochs", "1"]);
    assert_eq!(samples_counted(first_line(&stdout)), 20, "{stdout}");
}

#[cfg(unix)]
#[test]
fn a_folder_link_that_loops_inside_a_class_is_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    for class in ["a", "b"] {
        png(&root.join(class).join("0.png"), 0);
    }
    std::os::unix::fs::symlink(root.join("a"), root.join("a").join("loop")).unwrap();
    let out = run(&quick(root.to_str().unwrap(), &[]), &[]);
    error_naming(
        &out,
        "a looping link",
        &["loop", "folders below its class folder"],
    );
}

/// A table of 30 rows whose label cell on line `line` (1-based, after the header) is `label`.
fn table_with_label(dir: &Path, label: &str, line: usize) -> PathBuf {
    let mut text = String::from("a,b,label\n");
    for i in 0..30 {
        let class = if i + 2 == line {
            label.to_string()
        } else {
            (i % 3).to_string()
        };
        text.push_str(&format!("{},{},{class}\n", i * 3 % 7, i % 5));
    }
    let path = dir.join("labels.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn labels_are_integers_or_whole_floats_never_exponents_or_nan() {
    let dir = tempfile::tempdir().unwrap();
    for (label, says) in [
        ("1e3", "exponent"),
        ("NaN", "not a finite number"),
        ("inf", "not a finite number"),
        ("2.5", "not a whole number"),
    ] {
        let data = table_with_label(dir.path(), label, 7);
        let out = run(&quick(data.to_str().unwrap(), &[]), &[]);
        error_naming(&out, label, &["line 7", "column 3 (label)", label, says]);
    }
    // pandas writes an integer column that held a NaN as floats: 2.0 is class 2.
    let data = table_with_label(dir.path(), "2.0", 7);
    let stdout = trained(&data, &["--epochs", "1"]);
    assert!(first_line(&stdout).starts_with("2-8-3 on"), "{stdout}");
    // Among class names, NaN is a missing label, not a class of its own.
    let mut text = String::from("a,b,label\n");
    for i in 0..30 {
        let name = if i == 20 {
            "NaN"
        } else {
            ["cat", "dog"][i % 2]
        };
        text.push_str(&format!("{i},{},{name}\n", i % 4));
    }
    let names = dir.path().join("names.csv");
    std::fs::write(&names, text).unwrap();
    let out = run(&quick(names.to_str().unwrap(), &[]), &[]);
    error_naming(&out, "NaN among names", &["line 22", "NaN"]);
}

#[test]
fn two_label_columns_are_refused_unless_an_index_picks_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("label,a,b,label\n");
    for i in 0..30 {
        text.push_str(&format!("{},{i},{},{}\n", i % 3, i % 4, i % 2));
    }
    let data = dir.path().join("twice.csv");
    std::fs::write(&data, text).unwrap();
    let arg = data.to_str().unwrap();
    let out = run(&quick(arg, &[]), &[]);
    error_naming(
        &out,
        "two label columns",
        &["columns 0 and 3", "--label-column"],
    );
    let out = run(&quick(arg, &["--label-column", "label"]), &[]);
    error_naming(&out, "a name two columns share", &["columns 0 and 3"]);
    let stdout = succeeded(
        &run(&quick(arg, &["--label-column", "3", "--epochs", "1"]), &[]),
        "--label-column 3",
    );
    assert!(first_line(&stdout).starts_with("3-8-2 on"), "{stdout}");
}

#[test]
fn a_resume_on_changed_data_is_refused_and_on_the_same_data_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_csv(dir.path(), "t.csv");
    let model = dir.path().join("ck.safetensors");
    let (data_arg, model_arg) = (data.to_str().unwrap(), model.to_str().unwrap());
    succeeded(
        &run(
            &quick(data_arg, &["--epochs", "1", "--save", model_arg]),
            &[],
        ),
        "the first run",
    );
    // One value of one row changed, same size.
    let text = std::fs::read_to_string(&data).unwrap();
    std::fs::write(&data, text.replacen("\n13,", "\n14,", 1)).unwrap();
    assert_ne!(std::fs::read_to_string(&data).unwrap(), text);
    let out = run(&["train", "--resume", model_arg, "--epochs", "2"], &[]);
    error_naming(
        &out,
        "a resume on changed data",
        &["ck.safetensors", "other data"],
    );
    // A checkpoint written before digests were recorded still resumes, on any data.
    let mut old = gpu_mlp::checkpoint::load(&model).unwrap();
    let state = old.resume.as_mut().expect("a training checkpoint");
    assert!(state.data_digest.is_some(), "no digest was recorded");
    state.data_digest = None;
    let before_digests = dir.path().join("old.safetensors");
    gpu_mlp::checkpoint::save(&before_digests, &old).unwrap();
    let resumed = |file: &Path| {
        let out = run(
            &["train", "--resume", file.to_str().unwrap(), "--epochs", "2"],
            &[],
        );
        succeeded(&out, &file.display().to_string()).contains("resuming")
    };
    assert!(resumed(&before_digests));
    std::fs::write(&data, text).unwrap();
    assert!(resumed(&model), "a resume on the same data");
}
