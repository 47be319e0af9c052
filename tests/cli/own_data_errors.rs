//! Your own data gone wrong: every kind of bad table or .npz file is one line naming the file
//! and the place in it.

use crate::own_data::{load, load_err, npy, put, write_npz};
use gpu_mlp::data::{DataError, LoadOptions};

#[test]
fn bad_tables_are_one_line_errors_naming_file_and_place() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let opts = LoadOptions::default();
    let cases = [
        (
            "ragged.csv",
            "a,b,label\n1,2,0\n3,4\n5,6,1\n",
            "line 3 has 2 fields",
        ),
        (
            "word.csv",
            "a,b,label\n1,2,0\n3,x,1\n",
            "line 3, column 2 (b): 'x' is not a number",
        ),
        (
            "nan.csv",
            "a,b,label\n1,2,0\n3,NaN,1\n",
            "'NaN' is not a finite number",
        ),
        (
            "inf.csv",
            "a,b,label\n1,2,0\ninf,3,1\n",
            "'inf' is not a finite number",
        ),
        (
            "float64.csv",
            "a,b,label\n1,2,0\n3,1e300,1\n",
            "line 3, column 2 (b): '1e300' is too large for a 32-bit float",
        ),
        (
            "hole.csv",
            "a,b,label\n1,2,0\n3,,1\n",
            "line 3, column 2 (b): the cell is empty",
        ),
        ("one.csv", "a,label\n1,4\n2,4\n3,4\n", "at least 2 classes"),
        (
            "nolabel.csv",
            "a,b,c\n1,2,0\n3,4,1\n",
            "with label column NAME",
        ),
        ("negative.csv", "a,label\n1,0\n2,-1\n", "negative"),
        (
            "measured.csv",
            "a,label\n1,0\n2,3.7\n",
            "line 3, column 2 (label): label 3.7 is not a whole number",
        ),
        ("header-only.csv", "a,b,label\n", "holds no samples"),
        ("empty.csv", "", "holds no samples"),
    ];
    for (name, text, expect) in cases {
        let p = put(d, name, text);
        let e = load_err(&p, &opts, &p);
        assert!(e.contains(expect), "{name}: expected '{expect}' in: {e}");
    }
    // A test file with a class the training part never had.
    let train = put(d, "train.csv", "a,label\n1,0\n2,1\n3,0\n");
    let test = put(d, "test.csv", "a,label\n1,0\n2,7\n");
    let with_test = LoadOptions {
        test_data: Some(test.clone()),
        ..LoadOptions::default()
    };
    let e = load(&train, &with_test).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::UnseenTestLabel {
                index: 1,
                label: 7,
                ..
            }
        ),
        "{e}"
    );
    let e = load_err(&train, &with_test, &test);
    assert!(e.contains("0, 1") || e.contains("0..=1"), "{e}");
    let named_train = put(d, "ntrain.csv", "a,label\n1,cat\n2,dog\n");
    let named_test = put(d, "ntest.csv", "a,label\n1,cat\n2,bird\n");
    let e = load_err(
        &named_train,
        &LoadOptions {
            test_data: Some(named_test.clone()),
            ..LoadOptions::default()
        },
        &named_test,
    );
    assert!(e.contains("'bird'") && e.contains("cat, dog"), "{e}");
}

#[test]
fn bad_npz_files_are_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.npz");
    let opts = LoadOptions::default();
    let x = npy(&[4, 3], &[0u8; 12]);
    let y = npy(&[4], &[0u8, 1, 0, 1]);
    let check = |arrays: &[(&str, Vec<u8>)], expect: &str| {
        write_npz(&path, arrays);
        let e = load_err(&path, &opts, &path);
        assert!(e.contains(expect), "expected '{expect}' in: {e}");
    };
    check(
        &[("images", x.clone()), ("labels", y.clone())],
        "holds the arrays images, labels",
    );
    check(
        &[
            ("x_train", x.clone()),
            ("y_train", y.clone()),
            ("x_test", x.clone()),
        ],
        "x_test and y_test",
    );
    check(
        &[("x", npy(&[12], &[0u8; 12])), ("y", y.clone())],
        "array x: shape [12]",
    );
    check(
        &[("x", x.clone()), ("y", npy(&[3], &[0u8, 1, 0]))],
        "3 labels for 4 samples",
    );
    check(
        &[
            ("x", npy(&[2, 2], &[1.0f32, f32::NAN, 0.0, 1.0])),
            ("y", npy(&[2], &[0u8, 1])),
        ],
        "finite",
    );
    // A header claiming far more than the array holds: an error, no allocation of the claim.
    // (The claim takes the place of padding, so the header keeps its length.)
    let mut liar = x.clone();
    let at = liar
        .windows(11)
        .position(|w| w == b"(4, 3, ), }")
        .unwrap_or_else(|| panic!("no shape in {:?}", String::from_utf8_lossy(&x)));
    assert_eq!(
        &liar[at + 11..at + 20],
        b"         ",
        "padding after the shape"
    );
    liar.splice(at..at + 20, b"(4000000000, 3, ), }".iter().copied());
    check(
        &[("x", liar), ("y", y.clone())],
        "its header claims uint8 of shape [4000000000, 3]",
    );
    // Not an archive at all, and a bare .npy.
    std::fs::write(&path, b"PK\x03\x04 truncated").unwrap();
    let e = load_err(&path, &opts, &path);
    assert!(e.contains("zip"), "{e}");
    std::fs::write(&path, &x).unwrap();
    let e = load_err(&path, &opts, &path);
    assert!(e.contains("numpy.savez"), "{e}");
}
