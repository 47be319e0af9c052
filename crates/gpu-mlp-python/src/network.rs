//! `Network`: a model as the Python package holds it. Its parameters and what its checkpoint
//! records (class names, input shape, scaling) live here; the engine that trained it is kept
//! (see `fit::Session`) so the next run goes on where the last one stopped.

use crate::arrays::{self, Rows};
use crate::errors::{no_panic, to_py};
use crate::fit::{EngineKey, Session};
use gpu_mlp::data::{Inputs, Scaling, SourceKind};
use gpu_mlp::{BackendChoice, Checkpoint, Classifier, Dataset, ModelSpec, Optimizer, Samples};
use numpy::{PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// What a network keeps besides its parameters: the engine that trains it and the CPU
/// classifier that predicts with it (both made when first needed).
#[derive(Default)]
struct Engines {
    session: Option<Session>,
    classifier: Option<Classifier>,
}

/// A multilayer perceptron: ReLU hidden layers, softmax output, parameters in the library's
/// flat layout (`W[in, out]` then `b`, layer after layer).
#[pyclass(module = "gpu_mlp._core")]
pub struct Network {
    spec: ModelSpec,
    parameters: Vec<f32>,
    /// One name per class, index = class.
    #[pyo3(get, set)]
    class_names: Vec<String>,
    /// The table's column names the network reads, in order (empty: unnamed, read by
    /// position); the command line's `eval` and `predict` match CSV columns by them.
    #[pyo3(get, set)]
    feature_names: Vec<String>,
    /// The data set's name the checkpoint records.
    #[pyo3(get, set)]
    dataset: String,
    /// `(rows, cols)` of an image, `(1, features)` for a table.
    #[pyo3(get)]
    input_shape: (usize, usize),
    channels: usize,
    source: SourceKind,
    scaling: Scaling,
    /// Free-form header entries of the checkpoint (settings, metrics).
    #[pyo3(get, set)]
    metadata: BTreeMap<String, String>,
    engines: Mutex<Engines>,
}

impl Network {
    fn from_checkpoint(c: Checkpoint) -> Self {
        Self {
            spec: c.spec,
            parameters: c.parameters,
            class_names: c.class_names,
            feature_names: c.feature_names,
            dataset: c.dataset,
            input_shape: (c.rows, c.cols),
            channels: c.channels,
            source: c.source,
            scaling: c.scaling,
            metadata: c.metadata,
            engines: Mutex::default(),
        }
    }

    fn checkpoint(&self) -> Checkpoint {
        let (rows, cols) = self.input_shape;
        let mut c = Checkpoint::grey_images(
            self.spec.clone(),
            self.parameters.clone(),
            self.class_names.clone(),
            &self.dataset,
            (rows, cols),
        );
        c.channels = self.channels;
        c.source = self.source;
        c.scaling = self.scaling.clone();
        c.metadata = self.metadata.clone();
        c.feature_names = self.feature_names.clone();
        c
    }

    fn engines(&mut self) -> &mut Engines {
        self.engines.get_mut().unwrap_or_else(|p| p.into_inner())
    }

    /// New parameters: the classifier that predicted with the old ones goes.
    fn replace_parameters(&mut self, parameters: Vec<f32>) {
        self.parameters = parameters;
        self.engines().classifier = None;
    }
}

fn optimizer(
    name: &str,
    lr: f32,
    betas: (f32, f32),
    epsilon: f32,
    decay: f32,
) -> PyResult<Optimizer> {
    match name {
        "adam" | "adamw" => Ok(Optimizer::Adam {
            lr,
            beta1: betas.0,
            beta2: betas.1,
            epsilon,
            weight_decay: decay,
        }),
        "sgd" => Ok(Optimizer::Sgd { lr }),
        other => Err(PyValueError::new_err(format!(
            "optimizer '{other}': use adam, adamw or sgd"
        ))),
    }
}

#[pymethods]
impl Network {
    /// A network of `inputs` → `hidden` (ReLU) → `classes` (softmax), Glorot-initialised from
    /// `seed`, taking rows of `inputs` values (see `set_input`).
    #[new]
    #[pyo3(signature = (inputs, hidden, classes, dropout = 0.0, seed = 0))]
    fn new(
        inputs: usize,
        hidden: Vec<usize>,
        classes: usize,
        dropout: f32,
        seed: u64,
    ) -> PyResult<Self> {
        let spec = ModelSpec::new(inputs, hidden, classes, dropout).map_err(|e| to_py(e.into()))?;
        let parameters = spec.init_parameters(seed);
        Ok(Self {
            class_names: (0..classes).map(|c| c.to_string()).collect(),
            feature_names: Vec::new(),
            dataset: "python".to_string(),
            input_shape: (1, inputs),
            channels: 1,
            source: SourceKind::Memory,
            scaling: Scaling::None,
            metadata: BTreeMap::new(),
            engines: Mutex::default(),
            spec,
            parameters,
        })
    }

    /// A network from checkpoint bytes (what `to_bytes` and `gpu-mlp train` write).
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        let c = gpu_mlp::checkpoint::from_bytes(data, PathBuf::from("<bytes>")).map_err(to_py)?;
        Ok(Self::from_checkpoint(c))
    }

    /// A network from a checkpoint file.
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Self> {
        Ok(Self::from_checkpoint(
            gpu_mlp::load_checkpoint(&path).map_err(to_py)?,
        ))
    }

    /// The checkpoint's bytes (safetensors, as `gpu-mlp` writes it).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes =
            gpu_mlp::checkpoint::to_bytes(&self.checkpoint()).map_err(PyValueError::new_err)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Writes the checkpoint to `path` (through a temporary file and a rename).
    fn save(&self, path: PathBuf) -> PyResult<()> {
        gpu_mlp::save_checkpoint(&path, &self.checkpoint()).map_err(to_py)
    }

    /// Says what the model takes: `(rows, cols)` images (or `(1, n)` table rows) of `channels`
    /// values per pixel, scaled by `scaling` (`pixels`: 0..=255 → x/255, or `none`).
    #[pyo3(signature = (rows, cols, channels = 1, scaling = "none"))]
    fn set_input(
        &mut self,
        rows: usize,
        cols: usize,
        channels: usize,
        scaling: &str,
    ) -> PyResult<()> {
        if rows * cols * channels != self.spec.inputs {
            return Err(PyValueError::new_err(format!(
                "an input of {rows}x{cols}x{channels} is not the model's {} inputs",
                self.spec.inputs
            )));
        }
        self.scaling = match scaling {
            "pixels" => Scaling::Pixels,
            "none" => Scaling::None,
            other => {
                return Err(PyValueError::new_err(format!(
                    "scaling '{other}': use pixels or none"
                )))
            }
        };
        self.source = if rows > 1 {
            SourceKind::Idx
        } else {
            SourceKind::Memory
        };
        (self.input_shape, self.channels) = ((rows, cols), channels);
        Ok(())
    }

    #[getter]
    fn inputs(&self) -> usize {
        self.spec.inputs
    }
    #[getter]
    fn hidden(&self) -> Vec<usize> {
        self.spec.hidden.clone()
    }
    #[getter]
    fn classes(&self) -> usize {
        self.spec.classes
    }
    #[getter]
    fn dropout(&self) -> f32 {
        self.spec.dropout
    }
    #[getter]
    fn channels(&self) -> usize {
        self.channels
    }
    /// `pixels`, `standardize` or `none`.
    #[getter]
    fn scaling(&self) -> &'static str {
        self.scaling.name()
    }
    /// The training engine in words (`cpu (2 threads)`, `vulkan: ...`), once one was opened.
    #[getter]
    fn engine(&mut self) -> Option<String> {
        self.engines()
            .session
            .as_ref()
            .map(|s| s.engine.0.describe())
    }
    /// Why `auto` chose the engine it chose, when worth saying.
    #[getter]
    fn engine_note(&mut self) -> Option<String> {
        self.engines().session.as_ref().and_then(|s| s.note.clone())
    }

    /// `(fan_in, fan_out, weight_offset, bias_offset)` of each dense layer in `parameters()`.
    fn layers(&self) -> Vec<(usize, usize, usize, usize)> {
        let layers = self.spec.layers();
        layers
            .iter()
            .map(|l| (l.fan_in, l.fan_out, l.weight_offset, l.bias_offset))
            .collect()
    }

    /// A copy of every parameter, flat.
    fn parameters<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        PyArray1::from_slice(py, &self.parameters)
    }

    /// Replaces every parameter; the optimizer's moments start again.
    fn set_parameters(&mut self, values: PyReadonlyArray1<'_, f32>) -> PyResult<()> {
        let values = values
            .as_slice()
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .to_vec();
        self.spec
            .check_parameters(&values)
            .map_err(|e| to_py(e.into()))?;
        self.engines().session = None;
        self.replace_parameters(values);
        Ok(())
    }

    /// Forgets the training engine: the next `fit` starts Adam afresh from the parameters.
    fn reset_training(&mut self) {
        self.engines().session = None;
    }

    /// Class probabilities, `n × classes`, for rows of inputs (`float32` taken as the network's
    /// inputs unless the model standardises; `uint8` scaled as the model's training data was).
    fn predict_proba<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let rows = Rows::read(x)?;
        if rows.features != self.spec.inputs {
            return Err(PyValueError::new_err(format!(
                "X has {} features, but the model takes {}",
                rows.features, self.spec.inputs
            )));
        }
        let raw = matches!(rows.inputs, Inputs::Pixels(_))
            || matches!(self.scaling, Scaling::Standardize { .. });
        let mut values = rows.into_values();
        if self.engines().classifier.is_none() {
            let classifier = Classifier::from_checkpoint(self.checkpoint()).map_err(to_py)?;
            self.engines().classifier = Some(classifier);
        }
        let classes = self.spec.classes;
        let engines = self.engines();
        let classifier = engines.classifier.as_mut().expect("made above");
        let probabilities = py.detach(|| {
            no_panic(|| {
                if raw {
                    classifier.scale(&mut values);
                }
                Ok(classifier.probabilities_batch(&values))
            })
        })?;
        arrays::matrix(py, probabilities, classes)
    }

    /// Trains `epochs` epochs on `x`, `y` (class indices), the rows of `x_val`, `y_val` (when
    /// given) evaluated after each epoch. `warm` goes on from the last run's engine (Adam's
    /// moments and step count) when its settings are the same; otherwise training starts from
    /// the current parameters with fresh moments. `callback(event, payload)` hears of every
    /// epoch and step batch and may return True at `epoch_end` to stop.
    #[pyo3(signature = (x, y, x_val, y_val, *, epochs, batch_size, optimizer_name, lr, beta_1,
                        beta_2, epsilon, weight_decay, seed, backend, adapter, callback, warm))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        &mut self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: PyReadonlyArray1<'_, u16>,
        x_val: Option<&Bound<'_, PyAny>>,
        y_val: Option<PyReadonlyArray1<'_, u16>>,
        epochs: usize,
        batch_size: usize,
        optimizer_name: &str,
        lr: f32,
        beta_1: f32,
        beta_2: f32,
        epsilon: f32,
        weight_decay: f32,
        seed: u64,
        backend: &str,
        adapter: Option<String>,
        callback: Py<PyAny>,
        warm: bool,
    ) -> PyResult<()> {
        let optimizer = optimizer(optimizer_name, lr, (beta_1, beta_2), epsilon, weight_decay)?;
        let backend: BackendChoice = backend
            .parse()
            .map_err(|e: gpu_mlp::error::ConfigError| PyValueError::new_err(e.to_string()))?;
        let (data, held_out) = self.dataset(x, y, x_val, y_val)?;
        let key = EngineKey {
            backend,
            adapter,
            optimizer,
            batch_size,
            spec: self.spec.clone(),
        };
        let parameters = self.parameters.clone();
        let engines = self.engines();
        let reuse = warm && engines.session.as_ref().is_some_and(|s| s.key == key);
        if !reuse {
            engines.session = None;
        }
        let session = &mut engines.session;
        let outcome = py.detach(|| {
            no_panic(|| {
                let session = match session {
                    Some(s) => s,
                    None => session.insert(Session::open(key, &parameters).map_err(to_py)?),
                };
                session
                    .train(&data, held_out, epochs, seed, &callback)
                    .map_err(to_py)
            })
        });
        match outcome {
            Ok((parameters, stopped_by)) => {
                self.replace_parameters(parameters);
                stopped_by.map_or(Ok(()), Err)
            }
            Err(e) => {
                // A failed run leaves no engine whose state nobody knows.
                self.engines().session = None;
                Err(e)
            }
        }
    }
}

impl Network {
    /// The training rows (the validation rows after them) as a data set for the loop, and how
    /// many rows at its end are held out.
    fn dataset(
        &self,
        x: &Bound<'_, PyAny>,
        y: PyReadonlyArray1<'_, u16>,
        x_val: Option<&Bound<'_, PyAny>>,
        y_val: Option<PyReadonlyArray1<'_, u16>>,
    ) -> PyResult<(Dataset, usize)> {
        let mut rows = Rows::read(x)?;
        let mut labels = arrays::labels(y)?;
        let mut held_out = 0;
        if let (Some(xv), Some(yv)) = (x_val, y_val) {
            let val = Rows::read(xv)?;
            held_out = val.count;
            rows.inputs = match (rows.inputs, val.inputs) {
                (Inputs::Values(mut a), Inputs::Values(b)) => {
                    a.extend_from_slice(&b);
                    Inputs::Values(a)
                }
                (Inputs::Pixels(mut a), Inputs::Pixels(b)) => {
                    a.extend_from_slice(&b);
                    Inputs::Pixels(a)
                }
                _ => {
                    return Err(PyValueError::new_err(
                        "validation data must have the training data's dtype",
                    ))
                }
            };
            labels.extend(arrays::labels(yv)?);
        }
        if rows.features != self.spec.inputs {
            return Err(PyValueError::new_err(format!(
                "X has {} features, but the model takes {}",
                rows.features, self.spec.inputs
            )));
        }
        let data_error = |e: gpu_mlp::data::DataError| to_py(e.into());
        let train = Samples::new(rows.inputs, labels, rows.features).map_err(data_error)?;
        // The loop evaluates a test split after the last epoch; one row keeps that free.
        let test = train.first(1);
        let (r, c) = self.input_shape;
        let shape = if r * c * self.channels == self.spec.inputs {
            (r, c)
        } else {
            (1, self.spec.inputs)
        };
        let names = (0..self.spec.classes).map(|c| c.to_string()).collect();
        let data = Dataset::new(&self.dataset, names, shape, train, test).map_err(data_error)?;
        Ok((data, held_out))
    }
}
