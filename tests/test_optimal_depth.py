"""Fractional variance, optimal depth and NTK-vs-CK against brute force over the same grid.

The reference FV_k = C(d,k) μ_k / Φ(1) comes from the full-cube Walsh–Hadamard transform of the
kernel row K(x, 1) evaluated by the independent reference recursion (tests/reference.py), so
neither the gap-form grid recursion nor the Krawtchouk transform of the library is involved.
"""
import functools
import math

import numpy as np
import pytest
import reference as ref

import spectra
from spectra.fractional_variance import fractional_variance, fractional_variance_grid
from spectra.optimal_depth import ntk_vs_ck, optimal_depth

D = 10
DEPTHS = 6
WV = np.array([1.5, 2.5])
BV = np.array([0.0, 0.5])
K = 6


@functools.cache
def brute_fv(act, kernel):
    """FV[depth, wv, bv, k] on the cube {±1}^D from the Walsh–Hadamard transform."""
    out = np.empty((DEPTHS + 1, WV.size, BV.size, K + 1))
    for L in range(DEPTHS + 1):
        for i, w in enumerate(WV):
            for j, b in enumerate(BV):
                coeffs, deg = ref.cube_walsh_eigs(lambda t: ref.kernel_ref(act, t, L, w, b, kernel), D)
                phi1 = float(ref.kernel_ref(act, np.array([1.0]), L, w, b, kernel)[0])
                for k in range(K + 1):
                    mu = coeffs[deg == k].mean()
                    out[L, i, j, k] = math.comb(D, k) * mu / phi1
    return out


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_fv_grid_matches_walsh(act):
    g = fractional_variance_grid(act, D, DEPTHS, WV, BV, ("ck", "ntk"), max_degree=K, threads=1)
    for kern in ("ck", "ntk"):
        want = brute_fv(act, kern)
        got = g["fv_" + kern]
        ok = ~np.isnan(got)
        assert ok.mean() > 0.9
        # structural zeros exactly 0 (erf, σ_b² = 0, even degrees at depth ≥ 1)
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-9, atol=1e-13)
        # the reported error bounds cover the difference from the (float64) reference
        assert np.all(np.abs(got[ok] - want[ok]) <= g["fv_" + kern + "_err"][ok] + 1e-13)


@pytest.mark.parametrize("kern", ["ck", "ntk"])
@pytest.mark.parametrize("act", ["relu", "erf"])
def test_optimal_depth_is_the_brute_force_argmax(act, kern):
    res = optimal_depth(act, D, DEPTHS, WV, BV, kernel=kern, max_degree=K, rtol=0.0, threads=1)
    want = brute_fv(act, kern)
    for e in res.entries:
        k = e["degree"]
        f = want[..., k]
        if np.max(f) <= 1e-14:
            assert e["depth"] is None and e["fractional_variance"] == 0.0
            continue
        best = np.unravel_index(np.argmax(f), f.shape)
        found = (DEPTHS and e["depth"], e["weight_var"], e["bias_var"])
        if found != (best[0], WV[best[1]], BV[best[2]]):
            # only allowed for a tie within the float64 resolution, which must then be listed
            assert abs(e["fractional_variance"] - f[best]) <= 1e-12 * f[best]
            assert e["ties"] >= 1
        np.testing.assert_allclose(e["fractional_variance"], f[best], rtol=1e-10)
        # depth-only maps: the argmax over depth at each (wv, bv)
        for i in range(WV.size):
            for j in range(BV.size):
                col = f[:, i, j]
                top = np.max(col)
                assert col[res.depth_map[i, j, k]] >= top * (1 - 1e-12)


def test_optimal_depth_trends_on_the_paper_grids():
    """CONVENTIONS §4 grids: relu's optimal depth grows with the degree; erf's within odd and within
    even degrees; both finite (inside the depth range)."""
    relu = optimal_depth("relu", 128, 128, 2.0, np.linspace(0, 4, 401), kernel="ntk", max_degree=8)
    d = relu.depths
    assert np.all(np.diff(d[1:]) > 0), d
    assert not any(e["at_max_depth"] for e in relu.entries[1:])
    erf = optimal_depth("erf", 128, 128, np.linspace(1, 5, 41), np.linspace(0, 4, 41), kernel="ck", max_degree=8)
    d = erf.depths
    assert np.all(np.diff(d[1::2]) > 0), d  # odd degrees
    assert np.all(np.diff(d[2::2]) >= 0), d  # even degrees ≥ 2
    assert not any(e["at_max_depth"] for e in erf.entries[1:])


def test_ntk_vs_ck_counts_match_brute_force():
    res = ntk_vs_ck("relu", D, DEPTHS, WV, BV, max_degree=K, threads=1)
    ck, ntk = brute_fv("relu", "ck")[1:], brute_fv("relu", "ntk")[1:]
    for e in res.entries:
        k = e["degree"]
        diff = ntk[..., k] - ck[..., k]
        # float64 reference: differences below ~1e-13 are round-off (e.g. relu depth 1, σ_b² = 0, where
        # the odd degrees ≥ 3 vanish and FV_1 is the same for both kernels)
        clear = np.abs(diff) > 1e-9 * np.maximum(ck[..., k], ntk[..., k]) + 1e-13
        assert e["points"] == diff.size
        assert e["ntk_greater"] == int(np.sum(clear & (diff > 0)))
        assert e["ck_greater"] == int(np.sum(clear & (diff < 0)))
        assert e["tied"] == int(np.sum(~clear))
    # the published direction: the NTK never beats the CK on degree 0, and mostly does on k ≥ 1
    assert res.entries[0]["fraction_ntk_greater"] == 0.0
    assert all(e["fraction_ntk_greater"] > 0.5 for e in res.entries[1:])
    assert len(res.examples) >= 1 and res.examples[0]["ck"].shape == (DEPTHS + 1, K + 1)


def test_grid_reuse_and_errors():
    g = fractional_variance_grid("relu", D, 3, [2.0], [0.0, 1.0], ("ck",), max_degree=3, threads=1)
    r = optimal_depth(grid=g, kernel="ck")
    assert [e["degree"] for e in r.entries] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="grid: has no fractional variance of the NTK"):
        optimal_depth(grid=g, kernel="ntk")
    with pytest.raises(ValueError, match="rtol must be in"):
        optimal_depth("relu", D, 3, rtol=1.5)
    with pytest.raises(ValueError, match="min_depth must be <= max_depth"):
        ntk_vs_ck("relu", D, 2, min_depth=3)
    with pytest.raises(ValueError, match="kernel must be one of"):
        optimal_depth("relu", D, 3, kernel="nngp")


@pytest.mark.parametrize("domain,dim", [("cube", 9), ("sphere", 5), ("gaussian", 4)])
def test_fractional_variance_sums_to_one(domain, dim):
    net = spectra.Architecture("erf", 2, 2.0, 0.3)
    if domain == "cube":
        fv = fractional_variance(net, dim, "ntk", domain, max_degree=dim)
        assert abs(fv.tail) < 1e-13
        return
    # sphere/Gaussian: infinitely many degrees; the tail shrinks as degrees are added and the
    # listed shares are nonnegative (a PSD kernel)
    tails = [float(fractional_variance(net, dim, "ntk", domain, max_degree=K).tail) for K in (2, 6, 12)]
    assert tails[0] > tails[1] > tails[2] >= -1e-12
    assert tails[2] < 5e-3


def test_gaussian_degree_trace_matches_exact_polynomial_kernel():
    """Σ_j μ_{k,j} over every radial index, against the exact finite-rank radial operator of a
    polynomial kernel (x2 activation: Φ is a polynomial in (c, q1, q2))."""
    d = 3
    p3 = ref.poly_kernel3("x2", 2, 1, "1/2", "ntk")
    exact = ref.gaussian_mu_exact_poly(p3, d, 4)
    trace = ref.gaussian_trace_exact_poly(p3, d)
    s = spectra.gaussian_eigenvalues(spectra.Architecture("x2", 2, 1, "1/2"), d, "ntk", max_degree=4, radial=1)
    for k in range(5):
        want = float(sum(exact[k]))
        np.testing.assert_allclose(s.extra["degree_trace"][k], want, rtol=1e-11, atol=1e-14)
    ks, fv = s.fractional_variance_by_degree()
    want = [spectra.sphere_multiplicity(d, k) * float(sum(exact[k])) / float(trace) for k in ks]
    np.testing.assert_allclose(fv, want, rtol=1e-11, atol=1e-14)
    assert np.all(s.fractional_variance_error_by_degree() < 1e-10)
