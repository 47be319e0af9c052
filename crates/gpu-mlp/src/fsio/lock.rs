//! Exclusive advisory locks on a file, so gpu-mlp processes started together (the trials of a
//! sweep) take turns on what they share: one fetches the data set while the others wait and then
//! find it, and writers of the tile cache re-read and merge instead of overwriting each other.
//! The lock goes when the holder drops it or its process ends, however it ends.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Blocks until this process holds the exclusive lock on `path` (created empty when
    /// missing, and left in place). Calls `waiting` once first when another holder has it.
    pub fn acquire(path: impl AsRef<Path>, waiting: impl FnOnce()) -> io::Result<FileLock> {
        let path = path.as_ref();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                waiting();
                file.lock()?;
            }
            Err(TryLockError::Error(e)) => return Err(e),
        }
        Ok(FileLock { _file: file })
    }
}

/// The lock file guarding `path`: `path` with `.lock` appended, in the same folder.
pub fn lock_path_for(path: impl AsRef<Path>) -> PathBuf {
    let path = path.as_ref();
    let mut name = path.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::process::Command;
    use std::time::{Duration, Instant};

    /// Set in the children of `processes_take_turns`: the file to update and this writer's name.
    const CHILD_ENV: &str = "GPU_MLP_FILELOCK_TEST_CHILD";
    const UPDATES: usize = 25;

    /// One writer: adds `UPDATES` keys of its own to a JSON map, each by lock, read, merge,
    /// atomic write. Runs as a child process of `processes_take_turns`; does nothing otherwise.
    #[test]
    fn child_writer() {
        let Ok(spec) = std::env::var(CHILD_ENV) else {
            return;
        };
        let (path, name) = spec.split_once('|').expect("path|name");
        let path = Path::new(path);
        for i in 0..UPDATES {
            let _lock = FileLock::acquire(lock_path_for(path), || {}).unwrap();
            let mut map: BTreeMap<String, usize> = match std::fs::read_to_string(path) {
                Ok(text) => serde_json::from_str(&text).unwrap(),
                Err(_) => BTreeMap::new(),
            };
            // Widen the window between read and write, where an unlocked writer loses updates.
            std::thread::sleep(Duration::from_millis(2));
            map.insert(format!("{name}-{i}"), i);
            let text = serde_json::to_string(&map).unwrap();
            crate::fsio::atomic::write_atomically(path, text.as_bytes()).unwrap();
        }
    }

    #[test]
    fn processes_take_turns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.json");
        let exe = std::env::current_exe().unwrap();
        // The test's name as libtest knows it (the module path without the crate's name).
        let child = format!(
            "{}::child_writer",
            module_path!().split_once("::").unwrap().1
        );
        let writers = ["a", "b", "c", "d"];
        let mut children: Vec<_> = writers
            .iter()
            .map(|name| {
                Command::new(&exe)
                    .args(["--exact", &child, "--nocapture"])
                    .env(CHILD_ENV, format!("{}|{name}", path.display()))
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // While they write, the file is always whole JSON.
        let deadline = Instant::now() + Duration::from_secs(60);
        while children.iter_mut().any(|c| c.try_wait().unwrap().is_none()) {
            assert!(Instant::now() < deadline, "writers did not finish");
            if let Ok(text) = std::fs::read_to_string(&path) {
                serde_json::from_str::<BTreeMap<String, usize>>(&text).expect("valid JSON");
            }
        }
        for mut child in children {
            assert!(child.wait().unwrap().success());
        }
        let map: BTreeMap<String, usize> =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for name in writers {
            for i in 0..UPDATES {
                assert!(map.contains_key(&format!("{name}-{i}")), "lost {name}-{i}");
            }
        }
        assert_eq!(map.len(), writers.len() * UPDATES);
    }

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let first = FileLock::acquire(&path, || panic!("nobody holds it yet")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let path2 = path.clone();
        let waiter = std::thread::spawn(move || {
            let mut waited = false;
            let _second = FileLock::acquire(&path2, || waited = true).unwrap();
            tx.send(waited).unwrap();
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "got it while held"
        );
        drop(first);
        assert!(
            rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            "said it waited"
        );
        waiter.join().unwrap();
        assert_eq!(
            lock_path_for(Path::new("d/tiles.json")),
            Path::new("d/tiles.json.lock")
        );
    }
}
