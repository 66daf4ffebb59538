"""Benchmark: sphere and Gaussian spectra (issue: sphere and Gaussian spectra, figures).

1. Sphere, relu NTK depth 3 (σ_w² = 2, σ_b² = 0), d = 10, k = 0..64 to 30 digits (target ≤ 5 s).
2. The same at double precision (target ≤ 50 ms for all 65, relative error ≤ 1e-10 for every
   eigenvalue with normalised value ≥ 1e-15, checked against the 30-digit run).
3. Baseline: fixed-node float64 Gauss–Gegenbauer quadrature of the Funk–Hecke integral, as peer
   codes use it (scipy.special.roots_gegenbauer), at 64, 256 and 1024 nodes: its error at k = 32.
4. Gaussian, d = 16, k ≤ 8, j ≤ 4, relu and erf NTK depth 2 (σ_w² = 2, σ_b² = 0.5) to 10 digits
   (target ≤ 10 s each).

Timings are wall-clock in this process after one warm-up call of each path (imports, caches of
node tables); run on an otherwise idle machine. Usage: python benchmarks/sphere_gaussian.py
"""
import json
import time

import numpy as np


def best_of(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), float(np.median(times)), out


def main():
    from scipy.special import eval_gegenbauer, roots_gegenbauer

    import spectra
    from spectra import Architecture, gaussian_eigenvalues, sphere_eigenvalues

    res = {}
    net = Architecture("relu", 3, 2, 0)
    d, K = 10, 64
    sphere_eigenvalues(net, d, "ntk", max_degree=4, precision=20)  # warm-up
    t30, _, s30 = best_of(lambda: sphere_eigenvalues(net, d, "ntk", max_degree=K, precision=30), 1)
    ref = np.array([float(v) for v in s30.values])
    res["sphere_30_digits_s"] = t30
    res["sphere_30_digits_min_digits"] = float(min(s30.digits))

    sphere_eigenvalues(net, d, "ntk", max_degree=K)  # warm-up
    tbest, tmed, sd = best_of(lambda: sphere_eigenvalues(net, d, "ntk", max_degree=K), 7)
    norm = np.abs(ref) / float(s30.trace)
    mask = norm >= 1e-15
    rel = np.abs(sd.values - ref) / np.abs(ref)
    res["sphere_double_best_s"] = tbest
    res["sphere_double_median_s"] = tmed
    res["sphere_double_max_rel_err"] = float(np.max(rel[mask]))
    res["sphere_double_degrees_checked"] = int(mask.sum())
    res["sphere_double_estimates_cover"] = bool(np.all(np.abs(sd.values - ref) <= sd.errors))

    # peer-code baseline: Σ_i w_i Φ(t_i) P_k(t_i) on float64 Gauss–Gegenbauer nodes
    lam = (d - 2) / 2
    base = {}
    for n in (64, 256, 1024):
        x, w = roots_gegenbauer(n, lam)
        phi = spectra.kernel(net, x, "ntk")
        k = 32
        Pk = eval_gegenbauer(k, lam, x) / eval_gegenbauer(k, lam, 1.0)
        mu = np.sum(w * phi * Pk) / np.sum(w)
        base[n] = float(abs(mu - ref[k]) / abs(ref[k]))
    res["baseline_gegenbauer_rel_err_k32"] = base
    res["sphere_double_rel_err_k32"] = float(rel[32])

    for act in ("erf", "relu"):
        g_net = Architecture(act, 2, 2, 0.5)
        t, _, g = best_of(lambda: gaussian_eigenvalues(g_net, 16, "ntk", max_degree=8, radial=5, precision=10), 1)
        res[f"gaussian_{act}_10_digits_s"] = t
        res[f"gaussian_{act}_min_digits"] = float(min(g.digits))
        res[f"gaussian_{act}_radial_nodes"] = int(g.extra["radial_nodes"])
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
