//! The data layer's IDX files through its public API: round trips, and every kind of bad file
//! (each a typed error, never a panic or a huge allocation). Finding data sets and the real
//! files: `data_sets.rs`.

use flate2::write::GzEncoder;
use gpu_mlp::data::idx::{self, Compression};
use gpu_mlp::data::{self, DataError, DataSource, KnownDataset, LoadOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// IDX bytes built by hand (not by the writer under test): magic, big-endian dims, payload.
fn idx_bytes(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

pub(crate) fn put(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write test file");
    p
}

/// Deterministic pseudo-random pixels, so a swapped or shifted byte is noticed.
fn pixels(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 151 + i / 7) as u8).collect()
}

/// One line, naming the file: the contract of every DataError message.
fn assert_one_line_naming(err: &DataError, path: &Path) {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "message spans lines: {msg}");
    assert!(
        msg.contains(&path.display().to_string()),
        "message does not name {}: {msg}",
        path.display()
    );
}

/// The error of reading `bytes`, written to `dir/name`, with `read`; it must name the file on
/// one line.
fn read_error<T: std::fmt::Debug>(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    read: impl Fn(&Path) -> Result<T, DataError>,
) -> DataError {
    let p = put(dir, name, bytes);
    let e = read(&p).unwrap_err();
    assert_one_line_naming(&e, &p);
    e
}

/// The errors of reading `content` with `read` from a file, raw and gzipped (the readers tell
/// the two apart by content), as `(form, error)`; each must name its file on one line.
fn errors_raw_and_gzipped<T: std::fmt::Debug>(
    dir: &Path,
    content: &[u8],
    read: impl Fn(&Path) -> Result<T, DataError>,
) -> [(&'static str, DataError); 2] {
    [("raw", content.to_vec()), ("gz", gzip(content))]
        .map(|(form, bytes)| (form, read_error(dir, form, &bytes, &read)))
}

/// A small data set folder: `train` and `test` samples of `rows × cols` images. Written file by
/// file: the sets the tests need (an empty split, labels no class names) are no `Dataset`.
fn write_set(dir: &Path, rows: usize, cols: usize, train_labels: &[u8], test_labels: &[u8]) {
    std::fs::create_dir_all(dir).expect("the folder");
    let gz = |stem: &str| dir.join(format!("{stem}.gz"));
    for (labels, images_stem, labels_stem) in [
        (train_labels, data::TRAIN_IMAGES, data::TRAIN_LABELS),
        (test_labels, data::TEST_IMAGES, data::TEST_LABELS),
    ] {
        let images = pixels(labels.len() * rows * cols);
        idx::write_images(gz(images_stem), &images, rows, cols, Compression::Gzip)
            .expect("write images");
        idx::write_labels(gz(labels_stem), labels, Compression::Gzip).expect("write labels");
    }
}

#[test]
fn round_trip_raw_and_gzip_detected_by_content() {
    let tmp = tempfile::tempdir().unwrap();
    let px = pixels(5 * 3 * 4);
    let labels = vec![0u8, 9, 3, 3, 255];
    for (compression, img_name, lab_name) in [
        (Compression::None, "imgs.gz", "labs.gz"), // raw content under a .gz name
        (Compression::Gzip, "imgs", "labs"),       // gzip content without one
    ] {
        let img = tmp.path().join(img_name);
        let lab = tmp.path().join(lab_name);
        idx::write_images(&img, &px, 3, 4, compression).unwrap();
        idx::write_labels(&lab, &labels, compression).unwrap();

        let bytes = std::fs::read(&img).unwrap();
        match compression {
            Compression::None => {
                assert_eq!(bytes, idx_bytes(0x803, &[5, 3, 4], &px), "raw layout");
            }
            Compression::Gzip => assert_eq!(&bytes[..2], &[0x1f, 0x8b]),
        }

        let images = idx::read_images(&img).unwrap();
        assert_eq!((images.count, images.rows, images.cols), (5, 3, 4));
        assert_eq!(images.pixels, px);
        assert_eq!(idx::read_labels(&lab).unwrap(), labels);

        let (samples, rows, cols) = idx::read_samples(&img, &lab).unwrap();
        assert_eq!(
            (rows, cols, samples.count(), samples.features()),
            (3, 4, 5, 12)
        );
        assert_eq!(samples.inputs().pixels().unwrap()[12..24], px[12..24]);
    }
    // Atomic writes leave no temporary files behind.
    let mut names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["imgs", "imgs.gz", "labs", "labs.gz"]);
}

#[test]
fn round_trip_hand_made_files_and_multi_member_gzip() {
    let tmp = tempfile::tempdir().unwrap();
    let px = pixels(2 * 28 * 28);
    let bytes = idx_bytes(0x803, &[2, 28, 28], &px);
    // Two gzip members back to back are one valid gzip file (as `cat a.gz b.gz` makes).
    let (a, b) = bytes.split_at(100);
    let mut joined = gzip(a);
    joined.extend(gzip(b));
    let p = put(tmp.path(), "two-members", &joined);
    assert_eq!(idx::read_images(&p).unwrap().pixels, px);
}

#[test]
fn write_dir_then_load_dir_unknown_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("my-digits");
    write_set(&dir, 2, 3, &[0, 1, 4, 2], &[4, 0]);
    let d = data::load_dir(&dir, None).unwrap();
    assert_eq!(d.name(), "my-digits");
    assert_eq!(d.class_names(), ["0", "1", "2", "3", "4"]);
    assert_eq!(
        (d.rows(), d.cols(), d.features(), d.classes()),
        (2, 3, 6, 5)
    );
    assert_eq!((d.train().count(), d.test().count()), (4, 2));
    assert_eq!(d.train().inputs().pixels(), Some(&pixels(4 * 6)[..]));
    assert_eq!(d.test().labels(), [4, 0]);
    assert_eq!(d.dir(), dir);

    // Only label 0 in the data: still at least two classes.
    let dir2 = tmp.path().join("one-class");
    write_set(&dir2, 1, 1, &[0, 0], &[0]);
    assert_eq!(
        data::load_dir(&dir2, None).unwrap().class_names(),
        ["0", "1"]
    );

    // Through `load` and a hint: the known names are used.
    let d = data::load(
        &DataSource::Dir {
            dir: dir.clone(),
            hint: Some(KnownDataset::FashionMnist),
        },
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(d.name(), "fashion-mnist");
    assert_eq!(d.class_names()[4], "Coat");
}

#[test]
fn gz_preferred_when_both_exist() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), 1, 2, &[1, 0], &[1]);
    // A raw train-labels file that disagrees: it must not be the one read.
    put(
        tmp.path(),
        "train-labels-idx1-ubyte",
        &idx_bytes(0x801, &[2], &[0, 0]),
    );
    let files = data::find_files(tmp.path()).unwrap();
    assert!(files.train_labels.ends_with("train-labels-idx1-ubyte.gz"));
    assert_eq!(
        data::load_dir(tmp.path(), None).unwrap().train().labels(),
        [1, 0]
    );
}

#[test]
fn truncated_header() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("raw", vec![0, 0, 8, 3, 0]),
        ("gz", gzip(&[0, 0, 8, 3, 0])),
        ("empty", vec![]),
    ] {
        let e = read_error(tmp.path(), name, &bytes, |p: &Path| idx::read_images(p));
        let found = if name == "empty" { 0 } else { 5 };
        assert!(
            matches!(e, DataError::TruncatedHeader { needed: 16, found: f, .. } if f == found),
            "{name}: {e:?}"
        );
    }
    let e = read_error(tmp.path(), "labels", &[0, 0, 8, 1, 0, 0], |p: &Path| {
        idx::read_labels(p)
    });
    let DataError::TruncatedHeader { needed, found, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!((*needed, *found), (8, 6));
}

#[test]
fn truncated_payload() {
    let tmp = tempfile::tempdir().unwrap();
    // The header promises 60000 images of 28x28, the file has 1000 bytes of them.
    let bytes = idx_bytes(0x803, &[60000, 28, 28], &pixels(1000));
    for (name, e) in errors_raw_and_gzipped(tmp.path(), &bytes, |p: &Path| idx::read_images(p)) {
        assert!(
            matches!(
                e,
                DataError::Truncated {
                    what: "pixels",
                    expected: 47_040_000,
                    found: 1000,
                    ..
                }
            ),
            "{name}: {e:?}"
        );
        assert!(e
            .to_string()
            .contains("truncated: header promises 47040000 bytes of pixels, file has 1000"));
    }
    let short = idx_bytes(0x801, &[10], &[1, 2, 3]);
    let e = read_error(tmp.path(), "labels", &short, |p: &Path| idx::read_labels(p));
    let DataError::Truncated {
        what,
        expected,
        found,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!((*what, *expected, *found), ("labels", 10, 3));
}

#[test]
fn trailing_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = idx_bytes(0x801, &[3], &[1, 2, 3, 4, 5]);
    for (name, e) in errors_raw_and_gzipped(tmp.path(), &bytes, |p: &Path| idx::read_labels(p)) {
        assert!(
            matches!(
                e,
                DataError::TrailingBytes {
                    expected: 3,
                    extra: 2,
                    at_least: false,
                    ..
                }
            ),
            "{name}: {e:?}"
        );
    }
}

#[test]
fn wrong_magic() {
    let tmp = tempfile::tempdir().unwrap();
    let labels = idx_bytes(0x801, &[2, 0, 0], &[0, 1]);
    let e = read_error(tmp.path(), "labels", &labels, |p: &Path| {
        idx::read_images(p)
    });
    let DataError::BadMagic {
        found, expected, ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!((*found, *expected), (0x801, 0x803));
    assert!(e.to_string().contains("labels"), "{e}");

    let images = put(tmp.path(), "images", &idx_bytes(0x803, &[1, 1, 1], &[7]));
    assert!(matches!(
        idx::read_labels(&images).unwrap_err(),
        DataError::BadMagic {
            found: 0x803,
            expected: 0x801,
            ..
        }
    ));

    // Not IDX at all (a PNG signature), raw and gzipped.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    for (name, e) in errors_raw_and_gzipped(tmp.path(), &png, |p: &Path| idx::read_images(p)) {
        assert!(matches!(e, DataError::BadMagic { .. }), "{name}: {e:?}");
        assert!(e.to_string().contains("not an IDX file"), "{e}");
    }
    // Float IDX (element type 0x0D) is not supported.
    let p = put(tmp.path(), "float", &idx_bytes(0xD03, &[1, 1, 1], &[0; 4]));
    assert!(matches!(
        idx::read_images(&p).unwrap_err(),
        DataError::BadMagic { found: 0xD03, .. }
    ));
}

#[test]
fn count_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let images = idx_bytes(0x803, &[3, 2, 2], &pixels(12));
    let img = put(tmp.path(), "img", &images);
    let lab = put(tmp.path(), "lab", &idx_bytes(0x801, &[4], &[0, 1, 2, 3]));
    let e = idx::read_samples(&img, &lab).unwrap_err();
    let DataError::CountMismatch {
        image_count,
        label_count,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!((*image_count, *label_count), (3, 4));
    assert_one_line_naming(&e, &img);
    assert_one_line_naming(&e, &lab);
}

#[test]
fn absurd_dimensions_fail_without_allocating() {
    let tmp = tempfile::tempdir().unwrap();
    // ~4.3e9 images of 28x28 (3.4 TB promised) in a file of a few bytes: must be a prompt
    // "truncated", not an allocation abort.
    let liar = idx_bytes(0x803, &[u32::MAX, 28, 28], &pixels(64));
    // A raw file's length disproves the claim at once; a gzip stream's claim is weighed
    // against the memory the process may take before a byte is inflated (docs/limits.md).
    for (name, e) in errors_raw_and_gzipped(tmp.path(), &liar, |p: &Path| idx::read_images(p)) {
        let refused = |e: &DataError| e.to_string().contains("GPU_MLP_MAX_INPUT_BYTES");
        assert!(
            matches!(e, DataError::Truncated { expected, found: 64, .. }
                if expected == u64::from(u32::MAX) * 784)
                || (name == "gz" && refused(&e)),
            "{name}: {e:?}"
        );
    }
    // 4e9 labels claimed, likewise.
    let p = put(
        tmp.path(),
        "labels",
        &gzip(&idx_bytes(0x801, &[4_000_000_000], &[1; 10])),
    );
    assert!(matches!(
        idx::read_labels(&p).unwrap_err(),
        DataError::Truncated { found: 10, .. }
    ));
    // Zero-sized and gigantic images are refused from the header alone.
    for dims in [[10, 0, 28], [10, 28, 0], [1, 65536, 65536], [1, 1, 1 << 25]] {
        let header = idx_bytes(0x803, &dims, &[]);
        let e = read_error(tmp.path(), "dims", &header, |p: &Path| idx::read_images(p));
        assert!(matches!(e, DataError::BadDims { .. }), "{dims:?}: {e:?}");
    }
}

#[test]
fn corrupt_gzip() {
    let tmp = tempfile::tempdir().unwrap();
    let good = gzip(&idx_bytes(0x803, &[50, 28, 28], &pixels(50 * 784)));

    // Bytes flipped in the middle of the deflate stream.
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    for b in &mut flipped[mid..mid + 16] {
        *b ^= 0xa5;
    }
    // The stream cut short.
    let cut = good[..good.len() / 2].to_vec();
    // Intact data, broken CRC in the trailer.
    let mut bad_crc = good.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xff;

    for (name, content) in [("flipped", flipped), ("cut", cut), ("crc", bad_crc)] {
        let e = read_error(tmp.path(), name, &content, |p: &Path| idx::read_images(p));
        assert!(matches!(e, DataError::Gzip { .. }), "{name}: {e:?}");
    }
}

#[test]
fn a_test_label_the_training_split_never_has_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    // A corrupted test-labels file of 255s once built a 256-class model scoring 0%.
    let dir = tmp.path().join("digits");
    write_set(&dir, 2, 2, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], &[3, 255, 255]);
    let e = data::load_dir(&dir, None).unwrap_err();
    let DataError::UnseenTestLabel { index, label, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!((*index, *label), (1, 255));
    assert_one_line_naming(&e, &dir.join("t10k-labels-idx1-ubyte.gz"));
    assert!(e.to_string().contains("0..=9"), "{e}");

    // A label inside the training range but missing from it is unseen too.
    let dir = tmp.path().join("gappy");
    write_set(&dir, 2, 2, &[0, 1, 4], &[2]);
    let e = data::load_dir(&dir, None).unwrap_err();
    assert!(e.to_string().contains("0, 1, 4"), "{e}");
}

#[test]
fn labels_beyond_the_class_count() {
    let tmp = tempfile::tempdir().unwrap();
    // A folder named like a known data set is that data set: labels must be 0..=9.
    let dir = tmp.path().join("mnist");
    write_set(&dir, 2, 2, &[1, 2, 3], &[0, 9, 10, 4]);
    let e = data::load_dir(&dir, None).unwrap_err();
    let DataError::LabelOutOfRange {
        index,
        label,
        classes,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!((*index, *label, *classes), (2, 10, 10));
    assert_one_line_naming(&e, &dir.join("t10k-labels-idx1-ubyte.gz"));

    // Same via a hint on a neutral folder name.
    let dir = tmp.path().join("x");
    write_set(&dir, 2, 2, &[11], &[0]);
    let e = data::load_dir(&dir, Some(KnownDataset::Mnist)).unwrap_err();
    let DataError::LabelOutOfRange { index, label, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!((*index, *label), (0, 11));
    // Without a hint the folder has as many classes as its training labels name (0..=11)...
    let dir = tmp.path().join("y");
    write_set(&dir, 2, 2, &[11, 0], &[0]);
    assert_eq!(data::load_dir(&dir, None).unwrap().classes(), 12);
    // ...and a test label the training split lacks is refused (see the test above).
    write_set(&dir, 2, 2, &[11], &[0]);
    assert!(matches!(
        data::load_dir(&dir, None),
        Err(DataError::UnseenTestLabel { label: 0, .. })
    ));
}

#[test]
fn train_and_test_image_sizes_must_match() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), 4, 4, &[0, 1], &[1]);
    idx::write_images(
        tmp.path().join("t10k-images-idx3-ubyte.gz"),
        &pixels(8),
        2,
        4,
        Compression::Gzip,
    )
    .unwrap();
    let e = data::load_dir(tmp.path(), None).unwrap_err();
    let DataError::DimsMismatch {
        train_dims,
        test_dims,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!((*train_dims, *test_dims), ((4, 4), (2, 4)));
}

#[test]
fn empty_split_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), 2, 2, &[0, 1], &[]);
    let e = data::load_dir(tmp.path(), None).unwrap_err();
    assert!(matches!(e, DataError::Empty { .. }), "{e:?}");
}

#[test]
fn writer_rejects_bad_shapes_and_unwritable_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("x");
    assert!(matches!(
        idx::write_images(&p, &[0; 10], 3, 3, Compression::None),
        Err(DataError::BadDims { .. })
    ));
    assert!(matches!(
        idx::write_images(&p, &[], 0, 3, Compression::None),
        Err(DataError::BadDims { .. })
    ));
    let missing = tmp.path().join("no/such/dir/labels");
    let e = idx::write_labels(&missing, &[1], Compression::Gzip).unwrap_err();
    assert!(matches!(e, DataError::Write { .. }), "{e:?}");
    assert!(!p.exists());
}

#[test]
fn missing_files_name_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    put(
        tmp.path(),
        "train-images-idx3-ubyte",
        &idx_bytes(0x803, &[1, 1, 1], &[0]),
    );
    let e = data::load_dir(tmp.path(), None).unwrap_err();
    match &e {
        DataError::MissingFiles { missing, .. } => assert_eq!(
            missing,
            &[
                "train-labels-idx1-ubyte[.gz]",
                "t10k-images-idx3-ubyte[.gz]",
                "t10k-labels-idx1-ubyte[.gz]"
            ]
        ),
        other => panic!("{other:?}"),
    }
    assert_one_line_naming(&e, tmp.path());
}
