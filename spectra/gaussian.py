r"""Eigenvalues of CK/NTK integral operators under the standard Gaussian N(0, I_d).

Write x = r ω (r = ‖x‖, ω uniform on S^{d−1}) and ρ = r²/d. The kernel is
K(x, y) = Φ(√(ρρ') t, ρ, ρ') with t = ⟨ω, ω'⟩, so by Funk–Hecke in the angle every
eigenfunction is (radial function) × (spherical harmonic of degree k), with eigenvalues those of
the radial kernel (CONVENTIONS §2)

.. math::

    κ_k(r, r') = c_d \int_{-1}^{1} Φ(\sqrt{ρρ'}\,t, ρ, ρ') P_{k,d}(t) (1-t^2)^{(d-3)/2} dt

as an integral operator under the law of r (r² ~ χ²_d). μ_{k,j}, j = 0, 1, … (descending), has
multiplicity N(d, k).

Discretisation: Nyström on the m-point Gauss rule (r_a, w_a) of the chi law (exact for
polynomials in r of degree 2m − 1; :mod:`spectra._radial`): the eigenvalues of the symmetric
matrix √w_a κ_k(r_a, r_b) √w_b converge to μ_{k,j} geometrically in m for kernels analytic in r
(Nyström 1930; Atkinson, *The Numerical Solution of Integral Equations of the Second Kind*, 1997,
§3.3 and §4.1). The angular integral is the sphere's (:mod:`spectra.sphere`): Rodrigues form with
Taylor-mode jets at double precision; at N digits, Gauss–Legendre in θ at a working precision
that covers the cancellation. m grows until the requested eigenvalues agree between two rules;
the achieved precision is reported.

d = 1: the "sphere" is {±1}, the harmonics are the even and odd parts, κ_0 and κ_1 are
(K(r, r') ± K(r, −r'))/2, and there are no degrees above 1.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import _validate
from .jets import Jet, JetOps
from .kernels import _kernel_name, _last, kernel_jet, layers
from .precision import MpOps, bits_for_digits, resolve_precision
from .result import Spectrum
from .spec import Architecture
from .sphere import funk_hecke_double, legendre_d, sphere_multiplicity

__all__ = ["gaussian_eigenvalues"]

_U = 2.0**-53
MAX_RADIAL_NODES = 81
#: Largest radial rule of the double path (relu-type kernels converge only algebraically at small d).
MAX_RADIAL_DOUBLE = 54
#: Largest angular (θ) rule per radial pair.
MAX_ANGULAR_NODES = 192


def _pairs(m):
    a, b = np.triu_indices(m)
    return a, b


def _kappa_double(spec, kernel, d, K, rho, w=None, info=None, n0=None):
    """κ_k(r_a, r_b), k ≤ K, for all pairs a ≤ b: arrays (K+1, P) of values and error bounds."""
    a, b = _pairs(rho.size)
    ra, rb = rho[a], rho[b]
    act = spec.activation
    sw, sb = float(spec.weight_var), float(spec.bias_var)
    ntk = kernel == "ntk"
    if d == 1:
        c = np.sqrt(ra * rb)
        vals = []
        for sgn in (1.0, -1.0):
            L = _last(layers(act, sgn * c, ra, rb, sw, sb, spec.depth, JetOps(), ntk=ntk))
            vals.append(L.ntk if ntk else L.ck)
        plus, minus = vals
        kap = np.stack([(plus + minus) / 2, (plus - minus) / 2])
        err = 8 * (spec.depth + 1) * act.rounding * _U * (np.abs(plus) + np.abs(minus))[None]
        return kap[: K + 1], np.broadcast_to(err, kap.shape)[: K + 1]
    scale_c = np.sqrt(ra * rb)

    def fn(t0, s2, order):
        X = Jet.variable(t0, s2, order) * scale_c  # cov = √(ρ_a ρ_b) t
        return kernel_jet(act, X, ra, rb, sw, sb, spec.depth, JetOps(), kernel)

    diag = []
    for q in (ra, rb):
        L = _last(layers(act, q, q, q, sw, sb, spec.depth, JetOps(), ntk=ntk))
        diag.append(L.ntk if ntk else L.ck)
    phi1 = np.sqrt(np.abs(diag[0] * diag[1]))  # |K(x, y)| ≤ √(K(x,x) K(y,y))
    return funk_hecke_double(fn, d, K, 1, rounding=act.rounding, depth=spec.depth, phi1=phi1,
                             batch_weight=None if w is None else np.sqrt(w[a] * w[b]),
                             max_nodes=MAX_ANGULAR_NODES, info=info, n0=n0)


def _nystrom_double(kap, kerr, w, m, J):
    """Top-J eigenvalues (descending) of √w κ √w per degree, with Weyl error bounds, and the
    matrix traces Σ_a w_a κ_k(r_a, r_a) (= Σ_j μ_{k,j} in the limit) with their error bounds."""
    a, b = _pairs(m)
    sq = np.sqrt(w)
    K1 = kap.shape[0]
    lam = np.empty((K1, J))
    pert = np.empty(K1)
    tr = np.empty(K1)
    tr_err = np.empty(K1)
    for k in range(K1):
        A = np.zeros((m, m))
        E = np.zeros((m, m))
        A[a, b] = kap[k] * sq[a] * sq[b]
        A[b, a] = A[a, b]
        E[a, b] = kerr[k] * sq[a] * sq[b]
        E[b, a] = E[a, b]
        ev = np.linalg.eigvalsh(A)[::-1]
        lam[k] = ev[:J] if J <= m else np.r_[ev, np.zeros(J - m)]
        # Weyl: |δλ| ≤ ‖E‖₂ ≤ ‖E‖_F; eigvalsh's own backward error ≈ m u ‖A‖₂
        pert[k] = np.sqrt(np.sum(E * E)) + 4 * m * _U * np.max(np.abs(ev))
        tr[k] = np.trace(A)
        tr_err[k] = np.trace(E) + 2 * m * _U * np.trace(np.abs(A))
    return lam, pert, tr, tr_err


def _gaussian_double(spec, d, kernel, K, J, m0=None):
    from ._radial import chi_gauss

    m = m0 or max(2 * J + 6, 16)
    prev = None
    n0 = None
    while True:
        r, w = chi_gauss(d, m)
        rho = r * r / d
        info = {}
        kap, kerr = _kappa_double(spec, kernel, d, K, rho, w, info, n0)
        # the next radial rule starts from the angular rule this one needed (its half is the check)
        n0 = max(info.get("nodes", 2) // 2, 12) if d > 1 else None
        lam, pert, tr, tr_err = _nystrom_double(kap, kerr, w, m, J)
        if prev is not None:
            change = np.abs(lam - prev)
            tol = np.maximum(4 * pert[:, None], 1e-14 * np.abs(lam))
            if np.all(change <= tol) or int(m * 1.5) > MAX_RADIAL_DOUBLE:
                traces = (tr, tr_err + np.abs(tr - prev_tr))
                return lam, change + pert[:, None], m, change, info.get("nodes", 1), traces
        prev, prev_tr = lam, tr
        m = int(m * 1.5)


def _trace_double(spec, d, kernel):
    """E_x K(x, x) = E_r Φ(ρ, ρ, ρ), ρ = r²/d, on a 96-point chi rule and a 128-point check."""
    from ._radial import chi_gauss

    vals = []
    for m in (96, 128):
        r, w = chi_gauss(d, m)
        rho = r * r / d
        L = _last(layers(spec.activation, rho, rho, rho, float(spec.weight_var), float(spec.bias_var),
                         spec.depth, JetOps(), ntk=kernel == "ntk"))
        vals.append(float(np.dot(w, L.ntk if kernel == "ntk" else L.ck)))
    return vals[1], abs(vals[1] - vals[0]) + 1e-15 * abs(vals[1])


# ---------------------------------------------------------------------------------------
# N digits
# ---------------------------------------------------------------------------------------


def _gl_theta_mp(ctx, n):
    """n-point Gauss–Legendre rule on θ ∈ (0, π) at ctx precision (Newton refinement of the
    float64 nodes on the Legendre recurrence; weights 2/((1 − x²) P_n'(x)²)). Cached."""
    theta, w = _gl_theta_cached(n, ctx.prec)
    return [ctx.mpf(x) for x in theta], [ctx.mpf(x) for x in w]


@lru_cache(maxsize=16)
def _gl_theta_cached(n, prec):
    ctx = MpOps(prec).ctx
    x0, _ = np.polynomial.legendre.leggauss(n)
    xs, ws = [], []
    for xf in x0:
        x = ctx.mpf(xf)
        for _ in range(100):
            p0, p1 = ctx.one, x
            for j in range(2, n + 1):
                p0, p1 = p1, ((2 * j - 1) * x * p1 - (j - 1) * p0) / j
            dp = n * (x * p1 - p0) / (x * x - 1)
            dx = p1 / dp
            x -= dx
            if abs(dx) < ctx.ldexp(abs(x) + 1, -ctx.prec + 4):
                break
        p0, p1 = ctx.one, x
        for j in range(2, n + 1):
            p0, p1 = p1, ((2 * j - 1) * x * p1 - (j - 1) * p0) / j
        dp = n * (x * p1 - p0) / (x * x - 1)
        xs.append(x)
        ws.append(2 / ((1 - x * x) * dp * dp))
    half_pi = ctx.pi / 2
    return [half_pi * (x + 1) for x in xs], [half_pi * w for w in ws]


def _kappa_arb(spec, kernel, d, K, ra_mp, rb_mp, bits, cos_mp, wt_mp):
    """κ_k, k ≤ K, at the radial pairs (ra, rb) in Arb ball arithmetic: per degree a list of
    (midpoint, radius) as exact (mantissa, exponent) integer pairs (picklable)."""
    from .precision import ArbOps

    aops = ArbOps(bits)
    ntk = kernel == "ntk"
    with aops.context():
        ra = np.array([aops.const(x) for x in ra_mp], dtype=object)
        rb = np.array([aops.const(x) for x in rb_mp], dtype=object)
        c = aops.sqrt(ra * rb)
        sw, sb = aops.const(spec.weight_var), aops.const(spec.bias_var)
        if d == 1:
            vals = []
            for sgn in (1, -1):
                L = _last(layers(spec.activation, sgn * c, ra, rb, sw, sb, spec.depth, aops, ntk=ntk))
                vals.append(L.ntk if ntk else L.ck)
            plus, minus = vals
            kap = [(plus + minus) / 2, (plus - minus) / 2][: K + 1]
        else:
            cos = np.array([aops.const(x) for x in cos_mp], dtype=object)
            wt = np.array([aops.const(x) for x in wt_mp], dtype=object)
            T = cos[:, None] * c[None, :]
            L = _last(layers(spec.activation, T, ra[None, :], rb[None, :], sw, sb, spec.depth, aops, ntk=ntk))
            F = (L.ntk if ntk else L.ck) * wt[:, None]
            P = legendre_d(K, d, cos)
            kap = [np.sum(F * p[:, None], axis=0) for p in P]
    return [[(tuple(int(v) for v in x.mid().man_exp()), tuple(int(v) for v in x.rad().man_exp())) for x in row]
            for row in kap]


_POOL_JOB = None


def _pool_chunk(i):
    job = _POOL_JOB
    spec, kernel, d, K, ra, rb, bits, cos_mp, wt_mp, chunks = job
    sl = chunks[i]
    return _kappa_arb(spec, kernel, d, K, ra[sl], rb[sl], bits, cos_mp, wt_mp)


def _workers(n_pairs):
    """Processes for the N-digit kernel evaluations: the CPUs this process may use (at most 8),
    and 1 for small jobs or where fork is unavailable."""
    import multiprocessing
    import os

    if n_pairs < 400 or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _kappa_mp(spec, kernel, d, K, rho, ctx, bits, n):
    """κ_k for all pairs a ≤ b at ``bits`` working bits, as mpf lists (K+1, P) of values and of
    error bounds (the arb ball radii). Φ is evaluated in Arb ball arithmetic (:class:`ArbOps`),
    split over forked worker processes when there are many pairs; the angular rule is n-point
    Gauss–Legendre in θ."""
    global _POOL_JOB
    a, b = _pairs(len(rho))
    cos_mp = wt_mp = None
    if d > 1:
        theta, w = _gl_theta_mp(ctx, n)
        cd = ctx.exp(ctx.loggamma(ctx.mpf(d) / 2) - ctx.loggamma(ctx.mpf(d - 1) / 2)) / ctx.sqrt(ctx.pi)
        cos_mp = [ctx.cos(x) for x in theta]
        wt_mp = [wi * ctx.sin(x) ** (d - 2) * cd for wi, x in zip(w, theta)]
    ra = [rho[i] for i in a]
    rb = [rho[i] for i in b]
    nw = _workers(len(ra))
    if nw == 1:
        rows = _kappa_arb(spec, kernel, d, K, ra, rb, bits, cos_mp, wt_mp)
    else:
        import multiprocessing

        bounds = np.linspace(0, len(ra), 2 * nw + 1).astype(int)
        chunks = [slice(int(x), int(y)) for x, y in zip(bounds[:-1], bounds[1:])]
        _POOL_JOB = (spec, kernel, d, K, ra, rb, bits, cos_mp, wt_mp, chunks)
        try:
            with multiprocessing.get_context("fork").Pool(nw) as pool:
                parts = pool.map(_pool_chunk, range(len(chunks)))
        finally:
            _POOL_JOB = None
        rows = [sum((p[k] for p in parts), []) for k in range(len(parts[0]))]

    def conv(me):
        (m, e) = me
        return ctx.ldexp(ctx.mpf(m), e)

    vals = [[conv(mid) for mid, _ in row] for row in rows]
    rads = [[conv(rad) * (1 + ctx.eps) for _, rad in row] for row in rows]
    return vals, rads


def _eig_mp(ctx, kap_k, w, m, J):
    """Top-J eigenvalues (descending) of the symmetric A = √w κ √w at ctx precision, with
    error bounds: Rayleigh–Ritz on the span of float64 eigenvectors (J + 2 of them,
    re-orthonormalised at full precision), then the Kato–Temple bound
    |θ − λ| ≤ ‖r‖²/δ (‖r‖ the residual of the Ritz pair, δ the gap to the rest of the
    spectrum, from the float64 eigenvalues), capped by ‖r‖. O(m² J) instead of O(m³)."""
    a, b = _pairs(m)
    sq = [ctx.sqrt(x) for x in w]
    A = [[ctx.zero] * m for _ in range(m)]
    for i, j, v in zip(a, b, kap_k):
        A[i][j] = A[j][i] = v * sq[i] * sq[j]
    Af = np.array([[float(x) for x in row] for row in A])
    evf, Vf = np.linalg.eigh(Af)
    order = np.argsort(evf)[::-1]
    evf, Vf = evf[order], Vf[:, order]
    p = min(m, J + 2)
    # orthonormal basis at full precision (modified Gram–Schmidt, twice)
    basis = []
    for c in range(p):
        v = [ctx.mpf(x) for x in Vf[:, c]]
        for _ in range(2):
            for u in basis:
                dot = ctx.fdot(u, v)
                v = [x - dot * y for x, y in zip(v, u)]
        nrm = ctx.sqrt(ctx.fdot(v, v))
        basis.append([x / nrm for x in v])
    AV = [[ctx.fdot(row, u) for row in A] for u in basis]
    B = ctx.matrix(p, p)
    for i in range(p):
        for j in range(i, p):
            B[i, j] = B[j, i] = ctx.fdot(basis[i], AV[j])
    theta, Y = ctx.eigsy(B)
    idx = sorted(range(p), key=lambda i: theta[i], reverse=True)
    vals, errs = [], []
    for rank, i in enumerate(idx[:J]):
        y = [Y[r, i] for r in range(p)]
        res = [ctx.fdot([AV[c][q] for c in range(p)], y) - theta[i] * ctx.fdot([basis[c][q] for c in range(p)], y)
               for q in range(m)]
        rn = ctx.sqrt(ctx.fdot(res, res))
        others = np.delete(evf, rank)
        gap = float(np.min(np.abs(others - float(theta[i])))) if others.size else float("inf")
        bound = rn if gap == 0 else min(rn, rn * rn / ctx.mpf(gap))
        vals.append(theta[i])
        errs.append(bound)
    while len(vals) < J:
        vals.append(ctx.zero)
        errs.append(ctx.zero)
    return vals, errs


def _to_me(x):
    sign, man, exp, _ = x._mpf_
    return (-int(man) if sign else int(man), int(exp))


def _pool_eig(i):
    prec, rows, w, m, J = _POOL_JOB
    ctx = MpOps(prec).ctx
    kap = [ctx.ldexp(ctx.mpf(a), e) for a, e in rows[i]]
    ws = [ctx.ldexp(ctx.mpf(a), e) for a, e in w]
    vals, errs = _eig_mp(ctx, kap, ws, m, J)
    return [_to_me(ctx.mpf(v)) for v in vals], [_to_me(ctx.mpf(e)) for e in errs]


def _eigs_parallel(ctx, kap_rows, w, m, J):
    """_eig_mp for each degree's matrix, over forked processes when the matrices are large."""
    global _POOL_JOB
    nw = _workers(m * (m + 1) // 2) if len(kap_rows) > 1 else 1
    if nw == 1:
        return [_eig_mp(ctx, row, w, m, J) for row in kap_rows]
    import multiprocessing

    _POOL_JOB = (ctx.prec, [[_to_me(v) for v in row] for row in kap_rows], [_to_me(x) for x in w], m, J)
    try:
        with multiprocessing.get_context("fork").Pool(min(nw, len(kap_rows))) as pool:
            res = pool.map(_pool_eig, range(len(kap_rows)))
    finally:
        _POOL_JOB = None

    def conv(me):
        return ctx.ldexp(ctx.mpf(me[0]), me[1])

    return [([conv(v) for v in vals], [conv(e) for e in errs]) for vals, errs in res]


def _gaussian_digits(spec, d, kernel, K, J, N, lam_double=None, m_double=None, structural=None,
                     radial_slow=False, n_angular=None):
    """N-digit μ_{k,j}: the eigenvalues at the radial × angular rule (m₂, n) are reported with
    error |λ(m₂, n) − λ(m₁, n/2)| + (Weyl bound of the arb radii and Ritz bounds) + rounding,
    with m₁ = m₂/1.5: the difference from a rule coarser in both directions estimates the
    coarse rule's error, and so over-estimates the fine rule's (both converge geometrically or
    algebraically, monotonically in practice).
    The rules grow until that error is below 10^-N |λ| for every requested value."""
    from ._radial import chi_gauss_mp

    # the Nyström eigenvalues need N digits relative to the largest of their degree
    lost = 0.0
    if lam_double is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.abs(lam_double[0, 0]) / np.abs(lam_double)
        ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
        if ratio.size:
            lost = float(np.log10(ratio.max()))
    bits = bits_for_digits(int(N + lost + 12))
    m2 = max(m_double or 0, 2 * J + 6, 12)
    if radial_slow and m2 < MAX_RADIAL_NODES:  # the double run's last change already exceeds 10^-N
        m2 = min(MAX_RADIAL_NODES, int(m2 * 1.5))
    m1 = max(2 * J + 4, int(m2 / 1.5))
    n = max(24, 2 * K + 8, n_angular or 0) if d > 1 else 1
    ctx = MpOps(bits).ctx
    tenN = ctx.mpf(10) ** (-N)
    n_prev = n

    lam_min = None
    if lam_double is not None:
        vals = np.abs(np.asarray(lam_double, float))
        ok = np.isfinite(vals) & (vals > 0)
        if structural is not None:
            ok &= ~np.asarray(structural)[:, None]
        if ok.any():
            lam_min = float(vals[ok].min())

    def prune(r, w):
        """Drop the radial nodes whose weight makes them irrelevant at N digits. Removing the
        rows and columns D of √w κ √w moves each eigenvalue by at most
        ‖A_D‖_F ≤ (2 Σ_{a∈D} w_a K_aa · Σ_b w_b K_bb)^{1/2} (|κ_k(r,r')| ≤ (K(x,x)K(y,y))^{1/2},
        Cauchy–Schwarz); nodes are dropped while that bound stays below 10^-(N+2) λ_min."""
        if lam_min is None:
            return list(range(len(r))), ctx.zero
        rf = np.array([float(x) for x in r])
        wf = np.array([float(x) for x in w])
        rho_f = rf * rf / d
        L = _last(layers(spec.activation, rho_f, rho_f, rho_f, float(spec.weight_var), float(spec.bias_var),
                         spec.depth, JetOps(), ntk=kernel == "ntk"))
        mass = wf * np.abs(L.ntk if kernel == "ntk" else L.ck) * 2  # ×2: float64 slack
        total = float(mass.sum())
        budget = (10.0 ** (-(N + 2)) * lam_min) ** 2 / (2 * total)
        order = np.argsort(mass)
        csum = np.cumsum(mass[order])
        ndrop = int(np.searchsorted(csum, budget, side="right"))
        keep = sorted(order[ndrop:].tolist())
        dropped = float(csum[ndrop - 1]) if ndrop else 0.0
        return keep, ctx.sqrt(ctx.mpf(2 * dropped * total))

    def spectrum(m, nn):
        r, w = chi_gauss_mp(d, m, bits)
        keep, drop_bound = prune(r, w)
        r, w = [r[i] for i in keep], [w[i] for i in keep]
        m = len(keep)
        rho = [x * x / d for x in r]
        kap, rad = _kappa_mp(spec, kernel, d, K, rho, ctx, bits, nn)
        out, weyl = [], []
        todo = [k for k in range(K + 1) if not (structural is not None and structural[k])]
        eig = dict(zip(todo, _eigs_parallel(ctx, [kap[k] for k in todo], w, m, J)))
        for k in range(K + 1):
            if k not in eig:
                out.append([ctx.zero] * J)
                weyl.append(ctx.zero)
                continue
            ev, ee = eig[k]
            out.append(ev)
            a, b = _pairs(m)
            weyl.append(ctx.sqrt(2 * sum((e * e) * w[i] * w[j] for i, j, e in zip(a, b, rad[k]))) + max(ee)
                        + drop_bound)
        return out, weyl

    coarse = None
    for _ in range(8):
        # the coarse rule is coarser in both directions: (m₁, n/2) against the reported (m₂, n)
        if coarse is None:
            coarse, _ = spectrum(m1, n // 2 if d > 1 else n)
        lam2, weyl = spectrum(m2, n)
        errs = []
        good = True
        for k in range(K + 1):
            row = []
            for j in range(J):
                x = lam2[k][j]
                e = abs(x - coarse[k][j]) + weyl[k] + ctx.ldexp(abs(lam2[k][0]) * m2, 8 - bits)
                row.append(e)
                if not (structural is not None and structural[k]) and e > tenN * abs(x) / 4:
                    good = False
            errs.append(row)
        if good:
            return lam2, errs, m2, ctx
        if m2 >= MAX_RADIAL_NODES and n >= MAX_ANGULAR_NODES:
            return lam2, errs, m2, ctx
        # refine both; the present fine rule becomes the next coarse one when it is (m, n/2)-coarser
        if d > 1 and n < MAX_ANGULAR_NODES:
            n *= 2
        if m2 < MAX_RADIAL_NODES:
            m1, m2 = m2, min(MAX_RADIAL_NODES, int(m2 * 1.5))
            coarse = lam2 if d > 1 and n // 2 == n_prev else None
        else:
            coarse = None
        n_prev = n
    return lam2, errs, m2, ctx


def gaussian_eigenvalues(spec: Architecture, dim: int, kernel="ntk", max_degree=None, radial=4,
                         precision="double") -> Spectrum:
    """Eigenvalues μ_{k,j} of the CK or NTK under x ~ N(0, I_dim).

    Parameters
    ----------
    spec : Architecture
    dim : int
        d ≥ 1 (d = 1: degrees 0 and 1 only, the even and odd parts).
    kernel : {"ck", "ntk"}
    max_degree : int, optional
        Degrees 0..max_degree (default min(6, …); 1 at d = 1).
    radial : int
        Radial indices j = 0..radial−1 per degree (descending eigenvalues).
    precision : "double" or int N
        ``"exact"`` is not available (no closed form); ``"auto"`` is double here.

    Returns
    -------
    Spectrum
        Flat: one entry per (k, j), ordered by k then j; ``degrees`` holds k,
        ``extra["radial_index"]`` holds j, ``multiplicities`` N(d, k), ``trace`` E_x K(x, x).
        ``extra["radial_nodes"]`` is the size of the final radial rule. At double precision
        ``extra["degree_trace"]`` holds Σ_j μ_{k,j} over *all* radial indices (the trace of the
        Nyström matrix of κ_k, Σ_a w_a κ_k(r_a, r_a)) per degree k, and
        ``extra["degree_trace_error"]`` its error bound, so that FV_k = N(d, k) Σ_j μ_{k,j} / E K(x, x)
        (:meth:`Spectrum.fractional_variance_by_degree`) does not depend on ``radial``.

    Examples
    --------
    The linear kernel σ_w² ⟨x,y⟩/d + σ_b² has μ_{0,0} = σ_b², μ_{1,0} = σ_w²/d, and its trace
    is σ_w² + σ_b²:

    >>> from spectra import Architecture, gaussian_eigenvalues
    >>> s = gaussian_eigenvalues(Architecture("identity", 0, 2, 1), 4, "ck", max_degree=1, radial=1)
    >>> [round(float(v), 12) for v in s.values], round(float(s.trace), 12)
    ([1.0, 0.5], 3.0)
    """
    dim = _validate.integer("dim", dim, lo=1)
    kernel = _kernel_name(kernel)
    prec = resolve_precision(precision)
    if prec.kind == "exact":
        raise ValueError("precision: 'exact' is not available on the gaussian domain (the radial operator "
                         "has no closed-form spectrum); use 'double' or an integer number of digits")
    if max_degree is None:
        max_degree = 1 if dim == 1 else 6
    K = _validate.integer("max_degree", max_degree, lo=0, hi=1000)
    if dim == 1 and K > 1:
        raise ValueError(f"max_degree must be 0 or 1 on the gaussian at dim 1 (the harmonics are the even "
                         f"and odd parts); got {K}")
    J = _validate.integer("radial", radial, lo=1, hi=64)
    structural = [spec.structural_zero(kernel, k) for k in range(K + 1)]
    lam, err, m, change, n_ang, (deg_tr, deg_tr_err) = _gaussian_double(spec, dim, kernel, K, J)
    for k in range(K + 1):
        if structural[k]:
            lam[k] = err[k] = deg_tr[k] = deg_tr_err[k] = 0.0
    trace, trace_err = _trace_double(spec, dim, kernel)
    degrees = np.repeat(np.arange(K + 1), J)
    jidx = np.tile(np.arange(J), K + 1)
    mult = tuple(sphere_multiplicity(dim, int(k)) for k in degrees)
    struct = np.array([structural[int(k)] for k in degrees])
    common = dict(domain="gaussian", dim=dim, spec=spec, kernel=kernel, precision=prec, degrees=degrees,
                  multiplicities=mult, structural=struct)
    if prec.kind == "digits":
        with np.errstate(divide="ignore", invalid="ignore"):
            slow = bool(np.any(change > 10.0 ** (-prec.digits) * np.abs(lam) / 4))
        lam_mp, err_mp, m2, ctx = _gaussian_digits(spec, dim, kernel, K, J, prec.digits, lam, m, structural,
                                                   radial_slow=slow, n_angular=n_ang)
        out_ctx = MpOps(bits_for_digits(prec.digits) + 8).ctx
        vals, errs, digits, flags = [], [], [], []
        for k in range(K + 1):
            for j in range(J):
                v, e = lam_mp[k][j], err_mp[k][j] if not structural[k] else ctx.zero
                vals.append(out_ctx.mpf(v))
                errs.append(out_ctx.mpf(e))
                if structural[k]:
                    digits.append(np.inf)
                    flags.append(None)
                elif v == 0 or e >= abs(v):
                    digits.append(0.0)
                    flags.append(f"unresolved: |value| <= {ctx.nstr(e, 3)} with {m2} radial nodes")
                else:
                    dg = float(ctx.log10(abs(v) / e)) if e > 0 else float(prec.digits + 8)
                    digits.append(dg)
                    flags.append(None if dg >= prec.digits else f"only {dg:.1f} digits with {m2} radial nodes")
        tr = _trace_mp(spec, dim, kernel, prec.digits)
        return Spectrum(values=np.array(vals, dtype=object), errors=np.array(errs, dtype=object),
                        digits=np.array(digits), flags=tuple(flags), trace=tr,
                        extra={"radial_index": jidx, "radial_nodes": m2}, **common)
    from .cube import _digits, _flag_double

    mu = lam.reshape(-1)
    e = err.reshape(-1)
    vals, flags = _flag_double(mu, e, struct)
    flags = list(flags)
    for i, f in enumerate(flags):
        if f and f.startswith("unresolved"):
            flags[i] = f + f" (radial rule of {m} nodes)"
    return Spectrum(values=vals, errors=e, digits=_digits(vals, e, struct), flags=tuple(flags), trace=trace,
                    extra={"radial_index": jidx, "radial_nodes": m, "trace_error": trace_err,
                           "degree_trace": deg_tr, "degree_trace_error": deg_tr_err}, **common)


def _trace_mp(spec, d, kernel, N):
    """E_r Φ(ρ, ρ, ρ) to N digits: chi rules of growing size until two agree."""
    from ._radial import chi_gauss_mp

    bits = bits_for_digits(N + 10)
    ops = MpOps(bits)
    ctx = ops.ctx
    prev = None
    m = 32
    while True:
        r, w = chi_gauss_mp(d, m, bits)
        rho = np.array([x * x / d for x in r], dtype=object)
        L = _last(layers(spec.activation, rho, rho, rho, ops.const(spec.weight_var), ops.const(spec.bias_var),
                         spec.depth, ops, ntk=kernel == "ntk"))
        v = sum(wi * fi for wi, fi in zip(w, (L.ntk if kernel == "ntk" else L.ck)))
        if prev is not None and abs(v - prev) <= abs(v) * ctx.mpf(10) ** (-N - 2) or m >= 256:
            return MpOps(bits_for_digits(N) + 8).ctx.mpf(v)
        prev = v
        m *= 2
