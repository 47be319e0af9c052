//! Finding data sets: where a known one is looked for and what is said when it is nowhere,
//! known names and sources, and the real MNIST and Fashion-MNIST files.

use crate::data::put;
use gpu_mlp::data::{self, DataError, DataSource, Dataset, KnownDataset, LoadOptions, Search};
use std::path::{Path, PathBuf};

#[test]
fn known_data_set_not_found_lists_every_place() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = ["a", "b/mnist", "c"]
        .iter()
        .map(|d| tmp.path().join(d))
        .collect();
    // A partial folder is not a data set (and not an error on its own).
    std::fs::create_dir_all(&dirs[1]).unwrap();
    put(&dirs[1], "train-images-idx3-ubyte.gz", b"");
    for ds in KnownDataset::ALL {
        let search = Search {
            dirs: dirs.clone(),
            fetch_to: Some(tmp.path().join("cache")),
            mirrors: vec!["http://127.0.0.1:9/".into()],
        };
        let offline = LoadOptions {
            offline: true,
            progress: None,
            ..LoadOptions::default()
        };
        let e = data::load_known(ds, &search, &offline).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::NotFound {
                    fetch_error: None,
                    ..
                }
            ),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(!msg.contains('\n'), "{msg}");
        for d in &dirs {
            assert!(msg.contains(&d.display().to_string()), "{d:?} in {msg}");
        }
        assert!(
            msg.contains(&format!("gpu-mlp fetch {}", ds.name())),
            "{msg}"
        );
        // The library's words for the setting; `gpu-mlp` says `--data DIR`.
        assert!(msg.contains("or pass data DIR"), "{msg}");
        assert_eq!(
            msg.contains("apt-get install dataset-fashion-mnist"),
            ds == KnownDataset::FashionMnist,
            "{msg}"
        );
        // Offline means offline: nothing was created where downloads go.
        assert!(!tmp.path().join("cache").exists());
    }
}

/// Set in the child process [`search_order_and_env_folder`] runs its checks in.
const CHILD: &str = "GPU_MLP_TEST_ENV_CHILD";

#[test]
fn search_order_and_env_folder() {
    // GPU_MLP_DATA is process-wide, and the other tests of this binary run in parallel threads
    // (some load data, some open a Vulkan driver that reads the environment from C), so the
    // variable is changed only in a child process of this binary running this test alone.
    if std::env::var_os(CHILD).is_none() {
        let name = support::test_name(concat!(module_path!(), "::search_order_and_env_folder"));
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{shown}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            shown.contains("1 passed"),
            "the child ran no test:\n{shown}"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("datasets");
    std::env::set_var(data::DATA_ENV, &root);
    let mnist = data::search_dirs(KnownDataset::Mnist);
    let fashion = data::search_dirs(KnownDataset::FashionMnist);
    let named = tmp.path().join("mnist");
    std::env::set_var(data::DATA_ENV, &named);
    let fashion_named = data::search_dirs(KnownDataset::FashionMnist);
    let mnist_named = data::search_dirs(KnownDataset::Mnist);
    std::env::remove_var(data::DATA_ENV);
    let plain = data::search_dirs(KnownDataset::Mnist);

    let cwd = std::env::current_dir().unwrap();
    assert_eq!(mnist[0], root.join("mnist"));
    assert_eq!(mnist[1], root);
    assert_eq!(mnist[2], cwd.join("data").join("mnist"));
    if let Some(cache) = data::cache_dir(KnownDataset::Mnist) {
        assert!(cache.ends_with("gpu-mlp/mnist"));
        assert_eq!(mnist[3], cache);
    }
    assert_eq!(fashion[0], root.join("fashion-mnist"));
    assert_eq!(
        fashion.last().unwrap(),
        Path::new("/usr/share/datasets/fashion-mnist")
    );
    assert!(!mnist.iter().any(|d| d.starts_with("/usr/share")));
    // GPU_MLP_DATA=.../mnist is MNIST's folder, never Fashion-MNIST's.
    assert!(!fashion_named.contains(&named), "{fashion_named:?}");
    assert!(mnist_named.contains(&named));
    assert_eq!(plain, mnist[2..].to_vec());
}

#[test]
fn known_names_and_sources() {
    assert_eq!(
        KnownDataset::from_name("mnist").unwrap(),
        KnownDataset::Mnist
    );
    for n in ["fashion-mnist", "Fashion_MNIST", "fashionmnist"] {
        assert_eq!(
            n.parse::<KnownDataset>().unwrap(),
            KnownDataset::FashionMnist
        );
    }
    let e = KnownDataset::from_name("cifar10").unwrap_err();
    assert!(matches!(e, DataError::UnknownDataset { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("cifar10") && msg.contains("mnist, fashion-mnist"),
        "{msg}"
    );
    assert_eq!(KnownDataset::Mnist.class_names().len(), 10);
    assert_eq!(KnownDataset::FashionMnist.class_names()[9], "Ankle boot");

    assert_eq!(
        DataSource::choose(None, None).unwrap(),
        DataSource::Known(KnownDataset::Mnist)
    );
    assert_eq!(
        DataSource::choose(Some("fashion-mnist"), Some(Path::new("d"))).unwrap(),
        DataSource::Path {
            path: "d".into(),
            hint: Some(KnownDataset::FashionMnist)
        }
    );
    assert!(DataSource::choose(Some("nope"), None).is_err());
}

/// The folder of a real data set, which must be on this machine (`where_from` says how).
fn real_data_dir<'a>(name: &str, path: &'a str, where_from: &str) -> &'a Path {
    let dir = Path::new(path);
    assert!(dir.is_dir(), "{name} is expected at {path}{where_from}");
    dir
}

/// How many training images each of the ten classes has.
fn train_class_counts(d: &Dataset) -> [usize; 10] {
    let mut counts = [0usize; 10];
    d.train()
        .labels()
        .iter()
        .for_each(|&l| counts[l as usize] += 1);
    counts
}

#[test]
fn real_mnist() {
    let dir = real_data_dir(
        "MNIST",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/mnist"),
        " (relative to the crate root)",
    );
    let d = data::load(
        &DataSource::Dir {
            dir: dir.into(),
            hint: None,
        },
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(d.name(), "mnist");
    assert_eq!((d.rows(), d.cols()), (28, 28));
    assert_eq!((d.train().count(), d.test().count()), (60000, 10000));
    assert_eq!(
        (d.train().inputs().len(), d.test().inputs().len()),
        (47_040_000, 7_840_000)
    );
    assert_eq!(d.train().labels()[0], 5);
    assert_eq!(d.test().labels()[0], 7);
    assert_eq!(d.classes(), 10);
    // Every class is present, roughly balanced.
    let hist = train_class_counts(&d);
    assert!(hist.iter().all(|&c| (5000..7000).contains(&c)), "{hist:?}");
}

#[test]
fn real_fashion_mnist() {
    let dir = real_data_dir(
        "Fashion-MNIST",
        "/usr/share/datasets/fashion-mnist",
        ": apt-get install dataset-fashion-mnist",
    );
    let d = data::load_dir(dir, None).unwrap();
    assert_eq!(d.name(), "fashion-mnist");
    assert_eq!(d.class_names()[0], "T-shirt/top");
    assert_eq!((d.rows(), d.cols()), (28, 28));
    assert_eq!((d.train().count(), d.test().count()), (60000, 10000));
    assert_eq!(d.train().labels()[0], 9);
    assert_eq!(train_class_counts(&d), [6000; 10]);
}
