//! Output files checked against the inputs and against each other before anything is opened
//! for writing: `--save t.csv --data t.csv` (however spelled: a symlink, `..`, another name of
//! the same inode) would replace the user's data, and two outputs to one file lose one of them.

use gpu_mlp::error::ConfigError;
use std::path::{Path, PathBuf};

/// What makes two paths one file.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    /// An existing file: its device and inode (all its names, links included, share them).
    #[cfg(unix)]
    Inode(u64, u64),
    /// A path with its symlinks and `..` resolved (as far as it exists).
    Resolved(PathBuf),
}

/// `path`'s identity: the file it names if it exists, else its resolved location.
fn identity(path: &Path) -> Identity {
    if let Ok(meta) = std::fs::metadata(path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            return Identity::Inode(meta.dev(), meta.ino());
        }
        #[cfg(not(unix))]
        if let Ok(resolved) = path.canonicalize() {
            let _ = meta;
            return Identity::Resolved(resolved);
        }
    }
    // Not there yet: where it would be created (the folder resolved, the name as given).
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let folder = parent
        .canonicalize()
        .or_else(|_| std::path::absolute(parent))
        .unwrap_or_else(|_| parent.to_path_buf());
    match path.file_name() {
        Some(name) => Identity::Resolved(folder.join(name)),
        None => Identity::Resolved(folder),
    }
}

/// True when `a` and `b` name one file.
pub fn same_file(a: &Path, b: &Path) -> bool {
    identity(a) == identity(b)
}

/// Refuses an output (flag, path) that is one of the `inputs` or another output, naming both
/// flags. `-` (standard output) is no file.
pub fn check(inputs: &[(&str, &Path)], outputs: &[(&str, &Path)]) -> Result<(), ConfigError> {
    let outputs: Vec<(&str, &Path, Identity)> = outputs
        .iter()
        .filter(|(_, path)| path.as_os_str() != "-")
        .map(|&(flag, path)| (flag, path, identity(path)))
        .collect();
    for (i, (flag, path, id)) in outputs.iter().enumerate() {
        for &(input_flag, input) in inputs {
            if *id == identity(input) {
                return Err(ConfigError::new(format!(
                    "{flag} {} is the same file as {input_flag} {}: writing it would destroy \
                     the input; choose another path",
                    path.display(),
                    input.display()
                )));
            }
        }
        if let Some((other_flag, other, _)) = outputs[..i].iter().find(|(_, _, o)| o == id) {
            return Err(ConfigError::new(format!(
                "{other_flag} {} and {flag} {} are the same file: one would overwrite the \
                 other; give each its own path",
                other.display(),
                path.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_file_are_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("t.csv");
        std::fs::write(&data, "1,2\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert!(same_file(&data, &dir.path().join("sub/../t.csv")));
        assert!(same_file(
            &dir.path().join("new"),
            &dir.path().join("sub/../new")
        ));
        assert!(!same_file(&data, &dir.path().join("new")));
        let err = check(
            &[("--data", data.as_path())],
            &[("--save", dir.path().join("sub/../t.csv").as_path())],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("--save") && err.contains("--data"), "{err}");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        assert!(check(&[("--data", &data)], &[("--save", &a), ("--plot", &b)]).is_ok());
        let std_out = Path::new("-");
        assert!(check(&[], &[("--summary-json", std_out), ("--plot", std_out)]).is_ok());
    }
}
