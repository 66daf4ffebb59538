r"""Spectral bias in time: the residual of each degree during training, predicted and measured,
and the Gram λ_min bound on the convergence of the training loss.

Setting (CONVENTIONS §1–3). Full-batch gradient descent θ ← θ − η∇L on
L = (1/2n) Σᵢ (f(xᵢ) − yᵢ)² with the NTK Θ. In the kernel regime (Jacot et al. 2018; Lee et al.
2019, "Wide neural networks of any depth evolve as linear models under gradient descent") the
training residual u_t = f_t(X) − y obeys

.. math::

    u_{t+1} = (I - \eta\,\Theta_{\rm train}/n)\,u_t ,

and the function everywhere is the kernel predictor

.. math::

    f_t(x) = f_0(x) + \Theta(x, X)\,\Theta_{\rm train}^{-1}\big(I - (I - \eta\Theta_{\rm train}/n)^t\big)
             \big(y - f_0(X)\big).

* **Operator (infinite-data) prediction.** As n → ∞, Θ_train/n → the integral operator, whose
  eigenfunctions on the cube are the monomials χ_S with eigenvalue μ_{|S|}; the residual's
  component of degree k decays as (1 − ημ_k)^t (gradient descent) or exp(−ημ_k t) (gradient flow)
  over the whole input distribution (Bowman & Montúfar 2022, "Spectral bias outside the training
  set for deep networks in the kernel regime", NeurIPS). Its energy (squared L²(cube) norm of the
  degree-k part) is E_k(t) = E_k(0)(1 − ημ_k)^{2t}.
* **Finite-n prediction.** With Θ_train/n = V diag(λ) Vᵀ and a = Vᵀ u_0 the residual on all 2^d
  points of the cube is r_t = r_0 − Θ(·, X) V diag((1 − (1−ηλ)^t)/(nλ)) a; its energy per degree is
  read off with the fast Walsh–Hadamard transform.
* **Measurement.** A finite-width MLP (:mod:`spectra.training`; numpy or cupy, float32 by default) trained on n distinct
  points of {±1}^d; its residual r_t = f_t − y on all 2^d points at logarithmically spaced steps,
  projected per degree with :func:`spectra.walsh.fwht`.

The random initial output f_0 is **part of the residual**: r_t = f_t − y with the network's own
f_0 (a sample of the CK's Gaussian process). The predictions take the same measured f_0
(``init_output``), so they are compared per seed; with ``init_output=None`` they predict the
"centred" model f − f_0 (residual −y at t = 0).

Cube indexing. Point i ∈ [0, 2^d) is x with x_j = 1 − 2·bit_j(i) (bit j of i, j = 0 the least
significant), so χ_S(x_i) = (−1)^{popcount(i & S)} and the Walsh coefficients are
f̂(S) = 2^{−d} (fwht f)[S]; the degree of S is popcount(S). The energy of degree k is
E_k = Σ_{|S|=k} f̂(S)², and Σ_k E_k = 2^{−d} Σ_x f(x)² (Parseval).

λ_min. Since ‖(I − ηΘ_train/n)^t u‖ ≤ ρ^t‖u‖ with ρ = max(|1 − ηλ_min|, |1 − ηλ_max|) of
Θ_train/n, the training loss obeys L_t ≤ ρ^{2t} L_0 (= (1 − ηλ_min)^{2t} L_0 when
η ≤ 2/(λ_min + λ_max)), and L_t ≤ exp(−2ηλ_min t) L_0 under gradient flow (Du et al. 2019,
"Gradient descent provably optimizes over-parameterized neural networks"; Arora et al. 2019).
On the cube with all 2^d points, Θ_train/2^d is a convolution on the group {±1}^d whose
eigenvalues are exactly μ_k with multiplicity C(d, k), so λ_min = min_k μ_k.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _validate
from .domains import DOMAINS, cube_gram, gram, rng_from
from .domains import cube_points as _cube_points
from .spec import Architecture

__all__ = [
    "MAX_DYNAMICS_DIM",
    "DynamicsComparison",
    "DynamicsMeasurement",
    "DynamicsPrediction",
    "LambdaMin",
    "compare_dynamics",
    "cube_points",
    "degree_energy",
    "degree_of_index",
    "dynamics_memory",
    "lambda_min",
    "loss_bound",
    "make_target",
    "measure_dynamics",
    "parse_target",
    "plot_dynamics",
    "predict_dynamics",
    "record_steps",
]

#: Largest d for the full-cube test set (2^d points).
MAX_DYNAMICS_DIM = 14


def _json(v):
    if isinstance(v, np.ndarray):
        return _json(v.tolist())
    if isinstance(v, (list, tuple)):
        return [_json(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json(x) for k, x in v.items()}
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


class _AsDict:
    def as_dict(self) -> dict:
        out = {}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            if isinstance(v, Architecture):
                v = v.as_dict()
            out[k] = _json(v)
        return out


# ---------------------------------------------------------------------------------------
# the cube, targets, Walsh projection
# ---------------------------------------------------------------------------------------


def _dim(dim):
    return _validate.integer("dim", dim, lo=1, hi=MAX_DYNAMICS_DIM)


def cube_points(dim: int) -> np.ndarray:
    """All 2^d points of {±1}^d as rows, point i having x_j = 1 − 2·bit_j(i)
    (:func:`spectra.domains.cube_points`, here for d ≤ 14).

    Examples
    --------
    >>> cube_points(2).tolist()
    [[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]]
    """
    return _cube_points(_dim(dim))


def degree_of_index(dim: int) -> np.ndarray:
    """popcount(S) for S = 0..2^d − 1: the degree of the Walsh function χ_S."""
    dim = _dim(dim)
    i = np.arange(2**dim)
    return ((i[:, None] >> np.arange(dim)[None, :]) & 1).sum(axis=1)


def degree_energy(values, dim: int, backend=None) -> np.ndarray:
    r"""Energy per degree E_k = Σ_{|S|=k} f̂(S)² of functions on the whole cube.

    Parameters
    ----------
    values : array_like, shape (2^d,) or (m, 2^d)
        f(x_i) in the ordering of :func:`cube_points`.
    dim : int
    backend : optional
        Array back end of :func:`spectra.walsh.fwht` ("numpy", "cupy").

    Returns
    -------
    ndarray, shape (d + 1,) or (m, d + 1)
        E_0 … E_d; Σ_k E_k = mean of f².

    Examples
    --------
    >>> X = cube_points(3)
    >>> degree_energy(2.0 * X[:, 0] * X[:, 1], 3).tolist()
    [0.0, 0.0, 4.0, 0.0]
    """
    from .walsh import fwht

    dim = _dim(dim)
    v = np.asarray(values, dtype=float)
    single = v.ndim == 1
    v = np.atleast_2d(v)
    if v.ndim != 2 or v.shape[1] != 2**dim:
        raise ValueError(f"values must have shape (2^dim,) = ({2**dim},) or (m, {2**dim}); got {np.shape(values)}")
    deg = degree_of_index(dim)
    out = np.empty((v.shape[0], dim + 1))
    for r, row in enumerate(v):
        c = np.asarray(fwht(row.copy(), backend=backend)) / 2**dim
        if not isinstance(c, np.ndarray):  # cupy
            c = c.get()
        out[r] = np.bincount(deg, weights=c * c, minlength=dim + 1)
    return out[0] if single else out


def parse_target(text: str) -> dict:
    """``"1:1.0,3:0.5"`` → {1: 1.0, 3: 0.5} (degree: weight). Checked by :func:`make_target`."""
    out = {}
    usage = f"target must be a comma-separated list degree:weight, e.g. 1:1.0,3:0.5; got {text!r}"
    for part in str(text).split(","):
        if ":" not in part:
            raise ValueError(usage)
        k, w = part.split(":", 1)
        try:
            k, w = int(k.strip(), 10), float(w.strip())
        except ValueError:
            raise ValueError(usage) from None
        if k in out:
            raise ValueError(f"target: degree {k} appears twice in {text!r}")
        out[k] = w
    return out


def _target_dict(target, dim):
    if isinstance(target, str):
        target = parse_target(target)
    if not isinstance(target, dict) or not target:
        raise TypeError(f"target must be a non-empty dict {{degree: weight}}, a string '1:1.0,3:0.5', an array of "
                        f"2^dim values or a callable; got {target!r}")
    out = {}
    for k, w in target.items():
        k = _validate.integer("target degree", k, lo=0, hi=dim)
        try:
            w = float(w)
        except (TypeError, ValueError):
            raise TypeError(f"target weight of degree {k} must be a finite number >= 0; got {w!r}") from None
        if not (math.isfinite(w) and w >= 0):
            raise ValueError(f"target weight of degree {k} must be a finite number >= 0; got {w!r}")
        out[k] = w
    return out


def make_target(target, dim: int, seed=None) -> np.ndarray:
    r"""Values of a target function on all 2^d points (ordering of :func:`cube_points`).

    Parameters
    ----------
    target : dict, str, array_like or callable
        * {degree k: weight w_k} (or ``"1:1.0,3:0.5"``): f = Σ_k w_k g_k with g_k a random
          function of pure degree k and unit variance: g_k = Σ_{|S|=k} c_S χ_S, c ~ N(0, I)
          rescaled so that Σ c_S² = 1 exactly (so E_k(f) = w_k²);
        * an array of 2^d values;
        * a callable mapping the (2^d, d) array of points to 2^d values.
    dim : int
        d in 1..14.
    seed : None, int or Generator
        For the random coefficients.

    Returns
    -------
    ndarray, shape (2^d,)
    """
    from .walsh import fwht

    dim = _dim(dim)
    N = 2**dim
    if callable(target):
        v = np.asarray(target(cube_points(dim)), dtype=float)
        if v.shape != (N,) or not np.all(np.isfinite(v)):
            raise ValueError(f"target(X) must return {N} finite values; got shape {v.shape}")
        return v
    if isinstance(target, (np.ndarray, list, tuple)):
        v = np.asarray(target, dtype=float)
        if v.shape != (N,) or not np.all(np.isfinite(v)):
            raise ValueError(f"a target array must hold 2^dim = {N} finite values; got shape {v.shape}")
        return v.copy()
    weights = _target_dict(target, dim)
    rng = rng_from(seed)
    deg = degree_of_index(dim)
    coef = np.zeros(N)
    for k in sorted(weights):
        idx = np.flatnonzero(deg == k)
        c = rng.standard_normal(idx.size)
        coef[idx] = weights[k] * c / np.linalg.norm(c)
    return np.asarray(fwht(coef), dtype=float)  # f(x) = Σ_S c_S χ_S(x)


def record_steps(steps: int, records: int = 16) -> np.ndarray:
    """0 and about ``records`` logarithmically spaced steps in 1..steps (distinct integers).

    Examples
    --------
    >>> record_steps(100, 5).tolist()
    [0, 1, 3, 10, 32, 100]
    """
    steps = _validate.integer("steps", steps, lo=1)
    records = _validate.integer("records", records, lo=1)
    s = np.unique(np.round(np.logspace(0, math.log10(steps), records)).astype(int))
    return np.concatenate([[0], s])


def _steps_array(steps):
    s = np.asarray(steps)
    if s.ndim != 1 or s.size == 0 or not np.issubdtype(s.dtype, np.integer) or np.any(s < 0) or np.any(np.diff(s) <= 0):
        raise ValueError(f"steps must be a non-empty increasing 1-D array of integers >= 0; got {steps!r}")
    return s.astype(np.int64)


def _decay(lam, lr, t, flow):
    """(1 − ηλ)^t or exp(−ηλt) for arrays lam (last axis) and steps t (first axis)."""
    t = np.asarray(t, dtype=float)[:, None]
    if flow:
        return np.exp(-lr * t * lam[None, :])
    return np.sign(1 - lr * lam)[None, :] ** t * np.abs(1 - lr * lam)[None, :] ** t


# ---------------------------------------------------------------------------------------
# λ_min and the loss bound
# ---------------------------------------------------------------------------------------


def loss_bound(lambda_min: float, lambda_max: float, lr: float, steps, flow=False) -> np.ndarray:
    r"""The linear-convergence bound L_t / L_0 ≤ ρ^{2t} of the training loss in the kernel regime.

    ρ = max(|1 − ηλ_min|, |1 − ηλ_max|) for gradient descent (λ of Θ_train/n; ρ = 1 − ηλ_min when
    η ≤ 2/(λ_min + λ_max)), and L_t/L_0 ≤ exp(−2ηλ_min t) for gradient flow.

    Examples
    --------
    >>> loss_bound(0.5, 1.0, 1.0, [0, 1, 2]).tolist()
    [1.0, 0.25, 0.0625]
    """
    lr = _validate.positive("lr", lr)
    t = np.asarray(steps, dtype=float)
    if flow:
        return np.exp(-2 * lr * lambda_min * t)
    rho = max(abs(1 - lr * lambda_min), abs(1 - lr * lambda_max))
    return rho ** (2 * t)


@dataclass(frozen=True)
class LambdaMin(_AsDict):
    """The smallest eigenvalue of Θ_train/n over draws of n points (see :func:`lambda_min`).

    Attributes
    ----------
    values, lambda_max : ndarray
        λ_min and λ_max of Θ_train/n per draw.
    mean, std, min, max : float
        Of ``values``.
    exact : float or None
        On the cube: min_k μ_k (the value with all 2^d distinct points); None elsewhere.
    exact_degree : int or None
        The argmin k.
    lr : float
        η = lr_fraction / mean λ_max.
    rate : float
        The per-step contraction of the loss bound, ρ² with ρ = max|1 − ηλ| at the mean λ's.
    """

    spec: Architecture
    domain: str
    dim: int
    samples: int
    draws: int
    kernel: str
    values: np.ndarray
    lambda_max: np.ndarray
    mean: float
    std: float
    min: float
    max: float
    exact: float | None
    exact_degree: int | None
    lr: float
    rate: float
    seed: int | None = None


def _gram(spec, X, kernel, domain, Y=None):
    if domain == "cube":
        return cube_gram(spec, X, kernel, Y=Y)
    return gram(spec, X, kernel, Y=Y, domain=domain)


def _cube_train_index(dim, n, rng):
    return np.sort(rng.choice(2**dim, size=n, replace=False))


def lambda_min(spec: Architecture, domain: str, dim: int, samples: int, draws: int = 8, seed=0, kernel="ntk",
               lr_fraction: float = 1.0) -> LambdaMin:
    r"""λ_min(Θ_train/n) of the analytic kernel on n sampled points, over ``draws`` draws.

    On the cube (d ≤ 20) the n points are distinct (drawn without replacement, so n ≤ 2^d; with
    n = 2^d the value is exactly min_k μ_k); on the sphere and the Gaussian they are i.i.d.
    (:func:`spectra.domains.sample`). The linear-convergence bound on the training loss is
    L_t ≤ ρ^{2t} L_0, ρ = max(|1 − ηλ_min|, |1 − ηλ_max|) (:func:`loss_bound`), here with
    η = ``lr_fraction``/λ_max.

    Parameters
    ----------
    spec : Architecture
    domain : {"cube", "sphere", "gaussian"}
    dim : int
    samples : int
        n ≥ 1 (≤ 2^d on the cube).
    draws : int
    seed : None, int or Generator
    kernel : {"ntk", "ck"}
    lr_fraction : float
        η λ_max, in (0, 2).

    Returns
    -------
    LambdaMin
    """
    from .domains import sample

    if not isinstance(spec, Architecture):
        raise TypeError(f"spec must be a spectra.Architecture; got {spec!r}")
    domain = _validate.choice("domain", domain, DOMAINS)
    kernel = _validate.choice("kernel", kernel, ("ntk", "ck"))
    dim = _validate.integer("dim", dim, lo=2 if domain == "sphere" else 1)
    hi = 2**dim if domain == "cube" and dim <= 20 else None
    samples = _validate.integer("samples", samples, lo=1, hi=hi)
    draws = _validate.integer("draws", draws, lo=1)
    frac = float(lr_fraction)
    if not (0 < frac < 2):
        raise ValueError(f"lr_fraction must be in (0, 2); got {lr_fraction!r}")
    rng = rng_from(seed)
    lo_v, hi_v = [], []
    for _ in range(draws):
        if domain == "cube" and dim <= 20:
            idx = _cube_train_index(dim, samples, rng)
            X = 1.0 - 2.0 * ((idx[:, None] >> np.arange(dim)[None, :]) & 1).astype(float)
        else:  # (on a cube of d > 20, i.i.d. points: repeats are negligible)
            X = sample(domain, dim, samples, rng)
        ev = np.linalg.eigvalsh(_gram(spec, X, kernel, domain) / samples)
        lo_v.append(ev[0])
        hi_v.append(ev[-1])
    lo_v, hi_v = np.array(lo_v), np.array(hi_v)
    exact = exact_k = None
    if domain == "cube":
        from .cube import cube_eigenvalues

        mu = np.asarray(cube_eigenvalues(spec, dim, kernel, max_degree=dim).values, dtype=float)
        exact_k = int(np.argmin(mu))
        exact = float(mu[exact_k])
    lr = frac / float(hi_v.mean())
    rho = max(abs(1 - lr * lo_v.mean()), abs(1 - lr * hi_v.mean()))
    return LambdaMin(spec, domain, dim, samples, draws, kernel, lo_v, hi_v, float(lo_v.mean()),
                     float(lo_v.std(ddof=1)) if draws > 1 else 0.0, float(lo_v.min()), float(lo_v.max()), exact,
                     exact_k, lr, float(rho * rho), seed if isinstance(seed, int) else None)


# ---------------------------------------------------------------------------------------
# prediction
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DynamicsPrediction(_AsDict):
    """Predicted residual energy per degree (see :func:`predict_dynamics`).

    Attributes
    ----------
    steps : ndarray, shape (T,)
    energy : ndarray, shape (T, d + 1)
        E_k(t) of the residual on the whole cube.
    train_loss : ndarray, shape (T,) or None
        L_t = (1/2n)‖u_t‖² on the training points (finite-n only).
    eigenvalues : ndarray
        μ_0..μ_d (operator) or the eigenvalues of Θ_train/n, ascending (finite-n).
    """

    method: str
    steps: np.ndarray
    energy: np.ndarray
    lr: float
    flow: bool
    eigenvalues: np.ndarray
    train_loss: np.ndarray | None = None


def predict_dynamics(spec: Architecture, dim: int, target, steps, lr: float, method="finite", train_index=None,
                     init_output=None, flow=False, kernel="ntk") -> DynamicsPrediction:
    r"""Predicted residual energy per degree over training time, in the kernel regime.

    The residual is r_t = f_t − y on all 2^d points, with r_0 = f_0 − y (``init_output`` = f_0,
    default 0: the centred model).

    * ``method="operator"`` (infinite data): E_k(t) = E_k(0)(1 − ημ_k)^{2t}, or
      E_k(0) exp(−2ημ_k t) with ``flow=True``; μ_k from :func:`spectra.cube_eigenvalues`.
    * ``method="finite"``: gradient descent on the n points ``train_index`` with the kernel
      predictor: with Θ_train/n = V diag(λ) Vᵀ, a = Vᵀ r_0(X),

      .. math:: r_t = r_0 - \Theta(\cdot, X)\, V\, \mathrm{diag}\Big(\frac{1 - (1-\eta\lambda)^t}{n\lambda}\Big)\, a,

      (exp(−ηλt) for flow; the ratio is taken as ηt/n where ηλ underflows), then projected per
      degree with the Walsh–Hadamard transform.

    Parameters
    ----------
    spec : Architecture
    dim : int
        d in 1..14.
    target : dict, str, array_like or callable
        See :func:`make_target`; a dict or string is drawn with seed 0 — pass an array to fix it.
    steps : array_like of int
        Increasing steps t ≥ 0.
    lr : float
        η > 0.
    method : {"finite", "operator"}
    train_index : array_like of int, optional
        Indices (ordering of :func:`cube_points`) of the n distinct training points; needed for
        ``"finite"``.
    init_output : array_like, shape (2^d,), optional
        f_0 on the cube.
    flow : bool
        Gradient flow instead of gradient descent.
    kernel : {"ntk", "ck"}
        "ck" predicts training the readout layer only.

    Returns
    -------
    DynamicsPrediction
    """
    if not isinstance(spec, Architecture):
        raise TypeError(f"spec must be a spectra.Architecture; got {spec!r}")
    dim = _dim(dim)
    N = 2**dim
    method = _validate.choice("method", method, ("finite", "operator"))
    kernel = _validate.choice("kernel", kernel, ("ntk", "ck"))
    lr = _validate.positive("lr", lr)
    t = _steps_array(steps)
    y = make_target(target, dim, seed=0)
    f0 = np.zeros(N) if init_output is None else np.asarray(init_output, dtype=float)
    if f0.shape != (N,) or not np.all(np.isfinite(f0)):
        raise ValueError(f"init_output must hold 2^dim = {N} finite values; got shape {f0.shape}")
    r0 = f0 - y
    if method == "operator":
        from .cube import cube_eigenvalues

        mu = np.asarray(cube_eigenvalues(spec, dim, kernel, max_degree=dim).values, dtype=float)
        e0 = degree_energy(r0, dim)
        energy = e0[None, :] * _decay(mu, lr, t, flow) ** 2
        return DynamicsPrediction("operator", t, energy, lr, bool(flow), mu)
    if train_index is None:
        raise ValueError("train_index (the n training points) is required for method='finite'")
    idx = np.asarray(train_index)
    if idx.ndim != 1 or idx.size < 1 or not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= N \
            or np.unique(idx).size != idx.size:
        raise ValueError(f"train_index must be distinct integers in 0..{N - 1}")
    n = idx.size
    Xall = cube_points(dim)
    Xtr = Xall[idx]
    lam, V = np.linalg.eigh(cube_gram(spec, Xtr, kernel) / n)
    a = V.T @ r0[idx]
    B = cube_gram(spec, Xall, kernel, Y=Xtr) @ V  # (N, n)
    D = _decay(lam, lr, t, flow)  # (T, n)
    # 1 − D without cancellation for small ηλ: −expm1(t log1p(−ηλ)) (or −expm1(−ηλt) for flow)
    tf = t[:, None].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = -lr * lam[None, :] * tf if flow else tf * np.log1p(-lr * lam[None, :])
        one_minus = np.where((lr * lam < 1)[None, :] | flow, -np.expm1(x), 1.0 - D)
    tiny = np.abs(lr * lam) < 1e-14
    with np.errstate(divide="ignore", invalid="ignore"):
        G = one_minus / (n * lam[None, :])
    if np.any(tiny):
        G[:, tiny] = lr * t[:, None].astype(float) / n
    R = r0[None, :] - (G * a[None, :]) @ B.T  # (T, N)
    energy = degree_energy(R, dim)
    u = D * a[None, :]
    train_loss = 0.5 * (u * u).sum(axis=1) / n
    return DynamicsPrediction("finite", t, energy, lr, bool(flow), lam, train_loss)


# ---------------------------------------------------------------------------------------
# measurement
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DynamicsMeasurement(_AsDict):
    """Trained finite-width networks: residual energy per degree (see :func:`measure_dynamics`).

    Attributes
    ----------
    steps : ndarray, shape (T,)
    energy : ndarray, shape (seeds, T, d + 1)
        Measured E_k(t) per network seed.
    predicted : ndarray, shape (seeds, T, d + 1)
        Finite-n prediction with each network's own f_0.
    operator : ndarray, shape (seeds, T, d + 1)
        Operator prediction with each network's own f_0.
    losses : ndarray, shape (seeds, steps[-1] + 1)
        Training loss at every step.
    lambda_min, lambda_max : float
        Of Θ_train/n (analytic NTK) on the training points.
    bound_ratio : float
        The tightest ratio: max over seeds and t ≥ 1 of L_t / (ρ^{2t} L_0), ≤ 1 when the λ_min
        bound (:func:`loss_bound`) holds at every step.
    backend, dtype : str
        Where and in which float type the networks trained.
    """

    spec: Architecture
    dim: int
    width: int
    samples: int
    seeds: tuple
    target: dict | None
    lr: float
    lr_fraction: float
    steps: np.ndarray
    energy: np.ndarray
    predicted: np.ndarray
    operator: np.ndarray
    losses: np.ndarray
    lambda_min: float
    lambda_max: float
    bound_ratio: float
    data_seed: int | None = None
    seconds: float = 0.0
    backend: str = "numpy"
    dtype: str = "float32"


def dynamics_memory(dim: int, width: int, depth: int, dtype="float32") -> int:
    """Bytes :func:`measure_dynamics` holds at once (an estimate): the parameters three times
    (the network, its copy in :func:`spectra.training.train` and one gradient), and the forward
    pass's activations, pre-activations and deltas on the 2^d points."""
    item = 4 if str(dtype) == "float32" else 8
    nparams = dim * width + max(depth - 1, 0) * width * width + width + depth * width + 1 if depth else dim + 1
    return int(item * (3 * nparams + 4 * 2**dim * width * max(depth, 1)))


def _largest_width_text(budget, dim, depth, dtype):
    from .backend import largest_fitting

    w = largest_fitting(lambda x: dynamics_memory(dim, x, depth, dtype), 1, 2**24, budget)
    return "no width fits" if w is None else f"the largest width that fits is {w}"


def measure_dynamics(spec: Architecture, dim: int, target, width: int, samples: int, steps=1000, records=16,
                     seeds=(0,), data_seed=0, lr_fraction=1.0, centred=False, progress=None, backend=None,
                     dtype="float32", max_memory=None) -> DynamicsMeasurement:
    r"""Train finite-width MLPs and measure the residual energy per degree on the whole cube.

    The data (target coefficients and n distinct training points of {±1}^d) come from
    ``data_seed``; each network seed s gives an MLP of :func:`spectra.training.init_params`
    (NTK parameterisation), trained by full-batch gradient descent on L = (1/2n) Σ (f − y)²
    with η = ``lr_fraction`` / λ_max(Θ_train/n) (analytic NTK), numpy only. At the steps of
    :func:`record_steps` the residual f_t − y on all 2^d points is projected per degree with
    the fast Walsh–Hadamard transform. The finite-n and operator predictions are computed with
    the same f_0 (:func:`predict_dynamics`). The networks are the ones of :mod:`spectra.training`
    on any back end (numpy, or cupy on a GPU), in float32 by default.

    Parameters
    ----------
    spec : Architecture
    dim : int
        d in 1..14.
    target : dict, str, array_like or callable
        See :func:`make_target`.
    width : int
        ≥ 1.
    samples : int
        n in 1..2^d.
    steps : int
        Training steps T ≥ 1.
    records : int
        About how many log-spaced steps to record (plus step 0).
    seeds : sequence of int
        Network seeds.
    data_seed : int
    lr_fraction : float
        η λ_max(Θ_train/n), in (0, 2).
    centred : bool
        Train the centred network g = f_θ − f_θ₀ (Chizat, Oyallon & Bach 2019; the "centering
        trick" of Hu et al. 2020), which removes the random initial function from the residual:
        gradient descent on g with targets y is gradient descent on f with targets y + f_θ₀(X),
        the residual is g_t − y on all 2^d points, and the predictions use f_0 = 0. Without it
        (default) the residual f_t − y carries f_0, whose part off the training set the
        predictor cannot remove.
    progress : callable, optional
        ``progress(1)`` after every recorded segment.
    backend : None, str or Backend
        Where the networks train (:func:`spectra.backend.get_backend`: "numpy" (default),
        "cupy"). The networks are drawn on the host, so a seed gives the same network on every
        back end.
    dtype : {"float32", "float64"}
        The networks' float type. float32 (default) roughly halves the time of the
        width × width products; its round-off (≈ 1e-7 relative) is far below the O(√(L/width))
        finite-width effects being measured (compare with ``dtype="float64"``).
    max_memory : int, optional
        Memory budget in bytes (default: see :func:`spectra.backend.check_memory`). A network that
        would not fit (:func:`dynamics_memory`) is refused before anything is drawn, naming the
        largest width that fits.

    Returns
    -------
    DynamicsMeasurement
    """
    import time

    from .backend import check_memory, get_backend
    from .training import _dtype, forward, init_params, train

    t0 = time.perf_counter()
    if not isinstance(spec, Architecture):
        raise TypeError(f"spec must be a spectra.Architecture; got {spec!r}")
    dim = _dim(dim)
    N = 2**dim
    tdict = _target_dict(target, dim) if isinstance(target, (dict, str)) else None
    width = _validate.integer("width", width, lo=1)
    samples = _validate.integer("samples", samples, lo=1, hi=N)
    steps = _validate.integer("steps", steps, lo=1)
    records = _validate.integer("records", records, lo=1)
    if isinstance(seeds, int):
        seeds = (seeds,)
    seeds = tuple(_validate.integer("seed", s, lo=0) for s in seeds)
    if not seeds:
        raise ValueError("seeds must hold at least one integer >= 0")
    frac = float(lr_fraction)
    if not (0 < frac < 2):
        raise ValueError(f"lr_fraction must be in (0, 2); got {lr_fraction!r}")
    be = get_backend(backend)
    dtype = _dtype(dtype)
    check_memory(dynamics_memory(dim, width, spec.depth, dtype), f"training a width-{width} network on the {N} "
                 f"points of the cube", be, max_memory,
                 largest=lambda budget: _largest_width_text(budget, dim, spec.depth, dtype))
    rng = rng_from(data_seed)
    y = make_target(target, dim, seed=rng)
    idx = _cube_train_index(dim, samples, rng)
    Xall = cube_points(dim)
    Xtr = Xall[idx]
    ev = np.linalg.eigvalsh(cube_gram(spec, Xtr, "ntk") / samples)
    lmin, lmax = float(ev[0]), float(ev[-1])
    lr = frac / lmax
    t_rec = record_steps(steps, records)
    bound = loss_bound(lmin, lmax, lr, np.arange(steps + 1))

    def out_on(params, X):
        return be.to_numpy(forward(params, spec, X).output).astype(float)

    E, P, O, L = [], [], [], []
    rest = np.setdiff1d(np.arange(N), idx)  # off the training set: the only extra forward pass per record
    Xrest = Xall[rest]
    for s in seeds:
        params = init_params(spec, dim, width, seed=s, backend=be, dtype=dtype)
        f_init = out_on(params, Xall)
        shift = f_init if centred else np.zeros(N)
        outs = [f_init - shift]
        losses = []
        prev = 0
        for tr in t_rec[1:]:
            res = train(params, spec, Xtr, y[idx] + shift[idx], lr, int(tr - prev))
            if res.stopped != "completed":
                raise RuntimeError(f"training diverged (non-finite loss) at seed {s}, step {prev + res.steps_taken}; "
                                   f"lower lr_fraction")
            losses.extend(res.losses[:-1])
            params = res.params
            prev = int(tr)
            f = np.empty(N)
            f[idx] = be.to_numpy(res.output)
            if rest.size:
                f[rest] = out_on(params, Xrest)
            outs.append(f - shift)
            if progress is not None:
                progress(1)
        losses.append(res.losses[-1])
        E.append(degree_energy(np.array(outs) - y[None, :], dim))
        if centred and P:  # f_0 = 0 for every seed: the same predictions
            P.append(P[0])
            O.append(O[0])
        else:
            f0 = None if centred else outs[0]
            P.append(predict_dynamics(spec, dim, y, t_rec, lr, "finite", idx, f0).energy)
            O.append(predict_dynamics(spec, dim, y, t_rec, lr, "operator", None, f0).energy)
        L.append(np.array(losses))
    L = np.array(L)
    ratio = float(np.max(L[:, 1:] / (L[:, :1] * bound[None, 1:])))  # t >= 1 (t = 0 gives 1)
    return DynamicsMeasurement(spec, dim, width, samples, seeds, tdict, lr, frac, t_rec, np.array(E), np.array(P),
                               np.array(O), L, lmin, lmax, ratio, data_seed if isinstance(data_seed, int) else None,
                               time.perf_counter() - t0, be.name, dtype)


# ---------------------------------------------------------------------------------------
# comparison and plot
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DynamicsComparison(_AsDict):
    """Measured vs predicted residual energy per degree (see :func:`compare_dynamics`).

    Attributes
    ----------
    degrees : tuple of int
    steps : ndarray, shape (T,)
    measured_mean, measured_std, predicted_mean, operator_mean : ndarray, shape (T, len(degrees))
        Over seeds (std with ddof = 1, 0 for one seed).
    gap : ndarray, shape (T, len(degrees))
        |measured − predicted| / predicted (means over seeds); NaN where the predicted energy has
        fallen below ``floor`` × its initial value.
    max_gap : ndarray, shape (len(degrees),)
        Largest ``gap`` per degree over the steps kept.
    """

    degrees: tuple
    steps: np.ndarray
    measured_mean: np.ndarray
    measured_std: np.ndarray
    predicted_mean: np.ndarray
    operator_mean: np.ndarray
    gap: np.ndarray
    max_gap: np.ndarray
    floor: float
    bound_ratio: float
    lambda_min: float
    lr: float


def compare_dynamics(measurement: DynamicsMeasurement, degrees=None, floor=0.01) -> DynamicsComparison:
    """Per degree: mean and spread of the measured curves, the predicted ones, the relative gap.

    Parameters
    ----------
    measurement : DynamicsMeasurement
    degrees : sequence of int, optional
        Default: the target's degrees (all 0..d for a target given as values).
    floor : float
        The gap is reported while the predicted energy is ≥ floor × its initial value.
    """
    m = measurement
    if degrees is None:
        degrees = tuple(sorted(m.target)) if m.target else tuple(range(m.dim + 1))
    degrees = tuple(_validate.integer("degree", k, lo=0, hi=m.dim) for k in degrees)
    floor = float(floor)
    if not (0 <= floor < 1):
        raise ValueError(f"floor must be in [0, 1); got {floor}")
    k = list(degrees)
    meas = m.energy[:, :, k]
    mm = meas.mean(axis=0)
    ms = meas.std(axis=0, ddof=1) if meas.shape[0] > 1 else np.zeros_like(mm)
    pm = m.predicted[:, :, k].mean(axis=0)
    om = m.operator[:, :, k].mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.abs(mm - pm) / pm
    gap = np.where(pm >= floor * pm[:1], gap, np.nan)
    with np.errstate(all="ignore"):
        mg = np.array([np.nanmax(g) if np.any(np.isfinite(g)) else np.nan for g in gap.T])
    return DynamicsComparison(degrees, m.steps, mm, ms, pm, om, gap, mg, floor, m.bound_ratio, m.lambda_min, m.lr)


def plot_dynamics(comparison: DynamicsComparison, ax=None, operator=True):
    """Residual energy per degree vs step, log-log: measured as points with error bars (± std
    over seeds), finite-n prediction as lines, operator prediction dotted (steps ≥ 1 only).

    Returns the matplotlib Axes (a new figure if ``ax`` is None)."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5.6, 4.0), layout="constrained")
    c = comparison
    keep = c.steps >= 1
    t = c.steps[keep]
    for j, k in enumerate(c.degrees):
        line, = ax.plot(t, c.predicted_mean[keep, j], "-", label=f"degree {k}")
        ax.errorbar(t, c.measured_mean[keep, j], yerr=c.measured_std[keep, j], fmt="o", ms=3.5,
                    color=line.get_color(), capsize=2)
        if operator:
            ax.plot(t, c.operator_mean[keep, j], ":", color=line.get_color(), lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step t")
    ax.set_ylabel("residual energy of degree k")
    ax.set_title("measured (points) vs finite-n (lines), operator (dotted)", fontsize=9)
    from matplotlib.lines import Line2D

    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="0.35", marker="o", ms=3.5, ls="none",
                       label="measured (± std over seeds)"),
                Line2D([], [], color="0.35", ls="-", label="finite-n prediction")]
    if operator:
        handles.append(Line2D([], [], color="0.35", ls=":", lw=1, label="operator (infinite data)"))
    ax.legend(handles=handles, fontsize=8)
    return ax
