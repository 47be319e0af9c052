//! `gpu_mlp._core`: the Rust side of the Python package `gpu_mlp`. It holds one class,
//! [`Network`](network::Network): a model (layer sizes, parameters, what its checkpoint
//! records), its training on either engine through the library's one loop, its predictions,
//! and its checkpoint bytes. The scikit-learn and Keras fronts are pure Python around it
//! (`python/gpu_mlp/`), so every argument check and message those users expect lives there.
//!
//! The files by idea: `network` (the class), `fit` (a training run: engine kept between runs,
//! GIL released, the loop's events handed to a Python callback), `arrays` (numpy in and out),
//! `datasets` (MNIST and Fashion-MNIST as Keras loads them), `errors` (library errors and
//! panics as Python exceptions).

mod arrays;
mod datasets;
mod errors;
mod fit;
mod network;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::use_python_names();
    m.add_class::<network::Network>()?;
    m.add_function(wrap_pyfunction!(datasets::load_known, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
