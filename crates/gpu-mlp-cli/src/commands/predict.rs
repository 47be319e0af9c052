//! `gpu-mlp predict`: classify image files, a table's rows (CSV files, for a model trained on
//! a table) or test-set samples with a saved model; print the most probable classes (text or
//! JSON) and optionally draw the tutorial's prediction figure.

use super::{eval, predict_rows};
use crate::cli::PredictArgs;
use crate::plots::{self, PredictionTile};
use gpu_mlp::checkpoint;
use gpu_mlp::data::LabelColumn;
use gpu_mlp::error::{ConfigError, Result};
use gpu_mlp::fsio::atomic;
use gpu_mlp::inference::classifier::{top_k, Classifier};
use gpu_mlp::inference::preprocess::{self, Preprocess};
use serde::Serialize;

/// The most pictures `--grid` draws; the predictions of the rest are printed all the same.
const MAX_GRID_TILES: usize = 100;

/// Test images drawn by `--grid` when no image or index is given (the tutorial's 5 x 3).
pub const DEFAULT_GRID_IMAGES: usize = 15;

/// One classified image.
#[derive(Clone, Debug, Serialize)]
pub struct Prediction {
    /// The file name, `FILE:LINE` for a table's row, or `test[N]` for a test-set sample.
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
    /// What the model saw as a picture (after preprocessing; empty for table rows); not
    /// printed.
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

/// A CSV or TSV file (gzipped or not): rows of inputs, which image models take too (Kaggle's
/// MNIST `test.csv` is 784 pixel columns a row).
fn is_rows_file(path: &std::path::Path) -> bool {
    let name = path.to_string_lossy().to_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.ends_with(".csv") || name.ends_with(".tsv")
}

pub fn run(args: &PredictArgs) -> Result<()> {
    if let Some(path) = &args.grid {
        let mut inputs = vec![("--model", args.model.as_path())];
        inputs.extend(args.images.iter().map(|p| ("IMAGE", p.as_path())));
        inputs.extend(args.data.data.as_deref().map(|p| ("--data", p)));
        crate::output_paths::check(&inputs, &[("--grid", path)])?;
        atomic::check_writable(path)?;
    }
    let ckpt = checkpoint::load(&args.model)?;
    let table = !ckpt.is_image();
    if table {
        // Named by extension: a picture's name (`digit.png`) never names a CSV file.
        let picture = args
            .images
            .iter()
            .find(|p| image::ImageFormat::from_path(p).is_ok());
        let refused = match (&args.grid, args.preprocess, picture) {
            (Some(_), _, _) => Some("--grid draws pictures".to_string()),
            (None, Some(_), _) => Some("--preprocess prepares pictures".to_string()),
            (None, None, Some(p)) => Some(format!("{} is a picture", p.display())),
            (None, None, None) => None,
        };
        if let Some(refused) = refused {
            return Err(ConfigError::new(format!(
                "{refused}, but {} takes rows of {} (it was trained on a {} table); give CSV \
                 files of rows instead",
                args.model.display(),
                ckpt.input_words(),
                ckpt.source.name()
            ))
            .into());
        }
    }
    let mut indices = args.index.clone();
    let needs_data = !indices.is_empty() || (args.grid.is_some() && args.images.is_empty());
    if args.images.is_empty() && !needs_data {
        let what = if table {
            "CSV files of rows"
        } else {
            "image files"
        };
        return Err(ConfigError::new(format!(
            "nothing to predict: give {what}, --index N, or --grid FILE"
        ))
        .into());
    }
    let data = if needs_data {
        let data = eval::data_for_checkpoint(&args.data, &ckpt, &args.model)?;
        if indices.is_empty() {
            indices = (0..DEFAULT_GRID_IMAGES.min(data.test().count())).collect();
        }
        if let Some(&bad) = indices.iter().find(|&&i| i >= data.test().count()) {
            return Err(ConfigError::new(format!(
                "--index {bad}: the {} test set has {} samples (0..={})",
                data.name(),
                data.test().count(),
                data.test().count().saturating_sub(1)
            ))
            .into());
        }
        Some(data)
    } else {
        None
    };
    let test = data
        .as_ref()
        .map(|d| eval::test_for_model(d, &ckpt))
        .transpose()?;
    let label_column: Option<LabelColumn> = ckpt
        .metadata
        .get("label_column")
        .and_then(|c| c.parse().ok());
    let mut classifier = Classifier::from_checkpoint(ckpt)?;
    let (rows, cols) = classifier.input_shape();
    let k = (args.top as usize).min(classifier.class_names().len());
    let how = args
        .preprocess
        .unwrap_or_else(|| classifier.default_preprocess());

    let mut predictions = Vec::with_capacity(args.images.len() + indices.len());
    // An unreadable file does not stop the others; the run fails at the end, naming it.
    let mut unreadable = Vec::new();
    for path in &args.images {
        if table || is_rows_file(path) {
            let columns = &classifier.checkpoint().feature_names;
            match predict_rows::read(path, columns, classifier.inputs(), label_column.as_ref()) {
                Ok(rows) => {
                    for row in rows {
                        let mut inputs = row.values;
                        classifier.scale(&mut inputs);
                        let probabilities = classifier.probabilities(&inputs);
                        predictions.push(Prediction::new(
                            row.source,
                            Vec::new(),
                            probabilities,
                            None,
                            &classifier,
                            k,
                        ));
                    }
                }
                Err(e) => unreadable.push(e),
            }
            continue;
        }
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
        let prepared = classifier.prepare(&img, how)?;
        if how == Preprocess::Mnist && prepared.shown.iter().all(|&v| v == 0.0) {
            eprintln!(
                "note: {} looks blank (no ink found); the prediction means little",
                path.display()
            );
        }
        let probabilities = classifier.probabilities(&prepared.inputs);
        predictions.push(Prediction::new(
            path.display().to_string(),
            prepared.shown,
            probabilities,
            None,
            &classifier,
            k,
        ));
    }
    if let Some(test) = &test {
        for &i in &indices {
            let inputs = test.input(i);
            let probabilities = classifier.probabilities(&inputs);
            predictions.push(Prediction::new(
                format!("test[{i}]"),
                inputs,
                probabilities,
                Some(test.labels()[i] as usize),
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
        // A grid of 10,000 pictures is a 48 MB PNG no one reads and gigabytes to draw.
        let tiles: Vec<PredictionTile> = predictions
            .iter()
            .take(MAX_GRID_TILES)
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
                    d.name()
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
        if predictions.len() > tiles.len() {
            // On stderr, so `--json` output stays one JSON document.
            eprintln!(
                "note: drew the first {} of {} predictions into {} (a grid shows at most {})",
                tiles.len(),
                predictions.len(),
                path.display(),
                MAX_GRID_TILES
            );
        } else if !args.json {
            println!("drew {} predictions into {}", tiles.len(), path.display());
        }
    }
    if unreadable.len() > 1 {
        for e in &unreadable {
            eprintln!("error: {e}");
        }
        return Err(ConfigError::new(format!(
            "{} of the {} {} could not be read (listed above); the others were predicted",
            unreadable.len(),
            args.images.len(),
            if table { "files" } else { "images" }
        ))
        .into());
    }
    unreadable.pop().map_or(Ok(()), Err)
}
