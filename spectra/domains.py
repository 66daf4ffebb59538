"""Points drawn from the three input distributions, and kernel Gram matrices on them.

The domains of CONVENTIONS §2:

* ``cube``: uniform on {±1}^d (not {0, 1}^d);
* ``sphere``: uniform on √d·S^{d−1} (so ‖x‖² = d, like the cube);
* ``gaussian``: N(0, I_d).

Every kernel of an MLP is K(x, y) = Φ(⟨x,y⟩/d, ‖x‖²/d, ‖y‖²/d) (:func:`spectra.kernel3`);
on the cube and the sphere the norms are d and K(x, y) = Φ(⟨x,y⟩/d) (:func:`spectra.kernel`).
"""
from __future__ import annotations

import numpy as np

from . import _validate
from .kernels import kernel as _kernel
from .kernels import kernel3 as _kernel3
from .spec import Architecture

DOMAINS = ("cube", "sphere", "gaussian")


def rng_from(seed):
    """A :class:`numpy.random.Generator` from ``seed`` (None, an int or a Generator)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"seed must be None, an integer >= 0 or a numpy Generator; got {seed!r}")
    if seed is not None and seed < 0:
        raise ValueError(f"seed must be None, an integer >= 0 or a numpy Generator; got {seed}")
    return np.random.default_rng(seed)


def sample(domain: str, dim: int, n: int, seed=None) -> np.ndarray:
    """``n`` i.i.d. points of the domain in ℝ^dim, as a float64 array of shape (n, dim).

    Parameters
    ----------
    domain : {"cube", "sphere", "gaussian"}
    dim : int
        d ≥ 1 (d ≥ 2 on the sphere).
    n : int
        Number of points, ≥ 1.
    seed : None, int or numpy.random.Generator

    Examples
    --------
    >>> X = sample("sphere", 5, 3, seed=0)
    >>> bool(np.allclose((X * X).sum(axis=1), 5))
    True
    >>> set(np.unique(sample("cube", 4, 10, seed=1))) == {-1.0, 1.0}
    True
    """
    domain = _validate.choice("domain", domain, DOMAINS)
    dim = _validate.integer("dim", dim, lo=2 if domain == "sphere" else 1)
    n = _validate.integer("n", n, lo=1)
    rng = rng_from(seed)
    if domain == "cube":
        return rng.integers(0, 2, size=(n, dim)).astype(float) * 2.0 - 1.0
    x = rng.standard_normal((n, dim))
    if domain == "sphere":
        x *= np.sqrt(dim) / np.linalg.norm(x, axis=1, keepdims=True)
    return x


def cube_points(dim: int) -> np.ndarray:
    """All 2^dim points of {±1}^dim as float64 rows; row i has x_i[j] = 1 − 2·((i >> j) & 1), so
    row 0 is (1, …, 1), row 2^dim − 1 − i is −x_i, and the Walsh function χ_S takes the value
    (−1)^popcount(i & S) at row i (the ordering of the fast Walsh–Hadamard transform).

    >>> cube_points(2).tolist()
    [[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]]
    """
    dim = _validate.integer("dim", dim, lo=1, hi=30)
    i = np.arange(2**dim)[:, None]
    return 1.0 - 2.0 * ((i >> np.arange(dim)[None, :]) & 1).astype(float)


def cube_gram(spec: Architecture, X, kernel="ntk", Y=None) -> np.ndarray:
    """K(xᵢ, yⱼ) for points of {±1}^d, from Φ at the d + 1 values t = (d − 2j)/d only.

    ⟨x, y⟩ = d − 2·Hamming(x, y) is an exact small integer, so K is Φ evaluated once per
    Hamming distance and indexed: the same matrix as :func:`gram` with ``domain="cube"`` (the
    same t, bit for bit), with d + 1 kernel evaluations instead of n·m.
    """
    X = np.asarray(X, dtype=float)
    Y = X if Y is None else np.asarray(Y, dtype=float)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y must be 2-D arrays with the same number of columns; got shapes {X.shape} "
                         f"and {Y.shape}")
    if not (np.all(np.abs(X) == 1) and np.all(np.abs(Y) == 1)):
        raise ValueError("X and Y must hold points of the cube (entries ±1)")
    d = X.shape[1]
    phi = np.asarray(_kernel(spec, (d - 2.0 * np.arange(d + 1)) / d, kernel), dtype=float)
    j = (d - np.rint(X @ Y.T).astype(np.int64)) // 2  # Hamming distance
    return phi[j]


def gram(spec: Architecture, X, kernel="ntk", Y=None, domain=None) -> np.ndarray:
    """The kernel matrix K(xᵢ, yⱼ) (float64) of the rows of ``X`` and ``Y`` (default ``X``).

    With ``domain`` "cube" or "sphere" (‖x‖² = d for every row) the one-argument Φ(t) is used and
    t = ⟨x, y⟩/d is clipped to [−1, 1] against round-off, with t = 1 exactly on the diagonal of
    K(X, X); otherwise (``domain`` "gaussian" or None) the three-argument form.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (points × dim); got shape {X.shape}")
    same = Y is None
    Y = X if same else np.asarray(Y, dtype=float)
    if Y.ndim != 2 or Y.shape[1] != X.shape[1]:
        raise ValueError(f"Y must be a 2-D array with {X.shape[1]} columns; got shape {Y.shape}")
    d = X.shape[1]
    cov = X @ Y.T / d
    if domain is not None:
        domain = _validate.choice("domain", domain, DOMAINS)
    if domain in ("cube", "sphere"):
        t = np.clip(cov, -1.0, 1.0)
        if same:
            np.fill_diagonal(t, 1.0)
        return np.asarray(_kernel(spec, t, kernel), dtype=float)
    qx = np.einsum("ij,ij->i", X, X) / d
    qy = qx if same else np.einsum("ij,ij->i", Y, Y) / d
    bound = np.sqrt(qx[:, None] * qy[None, :])
    cov = np.clip(cov, -bound, bound)
    if same:
        np.fill_diagonal(cov, qx)
    return np.asarray(_kernel3(spec, cov, qx[:, None], qy[None, :], kernel), dtype=float)
