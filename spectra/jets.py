r"""Truncated Taylor series ("jets") in float64, for derivatives of kernels of any order.

A :class:`Jet` holds the first K+1 Taylor coefficients of a function of one variable h at
h = 0, for a whole batch of expansion points at once: ``coef[j] = f^{(j)}(0)/j!``, shape
``(K+1, *batch)``. Arithmetic and the elementary functions the activation duals use (sqrt,
arcsin, arccos, erf, exp, integer powers) act on jets by the standard recurrences of
automatic differentiation in Taylor mode (Griewank & Walther, *Evaluating Derivatives*,
2nd ed., SIAM 2008, §13.2), each O(K²) per point:

* product: c_k = Σ_j a_j b_{k−j};
* quotient: c_k = (a_k − Σ_{j≥1} b_j c_{k−j}) / b_0;
* square root: y_k = (x_k − Σ_{0<j<k} y_j y_{k−j}) / (2 y_0);
* exp: y' = x' y; arcsin: y' = x' / √(1 − x²); erf: y' = (2/√π) e^{−x²} x'.

:class:`JetOps` is an ``ops`` back end (see :mod:`spectra.precision`), so the dual
activations, written once against ``ops``, and the kernel recursion
(:func:`spectra.kernels.layers`) run unchanged on jets: feeding t = t₀ + s·h gives the
Taylor coefficients Φ^{(j)}(t₀) s^j / j! of the CK or NTK at every t₀ in the batch.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Jet", "JetOps"]


def _coef(x):
    x = np.asarray(x)
    return x if x.dtype == object or x.dtype.kind in "iub" else x.astype(float)


def _dot0(a, b):
    """Σ_i a[i] b[i] over the first axis (works for float and object arrays)."""
    if a.dtype == object or b.dtype == object:
        return (a * b).sum(axis=0) if len(a) else np.zeros(np.broadcast_shapes(a.shape[1:], b.shape[1:]),
                                                            dtype=object)
    return np.einsum("i...,i...->...", a, b)


def _zeros(shape, like):
    return np.zeros(shape, dtype=object if like.dtype == object else float)


class Jet:
    """Truncated Taylor series, ``coef`` of shape (K+1, *batch)."""

    __array_ufunc__ = None  # numpy defers to Jet's reflected operators: array * jet -> Jet

    def __init__(self, coef):
        self.coef = coef

    @property
    def order(self):
        return self.coef.shape[0] - 1

    @classmethod
    def variable(cls, t0, scale, order):
        """The jet of t = t₀ + scale·h (t₀, scale broadcast to the batch)."""
        t0, scale = np.broadcast_arrays(_coef(t0), _coef(scale))
        c = _zeros((order + 1,) + t0.shape, t0 if t0.dtype == object else scale)
        c[0] = t0
        if order >= 1:
            c[1] = scale
        return cls(c)

    # -- arithmetic ---------------------------------------------------------------------
    def __neg__(self):
        return Jet(-self.coef)

    def __pos__(self):
        return self

    def __add__(self, other):
        if isinstance(other, Jet):
            a, b = np.broadcast_arrays(self.coef, other.coef)
            return Jet(a + b)
        other = _coef(other)
        dt = object if (self.coef.dtype == object or other.dtype == object) else float
        c = np.array(np.broadcast_to(self.coef, self.coef.shape[:1] + np.broadcast_shapes(
            self.coef.shape[1:], other.shape)), dtype=dt)
        c[0] = c[0] + other
        return Jet(c)

    __radd__ = __add__

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        if not isinstance(other, Jet):
            return Jet(self.coef * _coef(other)[None])
        a, b = self.coef, other.coef
        K = min(a.shape[0], b.shape[0]) - 1
        shape = (K + 1,) + np.broadcast_shapes(a.shape[1:], b.shape[1:])
        out = _zeros(shape, a if a.dtype == object else b)
        for j in range(K + 1):
            out[j:] = out[j:] + a[j] * b[: K + 1 - j]
        return Jet(out)

    __rmul__ = __mul__

    def __truediv__(self, other):
        if not isinstance(other, Jet):
            return Jet(self.coef / _coef(other)[None])
        a, b = self.coef, other.coef
        K = min(a.shape[0], b.shape[0]) - 1
        shape = (K + 1,) + np.broadcast_shapes(a.shape[1:], b.shape[1:])
        c = _zeros(shape, a if a.dtype == object else b)
        a = np.broadcast_to(a[: K + 1], shape)
        b = np.broadcast_to(b[: K + 1], shape)
        b0 = b[0]
        for k in range(K + 1):
            acc = a[k] - _dot0(b[1:k + 1], c[k - 1::-1]) if k else a[0]
            c[k] = acc / b0
        return Jet(c)

    def __rtruediv__(self, other):
        one = Jet.constant(other, self)
        return one / self

    @staticmethod
    def constant(x, like):
        x = _coef(x)
        c = _zeros(like.coef.shape[:1] + np.broadcast_shapes(like.coef.shape[1:], x.shape),
                   like.coef if like.coef.dtype == object else x)
        c[0] = x
        return Jet(c)

    def __pow__(self, n):
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise TypeError("jets support nonnegative integer powers only")
        result = Jet.constant(1, self)
        base = self
        n = int(n)
        while n:
            if n & 1:
                result = result * base
            n >>= 1
            if n:
                base = base * base
        return result

    # -- calculus -------------------------------------------------------------------------
    def derivative(self):
        """d/dh, one order shorter."""
        K = self.order
        k = np.arange(1, K + 1).reshape((K,) + (1,) * (self.coef.ndim - 1))
        return Jet(self.coef[1:] * k)

    def integral(self, c0):
        """∫ from 0 with constant term c0, one order longer."""
        K = self.order
        k = np.arange(1, K + 2).reshape((K + 1,) + (1,) * (self.coef.ndim - 1))
        shape = (K + 2,) + np.broadcast_shapes(self.coef.shape[1:], np.shape(c0))
        out = _zeros(shape, self.coef)
        out[0] = c0
        out[1:] = self.coef / k
        return Jet(out)


def _sqrt(x: Jet, base_sqrt=np.sqrt) -> Jet:
    a = x.coef
    K = a.shape[0] - 1
    y = _zeros(a.shape, a)
    y[0] = base_sqrt(a[0])
    two_y0 = 2 * y[0]
    for k in range(1, K + 1):
        s = _dot0(y[1:k], y[k - 1:0:-1]) if k > 1 else 0
        y[k] = (a[k] - s) / two_y0
    return Jet(y)


def _exp(x: Jet, base_exp=np.exp) -> Jet:
    a = x.coef
    K = a.shape[0] - 1
    y = _zeros(a.shape, a)
    y[0] = base_exp(a[0])
    ja = a * np.arange(K + 1).reshape((K + 1,) + (1,) * (a.ndim - 1))
    for k in range(1, K + 1):
        y[k] = _dot0(ja[1:k + 1], y[k - 1::-1]) / k
    return Jet(y)


def _one_minus_square(x: Jet) -> Jet:
    """1 − x² as (1 − x)(1 + x): the constant term without cancellation near |x| = 1."""
    return (1 - x) * (1 + x)


def _asin_tail(x: Jet, base_sqrt=np.sqrt) -> Jet:
    """arcsin(x) − arcsin(x₀) as a jet (no constant term)."""
    K = x.order
    if K == 0:
        return Jet(_zeros(x.coef.shape, x.coef))
    r = _sqrt(_one_minus_square(Jet(x.coef[:K])), base_sqrt)
    return (x.derivative() / r).integral(0)


class JetOps:
    """An ``ops`` back end whose numbers may be :class:`Jet` (or plain numbers of the base).

    ``base`` is the arithmetic of the coefficients: None for float64, or an
    :class:`~spectra.precision.MpOps` / :class:`~spectra.precision.SympyOps` instance (object
    arrays of mpf or sympy numbers) for jets at N digits or exact.
    """

    def __init__(self, base=None):
        from .precision import NumpyOps

        self.base = base = base if base is not None else NumpyOps()
        self.kind = "jet-" + base.kind
        self.eps = base.eps
        self.pi = base.pi
        self.const = base.const
        self.array = base.array

    def sqrt(self, x):
        return _sqrt(x, self.base.sqrt) if isinstance(x, Jet) else self.base.sqrt(x)

    def exp(self, x):
        return _exp(x, self.base.exp) if isinstance(x, Jet) else self.base.exp(x)

    def asin(self, x):
        if not isinstance(x, Jet):
            return self.base.asin(x)
        y = _asin_tail(x, self.base.sqrt)
        y.coef[0] = self.base.asin(x.coef[0])
        return y

    def acos(self, x):
        if not isinstance(x, Jet):
            return self.base.acos(x)
        y = -_asin_tail(x, self.base.sqrt)
        y.coef[0] = self.base.acos(x.coef[0])
        return y

    def erf(self, x):
        if not isinstance(x, Jet):
            return self.base.erf(x)
        K = x.order
        if K == 0:
            return Jet(self.base.erf(x.coef))
        head = Jet(x.coef[:K])
        g = _exp(-(head * head), self.base.exp) * x.derivative()
        y = (g * (2 / self.base.sqrt(self.base.pi))).integral(0)
        y.coef[0] = self.base.erf(x.coef[0])
        return y

    def clip_unit(self, x):
        """Correlations of jets are evaluated strictly inside (−1, 1): no clipping."""
        return x if isinstance(x, Jet) else self.base.clip_unit(x)

    def abs(self, x):
        if isinstance(x, Jet):
            raise TypeError("abs is not differentiable: jets do not support it")
        return self.base.abs(x)
