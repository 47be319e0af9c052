//! A terminal that closes (SIGHUP) stops a run as SIGTERM does: after its epoch, with the
//! checkpoint and the resume hint, and its own exit status. Under `nohup` it is not noticed.

#![cfg(unix)]

use crate::corpus::{quick, tiny_csv};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Sends `signal` (`HUP`, `TERM`) to process `pid` as `kill` does.
fn send(signal: &str, pid: u32) {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[test]
fn sighup_saves_the_run_and_says_how_to_go_on() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = tiny_csv(dir.path(), "t.csv");
    let model = dir.path().join("run.safetensors");
    let (data, model) = (data.to_str().unwrap(), model.to_str().unwrap());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"));
    cmd.args(quick(data, &["--epochs", "100000", "--save", model]))
        .stderr(Stdio::null());
    let (status, rest) = support::signal_after_first_epoch(&mut cmd, "HUP");
    assert_eq!(status.code(), Some(129), "{status}: {rest:?}");
    let hint = format!("gpu-mlp train --resume {model}");
    assert!(
        rest.iter()
            .any(|l| l.starts_with("interrupted:") && l.contains(&hint)),
        "{rest:?}"
    );
    let ckpt = gpu_mlp::checkpoint::load(std::path::Path::new(model)).expect("the checkpoint");
    let state = ckpt.resume.expect("a training state to resume from");
    assert!(state.epochs_completed() >= 1);
}

/// A run of `--epochs 100000` on a tiny table, started with `signal` ignored as `nohup` or a
/// script's background job starts it, its standard output read line by line.
fn started_ignoring(
    signal: libc::c_int,
    dir: &std::path::Path,
) -> (
    std::process::Child,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
) {
    use std::os::unix::process::CommandExt;
    let data = tiny_csv(dir, "t.csv");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"));
    cmd.args(quick(data.to_str().unwrap(), &["--epochs", "100000"]))
        .stderr(Stdio::null());
    // SAFETY: signal() is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(signal, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// Reads `lines` up to the first that starts with `prefix`.
fn wait_for(lines: &mut impl Iterator<Item = std::io::Result<String>>, prefix: &str) {
    let seen = lines.map_while(Result::ok).find(|l| l.starts_with(prefix));
    assert!(seen.is_some(), "no line starting with {prefix:?}");
}

/// `nohup gpu-mlp train ...`: started with SIGHUP ignored, the run keeps going through one.
#[test]
fn an_ignored_sighup_stays_ignored() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (mut child, mut lines) = started_ignoring(libc::SIGHUP, dir.path());
    wait_for(&mut lines, "Epoch 1/");
    send("HUP", child.id());
    // Two more epochs start after the hang-up: it did not stop the run.
    wait_for(&mut lines, "Epoch 3/");
    send("TERM", child.id());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(child.wait().unwrap().code(), Some(143), "{rest:?}");
}

/// A script's background job starts with SIGINT ignored; a sweep engine that cancels it with
/// SIGINT must still get the stop after the epoch (exit 130), not a run that goes on.
#[test]
fn sigint_is_heard_even_when_started_ignored() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (mut child, mut lines) = started_ignoring(libc::SIGINT, dir.path());
    wait_for(&mut lines, "Epoch 1/");
    send("INT", child.id());
    // Heard, it ends after the epoch under way; ignored, it goes on: give it 20 s.
    let reader = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let rest = reader.join().unwrap();
    let last = &rest[rest.len().saturating_sub(2)..];
    assert_eq!(status.and_then(|s| s.code()), Some(130), "{last:?}");
}
