//! How a source's content decides what it is: a table of small whole numbers is standardised
//! while one reaching 255 is pixels; image folders take a size and a colour.

use crate::own_data::{load, load_err, load_ok};
use gpu_mlp::data::{ColorMode, Inputs, LoadOptions, Scaling, TestOrigin};
use std::fmt::Write as _;

#[test]
fn small_whole_numbers_are_standardised_and_a_table_reaching_255_is_pixels() {
    let tmp = tempfile::tempdir().unwrap();
    // Intensities 0..=16, as scikit-learn's 8x8 digits: not pixels of 0..=255.
    let table = |name: &str, top: u32| {
        let path = tmp.path().join(name);
        let mut text = String::from("a,b,label\n");
        for i in 0..40u32 {
            writeln!(text, "{},{},{}", i % (top + 1), (i * 7) % (top + 1), i % 2).unwrap();
        }
        for _ in 0..10 {
            writeln!(text, "{top},0,1").unwrap();
        }
        std::fs::write(&path, text).unwrap();
        load_ok(&path, &LoadOptions::default())
    };
    let small = table("small.csv", 16);
    assert!(
        matches!(small.scaling(), Scaling::Standardize { .. }),
        "{:?}",
        small.scaling()
    );
    assert!(matches!(small.train().inputs(), Inputs::Values(_)));
    let bytes = table("bytes.csv", 255);
    assert_eq!(*bytes.scaling(), Scaling::Pixels);
    assert!(matches!(bytes.train().inputs(), Inputs::Pixels(_)));
}

#[test]
fn image_folders_take_a_size_and_colour() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shapes");
    for (class, shade) in [("circle", 40u8), ("square", 200)] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..5u8 {
            let img = image::RgbImage::from_pixel(8, 6, image::Rgb([shade, i * 10, 255 - shade]));
            img.save(root.join(class).join(format!("{i}.png"))).unwrap();
        }
    }
    std::fs::write(root.join("circle").join("notes.txt"), "not an image").unwrap();
    let d = load_ok(&root, &LoadOptions::default());
    assert_eq!((d.rows(), d.cols(), d.channels()), (6, 8, 3));
    assert_eq!(d.class_names(), ["circle", "square"]);
    assert_eq!(d.train().count() + d.test().count(), 10);
    let grey = load_ok(
        &root,
        &LoadOptions {
            color: Some(ColorMode::Gray),
            image_size: Some((4, 4)),
            ..LoadOptions::default()
        },
    );
    assert_eq!(
        (grey.rows(), grey.cols(), grey.channels(), grey.features()),
        (4, 4, 1, 16)
    );

    // A separate test folder is made the training images' size and colour.
    let other = tmp.path().join("other");
    for class in ["circle", "square"] {
        std::fs::create_dir_all(other.join(class)).unwrap();
        image::GrayImage::new(3, 3)
            .save(other.join(class).join("a.png"))
            .unwrap();
    }
    let (given, origin) = load(
        &root,
        &LoadOptions {
            test_data: Some(other.clone()),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(origin, TestOrigin::Given(other));
    assert_eq!((given.train().count(), given.test().count()), (10, 2));
    assert_eq!((given.test().features(), given.channels()), (8 * 6 * 3, 3));

    // Another size without --image-size: both files and sizes are named.
    let odd = root.join("square").join("9.png");
    image::RgbImage::new(5, 5).save(&odd).unwrap();
    let e = load_err(&root, &LoadOptions::default(), &odd);
    assert!(
        e.contains("5x5") && e.contains("8x6") && e.contains("pass image size WxH"),
        "{e}"
    );
    // A file that does not decode is named.
    std::fs::remove_file(&odd).unwrap();
    let broken = root.join("circle").join("broken.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let e = load_err(&root, &LoadOptions::default(), &broken);
    assert!(e.contains("decode"), "{e}");
    // An image larger than any input may be is refused before a buffer of its size exists.
    std::fs::remove_file(&broken).unwrap();
    let huge = root.join("circle").join("huge.png");
    image::GrayImage::new(4100, 4100).save(&huge).unwrap();
    let e = load_err(&root, &LoadOptions::default(), &huge);
    assert!(
        e.contains("4100x4100 pixels, more than the 16777216"),
        "{e}"
    );
}
