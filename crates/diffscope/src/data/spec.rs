//! [`DataFileSpec`]: a data file and the options it is read with (labels, classes, subset, image layout,
//! pixel range, centring), applied in one order by [`DataFileSpec::load`].

use super::load::{load, LoadOptions};
use super::{Dataset, ImageInfo};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A data file and how to read it: the one description of a data source that every door uses (the CLI's
/// data flags, run configs' `[data]` table, Python's `Dataset.load`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataFileSpec {
    /// The file (CSV, .npy/.npz, class folder, IDX).
    pub path: PathBuf,
    /// Label column (negative: from the end); None: unlabelled.
    #[serde(default)]
    pub label_col: Option<i64>,
    /// Keep only these classes (by name).
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Centre per feature (default true: science.md §3).
    #[serde(default = "yes")]
    pub centre: bool,
    /// Image data: map pixels from [0, 1] to [−1, 1] before centring.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub symmetric_pixels: bool,
    /// The image layout "H,W" or "C,H,W" of rows loaded from a non-image file (for the sample grid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_shape: Option<String>,
    /// CSV: whether the first line is a header (None: detected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<bool>,
    /// Keep only the first this many rows of each class (after the class selection; a subset that does
    /// not depend on a seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_class: Option<usize>,
}

impl DataFileSpec {
    /// A spec for `path` with the defaults (no labels, all classes, centred).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DataFileSpec {
            path: path.into(),
            label_col: None,
            classes: None,
            centre: true,
            symmetric_pixels: false,
            image_shape: None,
            header: None,
            per_class: None,
        }
    }

    /// A spec for `path` read as it is stored: no labels column, every class, no centring (a trained
    /// model's data.npz, a sample file).
    pub fn as_stored(path: impl Into<PathBuf>) -> Self {
        DataFileSpec {
            centre: false,
            ..DataFileSpec::new(path)
        }
    }

    /// Loads the file, selects the classes (and the first `per_class` rows of each), then applies the image layout, the [−1, 1] pixel map and
    /// the centring, in that order.
    pub fn load(&self) -> Result<Dataset> {
        let opts = LoadOptions {
            label_col: self.label_col,
            header: self.header,
            classes: self.classes.clone(),
            centre: false,
        };
        let mut ds = load(&self.path, &opts)?;
        if let Some(k) = self.per_class {
            ds = ds.first_per_class(k)?;
        }
        if let Some(shape) = &self.image_shape {
            let mut info = ImageInfo::parse_shape(shape)?;
            // Declared images keep their own value range (e.g. 0–16 pixel counts) for display.
            let (lo, hi) =
                ds.x.iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                        (a.min(v), b.max(v))
                    });
            if hi > lo {
                info.range = (lo, hi);
            }
            if info.len() != ds.d {
                return Err(Error::param(
                    "image_shape",
                    shape,
                    format!("C·H·W = d = {} of {}", ds.d, self.path.display()),
                ));
            }
            ds.image = Some(info);
        }
        if self.symmetric_pixels {
            ds.to_symmetric_pixels()?;
        }
        if self.centre {
            ds.centre();
        }
        Ok(ds)
    }
}

fn yes() -> bool {
    true
}
