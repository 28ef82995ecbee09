"""How much could certified cluster pruning skip? A measurement made before building it (issue #15).

For a training set, group the points into k-means clusters (k = n/64, three Lloyd steps) with centre c and
radius r. A query x at time t can skip a whole cluster when the best logit any of its points can reach,
-(max(0, |x - e^{-t} c| - e^{-t} r))^2 / (2 Delta_t) (the ball bound), is below the query's best logit by
more than 64 log2 units (the kernel's existing skip threshold, 2^-64 of the maximum weight). Queries are
noised training points x = e^{-t} a + sqrt(Delta_t) z, the states of trajectories that are collapsing.
Prints, per t, the fraction of clusters and of points such a bound would skip.

    python3 bench/pruning_probe.py      (numpy; reads ../shared/data/fashion-mnist)
"""
import gzip
import os

import numpy as np

rng = np.random.default_rng(0)


def probe(a, t, k, nq, name):
    n, d = a.shape
    c = a[rng.choice(n, k, replace=False)].copy()
    for _ in range(4):
        d2 = (a * a).sum(1)[:, None] - 2 * a @ c.T + (c * c).sum(1)[None, :]
        lab = d2.argmin(1)
        if _ == 3:
            break
        for j in range(k):
            m = lab == j
            if m.any():
                c[j] = a[m].mean(0)
    r = np.zeros(k)
    for j in range(k):
        m = lab == j
        if m.any():
            r[j] = np.sqrt(np.maximum(d2[m, j], 0).max())
    decay, delta = np.exp(-t), 1 - np.exp(-2 * t)
    x = decay * a[rng.choice(n, nq)] + np.sqrt(delta) * rng.standard_normal((nq, d))
    logit = -((x * x).sum(1)[:, None] - 2 * decay * x @ a.T + decay**2 * (a * a).sum(1)[None, :]) / (2 * delta)
    best = logit.max(1)
    dc = np.sqrt(np.maximum((x * x).sum(1)[:, None] - 2 * decay * x @ c.T + decay**2 * (c * c).sum(1)[None, :], 0))
    bound = -np.maximum(dc - decay * r[None, :], 0) ** 2 / (2 * delta)
    skip = bound < best[:, None] - 64 * np.log(2)
    sizes = np.bincount(lab, minlength=k)
    print(f"{name:<28} t = {t:<5} clusters skipped {skip.mean():.3f}, points skipped "
          f"{(skip * sizes[None, :]).sum(1).mean() / n:.3f} (median radius {np.median(r):.2f})")


n, d = 20_000, 100
s = np.where(rng.random(n) < 0.5, 1.0, -1.0)
a = s[:, None] * np.ones(d) / np.sqrt(d) + rng.standard_normal((n, d))
for t in [0.01, 0.05, 0.1]:
    probe(a - a.mean(0), t, n // 64, 64, "two-class GMM, d = 100")
root = os.path.join(os.path.dirname(__file__), "../../shared/data/fashion-mnist")
img = np.frombuffer(gzip.open(f"{root}/train-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
lab = np.frombuffer(gzip.open(f"{root}/train-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
a = img.reshape(-1, 784).astype(np.float64)[np.isin(lab, [0, 1])][:6000] / 255
for t in [0.01, 0.05, 0.1, 0.3]:
    probe(a - a.mean(0), t, len(a) // 64, 32, "Fashion-MNIST 0/1, d = 784")
