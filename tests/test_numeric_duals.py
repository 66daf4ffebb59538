"""Numerical dual activations (spectra.numeric) against references that share no code with it.

* An independent nested quadrature written here: E[f(u) g(v)] with u = √q₁ z₁,
  v = m z₁ + s z₂ (m = c/√q₁, s = √((q₁q₂ − c²)/q₁)), each Gaussian integral by the tanh-sinh
  rule in the probability variable p = Φ(z) (dp = γ(z) dz, so the Gaussian weight disappears
  and the tails become mild endpoint singularities, which tanh-sinh handles), in a private
  ``mpmath.MPContext``, the line split at the kinks (outer: κ/√q₁ and κ/m). The inner integral is
  the same rule for analytic φ and, for piecewise-elementary φ (elu, selu, hard-tanh, the
  Piecewise expression), the closed form of E[φ(μ + sZ)] over each piece (truncated normal
  moments, shifted Gaussian masses), so that no kink moves through an inner rule. Each value
  comes with the change from the rule of twice the step (a subset of the nodes): tanh-sinh
  converges doubly exponentially, so that change bounds the square root of the error.
* The layer recursion of CONVENTIONS §1 on top of it (network kernels to 28 digits).
* Monte Carlo with a seeded generator; closed forms (relu, abs, step; Isserlis moments);
  Walsh–Hadamard / Gram matrices on the cube; a Gauss–Legendre Funk–Hecke projection on the
  sphere.
"""
import functools
import itertools
import math
from fractions import Fraction
from types import SimpleNamespace

import mpmath
import numpy as np
import pytest
import reference as ref
import scipy.special

import spectra
from spectra import Architecture
from spectra.numeric import from_callable
from spectra.precision import MpOps, NumpyOps

# ---------------------------------------------------------------------------------------
# independent reference: tanh-sinh in the probability variable, in a private mpmath context
# ---------------------------------------------------------------------------------------


def _num(ctx, v):
    if callable(v):
        return v(ctx)
    if isinstance(v, Fraction):
        return ctx.mpf(v.numerator) / v.denominator
    return ctx.mpf(v)


class _Smooth:
    """An analytic φ given as ``fn(x, ctx)`` (computing in ctx). ``growth`` = g > 0 says that
    φ(x) grows like e^{gx} (exp): the Gaussian rules are then centred on the peak of the
    integrand (completing the square, see :meth:`_GaussRef.shift_rule`)."""

    def __init__(self, fn, growth=0):
        self.fn = fn
        self.growth = growth

    def __call__(self, x, ctx):
        return self.fn(x, ctx)

    def kinks(self, ctx):
        return []


class _Pieces:
    """φ(x) = Σ_k p_k x^k + Σ a e^{λx} (any degree k) on consecutive pieces: ``[(hi, poly, exps), …]``
    with increasing right ends ``hi`` (the last one None, i.e. +∞)."""

    def __init__(self, spec):
        self.spec = spec
        self._cache = {}

    def pieces(self, ctx):
        key = id(ctx)
        if key not in self._cache:
            out, lo = [], -ctx.inf
            for hi, poly, exps in self.spec:
                hi = ctx.inf if hi is None else _num(ctx, hi)
                out.append((lo, hi, [_num(ctx, p) for p in poly], [(_num(ctx, a), _num(ctx, b)) for a, b in exps]))
                lo = hi
            self._cache[key] = (ctx, out)
        return self._cache[key][1]

    def kinks(self, ctx):
        return [p[1] for p in self.pieces(ctx)[:-1]]

    def __call__(self, x, ctx):
        for _, hi, poly, exps in self.pieces(ctx):
            if x <= hi:
                return ctx.fsum([p * x**k for k, p in enumerate(poly)] + [a * ctx.exp(lam * x) for a, lam in exps])
        raise AssertionError(x)


class _GaussRef:
    """Gaussian expectations at ``dps`` digits by tanh-sinh with step 1/n in p = Φ(z)."""

    def __init__(self, dps, n):
        self.ctx = ctx = mpmath.MPContext()
        ctx.dps = dps
        self.h = ctx.mpf(1) / n
        self.tiny = ctx.mpf(10) ** -(dps + 10)
        self.sqrt2 = ctx.sqrt(2)
        self.inv_sqrt2pi = 1 / ctx.sqrt(2 * ctx.pi)
        self._std = None

    def cdf(self, z):
        ctx = self.ctx
        if ctx.isinf(z):
            return ctx.one if z > 0 else ctx.zero
        return ctx.erfc(-z / self.sqrt2) / 2

    def pdf(self, z):
        ctx = self.ctx
        return ctx.zero if ctx.isinf(z) else ctx.exp(-z * z / 2) * self.inv_sqrt2pi

    def mass(self, a, b):
        """Φ(b) − Φ(a) without cancellation."""
        return self.cdf(-a) - self.cdf(-b) if a >= 0 else self.cdf(b) - self.cdf(a)

    def cdf_inv(self, p):
        """Φ⁻¹(p) for 0 < p ≤ 1/2: Newton from the float64 value (quadratic convergence)."""
        ctx = self.ctx
        z = ctx.mpf(float(scipy.special.ndtri(float(p))))
        tol = 4 * ctx.sqrt(ctx.eps)
        for _ in range(10):
            dz = (self.cdf(z) - p) / self.pdf(z)
            z -= dz
            if abs(dz) <= tol * (1 + abs(z)):
                return z
        raise RuntimeError("Φ⁻¹ did not converge")

    def rule(self, cuts):
        """(z, w, coarse) with Σ w F(z) ≈ E F(Z) on the pieces between the ``cuts``; the rule of
        step 2h is the nodes flagged ``coarse`` with weights 2w."""
        ctx = self.ctx
        pts = [-ctx.inf, *sorted(set(cuts)), ctx.inf]
        half_pi = ctx.pi / 2
        zs, ws, coarse = [], [], []
        for a, b in itertools.pairwise(pts):
            lo, hi_c, width = self.cdf(a), self.cdf(-b), self.mass(a, b)
            k = 0
            while True:
                alive = False
                for kk in (0,) if k == 0 else (k, -k):
                    t = kk * self.h
                    v = half_pi * ctx.sinh(t)
                    e = ctx.exp(-2 * abs(v))
                    big, small = 1 / (1 + e), e / (1 + e)
                    sp, sm = (big, small) if v >= 0 else (small, big)
                    w = width * 2 * sp * sm * half_pi * ctx.cosh(t) * self.h
                    if w < self.tiny:
                        continue
                    alive = True
                    p, pc = lo + width * sp, hi_c + width * sm  # p and 1 − p, both accurately
                    zs.append(self.cdf_inv(p) if p <= pc else -self.cdf_inv(pc))
                    ws.append(w)
                    coarse.append(kk % 2 == 0)
                if not alive and k > 0:
                    break
                k += 1
        return zs, ws, coarse

    def std_rule(self):
        if self._std is None:
            self._std = self.rule([])
        return self._std

    def shift_rule(self, rule, a):
        """The rule ``(z, w, coarse)`` moved to centre a, by completing the square:
        E F(Z) = E[F(Z + a) e^{−aZ − a²/2}], nodes z + a, weights w e^{−az − a²/2}.
        For F(z) = e^{kz} and a = k the new integrand is constant: a Gaussian-weighted
        integrand whose mass lies far from the origin (exp at large variance) is integrated
        where it lives instead of in the far tail of the standard rule."""
        if a == 0:
            return rule
        ctx = self.ctx
        zs, ws, co = rule
        a = ctx.mpf(a)
        return [z + a for z in zs], [w * ctx.exp(-a * z - a * a / 2) for z, w in zip(zs, ws)], co

    def piece_mean(self, pcs, mu, s):
        """E[φ(μ + sZ)] for piecewise-elementary φ, in closed form."""
        ctx = self.ctx
        terms = []
        for lo, hi, poly, exps in pcs:
            al = -ctx.inf if ctx.isinf(lo) else (lo - mu) / s
            be = ctx.inf if ctx.isinf(hi) else (hi - mu) / s
            if poly:
                # truncated moments M_j = E[Z^j; α < Z < β]: M₀ = Φ(β) − Φ(α), M₁ = γ(α) − γ(β),
                # M_j = (j − 1) M_{j−2} + α^{j−1} γ(α) − β^{j−1} γ(β) (integration by parts)
                ga, gb = self.pdf(al), self.pdf(be)
                M = [self.mass(al, be), ga - gb]
                for j in range(2, len(poly)):
                    M.append((j - 1) * M[j - 2] + (0 if ctx.isinf(al) else al ** (j - 1) * ga)
                             - (0 if ctx.isinf(be) else be ** (j - 1) * gb))
                # E[(μ + sZ)^k; piece] = Σ_j C(k, j) μ^{k−j} s^j M_j
                for k, p in enumerate(poly):
                    if p:
                        terms.append(p * ctx.fsum(math.comb(k, j) * mu ** (k - j) * s**j * M[j] for j in range(k + 1)))
            for a, lam in exps:  # E[e^{λ(μ+sZ)}; α < Z < β] = e^{λμ + λ²s²/2} (Φ(β − λs) − Φ(α − λs))
                sh = lam * s
                terms.append(a * ctx.exp(lam * mu + sh * sh / 2) * self.mass(al - sh, be - sh))
        return ctx.fsum(terms)

    def expect1(self, f, q):
        """(fine, coarse) of E[f(√q Z)²]."""
        ctx = self.ctx
        sq = ctx.sqrt(q)
        zs, ws, co = self.shift_rule(self.rule([k / sq for k in f.kinks(ctx)]), 2 * getattr(f, "growth", 0) * sq)
        vals = [w * f(sq * z, ctx) ** 2 for z, w in zip(zs, ws)]
        return ctx.fsum(vals), 2 * ctx.fsum(v for v, c in zip(vals, co) if c)

    def expect2(self, f, c, q1, q2):
        """(fine, coarse) of E[f(u) f(v)], Var u = q1, Var v = q2, Cov(u, v) = c."""
        ctx = self.ctx
        sq1 = ctx.sqrt(q1)
        m = c / sq1
        s = ctx.sqrt((q1 * q2 - c * c) / q1)
        fine, coarse = [], []
        if isinstance(f, _Pieces):
            pcs = f.pieces(ctx)
            cuts = [k / sq1 for k in f.kinks(ctx)] + ([k / m for k in f.kinks(ctx)] if m != 0 else [])
            zs, ws, co = self.rule(cuts)
            for z, w, cflag in zip(zs, ws, co):
                val = w * f(sq1 * z, ctx) * self.piece_mean(pcs, m * z, s)
                fine.append(val)
                if cflag:
                    coarse.append(2 * val)
            return ctx.fsum(fine), ctx.fsum(coarse)
        # e^{g u} e^{g v}: the outer integrand peaks at z₁ = g(√q₁ + m), the inner at z₂ = g s
        g = getattr(f, "growth", 0)
        zs, ws, co = self.shift_rule(self.std_rule(), g * (sq1 + m))
        z2, w2, co2 = self.shift_rule(self.std_rule(), g * s)
        sz = [s * z for z in z2]
        sz_c = [y for y, cflag in zip(sz, co2) if cflag]
        w_c = [2 * w for w, cflag in zip(w2, co2) if cflag]
        for z, w, cflag in zip(zs, ws, co):
            mz, fz = m * z, f(sq1 * z, ctx)
            fine.append(w * fz * ctx.fdot(w2, [f(mz + y, ctx) for y in sz]))
            if cflag:
                coarse.append(2 * w * fz * ctx.fdot(w_c, [f(mz + y, ctx) for y in sz_c]))
        return ctx.fsum(fine), ctx.fsum(coarse)


@functools.cache
def _engine(dps, n):
    return _GaussRef(dps, n)


# -- the activations, written independently of spectra (φ and φ') ------------------------


def _sig(x, ctx):
    return 1 / (1 + ctx.exp(-x))


def _mish_parts(x, ctx):
    e = ctx.exp(x)
    n = e * (e + 2)
    return n / (n + 2), e / (1 + e)  # tanh(softplus x) = ((1+e)² − 1)/((1+e)² + 1), sigmoid x


def _dmish(x, ctx):
    th, sg = _mish_parts(x, ctx)
    return th + x * (1 - th * th) * sg


_SELU_L = "1.0507009873554804934193349852946"
_SELU_A = "1.6732632423543772848170429916717"


def _selu_la(ctx):
    return ctx.mpf(_SELU_L) * ctx.mpf(_SELU_A)


# expr with a Piecewise: C¹ at 0, a kink at −1, three kinds of piece (linear, quadratic, exponential)
EXPR_PW = "expr:Piecewise((x, x > 0), (x**2/2 + x, x > -1), (exp(x + 1)/2 - 1, True))"

# polynomial pieces of degree 1, 2, 3; C¹ at 0, a kink at −1
EXPR_POLY3 = "expr:Piecewise((x**3 + x, x > 0), (x**2/2 + x, x > -1), (-x/2 - 1, True))"

REF_ACTS = {
    "tanh": (_Smooth(lambda x, ctx: ctx.tanh(x)), _Smooth(lambda x, ctx: 1 - ctx.tanh(x) ** 2)),
    "sigmoid": (_Smooth(_sig), _Smooth(lambda x, ctx: _sig(x, ctx) * (1 - _sig(x, ctx)))),
    "softplus": (_Smooth(lambda x, ctx: ctx.log1p(ctx.exp(x))), _Smooth(_sig)),
    "silu": (_Smooth(lambda x, ctx: x * _sig(x, ctx)),
             _Smooth(lambda x, ctx: _sig(x, ctx) * (1 + x * (1 - _sig(x, ctx))))),
    "mish": (_Smooth(lambda x, ctx: x * _mish_parts(x, ctx)[0]), _Smooth(_dmish)),
    "elu": (_Pieces([(0, [-1], [(1, 1)]), (None, [0, 1], [])]),
            _Pieces([(0, [], [(1, 1)]), (None, [1], [])])),
    "selu": (_Pieces([(0, [lambda c: -_selu_la(c)], [(_selu_la, 1)]), (None, [0, _SELU_L], [])]),
             _Pieces([(0, [], [(_selu_la, 1)]), (None, [_SELU_L], [])])),
    "hardtanh": (_Pieces([(-1, [-1], []), (1, [0, 1], []), (None, [1], [])]),
                 _Pieces([(-1, [0], []), (1, [1], []), (None, [0], [])])),
    # closed form in spectra (the Gaussian MGF); here only as the case whose integrand lives far
    # from the origin (exp at depth 3: variances ~1e48), which the reference's shifted rules handle
    "exp": (_Smooth(lambda x, ctx: ctx.exp(x), growth=1), _Smooth(lambda x, ctx: ctx.exp(x), growth=1)),
    # closed form in spectra (Cho & Saul's J₃); here as cubic pieces integrated in closed form
    "relu3": (_Pieces([(0, [0], []), (None, [0, 0, 0, 1], [])]), _Pieces([(0, [0], []), (None, [0, 0, 3], [])])),
    EXPR_PW: (_Pieces([(-1, [-1], [(lambda c: c.e / 2, 1)]), (0, [0, 1, Fraction(1, 2)], []),
                       (None, [0, 1], [])]),
              _Pieces([(-1, [], [(lambda c: c.e / 2, 1)]), (0, [1, 1], []), (None, [1], [])])),
    # polynomial on every piece, degrees 1..3 (spectra integrates the inner line in closed form)
    EXPR_POLY3: (_Pieces([(-1, [-1, Fraction(-1, 2)], []), (0, [0, 1, Fraction(1, 2)], []), (None, [0, 1, 0, 1], [])]),
                 _Pieces([(-1, [Fraction(-1, 2)], []), (0, [1, 1], []), (None, [1, 0, 3], [])])),
}


@functools.cache
def ref_duals(name, c, q1, q2, dps, n):
    """(V, V', scale of V, scale of V') by the reference; inputs as floats (their binary value)
    or Fractions; asserts that the rule converged (fine − coarse ≤ 10^(−dps/2 + 4) × scale)."""
    R = _engine(dps, n)
    ctx = R.ctx
    c, q1, q2 = (_num(ctx, v) for v in (c, q1, q2))
    out = []
    for f in REF_ACTS[name]:
        e1, e1c = R.expect1(f, q1)
        e2, e2c = R.expect1(f, q2)
        scale = ctx.sqrt(e1 * e2)
        val, coarse = R.expect2(f, c, q1, q2)
        tol = ctx.mpf(10) ** (-(dps // 2 - 4))
        assert abs(val - coarse) <= tol * scale, (name, val, coarse)
        assert abs(e1 - e1c) <= tol * e1 and abs(e2 - e2c) <= tol * e2
        out.append((val, scale))
    (V, sV), (D, sD) = out
    return V, D, sV, sD


def _scalar(x):
    return np.ravel(np.asarray(x, dtype=object))[0]


def test_reference_quadrature_against_closed_forms():
    """The reference itself, at 40 digits: both inner routes against closed forms
    (sin: E[sin u sin v] = e^{−(q₁+q₂)/2} sinh c; relu (a kink) and x² split at 0 (closed-form
    pieces): reference.dual_closed, Isserlis)."""
    R = _engine(40, 24)
    ctx = R.ctx
    c, q1, q2 = (ctx.mpf(v) for v in MP_POINT)
    tol = ctx.mpf(10) ** -36
    val, coarse = R.expect2(_Smooth(lambda x, ctx: ctx.sin(x)), c, q1, q2)
    assert abs(val - ctx.exp(-(q1 + q2) / 2) * ctx.sinh(c)) <= tol and abs(val - coarse) <= ctx.mpf(10) ** -16
    relu = _Pieces([(0, [0], []), (None, [0, 1], [])])
    val, _ = R.expect2(relu, c, q1, q2)
    assert abs(val - ref.dual_closed("relu", c, q1, q2, ctx)) <= tol
    square = _Pieces([(0, [0, 0, 1], []), (None, [0, 0, 1], [])])
    val, _ = R.expect2(square, c, q1, q2)
    assert abs(val - (q1 * q2 + 2 * c * c)) <= tol
    e, _ = R.expect1(relu, q1)
    assert abs(e - q1 / 2) <= tol
    # degree 3 and 4 pieces (truncated moments by recursion): x³ split at 0, and x²·x² = x⁴ moments
    cube = _Pieces([(0, [0, 0, 0, 1], []), (None, [0, 0, 0, 1], [])])
    val, _ = R.expect2(cube, c, q1, q2)
    assert abs(val - (9 * c * q1 * q2 + 6 * c**3)) <= tol  # Isserlis: E[u³v³]
    quartic = _Pieces([(0, [0, 0, 0, 0, 1], []), (None, [0, 0, 0, 0, 1], [])])
    e, _ = R.expect1(quartic, q1)
    assert abs(e - 105 * q1**4) <= tol * 105 * q1**4  # E z⁸ = 7!! = 105


# ---------------------------------------------------------------------------------------
# 1. duals against the reference quadrature: 30 digits, and float64 for every built-in
# ---------------------------------------------------------------------------------------

MP_POINT = (0.4, 1.1, 0.9)


@pytest.mark.parametrize("name", ["tanh", "elu", "hardtanh", EXPR_PW])
def test_duals_30_digits(name):
    ctx = _engine(40, 24).ctx
    V, D, sV, sD = ref_duals(name, *MP_POINT, 40, 24)
    got_V, got_D = spectra.get_activation(name).duals(*MP_POINT, MpOps(110))
    got_V, got_D = ctx.mpf(_scalar(got_V)), ctx.mpf(_scalar(got_D))
    assert abs(got_V - V) <= ctx.mpf(10) ** -30 * sV, (name, got_V, V)
    assert abs(got_D - D) <= ctx.mpf(10) ** -30 * sD, (name, got_D, D)


_NEAR_DIAG = (0.999 * math.sqrt(1.3 * 0.7), 1.3, 0.7)


@pytest.mark.parametrize("name,point", [("hardtanh", _NEAR_DIAG), ("hardtanh", (0.25, 5.0, 3.0)),
                                        (EXPR_POLY3, _NEAR_DIAG), (EXPR_POLY3, (-0.6, 2.0, 0.5))])
def test_polynomial_pieces_30_digits_and_double(name, point):
    """Activations that are polynomials on every piece (hard-tanh; a degree-3 Piecewise): spectra
    integrates their inner line in closed form (truncated normal moments); against the reference
    at 30 digits and in float64, also near the diagonal (ρ = 0.999), at ρ < 0 and at large q."""
    # the reference's step: finer near ρ = 1 (smoothed kinks); n = 24 leaves 1e-24 at (0.25, 5, 3)
    n = 192 if point[0] ** 2 > 0.99 * point[1] * point[2] else 96
    ctx = _engine(40, n).ctx
    V, D, sV, sD = ref_duals(name, *point, 40, n)
    act = spectra.get_activation(name)
    got_V, got_D = act.duals(*point, MpOps(110))
    assert abs(ctx.mpf(_scalar(got_V)) - V) <= ctx.mpf(10) ** -30 * sV, (name, point, got_V, V)
    assert abs(ctx.mpf(_scalar(got_D)) - D) <= ctx.mpf(10) ** -30 * sD, (name, point, got_D, D)
    got_V, got_D = act.duals(*point, NumpyOps())
    assert abs(float(got_V) - float(V)) <= 1e-13 * float(sV), (name, point, got_V, V)
    assert abs(float(got_D) - float(D)) <= 1e-13 * float(sD), (name, point, got_D, D)


NUMERIC_NAMES = ["tanh", "sigmoid", "softplus", "silu", "elu", "selu", "mish", "hardtanh"]
# |ρ| = 0.999 with q1 ≠ q2 (where the Mehler series gives way to the 2-D rule), and ρ < 0
DOUBLE_POINTS = [(0.999 * math.sqrt(1.3 * 0.7), 1.3, 0.7), (-0.6, 2.0, 0.5)]


@pytest.mark.parametrize("name", NUMERIC_NAMES)
def test_duals_float64_every_builtin(name):
    act = spectra.get_activation(name)
    assert not act.closed_form and act.exact is None
    c = np.array([p[0] for p in DOUBLE_POINTS])
    q1 = np.array([p[1] for p in DOUBLE_POINTS])
    q2 = np.array([p[2] for p in DOUBLE_POINTS])
    got_V, got_D = act.duals(c, q1, q2, NumpyOps())
    for i, point in enumerate(DOUBLE_POINTS):
        V, D, sV, sD = ref_duals(name, *point, 20, 16)
        assert abs(got_V[i] - float(V)) <= 1e-13 * float(sV), (name, point, got_V[i], V)
        assert abs(got_D[i] - float(D)) <= 1e-13 * float(sD), (name, point, got_D[i], D)


def test_swish_is_silu():
    point = DOUBLE_POINTS[1]
    a, b = spectra.get_activation("swish"), spectra.get_activation("silu")
    assert a is b or a.name == b.name
    V, D, sV, sD = ref_duals("silu", *point, 20, 16)
    got_V, got_D = a.duals(*point, NumpyOps())
    assert abs(float(got_V) - float(V)) <= 1e-13 * float(sV)
    assert abs(float(got_D) - float(D)) <= 1e-13 * float(sD)


# ---------------------------------------------------------------------------------------
# 2. network kernels: CONVENTIONS §1 layer recursion on top of the reference quadrature
# ---------------------------------------------------------------------------------------

NET_W, NET_B, NET_T, NET_DEPTH = Fraction(3, 2), Fraction(3, 10), Fraction(1, 2), 3


@functools.cache
def ref_network(name, depth, dps=40, n=24):
    """(CK, NTK) at t = NET_T: Σ¹ = σw² t + σb², q¹ = σw² + σb², Θ¹ = Σ¹;
    Σ^{l+1} = σw² V(Σ^l; q^l, q^l) + σb², q^{l+1} = σw² E[φ(√q^l z)²] + σb²,
    Θ^{l+1} = Σ^{l+1} + σw² Θ^l V'(Σ^l; q^l, q^l)."""
    R = _engine(dps, n)
    ctx = R.ctx
    f, df = REF_ACTS[name]
    w, b = _num(ctx, NET_W), _num(ctx, NET_B)
    sigma = w * _num(ctx, NET_T) + b
    q = w + b
    theta = sigma
    tol = ctx.mpf(10) ** (-(dps // 2 - 4))
    for _ in range(depth):
        V, Vc = R.expect2(f, sigma, q, q)
        D, Dc = R.expect2(df, sigma, q, q)
        E, Ec = R.expect1(f, q)
        assert abs(V - Vc) <= tol * E and abs(E - Ec) <= tol * E and abs(D - Dc) <= tol * abs(D) + tol
        sigma, theta, q = w * V + b, w * V + b + w * theta * D, w * E + b
    return sigma, theta


@pytest.mark.parametrize("name", ["tanh", "elu"])
@pytest.mark.parametrize("kern", ["ck", "ntk"])
def test_network_kernel_30_digits(name, kern):
    ck, ntk = ref_network(name, NET_DEPTH)
    want = ck if kern == "ck" else ntk
    ctx = _engine(40, 24).ctx
    got = spectra.kernel(Architecture(name, NET_DEPTH, "3/2", "3/10"), float(NET_T), kern, precision=30)
    got = ctx.mpf(_scalar(got))
    assert abs(got - want) <= ctx.mpf(10) ** -28 * abs(want), (name, kern, got, want)


def test_reference_centres_exp_on_its_peak():
    """The reference's rules moved onto the peak of e^u e^v γ γ (completing the square) against
    the Gaussian moment generating function E[e^{u+v}] = e^{(q₁+q₂)/2 + c}, for variances where
    the unshifted rule misses the mass (peak at z ≈ 2√q, far in the tail)."""
    R = _engine(40, 24)
    ctx = R.ctx
    f = REF_ACTS["exp"][0]
    plain = _Smooth(f.fn)
    for q1, q2, c in [(60, 55, 20), (400, 300, -100), (3, 2, 2)]:
        q1, q2, c = ctx.mpf(q1), ctx.mpf(q2), ctx.mpf(c)
        want = ctx.exp((q1 + q2) / 2 + c)
        val, coarse = R.expect2(f, c, q1, q2)
        assert abs(val - want) <= ctx.mpf(10) ** -36 * want and abs(val - coarse) <= ctx.mpf(10) ** -16 * want
        e, _ = R.expect1(f, q1)
        assert abs(e - ctx.exp(2 * q1)) <= ctx.mpf(10) ** -36 * e
    # the standard rule alone cannot: the shift is what makes it work at q = 400
    val, _ = R.expect2(plain, ctx.mpf(-100), ctx.mpf(400), ctx.mpf(300))
    assert abs(val - ctx.exp(250)) > ctx.mpf(10) ** -3 * ctx.exp(250)


@pytest.mark.parametrize("kern", ["ck", "ntk"])
def test_exp_network_depth_3_30_digits(kern):
    """exp at depth 3: Φ ≈ e^{q³} with q³ ≈ 1e48 (far beyond float64), so the reference runs at
    100 digits (the relative condition of e^x is x); spectra's 30 digits against it."""
    ck, ntk = ref_network("exp", 3, dps=100, n=24)
    want = ck if kern == "ck" else ntk
    ctx = _engine(100, 24).ctx
    got = spectra.kernel(Architecture("exp", 3, "3/2", "3/10"), float(NET_T), kern, precision=30)
    got = ctx.mpf(_scalar(got))
    assert want > ctx.mpf(10) ** 10**47  # the case the test is about: Φ far beyond float64
    assert abs(got - want) <= ctx.mpf(10) ** -29 * abs(want), (kern, got, want)


@pytest.mark.parametrize("kern", ["ck", "ntk"])
def test_relu3_network_depth_3(kern):
    """relu3 (arc-cosine kernel of order 3) at depth 3: double to 1e-12 and 30 digits against the
    reference's cubic pieces (truncated normal moments on the inner line)."""
    ck, ntk = ref_network("relu3", 3)
    want = ck if kern == "ck" else ntk
    ctx = _engine(40, 24).ctx
    arch = Architecture("relu3", 3, "3/2", "3/10")
    got = ctx.mpf(_scalar(spectra.kernel(arch, float(NET_T), kern, precision=30)))
    assert abs(got - want) <= ctx.mpf(10) ** -30 * abs(want), (kern, got, want)
    got = float(_scalar(spectra.kernel(arch, float(NET_T), kern)))
    assert abs(got - float(want)) <= 1e-12 * float(want), (kern, got, want)


def test_exp_ck_depth_2_double():
    """exp's CK at depth 2 (Φ ~ 1e35, still a float64) in double against the reference."""
    ck, _ = ref_network("exp", 2, dps=50, n=24)
    got = float(_scalar(spectra.kernel(Architecture("exp", 2, "3/2", "3/10"), float(NET_T), "ck")))
    assert abs(got - float(ck)) <= 1e-12 * float(ck), (got, ck)


# ---------------------------------------------------------------------------------------
# 3. Monte Carlo
# ---------------------------------------------------------------------------------------


def _np_selu(x):
    lam, alpha = float(_SELU_L), float(_SELU_A)
    return lam * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _np_dselu(x):
    lam, alpha = float(_SELU_L), float(_SELU_A)
    return lam * np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0)))


def _np_mish(x):
    return x * np.tanh(np.logaddexp(0, x))


def _np_dmish(x):
    th = np.tanh(np.logaddexp(0, x))
    return th + x * (1 - th * th) * scipy.special.expit(x)


NP_ACTS = {
    "sigmoid": (scipy.special.expit, lambda x: scipy.special.expit(x) * scipy.special.expit(-x)),
    "softplus": (lambda x: np.logaddexp(0, x), scipy.special.expit),
    "silu": (lambda x: x * scipy.special.expit(x),
             lambda x: scipy.special.expit(x) * (1 + x * scipy.special.expit(-x))),
    "selu": (_np_selu, _np_dselu),
    "mish": (_np_mish, _np_dmish),
}
MC_POINT = (0.5, 1.2, 0.8)


@functools.lru_cache(maxsize=1)
def _mc_samples(n=10**6, seed=20240607):
    c, q1, q2 = MC_POINT
    z = np.random.default_rng(seed).standard_normal((2, n))
    m, s = c / math.sqrt(q1), math.sqrt((q1 * q2 - c * c) / q1)
    return math.sqrt(q1) * z[0], m * z[0] + s * z[1]


@pytest.mark.parametrize("name", list(NP_ACTS))
def test_monte_carlo(name):
    u, v = _mc_samples()
    got = spectra.get_activation(name).duals(*MC_POINT, NumpyOps())
    for fn, value in zip(NP_ACTS[name], got):
        x = fn(u) * fn(v)
        se = x.std() / math.sqrt(x.size)
        assert abs(float(value) - x.mean()) <= 5 * se, (name, float(value), x.mean(), se)


# ---------------------------------------------------------------------------------------
# 4. special cases: closed forms through the expression route; callables; no NTK
# ---------------------------------------------------------------------------------------

SPECIAL_POINTS = [(0.4, 1.1, 0.9), (-0.3, 2.0, 0.5), (0.999 * math.sqrt(1.3 * 0.7), 1.3, 0.7)]


def _relu_closed(c, q1, q2, ctx):
    return ref.dual_closed("relu", c, q1, q2, ctx), ref.ddual_closed("relu", c, q1, q2, ctx)


def _abs_closed(c, q1, q2, ctx):
    """E|u||v| = (2/π)(√(q₁q₂ − c²) + c asin ρ); E[sign u sign v] = (2/π) asin ρ."""
    c, q1, q2 = (ref.to_ctx(ctx, v) for v in (c, q1, q2))
    rho = c / ctx.sqrt(q1 * q2)
    return 2 / ctx.pi * (ctx.sqrt(q1 * q2 - c * c) + c * ctx.asin(rho)), 2 / ctx.pi * ctx.asin(rho)


@pytest.mark.parametrize("expr,closed,formula", [("expr:Max(0, x)", "relu", _relu_closed),
                                                 ("expr:Abs(x)", "abs", _abs_closed)])
def test_expression_equals_closed_form(expr, closed, formula):
    act, cf = spectra.get_activation(expr), spectra.get_activation(closed)
    assert not act.closed_form and cf.closed_form
    ctx = mpmath.MPContext()
    ctx.dps = 40
    c = np.array([p[0] for p in SPECIAL_POINTS])
    q1 = np.array([p[1] for p in SPECIAL_POINTS])
    q2 = np.array([p[2] for p in SPECIAL_POINTS])
    got = act.duals(c, q1, q2, NumpyOps())
    lib = cf.duals(c, q1, q2, NumpyOps()) if cf.duals else (cf.dual(c, q1, q2, NumpyOps()),
                                                             cf.ddual(c, q1, q2, NumpyOps()))
    for i, point in enumerate(SPECIAL_POINTS):
        scale = (math.sqrt(point[1] * point[2]), 1.0)
        for j, want in enumerate(formula(*point, ctx)):
            assert abs(got[j][i] - float(want)) <= 1e-13 * scale[j], (expr, point, j, got[j][i], want)
            assert abs(got[j][i] - lib[j][i]) <= 1e-13 * scale[j]
    # 30 digits
    point = SPECIAL_POINTS[0]
    got = act.duals(*point, MpOps(110))
    scale = (math.sqrt(point[1] * point[2]), 1.0)
    for j, want in enumerate(formula(*point, ctx)):
        assert abs(ctx.mpf(_scalar(got[j])) - want) <= ctx.mpf(10) ** -30 * scale[j], (expr, j, got[j], want)


def _moment(n, m, c, q1, q2):
    """Isserlis: E[u^n v^m] = Σ_k C(n,k) C(m,k) k! (n−k−1)!! (m−k−1)!! c^k q1^{(n−k)/2} q2^{(m−k)/2}."""
    def dfact(j):  # (j − 1)!! for even j
        return math.prod(range(j - 1, 0, -2))

    return sum(math.comb(n, k) * math.comb(m, k) * math.factorial(k) * dfact(n - k) * dfact(m - k)
               * c**k * q1 ** ((n - k) // 2) * q2 ** ((m - k) // 2)
               for k in range(min(n, m) + 1) if (n - k) % 2 == 0 and (m - k) % 2 == 0)


def _poly_dual(coeffs, c, q1, q2):
    return sum(a * b * _moment(i, j, c, q1, q2) for i, a in enumerate(coeffs) for j, b in enumerate(coeffs))


def _to_fraction(v):
    return v if isinstance(v, Fraction) else Fraction(int(v.p), int(v.q))


@pytest.mark.parametrize("kern", ["ck", "ntk"])
def test_polynomial_expression_is_exact(kern):
    act = spectra.get_activation("expr:x**3 - x")
    assert act.exact == "rational"
    phi, dphi = [0, -1, 0, 1], [-1, 0, 3]
    w, b, t, depth = Fraction(3, 2), Fraction(1, 4), Fraction(1, 3), 2
    sigma, q = w * t + b, w + b
    theta = sigma
    for _ in range(depth):
        V, D, E = _poly_dual(phi, sigma, q, q), _poly_dual(dphi, sigma, q, q), _poly_dual(phi, q, q, q)
        sigma, theta, q = w * V + b, w * V + b + w * theta * D, w * E + b
    got = spectra.kernel(Architecture(act, depth, "3/2", "1/4"), [t], kern, precision="exact")[0]
    assert _to_fraction(got) == (sigma if kern == "ck" else theta)


def _step_dual(c, q1, q2):
    return 0.25 + math.asin(c / math.sqrt(q1 * q2)) / (2 * math.pi)


def test_heaviside_has_no_ntk_and_its_ck_is_the_step_kernel():
    act = spectra.get_activation("expr:Heaviside(x)")
    assert act.ntk_defined is False
    arch = Architecture(act, 2, 1.5, 0.3)
    with pytest.raises(ValueError, match="NTK"):
        spectra.kernel(arch, 0.5, "ntk")
    ts = np.array([-0.5, 0.2, 0.9])
    got = spectra.kernel(arch, ts, "ck")
    want = spectra.kernel(Architecture("step", 2, 1.5, 0.3), ts, "ck")
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
    # the dual itself: E[1{u>0} 1{v>0}] = 1/4 + asin(ρ)/(2π)
    for point in SPECIAL_POINTS[:2]:
        assert abs(float(act.dual(*point, NumpyOps())) - _step_dual(*point)) <= 1e-13


def _tanh_callable(with_mp=True):
    mp = {"mp_fn": lambda x, ctx: ctx.tanh(x), "mp_deriv": lambda x, ctx: 1 - ctx.tanh(x) ** 2} if with_mp else {}
    return from_callable(np.tanh, lambda x: 1 - np.tanh(x) ** 2, name="tanh_callable", parity=-1, **mp)


def test_callable_tanh_equals_builtin():
    act, builtin = _tanh_callable(), spectra.get_activation("tanh")
    for point in DOUBLE_POINTS:
        V, D, sV, sD = ref_duals("tanh", *point, 20, 16)
        got, lib = act.duals(*point, NumpyOps()), builtin.duals(*point, NumpyOps())
        for g, li, want, sc in zip(got, lib, (V, D), (sV, sD)):
            assert abs(float(g) - float(want)) <= 1e-13 * float(sc)
            assert abs(float(g) - float(li)) <= 1e-13 * float(sc)
    ctx = _engine(40, 24).ctx
    V, D, sV, sD = ref_duals("tanh", *MP_POINT, 40, 24)
    got = act.duals(*MP_POINT, MpOps(110))
    for g, want, sc in zip(got, (V, D), (sV, sD)):
        assert abs(ctx.mpf(_scalar(g)) - want) <= ctx.mpf(10) ** -30 * sc
    arch = Architecture(act, 2, 1.5, 0.3)
    for kern in ("ck", "ntk"):
        np.testing.assert_allclose(spectra.kernel(arch, [-0.4, 0.7], kern),
                                   spectra.kernel(Architecture("tanh", 2, 1.5, 0.3), [-0.4, 0.7], kern), rtol=1e-13)


def test_callable_without_mp_fn_needs_it_for_digits():
    arch = Architecture(_tanh_callable(with_mp=False), 1, 1.5, 0.3)
    assert np.isfinite(spectra.kernel(arch, 0.5, "ck"))
    with pytest.raises(ValueError, match="mp_fn"):
        spectra.kernel(arch, 0.5, "ck", precision=30)


# ---------------------------------------------------------------------------------------
# 5. cube: brute-force Walsh–Hadamard coefficients and Gram matrices
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,kern", [("elu", "ntk"), ("tanh", "ck")])
def test_cube_against_brute_force(name, kern):
    d = 8
    arch = Architecture(name, 2, 1.5, 0.3)
    s = spectra.cube_eigenvalues(arch, d, kern, max_degree=d)
    table = dict(zip(ref.cube_t_values(d).tolist(), spectra.kernel(arch, ref.cube_t_values(d), kern)))

    def kfun(t):
        return np.array([table[v] for v in np.asarray(t).tolist()])

    scale = float(s.trace)
    assert scale == pytest.approx(table[1.0], rel=1e-14)
    coeffs, deg = ref.cube_walsh_eigs(kfun, d)
    for k in range(d + 1):
        assert np.all(np.abs(coeffs[deg == k] - s.values[k]) <= 1e-13 * scale), (k, s.values[k])
    eig = ref.gram_cube_eigs(kfun, d)
    tol = 1e-11 * scale
    for k in range(d + 1):
        assert np.sum(np.abs(eig - s.values[k]) <= tol) >= math.comb(d, k)
    assert np.all(np.min(np.abs(eig[:, None] - np.asarray(s.values, float)[None, :]), axis=1) <= tol)


# ---------------------------------------------------------------------------------------
# 6. sphere: Funk–Hecke projection of Φ(t) by Gauss–Legendre in θ
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kern", ["ck", "ntk"])
def test_sphere_tanh_against_projection(kern):
    d, K = 5, 4
    arch = Architecture("tanh", 2, 1.5, 0.3)
    s = spectra.sphere_eigenvalues(arch, d, kern, max_degree=K)
    x, w = np.polynomial.legendre.leggauss(160)
    theta, w = (x + 1) * np.pi / 2, w * np.pi / 2
    t = np.cos(theta)
    phi = spectra.kernel(arch, t, kern)
    c_d = math.gamma(d / 2) / (math.sqrt(math.pi) * math.gamma((d - 1) / 2))
    P = ref.legendre_d_values(K, d, t, SimpleNamespace(one=np.ones_like(t)))
    mu = [c_d * np.sum(w * phi * P[k] * np.sin(theta) ** (d - 2)) for k in range(K + 1)]
    scale = float(s.trace)
    np.testing.assert_allclose(np.asarray(s.values, float), mu, rtol=0, atol=1e-13 * scale)


@pytest.mark.parametrize("kern", ["ck", "ntk"])
def test_sphere_tanh_d3_near_the_diagonal(kern):
    """d = 3 (few dimensions: the Funk–Hecke rule has nodes with |ρ| within 3e-5 of 1 in the deeper
    layer, where the Hermite series of φ^{(7)} cannot converge; it used to raise QuadratureError):
    against the Legendre projection μ_k = ½ ∫ Φ(t) P_k(t) dt by Gauss–Legendre in t, with
    numpy's Legendre polynomials and Φ from the kernel values (no Taylor jets)."""
    d, K = 3, 6
    arch = Architecture("tanh", 2, 1.5, 0.3)
    s = spectra.sphere_eigenvalues(arch, d, kern, max_degree=K)
    t, w = np.polynomial.legendre.leggauss(200)
    phi = spectra.kernel(arch, t, kern)
    mu = [0.5 * np.sum(w * phi * np.polynomial.legendre.legval(t, [0] * k + [1])) for k in range(K + 1)]
    np.testing.assert_allclose(np.asarray(s.values, float), mu, rtol=0, atol=1e-13 * float(s.trace))


# ---------------------------------------------------------------------------------------
# 7. bad input
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,match", [
    ("expr:tanh(y) + x", "found y"),
    ("expr:tanh(", "cannot parse"),
    ("expr:gamma(x)", "supported functions"),
    ("expr:besselj(0, x)", "supported functions: .*tanh"),
])
def test_bad_expressions(text, match):
    with pytest.raises(ValueError, match=match):
        spectra.get_activation(text)


def test_exact_precision_refused_for_numeric_activation():
    with pytest.raises(ValueError, match="exact"):
        spectra.kernel(Architecture("tanh", 1, 1.5, 0.3), 0.5, "ck", precision="exact")


def test_kinked_activation_on_the_sphere_in_double():
    with pytest.raises(ValueError, match="kinks"):
        spectra.sphere_eigenvalues(Architecture("elu", 2, 1.5, 0.3), 5, "ck", max_degree=3)
