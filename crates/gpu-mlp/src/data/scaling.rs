//! How a source's raw values become the network's inputs (`--scale`), recorded in every model so
//! that `eval` and `predict` scale new data exactly as the training data was.

/// The scaling of a data set's inputs.
#[derive(Clone, Debug, PartialEq)]
pub enum Scaling {
    /// 8-bit pixels times 1/255 (done by the engines' gather, so pixels stay packed `u8`).
    Pixels,
    /// Per feature `(x - mean) / std`, both measured on the training part; a constant feature
    /// (`std == 0`) maps to 0.
    Standardize { mean: Vec<f32>, std: Vec<f32> },
    /// Values used as they are.
    None,
}

impl Scaling {
    /// The name models record and `--scale` takes (`pixels`, `standardize`, `none`).
    pub fn name(&self) -> &'static str {
        match self {
            Scaling::Pixels => "pixels",
            Scaling::Standardize { .. } => "standardize",
            Scaling::None => "none",
        }
    }

    /// Per-feature mean and standard deviation of `values` (`count × features`, row-major), in
    /// f64 so that a long column sums without drift.
    pub fn standardize(values: &[f32], features: usize) -> Scaling {
        let count = values.len().checked_div(features).unwrap_or(0);
        let mut sum = vec![0f64; features];
        let mut sum_sq = vec![0f64; features];
        for row in values.chunks_exact(features.max(1)) {
            for (j, &x) in row.iter().enumerate() {
                sum[j] += f64::from(x);
            }
        }
        let n = count.max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        for row in values.chunks_exact(features.max(1)) {
            for (j, &x) in row.iter().enumerate() {
                let d = f64::from(x) - mean[j];
                sum_sq[j] += d * d;
            }
        }
        Scaling::Standardize {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: sum_sq.iter().map(|&s| (s / n).sqrt() as f32).collect(),
        }
    }

    /// Scales one sample's raw values in place.
    pub fn apply(&self, row: &mut [f32]) {
        match self {
            Scaling::Pixels => row
                .iter_mut()
                .for_each(|x| *x *= crate::engine::cpu::ops::INV_255),
            Scaling::Standardize { mean, std } => {
                for ((x, &m), &s) in row.iter_mut().zip(mean).zip(std) {
                    *x = if s > 0.0 { (*x - m) / s } else { 0.0 };
                }
            }
            Scaling::None => {}
        }
    }

    /// Scales `count × features` raw values in place, row by row.
    pub fn apply_all(&self, values: &mut [f32], features: usize) {
        for row in values.chunks_exact_mut(features.max(1)) {
            self.apply(row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardize_measures_each_column_and_zeroes_constant_ones() {
        let values = [1.0, 5.0, 3.0, 5.0];
        let s = Scaling::standardize(&values, 2);
        assert_eq!(
            s,
            Scaling::Standardize {
                mean: vec![2.0, 5.0],
                std: vec![1.0, 0.0]
            }
        );
        let mut rows = values;
        s.apply_all(&mut rows, 2);
        assert_eq!(rows, [-1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn pixels_match_the_engines_gather() {
        let pixels: Vec<u8> = (0..=255).collect();
        let mut gathered = vec![0.0; 256];
        let mut labels = [0; 1];
        let samples = super::super::Samples::pixels(pixels.clone(), vec![0], 256).unwrap();
        crate::engine::cpu::ops::gather(&samples, &[0], &mut gathered, &mut labels);
        let mut row: Vec<f32> = pixels.iter().map(|&p| f32::from(p)).collect();
        Scaling::Pixels.apply(&mut row);
        assert_eq!(row, gathered);
    }
}
