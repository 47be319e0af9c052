//! The CPU engine's backward pass against central finite differences of an independent f64
//! forward pass, for every parameter tensor, with 0, 1 and 3 hidden layers; and with dropout on
//! (the mask is a pure function of seed, layer and index, so the f64 forward can replay it).

use gpu_mlp::engine::cpu::CpuEngine;
use gpu_mlp::model::dropout::DropoutMask;
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::model::ModelSpec;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

const ROWS: usize = 5;
const DROPOUT_SEED: u32 = 0xdead_beef;

/// Mean cross-entropy of the batch, computed in f64 with plain loops.
fn loss_f64(spec: &ModelSpec, params: &[f64], x: &[f64], labels: &[u16]) -> f64 {
    let layers = spec.layers();
    let mask = DropoutMask::new(spec.dropout);
    let mut act: Vec<f64> = x.to_vec();
    for (l, layer) in layers.iter().enumerate() {
        let hidden = l + 1 < layers.len();
        let mut z = vec![0.0f64; ROWS * layer.fan_out];
        for r in 0..ROWS {
            for o in 0..layer.fan_out {
                let mut s = params[layer.bias_offset + o];
                for i in 0..layer.fan_in {
                    s += act[r * layer.fan_in + i]
                        * params[layer.weight_offset + i * layer.fan_out + o];
                }
                let idx = r * layer.fan_out + o;
                z[idx] = if hidden { s.max(0.0) } else { s };
                if hidden && spec.dropout > 0.0 {
                    z[idx] = if mask.keeps(DROPOUT_SEED, l as u32, idx as u32) {
                        z[idx] * mask.scale as f64
                    } else {
                        0.0
                    };
                }
            }
        }
        act = z;
    }
    let classes = spec.classes;
    let mut total = 0.0;
    for r in 0..ROWS {
        let z = &act[r * classes..(r + 1) * classes];
        let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = z.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max;
        total += lse - z[labels[r] as usize];
    }
    total / ROWS as f64
}

fn check(hidden: Vec<usize>, dropout: f32, seed: u64) {
    let spec = ModelSpec::new(7, hidden, 4, dropout).unwrap();
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    // Small random biases too, so their gradients are exercised away from zero-init symmetry.
    let mut params = spec.init_parameters(seed);
    for l in spec.layers() {
        for b in &mut params[l.bias_offset..l.bias_offset + l.fan_out] {
            *b = rng.random_range(-0.1..0.1);
        }
    }
    let x: Vec<f32> = (0..ROWS * 7).map(|_| rng.random_range(0.0..1.0)).collect();
    let labels: Vec<u16> = (0..ROWS).map(|_| rng.random_range(0..4)).collect();

    let mut engine = CpuEngine::new(&spec, &params, Optimizer::adam(1e-3), ROWS).unwrap();
    let metrics = engine.forward_backward(&x, &labels, DROPOUT_SEED);
    let analytic = engine.gradients().to_vec();

    let p64: Vec<f64> = params.iter().map(|&v| v as f64).collect();
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let loss = loss_f64(&spec, &p64, &x64, &labels);
    let engine_loss = metrics.loss_sum as f64 / ROWS as f64;
    assert!(
        (loss - engine_loss).abs() < 1e-5 * loss.max(1.0),
        "forward: f64 {loss} vs engine {engine_loss}"
    );

    let h = 1e-6;
    let numeric: Vec<f64> = (0..p64.len())
        .map(|i| {
            let mut plus = p64.clone();
            plus[i] += h;
            let mut minus = p64.clone();
            minus[i] -= h;
            (loss_f64(&spec, &plus, &x64, &labels) - loss_f64(&spec, &minus, &x64, &labels))
                / (2.0 * h)
        })
        .collect();

    for (l, layer) in spec.layers().iter().enumerate() {
        for (name, range) in [
            (
                "W",
                layer.weight_offset..layer.weight_offset + layer.weight_len(),
            ),
            ("b", layer.bias_offset..layer.bias_offset + layer.fan_out),
        ] {
            let (mut diff, mut norm, mut worst) = (0.0f64, 0.0f64, (0usize, 0.0f64));
            for i in range.clone() {
                let d = (analytic[i] as f64 - numeric[i]).abs();
                diff += d * d;
                norm += numeric[i] * numeric[i];
                if d > worst.1 {
                    worst = (i, d);
                }
            }
            let rel = diff.sqrt() / norm.sqrt().max(1e-12);
            assert!(
                rel < 1e-4,
                "{} layer {l} {name}: relative error {rel:.2e}; worst element {} analytic {} numeric {}",
                spec.describe(),
                worst.0,
                analytic[worst.0],
                numeric[worst.0]
            );
        }
    }
}

#[test]
fn gradients_without_hidden_layers() {
    check(vec![], 0.0, 1);
}

#[test]
fn gradients_with_one_hidden_layer() {
    check(vec![6], 0.0, 2);
}

#[test]
fn gradients_with_three_hidden_layers() {
    check(vec![6, 5, 3], 0.0, 3);
}

#[test]
fn gradients_with_dropout() {
    check(vec![8, 6], 0.3, 4);
}
