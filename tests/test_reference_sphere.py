"""Self-consistency of the sphere/Gaussian part of the independent reference module.

Does not import ``spectra``: every check compares two different routes of
``reference.py`` (exact rational arithmetic, Gauss–Legendre in θ, tanh-sinh Fourier
coefficients, Nyström discretisations, closed forms, Monte Carlo), so that the library
tests in test_sphere_*.py, test_gaussian_gram.py and test_asymptotics_reference.py can
trust it.
"""
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import reference as ref


def mpctx(dps):
    c = mpmath.MPContext()
    c.dps = dps
    return c


def fmp(ctx, f):
    return ctx.mpf(f.numerator) / f.denominator


# ---------------------------------------------------------------------------
# multiplicities, Legendre polynomials, moments
# ---------------------------------------------------------------------------


def test_multiplicity_three_ways():
    for d in range(2, 12):
        # generating function sum_k N(d,k) x^k = (1 + x) / (1 - x)^(d-1)
        gen = [math.comb(k + d - 2, k) + (math.comb(k + d - 3, k - 1) if k >= 1 else 0) for k in range(25)]
        for k in range(25):
            conv = math.comb(d + k - 1, k) - (math.comb(d + k - 3, k - 2) if k >= 2 else 0)
            assert ref.sphere_multiplicity_ref(d, k) == conv == gen[k], (d, k)
    assert [ref.sphere_multiplicity_ref(1, k) for k in range(4)] == [1, 1, 0, 0]
    assert [ref.sphere_multiplicity_ref(2, k) for k in range(4)] == [1, 2, 2, 2]
    assert [ref.sphere_multiplicity_ref(3, k) for k in range(4)] == [1, 3, 5, 7]


def test_legendre_d_known_cases():
    for k in range(12):
        cheb = np.polynomial.chebyshev.cheb2poly([0] * k + [1])
        assert np.allclose([float(c) for c in ref.legendre_d_coeffs(k, 2)], cheb, atol=1e-12)
        leg = np.polynomial.legendre.leg2poly([0] * k + [1])
        assert np.allclose([float(c) for c in ref.legendre_d_coeffs(k, 3)], leg, atol=1e-12)
    for d in (2, 3, 5, 17):
        for k in range(10):
            assert sum(ref.legendre_d_coeffs(k, d)) == 1  # P_k(1) = 1


@pytest.mark.parametrize("d", [2, 3, 5, 8])
def test_legendre_orthogonality_addition_theorem(d):
    """E_t[P_j P_k] = δ_jk / N(d, k) exactly (addition theorem)."""
    for j in range(8):
        pj = ref.legendre_d_coeffs(j, d)
        for k in range(8):
            pk = ref.legendre_d_coeffs(k, d)
            val = sum(
                (a * b * ref.sphere_t_moment(d, m + n) for m, a in enumerate(pj) for n, b in enumerate(pk)),
                Fraction(0),
            )
            assert val == (Fraction(1, ref.sphere_multiplicity_ref(d, k)) if j == k else 0), (d, j, k)


def test_t_moments_vs_quadrature_and_sampling():
    ctx = mpctx(30)
    for d in (2, 3, 4, 7):
        cd = ctx.gamma(ctx.mpf(d) / 2) / (ctx.sqrt(ctx.pi) * ctx.gamma(ctx.mpf(d - 1) / 2))
        for n in range(9):
            q = cd * ctx.quad(lambda th: ctx.cos(th) ** n * ctx.sin(th) ** (d - 2), [0, ctx.pi])
            assert abs(q - fmp(ctx, ref.sphere_t_moment(d, n))) < ctx.mpf(10) ** -25, (d, n)
    X = ref.sphere_points(4000, 5, seed=3)
    assert np.allclose((X * X).sum(axis=1), 5)
    t = (X[:2000] * X[2000:]).sum(axis=1) / 5
    assert abs(np.mean(t**2) - 1 / 5) < 5 * np.std(t**2) / np.sqrt(t.size)


def test_legendre_values_match_coeffs():
    ctx = mpctx(40)
    t = ctx.mpf(3) / 7
    for d in (2, 3, 10):
        vals = ref.legendre_d_values(12, d, t, ctx)
        for k in range(13):
            exact = sum(c * Fraction(3, 7) ** j for j, c in enumerate(ref.legendre_d_coeffs(k, d)))
            assert abs(vals[k] - fmp(ctx, exact)) < ctx.mpf(10) ** -35


# ---------------------------------------------------------------------------
# exact polynomial kernels
# ---------------------------------------------------------------------------


def test_poly_kernel_matches_kernel_ref():
    for name, depth, w, b, kern in [("x2", 1, 2, Fraction(1, 2), "ck"), ("x3", 2, Fraction(3, 2), Fraction(1, 5), "ntk"),
                                    ("x4", 1, 1, Fraction(1, 3), "ntk"), ("identity", 0, 2, 1, "ck")]:
        p3 = ref.poly_kernel3(name, depth, w, b, kern)
        for c, q1, q2 in [(Fraction(1, 3), Fraction(1, 2), Fraction(2)), (Fraction(-1, 5), 1, 1)]:
            val = sum(v * Fraction(c) ** n * Fraction(q1) ** m * Fraction(q2) ** l for (n, m, l), v in p3.items())
            ctx = mpctx(40)
            want = ref.kernel_ref3(name, c, q1, q2, depth, w, b, kern, ctx)
            assert abs(fmp(ctx, val) - want) < abs(want) * ctx.mpf(10) ** -35


def test_x2_ck_depth1_hand_formula():
    """The hand derivation used in test_sphere_reference.py, against the exact route."""
    for w, b in [(2, Fraction(1, 2)), (Fraction(3, 2), Fraction(1, 5))]:
        w, b = Fraction(w), Fraction(b)
        coeffs = ref.poly_kernel("x2", 1, w, b, "ck")
        q = w + b
        assert coeffs == [w * q * q + b + 2 * w * b * b, 4 * w * w * b, 2 * w**3]
        for d in (2, 3, 5, 40):
            mus = [ref.sphere_mu_exact_poly(coeffs, d, k) for k in range(5)]
            assert mus == [w * q * q + b + 2 * w * (w * w / d + b * b), 4 * w * w * b / d,
                           4 * w**3 / (d * (d + 2)), 0, 0]
            assert sum(ref.sphere_multiplicity_ref(d, k) * m for k, m in enumerate(mus)) == 3 * w * q * q + b


# ---------------------------------------------------------------------------
# numerical sphere references
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 10, 100, 1000])
def test_sphere_quad_vs_exact_polynomial(d):
    """Gauss–Legendre in θ at 40 digits against exact rationals (x3 NTK, depth 2, degree 9)."""
    name, depth, w, b, kern = "x3", 2, Fraction(3, 2), Fraction(1, 5), "ntk"
    coeffs = ref.poly_kernel(name, depth, w, b, kern)
    vals, errs = ref.sphere_mu_quad(name, d, 11, depth, w, b, kern, W=40)
    ctx = mpctx(60)
    p1 = fmp(ctx, sum(coeffs))
    for k in range(12):
        exact = fmp(ctx, ref.sphere_mu_exact_poly(coeffs, d, k))
        assert abs(vals[k] - exact) <= errs[k], (d, k)
        assert errs[k] <= p1 * ctx.mpf(10) ** -32
        if k > 9:
            assert vals[k] == 0 and errs[k] == 0


def test_sphere_ref_relative_accuracy_under_cancellation():
    """d = 1000: μ_9/Φ(1) ~ 1e-23, yet 25 significant digits (working precision grows)."""
    name, depth, w, b, kern = "x3", 2, Fraction(3, 2), Fraction(1, 5), "ntk"
    coeffs = ref.poly_kernel(name, depth, w, b, kern)
    got = ref.sphere_mu_ref_all(name, 1000, 9, depth, w, b, kern, dps=25)
    ctx = mpctx(60)
    for k in range(10):
        exact = fmp(ctx, ref.sphere_mu_exact_poly(coeffs, 1000, k))
        assert abs(ctx.mpf(got[k]) - exact) <= abs(exact) * ctx.mpf(10) ** -24, k
    assert float(exact / fmp(ctx, sum(coeffs))) < 1e-20


@pytest.mark.parametrize("name,depth,w,b,kern", [("relu", 3, 2, 0, "ntk"), ("erf", 2, 2, Fraction(1, 10), "ck")])
def test_gauss_legendre_vs_fourier_d2(name, depth, w, b, kern):
    """Two quadratures (Gauss–Legendre panels; tanh-sinh) agree to 28 digits at d = 2."""
    ks = range(13)
    four = ref.sphere_mu_fourier_ref(name, ks, depth, w, b, kern, dps=30)
    gl = ref.sphere_mu_ref_all(name, 2, 12, depth, w, b, kern, dps=30)
    for k in ks:
        v, e = four[k]
        assert e < abs(v) * mpmath.mpf(10) ** -28
        assert abs(gl[k] - v) <= abs(v) * mpmath.mpf(10) ** -28, k


def test_fourier_identity_closed_form():
    out = ref.sphere_mu_fourier_ref("identity", range(5), 0, Fraction(3, 2), Fraction(1, 3), "ck", dps=30)
    want = [Fraction(1, 3), Fraction(3, 4), 0, 0, 0]
    ctx = mpctx(30)
    for (v, _), w in zip(out, want):
        assert abs(v - fmp(ctx, Fraction(w))) < ctx.mpf(10) ** -28


def test_sphere_structure_detection():
    # relu CK depth 1, zero bias: odd part linear -> odd k >= 3 vanish exactly
    v, e = ref.sphere_mu_quad("relu", 5, 9, 1, 2, 0, "ck", W=30)
    assert all(v[k] == 0 and e[k] == 0 for k in (3, 5, 7, 9))
    assert all(v[k] > 0 for k in (0, 1, 2, 4, 6, 8))
    # erf, zero bias: odd Phi
    v, e = ref.sphere_mu_quad("erf", 5, 6, 2, 2, 0, "ck", W=30)
    assert all(v[k] == 0 for k in (0, 2, 4, 6)) and all(v[k] > 0 for k in (1, 3, 5))
    # relu depth 2: no structural zeros
    v, e = ref.sphere_mu_quad("relu", 5, 6, 2, 2, 0, "ck", W=30)
    assert all(x > 0 for x in v)


def test_sphere_quad_positive_and_trace():
    """Schoenberg: μ_k ≥ 0; Σ N μ_k → Φ(1) (erf: analytic, tail ~2e-13 after k = 40 at d = 3)."""
    v, e = ref.sphere_mu_quad("erf", 3, 40, 2, 2, Fraction(1, 10), "ck", W=30)
    p1 = ref.kernel_ref("erf", 1, 2, 2, Fraction(1, 10), "ck", mpctx(30))
    assert all(x > -y for x, y in zip(v, e))
    total = sum(ref.sphere_multiplicity_ref(3, k) * x for k, x in enumerate(v))
    assert 0 < p1 - total < p1 * mpmath.mpf(10) ** -11


# ---------------------------------------------------------------------------
# Gaussian references
# ---------------------------------------------------------------------------

GPOLY = [("x2", 1, 2, Fraction(1, 2), "ck"), ("x3", 1, Fraction(3, 2), Fraction(1, 5), "ntk"),
         ("x2", 2, 1, Fraction(1, 3), "ntk"), ("identity", 0, 2, Fraction(1, 2), "ck")]


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("name,depth,w,b,kern", GPOLY)
def test_gaussian_exact_poly_vs_nystrom(name, depth, w, b, kern, d):
    p3 = ref.poly_kernel3(name, depth, w, b, kern)
    kmax = 1 if d == 1 else 5
    exact = ref.gaussian_mu_exact_poly(p3, d, kmax)
    f = lambda c, q1, q2: ref.kernel_ref3(name, c, q1, q2, depth, float(w), float(b), kern)
    ny = ref.gaussian_mu_nystrom(f, d, kmax, nr=60, nt=40)
    tr = ref.gaussian_trace_exact_poly(p3, d)
    for k in range(kmax + 1):
        ex = [float(v) for v in exact[k]]
        assert ny[k][: len(ex)] == pytest.approx(ex, rel=1e-9, abs=1e-11 * float(tr))
        assert np.all(np.abs(ny[k][len(ex):]) < 1e-11 * float(tr))
    total = sum(ref.sphere_multiplicity_ref(d, k) * sum(exact[k]) for k in exact)
    assert abs(total - fmp(mpctx(40), tr)) < 1e-30 * float(tr)
    assert abs(ref.gaussian_trace_ref(name, d, depth, w, b, kern, dps=30) - fmp(mpctx(40), tr)) < 1e-26 * float(tr)


def test_gaussian_identity_closed_form():
    p3 = ref.poly_kernel3("identity", 0, Fraction(3, 2), Fraction(1, 3), "ck")
    ex = ref.gaussian_mu_exact_poly(p3, 3, 3)
    assert [float(x) for x in ex[0]] == pytest.approx([1 / 3], abs=1e-30)
    assert [float(x) for x in ex[1]] == pytest.approx([0.5], abs=1e-30)
    assert all(float(x) == 0 for k in (2, 3) for x in ex[k])


def test_gaussian_d1_two_nystroms_agree():
    f = lambda c, q1, q2: ref.kernel_ref3("erf", c, q1, q2, 1, 2.0, 0.1, "ck")
    gh = ref.gaussian_d1_nystrom(f, 150)
    gl = ref.gaussian_mu_nystrom(f, 1, 1, nr=150)
    for k in (0, 1):
        assert gh[k][:4] == pytest.approx(gl[k][:4], rel=1e-5)


def test_gaussian_trace_relu_is_phi1():
    for d in (1, 3, 10):
        assert float(ref.gaussian_trace_ref("relu", d, 2, 2, Fraction(1, 2), "ntk")) == pytest.approx(
            float(ref.kernel_ref("relu", 1, 2, 2, 0.5, "ntk")), rel=1e-25)


# ---------------------------------------------------------------------------
# derivatives by mpmath.diff
# ---------------------------------------------------------------------------


def test_mpmath_diff_of_reference_kernel():
    ctx = mpctx(30)
    coeffs = ref.poly_kernel("x3", 2, Fraction(3, 2), Fraction(1, 5), "ntk")
    f = lambda c: ref.kernel_ref3("x3", c, 1, 1, 2, Fraction(3, 2), Fraction(1, 5), "ntk", ctx)
    for n in range(7):
        want = fmp(ctx, coeffs[n] * math.factorial(n))
        assert abs(ctx.diff(f, 0, n) - want) <= abs(want) * ctx.mpf(10) ** -27
    for name, depth, w, b, kern in [("relu", 3, 2, 0, "ntk"), ("erf", 2, 2, Fraction(1, 10), "ck")]:
        c30, c45 = mpctx(30), mpctx(45)
        for n in range(7):
            a = c30.diff(lambda c: ref.kernel_ref3(name, c, 1, 1, depth, w, b, kern, c30), 0, n)
            bb = c45.diff(lambda c: ref.kernel_ref3(name, c, 1, 1, depth, w, b, kern, c45), 0, n)
            assert abs(c45.mpf(a) - bb) <= abs(bb) * c45.mpf(10) ** -27, (name, n)


def test_match_clusters():
    eig = [5.0, 1.01, 0.99, 1.0, 0.1]
    assert ref.match_clusters(eig, [(5.0, 1), (1.0, 3), (0.1, 1)], 0.02, 0.05) == []
    assert ref.match_clusters(eig, [(5.0, 1), (1.0, 2), (0.1, 2)], 0.02, 0.05)
    assert ref.match_clusters(eig, [(5.5, 1), (1.0, 3)], 0.02, 0.05)
    # predicted values closer than rtol_each/2 merge into one group
    assert ref.match_clusters(eig, [(5.0, 1), (1.0, 1), (1.005, 2)], 0.02, 0.05) == []
