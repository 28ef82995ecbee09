//! A Python callable as a [`Score`]: `f(x: ndarray[b, d] float32, t: float) -> ndarray[b, d]`, called
//! once per evaluation with the whole batch (a fresh NumPy copy, so the callable may keep it). A wrong
//! type, shape, dtype or a non-finite value is recorded as `ScoreCallError` naming the call; the run
//! stops at its next safe point and the error is raised. Exceptions raised by the callable propagate
//! unchanged.

use crate::arrays::describe;
use crate::errors::ScoreCallError;
use crate::run::Ctl;
use diffscope::score::{Extras, Score};
use faer::Par;
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// A score implemented by a Python callable, bound to one call's [`Ctl`].
pub struct CallableScore<'c> {
    pub f: Py<PyAny>,
    /// Optional `jvp(x, t, v) -> J v` and `vjp(x, t, v) -> vᵀ J` (each (b, d) arrays).
    pub jvp: Option<Py<PyAny>>,
    pub vjp: Option<Py<PyAny>>,
    pub d: usize,
    pub name: String,
    pub ctl: &'c Ctl,
    pub calls: AtomicU64,
}

impl CallableScore<'_> {
    fn call(&self, py: Python<'_>, x: &[f32], t: f64, out: &mut [f32]) -> PyResult<()> {
        self.call_with(py, &self.f, "score", x, t, None, out)
    }

    /// Calls `f(x, t)` (or `f(x, t, v)`) with (b, d) float32 copies and checks the (b, d) result.
    #[allow(clippy::too_many_arguments)]
    fn call_with(
        &self,
        py: Python<'_>,
        f: &Py<PyAny>,
        role: &str,
        x: &[f32],
        t: f64,
        v: Option<&[f32]>,
        out: &mut [f32],
    ) -> PyResult<()> {
        let b = x.len() / self.d;
        let k = self.calls.fetch_add(1, Ordering::Relaxed);
        let arr = PyArray1::from_slice(py, x).reshape([b, self.d])?;
        let r = match v {
            None => f.bind(py).call1((arr, t))?,
            Some(v) => {
                let va = PyArray1::from_slice(py, v).reshape([b, self.d])?;
                f.bind(py).call1((arr, t, va))?
            }
        };
        let what = || format!("{role} callable {} (call {k}, t = {t})", self.name);
        let bad = |got: String| {
            ScoreCallError::new_err(format!(
                "{}: returned {got}; expected a float32 or float64 array of shape ({b}, {})",
                what(),
                self.d
            ))
        };
        let shape_ok = |s: &[usize]| s == [b, self.d];
        if let Ok(a) = r.cast::<PyArray2<f32>>() {
            if !shape_ok(a.shape()) {
                return Err(bad(describe(&r)));
            }
            let ro = a.readonly();
            for (o, v) in out.iter_mut().zip(ro.as_array().iter()) {
                *o = *v;
            }
        } else if let Ok(a) = r.cast::<PyArray2<f64>>() {
            if !shape_ok(a.shape()) {
                return Err(bad(describe(&r)));
            }
            let ro = a.readonly();
            for (o, v) in out.iter_mut().zip(ro.as_array().iter()) {
                *o = *v as f32;
            }
        } else {
            return Err(bad(describe(&r)));
        }
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return Err(ScoreCallError::new_err(format!(
                "{}: returned a non-finite value {} at row {}, column {}",
                what(),
                out[i],
                i / self.d,
                i % self.d
            )));
        }
        Ok(())
    }
}

impl CallableScore<'_> {
    /// A user-supplied Jacobian product, or false (the library then uses central differences).
    fn product(
        &self,
        f: Option<&Py<PyAny>>,
        role: &str,
        x: &[f32],
        t: f64,
        v: &[f32],
        out: &mut [f32],
    ) -> bool {
        let Some(f) = f else { return false };
        if self.ctl.stopped() {
            out.fill(0.0);
            return true;
        }
        Python::attach(|py| {
            if let Err(e) = self.call_with(py, f, role, x, t, Some(v), out) {
                out.fill(0.0);
                self.ctl.fail(e);
            }
        });
        true
    }
}

impl Score for CallableScore<'_> {
    fn dim(&self) -> usize {
        self.d
    }

    fn eval_into(&self, x: &[f32], t: f64, out: &mut [f32], extras: Extras<'_>, _par: Par) {
        if let Some(lp) = extras.log_p {
            lp.fill(f64::NAN);
        }
        if self.ctl.stopped() {
            out.fill(0.0);
            return;
        }
        Python::attach(|py| {
            if let Err(e) = self.call(py, x, t, out) {
                out.fill(0.0);
                self.ctl.fail(e);
            }
        });
    }

    fn jvp_into(&self, x: &[f32], t: f64, v: &[f32], out: &mut [f32], _par: Par) -> bool {
        self.product(self.jvp.as_ref(), "jvp", x, t, v, out)
    }

    fn vjp_into(&self, x: &[f32], t: f64, v: &[f32], out: &mut [f32], _par: Par) -> bool {
        self.product(self.vjp.as_ref(), "vjp", x, t, v, out)
    }

    fn describe(&self) -> String {
        format!("Python callable {}", self.name)
    }
}
