//! The library's errors and Rust panics as the Python exceptions scikit-learn and Keras users
//! expect: bad settings or data are `ValueError`, files `OSError`, the device `RuntimeError`.

use gpu_mlp::setting::{use_vocabulary, Vocabulary};
use gpu_mlp::{Error, Setting};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::PyErr;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Settings named as the Python fronts' parameters, where both fronts agree on one (Keras's
/// `fit`/`Adam` and scikit-learn's `MLPClassifier`); the others keep the library's plain name.
struct PythonNames;

impl Vocabulary for PythonNames {
    fn name(&self, setting: Setting) -> &'static str {
        match setting {
            Setting::Epochs => "epochs",
            Setting::BatchSize => "batch_size",
            Setting::LearningRate => "learning_rate",
            Setting::HiddenWidths => "hidden_layer_sizes",
            Setting::ValidationSplit => "validation_split",
            Setting::WeightDecay => "weight_decay",
            Setting::Backend => "backend",
            Setting::Adapter => "adapter",
            other => other.name(),
        }
    }
    fn setting_word(&self) -> &'static str {
        "argument"
    }
}

/// Makes library messages name Python parameters for the rest of the process.
pub fn use_python_names() {
    use_vocabulary(&PythonNames);
}

/// The Python exception for a library error.
pub fn to_py(error: Error) -> PyErr {
    let message = error.to_string();
    match error {
        // scikit-learn raises ValueError when the solver's weights become non-finite.
        Error::Config(_)
        | Error::Data(_)
        | Error::Checkpoint(_)
        | Error::Image(_)
        | Error::Diverged { .. } => PyValueError::new_err(message),
        Error::Read { .. } | Error::Write { .. } => PyOSError::new_err(message),
        _ => PyRuntimeError::new_err(message),
    }
}

/// Runs `work`, turning a panic into a `RuntimeError` (pyo3 would raise its `PanicException`,
/// a `BaseException` that `except Exception` does not catch).
pub fn no_panic<T>(work: impl FnOnce() -> Result<T, PyErr>) -> Result<T, PyErr> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        Err(PyRuntimeError::new_err(format!(
            "gpu-mlp internal error (please report it): {what}"
        )))
    })
}
