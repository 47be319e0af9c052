//! The tutorials' pictures: training curves, sample and prediction grids, the confusion map
//! (drawn, with the colours where they belong; kept in `$GPU_MLP_TEST_PICTURES` to look at).

use gpu_mlp::inference::classifier::Classifier;
use gpu_mlp::training::EpochRecord;
use gpu_mlp_cli::commands::{eval, show};
use gpu_mlp_cli::plots::{self, PredictionTile};
use std::path::Path;
use support::{mnist, trained};

/// Decodes a PNG and returns it with the count of pixels near `color`.
fn count_color(path: &Path, color: [u8; 3]) -> (image::RgbImage, usize) {
    count_where(path, |p| {
        p.iter().zip(color).all(|(a, b)| a.abs_diff(b) < 10)
    })
}

fn count_where(path: &Path, keep: impl Fn(&[u8; 3]) -> bool) -> (image::RgbImage, usize) {
    let img = image::open(path).unwrap().to_rgb8();
    let n = img.pixels().filter(|p| keep(&p.0)).count();
    (img, n)
}

#[test]
fn pictures_are_drawn() {
    let (ckpt, report) = trained();
    let data = mnist();
    let (_keep, dir) = support::picture_dir();

    // Training curves, with a validation series.
    let history: Vec<EpochRecord> = report
        .history
        .iter()
        .map(|r| EpochRecord {
            validation: Some((r.loss * 1.1, r.accuracy - 0.01)),
            ..r.clone()
        })
        .collect();
    let curves = dir.join("curves.png");
    plots::training_curves(&curves, &history, "784-64-10 on mnist").unwrap();
    let (img, blue) = count_color(&curves, [31, 119, 180]);
    let (_, orange) = count_color(&curves, [255, 127, 14]);
    assert_eq!(img.dimensions(), (1100, 460));
    assert!(
        blue > 200 && orange > 200,
        "both series drawn: {blue} {orange}"
    );

    // The 5x5 grid of training images.
    let samples = dir.join("samples.png");
    show::draw(&samples, data).unwrap();
    let (img, black) = count_color(&samples, [0, 0, 0]);
    assert_eq!(img.dimensions(), (5 * 170, 5 * 190 + 40));
    assert!(black > 5000, "digits drawn in dark ink: {black}");

    // Predictions on 15 test images, some of them wrong, so both colours show.
    let mut classifier = Classifier::from_checkpoint(ckpt.clone()).unwrap();
    let wrong: Vec<usize> = (0..data.test().count())
        .filter(|&i| report.test.predictions[i] != data.test().labels()[i] as u32)
        .take(3)
        .collect();
    let tiles: Vec<PredictionTile> = (0..12)
        .chain(wrong)
        .map(|i| {
            let pixels = data.test().input(i);
            PredictionTile {
                probabilities: classifier.probabilities(&pixels),
                pixels,
                truth: Some(data.test().labels()[i] as usize),
            }
        })
        .collect();
    let grid = dir.join("predictions.png");
    plots::prediction_grid(&grid, &tiles, (28, 28), &ckpt.class_names, 3, "predictions").unwrap();
    let (img, blue) = count_color(&grid, [31, 119, 180]);
    let (_, red) = count_color(&grid, [214, 39, 40]);
    assert_eq!(img.dimensions(), (3 * 400, 5 * 200 + 40));
    assert!(
        blue > 1000 && red > 100,
        "right in blue, wrong in red: {blue} {red}"
    );

    // The confusion heat map.
    let heat = dir.join("confusion.png");
    let confusion = eval::confusion_matrix(&report.test.predictions, data.test().labels(), 10);
    plots::confusion_heatmap(&heat, &confusion, &ckpt.class_names, "confusion").unwrap();
    let (_, dark) = count_where(&heat, |&[r, g, b]| r < 60 && g < 100 && b > 90);
    assert!(dark > 10 * 40 * 40, "ten dark diagonal cells: {dark}");
}
