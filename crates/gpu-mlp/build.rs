//! Records the git commit the binary is built from (`GPU_MLP_GIT_COMMIT`, "unknown" outside a
//! git checkout), so benchmark and verification records say which code produced them.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn main() {
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=GPU_MLP_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves: HEAD itself (a branch switch), the branch's ref (a commit) and
    // packed-refs. `--git-path` resolves them for worktrees too.
    // Only existing files: cargo treats a missing one as always changed.
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for path in watched {
        if let Some(p) = git(&["rev-parse", "--git-path", &path]).map(PathBuf::from) {
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
