//! A loaded model that classifies images or table rows: what `predict`, `eval` and the `draw`
//! page use. It runs on the CPU engine: one image is a few hundred thousand multiply-adds, far
//! less than a GPU round trip costs. New inputs are scaled with the model's own scaling (the
//! one measured on its training data), so they reach the network as the training data did.

use crate::checkpoint::Checkpoint;
use crate::data::Scaling;
use crate::engine::cpu::ops::INV_255;
use crate::engine::cpu::CpuEngine;
use crate::error::{ConfigError, Result};
use crate::inference::preprocess::{self, Preprocess};
use crate::model::optimizer::Optimizer;
use crate::setting::Setting;
use image::DynamicImage;

/// A picture made ready for the model.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedImage {
    /// What the model sees as a picture: `rows × cols × channels` values in `[0, 1]`.
    pub shown: Vec<f32>,
    /// The network's input (`shown` in the model's scaling).
    pub inputs: Vec<f32>,
}

/// A checkpoint ready to predict. `Send`, so a server can keep one behind a mutex.
pub struct Classifier {
    checkpoint: Checkpoint,
    engine: CpuEngine,
}

impl Classifier {
    /// Builds the engine for the checkpoint's network and loads its parameters.
    pub fn from_checkpoint(checkpoint: Checkpoint) -> Result<Self> {
        // Inference never takes an optimizer step; the optimizer and batch size are unused.
        let engine = CpuEngine::new(
            &checkpoint.spec,
            &checkpoint.parameters,
            Optimizer::adam(1e-3),
            1,
        )?;
        Ok(Self { checkpoint, engine })
    }

    /// Loads a checkpoint file (see `checkpoint::load`) and builds the classifier.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self> {
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

    /// `(rows, cols)` of the images the model takes (`(1, features)` for a table).
    pub fn input_shape(&self) -> (usize, usize) {
        (self.checkpoint.rows, self.checkpoint.cols)
    }

    /// Inputs per sample: `rows × cols × channels`.
    pub fn inputs(&self) -> usize {
        self.checkpoint.spec.inputs
    }

    /// Class probabilities (softmax, summing to 1) for one sample's network inputs, already
    /// scaled (see [`Classifier::scale`], [`Classifier::unit_inputs`], [`Classifier::prepare`]).
    ///
    /// Panics if `inputs.len()` is not the model's input count: that is a caller's bug, not
    /// bad input.
    pub fn probabilities(&mut self, inputs: &[f32]) -> Vec<f32> {
        assert_eq!(
            inputs.len(),
            self.inputs(),
            "Classifier::probabilities: {} values for a model of {} inputs",
            inputs.len(),
            self.inputs()
        );
        self.engine.predict_probabilities(inputs)
    }

    /// Probabilities for many samples at once (`n × inputs` values), `n × classes` out.
    pub fn probabilities_batch(&mut self, inputs: &[f32]) -> Vec<f32> {
        assert_eq!(
            inputs.len() % self.inputs(),
            0,
            "Classifier::probabilities_batch: {} values is not a whole number of samples of {}",
            inputs.len(),
            self.inputs()
        );
        self.engine.predict_probabilities(inputs)
    }

    /// Scales samples of raw values in place (a table's numbers; pixels as 0..=255) as the
    /// model's training data was scaled.
    pub fn scale(&self, raw: &mut [f32]) {
        self.checkpoint.scaling.apply_all(raw, self.inputs());
    }

    /// The network's inputs for picture values in `[0, 1]` (1 = full ink or colour), as
    /// `preprocess::prepare` and the draw page make them: as they are for a pixel model (whose
    /// training pixels became `p/255`), else back in 0..=255 and scaled.
    pub fn unit_inputs(&self, unit: &[f32]) -> Vec<f32> {
        if self.checkpoint.scaling == Scaling::Pixels {
            return unit.to_vec();
        }
        let mut raw: Vec<f32> = unit.iter().map(|&v| v * 255.0).collect();
        self.scale(&mut raw);
        raw
    }

    /// Makes a picture the model's input the way `how` says. `Mnist` makes a grey digit, so it
    /// needs a grey model. `Plain` pixels become inputs exactly as the engines turn a data
    /// set's pixels into inputs.
    pub fn prepare(&self, img: &DynamicImage, how: Preprocess) -> Result<PreparedImage> {
        let (rows, cols) = self.input_shape();
        let channels = self.checkpoint.channels;
        match how {
            Preprocess::Mnist if channels != 1 => Err(ConfigError::new(crate::phrase![
                Setting::Preprocess,
                format!(
                    " mnist makes grey digits, but the model takes {}; use ",
                    self.checkpoint.input_words()
                ),
                Setting::Preprocess,
                " plain"
            ])
            .into()),
            Preprocess::Mnist => {
                let shown = preprocess::prepare(img, rows, cols);
                let inputs = self.unit_inputs(&shown);
                Ok(PreparedImage { shown, inputs })
            }
            Preprocess::Plain => {
                let pixels = preprocess::plain(img, rows, cols, channels);
                let shown: Vec<f32> = pixels.iter().map(|&p| f32::from(p) * INV_255).collect();
                let inputs = if self.checkpoint.scaling == Scaling::Pixels {
                    shown.clone()
                } else {
                    let mut raw: Vec<f32> = pixels.iter().map(|&p| f32::from(p)).collect();
                    self.scale(&mut raw);
                    raw
                };
                Ok(PreparedImage { shown, inputs })
            }
        }
    }

    /// The way pictures are prepared unless told otherwise ([`Preprocess::default_for`]).
    pub fn default_preprocess(&self) -> Preprocess {
        let c = &self.checkpoint;
        Preprocess::default_for(c.rows, c.cols, c.channels)
    }

    /// Prepares any picture the model's default way and classifies it.
    pub fn classify_image(&mut self, img: &DynamicImage) -> Result<Vec<f32>> {
        let prepared = self.prepare(img, self.default_preprocess())?;
        Ok(self.probabilities(&prepared.inputs))
    }

    /// Reads a picture file (PNG, JPEG or BMP, any size, dark ink on light or light on dark)
    /// and classifies it as [`Classifier::classify_image`] does.
    pub fn classify_file(&mut self, path: impl AsRef<std::path::Path>) -> Result<Vec<f32>> {
        self.classify_image(&preprocess::open(path)?)
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
        let ckpt = Checkpoint::grey_images(
            spec.clone(),
            spec.init_parameters(1),
            vec!["a".into(), "b".into()],
            "toy",
            (2, 2),
        );
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
