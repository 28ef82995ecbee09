//! File formats at the boundary: NumPy `.npy`/`.npz`, numeric CSV (optionally gzipped), JSON, and the
//! atomic-write discipline every writer follows (temp file in the same directory, fsync, rename), so an
//! interrupted run never leaves a half-written file under its final name.

mod atomic;
mod csv;
mod idx;
mod npy;
mod safetensors;

pub use atomic::{write_atomic, write_json, write_json_sorted, write_run_dir, write_text};
pub use csv::{read_csv, write_csv, CsvOptions, CsvTable};
pub use idx::{parse_idx, read_idx, IdxArray};
pub use npy::{read_npy, read_npz, write_npy, write_npz, NpyArray, NpyData, NpyMap};
pub use safetensors::{SafeTensors, Tensor};

/// Deserialises a JSON number or null (how a non-finite f64 is written) into an f64, null as NaN: the
/// reading side of typed summaries whose numbers may be NaN.
pub fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    use serde::Deserialize;
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}
