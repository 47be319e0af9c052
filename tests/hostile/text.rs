//! Text sources cannot make the process allocate without bound: a record longer than the line
//! limit, or more text than the inflated-size limit, stops with one error naming the file and
//! the line (the limits lowered here so the bombs stay small; `/dev/zero` meets the default).

use crate::corpus::{error_naming, quick, run};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Streams `head`, then `count` copies of `fill`, then `tail` into a gzip file.
fn gz_bomb(dir: &Path, name: &str, head: &[u8], fill: &[u8], count: usize, tail: &[u8]) -> PathBuf {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    gz.write_all(head).unwrap();
    for _ in 0..count {
        gz.write_all(fill).unwrap();
    }
    gz.write_all(tail).unwrap();
    gz.finish().unwrap();
    path
}

const LINE_LIMIT: (&str, &str) = ("GPU_MLP_MAX_LINE_BYTES", "1048576");

#[test]
fn a_gzip_of_nul_bytes_stops_at_the_line_limit() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = gz_bomb(dir.path(), "nul.csv.gz", b"", &[0u8; 4096], 2048, b"");
    let out = run(&quick(bomb.to_str().unwrap(), &[]), &[LINE_LIMIT]);
    error_naming(
        &out,
        "a NUL bomb",
        &["nul.csv.gz", "line 1", "GPU_MLP_MAX_LINE_BYTES"],
    );
}

#[test]
fn one_huge_cell_stops_at_the_line_limit() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = gz_bomb(
        dir.path(),
        "cell.csv.gz",
        b"label,a\n0,1\n1,",
        b"1111111111111111",
        1 << 18,
        b"\n",
    );
    let out = run(&quick(bomb.to_str().unwrap(), &[]), &[LINE_LIMIT]);
    error_naming(&out, "a huge cell", &["cell.csv.gz", "line 3"]);
    // A quoted cell that spans lines is one record: it is bounded too.
    let bomb = gz_bomb(
        dir.path(),
        "quoted.csv.gz",
        b"label,a\n0,\"",
        b"1\n",
        1 << 20,
        b"\"\n",
    );
    let out = run(&quick(bomb.to_str().unwrap(), &[]), &[LINE_LIMIT]);
    error_naming(&out, "a quoted cell", &["quoted.csv.gz", "line 2"]);
}

#[cfg(unix)]
#[test]
fn dev_zero_as_data_stops_at_the_default_line_limit() {
    let out = run(&quick("/dev/zero", &[]), &[]);
    error_naming(&out, "--data /dev/zero", &["/dev/zero", "line 1"]);
}

#[test]
fn more_text_than_the_inflated_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = gz_bomb(
        dir.path(),
        "many.csv.gz",
        b"a,label\n",
        b"1,0\n2,1\n",
        1 << 18,
        b"",
    );
    let limit = ("GPU_MLP_MAX_TEXT_BYTES", "1048576");
    let out = run(&quick(bomb.to_str().unwrap(), &[]), &[limit]);
    error_naming(
        &out,
        "too much text",
        &["many.csv.gz", "GPU_MLP_MAX_TEXT_BYTES"],
    );
}
