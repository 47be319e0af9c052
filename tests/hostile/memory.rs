//! Settings that would size memory beyond reason: a trillion epochs plans each as it comes,
//! an image size whose pixels are past the input limit is refused before they are allocated,
//! and a table of very many columns or a very tall image size is read, trained and evaluated
//! within memory (or refused with the figures) under an address-space limit.

use crate::corpus::{clean_error, error_naming, quick, run, run_limited, tiny_csv};

/// Two class folders `a` and `b` of three 8×8 grey pictures each in `root`.
fn small_pictures(root: &std::path::Path) {
    for class in ["a", "b"] {
        let folder = root.join(class);
        std::fs::create_dir(&folder).unwrap();
        for i in 0..3u8 {
            let img = image::GrayImage::from_fn(8, 8, |x, y| image::Luma([x as u8 * i + y as u8]));
            img.save(folder.join(format!("{i}.png"))).unwrap();
        }
    }
}

/// Few threads and malloc arenas, so the address space a run takes does not grow with the
/// machine's cores (each arena reserves 64 MiB of it).
const FEW_THREADS: [(&str, &str); 2] = [("GPU_MLP_CPU_THREADS", "2"), ("MALLOC_ARENA_MAX", "2")];

/// 10 rows of 400,000 columns: evaluated 1000 rows at a time, the model's scratch memory would
/// be 1.6 GB; read 128 rows at a time, the CSV reader's buffers 560 MB.
#[cfg(unix)]
#[test]
fn a_table_of_very_many_columns_trains_and_evaluates_within_memory() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let columns = 400_000;
    let mut text = String::with_capacity(10 * columns * 2 + 20);
    for row in 0..10usize {
        for column in 0..columns {
            text.push(char::from(b'0' + ((row * 7 + column * 3) % 10) as u8));
            text.push(',');
        }
        text.push_str(&format!("{}\n", row % 2));
    }
    let data = dir.path().join("wide.csv");
    std::fs::write(&data, text).expect("write the table");
    let args = quick(
        data.to_str().unwrap(),
        &["--label-column", "last", "--epochs", "1"],
    );
    let out = run_limited(&args, &FEW_THREADS, 400 << 20);
    let stdout = support::succeeded(&out, "training on 400,000 columns under 400 MB");
    assert!(stdout.contains("test accuracy"), "{stdout}");
}

/// An 8×8 picture made 1×16777216: resized as `image` does it (columns first), one picture
/// takes 2 GiB of float buffers; the run must instead end in the model's memory figures.
#[cfg(unix)]
#[test]
fn a_very_tall_image_size_ends_in_the_memory_figures() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    small_pictures(dir.path());
    let args = quick(
        dir.path().to_str().unwrap(),
        &["--image-size", "1x16777216"],
    );
    let out = run_limited(&args, &FEW_THREADS, 2 << 30);
    let line = clean_error(&out, "--image-size 1x16777216 under 2 GiB");
    assert_eq!(out.status.code(), Some(2), "{line}");
    assert!(line.contains("needs about"), "{line}");
}

#[cfg(unix)]
#[test]
fn a_trillion_epochs_start_at_once_and_stop_on_ctrl_c() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = tiny_csv(dir.path(), "t.csv");
    let args = quick(data.to_str().unwrap(), &["--epochs", "1000000000000"]);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gpu-mlp"));
    cmd.args(&args);
    let (status, _) = support::signal_after_first_epoch(&mut cmd, "INT");
    assert_eq!(status.code(), Some(130), "{status}");
}

#[test]
fn pictures_past_the_input_limit_are_refused_before_they_are_allocated() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    small_pictures(dir.path());
    let data = dir.path().to_str().unwrap();
    let args = quick(data, &["--image-size", "2048x2048"]);
    let limit = ("GPU_MLP_MAX_INPUT_BYTES", "16777216");
    let out = run(&args, &[limit]);
    error_naming(&out, "--image-size 2048x2048", &["GPU_MLP_MAX_INPUT_BYTES"]);
}

/// `predict --grid` over many files draws the first hundred and says so.
#[test]
fn a_grid_of_many_pictures_is_capped_and_says_so() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let folder = dir.path().join("set");
    std::fs::create_dir(&folder).unwrap();
    small_pictures(&folder);
    let model = dir.path().join("m.safetensors");
    let save = ["--epochs", "1", "--save", model.to_str().unwrap()];
    let trained = run(&quick(folder.to_str().unwrap(), &save), &[]);
    support::succeeded(&trained, "training on pictures");
    let picture = folder.join("a").join("0.png");
    let mut args = vec![
        "predict".to_string(),
        "--model".into(),
        model.display().to_string(),
    ];
    args.extend([
        "--grid".into(),
        dir.path().join("g.png").display().to_string(),
    ]);
    args.extend((0..120).map(|_| picture.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args, &[]);
    support::succeeded(&out, "predict --grid over 120 pictures");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("first 100 of 120"), "{stderr}");
}
