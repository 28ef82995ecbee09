//! Names of the family's scores with their parameters, as the CLI, configs and Python give them.

use super::{
    wiener, CfdmScore, KnnScore, MaskRule, MaskScore, Padding, PatchKind, PatchSchedule,
    PatchScore, SmoothedScore,
};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::score::{EmpiricalScore, Precision, Score};
use std::fmt;

/// A score of the family by name: `exact`, `wiener`, `smoothed:sigma=S`,
/// `cfdm:sigma=S[,m=M][,seed=K]` (M fixed draws, 16 by default, keyed by K, 0 by default), `knn:k=K`,
/// `mask:k=K` or `mask:tau=T` (the Wiener-sensitivity locality mask), `ls:patch=P[,padding=zero|circular][,shape=CxHxW][,precision=f32|f64]` and `els:…` likewise (the f32
/// lane path by default, the f64 reference with `precision=f64`). A patch schedule is
/// `patch=3@0.2/7@1/15` (P = 3 for t ≤ 0.2, 7 for t ≤ 1, 15 beyond). Without `shape`, image data keep
/// their own layout and a square d is taken as one 1 × √d × √d image.
#[derive(Clone, Debug, PartialEq)]
pub enum FamilySpec {
    /// The exact empirical score (f32 kernel).
    Exact,
    /// The Wiener (linear) denoiser of the data's mean and covariance.
    Wiener,
    /// The σ-smoothed exact score.
    Smoothed {
        /// Smoothing width σ.
        sigma: f64,
    },
    /// The σ-CFDM smoothed closed-form score (Scarvelis et al.).
    Cfdm {
        /// Smoothing width σ, in the units of x.
        sigma: f64,
        /// Fixed draws of the estimator.
        m: usize,
        /// Seed of the draws.
        seed: u64,
    },
    /// The softmax over the k nearest points.
    Knn {
        /// Points kept.
        k: usize,
    },
    /// The masked local score (data-derived locality masks).
    Mask {
        /// Which coordinates each mask keeps.
        rule: MaskRule,
    },
    /// LS or ELS.
    Patch {
        /// Local or equivariant.
        kind: PatchKind,
        /// Border handling.
        padding: Padding,
        /// Patch size per t.
        schedule: PatchSchedule,
        /// Image shape (C, H, W), or None for a square single-channel image.
        shape: Option<(usize, usize, usize)>,
        /// The f32 lane path (default) or the f64 reference.
        precision: Precision,
    },
}

fn bad(spec: &str, why: &str) -> Error {
    Error::param(
        "score",
        spec,
        format!("{why} (exact, wiener, smoothed:sigma=S, cfdm:sigma=S[,m=M][,seed=K], knn:k=K, mask:k=K|tau=T, ls:patch=P[,padding=zero|circular][,shape=CxHxW][,precision=f32|f64], els:…)"),
    )
}

fn parse_schedule(spec: &str, v: &str) -> Result<PatchSchedule> {
    let parts: Vec<&str> = v.split('/').collect();
    let mut steps = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let (p, t) = match part.split_once('@') {
            Some((p, t)) => (
                p,
                t.parse::<f64>().map_err(|_| bad(spec, "a time after @"))?,
            ),
            None if i + 1 == parts.len() => (*part, f64::INFINITY),
            None => return Err(bad(spec, "every patch size but the last needs @t")),
        };
        steps.push((
            t,
            p.parse::<usize>()
                .map_err(|_| bad(spec, "an odd patch size"))?,
        ));
    }
    let s = PatchSchedule { steps };
    s.validate()?;
    Ok(s)
}

impl std::str::FromStr for FamilySpec {
    type Err = Error;
    fn from_str(spec: &str) -> Result<Self> {
        let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let mut keys: Vec<(&str, &str)> = Vec::new();
        for kv in rest.split(',').filter(|s| !s.is_empty()) {
            keys.push(
                kv.split_once('=')
                    .ok_or_else(|| bad(spec, "key=value pairs"))?,
            );
        }
        let get = |k: &str| keys.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        let allowed: &[&str] = match name {
            "exact" | "wiener" => &[],
            "smoothed" => &["sigma"],
            "cfdm" => &["sigma", "m", "seed"],
            "knn" => &["k"],
            "mask" => &["k", "tau"],
            "ls" | "els" => &["patch", "padding", "shape", "precision"],
            _ => return Err(bad(spec, "an unknown score")),
        };
        if let Some((k, _)) = keys.iter().find(|(k, _)| !allowed.contains(k)) {
            return Err(bad(spec, &format!("`{k}` is not a parameter of {name}")));
        }
        let need = |k: &str| get(k).ok_or_else(|| bad(spec, &format!("{name} needs {k}=…")));
        Ok(match name {
            "exact" => FamilySpec::Exact,
            "wiener" => FamilySpec::Wiener,
            "smoothed" => FamilySpec::Smoothed {
                sigma: need("sigma")?
                    .parse()
                    .map_err(|_| bad(spec, "a number σ"))?,
            },
            "cfdm" => FamilySpec::Cfdm {
                sigma: need("sigma")?
                    .parse()
                    .map_err(|_| bad(spec, "a number σ"))?,
                m: get("m")
                    .map_or(Ok(Self::CFDM_DRAWS), str::parse)
                    .map_err(|_| bad(spec, "an integer m"))?,
                seed: get("seed")
                    .map_or(Ok(0), str::parse)
                    .map_err(|_| bad(spec, "an integer seed"))?,
            },
            "knn" => FamilySpec::Knn {
                k: need("k")?.parse().map_err(|_| bad(spec, "an integer k"))?,
            },
            "mask" => FamilySpec::Mask {
                rule: match (get("k"), get("tau")) {
                    (Some(k), None) => {
                        MaskRule::K(k.parse().map_err(|_| bad(spec, "an integer k"))?)
                    }
                    (None, Some(t)) => {
                        MaskRule::Tau(t.parse().map_err(|_| bad(spec, "a number τ"))?)
                    }
                    _ => return Err(bad(spec, "mask needs one of k=… or tau=…")),
                },
            },
            _ => FamilySpec::Patch {
                kind: if name == "ls" {
                    PatchKind::Local
                } else {
                    PatchKind::Equivariant
                },
                padding: match get("padding").unwrap_or("zero") {
                    "zero" => Padding::Zero,
                    "circular" => Padding::Circular,
                    _ => return Err(bad(spec, "padding=zero or padding=circular")),
                },
                schedule: parse_schedule(spec, need("patch")?)?,
                precision: match get("precision").unwrap_or("f32") {
                    "f32" => Precision::F32,
                    "f64" => Precision::F64,
                    _ => return Err(bad(spec, "precision=f32 or precision=f64")),
                },
                shape: match get("shape") {
                    None => None,
                    Some(v) => {
                        let dims: Vec<usize> = v
                            .split('x')
                            .map(|p| p.parse().map_err(|_| bad(spec, "shape=CxHxW")))
                            .collect::<Result<_>>()?;
                        match dims[..] {
                            [c, h, w] => Some((c, h, w)),
                            _ => return Err(bad(spec, "shape=CxHxW")),
                        }
                    }
                },
            },
        })
    }
}

impl fmt::Display for FamilySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FamilySpec::Exact => write!(f, "exact"),
            FamilySpec::Wiener => write!(f, "wiener"),
            FamilySpec::Smoothed { sigma } => write!(f, "smoothed:sigma={sigma}"),
            FamilySpec::Cfdm { sigma, m, seed } => {
                write!(f, "cfdm:sigma={sigma},m={m},seed={seed}")
            }
            FamilySpec::Knn { k } => write!(f, "knn:k={k}"),
            FamilySpec::Mask {
                rule: MaskRule::K(k),
            } => write!(f, "mask:k={k}"),
            FamilySpec::Mask {
                rule: MaskRule::Tau(tau),
            } => write!(f, "mask:tau={tau}"),
            FamilySpec::Patch {
                kind,
                padding,
                schedule,
                shape,
                precision,
            } => {
                let name = if *kind == PatchKind::Local {
                    "ls"
                } else {
                    "els"
                };
                let sizes: Vec<String> = schedule
                    .steps
                    .iter()
                    .map(|(t, p)| {
                        if t.is_finite() {
                            format!("{p}@{t}")
                        } else {
                            p.to_string()
                        }
                    })
                    .collect();
                let pad = if *padding == Padding::Zero {
                    "zero"
                } else {
                    "circular"
                };
                write!(f, "{name}:patch={},padding={pad}", sizes.join("/"))?;
                if let Some((c, h, w)) = shape {
                    write!(f, ",shape={c}x{h}x{w}")?;
                }
                if *precision == Precision::F64 {
                    write!(f, ",precision=f64")?;
                }
                Ok(())
            }
        }
    }
}

impl FamilySpec {
    /// The σ-CFDM estimator's draws when the spec names none.
    pub const CFDM_DRAWS: usize = 16;

    /// Whether the score is a patch machine (its patch size can be calibrated).
    pub fn is_patch(&self) -> bool {
        matches!(self, FamilySpec::Patch { .. })
    }

    /// The same patch machine with one patch size at every t (other scores unchanged).
    pub fn with_patch(&self, p: usize) -> FamilySpec {
        match self {
            FamilySpec::Patch {
                kind,
                padding,
                shape,
                precision,
                ..
            } => FamilySpec::Patch {
                kind: *kind,
                padding: *padding,
                schedule: PatchSchedule::fixed(p),
                shape: *shape,
                precision: *precision,
            },
            other => other.clone(),
        }
    }

    /// The score of `data`.
    pub fn build(&self, data: &Dataset) -> Result<Box<dyn Score>> {
        Ok(match self {
            FamilySpec::Exact => Box::new(EmpiricalScore::new(data, Precision::F32)?),
            FamilySpec::Wiener => Box::new(wiener(data)?),
            FamilySpec::Smoothed { sigma } => Box::new(SmoothedScore::new(data, *sigma)?),
            FamilySpec::Cfdm { sigma, m, seed } => {
                Box::new(CfdmScore::new(data, *sigma, *m, *seed)?)
            }
            FamilySpec::Knn { k } => Box::new(KnnScore::new(data, *k)?),
            FamilySpec::Mask { rule } => Box::new(MaskScore::new(data, *rule)?),
            FamilySpec::Patch {
                kind,
                padding,
                schedule,
                shape,
                precision,
            } => {
                let shape = match (shape, &data.image) {
                    (Some(s), _) => *s,
                    (None, Some(im)) => (im.channels, im.height, im.width),
                    (None, None) => {
                        let side = (data.d as f64).sqrt().round() as usize;
                        if side * side != data.d {
                            return Err(Error::param(
                                "shape",
                                "none",
                                format!("shape=CxHxW for d = {}, not a square image", data.d),
                            ));
                        }
                        (1, side, side)
                    }
                };
                Box::new(PatchScore::new(
                    data,
                    shape,
                    *kind,
                    *padding,
                    schedule.clone(),
                    *precision,
                )?)
            }
        })
    }
}
