r"""Eigenvalues of CK/NTK integral operators on the sphere √d·S^{d−1} (Funk–Hecke).

The eigenfunctions are the spherical harmonics; degree k has multiplicity
N(d, k) = C(d+k−1, k) − C(d+k−3, k−2) and eigenvalue (CONVENTIONS §2)

.. math::

    μ_k = c_d \int_{-1}^{1} Φ(t) P_{k,d}(t) (1-t^2)^{(d-3)/2} dt,\qquad
    c_d = \frac{Γ(d/2)}{\sqrt{π}\,Γ((d-1)/2)},

with P_{k,d} the Legendre polynomial of dimension d (P_{k,d}(1) = 1). Three algorithms:

double
    The integrand oscillates and μ_k can be 10⁻³⁰ of Φ(1): summed in float64 it cancels
    (fixed-node Gauss–Gegenbauer quadrature stalls near 1e-7 at k = 32, d = 10). Rodrigues'
    formula P_{k,d}(t)(1−t²)^{(d−3)/2} = (2^k ((d−1)/2)_k)^{-1} (−d/dt)^k (1−t²)^{k+(d−3)/2}
    and k integrations by parts move the oscillation onto Φ:

    .. math::

        μ_k = \frac{c_d\, k!}{2^k ((d-1)/2)_k} \int_0^π
              \Big[\frac{Φ^{(k)}(\cos θ)}{k!} \sin^{2k}θ\Big] \sin^{d-2}θ\, dθ .

    The bracket is the k-th Taylor coefficient of Φ at cos θ in the scaled variable
    h = (t − cos θ)/sin²θ, computed for all k at once in Taylor-mode arithmetic
    (:mod:`spectra.jets`) through the layer recursion. Φ has nonnegative Taylor coefficients at
    0 (Schoenberg), so the bracket is ≥ 0 for θ ≤ π/2 and the sum has no cancellation beyond
    that between Φ's even and odd parts. In θ the kernel's √(1 − t) behaviour at t = ±1
    (relu) is analytic, so Gauss–Legendre in θ converges geometrically; the node count
    doubles until two rules agree.
N digits
    The defining integral in θ, by tanh-sinh quadrature (Takahasi & Mori 1974) in a private
    mpmath context whose precision covers the cancellation, log₁₀(Σ|terms| / |μ_k|), plus
    guard digits; the step halves until two levels agree to the requested digits.
exact
    Polynomial Φ = Σ a_n tⁿ (polynomial activations, rational hyperparameters):
    μ_k = Σ_n a_n M(n, k, d) with the exact moments
    M(n, k, d) = Γ(d/2) n! / (2ⁿ ((n−k)/2)! Γ((n+k+d)/2)) for n ≥ k, n − k even.

References: Funk–Hecke formula, e.g. Atkinson & Han, *Spherical Harmonics and Approximations
on the Unit Sphere*, Springer 2012, Thm 2.22; Rodrigues formula, ibid. (2.75); Yang & Salman,
arXiv:1907.10599, §3.
"""
from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import numpy as np

from . import _validate
from .jets import Jet, JetOps
from .kernels import _kernel_name, _last, kernel_jet, layers
from .kernels import kernel as _kernel_values
from .precision import (
    UNRESOLVED_RTOL,
    MpOps,
    bits_for_digits,
    resolve_precision,
)
from .result import Spectrum
from .spec import Architecture, structural_zero

__all__ = [
    "funk_hecke_double",
    "legendre_d",
    "sphere_eigenvalues",
    "sphere_eigenvalues_grid",
    "sphere_multiplicity",
]

_U = 2.0**-53
#: Largest Gauss–Legendre rule (in θ) the double path tries before it reports what it has.
MAX_NODES = 4096


def sphere_multiplicity(d: int, k: int) -> int:
    """N(d, k) = C(d+k−1, k) − C(d+k−3, k−2): the dimension of degree-k spherical harmonics
    on S^{d−1} (exact integer). For d = 1 (the "sphere" {±1}): 1 for k ≤ 1, else 0.

    >>> [sphere_multiplicity(3, k) for k in range(5)]
    [1, 3, 5, 7, 9]
    >>> sphere_multiplicity(2, 10), sphere_multiplicity(128, 2)
    (2, 8255)
    """
    d = _validate.integer("dim", d, lo=1)
    k = _validate.integer("degree", k, lo=0)
    if d == 1:
        return 1 if k <= 1 else 0
    if k == 0:
        return 1
    if k == 1:
        return d
    return math.comb(d + k - 1, k) - math.comb(d + k - 3, k - 2)


def legendre_d(k_max: int, d: int, t, ops=None):
    """P_{0..k_max, d}(t) by the three-term recurrence of CONVENTIONS §2 (any number type):
    P₀ = 1, P₁ = t, P_{n+1} = ((2n+d−2) t P_n − n P_{n−1}) / (n+d−2)."""
    out = [t * 0 + 1]
    if k_max >= 1:
        out.append(t)
    for n in range(1, k_max):
        out.append(((2 * n + d - 2) * t * out[n] - n * out[n - 1]) / (n + d - 2))
    return out


@lru_cache(maxsize=256)
def _prefactor(d, K):
    """c_d k! / (2^k ((d−1)/2)_k), k = 0..K, as float mantissas and binary exponents (computed
    in a private mpmath context, so that even d = 10⁴ loses nothing to lgamma round-off)."""
    import mpmath

    ctx = mpmath.MPContext()
    ctx.prec = 80
    c = ctx.exp(ctx.loggamma(ctx.mpf(d) / 2) - ctx.loggamma(ctx.mpf(d - 1) / 2)) / ctx.sqrt(ctx.pi)
    mant, expo = np.empty(K + 1), np.empty(K + 1, dtype=int)
    for k in range(K + 1):
        m, e = ctx.frexp(c)
        mant[k], expo[k] = float(m), int(e)
        c = c * (k + 1) / (2 * (ctx.mpf(d - 1) / 2 + k))
    return mant, expo


@lru_cache(maxsize=32)
def _theta_rule(n):
    x, w = np.polynomial.legendre.leggauss(n)
    theta = 0.5 * np.pi * (x + 1)
    return theta, 0.5 * np.pi * w


def _rodrigues_sums(coef, n, d, K, gain, batch_ndim, phi1=None):
    """μ_k (k ≤ K) and their rounding bounds from the scaled Taylor coefficients ``coef``
    (K+1, n, *batch) at the n-point θ rule (see :func:`funk_hecke_double`)."""
    theta, w = _theta_rule(n)
    mant, expo = _prefactor(d, K)
    t0 = np.cos(theta)
    with np.errstate(under="ignore"):
        wn = w * np.power(np.sin(theta), d - 2)  # correctly rounded powers: relative error ≲ (d−2)u
    fac = (mant[:, None] * wn[None, :]).reshape((K + 1, n) + (1,) * batch_ndim)
    bshape = (K + 1,) + (1,) * batch_ndim
    bad = ~np.isfinite(coef)
    dropped = 0.0
    if phi1 is not None and bad.any():
        coef = np.where(bad, 0.0, coef)
        bound = np.ldexp(np.abs(np.asarray(phi1, float)) * fac, np.arange(K + 1).reshape((K + 1, 1) + (1,) * batch_ndim))
        dropped = np.ldexp(np.where(bad, bound, 0.0).sum(axis=1), expo.reshape(bshape))
    terms = coef * fac
    mu = np.ldexp(terms.sum(axis=1), expo.reshape(bshape))
    mag = np.ldexp(np.abs(terms), expo.reshape((K + 1, 1) + (1,) * batch_ndim))
    mag = np.maximum(mag, mag[:, ::-1])  # t < 0: bounded by the mirror node's (t > 0) coefficient
    amp = (1.0 + 1.0 / np.maximum(1.0 - np.abs(t0), 1e-300)).reshape((1, n) + (1,) * batch_ndim)
    rnd = gain.reshape(bshape) * (mag * amp).sum(axis=1) + (n + d + 2) * _U * mag.sum(axis=1) + dropped
    return mu, rnd


def funk_hecke_double(jet_fn, d, K, batch_ndim=0, n0=None, rounding=16.0, depth=1, phi1=None, batch_weight=None,
                      max_nodes=MAX_NODES, info=None):
    """μ_0..μ_K (float64) of the Funk–Hecke integrals of a kernel given by its jets.

    Parameters
    ----------
    jet_fn : callable ``(t0, scale, order) -> Jet``
        Taylor coefficients Φ^{(j)}(t₀) scale^j / j!, j ≤ order, for t₀ of shape
        (n, 1, …) broadcast against the batch (hyperparameters, radial pairs).
    d : int
        Dimension (≥ 2).
    K : int
        Largest degree.
    batch_ndim : int
        Number of batch axes after the node axis.
    phi1 : array_like, optional
        Φ(1) per batch element (an upper bound of |Φ| on [−1, 1]). A node so close to t = ±1 that
        float64 rounds the correlation to ±1 (where the duals' derivatives are infinite) is
        then dropped and charged with the bound |Φ^{(k)}(t₀) sin^{2k}θ / k!| ≤ 2^k Φ(1), which
        follows from the nonnegative Taylor coefficients of Φ; without it such values are NaN.
    batch_weight : array_like, optional
        Weights of the batch elements in their final use (√(w_a w_b) in a Nyström matrix):
        values then converge to 1e-14 of the largest weighted magnitude per degree rather than
        each to its own rounding level.

    Returns
    -------
    mu, err : ndarray, shape (K+1, *batch)
        Values and absolute error estimates: the change from the previous (half-size) rule,
        plus the rounding of the Taylor coefficients (relative (k+1)(depth+1)·rounding·u per
        node, amplified by 1/(1 − |t|) near t = ±1 where the duals are singular; at t < 0
        bounded by the coefficient at −t) and of the sum.
    """
    if n0 is None:
        n0 = int(min(max_nodes // 2, max(24, K // 2 + 16, 4 * math.ceil(math.sqrt(d + 2 * K)))))
    gain = (np.arange(K + 1) + 1.0) * (depth + 1) * rounding * _U + 4 * _U

    def quad(n):
        theta, _ = _theta_rule(n)
        shape = (n,) + (1,) * batch_ndim
        J = jet_fn(np.cos(theta).reshape(shape), (np.sin(theta) ** 2).reshape(shape), K)
        return _rodrigues_sums(J.coef, n, d, K, gain, batch_ndim, phi1)

    with np.errstate(invalid="ignore", over="ignore"):
        prev, _ = quad(n0)
        n = 2 * n0
        while True:
            mu, rnd = quad(n)
            trunc = np.abs(mu - prev)
            tol = 4 * rnd
            if batch_weight is not None:
                bw = np.asarray(batch_weight, float)
                axes = tuple(range(1, mu.ndim))
                top = np.nanmax(np.abs(mu) * bw, axis=axes, keepdims=True)
                with np.errstate(divide="ignore"):
                    tol = np.maximum(tol, 1e-14 * top / bw)
            done = np.all((trunc <= tol) | ~np.isfinite(mu))
            if done or 2 * n > max_nodes:
                break
            prev = mu
            n *= 2
    if info is not None:
        info["nodes"] = n
    return mu, rnd + trunc


def _sphere_jets(spec, kernel):
    """jet_fn for the sphere: Φ at t = t₀ + scale·h with ‖x‖²/d = 1 (one-argument kernel)."""
    def fn(t0, scale, order):
        return kernel_jet(spec.activation, Jet.variable(t0, scale, order), 1.0, 1.0, float(spec.weight_var),
                          float(spec.bias_var), spec.depth, JetOps(), kernel)

    return fn


def _sphere_double(spec, d, kernel, ks):
    K = max(ks)
    trace = float(np.ravel(_kernel_values(spec, [1.0], kernel))[0])
    mu, err = funk_hecke_double(_sphere_jets(spec, kernel), d, K, 0, rounding=spec.activation.rounding,
                                depth=spec.depth, phi1=trace)
    idx = np.asarray(ks)
    return mu[idx].astype(float), err[idx].astype(float), trace


# ---------------------------------------------------------------------------------------
# N digits: tanh-sinh in θ at a working precision that covers the cancellation
# ---------------------------------------------------------------------------------------


def _ts_level_nodes(ctx, level, prec_bits):
    """The tanh-sinh nodes that level ``level`` adds (step h = 2^-level; level 0: all multiples
    of 1, later levels: the odd multiples of their step), as θ ∈ (0, π) with weights dθ/dx
    (without the factor h): θ = (π/2)(1 + tanh((π/2) sinh x)) and its mirror π − θ."""
    h = ctx.ldexp(ctx.one, -level)
    half_pi = ctx.pi / 2
    thetas, ws = [], []
    tiny = ctx.ldexp(ctx.one, -prec_bits - 20)
    j = 0 if level == 0 else 1
    step = 1 if level == 0 else 2
    while True:
        x = j * h
        sh = half_pi * ctx.sinh(x)
        lo = ctx.pi / (1 + ctx.exp(2 * sh))  # (π/2)(1 − tanh u) without cancellation
        w = half_pi * half_pi * ctx.cosh(x) / ctx.cosh(sh) ** 2
        if j == 0:
            thetas.append(half_pi)
            ws.append(w)
        else:
            thetas += [lo, ctx.pi - lo]
            ws += [w, w]
        if w < tiny or lo < tiny:
            break
        j += step
    return thetas, ws


class _TanhSinh:
    """Nested tanh-sinh sums of w Φ(cos θ) P_k(cos θ) sin^{d−2}θ · c_d over θ ∈ (0, π), k ≤ K:
    each level halves the step and evaluates only the new nodes."""

    def __init__(self, phi_fn, d, K, ctx, prec_bits):
        self.phi_fn, self.d, self.K, self.ctx, self.bits = phi_fn, d, K, ctx, prec_bits
        self.cd = ctx.exp(ctx.loggamma(ctx.mpf(d) / 2) - ctx.loggamma(ctx.mpf(d - 1) / 2)) / ctx.sqrt(ctx.pi)
        self.level = -1
        self.sums = None
        self.mags = None
        self.nodes = 0

    def _add(self, level):
        ctx, d = self.ctx, self.d
        theta, w = _ts_level_nodes(ctx, level, self.bits)
        cos = np.array([ctx.cos(x) for x in theta], dtype=object)
        wt = np.array([wi * ctx.sin(x) ** (d - 2) * self.cd for wi, x in zip(w, theta)], dtype=object)
        f = np.asarray(self.phi_fn(cos), dtype=object) * wt
        P = legendre_d(self.K, d, cos)
        s = [np.sum(f * p) for p in P]
        m = [np.sum(np.abs(f * p)) for p in P]
        if self.sums is None:
            self.sums, self.mags = s, m
        else:
            self.sums = [a + b for a, b in zip(self.sums, s)]
            self.mags = [a + b for a, b in zip(self.mags, m)]
        self.level = level
        self.nodes += len(theta)

    def at(self, level):
        """(values, Σ|terms|) at ``level`` (h = 2^-level)."""
        while self.level < level:
            self._add(self.level + 1)
        h = self.ctx.ldexp(self.ctx.one, -level)
        return [v * h for v in self.sums], [v * h for v in self.mags]


def _phi_mp_fn(spec, kernel, bits):
    ops = MpOps(bits)

    def fn(t):
        one = ops.const(1)
        L = _last(layers(spec.activation, ops.array(t), one, one, ops.const(spec.weight_var),
                         ops.const(spec.bias_var), spec.depth, ops, ntk=kernel == "ntk"))
        return L.ntk if kernel == "ntk" else L.ck

    return fn, ops.ctx


def funk_hecke_digits(phi_factory, d, ks, N, cancel_hint=None, max_level=12):
    """N-digit Funk–Hecke integrals μ_k, k in ``ks``, of Φ given by ``phi_factory(bits) -> (fn, ctx)``.

    Nested tanh-sinh levels at a working precision of N + (cancellation) + guard digits; the
    level rises until two consecutive levels agree to N digits, the precision whenever the
    cancellation log₁₀(Σ|terms|/|μ_k|) turns out larger than allowed for. The error reported is
    the difference of the last two levels plus the rounding bound (nodes + 64) 2^-bits Σ|terms|.
    Returns (values, errors, digits, flags, info) with lists of mpf."""
    K = max(ks)
    guard = 10
    lost = np.zeros(len(ks)) if cancel_hint is None else np.asarray(cancel_hint, float)
    level = 3
    for _ in range(60):
        bits = bits_for_digits(int(N + guard + max(lost.max(), 0.0)))
        fn, ctx = phi_factory(bits)
        with ctx.workprec(bits):
            ts = _TanhSinh(fn, d, K, ctx, bits)
            restart = False
            while True:
                s1, _ = ts.at(level)
                s2, m2 = ts.at(level + 1)
                vals, errs, new_lost, ok = [], [], [], True
                for k in ks:
                    v = s2[k]
                    rnd = m2[k] * ctx.ldexp(ctx.one, -bits) * (ts.nodes + 64)
                    e = abs(s2[k] - s1[k]) + rnd
                    vals.append(v)
                    errs.append(e)
                    if abs(v) <= 2 * rnd:
                        new_lost.append(float(ctx.log10(m2[k] / max(rnd, ctx.ldexp(ctx.one, -bits)))) + 8)
                        ok = False
                        continue
                    new_lost.append(float(ctx.log10(m2[k] / abs(v))))
                    if e > abs(v) * ctx.mpf(10) ** (-N) / 4:
                        ok = False
                new_lost = np.asarray(new_lost)
                if ok or level >= max_level:
                    break
                if np.any(new_lost > lost + 1):  # the working precision was short: raise it
                    lost = np.maximum(lost, new_lost) + 2
                    restart = True
                    break
                level += 1
        if not restart:
            break
    digits, flags = [], []
    for v, e in zip(vals, errs):
        if v == 0 or e >= abs(v):
            digits.append(0.0)
            flags.append(f"unresolved: |value| <= {ctx.nstr(e, 3)} ({ts.nodes} nodes, {bits} bits)")
        else:
            dg = float(ctx.log10(abs(v) / e)) if e > 0 else float(N + guard)
            digits.append(dg)
            flags.append(None if dg >= N else f"only {dg:.1f} digits ({ts.nodes} nodes, {bits} bits)")
    return vals, errs, digits, flags


def _taylor_at_zero_mp(spec, kernel, order, bits):
    """Taylor coefficients a_0..a_order of Φ at t = 0 (mpf) in a private mpmath context."""
    from .asymptotics import taylor_at_zero

    mo = MpOps(bits)
    return taylor_at_zero(spec, kernel, order, mo), mo.ctx


def _moments_mp(ctx, k, d, order):
    """M(n, k, d) for n = k, k+2, …, ≤ order (mpf), by the ratio
    M(n+2)/M(n) = (n+1)(n+2) / (4(m+1)(k+m+d/2)), n = k + 2m, from
    M(k, k, d) = Γ(d/2) k! / (2^k Γ(k + d/2))."""
    M = ctx.exp(ctx.loggamma(ctx.mpf(d) / 2) + ctx.loggamma(k + 1) - ctx.loggamma(k + ctx.mpf(d) / 2)) / ctx.mpf(2) ** k
    out = []
    n, m = k, 0
    while n <= order:
        out.append(M)
        M = M * (n + 1) * (n + 2) / (4 * (m + 1) * (k + m + ctx.mpf(d) / 2))
        n += 2
        m += 1
    return out, M  # M is now M(order', k, d), the first moment past the last term


def _sphere_series(spec, d, kernel, ks, N, max_order=1200):
    """N digits by the positive series μ_k = Σ_m a_{k+2m} M(k+2m, k, d) (a_n ≥ 0: Schoenberg).

    No cancellation; the truncation after order n_max is bounded rigorously by
    (Φ(1) − Σ_{n ≤ n_max} a_n) · M(n′, k, d), M(·, k, d) being decreasing past
    m* = ((k+1)(k+2) − 4k − 2d) / (2(d−1)). The a_n come from jets at two precisions, whose
    difference bounds their error. Fast when d ≫ k²/(2·log10 of the tail wanted); returns None
    when max_order would not suffice (the caller then uses the quadrature)."""
    K = max(ks)
    digits_w = N + 15
    bits = bits_for_digits(digits_w)
    ctx = MpOps(bits).ctx
    # order: every k must reach past its monotonicity threshold and make the moment ratio tiny
    order = K
    for k in ks:
        mstar = max(0, math.ceil(((k + 1) * (k + 2) - 4 * k - 2 * d) / (2 * (d - 1))))
        mom, _ = _moments_mp(ctx, k, d, k + 2 * (mstar + 400))
        target = mom[0] * ctx.mpf(10) ** (-(N + 6))
        m = mstar
        while m < len(mom) and mom[m] > target:
            m += 1
        if m >= len(mom):
            return None
        order = max(order, k + 2 * m + 2)
    if order > max_order:
        return None
    for _ in range(4):
        a1, c1 = _taylor_at_zero_mp(spec, kernel, order, bits)
        a2, _ = _taylor_at_zero_mp(spec, kernel, order, bits + 64)
        phi1 = _phi_mp_fn(spec, kernel, bits + 64)[0](np.array([ctx.one], dtype=object))[0]
        vals, errs, ok = [], [], True
        partial = sum(a2, ctx.zero)
        tail_mass = abs(phi1 - partial) + ctx.ldexp(abs(phi1), 8 - bits)
        for k in ks:
            mom, M_next = _moments_mp(ctx, k, d, order)
            terms = [a2[k + 2 * i] * mom[i] for i in range(len(mom))]
            v = ctx.fsum(terms)
            e = (ctx.fsum(abs(a1[k + 2 * i] - a2[k + 2 * i]) * mom[i] for i in range(len(mom)))
                 + tail_mass * M_next + ctx.ldexp(ctx.fsum(abs(t) for t in terms), 8 - bits) * len(terms))
            vals.append(v)
            errs.append(e)
            if v == 0 or e > abs(v) * ctx.mpf(10) ** (-N) / 4:
                ok = False
        if ok:
            return vals, errs
        if order * 2 > max_order:
            return None
        order *= 2
    return None


def _sphere_digits(spec, d, kernel, ks, N, structural):
    todo = [k for k, s in zip(ks, structural) if not s]
    out_ctx = MpOps(bits_for_digits(N) + 8).ctx
    res = {}
    if todo:
        # cancellation estimate log10(Φ(1)/|μ_k|): from the double path where it resolves μ_k,
        # else at least log10 N(d,k) (N(d,k) μ_k ≤ Φ(1)); the quadrature raises it if short
        hint = [math.log10(sphere_multiplicity(d, k)) for k in todo]
        try:
            with np.errstate(all="ignore"):
                mu, err, tr = _sphere_double(spec, d, kernel, todo)
            for i, m in enumerate(mu):
                if m != 0 and np.isfinite(m) and tr != 0 and np.isfinite(tr):
                    hint[i] = max(hint[i], math.log10(abs(tr)) - math.log10(abs(m)))
        except (ArithmeticError, ValueError):  # incl. numeric.QuadratureError: no hint
            pass
        series = _sphere_series(spec, d, kernel, todo, N) if d >= 32 else None
        if series is not None:
            vals, errs = series
            lg = MpOps(64).ctx.log10
            digits = [float(lg(abs(v) / e)) if e > 0 else float(N + 15) for v, e in zip(vals, errs)]
            flags = [None] * len(vals)  # _sphere_series returns only when every value has N digits
        else:
            vals, errs, digits, flags = funk_hecke_digits(lambda b: _phi_mp_fn(spec, kernel, b), d, todo, N,
                                                          cancel_hint=hint)
        for k, v, e, dg, fl in zip(todo, vals, errs, digits, flags):
            res[k] = (out_ctx.mpf(v), out_ctx.mpf(e), dg, fl)
    fn, ctx = _phi_mp_fn(spec, kernel, bits_for_digits(N) + 30)
    trace = out_ctx.mpf(fn(np.array([ctx.one], dtype=object))[0])
    values, errors, digits, flags = [], [], [], []
    for k, s in zip(ks, structural):
        if s:
            values.append(out_ctx.zero)
            errors.append(out_ctx.zero)
            digits.append(np.inf)
            flags.append(None)
        else:
            v, e, dg, fl = res[k]
            values.append(v)
            errors.append(e)
            digits.append(dg)
            flags.append(fl)
    return (np.array(values, dtype=object), np.array(errors, dtype=object), np.array(digits), trace,
            tuple(flags))


# ---------------------------------------------------------------------------------------
# exact: polynomial Φ, exact moments
# ---------------------------------------------------------------------------------------


def sphere_moment(n: int, k: int, d: int) -> Fraction:
    """M(n, k, d) = μ_k of Φ(t) = tⁿ on √d·S^{d−1}, exactly:
    Γ(d/2) n! / (2ⁿ m! Γ(k+m+d/2)), m = (n−k)/2 (0 unless n ≥ k and n − k even).

    >>> sphere_moment(2, 0, 5), sphere_moment(1, 1, 7)
    (Fraction(1, 5), Fraction(1, 7))
    """
    if n < k or (n - k) % 2:
        return Fraction(0)
    m = (n - k) // 2
    # Γ(d/2)/Γ(d/2 + k + m) = 1 / (d/2)_{k+m}, a product of halves
    den = Fraction(1)
    for i in range(k + m):
        den *= Fraction(d + 2 * i, 2)
    return Fraction(math.factorial(n), 2**n * math.factorial(m)) / den


def _sphere_exact(spec, d, kernel, ks, common):
    import sympy


    act = spec.activation
    if act.exact != "rational":
        raise ValueError(f"precision='exact' on the sphere needs a polynomial activation (identity, x<n>); "
                         f"{act.name!r} has none: use an integer number of digits")
    from .precision import SympyOps

    for name in ("weight_var", "bias_var"):
        v = getattr(spec, name)
        if isinstance(v, float) and not v.is_integer():
            raise TypeError(f"{name}: precision='exact' needs an exact rational (int, fractions.Fraction, "
                            f"sympy.Rational or a string such as '1/10'); got the float {v!r}")
    # Taylor coefficients of the polynomial Φ at 0: exact jets through the recursion
    from .asymptotics import taylor_at_zero

    deg = spec.kernel_degree(kernel)
    a = taylor_at_zero(spec, kernel, deg, SympyOps())
    coeffs = {n: sympy.Rational(sympy.nsimplify(a[n])) for n in range(deg + 1)}
    out = []
    for k, s in zip(ks, common["structural"]):
        if s:
            out.append(sympy.Integer(0))
            continue
        tot = sympy.Integer(0)
        for n, a in coeffs.items():
            M = sphere_moment(n, k, d)
            if M:
                tot += a * sympy.Rational(M.numerator, M.denominator)
        out.append(tot)
    trace = sum(coeffs.values(), sympy.Integer(0))
    n = len(ks)
    return Spectrum(values=np.array(out, dtype=object), errors=np.zeros(n), digits=np.full(n, np.inf),
                    flags=(None,) * n, trace=trace, **common)


# ---------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------


def _degrees(max_degree, degrees, default=10):
    if degrees is not None:
        ks = sorted({_validate.integer("degree", k, lo=0) for k in degrees})
        if not ks:
            raise ValueError("degrees must not be empty")
        return ks
    if max_degree is None:
        max_degree = default
    K = _validate.integer("max_degree", max_degree, lo=0, hi=100000)
    return list(range(K + 1))


def sphere_eigenvalues(spec: Architecture, dim: int, kernel="ntk", max_degree=None, precision="double",
                       degrees=None) -> Spectrum:
    """Eigenvalues μ_k of the CK or NTK on the sphere √dim·S^{dim−1} (uniform measure).

    Parameters
    ----------
    spec : Architecture
    dim : int
        d ≥ 2.
    kernel : {"ck", "ntk"}
    max_degree : int, optional
        Degrees 0..max_degree (default 10).
    precision : "double", int N, "exact" or "auto"
        See :mod:`spectra.precision` and the module docstring for the algorithm of each.
    degrees : iterable of int, optional
        Explicit degrees instead of ``max_degree``.

    Returns
    -------
    Spectrum
        ``multiplicities`` are N(d, k); ``trace`` is Φ(1) = E K(x, x).

    Examples
    --------
    The linear kernel Φ(t) = σ_w² t + σ_b² has μ₀ = σ_b², μ₁ = σ_w²/d and nothing else; the
    trace identity Σ N(d,k) μ_k = Φ(1):

    >>> from spectra import Architecture, sphere_eigenvalues
    >>> s = sphere_eigenvalues(Architecture("identity", 0, 2, 1), 4, "ck", max_degree=3, precision="exact")
    >>> list(s.values), s.multiplicities
    ([1, 1/2, 0, 0], (1, 4, 9, 16))
    >>> s = sphere_eigenvalues(Architecture("relu", 2, 2, 0), 3, "ck", max_degree=100)
    >>> bool(abs(sum(m * v for m, v in zip(s.multiplicities, s.values)) / s.trace - 1) < 1e-6)
    True
    """
    dim = _validate.integer("dim", dim, lo=2)
    kernel = _kernel_name(kernel)
    prec = resolve_precision(precision)
    ks = _degrees(max_degree, degrees)
    mult = tuple(sphere_multiplicity(dim, k) for k in ks)
    structural = np.array([spec.structural_zero(kernel, k) for k in ks])
    common = dict(domain="sphere", dim=dim, spec=spec, kernel=kernel, precision=prec,
                  degrees=np.array(ks), multiplicities=mult, structural=structural)
    from .cube import spectrum_at_precision

    return spectrum_at_precision(spec, dim, kernel, ks, prec, common, _sphere_exact, _sphere_digits, _sphere_double)


def sphere_eigenvalues_grid(activation, dim, max_depth, weight_var, bias_var, kernels=("ck", "ntk"),
                            max_degree=10, progress=None):
    """Double-precision sphere spectra on a grid: every depth 0..max_depth × weight_var × bias_var.

    Returns the same dict layout as :func:`spectra.cube_eigenvalues_grid`: per kernel an array
    (depth, weight_var, bias_var, degree) of μ_k (NaN where unresolved), its error estimates
    (``<kernel>_err``) and Φ(1) (``<kernel>_phi1``), plus the axes. ``progress(1)`` is called
    after each depth of the first pass (max_depth + 1 calls; a rare refinement pass with twice
    the angular nodes is not counted).
    """
    from .activations import get_activation

    act = get_activation(activation)
    dim = _validate.integer("dim", dim, lo=2)
    kernels = tuple(_kernel_name(k) for k in ((kernels,) if isinstance(kernels, str) else kernels))
    if not kernels:
        raise ValueError("kernels must name at least one of ck, ntk")
    max_depth = _validate.integer("max_depth", max_depth, lo=0)
    ks = _degrees(max_degree, None)
    K = ks[-1]
    wv, bv = _validate.variance_grids(weight_var, bias_var)
    shape = (max_depth + 1, wv.size, bv.size)
    out = {}
    for k in kernels:
        out[k] = np.empty(shape + (K + 1,))
        out[k + "_err"] = np.empty(shape + (K + 1,))
        out[k + "_phi1"] = np.empty(shape)
    sw = wv[:, None]
    sb = bv[None, :]
    ntk = "ntk" in kernels
    gain = (np.arange(K + 1) + 1.0) * (max_depth + 1) * act.rounding * _U + 4 * _U
    n = int(min(MAX_NODES // 2, max(24, K // 2 + 16, 4 * math.ceil(math.sqrt(dim + 2 * K)))))
    zeros = [[(kern, kk, structural_zero(act, L, False, kern, kk)) for kern in kernels for kk in ks
              if structural_zero(act, L, True, kern, kk)] for L in range(max_depth + 1)]
    first_pass = True  # progress counts the first pass (max_depth + 1 steps); a refinement pass is silent
    while True:
        # one pass of the layer recursion over the nodes of the n- and 2n-point rules together:
        # every depth comes out of the same pass (the work is linear in max_depth)
        th1, _ = _theta_rule(n)
        th2, _ = _theta_rule(2 * n)
        theta = np.concatenate([th1, th2])
        X = Jet.variable(np.cos(theta)[:, None, None], (np.sin(theta) ** 2)[:, None, None], K)
        diag = layers(act, np.ones(1), 1.0, 1.0, sw, sb, max_depth, JetOps(), ntk=ntk)
        converged = True
        with np.errstate(invalid="ignore", over="ignore"):
            for lay, dg in zip(layers(act, X, 1.0, 1.0, sw, sb, max_depth, JetOps(), ntk=ntk), diag):
                for kern in kernels:
                    J = lay.ntk if kern == "ntk" else lay.ck
                    phi1 = np.broadcast_to(dg.ntk if kern == "ntk" else dg.ck, (1, wv.size, bv.size))[0]
                    coef = J.coef if isinstance(J, Jet) else Jet.constant(J, X).coef
                    coef = np.broadcast_to(coef, (K + 1, theta.size, wv.size, bv.size))
                    mu1, _ = _rodrigues_sums(coef[:, : n], n, dim, K, gain, 2, phi1)
                    mu, rnd = _rodrigues_sums(coef[:, n:], 2 * n, dim, K, gain, 2, phi1)
                    trunc = np.abs(mu - mu1)
                    converged &= bool(np.all((trunc <= 4 * rnd) | ~np.isfinite(mu)))
                    mu = np.moveaxis(mu, 0, -1)
                    err = np.moveaxis(rnd + trunc, 0, -1)
                    for zk, kk, all_b in zeros[lay.depth]:
                        if zk == kern:
                            cols = slice(None) if all_b else (bv == 0)
                            mu[:, cols, kk] = 0.0
                            err[:, cols, kk] = 0.0
                    out[kern][lay.depth] = np.where(err <= UNRESOLVED_RTOL * np.abs(mu), mu, np.nan)
                    out[kern + "_err"][lay.depth] = err
                    out[kern + "_phi1"][lay.depth] = phi1
                if progress is not None and first_pass:
                    progress(1)
        first_pass = False
        if converged or 4 * n > MAX_NODES:
            break
        n *= 2
    out["degrees"] = np.array(ks)
    out["depths"] = np.arange(max_depth + 1)
    out["weight_var"] = wv
    out["bias_var"] = bv
    return out
