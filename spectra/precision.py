"""Precision: one argument, resolved once, that selects the arithmetic of a computation.

``precision`` is one of

``"double"``
    IEEE float64, vectorised with numpy. Every value carries a running error bound;
    values the bound cannot resolve are flagged (never returned as noise).
``N`` (an int, 1 ≤ N ≤ 10000)
    N guaranteed significant digits. Arithmetic runs in a private ``mpmath.MPContext``
    (mpmath's global ``mp`` is never touched) at a working precision chosen from the
    problem, and the achieved digits are reported with the result.
``"exact"``
    Exact arithmetic with sympy: rationals for polynomial activations with rational
    hyperparameters, closed-form expressions (π, square roots, arccos/arcsin) otherwise.
``"auto"``
    Double precision, with every value that double precision cannot resolve to
    ``AUTO_DIGITS`` digits recomputed at that many digits.

The :class:`Ops` classes below give one code path for all three kinds of number: the
activation duals and the kernel recursion are written once against an ``ops`` object
(``ops.sqrt``, ``ops.asin``, ``ops.pi`` …), in the style of orthopy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from numbers import Integral

import numpy as np

MAX_DIGITS = 10000
AUTO_DIGITS = 16
#: A double-precision value whose error bound exceeds this fraction of its magnitude
#: is "unresolved": it is flagged and reported as null.
UNRESOLVED_RTOL = 0.1

__all__ = ["AUTO_DIGITS", "MAX_DIGITS", "UNRESOLVED_RTOL", "Precision", "resolve_precision"]


@dataclass(frozen=True)
class Precision:
    """A resolved precision request.

    Attributes
    ----------
    kind : {"double", "digits", "exact", "auto"}
    digits : int or None
        Number of guaranteed significant digits for ``kind == "digits"``.
    """

    kind: str
    digits: int | None = None

    def __str__(self) -> str:
        return str(self.digits) if self.kind == "digits" else self.kind

    @property
    def label(self):
        """The JSON/CLI form: ``"double"``, ``"exact"``, ``"auto"`` or the integer N."""
        return self.digits if self.kind == "digits" else self.kind


def resolve_precision(precision) -> Precision:
    """Resolve a user's ``precision`` argument (see the module docstring).

    Raises
    ------
    ValueError, TypeError
        With a message naming ``precision`` and the allowed values.
    """
    if isinstance(precision, Precision):
        return precision
    allowed = f"'double', 'exact', 'auto' or an integer number of digits in 1..{MAX_DIGITS}"
    if isinstance(precision, str):
        s = precision.strip().lower()
        if s in ("double", "exact", "auto"):
            return Precision(s)
        if s.isdigit():
            return resolve_precision(int(s))
        raise ValueError(f"precision must be {allowed}; got {precision!r}")
    if isinstance(precision, bool) or not isinstance(precision, Integral):
        raise TypeError(f"precision must be {allowed}; got {precision!r} of type {type(precision).__name__}")
    n = int(precision)
    if not 1 <= n <= MAX_DIGITS:
        raise ValueError(f"precision must be {allowed}; got {n}")
    return Precision("digits", n)


# ---------------------------------------------------------------------------------------
# Number back ends ("ops"): one code path for float64, mpmath and sympy.
# ---------------------------------------------------------------------------------------


class NumpyOps:
    """float64 numpy arithmetic."""

    kind = "double"
    eps = 2.0**-53

    def __init__(self):
        self.pi = np.pi
        self.sqrt = np.sqrt
        self.asin = np.arcsin
        self.acos = np.arccos
        self.exp = np.exp

    @property
    def erf(self):
        import scipy.special as sc  # imported on first use: 0.2 s that most runs never need

        return sc.erf

    def const(self, x):
        return float(x)

    def array(self, x):
        return np.asarray(x, dtype=float)

    def clip_unit(self, x):
        """Clip a correlation to [-1, 1] (rounding can push |ρ| a hair above 1)."""
        return np.clip(x, -1.0, 1.0)

    def abs(self, x):
        return np.abs(x)


class MpOps:
    """mpmath arithmetic at a fixed binary precision, in a private context.

    Arrays are numpy object arrays of ``mpf``; functions are vectorised with
    ``numpy.frompyfunc``.
    """

    kind = "mp"

    def __init__(self, prec_bits: int):
        import mpmath

        self.ctx = ctx = mpmath.MPContext()
        ctx.prec = int(prec_bits)
        self.prec = int(prec_bits)
        self.eps = ctx.mpf(2) ** (-self.prec)
        self.pi = ctx.pi
        self.sqrt = np.frompyfunc(ctx.sqrt, 1, 1)
        self.asin = np.frompyfunc(ctx.asin, 1, 1)
        self.acos = np.frompyfunc(ctx.acos, 1, 1)
        self.erf = np.frompyfunc(ctx.erf, 1, 1)
        self.exp = np.frompyfunc(ctx.exp, 1, 1)
        self._clip = np.frompyfunc(lambda v: max(min(v, ctx.one), -ctx.one), 1, 1)
        self._abs = np.frompyfunc(abs, 1, 1)
        self._conv = np.frompyfunc(self.const, 1, 1)

    def const(self, x):
        ctx = self.ctx
        if isinstance(x, Fraction):
            return ctx.mpf(x.numerator) / x.denominator
        if isinstance(x, (int, float)):
            return ctx.mpf(x)
        if hasattr(x, "p") and hasattr(x, "q"):  # sympy Rational
            return ctx.mpf(int(x.p)) / int(x.q)
        return ctx.convert(x)

    def array(self, x):
        return self._conv(np.asarray(x, dtype=object))

    def clip_unit(self, x):
        return self._clip(x)

    def abs(self, x):
        return self._abs(x)


class SympyOps:
    """Exact sympy arithmetic (rationals, π, square roots, inverse trigonometric functions)."""

    kind = "exact"
    eps = 0

    def __init__(self):
        import sympy

        self.sympy = sympy
        self.pi = sympy.pi
        self.sqrt = np.frompyfunc(sympy.sqrt, 1, 1)
        self.asin = np.frompyfunc(sympy.asin, 1, 1)
        self.acos = np.frompyfunc(sympy.acos, 1, 1)
        self.erf = np.frompyfunc(sympy.erf, 1, 1)
        self.exp = np.frompyfunc(sympy.exp, 1, 1)
        self._conv = np.frompyfunc(self.const, 1, 1)
        self._abs = np.frompyfunc(abs, 1, 1)

    def const(self, x):
        sympy = self.sympy
        if isinstance(x, Fraction):
            return sympy.Rational(x.numerator, x.denominator)
        if isinstance(x, Integral):
            return sympy.Integer(int(x))
        if isinstance(x, float):
            if x.is_integer():
                return sympy.Integer(int(x))
            raise TypeError(f"exact arithmetic needs rationals; got the float {x!r}")
        return sympy.sympify(x)

    def array(self, x):
        return self._conv(np.asarray(x, dtype=object))

    def clip_unit(self, x):
        return x

    def abs(self, x):
        return self._abs(x)


def bits_for_digits(digits: int) -> int:
    """Binary precision carrying ``digits`` decimal digits."""
    return int(math.ceil(digits * math.log2(10)))


class ArbOps:
    """Arb ball arithmetic (FLINT, via python-flint) at a fixed binary precision.

    About 15× faster than mpmath for the elementary functions of the duals, and every result
    is a ball that contains the exact value, so rounding is bounded rigorously. FLINT's
    working precision is process-global: evaluate inside ``with ops.context():``, which sets
    it for the block and restores it afterwards (mpmath's precision is not involved).
    Arrays are numpy object arrays of ``flint.arb``.
    """

    kind = "arb"

    def __init__(self, prec_bits: int):
        import flint

        self.flint = flint
        self.prec = int(prec_bits)
        with self.context():
            self.pi = flint.arb.pi()
            self.eps = flint.arb(2) ** (-self.prec)
        arb = flint.arb
        self.sqrt = np.frompyfunc(lambda v: arb(v).nonnegative_part().sqrt(), 1, 1)
        # arcsin and arccos through atan2 of nonnegative square roots: defined on balls that
        # straddle ±1 by rounding (a correlation of exactly ±1 is a ball around it)
        one_ = arb(1)

        def _asin(v):
            v = arb(v)
            if not (v.overlaps(one_) or v.overlaps(-one_)):
                return v.asin()
            return arb.atan2(v, ((1 - v) * (1 + v)).nonnegative_part().sqrt())

        def _acos(v):
            v = arb(v)
            if not (v.overlaps(one_) or v.overlaps(-one_)):
                return v.acos()
            return 2 * arb.atan2((1 - v).nonnegative_part().sqrt(), (1 + v).nonnegative_part().sqrt())

        self.asin = np.frompyfunc(_asin, 1, 1)
        self.acos = np.frompyfunc(_acos, 1, 1)
        self.erf = np.frompyfunc(lambda v: arb(v).erf(), 1, 1)
        self.exp = np.frompyfunc(lambda v: arb(v).exp(), 1, 1)
        one = arb(1)

        def _clip(v):
            v = arb(v)
            if v.overlaps(one):
                return one
            if v.overlaps(-one):
                return -one
            return v

        self._clip = np.frompyfunc(_clip, 1, 1)
        self._abs = np.frompyfunc(abs, 1, 1)
        self._conv = np.frompyfunc(self.const, 1, 1)

    def context(self):
        """The block in which FLINT computes at this precision."""
        return self.flint.ctx.workprec(self.prec)

    def const(self, x):
        arb = self.flint.arb
        if isinstance(x, arb):
            return x
        if isinstance(x, Fraction):
            return arb(x.numerator) / x.denominator
        if isinstance(x, (Integral, float)):
            return arb(x)
        if hasattr(x, "p") and hasattr(x, "q"):  # sympy Rational
            return arb(int(x.p)) / int(x.q)
        if hasattr(x, "_mpf_"):  # mpmath mpf: exact
            sign, man, exp, _ = x._mpf_
            if not man:
                return arb(0)
            v = arb(int(man)) * arb(2) ** int(exp)
            return -v if sign else v
        return arb(x)

    def array(self, x):
        return self._conv(np.asarray(x, dtype=object))

    def clip_unit(self, x):
        """A correlation ball that contains ±1 is taken as exactly ±1: on the diagonal (the
        q of every layer) that is the exact value, and √(1 − ρ²) of a ball around 1 would
        otherwise keep only half the digits. (Elsewhere this happens only at quadrature nodes
        within rounding of t = ±1, whose weights are negligible.)"""
        return self._clip(x)

    def abs(self, x):
        return self._abs(x)


def arb_to_mpf(ctx, x):
    """(midpoint, radius) of an arb ball as mpf numbers of the mpmath context ``ctx``
    (the midpoint exactly rounded to ctx's precision, the radius rounded up)."""
    man, exp = x.mid().man_exp()
    rman, rexp = x.rad().man_exp()
    return ctx.ldexp(ctx.mpf(int(man)), int(exp)), ctx.ldexp(ctx.mpf(int(rman)), int(rexp)) * (1 + ctx.eps)
