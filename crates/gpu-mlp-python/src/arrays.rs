//! numpy arrays in and out. The Python layer hands over C-contiguous 2-D `float32` or `uint8`
//! arrays (it reshapes images to rows and converts anything else once); they are read here
//! straight from numpy's memory into the one buffer the engine trains from.

use gpu_mlp::data::{Inputs, Label};
use numpy::ndarray::Array2;
use numpy::{
    Element, IntoPyArray, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// Rows of inputs: `count × features` values, 8-bit pixels kept packed.
pub struct Rows {
    pub inputs: Inputs,
    pub count: usize,
    pub features: usize,
}

impl Rows {
    /// Reads a 2-D C-contiguous `float32` or `uint8` array.
    pub fn read(x: &Bound<'_, PyAny>) -> PyResult<Rows> {
        Self::read_as(x, Inputs::Values)
            .or_else(|| Self::read_as(x, Inputs::Pixels))
            .unwrap_or_else(|| {
                Err(PyTypeError::new_err(
                    "inputs must be a 2-D numpy array of float32 or uint8",
                ))
            })
    }

    /// The rows of `x` when it is a 2-D array of `T` (none when it is not).
    fn read_as<T: Element + Copy>(
        x: &Bound<'_, PyAny>,
        inputs: fn(Vec<T>) -> Inputs,
    ) -> Option<PyResult<Rows>> {
        let a = x.extract::<PyReadonlyArray2<'_, T>>().ok()?;
        let (count, features) = (a.shape()[0], a.shape()[1]);
        Some(a.as_slice().map_err(not_contiguous).map(|values| Rows {
            inputs: inputs(values.to_vec()),
            count,
            features,
        }))
    }

    /// The values as `f32`: pixels as 0..=255 (the model's scaling is applied after).
    pub fn into_values(self) -> Vec<f32> {
        match self.inputs {
            Inputs::Values(v) => v,
            Inputs::Pixels(p) => p.into_iter().map(f32::from).collect(),
        }
    }
}

fn not_contiguous(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("inputs must be C-contiguous: {e}"))
}

/// Class indices from a 1-D `uint16` array.
pub fn labels(y: PyReadonlyArray1<'_, u16>) -> PyResult<Vec<Label>> {
    Ok(y.as_slice().map_err(not_contiguous)?.to_vec())
}

/// `rows × cols` values as a 2-D numpy array (no copy: numpy takes the vector).
pub fn matrix(py: Python<'_>, values: Vec<f32>, cols: usize) -> PyResult<Bound<'_, PyArray2<f32>>> {
    let rows = values.len().checked_div(cols).unwrap_or(0);
    let array = Array2::from_shape_vec((rows, cols), values)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(array.into_pyarray(py))
}
