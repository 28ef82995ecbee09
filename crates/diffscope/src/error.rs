//! The library's one error type. Every variant names what was wrong (a file, a field, a row) and the
//! offending value, so that a message printed by the CLI tells the user what to change.

use std::path::PathBuf;

/// Errors returned by diffscope's library routines.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system error while reading or writing `path`.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file that could not be read or written.
        path: PathBuf,
        /// The underlying I/O error.
        error: std::io::Error,
    },
    /// A file whose content is malformed (bad header, wrong dtype, truncated, ragged...).
    #[error("{}: {msg}", path.display())]
    Format {
        /// The offending file.
        path: PathBuf,
        /// What is wrong, with the row/field and value where known.
        msg: String,
    },
    /// A NaN or infinite value in input data.
    #[error("{source_name}: non-finite value {value} at row {row}, column {col}")]
    NonFinite {
        /// Where the data came from (a file name or a description).
        source_name: String,
        /// Row (sample) index, 0-based.
        row: usize,
        /// Column (feature) index, 0-based.
        col: usize,
        /// The offending value as text.
        value: String,
    },
    /// A parameter outside its allowed range.
    #[error("invalid parameter `{name}` = {value}: expected {expected}")]
    Param {
        /// The parameter's name, as in configs and on the command line.
        name: String,
        /// The value given.
        value: String,
        /// What would be accepted.
        expected: String,
    },
    /// Arrays whose shapes do not fit together.
    #[error("shape mismatch in {what}: {detail}")]
    Shape {
        /// Which operation or input.
        what: String,
        /// The shapes involved.
        detail: String,
    },
    /// A configuration file that does not parse or has unknown keys.
    #[error("config {}: {msg}", path.display())]
    Config {
        /// The config file (or `<inline>`).
        path: PathBuf,
        /// The parser's message.
        msg: String,
    },
    /// A numerical routine that failed (no convergence, no root in the bracket...).
    #[error("numerical failure in {what}: {detail}")]
    Numerical {
        /// The routine.
        what: String,
        /// What happened.
        detail: String,
    },
    /// A collective operation between ranks failed (a rank died, a message had the wrong length).
    #[error("communication between ranks failed in {what}: {detail}")]
    Comm {
        /// The operation.
        what: String,
        /// What happened.
        detail: String,
    },
    /// A compute device that is missing or failed: no CUDA driver, no GPU, no NVRTC, out of device memory
    /// (never a silent fall-back to the CPU).
    #[error("device {device}: {detail}")]
    Device {
        /// The device asked for (`cuda:0`).
        device: String,
        /// What is missing or what failed, and what to install or change.
        detail: String,
    },
    /// The run was stopped by the caller (Ctrl-C); no partial output was left behind.
    #[error("interrupted")]
    Interrupted,
}

/// Shorthand result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A [`Error::Param`] from displayable pieces.
    pub fn param(
        name: impl Into<String>,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Error::Param {
            name: name.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
    /// A [`Error::Format`] for `path`.
    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            msg: msg.into(),
        }
    }
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error: source,
        }
    }
    /// A [`Error::Shape`].
    pub fn shape(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Shape {
            what: what.into(),
            detail: detail.into(),
        }
    }
    /// A [`Error::Device`].
    pub fn device(device: impl std::fmt::Display, detail: impl Into<String>) -> Self {
        Error::Device {
            device: device.to_string(),
            detail: detail.into(),
        }
    }
    /// A [`Error::Numerical`].
    pub fn numerical(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Numerical {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// Checks `value > 0` and finite for a named parameter.
pub fn check_positive(name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::param(name, value, "a finite number > 0"))
    }
}

/// Checks that every entry of a row-major `rows × cols` matrix is finite.
pub fn check_finite_f32(source_name: &str, x: &[f32], cols: usize) -> Result<()> {
    match x.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite {
            source_name: source_name.to_string(),
            row: i / cols.max(1),
            col: i % cols.max(1),
            value: x[i].to_string(),
        }),
    }
}
