"""Sphere spectra against Monte Carlo Gram matrices (CONVENTIONS §2).

n points uniform on √d·S^{d−1}; the eigenvalues of the Gram matrix K(x_i, x_j)/n, with
K(x, y) = Φ(⟨x, y⟩/d) from the independent reference kernel, converge to the operator's
eigenvalues μ_k, each repeated N(d, k) times.  The sampling error of a block of N(d, k)
Gram eigenvalues is about √(N(d,k)/n) for each member (the eigenfunctions' empirical
Gram matrix is I + O(1/√n)) and much less for the block mean; the tolerances below are
a few times the errors seen over several seeds, and far below the gap between
neighbouring μ_k, so a constant factor, a wrong dimension scaling or two swapped
degrees (different multiplicities) fail.  Plus the trace identity Σ N(d,k) μ_k = Φ(1).
"""
import functools
from fractions import Fraction

import numpy as np
import pytest
import reference as ref

import spectra

# name -> (activation, depth, weight_var, bias_var, kernel)
CASES = {
    "relu-ntk-L2": ("relu", 2, 2, Fraction(1, 2), "ntk"),
    "erf-ck-L1": ("erf", 1, 2, Fraction(1, 10), "ck"),
}
# d -> (n, number of leading clusters checked, rtol of the block mean, rtol of each member)
DIMS = {3: (1500, 5, 0.03, 0.25), 5: (2000, 4, 0.05, 0.35)}


def arch(case):
    act, depth, wv, bv, _ = CASES[case]
    return spectra.Architecture(act, depth, wv, bv)


def phi(case, t):
    act, depth, wv, bv, kern = CASES[case]
    return ref.kernel_ref(act, t, depth, float(wv), float(bv), kern)


@functools.cache
def gram_eigs(case, d):
    n = DIMS[d][0]
    X = ref.sphere_points(n, d, seed=1000 + d)
    T = np.clip(X @ X.T / d, -1.0, 1.0)
    np.fill_diagonal(T, 1.0)  # ⟨x, x⟩/d = 1 exactly (relu's Φ has a √(1 − t) edge at t = 1)
    return np.linalg.eigvalsh(phi(case, T) / n)[::-1]


@pytest.mark.parametrize("d", sorted(DIMS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_gram_clusters_match_sphere_eigenvalues(case, d):
    n, count, rtol_mean, rtol_each = DIMS[d]
    kern = CASES[case][4]
    s = spectra.sphere_eigenvalues(arch(case), d, kernel=kern, max_degree=12)
    assert list(s.degrees) == list(range(13))
    assert tuple(s.multiplicities) == tuple(ref.sphere_multiplicity_ref(d, k) for k in range(13))
    vals = np.asarray(s.values, dtype=float)
    assert np.all(np.isfinite(vals)) and np.all(vals >= 0)
    eig = gram_eigs(case, d)
    # the Gram trace is exactly Φ(1) (every diagonal entry is Φ(1)); sanity of the sampler
    assert eig.sum() == pytest.approx(phi(case, 1.0), rel=1e-12)
    fails = ref.match_clusters(eig, zip(vals, s.multiplicities), rtol_mean, rtol_each, count)
    assert not fails, "\n".join(fails)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gram_clusters_fail_for_wrong_spectra(case):
    """The tolerances have teeth: scaled or degree-swapped predictions are rejected."""
    d = 3
    n, count, rtol_mean, rtol_each = DIMS[d]
    kern = CASES[case][4]
    s = spectra.sphere_eigenvalues(arch(case), d, kernel=kern, max_degree=12)
    vals = np.asarray(s.values, dtype=float)
    mult = list(s.multiplicities)
    eig = gram_eigs(case, d)
    assert ref.match_clusters(eig, zip(1.1 * vals, mult), rtol_mean, rtol_each, count)
    swapped = vals.copy()
    swapped[[1, 2]] = swapped[[2, 1]]
    assert ref.match_clusters(eig, zip(swapped, mult), rtol_mean, rtol_each, count)


@pytest.mark.parametrize("case", sorted(CASES))
def test_trace_identity_d3(case):
    """Σ_{k ≤ K} N(3,k) μ_k increases to Φ(1) and never exceeds it.

    Tail bounds used: relu kernels have Φ(cos θ) with a |θ| kink at θ = 0 after even
    extension, so N(3,k) μ_k = O(k^-2) and the tail after K = 60 is O(1/60) (0.4 % for
    this network; allowed 1.5 %); the erf kernel is analytic on [−1, 1] and its tail
    is below 1e-14.
    """
    act, depth, wv, bv, kern = CASES[case]
    s = spectra.sphere_eigenvalues(arch(case), 3, kernel=kern, max_degree=60)
    phi1 = phi(case, 1.0)
    assert float(s.trace) == pytest.approx(phi1, rel=1e-13)
    vals = np.asarray(s.values, dtype=float)
    assert np.all(vals >= -1e-15 * phi1)  # Schoenberg: Φ positive definite on S^2
    partial = np.cumsum(np.array(s.multiplicities, dtype=float) * vals)
    assert np.all(partial <= phi1 * (1 + 1e-12))
    deficit = 1 - partial[-1] / phi1
    if act == "relu":
        assert 1e-4 < deficit < 0.015
        # the tail decays like 1/K: the deficit after 30 degrees is about twice that after 60
        d30 = 1 - partial[30] / phi1
        assert 1.5 < d30 / deficit < 2.6
    else:
        assert abs(deficit) < 1e-12
    # normalised values and fractional variances are the same identity
    assert np.asarray(s.normalized, dtype=float) == pytest.approx(vals / phi1, rel=1e-12, abs=1e-300)
    fv = np.asarray(s.fractional_variance, dtype=float)
    assert fv == pytest.approx(np.array(s.multiplicities) * vals / phi1, rel=1e-12, abs=1e-300)
