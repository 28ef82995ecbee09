//! `diffscope._diffscope`: the compiled core of the Python package `pydiffscope` (import `diffscope`).
//!
//! A thin door over the `diffscope` library: data sets, scores (built-in, trained MLPs, and any Python
//! callable), the samplers, the regimes experiment and the theory. The public, documented API is the pure
//! Python layer in `python/diffscope/`, which validates arguments and builds the serde configs (as JSON)
//! that the library deserialises, so a Python run and a CLI run of the same config are the same run.
//! Long calls release the GIL ([`run::detached`]).

mod arrays;
mod errors;
mod pyscore;
mod run;

use arrays::{matrix_f32, to_matrix, to_vector};
use diffscope::data::{self, DataModel, Dataset, NearestColumns};
use diffscope::experiments;
use diffscope::score::{
    EmpiricalScore, Extras, GmmScore, Isa, Nearest, Posterior, Precision, Score,
};
use errors::{to_py, IntoPyResult};
use numpy::PyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> PyResult<T> {
    serde_json::from_str(text).map_err(|e| {
        to_py(diffscope::Error::Config {
            path: PathBuf::from(format!("<{what}>")),
            msg: e.to_string(),
        })
    })
}

/// A report, with its run directory written when `out` is given (the experiments' common tail).
fn written<R>(
    report: diffscope::Result<R>,
    out: Option<&std::path::Path>,
    write: impl FnOnce(&R, &std::path::Path) -> diffscope::Result<()>,
) -> diffscope::Result<R> {
    let r = report?;
    if let Some(dir) = out {
        write(&r, dir)?;
    }
    Ok(r)
}

fn to_json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Puts `nearest` (indices) and the distances `d1`, `d2` of nearest training points into a result dict.
fn set_nearest(out: &Bound<'_, PyDict>, nn: NearestColumns) -> PyResult<()> {
    let py = out.py();
    out.set_item("nearest", to_vector(py, nn.index))?;
    out.set_item("d1", to_vector(py, nn.d1))?;
    out.set_item("d2", to_vector(py, nn.d2))
}

/// A data set held by Rust (n × d float32, optional labels).
#[pyclass(frozen, module = "diffscope._diffscope")]
pub struct NativeDataset {
    inner: Arc<Dataset>,
}

#[pymethods]
impl NativeDataset {
    /// From a (n, d) float32 C-order array, optional labels (n,) uint32 and their class names.
    #[staticmethod]
    #[pyo3(signature = (x, labels=None, class_names=None, provenance="numpy array".to_string()))]
    fn from_array(
        x: &Bound<'_, PyAny>,
        labels: Option<Vec<u32>>,
        class_names: Option<Vec<String>>,
        provenance: String,
    ) -> PyResult<Self> {
        let (v, n, d) = matrix_f32(x, "x")?;
        let mut ds = Dataset::new(v, n, d, provenance).py()?;
        if let Some(l) = labels {
            let k = l.iter().max().map_or(0, |m| *m as usize + 1);
            let names = class_names.unwrap_or_else(|| (0..k).map(|i| i.to_string()).collect());
            ds = ds.with_labels(l, names).py()?;
        }
        Ok(NativeDataset {
            inner: Arc::new(ds),
        })
    }

    /// Loads CSV / .npy / .npz / class folders of .npy or PNG/JPEG / IDX (see the CLI's `data info`),
    /// then applies the image layout, the [−1, 1] pixel map and the centring
    /// (`diffscope::data::DataFileSpec::load`).
    #[staticmethod]
    #[pyo3(signature = (path, label_col=None, classes=None, centre=false, image_shape=None, symmetric_pixels=false))]
    fn load(
        py: Python<'_>,
        path: PathBuf,
        label_col: Option<i64>,
        classes: Option<Vec<String>>,
        centre: bool,
        image_shape: Option<String>,
        symmetric_pixels: bool,
    ) -> PyResult<Self> {
        let spec = diffscope::data::DataFileSpec {
            label_col,
            classes,
            centre,
            image_shape,
            symmetric_pixels,
            ..diffscope::data::DataFileSpec::new(path)
        };
        let ds = py.detach(|| spec.load()).py()?;
        Ok(NativeDataset {
            inner: Arc::new(ds),
        })
    }

    /// n points drawn from a data model (JSON of `DataModel`) with `seed`.
    #[staticmethod]
    fn from_model(py: Python<'_>, model_json: &str, n: usize, seed: u64) -> PyResult<Self> {
        let model: DataModel = from_json(model_json, "model")?;
        let ds = py.detach(|| model.sample(n, seed)).py()?;
        Ok(NativeDataset {
            inner: Arc::new(ds),
        })
    }

    #[getter]
    fn n(&self) -> usize {
        self.inner.n
    }
    #[getter]
    fn d(&self) -> usize {
        self.inner.d
    }
    #[getter]
    fn provenance(&self) -> String {
        self.inner.provenance.clone()
    }
    #[getter]
    fn class_names(&self) -> Vec<String> {
        self.inner.class_names.clone()
    }
    /// The points as a new (n, d) float32 array.
    fn x<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, numpy::PyArray2<f32>>> {
        to_matrix(py, self.inner.x.clone(), self.inner.n, self.inner.d)
    }
    /// The labels as a new (n,) uint32 array, or None.
    fn labels<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<u32>>> {
        self.inner.labels.clone().map(|l| to_vector(py, l))
    }
    /// Summary (n, d, classes, mean norm, Λ, ½ log Λ, rank bound) as JSON.
    fn info_json(&self, py: Python<'_>) -> PyResult<String> {
        let ds = self.inner.clone();
        let info = py.detach(move || ds.info()).py()?;
        to_json(&info)
    }
}

enum ScoreImpl {
    Native(Arc<dyn Score>),
    Callable {
        f: Py<PyAny>,
        jvp: Option<Py<PyAny>>,
        vjp: Option<Py<PyAny>>,
        d: usize,
        name: String,
    },
}

/// A score: built in (exact empirical, GMM population, trained MLP) or a Python callable.
#[pyclass(frozen, module = "diffscope._diffscope")]
pub struct NativeScore {
    imp: ScoreImpl,
    training: Option<Arc<Dataset>>,
}

impl NativeScore {
    /// Runs `work` with this score as a `&dyn Score` (a callable is bound to the call's `ctl`).
    fn with<R>(&self, py: Python<'_>, ctl: &run::Ctl, work: impl FnOnce(&dyn Score) -> R) -> R {
        match &self.imp {
            ScoreImpl::Native(s) => work(s.as_ref()),
            ScoreImpl::Callable {
                f,
                jvp,
                vjp,
                d,
                name,
            } => {
                let cs = pyscore::CallableScore {
                    f: f.clone_ref(py),
                    jvp: jvp.as_ref().map(|g| g.clone_ref(py)),
                    vjp: vjp.as_ref().map(|g| g.clone_ref(py)),
                    d: *d,
                    name: name.clone(),
                    ctl,
                    calls: AtomicU64::new(0),
                };
                work(&cs)
            }
        }
    }
}

#[pymethods]
impl NativeScore {
    /// The exact empirical score of a data set (fused flash-softmax kernel; precision "f32" or "f64";
    /// `isa`: the f32 kernel's instruction set, "portable", "avx2" or "avx512", default the widest here;
    /// `device`: "cpu", "cuda" or "cuda:N").
    #[staticmethod]
    #[pyo3(signature = (data, precision="f32", isa=None, device="cpu"))]
    fn empirical(
        data: &NativeDataset,
        precision: &str,
        isa: Option<&str>,
        device: &str,
    ) -> PyResult<Self> {
        let p = match precision {
            "f32" => Precision::F32,
            "f64" => Precision::F64,
            other => {
                return Err(to_py(diffscope::Error::param(
                    "precision",
                    other,
                    "\"f32\" or \"f64\"",
                )))
            }
        };
        let mut s = EmpiricalScore::new(&data.inner, p).py()?;
        if let Some(isa) = isa {
            s.set_isa(Isa::parse("isa", isa).py()?).py()?;
        }
        s.set_device(diffscope::score::Device::parse("device", device).py()?)
            .py()?;
        Ok(NativeScore {
            imp: ScoreImpl::Native(Arc::new(s)),
            training: Some(data.inner.clone()),
        })
    }

    /// The population score of a Gaussian-mixture data model (JSON of `DataModel`; `seed` fixes random
    /// directions where the model has them).
    #[staticmethod]
    fn gmm(model_json: &str, seed: u64) -> PyResult<Self> {
        let model: DataModel = from_json(model_json, "model")?;
        let mix = model.mixture(seed).py()?;
        Ok(NativeScore {
            imp: ScoreImpl::Native(Arc::new(GmmScore::new(mix))),
            training: None,
        })
    }

    /// A score of the closed-form family on a data set, by name (`wiener`, `smoothed:sigma=S`, `cfdm:sigma=S[,m=M]`,
    /// `knn:k=K`,
    /// `ls:patch=P[,padding=zero|circular][,shape=CxHxW][,precision=f32|f64]`, `els:…`, `exact`).
    #[staticmethod]
    fn family(data: &NativeDataset, spec: &str) -> PyResult<Self> {
        let spec: diffscope::family::FamilySpec = spec.parse().py()?;
        let score = spec.build(&data.inner).py()?;
        Ok(NativeScore {
            imp: ScoreImpl::Native(Arc::from(score)),
            training: Some(data.inner.clone()),
        })
    }

    /// The population score of the per-class Gaussian mixture fitted to a labelled data set.
    #[staticmethod]
    fn gmm_fit(data: &NativeDataset) -> PyResult<Self> {
        let mix = diffscope::universality::Surrogate::fit(&data.inner)
            .and_then(|s| s.mixture())
            .py()?;
        Ok(NativeScore {
            imp: ScoreImpl::Native(Arc::new(GmmScore::new(mix))),
            training: None,
        })
    }

    /// A trained MLP score (a `model.safetensors` written by `diffscope train`), with the data model
    /// (JSON) and seed stored beside it when there are any.
    #[staticmethod]
    fn mlp_load(path: PathBuf) -> PyResult<(Self, Option<String>, Option<u64>)> {
        let t = experiments::train::load_trained(&path).py()?;
        let model = t.model.as_ref().map(to_json).transpose()?;
        Ok((
            NativeScore {
                imp: ScoreImpl::Native(Arc::new(t.net)),
                training: None,
            },
            model,
            t.seed,
        ))
    }

    /// A Python callable `f(x: ndarray[b, d] float32, t: float) -> ndarray[b, d]` of dimension d, with
    /// optional Jacobian products `jvp(x, t, v) -> J v` and `vjp(x, t, v) -> vᵀ J`.
    #[staticmethod]
    #[pyo3(signature = (f, d, name, jvp=None, vjp=None))]
    fn callable(
        f: Py<PyAny>,
        d: usize,
        name: String,
        jvp: Option<Py<PyAny>>,
        vjp: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        if d == 0 {
            return Err(to_py(diffscope::Error::param("d", 0, "at least 1")));
        }
        Ok(NativeScore {
            imp: ScoreImpl::Callable {
                f,
                jvp,
                vjp,
                d,
                name,
            },
            training: None,
        })
    }

    #[getter]
    fn d(&self) -> usize {
        match &self.imp {
            ScoreImpl::Native(s) => s.dim(),
            ScoreImpl::Callable { d, .. } => *d,
        }
    }

    #[getter]
    fn has_training_set(&self) -> bool {
        match &self.imp {
            ScoreImpl::Native(s) => s.has_training_set(),
            ScoreImpl::Callable { .. } => false,
        }
    }

    fn describe(&self) -> String {
        match &self.imp {
            ScoreImpl::Native(s) => s.describe(),
            ScoreImpl::Callable { name, .. } => format!("Python callable {name}"),
        }
    }

    /// S(x, t) for a (b, d) float32 array; with `log_p` and/or `nearest` also log p_t(x) and the nearest
    /// scaled training points (index, second index, d1, d2); with `posterior` the entropy (nats) and the
    /// effective number 1/Σw² of the softmax weights. Returns a dict of arrays.
    #[pyo3(signature = (x, t, log_p=false, nearest=false, posterior=false, threads=None))]
    #[allow(clippy::too_many_arguments)]
    fn eval<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        t: f64,
        log_p: bool,
        nearest: bool,
        posterior: bool,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (v, b, d) = matrix_f32(x, "x")?;
        if d != self.d() {
            return Err(to_py(diffscope::Error::Shape {
                what: "score(x, t)".into(),
                detail: format!(
                    "x has d = {d} columns but the score has dimension {}",
                    self.d()
                ),
            }));
        }
        if !(t > 0.0 && t.is_finite()) {
            return Err(to_py(diffscope::Error::param(
                "t",
                t,
                "a finite OU time > 0",
            )));
        }
        diffscope::error::check_finite_f32("x", &v, d).py()?;
        for (name, asked) in [("nearest", nearest), ("posterior", posterior)] {
            if asked && !self.has_training_set() {
                return Err(to_py(diffscope::Error::param(
                    name,
                    "True",
                    "a score with a training set (EmpiricalScore)",
                )));
            }
        }
        let ctl = run::Ctl::default();
        let (s, lp, nn, post) = self.with(py, &ctl, |score| {
            run::detached(py, threads, None, &ctl, || {
                let mut s = vec![0.0f32; v.len()];
                let mut lp = vec![0.0f64; if log_p { b } else { 0 }];
                let mut nn = vec![Nearest::default(); if nearest { b } else { 0 }];
                let mut post = vec![Posterior::default(); if posterior { b } else { 0 }];
                score.eval_into(
                    &v,
                    t,
                    &mut s,
                    Extras {
                        log_p: log_p.then_some(&mut lp[..]),
                        nearest: nearest.then_some(&mut nn[..]),
                        posterior: posterior.then_some(&mut post[..]),
                    },
                    faer::Par::rayon(0),
                );
                Ok((s, lp, nn, post))
            })
        })?;
        let out = PyDict::new(py);
        out.set_item("score", to_matrix(py, s, b, d)?)?;
        if log_p {
            out.set_item("log_p", to_vector(py, lp))?;
        }
        if nearest {
            let nn = NearestColumns::new(&nn);
            out.set_item("second", to_vector(py, nn.second.clone()))?;
            set_nearest(&out, nn)?;
        }
        if posterior {
            out.set_item(
                "entropy",
                to_vector(py, post.iter().map(|p| p.entropy).collect()),
            )?;
            out.set_item(
                "effective_n",
                to_vector(py, post.iter().map(|p| p.effective_n).collect()),
            )?;
        }
        Ok(out)
    }
}

/// The sampler called `name` (any of the library's `SamplerKind::NAMES`, as the CLI's `--sampler`) with
/// EDM's churn (`churn_json`, an `EdmChurn`, only for "edm"), as the JSON the parameter structs take.
#[pyfunction]
#[pyo3(signature = (name, churn_json=None))]
fn sampler_kind(name: &str, churn_json: Option<&str>) -> PyResult<String> {
    use diffscope::sampler::{EdmChurn, SamplerKind};
    let churn: Option<EdmChurn> = churn_json
        .map(|j| diffscope::config::from_json(j, "churn"))
        .transpose()
        .map_err(to_py)?;
    let kind = SamplerKind::from_name(name, churn).map_err(to_py)?;
    serde_json::to_string(&kind).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// The training data stored beside a model file from `train` (data.npz in its folder).
#[pyfunction]
fn trained_model_data(path: PathBuf) -> PyResult<NativeDataset> {
    let ds = experiments::train::load_training_data(&path).map_err(to_py)?;
    Ok(NativeDataset {
        inner: Arc::new(ds),
    })
}

/// Every sampler name `sampler_kind` takes.
#[pyfunction]
fn sampler_names() -> Vec<&'static str> {
    diffscope::sampler::SamplerKind::NAMES
        .map(|(n, _)| n)
        .to_vec()
}

/// Reverse-time sampling from N(0, I) with any score (`experiments::sample::run`; `params_json` holds
/// `SampleParams`). Returns a dict: x (n, d), times, and nearest/d1/d2 or trajectory when available.
#[pyfunction]
#[pyo3(signature = (score, params_json, data=None, threads=None, progress=None))]
fn sample<'py>(
    py: Python<'py>,
    score: &NativeScore,
    params_json: &str,
    data: Option<&NativeDataset>,
    threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    // The keywords given over the library's defaults (None: not given).
    let p: experiments::sample::SampleParams =
        diffscope::config::from_json(params_json, "sample parameters").map_err(to_py)?;
    let ctl = run::Ctl::default();
    // The training data: the empirical score's own, or the caller's (a learned score's end points then
    // get their exact nearest training points after denoising).
    let training = score
        .training
        .clone()
        .or_else(|| data.map(|d| d.inner.clone()));
    if let Some(t) = &training {
        if t.d != score.d() {
            return Err(to_py(diffscope::Error::Shape {
                what: "sample(data=...)".into(),
                detail: format!("data have d = {} but the score has d = {}", t.d, score.d()),
            }));
        }
    }
    let s = score.with(py, &ctl, |sc| {
        run::detached(py, threads, progress, &ctl, || {
            experiments::sample::run(sc, &p, training.as_deref(), &ctl)
        })
    })?;
    let out = PyDict::new(py);
    let (n, d) = (p.n, s.d);
    let (nearest, posterior) = (s.nearest_columns(), s.posterior_columns());
    out.set_item("x", to_matrix(py, s.x, n, d)?)?;
    out.set_item("times", to_vector(py, s.times.clone()))?;
    out.set_item("score_evals", s.score_evals)?;
    if let Some((nn, f_mem)) = nearest {
        set_nearest(&out, nn)?;
        out.set_item("f_mem", f_mem)?;
    }
    if let Some(c) = posterior {
        out.set_item("entropy", to_matrix(py, c.entropy, c.rows, n)?)?;
        out.set_item("effective_n", to_matrix(py, c.effective_n, c.rows, n)?)?;
        out.set_item("collapse_t", to_vector(py, c.collapse_t))?;
        out.set_item("t_collapse", (c.t_collapse.value, c.t_collapse.ci))?;
    }
    if let Some(tr) = s.trajectory {
        let k = tr.len() / (n * d);
        let arr = PyArray1::from_vec(py, tr);
        out.set_item(
            "trajectory",
            numpy::PyArrayMethods::reshape(&arr, [k, n, d])?,
        )?;
    }
    Ok(out)
}

/// The regimes experiment (`experiments::regimes`): config as JSON of `RegimesConfig`; optional in-memory
/// data and score; writes the run directory when `out` is given. Returns summary.json as text.
#[pyfunction]
#[pyo3(signature = (config_json, data=None, score=None, out=None, threads=None, progress=None))]
fn regimes(
    py: Python<'_>,
    config_json: &str,
    data: Option<&NativeDataset>,
    score: Option<&NativeScore>,
    out: Option<PathBuf>,
    threads: Option<usize>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    // The keywords given, laid over the library's defaults by the one overlay (as the CLI's flags).
    let set = diffscope::config::table_from_json(config_json, "regimes config").map_err(to_py)?;
    let cfg =
        experiments::regimes::RegimesConfig::resolve(None, set, data.is_some()).map_err(to_py)?;
    let ds = data.map(|d| d.inner.clone());
    let ctl = run::Ctl::default();
    let go = |sc: Option<&dyn Score>| {
        run::detached(py, threads, progress, &ctl, || {
            let report = written(
                experiments::regimes::run_on(&cfg, ds.as_deref(), sc, &ctl),
                out.as_deref(),
                experiments::regimes::write_run_dir,
            )?;
            Ok(report.summary)
        })
    };
    let summary = match score {
        Some(s) => s.with(py, &ctl, |sc| go(Some(sc)))?,
        None => go(None)?,
    };
    to_json(&summary)
}

/// The harness (`experiments::compare`): `score` against the family on `data` (`params_json`:
/// `CompareParams`); writes the run directory when `out` is given. Returns the curves as JSON.
#[pyfunction]
#[pyo3(signature = (score, data, params_json, out=None, threads=None, progress=None))]
fn compare(
    py: Python<'_>,
    score: &NativeScore,
    data: &NativeDataset,
    params_json: &str,
    out: Option<PathBuf>,
    threads: Option<usize>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    // The keywords given over the library's defaults (None: not given).
    let p: experiments::compare::CompareParams =
        diffscope::config::from_json(params_json, "compare parameters").map_err(to_py)?;
    let ds = data.inner.clone();
    let ctl = run::Ctl::default();
    let r = score.with(py, &ctl, |sc| {
        run::detached(py, threads, progress, &ctl, || {
            written(
                experiments::compare::run(sc, &ds, &p, &ctl),
                out.as_deref(),
                |r, dir| experiments::compare::write_run_dir(r, &p, &ds, dir),
            )
        })
    })?;
    to_json(&r)
}

/// t_S = ½ log(Λ / v∞) (science.md §4).
#[pyfunction]
#[pyo3(signature = (lam, v_inf=1.0))]
fn t_speciation(lam: f64, v_inf: f64) -> PyResult<f64> {
    diffscope::theory::t_speciation(lam, v_inf).py()
}

/// t_C of the two-class GMM at n points in dimension d with variance σ² (science.md §4).
#[pyfunction]
fn t_collapse_gmm(n: usize, d: usize, sigma2: f64) -> PyResult<f64> {
    diffscope::theory::t_collapse_gmm(n, d, sigma2).py()
}

/// The speciation curve φ(t) of the two-class GMM with |m| = m_norm.
#[pyfunction]
fn speciation_curve(m_norm: f64, sigma2: f64, t: f64) -> PyResult<f64> {
    diffscope::theory::speciation_curve(m_norm, sigma2, t).py()
}

/// The excess entropy f^e(t)/α of the two-class GMM (REM closed form).
#[pyfunction]
fn excess_entropy_gmm(t: f64, alpha: f64, sigma2: f64) -> f64 {
    diffscope::theory::excess_entropy_gmm(t, alpha, sigma2)
}

/// Every t_S / t_C variant of the hidden-manifold mixture (JSON of `ManifoldSpec` in, JSON out).
#[pyfunction]
#[pyo3(signature = (spec_json, alpha, centres=true))]
fn manifold_theory(py: Python<'_>, spec_json: &str, alpha: f64, centres: bool) -> PyResult<String> {
    let spec: data::ManifoldSpec = from_json(spec_json, "manifold spec")?;
    let th = py
        .detach(|| diffscope::theory::manifold::manifold_theory(&spec, alpha, centres))
        .py()?;
    to_json(&th)
}

/// F (d × p) and μ̃ (p) as NumPy arrays.
type EmbeddingArrays<'py> = (Bound<'py, numpy::PyArray2<f64>>, Bound<'py, PyArray1<f64>>);

/// The quenched embedding F (d × p) and latent centre μ̃ (p) of a hidden-manifold model drawn with `seed`
/// (the same draw as the data of `NativeDataset.from_model` with that seed).
#[pyfunction]
fn manifold_draw<'py>(
    py: Python<'py>,
    spec_json: &str,
    seed: u64,
) -> PyResult<EmbeddingArrays<'py>> {
    let spec: data::ManifoldSpec = from_json(spec_json, "manifold spec")?;
    let hm = spec.draw(seed).py()?;
    let (d, p) = (hm.f.nrows(), hm.f.ncols());
    let f: Vec<f64> = (0..d * p).map(|i| hm.f[(i / p, i % p)]).collect();
    let f = numpy::PyArrayMethods::reshape(&PyArray1::from_vec(py, f), [d, p])?;
    Ok((f, to_vector(py, hm.mu)))
}

/// Covariance spectra of a data set (`per_class`: also each class); writes the run directory when `out`
/// is given. Returns summary.json as text. Runs through the one detached runner (`threads=`, Ctrl-C).
#[pyfunction]
#[pyo3(signature = (data, per_class=false, seed=0, out=None, threads=None))]
fn spectrum(
    py: Python<'_>,
    data: &NativeDataset,
    per_class: bool,
    seed: u64,
    out: Option<PathBuf>,
    threads: Option<usize>,
) -> PyResult<String> {
    let ds = data.inner.clone();
    let ctl = run::Ctl::default();
    let summary = run::detached(py, threads, None, &ctl, || {
        let r = written(
            experiments::stats::run_spectrum(&ds, per_class, seed),
            out.as_deref(),
            experiments::stats::write_spectrum,
        )?;
        Ok(r.summary)
    })?;
    to_json(&summary)
}

/// Tails of |x| and of random 1-Lipschitz functionals vs sub-Gaussian bounds; returns summary.json as
/// text and the functionals (their tails) as JSON. Runs through the one detached runner.
#[pyfunction]
#[pyo3(signature = (data, functionals=16, seed=0, out=None, threads=None))]
fn concentration(
    py: Python<'_>,
    data: &NativeDataset,
    functionals: usize,
    seed: u64,
    out: Option<PathBuf>,
    threads: Option<usize>,
) -> PyResult<(String, String)> {
    let ds = data.inner.clone();
    let ctl = run::Ctl::default();
    let rep = run::detached(py, threads, None, &ctl, || {
        written(
            experiments::stats::run_concentration(&ds, functionals, seed),
            out.as_deref(),
            experiments::stats::write_concentration,
        )
    })?;
    Ok((to_json(&rep.summary)?, to_json(&rep.result)?))
}

/// Linear classifiers on data vs its per-class Gaussian surrogate (`params_json`: `UniversalityParams`).
/// Returns summary.json and the curves as JSON text.
#[pyfunction]
#[pyo3(signature = (data, params_json, seed=0, out=None, threads=None, progress=None))]
fn universality(
    py: Python<'_>,
    data: &NativeDataset,
    params_json: &str,
    seed: u64,
    out: Option<PathBuf>,
    threads: Option<usize>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<(String, String)> {
    let p: diffscope::universality::UniversalityParams =
        from_json(params_json, "universality parameters")?;
    let ds = data.inner.clone();
    let ctl = run::Ctl::default();
    let rep = run::detached(py, threads, progress, &ctl, || {
        let r = written(
            experiments::stats::run_universality(&ds, &p, seed, &ctl),
            out.as_deref(),
            experiments::stats::write_universality,
        )?;
        Ok(r)
    })?;
    Ok((to_json(&rep.summary)?, to_json(&rep.result)?))
}

fn model_of(model_json: Option<&str>) -> PyResult<Option<DataModel>> {
    model_json.map(|j| from_json(j, "model")).transpose()
}

/// Trains an MLP score by denoising score matching into `out` (`settings_json`: `TrainSettings`; the
/// data model, when given, is stored in the model's metadata). Returns summary.json as text.
#[pyfunction]
#[pyo3(signature = (data, settings_json, out, seed=0, model_json=None, threads=None, progress=None))]
#[allow(clippy::too_many_arguments)]
fn train(
    py: Python<'_>,
    data: &NativeDataset,
    settings_json: &str,
    out: PathBuf,
    seed: u64,
    model_json: Option<&str>,
    threads: Option<usize>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let s: experiments::train::TrainSettings = from_json(settings_json, "train settings")?;
    let model = model_of(model_json)?;
    let ds = data.inner.clone();
    let ctl = run::Ctl::default();
    let summary = run::detached(py, threads, progress, &ctl, || {
        experiments::train::run(&ds, model.as_ref(), &s, seed, &out, &ctl, &mut |_, _| {})
    })?;
    to_json(&summary)
}

/// The memorisation study (`params_json`: `MemorisationParams`); writes the run directory when `out` is
/// given. Returns summary.json as text.
#[pyfunction]
#[pyo3(signature = (data, params_json, seed=0, out=None, model_json=None, threads=None, progress=None))]
#[allow(clippy::too_many_arguments)]
fn memorise(
    py: Python<'_>,
    data: &NativeDataset,
    params_json: &str,
    seed: u64,
    out: Option<PathBuf>,
    model_json: Option<&str>,
    threads: Option<usize>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let p: diffscope::memorisation::MemorisationParams =
        from_json(params_json, "memorisation parameters")?;
    let model = model_of(model_json)?;
    let ds = data.inner.clone();
    let ctl = run::Ctl::default();
    let summary = run::detached(py, threads, progress, &ctl, || {
        let r = written(
            experiments::memorise::run(&ds, model.as_ref(), &p, seed, &ctl),
            out.as_deref(),
            experiments::memorise::write_run_dir,
        )?;
        Ok(r.summary)
    })?;
    to_json(&summary)
}

/// Score geometry along backward trajectories (`params_json`: `GeometryParams`); the data give the
/// reference exact score; the model (and the seed it was drawn with) the true tangent spaces. Returns
/// summary.json as text.
#[pyfunction]
#[pyo3(signature = (score, data, params_json, seed=0, out=None, model_json=None, model_seed=0, what=None, threads=None, progress=None))]
#[allow(clippy::too_many_arguments)]
fn geometry(
    py: Python<'_>,
    score: &NativeScore,
    data: &NativeDataset,
    params_json: &str,
    seed: u64,
    out: Option<PathBuf>,
    model_json: Option<&str>,
    model_seed: u64,
    what: Option<String>,
    threads: Option<usize>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let p: experiments::geometry::GeometryParams = from_json(params_json, "geometry parameters")?;
    let model = model_of(model_json)?;
    let ds = data.inner.clone();
    let what = what.unwrap_or_else(|| score.describe());
    let ctl = run::Ctl::default();
    let summary = score.with(py, &ctl, |sc| {
        run::detached(py, threads, progress, &ctl, || {
            let input = experiments::geometry::GeometryInput {
                score: sc,
                what,
                data: &ds,
                model: model.as_ref(),
                model_seed,
            };
            let r = written(
                experiments::geometry::run(&input, &p, seed, &ctl),
                out.as_deref(),
                experiments::geometry::write_run_dir,
            )?;
            Ok(r.summary)
        })
    })?;
    to_json(&summary)
}

/// The manifold theory's β sweep for every activation (`base_json`: `ManifoldSpec`, β and activation
/// replaced); writes the sweep directory when `out` is given. Returns the rows as JSON.
#[pyfunction]
#[pyo3(signature = (base_json, betas, alpha, centres=false, out=None, progress=None))]
fn theory_sweep(
    py: Python<'_>,
    base_json: &str,
    betas: Vec<f64>,
    alpha: f64,
    centres: bool,
    out: Option<PathBuf>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let base: data::ManifoldSpec = from_json(base_json, "manifold spec")?;
    let ctl = run::Ctl::default();
    let rows = run::detached(py, None, progress, &ctl, || {
        let rows = written(
            experiments::theory::sweep(&base, &betas, alpha, centres, &ctl),
            out.as_deref(),
            |r, dir| experiments::theory::write_sweep(r, &base, alpha, dir),
        )?;
        Ok(rows)
    })?;
    to_json(&rows)
}

/// The instruction sets of the empirical score's f32 kernel that this processor runs, narrowest first
/// (all give the same bits).
#[pyfunction]
fn instruction_sets() -> Vec<&'static str> {
    Isa::ALL
        .into_iter()
        .filter(|i| i.supported())
        .map(Isa::name)
        .collect()
}

/// The package's compiled core.
#[pymodule]
fn _diffscope(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", diffscope::VERSION)?;
    m.add_class::<NativeDataset>()?;
    m.add_class::<NativeScore>()?;
    m.add_function(wrap_pyfunction!(sample, m)?)?;
    m.add_function(wrap_pyfunction!(sampler_kind, m)?)?;
    m.add_function(wrap_pyfunction!(sampler_names, m)?)?;
    m.add_function(wrap_pyfunction!(trained_model_data, m)?)?;
    m.add_function(wrap_pyfunction!(regimes, m)?)?;
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    m.add_function(wrap_pyfunction!(t_speciation, m)?)?;
    m.add_function(wrap_pyfunction!(t_collapse_gmm, m)?)?;
    m.add_function(wrap_pyfunction!(speciation_curve, m)?)?;
    m.add_function(wrap_pyfunction!(excess_entropy_gmm, m)?)?;
    m.add_function(wrap_pyfunction!(manifold_theory, m)?)?;
    m.add_function(wrap_pyfunction!(manifold_draw, m)?)?;
    m.add_function(wrap_pyfunction!(spectrum, m)?)?;
    m.add_function(wrap_pyfunction!(concentration, m)?)?;
    m.add_function(wrap_pyfunction!(universality, m)?)?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(memorise, m)?)?;
    m.add_function(wrap_pyfunction!(geometry, m)?)?;
    m.add_function(wrap_pyfunction!(theory_sweep, m)?)?;
    m.add_function(wrap_pyfunction!(instruction_sets, m)?)?;
    Ok(())
}
