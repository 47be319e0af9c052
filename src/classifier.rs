//! A loaded model that classifies images: what `predict`, `eval` and the `draw` page use.
//! It runs on the CPU engine: one image is a few hundred thousand multiply-adds, far less than
//! a GPU round trip costs.

use crate::checkpoint::Checkpoint;
use crate::cpu::CpuEngine;
use crate::engine::Engine;
use crate::error::Result;
use crate::optimizer::Optimizer;
use crate::preprocess;
use image::DynamicImage;

/// A checkpoint ready to predict. `Send`, so a server can keep one behind a mutex.
pub struct Classifier {
    checkpoint: Checkpoint,
    engine: CpuEngine,
}

impl Classifier {
    /// Builds the engine for the checkpoint's network and loads its parameters.
    pub fn from_checkpoint(checkpoint: Checkpoint) -> Result<Self> {
        // Inference never takes an optimizer step; the optimizer and batch size are unused.
        let mut engine = CpuEngine::new(&checkpoint.spec, Optimizer::adam(1e-3), 1)?;
        engine.set_parameters(&checkpoint.parameters)?;
        Ok(Self { checkpoint, engine })
    }

    /// Loads a checkpoint file (see `checkpoint::load`) and builds the classifier.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        Self::from_checkpoint(crate::checkpoint::load(path)?)
    }

    /// The checkpoint the classifier was built from.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// One name per class, index = class.
    pub fn class_names(&self) -> &[String] {
        &self.checkpoint.class_names
    }

    /// `(rows, cols)` of the images the model takes.
    pub fn input_shape(&self) -> (usize, usize) {
        (self.checkpoint.rows, self.checkpoint.cols)
    }

    /// Class probabilities (softmax, summing to 1) for one image of `rows × cols` values in
    /// `[0, 1]`, row-major, 1 = ink (`preprocess::prepare` or `preprocess::normalise` output).
    ///
    /// Panics if `pixels.len() != rows * cols`: that is a caller's bug, not bad input.
    pub fn probabilities(&mut self, pixels: &[f32]) -> Vec<f32> {
        let (rows, cols) = self.input_shape();
        assert_eq!(
            pixels.len(),
            rows * cols,
            "Classifier::probabilities: {} values for a {rows}x{cols} model",
            pixels.len()
        );
        self.engine.predict_probabilities(pixels)
    }

    /// Probabilities for many images at once (`n × rows × cols` values), `n × classes` out.
    pub fn probabilities_batch(&mut self, pixels: &[f32]) -> Vec<f32> {
        let (rows, cols) = self.input_shape();
        assert_eq!(
            pixels.len() % (rows * cols),
            0,
            "Classifier::probabilities_batch: {} values is not a whole number of {rows}x{cols} images",
            pixels.len()
        );
        self.engine.predict_probabilities(pixels)
    }

    /// Preprocesses any picture MNIST-style (`preprocess::prepare`) and classifies it.
    pub fn classify_image(&mut self, img: &DynamicImage) -> Vec<f32> {
        let (rows, cols) = self.input_shape();
        let pixels = preprocess::prepare(img, rows, cols);
        self.probabilities(&pixels)
    }

    /// Reads a picture file (PNG, JPEG or BMP, any size, dark ink on light or light on dark)
    /// and classifies it as [`Classifier::classify_image`] does.
    pub fn classify_file(&mut self, path: &std::path::Path) -> Result<Vec<f32>> {
        Ok(self.classify_image(&preprocess::open(path)?))
    }
}

/// The `k` most probable classes, most probable first: `(class, probability)`. Ties keep the
/// lower class first.
pub fn top_k(probabilities: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = probabilities.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(k);
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelSpec;
    use std::collections::BTreeMap;

    #[test]
    fn top_k_orders_by_probability() {
        assert_eq!(
            top_k(&[0.1, 0.6, 0.05, 0.25], 3),
            vec![(1, 0.6), (3, 0.25), (0, 0.1)]
        );
        assert_eq!(top_k(&[0.5, 0.5], 5), vec![(0, 0.5), (1, 0.5)]);
    }

    #[test]
    fn probabilities_sum_to_one_and_the_classifier_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Classifier>();
        let spec = ModelSpec::new(4, vec![3], 2, 0.0).unwrap();
        let ckpt = Checkpoint {
            parameters: spec.init_parameters(1),
            spec,
            class_names: vec!["a".into(), "b".into()],
            dataset: "toy".into(),
            rows: 2,
            cols: 2,
            metadata: BTreeMap::new(),
            resume: None,
        };
        let mut c = Classifier::from_checkpoint(ckpt).unwrap();
        let p = c.probabilities(&[0.1, 0.9, 0.3, 0.0]);
        assert_eq!(p.len(), 2);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(c.input_shape(), (2, 2));
        assert_eq!(
            c.probabilities_batch(&[0.1, 0.9, 0.3, 0.0, 0.1, 0.9, 0.3, 0.0])[..2],
            p
        );
    }
}
