//! `predict` on pictures a user may have lying around: one that is not a picture among good
//! ones, a JPEG cut short. Good pictures are still predicted; the bad ones are named.

use gpu_mlp::checkpoint::{self, Checkpoint};
use gpu_mlp::model::ModelSpec;
use std::path::Path;
use std::process::{Command, Output};

/// An untrained 784-16-10 model: what it answers does not matter here, only that it answers.
fn save_model(dir: &Path) -> std::path::PathBuf {
    let spec = ModelSpec::new(784, vec![16], 10, 0.0).expect("a spec");
    let ckpt = Checkpoint::grey_images(
        spec.clone(),
        spec.init_parameters(5),
        (0..10).map(|c| c.to_string()).collect(),
        "mnist",
        (28, 28),
    );
    let path = dir.join("model.safetensors");
    checkpoint::save(&path, &ckpt).expect("save the model");
    path
}

/// A white digit-like bar on black, encoded as `format`.
fn picture(path: &Path, format: image::ImageFormat) {
    let img = image::RgbImage::from_fn(120, 120, |x, y| {
        let ink = (50..70).contains(&x) && (10..110).contains(&y);
        let v = if ink { 255 } else { (x * 7 % 40) as u8 };
        image::Rgb([v, v, v])
    });
    img.save_with_format(path, format).expect("write a picture");
}

fn predict(model: &Path, images: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .arg("predict")
        .arg("--model")
        .arg(model)
        .args(images)
        .output()
        .expect("run gpu-mlp")
}

#[test]
fn one_bad_picture_does_not_hide_the_good_ones() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let model = save_model(dir.path());
    let good = dir.path().join("good.png");
    let also_good = dir.path().join("also-good.png");
    let bad = dir.path().join("bad.png");
    picture(&good, image::ImageFormat::Png);
    picture(&also_good, image::ImageFormat::Png);
    std::fs::write(&bad, b"this is not a picture").expect("write");
    let out = predict(&model, &[&good, &bad, &also_good]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("good.png:") && stdout.contains("also-good.png:"),
        "{stdout}"
    );
    assert!(!stdout.contains("bad.png"), "{stdout}");
    assert!(stderr.contains("bad.png"), "{stderr}");
}

#[test]
fn a_truncated_jpeg_is_predicted_with_a_note() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let model = save_model(dir.path());
    let whole = dir.path().join("whole.jpg");
    picture(&whole, image::ImageFormat::Jpeg);
    let bytes = std::fs::read(&whole).expect("read");
    let cut = dir.path().join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");

    let out = predict(&model, &[&whole]);
    assert!(out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("truncated"),
        "a whole JPEG was called truncated"
    );
    let out = predict(&model, &[&cut]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cut.jpg") && stderr.contains("truncated"),
        "{stderr}"
    );
}
