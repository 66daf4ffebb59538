r"""Simplicity bias of random networks on the boolean cube.

Two views of the same phenomenon (Yang & Salman 2019, "A Fine-Grained Spectral Perspective on
Neural Networks", arXiv:1907.10599, §4; Valle-Pérez, Camargo & Louis 2019, "Deep learning
generalizes because the parameter-function map is biased towards simple functions",
arXiv:1805.08522):

Spectral (:func:`weak_simplicity_bias`)
    On the cube {±1}^d the CK and NTK of an MLP have the monomials χ_S as eigenfunctions, with
    eigenvalue μ_k for |S| = k. The *weak spectral simplicity bias* (CONVENTIONS §3) is

    .. math::

        μ_0 \ge μ_2 \ge μ_4 \ge \cdots \qquad\text{and}\qquad μ_1 \ge μ_3 \ge μ_5 \ge \cdots,

    so that, within each parity, a GP(0, K) sample puts no more variance per monomial into high
    degrees than into low ones, and max_k μ_k = max(μ_0, μ_1).

Sampling (:func:`simplicity_bias_experiment`)
    Draw many random networks (finite width, NTK parameterisation of CONVENTIONS §1), evaluate
    each on *all* 2^d points of the cube, threshold the outputs at 0 and count how often each
    boolean function f : {±1}^d → {±1} appears. Valle-Pérez et al. observe that the probability
    of a function falls off steeply with its rank (a few simple functions, e.g. the constants,
    carry most of the mass); Yang & Salman show that this depends on the hyperparameters and
    that the CK spectrum predicts when: relu (depth 2, σ_w² = σ_b² = 2, d = 7) puts > 80 % of the
    CK variance in degree 0 and concentrates on the constant functions, whereas erf with
    σ_b² = 0 is odd (f(−x) = −f(x), never constant), and erf at depth 32 with σ_w² = 4 has a
    nearly flat odd spectrum ("white noise" on the 2^(2^(d−1)) odd functions) and samples them
    almost uniformly.

Encoding of boolean functions
-----------------------------
The 2^d points are ordered by :func:`cube_points`: point i has coordinates
x_i[j] = 1 − 2·((i >> j) & 1), so x_0 = (1, …, 1) and −x_i = x_{2^d−1−i}. A function is its truth
table b_i = [f(x_i) > 0] (an output of exactly 0 counts as −1), packed with
``np.packbits(..., bitorder="little")`` into ceil(2^d / 8) bytes; as a Python integer
(``int.from_bytes(key, "little")``) bit i is b_i. f is odd iff b_{2^d−1−i} ≠ b_i for all i, even
iff b_{2^d−1−i} = b_i for all i.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from numbers import Integral, Real

import numpy as np

from . import _validate
from .domains import cube_points as _cube_points
from .spec import Architecture

__all__ = [
    "MAX_EXPERIMENT_DIM",
    "SimplicityExperiment",
    "WeakSimplicityCheck",
    "cube_points",
    "decode_function",
    "gp_outputs",
    "network_outputs",
    "simplicity_bias_experiment",
    "weak_simplicity_bias",
]

#: Largest d for which the experiment evaluates all 2^d cube points (2^10 = 1024 points).
MAX_EXPERIMENT_DIM = 10
#: Samples per random stream of the infinite-width sampler (fixed, so that counts do not depend
#: on ``batch_size``).
GP_BLOCK = 1024
#: Default memory budget (bytes) of one batch of networks (weights plus activations).
BATCH_BYTES = 64 * 2**20
#: Relative accuracy (in decimal digits) used to compare ``precision="exact"`` values.
_EXACT_COMPARE_DIGITS = 50


# ---------------------------------------------------------------------------------------
# weak spectral simplicity bias
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeakSimplicityCheck:
    """Outcome of :func:`weak_simplicity_bias`.

    Attributes
    ----------
    holds : bool
        True iff no pair (k, k+2) violates μ_k ≥ μ_{k+2} beyond the error bounds. Undecided
        pairs do not make it False; see ``decided``.
    violations : tuple of dict
        One dict per pair with μ_{k+2} − μ_k > err_k + err_{k+2}, with keys ``"degrees"``
        (k, k+2), ``"values"`` (μ_k, μ_{k+2}) as given by the spectrum, ``"excess"``
        μ_{k+2} − μ_k and ``"tolerance"`` err_k + err_{k+2} (float for double-precision
        spectra, mpmath ``mpf`` otherwise).
    undecided : tuple of dict
        Pairs whose order the error bounds cannot settle: −tolerance < excess ≤ tolerance with
        tolerance > 0, or a value that is unresolved (NaN). Same keys plus ``"reason"``
        (``"within error"`` or ``"unresolved value"``).
    n_pairs : int
        Number of pairs (k, k+2) with both degrees present in the spectrum.
    pairs : tuple of tuple
        The pairs checked, in order.
    """

    holds: bool
    violations: tuple
    undecided: tuple
    n_pairs: int
    pairs: tuple

    @property
    def decided(self) -> bool:
        """True when every pair was settled (no undecided pairs)."""
        return not self.undecided

    def __bool__(self):
        return self.holds


def _is_special_mpf(v):
    import mpmath

    return mpmath.isnan(v) or mpmath.isinf(v)


def _exact(v, what):
    """(Fraction or None if unresolved, extra error as Fraction) for one value or error bound.

    float / mpf values are binary fractions, converted exactly; sympy expressions (precision
    "exact") are evaluated to ``_EXACT_COMPARE_DIGITS`` digits and get a relative error of
    10^−(digits−5) (sympy's ``evalf`` targets the requested relative accuracy)."""
    from mpmath.libmp import to_rational

    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{what} must be a number; got {v!r}")
    if isinstance(v, (Integral, Fraction)):
        return Fraction(v), Fraction(0)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            return None, Fraction(0)
        return Fraction(f), Fraction(0)
    if hasattr(v, "_mpf_") and not hasattr(v, "free_symbols"):  # mpmath mpf (any context)
        if _is_special_mpf(v):
            return None, Fraction(0)
        p, q = to_rational(v._mpf_)
        return Fraction(int(p), int(q)), Fraction(0)
    if hasattr(v, "evalf"):  # sympy
        if getattr(v, "is_Rational", False):
            return Fraction(int(v.p), int(v.q)), Fraction(0)
        if v.is_zero:
            return Fraction(0), Fraction(0)
        f = v.evalf(_EXACT_COMPARE_DIGITS)
        if not getattr(f, "is_Float", False) or not hasattr(f, "_mpf_") or _is_special_mpf(f):
            return None, Fraction(0)
        p, q = to_rational(f._mpf_)
        x = Fraction(int(p), int(q))
        return x, abs(x) * Fraction(1, 10 ** (_EXACT_COMPARE_DIGITS - 5))
    if isinstance(v, Real):
        return _exact(float(v), what)
    raise TypeError(f"{what} must be a number (float, mpmath mpf or sympy); got {v!r} of type {type(v).__name__}")


def _report(x: Fraction, like_mp: bool):
    if not like_mp:
        return float(x)
    import mpmath

    ctx = mpmath.MPContext()
    ctx.prec = 256
    return ctx.mpf(x.numerator) / x.denominator


def weak_simplicity_bias(spectrum, dim=None, kernel=None, max_degree=None, precision="double") -> WeakSimplicityCheck:
    r"""Check the weak spectral simplicity bias μ_k ≥ μ_{k+2} on the cube, within error bounds.

    Yang & Salman (arXiv:1907.10599, §4, "weak spectral simplicity bias"): for the CK of an MLP
    on {±1}^d, μ_0 ≥ μ_2 ≥ μ_4 ≥ … and μ_1 ≥ μ_3 ≥ … (observed for the NTK too). For every pair
    (k, k+2) of degrees in the spectrum, with err the spectrum's absolute error bounds,

    * violation : μ_{k+2} − μ_k > err_k + err_{k+2} (μ_{k+2} > μ_k for certain);
    * holds     : μ_{k+2} − μ_k ≤ −(err_k + err_{k+2}) (includes equal structural zeros, 0 ≤ 0);
    * undecided : otherwise, or when either value is unresolved (NaN at double precision).

    The comparison is exact: float64 and mpmath values are binary fractions and are compared as
    rationals. Exact (sympy) values are evaluated to 50 digits first (relative error 1e−45
    added to their zero error bound).

    Parameters
    ----------
    spectrum : Spectrum or Architecture
        A cube :class:`~spectra.Spectrum` (or any object with ``values``, ``errors`` and
        ``degrees``; ``domain``, if present, must be ``"cube"``). Given an
        :class:`~spectra.Architecture` instead, the spectrum
        ``cube_eigenvalues(spectrum, dim, kernel, max_degree, precision)`` is computed, with
        ``kernel`` default ``"ck"`` and ``max_degree`` default ``dim`` (all degrees).
    dim, kernel, max_degree, precision
        Only with an Architecture.

    Returns
    -------
    WeakSimplicityCheck

    Examples
    --------
    >>> from spectra import Architecture, cube_eigenvalues
    >>> weak_simplicity_bias(cube_eigenvalues(Architecture("relu", 2, 2, 2), 7, "ck", max_degree=7)).holds
    True
    >>> weak_simplicity_bias(Architecture("erf", 32, 4, 0), dim=7, precision=30).n_pairs
    6
    """
    if isinstance(spectrum, Architecture):
        from .cube import cube_eigenvalues

        if dim is None:
            raise TypeError("dim is required when an Architecture is given (the cube {±1}^dim)")
        dim = _validate.integer("dim", dim, lo=1)
        md = dim if max_degree is None else max_degree
        spectrum = cube_eigenvalues(spectrum, dim, "ck" if kernel is None else kernel, max_degree=md,
                                    precision=precision)
    else:
        if dim is not None or kernel is not None or max_degree is not None or precision != "double":
            raise TypeError("dim, kernel, max_degree and precision apply only when an Architecture is given, "
                            "not a computed spectrum")
        for attr in ("values", "errors", "degrees"):
            if not hasattr(spectrum, attr):
                raise TypeError(f"spectrum must be a Spectrum or an Architecture; got {spectrum!r} (no .{attr})")
    domain = getattr(spectrum, "domain", "cube")
    if domain != "cube":
        raise ValueError(f"the weak simplicity bias is a statement about the cube; spectrum.domain must be "
                         f"'cube', got {domain!r}")
    values, errors = list(spectrum.values), list(spectrum.errors)
    degrees = [int(k) for k in spectrum.degrees]
    if not (len(values) == len(errors) == len(degrees)):
        raise ValueError(f"spectrum.values, .errors and .degrees must have the same length; got "
                         f"{len(values)}, {len(errors)}, {len(degrees)}")
    if len(set(degrees)) != len(degrees):
        raise ValueError("spectrum.degrees must be distinct (one value per degree: a cube spectrum)")
    flags = list(getattr(spectrum, "flags", [None] * len(values)))
    like_mp = any(not isinstance(v, (float, np.floating, Integral)) for v in values)
    idx = {k: i for i, k in enumerate(degrees)}
    violations, undecided, pairs = [], [], []
    for k in sorted(degrees):
        if k + 2 not in idx:
            continue
        i, j = idx[k], idx[k + 2]
        pairs.append((k, k + 2))
        a, ea0 = _exact(values[i], "spectrum value")
        b, eb0 = _exact(values[j], "spectrum value")
        ea, _ = _exact(errors[i], "spectrum error")
        eb, _ = _exact(errors[j], "spectrum error")
        rec = {"degrees": (k, k + 2), "values": (values[i], values[j])}
        if a is None or b is None or ea is None or eb is None or flags[i] or flags[j]:
            rec.update(excess=float("nan"), tolerance=float("nan"), reason="unresolved value")
            undecided.append(rec)
            continue
        tol = abs(ea) + abs(eb) + ea0 + eb0
        exc = b - a
        rec.update(excess=_report(exc, like_mp), tolerance=_report(tol, like_mp))
        if exc > tol:
            violations.append(rec)
        elif exc > -tol:
            rec["reason"] = "within error"
            undecided.append(rec)
    return WeakSimplicityCheck(holds=not violations, violations=tuple(violations), undecided=tuple(undecided),
                               n_pairs=len(pairs), pairs=tuple(pairs))


# ---------------------------------------------------------------------------------------
# the cube, and boolean functions on it
# ---------------------------------------------------------------------------------------


def _check_dim(dim):
    if isinstance(dim, bool) or not isinstance(dim, Integral):
        raise TypeError(f"dim must be an integer in 1..{MAX_EXPERIMENT_DIM}; got {dim!r}")
    if not 1 <= dim <= MAX_EXPERIMENT_DIM:
        raise ValueError(f"dim must be an integer in 1..{MAX_EXPERIMENT_DIM} (every one of the 2^dim cube points "
                         f"is evaluated and each function is a 2^dim-bit truth table); got {dim}")
    return int(dim)


def cube_points(dim: int) -> np.ndarray:
    """All 2^dim points of {±1}^dim as a float64 array (2^dim, dim); row i has
    x_i[j] = 1 − 2·((i >> j) & 1), so row 0 is (1, …, 1) and row 2^dim − 1 − i is −x_i
    (:func:`spectra.domains.cube_points`, here for dim ≤ 10).

    >>> cube_points(2)
    array([[ 1.,  1.],
           [-1.,  1.],
           [ 1., -1.],
           [-1., -1.]])
    """
    return _cube_points(_check_dim(dim))


def decode_function(key, dim: int) -> np.ndarray:
    """The truth table (int8 array of ±1, length 2^dim, in :func:`cube_points` order) of a
    packed key (uint8 array / bytes from :class:`SimplicityExperiment`) or of its integer form.

    >>> decode_function(0b0110, 2)
    array([-1,  1,  1, -1], dtype=int8)
    """
    dim = _check_dim(dim)
    P = 2**dim
    if isinstance(key, (Integral,)) and not isinstance(key, bool):
        if not 0 <= int(key) < 2**P:
            raise ValueError(f"key must be an integer in 0..2^{P} - 1 for dim = {dim}; got {key}")
        key = int(key).to_bytes((P + 7) // 8, "little")
    arr = np.frombuffer(bytes(key), dtype=np.uint8) if isinstance(key, (bytes, bytearray)) else np.asarray(key)
    if arr.dtype != np.uint8 or arr.shape != ((P + 7) // 8,):
        raise ValueError(f"key must be {(P + 7) // 8} packed bytes (uint8) for dim = {dim}; got {arr.dtype} {arr.shape}")
    bits = np.unpackbits(arr, bitorder="little")[:P]
    return (2 * bits.astype(np.int8) - 1).astype(np.int8)


# ---------------------------------------------------------------------------------------
# samplers
# ---------------------------------------------------------------------------------------


def _seed_sequence(seed):
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral)):
        raise TypeError(f"seed must be None or an integer >= 0; got {seed!r}")
    if seed is not None and seed < 0:
        raise ValueError(f"seed must be None or an integer >= 0; got {seed}")
    return np.random.SeedSequence(None if seed is None else int(seed))


def _child(ss: np.random.SeedSequence, i: int) -> np.random.SeedSequence:
    """The i-th child of ``ss``, equal to ``ss.spawn(n)[i]`` on a fresh ``ss`` for every n > i."""
    return np.random.SeedSequence(ss.entropy, spawn_key=tuple(ss.spawn_key) + (i,), pool_size=ss.pool_size)


def _check_spec(spec):
    if not isinstance(spec, Architecture):
        raise TypeError(f"spec must be an Architecture; got {spec!r}")
    if spec.activation.fn is None:
        raise ValueError(f"activation {spec.activation.name!r} has no numpy function (Activation.fn); a finite "
                         f"network cannot be simulated")
    return spec


def _dtype(dtype):
    name = _validate.choice("dtype", str(np.dtype(dtype)) if not isinstance(dtype, str) else dtype,
                            ("float64", "float32"))
    return np.dtype(name)


def _layer_shapes(dim, width, depth):
    """(fan_out, fan_in) of layers 1..depth+1."""
    fan_in = [dim] + [width] * depth
    fan_out = [width] * depth + [1]
    return list(zip(fan_out, fan_in))


def _auto_batch(P, width, depth, itemsize):
    per_net = itemsize * ((width * (width + 1) if depth >= 1 else 0) + 3 * (width + 1) * P + P)
    return int(max(1, min(4096, BATCH_BYTES // max(per_net, 1))))


def _network_chunk(spec, X1, width, start, count, ss, dtype):
    """Outputs (count, P) of networks start..start+count−1 (one BLAS thread's share)."""
    phi = spec.activation.fn
    sw = math.sqrt(float(spec.weight_var))
    sb = math.sqrt(float(spec.bias_var))
    P = X1.shape[1]
    shapes = _layer_shapes(X1.shape[0] - 1, width, spec.depth)
    gens = [np.random.default_rng(_child(ss, start + b)) for b in range(count)]
    A = None
    for layer, (fo, fi) in enumerate(shapes):
        Wb = np.empty((count, fo, fi + 1), dtype=dtype)
        for b, g in enumerate(gens):
            g.standard_normal(out=Wb[b], dtype=dtype)  # [W | b] of this layer, row-major
        if layer == 0:
            A = Wb @ X1  # (count, fo, P)
        else:
            Aaug = np.empty((count, fi + 1, P), dtype=dtype)
            np.multiply(phi(A), sw / math.sqrt(fi), out=Aaug[:, :fi], casting="unsafe")
            Aaug[:, fi] = sb
            A = Wb @ Aaug
    return A[:, 0, :]


def _network_batches(spec, X, width, n, ss, batch_size, dtype, threads=1):
    """Yield (start, outputs[b, P]) over networks start.. in batches (see :func:`network_outputs`).

    Each batch is split over ``threads`` worker threads; BLAS is limited to one thread meanwhile
    (the per-network products are small: parallelism across networks is what pays, and BLAS
    threads on top of it oversubscribe the cores)."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    sw = math.sqrt(float(spec.weight_var))
    sb = math.sqrt(float(spec.bias_var))
    P, d = X.shape
    # layer 1 input with the bias row: [σ_w x/√d ; σ_b], shape (d + 1, P)
    X1 = np.vstack([sw / math.sqrt(d) * X.T, np.full((1, P), sb)]).astype(dtype)
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(max_workers=threads) as pool:
        for start in range(0, n, batch_size):
            B = min(batch_size, n - start)
            cuts = np.linspace(0, B, min(threads, B) + 1).astype(int)
            parts = pool.map(lambda ab, s0=start: _network_chunk(spec, X1, width, s0 + ab[0], ab[1] - ab[0], ss, dtype),
                             [(int(a), int(b)) for a, b in itertools.pairwise(cuts)])
            yield start, np.concatenate(list(parts), axis=0)


def network_outputs(spec: Architecture, dim: int, width: int, n_networks: int, seed=None, batch_size=None,
                    dtype="float64", X=None, threads=1) -> np.ndarray:
    r"""Outputs of ``n_networks`` independent random finite-width networks on every cube point.

    The network of CONVENTIONS §1 (NTK parameterisation, all W, b entries i.i.d. N(0, 1)):

    .. math::

        h^1 = σ_w W^1 x/\sqrt d + σ_b b^1,\quad h^{l+1} = σ_w W^{l+1} φ(h^l)/\sqrt n + σ_b b^{l+1},
        \quad f = h^{L+1} ∈ ℝ,

    with n = ``width`` hidden units per layer. Vectorised over a batch axis (``matmul`` of
    (batch, n, n+1) weight stacks), memory-bounded by ``batch_size``.

    Reproducibility: network i draws from its own generator
    ``np.random.default_rng(np.random.SeedSequence(seed).spawn(i + 1)[i])``, layer by layer
    l = 1..L+1, one ``standard_normal((fan_out, fan_in + 1), dtype)`` array [W^l | b^l] each
    (row j: the weights of unit j, then its bias). The outputs therefore do not depend on
    ``batch_size``, and the first m networks of a run with n ≥ m are those of a run with m.

    Parameters
    ----------
    spec : Architecture
    dim : int
        1 ≤ d ≤ 10.
    width : int
        Hidden-layer width n ≥ 1 (ignored at depth 0, the linear model).
    n_networks : int
    seed : None or int ≥ 0
    batch_size : int, optional
        Networks per batch (default: about 64 MiB of weights and activations).
    dtype : {"float64", "float32"}
        Arithmetic and normal draws (float32 uses numpy's float32 normal sampler, a different
        stream).
    X : array (m, dim), optional
        Evaluate on these points instead of all of :func:`cube_points`.
    threads : int
        Worker threads, each running its share of a batch with one BLAS thread (default 1).
        Does not change the outputs.

    Returns
    -------
    ndarray (n_networks, 2^dim) (or (n_networks, m)) of float64
    """
    _check_spec(spec)
    dim = _check_dim(dim)
    width = _validate.integer("width", width, lo=1)
    n_networks = _validate.integer("n_networks", n_networks, lo=1)
    dt = _dtype(dtype)
    X = cube_points(dim) if X is None else np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != dim:
        raise ValueError(f"X must have shape (m, {dim}); got {X.shape}")
    bs = (_auto_batch(X.shape[0], width, spec.depth, dt.itemsize) if batch_size is None
          else _validate.integer("batch_size", batch_size, lo=1))
    out = np.empty((n_networks, X.shape[0]))
    threads = _validate.integer("threads", threads, lo=1)
    for start, f in _network_batches(spec, X, width, n_networks, _seed_sequence(seed), bs, dt, threads):
        out[start:start + f.shape[0]] = f
    return out


def _gp_factor(spec, dim):
    """L with L Lᵀ ≈ K (the analytic CK Gram on all cube points)."""
    from .domains import gram

    K = gram(spec, cube_points(dim), "ck", domain="cube")
    lam, U = np.linalg.eigh(K)
    # Sampling device only (not an eigenvalue result): the Gram is PSD in exact arithmetic, and
    # eigh returns round-off-sized negative eigenvalues (|λ| ~ 1e-16 λ_max) in its null space,
    # e.g. the even subspace of an odd kernel. max(λ, 0) keeps the square root real; it changes
    # the samples by O(√(1e-16 λ_max)).
    return U * np.sqrt(np.maximum(lam, 0.0))[None, :]


def _gp_batches(spec, dim, n, ss):
    L = _gp_factor(spec, dim)
    P = L.shape[0]
    for blk, start in enumerate(range(0, n, GP_BLOCK)):
        B = min(GP_BLOCK, n - start)
        Z = np.random.default_rng(_child(ss, blk)).standard_normal((B, P))
        yield start, Z @ L.T


def gp_outputs(spec: Architecture, dim: int, n_samples: int, seed=None) -> np.ndarray:
    """``n_samples`` draws of f ~ GP(0, CK) on all 2^dim cube points (the infinite-width limit of
    :func:`network_outputs`), as f = U diag(√max(λ, 0)) z with K = U diag(λ) Uᵀ the analytic CK
    Gram (:func:`spectra.domains.gram`) and z ~ N(0, I).

    Samples [b·1024, (b+1)·1024) use the generator of ``SeedSequence(seed).spawn(b + 1)[b]``."""
    if not isinstance(spec, Architecture):
        raise TypeError(f"spec must be an Architecture; got {spec!r}")
    dim = _check_dim(dim)
    n_samples = _validate.integer("n_samples", n_samples, lo=1)
    out = np.empty((n_samples, 2**dim))
    for start, f in _gp_batches(spec, dim, n_samples, _seed_sequence(seed)):
        out[start:start + f.shape[0]] = f
    return out


# ---------------------------------------------------------------------------------------
# the experiment
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimplicityExperiment:
    """Result of :func:`simplicity_bias_experiment`: the distribution of boolean functions.

    Attributes
    ----------
    spec : Architecture
    dim : int
    width : int or float
        Hidden width; ``math.inf`` for the GP (infinite-width) sampler.
    n_samples : int
        N.
    seed : int
        The root entropy (``SeedSequence(seed).entropy``; the drawn one when ``seed=None``), so
        that ``simplicity_bias_experiment(..., seed=result.seed)`` reproduces the result.
    dtype : str
    functions : ndarray (n_distinct, ceil(2^d/8)) of uint8
        Packed truth tables (module docstring), in order of decreasing count (ties: increasing
        key bytes).
    counts : ndarray (n_distinct,) of int64
        Number of samples giving each function, descending; ``counts.sum() == n_samples``.
    n_distinct : int
    p_constant : float
        Fraction of samples that are a constant function (all +1 or all −1).
    frac_odd, frac_even : float
        Fractions of samples with f(−x) = −f(x), resp. f(−x) = f(x), at every point.
    entropy_bits : float
        Plug-in (maximum-likelihood) entropy −Σ p̂ log₂ p̂ of the empirical distribution, in
        bits; a downward-biased estimate, at most log₂ N.
    entropy_mm_bits : float
        Miller–Madow corrected entropy, entropy_bits + (n_distinct − 1)/(2N ln 2).
    collision_probability : float
        Unbiased estimate Σ c(c−1) / (N(N−1)) of Σ_f P(f)² (0 when no function repeats; for the
        uniform law on the 2^(2^(d−1)) odd functions it is 2^(−2^(d−1))).
    spectrum : Spectrum
        ``cube_eigenvalues(spec, dim, "ck", max_degree=dim)`` (double precision), to put the
        probability-vs-rank data next to the CK spectrum.
    elapsed_s : float
        Wall time of the sampling.
    """

    spec: Architecture
    dim: int
    width: object
    n_samples: int
    seed: int
    dtype: str
    functions: np.ndarray = field(repr=False)
    counts: np.ndarray = field(repr=False)
    n_distinct: int
    p_constant: float
    frac_odd: float
    frac_even: float
    entropy_bits: float
    entropy_mm_bits: float
    collision_probability: float
    spectrum: object = field(repr=False)
    elapsed_s: float = 0.0

    @property
    def probabilities(self) -> np.ndarray:
        """Empirical probabilities counts / N, descending (probability vs rank 1, 2, …)."""
        return self.counts / self.n_samples

    @property
    def keys(self) -> list:
        """The functions as Python integers (bit i = [f(x_i) = +1])."""
        return [int.from_bytes(row.tobytes(), "little") for row in self.functions]

    def bitstring(self, i: int) -> str:
        """The i-th function's truth table as a string of 2^d characters '0'/'1' (point 0 first)."""
        return "".join("1" if v > 0 else "0" for v in self.truth_table(i))

    def truth_table(self, i: int) -> np.ndarray:
        """The i-th function (rank i + 1) as ±1 values on :func:`cube_points`."""
        return decode_function(self.functions[i], self.dim)

    def truth_tables(self) -> np.ndarray:
        """All distinct functions as an int8 array (n_distinct, 2^d) of ±1, in rank order."""
        bits = np.unpackbits(self.functions, axis=1, bitorder="little")[:, :2**self.dim]
        return (2 * bits.astype(np.int8) - 1).astype(np.int8)

    def sign_correlation(self) -> np.ndarray:
        """Empirical E[f(x_i) f(x_j)] over the N samples, a (2^d, 2^d) matrix.

        For f uniform on the odd functions it is +1 on the diagonal, −1 at j = 2^d − 1 − i and
        0 elsewhere, up to sampling noise of mean absolute size ≈ √(2/(πN)); for f = sign of a
        GP(0, K) sample its expectation is (2/π) arcsin(K(x, y)/K(x, x)) (Sheppard)."""
        T = self.truth_tables().astype(float)
        return (T * self.counts[:, None]).T @ T / self.n_samples


def _summaries(packed, counts, n, P):
    """(p_constant, frac_odd, frac_even) from the distinct functions and their counts."""
    bits = np.unpackbits(packed, axis=1, bitorder="little")[:, :P].astype(bool)
    rev = bits[:, ::-1]
    const = bits.all(axis=1) | ~bits.any(axis=1)
    odd = (bits != rev).all(axis=1)
    even = (bits == rev).all(axis=1)
    return tuple(float(counts[m].sum()) / n for m in (const, odd, even))


def simplicity_bias_experiment(spec: Architecture, dim: int, n_samples: int, width, seed=None, batch_size=None,
                               dtype="float64", threads=1, progress: Callable | None = None) -> SimplicityExperiment:
    r"""Sample random networks, threshold them to boolean functions on {±1}^d and count them.

    The experiment of Valle-Pérez, Camargo & Louis (2019) as analysed spectrally by Yang &
    Salman (arXiv:1907.10599, §4, Fig. 1): N networks with i.i.d. N(0, 1) parameters in NTK
    parameterisation (:func:`network_outputs`; or N draws of GP(0, CK) for ``width=math.inf``,
    :func:`gp_outputs`) are evaluated on all 2^d points; f(x) = sign(output) (0 ↦ −1) is packed
    into a 2^d-bit key and the keys are counted with ``np.unique``. The result lists the
    functions by decreasing probability with summaries (probability of the constants, fraction
    of odd / even functions, entropy) and the CK spectrum of the same architecture. The
    fraction of CK variance in degree 0 (``spectrum.fractional_variance[0]``) goes with the
    mass on the constant functions in direction, not in value: relu (d = 7, depth 2,
    σ_w² = σ_b² = 2) has FV₀ ≈ 0.84 and P(constant) ≈ 0.33 (a sign flip needs only a small
    non-constant part where the constant part is small), while FV₀ = 0 (odd networks) gives no
    constant function at all.

    Parameters
    ----------
    spec : Architecture
    dim : int
        1 ≤ d ≤ 10 (refused above: the truth tables have 2^d bits).
    n_samples : int
        N ≥ 1.
    width : int or math.inf
        Hidden width n ≥ 1, or ``math.inf`` (or the string ``"inf"``) for the infinite-width
        GP(0, CK) limit.
    seed : None or int ≥ 0
        Identical seeds give identical counts, for any ``batch_size`` (each network, resp. each
        block of 1024 GP samples, has its own child ``SeedSequence``); ``None`` draws fresh
        entropy, recorded in the result's ``seed``.
    batch_size : int, optional
        Networks per vectorised batch (memory ~ batch × width² × 8 bytes; default ~64 MiB).
    dtype : {"float64", "float32"}
        Arithmetic of the network sampler (float32 is faster; another random stream).
    threads : int
        Worker threads of the network sampler (one BLAS thread each); does not change the
        counts.
    progress : callable, optional
        Called as ``progress(done, n_samples)`` after each batch.

    Returns
    -------
    SimplicityExperiment

    Examples
    --------
    >>> from spectra import Architecture
    >>> r = simplicity_bias_experiment(Architecture("erf", 2, 2, 0), 3, 200, width=32, seed=1)
    >>> r.frac_odd, r.p_constant, int(r.counts.sum())
    (1.0, 0.0, 200)
    """
    import time

    from .cube import cube_eigenvalues

    _check_spec(spec)
    dim = _check_dim(dim)
    n_samples = _validate.integer("n_samples", n_samples, lo=1)
    if isinstance(width, str) and width.strip().lower() in ("inf", "infinity"):
        width = math.inf
    infinite = isinstance(width, float) and width == math.inf
    if not infinite:
        if isinstance(width, float):
            raise TypeError(f"width must be an integer >= 1 or math.inf (the GP limit); got {width!r}")
        width = _validate.integer("width", width, lo=1)
    dt = _dtype(dtype)
    if batch_size is not None:
        batch_size = _validate.integer("batch_size", batch_size, lo=1)
    threads = _validate.integer("threads", threads, lo=1)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable or None; got {progress!r}")
    ss = _seed_sequence(seed)
    P = 2**dim
    t0 = time.perf_counter()
    if infinite:
        batches = _gp_batches(spec, dim, n_samples, ss)
    else:
        bs = batch_size or _auto_batch(P, width, spec.depth, dt.itemsize)
        batches = _network_batches(spec, cube_points(dim), width, n_samples, ss, bs, dt, threads)
    nbytes = (P + 7) // 8
    packed = np.empty((n_samples, nbytes), dtype=np.uint8)
    for start, f in batches:
        m = f.shape[0]
        packed[start:start + m] = np.packbits(f > 0, axis=1, bitorder="little")
        if progress is not None:
            progress(start + m, n_samples)
    uniq, counts = np.unique(packed, axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    uniq, counts = np.ascontiguousarray(uniq[order]), counts[order].astype(np.int64)
    elapsed = time.perf_counter() - t0
    p_const, f_odd, f_even = _summaries(uniq, counts, n_samples, P)
    p = counts / n_samples
    H = float(-(p * np.log2(p)).sum())
    coll = float((counts * (counts - 1)).sum()) / (n_samples * (n_samples - 1)) if n_samples > 1 else float("nan")
    spectrum = cube_eigenvalues(spec, dim, "ck", max_degree=dim)
    return SimplicityExperiment(
        spec=spec, dim=dim, width=width, n_samples=n_samples, seed=int(ss.entropy), dtype=dt.name,
        functions=uniq, counts=counts, n_distinct=len(counts), p_constant=p_const, frac_odd=f_odd,
        frac_even=f_even, entropy_bits=H, entropy_mm_bits=H + (len(counts) - 1) / (2 * n_samples * math.log(2)),
        collision_probability=coll, spectrum=spectrum, elapsed_s=elapsed)
