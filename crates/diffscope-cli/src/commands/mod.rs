pub mod bench;
pub mod data;
pub mod geometry;
pub mod regimes;
pub mod sample;
pub mod stats;
pub mod theory;
pub mod train;
