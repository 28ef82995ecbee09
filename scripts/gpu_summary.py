"""The tables of scripts/gpu-check.sh from its outputs: accuracy (t x data set), speed against the
PyTorch and JAX baselines of the same call, and the CPU-vs-GPU observables of `regimes`."""
import json, os, sys

out = sys.argv[1] if len(sys.argv) > 1 else "runs/gpu-check"


def load(name):
    try:
        return json.load(open(os.path.join(out, name)))
    except Exception as exc:  # a missing part is reported, the rest still printed
        print(f"({name}: {type(exc).__name__}: {exc})")
        return None


bench = load("bench_gpu.json")
base = load("gpu_baselines.json")
if bench:
    g = bench["gpu"]
    print("device:", g["device"], f"(first setup {g['first_setup_ms']:.0f} ms)")
    print("\naccuracy (relative L2 error vs float64; 256 noised training points)")
    print(f"{'data':34} {'t':>5} {'gpu':>9} {'cpu f32':>9} {'nn agree':>8} {'log p err':>9} det batch")
    for r in g["accuracy"]:
        print(f"{r['data']:34} {r['t']:5} {r['gpu_rel_err']:9.2e} {r['cpu_rel_err']:9.2e} "
              f"{r['gpu_nearest_agree']:8.3f} {r['gpu_log_p_max_abs_err']:9.1e} {r['gpu_same_bits_twice']!s:5} "
              f"{r['gpu_same_bits_in_smaller_batch']!s:5}")
    peers = {}
    if base:
        for r in base["rows"]:
            if r.get("section") == "scale":
                peers[(r["N"], r["d"], r["B"])] = r["fp32_gemm_s"] * 1e3
    print("\nsingle evaluations (ms; host buffers in and out for diffscope)")
    print(f"{'N':>8} {'d':>5} {'B':>5} {'plan':>7} {'diffscope':>10} {'TFLOP/s':>8} {'torch fp32':>10} {'ratio':>6}")
    for r in g["speed"]["single"]:
        p = peers.get((r["n"], r["d"], r["b"]))
        ratio = f"{p / r['wall_ms']:6.2f}" if p else "     -"
        ps = f"{p:10.3f}" if p else "         -"
        print(f"{r['n']:8} {r['d']:5} {r['b']:5} {r['plan']:>7} {r['wall_ms']:10.3f} {r['tflops']:8.1f} {ps} {ratio}")
    print("\nsampling loops (ms)")
    for r in g["speed"]["loops"]:
        print(f"  diffscope: {r['workload']}: {r['wall_ms']:.1f}")
    if base:
        for r in base["rows"]:
            if r.get("section") == "loop":
                print(f"  {r['impl']}: {r['case']}: {r['wall_s'] * 1e3:.1f}")
        for r in base["rows"]:
            if r.get("section") == "accuracy":
                print("  peer accuracy:", {k: (f"{v:.1e}" if isinstance(v, float) else v) for k, v in r.items()})

print("\nregimes, CPU vs GPU (default run)")
for dev in ("cpu", "gpu"):
    s = load(f"regimes-{dev}/summary.json")
    if s:
        ts, tc = s["t_s"], s["t_c"]
        print(f"  {dev}: t_S {ts['measured']:.3f} {ts['ci']}, t_C keys {sorted(tc)[:3]}..., f_mem {s['f_mem']:.3f}, "
              f"time {s['timings_s']['total']:.1f} s")
        print(f"       t_C {json.dumps(tc)[:300]}")
s = load("regimes-fashion-gpu/summary.json")
if s:
    print(f"  fashion 0/1 on the GPU: t_S {s['t_s']['measured']:.3f} {s['t_s']['ci']}, f_mem {s['f_mem']:.3f}, "
          f"time {s['timings_s']['total']:.1f} s")
