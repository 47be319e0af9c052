//! Fuzz tests on stable Rust for the inputs a user or a web page controls: IDX data files,
//! `.npz` archives, CSV tables, model checkpoints, pictures, and the draw server's requests.
//! Each target must answer every input with a value or an error, never a panic or an abort
//! (see `mutator` for the method and the knobs); the data readers' seeds include headers that
//! claim gigabytes over a few bytes and gzip bombs, so every mutation starts near a lie.
//!
//! In CI each runs a few seconds. For a long run, one target at a time:
//! `FUZZ_SECONDS=600 nice -n 19 cargo test --release --test fuzz idx -- --nocapture`.

mod mutator;

use gpu_mlp::checkpoint::{self, Checkpoint};
use gpu_mlp::data::idx::{self, Compression};
use gpu_mlp::inference::preprocess;
use gpu_mlp::model::ModelSpec;
use gpu_mlp_cli::draw::http::{parse_head, Limits};
use gpu_mlp_cli::draw::{App, ModelInfo};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

#[test]
fn idx_reader() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let seed_file = |name: &str, write: &dyn Fn(&Path)| {
        let path = dir.path().join(name);
        write(&path);
        std::fs::read(&path).expect("read a seed back")
    };
    let images: Vec<u8> = (0..3 * 4 * 5).map(|i| (i * 7) as u8).collect();
    let mut seeds = vec![
        seed_file("images", &|p| {
            idx::write_images(p, &images, 4, 5, Compression::None).expect("write")
        }),
        seed_file("images.gz", &|p| {
            idx::write_images(p, &images, 4, 5, Compression::Gzip).expect("write")
        }),
        seed_file("labels", &|p| {
            idx::write_labels(p, &[0, 1, 2, 9], Compression::None).expect("write")
        }),
        seed_file("labels.gz", &|p| {
            idx::write_labels(p, &[3, 4], Compression::Gzip).expect("write")
        }),
    ];
    seeds.extend(lying_idx_seeds());
    let input_path = dir.path().join("input");
    mutator::fuzz("idx_reader", &seeds, 1000, |input| {
        // The bytes as they are, and (for half the inputs) wrapped in valid gzip, so the
        // decompressed path sees mutated IDX too.
        let wrapped = input.first().is_some_and(|b| b % 2 == 0);
        let bytes = if wrapped { gzip(input) } else { input.to_vec() };
        std::fs::write(&input_path, &bytes).expect("write the input");
        let images = idx::read_images(&input_path);
        if let Ok(read) = &images {
            assert_eq!(read.pixels.len(), read.count * read.rows * read.cols);
        }
        images.is_ok() | idx::read_labels(&input_path).is_ok()
    });
}

/// The IDX seeds that lie: a header claiming 2^32-1 images of 28×28 over a few bytes, raw
/// and gzipped, and labels claiming 2^31.
fn lying_idx_seeds() -> Vec<Vec<u8>> {
    let mut images = vec![0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 28, 0, 0, 0, 28];
    images.extend_from_slice(&[7; 40]);
    let labels = vec![0, 0, 8, 1, 0x80, 0, 0, 0, 1, 2, 3];
    vec![gzip(&images), images, labels]
}

/// Loads `path` as a data source (its kind told by content), as `train --data` does.
fn load_source(path: &Path) -> bool {
    let source = gpu_mlp::data::DataSource::Path {
        path: path.to_path_buf(),
        hint: None,
    };
    gpu_mlp::data::load(&source, &gpu_mlp::data::LoadOptions::default()).is_ok()
}

/// A `.npz` archive of `arrays` (name, `.npy` bytes), stored or deflated.
fn npz(arrays: &[(&str, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in arrays {
        zip.start_file(format!("{name}.npy"), options)
            .expect("an entry");
        zip.write_all(bytes).expect("write an entry");
    }
    zip.finish().expect("finish the archive").into_inner()
}

/// A version 1 `.npy` array of `descr` and `shape` with `data` after its header.
fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (11 + dict.len()) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

#[test]
fn npz_reader() {
    let x: Vec<u8> = (0..6 * 4).map(|i| (i * 11) as u8).collect();
    let y = npy("|u1", "(6,)", &[0, 1, 2, 0, 1, 2]);
    let floats: Vec<u8> = (0..12)
        .flat_map(|i| (i as f32 / 3.0).to_le_bytes())
        .collect();
    // A header length field of 2^32-16 (version 2), and a shape of 2^40 bytes over 4 of them.
    let mut long_header = b"\x93NUMPY\x02\x00".to_vec();
    long_header.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    long_header.extend_from_slice(b"{'descr': '|u1'");
    let seeds = vec![
        npz(&[("x", npy("|u1", "(6, 4)", &x)), ("y", y.clone())], false),
        npz(&[("x", npy("|u1", "(6, 4)", &x)), ("y", y.clone())], true),
        npz(
            &[("x", npy("<f4", "(6, 2)", &floats)), ("y", y.clone())],
            false,
        ),
        npz(&[("x", long_header), ("y", y.clone())], false),
        npz(
            &[("x", npy("|u1", "(1048576, 1048576)", &x[..4])), ("y", y)],
            true,
        ),
    ];
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("input.npz");
    mutator::fuzz("npz_reader", &seeds, 1000, |input| {
        std::fs::write(&path, input).expect("write the input");
        load_source(&path)
    });
}

#[test]
fn csv_reader() {
    let seeds = vec![
        b"a,b,label\n1,2,x\n3,4,y\n5,6,x\n".to_vec(),
        b"1\t0.5\t0\n2\t0.25\t1\n3\t1e3\t1\n".to_vec(),
        gzip(b"label,p\n0,255\n1,0\n"),
        // A quoted cell that never closes, a NUL run, and a gzip that inflates 4096-fold.
        b"label,a\n0,\"1\n1\n1\n".to_vec(),
        vec![0; 300],
        gzip(&vec![b'1'; 1 << 20]),
    ];
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("input.csv");
    mutator::fuzz("csv_reader", &seeds, 1000, |input| {
        std::fs::write(&path, input).expect("write the input");
        load_source(&path)
    });
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("compress in memory");
    gz.finish().expect("compress in memory")
}

fn checkpoint(hidden: Vec<usize>, metadata: bool) -> Checkpoint {
    let spec = ModelSpec::new(16, hidden, 3, 0.0).expect("a valid spec");
    let mut extra = BTreeMap::new();
    if metadata {
        extra.insert("epochs".to_string(), "3".to_string());
    }
    Checkpoint {
        metadata: extra,
        ..Checkpoint::grey_images(
            spec.clone(),
            spec.init_parameters(1),
            vec!["a".into(), "b".into(), "c".into()],
            "toy",
            (4, 4),
        )
    }
}

#[test]
fn checkpoint_loader() {
    let seeds: Vec<Vec<u8>> = [
        checkpoint(vec![8], true),
        checkpoint(vec![5, 4], false),
        checkpoint(vec![], false),
    ]
    .iter()
    .map(|c| checkpoint::to_bytes(c).expect("encode a seed"))
    .collect();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("model.safetensors");
    mutator::fuzz("checkpoint_loader", &seeds, 1000, |input| {
        let parsed = checkpoint::from_bytes(input, Path::new("input"));
        if let Ok(ckpt) = &parsed {
            assert_eq!(ckpt.parameters.len(), ckpt.spec.parameter_count());
            assert_eq!(ckpt.class_names.len(), ckpt.spec.classes);
        }
        // Through the file loader too: it reads the header first, and must agree.
        std::fs::write(&path, input).expect("write the input");
        let loaded = checkpoint::load(&path);
        assert_eq!(parsed.is_ok(), loaded.is_ok(), "{parsed:?} vs {loaded:?}");
        parsed.is_ok()
    });
}

fn picture_seeds() -> Vec<Vec<u8>> {
    let encode = |img: image::DynamicImage, format| {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format).expect("encode a seed");
        out.into_inner()
    };
    let grey =
        image::GrayImage::from_fn(12, 9, |x, y| image::Luma([((x * 20 + y * 3) % 256) as u8]));
    let rgb = image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 30, y as u8 * 30, 200]));
    let rgba16 = image::ImageBuffer::<image::Rgba<u16>, _>::from_fn(6, 5, |x, y| {
        image::Rgba([x as u16 * 9000, y as u16 * 9000, 1, u16::MAX])
    });
    vec![
        encode(grey.clone().into(), image::ImageFormat::Png),
        encode(rgb.clone().into(), image::ImageFormat::Png),
        encode(rgba16.into(), image::ImageFormat::Png),
        encode(rgb.clone().into(), image::ImageFormat::Jpeg),
        encode(grey.into(), image::ImageFormat::Jpeg),
        encode(rgb.into(), image::ImageFormat::Bmp),
    ]
}

/// Recomputes the CRC of every whole PNG chunk, so mutations reach the decoder instead of
/// failing the checksum.
fn fix_png_crcs(png: &mut [u8]) {
    let mut at = 8;
    while at + 12 <= png.len() {
        let len = u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|&e| e + 4 <= png.len()) else {
            return;
        };
        let mut crc = flate2::Crc::new();
        crc.update(&png[at + 4..end]);
        png[end..end + 4].copy_from_slice(&crc.sum().to_be_bytes());
        at = end + 4;
    }
}

/// Inputs the long runs found crashing, kept so they stay fixed (`regressions/`).
#[test]
fn picture_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz/regressions");
    for entry in std::fs::read_dir(&dir).expect("the regressions folder") {
        let path = entry.expect("a folder entry").path();
        let bytes = std::fs::read(&path).expect("read a regression input");
        let err = preprocess::decode(&bytes).expect_err("a malformed picture decodes");
        assert!(
            err.to_string().contains("not a readable"),
            "{}: {err}",
            path.display()
        );
    }
}

#[test]
fn picture_preprocessing() {
    mutator::fuzz(
        "picture_preprocessing",
        &picture_seeds(),
        100_000,
        |input| {
            let mut input = input.to_vec();
            if input.starts_with(b"\x89PNG") && input.len() % 4 != 0 {
                fix_png_crcs(&mut input);
            }
            if let Ok(img) = preprocess::decode(&input) {
                let prepared = preprocess::prepare(&img, 28, 28);
                assert_eq!(prepared.len(), 28 * 28);
                assert!(prepared.iter().all(|v| (0.0..=1.0).contains(v)));
                return true;
            }
            false
        },
    );
}

#[test]
fn draw_request() {
    let limits = Limits::default();
    let info = ModelInfo {
        classes: vec!["a".into(), "b".into()],
        rows: 28,
        cols: 28,
        dataset: "toy".into(),
        network: "784-2".into(),
        engine: "test".into(),
    };
    let app = App::new(info, Box::new(|_: &[f32]| vec![0.25, 0.75]), false, &limits);
    let post = |content_type: &str, body: &[u8]| {
        let mut bytes = format!(
            "POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        bytes
    };
    let mut seeds = vec![
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        b"GET /api/model?x=1 HTTP/1.1\r\nHost: [::1]:80\r\nAccept: */*\r\n\r\n".to_vec(),
        b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc".to_vec(),
        post("application/json", br#"{"width": 2, "height": 2, "pixels": [0, 255, 255, 0]}"#),
    ];
    seeds.extend(picture_seeds().iter().take(3).map(|p| post("image/png", p)));
    mutator::fuzz("draw_request", &seeds, 200_000, |input| {
        let response = match parse_head(input, &limits) {
            Ok(Some(head)) => {
                let mut request = head.request;
                let body = &input[head.len..];
                request.body = body[..body.len().min(head.content_length)].to_vec();
                app.handle(&request)
            }
            Ok(None) => return false,
            Err(response) => response,
        };
        assert_ne!(
            gpu_mlp_cli::draw::http::reason(response.status),
            "Unknown",
            "status {}",
            response.status
        );
        response.status == 200
    });
}
