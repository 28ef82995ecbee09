"""NumPy and JAX baselines of the exact empirical score, for pairing with `diffscope bench` and
`diffscope sample` in one session (BENCHMARKS.md).

Both implementations compute the same dense algorithm as diffscope's f32 kernel: logits by one GEMM
(x·aᵀ, with the |a|² bias), a stable softmax over the (B, N) matrix, the weighted sum by a second GEMM,
all in float32. JAX runs the evaluation (or the whole sampling loop) under `jax.jit` on the CPU; the
compile is done before timing.

    python3 bench/baselines.py grid --impl numpy          # single evaluations, d x B grid, N = 12 000
    python3 bench/baselines.py grid --impl jax
    python3 bench/baselines.py sample --impl numpy --data ../shared/data/fashion-mnist/train-images-idx3-ubyte.gz \
        --classes 0,1 --b 256 --steps 100 --spacing log     # the Fashion-MNIST sampling workload
    python3 bench/baselines.py sample --impl jax --data points.npy --b 1000 --steps 20

`--data` takes a .npy (n, d) array or an IDX image file (its labels beside it, for `--classes`); data
are centred per feature (as `diffscope sample --centre`) and pixels scaled to [0, 1]. Prints JSON.
"""
import argparse
import gzip
import json
import os
import statistics
import time

import numpy as np


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(path, classes):
    if path.endswith(".npy"):
        a = np.load(path).astype(np.float32)
    else:
        img = read_idx(path)
        a = img.reshape(img.shape[0], -1).astype(np.float32) / 255.0
        if classes:
            lab = read_idx(path.replace("images-idx3", "labels-idx1"))
            a = a[np.isin(lab, classes)]
    return a - a.mean(0, keepdims=True)


def grid_times(spacing, t_max, t_min, steps):
    if spacing == "log":
        return np.exp(np.linspace(np.log(t_max), np.log(t_min), steps + 1))
    return np.linspace(t_max, t_min, steps + 1)


def numpy_impl():
    def score(x, a, a_norm2, t):
        decay, delta = np.exp(-t), -np.expm1(-2 * t)
        logits = np.float32(decay / delta) * (x @ a.T) - np.float32(decay**2 / (2 * delta)) * a_norm2[None, :]
        logits -= logits.max(1, keepdims=True)
        np.exp(logits, out=logits)
        w = logits / logits.sum(1, keepdims=True)
        return (np.float32(decay) * (w @ a) - x) / np.float32(delta)

    def sample(x, a, a_norm2, times, noise):
        for k in range(len(times) - 1):
            t, t_next = times[k], times[k + 1]
            dt = np.float32(t - t_next)
            x = x + dt * (x + 2 * score(x, a, a_norm2, t)) + np.sqrt(2 * dt) * noise[k]
        return x

    return score, sample, lambda v: v


def jax_impl():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_platform_name", "cpu")

    def score_(x, a, a_norm2, t):
        decay, delta = jnp.exp(-t), -jnp.expm1(-2 * t)
        logits = (decay / delta) * (x @ a.T) - (decay**2 / (2 * delta)) * a_norm2[None, :]
        w = jax.nn.softmax(logits, axis=1)
        return (decay * (w @ a) - x) / delta

    score = jax.jit(score_)

    @jax.jit
    def sample(x, a, a_norm2, times, noise):
        def step(x, k):
            t, t_next = times[k], times[k + 1]
            dt = t - t_next
            x = x + dt * (x + 2 * score_(x, a, a_norm2, t)) + jnp.sqrt(2 * dt) * noise[k]
            return x, None

        x, _ = jax.lax.scan(step, x, jnp.arange(len(times) - 1))
        return x

    def put(v):
        return jnp.asarray(v)

    return (lambda *args: score(*args).block_until_ready(),
            lambda *args: sample(*args).block_until_ready(), put)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("suite", choices=["grid", "sample"])
    p.add_argument("--impl", choices=["numpy", "jax"], default="numpy")
    p.add_argument("--data")
    p.add_argument("--classes", type=lambda s: [int(c) for c in s.split(",")])
    p.add_argument("--n", type=int, default=12_000)
    p.add_argument("--b", type=int, default=256)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--spacing", choices=["uniform", "log"], default="uniform")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    score, sample, put = numpy_impl() if args.impl == "numpy" else jax_impl()
    rng = np.random.default_rng(0)
    info = {"impl": args.impl, "suite": args.suite, "threads": os.cpu_count()}
    if args.impl == "jax":
        import jax
        info["jax"] = jax.__version__
    else:
        info["numpy"] = np.__version__
    if args.suite == "grid":
        points = []
        for d in [64, 100, 784, 3072]:
            a = load(args.data, args.classes) if args.data else rng.standard_normal((args.n, d), dtype=np.float32)
            n = a.shape[0]
            a_norm2 = (a * a).sum(1)
            ad, nd = put(a), put(a_norm2)
            for b in [64, 256, 1000]:
                x = put(rng.standard_normal((b, a.shape[1]), dtype=np.float32))
                score(x, ad, nd, np.float32(1.0))  # warm-up (and the JIT compile)
                walls = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    score(x, ad, nd, np.float32(1.0))
                    walls.append(time.perf_counter() - t0)
                wall = statistics.median(walls)
                points.append({"d": a.shape[1], "b": b, "n": n, "wall_s": wall, "wall_s_runs": walls,
                               "gflops": 4.0 * b * n * a.shape[1] / wall / 1e9})
            if args.data:
                break
        info["points"] = points
    else:
        a = load(args.data, args.classes) if args.data else rng.standard_normal((args.n, 100), dtype=np.float32)
        n, d = a.shape
        a_norm2 = (a * a).sum(1)
        times = grid_times(args.spacing, 6.0, 0.01, args.steps).astype(np.float32)
        noise = rng.standard_normal((args.steps, args.b, d), dtype=np.float32)
        x0 = rng.standard_normal((args.b, d), dtype=np.float32)
        ad, nd, td, zd, xd = put(a), put(a_norm2), put(times), put(noise), put(x0)
        if args.impl == "jax":
            sample(xd, ad, nd, td, zd)  # compile
        t0 = time.perf_counter()
        sample(xd, ad, nd, td, zd)
        info.update({"n": n, "d": d, "b": args.b, "steps": args.steps, "spacing": args.spacing,
                     "wall_s": time.perf_counter() - t0})
    print(json.dumps(info))


if __name__ == "__main__":
    main()
