"""Turning results into JSON-ready records: numbers with their precision attached."""
from __future__ import annotations

import math


def number(value, precision):
    """A JSON value: float at double precision (None if NaN), a decimal string carrying every
    requested digit at N digits, an exact string otherwise."""
    kind = precision.kind
    if kind in ("double", "auto"):
        v = float(value)
        return None if not math.isfinite(v) else v
    if kind == "digits":
        return digits_text(value, precision.digits)
    return str(value)


def digits_text(value, digits):
    """``digits`` significant digits of an mpmath number, every one written (no stripping)."""
    import mpmath

    if value == 0:
        return "0"
    s = mpmath.nstr(value, digits, min_fixed=1, max_fixed=0, strip_zeros=False)
    return s.replace(".e", "e").rstrip(".") if digits == 1 else s


def decimal_of_exact(value, digits=20):
    import sympy

    v = sympy.N(value, digits)
    return str(v)


def error_value(err, precision):
    if precision.kind in ("double", "auto"):
        e = float(err)
        return e if math.isfinite(e) else None
    if precision.kind == "digits":
        import mpmath

        return mpmath.nstr(err, 3) if err != 0 else "0"
    return 0


def records(spectrum):
    """Per-degree dicts: degree, value, multiplicity, normalized, fractional_variance, error,
    digits, flag (+ exact strings in exact mode)."""
    prec = spectrum.precision
    norm = spectrum.normalized
    fv = spectrum.fractional_variance
    out = []
    for i, k in enumerate(spectrum.degrees):
        rec = {"degree": int(k)}
        if "radial_index" in spectrum.extra:
            rec["radial_index"] = int(spectrum.extra["radial_index"][i])
        v = spectrum.values[i]
        if prec.kind == "exact":
            rec["value"] = decimal_of_exact(v)
            rec["exact"] = str(v)
        else:
            rec["value"] = number(v, prec)
        rec["multiplicity"] = int(spectrum.multiplicities[i])
        if prec.kind == "exact":
            rec["normalized"] = decimal_of_exact(norm[i])
            rec["fractional_variance"] = decimal_of_exact(fv[i])
        else:
            rec["normalized"] = number(norm[i], prec)
            rec["fractional_variance"] = number(fv[i], prec)
        rec["error"] = error_value(spectrum.errors[i], prec)
        d = float(spectrum.digits[i])
        rec["digits"] = None if math.isinf(d) else round(d, 1)
        if spectrum.structural[i]:
            rec["structural_zero"] = True
        if spectrum.flags[i]:
            rec["flag"] = spectrum.flags[i]
        out.append(rec)
    return out
