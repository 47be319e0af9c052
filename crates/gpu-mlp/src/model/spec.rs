//! The network's shape and its one flat parameter buffer.
//!
//! All weights and biases of a model live in one `Vec<f32>` (and one GPU buffer), so the optimizer
//! is a single pass over one slice and gradients/moments use the same offsets. Dense weights are
//! stored row-major `W[in, out]` (Keras layout): forward is `Z = X·W + b`.

use crate::error::ConfigError;
use crate::setting::Setting;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// Parameter-sized buffers the host keeps around any engine: the initial parameters, the trained
/// ones read back, and the checkpoint's bytes.
pub const HOST_PARAMETER_COPIES: u64 = 3;
/// Parameter-sized buffers the CPU engine holds: parameters, gradients, Adam's two moments.
pub const CPU_ENGINE_PARAMETER_COPIES: u64 = 4;

/// Layer sizes and dropout rate of a multilayer perceptron classifier.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// Features per input sample (rows × cols of the image).
    pub inputs: usize,
    /// Width of each hidden layer (ReLU); may be empty (a linear softmax classifier).
    pub hidden: Vec<usize>,
    /// Number of classes (width of the output logits).
    pub classes: usize,
    /// Inverted-dropout rate applied after every hidden layer while training; 0 disables it.
    pub dropout: f32,
}

/// Where one dense layer's weights and bias sit in the flat parameter buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseLayer {
    /// Width of the layer's input.
    pub fan_in: usize,
    /// Width of the layer's output.
    pub fan_out: usize,
    /// Offset of `W[fan_in, fan_out]` (row-major).
    pub weight_offset: usize,
    /// Offset of `b[fan_out]`.
    pub bias_offset: usize,
}

impl DenseLayer {
    /// Number of weights, `fan_in × fan_out`.
    pub fn weight_len(&self) -> usize {
        self.fan_in * self.fan_out
    }
    /// This layer's weights `W[fan_in, fan_out]` within the flat `params`.
    pub fn weights<'a>(&self, params: &'a [f32]) -> &'a [f32] {
        &params[self.weight_offset..self.weight_offset + self.weight_len()]
    }
    /// This layer's bias within the flat `params`.
    pub fn bias<'a>(&self, params: &'a [f32]) -> &'a [f32] {
        &params[self.bias_offset..self.bias_offset + self.fan_out]
    }
}

impl ModelSpec {
    /// Checks the sizes a user can get wrong and returns the spec.
    pub fn new(
        inputs: usize,
        hidden: Vec<usize>,
        classes: usize,
        dropout: f32,
    ) -> Result<Self, ConfigError> {
        if inputs == 0 {
            return Err(ConfigError::new("the input size must be at least 1"));
        }
        if classes < 2 {
            return Err(ConfigError::new(format!(
                "a classifier needs at least 2 classes, the data has {classes}"
            )));
        }
        if let Some(pos) = hidden.iter().position(|&h| h == 0) {
            return Err(ConfigError::new(crate::phrase![
                Setting::HiddenWidths,
                format!(
                    ": layer {} has width 0; every hidden layer needs at least 1 unit",
                    pos + 1
                )
            ]));
        }
        if !(0.0..1.0).contains(&dropout) || dropout.is_nan() {
            return Err(ConfigError::new(crate::phrase![
                Setting::Dropout,
                format!(" must be in [0, 1), got {dropout}")
            ]));
        }
        let spec = Self {
            inputs,
            hidden,
            classes,
            dropout,
        };
        // Every offset and count below is a sum of these products: once the total fits, no
        // partial sum overflows (a wrapped count read "Total params: 0").
        if spec.checked_parameter_count().is_none() {
            let widths: Vec<f64> = spec.widths().iter().map(|&w| w as f64).collect();
            let about: f64 = widths.windows(2).map(|p| p[0] * p[1] + p[1]).sum();
            return Err(ConfigError::new(format!(
                "the network {} would have about {about:.3e} parameters, more than can be \
                 addressed ({}); use narrower layers",
                spec.describe(),
                usize::MAX
            )));
        }
        Ok(spec)
    }

    /// Every weight and bias, or `None` when the count does not fit a `usize`.
    fn checked_parameter_count(&self) -> Option<usize> {
        self.widths().windows(2).try_fold(0usize, |sum, pair| {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            fan_in
                .checked_mul(fan_out)?
                .checked_add(fan_out)?
                .checked_add(sum)
        })
    }

    /// Widths of every activation, input first, logits last: `[784, 128, 10]`.
    pub fn widths(&self) -> Vec<usize> {
        let mut w = Vec::with_capacity(self.hidden.len() + 2);
        w.push(self.inputs);
        w.extend_from_slice(&self.hidden);
        w.push(self.classes);
        w
    }

    /// The dense layers with their offsets in the flat buffer: W0, b0, W1, b1, ...
    pub fn layers(&self) -> Vec<DenseLayer> {
        let widths = self.widths();
        let mut offset = 0;
        widths
            .windows(2)
            .map(|pair| {
                let (fan_in, fan_out) = (pair[0], pair[1]);
                let layer = DenseLayer {
                    fan_in,
                    fan_out,
                    weight_offset: offset,
                    bias_offset: offset + fan_in * fan_out,
                };
                offset += fan_in * fan_out + fan_out;
                layer
            })
            .collect()
    }

    /// Floating-point operations of one training step at `batch` rows: 2·batch·in·out for each
    /// layer's forward product and weight gradient, and for each input gradient (every layer but
    /// the first). Element-wise work (bias, ReLU, softmax, Adam) is left out: it is a few percent
    /// at the smallest width and vanishes as the width grows.
    pub fn training_flops(&self, batch: usize) -> f64 {
        self.layers()
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let products = if i == 0 { 2.0 } else { 3.0 };
                products * 2.0 * batch as f64 * l.fan_in as f64 * l.fan_out as f64
            })
            .sum()
    }

    /// Floating-point operations of one sample's forward pass, counted as
    /// [`training_flops`](Self::training_flops) counts: 2·in·out per layer.
    pub fn inference_flops(&self) -> f64 {
        self.layers()
            .iter()
            .map(|l| 2.0 * l.fan_in as f64 * l.fan_out as f64)
            .sum()
    }

    /// Length of the flat parameter buffer: every weight and bias.
    pub fn parameter_count(&self) -> usize {
        self.layers()
            .iter()
            .map(|l| l.weight_len() + l.fan_out)
            .sum()
    }

    /// Bytes a run of this model needs, estimated before anything is allocated:
    /// `parameter_copies` buffers of the size of the parameters (see the `*_COPIES` constants)
    /// plus the activations of `rows` samples: each layer's values, gradients, pre-activations
    /// and dropout mask.
    pub fn memory_bytes(&self, parameter_copies: u64, rows: usize) -> u64 {
        let parameters = (self.parameter_count() as u64).saturating_mul(4);
        let widths: u64 = self.widths().iter().map(|&w| w as u64).sum();
        let activations = (rows as u64).saturating_mul(widths).saturating_mul(4 * 4);
        parameters
            .saturating_mul(parameter_copies)
            .saturating_add(activations)
    }

    /// Checks that a flat parameter buffer has this model's length (before an engine takes it).
    pub fn check_parameters(&self, params: &[f32]) -> Result<(), ConfigError> {
        let expected = self.parameter_count();
        if params.len() == expected {
            Ok(())
        } else {
            Err(ConfigError::new(format!(
                "{} parameters given, the model {} has {expected}",
                params.len(),
                self.describe()
            )))
        }
    }

    /// Widest activation, for sizing scratch buffers.
    pub fn max_width(&self) -> usize {
        self.widths().into_iter().max().unwrap_or(0)
    }

    /// A short human description: `784-128-10, dropout 0.2`.
    pub fn describe(&self) -> String {
        let widths: Vec<String> = self.widths().iter().map(|w| w.to_string()).collect();
        if self.dropout > 0.0 {
            format!("{}, dropout {}", widths.join("-"), self.dropout)
        } else {
            widths.join("-")
        }
    }

    /// Glorot-uniform weights (limit `sqrt(6/(fan_in+fan_out))`), zero biases, from `seed`.
    pub fn init_parameters(&self, seed: u64) -> Vec<f32> {
        let mut rng = Pcg64Mcg::seed_from_u64(seed ^ 0x1417_0000_u64);
        let mut params = vec![0.0f32; self.parameter_count()];
        for layer in self.layers() {
            let limit = (6.0 / (layer.fan_in + layer.fan_out) as f64).sqrt() as f32;
            for w in &mut params[layer.weight_offset..layer.weight_offset + layer.weight_len()] {
                *w = rng.random_range(-limit..limit);
            }
        }
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_contiguous_and_keras_shaped() {
        let spec = ModelSpec::new(784, vec![128], 10, 0.2).unwrap();
        let layers = spec.layers();
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[0].weight_offset, 0);
        assert_eq!(layers[0].bias_offset, 784 * 128);
        assert_eq!(layers[1].weight_offset, 784 * 128 + 128);
        assert_eq!(spec.parameter_count(), 784 * 128 + 128 + 128 * 10 + 10);
    }

    #[test]
    fn a_count_past_usize_is_refused_not_wrapped() {
        let err = ModelSpec::new(784, vec![1 << 32, 1 << 32], 10, 0.0).unwrap_err();
        assert!(err.to_string().contains("1.845e19 parameters"), "{err}");
        assert!(ModelSpec::new(usize::MAX, vec![], 2, 0.0).is_err());
        let near = ModelSpec::new(1, vec![3_000_000_000, 3_000_000_000], 2, 0.0).unwrap();
        assert_eq!(near.parameter_count(), 9_000_000_015_000_000_002);
    }

    #[test]
    fn init_is_seeded_and_within_glorot_limit() {
        let spec = ModelSpec::new(20, vec![7, 5], 3, 0.0).unwrap();
        let a = spec.init_parameters(1);
        assert_eq!(a, spec.init_parameters(1));
        assert_ne!(a, spec.init_parameters(2));
        for l in spec.layers() {
            let limit = (6.0f32 / (l.fan_in + l.fan_out) as f32).sqrt();
            assert!(l.weights(&a).iter().all(|w| w.abs() <= limit));
            assert!(l.bias(&a).iter().all(|&b| b == 0.0));
        }
    }

    #[test]
    fn bad_sizes_are_rejected() {
        assert!(ModelSpec::new(784, vec![128, 0], 10, 0.0).is_err());
        assert!(ModelSpec::new(784, vec![], 1, 0.0).is_err());
        assert!(ModelSpec::new(784, vec![], 10, 1.5).is_err());
        assert!(ModelSpec::new(784, vec![], 10, 1.0).is_err());
        assert!(ModelSpec::new(784, vec![], 10, 0.0).is_ok());
    }
}
