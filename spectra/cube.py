"""Eigenvalues of CK/NTK integral operators on the boolean cube {±1}^d.

The eigenfunctions are the monomials χ_S, and μ_k (|S| = k, multiplicity C(d, k)) is

.. math::

    μ_k = 2^{-d} \\sum_{j=0}^{d} Φ(1 - 2j/d)\\,[z^j](1-z)^k(1+z)^{d-k}
        = 2^{-k}\\, \\mathbb E_{J\\sim \\mathrm{Bin}(d-k, 1/2)}\\big[(Δ^k f)_J\\big],
    \\quad f_j = Φ(1 - 2j/d),

(Yang & Salman 2019, arXiv:1907.10599, Thm 3.2). Three algorithms, one per precision:

double
    Differences first, then nonnegative binomial averages (float64). With e_j an absolute
    error bound on f_j, Cauchy–Schwarz and Krawtchouk orthogonality give
    |δμ_k| ≤ (Σ_j B_d(j) e_j²)^{1/2} / C(d,k)^{1/2}; the rounding of the differences is
    bounded the same way, step by step. The bound makes tiny eigenvalues at high degree
    come out flagged instead of as noise.
N digits
    f_j is evaluated in a private mpmath context and rounded to fixed point F_j = f_j 2^P
    (|error| ≤ 1 unit). The Krawtchouk transform of the integers F_j is then done *exactly*
    by two Taylor shifts of integer polynomials (FLINT), so the only error is the rounding
    of F: |δμ_k| ≤ 2^{-P} C(d,k)^{-1/2}. P grows until every requested value has N digits.
exact
    The same integer transform on rational kernel values (polynomial activations with
    rational hyperparameters), or a symbolic sum for closed-form activations at small d.
"""
from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import numpy as np

from . import _validate
from .kernels import _double, _exact, _kernel_name, guard_bits, layers
from .precision import (AUTO_DIGITS, UNRESOLVED_RTOL, MpOps, NumpyOps, Precision, SympyOps,
                        bits_for_digits, resolve_precision)
from .result import Spectrum
from .spec import Architecture

__all__ = ["cube_eigenvalues", "cube_eigenvalues_grid", "krawtchouk_transform", "MAX_EXACT_CLOSED_DIM"]

#: Largest dimension for which closed-form (relu/erf) exact spectra are built symbolically.
MAX_EXACT_CLOSED_DIM = 24
_U = 2.0**-53


# ---------------------------------------------------------------------------------------
# weights
# ---------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def binom_pmf(n: int):
    """(pmf of Bin(n, ½) on 0..n as float64, relative error bound of its entries)."""
    j = np.arange(n + 1)
    if n <= 1020:
        c = [math.comb(n, int(i)) for i in j]
        w = np.array([math.ldexp(float(v), -n) for v in c])
        return w, _U
    import scipy.stats as st

    return st.binom.pmf(j, n, 0.5), 1e-14 * math.sqrt(n)


def log_binom(n, k):
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _parity_zero(parity, k):
    return (parity == -1 and k % 2 == 0) or (parity == 1 and k % 2 == 1)


# ---------------------------------------------------------------------------------------
# float64 transform (vectorised over leading axes)
# ---------------------------------------------------------------------------------------


def _transform_double(f, e, d, degrees):
    """μ_k and error bounds for each k in ``degrees`` from values ``f`` (…, d+1) and bounds ``e``."""
    K = max(degrees)
    w_d, _ = binom_pmf(d)
    rms_e = np.sqrt(np.maximum((e * e) @ w_d, 0.0))
    mu = np.empty(f.shape[:-1] + (len(degrees),))
    err = np.empty_like(mu)
    want = {k: i for i, k in enumerate(degrees)}
    rms_g = []  # rms_{B_{d-i}}(g^{(i)}), i = 1..K
    g = f
    log2d = math.log2(max(d, 2))
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(K + 1):
            if k:
                g = g[..., :-1] - g[..., 1:]
            w, wtol = binom_pmf(d - k)
            scale = 2.0**-k
            if k:
                rms_g.append(np.sqrt((g * g) @ w))
            if k not in want:
                continue
            m = (g @ w) * scale
            absavg = (np.abs(g) @ w) * scale
            bound = rms_e * math.exp(-0.5 * log_binom(d, k))
            for i in range(1, k + 1):
                bound = bound + _U * 2.0**-i * rms_g[i - 1] * math.exp(-0.5 * log_binom(d - i, k - i))
            bound = bound + (_U * (log2d + 2) + wtol) * absavg
            mu[..., want[k]] = m
            err[..., want[k]] = bound
    return mu, err


def _flag_double(mu, err, structural):
    """Replace unresolved values by NaN and return (values, flags)."""
    flags = []
    out = mu.copy()
    for i, (m, e, s) in enumerate(zip(mu, err, structural)):
        if s:
            flags.append(None)
        elif not np.isfinite(m) or not np.isfinite(e):
            out[i] = np.nan
            flags.append("unresolved: round-off overflowed float64; use precision=N")
        elif abs(m) < 1e-290 and e < 1e-290:
            out[i] = np.nan
            flags.append("underflow: |value| below the float64 range; use precision=N")
        elif e > UNRESOLVED_RTOL * abs(m):
            out[i] = np.nan
            flags.append(f"unresolved: error bound {e:.1e} exceeds {UNRESOLVED_RTOL:g} of |value| "
                         f"{abs(m):.1e}; use precision='auto' or N digits")
        else:
            flags.append(None)
    return out, tuple(flags)


def _grid_t(d):
    return 1.0 - 2.0 * np.arange(d + 1) / d


# ---------------------------------------------------------------------------------------
# exact integer Krawtchouk transform
# ---------------------------------------------------------------------------------------


def krawtchouk_transform(F, d):
    """Exact Q_k = C(d,k) Σ_j F_j [z^j](1−z)^k(1+z)^{d−k} for integers F_0..F_d.

    Uses C(d,k)[z^j](1−z)^k(1+z)^{d−k} = C(d,j)[y^k](1−y)^j(1+y)^{d−j}, so
    Q(y) = Σ_j C(d,j) F_j (1−y)^j (1+y)^{d−j} = (1+y)^d P((1−y)/(1+y)) with
    P(x) = Σ_j C(d,j) F_j x^j: P(2v − 1), reversed, then shifted by 1. FLINT does the
    two Taylor shifts in exact integer arithmetic.

    Then μ_k = Q_k / (C(d,k) 2^d) when F_j = Φ(1 − 2j/d).
    """
    import flint

    coeffs = []
    c = 1
    for j in range(d + 1):
        coeffs.append(c * int(F[j]))
        c = c * (d - j) // (j + 1)
    P = flint.fmpz_poly(coeffs)
    P1 = P(flint.fmpz_poly([-1, 2]))
    c1 = [int(v) for v in P1.coeffs()]
    c1 += [0] * (d + 1 - len(c1))
    Q = flint.fmpz_poly(c1[::-1])(flint.fmpz_poly([1, 1]))
    q = [int(v) for v in Q.coeffs()]
    return q + [0] * (d + 1 - len(q))


# ---------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------


def _degrees(dim, max_degree, degrees):
    if degrees is not None:
        ks = sorted({_validate.integer("degree", k, lo=0, hi=dim) for k in degrees})
        if not ks:
            raise ValueError("degrees must not be empty")
        return ks
    if max_degree is None:
        max_degree = min(dim, 10)
    K = _validate.integer("max_degree", max_degree, lo=0, hi=dim)
    return list(range(K + 1))


def cube_eigenvalues(spec: Architecture, dim: int, kernel="ntk", max_degree=None, precision="double",
                     degrees=None) -> Spectrum:
    """Eigenvalues μ_k of the CK or NTK on the uniform boolean cube {±1}^dim.

    Parameters
    ----------
    spec : Architecture
    dim : int
        d ≥ 1.
    kernel : {"ck", "ntk"}
    max_degree : int, optional
        Degrees 0..max_degree (default min(dim, 10)); at most ``dim``.
    precision : "double", int N, "exact" or "auto"
        See :mod:`spectra.precision`.
    degrees : iterable of int, optional
        Explicit degrees instead of ``max_degree``.

    Returns
    -------
    Spectrum

    Examples
    --------
    The relu NTK of CONVENTIONS §4 (d = 7, depth 2, σ_w² = σ_b² = 2), and the trace identity
    Σ_k C(d,k) μ_k = Φ(1):

    >>> from spectra import Architecture, cube_eigenvalues
    >>> s = cube_eigenvalues(Architecture("relu", 2, 2, 2), 7, "ntk", max_degree=7)
    >>> round(float(s.values[0]), 4), float(s.trace)
    (11.2844, 18.0)
    >>> abs(sum(m * v for m, v in zip(s.multiplicities, s.values)) - 18) < 1e-12
    True
    """
    dim = _validate.integer("dim", dim, lo=1)
    kernel = _kernel_name(kernel)
    prec = resolve_precision(precision)
    ks = _degrees(dim, max_degree, degrees)
    mult = tuple(math.comb(dim, k) for k in ks)
    structural = np.array([_parity_zero(spec.parity, k) for k in ks])
    common = dict(domain="cube", dim=dim, spec=spec, kernel=kernel, precision=prec,
                  degrees=np.array(ks), multiplicities=mult, structural=structural)
    if prec.kind == "exact":
        return _cube_exact(spec, dim, kernel, ks, common)
    if prec.kind == "digits":
        vals, errs, digits, trace = _cube_digits(spec, dim, kernel, ks, prec.digits, structural)
        return Spectrum(values=vals, errors=errs, digits=digits, flags=(None,) * len(ks), trace=trace, **common)
    t = _grid_t(dim)
    one = np.ones(1)
    f, e = _double(spec, t, one, one, kernel)
    mu, err = _transform_double(f, e, dim, ks)
    mu[structural] = 0.0
    err[structural] = 0.0
    trace = float(f[0])
    if prec.kind == "auto":
        return _auto(spec, dim, kernel, ks, mu, err, structural, trace, common)
    vals, flags = _flag_double(mu, err, structural)
    return Spectrum(values=vals, errors=err, digits=_digits(vals, err, structural), flags=flags,
                    trace=trace, **common)


def _digits(vals, err, structural):
    out = np.full(len(vals), np.inf)
    for i, (v, e, s) in enumerate(zip(vals, err, structural)):
        if s:
            continue
        if not np.isfinite(v) or v == 0:
            out[i] = 0.0
        elif e > 0:
            out[i] = max(0.0, math.floor(min(-math.log10(e / abs(v)), 16.0) * 10) / 10)
        else:
            out[i] = 16.0
    return out


def _auto(spec, dim, kernel, ks, mu, err, structural, trace, common):
    """Recompute at AUTO_DIGITS digits every value whose double error bound exceeds 1e-12 relative."""
    bad = [k for k, m, e, s in zip(ks, mu, err, structural)
           if not s and not (np.isfinite(m) and np.isfinite(e) and e <= 1e-12 * abs(m))]
    vals, errs, flags = mu.copy(), err.copy(), [None] * len(ks)
    if bad:
        v2, e2, _, _ = _cube_digits(spec, dim, kernel, bad, AUTO_DIGITS, np.zeros(len(bad), bool))
        pos = {k: i for i, k in enumerate(ks)}
        for k, v, e in zip(bad, v2, e2):
            i = pos[k]
            fv = float(v)
            if fv == 0.0 or not np.isfinite(fv) or abs(fv) < 1e-300:
                vals[i] = np.nan
                errs[i] = float(e) if float(e) > 0 else 0.0
                flags[i] = f"underflow: |value| = {_mpstr(v)} is below the float64 range; use precision=N"
            else:
                vals[i] = fv
                errs[i] = float(e) + abs(fv) * _U
    prec = Precision("auto")
    return Spectrum(values=vals, errors=errs, digits=_digits(vals, errs, structural), flags=tuple(flags),
                    trace=trace, **{**common, "precision": prec})


def _mpstr(v):
    import mpmath

    return mpmath.nstr(v, 5)


def _eval_points_mp(spec, d, kernel, ops, parity):
    """Φ(1 − 2j/d), j = 0..d, in ``ops`` (mirrored by parity so that symmetry is exact)."""
    ctx = ops.ctx
    half = d // 2 if parity else d
    t = np.array([ctx.mpf(d - 2 * j) / d for j in range(half + 1)], dtype=object)
    one = ctx.one
    L = None
    for L in layers(spec.activation, t, one, one, ops.const(spec.weight_var), ops.const(spec.bias_var),
                    spec.depth, ops, ntk=kernel == "ntk"):
        pass
    vals = list(L.ntk if kernel == "ntk" else L.ck)
    if parity:
        if parity == -1 and d % 2 == 0:
            vals[half] = ctx.zero
        mirror = [(-v if parity == -1 else v) for v in vals[: d - half][::-1]]
        vals = vals + mirror
    return vals


def _cube_digits(spec, d, kernel, ks, N, structural):
    """N guaranteed digits for μ_k, k in ks (exact transform; adaptive fixed-point precision)."""
    t = _grid_t(d)
    one = np.ones(1)
    f, e = _double(spec, t, one, one, kernel)
    guard = guard_bits(e, np.full_like(f, abs(f[0])))
    phi1_bits = max(0, math.ceil(math.log2(max(abs(f[0]), 1e-300))))
    P = bits_for_digits(N) + d + 16
    out_ctx = MpOps(bits_for_digits(N) + 8).ctx
    todo = [k for k, s in zip(ks, structural) if not s]
    parity = spec.parity
    for _attempt in range(12):
        ops = MpOps(P + guard + phi1_bits + 8)
        ctx = ops.ctx
        vals = _eval_points_mp(spec, d, kernel, ops, parity)
        F = [int(ctx.nint(ctx.ldexp(v, P))) for v in vals]
        Q = krawtchouk_transform(F, d)
        res = {}
        need = 0
        for k in todo:
            denom = math.comb(d, k)
            mu = out_ctx.mpf(Q[k]) / denom
            mu = out_ctx.ldexp(mu, -(d + P))
            # |δF_j| ≤ 1 (rounding ½ + evaluation error ≪ ½) ⇒ |δμ_k| ≤ 2^-P / sqrt(C(d,k))
            err = out_ctx.ldexp(out_ctx.one / out_ctx.sqrt(denom), -P)
            res[k] = (mu, err)
            if abs(mu) <= err:
                need = max(need, max(d, P // 2))
            else:
                ratio = float(out_ctx.log(err * out_ctx.mpf(10) ** N / abs(mu), 2))
                if ratio > 0:
                    need = max(need, int(math.ceil(ratio)) + 8)
        if need == 0:
            break
        P += need
    else:  # pragma: no cover - 12 rounds of growth is far beyond any test case
        raise RuntimeError(f"could not reach {N} digits at d = {d}; working precision reached {P} bits")
    trace = out_ctx.mpf(vals[0])
    values, errors, digits = [], [], []
    for k, s in zip(ks, structural):
        if s:
            values.append(out_ctx.zero)
            errors.append(out_ctx.zero)
            digits.append(np.inf)
        else:
            mu, err = res[k]
            values.append(mu)
            errors.append(err)
            digits.append(float(out_ctx.log10(abs(mu) / err)))
    return (np.array(values, dtype=object), np.array(errors, dtype=object), np.array(digits), trace)


def _cube_exact(spec, d, kernel, ks, common):
    import sympy

    act = spec.activation
    if act.exact is None:
        raise ValueError(f"precision='exact': activation {act.name!r} has no exact closed form; "
                         "use an integer number of digits")
    t = np.array([Fraction(d - 2 * j, d) for j in range(d + 1)], dtype=object)
    one = np.ones(d + 1, dtype=object)
    if act.exact == "closed" and d > MAX_EXACT_CLOSED_DIM:
        raise ValueError(f"dim: exact closed forms for {act.name!r} are built for dim <= "
                         f"{MAX_EXACT_CLOSED_DIM}; got {d} (use an integer number of digits)")
    vals = _exact(spec, t, one, one, kernel)
    structural = common["structural"]
    out = []
    if act.exact == "rational":
        fr = [Fraction(int(v.p), int(v.q)) for v in vals]
        den = math.lcm(*[x.denominator for x in fr])
        F = [x.numerator * (den // x.denominator) for x in fr]
        Q = krawtchouk_transform(F, d)
        for k, s in zip(ks, structural):
            out.append(sympy.Integer(0) if s else sympy.Rational(Q[k], math.comb(d, k) * 2**d * den))
    else:
        for k, s in zip(ks, structural):
            if s:
                out.append(sympy.Integer(0))
                continue
            poly = [0] * (d + 1)
            # w_kj = [z^j](1−z)^k(1+z)^{d−k}
            for i in range(k + 1):
                a = (-1) ** i * math.comb(k, i)
                for m in range(d - k + 1):
                    poly[i + m] += a * math.comb(d - k, m)
            out.append(sympy.Add(*[w * v for w, v in zip(poly, vals) if w]) / 2**d)
    n = len(ks)
    return Spectrum(values=np.array(out, dtype=object), errors=np.zeros(n), digits=np.full(n, np.inf),
                    flags=(None,) * n, trace=vals[0], **common)


def cube_eigenvalues_grid(activation, dim, max_depth, weight_var, bias_var, kernels=("ck", "ntk"),
                          max_degree=None, progress=None):
    """μ_k on a whole hyperparameter grid at double precision, layer by layer.

    Parameters
    ----------
    activation : str
    dim : int
    max_depth : int
        Depths 0..max_depth.
    weight_var, bias_var : 1-D array_like
    kernels : sequence of {"ck", "ntk"}
    max_degree : int, optional
    progress : callable, optional
        Called as ``progress(depth)`` after each depth.

    Returns
    -------
    dict
        For each kernel ``k``: ``out[k]`` of shape (depth, weight_var, bias_var, degree) holding
        unnormalised μ (NaN where unresolved), ``out[k + "_err"]`` the error bounds and
        ``out[k + "_phi1"]`` Φ(1) of shape (depth, weight_var, bias_var). Memory is
        O(grid × degrees), independent of ``dim``.
    """
    from .activations import get_activation

    act = get_activation(activation)
    dim = _validate.integer("dim", dim, lo=1)
    kernels = tuple(_kernel_name(k) for k in ((kernels,) if isinstance(kernels, str) else kernels))
    max_depth = _validate.integer("max_depth", max_depth, lo=0)
    ks = _degrees(dim, max_degree, None)
    wv = _validate.finite_array("weight_var", weight_var).ravel()
    bv = _validate.finite_array("bias_var", bias_var).ravel()
    if np.any(wv <= 0):
        raise ValueError("weight_var must be > 0 everywhere on the grid")
    if np.any(bv < 0):
        raise ValueError("bias_var must be >= 0 everywhere on the grid")
    shape = (max_depth + 1, wv.size, bv.size)
    out = {}
    for k in kernels:
        out[k] = np.empty(shape + (len(ks),))
        out[k + "_err"] = np.empty(shape + (len(ks),))
        out[k + "_phi1"] = np.empty(shape)
    t = _grid_t(dim)[None, None, :]
    one = np.ones((1, 1, 1))
    sw, sb = wv[:, None, None], bv[None, :, None]
    ops = NumpyOps()
    odd = act.parity == -1
    even = act.parity == 1
    with np.errstate(invalid="ignore", divide="ignore"):
        for L in layers(act, t, one, one, sw, sb, max_depth, ops, ntk="ntk" in kernels, track=True):
            for k in kernels:
                f, e = getattr(L, k), getattr(L, k + "_err")
                mu, err = _transform_double(f, e, dim, ks)
                par = -1 if (L.depth == 0 or odd) else (1 if even else 0)
                zero_b = bv == 0
                for i, kk in enumerate(ks):
                    if _parity_zero(par, kk):
                        mu[:, zero_b, i] = 0.0
                        err[:, zero_b, i] = 0.0
                bad = ~(err <= UNRESOLVED_RTOL * np.abs(mu))
                mu[bad] = np.nan
                out[k][L.depth] = mu
                out[k + "_err"][L.depth] = err
                out[k + "_phi1"][L.depth] = f[..., 0]
            if progress is not None:
                progress(L.depth)
    out["degrees"] = np.array(ks)
    out["depths"] = np.arange(max_depth + 1)
    out["weight_var"] = wv
    out["bias_var"] = bv
    return out
