//! Writing a checkpoint: the layers in PyTorch's layout, the training state's and scaling's
//! extra tensors, and the header map, as canonical safetensors bytes.

use super::*;

/// The file's bytes: tensors in PyTorch layout plus the header map.
pub fn to_bytes(ckpt: &Checkpoint) -> Result<Vec<u8>, String> {
    ckpt.validate()?;
    // Little-endian f32 bytes, kept alive for the views.
    let mut buffers = layer_tensors(&ckpt.spec, &ckpt.parameters, None);
    let mut header = header(ckpt);
    if let Some(state) = &ckpt.resume {
        if let Some(m) = &state.moments {
            buffers.extend(layer_tensors(&ckpt.spec, &m.moment1, Some(resume::MOMENT1)));
            buffers.extend(layer_tensors(&ckpt.spec, &m.moment2, Some(resume::MOMENT2)));
        }
        if let Some(best) = &state.best_parameters {
            buffers.extend(layer_tensors(&ckpt.spec, best, Some(resume::BEST)));
        }
        if let Some(last) = &state.parameters {
            buffers.extend(layer_tensors(&ckpt.spec, last, Some(resume::TRAINING)));
        }
        header.insert(keys::RESUME.to_string(), state.to_json()?);
    }
    if let Scaling::Standardize { mean, std } = &ckpt.scaling {
        for (name, values) in [(SCALING_MEAN, mean), (SCALING_STD, std)] {
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            buffers.push((name.to_string(), vec![values.len()], bytes));
        }
    }
    let views = buffers
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    let bytes = safetensors::serialize(views, Some(header)).map_err(|e| e.to_string())?;
    canonical(&bytes)
}

/// `values` (in the flat layout of `spec`'s parameters) as named tensors in PyTorch layout:
/// `layers.{i}.weight` `[out, in]` (transposed) and `layers.{i}.bias` `[out]`, the names inside
/// `group`'s when given.
pub(super) fn layer_tensors(
    spec: &ModelSpec,
    values: &[f32],
    group: Option<TensorGroup>,
) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    let name = |base: String| group.map_or_else(|| base.clone(), |g| g.name(&base));
    let mut buffers = Vec::new();
    for (i, layer) in spec.layers().iter().enumerate() {
        let w = layer.weights(values);
        let mut bytes = Vec::with_capacity(4 * w.len());
        for o in 0..layer.fan_out {
            for k in 0..layer.fan_in {
                bytes.extend_from_slice(&w[k * layer.fan_out + o].to_le_bytes());
            }
        }
        buffers.push((
            name(format!("layers.{i}.weight")),
            vec![layer.fan_out, layer.fan_in],
            bytes,
        ));
        let b: Vec<u8> = layer
            .bias(values)
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        buffers.push((name(format!("layers.{i}.bias")), vec![layer.fan_out], b));
    }
    buffers
}

/// The same file with its JSON header's keys sorted. `safetensors::serialize` takes the header
/// map as a `HashMap`, whose order changes from run to run; sorted, the same model always gives
/// the same bytes (so files can be compared and hashed). Offsets are relative to the data, which
/// does not move, so only the header length changes.
pub(super) fn canonical(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let n = u64::from_le_bytes(bytes[..8].try_into().map_err(|_| "short file")?) as usize;
    let header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).map_err(|e| e.to_string())?;
    let sorted: BTreeMap<&String, serde_json::Value> = header
        .iter()
        .map(|(k, v)| {
            let v = match v.as_object() {
                // `__metadata__`: a string map; re-collect it sorted.
                Some(map) => serde_json::to_value(map.iter().collect::<BTreeMap<_, _>>())
                    .map_err(|e| e.to_string())?,
                None => v.clone(),
            };
            Ok((k, v))
        })
        .collect::<Result<_, String>>()?;
    let mut text = serde_json::to_vec(&sorted).map_err(|e| e.to_string())?;
    // The format pads the header with spaces to a multiple of 8 bytes.
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + text.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + n..]);
    Ok(out)
}

/// The version a model needs its reader to know: 1 for grey pixels (as every version reads
/// them), 2 for colour, tables and other scalings.
pub(super) fn format_version(ckpt: &Checkpoint) -> u32 {
    if ckpt.channels == 1 && ckpt.scaling == Scaling::Pixels && ckpt.is_image() {
        1
    } else {
        FORMAT_VERSION
    }
}

/// The header's string map: the free-form metadata, then the format's own keys over it.
pub(super) fn header(ckpt: &Checkpoint) -> HashMap<String, String> {
    let mut map: HashMap<String, String> = ckpt
        .metadata
        .iter()
        .filter(|(k, _)| !keys::RESERVED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let spec = &ckpt.spec;
    let hidden: Vec<String> = spec.hidden.iter().map(|h| h.to_string()).collect();
    let widths: Vec<String> = spec.widths().iter().map(|w| w.to_string()).collect();
    let class_names =
        serde_json::to_string(&ckpt.class_names).expect("a list of strings serialises to JSON");
    for (key, value) in [
        (keys::FORMAT, FORMAT.to_string()),
        (keys::FORMAT_VERSION, format_version(ckpt).to_string()),
        (keys::GPU_MLP_VERSION, env!("CARGO_PKG_VERSION").to_string()),
        (keys::ARCHITECTURE, format!("mlp {}", widths.join("-"))),
        (keys::INPUTS, spec.inputs.to_string()),
        (keys::HIDDEN, hidden.join(",")),
        (keys::CLASSES, spec.classes.to_string()),
        (keys::ACTIVATION, "relu".to_string()),
        (
            keys::OUTPUT,
            "logits (softmax gives probabilities)".to_string(),
        ),
        (keys::DROPOUT, spec.dropout.to_string()),
        (keys::DATASET, ckpt.dataset.clone()),
        (keys::CLASS_NAMES, class_names),
        (keys::INPUT_ROWS, ckpt.rows.to_string()),
        (keys::INPUT_COLS, ckpt.cols.to_string()),
        (keys::INPUT_CHANNELS, ckpt.channels.to_string()),
        (keys::SOURCE, ckpt.source.name().to_string()),
        (keys::SCALE, ckpt.scaling.name().to_string()),
    ] {
        map.insert(key.to_string(), value);
    }
    if !ckpt.feature_names.is_empty() {
        let names = serde_json::to_string(&ckpt.feature_names)
            .expect("a list of strings serialises to JSON");
        map.insert(keys::FEATURE_NAMES.to_string(), names);
    }
    // Pixel models say how a pixel becomes an input, for readers that predate `scale`.
    if ckpt.scaling == Scaling::Pixels {
        let layout = match (ckpt.source, ckpt.channels) {
            (SourceKind::Idx, 1) => {
                "row-major, 0 = background, 255 = ink (white digit on black, as in MNIST)"
            }
            (_, 3) => "row-major, RGB interleaved (r, g, b of each pixel in turn)",
            _ => "row-major, one grey value per pixel",
        };
        map.insert(
            keys::PIXEL_NORMALISATION.to_string(),
            PIXEL_NORMALISATION.to_string(),
        );
        map.insert(keys::PIXEL_LAYOUT.to_string(), layout.to_string());
    }
    map
}
