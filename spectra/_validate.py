"""Argument checks shared by every public routine: one message style, naming the parameter
and the allowed range (the CLI prints these messages verbatim and exits with status 2)."""
from __future__ import annotations

import math
from fractions import Fraction
from numbers import Integral, Real


def integer(name, value, lo=None, hi=None):
    """Return ``value`` as an int, checking ``lo <= value <= hi``."""
    rng = _range_text(lo, hi)
    if isinstance(value, bool) or not isinstance(value, Integral):
        if isinstance(value, float) and value.is_integer():
            raise TypeError(f"{name} must be an integer{rng}; got the float {value!r}")
        raise TypeError(f"{name} must be an integer{rng}; got {value!r}")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{name} must be an integer{rng}; got {v}")
    return v


def positive(name, value):
    """Return ``value`` as a float, checking that it is a finite number > 0 (bools refused)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a finite number > 0; got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a finite number > 0; got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return v


def _range_text(lo, hi):
    if lo is not None and hi is not None:
        return f" in {lo}..{hi}"
    if lo is not None:
        return f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


def hyper(name, value, positive):
    """Validate a variance hyperparameter.

    Accepts int, float, :class:`fractions.Fraction`, a sympy Rational, or a string holding a
    decimal or a fraction (``"0.1"``, ``"1/3"``; parsed exactly). Returns an int, float or
    Fraction; floats stay floats (their binary value), so ``precision="exact"`` can refuse them.
    """
    bound = "> 0" if positive else ">= 0"
    what = f"{name} must be a finite number {bound}"
    if isinstance(value, bool):
        raise TypeError(f"{what}; got {value!r}")
    if isinstance(value, str):
        try:
            v = Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{what}; got {value!r}") from None
    elif isinstance(value, (Integral, Fraction)):
        v = Fraction(value) if isinstance(value, Fraction) else int(value)
    elif hasattr(value, "p") and hasattr(value, "q") and getattr(value, "is_Rational", False):
        v = Fraction(int(value.p), int(value.q))
    elif isinstance(value, Real):
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"{what}; got {value!r}")
    else:
        raise TypeError(f"{what}; got {value!r} of type {type(value).__name__}")
    if (positive and not v > 0) or (not positive and not v >= 0):
        hint = ""
        if name == "weight_var" and v == 0:
            hint = " (weight_var = 0 makes the kernel constant in the input)"
        raise ValueError(f"{what}; got {value!r}{hint}")
    try:
        fv = float(v)
    except OverflowError:
        fv = math.inf
    if not math.isfinite(fv) or (v != 0 and fv == 0.0):
        raise ValueError(f"{what} within the float64 range; got {value!r}")
    if isinstance(v, Fraction) and v.denominator == 1:
        v = int(v)
    return v


def choice(name, value, options):
    if not isinstance(value, str) or value.lower() not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return value.lower()


def finite_array(name, values, lo=None, hi=None):
    """A float64 array of finite values within [lo, hi]."""
    import numpy as np

    try:
        a = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of real numbers; got {values!r}") from None
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite; got {values!r}")
    if lo is not None and np.any(a < lo) or hi is not None and np.any(a > hi):
        raise ValueError(f"{name} must lie in [{lo}, {hi}]; got values from {a.min()} to {a.max()}")
    return a


def variance_grids(weight_var, bias_var):
    """1-D float64 grids of σ_w² > 0 and σ_b² ≥ 0 (finite, non-empty)."""
    import numpy as np

    wv = finite_array("weight_var", weight_var).ravel()
    bv = finite_array("bias_var", bias_var).ravel()
    if wv.size == 0 or bv.size == 0:
        raise ValueError("weight_var and bias_var grids must not be empty")
    if np.any(wv <= 0):
        raise ValueError("weight_var must be > 0 everywhere on the grid")
    if np.any(bv < 0):
        raise ValueError("bias_var must be >= 0 everywhere on the grid")
    return wv, bv
