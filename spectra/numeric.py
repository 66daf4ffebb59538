r"""Dual activations by quadrature: any activation, at double or N digits.

For an activation φ without a closed-form kernel (tanh, softplus, a user's sympy expression or
Python callable) the dual V(c; q₁, q₂) = E[φ(u)φ(v)] and the derivative dual E[φ'(u)φ'(v)]
are computed numerically, each with an error estimate, refined until the requested precision
is met. Two algorithms, chosen per case:

* **Two-dimensional quadrature** (values, every activation). With u = √q₁ z₁ and
  v = m z₁ + s z₂, m = c/√q₁, s = √((q₁q₂ − c²)/q₁), z₁, z₂ independent standard normal,

  .. math:: V = ∫ φ(√q₁ z₁) \Big[∫ φ(m z₁ + s z₂)\, γ(z₂)\,dz₂\Big] γ(z₁)\,dz₁ .

  Smooth φ: the trapezoidal rule on [−L, L] in both variables, which converges geometrically
  in 1/h for integrands analytic in a strip (Trefethen & Weideman, "The exponentially
  convergent trapezoidal rule", SIAM Review 56, 2014). φ with kinks or jumps (relu-like
  pieces, hard-tanh, elu): the line is split at every kink, the inner line at the kinks of
  the inner factor, z₂ = (κ − m z₁)/s, and the outer line also where the inner factor's kinks
  cross, z₁ = κ/m; each piece is integrated by Gauss–Legendre (nodes from FLINT at N digits),
  so no piece contains a kink and accuracy is not lost. Where φ is a polynomial on every piece
  (hard-tanh, relu-like ``Max``/``Abs``, polynomial ``Piecewise``) the inner integral is done in
  closed form instead (truncated normal moments between the cuts), leaving a 1-D rule in z₁. Steps halve (nodes double) until two levels agree;
  the error of the finer level is estimated as (difference)²/scale (geometric convergence),
  the heuristic of mpmath's ``quad``. Diagonal points (c² = q₁q₂) reduce to one dimension.

* **Hermite series** (float64 values of smooth φ, and Taylor jets, which the sphere and
  Gaussian domains and the large-d limit need; a jet's derivative whose series cannot converge
  near |ρ| = 1 comes from the two-dimensional quadrature of E[φ^{(j)}(u) φ^{(j)}(v)]). With normalised Hermite coefficients
  b_n(q) = E[φ(√q z) He_n(z)]/√(n!) (one 1-D quadrature gives all of them), Mehler's formula
  gives V = Σ_n b_n(q₁) b_n(q₂) ρⁿ, ρ = c/√(q₁q₂), a power series whose derivatives in c are
  series too. Parseval, Σ b_n(q)² = E[φ(√q z)²], bounds the tail rigorously:
  |Σ_{n>N} b_n(q₁) b_n(q₂) n^{(j)} ρ^{n−j}| ≤ √(R_N(q₁) R_N(q₂)) max_{n>N} n^{(j)} |ρ|^{n−j},
  R_N = E[φ²] − Σ_{n≤N} b_n². Kinked φ have slowly decaying b_n; where the bound cannot
  reach the tolerance the routine raises instead of returning an inaccurate series.

At N digits every evaluation is done in Arb ball arithmetic (python-flint) at the working
precision plus guard bits; the estimated quadrature error is added to the radius.

Activations are given as sympy expressions (:func:`from_expr`; the CLI's ``expr:…``) or as
Python callables (:func:`from_callable`). Expressions are split into analytic pieces by
sympy (``Piecewise``, ``Abs``, ``Max``, ``Min``, ``Heaviside``, ``sign``); their derivative
comes from sympy. Built-in names using this route: tanh, sigmoid, softplus, silu (swish),
elu, selu, mish, hardtanh.
"""
from __future__ import annotations

import itertools
import math
import re
import threading

import numpy as np

__all__ = ["expectation", "from_callable", "from_expr", "hermite_coefficients"]

_MAX_LEVEL = 9
_POLY_MAX = 6  # pieces that are polynomials up to this degree: inner Gaussian integral in closed form
_CHUNK = 2_000_000  # array elements per block of the 2-D rule (float64)
_CHUNK_OBJ = 400_000  # object (Arb) elements per block


# ---------------------------------------------------------------------------------------
# back ends: float64 (numpy) and Arb balls (object arrays)
# ---------------------------------------------------------------------------------------


def _scipy_special(name):
    import scipy.special as sc

    return getattr(sc, name)


_NP_FUNCS = {
    "exp": np.exp, "expm1": np.expm1, "log": np.log, "ln": np.log, "log1p": np.log1p, "sqrt": np.sqrt,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "asinh": np.arcsinh, "acosh": np.arccosh,
    "atanh": np.arctanh, "fabs": np.abs, "erf": lambda x: _scipy_special("erf")(x),
    "erfc": lambda x: _scipy_special("erfc")(x),
}
_ARB_METHODS = ("exp", "expm1", "log", "log1p", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh",
                "asin", "acos", "atan", "asinh", "acosh", "atanh", "erf", "erfc")
SUPPORTED_FUNCTIONS = tuple(sorted(set(_NP_FUNCS) | {"Abs", "Max", "Min", "Heaviside", "sign", "Piecewise"}))


class _FloatNS:
    """The ``mpmath`` name space of compiled expressions, in float64."""

    mpf = float
    pi = math.pi
    e = math.e

    @staticmethod
    def ipow(a, n):
        """a**n for an integer n (see :func:`_printer`)."""
        return a**n

    def __getattr__(self, name):
        try:
            return _NP_FUNCS[name]
        except KeyError:
            raise AttributeError(name) from None


def _arb_ufunc(meth, arb):
    """``meth`` element-wise on an object array: the unbound arb method directly (most arrays
    hold arb already; ~40% faster per element), converting with ``arb(v)`` when one does not."""
    fast = np.frompyfunc(meth, 1, 1)
    slow = np.frompyfunc(lambda v: meth(arb(v)), 1, 1)

    def f(a):
        try:
            return fast(a)
        except TypeError:  # an int or float among the elements
            return slow(a)

    return f


class _ArbNS:
    """The same name space on numpy object arrays of ``flint.arb`` (current FLINT precision)."""

    def __init__(self):
        import flint

        arb = flint.arb
        self.arb = arb
        self.mpf = arb
        for name in _ARB_METHODS:
            setattr(self, name, _arb_ufunc(getattr(arb, name), arb))
        self.ln = self.log
        self.fabs = np.frompyfunc(abs, 1, 1)

    @staticmethod
    def ipow(a, n):
        """a**n for an integer n by products (binary powering), element-wise on object arrays.

        Not ``arb.__pow__``: python-flint's power of a ball whose midpoint is exactly 0 and whose
        radius is not (``arb(0, r)**2``, with an int, fmpz or arb exponent) is NaN, and such
        balls are common on quadrature nodes: the inner argument m z₁ + s z₂ of the 2-D rule
        is such a ball wherever the rounded m z₁ and s z₂ cancel exactly (m/s rational, e.g.
        c = 4, q₁ = q₂ = 5), and ``1 − tanh(x)**2`` then poisons the whole sum with NaN."""
        n = int(n)
        if n < 0:
            return 1 / _ArbNS.ipow(a, -n)
        if n == 0:
            return a * 0 + 1
        out = None
        while True:
            if n & 1:
                out = a if out is None else out * a
            n >>= 1
            if not n:
                return out
            a = a * a

    @property
    def pi(self):
        return self.arb.pi()

    @property
    def e(self):
        return self.arb(1).exp()


class _Float:
    """float64 back end."""

    kind = "double"
    dtype = float

    def __init__(self):
        self.ns = _FloatNS()
        self.eps = 2.0**-53
        self.tol = 2.0**-52
        self.tail_tol = 2.0**-46  # series tails: within the 128-ulp rounding budget of a numerical dual

    def const(self, v):
        return float(v)

    def array(self, v):
        return np.asarray(v, dtype=float)

    def mid(self, a):
        return np.asarray(a, dtype=float)

    def sqrt(self, a):
        return np.sqrt(a)

    def exp(self, a):
        return np.exp(a)

    def ncdf(self, a):
        """Φ(a), the standard normal distribution function."""
        return _scipy_special("ndtr")(a)

    def zeros(self, shape):
        return np.zeros(shape)

    def with_error(self, val, err):
        return val


class _Arb:
    """Arb back end at ``prec`` bits (callers hold ``flint.ctx.workprec(prec)``)."""

    kind = "arb"
    dtype = object

    def __init__(self, prec):
        import flint

        self.flint = flint
        self.prec = prec
        self.ns = _ArbNS()
        arb = flint.arb
        self.arb = arb
        self.eps = 2.0**-prec
        self.tol = 2.0**-(prec - 4)
        self.tail_tol = 2.0**-(prec - 8)  # series tails: within the 8 guard bits of the duals
        self._sqrt = np.frompyfunc(lambda v: arb(v).nonnegative_part().sqrt(), 1, 1)
        self._exp = _arb_ufunc(arb.exp, arb)
        self._ncdf = np.frompyfunc(lambda v: (-arb(v) / arb(2).sqrt()).erfc() / 2, 1, 1)
        self._mid = np.frompyfunc(lambda v: float(arb(v).mid()), 1, 1)
        self._conv = np.frompyfunc(self.const, 1, 1)

    def const(self, v):
        arb = self.arb
        if isinstance(v, arb):
            return v
        if hasattr(v, "_mpf_"):
            sign, man, exp, _ = v._mpf_
            if not man:
                return arb(0)
            x = arb(int(man)) * arb(2) ** int(exp)
            return -x if sign else x
        if hasattr(v, "numerator") and hasattr(v, "denominator") and not isinstance(v, float):
            return arb(int(v.numerator)) / int(v.denominator)
        if hasattr(v, "p") and hasattr(v, "q"):
            return arb(int(v.p)) / int(v.q)
        return arb(v)

    def array(self, v):
        return self._conv(np.asarray(v, dtype=object))

    def mid(self, a):
        return np.asarray(self._mid(np.asarray(a, dtype=object)), dtype=float)

    def sqrt(self, a):
        return self._sqrt(a)

    def exp(self, a):
        return self._exp(a)

    def ncdf(self, a):
        """Φ(a) = erfc(−a/√2)/2."""
        return self._ncdf(a)

    def zeros(self, shape):
        z = np.empty(shape, dtype=object)
        z.fill(self.arb(0))
        return z

    def with_error(self, val, err):
        """Widen each ball by the quadrature error estimate."""
        arb = self.arb
        out = np.empty(np.shape(val), dtype=object)
        for i, (v, e) in enumerate(zip(np.ravel(val), np.ravel(err))):
            out.flat[i] = arb(v.mid(), v.rad() + arb(float(e)))
        return out


_ARB_CACHE = threading.local()


def _arb_backend(prec):
    cache = getattr(_ARB_CACHE, "d", None)
    if cache is None:
        cache = _ARB_CACHE.d = {}
    if prec not in cache:
        cache[prec] = _Arb(prec)
    return cache[prec]


# ---------------------------------------------------------------------------------------
# quadrature rules on a reference interval
# ---------------------------------------------------------------------------------------


def _gl_rule(be, level):
    """Gauss–Legendre nodes on (0, 1) as (d, w), n = 6·2^level points: x = a + (b − a)·d,
    weight (b − a)·w. Arb nodes from FLINT's certified Legendre roots."""
    key = ("gl", be.kind, getattr(be, "prec", 53), level)
    if key in _RULES:
        return _RULES[key]
    n = 6 * 2**level
    if be.kind == "double":
        x, w = np.polynomial.legendre.leggauss(n)
        d, w = (1 + x) / 2, w / 2
    else:
        arb = be.arb
        d, w = [], []
        for k in range(n):
            xk, wk = arb.legendre_p_root(n, k, weight=True)
            d.append((1 + xk) / 2)
            w.append(wk / 2)
        d, w = np.array(d, dtype=object), np.array(w, dtype=object)
    _RULES[key] = (d, w)
    return d, w


_RULES: dict = {}


def _trap_rule(be, level, L):
    """Trapezoidal nodes k·h on [−L, L], h = 2^−level, weights h."""
    key = ("trap", be.kind, getattr(be, "prec", 53), level, L)
    if key in _RULES:
        return _RULES[key]
    K = math.floor(L * 2**level)
    if be.kind == "double":
        h = 2.0**-level
        z = np.arange(-K, K + 1) * h
        w = np.full(z.shape, h)
    else:
        arb = be.arb
        h = arb(1) / 2**level
        z = np.array([h * k for k in range(-K, K + 1)], dtype=object)
        w = np.array([h] * len(z), dtype=object)
    _RULES[key] = (z, w)
    return z, w


def _gauss_weight(be, z):
    """γ(z) = e^{−z²/2}/√(2π)."""
    if be.kind == "double":
        return np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    c = 1 / (2 * be.arb.pi()).sqrt()
    return be.exp(-(z * z) / 2) * c


# ---------------------------------------------------------------------------------------
# activations as analytic pieces
# ---------------------------------------------------------------------------------------


def _printer():
    """sympy's mpmath code printer, with integer powers as ``mpmath.ipow(base, n)``: the float64
    name space computes them as ``base**n`` (as before); the Arb one by products, because
    python-flint's ``arb ** n`` is NaN on a ball centred at 0 (see :meth:`_ArbNS.ipow`)."""
    from sympy.printing.pycode import MpmathPrinter

    class _Printer(MpmathPrinter):
        def _print_Pow(self, expr, rational=False):
            n = expr.exp
            if n.is_Integer and n != 1:
                return f"mpmath.ipow({self._print(expr.base)}, {int(n)})"
            return super()._print_Pow(expr, rational=rational)

    return _Printer({"fully_qualified_modules": True})


class _Compiled:
    """A univariate function in analytic pieces, evaluable in float64 and Arb."""

    def __init__(self, pieces, exprs):
        self.pieces = pieces  # list of (lo_sym|None, hi_sym|None, source string of φ, source of φ')
        self._exprs = exprs  # the pieces' sympy expressions (for higher derivatives)
        self._fns = {}

    def derivative(self, j):
        """The j-th derivative φ^{(j)} as compiled pieces (None when unknown)."""
        if self._exprs is None:
            return None
        if j == 0:
            return self
        key = ("deriv", j)
        if key not in self._fns:
            sp = _sympy()
            x = sp.Symbol("x", real=True)
            printer = _printer()
            exprs = [sp.diff(ex, x, j) for ex in self._exprs]
            rows = [(lo, hi, printer.doprint(ex), printer.doprint(sp.diff(ex, x)))
                    for (lo, hi, _, _), ex in zip(self.pieces, exprs)]
            self._fns[key] = _Compiled(rows, exprs)
        return self._fns[key]

    def poly_coeffs(self, be, deriv):
        """Per piece, the coefficients [p₀, p₁, …] of φ (or φ') as constants of the back end
        when every piece is a polynomial of degree ≤ _POLY_MAX (hard-tanh, relu-like ``Max``,
        ``Abs``, polynomial ``Piecewise``); None otherwise. Cached per precision."""
        key = ("poly", be.kind, getattr(be, "prec", 53), deriv)
        if key not in self._fns:
            rows = None
            if self._exprs is not None:
                sp = _sympy()
                x = sp.Symbol("x", real=True)
                rows = []
                for ex in self._exprs:
                    e = sp.diff(ex, x) if deriv else sp.sympify(ex)
                    if not e.is_polynomial(x) or sp.degree(e, x) > _POLY_MAX:
                        rows = None
                        break
                    cfs = sp.Poly(e, x).all_coeffs()[::-1] if e != 0 else [sp.Integer(0)]
                    rows.append([_eval_const(cf, be) for cf in cfs])
            self._fns[key] = rows
        return self._fns[key]

    def kinks(self, be):
        """Interior breakpoints at the back end's precision (sorted; cached per precision)."""
        key = ("kinks", be.kind, getattr(be, "prec", 53))
        if key not in self._fns:
            self._fns[key] = [_eval_const(lo, be) for lo, _hi, *_ in self.pieces[1:]]
        return list(self._fns[key])

    def fn(self, be, j, deriv):
        key = (be.kind, j, deriv)
        if key not in self._fns:
            src = self.pieces[j][3 if deriv else 2]
            self._fns[key] = _bind(src, be.ns)
        return self._fns[key]


def _bind(src, ns):
    f = eval("lambda x: " + src, {"mpmath": ns, "__builtins__": {}})
    return f


def _eval_const(sym, be):
    src = _printer().doprint(sym)
    return be.const(eval(src, {"mpmath": be.ns, "__builtins__": {}})) if be.kind != "double" else float(
        eval(src, {"mpmath": be.ns, "__builtins__": {}}))


def _eval_piece(comp, be, j, deriv, x):
    """φ (or φ') of piece j at the points x (array)."""
    f = comp.fn(be, j, deriv)
    with np.errstate(all="ignore"):
        y = f(x)
    if np.ndim(y) == 0:  # a constant piece
        out = np.empty(np.shape(x), dtype=be.dtype)
        out.fill(be.const(y) if be.kind != "double" else float(y))
        return out
    return y


def _evaluate(comp, be, x, piece_idx, deriv):
    """φ at x where piece_idx (same shape, ints) says which analytic piece each point is in."""
    if len(comp.pieces) == 1:
        return _eval_piece(comp, be, 0, deriv, x)
    out = np.empty(np.shape(x), dtype=be.dtype)
    for j in range(len(comp.pieces)):
        mask = piece_idx == j
        if np.any(mask):
            out[mask] = _eval_piece(comp, be, j, deriv, x[mask])
    return out


# ---------------------------------------------------------------------------------------
# Gaussian expectations
# ---------------------------------------------------------------------------------------


def _cutoff(be):
    """Half-width L of the Gaussian integration range: γ mass beyond L below the tolerance."""
    return math.ceil(math.sqrt(2 * math.log(1.0 / be.tol)) + 1.5)


def _piece_index(kinks_f, x):
    """Index of the analytic piece containing the float point x (kinks sorted)."""
    return sum(1 for k in kinks_f if k < x)


def _expect_1d(comp_f, comp_g, be, sq1, m, deriv_f, deriv_g, level, L):
    """E[f(√q₁ z) g(m z)] for arrays sq1, m (shape (B,)) at one quadrature level."""
    kf, kg = comp_f.kinks(be), comp_g.kinks(be)
    if not kf and not kg:
        z, w = _trap_rule(be, level, L)
        wg = w * _gauss_weight(be, z)
        F = _evaluate(comp_f, be, sq1[:, None] * z[None, :], None, deriv_f)
        G = _evaluate(comp_g, be, m[:, None] * z[None, :], None, deriv_g)
        return (F * G * wg[None, :]).sum(axis=1)
    d, w = _gl_rule(be, level)
    kff, kgf = [float(k) for k in kf], [float(k) for k in kg]
    sqf, mf = be.mid(sq1), be.mid(m)
    out = be.zeros(len(sq1))
    Lc = be.const(L)
    for i in range(len(sq1)):
        pts = [(k / sqf[i], kx / sq1[i]) for k, kx in zip(kff, kf)]
        if mf[i] != 0:
            pts += [(k / mf[i], kx / m[i]) for k, kx in zip(kgf, kg)]
        pts = sorted((p for p in pts if -L < p[0] < L), key=lambda p: p[0])
        bounds = [(-float(L), -Lc)] + pts + [(float(L), Lc)]
        acc = be.const(0)
        for (af, a), (bf, b) in itertools.pairwise(bounds):
            if bf <= af:
                continue
            mid = 0.5 * (af + bf)
            z = a + (b - a) * d
            wz = (b - a) * w * _gauss_weight(be, z)
            F = _eval_piece(comp_f, be, _piece_index(kff, sqf[i] * mid), deriv_f, sq1[i] * z)
            G = _eval_piece(comp_g, be, _piece_index(kgf, mf[i] * mid), deriv_g, m[i] * z)
            acc = acc + (F * G * wz).sum()
        out[i] = acc
    return out


def _poly_inner(polys, be, kinks, ctr, s):
    """{flag: E[g(ctr + sZ)]} (arrays like ``ctr``) for g polynomial on every piece, in closed form.

    With the cuts t_k = (κ_k − ctr)/s the pieces of the inner line are (t_{j−1}, t_j) (t₋₁ = −∞,
    t_nb = +∞), and ∫ P_j(ctr + s z) γ(z) dz over one of them is Σ_i a_i M_i with the truncated
    moments M_i = ∫ z^i γ(z) dz: M₀ = Φ(t_j) − Φ(t_{j−1}), M₁ = γ(t_{j−1}) − γ(t_j),
    M_i = (i − 1) M_{i−2} + t_{j−1}^{i−1} γ(t_{j−1}) − t_j^{i−1} γ(t_j) (integration by parts),
    and a_i = Σ_k p_k C(k, i) ctr^{k−i} s^i. Exact: no inner rule, no kink inside one."""
    n = len(ctr)
    zero = be.zeros(n)
    nb = len(kinks)
    ts = [(kx - ctr) / s for kx in kinks]
    Cs = [be.ncdf(t) for t in ts]
    Gs = [_gauss_weight(be, t) for t in ts]
    deg = max(len(row) for rows in polys.values() for row in rows) - 1
    cpow = [zero + 1]
    spow = [be.const(1)]
    for _ in range(deg):
        cpow.append(cpow[-1] * ctr)
        spow.append(spow[-1] * s)
    out = {flag: be.zeros(n) for flag in polys}
    for j in range(nb + 1):
        lo, hi = j > 0, j < nb  # finite ends
        mom = [(Cs[j] if hi else zero + 1) - (Cs[j - 1] if lo else zero),
               (Gs[j - 1] if lo else zero) - (Gs[j] if hi else zero)]
        tlo, thi = (zero + 1), (zero + 1)  # t^{i−1} at the ends
        for i in range(2, deg + 1):
            if lo:
                tlo = tlo * ts[j - 1]
            if hi:
                thi = thi * ts[j]
            mi = (i - 1) * mom[i - 2]
            if lo:
                mi = mi + tlo * Gs[j - 1]
            if hi:
                mi = mi - thi * Gs[j]
            mom.append(mi)
        for flag, rows in polys.items():
            acc = out[flag]
            for k, p in enumerate(rows[j]):
                if (p == 0) if be.kind == "double" else p.is_zero():
                    continue
                term = zero
                for i in range(k + 1):
                    term = term + (math.comb(k, i) * spow[i]) * cpow[k - i] * mom[i]
                acc = acc + p * term
            out[flag] = acc
    return out


def _expect_2d(comp_f, comp_g, be, sq1, m, s, deriv_f, deriv_g, level, L):
    """E[f(√q₁ z₁) g(m z₁ + s z₂)] for arrays (B,) with s > 0, at one quadrature level.

    ``deriv_f``/``deriv_g`` may be tuples (pairs of derivative flags): the kinked rule then
    evaluates every pair on the same nodes and returns them stacked, shape (pairs·B,)."""
    kf, kg = comp_f.kinks(be), comp_g.kinks(be)
    multi = isinstance(deriv_f, tuple)
    if multi and not kf and not kg:
        return np.concatenate([_expect_2d(comp_f, comp_g, be, sq1, m, s, a, b, level, L)
                               for a, b in zip(deriv_f, deriv_g)])
    pairs = list(zip(deriv_f, deriv_g)) if multi else [(deriv_f, deriv_g)]
    if not kf and not kg:
        z, w = _trap_rule(be, level, L)
        wg = w * _gauss_weight(be, z)
        F = _evaluate(comp_f, be, sq1[:, None] * z[None, :], None, deriv_f)  # (B, n)
        Y = m[:, None, None] * z[None, :, None] + s[:, None, None] * z[None, None, :]
        G = _evaluate(comp_g, be, Y, None, deriv_g)  # (B, n, n)
        inner = (G * wg[None, None, :]).sum(axis=2)
        return (F * inner * wg[None, :]).sum(axis=1)
    d, w = _gl_rule(be, level)
    kff, kgf = [float(k) for k in kf], [float(k) for k in kg]
    sqf, mf, sf = be.mid(sq1), be.mid(m), be.mid(s)
    B = len(sq1)
    out = be.zeros(len(pairs) * B)
    Lf, Lc = float(L), be.const(L)
    nb = len(kg)
    pc = getattr(comp_g, "poly_coeffs", None)
    polys = None
    if pc is not None:
        polys = {dg: pc(be, dg) for dg in {p[1] for p in pairs}}
        if any(v is None for v in polys.values()):
            polys = None
    for i in range(len(sq1)):
        pts = [(k / sqf[i], kx / sq1[i]) for k, kx in zip(kff, kf)]
        if mf[i] != 0:  # the inner factor has a (smoothed) kink where m z₁ crosses one of g
            pts += [(k / mf[i], kx / m[i]) for k, kx in zip(kgf, kg)]
            width = sf[i] / abs(mf[i])  # over which that kink is smoothed
            if width < 0.5:
                for k, kx in zip(kgf, kg):
                    for f in (-16, -4, -1, 1, 4, 16):
                        if width * abs(f) < 2:
                            pts.append((k / mf[i] + f * width, kx / m[i] + be.const(f) * s[i] / abs(m[i])
                                        if be.kind != "double" else k / mf[i] + f * width))
        pts = sorted((p for p in pts if -L < p[0] < L), key=lambda p: p[0])
        bounds = [(-Lf, -Lc)] + pts + [(Lf, Lc)]
        acc = [be.const(0) for _ in pairs]
        for (af, a), (bf, b) in itertools.pairwise(bounds):
            if bf <= af:
                continue
            z1 = a + (b - a) * d
            w1 = (b - a) * w * _gauss_weight(be, z1)
            jf = _piece_index(kff, sqf[i] * 0.5 * (af + bf))
            Fs = {df: _eval_piece(comp_f, be, jf, df, sq1[i] * z1) for df in {p[0] for p in pairs}}
            ctr = m[i] * z1
            if polys is not None:
                inner = _poly_inner(polys, be, kg, ctr, s[i])
                for k, (df, dg) in enumerate(pairs):
                    acc[k] = acc[k] + (Fs[df] * inner[dg] * w1).sum()
                continue
            ctrf = be.mid(ctr)
            # inner breakpoints z₂ = (κ − m z₁)/s, clipped to [−L, L]; piece j of g lies between
            cuts_f = [np.full(len(z1), -Lf)]
            cuts = [np.full(len(z1), -Lc, dtype=be.dtype) if be.kind != "double" else np.full(len(z1), -Lf)]
            for k, kx in zip(kgf, kg):
                tf = (k - ctrf) / sf[i]
                t = tf if be.kind == "double" else (kx - ctr) / s[i]
                tf_c = np.clip(tf, -Lf, Lf)
                if be.kind == "double":
                    t = tf_c
                else:
                    t = np.where(tf <= -Lf, -Lc, np.where(tf >= Lf, Lc, t))
                cuts_f.append(tf_c)
                cuts.append(t)
            cuts_f.append(np.full(len(z1), Lf))
            cuts.append(np.full(len(z1), Lc, dtype=be.dtype) if be.kind != "double" else np.full(len(z1), Lf))
            inner = {dg: be.zeros(len(z1)) for dg in {p[1] for p in pairs}}
            for j in range(nb + 1):
                live = cuts_f[j + 1] > cuts_f[j]
                if not np.any(live):
                    continue
                a2, b2 = cuts[j][live], cuts[j + 1][live]
                z2 = a2[:, None] + (b2 - a2)[:, None] * d[None, :]
                w2 = (b2 - a2)[:, None] * w[None, :] * _gauss_weight(be, z2)
                v = ctr[live][:, None] + s[i] * z2
                for dg in inner:
                    G = _eval_piece(comp_g, be, j, dg, v)
                    inner[dg][live] = inner[dg][live] + (G * w2).sum(axis=1)
            for k, (df, dg) in enumerate(pairs):
                acc[k] = acc[k] + (Fs[df] * inner[dg] * w1).sum()
        for k in range(len(pairs)):
            out[k * B + i] = acc[k]
    return out


class QuadratureError(ArithmeticError):
    """The quadrature did not reach the requested tolerance."""


def _converge(compute, be, scale, start, stop, what):
    """Run ``compute(level)`` for level = start, start+1, … until successive levels agree to
    √tol (relative to ``scale``); return (finer value, error estimate (diff²/scale))."""
    prev = None
    scale = np.maximum(np.asarray(scale, dtype=float), 1e-300)
    for level in range(start, stop + 1):
        val = compute(level)
        if prev is not None:
            diff = np.abs(be.mid(val) - be.mid(prev))
            if np.all(diff <= 0.1 * math.sqrt(be.tol) * scale):
                err = diff * diff / scale + 8 * be.eps * scale
                return val, err
        prev = val
    raise QuadratureError(f"{what}: the quadrature did not converge by level {stop} "
                          f"(last change {np.max(diff / scale):.1e} relative)")


def _diag_scale(comp, be, sq, deriv, L):
    """E[f(√q z)²] (the scale of errors), converged."""
    def comp1(level):
        return _expect_1d(comp, comp, be, sq, sq, deriv, deriv, level, L)
    first = np.abs(be.mid(comp1(2))) + 1e-300
    val, _ = _converge(comp1, be, first, 2, _MAX_LEVEL, "E[φ²]")
    return np.abs(be.mid(val))


def expectation_pair(comp, c, q1, q2, be):
    """(E[φ(u)φ(v)], E[φ'(u)φ'(v)]) with errors, off the diagonal, sharing the 2-D nodes."""
    L = _cutoff(be)
    sq1 = be.sqrt(q1)
    m = c / sq1
    s = be.sqrt((q1 * q2 - c * c) / q1)
    scales = [np.sqrt(_diag_scale(comp, be, sq1, d, L) * _diag_scale(comp, be, be.sqrt(q2), d, L))
              for d in (False, True)]
    B = len(c)
    vals, errs = [be.zeros(B), be.zeros(B)], [np.zeros(B), np.zeros(B)]
    for i in range(B):  # the kinked rule works element by element; so does its refinement
        sl = [i]
        v, e = _converge(lambda lv, sl=sl: _expect_2d(comp, comp, be, sq1[sl], m[sl], s[sl], (False, True),
                                                      (False, True), lv, L),
                         be, np.array([scales[0][i], scales[1][i]]), 2, _MAX_LEVEL - 2, "E[φ(u)φ(v)]")
        for k in range(2):
            vals[k][i], errs[k][i] = v[k], e[k]
    return (vals[0], errs[0]), (vals[1], errs[1])


def expectation(comp_f, comp_g, c, q1, q2, be, deriv_f=False, deriv_g=False):
    """E[f(u) g(v)] with Var u = q₁, Var v = q₂, Cov = c (1-D arrays in back end ``be``):
    (values, error estimates). f, g: compiled activations; ``deriv_*`` selects φ'."""
    B = len(c)
    L = _cutoff(be)
    sq1 = be.sqrt(q1)
    m = c / sq1
    cf, q1f, q2f = be.mid(c), be.mid(q1), be.mid(q2)
    gap = q1f * q2f - cf * cf
    diag = gap <= 4 * be.eps * q1f * q2f
    s2 = (q1 * q2 - c * c) / q1
    s = be.sqrt(s2) if be.kind != "double" else np.sqrt(np.maximum(s2, 0.0))
    scale = np.sqrt(_diag_scale(comp_f, be, sq1, deriv_f, L) * _diag_scale(comp_g, be, be.sqrt(q2), deriv_g, L))
    out = be.zeros(B)
    err = np.zeros(B)
    smooth = not comp_f.kinks(be) and not comp_g.kinks(be)
    idx = np.flatnonzero(diag)
    if len(idx):
        v, e = _converge(lambda lv: _expect_1d(comp_f, comp_g, be, sq1[idx], m[idx], deriv_f, deriv_g, lv, L),
                         be, scale[idx], 2, _MAX_LEVEL, "E[φ(u)φ(v)] at |ρ| = 1")
        out[idx], err[idx] = v, e
    idx = np.flatnonzero(~diag)
    if len(idx):
        per = (2 * L * 2**5) ** 2 if smooth else 1
        step = max(1, (_CHUNK if be.kind == "double" else _CHUNK_OBJ) // per)
        for lo in range(0, len(idx), step):
            sl = idx[lo:lo + step]
            v, e = _converge(lambda lv, sl=sl: _expect_2d(comp_f, comp_g, be, sq1[sl], m[sl], s[sl],
                                                          deriv_f, deriv_g, lv, L),
                             be, scale[sl], 1 if smooth else 2, _MAX_LEVEL - 2, "E[φ(u)φ(v)]")
            out[sl], err[sl] = v, e
    return out, err


# ---------------------------------------------------------------------------------------
# sympy expressions → analytic pieces
# ---------------------------------------------------------------------------------------


def _sympy():
    import sympy

    return sympy


def parse_expr(text):
    """A sympy expression in x from a string; decimal literals are kept exact (0.1 = 1/10)."""
    sp = _sympy()
    x = sp.Symbol("x", real=True)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"activation: expected an expression in x such as 'tanh(x) + 0.1*x'; got {text!r}")
    try:
        expr = sp.sympify(text, locals={"x": x, "sigmoid": lambda a: 1 / (1 + sp.exp(-a)),
                                        "relu": lambda a: sp.Max(0, a), "softplus": lambda a: sp.log(1 + sp.exp(a))},
                          rational=True)
    except (sp.SympifyError, SyntaxError, TypeError, AttributeError) as exc:
        raise ValueError(f"activation: cannot parse the expression {text!r} ({exc})") from None
    return _check_expr(expr, x, text)


def _check_expr(expr, x, text):
    sp = _sympy()
    if not isinstance(expr, sp.Expr):
        raise TypeError(f"activation: {text!r} is not an expression in x")
    free = expr.free_symbols
    others = {s for s in free if s.name != "x"}
    if others:
        raise ValueError(f"activation: the expression {text!r} may contain only the variable x; "
                         f"found {', '.join(sorted(s.name for s in others))}")
    xs = [s for s in free if s.name == "x"]
    if xs and xs[0] != x:
        expr = expr.xreplace({xs[0]: x})
    floats = expr.atoms(sp.Float)
    if floats:
        expr = expr.xreplace({f: sp.Rational(f) for f in floats})
    return expr


def _to_pieces(expr, x, text):
    """[(lo, hi, expr)] with sympy bounds (±oo), covering the line, each expr analytic."""
    sp = _sympy()
    kinds = (sp.Abs, sp.Max, sp.Min, sp.Heaviside, sp.sign, sp.Piecewise)
    if not expr.has(*kinds):
        return [(-sp.oo, sp.oo, expr)]
    e = sp.piecewise_fold(expr.rewrite(sp.Piecewise))
    if not isinstance(e, sp.Piecewise):
        return [(-sp.oo, sp.oo, e)]
    try:
        pairs = e.as_expr_set_pairs(sp.Interval(-sp.oo, sp.oo))
    except Exception as exc:  # noqa: BLE001 - sympy raises many kinds here
        raise ValueError(f"activation: cannot split {text!r} into analytic pieces ({exc})") from None
    pieces = []
    for ex, st in pairs:
        sets = st.args if isinstance(st, sp.Union) else (st,)
        for iv in sets:
            if isinstance(iv, sp.FiniteSet) or iv.is_empty:
                continue
            if not isinstance(iv, sp.Interval):
                raise ValueError(f"activation: cannot split {text!r} into intervals (got {iv})")  # noqa: TRY004
            if ex.has(*kinds):
                raise ValueError(f"activation: {text!r}: nested piecewise parts are not supported")
            pieces.append((iv.start, iv.end, ex))
    pieces.sort(key=lambda p: float(p[0]) if p[0] != -sp.oo else -math.inf)
    # merge neighbours with the same expression
    merged = [pieces[0]]
    for p in pieces[1:]:
        if sp.simplify(p[2] - merged[-1][2]) == 0 and p[0] == merged[-1][1]:
            merged[-1] = (merged[-1][0], p[1], p[2])
        else:
            merged.append(p)
    if merged[0][0] != -sp.oo or merged[-1][1] != sp.oo or any(a[1] != b[0] for a, b in itertools.pairwise(merged)):
        raise ValueError(f"activation: the pieces of {text!r} do not cover the real line")
    return merged


def compile_expr(expr, text=None):
    """(_Compiled, info) for a sympy expression in x: pieces, derivative, jumps, parity."""
    sp = _sympy()
    x = sp.Symbol("x", real=True)
    text = text or str(expr)
    expr = _check_expr(sp.sympify(expr), x, text)
    pieces = _to_pieces(expr, x, text)
    printer = _printer()
    rows, used = [], set()
    for lo, hi, ex in pieces:
        dex = sp.diff(ex, x)
        try:
            src, dsrc = printer.doprint(ex), printer.doprint(dex)
        except Exception as exc:  # noqa: BLE001 - the printer's message names the function
            raise ValueError(f"activation: {text!r}: {str(exc).splitlines()[0]}; supported functions: "
                             f"{', '.join(SUPPORTED_FUNCTIONS)}") from None
        used.update(re.findall(r"mpmath\.(\w+)", src + " " + dsrc))
        rows.append((None if lo == -sp.oo else lo, None if hi == sp.oo else hi, src, dsrc))
    unknown = sorted(n for n in used if n not in _NP_FUNCS and n not in ("mpf", "pi", "e", "ipow"))
    if unknown:
        raise ValueError(f"activation: {text!r} uses {', '.join(unknown)}; supported functions: "
                         f"{', '.join(SUPPORTED_FUNCTIONS)}")
    comp = _Compiled(rows, [ex for _, _, ex in pieces])
    jumps = []
    for (_, hi, ex), (_, _, ex2) in itertools.pairwise(pieces):
        jump = sp.simplify(ex2.subs(x, hi) - ex.subs(x, hi))
        if jump != 0:
            jumps.append(hi)
    return comp, {"expr": expr, "pieces": pieces, "jumps": jumps, "x": x}


def _parity_info(expr, x):
    """(parity, odd_poly_degree, even_poly_degree) proved by sympy (None where unknown)."""
    sp = _sympy()
    try:
        even = sp.simplify(sp.piecewise_fold((expr + expr.subs(x, -x)) / 2))
        odd = sp.simplify(sp.piecewise_fold((expr - expr.subs(x, -x)) / 2))
    except Exception:  # noqa: BLE001
        return 0, None, None
    parity = -1 if even == 0 else (1 if odd == 0 else 0)

    def poly_deg(e):
        if e == 0:
            return None
        if e.is_polynomial(x):
            return int(sp.degree(e, x))
        return None

    return parity, poly_deg(odd), poly_deg(even)


# ---------------------------------------------------------------------------------------
# Hermite coefficients and Mehler series
# ---------------------------------------------------------------------------------------


def _hermite_level(comp, be, sq, N, deriv, level):
    """b_n = E[f(√q z) h_n(z)], n = 0..N (h_n = He_n/√n!), and E[f(√q z)²], one level.

    With ψ_n = h_n e^{−z²/4} (bounded, stable three-term recurrence) b_n = ∫ f ψ_n e^{−z²/4} dz/√(2π)."""
    Lh = math.ceil(math.sqrt(4 * math.log(1.0 / be.tol)) + 2)
    kinks = comp.kinks(be)
    if not kinks:
        z, w = _trap_rule(be, level, Lh)
        F = _evaluate(comp, be, sq * z, None, deriv)
    else:
        d, wd = _gl_rule(be, level)
        kf = [float(k) for k in kinks]
        sqf = float(be.mid(np.array([sq], dtype=be.dtype))[0])
        Lc = be.const(Lh)
        pts = sorted(((k / sqf, kx / sq) for k, kx in zip(kf, kinks) if -Lh < k / sqf < Lh), key=lambda p: p[0])
        bounds = [(-float(Lh), -Lc)] + pts + [(float(Lh), Lc)]
        zs, ws, Fs = [], [], []
        for (af, a), (bf, b) in itertools.pairwise(bounds):
            zz = a + (b - a) * d
            zs.append(zz)
            ws.append((b - a) * wd)
            Fs.append(_eval_piece(comp, be, _piece_index(kf, sqf * 0.5 * (af + bf)), deriv, sq * zz))
        z, w, F = np.concatenate(zs), np.concatenate(ws), np.concatenate(Fs)
    if not np.all(np.isfinite(be.mid(F))):
        raise QuadratureError("the activation is not finite on the integration range (overflow?)")
    if be.kind == "double":
        e4 = np.exp(-0.25 * z * z)
        fw = F * w * e4 / math.sqrt(2 * math.pi)
        E = (F * fw * e4).sum()
        b = np.empty(N + 1)
        p_prev, p = np.zeros_like(z), e4
        b[0] = fw @ p
        for n in range(N):
            p_prev, p = p, (z * p - math.sqrt(n) * p_prev) / math.sqrt(n + 1)
            b[n + 1] = fw @ p
        return b, E
    # Arb: the recurrence in fixed point (Python integers scaled by 2^P). Floating-point
    # semantics are what the recurrence needs (a ball recurrence carries the growing
    # solution in its radius, and Arb then trims the midpoints); it is about five times
    # faster than Arb here, and its rounding (2^−P per step) is covered by the
    # level-to-level error estimate.
    arb = be.arb
    P = be.prec + 16
    one = arb(2) ** P
    def fix(v):
        return int((v * one).mid().floor().unique_fmpz())

    to_int = np.frompyfunc(fix, 1, 1)
    e4 = be.exp(-(z * z) / 4)
    c0 = 1 / (2 * arb.pi()).sqrt()
    fw = F * w * e4 * c0
    E = (F * fw * e4).sum()
    zi, fwi = to_int(z), to_int(fw)
    # the unnormalised He_n(z) e^{−z²/4} = √(n!) ψ_n: He_{n+1} = z He_n − n He_{n−1} costs one
    # big-integer product and one shift per step (the normalised recurrence, three of each); its
    # values are √(n!) times larger, so the absolute rounding 2^−P per step is relatively smaller
    q_prev, q = np.zeros(len(z), dtype=object) * 0, to_int(e4)
    sums = [int((fwi * q).sum())]
    for n in range(N):
        nxt = (zi * q) >> P
        if n:
            nxt -= n * q_prev
        q_prev, q = q, nxt
        sums.append(int((fwi * q).sum()))
    scale2 = arb(2) ** (2 * P)
    b, fact = [], arb(1)
    for n, v in enumerate(sums):
        if n:
            fact *= n
        b.append(arb(v) / (scale2 * fact.sqrt()))
    return np.array(b, dtype=object), E


def hermite_coefficients(comp, be, sq, N, deriv=False):
    """(b, E, err): normalised Hermite coefficients b_n(q) = E[f(√q z) He_n(z)]/√(n!), n ≤ N,
    E = E[f(√q z)²], and an error estimate of the b_n (successive levels)."""
    prev = None
    # the trapezoid must resolve ψ_N (local wavelength ≳ π/√N): start near that step
    start = max(2, int(math.log2(max(math.sqrt(N) / 4, 1))) + 1)
    for level in range(start, _MAX_LEVEL + 1):
        b, E = _hermite_level(comp, be, sq, N, deriv, level)
        scale = math.sqrt(abs(float(be.mid(np.array([E], dtype=be.dtype))[0]))) + 1e-300
        if prev is not None:
            diff = float(np.max(np.abs(be.mid(b) - be.mid(prev[0]))))
            dE = abs(float(be.mid(np.array([E - prev[1]], dtype=be.dtype))[0]))
            if diff <= 0.1 * math.sqrt(be.tol) * scale and dE <= 0.1 * math.sqrt(be.tol) * scale**2:
                return b, E, diff * diff / scale + 4 * be.eps * scale
        prev = (b, E)
    raise QuadratureError(f"Hermite coefficients did not converge by level {_MAX_LEVEL}")


class _Mehler:
    """Hermite data of one activation at one q: b_n, the Parseval remainders R_N."""

    def __init__(self, comp, be, sq, N):
        b, E, err = hermite_coefficients(comp, be, sq, N)
        self.b = b
        self.N = N
        bm = be.mid(b)
        Em = float(be.mid(np.array([E], dtype=be.dtype))[0])
        # R_N = E − Σ b_n² (≥ 0 up to rounding); add the quadrature error of Σ b_n²
        # Parseval remainders R_n = E − Σ_{k≤n} b_k², in the back end's precision
        rems = be.mid(E - np.cumsum(b * b))
        floor = 2 * err * float(np.sum(np.abs(bm))) + 8 * be.eps * abs(Em)
        self.Rn = np.maximum(rems, 0.0) + floor
        self.R = float(self.Rn[-1])
        self.scale = math.sqrt(abs(Em))
        self.err = err
        self._comp, self._be, self._sq = comp, be, sq
        self._Ej = {0: abs(Em)}

    def moment(self, j):
        """q^j E[φ^{(j)}(√q z)²] = Σ_n n^{(j)} b_n² (None if φ^{(j)} is not known)."""
        if j not in self._Ej:
            cj = self._comp.derivative(j)
            if cj is None or len(cj.pieces) != 1:
                self._Ej[j] = None
            else:
                be = self._be
                sq = np.array([self._sq], dtype=be.dtype)
                E = float(_diag_scale(cj, be, sq, False, _cutoff(be))[0])
                q = float(be.mid(sq)[0]) ** 2
                self._Ej[j] = E * q**j
        return self._Ej[j]

    def deriv_remainder(self, j):
        """Σ_{n>N} n^{(j)} b_n² (Parseval for φ^{(j)}), or None."""
        Mj = self.moment(j)
        if Mj is None:
            return None
        bm = self._be.mid(self.b)
        n = np.arange(len(bm), dtype=float)
        fall = np.ones_like(n)
        for i in range(j):
            fall = fall * np.maximum(n - i, 0.0)
        part = float(self._be.mid(np.array([(self.b * self.b * np.array(fall, dtype=object if self._be.kind != "double" else float)).sum()],
                                           dtype=self._be.dtype))[0])
        return max(Mj - part, 0.0) + 2 * self.err * float(np.sum(fall * np.abs(bm))) + 8 * self._be.eps * Mj


def _predict_N(M1, M2, r, target, N):
    """The next number of terms: extrapolate the Parseval remainders, which decay like
    exp(−a√n) for activations analytic in a strip, from n = N/2 and N; at least 2N, at most 8N."""
    R = np.sqrt(M1.Rn * M2.Rn)
    lo, hi = R[N // 2], R[N]
    if not (hi > 0 and lo > hi):
        return 2 * N
    a = (math.log(lo) - math.log(hi)) / (math.sqrt(N) - math.sqrt(N / 2))
    lr = -math.log(r) if 0 < r < 1 else 0.0
    n = N
    while n < 8 * N:
        n = int(n * 1.1) + 1
        if math.log(hi) - a * (math.sqrt(n) - math.sqrt(N)) - lr * (n + 1) <= math.log(target) - 2.0:
            break
    return max(2 * N, int(1.2 * n))


def _tail_bound(R1, R2, r, N, j):
    """√(R1R2)·max_{n>N} n^j r^{n−j}: bound on |Σ_{n>N} A_n n^{(j)} ρ^{n−j}| for |ρ| ≤ r < 1."""
    if r >= 1.0:
        return math.inf if (R1 > 0 and R2 > 0) else 0.0
    if r == 0.0:
        return math.sqrt(R1 * R2) * (1.0 if (j == 0 and N < 0) else 0.0)
    lr = -math.log(r)
    n0 = N + 1
    if j > 0 and n0 < j / lr:
        n0 = j / lr
    return math.sqrt(R1 * R2) * math.exp(j * math.log(max(n0, 1.0)) + (n0 - j) * math.log(r))


# ---------------------------------------------------------------------------------------
# the dual activations of a numerical activation, for every ``ops`` back end
# ---------------------------------------------------------------------------------------

_N_START = 48
_N_MAX = {"double": 768, "arb": 1536}


class NumericDuals:
    """V and V' of one activation (compiled pieces), dispatching on the ``ops`` back end."""

    def __init__(self, comp, name, smooth, continuous):
        self.comp = comp
        self.name = name
        self.smooth = smooth
        self.continuous = continuous
        self._mehler = {}
        self._lock = threading.Lock()

    # -- Mehler data, cached per (precision, q) --------------------------------------
    def mehler(self, be, sq, N, order=0):
        key = (be.kind, getattr(be, "prec", 53), float(be.mid(np.array([sq], dtype=be.dtype))[0]), N, order)
        with self._lock:
            hit = self._mehler.get(key)
        if hit is None:
            comp = self.comp.derivative(order)
            if comp is None:
                raise ValueError(f"activation {self.name!r}: its derivative of order {order} is unknown "
                                 "(give a sympy expression); the Taylor series of the kernel needs it")
            hit = _Mehler(comp, be, sq, N)
            with self._lock:
                if len(self._mehler) > 256:
                    self._mehler.clear()
                self._mehler[key] = hit
        return hit

    def _series_pair(self, be, sq1, sq2, r, orders, order=0):
        """(M1, M2, N) with the tail bound of every derivative order below tolerance at |ρ| ≤ r
        (``order`` > 0: the series of φ^{(order)}, whose Mehler series is V^{(order)})."""
        N = _N_START
        while True:
            M1 = self.mehler(be, sq1, N, order)
            M2 = M1 if sq2 is sq1 else self.mehler(be, sq2, N, order)
            scale = M1.scale * M2.scale
            ok = all(self._tail_ok(M1, M2, r, N, j, be) for j in orders)
            if ok:
                return M1, M2, N
            if N >= _N_MAX[be.kind]:
                return None
            N = min(_predict_N(M1, M2, r, be.tail_tol * scale, N), _N_MAX[be.kind])

    @staticmethod
    def _tail_ok(M1, M2, r, N, j, be):
        """The tail of the j-th derivative series is below tolerance: the |ρ|^n bound from
        Parseval for φ, or (j ≥ 1, valid up to |ρ| = 1) Parseval for φ^{(j)}, relative to
        √(E[φ^{(j)}(u)²] E[φ^{(j)}(v)²])."""
        scale = M1.scale * M2.scale
        if _tail_bound(M1.R, M2.R, r, N, j) <= be.tail_tol * scale * (N + 1) ** j:
            return True
        if j == 0:
            return False
        R1, R2 = M1.deriv_remainder(j), M2.deriv_remainder(j)
        if R1 is None or R2 is None:
            return False
        return math.sqrt(R1 * R2) <= be.tail_tol * math.sqrt(M1.moment(j) * M2.moment(j))

    # -- values -------------------------------------------------------------------------
    def values(self, c, q1, q2, be, want):
        """(V, V') (either None if not wanted) on 1-D arrays of back end ``be``."""
        B = len(c)
        cf, q1f, q2f = be.mid(c), be.mid(q1), be.mid(q2)
        rho = np.abs(cf) / np.sqrt(q1f * q2f)
        diag = rho >= 1 - 4 * be.eps
        V = be.zeros(B) if want[0] else None
        D = be.zeros(B) if want[1] else None
        done = np.zeros(B, dtype=bool)
        if np.any(diag):
            i = np.flatnonzero(diag)
            if want[0]:
                V[i] = be.with_error(*expectation(self.comp, self.comp, c[i], q1[i], q2[i], be))
            if want[1]:
                if self.continuous:
                    D[i] = be.with_error(*expectation(self.comp, self.comp, c[i], q1[i], q2[i], be, True, True))
                else:
                    # φ jumps: E[φ'²] is infinite (no NTK: the recursion raises before using it);
                    # the CK's float64 error tracking propagates nothing through |ρ| = 1
                    D[i] = be.zeros(len(i))
            done |= diag
        if self.smooth and not np.all(done):
            # group by (q1, q2): one Mehler series per distinct pair
            keys = {}
            for i in np.flatnonzero(~done):
                keys.setdefault((q1f[i], q2f[i]), []).append(i)
            for idx in keys.values():
                idx = np.asarray(idx)
                sq1 = be.sqrt(q1[idx[:1]])[0]
                sq2 = be.sqrt(q2[idx[:1]])[0]
                same = q1f[idx[0]] == q2f[idx[0]]
                got = self._series_pair(be, sq1, sq1 if same else sq2, float(np.max(rho[idx])),
                                        (0, 1) if want[1] else (0,))
                if got is None:
                    continue
                M1, M2, N = got
                A = M1.b * M2.b
                qq = sq1 * sq2
                r = c[idx] / qq
                err0 = _tail_bound(M1.R, M2.R, float(np.max(rho[idx])), N, 0) + (M1.err * M2.scale + M2.err * M1.scale)
                if want[0]:
                    acc = be.zeros(len(idx)) + A[N]
                    for n in range(N - 1, -1, -1):
                        acc = acc * r + A[n]
                    V[idx] = be.with_error(acc, np.full(len(idx), err0))
                if want[1]:
                    acc = be.zeros(len(idx)) + A[N] * N
                    for n in range(N - 1, 0, -1):
                        acc = acc * r + A[n] * n
                    err1 = (_tail_bound(M1.R, M2.R, float(np.max(rho[idx])), N, 1) + N * err0) / float(be.mid(
                        np.array([qq], dtype=be.dtype))[0])
                    D[idx] = be.with_error(acc / qq, np.full(len(idx), err1))
                done[idx] = True
        if not np.all(done):
            i = np.flatnonzero(~done)
            if want[0] and want[1] and self.continuous and not self.smooth:
                (v, ev), (d, ed) = expectation_pair(self.comp, c[i], q1[i], q2[i], be)
                V[i], D[i] = be.with_error(v, ev), be.with_error(d, ed)
                return V, D
            if want[0]:
                V[i] = be.with_error(*expectation(self.comp, self.comp, c[i], q1[i], q2[i], be))
            if want[1]:
                D[i] = self._ddual_2d(c[i], q1[i], q2[i], be)
        return V, D

    def _ddual_2d(self, c, q1, q2, be):
        if self.continuous:
            return be.with_error(*expectation(self.comp, self.comp, c, q1, q2, be, True, True))
        # φ jumps: ∂V/∂c by a central difference (only the CK's error propagation uses it)
        h = 2.0**-20 if be.kind == "double" else be.const(2) ** (-(be.prec // 2))
        sq = be.sqrt(q1 * q2)
        up = np.minimum(c + h * sq, sq) if be.kind == "double" else c + sq * h
        dn = np.maximum(c - h * sq, -sq) if be.kind == "double" else c - sq * h
        vu, _ = expectation(self.comp, self.comp, up, q1, q2, be)
        vd, _ = expectation(self.comp, self.comp, dn, q1, q2, be)
        return (vu - vd) / (up - dn)

    def _series_split(self, be, sq1, sq2, rho, j):
        """(series data, mask) for the largest set {|ρ| ≤ r} of the points ``rho`` on which the
        Hermite series of φ^{(j)} meets its tail bound (bisection over the points' |ρ|, the
        largest known to fail); (None, all False) when it converges at none of them."""
        rs = np.unique(rho)
        lo, hi, best = -1, len(rs) - 1, None
        while hi - lo > 1:
            mid = (lo + hi) // 2
            got = self._series_pair(be, sq1, sq2, float(rs[mid]), (0,), order=j)
            if got is None:
                hi = mid
            else:
                lo, best = mid, got
        if best is None:
            return None, np.zeros(len(rho), dtype=bool)
        return best, rho <= rs[lo]

    # -- Taylor jets (sphere, Gaussian, large d) -----------------------------------------
    def jet(self, c, q1, q2, be, deriv):
        """Taylor coefficients of V (or V') along the jet c: arrays of the back end.

        ``c`` is a Jet (coef (K+1, *batch)) with coefficients in ``be``; q1, q2 arrays of the
        batch shape (or scalars)."""
        from .jets import Jet

        if not self.smooth:
            raise ValueError(f"activation {self.name!r} has kinks: its kernel's Taylor series (needed by "
                             "the sphere and Gaussian double paths and the large-d limit) is not "
                             "available; use the cube, or the sphere at a number of digits")
        K = c.order
        c0 = c.coef[0]
        shape = np.shape(c0)
        c0f = np.ravel(c0)
        q1a = np.ravel(np.broadcast_to(np.asarray(q1, dtype=be.dtype if be.kind != "double" else float), shape))
        q2a = np.ravel(np.broadcast_to(np.asarray(q2, dtype=be.dtype if be.kind != "double" else float), shape))
        if be.kind != "double":
            c0f, q1a, q2a = be.array(c0f), be.array(q1a), be.array(q2a)
        need = K + (1 if deriv else 0)
        derivs = [be.zeros(len(c0f)) for _ in range(need + 1)]
        q1f, q2f = be.mid(q1a), be.mid(q2a)
        rho = np.abs(be.mid(c0f)) / np.sqrt(q1f * q2f)
        keys = {}
        for i in range(len(c0f)):
            keys.setdefault((q1f[i], q2f[i]), []).append(i)
        for idx in keys.values():
            idx = np.asarray(idx)
            sq1, sq2 = be.sqrt(q1a[idx[:1]])[0], be.sqrt(q2a[idx[:1]])[0]
            same = q1f[idx[0]] == q2f[idx[0]]
            r = float(np.max(rho[idx]))
            qq = sq1 * sq2
            x = c0f[idx] / qq
            for j in range(need + 1):
                # Price: d^j V/dc^j = E[φ^{(j)}(u) φ^{(j)}(v)] = Σ_n b_n^{(j)}(q₁) b_n^{(j)}(q₂) ρⁿ, with
                # the Hermite coefficients of φ^{(j)} itself (well conditioned, unlike n^{(j)} b_n)
                s2 = sq1 if same else sq2
                got = self._series_pair(be, sq1, s2, r, (0,), order=j)
                part, px = idx, x
                if got is None:
                    # near |ρ| = 1 the series of a high derivative converges too slowly (the Hermite
                    # coefficients of φ^{(j)} decay like e^{−a√n} and ρⁿ no longer helps): the series
                    # on the points where it converges, the 2-D quadrature of E[φ^{(j)}(u) φ^{(j)}(v)]
                    # (trapezoidal, geometric in 1/h at any ρ; 1-D at |ρ| = 1) on the rest
                    got, keep = self._series_split(be, sq1, s2, rho[idx], j)
                    part, px = idx[keep], x[keep]
                    rest = idx[~keep]
                    cj = self.comp.derivative(j)
                    derivs[j][rest] = be.with_error(*expectation(cj, cj, c0f[rest], q1a[rest], q2a[rest], be))
                if got is not None and len(part):
                    M1, M2, N = got
                    A = M1.b * M2.b
                    acc = be.zeros(len(part)) + A[N]
                    for n in range(N - 1, -1, -1):
                        acc = acc * px + A[n]
                    derivs[j][part] = acc
        off = 1 if deriv else 0
        # compose V^{(j+off)}(c0) with δ = c − c0: Σ_j V^{(j+off)} δ^j / j!
        delta = Jet(c.coef.copy())
        delta.coef[0] = delta.coef[0] * 0
        out = Jet(np.zeros_like(c.coef) if be.kind == "double" else np.zeros(c.coef.shape, dtype=object) * 0)
        out.coef[0] = derivs[off].reshape(shape)
        power = None
        fact = 1
        for j in range(1, K + 1):
            power = delta if power is None else power * delta
            fact *= j
            term = derivs[j + off].reshape(shape) / fact
            out = out + power * term
        return out


def _broadcast(c, q1, q2):
    c, q1, q2 = np.broadcast_arrays(np.asarray(c), np.asarray(q1), np.asarray(q2))
    return c.shape, c.ravel(), q1.ravel(), q2.ravel()


def _make_duals(nd: NumericDuals):
    """``duals(c, q1, q2, ops, want)`` for the Activation record: every ops back end."""
    from .jets import Jet

    def run(c, q1, q2, ops, want):
        kind = ops.kind
        if isinstance(c, Jet) or kind.startswith("jet"):
            base = ops.base
            if not isinstance(c, Jet):
                return run(c, q1, q2, base, want)
            if isinstance(q1, Jet) or isinstance(q2, Jet):
                raise TypeError("numerical duals take jets in the covariance only")
            if base.kind == "double":
                be = _Float()
                return tuple(nd.jet(c, q1, q2, be, d) if w else None for d, w in zip((False, True), want))
            if base.kind == "mp":
                import flint

                with flint.ctx.workprec(base.prec + 8):
                    be = _arb_backend(base.prec + 8)
                    cj = Jet(be.array(c.coef))
                    q1a, q2a = be.array(q1), be.array(q2)
                    res = [nd.jet(cj, q1a, q2a, be, d) if w else None for d, w in zip((False, True), want)]
                    from .precision import arb_to_mpf

                    conv = np.frompyfunc(lambda v: arb_to_mpf(base.ctx, v)[0], 1, 1)
                    return tuple(Jet(conv(r.coef)) if r is not None else None for r in res)
            raise ValueError(f"activation {nd.name!r}: no exact kernel (numerical route); "
                             "use precision='double' or a number of digits")
        if kind == "double":
            shape, cf, a, b = _broadcast(c, q1, q2)
            with np.errstate(all="ignore"):
                V, D = nd.values(cf.astype(float), a.astype(float), b.astype(float), _Float(), want)
            return tuple(x.reshape(shape) if x is not None else None for x in (V, D))
        if kind in ("arb", "mp"):
            import flint

            prec = ops.prec + 8
            shape, cf, a, b = _broadcast(c, q1, q2)
            with flint.ctx.workprec(prec):
                be = _arb_backend(prec)
                V, D = nd.values(be.array(cf), be.array(a), be.array(b), be, want)
            if kind == "arb":
                return tuple(x.reshape(shape) if x is not None else None for x in (V, D))
            from .precision import arb_to_mpf

            conv = np.frompyfunc(lambda v: arb_to_mpf(ops.ctx, v)[0], 1, 1)
            return tuple(conv(x).reshape(shape) if x is not None else None for x in (V, D))
        raise ValueError(f"precision='exact': activation {nd.name!r} has no exact kernel (it is computed "
                         "by quadrature); use an integer number of digits")

    def duals(c, q1, q2, ops):
        return run(c, q1, q2, ops, (True, True))

    def dual(c, q1, q2, ops):
        return run(c, q1, q2, ops, (True, False))[0]

    def ddual(c, q1, q2, ops):
        return run(c, q1, q2, ops, (False, True))[1]

    return dual, ddual, duals


def _np_function(comp, deriv):
    """φ (or φ') on float arrays of any shape (pieces by their kinks)."""
    be = _Float()
    kinks = comp.kinks(be)

    def f(x):
        x = np.asarray(x, dtype=float)
        idx = np.searchsorted(np.asarray(kinks, dtype=float), x, side="left") if kinks else None
        return _evaluate(comp, be, x, idx, deriv)

    return f


def from_expr(expr, name=None, description=None, reference=None, parity=None, odd_poly_degree=None,
              even_poly_degree=None):
    """An :class:`~spectra.activations.Activation` from a sympy expression in ``x`` (or a string,
    parsed with decimal literals kept exact).

    Polynomials get the exact closed form (:func:`spectra.activations.polynomial`); everything
    else the numerical duals of this module. Kinks and jumps are found by sympy from
    ``Piecewise``/``Abs``/``Max``/``Min``/``Heaviside``/``sign``; a φ that jumps has no NTK.

    Examples
    --------
    >>> from spectra import Architecture, kernel
    >>> from spectra.numeric import from_expr
    >>> act = from_expr("tanh(x) + 0.1*x")
    >>> round(float(kernel(Architecture(act, 1, 1.0, 0.0), 1.0, "ck")), 12) > 0
    True
    """
    from .activations import Activation, polynomial

    sp = _sympy()
    text = expr if isinstance(expr, str) else str(expr)
    e = parse_expr(expr) if isinstance(expr, str) else _check_expr(sp.sympify(expr), sp.Symbol("x", real=True), text)
    x = sp.Symbol("x", real=True)
    label = name or f"expr:{text}"
    if e.is_polynomial(x):
        poly = sp.Poly(e, x)
        coeffs = [sp.Rational(cf) for cf in reversed(poly.all_coeffs())]
        from fractions import Fraction

        return polynomial([Fraction(int(cf.p), int(cf.q)) for cf in coeffs], name=label)
    comp, info = compile_expr(e, text)
    smooth = len(comp.pieces) == 1
    continuous = not info["jumps"]
    if parity is None:
        parity, odd_deg, even_deg = _parity_info(e, x)
        odd_poly_degree = odd_poly_degree if odd_poly_degree is not None else odd_deg
        even_poly_degree = even_poly_degree if even_poly_degree is not None else even_deg
    nd = NumericDuals(comp, label, smooth, continuous)
    dual, ddual, duals = _make_duals(nd)
    return Activation(
        name=label, dual=dual, ddual=ddual, duals=duals, parity=parity, exact=None,
        fn=_np_function(comp, False), dfn=_np_function(comp, True), rounding=128.0,
        reference=reference or "numerical: Mehler (Hermite) series and 2-D quadrature split at kinks",
        description=description or text, odd_poly_degree=odd_poly_degree, even_poly_degree=even_poly_degree,
        odd_part_linear=odd_poly_degree == 1, ntk_defined=continuous, closed_form=False)


class _CallableComp:
    """Python callables in the interface of compiled pieces (one function for every piece;
    ``kinks`` are where the caller says φ is not analytic)."""

    def __init__(self, fn, dfn, mp_fn, mp_dfn, kinks, name):
        self._f = {False: fn, True: dfn}
        self._mp = {False: mp_fn, True: mp_dfn}
        self._kinks = sorted(float(k) for k in kinks)
        self.pieces = [None] * (len(self._kinks) + 1)
        self.name = name
        self._cache = {}

    def kinks(self, be):
        return list(self._kinks) if be.kind == "double" else [be.const(k) for k in self._kinks]

    def derivative(self, j):
        """φ (j = 0) or φ' (j = 1, when given); higher derivatives are unknown (None)."""
        if j == 0:
            return self
        if j == 1 and self._f[True] is not None:
            return _CallableComp(self._f[True], None, self._mp[True], None, self._kinks, self.name + "'")
        return None

    def fn(self, be, j, deriv):
        if be.kind == "double":
            f = self._f[deriv]
            if f is None:
                raise ValueError(f"activation {self.name!r}: the NTK needs φ'; pass deriv=")
            return f
        key = (be.prec, deriv)
        if key not in self._cache:
            f = self._mp[deriv]
            if f is None:
                raise ValueError(f"activation {self.name!r}: a number of digits needs "
                                 f"{'mp_deriv' if deriv else 'mp_fn'}=f(x, ctx) computing in the mpmath "
                                 "context ctx (e.g. lambda x, ctx: ctx.tanh(x))")
            import mpmath

            from .precision import arb_to_mpf

            ctx = mpmath.MPContext()
            ctx.prec = be.prec
            self._cache[key] = np.frompyfunc(lambda v: be.const(f(arb_to_mpf(ctx, v)[0], ctx)), 1, 1)
        return self._cache[key]


def from_callable(fn, deriv=None, *, mp_fn=None, mp_deriv=None, kinks=(), name="callable", parity=0,
                  jumps=False):
    """An :class:`~spectra.activations.Activation` from Python callables.

    Parameters
    ----------
    fn, deriv : callable
        φ and φ' on float64 numpy arrays (``deriv`` is needed for the NTK).
    mp_fn, mp_deriv : callable ``(x, ctx) -> mpf``, optional
        The same at a number of digits, computing in the mpmath context ``ctx``
        (``lambda x, ctx: ctx.tanh(x)``); needed only for ``precision=N``.
    kinks : sequence of float
        Points where φ is not analytic (the quadrature splits there).
    parity : {-1, 0, 1}
        Declared parity (used for structural zeros; not checked).
    jumps : bool
        φ is discontinuous (then the NTK is not defined).
    """
    from .activations import Activation

    if not callable(fn):
        raise TypeError(f"fn must be callable; got {fn!r}")
    if parity not in (-1, 0, 1):
        raise ValueError(f"parity must be -1, 0 or 1; got {parity!r}")
    comp = _CallableComp(fn, deriv, mp_fn, mp_deriv, kinks, name)
    nd = NumericDuals(comp, name, not comp._kinks, not jumps)
    dual, ddual, duals = _make_duals(nd)
    return Activation(name=name, dual=dual, ddual=ddual, duals=duals, parity=parity, exact=None, fn=fn,
                      dfn=deriv, rounding=128.0, reference="user callable (numerical duals)",
                      description=getattr(fn, "__name__", "callable"), ntk_defined=not jumps and deriv is not None,
                      closed_form=False)
