//! Experiments as library calls: each takes a serde config (every field defaulted), runs with a
//! [`crate::progress::Monitor`] and returns a report; a second function writes the run directory
//! atomically. The CLI and the Python package are thin doors over these.

pub mod compare;
pub mod geometry;
pub mod memorise;
pub mod regimes;
pub mod sample;
pub mod stats;
pub mod theory;
pub mod train;
