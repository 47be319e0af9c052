//! `gpu-mlp predict`: classify image files or test-set samples with a saved model; print the
//! most probable classes (text or JSON) and optionally draw the tutorial's prediction figure.

use crate::checkpoint;
use crate::classifier::{top_k, Classifier};
use crate::cli::PredictArgs;
use crate::error::{ConfigError, Result};
use crate::plots::{self, PredictionTile};
use crate::{output, preprocess};
use serde::Serialize;

/// Test images drawn by `--grid` when no image or index is given (the tutorial's 5 x 3).
pub const DEFAULT_GRID_IMAGES: usize = 15;

/// One classified image.
#[derive(Clone, Debug, Serialize)]
pub struct Prediction {
    /// The file name, or `test[N]` for a test-set sample.
    pub source: String,
    /// The most probable classes, most probable first.
    pub top: Vec<ClassProbability>,
    /// The true class, for test-set samples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truth: Option<ClassProbability>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct: Option<bool>,
    /// Every class's probability, index = class.
    pub probabilities: Vec<f32>,
    /// What the model saw (after preprocessing); not printed.
    #[serde(skip)]
    pub pixels: Vec<f32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClassProbability {
    pub class: usize,
    pub name: String,
    pub probability: f32,
}

impl Prediction {
    fn new(
        source: String,
        pixels: Vec<f32>,
        probabilities: Vec<f32>,
        truth: Option<usize>,
        classifier: &Classifier,
        k: usize,
    ) -> Self {
        let entry = |class: usize| ClassProbability {
            class,
            name: classifier.class_names()[class].clone(),
            probability: probabilities[class],
        };
        let top: Vec<ClassProbability> = top_k(&probabilities, k)
            .into_iter()
            .map(|(c, _)| entry(c))
            .collect();
        let correct = truth.map(|t| top.first().is_some_and(|p| p.class == t));
        Self {
            source,
            truth: truth.map(entry),
            correct,
            top,
            probabilities,
            pixels,
        }
    }

    /// `digit.png: 7 98.21% | 1 0.93% | 9 0.40%`, with `(true: 7) right` for test samples.
    pub fn line(&self) -> String {
        let top: Vec<String> = self
            .top
            .iter()
            .map(|p| format!("{} {:.2}%", p.name, 100.0 * p.probability))
            .collect();
        let mut line = format!("{}: {}", self.source, top.join(" | "));
        if let (Some(t), Some(correct)) = (&self.truth, self.correct) {
            line.push_str(&format!(
                "  (true: {}) {}",
                t.name,
                if correct { "right" } else { "WRONG" }
            ));
        }
        line
    }
}

pub fn run(args: &PredictArgs) -> Result<()> {
    if let Some(path) = &args.grid {
        output::check_writable(path)?;
    }
    let ckpt = checkpoint::load(&args.model)?;
    let mut indices = args.index.clone();
    let needs_data = !indices.is_empty() || (args.grid.is_some() && args.images.is_empty());
    if args.images.is_empty() && !needs_data {
        return Err(ConfigError::new(
            "nothing to predict: give image files, --index N, or --grid FILE",
        )
        .into());
    }
    let data = if needs_data {
        let data = super::load_dataset(&super::eval::data_for_model(&args.data, &ckpt)?)?;
        ckpt.check_fits(&args.model, &data)?;
        if indices.is_empty() {
            indices = (0..DEFAULT_GRID_IMAGES.min(data.test.count)).collect();
        }
        if let Some(&bad) = indices.iter().find(|&&i| i >= data.test.count) {
            return Err(ConfigError::new(format!(
                "--index {bad}: the {} test set has {} samples (0..={})",
                data.name,
                data.test.count,
                data.test.count.saturating_sub(1)
            ))
            .into());
        }
        Some(data)
    } else {
        None
    };
    let mut classifier = Classifier::from_checkpoint(ckpt)?;
    let (rows, cols) = classifier.input_shape();
    let k = (args.top as usize).min(classifier.class_names().len());

    let mut predictions = Vec::with_capacity(args.images.len() + indices.len());
    // An unreadable image does not stop the others; the run fails at the end, naming it.
    let mut unreadable = Vec::new();
    for path in &args.images {
        let img = match preprocess::open_noting(path) {
            Ok((img, note)) => {
                if let Some(note) = note {
                    eprintln!("note: {note}");
                }
                img
            }
            Err(e) => {
                unreadable.push(e);
                continue;
            }
        };
        let pixels = preprocess::prepare(&img, rows, cols);
        if pixels.iter().all(|&v| v == 0.0) {
            eprintln!(
                "note: {} looks blank (no ink found); the prediction means little",
                path.display()
            );
        }
        let probabilities = classifier.probabilities(&pixels);
        predictions.push(Prediction::new(
            path.display().to_string(),
            pixels,
            probabilities,
            None,
            &classifier,
            k,
        ));
    }
    if let Some(data) = &data {
        for &i in &indices {
            let pixels = data.test.input(i);
            let probabilities = classifier.probabilities(&pixels);
            predictions.push(Prediction::new(
                format!("test[{i}]"),
                pixels,
                probabilities,
                Some(data.test.labels[i] as usize),
                &classifier,
                k,
            ));
        }
    }

    if args.json {
        let json = serde_json::to_string_pretty(&predictions).expect("predictions serialise");
        println!("{json}");
    } else {
        for p in &predictions {
            println!("{}", p.line());
        }
    }
    if let Some(path) = &args.grid {
        let tiles: Vec<PredictionTile> = predictions
            .iter()
            .map(|p| PredictionTile {
                pixels: p.pixels.clone(),
                probabilities: p.probabilities.clone(),
                truth: p.truth.as_ref().map(|t| t.class),
            })
            .collect();
        let model_name = args
            .model
            .file_name()
            .map_or_else(|| "model".into(), |f| f.to_string_lossy());
        let title = match &data {
            Some(d) if args.images.is_empty() => {
                format!(
                    "{model_name} on {} test images (true class in brackets)",
                    d.name
                )
            }
            _ => format!("{model_name}: predictions"),
        };
        plots::prediction_grid(
            path,
            &tiles,
            (rows, cols),
            classifier.class_names(),
            3,
            &title,
        )?;
        if !args.json {
            println!("drew {} predictions into {}", tiles.len(), path.display());
        }
    }
    if unreadable.len() > 1 {
        for e in &unreadable {
            eprintln!("error: {e}");
        }
        return Err(ConfigError::new(format!(
            "{} of the {} images could not be read (listed above); the others were predicted",
            unreadable.len(),
            args.images.len()
        ))
        .into());
    }
    unreadable.pop().map_or(Ok(()), Err)
}
