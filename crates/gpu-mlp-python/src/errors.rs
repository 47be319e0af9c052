//! The library's errors and Rust panics as the Python exceptions scikit-learn and Keras users
//! expect: bad settings or data are `ValueError`, files `OSError`, the device `RuntimeError`.

use gpu_mlp::Error;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::PyErr;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The Python exception for a library error.
pub fn to_py(error: Error) -> PyErr {
    // The command line's flag is not what a Python user sets (learning_rate[_init]).
    let message = error.to_string().replace(" (--lr)", "");
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
