//! Activations of the hidden-manifold model (manifold.md).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// An activation φ of the hidden-manifold model (manifold.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// φ(u) = u.
    Linear,
    /// φ(u) = tanh u.
    Tanh,
    /// φ(u) = max(0, u).
    Relu,
    /// φ(u) = sign u.
    Sign,
    /// φ(u) = erf u.
    Erf,
    /// φ(u) = erf(u/√2).
    ErfSqrt2,
}

impl Activation {
    /// All activations, in the paper's order.
    pub const ALL: [Activation; 6] = [
        Activation::Linear,
        Activation::Tanh,
        Activation::Relu,
        Activation::Sign,
        Activation::Erf,
        Activation::ErfSqrt2,
    ];

    /// φ(u).
    pub fn apply(self, u: f64) -> f64 {
        match self {
            Activation::Linear => u,
            Activation::Tanh => u.tanh(),
            Activation::Relu => u.max(0.0),
            Activation::Sign => {
                if u > 0.0 {
                    1.0
                } else if u < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            Activation::Erf => libm::erf(u),
            Activation::ErfSqrt2 => libm::erf(u / std::f64::consts::SQRT_2),
        }
    }

    /// The name [`Activation::parse`] reads.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Sign => "sign",
            Activation::Erf => "erf",
            Activation::ErfSqrt2 => "erf-sqrt2",
        }
    }

    /// Parses a name (`linear, tanh, relu, sign, erf, erf-sqrt2`).
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "linear" => Activation::Linear,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "sign" => Activation::Sign,
            "erf" => Activation::Erf,
            "erf-sqrt2" => Activation::ErfSqrt2,
            other => {
                return Err(Error::param(
                    "activation",
                    other,
                    "one of linear, tanh, relu, sign, erf, erf-sqrt2",
                ))
            }
        })
    }
}
