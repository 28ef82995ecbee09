"""NumPy f32 two-GEMM empirical-score sampler: the baseline for `diffscope bench --suite standard`.

Same workload: two-class GMM (mu~ = sigma = 1, m along (1,...,1)), d = 100, N = 10^4, B = 1000,
200 Euler-Maruyama steps on a uniform grid t: 6 -> 0.01. Logits by one GEMM, a stable softmax over the
full (B, N) matrix, the weighted sum by a second GEMM. Prints JSON with the wall time.

    pip install numpy && python3 bench/numpy_empirical.py
"""
import json
import time

import numpy as np

d, n, b, steps = 100, 10_000, 1000, 200
rng = np.random.default_rng(0)
m = np.ones(d, dtype=np.float32)
s = rng.choice([-1.0, 1.0], size=n).astype(np.float32)
a = (s[:, None] * m[None, :] + rng.standard_normal((n, d), dtype=np.float32)).astype(np.float32)
a_norm2 = (a * a).sum(1)
times = np.linspace(6.0, 0.01, steps + 1)
x = rng.standard_normal((b, d), dtype=np.float32)

t0 = time.perf_counter()
for k in range(steps):
    t, t_next = times[k], times[k + 1]
    decay, delta = np.exp(-t), -np.expm1(-2 * t)
    logits = (np.float32(decay / delta) * (x @ a.T)) - np.float32(decay**2 / (2 * delta)) * a_norm2[None, :]
    logits -= logits.max(1, keepdims=True)
    np.exp(logits, out=logits)
    w = logits / logits.sum(1, keepdims=True)
    score = (np.float32(decay) * (w @ a) - x) / np.float32(delta)
    dt = np.float32(t - t_next)
    x = x + dt * (x + 2 * score) + np.sqrt(2 * dt) * rng.standard_normal((b, d), dtype=np.float32)
wall = time.perf_counter() - t0
print(json.dumps({"implementation": "numpy f32 two-GEMM", "numpy": np.__version__, "wall_s": wall}))
