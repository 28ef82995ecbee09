"""Scores from Python against independent NumPy references."""

import json
import subprocess

import numpy as np
import pytest

import diffscope as ds


def empirical_score_f64(a: np.ndarray, x: np.ndarray, t: float):
    """The exact empirical score in f64 by log-sum-exp (science.md §2), with log p_t(x)."""
    a, x = a.astype(np.float64), x.astype(np.float64)
    decay, delta = np.exp(-t), 1.0 - np.exp(-2.0 * t)
    d2 = ((x[:, None, :] - decay * a[None, :, :]) ** 2).sum(-1)  # (b, n): small here
    logits = -d2 / (2.0 * delta)
    m = logits.max(1, keepdims=True)
    w = np.exp(logits - m)
    z = w.sum(1, keepdims=True)
    w /= z
    score = (decay * w @ a - x) / delta
    d = a.shape[1]
    log_p = (m[:, 0] + np.log(z[:, 0]) - np.log(a.shape[0]) - 0.5 * d * np.log(2 * np.pi * delta))
    return score, log_p, d2.argmin(1)


@pytest.mark.parametrize("t", [0.02, 0.3, 1.5, 5.0])
def test_exact_score_matches_a_numpy_f64_reference(t):
    data = ds.two_class(700, d=16, seed=3)
    a = data.x
    x = np.random.default_rng(1).standard_normal((37, 16)).astype(np.float32)
    out = ds.EmpiricalScore(data)(x, t, log_p=True, nearest=True)
    ref, ref_lp, ref_nn = empirical_score_f64(a, x, t)
    # f32 kernel vs f64: the library's own bound is 1e-5 relative to the score scale |x|/Δ_t (its Rust test
    # measures 2.5e-6); log p to 1e-4 absolute (f32 distances of size ~d summed in f64).
    scale = np.abs(ref).max()
    np.testing.assert_allclose(out["score"], ref, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(out["log_p"], ref_lp, rtol=0, atol=1e-4 * max(1.0, np.abs(ref_lp).max()))
    np.testing.assert_array_equal(out["nearest"], ref_nn)
    # The f64 path agrees to rounding.
    f64 = ds.EmpiricalScore(data, precision="f64")(x, t)
    np.testing.assert_allclose(f64, ref, rtol=0, atol=1e-6 * scale)


@pytest.mark.parametrize("t", [0.01, 1.0])
def test_every_instruction_set_gives_the_same_bits(t):
    # The wheel carries the runtime dispatch: each instruction set this processor runs gives the portable
    # loops' bits (5000 points at d = 48: five tiles, sparse at t = 0.01, dense at t = 1).
    sets = ds.instruction_sets()
    assert sets[0] == "portable" and len(sets) >= 1
    data = ds.two_class(5000, d=48, seed=5)
    rng = np.random.default_rng(2)
    decay, delta = np.exp(-t), 1.0 - np.exp(-2.0 * t)
    x = (decay * data.x[rng.integers(0, 5000, 40)] + np.sqrt(delta) * rng.standard_normal((40, 48)))
    x = x.astype(np.float32)
    want = ds.EmpiricalScore(data, isa="portable")(x, t, log_p=True, nearest=True)
    for isa in sets:
        got = ds.EmpiricalScore(data, isa=isa)(x, t, log_p=True, nearest=True)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k], err_msg=f"{isa}: {k}")
    with pytest.raises(ds.ParamError, match="sse9"):
        ds.EmpiricalScore(data, isa="sse9")


def test_device_cuda_without_a_driver_is_a_device_error():
    # CI has no GPU: device="cuda" names the device and what is missing, as a DeviceError (a RuntimeError),
    # never a silent CPU score; a bad device string is a ParamError naming the keyword.
    import ctypes.util

    data = ds.two_class(50, d=4, seed=1)
    if ctypes.util.find_library("cuda"):
        pytest.skip("a CUDA driver is present here: scripts/gpu-check.sh covers the GPU")
    with pytest.raises(ds.DeviceError, match="cuda:0.*libcuda") as e:
        ds.EmpiricalScore(data, device="cuda")
    assert isinstance(e.value, RuntimeError)
    with pytest.raises(ds.ParamError, match="device"):
        ds.EmpiricalScore(data, device="tpu")
    assert ds.EmpiricalScore(data, device="cpu")(np.zeros((2, 4), np.float32), 0.5).shape == (2, 4)


def two_class_score(d: int, mu_tilde: float = 1.0, sigma: float = 1.0):
    """NumPy score of the two-class GMM ±m + σz, m = μ̃(1, …, 1): S = (e^{-t} m tanh(e^{-t} m·x/Γ) − x)/Γ,
    Γ = e^{-2t} σ² + Δ_t."""
    m = np.full(d, mu_tilde, dtype=np.float64)

    def f(x: np.ndarray, t: float) -> np.ndarray:
        decay = np.exp(-t)
        gamma = decay**2 * sigma**2 + 1.0 - decay**2
        xd = x.astype(np.float64)
        h = np.tanh(decay * xd @ m / gamma)
        return ((decay * h[:, None] * m[None, :] - xd) / gamma).astype(np.float32)

    return f


@pytest.mark.parametrize("sampler", ["em", "ode-euler", "ode-heun", "edm"])
@pytest.mark.parametrize("spacing", ["uniform", "log"])
def test_a_numpy_callable_gives_the_samples_of_the_builtin_gmm_score(sampler, spacing):
    d = 12
    model = ds.Model({"kind": "two-class", "d": d})
    builtin = ds.sample(ds.GmmScore(model), 64, sampler=sampler, spacing=spacing, steps=60, seed=5)
    calls = []

    def f(x, t):
        calls.append(x.shape)
        return two_class_score(d)(x, t)

    mine = ds.sample(f, 64, d=d, sampler=sampler, spacing=spacing, steps=60, seed=5)
    # Same noise, same grid, both scores in f64 rounded to f32: bit-equal here (measured). Another libm's
    # tanh may flip the f32 rounding of a few score values (2^-24 relative, ~1e-7 absolute per step at
    # |S| ≲ 4), which the stable backward dynamics keep below 1e-5 over 60 steps; a wrong time or a
    # missing term in the callable path moves the samples by > 1e-2.
    np.testing.assert_allclose(mine["x"], builtin["x"], rtol=0, atol=1e-5)
    assert all(s == (64, d) for s in calls), "the callable is called with the whole batch"
    assert len(calls) == builtin["score_evals"]


def test_the_same_seed_gives_bit_identical_samples_from_python_and_the_cli(cli, tmp_path):
    import subprocess

    out = tmp_path / "s.npz"
    subprocess.run([str(cli), "--quiet", "--seed", "7", "sample", "--d", "10", "--score", "gmm", "-b", "30",
                    "--steps", "40", "--sampler", "ode-heun", "-o", str(out)], check=True)
    cli_x = np.load(out)["x"]
    py = ds.sample(ds.GmmScore(ds.Model({"kind": "two-class", "d": 10}), seed=7), 30, sampler="ode-heun",
                   steps=40, seed=7)
    np.testing.assert_array_equal(py["x"], cli_x)


def test_samples_do_not_depend_on_the_thread_count():
    data = ds.two_class(500, d=8, seed=2)
    s = ds.EmpiricalScore(data)
    one = ds.sample(s, 40, steps=30, seed=4, threads=1)
    two = ds.sample(s, 40, steps=30, seed=4, threads=2)
    np.testing.assert_array_equal(one["x"], two["x"])
    np.testing.assert_array_equal(one["nearest"], two["nearest"])


@pytest.mark.parametrize("t", [0.01, 0.3, 3.0])
def test_posterior_entropy_and_effective_number_match_numpy(t):
    data = ds.two_class(600, d=12, seed=4)
    a = data.x.astype(np.float64)
    x = np.random.default_rng(2).standard_normal((29, 12)).astype(np.float32)
    out = ds.EmpiricalScore(data)(x, t, posterior=True)
    decay, delta = np.exp(-t), 1.0 - np.exp(-2.0 * t)
    logits = -((x[:, None, :].astype(np.float64) - decay * a[None]) ** 2).sum(-1) / (2.0 * delta)
    w = np.exp(logits - logits.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    h = -(w * np.log(np.where(w > 0, w, 1.0))).sum(1)
    # f32 logits: the Rust oracle test states 2e-4 (absolute on H, relative on N_eff).
    np.testing.assert_allclose(out["entropy"], h, rtol=0, atol=2e-4)
    np.testing.assert_allclose(out["effective_n"], 1.0 / (w ** 2).sum(1), rtol=2e-4)
    with pytest.raises(ds.ParamError, match="posterior"):
        ds.GmmScore(ds.Model({"kind": "two-class", "d": 12}))(x, t, posterior=True)


def test_sample_records_the_posterior_and_collapse_times():
    data = ds.two_class(300, d=6, seed=2)
    r = ds.sample(ds.EmpiricalScore(data), 40, steps=50, seed=3, posterior=True)
    assert r["entropy"].shape == r["effective_n"].shape == (51, 40)
    assert r["collapse_t"].shape == (40,)
    # Noise regime at T = 6: every weight ≈ 1/N; at t_min = 0.01 with N = 300 points in d = 6 every
    # trajectory has collapsed (N_eff < 2), and its collapse time is the first grid time below 2.
    np.testing.assert_allclose(r["effective_n"][0], 300, rtol=1e-3)
    assert np.all(r["effective_n"][-1] < 2)
    for i in range(40):
        k = np.argmax(r["effective_n"][:, i] < 2)
        assert r["collapse_t"][i] == r["times"][k]
    med, (lo, hi) = r["t_collapse"]
    assert lo <= med <= hi
    with pytest.raises(ds.ParamError, match="posterior"):
        ds.sample(ds.GmmScore(ds.Model({"kind": "two-class", "d": 6})), 4, posterior=True)


def test_edm_churn_is_seeded_and_refused_off_edm():
    data = ds.two_class(300, d=6, seed=2)
    s = ds.EmpiricalScore(data)
    kw = dict(sampler="edm", spacing="edm", steps=30, seed=3, churn=20, s_tmin=0.05, s_tmax=50, s_noise=1.003)
    a, b = ds.sample(s, 16, **kw), ds.sample(s, 16, **kw)
    np.testing.assert_array_equal(a["x"], b["x"])
    assert a["score_evals"] == 2 * 30 + 1
    plain = ds.sample(s, 16, sampler="edm", spacing="edm", steps=30, seed=3)
    assert not np.array_equal(a["x"], plain["x"])
    with pytest.raises(ds.ParamError, match="churn"):
        ds.sample(s, 4, churn=5)
    with pytest.raises(ds.ParamError, match="s_noise"):
        ds.sample(s, 4, sampler="edm", s_noise=0.0)


def test_sampler_names_are_the_librarys_and_aliases_agree():
    # The names come from the library (the CLI's --sampler takes the same); an alias is the same sampler.
    assert {"em", "euler-maruyama", "ode-euler", "ode-heun", "ode", "heun", "edm"} == set(ds.SAMPLERS)
    s = ds.GmmScore(ds.Model({"kind": "two-class", "d": 4}))
    a = ds.sample(s, 8, sampler="heun", steps=10, seed=1)
    b = ds.sample(s, 8, sampler="ode-heun", steps=10, seed=1)
    np.testing.assert_array_equal(a["x"], b["x"])
    with pytest.raises(ds.ParamError, match="sampler.*rk4"):
        ds.sample(s, 4, sampler="rk4")
    with pytest.raises(TypeError):
        ds.sample(s, 4, sampler=3)


def test_record_keeps_every_state():
    data = ds.two_class(100, d=4, seed=2)
    r = ds.sample(ds.EmpiricalScore(data), 5, steps=10, seed=1, record=True, final_step="none")
    assert r["trajectory"].shape == (11, 5, 4)
    np.testing.assert_array_equal(r["trajectory"][-1], r["x"])
    assert r["times"].shape == (11,)


def test_torch_helper_moves_the_batch_and_the_times_and_returns_numpy(monkeypatch):
    # torch is not a dependency: a stand-in module with the few calls the helper makes (from_numpy, .to,
    # full, inference_mode, .detach, .numpy) records what the wrapped model receives.
    import contextlib
    import sys
    import types

    class Tensor:
        def __init__(self, a, device="cpu"):
            self.a, self.device = np.asarray(a), device

        @property
        def dtype(self):
            return self.a.dtype

        def to(self, device, dtype=None):
            return Tensor(self.a if dtype is None else self.a.astype(dtype), device)

        def detach(self):
            return self

        def numpy(self):
            assert self.device == "cpu", "numpy() of a tensor left on the device"
            return self.a

    fake = types.ModuleType("torch")
    fake.from_numpy = Tensor
    fake.full = lambda shape, v, dtype, device: Tensor(np.full(shape, v, dtype=dtype), device)
    fake.inference_mode = contextlib.nullcontext
    fake.float32 = np.float32
    monkeypatch.setitem(sys.modules, "torch", fake)
    from diffscope.torch import score_from_module

    seen = []

    def model(x, t):
        seen.append((x.device, x.dtype, t.device, t.a.shape, float(t.a[0])))
        return Tensor(-(x.a.astype(np.float64)) * (1.0 + t.a[:, None]), x.device)  # float64 on purpose

    score = score_from_module(model, d=3, device="cuda:1")
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    out = score(x, 0.25)
    np.testing.assert_array_equal(out, -x * np.float32(1.25))
    assert out.dtype == np.float32
    assert seen == [("cuda:1", np.float32, "cuda:1", (4,), 0.25)]
    # As a sampler's score: one call per step with the whole batch.
    r = ds.sample(score, 5, d=3, steps=7, seed=1, sampler="ode-euler")
    assert r["x"].shape == (5, 3) and len(seen) == 1 + r["score_evals"]


def test_family_scores_from_python_match_their_limits():
    data = ds.two_class(200, d=9, seed=6)
    x = np.random.default_rng(3).standard_normal((11, 9)).astype(np.float32)
    exact = ds.EmpiricalScore(data)(x, 0.2)
    # kNN with k = N, smoothing σ = 0 (of the density or of the score field) and locality masks holding
    # every coordinate are the exact score (f64 vs f32 kernel: 1e-5 of the scale).
    for spec in ["knn:k=200", "smoothed:sigma=0", "cfdm:sigma=0,m=3", "mask:k=9", "mask:tau=0"]:
        got = ds.FamilyScore(data, spec)(x, 0.2)
        np.testing.assert_allclose(got, exact, rtol=0, atol=1e-5 * np.abs(exact).max())
    # LS with a 5x5 patch covering a 3x3 image from every pixel (zero padding) is the exact score too.
    img = ds.Dataset.from_numpy(data.x[:, :9])
    np.testing.assert_allclose(ds.FamilyScore(img, "ls:patch=5")(x, 0.2), ds.EmpiricalScore(img)(x, 0.2),
                               rtol=0, atol=1e-5 * np.abs(exact).max())
    # ELS on its f32 vector path (the default) against its f64 reference path: the f32 path's distances
    # and weights carry a few f32 roundings (3.3e-7 worst on the Rust brute-force tests), so 1e-5 of the scale.
    els = ds.FamilyScore(img, "els:patch=3,padding=circular")(x, 0.2)
    els64 = ds.FamilyScore(img, "els:patch=3,padding=circular,precision=f64")(x, 0.2)
    np.testing.assert_allclose(els, els64, rtol=0, atol=1e-5 * np.abs(els64).max())
    assert np.abs(els - exact).max() > 1e-3 * np.abs(exact).max()
    # A mask of 3 coordinates is a different, local denoiser.
    assert np.abs(ds.FamilyScore(data, "mask:k=3")(x, 0.2) - exact).max() > 1e-3 * np.abs(exact).max()
    # σ-CFDM's draws are fixed by its seed: the same spec gives the same bits, another seed other values.
    cfdm = ds.FamilyScore(data, "cfdm:sigma=0.5,m=4")(x, 0.2)
    np.testing.assert_array_equal(cfdm, ds.FamilyScore(data, "cfdm:sigma=0.5,m=4,seed=0")(x, 0.2))
    assert np.abs(ds.FamilyScore(data, "cfdm:sigma=0.5,m=4,seed=1")(x, 0.2) - cfdm).max() > 1e-4
    assert np.abs(cfdm - exact).max() > 1e-3 * np.abs(exact).max()
    for bad in ["knn", "ls:patch=4", "nope", "knn:k=3,sigma=2", "mask:k=0", "mask:tau=2", "cfdm:sigma=-1",
                "cfdm:sigma=0.1,m=0", "cfdm:m=4", "els:patch=3,precision=f16"]:
        with pytest.raises(ds.ParamError):
            ds.FamilyScore(data, bad)


def test_compare_of_the_exact_score_against_itself_and_its_run_directory(tmp_path):
    data = ds.two_class(150, d=9, seed=6)
    r = ds.compare(ds.EmpiricalScore(data), data, against=["exact", "wiener", "ls:patch=3"], batch=6, steps=5,
                   out=tmp_path / "cmp", patch_sizes=[1, 3])
    names = [c["name"] for c in r["candidates"]]
    assert names == ["exact", "wiener", "ls:patch=3,padding=zero"]
    assert len(r["t"]) == 6
    assert all(a["mean"] > 1 - 1e-6 for a in r["candidates"][0]["cosine"])
    assert all(p in (1, 3) for p in r["candidates"][2]["patch"])
    for f in ["compare.csv", "curves.json", "params.json", "cosine.png", "r2.png", "patch.png", "index.html"]:
        assert (tmp_path / "cmp" / f).exists(), f
    with pytest.raises(ds.ParamError):
        ds.compare(ds.EmpiricalScore(data), data, against=["knn:k=0"], batch=4, steps=3)


def test_compare_defaults_are_the_librarys_in_both_doors(tmp_path, cli):
    # Only batch, steps and the candidates are given: every other parameter comes from the library's
    # CompareParams defaults, so Python and the CLI record the same params.json block.
    data = ds.two_class(200, d=8, seed=0)
    ds.compare(ds.EmpiricalScore(data), data, against=["exact", "wiener"], batch=4, steps=3, out=tmp_path / "py")
    subprocess.run([str(cli), "--quiet", "compare", "--score", "empirical", "--n", "200", "--d", "8", "--batch", "4",
                    "--steps", "3", "--against", "exact,wiener", "-o", str(tmp_path / "cli")], check=True,
                   stdout=subprocess.DEVNULL)
    read = lambda p: json.loads((tmp_path / p / "params.json").read_text())["params"]
    py, cli_params = read("py"), read("cli")
    assert py == cli_params
    assert (py["t_max"], py["t_min"], py["spacing"], py["patch_sizes"][-1]) == (6.0, 0.01, "log", 27)
