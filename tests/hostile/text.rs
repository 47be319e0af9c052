//! Text sources cannot make the process allocate without bound: a record longer than the line
//! limit, or more text than the inflated-size limit, stops with one error naming the file and
//! the line (the limits lowered here so the bombs stay small; `/dev/zero` meets the default).

use crate::corpus::{clean_error, quick, run};
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
    let line = clean_error(&out, "a NUL bomb");
    for needle in ["nul.csv.gz", "line 1", "GPU_MLP_MAX_LINE_BYTES"] {
        assert!(line.contains(needle), "{needle}: {line}");
    }
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
    let line = clean_error(&out, "a huge cell");
    for needle in ["cell.csv.gz", "line 3"] {
        assert!(line.contains(needle), "{needle}: {line}");
    }
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
    let line = clean_error(&out, "a quoted multi-line cell");
    assert!(
        line.contains("quoted.csv.gz") && line.contains("line 2"),
        "{line}"
    );
}

#[cfg(unix)]
#[test]
fn dev_zero_as_data_stops_at_the_default_line_limit() {
    let out = run(&quick("/dev/zero", &[]), &[]);
    let line = clean_error(&out, "--data /dev/zero");
    assert!(
        line.contains("/dev/zero") && line.contains("line 1"),
        "{line}"
    );
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
    let line = clean_error(&out, "too much text");
    for needle in ["many.csv.gz", "GPU_MLP_MAX_TEXT_BYTES"] {
        assert!(line.contains(needle), "{needle}: {line}");
    }
}
