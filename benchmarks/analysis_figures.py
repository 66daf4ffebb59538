"""Figures of the analysis issue: optimal depth and NTK vs CK on the paper grids, and the time of
`spectra optimal-depth` on the relu paper grid.

Paper grids (CONVENTIONS §4; Yang & Salman 2019 companion notebooks): cube d = 128, depth 0..128,
degree ≤ 8; relu σ_w² = 2, σ_b² ∈ linspace(0, 4, 401); erf σ_w² ∈ linspace(1, 5, 41),
σ_b² ∈ linspace(0, 4, 41).

Prints the optimal-depth tables (relu/erf × CK/NTK), the per-degree fraction of each grid where
FV_k(NTK) > FV_k(CK), and the wall time of the command (whole process, best and median of
--repeat runs; target ≤ 2 s). With --plots DIR also writes the figures.

Usage: python benchmarks/analysis_figures.py [--repeat 5] [--plots DIR]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

GRIDS = {
    "relu": (np.array([2.0]), np.linspace(0, 4, 401)),
    "erf": (np.linspace(1, 5, 41), np.linspace(0, 4, 41)),
}
COMMAND = ["optimal-depth", "--activation", "relu", "--kernel", "ntk", "--dim", "128", "--max-depth", "128",
           "--weight-var", "2", "--bias-var", "0:4:401", "--max-degree", "8", "--format", "json"]


def spectra_exe():
    exe = os.path.join(os.path.dirname(sys.executable), "spectra")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "spectra"]


def time_command(repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(spectra_exe() + COMMAND, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--plots", default=None)
    args = ap.parse_args()
    from spectra import fractional_variance_grid, ntk_vs_ck, optimal_depth

    best, med = time_command(args.repeat)
    print(f"`spectra {' '.join(COMMAND)}`: wall {best:.2f} s best, {med:.2f} s median of {args.repeat} "
          f"(target 2 s: ratio {best / 2:.2f})\n")
    results = {}
    for act, (wv, bv) in GRIDS.items():
        t = time.perf_counter()
        g = fractional_variance_grid(act, 128, 128, wv, bv, ("ck", "ntk"), max_degree=8)
        print(f"{act} paper grid ({wv.size}×{bv.size}×129, CK and NTK): {time.perf_counter() - t:.2f} s")
        for kern in ("ck", "ntk"):
            r = optimal_depth(grid=g, kernel=kern)
            results[act, kern] = r
            print(f"\noptimal depth, {act} {kern.upper()}:")
            print(" k  depth  weight_var  bias_var       FV_k    near-ties (depths)   note")
            for e in r.entries:
                if e["depth"] is None:
                    print(f"{e['degree']:2d}      —           —         —  {e['note']}")
                    continue
                td = e["tie_depths"]
                print(f"{e['degree']:2d}  {e['depth']:5d}  {e['weight_var']:10.3g}  {e['bias_var']:8.3g}  "
                      f"{e['fractional_variance']:9.4g}  {e['ties']:6d} ({td[0]}..{td[1]})  {e['note'] or ''}")
        nc = ntk_vs_ck(grid=g)
        results[act, "nc"] = nc
        print(f"\nNTK vs CK, {act} (depth 1..128): fraction of grid with FV_k(NTK) > FV_k(CK)")
        print("  ".join(f"k={e['degree']}: {e['fraction_ntk_greater']:.3f}" for e in nc.entries))
        print()
    if args.plots:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from spectra import plots

        os.makedirs(args.plots, exist_ok=True)
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
        plots.plot_optimal_depth([results["relu", "ck"], results["relu", "ntk"]], ax=axes[0])
        plots.plot_optimal_depth([results["erf", "ck"], results["erf", "ntk"]], ax=axes[1])
        plots.save(fig, os.path.join(args.plots, "optimal_depth.png"))
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
        plots.plot_ntk_vs_ck(results["relu", "nc"], ax=axes[0])
        plots.plot_ntk_vs_ck(results["erf", "nc"], ax=axes[1])
        plots.save(fig, os.path.join(args.plots, "ntk_vs_ck.png"))
        print(f"figures in {args.plots}")


if __name__ == "__main__":
    main()
