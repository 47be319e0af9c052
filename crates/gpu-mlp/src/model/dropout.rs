//! The inverted-dropout mask, from a counter-based hash so that the CPU reference and the GPU
//! shaders (`dropout_hash` in `engine/gpu/kernels/prelude.wgsl`, a copy of [`mix32`] and [`hash`]) produce the
//! same mask bit for bit without
//! sharing any RNG state.
//!
//! Element `index` (row-major within the batch's activation) of hidden layer `layer` at a step
//! with per-step seed `seed` is kept when `hash(seed, layer, index) >= threshold`, and scaled by
//! `1/(1-rate)`. Threshold and scale are computed once on the host, so both engines compare
//! integers and multiply by the same f32.

/// 32-bit integer mixer (Chris Wellons' "lowbias32"): cheap, well distributed, and written
/// identically in WGSL.
#[inline]
pub fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// The hash behind the mask of one element.
#[inline]
pub fn hash(seed: u32, layer: u32, index: u32) -> u32 {
    mix32(seed ^ mix32(layer.wrapping_add(0x9e37_79b9) ^ mix32(index)))
}

/// The per-step seed, from the run's seed and the 1-based global step.
pub fn step_seed(run_seed: u64, step: u64) -> u32 {
    let folded = (run_seed ^ (run_seed >> 32)) as u32;
    mix32(folded ^ mix32(step as u32 ^ 0x5bd1_e995))
}

/// Threshold and scale of a dropout rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutMask {
    /// Keep an element when its hash is at least this.
    pub threshold: u32,
    /// Multiplier of kept elements: `1/(1-rate)`.
    pub scale: f32,
}

impl DropoutMask {
    /// `rate` in [0, 1). A rate of 0 keeps everything with scale 1.
    pub fn new(rate: f32) -> Self {
        let threshold = (rate as f64 * 4_294_967_296.0).round().min(u32::MAX as f64) as u32;
        Self {
            threshold,
            scale: (1.0 / (1.0 - rate as f64)) as f32,
        }
    }

    #[inline]
    pub fn keeps(&self, seed: u32, layer: u32, index: u32) -> bool {
        hash(seed, layer, index) >= self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_about_one_minus_rate() {
        let mask = DropoutMask::new(0.2);
        let kept = (0..100_000).filter(|&i| mask.keeps(7, 0, i)).count();
        assert!((kept as f64 / 100_000.0 - 0.8).abs() < 0.01, "kept {kept}");
        assert_eq!(DropoutMask::new(0.0).threshold, 0);
        assert!((DropoutMask::new(0.5).scale - 2.0).abs() < 1e-7);
    }

    #[test]
    fn masks_differ_by_step_and_layer() {
        let m = DropoutMask::new(0.5);
        let a: Vec<bool> = (0..256).map(|i| m.keeps(step_seed(1, 1), 0, i)).collect();
        let b: Vec<bool> = (0..256).map(|i| m.keeps(step_seed(1, 2), 0, i)).collect();
        let c: Vec<bool> = (0..256).map(|i| m.keeps(step_seed(1, 1), 1, i)).collect();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
