//! The references checked against their definitions and each other.

use super::optimizer::{adam_loop, AdamBuffers};
use super::*;
use crate::data::{Label, Samples};
use crate::engine::cpu::workers::Workers;
use crate::model::dropout::DropoutMask;

/// Naive triple loop, the definition of the products.
fn naive(
    a: impl Fn(usize, usize) -> f32,
    b: impl Fn(usize, usize) -> f32,
    m: usize,
    k: usize,
    n: usize,
) -> Vec<f32> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|p| a(i, p) * b(p, j)).sum();
        }
    }
    c
}

fn close(x: &[f32], y: &[f32]) {
    for (a, b) in x.iter().zip(y) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

#[test]
fn products_match_their_definitions() {
    let (m, k, n) = (5, 7, 3);
    let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
    let bt: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
    let mut c = vec![f32::NAN; m * n];
    matmul(&a, &bt, &mut c, m, k, n);
    close(
        &c,
        &naive(|i, p| a[i * k + p], |p, j| bt[p * n + j], m, k, n),
    );
    // A·Bᵀ with B stored [n,k]
    let b_nk: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.23).sin()).collect();
    matmul_a_bt(&a, &b_nk, &mut c, m, k, n);
    close(
        &c,
        &naive(|i, p| a[i * k + p], |p, j| b_nk[j * k + p], m, k, n),
    );
    // Aᵀ·B with A stored [k,m]
    let a_km: Vec<f32> = (0..k * m).map(|i| (i as f32 * 0.71).cos()).collect();
    matmul_at_b(&a_km, &bt, &mut c, m, k, n);
    close(
        &c,
        &naive(|i, p| a_km[p * m + i], |p, j| bt[p * n + j], m, k, n),
    );
}

fn values(len: usize, salt: f32) -> Vec<f32> {
    (0..len).map(|i| (i as f32 * salt).sin()).collect()
}

/// The workers' fused, split kernels give the bits of the plain passes, for thread counts
/// that split C along rows and along columns into ragged parts.
#[test]
fn split_fused_kernels_give_the_bits_of_the_plain_passes() {
    let mask = DropoutMask::new(0.3);
    for threads in [2, 3] {
        let workers = Workers::new(threads).expect("workers");
        // rows > columns, then columns > rows; neither a multiple of the part alignment
        for (rows, fan_in, fan_out) in [(200, 784, 130), (33, 300, 785)] {
            let x = values(rows * fan_in, 0.37);
            let w = values(fan_in * fan_out, 0.11);
            let bias = values(fan_out, 0.7);
            let dropout = StepDropout {
                mask,
                layer: 1,
                seed: 99,
            };
            let mut plain = vec![f32::NAN; rows * fan_out];
            matmul(&x, &w, &mut plain, rows, fan_in, fan_out);
            bias_activation(&mut plain, &bias, rows, fan_out, true);
            super::dropout(&mut plain, rows, fan_out, 1, 99, mask);
            let mut fused = vec![f32::NAN; rows * fan_out];
            dense_forward_on(
                &workers,
                &x,
                &w,
                &bias,
                &mut fused,
                rows,
                fan_in,
                fan_out,
                true,
                Some(dropout),
            );
            assert_eq!(
                bits(&plain),
                bits(&fused),
                "forward {rows}x{fan_in}x{fan_out}"
            );

            let dz = values(rows * fan_out, 0.23);
            let mut plain = vec![f32::NAN; rows * fan_in];
            matmul_a_bt(&dz, &w, &mut plain, rows, fan_out, fan_in);
            relu_dropout_backward(&mut plain, &x, rows, fan_in, mask.scale);
            let mut fused = vec![f32::NAN; rows * fan_in];
            input_gradient_on(
                &workers, &dz, &w, &x, &mut fused, rows, fan_in, fan_out, mask.scale,
            );
            assert_eq!(bits(&plain), bits(&fused), "dX {rows}x{fan_out}x{fan_in}");

            let mut plain = vec![f32::NAN; fan_in * fan_out];
            matmul_at_b(&x, &dz, &mut plain, fan_in, rows, fan_out);
            let mut split = vec![f32::NAN; fan_in * fan_out];
            weight_gradient_on(&workers, &x, &dz, &mut split, rows, fan_in, fan_out);
            assert_eq!(bits(&plain), bits(&split), "dW {fan_in}x{rows}x{fan_out}");
        }
    }
}

#[test]
fn adam_and_gather_on_the_workers_match_the_plain_loops() {
    let workers = Workers::new(3).expect("workers");
    let n = 1001;
    let grads = values(n, 0.3);
    let (mut p1, mut m1, mut v1) = (values(n, 0.1), values(n, 0.2), vec![0.5; n]);
    let (mut p2, mut m2, mut v2) = (p1.clone(), m1.clone(), v1.clone());
    let (mut p3, mut m3, mut v3) = (p1.clone(), m1.clone(), v1.clone());
    let step = AdamStep {
        step_size: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-7,
    };
    adam(&mut p1, &grads, &mut m1, &mut v1, step);
    adam_on(&workers, &mut p2, &grads, &mut m2, &mut v2, step);
    // the plain loop, compiled for the baseline vector width
    let buffers = AdamBuffers {
        params: &mut p3,
        grads: &grads,
        m: &mut m3,
        v: &mut v3,
    };
    adam_loop(buffers, step);
    for (p, m, v) in [(&p2, &m2, &v2), (&p3, &m3, &v3)] {
        assert_eq!(bits(&p1), bits(p));
        assert_eq!(bits(&m1), bits(m));
        assert_eq!(bits(&v1), bits(v));
    }

    let (features, count) = (7, 20);
    let pixels = (0..features * count)
        .map(|i| (i * 37 % 256) as u8)
        .collect();
    let labels: Vec<Label> = (0..count).map(|i| (i % 10) as Label).collect();
    let samples = Samples::pixels(pixels, labels, features).expect("samples");
    let order: Vec<u32> = (0..11).map(|i| (i * 7 % count) as u32).collect();
    let (mut x1, mut l1) = (vec![f32::NAN; 16 * features], vec![Label::MAX; 16]);
    let (mut x2, mut l2) = (x1.clone(), l1.clone());
    gather(&samples, &order, &mut x1, &mut l1);
    gather_on(&workers, &samples, &order, &mut x2, &mut l2);
    assert_eq!(bits(&x1[..11 * features]), bits(&x2[..11 * features]));
    assert_eq!(l1, l2);
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn adam_two_steps_by_hand() {
    // One parameter, g = 0.5 then g = -0.25, lr 0.1, Keras defaults.
    let opt = crate::model::optimizer::Optimizer::adam(0.1);
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-7f64);
    let mut p = [1.0f32];
    let (mut m, mut v) = ([0.0f32], [0.0f32]);
    let keras = |step_size| AdamStep {
        step_size,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-7,
    };
    adam(&mut p, &[0.5], &mut m, &mut v, keras(opt.step_size(1)));
    // m1 = 0.05, v1 = 0.00025, α1 = 0.1·sqrt(0.001)/0.1 = sqrt(0.001)
    let (m1, v1) = (0.05f64, 0.00025f64);
    let a1 = 0.1 * (1.0 - b2).sqrt() / (1.0 - b1);
    let p1 = 1.0 - a1 * m1 / (v1.sqrt() + eps);
    assert!((p[0] as f64 - p1).abs() < 1e-6, "{} vs {p1}", p[0]);
    adam(&mut p, &[-0.25], &mut m, &mut v, keras(opt.step_size(2)));
    let m2 = 0.9 * m1 + 0.1 * -0.25;
    let v2 = 0.999 * v1 + 0.001 * 0.0625;
    let a2 = 0.1 * (1.0 - b2 * b2).sqrt() / (1.0 - b1 * b1);
    let p2 = p1 - a2 * m2 / (v2.sqrt() + eps);
    assert!((m[0] as f64 - m2).abs() < 1e-6 * m2.abs());
    // (1 - β2) rounds to f32 with 1.3e-5 relative error, as it does in Keras.
    assert!((v[0] as f64 - v2).abs() < 3e-5 * v2.abs());
    assert!((p[0] as f64 - p2).abs() < 1e-6, "{} vs {p2}", p[0]);
}

#[test]
fn softmax_cross_entropy_is_stable_and_its_gradient_rows_sum_to_zero() {
    let logits = [1e4f32, -1e4, 0.0, -1e4, 1e4, 3.0, 5.0, 5.0, 5.0];
    let labels: [Label; 3] = [1, 1, 2];
    let mut d = [f32::NAN; 9];
    let m = softmax_cross_entropy(&logits, &labels, 3, 3, 1.0 / 3.0, &mut d);
    assert!(m.loss_sum.is_finite());
    // Row 0: label 1 is 2e4 below the max, so its loss is 2e4; row 2 is uniform: ln 3.
    assert!(
        (m.loss_sum - (2e4 + 0.0 + 3f32.ln())).abs() < 1.0,
        "{}",
        m.loss_sum
    );
    // Row 1 is right; row 2 ties and picks class 0, not its label 2.
    assert_eq!(m.correct, 1);
    for row in d.chunks(3) {
        assert!(row.iter().all(|g| g.is_finite()));
        assert!(row.iter().sum::<f32>().abs() < 1e-6);
    }
}
