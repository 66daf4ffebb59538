"""Benchmark: the paper's erf grid on the cube (issue: foundation, §7).

d = 128, depth 0..128, weight_var = linspace(1, 5, 41), bias_var = linspace(0, 4, 41),
degree ≤ 8, CK and NTK, double precision.

Measures, each in a fresh Python process (so import time and peak memory are counted):
  * spectra's sweep (``spectra.cube_eigenvalues_grid``, default workers: forked processes on
    Linux): wall time, and peak RSS of the parent plus every worker at the largest worker's peak
    (an upper bound: shared pages are counted more than once);
  * a straightforward float64 implementation of the published finite-difference algorithm
    (all kernel values of the grid in memory, then differences): the baseline for ratios.
Then checks accuracy: at random grid points, every eigenvalue with normalised value ≥ 1e-12
against a 30-digit recomputation (target: relative error ≤ 1e-9).

Usage: python benchmarks/paper_grid.py [--samples 24] [--skip-baseline]
"""
import argparse
import json
import os
import subprocess
import sys
import time

SPECTRA = r"""
import time, resource, json
t0 = time.perf_counter()
import numpy as np
from spectra import cube_eigenvalues_grid
out = cube_eigenvalues_grid("erf", 128, 128, np.linspace(1, 5, 41), np.linspace(0, 4, 41), ("ck", "ntk"), max_degree=8)
t1 = time.perf_counter()
import os
workers = min(os.cpu_count() or 1, 8)  # the default; each forked worker is one child process
me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
# upper bound on the memory in use at once: the parent's peak plus every worker at the largest
# worker's peak (the shared output pages and the pages inherited at fork are counted twice)
print(json.dumps({"seconds_in_process": t1 - t0, "peak_mb": me + (workers * child if child else 0.0),
                  "parent_mb": me, "worker_mb": child, "workers": workers,
                  "unresolved_fraction": float(np.isnan(np.stack([out["ck"], out["ntk"]])).mean())}))
"""

BASELINE = r"""
import time, resource, json
t0 = time.perf_counter()
import numpy as np
from scipy.special import comb
d, L = 128, 128
sw = np.linspace(1, 5, 41)[:, None, None]
sb = np.linspace(0, 4, 41)[None, :, None]
t = (1 - 2 * np.arange(d + 1) / d)[None, None, :]
# all depths' kernel values kept, as the published notebooks do
ck = np.empty((L + 1, 41, 41, d + 1)); ntk = np.empty_like(ck)
c = sw * t + sb; q = sw + sb; th = c
ck[0] = c; ntk[0] = th
for l in range(1, L + 1):
    h = q + 0.5
    dd = 4 / np.pi / np.sqrt((1 + 2 * q) ** 2 - 4 * c * c)
    c_new = sw * 2 / np.pi * np.arcsin(c / h) + sb
    th = c_new + sw * th * dd
    q = sw * 2 / np.pi * np.arcsin(q / h) + sb
    c = c_new
    ck[l] = c; ntk[l] = th
mus = []
for f in (ck, ntk):
    out = np.empty(f.shape[:-1] + (9,))
    for k in range(9):
        g = np.diff(f, n=k, axis=-1) * (-1) ** k
        w = comb(d - k, np.arange(d - k + 1)) / 2.0 ** (d - k)
        out[..., k] = (g @ w) / 2.0 ** k
    mus.append(out)
t1 = time.perf_counter()
print(json.dumps({"seconds_in_process": t1 - t0, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(code):
    # as an installed package runs: with its byte code cached (an environment that sets
    # PYTHONDONTWRITEBYTECODE would recompile every module on every start), after one untimed run
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", "import spectra.cube, threadpoolctl"], env=env, check=True)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    wall = time.perf_counter() - t
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["wall_seconds"] = wall
    return res


def accuracy(samples, seed):
    import numpy as np

    from spectra import Architecture, cube_eigenvalues, cube_eigenvalues_grid

    grid = cube_eigenvalues_grid("erf", 128, 128, np.linspace(1, 5, 41), np.linspace(0, 4, 41), ("ck", "ntk"),
                                 max_degree=8)
    rng = np.random.default_rng(seed)
    wv, bv = np.linspace(1, 5, 41), np.linspace(0, 4, 41)
    worst, checked, bound_ok = 0.0, 0, True
    for _ in range(samples):
        L, i, j = int(rng.integers(0, 129)), int(rng.integers(0, 41)), int(rng.integers(0, 41))
        for kern in ("ck", "ntk"):
            ref = cube_eigenvalues(Architecture("erf", L, float(wv[i]), float(bv[j])), 128, kern, max_degree=8,
                                   precision=30)
            for k in range(9):
                exact = float(ref.values[k])
                if exact == 0.0 or abs(exact) / float(ref.trace) < 1e-12:
                    continue
                got = grid[kern][L, i, j, k]
                rel = abs(got - exact) / abs(exact) if np.isfinite(got) else np.inf
                bound_ok &= bool(abs(got - exact) <= grid[kern + "_err"][L, i, j, k])
                worst = max(worst, rel)
                checked += 1
    return worst, checked, bound_ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-baseline", action="store_true")
    a = ap.parse_args()
    s = run(SPECTRA)
    print(f"spectra sweep: whole process {s['wall_seconds']:.2f} s wall (import + compute {s['seconds_in_process']:.2f} s), "
          f"peak {s['peak_mb']:.0f} MB (parent {s['parent_mb']:.0f} MB + {s['workers']} x worker "
          f"{s['worker_mb']:.0f} MB, an upper bound), unresolved (NaN) fraction {s['unresolved_fraction']:.3f}")
    if not a.skip_baseline:
        b = run(BASELINE)
        print(f"published float64 algorithm: wall {b['wall_seconds']:.2f} s, peak {b['peak_mb']:.0f} MB")
        print(f"ratios (baseline / spectra): time {b['wall_seconds'] / s['wall_seconds']:.1f}x, "
              f"memory {b['peak_mb'] / s['peak_mb']:.1f}x")
    worst, n, ok = accuracy(a.samples, a.seed)
    print(f"accuracy: {n} eigenvalues with normalised value >= 1e-12 at {a.samples} random grid points x 2 kernels: "
          f"max relative error vs 30 digits {worst:.2e} (target 1e-9); within the reported error: {ok}")


if __name__ == "__main__":
    main()
