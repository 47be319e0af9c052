//! Small inputs and a way to run the binary with lowered limits.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A small table: 60 rows of 4 features and a label column (3 classes), so a CPU run of a few
/// epochs takes a fraction of a second.
pub fn tiny_csv(dir: &Path, name: &str) -> PathBuf {
    let mut text = String::from("a,b,c,d,label\n");
    for i in 0..60u32 {
        let class = i % 3;
        let v = |k: u32| (i * 7 + k * 13 + class * 50) % 255;
        text.push_str(&format!("{},{},{},{},{class}\n", v(1), v(2), v(3), v(4)));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the table");
    path
}

/// `gpu-mlp` with `args` and the environment `env` (e.g. a lowered limit).
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(args, env)
        .output()
        .expect("the gpu-mlp binary runs")
}

/// `gpu-mlp` with `args` and `env` under an address-space limit (`ulimit -v`) of `bytes`, as a
/// container or a shared machine sets it: an allocation past it fails where it would succeed
/// (lazily) on a machine with free memory.
#[cfg(unix)]
pub fn run_limited(args: &[&str], env: &[(&str, &str)], bytes: u64) -> Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = command(args, env);
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes as libc::rlim_t,
                rlim_max: bytes as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("the gpu-mlp binary runs")
}

fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"));
    cmd.args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("GPU_MLP_DATA");
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd
}

/// The last stderr line of a run that must have failed cleanly: a non-zero exit that is not an
/// abort or a panic, and one `error:` line.
pub fn clean_error(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    assert!(
        matches!(code, Some(1) | Some(2)),
        "{what}: expected exit 1 or 2, got {:?}:\n{}{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!stderr.contains("panicked"), "{what} panicked:\n{stderr}");
    let line = stderr.lines().last().unwrap_or("").to_string();
    assert!(line.starts_with("error: "), "{what}: {stderr}");
    line
}

/// The flags of a quick CPU run on `data`.
pub fn quick<'a>(data: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train", "--backend", "cpu", "--data", data];
    args.extend(["--hidden", "8", "--batch-size", "16"]);
    args.extend_from_slice(more);
    args
}

/// [`clean_error`]'s line, which must contain each of `needles` (the file, the line, the limit).
pub fn error_naming(out: &Output, what: &str, needles: &[&str]) -> String {
    let line = clean_error(out, what);
    for needle in needles {
        assert!(
            line.contains(needle),
            "{what}: {needle:?} is missing from {line}"
        );
    }
    line
}
