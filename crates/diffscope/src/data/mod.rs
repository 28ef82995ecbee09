//! Data models and data sets (science.md §3).
//!
//! A [`Dataset`] is an `n × d` row-major f32 matrix with optional class labels and a provenance string.
//! It comes from a data model ([`TwoClassGmm`], [`GaussianMixture`], [`HiddenManifold`]) or from a file ([`load`]: CSV,
//! `.npy`, `.npz`, or a folder `<root>/<class>/*.npy`).

mod activation;
mod dataset;
mod embedded;
mod gmm;
mod image;
mod load;
mod manifold;
mod model;
mod spec;

pub use activation::Activation;
pub use dataset::{label_array, ClassCount, DataInfo, Dataset, Nearest, NearestColumns};
pub use embedded::{random_orthonormal, SphereSpec, SubspaceSpec};
pub use gmm::{Covariance, Direction, GaussianMixture, TwoClassGmm};
pub use image::{decode as decode_image, is_image_name, ImageInfo};
pub use manifold::{Embedding, HiddenManifold, ManifoldSpec};
pub use model::{CovSpec, DataModel, GmmSpec};
pub use spec::DataFileSpec;
