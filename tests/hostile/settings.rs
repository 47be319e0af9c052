//! Settings a careless user gives, on the command line or in a `--config` file: a negative
//! count, TOML's `nan`, a byte-order mark, a file that is not a settings file at all, a key given
//! twice, a blank `--hidden`. Each is one line saying what is wanted, with exit status 2.

use crate::corpus::{run, tiny_csv};
use std::path::Path;
use std::process::Output;

/// The error line of a run refused for bad settings (exit 2), which must hold every `needle`
/// and none of the words of Rust's own parsers. (clap follows its line with a hint.)
fn bad_setting(out: &Output, what: &str, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("{what}: no error line in {stderr}"))
        .to_string();
    for needle in needles {
        assert!(line.contains(needle), "{what}: {needle:?} missing: {line}");
    }
    for internal in ["invalid digit", "null"] {
        assert!(!line.contains(internal), "{what}: {line}");
    }
    line
}

/// `train --config FILE` with `text` in `dir/name`, and the `more` flags.
fn with_config(dir: &Path, name: &str, text: &[u8], more: &[&str]) -> Output {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the config");
    // --offline: a binary that wrongly took the settings must not go and download MNIST.
    let mut args = vec!["train", "--offline", "--config", path.to_str().unwrap()];
    args.extend_from_slice(more);
    run(&args, &[])
}

#[test]
fn a_negative_or_fractional_count_asks_for_a_whole_number() {
    for args in [
        &["train", "--epochs", "-3", "--offline"][..],
        &["train", "--batch-size", "-1", "--offline"],
        &["train", "--epochs", "1.5", "--offline"],
        &["train", "--seed", "-1", "--offline"],
        &["train", "--warmup", "-10", "--offline"],
        &["summary", "--inputs", "-5"],
        &["predict", "--top", "-2"],
    ] {
        let out = run(args, &[]);
        bad_setting(
            &out,
            &format!("{args:?}"),
            &[args[1], "whole number", args[2]],
        );
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (text, key) in [("epochs = -3\n", "'epochs'"), ("seed = -1\n", "'seed'")] {
        let out = with_config(dir.path(), "neg.toml", text.as_bytes(), &[]);
        bad_setting(&out, text, &[key, "whole number"]);
    }
}

#[test]
fn toml_nan_and_inf_are_named_as_written() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (text, key, value) in [
        ("lr = nan\n", "'lr'", "'nan'"),
        ("seed = inf\n", "'seed'", "'inf'"),
        ("dropout = -inf\n", "'dropout'", "'-inf'"),
    ] {
        let out = with_config(dir.path(), "odd.toml", text.as_bytes(), &[]);
        bad_setting(&out, text, &[key, value]);
    }
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_settings() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = tiny_csv(dir.path(), "t.csv");
    let data = data.to_str().unwrap();
    let flags = ["--backend", "cpu", "--data", data, "--batch-size", "16"];
    for (name, text) in [
        ("bom.json", "\u{feff}{\"epochs\": 1, \"hidden\": \"none\"}"),
        ("bom.toml", "\u{feff}epochs = 1\nhidden = []\n"),
    ] {
        let out = with_config(dir.path(), name, text.as_bytes(), &flags);
        let stdout = support::succeeded(&out, name);
        // One epoch of a network without hidden layers: the file's settings were read.
        assert!(stdout.contains("4-3 on"), "{name}: {stdout}");
        assert!(stdout.contains("Epoch 1/1"), "{name}: {stdout}");
    }
}

#[test]
fn a_config_file_is_read_only_up_to_its_bound() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut big = b"epochs = 1\n".to_vec();
    big.extend(std::iter::repeat_n(b'#', 2 << 20));
    let path = dir.path().join("big.toml");
    std::fs::write(&path, &big).expect("write");
    for file in [path.to_str().unwrap(), "/dev/zero"] {
        let out = run(&["train", "--offline", "--config", file], &[]);
        bad_setting(&out, file, &[file, "larger than 1 MiB"]);
    }
}

#[test]
fn a_key_given_twice_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (name, text) in [
        ("twice.toml", "epochs = 2\nlr = 0.1\nepochs = 3\n"),
        ("quoted.toml", "epochs = 2\n\"epochs\" = 3\n"),
        ("twice.json", "{\"epochs\": 2, \"lr\": 0.1, \"epochs\": 3}"),
    ] {
        let out = with_config(dir.path(), name, text.as_bytes(), &[]);
        bad_setting(&out, name, &["'epochs'", "twice"]);
    }
    // The same setting in its two spellings.
    for (name, text) in [
        ("alias.toml", "batch_size = 2\nbatch-size = 3\n"),
        ("alias.json", "{\"batch-size\": 2, \"batch_size\": 3}"),
    ] {
        let out = with_config(dir.path(), name, text.as_bytes(), &[]);
        bad_setting(&out, name, &["batch", "twice"]);
    }
}

#[test]
fn a_blank_hidden_is_refused_and_none_still_means_no_hidden_layer() {
    for value in ["", " ", ","] {
        let out = run(&["train", "--offline", "--hidden", value], &[]);
        bad_setting(&out, &format!("--hidden {value:?}"), &["--hidden"]);
    }
    let out = run(&["train", "--offline", "--hidden", ""], &[]);
    bad_setting(&out, "--hidden ''", &["blank", "none"]);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = with_config(dir.path(), "blank.toml", b"hidden = \"\"\n", &[]);
    bad_setting(&out, "hidden = \"\"", &["'hidden'", "blank"]);
    let data = tiny_csv(dir.path(), "t.csv");
    let data = data.to_str().unwrap();
    for none in ["none", "NONE"] {
        let args = ["train", "--backend", "cpu", "--data", data, "--epochs", "1"];
        let out = run(&[&args[..], &["--hidden", none]].concat(), &[]);
        let stdout = support::succeeded(&out, none);
        assert!(stdout.contains("4-3 on"), "--hidden {none}: {stdout}");
    }
}

#[test]
fn huge_layer_widths_are_counted_exactly_or_refused() {
    // 2^32 × 2^32 weights wrap a 64-bit count to 0: refused, with the true order of magnitude.
    let out = run(&["summary", "--hidden", "4294967296,4294967296"], &[]);
    bad_setting(&out, "2^32 wide", &["1.845e19 parameters", "narrower"]);
    // Just below the limit the count is exact (past 2^53 an f64 would round it).
    let w: u128 = 3_000_000_000;
    let total = 784 * w + w + w * w + w + w * 10 + 10;
    let out = run(&["summary", "--hidden", "3000000000,3000000000"], &[]);
    let stdout = support::succeeded(&out, "3e9 wide");
    let digits = total.to_string();
    let grouped: Vec<String> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let line = format!("Total params: {} (", grouped.join(","));
    assert!(stdout.contains(&line), "{line}\n{stdout}");
}
