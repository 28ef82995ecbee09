//! Learned score networks (geometry.md "The learned-score experiment").
//!
//! [`Mlp`]: a fully connected network with SiLU activations and sinusoidal time features, EDM
//! preconditioning in OU time ([`Precond`]), forward / backward / analytic input Jacobian as batched faer
//! GEMMs; it implements [`crate::score::Score`] (with an analytic [`crate::score::Score::jacobian_into`]),
//! so every sampler and experiment accepts it. [`Trainer`]: denoising score matching with Adam, an EMA of
//! the weights, checkpoints and exact resume. Weights are stored as safetensors with the config in the
//! metadata.

mod mlp;
mod precond;
mod train;

pub use mlp::{Mlp, MlpConfig};
pub use precond::Precond;
pub use train::{sigma_data, LossPoint, TrainConfig, Trainer};

#[cfg(test)]
mod tests;
