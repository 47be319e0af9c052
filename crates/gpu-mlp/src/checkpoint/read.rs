//! Reading a checkpoint: every tensor and header key checked, the architecture from the
//! tensors' shapes, the scaling and the training state from their extra tensors.

use super::*;

/// How many bytes of tensor data a safetensors header describes (the largest end offset).
pub(super) fn tensor_bytes(header: &[u8]) -> std::result::Result<u64, String> {
    let entries: HashMap<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| e.to_string())?;
    let mut end = 0u64;
    for (name, entry) in &entries {
        if name == "__metadata__" {
            continue;
        }
        let offsets = entry
            .get("data_offsets")
            .and_then(|v| v.as_array())
            .filter(|a| a.len() == 2)
            .and_then(|a| Some((a[0].as_u64()?, a[1].as_u64()?)))
            .ok_or_else(|| format!("tensor '{name}' has no valid data_offsets"))?;
        if offsets.0 > offsets.1 {
            return Err(format!("tensor '{name}' ends before it starts"));
        }
        end = end.max(offsets.1);
    }
    Ok(end)
}

/// Parses a checkpoint from memory; `path` names it in errors. Files without gpu-mlp's header
/// (e.g. a PyTorch `state_dict` saved with safetensors) load too: the architecture comes from
/// the tensor shapes, class names default to `0..n`, and a square input is assumed.
pub fn from_bytes(bytes: &[u8], path: impl AsRef<Path>) -> Result<Checkpoint> {
    let path = path.as_ref();
    let corrupt = |problem: String| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        problem,
    };
    let invalid = |problem: String| -> Error {
        CheckpointError::Invalid {
            path: path.to_path_buf(),
            problem,
        }
        .into()
    };
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| corrupt(e.to_string()))?;
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
    let mut header: BTreeMap<String, String> = meta
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();

    if let Some(v) = header.get(keys::FORMAT_VERSION) {
        match v.parse::<u32>() {
            Ok(n) if n <= FORMAT_VERSION => {}
            _ => {
                return Err(invalid(format!(
                    "format version '{v}' is newer than this gpu-mlp reads ({FORMAT_VERSION}); \
                     update gpu-mlp"
                )));
            }
        }
    }
    for (key, wanted) in [
        (keys::PIXEL_NORMALISATION, PIXEL_NORMALISATION),
        (keys::ACTIVATION, "relu"),
    ] {
        if let Some(v) = header.get(key) {
            if v != wanted {
                return Err(invalid(format!(
                    "{key} is '{v}'; gpu-mlp only runs '{wanted}'"
                )));
            }
        }
    }

    // The architecture is what the tensors say; the header, where present, must agree.
    let mut widths: Vec<usize> = Vec::new();
    let mut parameters: Vec<f32> = Vec::new();
    let mut layer_values: Vec<(Vec<f32>, Vec<f32>)> = Vec::new();
    for i in 0.. {
        let weight_name = format!("layers.{i}.weight");
        let bias_name = format!("layers.{i}.bias");
        let weight = match tensors.tensor(&weight_name) {
            Ok(t) => t,
            Err(_) if i > 0 => break,
            Err(_) => {
                return Err(invalid(
                    "it holds no tensor 'layers.0.weight'; gpu-mlp reads MLPs saved as \
                     layers.{i}.weight [out, in] and layers.{i}.bias [out]"
                        .to_string(),
                ));
            }
        };
        let bias = tensors
            .tensor(&bias_name)
            .map_err(|_| invalid(format!("'{weight_name}' has no '{bias_name}'")))?;
        for (name, t) in [(&weight_name, &weight), (&bias_name, &bias)] {
            if t.dtype() != Dtype::F32 {
                return Err(invalid(format!(
                    "'{name}' is {:?}; gpu-mlp reads F32 tensors",
                    t.dtype()
                )));
            }
        }
        let (out, fan_in) = match *weight.shape() {
            [out, fan_in] if out > 0 && fan_in > 0 => (out, fan_in),
            ref s => {
                return Err(invalid(format!(
                    "'{weight_name}' has shape {s:?}; expected [out, in]"
                )));
            }
        };
        if bias.shape() != [out] {
            return Err(invalid(format!(
                "'{bias_name}' has shape {:?}; expected [{out}] to match '{weight_name}' {:?}",
                bias.shape(),
                weight.shape()
            )));
        }
        match widths.last() {
            None => widths.push(fan_in),
            Some(&prev) if prev != fan_in => {
                return Err(invalid(format!(
                    "'{weight_name}' takes {fan_in} inputs but layer {} gives {prev}",
                    i - 1
                )));
            }
            Some(_) => {}
        }
        widths.push(out);
        layer_values.push((f32s(weight.data()), f32s(bias.data())));
    }
    let inputs = widths[0];
    let classes = widths[widths.len() - 1];
    let hidden = widths[1..widths.len() - 1].to_vec();
    let hidden_text = hidden
        .iter()
        .map(|h| h.to_string())
        .collect::<Vec<_>>()
        .join(",");
    for (key, from_tensors) in [
        (keys::INPUTS, inputs.to_string()),
        (keys::CLASSES, classes.to_string()),
        (keys::HIDDEN, hidden_text),
    ] {
        if let Some(v) = header.get(key) {
            if v.replace(' ', "") != from_tensors {
                return Err(invalid(format!(
                    "the header says {key}={v} but the tensors say {from_tensors}"
                )));
            }
        }
    }
    let dropout = match header.get(keys::DROPOUT) {
        Some(v) => v
            .parse::<f32>()
            .map_err(|_| invalid(format!("dropout '{v}' is not a number")))?,
        None => 0.0,
    };
    let spec =
        ModelSpec::new(inputs, hidden, classes, dropout).map_err(|e| invalid(e.to_string()))?;
    let resume = resume_state(&tensors, &spec, header.get(keys::RESUME)).map_err(invalid)?;

    let class_names = match header.get(keys::CLASS_NAMES) {
        Some(v) => {
            let names: Vec<String> = serde_json::from_str(v)
                .map_err(|e| invalid(format!("class_names is not a JSON list of strings ({e})")))?;
            if names.len() != classes {
                return Err(invalid(format!(
                    "{} class names for {classes} classes",
                    names.len()
                )));
            }
            names
        }
        None => (0..classes).map(|c| c.to_string()).collect(),
    };
    // Recorded since column names are matched; older files (and images) have none.
    let feature_names: Vec<String> = match header.get(keys::FEATURE_NAMES) {
        Some(v) => serde_json::from_str(v)
            .map_err(|e| invalid(format!("feature_names is not a JSON list of strings ({e})")))?,
        None => Vec::new(),
    };
    let parse_dim = |key: &str| -> Result<Option<usize>> {
        header
            .get(key)
            .map(|v| {
                v.parse::<usize>()
                    .map_err(|_| invalid(format!("{key} '{v}' is not a size")))
            })
            .transpose()
    };
    // Files from before channels were recorded hold grey images.
    let channels = parse_dim(keys::INPUT_CHANNELS)?.unwrap_or(1);
    if !matches!(channels, 1 | 3) {
        return Err(invalid(format!(
            "input_channels '{channels}' is neither 1 (grey) nor 3 (RGB)"
        )));
    }
    let (rows, cols) = match (parse_dim(keys::INPUT_ROWS)?, parse_dim(keys::INPUT_COLS)?) {
        (Some(r), Some(c)) => (r, c),
        _ => {
            let pixels = inputs / channels;
            let side = (pixels as f64).sqrt().round() as usize;
            if side * side == pixels {
                (side, side)
            } else {
                (1, pixels)
            }
        }
    };
    if rows.checked_mul(cols).and_then(|p| p.checked_mul(channels)) != Some(inputs) {
        return Err(invalid(format!(
            "input shape {rows}x{cols}x{channels} does not give the {inputs} inputs of \
             layers.0.weight"
        )));
    }
    let source = match header.get(keys::SOURCE) {
        Some(v) => SourceKind::from_name(v)
            .ok_or_else(|| invalid(format!("source '{v}' is not a kind gpu-mlp knows")))?,
        None => SourceKind::Idx,
    };
    let scaling = read_scaling(&tensors, header.get(keys::SCALE), inputs).map_err(invalid)?;
    if scaling != Scaling::Pixels && header.contains_key(keys::PIXEL_NORMALISATION) {
        return Err(invalid(format!(
            "the header says both scale={} and pixel_normalisation",
            scaling.name()
        )));
    }

    parameters.reserve(spec.parameter_count());
    for (layer, (weight, bias)) in spec.layers().iter().zip(&layer_values) {
        // [out, in] in the file, [in, out] in memory.
        for k in 0..layer.fan_in {
            for o in 0..layer.fan_out {
                parameters.push(weight[o * layer.fan_in + k]);
            }
        }
        parameters.extend_from_slice(bias);
    }
    let dataset = header
        .get(keys::DATASET)
        .cloned()
        .unwrap_or_else(|| "unknown".to_string());
    header.retain(|k, _| !keys::RESERVED.contains(&k.as_str()));
    let ckpt = Checkpoint {
        spec,
        parameters,
        class_names,
        feature_names,
        dataset,
        rows,
        cols,
        channels,
        source,
        scaling,
        metadata: header,
        resume,
    };
    ckpt.validate().map_err(invalid)?;
    Ok(ckpt)
}

/// The scaling a file records: the `scale` key (absent in older files, whose inputs were
/// pixels) and, for `standardize`, the `[inputs]` F32 tensors `scaling.mean` and `scaling.std`,
/// which no other scaling may carry.
pub(super) fn read_scaling(
    tensors: &SafeTensors,
    scale: Option<&String>,
    inputs: usize,
) -> Result<Scaling, String> {
    let vector = |name: &str| -> Result<Option<Vec<f32>>, String> {
        let Ok(t) = tensors.tensor(name) else {
            return Ok(None);
        };
        if t.dtype() != Dtype::F32 || t.shape() != [inputs] {
            return Err(format!(
                "'{name}' is {:?} {:?}; expected F32 [{inputs}], one value per input",
                t.dtype(),
                t.shape()
            ));
        }
        Ok(Some(f32s(t.data())))
    };
    let (mean, std) = (vector(SCALING_MEAN)?, vector(SCALING_STD)?);
    let scaling = match scale.map(String::as_str) {
        None | Some("pixels") => Scaling::Pixels,
        Some("none") => Scaling::None,
        Some("standardize") => {
            return match (mean, std) {
                (Some(mean), Some(std)) => Ok(Scaling::Standardize { mean, std }),
                _ => Err(format!(
                    "scale is 'standardize' but the tensors '{SCALING_MEAN}' and \
                     '{SCALING_STD}' are not both there"
                )),
            };
        }
        Some(other) => {
            return Err(format!(
                "scale '{other}' is not one gpu-mlp knows (pixels, standardize, none)"
            ));
        }
    };
    if mean.is_some() || std.is_some() {
        return Err(format!(
            "the file holds standardisation tensors but its scale is '{}'",
            scaling.name()
        ));
    }
    Ok(scaling)
}

/// The training state of a file: its `resume` header text with the extra tensors it goes with.
/// Any tensor besides `spec`'s layers, the scaling's and the known training-state groups is
/// refused, as are
/// training-state tensors without the header text.
pub(super) fn resume_state(
    tensors: &SafeTensors,
    spec: &ModelSpec,
    text: Option<&String>,
) -> std::result::Result<Option<ResumeState>, String> {
    let groups = [
        resume::MOMENT1,
        resume::MOMENT2,
        resume::BEST,
        resume::TRAINING,
    ];
    let [moment1, moment2, best, last] = groups.map(|g| read_group(tensors, spec, g));
    let (moment1, moment2, best, last) = (moment1?, moment2?, best?, last?);
    let layers = spec.layers().len();
    let present = [
        moment1.is_some(),
        moment2.is_some(),
        best.is_some(),
        last.is_some(),
    ];
    // A standardised model's scaling tensors are read (and checked) by `read_scaling`.
    let scaling = [SCALING_MEAN, SCALING_STD];
    let scaling_present = scaling.iter().filter(|n| tensors.tensor(n).is_ok()).count();
    let expected = 2 * layers * (1 + present.iter().filter(|p| **p).count()) + scaling_present;
    if tensors.len() != expected {
        let known: Vec<String> = (0..layers)
            .flat_map(|i| [format!("layers.{i}.weight"), format!("layers.{i}.bias")])
            .flat_map(|base| {
                let grouped = groups.map(|g| g.name(&base));
                std::iter::once(base).chain(grouped)
            })
            .chain(scaling.map(String::from))
            .collect();
        let mut extra: Vec<&str> = tensors
            .names()
            .into_iter()
            .filter(|n| !known.iter().any(|k| k == *n))
            .collect();
        extra.sort_unstable();
        return Err(format!(
            "unexpected tensors {extra:?} besides layers.0..{layers}, the scaling's \
             scaling.mean/std and the training state's optimizer.layers.*, \
             early_stopping.best.layers.* and training.layers.*"
        ));
    }
    let moments = match (moment1, moment2) {
        (Some(moment1), Some(moment2)) => Some(OptimizerState { moment1, moment2 }),
        (None, None) => None,
        _ => return Err("it holds one of Adam's two moments without the other".to_string()),
    };
    match text {
        Some(text) => ResumeState::from_json(text, moments, best, last).map(Some),
        None if present.contains(&true) => Err(format!(
            "it holds training-state tensors but no '{}' header key",
            keys::RESUME
        )),
        None => Ok(None),
    }
}

/// Little-endian f32 values of a tensor's bytes (which need not be aligned).
pub(super) fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// `group`'s tensors for `spec`'s layers in the flat layout (the inverse of [`layer_tensors`]):
/// none when the file has none of them; an error when it has some, or one of the wrong shape.
pub(super) fn read_group(
    tensors: &SafeTensors,
    spec: &ModelSpec,
    group: TensorGroup,
) -> Result<Option<Vec<f32>>, String> {
    let mut values = Vec::with_capacity(spec.parameter_count());
    let mut found = 0;
    let layers = spec.layers();
    for (i, layer) in layers.iter().enumerate() {
        for (base, shape) in [
            (
                format!("layers.{i}.weight"),
                vec![layer.fan_out, layer.fan_in],
            ),
            (format!("layers.{i}.bias"), vec![layer.fan_out]),
        ] {
            let name = group.name(&base);
            let Ok(t) = tensors.tensor(&name) else {
                continue;
            };
            if t.dtype() != Dtype::F32 || t.shape() != shape.as_slice() {
                return Err(format!(
                    "'{name}' is {:?} {:?}; expected F32 {shape:?} as '{base}'",
                    t.dtype(),
                    t.shape()
                ));
            }
            let v = f32s(t.data());
            if shape.len() == 2 {
                // [out, in] in the file, [in, out] in memory.
                for k in 0..layer.fan_in {
                    values.extend((0..layer.fan_out).map(|o| v[o * layer.fan_in + k]));
                }
            } else {
                values.extend_from_slice(&v);
            }
            found += 1;
        }
    }
    match found {
        0 => Ok(None),
        n if n == 2 * layers.len() => Ok(Some(values)),
        n => Err(format!(
            "it holds {n} of the {} tensors '{}layers.*{}'",
            2 * layers.len(),
            group.prefix,
            group.suffix
        )),
    }
}
