//! Nothing is allocated from a header's claim before the file proves it: a `.npy` header length
//! of 4 GiB in a tiny archive, an archive whose array truly inflates past the input limit, and
//! an IDX file whose gzip payload does, each end in one error, never an abort.

#[cfg(unix)]
use crate::corpus::run_limited;
use crate::corpus::{error_naming, quick, run};
use std::io::Write;
use std::path::{Path, PathBuf};

/// An `.npz` of `x.npy` (whose bytes `write_x` streams) and a small valid `y.npy`.
fn npz(dir: &Path, name: &str, write_x: &dyn Fn(&mut dyn Write)) -> PathBuf {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    zip.start_file("x.npy", options).unwrap();
    write_x(&mut zip);
    zip.start_file("y.npy", options).unwrap();
    zip.write_all(&npy_header("|u1", "(2,)")).unwrap();
    zip.write_all(&[0, 1]).unwrap();
    zip.finish().unwrap();
    path
}

/// A version 1 `.npy` header for `descr` and `shape`, padded as numpy pads it.
pub fn npy_header(descr: &str, shape: &str) -> Vec<u8> {
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    bytes
}

#[cfg(unix)]
#[test]
fn a_npy_header_length_of_4_gib_is_not_believed() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = npz(dir.path(), "len.npz", &|w| {
        w.write_all(b"\x93NUMPY\x02\x00").unwrap();
        w.write_all(&0xFFFF_FFF0u32.to_le_bytes()).unwrap();
        w.write_all(b"{'descr': '|u1'").unwrap();
    });
    // Under a 3 GiB address-space limit, a 4 GiB buffer sized from the claim would abort.
    let out = run_limited(&quick(bomb.to_str().unwrap(), &[]), &[], 3 << 30);
    error_naming(&out, "a lying .npy header", &["len.npz", "array x"]);
}

#[test]
fn an_array_that_truly_inflates_past_the_input_limit_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    // 32 MiB of zeros in a ~32 KiB archive, against a limit of 8 MiB.
    let bomb = npz(dir.path(), "big.npz", &|w| {
        w.write_all(&npy_header("|u1", "(2, 16777216)")).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..32 {
            w.write_all(&zeros).unwrap();
        }
    });
    let limit = ("GPU_MLP_MAX_INPUT_BYTES", "8388608");
    error_naming(
        &run(&quick(bomb.to_str().unwrap(), &[]), &[limit]),
        "an npz bomb",
        &["big.npz", "array x", "GPU_MLP_MAX_INPUT_BYTES"],
    );
}

#[test]
fn an_idx_payload_past_the_input_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let images: Vec<u8> = vec![0; 4096 * 28 * 28];
    let labels: Vec<u8> = (0..4096).map(|i| (i % 10) as u8).collect();
    use gpu_mlp::data::idx::{write_images, write_labels, Compression};
    use gpu_mlp::data::{TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS};
    for (images_name, labels_name) in [(TRAIN_IMAGES, TRAIN_LABELS), (TEST_IMAGES, TEST_LABELS)] {
        let p = |name: &str| dir.path().join(format!("{name}.gz"));
        write_images(&p(images_name), &images, 28, 28, Compression::Gzip).unwrap();
        write_labels(&p(labels_name), &labels, Compression::Gzip).unwrap();
    }
    let limit = ("GPU_MLP_MAX_INPUT_BYTES", "1048576");
    let data = dir.path().to_str().unwrap();
    let out = run(&quick(data, &[]), &[limit]);
    error_naming(&out, "an IDX payload", &["GPU_MLP_MAX_INPUT_BYTES"]);
}
