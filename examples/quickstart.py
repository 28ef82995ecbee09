"""diffscope from Python in five steps: load real data, the exact score, sampling, the regimes experiment,
and reading the run directory back. Run from the repository root after `bash scripts/test.sh` (or
`pip install ./crates/diffscope-py`):

    .venv/bin/python examples/quickstart.py [--fashion]

Without --fashion it uses the 8×8 digits (64 features, 2 s); with it, Fashion-MNIST's first two classes
(12 000 images of 784 features; a few minutes on 2 cores, most of it in the regimes step).
"""

import pathlib
import sys

import numpy as np

import diffscope as ds

shared = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"

# 1. Data: two classes, centred per feature (science.md §3).
if "--fashion" in sys.argv:
    data = ds.load_data(shared / "fashion-mnist" / "train-images-idx3-ubyte.gz", classes=["0", "1"], centre=True)
else:
    data = ds.load_data(shared / "digits.csv.gz", label_col=64, classes=["0", "1"], centre=True,
                        image_shape=(8, 8))
print(data)
info = data.info()
print(f"top covariance eigenvalue Λ = {info['top_eigenvalue']:.3f}: predicted t_S = ½ log Λ = "
      f"{info['half_log_top_eigenvalue']:.3f}")

# 2. The exact empirical score of these points, evaluated on a batch.
score = ds.EmpiricalScore(data)
x = np.random.default_rng(0).standard_normal((4, data.d)).astype(np.float32)
out = score(x, 0.5, nearest=True)
print("S(x, t = 0.5) has shape", out["score"].shape, "; nearest training points:", out["nearest"])

# 3. Samples from the reverse SDE: with the exact score they are copies of training points (f_mem ≈ 1).
s = ds.sample(score, 200, steps=200, seed=1, progress=True)
print(f"{len(s['x'])} samples, fraction of copies f_mem = {s['f_mem']:.2f}")

# 4. The regimes experiment on the same data (the CLI's main job), written to a run directory.
summary = ds.regimes(data, batch=400, pairs=200, seed=1, spacing="log", out="runs/quickstart")
print(f"t_S measured {summary['t_s']['measured']:.3f} (CI {summary['t_s']['ci']}), "
      f"½ log Λ of the data {summary['t_s']['theory_from_data_lambda']:.3f}; "
      f"t_C (φ_C = ½) {summary['t_c']['phi_c_half']}; the end points: runs/quickstart/samples.png (images)")

# 5. Everything the run wrote, as arrays and dicts.
run = ds.read_run("runs/quickstart")
print("run directory holds:", sorted(k for k in run if k not in ("path", "runs")))
print("φ(t_b) at the first branch times:", np.round(run["speciation"]["phi"][:5], 3))
