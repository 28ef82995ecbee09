pub mod bench;
pub mod data;
pub mod sample;
