r"""The exact full-cube check: the Walsh–Hadamard transform of a kernel row.

On the cube {±1}^D every CK/NTK is K(x, y) = Φ(⟨x,y⟩/D) = Σ_S μ_{|S|} χ_S(x) χ_S(y)
(CONVENTIONS §2), so the row K(x, 1) = Σ_S μ_{|S|} χ_S(x) has Walsh coefficients

.. math::

    \hat f(S) = 2^{-D} \sum_x Φ(1 − 2|x|/D)\, χ_S(x) = μ_{|S|}

(|x| the number of −1 entries). :func:`walsh_check` evaluates the D + 1 distinct values of the
row with the library, scatters them over all 2^D points by popcount on the array back end,
transforms with the fast Walsh–Hadamard transform (:func:`fwht`: D butterfly stages, in place,
blocked) and compares every one of the 2^D coefficients with μ_{|S|} from
:func:`spectra.cube_eigenvalues` (a Krawtchouk transform of the same D + 1 values: a different
algorithm, O(D²) instead of O(D 2^D)). It reports the largest error per degree and a bound on
what rounding alone explains.

Precision. The coefficients of high degree cancel: μ_k can be 10⁻⁸ Φ(1) already at D = 16, and
a float64 transform has an absolute error of about D·2⁻⁵³·Φ(1) (its bound is
γ_D · 2^{-D} Σ_x |f(x)|, γ_D = Du/(1 − Du)), i.e. a *relative* error up to ~10⁻⁸ there.
``precision="double"`` reports that, with the bound; ``precision="double-double"`` carries
every value as an unevaluated sum hi + lo of two float64 (error-free TwoSum additions: still only
array-API arithmetic, so it runs on a GPU), from kernel values computed to 34 digits, against
the theory at 25 digits: every coefficient then agrees to ~10⁻²⁰ relative, whatever its size.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from . import _validate
from .backend import check_memory, format_bytes, get_backend, largest_fitting
from .spec import KERNELS, Architecture

__all__ = ["WALSH_PRECISIONS", "WalshCheck", "fwht", "fwht_dd", "walsh_check", "walsh_memory", "walsh_steps"]

WALSH_PRECISIONS = ("double", "double-double")
MAX_WALSH_DIM = 40
_U = 2.0**-53
#: Working digits of the double-double path: kernel values and the theory.
_DD_TABLE_DIGITS = 34
_DD_THEORY_DIGITS = 25


def _default_block(be):
    return 2**24 if be.gpu else 2**18


# ---------------------------------------------------------------------------------------
# the transform
# ---------------------------------------------------------------------------------------


def _log2_exact(n, name="length"):
    D = int(n).bit_length() - 1
    if n < 1 or 2**D != n:
        raise ValueError(f"{name} must be a power of 2; got {n}")
    return D


def _local(parts, h_stop, xp, butterfly):
    """Stages h = 1, 2, …, h_stop/2 on contiguous arrays (out of place, small)."""
    n = parts[0].shape[0]
    h = 1
    while h < h_stop:
        views = [xp.reshape(p, (n // (2 * h), 2, h)) for p in parts]
        top = [v[:, 0, :] for v in views]
        bot = [v[:, 1, :] for v in views]
        s, d = butterfly(top, bot)
        parts = [xp.reshape(xp.stack((a, b), axis=1), (n,)) for a, b in zip(s, d)]
        h *= 2
    return parts


def _transform(parts, backend, block, butterfly):
    """The unnormalised Walsh–Hadamard transform of one or more (hi, lo) 1-D arrays of length
    2^D, in place: blocks of ``block`` contiguous values first run all their low stages (h <
    block) on a small copy, then each high stage (h ≥ block) runs block by block."""
    be = get_backend(backend)
    xp = be.xp
    n = parts[0].shape[0]
    _log2_exact(n)
    B = min(n, 1 << max(1, int(block).bit_length() - 1))
    # phase 1: low stages inside contiguous blocks
    for i0 in range(0, n, B):
        loc = _local([p[i0:i0 + B] for p in parts], B, xp, butterfly)
        for p, q in zip(parts, loc):
            p[i0:i0 + B] = q
    # phase 2: high stages, one block at a time
    h = B
    while h < n:
        A = n // (2 * h)
        views = [xp.reshape(p, (A, 2, h)) for p in parts]
        for a in range(A):
            for c0 in range(0, h, B):
                c1 = min(h, c0 + B)
                top = [v[a, 0, c0:c1] for v in views]
                bot = [v[a, 1, c0:c1] for v in views]
                s, d = butterfly(top, bot)
                for v, x, y in zip(views, s, d):
                    v[a, 0, c0:c1] = x
                    v[a, 1, c0:c1] = y
        parts = [xp.reshape(v, (n,)) for v in views]
        h *= 2
    return parts


def _plain(top, bot):
    (a,), (b,) = top, bot
    return [a + b], [a - b]


def fwht(x, backend=None, block=None):
    """The Walsh–Hadamard transform y[S] = Σ_x x[x] (−1)^{popcount(x & S)} (unnormalised) of a
    1-D float64 array whose length is a power of 2, on the array back end (in place where the
    namespace allows item assignment: numpy, cupy, array-api-strict; returns the result).

    Blocked: contiguous blocks of ``block`` values (default 2^18 on the host, 2^24 on a GPU)
    first run all their low stages, then the high stages run block by block, so the only
    memory besides ``x`` is a few blocks.

    Examples
    --------
    >>> import numpy as np
    >>> fwht(np.array([1.0, 0.0, 0.0, 0.0])).tolist()
    [1.0, 1.0, 1.0, 1.0]
    >>> fwht(np.array([1.0, 2.0, 3.0, 4.0])).tolist()
    [10.0, -2.0, -4.0, 0.0]
    """
    be = get_backend(backend)
    x = be.asarray(x) if isinstance(x, (np.ndarray, list, tuple)) else x
    return _transform([x], be, block or _default_block(be), _plain)[0]


def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _fast_two_sum(a, b):
    s = a + b
    return s, b - (s - a)


def _dd_add(ah, al, bh, bl):
    """(ah + al) + (bh + bl) as a normalised double-double (Bailey's accurate addition:
    relative error below 3·2⁻¹⁰⁶; Joldes, Muller & Popescu, ACM TOMS 2017, Alg. 6)."""
    s, e = _two_sum(ah, bh)
    t, f = _two_sum(al, bl)
    e = e + t
    s, e = _fast_two_sum(s, e)
    e = e + f
    return _fast_two_sum(s, e)


def _dd_butterfly(top, bot):
    (ah, al), (bh, bl) = top, bot
    sh, sl = _dd_add(ah, al, bh, bl)
    dh, dl = _dd_add(ah, al, -bh, -bl)
    return [sh, sl], [dh, dl]


def fwht_dd(hi, lo, backend=None, block=None):
    """:func:`fwht` in double-double arithmetic: the values are hi + lo (two float64 arrays),
    every butterfly an error-free TwoSum addition (about 10⁻³² relative per stage). Returns
    (hi, lo) of the transform.

    Examples
    --------
    >>> import numpy as np
    >>> hi, lo = fwht_dd(np.array([1.0, 1e-20]), np.array([0.0, 0.0]))
    >>> float(hi[1]), float(lo[1])  # 1 − 1e-20, which float64 alone rounds to 1
    (1.0, -1e-20)
    """
    be = get_backend(backend)
    if isinstance(hi, (np.ndarray, list, tuple)):
        hi, lo = be.asarray(hi), be.asarray(lo)
    return tuple(_transform([hi, lo], be, block or _default_block(be), _dd_butterfly))


# ---------------------------------------------------------------------------------------
# the check
# ---------------------------------------------------------------------------------------


@dataclass
class WalshCheck:
    """The result of :func:`walsh_check`. Per degree k = 0..dim (arrays of length dim + 1):

    ``theory`` μ_k (float64; hi part at double-double), ``theory_error`` its error bound,
    ``empirical_min``/``empirical_max`` the smallest and largest of the C(dim, k) Walsh
    coefficients of degree k, ``max_abs_error`` max |coefficient − μ_k|, ``max_rel_error`` that
    over |μ_k| (NaN where μ_k = 0), ``bound`` what rounding explains (transform, kernel values
    and theory; ``ok`` is max_abs_error ≤ bound, or max_rel_error ≤ ``rtol``).
    ``memory_bytes`` the planned memory, ``seconds`` the time of each phase.
    """

    spec: Architecture
    kernel: str
    dim: int
    precision: str
    backend: str
    degrees: np.ndarray
    multiplicities: tuple
    theory: np.ndarray
    theory_error: np.ndarray
    empirical_min: np.ndarray
    empirical_max: np.ndarray
    max_abs_error: np.ndarray
    max_rel_error: np.ndarray
    bound: np.ndarray
    ok: np.ndarray
    rtol: float
    memory_bytes: int
    seconds: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(np.all(self.ok))

    def to_records(self) -> list[dict]:
        def num(v):
            v = float(v)
            return v if math.isfinite(v) else None

        return [{"degree": int(k), "multiplicity": int(m), "theory": num(t), "theory_error": num(te),
                 "empirical_min": num(lo), "empirical_max": num(hi), "max_abs_error": num(a),
                 "max_rel_error": num(r), "bound": num(b), "ok": bool(o)}
                for k, m, t, te, lo, hi, a, r, b, o in zip(
                    self.degrees, self.multiplicities, self.theory, self.theory_error, self.empirical_min,
                    self.empirical_max, self.max_abs_error, self.max_rel_error, self.bound, self.ok)]

    def to_dict(self) -> dict:
        return {"check": "walsh", **self.spec.as_dict(), "kernel": self.kernel, "dim": self.dim,
                "points": 2**self.dim, "precision": self.precision, "backend": self.backend, "rtol": self.rtol,
                "memory_bytes": int(self.memory_bytes), "seconds": self.seconds, "passed": self.passed,
                "degrees": self.to_records()}


def walsh_memory(dim, precision="double", backend=None, block=None) -> int:
    """Bytes :func:`walsh_check` allocates on the back end at ``dim``: the 2^dim coefficients
    (two arrays at double-double) and about a dozen (thirty) blocks of temporaries."""
    be = get_backend(backend)
    n = 2**dim
    B = min(n, block or _default_block(be))
    if precision == "double-double":
        return 16 * n + 30 * 8 * B
    return 8 * n + 12 * 8 * B


def _popcount_base(be, c):
    """popcount(i) for i in 0..2^c − 1, as int64 on the back end (by doubling)."""
    xp = be.xp
    pc = be.arange(0, 1)
    for _ in range(c):
        pc = xp.concat((pc, pc + 1))
    return pc


def _table(spec, dim, kernel, precision):
    """Φ(1 − 2j/D), j = 0..D: (hi, lo, abs error) on the host."""
    if precision == "double":
        t = 1.0 - 2.0 * np.arange(dim + 1) / dim
        v, e = _kernel_values(spec, t, kernel, "double")
        return np.asarray(v, dtype=float), np.zeros(dim + 1), np.asarray(e, dtype=float)
    t = [Fraction(dim - 2 * j, dim) for j in range(dim + 1)]
    v, e = _kernel_values(spec, t, kernel, _DD_TABLE_DIGITS)
    hi = np.array([float(x) for x in v])
    lo = np.array([float(x - h) for x, h in zip(v, hi)])
    err = np.array([float(x) for x in e]) + 2.0**-106 * np.abs(hi)
    return hi, lo, err


def _kernel_values(spec, t, kernel, precision):
    from .kernels import kernel as _kernel

    return _kernel(spec, t, kernel, precision=precision, return_error=True)


def _theory(spec, dim, kernel, precision):
    """μ_0..μ_D (hi, lo, error) from :func:`spectra.cube_eigenvalues`."""
    from .cube import cube_eigenvalues

    if precision == "double":
        s = cube_eigenvalues(spec, dim, kernel, max_degree=dim, precision="auto")
        vals = s.as_float()
        err = np.array([float(e) for e in s.errors])
        return vals, np.zeros(dim + 1), err, s.multiplicities
    s = cube_eigenvalues(spec, dim, kernel, max_degree=dim, precision=_DD_THEORY_DIGITS)
    hi = np.array([float(v) for v in s.values])
    lo = np.array([float(v - h) for v, h in zip(s.values, hi)])
    err = np.array([float(e) for e in s.errors]) + 2.0**-106 * np.abs(hi)
    return hi, lo, err, s.multiplicities


def walsh_check(spec: Architecture, dim: int, kernel="ntk", precision="double-double", backend=None, rtol=1e-12,
                max_memory=None, block=None, progress=None) -> WalshCheck:
    """Check the cube eigenvalues μ_0..μ_dim against the Walsh–Hadamard transform of the kernel
    row K(x, 1) over all 2^dim points (see the module docstring).

    Parameters
    ----------
    spec : Architecture
    dim : int
        D in 1..40 (memory decides: 2^D float64 values, twice that at double-double; about
        D = 24 on a laptop, 30 on a GPU with 16 GB).
    kernel : {"ck", "ntk"}
    precision : {"double", "double-double"}
    backend : "numpy", "cupy", "array-api-strict", a Backend or an array namespace
    rtol : float
        A degree passes when max |coefficient − μ_k| ≤ rtol·|μ_k| or ≤ the rounding bound.
    max_memory : int, optional
        Memory budget in bytes (default: what the system reports free).
    block : int, optional
        Block size of the transform and of the scatter/compare passes (values).
    progress : callable, optional
        ``progress(n)`` after each of the ``2 * 2^D / block + 1`` steps.

    Raises
    ------
    MemoryRefusal
        When 2^D values do not fit (the message names the largest D that does).

    Examples
    --------
    >>> from spectra import Architecture
    >>> r = walsh_check(Architecture("relu", 2, 2, 1), 10, "ntk")
    >>> r.passed, float(r.max_rel_error[:4].max()) < 1e-12
    (True, True)
    """
    if not isinstance(spec, Architecture):
        raise TypeError(f"spec must be a spectra.Architecture; got {spec!r}")
    dim = _validate.integer("dim", dim, lo=1, hi=MAX_WALSH_DIM)
    kernel = _validate.choice("kernel", kernel, KERNELS)
    precision = _validate.choice("precision", precision, WALSH_PRECISIONS)
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not rtol >= 0:
        raise ValueError(f"rtol must be a number >= 0; got {rtol!r}")
    be = get_backend(backend)
    xp = be.xp
    if block is not None:
        block = _validate.integer("block", block, lo=2)
    block = block or _default_block(be)
    need = walsh_memory(dim, precision, be, block)
    check_memory(need, f"walsh at dim {dim} ({precision})", be, max_memory,
                 largest=lambda budget: _largest_dim_text(budget, precision, be, block))
    if kernel == "ntk":
        from .kernels import _check_ntk

        _check_ntk(spec.activation, True)
    dd = precision == "double-double"
    step = progress or (lambda n=1: None)
    seconds = {}
    t0 = time.perf_counter()
    f_hi, f_lo, f_err = _table(spec, dim, kernel, precision)
    mu_hi, mu_lo, mu_err, mults = _theory(spec, dim, kernel, precision)
    seconds["theory"] = time.perf_counter() - t0

    n = 2**dim
    c = min(dim, max(1, int(block).bit_length() - 1))
    C = 2**c
    pcb = _popcount_base(be, c)
    # scatter: f[x] = Φ(1 − 2|x|/D), chunk by chunk (chunk q has popcount offset popcount(q))
    t0 = time.perf_counter()
    tab_hi = be.asarray(f_hi)
    tab_lo = be.asarray(f_lo) if dd else None
    x_hi = be.zeros((n,))
    x_lo = be.zeros((n,)) if dd else None
    for q in range(n // C):
        idx = pcb + q.bit_count()
        x_hi[q * C:(q + 1) * C] = xp.take(tab_hi, idx)
        if dd:
            x_lo[q * C:(q + 1) * C] = xp.take(tab_lo, idx)
        step(1)
    be.synchronize()
    seconds["scatter"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if dd:
        x_hi, x_lo = fwht_dd(x_hi, x_lo, be, block)
    else:
        x_hi = fwht(x_hi, be, block)
    be.synchronize()
    seconds["transform"] = time.perf_counter() - t0
    step(1)

    # compare, degree by degree: sort the base chunk by popcount once
    t0 = time.perf_counter()
    base = be.to_numpy(pcb)
    perm_np = np.argsort(base, kind="stable")
    perm = be.asarray(perm_np, dtype="int")
    offsets = np.concatenate(([0], np.cumsum([math.comb(c, j) for j in range(c + 1)])))
    scale = 2.0**-dim  # exact
    th_hi = be.asarray(mu_hi)
    th_lo = be.asarray(mu_lo) if dd else None
    big = np.full(dim + 1, -np.inf)
    small = np.full(dim + 1, np.inf)
    err_max = np.zeros(dim + 1)
    for q in range(n // C):
        s = q.bit_count()
        idx = xp.take(pcb, perm) + s
        w_hi = xp.take(x_hi[q * C:(q + 1) * C], perm) * scale
        diff = w_hi - xp.take(th_hi, idx)  # exact where w ≈ μ (Sterbenz)
        if dd:
            w_lo = xp.take(x_lo[q * C:(q + 1) * C], perm) * scale
            diff = diff + (w_lo - xp.take(th_lo, idx))
        adiff = xp.abs(diff)
        for j in range(c + 1):
            a, b = int(offsets[j]), int(offsets[j + 1])
            k = j + s
            err_max[k] = max(err_max[k], be.scalar(xp.max(adiff[a:b])))
            small[k] = min(small[k], be.scalar(xp.min(w_hi[a:b])))
            big[k] = max(big[k], be.scalar(xp.max(w_hi[a:b])))
        step(1)
    be.synchronize()
    seconds["compare"] = time.perf_counter() - t0
    del x_hi, x_lo
    be.free_cache()

    # what rounding explains: transform (γ_D, or D·4u² at double-double) on 2^-D Σ|f|, the kernel
    # values' own errors (averaged the same way), the theory's error, and the final subtraction
    w = np.array([math.comb(dim, j) for j in range(dim + 1)], dtype=float) * scale
    mean_abs = float(w @ np.abs(f_hi))
    mean_err = float(w @ f_err)
    if dd:
        transform = (dim * 4 + 4) * 2.0**-106 * mean_abs
    else:
        transform = dim * _U / (1 - dim * _U) * mean_abs
    bound = transform + mean_err + mu_err + 2 * _U * np.abs(mu_hi) * (2.0**-53 if dd else 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(mu_hi != 0, err_max / np.abs(mu_hi), np.nan)
    ok = (err_max <= bound) | (rel <= rtol)
    return WalshCheck(spec=spec, kernel=kernel, dim=dim, precision=precision, backend=be.name,
                      degrees=np.arange(dim + 1), multiplicities=tuple(int(m) for m in mults), theory=mu_hi,
                      theory_error=mu_err, empirical_min=small, empirical_max=big, max_abs_error=err_max,
                      max_rel_error=rel, bound=bound, ok=ok, rtol=float(rtol), memory_bytes=need,
                      seconds=seconds)


def walsh_steps(dim, backend=None, block=None) -> int:
    """The number of ``progress`` steps of :func:`walsh_check`."""
    be = get_backend(backend)
    c = min(dim, max(1, int(block or _default_block(be)).bit_length() - 1))
    return 2 * 2 ** (dim - c) + 1


def _largest_dim_text(budget, precision, be, block):
    d = largest_fitting(lambda D: walsh_memory(D, precision, be, block), 1, MAX_WALSH_DIM, budget)
    if d is None:
        return "not even dim 1 fits"
    return f"the largest dim that fits is {d} ({format_bytes(walsh_memory(d, precision, be, block))})"
