//! Which instruction set the empirical-score kernel runs on, chosen at run time.
//!
//! One build runs everywhere the crate's target runs (`x86-64-v3`: AVX2 + FMA) and uses AVX-512 where
//! the processor has it. Every path computes each output element by the same chain of f32 FMAs in the
//! same order (see `microkernel`), so the choice changes speed, never a bit.

use crate::error::{Error, Result};
use std::sync::OnceLock;

/// An instruction set of the empirical-score kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isa {
    /// Plain Rust loops (any processor).
    Portable,
    /// AVX2 + FMA, 256-bit vectors (the build's baseline on x86-64).
    Avx2,
    /// AVX-512F, 512-bit vectors (detected at run time).
    Avx512,
}

/// The environment variable that pins the instruction set (`portable`, `avx2`, `avx512`), e.g. for
/// paired A/B timings of one binary.
pub const ISA_ENV: &str = "DIFFSCOPE_ISA";

impl Isa {
    /// All of them, narrowest first.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2, Isa::Avx512];

    /// The name used by [`ISA_ENV`], the bench and Python.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Vector lanes of f32 per FMA instruction.
    pub fn f32_lanes(self) -> usize {
        match self {
            Isa::Portable => 1,
            Isa::Avx2 => 8,
            Isa::Avx512 => 16,
        }
    }

    /// Whether this build on this processor runs it: AVX2 when the build enables AVX2 and FMA, AVX-512
    /// when in addition the processor reports AVX-512F.
    pub fn supported(self) -> bool {
        const AVX2_BUILD: bool = cfg!(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma"
        ));
        match self {
            Isa::Portable => true,
            Isa::Avx2 => AVX2_BUILD,
            Isa::Avx512 => AVX2_BUILD && avx512_detected(),
        }
    }

    /// The widest supported instruction set.
    pub fn best() -> Isa {
        *Isa::ALL
            .iter()
            .rev()
            .find(|i| i.supported())
            .unwrap_or(&Isa::Portable)
    }

    /// Parses a name (`portable`, `avx2`, `avx512`) and checks that this processor runs it; `what` names
    /// the source in the error (a flag, a field, [`ISA_ENV`]).
    pub fn parse(what: &str, s: &str) -> Result<Isa> {
        let isa = Isa::ALL
            .into_iter()
            .find(|i| i.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| Error::param(what, s, "one of portable, avx2, avx512"))?;
        isa.require(what, s)
    }

    /// `self` if this processor and build run it, else an error naming `what` and the value `given`.
    pub fn require(self, what: &str, given: impl std::fmt::Display) -> Result<Isa> {
        if self.supported() {
            return Ok(self);
        }
        Err(Error::param(
            what,
            given,
            format!(
                "an instruction set this processor and build run (the widest here: {})",
                Isa::best()
            ),
        ))
    }

    /// The instruction set new kernels use: [`ISA_ENV`] when set, else [`Isa::best`]. The variable is read
    /// once per process; an unknown or unsupported value is an error naming the variable and the value.
    pub fn default_for_process() -> Result<Isa> {
        static VALUE: OnceLock<Option<String>> = OnceLock::new();
        match VALUE.get_or_init(|| std::env::var(ISA_ENV).ok().filter(|v| !v.is_empty())) {
            Some(v) => Isa::parse(ISA_ENV, v),
            None => Ok(Isa::best()),
        }
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(target_arch = "x86_64")]
fn avx512_detected() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

#[cfg(not(target_arch = "x86_64"))]
fn avx512_detected() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_and_rejects_the_unknown() {
        assert_eq!(Isa::parse("isa", " AVX2 ").unwrap(), Isa::Avx2);
        assert_eq!(Isa::parse("isa", "portable").unwrap(), Isa::Portable);
        let e = Isa::parse("--isa", "sse9").unwrap_err().to_string();
        assert!(e.contains("--isa") && e.contains("sse9"), "{e}");
        assert!(Isa::best().supported());
        // AVX-512 is offered exactly where the processor reports it.
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            Isa::Avx512.supported(),
            std::arch::is_x86_feature_detected!("avx512f")
        );
        if !Isa::Avx512.supported() {
            let e = Isa::parse("isa", "avx512").unwrap_err().to_string();
            assert!(e.contains("widest here"), "{e}");
        }
    }
}
