"""Benchmark: every cube eigenvalue at N guaranteed digits (issue: foundation, §7).

  * all 1001 eigenvalues at d = 1000 to 30 digits   (target ≤ 2 s)
  * all 4097 eigenvalues at d = 4096 to 20 digits   (target ≤ 60 s)

for the relu and erf NTK of depth 2 (weight_var 2, bias_var 1/2). Reports time, the smallest
eigenvalue, and the smallest number of guaranteed digits (must be ≥ N).

Usage: python benchmarks/high_precision.py [--quick]   (--quick: d = 1000 only)
"""
import argparse
import time

import mpmath

from spectra import Architecture, cube_eigenvalues


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    cases = [(1000, 30, 2.0)] + ([] if a.quick else [(4096, 20, 60.0)])
    for d, N, target in cases:
        for act in ("relu", "erf"):
            spec = Architecture(act, 2, 2, "1/2")
            t = time.perf_counter()
            s = cube_eigenvalues(spec, d, "ntk", max_degree=d, precision=N)
            el = time.perf_counter() - t
            nz = [abs(v) for v, z in zip(s.values, s.structural) if not z]
            print(f"{act:5s} NTK depth 2, d = {d}, {N} digits: {el:6.2f} s (target {target:g} s, ratio "
                  f"{el / target:.2f}); min guaranteed digits {min(s.digits):.1f}; smallest |mu| {mpmath.nstr(min(nz), 4)}")


if __name__ == "__main__":
    main()
