//! NumPy arrays in and out. Inputs must be float32 and C-contiguous (the Python layer converts float64 and
//! copies other layouts with `np.ascontiguousarray`, never transposing); this module checks again and
//! raises a TypeError naming the argument, dtype, shape and order otherwise.

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

/// A (b, d) float32 C-order array copied into a row-major Vec.
pub fn matrix_f32(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<(Vec<f32>, usize, usize)> {
    let arr = obj.cast::<PyArray2<f32>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name}: expected a float32 numpy array of shape (b, d), got {}",
            describe(obj)
        ))
    })?;
    if !arr.is_c_contiguous() {
        return Err(PyTypeError::new_err(format!(
            "{name}: expected a C-contiguous array, got a Fortran-order or strided one of shape {:?} \
             (np.ascontiguousarray copies it)",
            arr.shape()
        )));
    }
    let (b, d) = (arr.shape()[0], arr.shape()[1]);
    let ro = arr.readonly();
    let v = ro
        .as_slice()
        .map_err(|e| PyTypeError::new_err(format!("{name}: {e}")))?
        .to_vec();
    Ok((v, b, d))
}

/// The dtype, shape and order of an object, for error messages.
pub fn describe(obj: &Bound<'_, PyAny>) -> String {
    let ty = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    match (obj.getattr("dtype"), obj.getattr("shape")) {
        (Ok(dt), Ok(sh)) => format!("{ty} with dtype {dt} and shape {sh}"),
        _ => ty,
    }
}

/// A row-major Vec as a (b, d) array (moved, not copied).
pub fn to_matrix<'py, T: numpy::Element>(
    py: Python<'py>,
    v: Vec<T>,
    b: usize,
    d: usize,
) -> PyResult<Bound<'py, PyArray2<T>>> {
    PyArray1::from_vec(py, v).reshape([b, d])
}

/// A Vec as a 1-D array.
pub fn to_vector<'py, T: numpy::Element>(py: Python<'py>, v: Vec<T>) -> Bound<'py, PyArray1<T>> {
    PyArray1::from_vec(py, v)
}
