"""Sphere eigenvalues against independent high-precision references (CONVENTIONS §2).

* d = 2: μ_k are the Fourier cosine coefficients (1/π)∫_0^π Φ(cos θ) cos kθ dθ, by
  mpmath tanh-sinh quadrature (reference.sphere_mu_fourier_ref).
* any d: the Funk–Hecke integral in θ = arccos t with composite Gauss–Legendre at a
  working precision that survives the cancellation (reference.sphere_mu_quad /
  sphere_mu_ref_all; checked in test_reference_sphere.py against exact polynomial cases
  and against the Fourier route).
* exact rationals derived by hand (identity, x2) and from exact polynomial arithmetic.
* exact structural zeros (parity; relu's linear odd part at depth 1).
"""
import functools
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import reference as ref

import spectra

NETS = {
    "relu-ntk-L3": ("relu", 3, 2, 0, "ntk"),
    "erf-ck-L2": ("erf", 2, 2, Fraction(1, 10), "ck"),
}


def arch(net):
    act, depth, wv, bv, _ = NETS[net]
    return spectra.Architecture(act, depth, wv, bv)


def mpctx(dps):
    c = mpmath.MPContext()
    c.dps = dps
    return c


CTX = mpctx(60)


def phi1(net):
    act, depth, wv, bv, kern = NETS[net]
    return ref.kernel_ref(act, 1, depth, wv, bv, kern, CTX)


def to_fraction(v):
    if isinstance(v, Fraction):
        return v
    if isinstance(v, int):
        return Fraction(v)
    return Fraction(int(v.p), int(v.q))  # sympy Rational / Integer


def sphere_N(d, k):
    """CONVENTIONS §2: C(d+k−1, k) − C(d+k−3, k−2)."""
    return math.comb(d + k - 1, k) - (math.comb(d + k - 3, k - 2) if k >= 2 else 0)


# ---------------------------------------------------------------------------
# multiplicities
# ---------------------------------------------------------------------------


def test_multiplicities_exact_ints():
    for d in range(2, 13):
        for k in range(31):
            m = spectra.sphere_multiplicity(d, k)
            assert type(m) is int
            assert m == sphere_N(d, k) == ref.sphere_multiplicity_ref(d, k), (d, k)
    big = spectra.sphere_multiplicity(1000, 64)
    assert type(big) is int and big == sphere_N(1000, 64)
    s = spectra.sphere_eigenvalues(arch("erf-ck-L2"), 1000, kernel="ck", max_degree=64)
    assert tuple(s.multiplicities) == tuple(sphere_N(1000, k) for k in range(65))
    assert all(type(m) is int for m in s.multiplicities)


# ---------------------------------------------------------------------------
# d = 2: Fourier series by tanh-sinh quadrature
# ---------------------------------------------------------------------------


@functools.cache
def fourier_ref(net):
    act, depth, wv, bv, kern = NETS[net]
    out = ref.sphere_mu_fourier_ref(act, range(21), depth, wv, bv, kern, dps=32)
    for v, e in out:  # the quadrature itself must have converged far beyond the test
        assert e < abs(v) * mpmath.mpf(10) ** -26
    return [v for v, _ in out]


@pytest.mark.parametrize("net", sorted(NETS))
def test_fourier_d2_precision25(net):
    want = fourier_ref(net)
    s = spectra.sphere_eigenvalues(arch(net), 2, kernel=NETS[net][4], max_degree=20, precision=25)
    assert list(s.degrees) == list(range(21))
    assert tuple(s.multiplicities) == (1,) + (2,) * 20
    for k in range(21):
        got = CTX.mpf(s.values[k])
        assert abs(got - want[k]) <= abs(want[k]) * CTX.mpf(10) ** -20, (k, got, want[k])
    assert abs(CTX.mpf(s.trace) - phi1(net)) <= phi1(net) * CTX.mpf(10) ** -24


@pytest.mark.parametrize("net", sorted(NETS))
def test_fourier_d2_double(net):
    want = [float(v) for v in fourier_ref(net)]
    s = spectra.sphere_eigenvalues(arch(net), 2, kernel=NETS[net][4], max_degree=20)
    vals = np.asarray(s.values, dtype=float)
    errs = np.asarray(s.errors, dtype=float)
    for k in range(21):
        assert abs(vals[k] - want[k]) <= max(1e-10 * abs(want[k]), errs[k]), (k, vals[k], want[k], errs[k])
        assert abs(vals[k] - want[k]) <= errs[k] + 1e-30, ("error estimate", k, vals[k], want[k], errs[k])


# ---------------------------------------------------------------------------
# general d: Funk–Hecke in θ at high working precision
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", [3, 50])
@pytest.mark.parametrize("net", sorted(NETS))
def test_precision30_vs_reference(net, d):
    """precision=30 agrees with the reference to ≥ 25 significant digits for k ≤ 40."""
    act, depth, wv, bv, kern = NETS[net]
    want = ref.sphere_mu_ref_all(act, d, 40, depth, wv, bv, kern, dps=28)
    s = spectra.sphere_eigenvalues(arch(net), d, kernel=kern, max_degree=40, precision=30)
    tol = CTX.mpf(10) ** -25
    for k in range(41):
        got, w = CTX.mpf(s.values[k]), CTX.mpf(want[k])
        if w == 0:
            assert got == 0 and s.structural[k], k
            continue
        assert abs(got - w) <= tol * abs(w), (k, got, w)
        assert abs(got - w) <= CTX.mpf(s.errors[k]) + CTX.mpf(10) ** -27 * abs(w), ("error estimate", k)


@functools.cache
def quad_ref(net, d):
    act, depth, wv, bv, kern = NETS[net]
    return ref.sphere_mu_quad(act, d, 64, depth, wv, bv, kern, W=36)


@pytest.mark.parametrize("d", [2, 3, 10, 100, 1000])
@pytest.mark.parametrize("net", sorted(NETS))
def test_double_vs_reference(net, d):
    """Double precision: relative 1e-10 wherever μ_k/Φ(1) ≥ 1e-15; error estimates cover.

    The reference (36 working digits) has an absolute accuracy of about 1e-30 Φ(1) (its
    own error estimate is used), so it resolves every μ_k with μ_k/Φ(1) above ~1e-20 to
    ≥ 10 digits.
    """
    vals_ref, errs_ref = quad_ref(net, d)
    s = spectra.sphere_eigenvalues(arch(net), d, kernel=NETS[net][4], max_degree=64)
    p1 = float(phi1(net))
    assert float(s.trace) == pytest.approx(p1, rel=1e-14)
    vals = np.asarray(s.values, dtype=float)
    errs = np.asarray(s.errors, dtype=float)
    bad = []
    for k in range(65):
        r, re = vals_ref[k], errs_ref[k]
        v, e, flag = vals[k], errs[k], s.flags[k]
        if re == 0 and r == 0:  # exact zero of the reference
            if not (v == 0 and s.structural[k]):
                bad.append(f"k={k}: structural zero expected, got {v!r}")
            continue
        if s.structural[k]:
            bad.append(f"k={k}: marked structural but the reference gives {mpmath.nstr(r, 5)}")
        big = abs(r) >= 1e-15 * p1
        if flag is not None or not np.isfinite(v):
            if big:
                bad.append(f"k={k}: unresolved ({flag}) although mu/Phi(1) = {float(abs(r)) / p1:.3g}")
            continue
        diff = abs(CTX.mpf(v) - r)
        if big and diff > 1e-10 * abs(r):
            bad.append(f"k={k}: {v!r} vs {mpmath.nstr(r, 17)} (rel {float(diff / abs(r)):.2e})")
        if diff > CTX.mpf(e) + re + CTX.mpf(np.spacing(abs(v))):  # 1 ulp: the float itself
            bad.append(f"k={k}: error estimate {e:.3g} does not cover |diff| = {float(diff):.3g} (mu = {mpmath.nstr(r, 6)})")
    assert not bad, f"d={d} {net}:\n" + "\n".join(bad)


# ---------------------------------------------------------------------------
# exact rationals
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3, 7])
@pytest.mark.parametrize("kern", ["ck", "ntk"])
def test_identity_depth0_exact(d, kern):
    """Φ(t) = σ_w² t + σ_b²: μ_0 = σ_b², μ_1 = σ_w² E[t²] = σ_w²/d, μ_k = 0 for k ≥ 2."""
    wv, bv = Fraction(3, 2), Fraction(1, 3)
    s = spectra.sphere_eigenvalues(spectra.Architecture("identity", 0, wv, bv), d, kernel=kern,
                                   max_degree=5, precision="exact")
    got = [to_fraction(v) for v in s.values]
    assert got == [bv, wv / d, 0, 0, 0, 0]
    assert to_fraction(s.trace) == wv + bv
    assert list(s.structural) == [False, False, True, True, True, True]
    d_vals = np.asarray(spectra.sphere_eigenvalues(spectra.Architecture("identity", 0, wv, bv), d,
                                                   kernel=kern, max_degree=5).values, dtype=float)
    assert d_vals[0] == pytest.approx(1 / 3, rel=1e-15) and d_vals[1] == pytest.approx(1.5 / d, rel=1e-15)
    assert np.all(d_vals[2:] == 0)


def x2_ck_depth1_by_hand(wv, bv, d):
    """x2 activation, depth 1, CK, derived by hand.

    c = σ_w² t + σ_b², q = σ_w² + σ_b², E[u²v²] = q² + 2c², so
    Φ(t) = σ_w²(q² + 2c²) + σ_b² = σ_w² q² + σ_b² + 2σ_w²(σ_w⁴ t² + 2σ_w²σ_b² t + σ_b⁴).
    Sphere: E t = 0, E t² = 1/d, E t⁴ = 3/(d(d+2)), P_{2,d} = (d t² − 1)/(d − 1), so
    E[t² P_2] = 2/(d(d+2)) and
    μ_0 = σ_w² q² + σ_b² + 2σ_w²(σ_w⁴/d + σ_b⁴), μ_1 = 4σ_w⁴σ_b²/d, μ_2 = 4σ_w⁶/(d(d+2)).
    Φ(1) = 3σ_w² q² + σ_b².
    """
    w, b = Fraction(wv), Fraction(bv)
    q = w + b
    mu0 = w * q * q + b + 2 * w * (w * w / d + b * b)
    mu1 = 4 * w * w * b / d
    mu2 = 4 * w**3 / (d * (d + 2))
    return [mu0, mu1, mu2], 3 * w * q * q + b


@pytest.mark.parametrize("d", [2, 3, 5, 40])
@pytest.mark.parametrize("wv,bv", [(2, Fraction(1, 2)), (Fraction(3, 2), Fraction(1, 5))])
def test_x2_ck_depth1_exact_by_hand(wv, bv, d):
    (mu0, mu1, mu2), tr = x2_ck_depth1_by_hand(wv, bv, d)
    s = spectra.sphere_eigenvalues(spectra.Architecture("x2", 1, wv, bv), d, kernel="ck",
                                   max_degree=4, precision="exact")
    assert [to_fraction(v) for v in s.values] == [mu0, mu1, mu2, 0, 0]
    assert to_fraction(s.trace) == tr
    # Σ N(d,k) μ_k = Φ(1) holds exactly
    assert mu0 + d * mu1 + sphere_N(d, 2) * mu2 == tr
    norm = [to_fraction(v) for v in s.normalized]
    assert norm[:3] == [mu0 / tr, mu1 / tr, mu2 / tr]
    fv = [to_fraction(v) for v in s.fractional_variance]
    assert fv[:3] == [mu0 / tr, d * mu1 / tr, sphere_N(d, 2) * mu2 / tr]


POLY = [
    ("x3", 2, Fraction(3, 2), Fraction(1, 5), "ntk"),
    ("x4", 1, 1, Fraction(1, 3), "ck"),
    ("x2", 2, 1, Fraction(1, 4), "ntk"),
    ("x3", 1, 2, 0, "ck"),
]


@pytest.mark.parametrize("d", [2, 4, 9])
@pytest.mark.parametrize("act,depth,wv,bv,kern", POLY)
def test_polynomial_exact(act, depth, wv, bv, kern, d):
    coeffs = ref.poly_kernel(act, depth, wv, bv, kern)
    deg = len(coeffs) - 1
    s = spectra.sphere_eigenvalues(spectra.Architecture(act, depth, wv, bv), d, kernel=kern,
                                   max_degree=deg + 2, precision="exact")
    want = [ref.sphere_mu_exact_poly(coeffs, d, k) for k in range(deg + 3)]
    assert [to_fraction(v) for v in s.values] == want
    assert to_fraction(s.trace) == sum(coeffs)
    assert list(s.structural) == [w == 0 for w in want]


# ---------------------------------------------------------------------------
# structural zeros at every precision
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["double", 30])
@pytest.mark.parametrize("d", [2, 3, 10])
def test_relu_ck_depth1_odd_zeros(d, precision):
    """relu CK, depth 1, σ_b² = 0: Φ's odd part is linear in t, so μ_k = 0 for odd k ≥ 3."""
    s = spectra.sphere_eigenvalues(spectra.Architecture("relu", 1, 2, 0), d, kernel="ck",
                                   max_degree=15, precision=precision)
    for k in range(16):
        v = s.values[k]
        if k % 2 and k >= 3:
            assert v == 0 and s.structural[k], (k, v)
        else:
            assert v != 0 and not s.structural[k], (k, v)
            assert float(v) > 0


@pytest.mark.parametrize("precision", ["double", 30])
@pytest.mark.parametrize("d", [3, 10])
@pytest.mark.parametrize("depth,kern", [(2, "ck"), (1, "ntk")])
def test_erf_zero_bias_even_zeros(d, depth, kern, precision):
    """erf with σ_b² = 0: Φ is odd, every even μ_k is exactly 0."""
    s = spectra.sphere_eigenvalues(spectra.Architecture("erf", depth, 2, 0), d, kernel=kern,
                                   max_degree=12, precision=precision)
    for k in range(13):
        v = s.values[k]
        if k % 2 == 0:
            assert v == 0 and s.structural[k], (k, v)
        else:
            assert float(v) > 0 and not s.structural[k], (k, v)


def test_series_and_quadrature_agree_at_large_dim():
    """The two N-digit algorithms of the sphere: the positive moment series (large d) and the
    tanh-sinh Funk–Hecke quadrature, on the same problem, to 20 digits."""
    import mpmath

    from spectra import sphere as S

    net = spectra.Architecture("relu", 2, 2, "1/10")
    ks = list(range(0, 25))
    series = S._sphere_series(net, 200, "ntk", ks, 22)
    assert series is not None
    quad = S.funk_hecke_digits(lambda b: S._phi_mp_fn(net, "ntk", b), 200, ks, 22)
    for v1, e1, v2 in zip(series[0], series[1], quad[0]):
        assert abs(v1 - v2) <= mpmath.mpf(10) ** -20 * abs(v2)
        assert e1 <= mpmath.mpf(10) ** -22 * abs(v1) / 4 * 1.0001


def test_huge_dim_high_degree_digits():
    """d = 10⁴, k ≤ 200 at 20 digits (values down to ~1e-430): every value has its digits, and
    the sum N(d,k)μ_k over k ≤ 200 stays below Φ(1) while the k ≤ 2 terms nearly exhaust it."""
    net = spectra.Architecture("erf", 2, 2, "1/10")
    s = spectra.sphere_eigenvalues(net, 10000, "ck", max_degree=200, precision=20)
    assert min(s.digits) >= 20 and not any(s.flags)
    total = sum(m * v for m, v in zip(s.multiplicities, s.values))
    assert total <= s.trace
    assert 1 - total / s.trace < 1e-3
