//! # diffscope
//!
//! The dynamics and geometry of diffusion models: exact empirical and population scores, reverse-time
//! samplers, the speciation / collapse theory of Biroli–Mézard and its manifold extension, and the
//! experiments that measure them. See `shared/docs/science.md` for the conventions; in short, one time
//! variable everywhere: the Ornstein–Uhlenbeck time t with
//! $x_t = e^{-t} x_0 + \sqrt{\Delta_t}\, z$, $\Delta_t = 1 - e^{-2t}$.
//!
//! The library never prints and holds no global state: parallelism is an explicit [`faer::Par`] or the
//! caller's rayon pool, randomness comes from streams keyed by `(seed, logical position)` ([`rng`]), and
//! outputs go to buffers the caller owns.

// Index loops mirror the formulas (y_j / v_j ...); Gauss–Legendre nodes keep their published digits.
#![allow(
    clippy::needless_range_loop,
    clippy::excessive_precision,
    clippy::too_many_arguments,
    clippy::type_complexity
)]
// Reference tables in tests quote published values that happen to be close to constants (ln 10...).
#![cfg_attr(test, allow(clippy::approx_constant))]

pub mod bench;
pub mod concentration;
pub mod config;
pub mod data;
pub mod distributed;
pub mod error;
pub mod experiments;
pub mod family;
pub mod geometry;
pub mod io;
pub mod linalg;
pub mod memorisation;
pub mod nn;
pub mod peak;
pub mod progress;
pub mod regimes;
pub mod report;
pub mod rng;
pub mod sampler;
pub mod score;
pub mod spectrum;
pub mod theory;
pub mod universality;

pub use error::{Error, Result};

/// The crate version, recorded in every run directory.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
