"""Independent reference implementations for the ``spectra`` test suite.

Everything here is derived directly from the mathematics in
``CONVENTIONS.md`` (sections 1, 2 and 4) and deliberately shares no code
with the ``spectra`` package, so that tests can compare the library against
it.  Only :mod:`numpy`, :mod:`scipy` and :mod:`mpmath` are used.

Conventions used throughout
---------------------------
* Dual activation ("V-transform"): ``V(c; q1, q2) = E[phi(u) phi(v)]`` with
  ``Var u = q1``, ``Var v = q2``, ``Cov(u, v) = c``; the derivative dual is
  ``E[phi'(u) phi'(v)]``.
* Network (NTK parameterisation, ``depth`` = L hidden layers)::

      Sigma^1      = w * <x,y>/d + b
      Sigma^{l+1}  = w * V(Sigma^l_xy; Sigma^l_xx, Sigma^l_yy) + b
      Theta^1      = Sigma^1
      Theta^{l+1}  = Sigma^{l+1} + w * Theta^l * V'(Sigma^l_xy; ...)

  with ``w = weight_var`` and ``b = bias_var``.  The CK is ``Sigma^{L+1}``
  and the NTK is ``Theta^{L+1}``.
* Cube: uniform on ``{-1, +1}^d``.  Point number ``j`` (``0 <= j < 2**d``)
  has coordinate ``i`` equal to ``1 - 2 * bit_i(j)`` (bit 0 = least
  significant bit = coordinate 0), so a set bit means ``-1``.  With this
  ordering the Walsh function ``chi_S(x_j) = (-1)**popcount(S & j)``, i.e.
  the Sylvester-ordered Hadamard matrix.
* Eigenvalues are those of ``(T f)(x) = E_y[K(x, y) f(y)]`` under the
  probability measure, i.e. Gram matrices are divided by the number of
  points.

High precision
--------------
Functions taking ``ctx`` use the given :class:`mpmath.MPContext` instance and
never touch the global ``mpmath.mp``.  Numbers are converted into ``ctx``
with :func:`to_ctx`; pass exact inputs (``int``, :class:`fractions.Fraction`,
decimal strings) when every digit matters, because a Python float such as
``0.1`` is converted with its exact binary value.
"""

from __future__ import annotations

import math
from fractions import Fraction
from numbers import Integral

import mpmath
import numpy as np
import scipy.special

__all__ = [
    "ACTIVATIONS",
    "activation_mp",
    "activation_np",
    "bivariate_moment",
    "cluster",
    "cube_coeffs",
    "cube_mu_direct",
    "cube_mu_exact_poly",
    "cube_phi_values",
    "cube_points",
    "cube_t_values",
    "cube_walsh_eigs",
    "ddual_closed",
    "dual_closed",
    "dual_mc",
    "dual_quad",
    "fwht",
    "gram_cube_eigs",
    "kernel_ref",
    "kernel_ref3",
    "popcount",
    "to_ctx",
]

#: Names of the activations with closed-form dual activations.
ACTIVATIONS = ("relu", "erf", "identity", "x2", "x3", "x4")

_MONOMIAL_DEGREE = {"identity": 1, "x2": 2, "x3": 3, "x4": 4}


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def to_ctx(ctx, x):
    """Convert a number into an ``mpf`` of the context ``ctx``.

    Parameters
    ----------
    ctx : mpmath.MPContext
        Target context.
    x : int, float, fractions.Fraction, str or mpf
        Value.  Integers, fractions and strings are converted with a single
        rounding at the precision of ``ctx``; floats with their exact binary
        value; an ``mpf`` of any context is rounded to ``ctx``'s precision.

    Returns
    -------
    mpf
        ``x`` as a number of ``ctx``.
    """
    if isinstance(x, Fraction):
        return ctx.mpf(x.numerator) / x.denominator
    if isinstance(x, (bool, np.bool_)):
        raise TypeError("booleans are not numbers here")
    if isinstance(x, Integral):
        return ctx.mpf(int(x))
    if isinstance(x, np.floating):
        return ctx.mpf(float(x))
    return ctx.mpf(x)


def _check_name(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {ACTIVATIONS}")


def _double_factorial_odd(n):
    """(n-1)!! for even n >= 0 (number of perfect pairings of n objects)."""
    out = 1
    for j in range(n - 1, 0, -2):
        out *= j
    return out


def cube_points(d):
    """All points of the cube ``{-1, +1}^d``.

    Parameters
    ----------
    d : int
        Dimension, ``d >= 1``.

    Returns
    -------
    numpy.ndarray
        Float array of shape ``(2**d, d)``.  Row ``j`` has entry
        ``1 - 2 * ((j >> i) & 1)`` in column ``i`` (a set bit means ``-1``).
    """
    d = int(d)
    if d < 1:
        raise ValueError("d must be >= 1")
    j = np.arange(2**d, dtype=np.int64)
    bits = (j[:, None] >> np.arange(d, dtype=np.int64)[None, :]) & 1
    return (1 - 2 * bits).astype(float)


def popcount(a):
    """Number of set bits of each entry of a non-negative integer array.

    Parameters
    ----------
    a : array_like of int

    Returns
    -------
    numpy.ndarray
        Integer array of the same shape.
    """
    a = np.asarray(a, dtype=np.int64).copy()
    out = np.zeros_like(a)
    while np.any(a):
        out += a & 1
        a >>= 1
    return out


# ---------------------------------------------------------------------------
# activations and dual activations
# ---------------------------------------------------------------------------


def bivariate_moment(n, m, c, q1, q2, ctx=None):
    """Mixed moment ``E[u**n v**m]`` of a centred bivariate normal.

    Isserlis/Wick: a term of the expansion pairs ``k`` of the ``u`` factors
    with ``k`` of the ``v`` factors (``C(n,k) C(m,k) k!`` ways, each giving
    ``c**k``) and pairs the remaining ``n-k`` ``u``'s among themselves
    (``(n-k-1)!!`` ways, ``q1**((n-k)/2)``) and likewise the ``v``'s::

        E[u^n v^m] = sum_k C(n,k) C(m,k) k! (n-k-1)!! (m-k-1)!!
                           c^k q1^((n-k)/2) q2^((m-k)/2),

    the sum running over ``k <= min(n, m)`` with ``n-k`` and ``m-k`` even.

    Parameters
    ----------
    n, m : int
        Non-negative exponents.
    c, q1, q2 : float, array_like or number
        Covariance and the two variances.
    ctx : mpmath.MPContext, optional
        If given, compute in this context (scalars only).

    Returns
    -------
    float, numpy.ndarray or mpf
    """
    n, m = int(n), int(m)
    if ctx is not None:
        c, q1, q2 = to_ctx(ctx, c), to_ctx(ctx, q1), to_ctx(ctx, q2)
        total = ctx.zero
    else:
        c, q1, q2 = (np.asarray(v, dtype=float) for v in (c, q1, q2))
        total = np.zeros(np.broadcast(c, q1, q2).shape)
    for k in range(min(n, m) + 1):
        if (n - k) % 2 or (m - k) % 2:
            continue
        coef = (
            math.comb(n, k)
            * math.comb(m, k)
            * math.factorial(k)
            * _double_factorial_odd(n - k)
            * _double_factorial_odd(m - k)
        )
        total = total + coef * c**k * q1 ** ((n - k) // 2) * q2 ** ((m - k) // 2)
    if ctx is None and np.ndim(total) == 0:
        return float(total)
    return total


def activation_np(name, derivative=False):
    """Vectorised numpy activation (or its derivative).

    Parameters
    ----------
    name : str
        One of :data:`ACTIVATIONS`.
    derivative : bool, optional
        Return ``phi'`` instead of ``phi``.  The relu derivative is the step
        ``1[x > 0]``.

    Returns
    -------
    callable
        Function of a float array.
    """
    _check_name(name)
    if name == "relu":
        if derivative:
            return lambda x: (np.asarray(x) > 0).astype(float)
        return lambda x: np.maximum(x, 0.0)
    if name == "erf":
        if derivative:
            return lambda x: 2.0 / math.sqrt(math.pi) * np.exp(-np.square(x))
        return scipy.special.erf
    n = _MONOMIAL_DEGREE[name]
    if derivative:
        return lambda x: n * np.asarray(x, dtype=float) ** (n - 1)
    return lambda x: np.asarray(x, dtype=float) ** n


def activation_mp(name, derivative=False):
    """Activation (or derivative) acting on an ``mpf``, in that number's context.

    The returned callable uses ``x.context`` for special functions, so it
    keeps whatever precision the caller's context has (as required by
    :func:`dual_quad`).

    Parameters
    ----------
    name : str
        One of :data:`ACTIVATIONS`.
    derivative : bool, optional
        Return ``phi'`` instead of ``phi``.

    Returns
    -------
    callable
        Function of one ``mpf``.
    """
    _check_name(name)
    if name == "relu":
        if derivative:
            return lambda x: x.context.one if x > 0 else x.context.zero
        return lambda x: x if x > 0 else x.context.zero
    if name == "erf":
        if derivative:
            return lambda x: 2 / x.context.sqrt(x.context.pi) * x.context.exp(-x * x)
        return lambda x: x.context.erf(x)
    n = _MONOMIAL_DEGREE[name]
    if derivative:
        return lambda x: n * x ** (n - 1)
    return lambda x: x**n


def _relu_rho(c, q1, q2, ctx):
    """(q, rho) for the relu formulas, with rho clipped to [-1, 1]."""
    if ctx is not None:
        q = q1 if q1 == q2 else ctx.sqrt(q1 * q2)
        if q == 0:
            return q, None
        rho = c / q
        rho = max(min(rho, ctx.one), -ctx.one)
        return q, rho
    q = np.where(q1 == q2, q1, np.sqrt(q1 * q2))
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip(np.where(q > 0, c / np.where(q > 0, q, 1.0), 0.0), -1.0, 1.0)
    return q, rho


def _prep(c, q1, q2, ctx):
    if ctx is not None:
        if not isinstance(ctx, mpmath.ctx_mp.MPContext):
            raise TypeError("ctx must be an mpmath.MPContext instance")
        return to_ctx(ctx, c), to_ctx(ctx, q1), to_ctx(ctx, q2)
    c, q1, q2 = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (c, q1, q2)))
    return c, q1, q2


def _out(x, ctx):
    if ctx is None and np.ndim(x) == 0:
        return float(x)
    return x


def dual_closed(name, c, q1, q2, ctx=None):
    """Closed-form dual activation ``E[phi(u) phi(v)]``.

    ``(u, v)`` is centred normal with ``Var u = q1``, ``Var v = q2`` and
    ``Cov(u, v) = c``; requires ``|c| <= sqrt(q1 q2)``.  Formulas
    (CONVENTIONS section 1, ``q = sqrt(q1 q2)``, ``rho = c / q``):

    * relu: ``q (sqrt(1 - rho^2) + (pi - arccos rho) rho) / (2 pi)``
      (0 when ``q = 0``);
    * erf: ``(2/pi) arcsin(c / sqrt((q1 + 1/2)(q2 + 1/2)))``;
    * identity, x2, x3, x4: ``E[u^n v^n]`` from :func:`bivariate_moment`,
      e.g. x2: ``q1 q2 + 2 c^2``; x3: ``9 c q1 q2 + 6 c^3``;
      x4: ``9 q1^2 q2^2 + 72 c^2 q1 q2 + 24 c^4``.

    Parameters
    ----------
    name : str
        One of :data:`ACTIVATIONS`.
    c, q1, q2 : float, array_like or number
        Covariance and variances.  Arrays broadcast in the numpy path.
    ctx : mpmath.MPContext, optional
        Compute with this context (scalar inputs) instead of numpy doubles.

    Returns
    -------
    float, numpy.ndarray or mpf
    """
    _check_name(name)
    c, q1, q2 = _prep(c, q1, q2, ctx)
    if name in _MONOMIAL_DEGREE:
        n = _MONOMIAL_DEGREE[name]
        return _out(bivariate_moment(n, n, c, q1, q2, ctx), ctx)
    if name == "relu":
        q, rho = _relu_rho(c, q1, q2, ctx)
        if ctx is not None:
            if rho is None:
                return ctx.zero
            pi = ctx.pi
            return q * (ctx.sqrt(1 - rho * rho) + (pi - ctx.acos(rho)) * rho) / (2 * pi)
        val = q * (np.sqrt(1 - rho * rho) + (np.pi - np.arccos(rho)) * rho) / (2 * np.pi)
        return _out(np.where(q > 0, val, 0.0), ctx)
    # erf
    if ctx is not None:
        half = ctx.mpf(1) / 2
        arg = c / ctx.sqrt((q1 + half) * (q2 + half))
        arg = max(min(arg, ctx.one), -ctx.one)
        return 2 / ctx.pi * ctx.asin(arg)
    arg = np.clip(c / np.sqrt((q1 + 0.5) * (q2 + 0.5)), -1.0, 1.0)
    return _out(2 / np.pi * np.arcsin(arg), ctx)


def ddual_closed(name, c, q1, q2, ctx=None):
    """Closed-form derivative dual ``E[phi'(u) phi'(v)]``.

    Formulas (CONVENTIONS section 1, ``rho = c / sqrt(q1 q2)``):

    * relu (``phi'`` = step): ``(pi - arccos rho) / (2 pi)``; undefined for
      ``q1 q2 = 0`` (raises :class:`ValueError`);
    * erf: ``(4/pi) ((1 + 2 q1)(1 + 2 q2) - 4 c^2)^(-1/2)``;
    * x^n: ``n^2 E[u^(n-1) v^(n-1)]`` (identity: 1).

    Parameters
    ----------
    name : str
        One of :data:`ACTIVATIONS`.
    c, q1, q2 : float, array_like or number
        Covariance and variances.
    ctx : mpmath.MPContext, optional
        Compute with this context (scalar inputs) instead of numpy doubles.

    Returns
    -------
    float, numpy.ndarray or mpf
    """
    _check_name(name)
    c, q1, q2 = _prep(c, q1, q2, ctx)
    if name in _MONOMIAL_DEGREE:
        n = _MONOMIAL_DEGREE[name]
        return _out(n * n * bivariate_moment(n - 1, n - 1, c, q1, q2, ctx), ctx)
    if name == "relu":
        q, rho = _relu_rho(c, q1, q2, ctx)
        if ctx is not None:
            if rho is None:
                raise ValueError("relu derivative dual is undefined for q1 * q2 = 0")
            return (ctx.pi - ctx.acos(rho)) / (2 * ctx.pi)
        if np.any(q == 0):
            raise ValueError("relu derivative dual is undefined for q1 * q2 = 0")
        return _out((np.pi - np.arccos(rho)) / (2 * np.pi), ctx)
    if ctx is not None:
        return 4 / ctx.pi / ctx.sqrt((1 + 2 * q1) * (1 + 2 * q2) - 4 * c * c)
    return _out(4 / np.pi / np.sqrt((1 + 2 * q1) * (1 + 2 * q2) - 4 * c * c), ctx)


# ---------------------------------------------------------------------------
# numerical duals: quadrature and Monte Carlo
# ---------------------------------------------------------------------------

_GL_CACHE = {}
HMAX, HS, HA = 4.0, 6.0, 5.0  # dual_quad piece width: h <= HMAX, HS*s, HA/sqrt(q)


def _gauss_legendre_raw(m, prec):
    """Gauss-Legendre nodes/weights on [-1, 1] as raw mpf tuples at ``prec`` bits.

    Newton iteration on the three-term recurrence of P_m, started from
    numpy's double-precision nodes.
    """
    key = (m, prec)
    if key in _GL_CACHE:
        return _GL_CACHE[key]
    ctx = mpmath.MPContext()
    ctx.prec = prec + 20
    x0, _ = np.polynomial.legendre.leggauss(m)
    tol = ctx.ldexp(ctx.one, -prec - 10)

    def legendre(x):
        p0, p1 = ctx.one, x
        for j in range(1, m):
            p0, p1 = p1, ((2 * j + 1) * x * p1 - j * p0) / (j + 1)
        dp = m * (x * p1 - p0) / (x * x - 1)
        return p1, dp

    xs, ws = [], []
    for k in range(m):
        x = ctx.mpf(float(x0[k]))
        for _ in range(50):
            p, dp = legendre(x)
            dx = p / dp
            x -= dx
            if abs(dx) < tol:
                break
        else:  # pragma: no cover - Newton from double nodes always converges
            raise RuntimeError("Gauss-Legendre Newton iteration did not converge")
        _, dp = legendre(x)
        xs.append(x._mpf_)
        ws.append((2 / ((1 - x * x) * dp * dp))._mpf_)
    _GL_CACHE[key] = (xs, ws)
    return xs, ws


def _box_min_quadratic(x0, x1, y0, y1, rho):
    """Minimum of x^2 - 2 rho x y + y^2 (|rho| < 1) over the box [x0,x1] x [y0,y1]."""
    if x0 <= 0 <= x1 and y0 <= 0 <= y1:
        return 0.0
    best = math.inf
    for x in (x0, x1):
        y = min(max(rho * x, y0), y1)
        best = min(best, x * x - 2 * rho * x * y + y * y)
    for y in (y0, y1):
        x = min(max(rho * y, x0), x1)
        best = min(best, x * x - 2 * rho * x * y + y * y)
    return max(best, 0.0)


def _dual_quad_once(ctx, f, a, b, rho, dps, order, kink=None):
    """One tensor-product Gauss-Legendre evaluation; see :func:`dual_quad`."""

    def align(h):
        # make ±kink/a (= ±kink/b) piece boundaries: h divides kink/a
        if kink is None:
            return h
        ka = float(kink / a)
        return ka / math.ceil(ka / h)

    xs_raw, ws_raw = _gauss_legendre_raw(order, ctx.prec)
    xi = [ctx.make_mpf(t) for t in xs_raw]
    wi = [ctx.make_mpf(t) for t in ws_raw]
    R0 = math.sqrt(2 * math.log(10) * (dps + 20))  # |x| > R0 carries < 1e-(dps+20)
    s2 = 1 - rho * rho

    if s2 == 0:
        # degenerate: v = sign(rho) * b/a * u, one-dimensional Gaussian integral
        h = align(min(HMAX, HA / math.sqrt(float(a * a + b * b))))
        P = math.ceil(R0 / h)
        hh = ctx.mpf(h) / 2
        terms = []
        for p in range(-P, P):
            cp = (2 * p + 1) * hh
            for xk, wk in zip(xi, wi):
                x = cp + hh * xk
                terms.append(hh * wk * f(a * x) * f(rho * b * x) * ctx.exp(-x * x / 2))
        return ctx.fsum(terms) / ctx.sqrt(2 * ctx.pi), None

    s = ctx.sqrt(s2)
    # piece width: resolves the conditional Gaussian (width s) and f(a x)
    h = align(min(HMAX, HS * float(s), HA / float(a), HA / float(b)))
    P = math.ceil(R0 / h)
    hh = ctx.mpf(h) / 2
    centres = [(2 * p + 1) * hh for p in range(-P, P)]  # pieces [c-h/2, c+h/2]; 0 is a break
    npc = len(centres)

    def weighted(scale):
        """Rows w f(scale x) exp(-x^2/(2 s^2)); log max |w f| per piece; E f(scale x)^2."""
        rows, logmax, m2 = [], [], []
        for cp in centres:
            row, mx = [], ctx.zero
            for xk, wk in zip(xi, wi):
                x = cp + hh * xk
                fx = f(scale * x)
                wf = hh * wk * fx
                mx = max(mx, abs(wf))
                row.append(wf * ctx.exp(-x * x / (2 * s2)))
                m2.append(wf * fx * ctx.exp(-x * x / 2))
            rows.append(row)
            logmax.append(float(ctx.log(mx)) if mx != 0 else -math.inf)
        return rows, logmax, ctx.fsum(m2) / ctx.sqrt(2 * ctx.pi)

    A, LA, mA = weighted(a)
    B, LB, mB = weighted(b)
    # Cauchy-Schwarz scale sqrt(E f(u)^2 E f(v)^2) for the block-skipping threshold
    scale2 = mA * mB
    if scale2 == 0:
        return ctx.zero, ctx.zero
    log_scale = 0.5 * float(ctx.log(scale2))
    log_cut = log_scale - (dps + 10) * math.log(10) + math.log(2 * math.pi * float(s))

    if rho == 0:
        return ctx.fsum(ctx.fsum(r) for r in A) * ctx.fsum(ctx.fsum(r) for r in B) / (
            2 * ctx.pi * s
        ), ctx.sqrt(scale2)

    g = rho / s2  # cross term exp(g x y) of the standardised joint density
    # exp(g x y) = exp(g cp cq) exp(g cp hh xl) exp(g cq hh xk) exp(g hh^2 xk xl)
    E1 = [[ctx.exp(g * cp * hh * xk) for xk in xi] for cp in centres]
    M = [[ctx.exp(g * hh * hh * xk * xl) for xl in xi] for xk in xi]
    rf, s2f, hf = float(rho), float(s2), float(hh)
    cf = [float(cp) for cp in centres]
    log_m2 = 2 * math.log(order)
    blocks = []
    for p in range(npc):
        if LA[p] == -math.inf:
            continue
        for q in range(npc):
            if LB[q] == -math.inf:
                continue
            qmin = _box_min_quadratic(cf[p] - hf, cf[p] + hf, cf[q] - hf, cf[q] + hf, rf)
            if LA[p] + LB[q] - qmin / (2 * s2f) + log_m2 < log_cut:
                continue  # provably below 1e-(dps+10) of the scale
            bt = [B[q][l] * E1[p][l] for l in range(order)]
            inner = ctx.fsum(
                A[p][k] * E1[q][k] * ctx.fdot(M[k], bt) for k in range(order)
            )
            blocks.append(ctx.exp(g * centres[p] * centres[q]) * inner)
    return ctx.fsum(blocks) / (2 * ctx.pi * s), ctx.sqrt(scale2)


def dual_quad(f, c, q1, q2, dps=40, order=None, return_error=False, kink=None):
    """``E[f(u) f(v)]`` by high-precision numerical integration.

    Independent of the closed forms: with standardised coordinates
    ``u = sqrt(q1) x``, ``v = sqrt(q2) y`` the integral is taken over the
    plane against the bivariate normal density of correlation
    ``rho = c / sqrt(q1 q2)``,
    ``exp(-(x^2 - 2 rho x y + y^2) / (2 s^2)) / (2 pi s)``, ``s^2 = 1 - rho^2``,
    truncated to ``|x|, |y| <= R`` with ``exp(-R^2/2) ~ 1e-(dps+20)``.  Each
    axis is cut into pieces of equal width ``h`` (``h <= 4``, ``h <= 6 s``
    and ``h <= 5/sqrt(q)``, see ``HMAX, HS, HA``) with ``0`` as a break
    point, so a function that is smooth except at 0 (relu, step) is smooth
    on every rectangle; each rectangle gets an ``order``-point tensor
    Gauss-Legendre rule (nodes computed here by Newton's method).  The cross
    term ``exp(rho x y / s^2)`` is factorised over the pieces so that only
    ``O(order^2 + pieces * order)`` exponentials are needed, and rectangles
    whose contribution is provably below ``1e-(dps+10)`` of the
    Cauchy-Schwarz scale ``sqrt(E f(u)^2 E f(v)^2)`` are skipped.  Everything
    runs in a private :class:`mpmath.MPContext` with ``dps + 10`` digits.
    ``rho = 0`` factorises into two one-dimensional sums and ``|rho| = 1``
    is done as a one-dimensional integral.

    The accuracy is absolute relative to the Cauchy-Schwarz scale (about
    ``dps`` digits with the default order, which has been checked against
    the closed forms of all :data:`ACTIVATIONS` for moderate ``q`` and
    ``|rho| <= 0.95``).  Cost: roughly 0.05-0.5 s at ``dps = 34-40``.

    Parameters
    ----------
    f : callable
        Function of one ``mpf``.  It must compute in the context of its
        argument (e.g. ``lambda x: x.context.erf(x)``; see
        :func:`activation_mp`), otherwise precision is lost.  Assumed smooth
        away from 0 and of at most polynomial growth.
    c, q1, q2 : number
        Covariance and variances, ``q1, q2 > 0``, ``|c| <= sqrt(q1 q2)``.
    dps : int, optional
        Target decimal digits (default 40).
    order : int, optional
        Gauss-Legendre points per piece and axis; default
        ``ceil(0.85 dps + 8)``.
    return_error : bool, optional
        Also return an error estimate: the difference to a second run with
        ``order + 8`` points (costs about twice as much).
    kink : number, optional
        A kink of ``f`` at ±kink besides 0 (hard-tanh: 1); the piece width is
        adjusted so that ±kink/sqrt(q) are piece boundaries (needs q1 == q2).

    Returns
    -------
    mpf or (mpf, mpf)
        The value (an ``mpf`` of a private context with ``dps`` digits) and,
        if requested, the error estimate.
    """
    ctx = mpmath.MPContext()
    ctx.dps = int(dps) + 10
    c, q1, q2 = to_ctx(ctx, c), to_ctx(ctx, q1), to_ctx(ctx, q2)
    if not (q1 > 0 and q2 > 0):
        raise ValueError("dual_quad needs q1 > 0 and q2 > 0")
    a, b = ctx.sqrt(q1), ctx.sqrt(q2)
    rho = c / (a * b)
    if abs(rho) > 1 + ctx.ldexp(1, -ctx.prec + 8):
        raise ValueError("|c| must not exceed sqrt(q1 q2)")
    rho = max(min(rho, ctx.one), -ctx.one)
    if order is None:
        order = max(16, math.ceil(0.85 * dps + 8))
    if kink is not None and a != b:
        raise ValueError("dual_quad: kink= needs q1 == q2")
    val, _ = _dual_quad_once(ctx, f, a, b, rho, int(dps), int(order), kink)
    err = None
    if return_error:
        val2, _ = _dual_quad_once(ctx, f, a, b, rho, int(dps), int(order) + 8, kink)
        err = abs(val2 - val)
        val = val2
    ctx.dps = int(dps)
    val = +val
    if return_error:
        return val, +err
    return val


def dual_mc(f, c, q1, q2, n=10**6, seed=0):
    """Monte Carlo estimate of ``E[f(u) f(v)]`` and its standard error.

    Samples ``u = sqrt(q1) z1``, ``v = sqrt(q2) (rho z1 + sqrt(1 - rho^2) z2)``
    with independent standard normals from ``numpy.random.default_rng(seed)``.

    Parameters
    ----------
    f : callable
        Vectorised function of a float array (see :func:`activation_np`).
    c, q1, q2 : float
        Covariance and variances.
    n : int, optional
        Number of samples (default ``10**6``).
    seed : int, optional
        Seed of the generator (default 0).

    Returns
    -------
    mean : float
    stderr : float
        Sample standard deviation over ``sqrt(n)``.
    """
    q1, q2, c = float(q1), float(q2), float(c)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((2, int(n)))
    q = math.sqrt(q1 * q2)
    rho = 0.0 if q == 0 else max(-1.0, min(1.0, c / q))
    u = math.sqrt(q1) * z[0]
    v = math.sqrt(q2) * (rho * z[0] + math.sqrt(1 - rho * rho) * z[1])
    vals = np.asarray(f(u), dtype=float) * np.asarray(f(v), dtype=float)
    return float(vals.mean()), float(vals.std(ddof=1) / math.sqrt(vals.size))


# ---------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------


def _kernel_scalar(name, cov, q1, q2, depth, w, b, kernel, ctx):
    """Recursion of CONVENTIONS section 1 for one input pair (numpy or ctx)."""
    sxy = w * cov + b
    sxx = w * q1 + b
    syy = w * q2 + b
    theta = sxy
    for _ in range(depth):
        if kernel == "ntk":
            dv = ddual_closed(name, sxy, sxx, syy, ctx)
        nxy = w * dual_closed(name, sxy, sxx, syy, ctx) + b
        nxx = w * dual_closed(name, sxx, sxx, sxx, ctx) + b
        nyy = nxx if q1 is q2 else w * dual_closed(name, syy, syy, syy, ctx) + b
        if kernel == "ntk":
            theta = nxy + w * theta * dv
        sxy, sxx, syy = nxy, nxx, nyy
    return theta if kernel == "ntk" else sxy


def kernel_ref3(name, cov, q1, q2, depth, weight_var, bias_var, kernel, ctx=None):
    """Three-argument kernel ``Phi(<x,y>/d, |x|^2/d, |y|^2/d)`` of an MLP.

    Parameters
    ----------
    name : str
        Activation, one of :data:`ACTIVATIONS`.
    cov, q1, q2 : float, array_like or number
        ``<x,y>/d``, ``|x|^2/d`` and ``|y|^2/d``.  Arrays broadcast.
    depth : int
        Number of hidden layers L (0 = linear model).
    weight_var, bias_var : number
        ``sigma_w^2`` and ``sigma_b^2``.
    kernel : {"ck", "ntk"}
        Conjugate kernel ``Sigma^{L+1}`` or NTK ``Theta^{L+1}``.
    ctx : mpmath.MPContext, optional
        Evaluate at this context's precision; inputs are converted with
        :func:`to_ctx`.

    Returns
    -------
    float, numpy.ndarray, mpf or numpy.ndarray of mpf
        Same shape as the broadcast inputs (a scalar for scalar input).
    """
    _check_name(name)
    kernel = str(kernel).lower()
    if kernel == "nngp":
        kernel = "ck"
    if kernel not in ("ck", "ntk"):
        raise ValueError("kernel must be 'ck' or 'ntk'")
    depth = int(depth)
    if depth < 0:
        raise ValueError("depth must be >= 0")
    if ctx is None:
        cov, q1, q2 = np.broadcast_arrays(
            *(np.asarray(v, dtype=float) for v in (cov, q1, q2))
        )
        w, b = float(weight_var), float(bias_var)
        out = _kernel_scalar(name, cov, q1, q2, depth, w, b, kernel, None)
        out = np.broadcast_to(np.asarray(out, dtype=float), cov.shape)
        return float(out) if out.ndim == 0 else np.array(out)
    w, b = to_ctx(ctx, weight_var), to_ctx(ctx, bias_var)
    cov_o, q1_o, q2_o = np.broadcast_arrays(
        *(np.asarray(v, dtype=object) for v in (cov, q1, q2))
    )
    out = np.empty(cov_o.shape, dtype=object)
    cache = {}
    for idx in np.ndindex(cov_o.shape):
        x = to_ctx(ctx, cov_o[idx])
        a1 = to_ctx(ctx, q1_o[idx])
        a2 = to_ctx(ctx, q2_o[idx])
        if a1 == a2:
            a2 = a1  # identical object: the diagonal recursion is shared
        key = (x, a1, a2)
        if key not in cache:
            cache[key] = _kernel_scalar(name, x, a1, a2, depth, w, b, kernel, ctx)
        out[idx] = cache[key]
    return out[()] if out.ndim == 0 else out


def kernel_ref(name, t, depth, weight_var, bias_var, kernel, ctx=None):
    """One-argument kernel ``Phi(t)`` on inputs with ``|x|^2/d = 1``.

    ``Phi(t) = kernel_ref3(name, t, 1, 1, ...)``; at depth 0 it is
    ``weight_var * t + bias_var`` for both kernels.

    Parameters
    ----------
    name : str
        Activation, one of :data:`ACTIVATIONS`.
    t : float, array_like or number
        ``<x,y>/d`` in ``[-1, 1]``.  With ``ctx`` pass exact values
        (``Fraction``, ``int``, ``mpf``) for full precision.
    depth : int
        Number of hidden layers L.
    weight_var, bias_var : number
        ``sigma_w^2`` and ``sigma_b^2``.
    kernel : {"ck", "ntk"}
        Which kernel.
    ctx : mpmath.MPContext, optional
        Evaluate at this context's precision.

    Returns
    -------
    float, numpy.ndarray, mpf or numpy.ndarray of mpf
    """
    return kernel_ref3(name, t, 1, 1, depth, weight_var, bias_var, kernel, ctx)


# ---------------------------------------------------------------------------
# cube spectra
# ---------------------------------------------------------------------------


def cube_t_values(d, ctx=None):
    """The ``d + 1`` values ``t_j = 1 - 2 j / d`` taken by ``<x,y>/d`` on the cube.

    Parameters
    ----------
    d : int
        Dimension.
    ctx : mpmath.MPContext, optional
        If given, return ``mpf`` values computed as ``(d - 2j)/d`` in
        ``ctx`` (one rounding); otherwise a float array.

    Returns
    -------
    numpy.ndarray or list of mpf
    """
    d = int(d)
    if ctx is None:
        return (d - 2 * np.arange(d + 1)) / d
    return [ctx.mpf(d - 2 * j) / d for j in range(d + 1)]


def cube_phi_values(name, d, depth, weight_var, bias_var, kernel, ctx):
    """``[Phi(1 - 2j/d) for j = 0..d]`` in ``ctx`` (input for :func:`cube_mu_direct`).

    Parameters
    ----------
    name, depth, weight_var, bias_var, kernel
        As for :func:`kernel_ref`.
    d : int
        Dimension.
    ctx : mpmath.MPContext
        Working context.

    Returns
    -------
    list of mpf
    """
    d = int(d)
    ts = [Fraction(d - 2 * j, d) for j in range(d + 1)]
    vals = kernel_ref(name, np.array(ts, dtype=object), depth, weight_var, bias_var, kernel, ctx)
    return list(vals)


def gram_cube_eigs(kfun, d):
    """Eigenvalues of the normalised Gram matrix on the whole cube.

    Builds ``K[i, j] = kfun(<x_i, x_j>/d)`` over all ``2**d`` points of
    ``{-1, +1}^d`` (:func:`cube_points`), divides by ``2**d`` (probability
    measure) and diagonalises it with :func:`numpy.linalg.eigvalsh`.

    Parameters
    ----------
    kfun : callable
        Vectorised ``Phi`` acting on a float array of ``t`` values.
    d : int
        Dimension, ``1 <= d <= 10``.

    Returns
    -------
    numpy.ndarray
        The ``2**d`` eigenvalues, sorted in descending order.
    """
    d = int(d)
    if not 1 <= d <= 10:
        raise ValueError("gram_cube_eigs is meant for 1 <= d <= 10")
    X = cube_points(d)
    G = np.rint(X @ X.T).astype(np.int64)  # <x, y>, an integer in [-d, d]
    j = (d - G) // 2  # t = <x,y>/d = 1 - 2 j / d
    ts = (d - 2 * np.arange(d + 1)) / d
    phi = np.broadcast_to(np.asarray(kfun(ts), dtype=float), ts.shape)
    K = phi[j] / 2.0**d
    return np.sort(np.linalg.eigvalsh(K))[::-1]


def cluster(eigs, rtol=1e-9, atol=1e-12):
    """Group (approximately) equal eigenvalues.

    The values are sorted in descending order; a value joins the current
    cluster when it is within ``atol + rtol * max(|first|, |value|)`` of the
    cluster's first (largest) member, otherwise it starts a new cluster.

    Parameters
    ----------
    eigs : array_like
        Real values.
    rtol, atol : float, optional
        Relative and absolute tolerances.

    Returns
    -------
    list of (float, int)
        ``(mean value, count)`` per cluster, in descending order of value.
    """
    vals = np.sort(np.asarray(eigs, dtype=float).ravel())[::-1]
    groups = []
    for v in vals:
        if groups:
            first = groups[-1][0]
            if abs(first - v) <= atol + rtol * max(abs(first), abs(v)):
                groups[-1].append(v)
                continue
        groups.append([v])
    return [(float(np.mean(g)), len(g)) for g in groups]


def fwht(a):
    """Unnormalised fast Walsh-Hadamard transform (Sylvester ordering).

    Returns ``H a`` with ``H[i, j] = (-1)**popcount(i & j)`` (the matrix of
    :func:`scipy.linalg.hadamard`), computed on a copy with ``log2(n)``
    butterfly passes (``O(n log n)``).  ``fwht(fwht(a)) = n a``.

    Parameters
    ----------
    a : array_like
        One-dimensional, length a power of 2.

    Returns
    -------
    numpy.ndarray
    """
    a = np.asarray(a)
    a = np.array(a, dtype=np.result_type(a.dtype, float), copy=True)
    if a.ndim != 1:
        raise ValueError("fwht expects a one-dimensional array")
    n = a.size
    if n == 0 or n & (n - 1):
        raise ValueError("length must be a power of 2")
    h = 1
    while h < n:
        blocks = a.reshape(-1, 2, h)
        x = blocks[:, 0, :].copy()
        y = blocks[:, 1, :]
        blocks[:, 0, :] = x + y
        blocks[:, 1, :] = x - y
        h *= 2
    return a


def cube_walsh_eigs(kfun, d):
    """Walsh coefficients of ``y -> K(y, 1)``: the cube eigenvalues by index set.

    With point ``j`` as in :func:`cube_points`, ``K(x_j, 1) = Phi(sum(x_j)/d)
    = Phi((d - 2 popcount(j))/d)``.  Its Walsh coefficient at ``S``,
    ``2^-d sum_j K(x_j, 1) chi_S(x_j)``, equals ``mu_|S| chi_S(1) = mu_|S|``
    because ``chi_S`` is an eigenfunction.

    Parameters
    ----------
    kfun : callable
        Vectorised ``Phi`` acting on a float array of ``t`` values.
    d : int
        Dimension (``2**d`` values are transformed).

    Returns
    -------
    coeffs : numpy.ndarray
        ``2**d`` coefficients; ``coeffs[S]`` is ``mu_{popcount(S)}``.
    degree : numpy.ndarray
        ``popcount(S)`` for each index ``S``.
    """
    d = int(d)
    idx = np.arange(2**d, dtype=np.int64)
    deg = popcount(idx)
    ts = (d - 2 * deg) / d
    row = np.broadcast_to(np.asarray(kfun(ts), dtype=float), ts.shape)
    return fwht(row) / 2.0**d, deg


def cube_coeffs(d, k):
    """Exact integers ``[z^j] (1 - z)^k (1 + z)^(d - k)`` for ``j = 0..d``.

    Parameters
    ----------
    d, k : int
        ``0 <= k <= d``.

    Returns
    -------
    list of int
    """
    d, k = int(d), int(k)
    if not 0 <= k <= d:
        raise ValueError("need 0 <= k <= d")
    return [
        sum(
            (-1) ** i * math.comb(k, i) * math.comb(d - k, j - i)
            for i in range(max(0, j - (d - k)), min(k, j) + 1)
        )
        for j in range(d + 1)
    ]


def cube_mu_direct(phi_values, d, k, ctx):
    """Cube eigenvalue ``mu_k`` by the direct alternating sum.

    ``mu_k = 2^-d sum_j Phi(1 - 2j/d) [z^j] (1-z)^k (1+z)^(d-k)`` with exact
    integer coefficients, summed with :meth:`mpmath.MPContext.fsum`.  The sum
    cancels catastrophically, so use a working precision of at least
    ``log10(Phi(1)/|mu_k|)`` plus the wanted digits (e.g. ``dps = 2 d + 50``).

    Parameters
    ----------
    phi_values : sequence of mpf
        ``Phi(1 - 2j/d)`` for ``j = 0..d``, numbers of ``ctx``.
    d, k : int
        Dimension and degree.
    ctx : mpmath.MPContext
        Working context.

    Returns
    -------
    mpf
    """
    d, k = int(d), int(k)
    if len(phi_values) != d + 1:
        raise ValueError("need d + 1 values of Phi")
    coefs = cube_coeffs(d, k)
    total = ctx.fsum(to_ctx(ctx, p) * cj for p, cj in zip(phi_values, coefs) if cj)
    return ctx.ldexp(total, -d)


def cube_mu_exact_poly(coeffs, d, k):
    """Exact cube eigenvalue ``mu_k`` of a polynomial ``Phi(t) = sum_n a_n t^n``.

    Evaluates the direct sum of :func:`cube_mu_direct` in rational
    arithmetic.

    Parameters
    ----------
    coeffs : sequence of Fraction or int
        ``a_0, a_1, ...`` (coefficient of ``t^n`` at position ``n``).
    d, k : int
        Dimension and degree.

    Returns
    -------
    fractions.Fraction
    """
    d, k = int(d), int(k)
    a = [Fraction(x) for x in coeffs]

    def phi(t):
        acc = Fraction(0)
        for an in reversed(a):
            acc = acc * t + an
        return acc

    coefs = cube_coeffs(d, k)
    total = sum(
        (phi(Fraction(d - 2 * j, d)) * cj for j, cj in enumerate(coefs) if cj), Fraction(0)
    )
    return total / 2**d


# ---------------------------------------------------------------------------
# sphere and Gaussian spectra (CONVENTIONS section 2)
# ---------------------------------------------------------------------------
#
# Sphere: uniform on sqrt(d) S^{d-1}; t = <x,y>/d has the law
# c_d (1 - t^2)^((d-3)/2) dt on [-1, 1], c_d = Gamma(d/2) / (sqrt(pi) Gamma((d-1)/2)),
# and (Funk-Hecke) mu_k = E_t[Phi(t) P_{k,d}(t)].
# Gaussian: N(0, I_d); with x = r w the degree-k radial kernel is
# kappa_k(r, r') = E_t[Phi(r r' t/d, r^2/d, r'^2/d) P_{k,d}(t)] and the mu_{k,j} are the
# eigenvalues of kappa_k under the law of r (r^2 ~ chi^2_d).

__all__ += [
    "gaussian_d1_nystrom",
    "gaussian_mu_exact_poly",
    "gaussian_mu_nystrom",
    "gaussian_points",
    "gaussian_trace_exact_poly",
    "gaussian_trace_ref",
    "legendre_d_coeffs",
    "legendre_d_values",
    "match_clusters",
    "poly_kernel",
    "poly_kernel3",
    "sphere_mu_exact_poly",
    "sphere_mu_fourier_ref",
    "sphere_mu_quad",
    "sphere_mu_ref",
    "sphere_mu_ref_all",
    "sphere_multiplicity_ref",
    "sphere_points",
    "sphere_projection",
    "sphere_t_moment",
]


def sphere_multiplicity_ref(d, k):
    """Dimension ``N(d, k)`` of the degree-``k`` spherical harmonics on ``S^{d-1}``.

    Uses ``N(d, 0) = 1`` and, for ``k >= 1``, the closed form
    ``(2k + d - 2) (k + d - 3)! / (k! (d - 2)!)`` (a different expression from the
    ``C(d+k-1, k) - C(d+k-3, k-2)`` of CONVENTIONS, so the two check each other).
    For ``d = 1`` (the "sphere" {-1, +1}) it is 1 for ``k = 0, 1`` and 0 above.

    Parameters
    ----------
    d, k : int
        ``d >= 1``, ``k >= 0``.

    Returns
    -------
    int
    """
    d, k = int(d), int(k)
    if d < 1 or k < 0:
        raise ValueError("need d >= 1 and k >= 0")
    if k == 0:
        return 1
    if d == 1:
        return 1 if k == 1 else 0
    num = (2 * k + d - 2) * math.factorial(k + d - 3)
    den = math.factorial(k) * math.factorial(d - 2)
    assert num % den == 0
    return num // den


def sphere_points(n, d, seed=0):
    """``n`` points uniform on ``sqrt(d) S^{d-1}`` (normalised Gaussian vectors).

    Parameters
    ----------
    n, d : int
    seed : int, optional
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, d)``; every row has squared norm ``d``.
    """
    z = np.random.default_rng(seed).standard_normal((int(n), int(d)))
    return z * (math.sqrt(d) / np.linalg.norm(z, axis=1, keepdims=True))


def gaussian_points(n, d, seed=0):
    """``n`` samples of ``N(0, I_d)``, shape ``(n, d)``."""
    return np.random.default_rng(seed).standard_normal((int(n), int(d)))


def legendre_d_coeffs(k, d):
    """Exact coefficients of the Legendre polynomial ``P_{k,d}`` of dimension ``d``.

    Recurrence of CONVENTIONS section 2 (``P_0 = 1``, ``P_1 = t``,
    ``P_{n+1} = ((2n+d-2) t P_n - n P_{n-1}) / (n+d-2)``), in rationals.

    Parameters
    ----------
    k : int
        Degree (``k <= 1`` when ``d = 1``).
    d : int
        Dimension.

    Returns
    -------
    list of Fraction
        Coefficient of ``t^j`` at position ``j`` (length ``k + 1``).
    """
    k, d = int(k), int(d)
    if d == 1 and k > 1:
        raise ValueError("for d = 1 only k = 0, 1 exist")
    p0, p1 = [Fraction(1)], [Fraction(0), Fraction(1)]
    if k == 0:
        return p0
    for n in range(1, k):
        a = Fraction(2 * n + d - 2, n + d - 2)
        c = Fraction(n, n + d - 2)
        nxt = [Fraction(0)] * (n + 2)
        for j, v in enumerate(p1):
            nxt[j + 1] += a * v
        for j, v in enumerate(p0):
            nxt[j] -= c * v
        p0, p1 = p1, nxt
    return p1


def legendre_d_values(kmax, d, t, ctx):
    """``[P_{k,d}(t) for k = 0..kmax]`` in ``ctx`` (same recurrence, numerically)."""
    out = [ctx.one, t]
    for n in range(1, kmax):
        out.append(((2 * n + d - 2) * t * out[n] - n * out[n - 1]) / (n + d - 2))
    return out[: kmax + 1]


def sphere_t_moment(d, n):
    """Exact ``E[t^n]`` for ``t = <x,y>/d``, x, y uniform on ``sqrt(d) S^{d-1}``.

    ``t`` is distributed as one coordinate of a uniform unit vector:
    ``E[t^{2m}] = prod_{i<m} (2i+1)/(d+2i)`` and odd moments vanish.
    (d = 1: ``t = +-1``, all even moments 1.)

    Returns
    -------
    Fraction
    """
    d, n = int(d), int(n)
    if n % 2:
        return Fraction(0)
    out = Fraction(1)
    for i in range(n // 2):
        out *= Fraction(2 * i + 1, d + 2 * i)
    return out


def sphere_projection(d, n, k):
    """Exact ``E_t[t^n P_{k,d}(t)]``: the degree-``k`` eigenvalue of ``Phi(t) = t^n``."""
    return sum(
        (c * sphere_t_moment(d, n + j) for j, c in enumerate(legendre_d_coeffs(k, d)) if c),
        Fraction(0),
    )


# -- exact polynomial kernels (monomial activations) -------------------------


def _padd(a, b):
    out = dict(a)
    for e, v in b.items():
        out[e] = out.get(e, 0) + v
    return {e: v for e, v in out.items() if v}


def _pmul(a, b):
    out = {}
    for e1, v1 in a.items():
        for e2, v2 in b.items():
            e = tuple(x + y for x, y in zip(e1, e2))
            out[e] = out.get(e, 0) + v1 * v2
    return {e: v for e, v in out.items() if v}


def _pscale(a, s):
    return {e: v * s for e, v in a.items() if v * s}


def _pconst(x):
    x = Fraction(x)
    return {(0, 0, 0): x} if x else {}


def _ppow(a, n):
    out = _pconst(1)
    for _ in range(n):
        out = _pmul(out, a)
    return out


def _pmoment(n, c, q1, q2):
    """Isserlis ``E[u^n v^n]`` with polynomial covariance entries."""
    total = {}
    for k in range(n + 1):
        if (n - k) % 2:
            continue
        h = (n - k) // 2
        coef = math.comb(n, k) ** 2 * math.factorial(k) * _double_factorial_odd(n - k) ** 2
        term = _pmul(_ppow(c, k), _pmul(_ppow(q1, h), _ppow(q2, h)))
        total = _padd(total, _pscale(term, coef))
    return total


def poly_kernel3(name, depth, weight_var, bias_var, kernel):
    """Exact ``Phi(c, q1, q2)`` of a monomial activation as a polynomial.

    The recursion of CONVENTIONS section 1 run on polynomials in the three
    input variables with rational coefficients (no floating point).

    Parameters
    ----------
    name : {"identity", "x2", "x3", "x4"}
    depth : int
    weight_var, bias_var : int, Fraction or str
        Converted with :class:`fractions.Fraction`.
    kernel : {"ck", "ntk"}

    Returns
    -------
    dict
        ``{(n, m, l): a}`` with ``Phi = sum a c^n q1^m q2^l``.
    """
    if name not in _MONOMIAL_DEGREE:
        raise ValueError("poly_kernel3 needs a monomial activation")
    kernel = str(kernel).lower()
    n = _MONOMIAL_DEGREE[name]
    w, b = Fraction(weight_var), Fraction(bias_var)
    C, Q1, Q2 = {(1, 0, 0): Fraction(1)}, {(0, 1, 0): Fraction(1)}, {(0, 0, 1): Fraction(1)}
    sxy = _padd(_pscale(C, w), _pconst(b))
    sxx = _padd(_pscale(Q1, w), _pconst(b))
    syy = _padd(_pscale(Q2, w), _pconst(b))
    theta = sxy
    for _ in range(int(depth)):
        if kernel == "ntk":
            dv = _pscale(_pmoment(n - 1, sxy, sxx, syy), n * n)
        nxy = _padd(_pscale(_pmoment(n, sxy, sxx, syy), w), _pconst(b))
        nxx = _padd(_pscale(_pmoment(n, sxx, sxx, sxx), w), _pconst(b))
        nyy = _padd(_pscale(_pmoment(n, syy, syy, syy), w), _pconst(b))
        if kernel == "ntk":
            theta = _padd(nxy, _pscale(_pmul(theta, dv), w))
        sxy, sxx, syy = nxy, nxx, nyy
    return theta if kernel == "ntk" else sxy


def poly_kernel(name, depth, weight_var, bias_var, kernel):
    """Exact coefficients of ``Phi(t) = Phi(t, 1, 1)`` (list, ``t^j`` at position ``j``)."""
    p3 = poly_kernel3(name, depth, weight_var, bias_var, kernel)
    deg = max((e[0] for e in p3), default=0)
    out = [Fraction(0)] * (deg + 1)
    for (nc, _, _), v in p3.items():
        out[nc] += v
    return out


def sphere_mu_exact_poly(coeffs, d, k):
    """Exact sphere eigenvalue of ``Phi(t) = sum_n coeffs[n] t^n``: ``sum_n a_n E[t^n P_{k,d}]``."""
    return sum(
        (Fraction(a) * sphere_projection(d, n, k) for n, a in enumerate(coeffs) if a and n >= k),
        Fraction(0),
    )


def _chi2_moment(d, j):
    """Exact ``E[(r^2)^j]`` for ``r^2 ~ chi^2_d``: ``d (d+2) ... (d+2j-2)``."""
    out = 1
    for i in range(j):
        out *= d + 2 * i
    return out


def gaussian_trace_exact_poly(p3, d):
    """Exact ``E K(x, x) = E Phi(rho, rho, rho)``, ``rho = |x|^2/d``, for a polynomial Phi."""
    return sum(
        (Fraction(v) * Fraction(_chi2_moment(d, n + m + l), d ** (n + m + l)) for (n, m, l), v in p3.items()),
        Fraction(0),
    )


def gaussian_mu_exact_poly(p3, d, kmax, dps=50):
    """Gaussian eigenvalues of a polynomial kernel, from its finite-rank radial kernels.

    For ``Phi = sum a_{nml} c^n q1^m q2^l`` the degree-``k`` radial kernel is
    ``kappa_k(r, r') = sum a_{nml} E[t^n P_{k,d}] (r r'/d)^n (r^2/d)^m (r'^2/d)^l
    = sum_{p,s} B[p, s] r^p r'^s``; on ``span{r^p}`` the operator is ``B G`` with the
    exact moment matrix ``G[s, s'] = E[r^(s+s')]``.  Its eigenvalues are those of
    ``L^T B L`` (``G = L L^T``), computed with :func:`mpmath.eigsy` at ``dps`` digits.

    Parameters
    ----------
    p3 : dict
        From :func:`poly_kernel3`.
    d : int
        Dimension (``d = 1``: ``kmax <= 1``).
    kmax : int
        Largest degree.
    dps : int, optional
        Working digits.

    Returns
    -------
    dict
        ``{k: [mu_{k,0}, mu_{k,1}, ...]}`` (``mpf``, descending; as many as the
        rank of the radial basis, trailing zeros included).
    """
    d = int(d)
    ctx = mpmath.MPContext()
    ctx.dps = int(dps)
    out = {}
    for k in range(int(kmax) + 1):
        if d == 1 and k > 1:
            break
        B = {}
        for (n, m, l), v in p3.items():
            if n < k or (n - k) % 2:
                continue
            h = sphere_projection(d, n, k)
            if not h:
                continue
            key = (n + 2 * m, n + 2 * l)
            B[key] = B.get(key, Fraction(0)) + Fraction(v) * h / Fraction(d) ** (n + m + l)
        powers = sorted({p for pq in B for p in pq} | {k})
        r = len(powers)
        Bm = ctx.matrix(r, r)
        G = ctx.matrix(r, r)
        for i, p in enumerate(powers):
            for j, s in enumerate(powers):
                f = B.get((p, s), Fraction(0))
                Bm[i, j] = ctx.mpf(f.numerator) / f.denominator
                G[i, j] = ctx.mpf(_chi2_moment(d, (p + s) // 2))
        L = ctx.cholesky(G)
        S = L.T * Bm * L
        S = (S + S.T) / 2
        ev = ctx.eigsy(S, eigvals_only=True)
        out[k] = sorted((ev[i] for i in range(r)), reverse=True)
    return out


# -- high-precision sphere eigenvalues by quadrature --------------------------

_SPHERE_REF_CACHE = {}


def _param_key(x):
    if isinstance(x, (float, np.floating)):
        return ("float", float(x).hex())
    return ("exact", str(Fraction(x)) if not isinstance(x, str) else x)


def _gl_panels(ctx, lo, hi, npanel, order):
    """Composite Gauss-Legendre nodes/weights on ``[lo, hi]`` in ``ctx``."""
    xs_raw, ws_raw = _gauss_legendre_raw(int(order), ctx.prec)
    xi = [ctx.make_mpf(t) for t in xs_raw]
    wi = [ctx.make_mpf(t) for t in ws_raw]
    h = (hi - lo) / npanel
    nodes, weights = [], []
    for p in range(npanel):
        c = lo + (2 * p + 1) * h / 2
        for x, wgt in zip(xi, wi):
            nodes.append(c + h / 2 * x)
            weights.append(h / 2 * wgt)
    return nodes, weights


def _sphere_quad_pass(phi, d, kmax, W, order_scale=1.0):
    """One evaluation of mu_0..mu_kmax at W working digits; returns (ctx, values, error)."""
    ctx = mpmath.MPContext()
    ctx.dps = int(W)
    pi = ctx.pi
    # window outside of which sin^(d-2) < 10^-(W+5): |theta - pi/2| <= delta
    if d > 3:
        x = ctx.exp(-(W + 5) * ctx.ln(10) / (d - 2))
        delta = ctx.acos(x)
        lo, hi = max(ctx.zero, pi / 2 - delta), min(pi, pi / 2 + delta)
    else:
        lo, hi = ctx.zero, pi
    width = float(hi - lo)
    h0 = min(0.25, 2.5 / math.sqrt(d))
    npanel = max(2, math.ceil(width / h0))
    # enough points per panel for cos(k theta) and the peak of sin^(d-2)
    base = int(math.ceil(order_scale * (0.55 * W + kmax * width / npanel / 2 + 16)))
    cd = ctx.gamma(ctx.mpf(d) / 2) / (ctx.sqrt(pi) * ctx.gamma(ctx.mpf(d - 1) / 2))

    def run(order):
        nodes, weights = _gl_panels(ctx, lo, hi, npanel, order)
        sums = [ctx.zero] * (kmax + 1)
        for th, wg in zip(nodes, weights):
            t = ctx.cos(th)
            f = wg * phi(ctx, t) * ctx.sin(th) ** (d - 2)
            pk = legendre_d_values(kmax, d, t, ctx)
            for k in range(kmax + 1):
                sums[k] += f * pk[k]
        return [cd * s for s in sums]

    v1 = run(base)
    v2 = run(base + 8 + base // 8)
    # rounding floor: about 10^-W of the integral of |Phi|, here bounded by Phi(1)
    floor = abs(phi(ctx, ctx.one)) * ctx.mpf(10) ** (-(W - 3)) * (npanel * base)
    errs = [abs(a - b) + floor for a, b in zip(v1, v2)]
    return ctx, v2, errs


def _structure(phi, W):
    """Detect exactly-vanishing parts of Phi: (odd part zero, odd part linear, even zero, even const)."""
    ctx = mpmath.MPContext()
    ctx.dps = int(W)
    scale = abs(phi(ctx, ctx.one)) + 1
    tol = scale * ctx.mpf(10) ** (-(W - 10))
    ts = [ctx.mpf(3) / 10, ctx.mpf(7) / 10, ctx.mpf(19) / 20]
    odd = [(phi(ctx, t) - phi(ctx, -t)) / 2 for t in ts]
    even = [(phi(ctx, t) + phi(ctx, -t)) / 2 for t in ts]
    odd_zero = all(abs(o) <= tol for o in odd)
    odd_lin = all(abs(o / t - odd[0] / ts[0]) <= tol for o, t in zip(odd, ts))
    even_zero = all(abs(e) <= tol for e in even)
    even_const = all(abs(e - even[0]) <= tol for e in even)
    return odd_zero, odd_lin, even_zero, even_const


def _sphere_structure(name, depth, weight_var, bias_var, kernel):
    """Which mu_k vanish exactly: a function ``k -> bool`` (see :func:`sphere_mu_quad`)."""
    def phi(ctx, t):
        return kernel_ref(name, t, depth, weight_var, bias_var, kernel, ctx)

    odd_zero, odd_lin, even_zero, even_const = _structure(phi, 60)
    deg = None
    if name in _MONOMIAL_DEGREE:
        deg = len(poly_kernel(name, depth, weight_var, bias_var, kernel)) - 1

    def is_zero(k):
        if deg is not None and k > deg:
            return True
        if k % 2:
            return odd_zero or (odd_lin and k >= 3)
        return even_zero or (even_const and k >= 2)

    return is_zero


def sphere_mu_quad(name, d, kmax, depth, weight_var, bias_var, kernel, W=40):
    """Sphere eigenvalues ``mu_0 .. mu_kmax`` by one quadrature pass at ``W`` working digits.

    Funk-Hecke (CONVENTIONS section 2) with ``t = cos(theta)``::

        mu_k = c_d int_0^pi Phi(cos th) P_{k,d}(cos th) sin(th)^(d-2) d th,

    on which relu kernels are analytic (their ``sqrt(1 - t)`` behaviour becomes
    ``sin(th/2)``).  Composite Gauss-Legendre in ``theta`` (panels of width
    ``<= min(0.25, 2.5/sqrt(d))``; for ``d > 3`` only the window where
    ``sin^(d-2) >= 10^-(W+5)``), ``P_{k,d}`` by the recurrence, ``Phi`` from
    :func:`kernel_ref` evaluated once per node for all degrees.  The error estimate is
    the difference to a rule of higher order plus a rounding floor of about
    ``10^-W Phi(1)``: an *absolute* accuracy, so ``mu_k`` far below ``Phi(1) 10^-W``
    (large ``d`` and ``k``) come out as noise of that size (see
    :func:`sphere_mu_ref_all` for relative accuracy).  Exact zeros (a vanishing odd or
    even part of ``Phi``, an odd part linear in ``t``, ``k`` above the degree of a
    polynomial ``Phi``) are detected numerically and returned as exact zeros with
    error 0.  Results are cached.

    Parameters
    ----------
    name, depth, weight_var, bias_var, kernel
        As for :func:`kernel_ref` (pass exact ``weight_var``/``bias_var`` such as
        ``Fraction(1, 10)`` when every digit matters).
    d : int
        Dimension ``d >= 2``.
    kmax : int
        Largest degree.
    W : int, optional
        Working digits.

    Returns
    -------
    values, errors : list of mpf
    """
    d, kmax, W = int(d), int(kmax), int(W)
    if d < 2:
        raise ValueError("the sphere needs d >= 2")
    kernel = str(kernel).lower()
    key = (name, d, int(depth), _param_key(weight_var), _param_key(bias_var), kernel, W)
    hit = _SPHERE_REF_CACHE.get(key)
    if hit is not None and len(hit[0]) > kmax:
        return hit[0][: kmax + 1], hit[1][: kmax + 1]

    def phi(ctx, t):
        return kernel_ref(name, t, depth, weight_var, bias_var, kernel, ctx)

    is_zero = _sphere_structure(name, depth, weight_var, bias_var, kernel)
    ctx, vals, errs = _sphere_quad_pass(phi, d, kmax, W)
    for k in range(kmax + 1):
        if is_zero(k):
            vals[k], errs[k] = ctx.zero, ctx.zero
    _SPHERE_REF_CACHE[key] = (vals, errs)
    return vals, errs


def sphere_mu_ref_all(name, d, kmax, depth, weight_var, bias_var, kernel, dps=30):
    """Sphere eigenvalues ``mu_0 .. mu_kmax`` to ``dps`` significant digits.

    Repeats :func:`sphere_mu_quad` with a growing working precision ``W`` (from
    ``dps + 25``) until every nonzero ``mu_k`` has an error estimate below
    ``10^-(dps+3) |mu_k|``: the alternating Funk-Hecke integral cancels down to
    ``|mu_k| / Phi(1)``, which can be ~1e-100 at large ``d`` and ``k``.

    Returns
    -------
    list of mpf
        ``mu_k`` for ``k = 0..kmax``, numbers of a context with ``dps`` digits.
    """
    d, kmax, dps = int(d), int(kmax), int(dps)
    out_ctx = mpmath.MPContext()
    out_ctx.dps = dps
    result = [None] * (kmax + 1)
    todo = list(range(kmax + 1))
    W = dps + 25
    while todo:
        if W > dps + 600:
            raise RuntimeError(f"sphere_mu_ref: no convergence for k = {todo} (d = {d})")
        vals, errs = sphere_mu_quad(name, d, max(todo), depth, weight_var, bias_var, kernel, W)
        rest, worst = [], 0.0
        for k in todo:
            v, e = vals[k], errs[k]
            if e <= abs(v) * mpmath.mpf(10) ** (-(dps + 3)):  # also exact zeros (e = 0)
                result[k] = out_ctx.mpf(v)
            else:
                rest.append(k)
                # digits still missing (at least 25 more if v is pure noise)
                miss = float(mpmath.log10(e / max(abs(v), e))) + dps + 3
                worst = max(worst, miss + (25 if abs(v) <= e else 5))
        todo = rest
        W += int(math.ceil(worst))
    return result


def sphere_mu_ref(name, d, k, depth, weight_var, bias_var, kernel, dps=30):
    """One sphere eigenvalue ``mu_k`` to ``dps`` digits (see :func:`sphere_mu_ref_all`)."""
    return sphere_mu_ref_all(name, d, k, depth, weight_var, bias_var, kernel, dps)[int(k)]


def sphere_mu_fourier_ref(name, ks, depth, weight_var, bias_var, kernel, dps=30):
    """``d = 2`` eigenvalues as Fourier cosine coefficients, by tanh-sinh quadrature.

    On the circle ``P_{k,2}(cos th) = cos(k th)`` and ``c_2 = 1/pi``, so
    ``mu_k = (1/pi) int_0^pi Phi(cos th) cos(k th) d th``.  Integrated with
    :meth:`mpmath.MPContext.quad` (tanh-sinh, split at ``pi/2``) at ``dps + 20``
    working digits; ``Phi`` values are memoised by node.

    Returns
    -------
    list of (mpf, mpf)
        ``(mu_k, quadrature error estimate)`` for each ``k`` in ``ks``.
    """
    ctx = mpmath.MPContext()
    ctx.dps = int(dps) + 20
    memo = {}

    def phi(th):
        v = memo.get(th)
        if v is None:
            v = memo[th] = kernel_ref(name, ctx.cos(th), depth, weight_var, bias_var, kernel, ctx)
        return v

    out = []
    for k in ks:
        val, err = ctx.quad(lambda th: phi(th) * ctx.cos(k * th), [0, ctx.pi / 2, ctx.pi], error=True)
        out.append((val / ctx.pi, err / ctx.pi))
    return out


def gaussian_trace_ref(name, d, depth, weight_var, bias_var, kernel, dps=30):
    """``E K(x, x)`` for ``x ~ N(0, I_d)``: ``E Phi(rho, rho, rho)``, ``rho = |x|^2/d``.

    One-dimensional tanh-sinh quadrature over ``u = |x|`` (density
    ``u^(d-1) exp(-u^2/2) / (2^(d/2-1) Gamma(d/2))``) at ``dps + 15`` digits.

    Returns
    -------
    mpf
    """
    ctx = mpmath.MPContext()
    ctx.dps = int(dps) + 15
    d = int(d)
    norm = ctx.power(2, ctx.mpf(d) / 2 - 1) * ctx.gamma(ctx.mpf(d) / 2)

    def f(u):
        rho = u * u / d
        k = kernel_ref3(name, rho, rho, rho, depth, weight_var, bias_var, kernel, ctx)
        return k * u ** (d - 1) * ctx.exp(-u * u / 2) / norm

    val = ctx.quad(f, [0, ctx.sqrt(d), 4 * ctx.sqrt(d) + 10, ctx.inf])
    ctx.dps = int(dps)
    return +val


def gaussian_d1_nystrom(kfun3, m=200):
    """``d = 1`` Gaussian eigenvalues by Gauss-Hermite Nystrom, split by parity.

    With the symmetric ``2m``-point probabilists' Gauss-Hermite rule (nodes ``+-x_i``,
    weights ``w_i`` normalised to 1) the discretised operator commutes with
    ``x -> -x``; on even functions it is ``sqrt(2w_i) K_e(x_i, x_j) sqrt(2w_j)`` with
    ``K_e(x, y) = (K(x, y) + K(x, -y))/2`` over the ``m`` positive nodes, on odd ones the
    same with ``K_o = (K(x, y) - K(x, -y))/2``.  Spectrally accurate for kernels smooth
    on the half-line (erf); only algebraically for relu kernels (kink at ``x = y``).

    Parameters
    ----------
    kfun3 : callable
        Vectorised ``Phi(c, q1, q2)``; for ``d = 1`` ``K(x, y) = Phi(xy, x^2, y^2)``.
    m : int, optional
        Positive nodes.

    Returns
    -------
    even, odd : numpy.ndarray
        Eigenvalues in descending order (degree 0 = even, degree 1 = odd).
    """
    x, w = scipy.special.roots_hermitenorm(2 * int(m))
    w = w / w.sum()
    pos = x > 0
    x, w = x[pos], 2 * w[pos]
    X, Y = x[:, None], x[None, :]
    kp = kfun3(X * Y, X * X, Y * Y)
    km = kfun3(-X * Y, X * X, Y * Y)
    s = np.sqrt(w)
    even = np.linalg.eigvalsh(s[:, None] * (kp + km) / 2 * s[None, :])[::-1]
    odd = np.linalg.eigvalsh(s[:, None] * (kp - km) / 2 * s[None, :])[::-1]
    return even, odd


def match_clusters(eigs, predicted, rtol_mean, rtol_each, count=None):
    """Compare sorted Gram eigenvalues with predicted (value, multiplicity) pairs.

    The predicted pairs are sorted by value (descending); pairs whose values lie within
    ``rtol_each`` of each other are merged (multiplicities add).  The leading ``count``
    merged groups are compared with consecutive blocks of the sorted eigenvalues: the
    block mean must be within ``rtol_mean`` of the (multiplicity-weighted) predicted
    value and every member within ``rtol_each``.

    Returns
    -------
    list of str
        Failure messages (empty if everything matches).
    """
    eigs = np.sort(np.asarray(eigs, dtype=float))[::-1]
    pred = sorted(((float(v), int(m)) for v, m in predicted if m > 0), reverse=True)
    groups = []
    for v, m in pred:
        if groups and abs(groups[-1][0] - v) <= rtol_each * abs(groups[-1][0]) / 2:
            v0, m0 = groups[-1]
            groups[-1] = ((v0 * m0 + v * m) / (m0 + m), m0 + m)
        else:
            groups.append((v, m))
    if count is not None:
        groups = groups[:count]
    fails, pos = [], 0
    for v, m in groups:
        block = eigs[pos : pos + m]
        pos += m
        mean = float(block.mean())
        if abs(mean - v) > rtol_mean * abs(v):
            fails.append(f"block at {pos - m}..{pos - 1}: mean {mean:.6g} vs predicted {v:.6g} (x{m})")
        bad = np.abs(block - v) > rtol_each * abs(v)
        if np.any(bad):
            fails.append(
                f"block at {pos - m}..{pos - 1}: members {block[bad][:4]} not within {rtol_each} of {v:.6g} (x{m})"
            )
    return fails


def gaussian_mu_nystrom(kfun3, d, kmax, nr=120, nt=200):
    """Gaussian eigenvalues ``mu_{k,j}`` (float64) by Funk-Hecke in the angle and Nystrom in r.

    For each degree ``k`` the radial kernel
    ``kappa_k(r, r') = E_t[Phi(r r' t/d, r^2/d, r'^2/d) P_{k,d}(t)]`` is computed with the
    ``nt``-point Gauss-Jacobi rule of the law of ``t`` (weight ``(1-t^2)^((d-3)/2)``,
    :func:`scipy.special.roots_jacobi`, normalised to 1) and discretised on the
    ``nr``-point generalised Gauss-Laguerre rule of ``s = r^2/2`` (weight
    ``s^(d/2-1) e^-s``, :func:`scipy.special.roots_genlaguerre`); the eigenvalues of
    ``sqrt(w_i) kappa_k(r_i, r_j) sqrt(w_j)`` approximate the ``mu_{k,j}``.  ``d = 1``
    uses ``t = +-1`` (degrees 0 and 1 only).  Spectrally accurate for smooth kernels
    (erf); relu kernels have a kink at ``r = r', t = 1`` and converge algebraically.

    Parameters
    ----------
    kfun3 : callable
        Vectorised ``Phi(c, q1, q2)``.
    d, kmax : int
    nr, nt : int, optional
        Radial and angular nodes.

    Returns
    -------
    dict
        ``{k: eigenvalues in descending order}`` (``nr`` each).
    """
    d = int(d)
    s, ws = scipy.special.roots_genlaguerre(int(nr), d / 2 - 1)
    ws = ws / ws.sum()
    r = np.sqrt(2 * s)
    if d == 1:
        t, wt = np.array([-1.0, 1.0]), np.array([0.5, 0.5])
        kmax = min(int(kmax), 1)
    else:
        a = (d - 3) / 2
        t, wt = scipy.special.roots_jacobi(int(nt), a, a)
        wt = wt / wt.sum()
    R1, R2 = r[:, None, None], r[None, :, None]
    vals = kfun3(R1 * R2 * t[None, None, :] / d, R1 * R1 / d, R2 * R2 / d)
    out = {}
    P = [np.ones_like(t), t.copy()]
    for n in range(1, int(kmax)):
        P.append(((2 * n + d - 2) * t * P[n] - n * P[n - 1]) / (n + d - 2))
    sq = np.sqrt(ws)
    for k in range(int(kmax) + 1):
        kap = vals @ (wt * P[k])
        kap = (kap + kap.T) / 2
        out[k] = np.linalg.eigvalsh(sq[:, None] * kap * sq[None, :])[::-1]
    return out


def exp_kernel_ref(t, depth, weight_var, bias_var, kernel, ctx):
    """``Phi(t)`` of the exp activation at ``ctx``'s precision, from ``E[e^u e^v] = e^{(q1+q2)/2 + c}``
    (the derivative dual is the same function, since exp' = exp).

    The values grow like a tower of exponentials (about 10^(5.7e47) at depth 3 with
    ``weight_var = 3/2``): 30 digits of Phi need about log10(Phi) + 30 digits of the exponent,
    so give ``ctx`` enough precision.
    """
    w, b = to_ctx(ctx, weight_var), to_ctx(ctx, bias_var)
    c = w * to_ctx(ctx, t) + b
    q = w + b
    theta = c
    for _ in range(depth):
        v = ctx.exp(q + c)  # V(c; q, q) = V'(c; q, q)
        c, q, theta = w * v + b, w * ctx.exp(2 * q) + b, w * v + b + w * theta * v
    return c if kernel == "ck" else theta
