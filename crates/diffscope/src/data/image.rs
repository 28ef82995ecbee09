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

/// The largest image side a data folder may hold (one sample per file; ImageNet-sized samples are 64–512).
pub const MAX_SIDE: u32 = 4096;
/// The most bytes the decoder may allocate for one image (a 4096² RGBA16 image is 128 MiB).
pub const MAX_DECODE_BYTES: u64 = 128 << 20;

/// Decodes a PNG or JPEG file into C × H × W values in [0, 1] (8- and 16-bit; grayscale stays one
/// channel, RGB(A) becomes three, alpha dropped).
pub fn decode(path: &Path) -> Result<(Vec<f32>, ImageInfo)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    // The header's size is checked before any pixel is decoded: a 401-byte JPEG declaring 7688 × 32776
    // pixels (found by AFL++) took 10 s and 250 MB to decode into a gray field.
    let mut reader = image::io::Reader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    let mut limits = image::io::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    // image 0.24.9's JPEG reader asserts that the decoded buffer has the header's size, and a malformed
    // file breaks that assert (14 AFL++ crashes, all `codecs/jpeg/decoder.rs:118`): a panic inside the
    // decoder is this file's format error, not the end of the run.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.decode()))
        .map_err(|_| {
            Error::format(
                path,
                "cannot decode the image: the decoder failed on a malformed file",
            )
        })?;
    let img = decoded.map_err(|e| {
        Error::format(
            path,
            format!("cannot decode the image (at most {MAX_SIDE} pixels a side, {MAX_DECODE_BYTES} bytes decoded): {e}"),
        )
    })?;
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
