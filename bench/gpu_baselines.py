"""The peers of `diffscope bench --suite gpu`: the exact empirical score as a user would write it in PyTorch
and JAX on one GPU (from ../shared/gpu/anchors.py). `scripts/gpu-check.sh` runs it in the same call as the
bench, so the ratios in BENCHMARKS.md compare figures of one machine and one session.

Exact score S(x,t) = (e^-t * sum_i w_i a_i - x) / D,  w = softmax_i((e^-t x.a_i - e^-2t |a_i|^2 / 2) / D),
D = 1 - e^-2t.  Peers: two GEMMs + softmax (the usual notebook code), torch SDPA (attention with
q=[x,1], k=[e a, -e^2|a|^2/2], v=e a, scale 1/D), JAX jit.  Prints a table; JSON to $OUT/anchors.json.
"""
import gzip, json, math, os, sys, time, traceback
import numpy as np
import torch
import torch.nn.functional as F

OUT = os.environ.get("OUT", ".")
dev = "cuda"
res = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "rows": []}
T_START = time.perf_counter()


def row(**kw):
    res["rows"].append(kw)
    print(json.dumps(kw), flush=True)


def sync():
    torch.cuda.synchronize()


def coeffs(t):
    e = math.exp(-t)
    return e, -math.expm1(-2 * t)


def score_gemm(x, a, a_sq, t):
    e, D = coeffs(t)
    L = torch.addmm(a_sq.unsqueeze(0), x, a.T, beta=-0.5 * e * e / D, alpha=e / D)
    w = torch.softmax(L, dim=1)
    return (e * (w @ a) - x) / D


def score_sdpa(x, a, a_sq, t, dtype):
    e, D = coeffs(t)
    B, d = x.shape
    q = torch.cat([x, torch.ones(B, 1, device=dev)], 1)
    k = torch.cat([e * a, (-0.5 * e * e) * a_sq.unsqueeze(1)], 1)
    v = torch.cat([e * a, torch.zeros(a.shape[0], 1, device=dev)], 1)
    o = F.scaled_dot_product_attention(q[None, None].to(dtype), k[None, None].to(dtype), v[None, None].to(dtype),
                                       scale=1.0 / D)
    return (o[0, 0, :, :d].float() - x) / D


def score_ref64(x, a, t):
    e, D = coeffs(t)
    x, a = x.double(), a.double()
    L = (e * (x @ a.T) - 0.5 * e * e * (a * a).sum(1)) / D
    w = torch.softmax(L, dim=1)
    return (e * (w @ a) - x) / D


def timeit(fn, reps=20, warm=3):
    for _ in range(warm):
        fn()
    sync()
    st, en = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ts = []
    for _ in range(reps):
        st.record(); fn(); en.record(); en.synchronize()
        ts.append(st.elapsed_time(en) / 1e3)
    return float(np.median(ts))


def gmm(n, d, seed=0):
    g = torch.Generator(device=dev).manual_seed(seed)
    s = torch.where(torch.rand(n, 1, device=dev, generator=g) < 0.5, -1.0, 1.0)
    return s + torch.randn(n, d, device=dev, generator=g)


def fashion():
    root = os.environ.get("FASHION_MNIST", "../shared/data/fashion-mnist")
    def idx(p):
        b = gzip.open(p).read(); nd = b[3]
        dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
        return np.frombuffer(b[4 + 4 * nd:], np.uint8).reshape(dims)
    X = idx(f"{root}/train-images-idx3-ubyte.gz").reshape(60000, -1)
    y = idx(f"{root}/train-labels-idx1-ubyte.gz")
    a = X[(y == 0) | (y == 1)].astype(np.float32) / 255.0
    a -= a.mean(0)
    return torch.from_numpy(a).to(dev)


def em_loop(a, B, steps, grid, impl, seed=0):
    n, d = a.shape
    a_sq = torch.linalg.vector_norm(a, dim=1) ** 2
    ts = np.geomspace(6.0, 0.01, steps + 1) if grid == "log" else np.linspace(6.0, 0.01, steps + 1)
    g = torch.Generator(device=dev).manual_seed(seed)
    x = torch.randn(B, d, device=dev, generator=g)
    for k in range(steps):
        t, dt = ts[k], ts[k] - ts[k + 1]
        s = impl(x, a, a_sq, t)
        x = x + dt * (x + 2 * s) + math.sqrt(2 * dt) * torch.randn(B, d, device=dev, generator=g)
    return x


def section(name, fn):
    try:
        fn()
    except Exception as exc:  # keep going: one failing anchor must not hide the rest
        row(section=name, error=f"{type(exc).__name__}: {str(exc)[:300]}")
        traceback.print_exc()
    torch.cuda.empty_cache()
    print(f"# {name} done at {time.perf_counter() - T_START:.0f} s", flush=True)


# --- 1. accuracy of each fast path against f64, at small / medium / large t ---------------------------
def accuracy():
    for label, a in [("gmm d=100 N=1e4", gmm(10_000, 100)), ("fashion01 d=784 N=12000", fashion())]:
        a_sq = torch.linalg.vector_norm(a, dim=1) ** 2
        x = a[torch.randperm(a.shape[0], device=dev)[:256]] * math.exp(-0.01) + 0.1 * torch.randn(256, a.shape[1], device=dev)
        for t in (0.01, 0.1, 1.0):
            ref = score_ref64(x, a, t)
            def err(s):
                return float((s.double() - ref).norm() / ref.norm())
            torch.backends.cuda.matmul.allow_tf32 = False
            r = {"section": "accuracy", "data": label, "t": t, "fp32_gemm": err(score_gemm(x, a, a_sq, t))}
            torch.backends.cuda.matmul.allow_tf32 = True
            r["tf32_gemm"] = err(score_gemm(x, a, a_sq, t))
            torch.backends.cuda.matmul.allow_tf32 = False
            for dt_name, dtype in [("sdpa_fp32", torch.float32), ("sdpa_bf16", torch.bfloat16)]:
                try:
                    r[dt_name] = err(score_sdpa(x, a, a_sq, t, dtype))
                except Exception as exc:
                    r[dt_name] = f"{type(exc).__name__}"
            row(**r)


# --- 2. the standard workload and the Fashion-MNIST workload, whole sampling loops --------------------
def loops():
    cases = [("standard B=1000 N=1e4 d=100 200 EM uniform", gmm(10_000, 100), 1000, 200, "uniform"),
             ("fashion01 B=256 N=12000 d=784 100 EM log", fashion(), 256, 100, "log"),
             ("fashion01 B=1000 N=12000 d=784 100 EM log", fashion(), 1000, 100, "log")]
    for label, a, B, steps, grid in cases:
        for tf32 in (False, True):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            em_loop(a, B, 5, grid, score_gemm)
            sync(); t0 = time.perf_counter()
            x = em_loop(a, B, steps, grid, score_gemm)
            sync(); wall = time.perf_counter() - t0
            row(section="loop", case=label, impl="torch two-GEMM " + ("tf32" if tf32 else "fp32"), wall_s=wall,
                finite=bool(torch.isfinite(x).all()))
        torch.backends.cuda.matmul.allow_tf32 = False


# --- 3. single evaluations over the project's bench grid, and at data-set scale -----------------------
def grid():
    torch.backends.cuda.matmul.allow_tf32 = False
    N = 12_000
    for d in (64, 100, 784, 3072):
        a = gmm(N, d); a_sq = torch.linalg.vector_norm(a, dim=1) ** 2
        for B in (64, 256, 1000):
            x = torch.randn(B, d, device=dev)
            s = timeit(lambda: score_gemm(x, a, a_sq, 0.3))
            r = {"section": "grid", "N": N, "d": d, "B": B, "fp32_gemm_s": s, "fp32_gemm_tflops": 4 * B * N * d / s / 1e12}
            try:
                s2 = timeit(lambda: score_sdpa(x, a, a_sq, 0.3, torch.float32))
                r["sdpa_fp32_s"] = s2
            except Exception as exc:
                r["sdpa_fp32_s"] = type(exc).__name__
            row(**r)


def scale():
    # The shapes of `diffscope bench --suite gpu`'s single evaluations (random data, t = 0.3).
    torch.backends.cuda.matmul.allow_tf32 = False
    shapes = [(10_000, 100, 1000), (12_000, 784, 256), (12_000, 784, 1000), (50_000, 784, 1000),
              (50_000, 3072, 1000), (1_000_000, 100, 1000)]
    if os.environ.get("IMAGENET_SCALE"):
        shapes.append((1_281_167, 12_288, 256))
    for N, d, B in shapes:
        a = torch.randn(N, d, device=dev); a_sq = torch.linalg.vector_norm(a, dim=1) ** 2
        x = torch.randn(B, d, device=dev)
        s = timeit(lambda: score_gemm(x, a, a_sq, 0.3), reps=5, warm=1)
        row(section="scale", N=N, d=d, B=B, fp32_gemm_s=s, tflops=4 * B * N * d / s / 1e12,
            data_gb=N * d * 4 / 1e9)
        del a, a_sq, x
        torch.cuda.empty_cache()


# --- 4. JAX: the whole loop jitted (default precision on GPU is TF32-like; also 'highest') -----------
def jax_loops():
    import jax, jax.numpy as jnp
    for prec in ("default", "highest"):
        jax.config.update("jax_default_matmul_precision", None if prec == "default" else "highest")
        for label, a_np, B, steps, grid in [("standard B=1000 N=1e4 d=100 200 EM uniform",
                                              gmm(10_000, 100).cpu().numpy(), 1000, 200, "uniform"),
                                             ("fashion01 B=256 N=12000 d=784 100 EM log",
                                              fashion().cpu().numpy(), 256, 100, "log")]:
            a = jnp.asarray(a_np); a_sq = (a * a).sum(1)
            ts = jnp.asarray(np.geomspace(6.0, 0.01, steps + 1) if grid == "log" else np.linspace(6.0, 0.01, steps + 1),
                             dtype=jnp.float32)
            def step(carry, k):
                x, key = carry
                t = ts[k]; dt = ts[k] - ts[k + 1]
                e = jnp.exp(-t); D = 1 - jnp.exp(-2 * t)
                w = jax.nn.softmax((e * (x @ a.T) - 0.5 * e * e * a_sq) / D, axis=1)
                s = (e * (w @ a) - x) / D
                key, sub = jax.random.split(key)
                return (x + dt * (x + 2 * s) + jnp.sqrt(2 * dt) * jax.random.normal(sub, x.shape, x.dtype), key), None
            run = jax.jit(lambda x, key: jax.lax.scan(step, (x, key), jnp.arange(steps))[0][0])
            x0 = jax.random.normal(jax.random.PRNGKey(0), (B, a.shape[1]), jnp.float32)
            run(x0, jax.random.PRNGKey(1)).block_until_ready()
            t0 = time.perf_counter(); run(x0, jax.random.PRNGKey(2)).block_until_ready()
            row(section="loop", case=label, impl=f"jax {jax.__version__} jit precision={prec}",
                wall_s=time.perf_counter() - t0)


if __name__ == "__main__":
    which = sys.argv[1:] or ["accuracy", "loops", "jax", "scale"]
    table = {"accuracy": accuracy, "loops": loops, "grid": grid, "jax": jax_loops, "scale": scale}
    for w in which:
        section(w, table[w])
    json.dump(res, open(os.path.join(OUT, "gpu_baselines.json"), "w"), indent=1)
    print("TOTAL", round(time.perf_counter() - T_START, 1), "s")
