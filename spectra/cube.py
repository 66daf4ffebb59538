r"""Eigenvalues of CK/NTK integral operators on the boolean cube {±1}^d.

The eigenfunctions are the monomials χ_S, and μ_k (|S| = k, multiplicity C(d, k)) is

.. math::

    μ_k = 2^{-d} \sum_{j=0}^{d} Φ(1 - 2j/d)\,[z^j](1-z)^k(1+z)^{d-k}
        = 2^{-k}\, \mathbb E_{J\sim \mathrm{Bin}(d-k, 1/2)}\big[(Δ^k f)_J\big],
    \quad f_j = Φ(1 - 2j/d),

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

import contextlib
import math
import os
import sys
from fractions import Fraction
from functools import lru_cache

import numpy as np

from . import _validate
from .kernels import _double, _exact, _kernel_name, _last, gap_columns, guard_bits, layers, layers_gap
from .precision import (AUTO_DIGITS, UNRESOLVED_RTOL, MpOps, Precision, bits_for_digits, resolve_precision)
from .result import Spectrum
from .spec import Architecture, structural_zero

__all__ = ["cube_eigenvalues", "cube_eigenvalues_grid", "grid_steps", "krawtchouk_transform", "MAX_EXACT_CLOSED_DIM"]

#: Largest dimension for which closed-form (relu/erf) exact spectra are built symbolically.
MAX_EXACT_CLOSED_DIM = 24
_U = 2.0**-53
#: Largest log2 Φ(1) the N-digit transform accepts (its fixed point needs that many bits).
MAX_PHI1_BITS = 1 << 20


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


# ---------------------------------------------------------------------------------------
# float64 transform (vectorised over leading axes)
# ---------------------------------------------------------------------------------------


def _rms(e, w):
    """(Σ_j w_j e_j²)^{1/2} over the first axis, scaled so that large e does not overflow."""
    with np.errstate(all="ignore"):
        s = np.max(np.abs(e), axis=0)
        s = np.where(s > 0, s, 1.0)
        x = e / s
        x *= x
        return np.sqrt(np.maximum((w @ x.reshape(x.shape[0], -1)).reshape(x.shape[1:]), 0.0)) * s


@lru_cache(maxsize=32)
def _second_difference_rows(d: int, K: int):
    """Rows M_k (k = 2..K) with μ_k = M_k · Δ²f, computed exactly and rounded once.

    μ_k = 2^{-k} E_{B_{d−k}}[Δ^{k−2} g], g = Δ²f, so
    M_kj = 2^{-d} [z^j] (1 − z)^{k−2} (1 + z)^{d−k}   (integer numerators, one rounding).
    Returns (M, |M|) as float64 arrays of shape (K − 1, d − 1).
    """
    rows = []
    for k in range(2, K + 1):
        c, b = [], 1
        for m in range(d - k + 1):  # C(d−k, m) by the product formula: O(d) big-int steps
            c.append(b)
            b = b * (d - k - m) // (m + 1)
        for _ in range(k - 2):  # multiply by (1 − z)
            c = [x - y for x, y in zip(c + [0], [0] + c)]
        rows.append([v / (1 << d) for v in c])
    M = np.array(rows, dtype=float)
    return M, np.abs(M)


class _Plan:
    """Constants of the float64 transform for one (d, degrees): binomial weights, the exactly
    rounded second-difference rows, the per-degree error coefficients (built once, reused by every
    column block and layer of a sweep)."""

    def __init__(self, d, degrees):
        self.d, self.degrees = d, tuple(degrees)
        self.K = K = max(degrees)
        self.want = want = {k: i for i, k in enumerate(degrees)}
        self.fast = 2 <= K <= 32 and d <= 4096
        log2d = math.log2(max(d, 2))
        self.kvec1 = np.asarray(degrees, dtype=float)[:, None] + 1
        self.noise = (2 * np.exp(-0.5 * np.array([log_binom(d, k) for k in degrees])))[:, None]
        self.w_d, tol = binom_pmf(d)
        self.c0 = _U * (log2d + 2) + tol
        if self.fast:
            self.w_1, tol = binom_pmf(d - 1)
            self.c1 = _U * (log2d + 2) + tol
            M, Mabs = _second_difference_rows(d, K)
            sel = [k for k in range(2, K + 1) if k in want]
            self.M, self.Mabs = M[[k - 2 for k in sel]], Mabs[[k - 2 for k in sel]]
            pos = [want[k] for k in sel]
            # contiguous output rows are written in place
            self.rows = slice(pos[0], pos[0] + len(pos)) if pos == list(range(pos[0], pos[0] + len(pos))) else pos


@lru_cache(maxsize=32)
def _plan(d, degrees):
    return _Plan(d, degrees)


def _rounding_01(plan, abs_mean, rnd):
    """The rounding bounds of μ_0 and μ_1 (fast path) from E_B|f| (``abs_mean``, per column), into
    ``rnd`` (degree along its second-to-last axis)."""
    want = plan.want
    if 0 in want:
        rnd[..., want[0], :] = plan.c0 * abs_mean
    if 1 in want:
        rnd[..., want[1], :] = plan.c1 * abs_mean


def _transform_core(f, plan, work, mu, rnd):
    """μ and the rounding bounds (degree, columns) of f (d+1, columns) into ``mu`` and ``rnd``:
    :func:`_fast_core` or :func:`_slow_core`. The fast path leaves the rounding of μ_0 and μ_1 to
    the caller (:func:`_rounding_01`, which a sweep calls once for several blocks of columns)."""
    if plan.fast:
        _fast_core(f, plan, work, mu, rnd)
    else:
        _slow_core(f, plan, mu, rnd)


def _fast_core(f, plan, work, mu, rnd):
    """The fast path of :func:`_transform_double` on f of shape (d+1, columns): writes μ and the
    rounding bounds of degrees ≥ 2 (degree, columns) into ``mu`` and ``rnd``; ``work`` is
    (3, ≥ d+1, ≥ columns)."""
    n, cols = f.shape
    want = plan.want
    A, G1, G2 = work[0, :n, :cols], work[1, : n - 1, :cols], work[2, : n - 2, :cols]
    if 0 in want:
        mu[want[0]] = plan.w_d @ f
    np.subtract(f[:-1], f[1:], out=G1)
    if 1 in want:
        mu[want[1]] = (plan.w_1 @ G1) * 0.5
    np.subtract(G1[:-1], G1[1:], out=G2)
    A2 = A[: n - 2]
    if isinstance(plan.rows, slice):
        np.matmul(plan.M, G2, out=mu[plan.rows])
        np.abs(G2, out=A2)
        np.matmul(plan.Mabs, A2, out=rnd[plan.rows])
        rnd[plan.rows] *= _U * (plan.d + 2)
    else:
        mu[plan.rows] = plan.M @ G2
        np.abs(G2, out=A2)
        rnd[plan.rows] = (_U * (plan.d + 2)) * (plan.Mabs @ A2)


def _error_bound(plan, mu, rnd, rel, rms_e, out=None):
    """rounding + (k + 1) rel |μ_k| + 2 rms_B(e) / C(d, k)^{1/2} (see :func:`_transform_double`),
    degree along the second-to-last axis of ``mu`` and ``rnd``; ``rms_e`` per column (or None)."""
    err = np.abs(mu, out=out)
    err *= plan.kvec1
    err *= rel
    err += rnd
    if rms_e is not None:
        err += plan.noise * rms_e
    return err


def _transform_double(f, e, d, degrees, rel=0.0):
    """μ_k and error estimates for each k in ``degrees`` from values ``f`` of shape (d+1, …)
    (the points t_j = 1 − 2j/d along the first axis). Returns arrays of shape (…, len(degrees)).

    ``e`` (same shape as ``f``) bounds the point-wise (noise-like) errors of ``f`` (None: account
    for them separately); ``rel`` is the relative error shared by all points (see
    :func:`spectra.kernels.layers`).

    Differences first: Δf and Δ²f are exact or nearly so (Sterbenz), and carry no
    cancellation. μ_0 and μ_1 are nonnegative binomial averages of f and Δf. For
    2 ≤ k ≤ K (K ≤ 32, d ≤ 4096) the rest of the operator, 2^{-k} B_{d−k}·Δ^{k−2}, is one
    matrix product with exactly computed rows on Δ²f; otherwise each degree is its own
    difference-then-average pass. The estimate is

        2 (Σ_j B_d(j) e_j²)^{1/2} / C(d,k)^{1/2}       point-wise errors (Cauchy–Schwarz and
                                                        Krawtchouk orthogonality)
        + rounding of the averages / matrix product    (γ Σ|weights||data|, computed)
        + (k + 1) rel |μ_k|                            shared errors

    The rounding of the matrix product is below the first term by ~n/(dk) (it acts on
    second differences, which are O(d⁻²) of f).
    """
    n = f.shape[0]
    lead = f.shape[1:]
    f = np.ascontiguousarray(f).reshape(n, -1)  # (points, columns): differences are block subtractions
    if np.ndim(rel):
        rel = np.broadcast_to(rel, lead).reshape(-1)
    plan = _plan(d, tuple(degrees))
    rms_e = None if e is None else _rms(np.broadcast_to(e, (n,) + lead).reshape(n, -1), plan.w_d)
    mu = np.empty((len(plan.degrees), f.shape[1]))
    rnd = np.empty_like(mu)  # rounding of the averages / products
    with np.errstate(over="ignore", invalid="ignore"):
        _transform_core(f, plan, np.empty((3,) + f.shape) if plan.fast else None, mu, rnd)
        if plan.fast and (0 in plan.want or 1 in plan.want):
            _rounding_01(plan, plan.w_d @ np.abs(f), rnd)
        err = _error_bound(plan, mu, rnd, rel, rms_e)
    return np.moveaxis(mu, 0, -1).reshape(lead + (-1,)), np.moveaxis(err, 0, -1).reshape(lead + (-1,))


def _center_gaps(mu, err, center, rel, ks):
    """In place, degree along the first axis: μ of Φ = c − gap (c the value at t = 0) from μ of
    the gap: μ_0 = c − μ_0(gap), μ_k = −μ_k(gap) for k ≥ 1."""
    np.negative(mu, out=mu)
    if ks[0] == 0:
        mu[0] += center
        err[0] += _U * (np.abs(center) + np.abs(mu[0])) + rel * np.abs(center)


def _slow_core(f, plan, mu, rnd):
    """Each degree its own difference-then-average pass (large d or K)."""
    d, want = plan.d, plan.want
    log2d = math.log2(max(d, 2))
    g = f
    absavg = None
    for k in range(plan.K + 1):
        if k:
            g = g[:-1] - g[1:]
        if k not in want:
            continue
        w, wtol = binom_pmf(d - k)
        scale = 2.0**-k
        # 2^-k E|Δ^k f| is non-increasing in k (E_{B_n}|Δx| ≤ 2 E_{B_{n+1}}|x|), so the value
        # from the previous even level still bounds it: |g| is needed every other level only.
        if absavg is None or k % 2 == 0:
            absavg = (w @ np.abs(g)) * scale
        mu[want[k]] = (w @ g) * scale
        rnd[want[k]] = (_U * (log2d + 2) + wtol) * absavg


def _one_minus_t(d):
    return 2.0 * np.arange(d + 1) / d


def _from_gaps(center, gap, gap_err, rel, d, ks):
    """μ_k of Φ = c − gap (c the value at t = 0): μ_0 = c − μ_0(gap), μ_k = −μ_k(gap), k ≥ 1."""
    mu, err = _transform_double(gap, gap_err, d, ks, rel)
    _center_gaps(np.moveaxis(mu, -1, 0), np.moveaxis(err, -1, 0), center, rel, ks)
    return mu, err


def _cube_double(spec, d, kernel, ks):
    with np.errstate(all="ignore"):
        L = _last(layers_gap(spec.activation, _one_minus_t(d), float(spec.weight_var), float(spec.bias_var),
                             spec.depth, ntk=kernel == "ntk", track=True))
    center = np.ravel(L.center(kernel))[0]
    with np.errstate(all="ignore"):
        mu, err = _from_gaps(center, L.gap(kernel), L.gap_err(kernel), float(np.max(L.rel_err)), d, ks)
    return mu, err, float(np.ravel(L.diag(kernel))[0])


def _flag_double(mu, err, structural):
    """Replace unresolved values by NaN and return (values, flags)."""
    flags = []
    out = mu.copy()
    for i, (m, e, s) in enumerate(zip(mu, err, structural)):
        if s:
            flags.append(None)
        elif not np.isfinite(m) or not np.isfinite(e):
            out[i] = np.nan
            flags.append("overflow: the kernel or its round-off exceeds the float64 range; needs N digits")
        elif abs(m) < 1e-290 and e < 1e-290:
            out[i] = np.nan
            flags.append("underflow: |value| below the float64 range; needs N digits")
        elif e > UNRESOLVED_RTOL * abs(m):
            out[i] = np.nan
            flags.append(f"unresolved: error bound {e:.1e} exceeds {UNRESOLVED_RTOL:g} of |value| "
                         f"{abs(m):.1e}; needs more precision ('auto' or N digits)")
        else:
            flags.append(None)
    return out, tuple(flags)


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
    >>> bool(abs(sum(m * v for m, v in zip(s.multiplicities, s.values)) - 18) < 1e-12)
    True
    """
    dim = _validate.integer("dim", dim, lo=1)
    kernel = _kernel_name(kernel)
    prec = resolve_precision(precision)
    ks = _degrees(dim, max_degree, degrees)
    mult = tuple(math.comb(dim, k) for k in ks)
    structural = np.array([spec.structural_zero(kernel, k) for k in ks])
    common = dict(domain="cube", dim=dim, spec=spec, kernel=kernel, precision=prec,
                  degrees=np.array(ks), multiplicities=mult, structural=structural)
    return spectrum_at_precision(spec, dim, kernel, ks, prec, common, _cube_exact, _cube_digits, _cube_double)


def spectrum_at_precision(spec, dim, kernel, ks, prec, common, exact_fn, digits_fn, double_fn):
    """The precision dispatch every domain shares: ``exact_fn(spec, dim, kernel, ks, common)``
    returns a Spectrum; ``digits_fn(spec, dim, kernel, ks, N, structural)`` (values, errors,
    digits, trace, flags); ``double_fn(spec, dim, kernel, ks)`` (μ, errors, trace). Structural
    zeros are exactly 0 in double; "auto" recomputes unresolved values with ``digits_fn``."""
    structural = common["structural"]
    if prec.kind == "exact":
        return exact_fn(spec, dim, kernel, ks, common)
    if prec.kind == "digits":
        vals, errs, digits, trace, flags = digits_fn(spec, dim, kernel, ks, prec.digits, structural)
        return Spectrum(values=vals, errors=errs, digits=digits, flags=flags, trace=trace, **common)
    mu, err, trace = double_fn(spec, dim, kernel, ks)
    mu[structural] = 0.0
    err[structural] = 0.0
    if prec.kind == "auto":
        return _auto(spec, dim, kernel, ks, mu, err, structural, trace, common, digits_fn=digits_fn)
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


def _auto(spec, dim, kernel, ks, mu, err, structural, trace, common, digits_fn=None):
    """Recompute at AUTO_DIGITS digits every value whose double error bound exceeds 1e-12 relative.

    ``digits_fn(spec, dim, kernel, ks, N, structural)`` is the domain's N-digit routine (the
    cube's by default), returning (values, errors, digits, trace, flags)."""
    digits_fn = digits_fn or _cube_digits
    bad = [k for k, m, e, s in zip(ks, mu, err, structural)
           if not s and not (np.isfinite(m) and np.isfinite(e) and e <= 1e-12 * abs(m))]
    vals, errs, flags = mu.copy(), err.copy(), [None] * len(ks)
    if bad:
        v2, e2, _, _, _ = digits_fn(spec, dim, kernel, bad, AUTO_DIGITS, np.zeros(len(bad), bool))
        pos = {k: i for i, k in enumerate(ks)}
        for k, v, e in zip(bad, v2, e2):
            i = pos[k]
            fv = float(v)
            if fv == 0.0 or not np.isfinite(fv) or abs(fv) < 1e-300:
                vals[i] = np.nan
                errs[i] = float(e) if float(e) > 0 else 0.0
                flags[i] = f"underflow: |value| = {_mpstr(v)} is below the float64 range; needs N digits"
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
    L = _last(layers(spec.activation, t, one, one, ops.const(spec.weight_var), ops.const(spec.bias_var),
                     spec.depth, ops, ntk=kernel == "ntk"))
    vals = list(L.ntk if kernel == "ntk" else L.ck)
    if parity:
        if parity == -1 and d % 2 == 0:
            vals[half] = ctx.zero
        mirror = [(-v if parity == -1 else v) for v in vals[: d - half][::-1]]
        vals = vals + mirror
    return vals


def _cube_digits(spec, d, kernel, ks, N, structural):
    """N guaranteed digits for μ_k, k in ks (exact transform; adaptive fixed-point precision)."""
    one = np.ones(1)
    with np.errstate(all="ignore"):
        f, e, rel = _double(spec, 1.0 - _one_minus_t(d), one, one, kernel)
    guard = guard_bits(e + rel * abs(f[0]), np.full_like(f, abs(f[0])))
    verify = guard is None
    if verify:
        # float64 overflowed (e.g. polynomial activations whose q grows like q^n per layer):
        # no a-priori amplification estimate, so evaluate twice and compare below.
        guard, phi1_bits = 64 + 16 * spec.depth, 0
    else:
        phi1_bits = max(0, math.ceil(math.log2(max(abs(f[0]), 1e-300))))
    P = bits_for_digits(N) + d + 16
    out_ctx = MpOps(bits_for_digits(N) + 8).ctx
    todo = [k for k, s in zip(ks, structural) if not s]
    parity = spec.parity
    # A value that stays indistinguishable from 0 is not chased forever: past this many bits
    # it is reported as |μ_k| ≤ bound, flagged.
    cap = 8 * P + 4096
    while True:
        ops = MpOps(P + guard + phi1_bits + 8)
        ctx = ops.ctx
        vals = _eval_points_mp(spec, d, kernel, ops, parity)
        if verify:
            phi1_bits = max(phi1_bits, int(ctx.mag(vals[0])))
            if phi1_bits > MAX_PHI1_BITS:
                raise ValueError(f"precision: this network's kernel is about 2^{phi1_bits} at t = 1 (depth "
                                 f"{spec.depth} of {spec.activation.name!r} with weight_var {spec.weight_var}), "
                                 f"beyond the {MAX_PHI1_BITS}-bit range of the N-digit transform; use "
                                 "precision='double' (it flags the overflow) or a smaller depth/weight_var")
            ops2 = MpOps(P + guard + phi1_bits + 72)
            vals2 = _eval_points_mp(spec, d, kernel, ops2, parity)
            gap = max(abs(ops2.ctx.ldexp(a - b, P)) for a, b in zip(vals, vals2))
            if gap > 0.25:
                guard += 64 + int(ops2.ctx.mag(gap))
                continue
        F = [int(ctx.nint(ctx.ldexp(v, P))) for v in vals]
        Q = krawtchouk_transform(F, d)
        res = {}
        need = 0
        for k in todo:
            denom = math.comb(d, k)
            mu = out_ctx.ldexp(out_ctx.mpf(Q[k]) / denom, -(d + P))
            # |δF_j| ≤ 1 (rounding ½ + evaluation error ≪ ½) ⇒ |δμ_k| ≤ 2^-P / sqrt(C(d,k));
            # plus the rounding of μ_k itself to the output precision
            err = out_ctx.ldexp(out_ctx.one / out_ctx.sqrt(denom), -P) + out_ctx.ldexp(abs(mu), 2 - out_ctx.prec)
            res[k] = (mu, err)
            if abs(mu) <= err:
                need = max(need, max(d, P // 2))
            else:
                ratio = float(out_ctx.log(err * out_ctx.mpf(10) ** N / abs(mu), 2))
                if ratio > 0:
                    need = max(need, int(math.ceil(ratio)) + 8)
        if need == 0 or P + need > cap:
            break
        P += need
    trace = out_ctx.mpf(vals[0])
    values, errors, digits, flags = [], [], [], []
    for k, s in zip(ks, structural):
        if s:
            values.append(out_ctx.zero)
            errors.append(out_ctx.zero)
            digits.append(np.inf)
            flags.append(None)
            continue
        mu, err = res[k]
        values.append(mu)
        errors.append(err)
        if abs(mu) <= err:
            digits.append(0.0)
            flags.append(f"unresolved: |value| <= {out_ctx.nstr(err, 3)} at {P} working bits")
        else:
            dg = float(out_ctx.log10(abs(mu) / err))
            digits.append(dg)
            flags.append(None if dg >= N else f"only {dg:.1f} digits at {P} working bits")
    return (np.array(values, dtype=object), np.array(errors, dtype=object), np.array(digits), trace,
            tuple(flags))


def _cube_exact(spec, d, kernel, ks, common):
    import sympy

    act = spec.activation
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


def _zero_index(zeros, nk, C, zero_b):
    """Per depth, index tuples into (kernel, degree, column) arrays of the structural zeros:
    ``zeros[L]`` lists (kernel, degree position, in every column); the others are zero in the
    columns ``zero_b`` (σ_b² = 0) only. Depths with the same zeros share their indices."""
    cache, out = {}, []
    for entries in zeros:
        key = tuple(entries)
        if key not in cache:
            idx = []
            for every in (True, False):
                sel = np.array([(n, i) for n, i, a in entries if a == every], dtype=np.intp).reshape(-1, 2)
                if not sel.size or (not every and not zero_b.size):
                    continue
                n, i = sel[:, :1], sel[:, 1:]
                idx.append((n, i, np.arange(C)[None, :]) if every else (n, i, zero_b[None, :]))
            cache[key] = idx
        out.append(cache[key])
    return out


def _noop():
    pass


def _grid_threads(threads):
    return min(os.cpu_count() or 1, 8) if threads is None else _validate.integer("threads", threads, lo=1)


def _grid_chunks(n_weight_var, n_bias_var, threads, block=None):
    """Work items: ranges [start, stop) of the grid's columns flattened weight_var-major. One
    item per worker by default (per-call overhead dominates small items), the columns shared out
    equally (to within one); with ``block``, ``block`` weight_var values (rows of the grid) each."""
    n = n_weight_var * n_bias_var
    if block is not None:
        step = _validate.integer("block", block, lo=1) * n_bias_var
        return [(i, min(i + step, n)) for i in range(0, n, step)]
    k = min(threads, n)
    return [(i * n // k, (i + 1) * n // k) for i in range(k)]


def _shared_empty(shape):
    """An uninitialised float64 array in anonymous shared memory (seen by forked workers)."""
    import mmap

    n = math.prod(shape)
    return np.frombuffer(mmap.mmap(-1, max(8 * n, 1)), dtype=float, count=n).reshape(shape)


def _keep_heap():
    """In a forked worker (glibc): keep freed memory in the heap instead of handing it back to the
    kernel. Each layer allocates and frees arrays of about a megabyte; by default glibc serves
    them with mmap or trims them off the heap, and every reuse then costs page faults (on the
    paper's erf grid here: 55 000 faults in all without this, 35 000 with it, and a fifth less
    system time). The worker is a short-lived process that exits with os._exit, so the setting
    never reaches the caller's process."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return
    mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    mallopt(-3, 1 << 25)  # M_MMAP_THRESHOLD: its largest value, 32 MiB


def _run_forked(run, chunks, step=None):
    """``run(chunk, report)`` for each chunk in a forked child process. Each child reports a
    step by writing one byte to its pipe and an error as ``!`` and the traceback; the parent
    turns the bytes into ``step()`` calls and the first error into a RuntimeError. Any
    exception in the parent (Ctrl-C, or ``step`` raising) kills the children. Without ``step``
    the children report nothing but errors (the parent then sleeps until they finish instead of
    waking at every step)."""
    import selectors
    import warnings

    children = {}  # read end -> pid
    try:
        for ch in chunks:
            r, w = os.pipe()
            with warnings.catch_warnings():
                # Python ≥ 3.12 warns about fork() in a multi-threaded process (e.g. BLAS's own
                # threads): the child runs only numpy arithmetic on inherited arrays, writes to its
                # pipe and leaves with os._exit, so it takes none of the locks other threads hold
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # child: compute, report, never return into the caller's code
                code = 0
                try:
                    os.close(r)
                    _keep_heap()
                    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                        run(ch, (lambda w=w: os.write(w, b".")) if step is not None else _noop)
                except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
                    code = 1
                    with contextlib.suppress(BaseException):
                        import traceback

                        os.write(w, b"!" + traceback.format_exc().encode(errors="replace"))
                finally:
                    os._exit(code)
            os.close(w)
            children[r] = pid
        sel = selectors.DefaultSelector()
        for r in children:
            sel.register(r, selectors.EVENT_READ)
        errors, open_ = {}, set(children)
        while open_:
            for key, _ in sel.select():
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fd)
                    open_.discard(key.fd)
                    continue
                if key.fd in errors:
                    errors[key.fd] += data
                    continue
                head, bang, tail = data.partition(b"!")
                for _ in range(len(head)):
                    step()
                if bang:
                    errors[key.fd] = tail
        sel.close()
        for r, pid in list(children.items()):
            _, status = os.waitpid(pid, 0)
            del children[r]
            os.close(r)
            if r not in errors and status:
                errors[r] = f"worker {pid} exited with status {status}".encode()
        if errors:
            raise RuntimeError("a sweep worker process failed:\n" + next(iter(errors.values())).decode(errors="replace"))
    finally:
        for r, pid in children.items():  # only left on an exception in the parent
            import signal

            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)
            with contextlib.suppress(OSError):
                os.close(r)


def grid_steps(max_depth: int, n_weight_var: int, n_bias_var: int, threads=None, block=None) -> int:
    """The number of ``progress`` calls :func:`cube_eigenvalues_grid` makes (one per depth and
    work item), so that a progress bar can be sized before the run."""
    threads = _grid_threads(threads)
    return (max_depth + 1) * len(_grid_chunks(n_weight_var, n_bias_var, threads, block))


def cube_eigenvalues_grid(activation, dim, max_depth, weight_var, bias_var, kernels=("ck", "ntk"),
                          max_degree=None, progress=None, threads=None, block=None, processes=None):
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
        Default min(dim, 10).
    progress : callable, optional
        Called as ``progress(1)`` after each (depth, work item) step; the number of
        steps is :func:`grid_steps` ``(max_depth, len(weight_var), len(bias_var), threads, block)``.
    threads : int, optional
        Workers (default: the number of CPUs, at most 8). The work items (ranges of the grid's
        points, weight_var-major, as equal as their number allows) run in parallel.
    block : int, optional
        weight_var values per work item (default: an equal share of the grid per worker).
    processes : bool, optional
        Run the workers as forked processes that write into shared memory (default: on Linux,
        when there is more than one worker) instead of threads. The many small array operations
        of each layer hold the GIL, so two threads reach only about 1.4x on two cores, two
        processes about 1.8x. Forked workers report progress, errors and Ctrl-C to the caller
        like threads do.

    Returns
    -------
    dict
        For each kernel ``k``: ``out[k]`` of shape (depth, weight_var, bias_var, degree) holding
        unnormalised μ (NaN where unresolved, i.e. error estimate > 10 % of the value),
        ``out[k + "_err"]`` the error estimates and ``out[k + "_phi1"]`` Φ(1) = E K(x, x),
        shape (depth, weight_var, bias_var); plus the axes ``depths``, ``weight_var``,
        ``bias_var``, ``degrees``. Memory is O(grid × degrees), independent of ``dim``.

    Notes
    -----
    The recursion runs in gap form (:func:`spectra.kernels.layers_gap`) on the grid flattened
    to one axis of columns. Its per-architecture part (:func:`spectra.kernels.gap_columns`,
    independent of t) is computed by each forked worker for its own columns, or, with threads,
    once for the whole grid before they start (its many small array operations would contend
    for the GIL). The point-wise error bounds, which vary
    smoothly with t, are propagated on every ``s``-th grid point (s ≈ d/8), from the values the
    recursion computes there, and each interval's binomial mass is charged with the larger of its
    end-point bounds.
    """
    from .activations import get_activation

    act = get_activation(activation)
    dim = _validate.integer("dim", dim, lo=1)
    kernels = tuple(_kernel_name(k) for k in ((kernels,) if isinstance(kernels, str) else kernels))
    if not kernels:
        raise ValueError("kernels must name at least one of ck, ntk")
    max_depth = _validate.integer("max_depth", max_depth, lo=0)
    ks = _degrees(dim, max_degree, None)
    wv, bv = _validate.variance_grids(weight_var, bias_var)
    shape = (max_depth + 1, wv.size, bv.size)
    threads = _grid_threads(threads)
    chunks = _grid_chunks(wv.size, bv.size, threads, block)
    threads = min(threads, len(chunks))
    if processes is None:
        processes = threads > 1 and sys.platform.startswith("linux")
    elif processes and not hasattr(os, "fork"):
        raise ValueError("processes=True needs os.fork (POSIX); use processes=False")
    alloc = _shared_empty if processes and threads > 1 else np.empty
    out = {}
    for k in kernels:
        out[k] = alloc(shape + (len(ks),))
        out[k + "_err"] = alloc(shape + (len(ks),))
        out[k + "_phi1"] = alloc(shape)
    # sub-grid for the error recursion: every s-th point, both ends included
    s = max(1, dim // 8)
    sub = np.array(sorted({*range(0, dim + 1, s), dim}))  # (not np.unique: it imports numpy.ma, 25 ms)
    w_d, _ = binom_pmf(dim)
    cum = np.r_[0.0, np.cumsum(w_d)]
    mass = cum[sub[1:] + 1] - cum[sub[:-1] + 1]  # binomial mass of points (sub[i], sub[i+1]]
    mass[0] += w_d[0]
    full = _one_minus_t(dim)
    # structural zeros depend on the bias only through σ_b² = 0
    zeros = [[(n, i, structural_zero(act, L, False, k, kk))
              for n, k in enumerate(kernels) for i, kk in enumerate(ks)
              if structural_zero(act, L, True, k, kk)] for L in range(max_depth + 1)]

    # threads: the per-architecture recursion once for the whole grid before they start (its many
    # small array operations would otherwise contend for the GIL inside every work item);
    # processes and a single worker: each work item computes its own, in parallel
    ntk = "ntk" in kernels
    columns = None
    # the grid runs flattened, weight_var-major: (points, columns) arrays with one contiguous trailing
    # axis (a (points, n_w, n_b) broadcast would run numpy's inner loops n_b entries at a time)
    sw_all, sb_all = np.repeat(wv, bv.size)[None, :], np.tile(bv, wv.size)[None, :]
    if threads > 1 and not processes:
        columns = list(gap_columns(act, sw_all, sb_all, max_depth, ntk, True, True, np.zeros((1, sw_all.size))))

    plan = _plan(dim, tuple(ks))
    nsub = sub.size
    flat = {k: v.reshape(max_depth + 1, wv.size * bv.size, *v.shape[3:]) for k, v in out.items()}

    def run(chunk, step):
        cols = slice(*chunk)  # flattened grid columns of the item
        C = chunk[1] - chunk[0]
        gen = layers_gap(act, full[:, None], sw_all[:, cols], sb_all[:, cols], max_depth, ntk=ntk, track=True,
                         track_points=sub, columns=None if columns is None else [c.take((cols,)) for c in columns])
        nk = len(kernels)
        zidx = _zero_index(zeros, nk, C, np.flatnonzero(sb_all[0, cols] == 0))
        work = np.empty((3, dim + 1, C))
        mu = np.empty((nk, len(ks), C))
        rnd = np.empty_like(mu)
        err = np.empty_like(mu)
        ends = np.empty((2, nsub, nk, C))  # |gap| and its error bound at the tracked points
        center = np.empty((nk, C))
        for L in gen:
            rel = L.rel_err if np.ndim(L.rel_err) == 0 else L.rel_err.reshape(C)
            for n, k in enumerate(kernels):
                f = L.gap(k).reshape(dim + 1, C)
                ends[0, :, n] = f[sub]
                ends[1, :, n] = L.gap_err(k).reshape(nsub, C)
                center[n] = L.center(k).reshape(C)
                _transform_core(f, plan, work, mu[n], rnd[n])
            # both kernels at once from here. E_B|gap| (for the rounding of μ_0, μ_1) and the
            # point-wise errors, rms_B(e)² ≤ Σ_intervals mass · max(end-point bounds)²
            np.abs(ends[0], out=ends[0])
            hi = np.maximum(ends[:, :-1], ends[:, 1:]).reshape(2, nsub - 1, nk * C)
            amean = (mass @ hi[0]).reshape(nk, C)
            rms = _rms(hi[1], mass).reshape(nk, 1, C)
            if plan.fast:
                _rounding_01(plan, amean, rnd)
            _error_bound(plan, mu, rnd, rel, rms, out=err)
            _center_gaps(mu.swapaxes(0, 1), err.swapaxes(0, 1), center, rel, ks)
            for z in zidx[L.depth]:
                mu[z] = err[z] = 0.0
            mu[~(err <= UNRESOLVED_RTOL * np.abs(mu))] = np.nan
            for n, k in enumerate(kernels):  # (the flat views of contiguous output arrays)
                flat[k][L.depth, cols] = mu[n].T
                flat[k + "_err"][L.depth, cols] = err[n].T
                flat[k + "_phi1"][L.depth, cols] = L.diag(k).reshape(C)
            step()

    from threadpoolctl import threadpool_limits

    # the worker threads already use every core: BLAS threads on top would oversubscribe them
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"), \
            threadpool_limits(1 if threads > 1 else None, user_api="blas"):
        step = None if progress is None else (lambda: progress(1))
        if processes and threads > 1:
            _run_forked(run, chunks, step)  # no step: the workers write no step bytes at all
        elif threads == 1:
            for ch in chunks:
                run(ch, step or _noop)
        else:
            from concurrent.futures import ThreadPoolExecutor

            def task(ch):  # numpy's error state is per thread (a context variable)
                with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                    run(ch, step or _noop)

            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(task, chunks))
    out["degrees"] = np.array(ks)
    out["depths"] = np.arange(max_depth + 1)
    out["weight_var"] = wv
    out["bias_var"] = bv
    return out
