"""The peers of `diffscope bench --suite family`: each closed-form denoiser as a researcher writes it in
PyTorch (two GEMMs and a softmax, `torch.topk`, `F.unfold` patches with batched matmuls, an eigenbasis for
Wiener), timed beside diffscope's own implementation (through the Python package) on the same noisy batch,
with the relative error of both against the same PyTorch code in float64.

    .venv/bin/python bench/family_baselines.py [--device cpu|cuda] [--threads 2] [--repeats 3] [--out F.json]

Workload (the family suite's): Fashion-MNIST T-shirt/top vs Trouser (N = 12 000, d = 784, centred), a batch
of B = 16 training images noised to t ∈ {0.1, 1} (one sampler step), ELS on the first 100 images per class.
Conventions (science.md §2): OU time t, e = e^-t, Δ = 1 - e^-2t; every denoiser is a softmax posterior
mean D(x) over training points or patches, and the score is S = (e D - x) / Δ.

The PyTorch versions are the careful ones: one global softmax (ELS streams its candidates in chunks with a
running maximum, as diffscope does, rather than averaging per-chunk softmaxes). σ-CFDM draws its own
perturbations, so only its time is compared (its draws are not diffscope's).
"""
import argparse, json, math, os, statistics, sys, time

import numpy as np
import torch
import torch.nn.functional as F

import diffscope

H = W = 28
B = 16


def coeffs(t):
    return math.exp(-t), -math.expm1(-2 * t)


def exact(x, a, a_sq, t, var=None):
    """S = (e softmax(L) a - x) / V, L = (e x.a - e^2 |a|^2 / 2) / V with V = Δ (or Δ' for σ-smoothing)."""
    e, D = coeffs(t)
    V = D if var is None else var
    L = torch.addmm(a_sq.unsqueeze(0), x, a.T, beta=-0.5 * e * e / V, alpha=e / V)
    return (e * (torch.softmax(L, 1) @ a) - x) / V


def smoothed(x, a, a_sq, t, sigma):
    e, D = coeffs(t)
    return exact(x, a, a_sq, t, var=e * e * sigma * sigma + D)


def cfdm(x, a, a_sq, t, sigma, m, gen):
    """Scarvelis et al.: the exact score field averaged over m perturbations x + σ ε of the query."""
    e, D = coeffs(t)
    eps = torch.randn((m,) + tuple(x.shape), generator=gen, dtype=x.dtype, device=x.device)
    y = (x.unsqueeze(0) + sigma * eps).reshape(-1, x.shape[1])
    s = exact(y, a, a_sq, t).reshape(m, *x.shape)
    return (s + y.reshape(m, *x.shape) / D).mean(0) - x / D


def knn(x, a, a_sq, t, k):
    """Niedoba et al.: the softmax restricted to the k nearest points (largest logits)."""
    e, D = coeffs(t)
    L = torch.addmm(a_sq.unsqueeze(0), x, a.T, beta=-0.5 * e * e / D, alpha=e / D)
    top, idx = torch.topk(L, k, dim=1)
    w = torch.softmax(top, 1)
    return (e * torch.einsum("bk,bkd->bd", w, a[idx]) - x) / D


class Wiener:
    """The population score of N(m, C): S = -V diag(1 / (e^2 λ + Δ)) V^T (x - e m), eigendecomposed once."""

    def __init__(self, a):
        a64 = a.double()
        self.m = a64.mean(0)
        c = a64 - self.m
        lam, V = torch.linalg.eigh(c.T @ c / (a.shape[0] - 1))
        self.lam, self.V, self.mf = lam.to(a.dtype), V.to(a.dtype), self.m.to(a.dtype)

    def __call__(self, x, a, a_sq, t):
        e, D = coeffs(t)
        z = (x - e * self.mf) @ self.V
        return -(z / (e * e * self.lam + D)) @ self.V.T


class Patches:
    """F.unfold patches (zero or circular padding). The training images' patches are unfolded a chunk of
    images at a time: all of them at once would take N P² H W floats (8.5 GB for P = 15 on N = 12 000)."""

    def __init__(self, a, padding):
        self.a, self.padding = a, padding

    def unfold(self, img, p):
        if self.padding == "circular":
            r = p // 2
            return F.unfold(F.pad(img, (r, r, r, r), mode="circular"), p)
        return F.unfold(img, p, padding=p // 2)

    def chunks(self, p, size):
        """(patches (c, P², L), their squared norms (c, L), the images (c, L)) per chunk of c images."""
        for n0 in range(0, self.a.shape[0], size):
            a = self.a[n0:n0 + size]
            ap = self.unfold(a.reshape(-1, 1, H, W), p)
            yield ap, (ap * ap).sum(1), a


class OnlineSoftmax:
    """One global softmax over candidates that arrive in chunks: running maximum, rescaled sums."""

    def __init__(self, shape, like):
        self.mx = torch.full(shape, -math.inf, dtype=like.dtype, device=like.device)
        self.s = torch.zeros_like(self.mx)
        self.acc = torch.zeros_like(self.mx)

    def add(self, logits, weighted_sum):
        new = torch.maximum(self.mx, logits.amax(-1))
        scale = torch.exp(self.mx - new)
        w = torch.exp(logits - new.unsqueeze(-1))
        self.s = self.s * scale + w.sum(-1)
        self.acc = self.acc * scale + weighted_sum(w)
        self.mx = new

    def mean(self):
        return self.acc / self.s


def ls(x, patches, t, p, chunk=1000):
    """Kamb & Ganguli's LS: pixel l's posterior over the N training patches at the same location."""
    e, D = coeffs(t)
    xp = patches.unfold(x.reshape(-1, 1, H, W), p).permute(2, 0, 1)  # (L, B, P²)
    post = OnlineSoftmax(xp.shape[:2], x)
    for ap, ap_sq, a in patches.chunks(p, chunk):
        L = torch.baddbmm(ap_sq.T.unsqueeze(1), xp, ap.permute(2, 1, 0), beta=-0.5 * e * e / D, alpha=e / D)
        post.add(L, lambda w: torch.bmm(w, a.T.unsqueeze(2)).squeeze(2))  # (L, B, c) . (L, c, 1)
    return (e * post.mean().T - x) / D


def els(x, patches, t, p, chunk=8):
    """Kamb & Ganguli's ELS: pixel l's posterior over every patch of every training image, streamed over
    chunks of images with a running maximum (one global softmax per pixel)."""
    e, D = coeffs(t)
    xq = patches.unfold(x.reshape(-1, 1, H, W), p).permute(0, 2, 1).reshape(-1, p * p)  # (B L, P²)
    post = OnlineSoftmax(xq.shape[:1], x)
    for ap, ap_sq, a in patches.chunks(p, chunk):
        a_c = ap.permute(1, 0, 2).reshape(p * p, -1)  # (P², c L)
        L = torch.addmm(ap_sq.reshape(1, -1), xq, a_c, beta=-0.5 * e * e / D, alpha=e / D)
        post.add(L, lambda w: w @ a.reshape(-1))
    return (e * post.mean().reshape(x.shape[0], -1) - x) / D


def median_time(fn, repeats, sync):
    """Median wall time of `repeats` calls (the caller has already made one, for the accuracy check). The
    pause first lets the other library's thread pool (rayon or OpenMP, both spin a while after a call) go
    idle, so that neither is timed against the other's spinning threads."""
    time.sleep(0.3)
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls)


def rel(u, ref):
    u, ref = np.asarray(u, np.float64), np.asarray(ref, np.float64)
    return float(np.linalg.norm(u - ref) / np.linalg.norm(ref))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated candidate names (default: all)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    root = os.environ.get("FASHION_MNIST", os.path.join(os.path.dirname(__file__), "../../shared/data/fashion-mnist"))
    data = diffscope.load_data(os.path.join(root, "train-images-idx3-ubyte.gz"), classes=["0", "1"], centre=True)
    full = data.x
    labels = data.labels
    small = np.concatenate([full[labels == c][:100] for c in (0, 1)])
    small_ds = diffscope.Dataset.from_numpy(small)
    rng = np.random.default_rng(0)
    rows = []
    info = {"torch": torch.__version__, "device": args.device, "threads": args.threads,
            "cpu": cpu_name(), "diffscope": diffscope.__version__, "rows": rows}
    tensors = {}

    def on(arr, dtype):
        key = (id(arr), dtype)
        if key not in tensors:
            a = torch.from_numpy(np.ascontiguousarray(arr)).to(dev, dtype)
            tensors[key] = (a, (a * a).sum(1))
        return tensors[key]

    wiener = {}

    def peer(name, arr, dtype):
        a, a_sq = on(arr, dtype)
        kind, _, par = name.partition(":")
        kv = dict(p.split("=") for p in par.split(",") if p)
        if kind == "exact":
            return lambda x, t: exact(x, a, a_sq, t)
        if kind == "smoothed":
            return lambda x, t: smoothed(x, a, a_sq, t, float(kv["sigma"]))
        if kind == "cfdm":
            gen = torch.Generator(device=dev).manual_seed(0)
            return lambda x, t: cfdm(x, a, a_sq, t, float(kv["sigma"]), int(kv.get("m", 16)), gen)
        if kind == "knn":
            return lambda x, t: knn(x, a, a_sq, t, int(kv["k"]))
        if kind == "wiener":
            w = wiener.setdefault(dtype, Wiener(a))
            return lambda x, t: w(x, a, a_sq, t)
        if kind in ("ls", "els"):
            pt = Patches(a, kv.get("padding", "zero"))
            f = ls if kind == "ls" else els
            return lambda x, t: f(x, pt, t, int(kv["patch"]))
        raise ValueError(name)

    cands = [("exact", full), ("wiener", full), ("smoothed:sigma=0.1", full), ("cfdm:sigma=0.1", full),
             ("knn:k=32", full), ("ls:patch=5", full), ("ls:patch=15", full), ("els:patch=5", small),
             ("els:patch=5,padding=circular", small)]
    only = []
    for part in (s for s in args.only.split(",") if s):  # "els:patch=5,padding=circular" is one name
        if ":" in part or "=" not in part or not only:
            only.append(part)
        else:
            only[-1] += "," + part
    for name, arr in cands:
        if only and name not in only:
            continue
        ds_data = data if arr is full else small_ds
        ours = diffscope.FamilyScore(ds_data, name + (",shape=1x28x28" if name.startswith(("ls", "els")) else ""))
        f32, f64 = peer(name, arr, torch.float32), peer(name, arr, torch.float64)
        for t in (0.1, 1.0):
            e, D = coeffs(t)
            idx = rng.choice(len(arr), B, replace=False)
            x = (e * arr[idx] + math.sqrt(D) * rng.standard_normal((B, arr.shape[1]))).astype(np.float32)
            xt = torch.from_numpy(x).to(dev)
            s_torch = f32(xt, t)
            s_ours = ours(x, t)
            t_torch = median_time(lambda: f32(xt, t), args.repeats, sync)
            t_ours = median_time(lambda: ours(x, t), args.repeats, lambda: None)
            row = {"denoiser": name, "n": len(arr), "t": t, "torch_ms": 1e3 * t_torch, "diffscope_ms": 1e3 * t_ours,
                   "ratio": t_torch / t_ours}
            if not name.startswith("cfdm"):
                ref = f64(xt.double(), t).cpu().numpy()
                row["torch_rel_err"] = rel(s_torch.cpu().numpy(), ref)
                row["diffscope_rel_err"] = rel(s_ours, ref)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out + ".tmp", "w") as f:
            json.dump(info, f, indent=1)
        os.replace(args.out + ".tmp", args.out)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
