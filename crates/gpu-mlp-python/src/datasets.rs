//! `keras.datasets.{mnist, fashion_mnist}.load_data()`: the data sets found where `gpu-mlp
//! train` finds them (`GPU_MLP_DATA`, the cache, Debian's fashion-mnist package, a download),
//! handed over as Keras hands them: `uint8` images `n × 28 × 28` and `uint8` labels.

use crate::errors::{no_panic, to_py};
use gpu_mlp::data::Samples;
use gpu_mlp::{load_dataset, DataSource, KnownDataset, LoadOptions};
use numpy::ndarray::{Array1, Array3};
use numpy::{IntoPyArray, PyArray1, PyArray3};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

type Split<'py> = (Bound<'py, PyArray3<u8>>, Bound<'py, PyArray1<u8>>);

/// `((x_train, y_train), (x_test, y_test))` of the known data set `name`.
#[pyfunction]
pub fn load_known<'py>(py: Python<'py>, name: &str) -> PyResult<(Split<'py>, Split<'py>)> {
    let known = KnownDataset::from_name(name).map_err(|e| to_py(e.into()))?;
    let data = py.detach(|| {
        no_panic(|| {
            load_dataset(&DataSource::Known(known), &LoadOptions::default())
                .map_err(|e| to_py(e.into()))
        })
    })?;
    let shape = (data.rows(), data.cols());
    let split = |samples: Samples| -> PyResult<Split<'py>> {
        let count = samples.count();
        let (inputs, labels) = samples.into_parts();
        let pixels = match inputs {
            gpu_mlp::data::Inputs::Pixels(p) => p,
            gpu_mlp::data::Inputs::Values(_) => {
                return Err(PyValueError::new_err("the data set holds no 8-bit pixels"))
            }
        };
        let labels = labels.iter().map(|&l| l as u8).collect::<Vec<u8>>();
        let images = Array3::from_shape_vec((count, shape.0, shape.1), pixels)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok((
            images.into_pyarray(py),
            Array1::from_vec(labels).into_pyarray(py),
        ))
    };
    let (train, test) = data.into_splits();
    Ok((split(train)?, split(test)?))
}
