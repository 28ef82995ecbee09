//! Long calls with the GIL released: the work runs on a helper thread (in a private rayon pool when
//! `threads=` is given) while the calling thread waits without the GIL, waking every 50 ms to run
//! Python's signal handlers (Ctrl-C → KeyboardInterrupt) and the progress callback. A stop request, a
//! failed Python callable or a raised callback stops the work at its next safe point; the first Python
//! exception is re-raised unchanged once the work has returned. A Rust panic becomes `PanicException`.

use crate::errors::to_py;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Shared state of one call: stop flag, progress and the first Python error.
#[derive(Default)]
pub struct Ctl {
    stop: AtomicBool,
    done: AtomicU64,
    total: AtomicU64,
    error: Mutex<Option<PyErr>>,
}

impl Ctl {
    /// Records `e` (the first error wins) and asks the work to stop.
    pub fn fail(&self, e: PyErr) {
        if let Ok(mut slot) = self.error.lock() {
            if slot.is_none() {
                *slot = Some(e);
            }
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether the work was asked to stop.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn take_error(&self) -> Option<PyErr> {
        self.error.lock().ok().and_then(|mut s| s.take())
    }
}

impl diffscope::progress::Monitor for Ctl {
    fn advance(&self, done: u64, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        self.done.store(done, Ordering::Relaxed);
    }
    fn should_stop(&self) -> bool {
        self.stopped()
    }
}

/// Runs `work` without the GIL (see the module doc). `threads`: None uses the global rayon pool.
pub fn detached<R: Send>(
    py: Python<'_>,
    threads: Option<usize>,
    progress: Option<&Bound<'_, PyAny>>,
    ctl: &Ctl,
    work: impl FnOnce() -> diffscope::Result<R> + Send,
) -> PyResult<R> {
    let pool = match threads {
        Some(0) | None => None,
        Some(n) => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| PyValueError::new_err(format!("threads = {n}: {e}")))?,
        ),
    };
    let finished = (Mutex::new(false), Condvar::new());
    let joined = std::thread::scope(|s| {
        let fin = &finished;
        let pool = pool.as_ref();
        let handle = s.spawn(move || {
            let r = match pool {
                Some(p) => p.install(work),
                None => work(),
            };
            if let Ok(mut f) = fin.0.lock() {
                *f = true;
            }
            fin.1.notify_all();
            r
        });
        let mut last = (u64::MAX, u64::MAX);
        loop {
            let done = py.detach(|| {
                let guard = fin.0.lock().unwrap_or_else(|p| p.into_inner());
                let (g, _) = fin
                    .1
                    .wait_timeout_while(guard, Duration::from_millis(50), |f| !*f)
                    .unwrap_or_else(|p| p.into_inner());
                *g
            });
            if done || handle.is_finished() {
                break;
            }
            if let Err(e) = py.check_signals() {
                ctl.fail(e);
            }
            if let Some(cb) = progress {
                let now = (
                    ctl.done.load(Ordering::Relaxed),
                    ctl.total.load(Ordering::Relaxed),
                );
                if now != last && now.1 > 0 {
                    last = now;
                    if let Err(e) = cb.call1(now) {
                        ctl.fail(e);
                    }
                }
            }
        }
        py.detach(|| handle.join())
    });
    let result = match joined {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            return Err(pyo3::panic::PanicException::new_err(format!(
                "diffscope panicked (a bug; please report it): {msg}"
            )));
        }
    };
    if let Some(cb) = progress {
        let now = (
            ctl.done.load(Ordering::Relaxed),
            ctl.total.load(Ordering::Relaxed),
        );
        if now.1 > 0 && result.is_ok() {
            cb.call1(now)?;
        }
    }
    // A Python error (KeyboardInterrupt, a failing score callable or callback) outranks the library's
    // `Interrupted` that it caused.
    if let Some(e) = ctl.take_error() {
        return Err(e);
    }
    result.map_err(to_py)
}
