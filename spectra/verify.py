r"""Verification of the eigenvalues against data, on numpy, CuPy or any array-API namespace.

Three checks, each a heavy computation written once against the array API
(:mod:`spectra.backend`; ``backend="numpy"`` by default, ``"cupy"`` on a GPU):

* :func:`walsh_check` (from :mod:`spectra.walsh`): the exact full-cube check: the fast
  Walsh–Hadamard transform of the kernel row K(x, 1) over all 2^D points against μ_{|S|}.
* :func:`gram_check`: the Gram matrix K/n of n sampled points (cube, sphere or Gaussian); its
  eigenvalues (all, or the top m by subspace iteration) are grouped into clusters matched with
  the theory's eigenvalues and multiplicities, and each cluster's mean and spread set against
  the deviation a sample of n points should show.
* :func:`width_check`: the empirical CK and NTK of random networks of finite width in NTK
  parameterisation (CONVENTIONS §1) against the analytic kernels: the relative error per width,
  its log-log slope (about −1/2: the kernels are averages over the units of a layer, Arora et
  al. 2019, "On exact computation with an infinitely wide neural net"), and the spectrum of the
  empirical Gram matrix against the theory.

Memory: each check computes up front what it will allocate (``*_memory``) and raises
:class:`~spectra.backend.MemoryRefusal`, naming the largest size that fits, instead of being
killed. Gram matrices are built in blocks of rows; kernel values come from the library's CK/NTK
recursion (:func:`spectra.kernels.layers`) run on the back end through
:class:`~spectra.backend.XpOps` for the closed-form activations, and from the float64 library
on the host, block by block, for the others (tanh, softplus, …: their duals are numpy code;
about 7 µs per entry on the sphere, and ~10 ms per entry on the Gaussian, where the kernel depends
on both norms: refused there above ``HOST_GAUSSIAN_MAX`` points).
On the cube the Gram matrix needs only the d + 1 values Φ(1 − 2j/d), gathered by ⟨x, y⟩.

Random numbers (points, initial weights, the start block of the subspace iteration) are drawn on
the host with ``numpy.random.default_rng`` and copied to the device: a seed gives the same data
and the same networks on every back end.

Plots (:func:`plot_walsh`, :func:`plot_gram`, :func:`plot_width`) import matplotlib when called.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import _validate
from .backend import (
    MemoryRefusal,
    XpOps,
    check_memory,
    get_backend,
    largest_fitting,
    xp_duals_ok,
)
from .domains import DOMAINS, rng_from
from .spec import KERNELS, Architecture
from .training import MLPParams, forward, init_params
from .training import empirical_kernels as _empirical_kernels
from .walsh import WalshCheck, walsh_check, walsh_memory

__all__ = ["GramCheck", "MemoryRefusal", "Network", "WalshCheck", "WidthCheck", "check_kernel", "empirical_kernels",
           "gram_check", "gram_matrix", "gram_memory", "init_network", "match_clusters", "network_output",
           "plot_gram", "plot_walsh", "plot_width", "theory_clusters", "top_eigenvalues", "walsh_check",
           "walsh_memory", "width_check", "width_memory"]

#: Gram sizes up to this use every eigenvalue (LAPACK eigvalsh) by default; above, the top m.
ALL_EIGS_MAX = 2048
#: The default m: whole theory clusters, at most this many eigenvalues.
DEFAULT_TOP = 512
#: Activations without closed-form duals on the Gaussian: the host's Φ(t, q₁, q₂) costs ~10 ms per
#: pair of norms, so their Gram matrices are refused above this many points.
HOST_GAUSSIAN_MAX = 64
#: Nominal variance of the squared radial eigenfunction on the Gaussian (see match_clusters).
RADIAL_VAR = 2.0


# ---------------------------------------------------------------------------------------
# kernel values on the back end
# ---------------------------------------------------------------------------------------


def _check_spec(spec):
    if not isinstance(spec, Architecture):
        raise TypeError(f"spec must be a spectra.Architecture; got {spec!r}")


def check_kernel(spec, kernel, what=None):
    """Raise ValueError when ``kernel`` is "ntk" and φ' is a Dirac delta (step, sign)."""
    if kernel == "ntk" and not getattr(spec.activation, "ntk_defined", True):
        who = what or "the NTK"
        raise ValueError(f"activation {spec.activation.name!r} has no derivative (φ' is a Dirac delta), so its NTK "
                         f"is undefined and {who} cannot run" + ("" if what else "; use kernel='ck'"))


def _kernels_of(kernel):
    if kernel == "both":
        return ("ck", "ntk")
    return (_validate.choice("kernel", kernel, KERNELS),)


def _phi_xp(spec, cov, qx, qy, kernels, be):
    """{kernel: values} of the recursion on the back end (``qx is qy``: equal norms)."""
    from .kernels import _last, layers

    L = _last(layers(spec.activation, cov, qx, qy, float(spec.weight_var), float(spec.bias_var), spec.depth,
                     XpOps(be.xp), ntk="ntk" in kernels))
    return {k: (L.ntk if k == "ntk" else L.ck) for k in kernels}


def _phi_host(spec, cov, qx, qy, kernels, be, one_arg):
    """The same on the host (float64 library), for activations whose duals are numpy code."""
    from .kernels import kernel as k1
    from .kernels import kernel3 as k3

    c = be.to_numpy(cov)
    out = {}
    for k in kernels:
        if one_arg:
            v = k1(spec, c, k)
        else:
            v = k3(spec, c, be.to_numpy(qx), be.to_numpy(qy), k)
        out[k] = be.asarray(np.asarray(v, dtype=float))
    return out


def _block_rows(n, per_row=1, target=2**22):
    return max(1, min(n, target // max(1, n * per_row)))


def gram_matrix(spec: Architecture, X, kernel="ntk", domain="sphere", backend=None, block_rows=None,
                progress=None):
    """The kernel matrix K(xᵢ, xⱼ) (not divided by n) of the rows of ``X`` on the back end.

    ``kernel`` "ck", "ntk" or "both" (then a dict {"ck": …, "ntk": …}). ``domain`` "cube"
    (entries ±1: K = Φ(1 − 2j/d) gathered by the number j of differing coordinates, from the
    d + 1 library values), "sphere" (‖x‖² = d: Φ(t), t = ⟨x,y⟩/d clipped to [−1, 1], t = 1 on
    the diagonal) or "gaussian" (any points: Φ(⟨x,y⟩/d, ‖x‖²/d, ‖y‖²/d)). Built in blocks of
    ``block_rows`` rows; ``progress(1)`` after each block.

    Examples
    --------
    >>> import numpy as np
    >>> from spectra import Architecture
    >>> from spectra.domains import gram, sample
    >>> s, X = Architecture("erf", 2, 2, 0.5), sample("sphere", 5, 40, seed=1)
    >>> bool(np.allclose(gram_matrix(s, X, "ntk", "sphere"), gram(s, X, "ntk", domain="sphere")))
    True
    """
    _check_spec(spec)
    be = get_backend(backend)
    xp = be.xp
    kernels = _kernels_of(kernel)
    domain = _validate.choice("domain", domain, DOMAINS)
    if "ntk" in kernels:
        from .kernels import _check_ntk

        _check_ntk(spec.activation, True)
    X = be.asarray(X) if isinstance(X, (np.ndarray, list, tuple)) else X
    if len(X.shape) != 2:
        raise ValueError(f"X must be a 2-D array (points × dim); got shape {tuple(X.shape)}")
    n, d = X.shape
    step = progress or (lambda k=1: None)
    out = {k: be.zeros((n, n)) for k in kernels}
    rows = block_rows or _block_rows(n, 2 if domain == "cube" else 12)  # the recursion needs ~12 temporaries
    if domain == "cube":
        Xh = be.to_numpy(X)
        if not np.all(np.abs(Xh) == 1):
            raise ValueError("domain 'cube' needs points with entries ±1")
        from .kernels import kernel as k1

        t = 1.0 - 2.0 * np.arange(d + 1) / d
        tables = {k: be.asarray(np.asarray(k1(spec, t, k), dtype=float)) for k in kernels}
        for r0 in range(0, n, rows):
            r1 = min(n, r0 + rows)
            ip = X[r0:r1, :] @ xp.matrix_transpose(X)  # exact: small integers
            j = xp.astype(xp.round((d - ip) / 2), xp.int64)
            j = xp.reshape(j, (-1,))
            for k in kernels:
                out[k][r0:r1, :] = xp.reshape(xp.take(tables[k], j), (r1 - r0, n))
            step(1)
        return out if kernel == "both" else out[kernels[0]]
    on_backend = xp_duals_ok(spec.activation, be)
    if not on_backend and domain == "gaussian" and n > HOST_GAUSSIAN_MAX:
        raise ValueError(f"domain 'gaussian' needs the kernel at every pair of norms, and activation "
                         f"{spec.activation.name!r} has no closed-form dual: the host library takes ~10 ms per "
                         f"pair, so at most {HOST_GAUSSIAN_MAX} samples; got {n} (use the cube or sphere, or a "
                         "closed-form activation)")
    cols = be.arange(0, n)
    q = xp.sum(X * X, axis=1) / d
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        cov = (X[r0:r1, :] @ xp.matrix_transpose(X)) / d
        diag = xp.reshape(be.arange(r0, r1), (-1, 1)) == xp.reshape(cols, (1, -1))
        if domain == "sphere":
            cov = xp.where(diag, 1.0, xp.clip(cov, -1.0, 1.0))
            one = be.asarray(1.0)
            vals = (_phi_xp(spec, cov, one, one, kernels, be) if on_backend
                    else _phi_host(spec, cov, None, None, kernels, be, True))
        else:
            qx = xp.reshape(q[r0:r1], (-1, 1))
            qy = xp.reshape(q, (1, -1))
            bound = xp.sqrt(qx * qy)
            cov = xp.where(diag, qx * xp.ones_like(cov), xp.minimum(xp.maximum(cov, -bound), bound))
            vals = (_phi_xp(spec, cov, qx, qy, kernels, be) if on_backend
                    else _phi_host(spec, cov, qx, qy, kernels, be, False))
        for k in kernels:
            out[k][r0:r1, :] = vals[k]
        step(1)
    return out if kernel == "both" else out[kernels[0]]


# ---------------------------------------------------------------------------------------
# eigenvalues
# ---------------------------------------------------------------------------------------


def _desc(v):
    return np.sort(np.asarray(v, dtype=float))[::-1]


def _lapack(be):
    """One BLAS thread inside LAPACK factorisations on the host: OpenBLAS's threaded QR and
    eigvalsh slow down 10x when the cores are shared (measured: QR of 3000 × 375 in 0.17 s with one
    thread, 2-9 s with two on a loaded 2-core machine); matrix products keep every thread."""
    if be.gpu:
        import contextlib

        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def _eigvalsh_desc(be, G):
    with _lapack(be):
        return _desc(be.to_numpy(be.xp.linalg.eigvalsh(G)))


def _block_size(m, n):
    return min(n, m + max(16, m // 4))


def _filter_degree(r1, rm, spread, degree, tol):
    """The largest p ≤ degree whose filter keeps the smallest wanted directions resolved: one
    step amplifies the largest eigenvalue T_p(2r₁ − 1) times and the m-th T_p(2r_m − 1) times
    (r = λ/θ_b), and the m-th direction is then known to an angle u·(that ratio), which moves its
    Ritz value by about angle²·λ₁; keep that below tol/10 of λ_m."""
    def cheb(x):
        return math.cosh(p * math.acosh(x)) if x > 1 else 1.0

    best = 1
    for p in range(1, degree + 1):
        ratio = cheb(2 * r1 - 1) / cheb(2 * rm - 1)
        if (2.0**-53 * ratio) ** 2 * spread <= tol / 10:
            best = p
    return best


def top_eigenvalues(G, m, backend=None, tol=1e-7, max_iter=200, seed=0, degree=4, progress=None):
    """The m largest eigenvalues of the symmetric positive semidefinite matrix ``G`` (a backend
    array), descending, by Chebyshev-filtered subspace iteration on a block of
    b = m + max(16, m/4) vectors (Zhou & Saad, "A Chebyshev–Davidson algorithm for large
    symmetric eigenproblems", SIAM J. Matrix Anal. Appl. 2007; Halko, Martinsson & Tropp 2011).

    Each iteration makes a Rayleigh–Ritz step (b × b eigenproblem on the host) and applies the
    Chebyshev polynomial of degree p ≤ ``degree`` that is bounded by 1 on [0, θ_b] (θ_b the
    smallest Ritz value: below every wanted eigenvalue), which amplifies an eigenvalue λ > θ_b by
    T_p(2λ/θ_b − 1) (several times the gain per product with G of plain subspace iteration,
    whose rate is λ_{b+1}/λ), then re-orthonormalises (QR). p is lowered where one filter step's
    dynamic range would cost the smallest wanted values accuracy (:func:`_filter_degree`).

    Returns ``(values, iterations, converged)``; iteration stops when every one of the m Ritz
    values changes by less than ``tol`` relative. The start block is drawn on the host (``seed``).
    ``G`` must be at least 2b × 2b, else all eigenvalues are computed (LAPACK).
    """
    be = get_backend(backend)
    xp = be.xp
    n = G.shape[0]
    m = _validate.integer("m", m, lo=1, hi=n)
    degree = _validate.integer("degree", degree, lo=1, hi=8)
    b = _block_size(m, n)
    if b >= n // 2:
        return _eigvalsh_desc(be, G)[:m], 0, True
    step = progress or (lambda k=1: None)
    with _lapack(be):
        Q = xp.linalg.qr(G @ be.normal(rng_from(seed), (n, b))).Q
    prev = None
    ritz = None
    for it in range(1, max_iter + 1):
        Z = G @ Q
        B = be.to_numpy(xp.matrix_transpose(Q) @ Z)
        with _lapack(be):
            theta, U = np.linalg.eigh((B + B.T) / 2)
        order = np.argsort(theta)[::-1]
        theta, U = theta[order], U[:, order]
        ritz = theta[:m].copy()
        step(1)
        if prev is not None and np.all(np.abs(ritz - prev) <= tol * np.maximum(np.abs(ritz), 1e-300)):
            return ritz, it, True
        prev = ritz
        # Rayleigh–Ritz rotation, then the filter on [0, θ_b]: Y_1 = (G − c)Q/e, Y_{k+1} = 2(G − c)Y_k/e − Y_{k−1}
        Ud = be.asarray(U)
        Q = Q @ Ud
        Z = Z @ Ud
        a = float(max(theta[-1], 1e-300))
        c = e = a / 2
        p = _filter_degree(theta[0] / a, theta[m - 1] / a, theta[0] / max(theta[m - 1], 1e-300), degree, tol)
        y_prev, y = Q, (Z - c * Q) / e
        for _ in range(p - 1):
            y_prev, y = y, 2 * (G @ y - c * y) / e - y_prev
        with _lapack(be):
            Q = xp.linalg.qr(y).Q
    return ritz, max_iter, False


# ---------------------------------------------------------------------------------------
# theory clusters
# ---------------------------------------------------------------------------------------


@dataclass
class _Clusters:
    values: np.ndarray       # descending, > 0
    errors: np.ndarray
    multiplicities: np.ndarray
    labels: list             # "k" or "k,j"
    degrees: np.ndarray
    radial: np.ndarray
    trace: float
    complete_above: float    # every eigenvalue > this is in the list


def theory_clusters(spec: Architecture, domain: str, dim: int, kernel="ntk", count=DEFAULT_TOP) -> _Clusters:
    """The theory's distinct eigenvalues, descending, with multiplicities, at least down to the
    ``count``-th eigenvalue (counted with multiplicity) where the domain has that many.

    Cube: all μ_0..μ_d. Sphere: degrees 0..K with K grown until the clusters above
    max(μ_{K−1}, μ_K) hold ``count`` eigenvalues. Gaussian: μ_{k,j} for k ≤ K, j < J, grown
    likewise; the list is complete above max(max_k μ_{k,J−1}, max_j μ_{K,j}) (assuming, as in
    every case we know, that degrees above K lie below degree K). Structural zeros and values the
    library could not resolve are left out.
    """
    domain = _validate.choice("domain", domain, DOMAINS)
    if domain == "cube":
        from .cube import cube_eigenvalues

        s = cube_eigenvalues(spec, dim, kernel, max_degree=dim, precision="auto")
        return _make_clusters(s, -np.inf, [str(int(k)) for k in s.degrees], np.zeros(len(s.degrees), int))
    if domain == "sphere":
        from .sphere import sphere_eigenvalues

        K = 8
        while True:
            s = sphere_eigenvalues(spec, dim, kernel, max_degree=K)
            v = _abs_or_error(s)
            tail = float(np.max(v[-2:]))
            c = _make_clusters(s, tail, [str(int(k)) for k in s.degrees], np.zeros(len(s.degrees), int))
            if c.multiplicities.sum() >= count or K >= 64 or tail == 0:
                return c
            K += 8
    from .gaussian import gaussian_eigenvalues

    K, J = (1, 6) if dim == 1 else (4, 4)
    while True:
        s = gaussian_eigenvalues(spec, dim, kernel, max_degree=K, radial=J)
        v = _abs_or_error(s).reshape(K + 1, J)
        tail = float(max(np.max(v[:, -1]), np.max(v[-1, :]) if dim > 1 else 0.0))
        jidx = np.asarray(s.extra["radial_index"])
        c = _make_clusters(s, tail, [f"{int(k)},{int(j)}" for k, j in zip(s.degrees, jidx)], jidx)
        if c.multiplicities.sum() >= count or K >= 12 or J >= 16:
            return c
        K, J = (K if dim == 1 else K + 2), J + 4


def _abs_or_error(s):
    """|μ|, or its error bound where the library left it unresolved (NaN: below that bound)."""
    v = np.abs(s.as_float())
    e = np.array([float(x) for x in s.errors])
    return np.where(np.isfinite(v), v, e)


def _make_clusters(s, tail, labels, radial):
    v = s.as_float()
    e = np.array([float(x) for x in s.errors])
    keep = np.isfinite(v) & (v > tail) & (v > 0)
    order = np.argsort(-v[keep], kind="stable")
    idx = np.nonzero(keep)[0][order]
    return _Clusters(values=v[idx], errors=e[idx], multiplicities=np.array([int(s.multiplicities[i]) for i in idx]),
                     labels=[labels[i] for i in idx], degrees=np.asarray(s.degrees)[idx],
                     radial=np.asarray(radial)[idx], trace=float(s.trace), complete_above=float(tail))


def _default_top(clusters, n, cap=DEFAULT_TOP):
    """Whole clusters, at most min(cap, n/2) eigenvalues (at least the first cluster)."""
    lim = max(1, min(cap, n // 2))
    total = 0
    for m in clusters.multiplicities:
        if total + m > lim:
            break
        total += m
    return max(total, 1)


def match_clusters(eigs, clusters, n, extra=None, limit=None, radial_var=0.0):
    """Group the empirical eigenvalues ``eigs`` (descending) into the theory clusters, in order:
    the first cluster takes the first multiplicity₁ eigenvalues, and so on, as long as whole
    clusters are available.

    For each: theory μ, multiplicity m, empirical mean/min/max/std, and the deviation a sample of
    n points should show,

        dev = μ (2√(m/n) + r/n) + T_r/n,

    r the number of eigenvalues up to and including the cluster and T_r the trace left below it
    (E K(x,x) minus the clusters so far). The first term is the Marchenko–Pastur spread of the m
    empirical eigenfunction norms (the cluster of μ·ΨᵀΨ/n, Ψ the n × m sampled eigenfunctions),
    the second the mixing with the r larger eigenvalues, the third the lift by the rest of the
    spectrum, which acts on n points like (T_r/n)·I. On the Gaussian the eigenfunctions are
    R_{k,j}(‖x‖)·(harmonic), whose cluster norm Σ ψ² = m R² is not constant as on the cube and
    sphere (addition theorem): its sample mean moves the whole cluster by μ√(Var R²/n), added with
    ``radial_var`` = Var R² (2 for the Gaussian by default: a nominal value, as R is not
    computed). It is a scale, not a bound (cf. Braun,
    "Accurate error bounds for the eigenvalues of the kernel matrix", JMLR 2006, whose bound has
    the same relative + tail structure); ``z`` = (mean − μ)/dev.
    ``extra``: more eigenvalue lists {name: descending array} matched the same way (their means
    reported as ``<name>_mean``). ``limit``: match whole clusters while they hold at most this many
    eigenvalues (default: all of ``eigs``).
    """
    eigs = np.asarray(eigs, dtype=float)
    out = []
    pos = 0
    left = clusters.trace
    for i, (mu, m) in enumerate(zip(clusters.values, clusters.multiplicities)):
        m = int(m)
        if pos + m > eigs.size or (limit is not None and pos > 0 and pos + m > limit):
            break
        grp = eigs[pos:pos + m]
        pos += m
        left -= m * mu
        dev = mu * (2 * math.sqrt(m / n) + pos / n + math.sqrt(radial_var / n)) + max(left, 0.0) / n
        mean = float(grp.mean())
        rec = {"label": clusters.labels[i], "degree": int(clusters.degrees[i]), "radial": int(clusters.radial[i]),
               "multiplicity": m, "theory": float(mu), "theory_error": float(clusters.errors[i]),
               "mean": mean, "min": float(grp.min()), "max": float(grp.max()),
               "std": float(grp.std()) if m > 1 else 0.0, "expected_deviation": float(dev),
               "rel_deviation": float((mean - mu) / mu), "z": float((mean - mu) / dev)}
        for name, other in (extra or {}).items():
            other = np.asarray(other, dtype=float)
            rec[f"{name}_mean"] = float(other[pos - m:pos].mean()) if other.size >= pos else None
        out.append(rec)
    return out


# ---------------------------------------------------------------------------------------
# the Gram check
# ---------------------------------------------------------------------------------------


@dataclass
class GramCheck:
    """The result of :func:`gram_check`: ``eigenvalues`` of K/n (descending; the top ``top``, or
    all), ``clusters`` (records of :func:`match_clusters`), the subspace iteration's
    ``iterations`` and ``converged`` (0 and True when all eigenvalues were computed), the
    planned ``memory_bytes`` and the ``seconds`` of each phase."""

    spec: Architecture
    kernel: str
    domain: str
    dim: int
    samples: int
    seed: object
    backend: str
    top: object
    eigenvalues: np.ndarray
    clusters: list
    trace: float
    iterations: int
    converged: bool
    memory_bytes: int
    seconds: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"check": "gram", **self.spec.as_dict(), "kernel": self.kernel, "domain": self.domain,
                "dim": self.dim, "samples": self.samples, "seed": self.seed, "backend": self.backend,
                "eigenvalues_computed": "all" if self.top == "all" else int(self.top),
                "iterations": self.iterations, "converged": self.converged, "trace": self.trace,
                "memory_bytes": int(self.memory_bytes), "seconds": self.seconds, "clusters": self.clusters}


def gram_memory(n, top="all", backend=None, dim=1, block_rows=None) -> int:
    """Bytes :func:`gram_check` allocates: the n × n matrix, block temporaries, and either a
    second n × n copy (all eigenvalues, LAPACK) or four n × b blocks (the top m, b ≈ 1.25 m)."""
    rows = block_rows or _block_rows(n, 12)
    need = 8 * n * n + max(12 * 8 * rows * n, 2**27) + 8 * n * dim * 2  # matrix, block temporaries, points
    if top == "all" or _block_size(int(top), n) >= n // 2:
        need += 8 * n * n + 8 * 64 * n
    else:
        need += 4 * 8 * n * _block_size(int(top), n)
    return need


def _resolve_top(top, clusters, n):
    if top is None:
        return "all" if n <= ALL_EIGS_MAX else _default_top(clusters, n)
    if isinstance(top, str) and top.strip().lower() == "all":
        return "all"
    return _validate.integer("top", top, lo=1, hi=n)


def gram_check(spec: Architecture, domain="cube", dim=12, samples=2000, kernel="ntk", top=None, seed=0,
               backend=None, max_memory=None, tol=1e-7, progress=None) -> GramCheck:
    """Eigenvalues of the Gram matrix K/n of ``samples`` = n i.i.d. points of ``domain`` against
    the operator's eigenvalues from the theory (:func:`theory_clusters`, :func:`match_clusters`).

    Parameters
    ----------
    spec : Architecture
    domain : {"cube", "sphere", "gaussian"}
    dim : int
    samples : int
        n ≥ 1 (memory: 8n² bytes plus workspace; n ≈ 15000 on a 16 GB host, 60000 on an 80 GB GPU).
    kernel : {"ck", "ntk"}
    top : None, "all" or int
        How many eigenvalues: all (LAPACK; default for n ≤ 2048) or the m largest by subspace
        iteration (default: whole clusters, at most min(512, n/2) eigenvalues).
    seed : None, int or numpy Generator
        The points (and the iteration's start block).
    backend, max_memory
        See :mod:`spectra.backend`.
    tol : float
        Relative convergence tolerance of the Ritz values.
    progress : callable, optional
        ``progress(n)`` per row block of the matrix and per iteration.

    Examples
    --------
    >>> from spectra import Architecture
    >>> r = gram_check(Architecture("relu", 2, 2, 1), "cube", dim=6, samples=400, seed=0)
    >>> c = r.clusters[0]
    >>> (c["label"], c["multiplicity"], abs(c["z"]) < 1)
    ('0', 1, True)
    """
    _check_spec(spec)
    domain = _validate.choice("domain", domain, DOMAINS)
    dim = _validate.integer("dim", dim, lo=2 if domain == "sphere" else 1)
    n = _validate.integer("samples", samples, lo=1)
    kernel = _validate.choice("kernel", kernel, KERNELS)
    be = get_backend(backend)
    if top is not None and not (isinstance(top, str) and top.strip().lower() == "all"):
        _validate.integer("top", top, lo=1, hi=n)
    m_hint = n if top == "all" or (top is None and n <= ALL_EIGS_MAX) else (int(top) if top else DEFAULT_TOP)
    # memory before anything expensive (the theory's count does not change the size much)
    pre = "all" if m_hint == n else min(m_hint, n)
    need = gram_memory(n, pre, be, dim)
    check_memory(need, f"gram with {n} samples", be, max_memory,
                 largest=lambda budget: _largest_n_text(budget, pre, be, dim))
    if kernel == "ntk":
        from .kernels import _check_ntk

        _check_ntk(spec.activation, True)
    seconds = {}
    t0 = time.perf_counter()
    clusters = theory_clusters(spec, domain, dim, kernel, count=min(m_hint, max(n // 2, 1)) + 1)
    top = _resolve_top(top, clusters, n)
    seconds["theory"] = time.perf_counter() - t0
    from .domains import sample

    rng = rng_from(seed)
    X = sample(domain, dim, n, rng)
    t0 = time.perf_counter()
    G = gram_matrix(spec, be.asarray(X), kernel, domain, be, progress=progress)  # K; its eigenvalues / n below
    be.synchronize()
    seconds["gram"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if top == "all":
        eigs = _eigvalsh_desc(be, G) / n
        its, conv = 0, True
    else:
        eigs, its, conv = top_eigenvalues(G, top, be, tol=tol, seed=rng, progress=progress)
        eigs = eigs / n
    be.synchronize()
    seconds["eigenvalues"] = time.perf_counter() - t0
    del G
    be.free_cache()
    recs = match_clusters(eigs, clusters, n, limit=_match_limit(X, domain, eigs.size),
                          radial_var=RADIAL_VAR if domain == "gaussian" else 0.0)
    return GramCheck(spec=spec, kernel=kernel, domain=domain, dim=dim, samples=n,
                     seed=(int(seed) if isinstance(seed, (int, np.integer)) else seed if seed is None else "generator"),
                     backend=be.name, top=top,
                     eigenvalues=eigs, clusters=recs, trace=clusters.trace, iterations=its, converged=conv,
                     memory_bytes=need, seconds=seconds)


def _match_limit(X, domain, computed):
    """Clusters are matched while they hold at most half the rank the sample can have (its
    number of distinct points: fewer than n on a small cube) and all the computed eigenvalues:
    beyond, the Gram spectrum is dominated by the sample, not by the operator."""
    distinct = len(np.unique(X, axis=0)) if domain == "cube" else X.shape[0]
    return max(1, min(computed, distinct // 2))


def gram_steps(samples, top=None, block_rows=None) -> int:
    """Roughly the number of ``progress`` steps of :func:`gram_check` (blocks + iterations)."""
    n = int(samples)
    rows = block_rows or _block_rows(n, 12)
    return -(-n // rows) + (0 if (top == "all" or (top is None and n <= ALL_EIGS_MAX)) else 12)


def _largest_n_text(budget, top, be, dim):
    n = largest_fitting(lambda s: gram_memory(s, top if top == "all" else min(top, s), be, dim), 1, 2**24, budget)
    if n is None:
        return "not even 1 sample fits"
    return f"the largest number of samples that fits is {n}"


# ---------------------------------------------------------------------------------------
# finite-width networks
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    """A finite-width MLP in NTK parameterisation (CONVENTIONS §1) on a back end: the
    architecture and its :class:`spectra.training.MLPParams` (the package's one finite-width
    network, :mod:`spectra.training`). ``weights[l-1]`` is W^l of shape (n_l, n_{l−1})
    (n_0 = dim, n_1 = … = n_L = width, n_{L+1} = 1), ``biases[l-1]`` is b^l, all entries
    i.i.d. N(0, 1)."""

    spec: Architecture
    params: MLPParams

    @property
    def dim(self) -> int:
        return self.params.dim

    @property
    def width(self) -> int:
        return self.params.widths[1] if self.params.depth else 0

    @property
    def weights(self) -> tuple:
        return self.params.weights

    @property
    def biases(self) -> tuple:
        return self.params.biases

    @property
    def backend(self):
        return self.params.be


def init_network(spec: Architecture, dim: int, width: int, seed=None, backend=None, dtype="float64") -> Network:
    """A random network of ``spec.depth`` hidden layers of ``width`` units on input dimension
    ``dim`` (:func:`spectra.training.init_params`): the N(0, 1) entries are drawn on the host by
    ``numpy.random.default_rng(seed)`` (the same network on every back end) and copied to the
    device."""
    _check_spec(spec)
    return Network(spec, init_params(spec, dim, width, seed=seed, backend=get_backend(backend), dtype=dtype))


def network_output(net: Network, X):
    """f(x) for the rows of ``X`` (a vector on the back end)."""
    return forward(net.params, net.spec, X).output


def empirical_kernels(net: Network, X):
    r"""The empirical CK and NTK of ``net`` on the rows of ``X`` (n × n backend arrays):
    :func:`spectra.training.empirical_kernels`.

    CK: σ_w² A_L A_Lᵀ / n_L + σ_b², the covariance of the output given the last hidden layer.
    NTK: Θ = Σ_{l=1}^{L+1} (Δ_l Δ_lᵀ) ∘ (σ_w² A_{l−1} A_{l−1}ᵀ / n_{l−1} + σ_b²), with A_0 = X,
    A_l = φ(h^l), Δ_{L+1} = 1 and Δ_l = ∂f/∂h^l: the sum over layers of the weight and bias
    gradients' inner products, so no per-parameter Jacobian is formed.
    """
    return _empirical_kernels(net.params, net.spec, X)


# ---------------------------------------------------------------------------------------
# the width check
# ---------------------------------------------------------------------------------------


@dataclass
class WidthCheck:
    """The result of :func:`width_check`.

    Per width (arrays over ``widths``): ``ck_error``/``ntk_error`` the mean over seeds of the
    relative Frobenius error ‖K_emp − K‖_F/‖K‖_F, ``*_error_std`` their spread over seeds;
    ``ck_slope``/``ntk_slope`` the least-squares slope of log error against log width (expected
    about −1/2). ``clusters``: the spectrum of K_emp/n at the largest width (first seed) matched
    with the theory, with the analytic Gram matrix's cluster means (``analytic_mean``);
    ``eigenvalues`` and ``analytic_eigenvalues`` those spectra (descending)."""

    spec: Architecture
    kernel: str
    domain: str
    dim: int
    samples: int
    widths: list
    seeds: int
    seed: object
    backend: str
    ck_error: np.ndarray
    ck_error_std: np.ndarray
    ntk_error: np.ndarray
    ntk_error_std: np.ndarray
    ck_slope: float
    ntk_slope: float
    eigenvalues: np.ndarray
    analytic_eigenvalues: np.ndarray
    clusters: list
    memory_bytes: int
    seconds: dict = field(default_factory=dict)

    def rows(self) -> list[dict]:
        def num(v):
            v = float(v)
            return v if math.isfinite(v) else None

        return [{"width": int(w), "ck_error": num(a), "ck_error_std": num(b), "ntk_error": num(c),
                 "ntk_error_std": num(d)}
                for w, a, b, c, d in zip(self.widths, self.ck_error, self.ck_error_std, self.ntk_error,
                                         self.ntk_error_std)]

    def to_dict(self) -> dict:
        def num(v):
            return float(v) if v is not None and math.isfinite(v) else None

        return {"check": "width", **self.spec.as_dict(), "kernel": self.kernel, "domain": self.domain,
                "dim": self.dim, "samples": self.samples, "seeds": self.seeds, "seed": self.seed,
                "backend": self.backend, "ck_slope": num(self.ck_slope), "ntk_slope": num(self.ntk_slope),
                "memory_bytes": int(self.memory_bytes), "seconds": self.seconds, "widths": self.rows(),
                "clusters": self.clusters}


def width_memory(widths, samples, depth, dim, backend=None) -> int:
    """Bytes :func:`width_check` allocates at its largest width: the weights (plus a host copy of
    the largest matrix while it is copied), three n × width arrays per layer, and eight n × n
    kernel matrices."""
    w = max(int(x) for x in widths)
    n = int(samples)
    weights = 8 * (max(depth - 1, 0) * w * w + dim * w + 2 * w + depth * w)
    host = 8 * (w * w if depth >= 2 else dim * w)
    return weights + host + 8 * 3 * (depth + 1) * n * w + 8 * 8 * n * n + 8 * n * dim


def _slope(widths, errors):
    with np.errstate(divide="ignore"):  # error 0 (depth 0: the kernel is exact at any width)
        x, y = np.log(np.asarray(widths, dtype=float)), np.log(np.asarray(errors, dtype=float))
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(x[ok], y[ok], 1)[0])


def _rel_fro(be, A, B):
    xp = be.xp
    d = A - B
    return math.sqrt(be.scalar(xp.sum(d * d)) / be.scalar(xp.sum(B * B)))


def parse_widths(widths):
    if isinstance(widths, (int, np.integer)) and not isinstance(widths, bool):
        widths = [int(widths)]
    try:
        ws = [int(w) for w in widths]
    except (TypeError, ValueError):
        raise TypeError(f"widths must be a list of integers >= 1; got {widths!r}") from None
    if not ws or min(ws) < 1 or any(float(a) != float(b) for a, b in zip(ws, widths)):
        raise ValueError(f"widths must be a non-empty list of integers >= 1; got {widths!r}")
    return sorted(set(ws))


def width_check(spec: Architecture, widths=(64, 256, 1024, 4096), samples=256, domain="cube", dim=16, seeds=2,
                seed=0, kernel="ntk", backend=None, max_memory=None, progress=None) -> WidthCheck:
    """Empirical CK and NTK of random networks of each width against the analytic kernels, on
    ``samples`` points of ``domain`` (see :class:`WidthCheck`). Network ``s`` of width ``w`` is
    drawn from ``numpy.random.default_rng([seed, w, s])``; the points from ``default_rng(seed)``.

    Examples
    --------
    >>> from spectra import Architecture
    >>> r = width_check(Architecture("relu", 1, 2, 0.5), widths=[64, 1024], samples=32, dim=6, seeds=2)
    >>> bool(r.ntk_error[1] < r.ntk_error[0])
    True
    """
    _check_spec(spec)
    ws = parse_widths(widths)
    domain = _validate.choice("domain", domain, DOMAINS)
    dim = _validate.integer("dim", dim, lo=2 if domain == "sphere" else 1)
    n = _validate.integer("samples", samples, lo=1)
    seeds = _validate.integer("seeds", seeds, lo=1)
    kernel = _validate.choice("kernel", kernel, KERNELS)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    be = get_backend(backend)
    check_kernel(spec, "ntk", "the width check (it compares the empirical NTK)")
    need = width_memory(ws, n, spec.depth, dim, be)
    check_memory(need, f"width check at width {max(ws)} with {n} samples", be, max_memory,
                 largest=lambda budget: _largest_width_text(budget, n, spec.depth, dim, be))
    step = progress or (lambda k=1: None)
    seconds = {}
    t0 = time.perf_counter()
    from .domains import sample

    X = be.asarray(sample(domain, dim, n, np.random.default_rng(seed)))
    exact = gram_matrix(spec, X, "both", domain, be)
    seconds["analytic"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    errs = {"ck": np.zeros((len(ws), seeds)), "ntk": np.zeros((len(ws), seeds))}
    K_last = None
    for i, w in enumerate(ws):
        for s in range(seeds):
            net = init_network(spec, dim, w, seed=np.random.default_rng([0 if seed is None else int(seed), w, s]),
                               backend=be)
            ck, ntk = empirical_kernels(net, X)
            errs["ck"][i, s] = _rel_fro(be, ck, exact["ck"])
            errs["ntk"][i, s] = _rel_fro(be, ntk, exact["ntk"])
            if i == len(ws) - 1 and s == 0:
                K_last = ntk if kernel == "ntk" else ck
            del net, ck, ntk
            step(1)
    be.synchronize()
    seconds["networks"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    emp = _eigvalsh_desc(be, K_last / n)
    ana = _eigvalsh_desc(be, exact[kernel] / n)
    clusters = theory_clusters(spec, domain, dim, kernel, count=n // 2 + 1)
    recs = match_clusters(emp, clusters, n, extra={"analytic": ana},
                          limit=_match_limit(be.to_numpy(X), domain, emp.size),
                          radial_var=RADIAL_VAR if domain == "gaussian" else 0.0)
    seconds["spectrum"] = time.perf_counter() - t0
    be.free_cache()
    mean = {k: v.mean(axis=1) for k, v in errs.items()}
    std = {k: (v.std(axis=1, ddof=1) if seeds > 1 else np.zeros(len(ws))) for k, v in errs.items()}
    return WidthCheck(spec=spec, kernel=kernel, domain=domain, dim=dim, samples=n, widths=ws, seeds=seeds, seed=seed,
                      backend=be.name, ck_error=mean["ck"], ck_error_std=std["ck"], ntk_error=mean["ntk"],
                      ntk_error_std=std["ntk"], ck_slope=_slope(ws, mean["ck"]), ntk_slope=_slope(ws, mean["ntk"]),
                      eigenvalues=emp, analytic_eigenvalues=ana, clusters=recs, memory_bytes=need, seconds=seconds)


def _largest_width_text(budget, n, depth, dim, be):
    w = largest_fitting(lambda x: width_memory([x], n, depth, dim, be), 1, 2**22, budget)
    if w is None:
        return f"not even width 1 fits with {n} samples"
    return f"the largest width that fits is {w}"


# ---------------------------------------------------------------------------------------
# plots (matplotlib imported here only)
# ---------------------------------------------------------------------------------------


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(5.4, 3.9), layout="constrained")
    return ax


def _arch(spec, kernel):
    d = spec.as_dict()
    return f"{d['activation']} depth {d['depth']} σw²={d['weight_var']} σb²={d['bias_var']} {kernel.upper()}"


def plot_walsh(result: WalshCheck, ax=None):
    """μ_k against k: the theory (line) and the range of the C(D, k) Walsh coefficients of each
    degree (markers), with the maximal relative error on a second axis."""
    ax = _axes(ax)
    k = result.degrees
    pos = result.theory > 0
    ax.semilogy(k[pos], result.theory[pos], "-", color="C0", label="theory μ_k")
    ax.semilogy(k[pos], np.abs(result.empirical_max[pos]), "o", mfc="none", color="C1",
                label=f"Walsh coefficients (2^{result.dim} points)")
    ax.set_xlabel("degree k")
    ax.set_ylabel("eigenvalue")
    ax2 = ax.twinx()
    rel = np.where(np.isfinite(result.max_rel_error) & (result.max_rel_error > 0), result.max_rel_error, np.nan)
    ax2.semilogy(k, rel, "x", color="C3", label="max relative error")
    ax2.set_ylabel("max relative error", color="C3")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="best")
    ax.set_title(f"Walsh check, cube D = {result.dim} ({result.precision})\n{_arch(result.spec, result.kernel)}",
                 fontsize=9)
    return ax


def _spectrum_panel(ax, eigs, clusters, n, extra=None, title=""):
    """Eigenvalues against rank: empirical dots, the theory as steps of width = multiplicity.
    Numerical zeros (below 1e-12 of the largest: repeated points, rank deficiency) are not drawn."""
    eigs = np.asarray(eigs, dtype=float)
    r = np.arange(1, eigs.size + 1)
    floor = 1e-12 * (eigs.max() if eigs.size else 1.0)
    pos = eigs > floor
    ax.loglog(r[pos], eigs[pos], ".", ms=3, color="C1", label=f"empirical (n = {n})")
    for name, other in (extra or {}).items():
        other = np.asarray(other, dtype=float)
        rr = np.arange(1, other.size + 1)
        ax.loglog(rr[other > floor], other[other > floor], ".", ms=2, color="C2", alpha=0.6, label=name)
    start = 1
    xs, ys = [], []
    for c in clusters:
        xs += [start, start + c["multiplicity"]]
        ys += [c["theory"], c["theory"]]
        start += c["multiplicity"]
    if xs:
        ax.loglog(xs, ys, "-", color="C0", lw=1.5, label="theory (× multiplicity)")
    ax.set_xlabel("rank (with multiplicity)")
    ax.set_ylabel("eigenvalue of K/n")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return ax


def plot_gram(result: GramCheck, ax=None):
    """Theory vs empirical eigenvalues of K/n, ranked, theory drawn with its multiplicities."""
    ax = _axes(ax)
    return _spectrum_panel(ax, result.eigenvalues, result.clusters, result.samples,
                           title=f"Gram check, {result.domain} d = {result.dim}, n = {result.samples}\n"
                                 f"{_arch(result.spec, result.kernel)}")


def plot_width(result: WidthCheck, ax=None, spectrum_ax=None):
    """Relative error against width (log-log) with the fitted slopes and a width^(−1/2) guide;
    with ``spectrum_ax``, also the empirical NTK (or CK) Gram spectrum at the largest width
    against the analytic Gram matrix and the theory."""
    ax = _axes(ax)
    w = np.asarray(result.widths, dtype=float)
    for name, err, sd, slope, col in (("CK", result.ck_error, result.ck_error_std, result.ck_slope, "C0"),
                                      ("NTK", result.ntk_error, result.ntk_error_std, result.ntk_slope, "C1")):
        ax.errorbar(w, err, yerr=sd if result.seeds > 1 else None, fmt="o-", color=col, capsize=3,
                    label=f"{name} (slope {slope:.2f})")
    ref = result.ntk_error[0] * (w / w[0]) ** -0.5
    ax.loglog(w, ref, "--", color="gray", label="∝ width^(−1/2)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width")
    ax.set_ylabel("‖K_emp − K‖_F / ‖K‖_F")
    ax.legend(fontsize=8)
    ax.set_title(f"finite width vs analytic, {result.domain} d = {result.dim}, n = {result.samples}\n"
                 f"{_arch(result.spec, result.kernel)}", fontsize=9)
    if spectrum_ax is not None:
        _spectrum_panel(spectrum_ax, result.eigenvalues, result.clusters, result.samples,
                        extra={"analytic Gram": result.analytic_eigenvalues},
                        title=f"{result.kernel.upper()} Gram spectrum at width {max(result.widths)}")
    return ax
