//! The crate's one relative-error measure of a computed vector against its reference:
//! ‖got − want‖₂ / ‖want‖₂, with the largest absolute error and where it is. A NaN or an infinity
//! on either side counts as an infinite error, so an unwritten (poisoned) element always fails,
//! and two engines overflowing alike do not agree.

use serde::Serialize;

/// The element with the largest absolute error.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Worst {
    pub index: usize,
    pub gpu: f64,
    pub cpu: f64,
}

/// How far `got` is from `want`.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorNorm {
    /// ‖got − want‖₂ / ‖want‖₂ (0 when equal, infinite for NaN, infinities or different
    /// lengths).
    pub rel: f64,
    /// The largest absolute error.
    pub max_abs: f64,
    /// Where it is (`None` for empty or different-length inputs).
    pub worst: Option<Worst>,
}

impl ErrorNorm {
    /// `got` (the engine under test) against `want` (the reference).
    pub fn of(got: &[f32], want: &[f32]) -> Self {
        if got.len() != want.len() {
            return Self {
                rel: f64::INFINITY,
                max_abs: f64::INFINITY,
                worst: None,
            };
        }
        let (mut diff, mut norm, mut max_abs) = (0.0f64, 0.0f64, 0.0f64);
        let mut worst = None;
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let d = if !g.is_finite() || !w.is_finite() {
                f64::INFINITY
            } else {
                (g as f64 - w as f64).abs()
            };
            diff += d * d;
            norm += (w as f64) * (w as f64);
            if d > max_abs || worst.is_none() {
                max_abs = max_abs.max(d);
                worst = Some(Worst {
                    index: i,
                    gpu: g as f64,
                    cpu: w as f64,
                });
            }
        }
        let rel = if diff == 0.0 {
            0.0
        } else if !diff.is_finite() {
            f64::INFINITY
        } else {
            diff.sqrt() / norm.sqrt().max(1e-30)
        };
        Self {
            rel,
            max_abs,
            worst,
        }
    }

    /// Within `bound` (false for NaN or infinite errors).
    pub fn within(&self, bound: f64) -> bool {
        self.rel <= bound && self.max_abs.is_finite()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_relative_norm_and_flags_nan() {
        let e = ErrorNorm::of(&[1.0, 2.0, 3.5], &[1.0, 2.0, 3.0]);
        assert_eq!(e.max_abs, 0.5);
        assert!((e.rel - 0.5 / 14f64.sqrt()).abs() < 1e-12);
        assert_eq!(e.worst.map(|w| w.index), Some(2));
        for (got, want) in [
            ([f32::NAN, 2.0], [1.0, 2.0]),
            ([1.0, 2.0], [f32::NAN, 2.0]),
            ([f32::INFINITY, 2.0], [f32::INFINITY, 2.0]),
            ([1.0, f32::NEG_INFINITY], [1.0, 2.0]),
        ] {
            let e = ErrorNorm::of(&got, &want);
            assert!(e.max_abs.is_infinite() && e.rel.is_infinite() && !e.within(1.0));
        }
        assert_eq!(ErrorNorm::of(&[0.0], &[0.0]).rel, 0.0);
        assert!(ErrorNorm::of(&[1.0], &[1.0, 2.0]).rel.is_infinite());
        assert!(ErrorNorm::of(&[1.0, 2.0], &[1.0, 2.0]).within(0.0));
    }
}
