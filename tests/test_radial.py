"""Gauss rules for the chi distribution (spectra._radial) against closed-form moments and
adaptive mpmath quadrature.

An m-point rule with positive weights that integrates r^n exactly for n ≤ 2m − 1 *is* the
Gauss rule (it is unique), so the moment checks below test the nodes and weights themselves.
"""
import math
from functools import cache

import gmpy2
import mpmath
import numpy as np
import pytest

from spectra._radial import chi_gauss, chi_gauss_mp

DIMS = [1, 2, 3, 16, 1000, 10000]


def _ctx(prec):
    c = mpmath.MPContext()
    c.prec = prec
    return c


def exact_moments(d, nmax, prec):
    """E[r^n] = 2^{n/2} Γ((d+n)/2) / Γ(d/2), n = 0..nmax, in a private context."""
    c = _ctx(prec + 32)
    lg0 = c.loggamma(c.mpf(d) / 2)
    return c, [c.exp(n * c.log(2) / 2 + c.loggamma(c.mpf(d + n) / 2) - lg0)
               for n in range(nmax + 1)]


def worst_moment_error(d, nodes, weights, prec):
    """max_n |Σ w_i r_i^n / E[r^n] − 1| over n ≤ 2m − 1, summed at prec + 32 bits."""
    m = len(nodes)
    c, mom = exact_moments(d, 2 * m - 1, prec)
    r = [c.mpf(x) for x in nodes]
    w = [c.mpf(x) for x in weights]
    worst = c.zero
    for n in range(2 * m):
        worst = max(worst, abs(c.fsum(w) / mom[n] - 1))
        w = [wi * ri for wi, ri in zip(w, r)]
    return worst


# ---------------------------------------------------------------------------------------
# float64
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("m", [1, 2, 7, 32, 128])
def test_float_rule_is_exact_for_degree_2m_minus_1(d, m):
    r, w = chi_gauss(d, m)
    assert worst_moment_error(d, r, w, 120) < 1e-13


@pytest.mark.parametrize("d", DIMS)
def test_float_rule_shape_sign_order(d):
    for m in (1, 5, 40):
        r, w = chi_gauss(d, m)
        assert r.dtype == w.dtype == np.float64 and r.shape == w.shape == (m,)
        assert np.all(w > 0) and r[0] > 0 and np.all(np.diff(r) > 0)
        assert abs(math.fsum(w) - 1) < 1e-15
        assert not r.flags.writeable and not w.flags.writeable
        if m > 1:  # the nodes lie inside the support's bulk: mean between the extremes
            assert r[0] < float(w @ r) < r[-1]


def test_float_rule_known_values():
    # m = 1: the node is the mean E[r]; d = 1, m = 1: sqrt(2/π)
    r, w = chi_gauss(1, 1)
    assert r[0] == pytest.approx(math.sqrt(2 / math.pi), rel=1e-16) and w[0] == 1
    # d = 2 (Rayleigh), m = 1: E[r] = sqrt(π/2)
    assert chi_gauss(2, 1)[0][0] == pytest.approx(math.sqrt(math.pi / 2), rel=1e-16)
    # m = 2: the nodes are the roots of π₂(r) = r² − b r + k with
    # b = (μ3 − μ1μ2)/(μ2 − μ1²), k = (μ1μ3 − μ2²)/(μ2 − μ1²)
    c, mu = exact_moments(5, 3, 200)
    den = mu[2] - mu[1] ** 2
    b, k = (mu[3] - mu[1] * mu[2]) / den, (mu[1] * mu[3] - mu[2] ** 2) / den
    roots = sorted([(b - c.sqrt(b * b - 4 * k)) / 2, (b + c.sqrt(b * b - 4 * k)) / 2])
    r, _ = chi_gauss(5, 2)
    assert r[0] == pytest.approx(float(roots[0]), rel=2e-16)
    assert r[1] == pytest.approx(float(roots[1]), rel=2e-16)


@pytest.mark.parametrize("d", DIMS)
def test_scaled_variable_rho(d):
    # ρ = r²/d: E[ρ] = 1, E[ρ²] = (d + 2)/d, E[ρ³] = (d + 2)(d + 4)/d²
    r, w = chi_gauss(d, 4)
    rho = r**2 / d
    assert float(w @ rho) == pytest.approx(1, rel=1e-14)
    assert float(w @ rho**2) == pytest.approx((d + 2) / d, rel=1e-14)
    assert float(w @ rho**3) == pytest.approx((d + 2) * (d + 4) / d**2, rel=1e-14)


# ---------------------------------------------------------------------------------------
# arbitrary precision
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("m,prec", [(5, 64), (24, 200), (40, 400)])
def test_mp_rule_is_exact_for_degree_2m_minus_1(d, m, prec):
    r, w = chi_gauss_mp(d, m, prec)
    assert len(r) == len(w) == m
    ctx = r[0].context  # a private MPContext: its mpf class is not mpmath.mpf
    assert ctx is not mpmath.mp and ctx.prec == prec
    assert all(type(x) is ctx.mpf and x.context is ctx for x in r + w)
    assert all(x > 0 for x in w) and r[0] > 0 and all(r[i] < r[i + 1] for i in range(m - 1))
    digits = int(prec * math.log10(2))
    assert worst_moment_error(d, r, w, prec + 64) < 10.0 ** -(digits - 5)


def test_mp_rule_d16_m64_200_bits():
    r, w = chi_gauss_mp(16, 64, 200)
    assert worst_moment_error(16, r, w, 264) < 1e-55


@pytest.mark.parametrize("d", DIMS)
def test_mp_rule_agrees_with_float_rule(d):
    m = 32
    rf, wf = chi_gauss(d, m)
    rm, wm = chi_gauss_mp(d, m, 160)
    for x, y in zip(rf, rm):  # the float nodes are the correctly rounded mp nodes
        assert abs(float(y) - x) <= 0.5000001 * np.spacing(x)
    for x, y in zip(wf, wm):  # (so far the weights, too; allow one unit in the last place)
        assert abs(float(y) - x) <= np.spacing(x)


@pytest.mark.parametrize("d", [1, 16, 10000])
def test_mp_rule_consistent_across_precisions(d):
    p = 150
    r1, w1 = chi_gauss_mp(d, 20, p)
    r2, w2 = chi_gauss_mp(d, 20, p + 100)
    tol = 2.0 ** -(p - 2)
    for a, b in zip(r1 + w1, r2 + w2):
        assert abs(a / b - 1) < tol


def test_mp_leaves_global_precision_alone():
    old_mp, old_gmp = mpmath.mp.prec, gmpy2.get_context().precision
    try:
        mpmath.mp.prec = 30
        r, w = chi_gauss_mp(5, 12, 150)
        assert mpmath.mp.prec == 30 and gmpy2.get_context().precision == old_gmp
        assert r[0].context is not mpmath.mp and r[0].context.prec == 150
    finally:
        mpmath.mp.prec = old_mp
    assert mpmath.mp.prec == old_mp
    # the result does not depend on mpmath.mp's precision
    r2, w2 = chi_gauss_mp(5, 12, 151)
    for a, b in zip(r + w, r2 + w2):
        assert abs(a / b - 1) < 2.0**-148


def test_mp_returns_fresh_lists():
    r, w = chi_gauss_mp(3, 6, 80)
    r0 = r[0]
    r[0] = w[0] = None
    r2, w2 = chi_gauss_mp(3, 6, 80)
    assert r2[0] == r0 and w2[0] is not None


# ---------------------------------------------------------------------------------------
# a smooth non-polynomial integrand: E[exp(−r)] and E[cos r] against mpmath.quad
# ---------------------------------------------------------------------------------------

FUNCS = {"exp": (lambda c, x: c.exp(-x), lambda x: np.exp(-x)),
         "cos": (lambda c, x: c.cos(x), np.cos)}


@cache
def quad_reference(d, name, dps=50):
    c = mpmath.MPContext()
    c.dps = dps
    f = FUNCS[name][0]
    logz = (c.mpf(d) / 2 - 1) * c.log(2) + c.loggamma(c.mpf(d) / 2)
    mode = c.sqrt(d - 1)
    pts = sorted({c.zero, *[x for x in (mode - 12, mode - 4, mode, mode + 4, mode + 12) if x > 0]})
    return c.quad(lambda x: f(c, x) * c.exp((d - 1) * c.log(x) - x * x / 2 - logz), pts + [c.inf])


@pytest.mark.parametrize("d", [1, 3, 16, 1000])
@pytest.mark.parametrize("name", ["exp", "cos"])
def test_smooth_integrand_converges_float(d, name):
    ref = float(quad_reference(d, name))
    errs = []
    for m in (2, 4, 8, 24):
        r, w = chi_gauss(d, m)
        errs.append(abs(float(w @ FUNCS[name][1](r)) - ref))
    assert errs[0] > errs[1] > errs[2] > errs[3] and errs[2] < 1e-9
    assert errs[3] < 1e-15  # |f| ≤ 1: absolute error against E|f| ≤ 1


@pytest.mark.parametrize("d", [1, 3, 16, 1000])
@pytest.mark.parametrize("name", ["exp", "cos"])
def test_smooth_integrand_converges_mp(d, name):
    ref = quad_reference(d, name)
    errs = []
    for m in (8, 16, 24):
        r, w = chi_gauss_mp(d, m, 200)
        c = r[0].context
        errs.append(abs(c.fsum(wi * FUNCS[name][0](c, ri) for ri, wi in zip(r, w)) - ref))
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-40


# ---------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("args,exc,msg", [
    ((0, 3), ValueError, "d must be an integer >= 1"),
    ((-2, 3), ValueError, "d must be an integer >= 1"),
    ((3, 0), ValueError, "m must be an integer >= 1"),
    ((2.0, 3), TypeError, "d must be an integer >= 1"),
    (("3", 3), TypeError, "d must be an integer"),
    ((True, 3), TypeError, "d must be an integer"),
    ((3, 2.5), TypeError, "m must be an integer"),
])
def test_argument_checks(args, exc, msg):
    with pytest.raises(exc, match=msg):
        chi_gauss(*args)
    with pytest.raises(exc, match=msg):
        chi_gauss_mp(*args, 100)


@pytest.mark.parametrize("prec,exc", [(1, ValueError), (0, ValueError), (100.0, TypeError),
                                      (None, TypeError)])
def test_prec_bits_checked(prec, exc):
    with pytest.raises(exc, match="prec_bits must be an integer >= 2"):
        chi_gauss_mp(3, 4, prec)


def test_numpy_integers_accepted():
    r, _ = chi_gauss(np.int64(3), np.int32(4))
    assert np.array_equal(r, chi_gauss(3, 4)[0])
