//! Library errors as Python exceptions. The classes live in `diffscope/errors.py` (each a subclass of
//! `DiffscopeError` and of the matching builtin: parameter, shape, format and non-finite errors are
//! `ValueError`s, I/O errors `OSError`s); `Interrupted` becomes `KeyboardInterrupt`.

use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::PyErr;

pyo3::import_exception!(diffscope.errors, DiffscopeError);
pyo3::import_exception!(diffscope.errors, ParamError);
pyo3::import_exception!(diffscope.errors, ShapeError);
pyo3::import_exception!(diffscope.errors, NonFiniteError);
pyo3::import_exception!(diffscope.errors, FormatError);
pyo3::import_exception!(diffscope.errors, ConfigError);
pyo3::import_exception!(diffscope.errors, NumericalError);
pyo3::import_exception!(diffscope.errors, DiffscopeIOError);
pyo3::import_exception!(diffscope.errors, ScoreCallError);
pyo3::import_exception!(diffscope.errors, DeviceError);

/// Maps a library error to its Python exception, keeping the library's message.
pub fn to_py(e: diffscope::Error) -> PyErr {
    use diffscope::Error as E;
    let msg = e.to_string();
    match e {
        E::Io { path, error } => match error.raw_os_error() {
            Some(code) => DiffscopeIOError::new_err((code, msg, path.display().to_string())),
            None => DiffscopeIOError::new_err(msg),
        },
        E::Format { .. } => FormatError::new_err(msg),
        E::NonFinite { .. } => NonFiniteError::new_err(msg),
        E::Param { .. } => ParamError::new_err(msg),
        E::Shape { .. } => ShapeError::new_err(msg),
        E::Config { .. } => ConfigError::new_err(msg),
        E::Numerical { .. } => NumericalError::new_err(msg),
        E::Device { .. } => DeviceError::new_err(msg),
        E::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
        _ => DiffscopeError::new_err(msg),
    }
}

/// `.map_err(to_py)` in one word.
pub trait IntoPyResult<T> {
    /// The library result as a Python result.
    fn py(self) -> pyo3::PyResult<T>;
}

impl<T> IntoPyResult<T> for diffscope::Result<T> {
    fn py(self) -> pyo3::PyResult<T> {
        self.map_err(to_py)
    }
}
