"""Benchmark: the verification checks (spectra verify walsh | gram | width) at growing sizes.

1. walsh: relu NTK depth 2 (σ_w² = 2, σ_b² = 1) on the full cube, D = 16, 18, 20, (22, 24) at
   double-double (and double); target D = 20 ≤ 10 s on the host.
2. gram: relu NTK depth 2 (σ_w² = 2, σ_b² = 0) on the cube d = 12, n = 1000, 2000, 4000, 8000
   (top eigenvalues by subspace iteration above 2048 points); target n = 8000 ≤ 60 s.
3. width: relu depth 2 (σ_w² = 2, σ_b² = 0.5), n = 256 points of the cube d = 16, widths 64, 256,
   1024, 4096, 2 networks each; target ≤ 60 s in all.

Every timing is one wall-clock run (the library's imports and caches warmed on a small case first),
including the host-side theory, on the selected backend; on a GPU the device is synchronised
before the clock stops. Usage:

    python benchmarks/verify.py [--backend numpy|cupy|array-api-strict] [--quick] [--big] [--json]

``--quick`` runs the smallest sizes only (a smoke test); ``--big`` adds walsh D = 22, 24 (host) or
26, 28, 30 (GPU), gram n = 15000 (host) or 30000, 60000 (GPU) and width 8192.
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="numpy")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--big", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from spectra import Architecture
    from spectra import verify as V
    from spectra.backend import format_bytes, get_backend

    be = get_backend(args.backend)
    gpu = be.gpu
    rows = []

    def record(check, size, seconds, result, note=""):
        rows.append({"check": check, "size": size, "seconds": round(seconds, 3),
                     "memory": format_bytes(result.memory_bytes), "note": note})
        print(f"  {check:<7} {size:<34} {seconds:8.2f} s  {format_bytes(result.memory_bytes):>10}  {note}",
              flush=True)

    print(f"backend: {be.describe()}; host load average {os.getloadavg()[0]:.2f}")

    # warm-up: imports, kernel tables, LAPACK
    V.walsh_check(Architecture("relu", 2, 2, 1), 8, backend=be)
    V.gram_check(Architecture("relu", 2, 2, 0), "cube", 6, 200, backend=be)
    V.width_check(Architecture("relu", 2, 2, "1/2"), [8], samples=8, dim=4, seeds=1, backend=be)

    walsh_dims = [16] if args.quick else [16, 18, 20]
    if args.big:
        walsh_dims += [26, 28, 30] if gpu else [22, 24]
    spec = Architecture("relu", 2, 2, 1)
    for D in walsh_dims:
        for prec in ("double-double", "double"):
            t, r = timed(lambda D=D, prec=prec: V.walsh_check(spec, D, "ntk", precision=prec, backend=be))
            rel = max(x for x in r.max_rel_error if math.isfinite(x))
            record("walsh", f"D={D} {prec}", t, r, f"passed={r.passed} max rel err {rel:.1e}")

    gram_ns = [1000] if args.quick else [1000, 2000, 4000, 8000]
    if args.big:
        gram_ns += [30000, 60000] if gpu else [15000]
    spec = Architecture("relu", 2, 2, 0)
    for n in gram_ns:
        t, r = timed(lambda n=n: V.gram_check(spec, "cube", 12, n, "ntk", seed=0, backend=be))
        how = "all" if r.top == "all" else f"top {r.top}, {r.iterations} it"
        worst = max(abs(c["z"]) for c in r.clusters)
        record("gram", f"cube d=12 n={n} ({how})", t, r, f"{len(r.clusters)} clusters, max |z| {worst:.2f}")

    widths = [64, 256] if args.quick else [64, 256, 1024, 4096]
    if args.big:
        widths.append(8192)
    spec = Architecture("relu", 2, 2, "1/2")
    t, r = timed(lambda: V.width_check(spec, widths, samples=256, domain="cube", dim=16, seeds=2, backend=be))
    record("width", f"n=256 widths {widths[0]}..{widths[-1]} x2", t, r,
           f"NTK err {r.ntk_error[-1]:.3f} at {widths[-1]}, slope {r.ntk_slope:+.2f}")

    if args.json:
        print(json.dumps({"backend": be.describe(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
