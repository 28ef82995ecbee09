//! Progress reporting and cooperative cancellation for long routines, without global state: the caller
//! passes a [`Monitor`]; the library calls [`Monitor::advance`] and checks [`Monitor::should_stop`] at
//! safe points, returning [`crate::Error::Interrupted`] before writing anything partial.

/// Receives progress and can ask a routine to stop.
pub trait Monitor: Sync {
    /// `done` of `total` units finished.
    fn advance(&self, done: u64, total: u64);
    /// Whether the routine should stop at the next safe point.
    fn should_stop(&self) -> bool {
        false
    }
    /// A one-line note on what the routine is doing (a phase, a sweep point); ignored by default. The
    /// library never prints: a front end decides whether and where notes appear.
    fn note(&self, _msg: &str) {}
}

/// A monitor that ignores progress and never stops.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Monitor for Silent {
    fn advance(&self, _: u64, _: u64) {}
}

/// Returns `Err(Interrupted)` when the monitor asks to stop.
#[inline]
pub fn check(m: &dyn Monitor) -> crate::Result<()> {
    if m.should_stop() {
        Err(crate::Error::Interrupted)
    } else {
        Ok(())
    }
}
