//! A finished run stays resumable, and a resumed run writes only where its command says.

use crate::corpus::{quick, run, tiny_csv};
use support::succeeded;

#[test]
fn a_resume_with_nothing_to_do_leaves_the_file_and_extending_still_works() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = tiny_csv(dir.path(), "t.csv");
    let model = dir.path().join("ck.safetensors");
    let (data, model_arg) = (data.to_str().unwrap(), model.to_str().unwrap());
    let first = run(&quick(data, &["--epochs", "2", "--save", model_arg]), &[]);
    succeeded(&first, "the first run");
    let saved = std::fs::read(&model).unwrap();
    for call in 0..3 {
        let out = run(&["train", "--resume", model_arg], &[]);
        let stdout = succeeded(&out, "a resume with nothing to do");
        assert!(
            stdout.contains("nothing to do"),
            "call {call} does not say so:\n{stdout}"
        );
        assert!(
            std::fs::read(&model).unwrap() == saved,
            "call {call} rewrote {model_arg}"
        );
    }
    let out = run(&["train", "--resume", model_arg, "--epochs", "3"], &[]);
    let stdout = succeeded(&out, "extending the run");
    assert!(stdout.contains("resuming"), "{stdout}");
    let ckpt = gpu_mlp::checkpoint::load(&model).unwrap();
    let state = ckpt.resume.expect("the extended run stays resumable");
    assert_eq!(state.epochs_completed(), 3);
}

#[test]
fn a_resumed_copy_never_writes_to_the_paths_its_original_recorded() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = tiny_csv(dir.path(), "t.csv");
    let (original, copy) = (dir.path().join("exp1"), dir.path().join("exp2"));
    for d in [&original, &copy] {
        std::fs::create_dir(d).unwrap();
    }
    let model = original.join("ck.safetensors");
    let metrics = original.join("m.jsonl");
    let plot = original.join("p.png");
    let args = [
        "--epochs",
        "1",
        "--save",
        model.to_str().unwrap(),
        "--metrics-out",
        metrics.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ];
    succeeded(
        &run(&quick(data.to_str().unwrap(), &args), &[]),
        "the original run",
    );
    let before: Vec<Vec<u8>> = [&model, &metrics, &plot]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let copied = copy.join("ck.safetensors");
    std::fs::copy(&model, &copied).unwrap();
    let out = run(
        &[
            "train",
            "--resume",
            copied.to_str().unwrap(),
            "--epochs",
            "2",
        ],
        &[],
    );
    succeeded(&out, "resuming the copy");
    for (path, bytes) in [&model, &metrics, &plot].iter().zip(&before) {
        assert!(
            &std::fs::read(path).unwrap() == bytes,
            "resuming the copy wrote to {}",
            path.display()
        );
    }
    let resumed = gpu_mlp::checkpoint::load(&copied).unwrap();
    assert_eq!(resumed.resume.unwrap().epochs_completed(), 2);
}
