"""Experiments from Python: the same run as the CLI, data in and out, run directories."""

import json
import subprocess

import numpy as np
import pytest

import diffscope as ds


def without_timings(s: dict) -> dict:
    return {k: v for k, v in s.items() if k != "timings_s"}


def test_regimes_from_python_and_the_cli_give_identical_summaries(cli, tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('seed = 3\nn = 300\n[model]\nkind = "manifold"\nd = 12\nbeta = 0.5\nactivation = "relu"\n'
                   "[params]\nbatch = 40\npairs = 20\nentropy_times = 10\n")
    subprocess.run([str(cli), "--quiet", "regimes", "--config", str(cfg), "--out", str(tmp_path / "cli")],
                   check=True)
    model = ds.Model({"kind": "manifold", "d": 12, "beta": 0.5, "activation": "relu"})
    summary = ds.regimes(model, n=300, seed=3, batch=40, pairs=20, entropy_times=10, out=tmp_path / "py")
    cli_summary = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert without_timings(summary) == without_timings(cli_summary)
    assert (tmp_path / "py" / "config.toml").read_text() == (tmp_path / "cli" / "config.toml").read_text()
    for name in ["speciation.csv", "commitment.csv", "entropy.csv", "curves.json", "speciation.svg"]:
        assert (tmp_path / "py" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name


def test_regimes_on_real_data_and_read_run(digits, tmp_path):
    data = ds.load_data(digits, label_col=64, classes=["0", "1"], centre=True)
    assert (data.n, data.d) == (360, 64)
    s = ds.regimes(digits_config := {"data": {"path": str(digits), "label_col": 64, "classes": ["0", "1"]}},
                   batch=60, pairs=30, entropy_times=8, out=tmp_path / "run")
    assert s["n"] == 360 and s["d"] == 64
    assert digits_config["data"]["path"] == str(digits)
    run = ds.read_run(tmp_path / "run")
    assert run["summary"]["t_s"]["measured"] == s["t_s"]["measured"]
    assert set(run["speciation"]) >= {"t_branch", "phi", "phi_lo", "phi_hi"}
    assert run["last_change"].shape == (60,)
    assert any(f.endswith("speciation.png") for f in run["figures"])


def test_regimes_with_a_callable_score_judges_the_denoised_end_points():
    # The exact score as a Python callable: φ and f_mem are measured on the denoised end points.
    data = ds.two_class(200, d=8, seed=1)
    exact = ds.EmpiricalScore(data)
    s = ds.regimes(data, score=lambda x, t: exact(x, t), batch=30, pairs=15, entropy_times=4, seed=2)
    assert s["score"] == "supplied"
    assert s["f_mem"] == 1.0  # n = 200 points in d = 8: the exact score memorises
    # The callable returns the native kernel's bits, so the run is the native run's, to the last digit.
    native = ds.regimes(data, batch=30, pairs=15, entropy_times=4, seed=2)
    assert s["t_s"] == native["t_s"] and s["phi_at_t"] == native["phi_at_t"]
    # (The entropy estimators and last-change times need the score's training set: None for a callable.)
    measured = {k: v for k, v in s["t_c"].items() if v is not None}
    assert "theory" in measured and measured == {k: native["t_c"][k] for k in measured}


def test_data_models_and_datasets():
    x = np.random.default_rng(0).standard_normal((50, 3))
    d = ds.Dataset.from_numpy(x, labels=np.arange(50) % 2)
    assert (d.n, d.d, d.class_names) == (50, 3, ["0", "1"])
    np.testing.assert_array_equal(d.x, x.astype(np.float32))
    sp = ds.sphere(100, d=6, k=2, seed=1)
    np.testing.assert_allclose(np.linalg.norm(sp.x, axis=1), 1.0, atol=1e-5)
    sub = ds.subspace(200, d=6, k=2, seed=1)
    assert np.linalg.matrix_rank(sub.x.astype(np.float64), tol=1e-4) == 2
    g = ds.gmm(300, means=[[3, 0], [-3, 0]], sigma2=0.25, seed=1)
    assert sorted(np.unique(g.labels)) == [0, 1]
    data, f, mu = ds.manifold(100, d=20, beta=0.5, activation="linear", seed=2)
    assert f.shape == (20, 10) and mu.shape == (10,)
    np.testing.assert_allclose(np.linalg.norm(mu) ** 2, 10.0, rtol=1e-9)  # |μ̃|² = p μ̃²


def test_theory_matches_its_closed_forms():
    assert ds.theory.t_speciation(np.e**2) == 1.0
    # t_C of the two-class GMM solves e^{-2t} ... ; the CLI's theory command prints the same number.
    tc = ds.theory.t_collapse_gmm(10000, 100, 1.0)
    alpha = np.log(10000) / 100
    assert abs(tc - 0.5 * np.log1p(1.0 / np.expm1(2 * alpha))) < 1e-12  # 0.89119...
    th = ds.theory.manifold(activation="linear", beta=0.5, alpha=0.1)
    assert th["t_s"] > 0 and "t_c_glm" in th


def test_spectrum_matches_numpy_and_the_cli(cli, digits, tmp_path):
    data = ds.load_data(digits, label_col=64)
    s = ds.spectrum(data, per_class=True, out=tmp_path / "py")
    x = data.x.astype(np.float64)
    ev = np.linalg.eigvalsh(np.cov(x, rowvar=False))
    # The unbiased sample covariance's top eigenvalue, f64 both sides (float32 data): 1e-9 relative.
    np.testing.assert_allclose(s["spectra"][0]["top"], ev[-1], rtol=1e-9)
    assert s["spectra"][0]["rank_bound"] == 64 and len(s["spectra"]) == 11
    subprocess.run([str(cli), "--quiet", "spectrum", str(digits), "--label-col", "64", "--per-class", "-o",
                    str(tmp_path / "cli")], check=True)
    cli_s = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert s == cli_s
    for f in ["eigenvalues_0.csv", "spectrum_3.svg", "index.html"]:
        assert (tmp_path / "py" / f).read_bytes() == (tmp_path / "cli" / f).read_bytes(), f


def test_concentration_of_gaussian_data_is_sub_gaussian():
    x = np.random.default_rng(3).standard_normal((4000, 20))
    s = ds.concentration(x, functionals=4, seed=1)
    assert s["sub_gaussian"] is True
    assert s["n"] == 4000 and len(s["functionals"]) >= 4
    # Through the one detached runner: a private pool of one thread gives the same result (the run is a
    # function of its data and seed, not of the thread count), and a bad thread count is refused.
    s1 = ds.concentration(x, functionals=4, seed=1, threads=1)
    s1.pop("timings_s", None), s.pop("timings_s", None)
    assert s1 == s
    sp = ds.spectrum(x, threads=1)
    sp.pop("timings_s", None)
    sp2 = ds.spectrum(x)
    sp2.pop("timings_s", None)
    assert sp == sp2


def test_universality_of_a_gaussian_mixture_agrees_with_its_surrogate():
    # Data that *is* a per-class Gaussian: the surrogate is the same law, so the curves agree.
    data = ds.gmm(1200, means=[[1.5] + [0.0] * 9, [-1.5] + [0.0] * 9], sigma2=1.0, seed=2)
    s = ds.universality(data, ns=[10, 40], seeds=3, seed=1)
    assert s["agree_within_ci"] is True
    assert len(s["curves"]["err_data"]) == 2


def test_train_memorise_and_geometry_match_the_cli(cli, tmp_path):
    # The CLI's built-in data: the uniform 2-sphere in R^10, n = 2000, drawn with the run's seed.
    data = ds.sphere(2000, d=10, k=2, seed=2)
    s = ds.train(data, tmp_path / "py", steps=400, width=32, depth=2, seed=2)
    subprocess.run([str(cli), "--quiet", "--seed", "2", "train", "--steps", "400", "--width", "32", "--depth", "2",
                    "-o", str(tmp_path / "cli")], check=True)
    for f in ["model.safetensors", "data.npz", "loss.csv"]:
        assert (tmp_path / "py" / f).read_bytes() == (tmp_path / "cli" / f).read_bytes(), f
    assert s["steps_done"] == 400
    mlp = ds.MlpScore.load(tmp_path / "py" / "model.safetensors")
    assert mlp.model.spec["kind"] == "sphere" and mlp.seed == 2 and mlp.d == 10
    g = ds.geometry(mlp, trajectories=4, probes=3, steps=30, out=tmp_path / "geo-py")
    subprocess.run([str(cli), "--quiet", "geometry", "--score", str(tmp_path / "py" / "model.safetensors"),
                    "--trajectories", "4", "--probes", "3", "--steps", "30", "-o", str(tmp_path / "geo-cli")],
                   check=True)
    cli_g = json.loads((tmp_path / "geo-cli" / "summary.json").read_text())
    assert {k: v for k, v in g.items() if k != "timings"} == {k: v for k, v in cli_g.items() if k != "timings"}
    assert len(g["by_time"]) == 3

    small = ds.sphere(8, d=10, k=2, seed=1)
    m = ds.memorise(small, sizes=[4, 8], steps=300, eval_every=100, samples=50, width=32, depth=2, seed=1)
    subprocess.run([str(cli), "--quiet", "--seed", "1", "memorise", "--sizes", "4,8", "--steps", "300",
                    "--eval-every", "100", "--samples", "50", "--width", "32", "--depth", "2", "-o",
                    str(tmp_path / "mem-cli")], check=True)
    cli_m = json.loads((tmp_path / "mem-cli" / "summary.json").read_text())
    assert {k: v for k, v in m.items() if k != "timings"} == {k: v for k, v in cli_m.items() if k != "timings"}


def test_a_callable_with_a_jvp_drives_the_matrix_free_geometry():
    # Standard Gaussian data: p_t = N(0, I) at every t, so S(x, t) = -x and J = -I exactly.
    x = np.random.default_rng(0).standard_normal((400, 6))
    data = ds.Dataset.from_numpy(x)
    calls = {"jvp": 0, "vjp": 0}

    def jvp(x, t, v):
        calls["jvp"] += 1
        return -v

    def vjp(x, t, v):
        calls["vjp"] += 1
        return -v

    score = ds.CallableScore(lambda x, t: -x, 6, jvp=jvp, vjp=vjp)
    g = ds.geometry(score, data=data, trajectories=3, probes=2, steps=20, matrix_free=3, stanczuk=0)
    assert calls["jvp"] > 0 and calls["vjp"] > 0
    last = g["by_time"][-1]
    # J = -I is symmetric: no asymmetry; tr ∇D = d + σ² tr J = d(1 - σ²) (estimator (b)).
    assert last["asym"]["median"] < 1e-6
    sigma2 = 1.0 - np.exp(-2.0 * last["t"])
    np.testing.assert_allclose(last["dim_trace"]["median"], 6 * (1 - sigma2), rtol=1e-3)


def test_theory_sweep_rows_agree_with_the_single_model_theory():
    rows = ds.theory.sweep(betas=[0.5], d=40, alpha=0.1)
    assert len(rows) == 6  # one per activation
    tanh = [r for r in rows if r["spec"]["activation"] == "tanh"][0]
    one = ds.theory.manifold(d=40, beta=0.5, activation="tanh", alpha=0.1, centres=False)
    assert tanh["t_s"] == one["t_s"] and tanh["t_c_glm"] == one["t_c_glm"]
    # Independent values, from closed forms computed here: the linear row (ρ₁ = 1, ρ* = 0, ‖μ̃‖² = 1 per
    # latent component): spike Λ = βdμ̃² = 20, t_S = ½ log Λ, the printed form ½ log 2Λ, the linear
    # t_C = ½ log(1 + 1/(e^{2α/β} − 1)), and the GLM on linear φ equal to its Marchenko–Pastur form.
    lin = [r for r in rows if r["spec"]["activation"] == "linear"][0]
    beta, d, alpha = 0.5, 40, 0.1
    np.testing.assert_allclose(lin["lambda_spike"], beta * d, rtol=1e-12)
    np.testing.assert_allclose(lin["t_s"], 0.5 * np.log(beta * d), rtol=1e-12)
    np.testing.assert_allclose(lin["t_s_printed"], 0.5 * np.log(2 * beta * d), rtol=1e-12)
    np.testing.assert_allclose(lin["t_c_linear"], 0.5 * np.log1p(1 / np.expm1(2 * alpha / beta)), rtol=1e-12)
    # Both roots are found to 1e-6 in t.
    assert abs(lin["t_c_glm"] - lin["t_c_linear_mp"]) < 2e-6


def write_png_gray(path, img: np.ndarray) -> None:
    """A minimal 8-bit grayscale PNG writer (zlib + crc32 from the standard library), so the test does not
    depend on an imaging package."""
    import struct
    import zlib

    h, w = img.shape

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(row) for row in img.astype(np.uint8))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    path.write_bytes(png)


def test_image_folders_and_learned_scores_from_python(tmp_path):
    root = tmp_path / "imgs"
    for c, left in [("left", True), ("right", False)]:
        (root / c).mkdir(parents=True)
        for k in range(10):
            img = np.where((np.arange(6) < 3) == left, 150 + 8 * k, 10 + k)[None, :].repeat(6, 0)
            write_png_gray(root / c / f"{k}.png", img)
    data = ds.load_data(root)
    assert (data.n, data.d, data.class_names) == (20, 36, ["left", "right"])
    np.testing.assert_array_equal(data.x[0].reshape(6, 6)[0, :3], np.float32(150 / 255))
    s = ds.train(data, tmp_path / "train", steps=200, width=32, depth=2, seed=1)
    assert s["steps_done"] == 200
    mlp = ds.MlpScore.load(tmp_path / "train" / "model.safetensors")
    # The data stored beside the model (the library's one place for it) are the training data.
    stored = mlp.training_data()
    np.testing.assert_array_equal(stored.x, data.x)
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "model.safetensors").write_bytes((tmp_path / "train" / "model.safetensors").read_bytes())
    with pytest.raises(ds.DiffscopeIOError, match="data.npz"):
        ds.MlpScore.load(alone / "model.safetensors").training_data()
    out = ds.sample(mlp, 16, seed=2, data=data)
    # The end points' nearest training images against a NumPy brute-force search in float64.
    dist = np.linalg.norm(out["x"][:, None, :].astype(np.float64) - data.x[None, :, :], axis=2)
    order = np.argsort(dist, axis=1)
    np.testing.assert_array_equal(out["nearest"], order[:, 0])
    d1, d2 = np.take_along_axis(dist, order[:, :2], axis=1).T
    np.testing.assert_allclose(out["d1"], d1, rtol=1e-5)
    np.testing.assert_allclose(out["d2"], d2, rtol=1e-5)
    assert out["f_mem"] == np.mean(3 * d1 < d2)
    # regimes' trunk runs the same 16 trajectories (same seed, batch and grid; rows keyed by index).
    summary = ds.regimes(data, score=mlp, batch=16, pairs=8, entropy_times=4, seed=2, out=tmp_path / "reg")
    assert summary["score"] == "supplied" and summary["f_mem"] == out["f_mem"]
    assert (tmp_path / "reg" / "samples.png").exists()
