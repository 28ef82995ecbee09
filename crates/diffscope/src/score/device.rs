//! Where the exact empirical score runs: the CPU, or an NVIDIA GPU through CUDA (`score::cuda`).

use crate::error::{Error, Result};
use std::fmt;

/// A compute device for [`super::EmpiricalScore`]: `cpu`, or `cuda` / `cuda:N` (CUDA device ordinal N,
/// 0 by default). Written and parsed as those strings (CLI `--device`, config key `device`, Python
/// `device=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Device {
    /// The CPU kernel (`super::flash`), on the rayon threads.
    #[default]
    Cpu,
    /// The CUDA kernel on the GPU of this ordinal.
    Cuda(usize),
}

impl Device {
    /// Parses `cpu`, `cuda`, `cuda:N` (case-insensitive); `what` names the source in the error.
    pub fn parse(what: &str, s: &str) -> Result<Device> {
        let v = s.trim().to_ascii_lowercase();
        let bad = || {
            Error::param(
                what,
                s,
                "cpu, cuda or cuda:N (N a device ordinal, 0, 1, ...)",
            )
        };
        match v.as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda(0)),
            _ => match v.strip_prefix("cuda:") {
                Some(n) => n.parse().map(Device::Cuda).map_err(|_| bad()),
                None => Err(bad()),
            },
        }
    }

    /// Whether this is the CPU.
    pub fn is_cpu(&self) -> bool {
        *self == Device::Cpu
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl std::str::FromStr for Device {
    type Err = Error;
    fn from_str(s: &str) -> Result<Device> {
        Device::parse("device", s)
    }
}

impl serde::Serialize for Device {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Device {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Device, D::Error> {
        let s = String::deserialize(d)?;
        Device::parse("device", &s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        for (s, d) in [
            ("cpu", Device::Cpu),
            ("cuda", Device::Cuda(0)),
            ("CUDA:3", Device::Cuda(3)),
            (" cuda:0 ", Device::Cuda(0)),
        ] {
            assert_eq!(Device::parse("device", s).unwrap(), d, "{s}");
            assert_eq!(Device::parse("device", &d.to_string()).unwrap(), d);
        }
        for bad in ["", "cuda:", "cuda:x", "cuda:-1", "tpu", "cuda0"] {
            let e = Device::parse("--device", bad).unwrap_err().to_string();
            assert!(e.contains("--device") && e.contains("cuda:N"), "{bad}: {e}");
        }
        let j = serde_json::to_string(&Device::Cuda(1)).unwrap();
        assert_eq!(j, "\"cuda:1\"");
        assert_eq!(serde_json::from_str::<Device>(&j).unwrap(), Device::Cuda(1));
        assert!(serde_json::from_str::<Device>("\"tpu\"").is_err());
    }
}
