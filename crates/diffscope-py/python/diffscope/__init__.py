"""diffscope: see why diffusion models generalise, memorise and stay on their data manifold.

The Python door to the diffscope Rust library (distribution ``pydiffscope``, import ``diffscope``).
One time convention everywhere: the Ornstein-Uhlenbeck time t, x_t = e^{-t} x_0 + sqrt(1 - e^{-2t}) z.

Arrays go in and out as NumPy ``float32`` arrays in C order. float64 input is cast to float32; a
Fortran-order or strided array is copied to C order (never transposed); any other dtype raises
``TypeError``, a wrong shape :class:`~diffscope.errors.ShapeError`, NaN/Inf
:class:`~diffscope.errors.NonFiniteError` (both ``ValueError``). Long calls release the GIL, stop with
``KeyboardInterrupt`` on Ctrl-C (leaving no partial files), accept ``threads=`` (a private pool of that
many threads; results do not depend on it) and ``progress=`` (a callable ``progress(done, total)``, or
``True`` for a tqdm bar when tqdm is installed). Do not fork (multiprocessing, DataLoader workers) while a
call runs: rayon's threads do not survive a fork.

Quick start::

    import diffscope as ds
    data = ds.load_data("../shared/data/digits.csv.gz", label_col=64, classes=["0", "1"], centre=True)
    score = ds.EmpiricalScore(data)
    x = ds.sample(score, 500, steps=200, seed=1)["x"]
    summary = ds.regimes(data, batch=400, pairs=200, out="runs/py-regimes")
    run = ds.read_run("runs/py-regimes")
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np

from . import _diffscope as _core
from . import theory
from .errors import (
    ConfigError,
    DeviceError,
    DiffscopeError,
    DiffscopeIOError,
    FormatError,
    NonFiniteError,
    NumericalError,
    ParamError,
    ScoreCallError,
    ShapeError,
)
from .io import read_run

__version__: str = _core.__version__

__all__ = [
    "Dataset",
    "Model",
    "load_data",
    "two_class",
    "gmm",
    "manifold",
    "sphere",
    "subspace",
    "Score",
    "EmpiricalScore",
    "instruction_sets",
    "SAMPLERS",
    "GmmScore",
    "FamilyScore",
    "MlpScore",
    "CallableScore",
    "sample",
    "regimes",
    "compare",
    "read_run",
    "spectrum",
    "concentration",
    "universality",
    "train",
    "memorise",
    "geometry",
    "theory",
    "DiffscopeError",
    "ParamError",
    "ShapeError",
    "NonFiniteError",
    "FormatError",
    "ConfigError",
    "DeviceError",
    "ScoreCallError",
    "NumericalError",
    "DiffscopeIOError",
]


def _matrix(x: Any, name: str = "x") -> np.ndarray:
    """A (b, d) float32 C-order view or copy of ``x`` (see the module doc for the rules)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray of shape (b, d), got {type(x).__name__}")
    if x.dtype == np.float64:
        # Values beyond float32 become inf here and are rejected as NonFiniteError by the library.
        with np.errstate(over="ignore"):
            x = x.astype(np.float32)
    elif x.dtype != np.float32:
        raise TypeError(
            f"{name}: expected dtype float32 (or float64, cast to float32), got {x.dtype} "
            f"with shape {x.shape}"
        )
    if x.ndim != 2:
        raise ShapeError(f"{name}: expected a 2-D array of shape (b, d), got shape {x.shape}")
    return np.ascontiguousarray(x)


def _progress(progress: Any) -> Optional[Callable[[int, int], Any]]:
    """``None``, a callable ``(done, total)``, or ``True`` for tqdm (silently none without tqdm)."""
    if progress is None or progress is False:
        return None
    if progress is True:
        try:
            from tqdm.auto import tqdm  # type: ignore
        except ImportError:
            return None
        bar = tqdm(total=0)

        def update(done: int, total: int) -> None:
            if bar.total != total:
                bar.total = total
            bar.n = done
            bar.refresh()
            if done >= total:
                bar.close()

        return update
    if not callable(progress):
        raise TypeError(f"progress: expected a callable (done, total), True or None, got {type(progress).__name__}")
    return progress


def _threads(threads: Optional[int]) -> Optional[int]:
    if threads is None:
        return None
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
        raise ParamError(f"invalid parameter `threads` = {threads!r}: expected an integer >= 0 (0: all cores)")
    return threads


# ---------------------------------------------------------------------------------------------------------
# Data


class Model:
    """A data model (the library's ``DataModel``): a dict ``spec`` with a ``kind``, as in a TOML
    ``[model]`` table. ``sample(n, seed)`` draws a :class:`Dataset`."""

    def __init__(self, spec: Mapping[str, Any]):
        self.spec = dict(spec)
        if "kind" not in self.spec:
            raise ConfigError("model spec needs a `kind` (two-class, gmm, manifold, sphere, subspace)")

    def sample(self, n: int, seed: int = 0) -> "Dataset":
        native = _core.NativeDataset.from_model(json.dumps(self.spec), int(n), int(seed))
        return Dataset(native, model=self, seed=seed)

    def __repr__(self) -> str:
        return f"Model({self.spec!r})"


class Dataset:
    """n points in R^d (float32), with optional integer labels and class names."""

    def __init__(self, native: Any, model: Optional[Model] = None, seed: Optional[int] = None):
        self._native = native
        self.model = model
        self.seed = seed

    @classmethod
    def from_numpy(
        cls, x: np.ndarray, labels: Optional[Sequence[int]] = None, class_names: Optional[Sequence[str]] = None
    ) -> "Dataset":
        """From an (n, d) array; ``labels`` (n,) non-negative integers, ``class_names`` one per label."""
        x = _matrix(x)
        lab = None
        if labels is not None:
            lab_arr = np.asarray(labels)
            if lab_arr.shape != (x.shape[0],):
                raise ShapeError(f"labels: expected shape ({x.shape[0]},), got {lab_arr.shape}")
            if not np.issubdtype(lab_arr.dtype, np.integer) or (lab_arr.size and lab_arr.min() < 0):
                raise TypeError("labels: expected non-negative integers")
            lab = [int(v) for v in lab_arr]
        names = None if class_names is None else [str(c) for c in class_names]
        return cls(_core.NativeDataset.from_array(x, lab, names))

    @property
    def n(self) -> int:
        return self._native.n

    @property
    def d(self) -> int:
        return self._native.d

    @property
    def x(self) -> np.ndarray:
        """The points, a new (n, d) float32 array."""
        return self._native.x()

    @property
    def labels(self) -> Optional[np.ndarray]:
        return self._native.labels()

    @property
    def class_names(self) -> list:
        return self._native.class_names

    @property
    def provenance(self) -> str:
        return self._native.provenance

    def info(self) -> dict:
        """n, d, classes, mean norm, top covariance eigenvalue Λ, ½ log Λ (predicted t_S), rank bound."""
        return json.loads(self._native.info_json())

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"Dataset(n={self.n}, d={self.d}, classes={self.class_names}, provenance={self.provenance!r})"


PathLike = Union[str, "os.PathLike[str]"]


def load_data(
    path: PathLike, label_col: Optional[int] = None, classes: Optional[Sequence[str]] = None, centre: bool = False,
    image_shape: Optional[Union[str, Sequence[int]]] = None, symmetric_pixels: bool = False
) -> Dataset:
    """Loads CSV (optional .gz), .npy/.npz, a class folder of .npy or PNG/JPEG files (channels first, values
    in [0, 1]), or IDX files (MNIST / Fashion-MNIST, with their label file).

    ``label_col``: the label column of a CSV (negative counts from the end); ``classes``: keep these class
    names, in this order; ``centre``: subtract the per-feature mean (after selecting classes);
    ``image_shape``: (H, W) or (C, H, W) of rows read from a non-image file, so that samples can be shown
    as images; ``symmetric_pixels``: map image values from [0, 1] to [-1, 1] (before centring)."""
    cls = None if classes is None else [str(c) for c in classes]
    shape = image_shape if image_shape is None or isinstance(image_shape, str) else ",".join(
        str(int(v)) for v in image_shape)
    return Dataset(_core.NativeDataset.load(os.fspath(path), label_col, cls, bool(centre), shape,
                                            bool(symmetric_pixels)))


def two_class(n: int, d: int = 100, mu_tilde: float = 1.0, sigma: float = 1.0, direction: str = "ones", seed: int = 0) -> Dataset:
    """The two-class GMM ±m + σz with |m|² = d μ̃² (science.md §3): n points."""
    return Model({"kind": "two-class", "d": d, "mu_tilde": mu_tilde, "sigma": sigma, "direction": direction}).sample(n, seed)


def gmm(n: int, means: Sequence[Sequence[float]], sigma2: Union[float, Sequence[float]] = 1.0,
        weights: Optional[Sequence[float]] = None, seed: int = 0) -> Dataset:
    """A K-class isotropic GMM with the given means (K × d), variances σ_k² and weights: n points."""
    s2 = [float(sigma2)] if np.isscalar(sigma2) else [float(v) for v in sigma2]  # type: ignore[arg-type]
    spec = {"kind": "gmm", "means": [[float(v) for v in m] for m in means],
            "covariance": {"kind": "isotropic", "sigma2": s2}}
    if weights is not None:
        spec["weights"] = [float(w) for w in weights]
    return Model(spec).sample(n, seed)


def manifold(n: int, d: int = 100, beta: float = 0.5, activation: str = "tanh", mu2: float = 1.0,
             kappa: Optional[float] = None, embedding: str = "gaussian", seed: int = 0):
    """The hidden-manifold mixture (manifold.md): n points x = φ(F c / √p), c ~ ±μ̃ + N(0, κ I_p).

    Returns ``(dataset, F, mu)``: the data, the quenched embedding F (d × p, float64) and the latent
    centre μ̃ (p,) of the same draw."""
    spec = {"kind": "manifold", "d": d, "beta": beta, "activation": activation, "mu2": mu2,
            "kappa": kappa, "embedding": embedding}
    ds = Model(spec).sample(n, seed)
    f, mu = _core.manifold_draw(json.dumps({k: v for k, v in spec.items() if k != "kind"}), int(seed))
    return ds, f, mu


def sphere(n: int, d: int = 10, k: int = 2, radius: float = 1.0, seed: int = 0) -> Dataset:
    """A uniform k-sphere of the given radius, randomly embedded in R^d (geometry.md T2): n points."""
    return Model({"kind": "sphere", "d": d, "k": k, "radius": radius}).sample(n, seed)


def subspace(n: int, d: int = 10, k: int = 2, variances: Optional[Sequence[float]] = None, seed: int = 0) -> Dataset:
    """A Gaussian on a random k-dimensional subspace of R^d (geometry.md T1): n points."""
    spec: dict = {"kind": "subspace", "d": d, "k": k}
    if variances is not None:
        spec["variances"] = [float(v) for v in variances]
    return Model(spec).sample(n, seed)


# ---------------------------------------------------------------------------------------------------------
# Scores


class Score:
    """A score field S(x, t) = ∇ log p_t(x) in OU time. ``score(x, t)`` evaluates a (b, d) batch."""

    _native: Any

    @property
    def d(self) -> int:
        return self._native.d

    def __call__(self, x: np.ndarray, t: float, log_p: bool = False, nearest: bool = False,
                 posterior: bool = False, threads: Optional[int] = None):
        """S(x, t) as a (b, d) float32 array; with ``log_p=True``, ``nearest=True`` and/or
        ``posterior=True`` a dict with ``score`` and ``log_p`` (b,), ``nearest``, ``second`` (indices),
        ``d1``, ``d2``, and ``entropy`` (nats) and ``effective_n`` (1/Σw²) of the softmax weights over the
        training points (scores with a training set)."""
        out = self._native.eval(_matrix(x), float(t), bool(log_p), bool(nearest), bool(posterior),
                                _threads(threads))
        return out if (log_p or nearest or posterior) else out["score"]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._native.describe()})"


class EmpiricalScore(Score):
    """The exact score of the training set (science.md §2), by the fused flash-softmax kernel:
    S(x, t) = (e^{-t} Σ_μ w_μ a_μ - x) / Δ_t with w = softmax(-|x - e^{-t} a_μ|² / 2Δ_t).
    ``precision="f64"`` is the f64 reference path. ``isa`` pins the f32 kernel's instruction set
    (``"portable"``, ``"avx2"``, ``"avx512"``; default the widest this processor runs, see
    ``instruction_sets()``): every one gives the same bits, only the speed differs. ``device="cuda"``
    (or ``"cuda:N"``) runs the f32 kernel on an NVIDIA GPU (README "GPU"); without a driver, GPU or
    NVRTC it raises :class:`~diffscope.errors.DeviceError`, never falling back to the CPU. Arrays still
    pass through host memory (NumPy in and out)."""

    def __init__(
        self, data: Dataset, precision: str = "f32", isa: Optional[str] = None, device: str = "cpu"
    ):
        self.data = data
        self._native = _core.NativeScore.empirical(data._native, precision, isa, device)


def instruction_sets() -> list:
    """The instruction sets of the exact score's f32 kernel that this processor runs, narrowest first
    (e.g. ``["portable", "avx2", "avx512"]``); ``EmpiricalScore(data, isa=...)`` takes any of them."""
    return list(_core.instruction_sets())


class GmmScore(Score):
    """The population score of a Gaussian-mixture model (``Model``, or the model of a Dataset drawn from
    one), or of the per-class Gaussian mixture fitted to a labelled Dataset (``fit=True``)."""

    def __init__(self, model: Union[Model, Dataset, Mapping[str, Any]], seed: int = 0, fit: bool = False):
        if fit:
            if not isinstance(model, Dataset):
                raise TypeError("GmmScore(fit=True) needs a labelled Dataset")
            self._native = _core.NativeScore.gmm_fit(model._native)
            return
        if isinstance(model, Dataset):
            if model.model is None:
                raise ParamError("GmmScore: this Dataset was not drawn from a model; pass fit=True to fit one")
            seed = model.seed if model.seed is not None else seed
            model = model.model
        spec = model.spec if isinstance(model, Model) else dict(model)
        self._native = _core.NativeScore.gmm(json.dumps(spec), int(seed))


class FamilyScore(Score):
    """A training-free score of the closed-form denoiser family on a data set, by name: ``"wiener"`` (the
    linear denoiser of the data's mean and covariance), ``"smoothed:sigma=S"`` (the exact score of the data
    smoothed by a Gaussian of width S), ``"cfdm:sigma=S[,m=M][,seed=K]"`` (Scarvelis et al.'s σ-CFDM: the
    exact score field averaged over M fixed Gaussian perturbations of width S of the query), ``"knn:k=K"`` (the softmax over the K nearest points),
    ``"ls:patch=P"`` / ``"els:patch=P"`` (Kamb & Ganguli's local and equivariant-local patch machines for
    images; ``padding=zero|circular``, ``shape=CxHxW``, a schedule ``patch=3@0.2/7@1/15``,
    ``precision=f32`` (the fast vector path, the default) or ``precision=f64`` (the reference)), ``"exact"``."""

    def __init__(self, data: "Dataset", spec: str):
        self.data = data
        self.spec = str(spec)
        self._native = _core.NativeScore.family(_dataset(data)._native, self.spec)


class MlpScore(Score):
    """A trained MLP score network (``model.safetensors`` from :func:`train` or ``diffscope train``).

    ``model`` is the data model it was trained on (a :class:`Model`, when stored in the file), ``seed``
    the seed that model was drawn with, ``path`` the file."""

    def __init__(self, native: Any, path: Optional[str] = None, model: Optional[Model] = None,
                 seed: Optional[int] = None):
        self._native = native
        self.path = path
        self.model = model
        self.seed = seed

    @classmethod
    def load(cls, path: PathLike) -> "MlpScore":
        native, model_json, seed = _core.NativeScore.mlp_load(os.fspath(path))
        model = Model(json.loads(model_json)) if model_json else None
        return cls(native, os.fspath(path), model, seed)

    def training_data(self) -> Dataset:
        """The training data that ``train`` stored beside the model file (data.npz in its folder)."""
        if self.path is None:
            raise ParamError("invalid parameter `path` = None: expected a model loaded from a file")
        return Dataset(_core.trained_model_data(self.path))


class CallableScore(Score):
    """Any Python callable ``f(x: ndarray[b, d] float32, t: float) -> ndarray[b, d]`` as a score of
    dimension ``d`` (e.g. a PyTorch model wrapped by :func:`diffscope.torch.score_from_module`). It is
    called once per time step with the whole batch (a fresh array it may keep). A wrong shape or dtype
    or a NaN in its output raises :class:`ScoreCallError` naming the call; its own exceptions propagate.
    ``jvp(x, t, v) -> J v`` and ``vjp(x, t, v) -> vᵀ J`` (rows of (b, d) arrays, e.g. from
    ``torch.func.jvp`` / ``vjp``) serve :func:`geometry`'s matrix-free mode; without them Jacobians come
    from central differences (d batched calls per probe)."""

    def __init__(self, f: Callable[[np.ndarray, float], np.ndarray], d: int, name: Optional[str] = None,
                 jvp: Optional[Callable[[np.ndarray, float, np.ndarray], np.ndarray]] = None,
                 vjp: Optional[Callable[[np.ndarray, float, np.ndarray], np.ndarray]] = None):
        for what, g in (("f", f), ("jvp", jvp), ("vjp", vjp)):
            if g is not None and not callable(g):
                raise TypeError(f"CallableScore: {what} must be callable, got {type(g).__name__}")
        self.f = f
        self._native = _core.NativeScore.callable(f, int(d), name or getattr(f, "__name__", type(f).__name__),
                                                  jvp, vjp)


def _as_score(score: Any, d: Optional[int] = None) -> Score:
    if isinstance(score, Score):
        return score
    if callable(score):
        dim = getattr(score, "d", None) or d
        if dim is None:
            raise ParamError("a callable score needs its dimension: pass d=... or wrap it in CallableScore(f, d)")
        return CallableScore(score, int(dim))
    raise TypeError(f"score: expected a diffscope Score or a callable f(x, t), got {type(score).__name__}")


# ---------------------------------------------------------------------------------------------------------
# Samplers and experiments

#: Every sampler name ``sampler=`` takes (the library's, the same as the CLI's ``--sampler``).
SAMPLERS: tuple = tuple(_core.sampler_names())


def _opt(cast: Any, v: Any) -> Any:
    return None if v is None else cast(v)


def sample(score: Any, n: int, sampler: str = "em", steps: Optional[int] = None,
           t_max: Optional[float] = None, t_min: Optional[float] = None, spacing: Optional[str] = None,
           seed: int = 0, record: bool = False, final_step: Optional[str] = None,
           d: Optional[int] = None, data: Optional[Any] = None, threads: Optional[int] = None,
           progress: Any = None, posterior: bool = False, churn: float = 0.0, s_tmin: float = 0.0,
           s_tmax: Optional[float] = None, s_noise: float = 1.0) -> dict:
    """Reverse-time sampling of n trajectories from N(0, I) at t_max down to t_min (defaults: 200 steps,
    t_max 6, t_min 0.01, uniform spacing, the denoising final step: the library's, as the CLI's).

    ``sampler``: "em" (Euler-Maruyama on the reverse SDE), "ode-euler" or "ode-heun" (probability-flow
    ODE), or "edm" (EDM's stochastic sampler, Karras et al. 2022 Algorithm 2: Heun in σ with ``churn``
    S_churn, ``s_tmin``, ``s_tmax``, ``s_noise`` in EDM's σ units; ``churn=0`` is EDM's deterministic Heun); ``spacing``: "uniform", "log" or "edm"; ``final_step``: "denoise" (Tweedie at t_min, as EDM) or
    "none". ``score`` is a :class:`Score` or a callable (then ``d=`` is needed).

    Returns a dict: ``x`` (n, d) end points, ``times`` the grid, ``score_evals``; ``nearest``, ``d1``,
    ``d2``, ``f_mem`` for an :class:`EmpiricalScore`, or for any score given its training ``data`` (the
    exact nearest training points of the denoised end points); ``trajectory`` (K + 1, n, d) with
    ``record=True``; with ``posterior=True`` (an :class:`EmpiricalScore`) the posterior along the
    trajectories: ``entropy`` and ``effective_n`` (K + 1, n) at the grid times and t_min, ``collapse_t`` (n,
    the first time N_eff < 2, NaN when not before t_min) and ``t_collapse`` (median, (lo, hi) 95 % CI).
    The same seed gives bit-identical samples here and from ``diffscope sample``."""
    s = _as_score(score, d)
    # The library resolves the name and refuses churn given with another sampler than "edm".
    churn_set = (churn, s_tmin, s_tmax, s_noise) != (0.0, 0.0, None, 1.0)
    churn_json = json.dumps({"churn": float(churn), "s_tmin": float(s_tmin), "s_noise": float(s_noise),
                             "s_tmax": _opt(float, s_tmax)}) if churn_set else None
    kind = json.loads(_core.sampler_kind(sampler, churn_json))
    # Keywords left at None are not sent: the library's defaults (steps 200, t_max 6, t_min 0.01, uniform
    # spacing, the denoising final step) apply, the same as the CLI's.
    params = {"n": int(n), "sampler": kind, "steps": _opt(int, steps), "t_max": _opt(float, t_max),
              "t_min": _opt(float, t_min), "spacing": spacing, "seed": int(seed),
              "final_step": final_step, "record": bool(record), "posterior": bool(posterior)}
    native_data = None if data is None else _dataset(data)._native
    return _core.sample(s._native, json.dumps(params), native_data, _threads(threads), _progress(progress))


def compare(score: Any, data: Any, against: Optional[Sequence[str]] = None, out: Optional[PathLike] = None,
            batch: Optional[int] = None, steps: Optional[int] = None, t_max: Optional[float] = None,
            t_min: Optional[float] = None, spacing: Optional[str] = None, seed: int = 0,
            patch_sizes: Optional[Sequence[int]] = None, d: Optional[int] = None,
            threads: Optional[int] = None, progress: Any = None) -> dict:
    """The harness: ``score`` (any :class:`Score`, a trained :class:`MlpScore`, or a callable with ``d=``)
    runs ``batch`` reverse trajectories; at each grid time its denoiser output e^t (x + Δ_t S) is compared
    per query with each candidate's (:class:`FamilyScore` names, built on ``data``) by cosine and r², with
    95 % intervals over queries; patch machines are calibrated per t over ``patch_sizes``. Writes a run
    directory (compare.csv, figures, index.html) when ``out`` is given. Returns a dict: ``score``, ``t``,
    ``patch_sizes`` and ``candidates`` (per candidate: ``name``, ``cosine`` and ``r2`` as lists of
    {mean, lo, hi}, ``patch`` the calibrated sizes)."""
    s = _as_score(score, d)
    # Keywords left at None are not sent: the library's defaults apply (the CLI's too): against exact,
    # wiener, knn:k=64, ls:patch=5; 32 queries, 20 log-spaced steps from t_max 6 to t_min 0.01; patch
    # sizes 1, 3, 5, 7, 9, 13, 17, 21, 27.
    params = {"batch": _opt(int, batch), "steps": _opt(int, steps), "t_max": _opt(float, t_max),
              "t_min": _opt(float, t_min), "spacing": spacing, "seed": int(seed),
              "against": None if against is None else [str(a) for a in against],
              "patch_sizes": None if patch_sizes is None else [int(p) for p in patch_sizes]}
    text = _core.compare(s._native, _dataset(data)._native, json.dumps(params),
                         None if out is None else os.fspath(out), _threads(threads), _progress(progress))
    return json.loads(text)


def regimes(data_or_model: Any = None, score: Any = None, out: Optional[PathLike] = None, seed: int = 0,
            n: Optional[int] = None, threads: Optional[int] = None, progress: Any = None,
            **params: Any) -> dict:
    """The main experiment: speciation and collapse measured by cloning backward runs, beside the theory.

    ``data_or_model``: None (the two-class GMM, d = 100), a :class:`Model` (n points drawn with ``seed``),
    a path (a data file; class rule: nearest class mean; centred), or a :class:`Dataset` (in memory; its
    model, if it was drawn from one, gives the theory). ``score``: None (``params['score']``: "empirical",
    "gmm" or "gmm-projected") or any :class:`Score` / callable driving the backward runs. ``params``: the
    keys of the CLI's ``[params]`` table (batch, pairs, branch_every, steps, t_max, t_min, spacing,
    entropy_samples, entropy_times, bootstrap, final_step). ``n``: points drawn from a model (default
    10000, the library's). Only the keys given are laid over the library's defaults (the CLI's overlay).
    Writes the same run directory as ``diffscope regimes`` when ``out`` is given. Returns summary.json as
    a dict."""
    cfg: dict = {"seed": int(seed), "n": None if n is None else int(n), "params": params}
    data_native = None
    if data_or_model is None:
        pass
    elif isinstance(data_or_model, Model):
        cfg["model"] = data_or_model.spec
    elif isinstance(data_or_model, Dataset):
        data_native = data_or_model._native
        if data_or_model.model is not None:
            cfg["model"] = data_or_model.model.spec
    elif isinstance(data_or_model, (str, os.PathLike)):
        cfg["data"] = {"path": os.fspath(data_or_model)}
    elif isinstance(data_or_model, Mapping):
        cfg.update(dict(data_or_model))
        cfg["params"] = {**cfg.get("params", {}), **params}
    else:
        raise TypeError(f"data_or_model: expected None, a Model, a Dataset, a path or a config dict, got {type(data_or_model).__name__}")
    native_score = None
    if score is not None:
        d = data_or_model.d if isinstance(data_or_model, Dataset) else None
        native_score = _as_score(score, d)._native
    text = _core.regimes(json.dumps(cfg), data_native, native_score,
                         None if out is None else os.fspath(out), _threads(threads), _progress(progress))
    return json.loads(text)


# ---------------------------------------------------------------------------------------------------------
# Data-only analyses (the CLI's spectrum, concentration and universality commands)


def _dataset(data: Any) -> Dataset:
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, os.PathLike)):
        return load_data(data)
    if isinstance(data, np.ndarray):
        return Dataset.from_numpy(data)
    raise TypeError(f"data: expected a Dataset, a path or an (n, d) array, got {type(data).__name__}")


def spectrum(data: Any, per_class: bool = False, seed: int = 0, out: Optional[PathLike] = None,
             threads: Optional[int] = None) -> dict:
    """Covariance spectrum of the data (and of each class with ``per_class``): eigenvalues by rank with the
    Marchenko-Pastur reference, rank bound min(n - 1, d), numerical rank, participation ratio, entropy
    rank, and the smallest non-zero eigenvalue vs the number of samples. Returns summary.json as a dict;
    writes the CLI's run directory when ``out`` is given."""
    ds = _dataset(data)
    text = _core.spectrum(ds._native, bool(per_class), int(seed), None if out is None else os.fspath(out),
                          threads)
    return json.loads(text)


def concentration(data: Any, functionals: int = 16, seed: int = 0, out: Optional[PathLike] = None,
                  threads: Optional[int] = None) -> dict:
    """Tails of |x| and of random 1-Lipschitz functionals (projections, |projections|, distances) against
    sub-Gaussian bounds. Returns summary.json as a dict with the ``functionals`` (tails) added."""
    ds = _dataset(data)
    summary, funcs = _core.concentration(ds._native, int(functionals), int(seed),
                                         None if out is None else os.fspath(out), threads)
    s = json.loads(summary)
    s["functionals"] = json.loads(funcs)["functionals"]
    return s


def universality(data: Any, classifier: str = "ridge", lam: float = 1e-2, ns: Sequence[int] = (10, 20, 40, 80),
                 seeds: int = 5, seed: int = 0, out: Optional[PathLike] = None, threads: Optional[int] = None,
                 progress: Any = None, **classifier_params: Any) -> dict:
    """Gaussian universality: the test error of a linear classifier trained on the data vs on its per-class
    Gaussian surrogate, vs n per class with 95 % CIs over ``seeds`` repetitions. ``classifier``: "ridge"
    (closed form, ``lam``), "softmax-ce", "softmax-square" (SGD), "softmax-ce-lbfgs",
    "softmax-square-lbfgs"; ``classifier_params`` override their training parameters. Returns
    summary.json as a dict with the ``curves`` added."""
    ds = _dataset(data)
    clf: dict = {"kind": classifier, **classifier_params}
    if classifier == "ridge":
        clf.setdefault("lambda", float(lam))
    params = {"ns": [int(n) for n in ns], "seeds": int(seeds), "classifier": clf}
    summary, curves = _core.universality(ds._native, json.dumps(params), int(seed),
                                         None if out is None else os.fspath(out), _threads(threads),
                                         _progress(progress))
    s = json.loads(summary)
    s["curves"] = json.loads(curves)
    return s


# ---------------------------------------------------------------------------------------------------------
# Learned scores: training, memorisation, geometry


def train(data: Any, out: PathLike, width: int = 256, depth: int = 3, n_freq: int = 4, steps: Optional[int] = None,
          batch: Optional[int] = None, lr: Optional[float] = None, t_min: Optional[float] = None,
          ema: Optional[float] = None, checkpoint_every: int = 1000, resume: bool = False, seed: int = 0,
          threads: Optional[int] = None, progress: Any = None, **train_config: Any) -> dict:
    """Trains an MLP score network by denoising score matching (EDM preconditioning) into ``out``:
    model.safetensors, checkpoint.safetensors (every ``checkpoint_every`` steps and on Ctrl-C; continue
    with ``resume=True``), data.npz, loss.csv, figures, summary.json. ``data``: a :class:`Dataset` (its
    model, when it was drawn from one, is stored in the model's metadata for :func:`geometry`), a path or
    an array; ``train_config``: any other TrainConfig key (warmup, beta1, beta2, eps, t_max, log_every).
    Load the result with ``MlpScore.load(out / "model.safetensors")``. Returns summary.json as a dict."""
    ds = _dataset(data)
    tc = dict(train_config)
    for k, v in (("steps", steps), ("batch", batch), ("lr", lr), ("t_min", t_min), ("ema", ema)):
        if v is not None:
            tc[k] = v
    settings = {"width": int(width), "depth": int(depth), "n_freq": int(n_freq), "train": tc,
                "checkpoint_every": int(checkpoint_every), "resume": bool(resume),
                "resume_steps": None if steps is None else int(steps)}
    model = json.dumps(ds.model.spec) if ds.model is not None else None
    text = _core.train(ds._native, json.dumps(settings), os.fspath(out), int(seed), model, _threads(threads),
                       _progress(progress))
    return json.loads(text)


def memorise(data: Any, sizes: Sequence[int] = (8, 16, 32, 64), steps: Optional[int] = None, seed: int = 0,
             out: Optional[PathLike] = None, threads: Optional[int] = None, progress: Any = None,
             **params: Any) -> dict:
    """Memorisation of learned scores: trains on the first n points for each n in ``sizes`` and measures
    f_mem of the learned sampler along training, τ_mem per n (with CIs over ``seeds`` replicates) and its
    growth in n. ``params``: the other MemorisationParams keys (width, depth, eval_every, samples,
    sampler_steps, t_max, t_min, level, final_step, seeds, steps_per_point, train={...}). Returns
    summary.json as a dict; writes the CLI's run directory when ``out`` is given."""
    ds = _dataset(data)
    p = dict(params)
    p["n"] = [int(n) for n in sizes]
    if steps is not None:
        p.setdefault("train", {})["steps"] = int(steps)
    model = json.dumps(ds.model.spec) if ds.model is not None else None
    text = _core.memorise(ds._native, json.dumps(p), int(seed), None if out is None else os.fspath(out), model,
                          _threads(threads), _progress(progress))
    return json.loads(text)


def geometry(score: Any, data: Optional[Any] = None, model: Optional[Model] = None, seed: int = 0,
             out: Optional[PathLike] = None, d: Optional[int] = None, threads: Optional[int] = None,
             progress: Any = None, **params: Any) -> dict:
    """Geometry of a score field along backward trajectories (geometry.md): local dimension by five
    estimators, the asymmetry split A_TT / A_NN / A_TN, overlap with the true tangent space and with the
    exact score's features, and the normal-projection error, at probed times.

    ``score``: any :class:`Score` or callable (``d=`` then); an :class:`MlpScore` brings its training
    data (data.npz beside the model file) and data model. ``data``: the training data (the reference
    exact score), default that of an EmpiricalScore or MlpScore. ``model``: the data model for the true
    tangent spaces (default: the data's or the MlpScore's). ``params``: trajectories, steps, t_max, t_min,
    probes, stanczuk, tangent_dim, matrix_free, threshold, sampler. Returns summary.json as a dict."""
    model_seed = seed
    if data is None:
        if isinstance(score, EmpiricalScore):
            data = score.data
        elif isinstance(score, MlpScore) and score.path is not None:
            data = score.training_data()
        else:
            raise ParamError("geometry: give data= (the training data of the score)")
    ds = _dataset(data)
    if model is None:
        if isinstance(score, MlpScore) and score.model is not None:
            model, model_seed = score.model, (score.seed if score.seed is not None else seed)
        elif ds.model is not None:
            model, model_seed = ds.model, (ds.seed if ds.seed is not None else seed)
    s = _as_score(score, d if d is not None else ds.d)
    if "sampler" in params:
        params["sampler"] = json.loads(_core.sampler_kind(params["sampler"]))
    what = s._native.describe()
    if isinstance(s, MlpScore) and s.path is not None:
        what = f"{what} from {s.path}"  # as the CLI describes a model file
    text = _core.geometry(s._native, ds._native, json.dumps(params), int(seed),
                          None if out is None else os.fspath(out),
                          None if model is None else json.dumps(model.spec), int(model_seed), what,
                          _threads(threads), _progress(progress))
    return json.loads(text)
