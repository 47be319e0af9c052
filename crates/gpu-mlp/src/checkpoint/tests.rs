use super::*;

fn small() -> Checkpoint {
    let spec = ModelSpec::new(6, vec![4, 3], 2, 0.25).unwrap();
    let parameters = (0..spec.parameter_count())
        .map(|i| i as f32 * 0.5 - 7.0)
        .collect();
    Checkpoint {
        spec,
        parameters,
        class_names: vec!["cat".into(), "dog \"quoted\"".into()],
        feature_names: Vec::new(),
        dataset: "pets".into(),
        rows: 2,
        cols: 3,
        channels: 1,
        source: SourceKind::Idx,
        scaling: Scaling::Pixels,
        metadata: BTreeMap::from([("epochs".to_string(), "3".to_string())]),
        resume: None,
    }
}

#[test]
fn bytes_round_trip_exactly() {
    let ckpt = small();
    let bytes = to_bytes(&ckpt).unwrap();
    let back = from_bytes(&bytes, Path::new("x")).unwrap();
    let mut expected = ckpt.clone();
    expected.metadata.insert(
        keys::GPU_MLP_VERSION.into(),
        env!("CARGO_PKG_VERSION").into(),
    );
    assert_eq!(back, expected);
    // A table's column names travel too.
    let mut table = small();
    table.feature_names = (0..6).map(|i| format!("f{i}")).collect();
    let back = from_bytes(&to_bytes(&table).unwrap(), Path::new("x")).unwrap();
    assert_eq!(back.feature_names, table.feature_names);
}

#[test]
fn the_same_model_always_gives_the_same_bytes() {
    let first = to_bytes(&small()).unwrap();
    for _ in 0..5 {
        assert_eq!(to_bytes(&small()).unwrap(), first);
    }
    let text = String::from_utf8_lossy(&first[8..200]).into_owned();
    assert!(
        text.starts_with("{\"__metadata__\":{\"activation\""),
        "{text}"
    );
}

/// `small()` with a training state: moments, best parameters and two epochs of history.
fn resumable() -> Checkpoint {
    let mut ckpt = small();
    let n = ckpt.parameters.len();
    let values = |scale: f32| (0..n).map(|i| i as f32 * scale).collect::<Vec<f32>>();
    let record = |epoch| crate::training::EpochRecord {
        epoch,
        loss: 0.1 + 1.0 / 3.0,
        accuracy: 2.0 / 3.0,
        validation: Some((0.7, 0.25)),
        seconds: 1.5,
        samples_per_second: 1e5 / 3.0,
        learning_rate: Some(1e-3 / 7.0),
        best: epoch == 1,
    };
    ckpt.resume = Some(ResumeState {
        settings: serde_json::from_str(r#"{"lr": 0.001, "hidden": [4, 3]}"#).unwrap(),
        history: vec![record(1), record(2)],
        loss_ceiling: Some(230.1),
        watch: Some(resume::WatchState {
            best_epoch: Some(1),
            best: Some(0.7),
            wait: 1,
        }),
        best_parameters: Some(values(-0.25)),
        moments: Some(OptimizerState {
            moment1: values(1e-3),
            moment2: values(1e-7),
        }),
        parameters: Some(values(0.125)),
        data_digest: Some(a_digest()),
    });
    ckpt
}

#[test]
fn the_training_state_round_trips_exactly() {
    let ckpt = resumable();
    let bytes = to_bytes(&ckpt).unwrap();
    assert_eq!(to_bytes(&ckpt).unwrap(), bytes, "the same bytes every time");
    let back = from_bytes(&bytes, Path::new("x")).unwrap();
    assert_eq!(back.resume, ckpt.resume);
    assert_eq!(back.parameters, ckpt.parameters);
    assert!(!back.metadata.contains_key(keys::RESUME));
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let text = String::from_utf8_lossy(&bytes[8..8 + header_len]).into_owned();
    for name in [
        "optimizer.layers.0.weight.m",
        "optimizer.layers.2.bias.v",
        "early_stopping.best.layers.1.weight",
        "training.layers.0.bias",
    ] {
        assert!(text.contains(&format!("\"{name}\"")), "{name} in {text}");
    }
}

#[test]
fn a_standardised_training_checkpoint_keeps_its_scaling_and_its_state() {
    let mut ckpt = resumable();
    ckpt.source = SourceKind::Csv;
    ckpt.scaling = Scaling::Standardize {
        mean: (0..6).map(|i| i as f32 * 0.25).collect(),
        std: vec![1.5, 0.0, 2.0, 1.0, 0.5, 3.0],
    };
    let back = from_bytes(&to_bytes(&ckpt).unwrap(), Path::new("x")).unwrap();
    assert_eq!(back.scaling, ckpt.scaling);
    assert_eq!(back.resume, ckpt.resume);
}

/// `ckpt`'s bytes with the tensors `keep` accepts, plus `extra` ones (name, shape).
fn rewritten(
    ckpt: &Checkpoint,
    keep: impl Fn(&str) -> bool,
    extra: &[(&str, &[usize])],
) -> Vec<u8> {
    let bytes = to_bytes(ckpt).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let zeros: Vec<Vec<u8>> = extra
        .iter()
        .map(|(_, shape)| vec![0u8; 4 * shape.iter().product::<usize>()])
        .collect();
    let mut views: Vec<(String, TensorView)> = file
        .tensors()
        .into_iter()
        .filter(|(name, _)| keep(name))
        .collect();
    for ((name, shape), data) in extra.iter().zip(&zeros) {
        views.push((
            name.to_string(),
            TensorView::new(Dtype::F32, shape.to_vec(), data).unwrap(),
        ));
    }
    safetensors::serialize(views, meta.metadata().clone()).unwrap()
}

#[test]
fn only_whole_known_training_state_groups_load() {
    let refused = |bytes: Vec<u8>| from_bytes(&bytes, Path::new("x")).unwrap_err().to_string();
    let ckpt = resumable();
    let err = refused(rewritten(&ckpt, |_| true, &[("optimizer.extra", &[2])]));
    assert!(
        err.contains("unexpected tensors [\"optimizer.extra\"]"),
        "{err}"
    );
    let err = refused(rewritten(&ckpt, |n| n != "optimizer.layers.1.bias.v", &[]));
    assert!(
        err.contains("5 of the 6 tensors 'optimizer.layers.*.v'"),
        "{err}"
    );
    let err = refused(rewritten(&ckpt, |n| !n.ends_with(".v"), &[]));
    assert!(err.contains("one of Adam's two moments"), "{err}");
    let err = refused(rewritten(
        &ckpt,
        |n| n != "optimizer.layers.0.weight.m",
        &[("optimizer.layers.0.weight.m", &[6, 4])],
    ));
    assert!(err.contains("expected F32 [4, 6]"), "{err}");
    // Training-state tensors need the header's state.
    let bytes = to_bytes(&ckpt).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut header = meta.metadata().clone().unwrap();
    header.remove(keys::RESUME);
    let stateless = safetensors::serialize(file.tensors(), Some(header)).unwrap();
    let err = refused(stateless);
    assert!(
        err.contains("training-state tensors but no 'resume'"),
        "{err}"
    );
    let moments_only = rewritten(&ckpt, |n| !n.starts_with("early_stopping."), &[]);
    let back = from_bytes(&moments_only, Path::new("x")).unwrap();
    assert!(back.resume.unwrap().best_parameters.is_none());
}

#[test]
fn inconsistent_checkpoints_are_not_written() {
    let mut ckpt = small();
    ckpt.parameters.pop();
    assert!(to_bytes(&ckpt).unwrap_err().contains("parameters"));
    let mut ckpt = small();
    ckpt.class_names.push("cow".into());
    assert!(to_bytes(&ckpt).unwrap_err().contains("class names"));
    let mut ckpt = small();
    ckpt.feature_names = vec!["a".into()];
    assert!(to_bytes(&ckpt).unwrap_err().contains("feature names"));
    let mut ckpt = small();
    ckpt.parameters[3] = f32::NAN;
    assert!(to_bytes(&ckpt).unwrap_err().contains("NaN"));
}

fn a_digest() -> crate::data::DataDigest {
    crate::data::DataDigest {
        samples: 3,
        bytes: 12,
        hash: "0123456789abcdef".to_string(),
    }
}
