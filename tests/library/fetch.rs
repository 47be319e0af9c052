//! Fetching against a tiny HTTP/1.1 server on 127.0.0.1 run by the test itself: success, mirror
//! fallback, checksum failures that leave nothing behind, unreachable mirrors, oversized bodies,
//! and the real pinned digests. Never touches a real host.

use gpu_mlp::data::fetch::{self, FetchOutcome, FetchSpec, FileSpec};
use gpu_mlp::data::idx::Compression;
use gpu_mlp::data::{self, DataError, Dataset, KnownDataset, LoadOptions, Samples, Search};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use support::loopback::{ok, Reply, Server};

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Four small, valid IDX .gz files under the canonical names (5 train, 3 test images of 4x4).
fn small_set() -> Vec<(String, Vec<u8>)> {
    let tmp = tempfile::tempdir().unwrap();
    let px = |n: usize| (0..n * 16).map(|i| (i * 37) as u8).collect::<Vec<u8>>();
    let samples = |labels: &[u16]| Samples::pixels(px(labels.len()), labels.to_vec(), 16).unwrap();
    let set = Dataset::new(
        "small",
        vec!["0".into(), "1".into(), "2".into()],
        (4, 4),
        samples(&[0, 1, 2, 1, 0]),
        samples(&[2, 2, 0]),
    )
    .unwrap();
    data::write_dir(tmp.path(), &set, Compression::Gzip).unwrap();
    data::FILE_STEMS
        .iter()
        .map(|stem| {
            let name = format!("{stem}.gz");
            let bytes = std::fs::read(tmp.path().join(&name)).unwrap();
            (name, bytes)
        })
        .collect()
}

fn spec_for(files: &[(String, Vec<u8>)], mirrors: Vec<String>) -> FetchSpec {
    FetchSpec {
        dataset: "testset".into(),
        files: files
            .iter()
            .map(|(name, bytes)| FileSpec {
                name: name.clone(),
                sha256: vec![sha256(bytes)],
                max_bytes: bytes.len() as u64 + 100,
            })
            .collect(),
        mirrors,
    }
}

fn routes(prefix: &str, files: &[(String, Vec<u8>)]) -> HashMap<String, Reply> {
    files
        .iter()
        .map(|(name, bytes)| (format!("/{prefix}/{name}"), ok(bytes.clone())))
        .collect()
}

/// The small set served under `/{prefix}/` by a fresh server, and a spec that fetches it from
/// there.
fn served_small_set(prefix: &str) -> (Vec<(String, Vec<u8>)>, Server, FetchSpec) {
    let files = small_set();
    let server = Server::start(routes(prefix, &files));
    let spec = spec_for(&files, vec![server.mirror(prefix)]);
    (files, server, spec)
}

/// The names of `files`, sorted as [`dir_names`] lists a folder.
fn sorted_names(files: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    names
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// A port on which nothing listens (bound, then released).
fn closed_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/mirror/")
}

#[test]
fn downloads_every_file_then_keeps_them() {
    let (files, server, spec) = served_small_set("good");
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("new/sub"); // created on demand

    let report = fetch::fetch_spec(&spec, &dest, None).unwrap();
    assert_eq!(report.files.len(), 4);
    for ((name, bytes), got) in files.iter().zip(&report.files) {
        assert_eq!(got.path, dest.join(name));
        assert_eq!(
            got.outcome,
            FetchOutcome::Downloaded {
                url: format!("{}{name}", server.mirror("good")),
                bytes: bytes.len() as u64
            }
        );
        assert_eq!(&std::fs::read(&got.path).unwrap(), bytes);
    }
    // Exactly the four files: no temporary files left over.
    assert_eq!(dir_names(&dest), sorted_names(&files));
    // And they load as a data set.
    let d = data::load_dir(&dest, None).unwrap();
    assert_eq!(
        (d.train().count(), d.test().count(), d.rows(), d.classes()),
        (5, 3, 4, 3)
    );

    // A second fetch finds them all and asks the server for nothing.
    let asked = server.requests().len();
    let again = fetch::fetch_spec(&spec, &dest, None).unwrap();
    assert!(again
        .files
        .iter()
        .all(|f| f.outcome == FetchOutcome::AlreadyPresent));
    assert_eq!(server.requests().len(), asked);
}

#[test]
fn falls_back_to_the_next_mirror_after_a_404() {
    let files = small_set();
    let server = Server::start(routes("good", &files));
    let spec = spec_for(&files, vec![server.mirror("gone"), server.mirror("good")]);
    let tmp = tempfile::tempdir().unwrap();
    let report = fetch::fetch_spec(&spec, tmp.path(), None).unwrap();
    for f in &report.files {
        assert!(
            matches!(&f.outcome, FetchOutcome::Downloaded { url, .. } if url.contains("/good/")),
            "{f:?}"
        );
    }
    let expected: Vec<String> = files
        .iter()
        .flat_map(|(n, _)| [format!("/gone/{n}"), format!("/good/{n}")])
        .collect();
    assert_eq!(server.requests(), expected);
}

#[test]
fn corrupt_download_fails_the_checksum_and_leaves_nothing() {
    let files = small_set();
    let mut served = routes("m", &files);
    // The server's copy of the test images is corrupt (one byte changed).
    let bad_name = &files[2].0;
    let mut corrupt = files[2].1.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    served.insert(format!("/m/{bad_name}"), ok(corrupt.clone()));
    let server = Server::start(served);
    let spec = spec_for(&files, vec![server.mirror("m")]);

    let tmp = tempfile::tempdir().unwrap();
    // Already there and good: the train images must survive untouched and not be re-fetched.
    let kept = tmp.path().join(&files[0].0);
    std::fs::write(&kept, &files[0].1).unwrap();

    let e = fetch::fetch_spec(&spec, tmp.path(), None).unwrap_err();
    match &e {
        DataError::Checksum {
            path,
            url,
            found,
            expected,
        } => {
            assert_eq!(path, &tmp.path().join(bad_name));
            assert!(url.ends_with(bad_name.as_str()));
            assert_eq!(found, &sha256(&corrupt));
            assert_eq!(expected, &vec![sha256(&files[2].1)]);
        }
        other => panic!("{other:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("SHA-256") && msg.contains("discarded"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));

    // No trace of the bad file, no temporary files; the good one is intact.
    assert!(!tmp.path().join(bad_name).exists());
    assert_eq!(
        dir_names(tmp.path()),
        [files[0].0.clone(), files[1].0.clone()]
    );
    assert_eq!(std::fs::read(&kept).unwrap(), files[0].1);
    assert!(!server.requests().iter().any(|p| p.ends_with(&files[0].0)));
}

#[test]
fn failed_download_never_destroys_an_existing_file() {
    // A stale local file with the wrong digest stays as it is when no mirror delivers.
    let files = small_set();
    let server = Server::start(HashMap::new()); // every path: 404
    let spec = spec_for(&files[..1], vec![server.mirror("a"), server.mirror("b")]);
    let tmp = tempfile::tempdir().unwrap();
    let stale = tmp.path().join(&files[0].0);
    std::fs::write(&stale, b"stale but mine").unwrap();
    let e = fetch::fetch_spec(&spec, tmp.path(), None).unwrap_err();
    match &e {
        DataError::Download { file, attempts, .. } => {
            assert_eq!(file, &files[0].0);
            assert_eq!(attempts.len(), 2);
            assert!(
                attempts.iter().all(|a| a.contains("HTTP 404")),
                "{attempts:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&stale).unwrap(), b"stale but mine");
    assert_eq!(dir_names(tmp.path()), [files[0].0.clone()]);
}

#[test]
fn a_wrong_mirror_then_a_good_one_succeeds() {
    // A checksum failure on one mirror is not fatal when the next has the right file.
    let files = small_set();
    let mut served = routes("good", &files);
    served.extend(
        files
            .iter()
            .map(|(n, _)| (format!("/evil/{n}"), ok(b"not the file".to_vec()))),
    );
    let server = Server::start(served);
    let spec = spec_for(&files, vec![server.mirror("evil"), server.mirror("good")]);
    let tmp = tempfile::tempdir().unwrap();
    fetch::fetch_spec(&spec, tmp.path(), None).unwrap();
    for (name, bytes) in &files {
        assert_eq!(&std::fs::read(tmp.path().join(name)).unwrap(), bytes);
    }
}

#[test]
fn unreachable_mirrors_say_so() {
    let files = small_set();
    let mirrors = vec![closed_port_url(), closed_port_url()];
    let spec = spec_for(&files, mirrors.clone());
    let tmp = tempfile::tempdir().unwrap();
    let e = fetch::fetch_spec(&spec, tmp.path(), None).unwrap_err();
    match &e {
        DataError::Unreachable { dataset, tried, .. } => {
            assert_eq!(dataset, "testset");
            // Stops at the first file: no point trying the others without a network.
            assert_eq!(tried.len(), 2);
            assert!(tried[0].starts_with(&mirrors[0]));
        }
        other => panic!("{other:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.starts_with("could not reach any mirror for testset (tried: http://127.0.0.1:"),
        "{msg}"
    );
    assert!(
        msg.contains("check your network") && msg.ends_with("pass data DIR"),
        "{msg}"
    );
    assert!(dir_names(tmp.path()).is_empty());
}

#[test]
fn oversized_bodies_are_refused() {
    let files = small_set();
    let name = files[1].0.clone();
    let big = vec![7u8; 10_000];
    let mut served = HashMap::new();
    // Announced too large: refused before reading.
    served.insert(format!("/announced/{name}"), ok(big.clone()));
    // No length announced: cut off once past the limit.
    served.insert(
        format!("/endless/{name}"),
        Reply {
            status: 200,
            body: Arc::new(big),
            with_length: false,
        },
    );
    let server = Server::start(served);
    let spec = spec_for(
        &files[1..2],
        vec![server.mirror("announced"), server.mirror("endless")],
    );
    let tmp = tempfile::tempdir().unwrap();
    let e = fetch::fetch_spec(&spec, tmp.path(), None).unwrap_err();
    match &e {
        DataError::Download { attempts, .. } => {
            assert_eq!(attempts.len(), 2, "{attempts:?}");
            assert!(attempts[0].contains("offers 10000 bytes"), "{attempts:?}");
            assert!(attempts[1].contains("more than the"), "{attempts:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(dir_names(tmp.path()).is_empty());
}

#[test]
fn no_mirrors_is_a_clear_error() {
    let files = small_set();
    let tmp = tempfile::tempdir().unwrap();
    let e = fetch::fetch_spec(&spec_for(&files, vec![]), tmp.path(), None).unwrap_err();
    assert!(e.to_string().contains("no mirrors configured"), "{e}");
}

/// The real MNIST files of this project, as a mirror would serve them.
fn shared_mnist() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/mnist"
    ));
    FetchSpec::known(KnownDataset::Mnist)
        .files
        .iter()
        .map(|f| {
            let p = dir.join(&f.name);
            let bytes = std::fs::read(&p)
                .unwrap_or_else(|e| panic!("MNIST expected at {}: {e}", p.display()));
            (f.name.clone(), bytes)
        })
        .collect()
}

#[test]
fn pinned_digests_match_the_files_on_this_machine() {
    for ds in KnownDataset::ALL {
        let spec = FetchSpec::known(ds);
        let names: Vec<String> = spec.files.iter().map(|f| f.name.clone()).collect();
        let canonical: Vec<String> = data::FILE_STEMS.iter().map(|s| format!("{s}.gz")).collect();
        assert_eq!(names, canonical);
        for f in &spec.files {
            assert!(f
                .sha256
                .iter()
                .all(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit())));
        }
        let local = match ds {
            KnownDataset::Mnist => PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/data/mnist"
            )),
            KnownDataset::FashionMnist => PathBuf::from("/usr/share/datasets/fashion-mnist"),
        };
        for f in &spec.files {
            let p = local.join(&f.name);
            let digest = fetch::sha256_file(&p).unwrap();
            assert!(f.sha256.contains(&digest), "{}: {digest}", p.display());
            assert!(std::fs::metadata(&p).unwrap().len() <= f.max_bytes);
        }
    }
    assert_eq!(fetch::builtin_mirrors(KnownDataset::Mnist).len(), 2);
    assert!(fetch::builtin_mirrors(KnownDataset::FashionMnist)
        .iter()
        .any(|m| m.contains("tf-keras-datasets")));
}

#[test]
fn missing_known_data_set_is_fetched_into_the_cache_then_loaded() {
    let files = shared_mnist();
    let server = Server::start(routes("mnist", &files));
    let tmp = tempfile::tempdir().unwrap();
    let search = Search {
        dirs: vec![tmp.path().join("nothing-here")],
        fetch_to: Some(tmp.path().join("cache/mnist")),
        mirrors: vec![server.mirror("mnist")],
    };

    // Offline: an error, and nothing asked of the server.
    let offline = LoadOptions {
        offline: true,
        progress: None,
        ..LoadOptions::default()
    };
    assert!(matches!(
        data::load_known(KnownDataset::Mnist, &search, &offline),
        Err(DataError::NotFound { .. })
    ));
    assert!(server.requests().is_empty());

    let d = data::load_known(KnownDataset::Mnist, &search, &LoadOptions::default()).unwrap();
    assert_eq!(d.dir(), tmp.path().join("cache/mnist"));
    assert_eq!(
        (d.name(), d.train().count(), d.test().count()),
        ("mnist", 60000, 10000)
    );
    assert_eq!(d.train().labels()[0], 5);
    assert_eq!(server.requests().len(), 4);

    // Found in the cache now: loaded without the network.
    let d = data::load_known(KnownDataset::Mnist, &search, &offline).unwrap();
    assert_eq!(d.test().count(), 10000);
}

#[test]
fn failed_auto_fetch_lists_the_places_and_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let search = Search {
        dirs: vec![tmp.path().join("a"), tmp.path().join("b")],
        fetch_to: Some(tmp.path().join("cache")),
        mirrors: vec![closed_port_url()],
    };
    let e =
        data::load_known(KnownDataset::FashionMnist, &search, &LoadOptions::default()).unwrap_err();
    match &e {
        DataError::NotFound {
            fetch_error: Some(inner),
            ..
        } => assert!(
            matches!(**inner, DataError::Unreachable { .. }),
            "{inner:?}"
        ),
        other => panic!("{other:?}"),
    }
    let msg = e.to_string();
    for p in &search.dirs {
        assert!(msg.contains(&p.display().to_string()), "{msg}");
    }
    assert!(
        msg.contains("could not reach any mirror for fashion-mnist"),
        "{msg}"
    );
    assert!(
        msg.contains("apt-get install dataset-fashion-mnist"),
        "{msg}"
    );
}

#[test]
fn fetches_started_together_download_each_file_once() {
    // Trials of a sweep starting at once on a fresh machine: one downloads, the others wait on
    // the folder's lock and then find the files. (Each fetch opens its own lock file, so threads
    // contend as processes do.)
    let (files, server, spec) = served_small_set("m");
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("cache").join("testset");
    let fetchers: Vec<_> = (0..4)
        .map(|_| {
            let (spec, dest) = (spec.clone(), dest.clone());
            std::thread::spawn(move || fetch::fetch_spec(&spec, &dest, None).unwrap())
        })
        .collect();
    let reports: Vec<_> = fetchers.into_iter().map(|f| f.join().unwrap()).collect();
    assert_eq!(
        server.requests().len(),
        files.len(),
        "{:?}",
        server.requests()
    );
    for (i, (name, bytes)) in files.iter().enumerate() {
        let downloads = reports
            .iter()
            .filter(|r| matches!(r.files[i].outcome, FetchOutcome::Downloaded { .. }))
            .count();
        assert_eq!(downloads, 1, "{name} downloaded {downloads} times");
        assert_eq!(&std::fs::read(dest.join(name)).unwrap(), bytes);
    }
    assert_eq!(
        dir_names(&dest),
        sorted_names(&files),
        "the folder holds the files only"
    );
    assert_eq!(
        dir_names(&tmp.path().join("cache")),
        [".testset.fetch-lock", "testset"]
    );
}
