"""Benchmark: the simplicity-bias experiment of Yang & Salman (arXiv:1907.10599, Fig. 1; after
Valle-Pérez, Camargo & Louis 2019) on the 7-dimensional boolean cube.

Three published cases (CONVENTIONS §4), each as finite-width random networks (NTK
parameterisation) and as the infinite-width limit f ~ GP(0, CK):

  * relu, depth 2, σ_w² = σ_b² = 2       — concentrates on the constant functions
  * erf,  depth 2, σ_w² = 2, σ_b² = 0    — odd: never constant
  * erf,  depth 32, σ_w² = 4, σ_b² = 0   — nearly uniform on the 2^64 odd functions

Prints N, distinct functions, P(constant), the top-5 probabilities, the fraction of odd samples,
the plug-in entropy, the mean |E f(x)f(y)| over pairs y ∉ {x, −x} (sampling noise alone gives
≈ √(2/(πN))) and the time; then each CK's normalised spectrum μ_k / Φ(1) and the weak spectral
simplicity check.

Widths: the cost per network is ~ depth × (width² normal draws + 2^d·width² flops + 2^d·width
activations); erf at depth 32 uses width 64 so that the run stays within a few minutes on two
cores (the parity and the near-uniformity do not depend on the width).

Usage: python benchmarks/simplicity.py [--quick] [--threads T] [--scale S]
"""
import argparse
import math
import sys
import time

import numpy as np

from spectra import Architecture
from spectra.simplicity import simplicity_bias_experiment, weak_simplicity_bias

CASES = [
    ("relu L=2 wv=2 bv=2", Architecture("relu", 2, 2, 2), 256, 20000),
    ("erf  L=2 wv=2 bv=0", Architecture("erf", 2, 2, 0), 256, 10000),
    ("erf  L=32 wv=4 bv=0", Architecture("erf", 32, 4, 0), 64, 10000),
]
D = 7
GP_N = 100000


def mean_abs_corr(r):
    C = r.sign_correlation()
    P = C.shape[0]
    off = ~(np.eye(P, dtype=bool) | np.eye(P, dtype=bool)[::-1])
    return float(np.abs(C[off]).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N / 10")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every N")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    scale = a.scale / (10 if a.quick else 1)
    rows, spectra_ = [], []
    for name, spec, width, n in CASES:
        for w, N in ((width, max(2, int(n * scale))), (math.inf, max(2, int(GP_N * scale)))):
            def progress(done, total, name=name, w=w):
                print(f"\r  {name} width {w}: {done}/{total}", end="", file=sys.stderr, flush=True)

            t = time.perf_counter()
            r = simplicity_bias_experiment(spec, D, N, w, seed=a.seed, threads=a.threads, progress=progress)
            el = time.perf_counter() - t
            print(file=sys.stderr)
            rows.append((name, w, r, el, mean_abs_corr(r)))
        spectra_.append((name, r.spectrum))
    print(f"\nd = {D}, seed = {a.seed}, threads = {a.threads}\n")
    head = (f"{'case':20s} {'width':>5s} {'N':>7s} {'distinct':>8s} {'P(const)':>8s}  {'top-5 probabilities':44s} "
            f"{'odd':>6s} {'H[bits]':>7s} {'|corr|':>6s} {'noise':>6s} {'time[s]':>7s} {'ms/net':>6s}")
    print(head)
    print("-" * len(head))
    for name, w, r, el, mc in rows:
        top = " ".join(f"{p:.2e}" for p in r.probabilities[:5])
        ws = "inf" if w == math.inf else str(w)
        print(f"{name:20s} {ws:>5s} {r.n_samples:7d} {r.n_distinct:8d} {r.p_constant:8.4f}  {top:44s} "
              f"{r.frac_odd:6.4f} {r.entropy_bits:7.3f} {mc:6.4f} {math.sqrt(2 / (math.pi * r.n_samples)):6.4f} "
              f"{el:7.2f} {1e3 * el / r.n_samples:6.3f}")
    print("\nCK normalised spectrum mu_k / Phi(1), k = 0..7 (multiplicity C(7, k)); FV_0 = share of variance "
          "in degree 0; weak simplicity mu_k >= mu_{k+2}:")
    for name, s in spectra_:
        chk = weak_simplicity_bias(s)
        vals = " ".join(f"{v:.5f}" for v in s.normalized)
        print(f"  {name:20s} [{vals}]  FV_0 = {s.fractional_variance[0]:.4f}  weak bias holds: {chk.holds} "
              f"(undecided {len(chk.undecided)})")


if __name__ == "__main__":
    main()
