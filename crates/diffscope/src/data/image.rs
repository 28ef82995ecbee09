//! Images as data: decoding PNG / JPEG files into channels-first float vectors (as torchvision's
//! `ToTensor`: C × H × W, values in [0, 1]), and the shape information a data set keeps so that samples can
//! be shown as images again ([`crate::report::sample_grid`]).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The image layout of a data set's rows: `channels × height × width`, channels first, and the pixel
/// range the values were mapped to (black, white).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Values of black and white: (0, 1) as loaded, (−1, 1) after [`crate::data::Dataset::to_symmetric_pixels`].
    pub range: (f32, f32),
}

impl ImageInfo {
    /// The number of values per image, C·H·W.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether the image is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parses "H,W" (grayscale) or "C,H,W".
    pub fn parse_shape(s: &str) -> Result<ImageInfo> {
        let v: std::result::Result<Vec<usize>, _> =
            s.split(',').map(|p| p.trim().parse()).collect();
        let bad = || Error::param("image-shape", s, "H,W or C,H,W with C = 1 or 3");
        let v = v.map_err(|_| bad())?;
        let (c, h, w) = match v[..] {
            [h, w] => (1, h, w),
            [c, h, w] if c == 1 || c == 3 => (c, h, w),
            _ => return Err(bad()),
        };
        if h == 0 || w == 0 {
            return Err(bad());
        }
        Ok(ImageInfo {
            channels: c,
            height: h,
            width: w,
            range: (0.0, 1.0),
        })
    }
}

/// Decodes a PNG or JPEG file into C × H × W values in [0, 1] (8- and 16-bit; grayscale stays one
/// channel, RGB(A) becomes three, alpha dropped).
pub fn decode(path: &Path) -> Result<(Vec<f32>, ImageInfo)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let img = image::load_from_memory(&bytes)
        .map_err(|e| Error::format(path, format!("cannot decode the image: {e}")))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let gray = matches!(
        img.color(),
        image::ColorType::L8
            | image::ColorType::La8
            | image::ColorType::L16
            | image::ColorType::La16
    );
    let c = if gray { 1 } else { 3 };
    let deep = matches!(
        img.color(),
        image::ColorType::L16
            | image::ColorType::La16
            | image::ColorType::Rgb16
            | image::ColorType::Rgba16
    );
    // Channels first: value (ch, row, col) at ch·H·W + row·W + col; 8-bit as v / 255 (ToTensor), 16-bit
    // as v / 65535.
    let mut v = vec![0.0f32; c * h * w];
    match (gray, deep) {
        (true, false) => {
            for (i, p) in img.into_luma8().pixels().enumerate() {
                v[i] = p.0[0] as f32 / 255.0;
            }
        }
        (true, true) => {
            for (i, p) in img.into_luma16().pixels().enumerate() {
                v[i] = p.0[0] as f32 / 65535.0;
            }
        }
        (false, false) => {
            for (i, p) in img.into_rgb8().pixels().enumerate() {
                for ch in 0..3 {
                    v[ch * h * w + i] = p.0[ch] as f32 / 255.0;
                }
            }
        }
        (false, true) => {
            for (i, p) in img.into_rgb16().pixels().enumerate() {
                for ch in 0..3 {
                    v[ch * h * w + i] = p.0[ch] as f32 / 65535.0;
                }
            }
        }
    }
    Ok((
        v,
        ImageInfo {
            channels: c,
            height: h,
            width: w,
            range: (0.0, 1.0),
        },
    ))
}

/// Whether a file name is a PNG or JPEG image.
pub fn is_image_name(p: &Path) -> bool {
    p.extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .is_some_and(|e| e == "png" || e == "jpg" || e == "jpeg")
}
