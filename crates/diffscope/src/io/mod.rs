//! File formats at the boundary: NumPy `.npy`/`.npz`, numeric CSV (optionally gzipped), JSON, and the
//! atomic-write discipline every writer follows (temp file in the same directory, fsync, rename), so an
//! interrupted run never leaves a half-written file under its final name.

mod atomic;
mod csv;
mod idx;
mod npy;
mod safetensors;

pub use atomic::{write_atomic, write_json, write_run_dir, write_text};
pub use csv::{read_csv, write_csv, CsvOptions, CsvTable};
pub use idx::{parse_idx, read_idx, IdxArray};
pub use npy::{read_npy, read_npz, write_npy, write_npz, NpyArray, NpyData, NpyMap};
pub use safetensors::{SafeTensors, Tensor};
