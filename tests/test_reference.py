"""Self-consistency tests of the independent reference module ``reference.py``.

Every check compares two *different* routes to the same number (closed form
vs. quadrature vs. Monte Carlo, Gram matrix vs. Walsh-Hadamard transform vs.
exact alternating sum, a finite-width network vs. the kernel recursion) so
that the reference can be trusted when the library is tested against it.
"""

import itertools
import math
import os
import sys
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import scipy.linalg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

NAMES = ref.ACTIVATIONS

# (c, q1, q2) with |c| < sqrt(q1 q2): c = 0 with q1 != q2, positive and negative c
QUAD_POINTS = [(0, "0.7", "1.6"), ("0.3", 1, 2), ("-0.5", "0.8", "1.5")]
MC_POINTS = [(0.0, 0.7, 1.6), (0.3, 1.0, 2.0), (-0.5, 0.8, 1.5), (0.85, 1.0, 1.0)]


def mpctx(dps):
    ctx = mpmath.MPContext()
    ctx.dps = dps
    return ctx


def cube_mu_all(name, d, depth, wv, bv, kernel, dps=None):
    """All mu_k (k = 0..d) by the exact alternating sum at high precision."""
    ctx = mpctx(dps or 2 * d + 50)
    phis = ref.cube_phi_values(name, d, depth, wv, bv, kernel, ctx)
    return [ref.cube_mu_direct(phis, d, k, ctx) for k in range(d + 1)], phis[0], ctx


# ---------------------------------------------------------------------------
# cube points, pairings
# ---------------------------------------------------------------------------


def test_cube_points():
    d = 5
    X = ref.cube_points(d)
    assert X.shape == (32, 5) and X.dtype == float
    assert set(np.unique(X)) == {-1.0, 1.0}
    assert len({tuple(r) for r in X}) == 32
    # row j: coordinate i is -1 iff bit i of j is set
    for j in range(32):
        assert all((X[j, i] == -1) == bool((j >> i) & 1) for i in range(d))


def _wick_bruteforce(n, m, c, q1, q2):
    """E[u^n v^m] by summing over all perfect matchings of n u's and m v's."""
    labels = ["u"] * n + ["v"] * m

    def matchings(items):
        if not items:
            yield []
            return
        first, rest = items[0], items[1:]
        for i in range(len(rest)):
            for mt in matchings(rest[:i] + rest[i + 1 :]):
                yield [(first, rest[i])] + mt

    cov = {("u", "u"): q1, ("v", "v"): q2, ("u", "v"): c, ("v", "u"): c}
    total = Fraction(0)
    for mt in matchings(list(range(n + m))):
        term = Fraction(1)
        for i, j in mt:
            term *= cov[(labels[i], labels[j])]
        total += term
    return total


@pytest.mark.parametrize("n,m", [(a, b) for a in range(6) for b in range(6)])
def test_bivariate_moment_vs_wick_enumeration(n, m):
    c, q1, q2 = Fraction(2, 7), Fraction(3, 5), Fraction(9, 4)
    exact = _wick_bruteforce(n, m, c, q1, q2)
    ctx = mpctx(30)
    got = ref.bivariate_moment(n, m, c, q1, q2, ctx)
    assert abs(got - ctx.mpf(exact.numerator) / exact.denominator) <= ctx.mpf(10) ** -28 * (
        1 + abs(float(exact))
    )
    assert ref.bivariate_moment(n, m, float(c), float(q1), float(q2)) == pytest.approx(
        float(exact), rel=1e-13, abs=1e-15
    )


def test_monomial_closed_forms_spelled_out():
    c, q1, q2 = 0.3, 0.7, 1.9
    assert ref.dual_closed("identity", c, q1, q2) == pytest.approx(c, rel=1e-15)
    assert ref.dual_closed("x2", c, q1, q2) == pytest.approx(q1 * q2 + 2 * c**2, rel=1e-15)
    assert ref.dual_closed("x3", c, q1, q2) == pytest.approx(9 * c * q1 * q2 + 6 * c**3, rel=1e-15)
    assert ref.dual_closed("x4", c, q1, q2) == pytest.approx(
        9 * q1**2 * q2**2 + 72 * c**2 * q1 * q2 + 24 * c**4, rel=1e-15
    )
    assert ref.ddual_closed("identity", c, q1, q2) == 1.0
    assert ref.ddual_closed("x2", c, q1, q2) == pytest.approx(4 * c, rel=1e-15)
    assert ref.ddual_closed("x3", c, q1, q2) == pytest.approx(9 * (q1 * q2 + 2 * c**2), rel=1e-15)
    assert ref.ddual_closed("x4", c, q1, q2) == pytest.approx(
        16 * (9 * c * q1 * q2 + 6 * c**3), rel=1e-15
    )


# ---------------------------------------------------------------------------
# dual activations: closed form vs quadrature vs Monte Carlo
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("point", QUAD_POINTS)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("derivative", [False, True])
def test_closed_vs_quad_30_digits(name, point, derivative):
    c, q1, q2 = point
    ctx = mpctx(40)
    closed = (ref.ddual_closed if derivative else ref.dual_closed)(name, c, q1, q2, ctx)
    quad = ref.dual_quad(ref.activation_mp(name, derivative), c, q1, q2, dps=34)
    err = abs(ctx.mpf(quad) - closed)
    assert err <= ctx.mpf(10) ** -30 * max(1, abs(closed)), (name, point, derivative, err)


def test_quad_degenerate_and_error_estimate():
    ctx = mpctx(30)
    # rho = +-1: one-dimensional path
    v = ref.dual_quad(ref.activation_mp("relu"), "1.5", "1.5", "1.5", dps=25)
    assert abs(ctx.mpf(v) - ctx.mpf("0.75")) < ctx.mpf(10) ** -24
    v = ref.dual_quad(ref.activation_mp("erf"), -2, 1, 4, dps=25)
    assert abs(ctx.mpf(v) - ref.dual_closed("erf", -2, 1, 4, ctx)) < ctx.mpf(10) ** -24
    v = ref.dual_quad(ref.activation_mp("relu"), -1, 1, 1, dps=25)
    assert abs(v) < ctx.mpf(10) ** -24
    # error estimate is returned and small; strongly correlated case
    v, e = ref.dual_quad(ref.activation_mp("relu"), "0.9", "1.1", "0.8", dps=25, return_error=True)
    assert e < ctx.mpf(10) ** -22
    assert abs(ctx.mpf(v) - ref.dual_closed("relu", "0.9", "1.1", "0.8", ctx)) < ctx.mpf(10) ** -24
    with pytest.raises(ValueError):
        ref.dual_quad(ref.activation_mp("relu"), 2, 1, 1)


@pytest.mark.parametrize("point", MC_POINTS)
@pytest.mark.parametrize("name", NAMES)
def test_closed_vs_monte_carlo(name, point):
    c, q1, q2 = point
    for derivative, closed_fn in ((False, ref.dual_closed), (True, ref.ddual_closed)):
        mean, se = ref.dual_mc(ref.activation_np(name, derivative), c, q1, q2, n=200_000, seed=1)
        closed = closed_fn(name, c, q1, q2)
        assert abs(mean - closed) <= 5 * se + 1e-12, (name, point, derivative, mean, se, closed)


def test_dual_mc_standard_error_scales():
    m1, s1 = ref.dual_mc(ref.activation_np("relu"), 0.2, 1.0, 1.0, n=10**4, seed=3)
    m2, s2 = ref.dual_mc(ref.activation_np("relu"), 0.2, 1.0, 1.0, n=4 * 10**4, seed=3)
    assert s2 == pytest.approx(s1 / 2, rel=0.1)
    assert ref.dual_mc(ref.activation_np("relu"), 0.2, 1.0, 1.0, n=1000, seed=5) == ref.dual_mc(
        ref.activation_np("relu"), 0.2, 1.0, 1.0, n=1000, seed=5
    )


@pytest.mark.parametrize("name", NAMES)
def test_numpy_path_matches_mp_path(name):
    rng = np.random.default_rng(7)
    q1 = rng.uniform(0.2, 3.0, 20)
    q2 = rng.uniform(0.2, 3.0, 20)
    c = rng.uniform(-1, 1, 20) * np.sqrt(q1 * q2)
    c[0] = 0.0
    c[1] = np.sqrt(q1[1] * q2[1])  # rho = 1 boundary
    ctx = mpctx(30)
    for fn in (ref.dual_closed, ref.ddual_closed):
        vec = fn(name, c, q1, q2)
        assert vec.shape == (20,)
        for i in range(20):
            exact = fn(name, float(c[i]), float(q1[i]), float(q2[i]), ctx)
            assert abs(vec[i] - float(exact)) <= 1e-13 * max(1.0, abs(float(exact))), (name, i)
        assert isinstance(fn(name, 0.1, 1.0, 1.0), float)


def test_special_values():
    ctx = mpctx(30)
    pi = ctx.pi
    # relu: rho = 1 -> q/2, rho = 0 -> q/(2 pi), rho = -1 -> 0; step dual 1/2, 1/4, 0
    assert ref.dual_closed("relu", 2, 2, 2, ctx) == 1
    assert abs(ref.dual_closed("relu", 0, 2, 8, ctx) - 4 / (2 * pi)) < ctx.mpf(10) ** -29
    assert ref.dual_closed("relu", -3, 3, 3, ctx) == 0
    assert ref.ddual_closed("relu", 2, 2, 2, ctx) == ctx.mpf(1) / 2
    assert abs(ref.ddual_closed("relu", 0, 2, 8, ctx) - ctx.mpf(1) / 4) < ctx.mpf(10) ** -29
    assert ref.ddual_closed("relu", -3, 3, 3, ctx) == 0
    assert ref.dual_closed("relu", 0, 0, 1, ctx) == 0
    assert ref.dual_closed("relu", 0.0, 0.0, 1.0) == 0.0
    with pytest.raises(ValueError):
        ref.ddual_closed("relu", 0, 0, 1, ctx)
    # erf: odd in c, arcsin form at q = 1/2: E[erf(u)erf(v)] = (2/pi) asin(c)
    assert ref.dual_closed("erf", 0, 1, 2, ctx) == 0
    assert abs(ref.dual_closed("erf", "0.3", "0.5", "0.5", ctx) - 2 / pi * ctx.asin(ctx.mpf("0.3"))) < (
        ctx.mpf(10) ** -29
    )
    assert abs(ref.ddual_closed("erf", 0, 0, 0, ctx) - 4 / pi) < ctx.mpf(10) ** -29
    with pytest.raises(ValueError):
        ref.dual_closed("tanh", 0, 1, 1)


def test_private_context_only():
    before = (mpmath.mp.prec, mpmath.mp.dps)
    ctx = mpctx(60)
    ref.kernel_ref("erf", Fraction(1, 3), 3, 2, "0.5", "ntk", ctx)
    ref.dual_quad(ref.activation_mp("relu"), "0.2", 1, 1, dps=20)
    assert (mpmath.mp.prec, mpmath.mp.dps) == before
    assert ctx.dps == 60


# ---------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kernel", ["ck", "ntk"])
def test_kernel_depth0_is_linear(name, kernel):
    t = np.linspace(-1, 1, 9)
    assert np.allclose(ref.kernel_ref(name, t, 0, 1.7, 0.4, kernel), 1.7 * t + 0.4, rtol=1e-15, atol=1e-15)
    ctx = mpctx(40)
    v = ref.kernel_ref(name, Fraction(-2, 7), 0, Fraction(17, 10), Fraction(2, 5), kernel, ctx)
    assert abs(v - (ctx.mpf(17) / 10 * ctx.mpf(-2) / 7 + ctx.mpf(2) / 5)) < ctx.mpf(10) ** -39


def test_kernel_phi1_table_values():
    # Phi(1) column of CONVENTIONS section 4
    assert ref.kernel_ref("relu", 1.0, 2, 2, 2, "ck") == pytest.approx(8, rel=1e-14)
    assert ref.kernel_ref("relu", 1.0, 2, 2, 2, "ntk") == pytest.approx(18, rel=1e-14)
    assert ref.kernel_ref("relu", 1.0, 2, 2, 0, "ck") == pytest.approx(2, rel=1e-14)
    assert ref.kernel_ref("relu", 1.0, 2, 2, 0, "ntk") == pytest.approx(6, rel=1e-14)
    assert ref.kernel_ref("erf", 1.0, 2, 2, 0, "ntk") == pytest.approx(4.055668, rel=2e-7)


def test_kernel_depth1_by_hand():
    # depth 1 relu: Sigma^1 = w t + b, q = w + b; CK = w V(Sigma^1; q, q) + b,
    # NTK = CK + w Sigma^1 Vdot(Sigma^1; q, q)
    w, b, t = 1.3, 0.2, 0.4
    s1, q = w * t + b, w + b
    rho = s1 / q
    V = q * (math.sqrt(1 - rho**2) + (math.pi - math.acos(rho)) * rho) / (2 * math.pi)
    Vd = (math.pi - math.acos(rho)) / (2 * math.pi)
    assert ref.kernel_ref("relu", t, 1, w, b, "ck") == pytest.approx(w * V + b, rel=1e-14)
    assert ref.kernel_ref("relu", t, 1, w, b, "ntk") == pytest.approx(w * V + b + w * s1 * Vd, rel=1e-14)


@pytest.mark.parametrize("name", ["relu", "erf", "x3"])
@pytest.mark.parametrize("kernel", ["ck", "ntk"])
def test_kernel_numpy_vs_mp_and_three_argument_form(name, kernel):
    t = np.array([-1.0, -0.6, -0.1, 0.0, 0.35, 0.9, 1.0])
    wv, bv, depth = 1.5, 0.3, 3
    vec = ref.kernel_ref(name, t, depth, wv, bv, kernel)
    ctx = mpctx(40)
    mpv = ref.kernel_ref(name, t, depth, wv, bv, kernel, ctx)
    assert mpv.shape == t.shape
    for a, b in zip(vec, mpv):
        assert abs(a - float(b)) <= 1e-12 * max(1.0, abs(float(b)))
    # three-argument form with unit norms is the one-argument form
    assert np.allclose(ref.kernel_ref3(name, t, 1.0, 1.0, depth, wv, bv, kernel), vec, rtol=1e-15, atol=0)
    # symmetry in (x, y) and the diagonal Phi(q, q, q)
    a = ref.kernel_ref3(name, 0.3, 0.7, 1.4, depth, wv, bv, kernel)
    b = ref.kernel_ref3(name, 0.3, 1.4, 0.7, depth, wv, bv, kernel)
    assert a == pytest.approx(b, rel=1e-14)
    a3 = ref.kernel_ref3(name, "0.3", "0.7", "1.4", depth, wv, bv, kernel, ctx)
    assert abs(float(a3) - a) <= 1e-12 * abs(a)
    diag = ref.kernel_ref3(name, 1.4, 1.4, 1.4, depth, wv, bv, kernel)
    if kernel == "ck":
        # E over the last layer of f(x)^2 for |x|^2/d = 1.4 equals the recursion along the diagonal
        s = wv * 1.4 + bv
        for _ in range(depth):
            s = wv * ref.dual_closed(name, s, s, s) + bv
        assert diag == pytest.approx(s, rel=1e-14)


def _finite_width_kernels(name, X, depth, wv, bv, width, seed):
    """Empirical CK (output covariance over the last layer) and NTK of one random network."""
    rng = np.random.default_rng(seed)
    phi, dphi = ref.activation_np(name), ref.activation_np(name, derivative=True)
    d = X.shape[1]
    sw, sb = math.sqrt(wv), math.sqrt(bv)
    Ws, bs = [], []
    fan_in = d
    for _ in range(depth):
        Ws.append(rng.standard_normal((width, fan_in)))
        bs.append(rng.standard_normal(width))
        fan_in = width
    w_out = rng.standard_normal(fan_in)
    # forward
    acts, pre = [X], []
    a = X
    for l in range(depth):
        h = sw * a @ Ws[l].T / math.sqrt(a.shape[1]) + sb * bs[l]
        pre.append(h)
        a = phi(h)
        acts.append(a)
    n_last = acts[-1].shape[1]
    ck = wv * acts[-1] @ acts[-1].T / n_last + bv
    # backward: delta^l = d f / d h^l, row per input
    ntk = ck.copy()  # output layer weights and bias
    delta = np.broadcast_to(sw * w_out / math.sqrt(n_last), acts[-1].shape) * dphi(pre[-1]) if depth else None
    for l in range(depth - 1, -1, -1):
        a_in = acts[l]
        ntk += (delta @ delta.T) * (wv * a_in @ a_in.T / a_in.shape[1] + bv)
        if l > 0:
            delta = (sw * delta @ Ws[l] / math.sqrt(a_in.shape[1])) * dphi(pre[l - 1])
    return ck, ntk


@pytest.mark.parametrize("name,depth,wv,bv", [("relu", 2, 2.0, 0.5), ("erf", 2, 1.5, 0.3), ("relu", 1, 1.0, 0.2)])
def test_kernel_recursion_vs_wide_network(name, depth, wv, bv):
    # inputs with |x|^2 / d = 1 and several overlaps t
    d = 8
    X = np.array(
        [
            [1, 1, 1, 1, 1, 1, 1, 1],
            [1, 1, 1, 1, 1, 1, -1, -1],  # t = 1/2 with row 0
            [1, -1, 1, -1, 1, -1, 1, -1],  # t = 0
            [-1, -1, -1, -1, -1, -1, 1, -1],  # t = -3/4
        ],
        dtype=float,
    )
    T = X @ X.T / d
    cks, ntks = [], []
    for seed in range(3):
        ck, ntk = _finite_width_kernels(name, X, depth, wv, bv, width=3000, seed=seed)
        cks.append(ck)
        ntks.append(ntk)
    ck, ntk = np.mean(cks, axis=0), np.mean(ntks, axis=0)
    ck_ref = ref.kernel_ref(name, T, depth, wv, bv, "ck")
    ntk_ref = ref.kernel_ref(name, T, depth, wv, bv, "ntk")
    scale_ck, scale_ntk = ck_ref[0, 0], ntk_ref[0, 0]
    # finite-width fluctuations are a few per cent; convention errors (a missing
    # weight_var, bias or derivative term) change the kernels by far more
    assert np.max(np.abs(ck - ck_ref)) < 0.08 * scale_ck, (ck, ck_ref)
    assert np.max(np.abs(ntk - ntk_ref)) < 0.08 * scale_ntk, (ntk, ntk_ref)


# ---------------------------------------------------------------------------
# Walsh-Hadamard transform, Gram matrices, clusters
# ---------------------------------------------------------------------------


def test_fwht_matches_dense_hadamard():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(16)
    H = np.array([[(-1) ** bin(i & j).count("1") for j in range(16)] for i in range(16)], dtype=float)
    assert np.array_equal(H, scipy.linalg.hadamard(16).astype(float))
    a_copy = a.copy()
    out = ref.fwht(a)
    assert np.array_equal(a, a_copy)  # input untouched
    assert np.allclose(out, H @ a, rtol=1e-14, atol=1e-14)
    assert np.allclose(ref.fwht(out), 16 * a, rtol=1e-14, atol=1e-13)
    assert np.array_equal(ref.fwht([3.0]), [3.0])
    with pytest.raises(ValueError):
        ref.fwht(np.ones(12))


def test_popcount_and_cluster():
    assert list(ref.popcount([0, 1, 2, 3, 7, 8, 255])) == [0, 1, 1, 2, 3, 1, 8]
    got = ref.cluster([1.0, 3.0, 1.0 + 1e-13, 2.0, 3.0 - 1e-12, 1.0], rtol=1e-9, atol=1e-12)
    assert [cnt for _, cnt in got] == [2, 1, 3]
    assert got[0][0] == pytest.approx(3.0) and got[2][0] == pytest.approx(1.0)


def _relu_ntk(t):
    return ref.kernel_ref("relu", t, 2, 2.0, 0.5, "ntk")


def test_gram_vs_walsh_relu_ntk_d6():
    d = 6
    gram = ref.gram_cube_eigs(_relu_ntk, d)
    assert gram.shape == (2**d,)
    assert np.all(np.diff(gram) <= 1e-12)  # descending
    coeffs, deg = ref.cube_walsh_eigs(_relu_ntk, d)
    # one value per degree: mu_k
    mu = np.array([coeffs[deg == k].mean() for k in range(d + 1)])
    for k in range(d + 1):
        assert np.allclose(coeffs[deg == k], mu[k], rtol=1e-11, atol=1e-14)
        assert np.count_nonzero(deg == k) == math.comb(d, k)
    # same multiset of eigenvalues
    assert np.allclose(np.sort(coeffs)[::-1], gram, rtol=1e-10, atol=1e-13)
    # clusters of the Gram spectrum: d + 1 distinct values with multiplicities C(d, k)
    clusters = ref.cluster(gram, rtol=1e-8, atol=1e-12)
    assert len(clusters) == d + 1
    for value, count in clusters:
        k = int(np.argmin(np.abs(mu - value)))
        assert value == pytest.approx(mu[k], rel=1e-9)
        assert count == math.comb(d, k)
    # trace rule: sum_k C(d,k) mu_k = E K(x, x) = Phi(1)
    assert sum(math.comb(d, k) * mu[k] for k in range(d + 1)) == pytest.approx(_relu_ntk(1.0), rel=1e-13)


@pytest.mark.parametrize(
    "name,depth,wv,bv,kernel",
    [("relu", 2, 2.0, 0.5, "ntk"), ("relu", 3, 1.0, 1.0, "ck"), ("erf", 2, 3.0, 0.0, "ntk"), ("x3", 1, 1.0, 0.1, "ck")],
)
def test_cube_mu_direct_vs_walsh_d8(name, depth, wv, bv, kernel):
    d = 8
    mus, phi1, ctx = cube_mu_all(name, d, depth, wv, bv, kernel)
    coeffs, deg = ref.cube_walsh_eigs(lambda t: ref.kernel_ref(name, t, depth, wv, bv, kernel), d)
    for k in range(d + 1):
        assert np.allclose(coeffs[deg == k], float(mus[k]), rtol=0, atol=1e-13 * float(phi1)), (k,)
    assert abs(sum(math.comb(d, k) * mus[k] for k in range(d + 1)) - phi1) < ctx.mpf(10) ** -50


def test_cube_mu_direct_precision_independent():
    # the same mu_k at two working precisions agree (cancellation is harmless at dps = 2d + 50)
    d = 24
    a, _, _ = cube_mu_all("erf", d, 3, 2.0, 0.1, "ntk", dps=2 * d + 50)
    b, _, ctx = cube_mu_all("erf", d, 3, 2.0, 0.1, "ntk", dps=2 * d + 90)
    for k in range(d + 1):
        assert abs(ctx.mpf(a[k]) - b[k]) <= ctx.mpf(10) ** -40 * abs(b[k]), k


# ---------------------------------------------------------------------------
# exact polynomial kernels
# ---------------------------------------------------------------------------


def test_exact_poly_monomials():
    d = 9
    for n in range(d + 1):
        coeffs = [0] * n + [1]  # Phi(t) = t^n
        for k in range(d + 1):
            mu = ref.cube_mu_exact_poly(coeffs, d, k)
            assert isinstance(mu, Fraction)
            if k > n or (n - k) % 2:
                assert mu == 0
            if k == n:
                assert mu == Fraction(math.factorial(k), d**k)


def _poly_bruteforce(coeffs, d, k):
    total = Fraction(0)
    for x in itertools.product((1, -1), repeat=d):
        t = Fraction(sum(x), d)
        phi = sum(Fraction(a) * t**n for n, a in enumerate(coeffs))
        chi = math.prod(x[:k])
        total += phi * chi
    return total / 2**d


def test_exact_poly_kernel_three_ways():
    # x2 network of depth 1: Phi(t) = w (2 (w t + b)^2 + (w + b)^2) + b, a quadratic
    w, b = Fraction(3, 2), Fraction(1, 4)
    q = w + b
    coeffs = [w * (2 * b * b + q * q) + b, 4 * w * w * b, 2 * w**3]
    ctx = mpctx(60)
    for t in (Fraction(-1), Fraction(-3, 5), Fraction(0), Fraction(2, 5), Fraction(1)):
        exact = sum(a * t**n for n, a in enumerate(coeffs))
        got = ref.kernel_ref("x2", t, 1, w, b, "ck", ctx)
        assert abs(got - ctx.mpf(exact.numerator) / exact.denominator) < ctx.mpf(10) ** -55
    d = 5
    phis = [ctx.mpf(x.numerator) / x.denominator for x in (
        sum(a * Fraction(d - 2 * j, d) ** n for n, a in enumerate(coeffs)) for j in range(d + 1)
    )]
    for k in range(d + 1):
        exact = ref.cube_mu_exact_poly(coeffs, d, k)
        assert exact == _poly_bruteforce(coeffs, d, k)
        direct = ref.cube_mu_direct(phis, d, k, ctx)
        assert abs(direct - ctx.mpf(exact.numerator) / exact.denominator) < ctx.mpf(10) ** -55
        if k > 2:
            assert exact == 0


# ---------------------------------------------------------------------------
# structural facts and public values (CONVENTIONS sections 3 and 4)
# ---------------------------------------------------------------------------


def test_parity_zeros_are_exact():
    d = 10
    mus, _, _ = cube_mu_all("erf", d, 2, 2.0, 0, "ntk")
    assert all(mus[k] == 0 for k in range(0, d + 1, 2))
    assert all(mus[k] > 0 for k in range(1, d + 1, 2))
    mus, _, _ = cube_mu_all("x2", d, 2, 1.0, 0, "ck")  # even Phi
    assert all(mus[k] == 0 for k in range(1, d + 1, 2))


@pytest.mark.parametrize("name,bv", [("relu", 0.3), ("erf", 0.0), ("erf", 1.0)])
def test_weak_spectral_simplicity_bias(name, bv):
    d = 9
    mus, _, _ = cube_mu_all(name, d, 3, 2.0, bv, "ck")
    for k in range(d - 1):
        assert mus[k] >= mus[k + 2]


SEC4_D7 = {
    "ck": [6.710258, 0.1485453, 9.328551e-3, 1.059299e-3],
    "ntk": [11.28443, 0.5984509, 6.405307e-2, 1.705928e-2],
}


@pytest.mark.parametrize("kernel", ["ck", "ntk"])
def test_public_values_d7(kernel):
    d = 7
    table = SEC4_D7[kernel]
    mus, phi1, _ = cube_mu_all("relu", d, 2, 2, 2, kernel)
    assert phi1 == {"ck": 8, "ntk": 18}[kernel]
    for k in range(4):
        assert float(mus[k]) == pytest.approx(table[k], rel=1e-6)
    gram = ref.gram_cube_eigs(lambda t: ref.kernel_ref("relu", t, 2, 2, 2, kernel), d)
    clusters = ref.cluster(gram, rtol=1e-8, atol=1e-12)
    assert len(clusters) == d + 1
    for k in range(4):
        match = [cnt for val, cnt in clusters if val == pytest.approx(table[k], rel=1e-6)]
        assert match == [math.comb(d, k)]
    if kernel == "ck":
        assert float(mus[0] / phi1) == pytest.approx(0.838782, rel=1e-6)


@pytest.mark.parametrize(
    "name,kernel,phi1,table",
    [
        ("relu", "ck", 2, [0.9896237, 4.722547e-3, 3.386542e-5, 1.693449e-7]),
        ("relu", "ntk", 6, [1.381078, 1.503825e-2, 1.516146e-4, 1.075173e-6]),
        ("erf", "ntk", 4.055668, [0, 1.822389e-2, 0, 2.213144e-6]),
    ],
)
def test_public_values_d128(name, kernel, phi1, table):
    d = 128
    ctx = mpctx(2 * d + 50)
    phis = ref.cube_phi_values(name, d, 2, 2, 0, kernel, ctx)
    assert float(phis[0]) == pytest.approx(phi1, rel=2e-7)
    for k in range(4):
        mu = ref.cube_mu_direct(phis, d, k, ctx)
        if table[k] == 0:
            assert mu == 0
        else:
            assert float(mu) == pytest.approx(table[k], rel=1e-6)


def test_public_values_erf_white_noise_d7():
    d = 7
    mus, phi1, _ = cube_mu_all("erf", d, 32, 4, 0, "ck")
    normalised = [float(m / phi1) for m in mus]
    for k, expected in zip((1, 3, 5, 7), (0.01629, 0.01556, 0.01551, 0.01549)):
        assert normalised[k] == pytest.approx(expected, abs=5.1e-6)
    assert all(normalised[k] == 0 for k in (0, 2, 4, 6))
    assert sum(math.comb(d, k) * normalised[k] for k in range(d + 1)) == pytest.approx(1, rel=1e-14)
