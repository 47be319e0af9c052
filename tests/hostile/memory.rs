//! Settings that would size memory beyond reason: a trillion epochs plans each as it comes,
//! and an image size whose pixels are past the input limit is refused before they are
//! allocated.

use crate::corpus::{error_naming, quick, run, tiny_csv};

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
    for class in ["a", "b"] {
        let folder = dir.path().join(class);
        std::fs::create_dir(&folder).unwrap();
        for i in 0..3u8 {
            let img = image::GrayImage::from_fn(8, 8, |x, y| image::Luma([x as u8 * i + y as u8]));
            img.save(folder.join(format!("{i}.png"))).unwrap();
        }
    }
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
    for class in ["a", "b"] {
        std::fs::create_dir_all(folder.join(class)).unwrap();
        for i in 0..3u8 {
            let img = image::GrayImage::from_fn(8, 8, |x, y| image::Luma([x as u8 * i + y as u8]));
            img.save(folder.join(class).join(format!("{i}.png")))
                .unwrap();
        }
    }
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
