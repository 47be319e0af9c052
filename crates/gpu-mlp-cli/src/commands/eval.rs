//! `gpu-mlp eval`: a saved model on a data set's test split: loss, accuracy, accuracy per
//! class, and the confusion matrix (text, and a heat map with `--confusion-png`).

use crate::cli::{DataArgs, EngineArgs, EvalArgs};
use crate::{console, plots};
use gpu_mlp::checkpoint::{self, Checkpoint};
use gpu_mlp::data::{
    ColorMode, Dataset, Inputs, KnownDataset, Label, LoadOptions, ModelNames, Samples,
    ScaleRequest, Scaling, SourceKind,
};
use gpu_mlp::engine::{Engine, Evaluation, Split};
use gpu_mlp::error::{ConfigError, Result};
use gpu_mlp::fsio::atomic;
use gpu_mlp::model::optimizer::Optimizer;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// The figures `eval` prints.
#[derive(Clone, Debug)]
pub struct EvalReport {
    pub evaluation: Evaluation,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    pub class_names: Vec<String>,
}

impl EvalReport {
    /// `(samples, correct)` of each true class.
    pub fn per_class(&self) -> Vec<(usize, usize)> {
        self.confusion
            .iter()
            .enumerate()
            .map(|(c, row)| (row.iter().sum(), row[c]))
            .collect()
    }
}

/// `confusion[true][predicted]` over `classes` classes; labels out of range are left out.
pub fn confusion_matrix(predictions: &[u32], labels: &[Label], classes: usize) -> Vec<Vec<usize>> {
    let mut m = vec![vec![0usize; classes]; classes];
    for (&p, &t) in predictions.iter().zip(labels) {
        if (t as usize) < classes && (p as usize) < classes {
            m[t as usize][p as usize] += 1;
        }
    }
    m
}

/// The data arguments for a saved model: the flags where given, else the data it was trained
/// on: the folder or file it was read from (recorded as `data_dir`) while that still exists,
/// else the known data set of that name.
pub fn data_for_model(args: &DataArgs, ckpt: &Checkpoint) -> Result<DataArgs> {
    let trained_on = KnownDataset::from_name(&ckpt.dataset).ok();
    let recorded_dir = ckpt
        .metadata
        .get("data_dir")
        .map(PathBuf::from)
        .filter(|path| path.exists());
    let data = match (&args.data, &args.dataset) {
        (Some(dir), _) => Some(dir.clone()),
        (None, Some(_)) => None,
        (None, None) => match (recorded_dir, trained_on) {
            (Some(dir), _) => Some(dir),
            (None, Some(_)) => None,
            (None, None) => {
                return Err(ConfigError::new(format!(
                    "the model was trained on '{}', which is not a known data set and whose \
                     folder or file is not found; pass --data PATH or --dataset NAME",
                    ckpt.dataset
                ))
                .into());
            }
        },
    };
    // Read as the model's training data was: its label column, its image size and colour, and
    // its scaling (never measured again on this data), unless the flags say otherwise.
    let image_folder = ckpt.source == SourceKind::ImageFolder;
    let recorded_label = ckpt
        .metadata
        .get("label_column")
        .and_then(|c| c.parse().ok());
    let color = match ckpt.channels {
        3 => ColorMode::Rgb,
        _ => ColorMode::Gray,
    };
    Ok(DataArgs {
        dataset: args
            .dataset
            .clone()
            .or_else(|| trained_on.map(|d| d.name().to_string())),
        data,
        label_column: args.label_column.clone().or(recorded_label),
        image_size: args
            .image_size
            .or(image_folder.then_some((ckpt.cols as u32, ckpt.rows as u32))),
        color: args.color.or(image_folder.then_some(color)),
        scale: match &args.scale {
            ScaleRequest::Auto => ScaleRequest::Given(ckpt.scaling.clone()),
            given => given.clone(),
        },
        ..args.clone()
    })
}

/// The seed the model's run drew its `--test-split` with, so `eval` holds out the same rows.
fn recorded_seed(ckpt: &Checkpoint) -> u64 {
    ckpt.metadata
        .get("seed")
        .and_then(|s| s.parse().ok())
        .unwrap_or(LoadOptions::default().seed)
}

/// The data for the model saved at `model`, as the flags name it (see [`data_for_model`]),
/// checked to fit the model. Its test split is not scaled yet: see [`test_for_model`].
pub fn data_for_checkpoint(args: &DataArgs, ckpt: &Checkpoint, model: &Path) -> Result<Dataset> {
    let names = ModelNames {
        classes: ckpt.class_names.clone(),
        features: ckpt.feature_names.clone(),
    };
    let args = data_for_model(args, ckpt)?;
    let (data, _) = super::load_dataset_for(&args, recorded_seed(ckpt), Some(names))?;
    ckpt.check_fits(model, &data)?;
    Ok(data)
}

/// `data`'s test split scaled as the model's training data was: with the scaling the model
/// carries, never one measured again on this data (a test set standardised by its own mean
/// would not be the inputs the model learned from). Pixels and raw values are scaled here;
/// data that was loaded already scaled another way is refused.
pub fn test_for_model<'a>(data: &'a Dataset, ckpt: &Checkpoint) -> Result<Cow<'a, Samples>> {
    let test = data.test();
    if *data.scaling() == ckpt.scaling {
        return Ok(Cow::Borrowed(test));
    }
    let mut raw: Vec<f32> = match (test.inputs(), data.scaling()) {
        (Inputs::Pixels(p), _) => p.iter().map(|&x| f32::from(x)).collect(),
        (Inputs::Values(v), Scaling::None) => v.clone(),
        (Inputs::Values(_), loaded) => {
            return Err(ConfigError::new(format!(
                "the data '{}' was loaded with '{}' scaling, but the model needs its own '{}' \
                 scaling of the raw values",
                data.name(),
                loaded.name(),
                ckpt.scaling.name()
            ))
            .into());
        }
    };
    ckpt.scaling.apply_all(&mut raw, test.features());
    let scaled = Samples::new(Inputs::Values(raw), test.labels().to_vec(), test.features())?;
    Ok(Cow::Owned(scaled))
}

/// The engine that evaluates: the one `--backend` / `--adapter` pick (as for `train`), holding
/// the checkpoint's parameters.
fn engine_for(engine: &EngineArgs, ckpt: &Checkpoint) -> Result<Box<dyn Engine>> {
    // Evaluation takes no optimizer step; the optimizer and training batch size are unused.
    let optimizer = Optimizer::adam(1e-3);
    Ok(super::open_engine(engine, &ckpt.spec, &ckpt.parameters, optimizer, 1)?.engine)
}

/// Evaluates `ckpt` on `test` with `engine` (which holds the checkpoint's parameters).
pub fn evaluate(engine: &mut dyn Engine, ckpt: &Checkpoint, test: &Samples) -> Result<EvalReport> {
    engine.load_split(Split::Test, test)?;
    let evaluation = engine.evaluate(Split::Test, 0..test.count())?;
    let confusion = confusion_matrix(&evaluation.predictions, test.labels(), ckpt.spec.classes);
    Ok(EvalReport {
        evaluation,
        confusion,
        class_names: ckpt.class_names.clone(),
    })
}

/// The text `eval` prints after its header: the test line (as `train` prints it), the
/// per-class table and the confusion matrix.
pub fn format_report(r: &EvalReport) -> String {
    let mut s = format!("{}\n\n", console::test_line(&r.evaluation));
    let name_w = r
        .class_names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    s.push_str(&format!(
        "{:>5}  {:<name_w$}  {:>7}  {:>7}  {:>8}\n",
        "class", "name", "samples", "correct", "accuracy"
    ));
    for (c, (count, correct)) in r.per_class().into_iter().enumerate() {
        let accuracy = if count > 0 {
            format!("{:.2}%", 100.0 * correct as f64 / count as f64)
        } else {
            "-".to_string()
        };
        s.push_str(&format!(
            "{c:>5}  {:<name_w$}  {count:>7}  {correct:>7}  {accuracy:>8}\n",
            r.class_names.get(c).map_or("", |n| n.as_str())
        ));
    }
    let n = r.confusion.len();
    let cell = r
        .confusion
        .iter()
        .flatten()
        .map(|v| v.to_string().len())
        .max()
        .unwrap_or(1)
        .max(n.to_string().len())
        + 1;
    // Row labels: the class number, and its name where that says more (Fashion-MNIST).
    let labels: Vec<String> = (0..n)
        .map(|t| match r.class_names.get(t) {
            Some(name) if *name != t.to_string() => format!("{t} {name}"),
            _ => t.to_string(),
        })
        .collect();
    let label_w = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    s.push_str("\nconfusion matrix (rows: true class, columns: predicted class)\n");
    s.push_str(&format!("{:label_w$}", ""));
    for p in 0..n {
        s.push_str(&format!("{p:>cell$}"));
    }
    s.push('\n');
    for (label, row) in labels.iter().zip(&r.confusion) {
        s.push_str(&format!("{label:<label_w$}"));
        for v in row {
            s.push_str(&format!("{v:>cell$}"));
        }
        s.push('\n');
    }
    s
}

pub fn run(args: &EvalArgs) -> Result<EvalReport> {
    if let Some(path) = &args.confusion_png {
        let mut inputs = vec![("--model", args.model.as_path())];
        inputs.extend(args.data.data.as_deref().map(|p| ("--data", p)));
        inputs.extend(args.data.test_data.as_deref().map(|p| ("--test-data", p)));
        crate::output_paths::check(&inputs, &[("--confusion-png", path)])?;
        atomic::check_writable(path)?;
    }
    let ckpt = checkpoint::load(&args.model)?;
    let data = data_for_checkpoint(&args.data, &ckpt, &args.model)?;
    let test = test_for_model(&data, &ckpt)?;
    let mut engine = engine_for(&args.engine, &ckpt)?;
    println!("model: {} - {}", args.model.display(), ckpt.describe());
    println!(
        "data: {} test split, {} {} - engine: {}",
        data.name(),
        data.test().count(),
        if data.is_image() { "images" } else { "rows" },
        engine.describe()
    );
    if ckpt.dataset != data.name() && ckpt.dataset != "unknown" {
        println!(
            "note: the model was trained on '{}', this is '{}'",
            ckpt.dataset,
            data.name()
        );
    }
    let report = evaluate(engine.as_mut(), &ckpt, &test)?;
    print!("{}", format_report(&report));
    if let Some(path) = &args.confusion_png {
        let title = format!(
            "{} on {} test images: accuracy {:.2}%",
            args.model
                .file_name()
                .map_or_else(|| "model".into(), |f| f.to_string_lossy()),
            data.name(),
            100.0 * report.evaluation.accuracy()
        );
        plots::confusion_heatmap(path, &report.confusion, &report.class_names, &title)?;
        println!("drew the confusion matrix into {}", path.display());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_counts_and_per_class_accuracy() {
        let m = confusion_matrix(&[0, 1, 1, 2, 0], &[0, 1, 2, 2, 1], 3);
        assert_eq!(m, vec![vec![1, 0, 0], vec![1, 1, 0], vec![0, 1, 1]]);
        let r = EvalReport {
            evaluation: Evaluation {
                count: 5,
                loss_sum: 1.0,
                correct: 3,
                predictions: vec![0, 1, 1, 2, 0],
            },
            confusion: m,
            class_names: vec!["zero".into(), "one".into(), "two".into()],
        };
        assert_eq!(r.per_class(), vec![(1, 1), (2, 1), (2, 1)]);
        let text = format_report(&r);
        assert!(text.contains("test accuracy: 0.6000"), "{text}");
        assert!(
            text.contains("    1  one         2        1    50.00%"),
            "{text}"
        );
        assert!(text.contains("\n2 two  0 1 1\n"), "{text}");
        // Names equal to the class number (MNIST) are not repeated.
        let digits = EvalReport {
            class_names: vec!["0".into(), "1".into(), "2".into()],
            ..r
        };
        assert!(format_report(&digits).contains("\n2 0 1 1\n"));
    }
}
