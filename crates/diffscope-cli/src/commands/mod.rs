pub mod bench;
pub mod data;
pub mod regimes;
pub mod sample;
pub mod theory;
