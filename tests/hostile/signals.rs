//! A terminal that closes (SIGHUP) stops a run as SIGTERM does: after its epoch, with the
//! checkpoint and the resume hint, and its own exit status. Under `nohup` it is not noticed.

#![cfg(unix)]

use crate::corpus::{quick, tiny_csv};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

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

/// `nohup gpu-mlp train ...`: started with SIGHUP ignored, the run keeps going through one.
#[test]
fn an_ignored_sighup_stays_ignored() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = tiny_csv(dir.path(), "t.csv");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"));
    cmd.args(quick(data.to_str().unwrap(), &["--epochs", "100000"]))
        .stderr(Stdio::null());
    // SAFETY: signal() with SIG_IGN is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut wait_for = |prefix: &str| {
        let seen = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.starts_with(prefix));
        assert!(seen.is_some(), "no line starting with {prefix:?}");
    };
    wait_for("Epoch 1/");
    send("HUP", child.id());
    // Two more epochs start after the hang-up: it did not stop the run.
    wait_for("Epoch 3/");
    send("TERM", child.id());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(child.wait().unwrap().code(), Some(143), "{rest:?}");
}
