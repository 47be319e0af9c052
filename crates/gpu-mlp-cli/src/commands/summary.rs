//! `gpu-mlp summary`: a network's layers as Keras's `model.summary()` prints them, with what a
//! training step costs: FLOPs per sample, GPU dispatches per step, and the memory each engine
//! needs at a batch size.

use crate::cli::SummaryArgs;
use gpu_mlp::checkpoint;
use gpu_mlp::error::Result;
use gpu_mlp::model::{ModelSpec, CPU_ENGINE_PARAMETER_COPIES};

/// The network the flags describe: a saved model's, or `--hidden` / the quickstart's (as `train`
/// builds it).
pub fn spec_from(args: &SummaryArgs) -> Result<ModelSpec> {
    if let Some(path) = &args.model {
        return Ok(checkpoint::load(path)?.spec);
    }
    Ok(args
        .network
        .spec(args.inputs as usize, args.classes as usize)?)
}

pub fn run(args: &SummaryArgs) -> Result<()> {
    let spec = spec_from(args)?;
    print!("{}", table(&spec));
    let batch = args.batch_size as usize;
    println!(
        "FLOPs per sample: {} for inference, {} for training (the dense products; bias, ReLU, \
         softmax and the optimizer add a few percent)",
        thousands(spec.inference_flops()),
        thousands(spec.training_flops(1)),
    );
    println!(
        "A training step of batch {batch}: {} FLOPs; on the GPU {} dispatches (gather, \
         {} forward products, softmax, {} gradient products, the optimizer)",
        thousands(spec.training_flops(batch)),
        gpu_dispatches_per_step(&spec),
        spec.layers().len(),
        2 * spec.layers().len() - 1,
    );
    // Both engines hold four parameter-sized buffers (parameters, gradients, Adam's moments);
    // the GPU's activations are sized for its evaluation batches too.
    let eval_rows = gpu_mlp::engine::gpu::GpuOptions::default().eval_batch;
    println!(
        "Memory at batch {batch}: CPU engine {}; GPU engine {} on the device (activations for \
         evaluation batches of {eval_rows}); plus the data, resident as u8: {} per 10,000 samples",
        bytes(spec.memory_bytes(CPU_ENGINE_PARAMETER_COPIES, batch) as f64),
        bytes(spec.memory_bytes(CPU_ENGINE_PARAMETER_COPIES, batch.max(eval_rows)) as f64),
        bytes(spec.inputs as f64 * 10_000.0),
    );
    Ok(())
}

/// Dispatches of one GPU training step: the batch gather, a forward product per layer, the
/// softmax, a weight-gradient product per layer and an input-gradient product per layer but
/// the first, and the optimizer: `3·L + 2` for `L` dense layers.
pub fn gpu_dispatches_per_step(spec: &ModelSpec) -> usize {
    3 * spec.layers().len() + 2
}

/// Keras's table: one row per layer (Dense, and Dropout after each hidden layer when the rate
/// is above 0), then the parameter totals.
pub fn table(spec: &ModelSpec) -> String {
    let mut rows = Vec::new();
    let layers = spec.layers();
    for (i, layer) in layers.iter().enumerate() {
        let name = |kind: &str| match i {
            0 => kind.to_string(),
            i => format!("{kind}_{i}"),
        };
        rows.push((
            format!("{} (Dense)", name("dense")),
            layer.fan_out,
            layer.weight_len() + layer.fan_out,
        ));
        if i + 1 < layers.len() && spec.dropout > 0.0 {
            rows.push((format!("{} (Dropout)", name("dropout")), layer.fan_out, 0));
        }
    }
    let total = spec.parameter_count();
    let rule = "_".repeat(65);
    let mut out = format!("Model: \"{}\"\n{rule}\n", spec.describe());
    out.push_str(&format!(
        " {:<27} {:<25} {}\n{}\n",
        "Layer (type)",
        "Output Shape",
        "Param #",
        "=".repeat(65)
    ));
    for (name, width, params) in rows {
        out.push_str(&format!(
            " {name:<27} {:<25} {}\n",
            format!("(None, {width})"),
            count(params)
        ));
    }
    let size = bytes(total as f64 * 4.0);
    out.push_str(&format!(
        "{}\nTotal params: {} ({size})\nTrainable params: {} ({size})\nNon-trainable params: \
         0 (0.00 B)\n{rule}\n",
        "=".repeat(65),
        count(total),
        count(total),
    ));
    out
}

/// A whole number with commas between thousands: `101,770`.
fn thousands(x: f64) -> String {
    group(format!("{x:.0}"))
}

/// An exact count with commas between thousands.
fn count(n: usize) -> String {
    group(n.to_string())
}

/// `digits` with commas between thousands.
fn group(digits: String) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes as Keras prints a model's size: `397.54 KB` (powers of 1024). A figure at the end of
/// u64 is a saturated estimate (`memory_bytes`), a bound rather than a size.
fn bytes(n: f64) -> String {
    if n >= u64::MAX as f64 {
        return "more than 16 EB".to_string();
    }
    let units = ["B", "KB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = n;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", units[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_keras_prints_them() {
        for (n, shown) in [
            (0.0, "0"),
            (999.0, "999"),
            (1e3, "1,000"),
            (101_770.0, "101,770"),
        ] {
            assert_eq!(thousands(n), shown);
        }
        assert_eq!(bytes(101_770.0 * 4.0), "397.54 KB");
        assert_eq!(bytes(12.0), "12.00 B");
        assert_eq!(bytes(u64::MAX as f64), "more than 16 EB");
        // Counts past 2^53 are exact (an f64 would round them).
        assert_eq!(count(usize::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn the_quickstart_table_has_keras_rows() {
        let spec = ModelSpec::new(784, vec![128], 10, 0.2).unwrap();
        let table = table(&spec);
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows[0], "Model: \"784-128-10, dropout 0.2\"");
        assert!(rows[4].starts_with(" dense (Dense)") && rows[4].ends_with(" 100,480"));
        assert!(rows[5].starts_with(" dropout (Dropout)") && rows[5].contains("(None, 128)"));
        assert!(rows[6].starts_with(" dense_1 (Dense)") && rows[6].ends_with(" 1,290"));
        assert_eq!(rows[8], "Total params: 101,770 (397.54 KB)");
        assert_eq!(gpu_dispatches_per_step(&spec), 8);
    }
}
