r"""The maximal learning rate of full-batch gradient descent, predicted from the NTK spectrum and
measured on finite-width networks.

Loss and dynamics (CONVENTIONS §3). With L(θ) = (c/2) Σᵢ (f(xᵢ) − yᵢ)², c = 1/n
(``loss="mean"``) or c = 1 (``loss="sum"``), gradient descent θ ← θ − η∇L moves the training
residual u = f(X) − y, in the kernel regime (Jacot et al. 2018; Lee et al. 2019, "Wide neural
networks of any depth evolve as linear models under gradient descent"), as

.. math::

    u_{t+1} = (I - \eta\, c\, \Theta_{\rm train})\, u_t ,

which is stable iff η < 2/(c λ_max(Θ_train)). For the mean loss this is η < 2/λ_max(Θ_train/n),
and λ_max(Θ_train/n) tends, as n → ∞, to the largest eigenvalue μ_max of the kernel's integral
operator under the input distribution (the unnormalised eigenvalue of :mod:`spectra.cube`,
:mod:`spectra.sphere`, :mod:`spectra.gaussian`). Three levels:

:func:`max_learning_rate`
    Infinite data: η* = 2/μ_max (mean loss) or 2/(n μ_max) (sum loss, which needs n).
    μ_max is a maximum over *all* degrees, certified by the trace: every eigenvalue not
    computed is at most (trace − Σ computed mult × μ)/(smallest multiplicity not computed).
:func:`finite_sample_learning_rate`, :func:`finite_sample_convergence`
    n points drawn from the domain: λ_max(Θ_train/n) of the analytic NTK Gram
    (:func:`spectra.domains.gram`) over several seeded draws, and how it approaches μ_max.
:func:`empirical_learning_rate`, :func:`learning_rate_thresholds`
    Finite-width MLPs (:mod:`spectra.training`) trained by full-batch gradient descent at
    learning rates found by bisection on log η: (a) the onset of instability and (b) the onset
    of divergence. Between the two, finite-width networks survive by the catapult mechanism
    (Lewkowycz et al. 2020, "The large learning rate phase of deep learning: the catapult
    mechanism"): the loss first grows, the tangent kernel's top eigenvalue falls, and training
    converges.

Criteria (:data:`INSTABILITY_CRITERION`, :data:`DIVERGENCE_CRITERION`):

(a) *instability*: within the first T = ``steps`` steps the loss increases at some step by more
    than round-off, L_{t+1} > (1 + 10⁻⁶) L_t + 10⁻¹² L_0, or becomes non-finite. For the linear
    model this is exact: below 2/(cλ_max) every mode decays, |1 − ηcλᵢ| ≤ 1, so the loss is
    non-increasing; above it the top mode's share s of the initial loss grows like
    (1 + 2ε)^{2t} at η = (1 + ε)·2/(cλ_max), and the loss turns upward once that growth beats the
    decay of the other modes, after about t ≈ ln(1/(4εs))/(4ε) steps. So T resolves the
    threshold to a relative excess ε with ln(1/(4εs)) ≤ 4εT (``instability_resolution``,
    computed with s from the empirical NTK at initialisation). Detecting the *first* upturn
    rather than L_T > L_0 matters: just above threshold the other modes have decayed a lot
    before the top one has grown back past L_0, and finite-width nets catapult back down.
(b) *divergence*: training fails: the loss becomes non-finite or exceeds ``blowup`` × L_0
    (default 10¹⁰, far above catapult peaks, which scale like the width: ~10³ L_0 at width 2048)
    at some step, or is still ≥ L_0 after S = ``divergence_steps`` steps.

Both searches assume the criterion is monotone in η (exactly true for the linear model; near
the divergence threshold of a finite net the outcome can be erratic, and the bracket is then
one of possibly several crossings). The network, the training points and the targets are
the same at every η.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from . import _validate
from .domains import DOMAINS, cube_gram, gram, rng_from, sample
from .spec import KERNELS, Architecture
from .training import LOSSES, empirical_ntk, forward, init_params, train

__all__ = ["DIVERGENCE_CRITERION", "INSTABILITY_CRITERION", "TARGETS", "EmpiricalLearningRate",
           "FiniteSampleConvergence", "FiniteSampleLearningRate", "MaxLearningRate", "TopEigenvalue",
           "empirical_learning_rate", "finite_sample_convergence", "finite_sample_learning_rate",
           "gram_top_eigenvalue", "learning_rate_thresholds", "max_learning_rate", "operator_top_eigenvalue"]

#: Relative and absolute (× L_0) round-off allowance of the instability criterion.
INCREASE_RTOL = 1e-6
INCREASE_ATOL = 1e-12

INSTABILITY_CRITERION = ("unstable: within the first T steps the loss increases at some step, "
                         "L[t+1] > (1 + 1e-6) L[t] + 1e-12 L[0], or is non-finite")
DIVERGENCE_CRITERION = ("diverged: the loss is non-finite or exceeds blowup * L[0] at some step, "
                        "or is still >= L[0] after S steps")

#: Target choices of :func:`empirical_learning_rate`.
TARGETS = ("sign", "zero")


def _json(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (np.floating,)):
        return _json(float(v))
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (tuple, list)):
        return [_json(x) for x in v]
    if isinstance(v, dict):
        return {k: _json(x) for k, x in v.items()}
    if isinstance(v, Architecture):
        return v.as_dict()
    return v


class _AsDict:
    def as_dict(self) -> dict:
        """A JSON-ready dict (stable keys = the field names; non-finite numbers become None;
        ``spec`` becomes :meth:`Architecture.as_dict`)."""
        out = {}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            out[k] = v.as_dict() if isinstance(v, _AsDict) else _json(v)
        return out


# ---------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------


def _spec(spec, kernel="ntk"):
    if not isinstance(spec, Architecture):
        raise TypeError(f"spec must be a spectra.Architecture; got {spec!r}")
    kernel = _validate.choice("kernel", kernel, KERNELS)
    if kernel == "ntk" and not spec.activation.ntk_defined:
        raise ValueError(f"the NTK of activation {spec.activation.name!r} is not defined (its derivative is a "
                         f"Dirac delta), so neither is its maximal learning rate; use kernel='ck' (training the "
                         f"readout layer only)")
    return kernel


def _domain_dim(domain, dim):
    domain = _validate.choice("domain", domain, DOMAINS)
    dim = _validate.integer("dim", dim, lo=2 if domain == "sphere" else 1)
    return domain, dim


def _loss_samples(loss, samples):
    loss = _validate.choice("loss", loss, LOSSES)
    if samples is not None:
        samples = _validate.integer("samples", samples, lo=1)
    elif loss == "sum":
        raise ValueError("samples (the number of training points n) is required for loss='sum': with "
                         "L = (1/2) sum_i (f(x_i) - y_i)^2 gradient descent is u <- u - eta Theta_train (u - y), "
                         "stable iff eta < 2/lambda_max(Theta_train) = 2/(n lambda_max(Theta_train/n)), which "
                         "depends on n; or use loss='mean'")
    return loss, samples


def _lr(top, loss, n):
    """2/(c λ) with λ = λ_max(Θ/n) (or μ_max) and c n = n for the sum loss."""
    scale = n if loss == "sum" else 1
    return 2.0 / (scale * top) if top > 0 else math.inf


# ---------------------------------------------------------------------------------------
# infinite data: the top operator eigenvalue
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopEigenvalue(_AsDict):
    """The largest unnormalised eigenvalue μ_max of a kernel's integral operator.

    Attributes
    ----------
    value : float
        μ_max.
    error : float
        Its absolute error bound (from the spectrum routine).
    degree : int
        The degree k where it is attained.
    radial_index : int or None
        The radial index j on the gaussian domain (always 0: they are descending), else None.
    tail_bound : float
        An upper bound on every eigenvalue that was not computed: (trace − Σ computed
        multiplicity × lower bound of μ)/(smallest multiplicity not computed); 0 when every
        degree was computed.
    degrees_computed : tuple of int
        The degrees whose eigenvalues were computed.
    certified : bool
        True when ``value`` exceeds ``tail_bound`` and the upper bound of every unresolved
        computed value, i.e. it is the maximum over all degrees.
    """

    value: float
    error: float
    degree: int
    radial_index: int | None
    tail_bound: float
    degrees_computed: tuple
    certified: bool


def _upper_lower(values, errors):
    """Per-entry upper and lower bounds of the true eigenvalue (unresolved NaN entries have
    |computed| < 10 err, so |true| < 11 err)."""
    v = np.asarray(values, dtype=float)
    e = np.abs(np.asarray(errors, dtype=float))
    ok = np.isfinite(v)
    upper = np.where(ok, v + e, 11.0 * e)
    upper = np.where(np.isfinite(upper), upper, np.inf)
    lower = np.where(ok, np.maximum(v - e, 0.0), 0.0)
    return upper, lower


def _certify(s, tail_min_mult, extra_trace_error=0.0):
    vals = s.as_float()
    errs = np.asarray([float(e) for e in s.errors])
    upper, lower = _upper_lower(vals, errs)
    ok = np.isfinite(vals)
    if not ok.any():
        raise ValueError("no eigenvalue could be resolved in double precision")
    i = int(np.nanargmax(np.where(ok, vals, -np.inf)))
    top = float(vals[i])
    mult = np.asarray(s.multiplicities, dtype=float)
    if tail_min_mult:
        rest = float(s.trace) + extra_trace_error - float(np.sum(mult * lower))
        tail = max(rest, 0.0) / tail_min_mult
    else:
        tail = 0.0
    others = upper[~ok]
    certified = bool(tail < top and (others.size == 0 or np.max(others) < top))
    return i, top, float(errs[i]), tail, certified


def operator_top_eigenvalue(spec: Architecture, domain: str, dim: int, kernel="ntk") -> TopEigenvalue:
    r"""μ_max = max over every degree (and radial index) of the operator eigenvalues.

    On the cube, weak spectral simplicity bias (CONVENTIONS §3) suggests max(μ₀, μ₁); this is
    checked rather than assumed: the degrees 0..K and d−K..d are computed and every other
    eigenvalue is bounded through the trace, μ_k ≤ (Φ(1) − Σ_computed C(d,i) μ_i)/C(d, K+1),
    with K doubled until the bound falls below the maximum (or every degree is computed). On the
    sphere (multiplicities N(d, k) nondecreasing in k) degrees 0..K with the bound /N(d, K+1);
    on the gaussian, degrees 0..K with radial indices 0..3 (descending in j, so μ_{k,0} is each
    degree's largest) and the same bound.

    Parameters
    ----------
    spec : Architecture
    domain : {"cube", "sphere", "gaussian"}
    dim : int
    kernel : {"ntk", "ck"}

    Returns
    -------
    TopEigenvalue

    Examples
    --------
    CONVENTIONS §4: d = 128, relu, depth 2, σ_w² = 2, σ_b² = 0, NTK: μ₀ = 1.381078.

    >>> from spectra import Architecture
    >>> top = operator_top_eigenvalue(Architecture("relu", 2, 2, 0), "cube", 128)
    >>> round(top.value, 6), top.degree, top.certified
    (1.381078, 0, True)
    """
    from .cube import cube_eigenvalues
    from .gaussian import gaussian_eigenvalues
    from .sphere import sphere_eigenvalues, sphere_multiplicity

    kernel = _spec(spec, kernel)
    domain, dim = _domain_dim(domain, dim)
    if domain == "cube":
        K = min(dim, 8)
        while True:
            if 2 * K + 1 >= dim:
                degs = list(range(dim + 1))
                tail_mult = 0
            else:
                degs = list(range(K + 1)) + list(range(dim - K, dim + 1))
                tail_mult = math.comb(dim, K + 1)
            s = cube_eigenvalues(spec, dim, kernel, degrees=degs)
            i, top, err, tail, cert = _certify(s, tail_mult)
            if cert or not tail_mult:
                break
            K *= 2
        radial = None
    elif domain == "sphere":
        K = 16
        while True:
            s = sphere_eigenvalues(spec, dim, kernel, max_degree=K)
            i, top, err, tail, cert = _certify(s, sphere_multiplicity(dim, K + 1))
            if cert or K >= 1024:
                break
            K *= 2
        degs = list(range(K + 1))
        radial = None
    else:
        K = 1 if dim == 1 else 6
        while True:
            s = gaussian_eigenvalues(spec, dim, kernel, max_degree=K, radial=4)
            tail_mult = 0 if dim == 1 else sphere_multiplicity(dim, K + 1)
            i, top, err, tail, cert = _certify(s, tail_mult, float(s.extra.get("trace_error", 0.0)))
            if cert or not tail_mult or K >= 48:
                break
            K *= 2
        degs = list(range(K + 1))
        radial = int(s.extra["radial_index"][i])
    return TopEigenvalue(value=top, error=err, degree=int(s.degrees[i]), radial_index=radial,
                         tail_bound=tail, degrees_computed=tuple(degs), certified=cert)


@dataclass(frozen=True)
class MaxLearningRate(_AsDict):
    """The infinite-data prediction of :func:`max_learning_rate`.

    Attributes
    ----------
    max_learning_rate : float
        η* = 2/μ_max (``loss="mean"``) or 2/(n μ_max) (``loss="sum"``).
    top_eigenvalue : float
        μ_max, the largest unnormalised operator eigenvalue.
    top_eigenvalue_error : float
    top_degree : int
    top_radial_index : int or None
    tail_bound, certified, degrees_computed
        See :class:`TopEigenvalue`.
    loss : {"mean", "sum"}
    samples : int or None
        n (required for the sum loss).
    domain, dim, kernel, spec
    """

    max_learning_rate: float
    top_eigenvalue: float
    top_eigenvalue_error: float
    top_degree: int
    top_radial_index: int | None
    tail_bound: float
    certified: bool
    degrees_computed: tuple
    loss: str
    samples: int | None
    domain: str
    dim: int
    kernel: str
    spec: Architecture


def max_learning_rate(spec: Architecture, domain: str, dim: int, kernel="ntk", loss="mean",
                      samples=None) -> MaxLearningRate:
    r"""The infinite-data maximal learning rate of full-batch gradient descent.

    For L = (1/2n) Σ (f(xᵢ) − yᵢ)² (``loss="mean"``), η* = 2/μ_max; for L = ½ Σ (f(xᵢ) − yᵢ)²
    (``loss="sum"``) the dynamics u ← u − ηΘ_train(u − y) give η* = 2/λ_max(Θ_train)
    = 2/(n λ_max(Θ_train/n)) ≈ 2/(n μ_max), so ``samples`` = n is required. ``kernel="ntk"`` is
    training every layer; ``kernel="ck"`` training the readout layer (W^{L+1}, b^{L+1}) only,
    whose tangent kernel is the CK Σ^{L+1}.

    Parameters
    ----------
    spec : Architecture
    domain : {"cube", "sphere", "gaussian"}
    dim : int
    kernel : {"ntk", "ck"}
    loss : {"mean", "sum"}
    samples : int, optional
        n (required for ``loss="sum"``).

    Returns
    -------
    MaxLearningRate

    Examples
    --------
    >>> from spectra import Architecture
    >>> r = max_learning_rate(Architecture("relu", 2, 2, 0), "cube", 128)
    >>> round(r.max_learning_rate * 1.381078, 5), r.loss
    (2.0, 'mean')
    """
    kernel = _spec(spec, kernel)
    loss, samples = _loss_samples(loss, samples)
    domain, dim = _domain_dim(domain, dim)
    top = operator_top_eigenvalue(spec, domain, dim, kernel)
    return MaxLearningRate(max_learning_rate=_lr(top.value, loss, samples), top_eigenvalue=top.value,
                           top_eigenvalue_error=top.error, top_degree=top.degree, top_radial_index=top.radial_index,
                           tail_bound=top.tail_bound, certified=top.certified, degrees_computed=top.degrees_computed,
                           loss=loss, samples=samples, domain=domain, dim=dim, kernel=kernel, spec=spec)


# ---------------------------------------------------------------------------------------
# finite samples: the analytic Gram matrix
# ---------------------------------------------------------------------------------------


def gram_top_eigenvalue(spec: Architecture, X, domain=None, kernel="ntk") -> float:
    """λ_max(K/n) of the analytic kernel Gram matrix K = K(xᵢ, xⱼ) on the n rows of X
    (:func:`spectra.domains.gram`; ``domain`` "cube"/"sphere" uses the one-argument Φ)."""
    kernel = _spec(spec, kernel)
    K = _gram(spec, np.asarray(X, dtype=float), domain, kernel)
    return _top_sym(K) / K.shape[0]


def _gram(spec, X, domain, kernel):
    """:func:`spectra.domains.gram`; on the cube :func:`spectra.domains.cube_gram` (the same
    matrix from Φ at the d + 1 values of t)."""
    if domain == "cube":
        return cube_gram(spec, X, kernel)
    return gram(spec, X, kernel, domain=domain)


def _top_sym(K):
    # one BLAS thread: on a few shared cores a threaded eigvalsh of a few hundred rows can be
    # 10-50x slower than a single-threaded one (oversubscription); single-threaded it is ~0.1 s
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        return float(np.linalg.eigvalsh(K)[-1])


@dataclass(frozen=True)
class FiniteSampleLearningRate(_AsDict):
    """The finite-sample prediction of :func:`finite_sample_learning_rate`.

    Attributes
    ----------
    max_learning_rate : float
        2/(c λ̄) with λ̄ = ``top_eigenvalue`` and c = 1 (mean loss) or n (sum loss).
    top_eigenvalue : float
        λ̄: the mean over draws of λ_max(Θ_train/n).
    top_eigenvalue_std, top_eigenvalue_min, top_eigenvalue_max : float
        Its standard deviation (ddof = 1; 0 for one draw), minimum and maximum over draws.
    top_eigenvalues : tuple of float
        λ_max(Θ_train/n) of each draw.
    max_learning_rates : tuple of float
        The predicted η of each draw, 2/(c λ_max).
    max_learning_rate_min, max_learning_rate_max : float
        Their minimum and maximum.
    loss, samples, draws, seed, domain, dim, kernel, spec
    """

    max_learning_rate: float
    top_eigenvalue: float
    top_eigenvalue_std: float
    top_eigenvalue_min: float
    top_eigenvalue_max: float
    top_eigenvalues: tuple
    max_learning_rates: tuple
    max_learning_rate_min: float
    max_learning_rate_max: float
    loss: str
    samples: int
    draws: int
    seed: object
    domain: str
    dim: int
    kernel: str
    spec: Architecture


def _draw_tops(spec, domain, dim, n, draws, rng, kernel):
    return np.array([gram_top_eigenvalue(spec, sample(domain, dim, n, rng), domain, kernel) for _ in range(draws)])


def finite_sample_learning_rate(spec: Architecture, domain: str, dim: int, samples: int, draws=8, seed=0,
                                kernel="ntk", loss="mean") -> FiniteSampleLearningRate:
    r"""The maximal learning rate on n training points drawn from the domain.

    For each of ``draws`` seeded draws of n points, λ_max(Θ_train/n) of the analytic kernel
    Gram matrix, and the predicted η = 2/λ_max(Θ_train/n) (mean loss) or 2/λ_max(Θ_train) (sum
    loss).

    Parameters
    ----------
    spec : Architecture
    domain : {"cube", "sphere", "gaussian"}
    dim : int
    samples : int
        n ≥ 1.
    draws : int
        Number of independent draws ≥ 1.
    seed : None, int or numpy.random.Generator
    kernel : {"ntk", "ck"}
    loss : {"mean", "sum"}

    Returns
    -------
    FiniteSampleLearningRate

    Examples
    --------
    >>> from spectra import Architecture
    >>> r = finite_sample_learning_rate(Architecture("erf", 1, 2, 0.1), "sphere", 8, samples=32, draws=3)
    >>> len(r.top_eigenvalues), r.max_learning_rate_min <= r.max_learning_rate <= r.max_learning_rate_max
    (3, True)
    """
    kernel = _spec(spec, kernel)
    domain, dim = _domain_dim(domain, dim)
    samples = _validate.integer("samples", samples, lo=1)
    draws = _validate.integer("draws", draws, lo=1)
    loss, _ = _loss_samples(loss, samples)
    tops = _draw_tops(spec, domain, dim, samples, draws, rng_from(seed), kernel)
    mean = float(tops.mean())
    lrs = tuple(_lr(float(t), loss, samples) for t in tops)
    return FiniteSampleLearningRate(
        max_learning_rate=_lr(mean, loss, samples), top_eigenvalue=mean,
        top_eigenvalue_std=float(tops.std(ddof=1)) if draws > 1 else 0.0,
        top_eigenvalue_min=float(tops.min()), top_eigenvalue_max=float(tops.max()),
        top_eigenvalues=tuple(float(t) for t in tops), max_learning_rates=lrs,
        max_learning_rate_min=min(lrs), max_learning_rate_max=max(lrs),
        loss=loss, samples=samples, draws=draws, seed=seed if not isinstance(seed, np.random.Generator) else None,
        domain=domain, dim=dim, kernel=kernel, spec=spec)


@dataclass(frozen=True)
class FiniteSampleConvergence(_AsDict):
    """How λ_max(Θ_train/n) approaches μ_max as n grows (:func:`finite_sample_convergence`).

    Attributes
    ----------
    top_eigenvalue : float
        μ_max (infinite data).
    max_learning_rate : float
        2/μ_max (mean loss).
    loss : str
        "mean".
    rows : tuple of dict
        One per n, with keys ``samples``, ``top_eigenvalue_mean``, ``top_eigenvalue_std``,
        ``ratio_mean`` (= mean λ_max(Θ/n)/μ_max), ``ratio_std``, ``max_learning_rate``
        (2/mean λ_max(Θ/n)) and ``learning_rate_ratio`` (= μ_max/mean λ_max(Θ/n), the finite-n
        η over the infinite-data η*).
    draws, seed, domain, dim, kernel, spec
    """

    top_eigenvalue: float
    max_learning_rate: float
    loss: str
    rows: tuple
    draws: int
    seed: object
    domain: str
    dim: int
    kernel: str
    spec: Architecture


def finite_sample_convergence(spec: Architecture, domain: str, dim: int, samples=(16, 64, 256, 1024), draws=8,
                              seed=0, kernel="ntk", progress=None) -> FiniteSampleConvergence:
    r"""λ_max(Θ_train/n) over seeded draws for each n in ``samples``, against μ_max.

    λ_max(Θ_train/n) → μ_max as n → ∞ (the Gram matrix over n is a Nyström discretisation of
    the integral operator); at small n it sits above μ_max (the other eigenvalues' mass leaks
    into the top one, e.g. by ≈ (trace − μ_max)/n when the top eigenfunction is constant), so the
    finite-sample η is below the infinite-data one. Loss: mean (η = 2/λ).

    Parameters
    ----------
    spec : Architecture
    domain : {"cube", "sphere", "gaussian"}
    dim : int
    samples : iterable of int
        The n values (each ≥ 1).
    draws : int
    seed : None or int
        The draws at each n use a generator seeded from (seed, n).
    kernel : {"ntk", "ck"}
    progress : callable, optional
        ``progress(n)`` after each n.

    Returns
    -------
    FiniteSampleConvergence
    """
    kernel = _spec(spec, kernel)
    domain, dim = _domain_dim(domain, dim)
    ns = [_validate.integer("samples", n, lo=1) for n in np.atleast_1d(np.asarray(samples, dtype=object)).tolist()]
    if not ns:
        raise ValueError("samples must hold at least one n >= 1")
    draws = _validate.integer("draws", draws, lo=1)
    if seed is not None:
        seed = _validate.integer("seed", seed, lo=0)
    top = operator_top_eigenvalue(spec, domain, dim, kernel)
    rows = []
    for n in ns:
        rng = np.random.default_rng(None if seed is None else [seed, n])
        tops = _draw_tops(spec, domain, dim, n, draws, rng, kernel)
        m = float(tops.mean())
        sd = float(tops.std(ddof=1)) if draws > 1 else 0.0
        rows.append({"samples": n, "top_eigenvalue_mean": m, "top_eigenvalue_std": sd,
                     "ratio_mean": m / top.value, "ratio_std": sd / top.value,
                     "max_learning_rate": 2.0 / m, "learning_rate_ratio": top.value / m})
        if progress is not None:
            progress(n)
    return FiniteSampleConvergence(top_eigenvalue=top.value, max_learning_rate=2.0 / top.value, loss="mean",
                                   rows=tuple(rows), draws=draws, seed=seed, domain=domain, dim=dim,
                                   kernel=kernel, spec=spec)


# ---------------------------------------------------------------------------------------
# finite-width networks: the empirical thresholds
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmpiricalLearningRate(_AsDict):
    """Measured thresholds of :func:`learning_rate_thresholds` / :func:`empirical_learning_rate`.

    Attributes
    ----------
    max_learning_rate : float
        The prediction on the same training points: 2/(c λ_max(Θ_train)) of the analytic NTK
        (c = 1/n for the mean loss, 1 for the sum loss).
    top_eigenvalue : float
        λ_max(Θ_train/n) of the analytic NTK on the training points.
    empirical_ntk_learning_rate, empirical_ntk_top_eigenvalue : float
        The same from the network's own tangent kernel at initialisation.
    empirical_instability_learning_rate : float or None
        Threshold (a): √(lo·hi) of ``instability_bracket`` (None if not found).
    instability_bracket : (float, float or None)
        lo: stable by criterion (a); hi: unstable (None: stable up to the search limit).
    empirical_divergence_learning_rate : float or None
        Threshold (b): √(lo·hi) of ``divergence_bracket`` (None if not found).
    divergence_bracket : (float, float or None)
    instability_ratio, divergence_ratio : float or None
        The thresholds over ``max_learning_rate``.
    instability_ratio_empirical_ntk : float or None
        Threshold (a) over ``empirical_ntk_learning_rate``.
    instability_criterion, divergence_criterion : str
    top_mode_share : float
        s: the share of the initial loss in the top eigenvector of the empirical NTK.
    instability_resolution : float
        The smallest relative excess ε over the linear model's threshold that T steps detect,
        ln(1/(4εs)) = 4εT (the bracket's own width, ``rtol``, comes on top).
    initial_loss : float
    steps, divergence_steps, blowup, rtol, divergence_rtol, evaluations
        T, S, the blow-up factor, the bisection tolerances (hi/lo ≤ 1 + rtol for (a), 1 +
        divergence_rtol for (b)) and the number of training runs.
    loss, width, samples, dim, targets, seed, domain, spec
    """

    max_learning_rate: float
    top_eigenvalue: float
    empirical_ntk_learning_rate: float
    empirical_ntk_top_eigenvalue: float
    empirical_instability_learning_rate: float | None
    instability_bracket: tuple
    empirical_divergence_learning_rate: float | None
    divergence_bracket: tuple
    instability_ratio: float | None
    divergence_ratio: float | None
    instability_ratio_empirical_ntk: float | None
    instability_criterion: str
    divergence_criterion: str
    top_mode_share: float
    instability_resolution: float
    initial_loss: float
    steps: int
    divergence_steps: int
    blowup: float
    rtol: float
    divergence_rtol: float
    evaluations: int
    loss: str
    width: int
    samples: int
    dim: int
    targets: str
    seed: object
    domain: str | None
    spec: Architecture


def _resolution(share, steps):
    """Smallest ε with ln(1/(4εs)) ≤ 4εT (bisection in log ε)."""
    if share <= 0 or steps <= 0:
        return math.inf

    def ok(eps):
        return math.log(max(1.0 / (4 * eps * share), 1.0)) <= 4 * eps * steps

    lo, hi = 1e-12, 1e6
    if ok(lo):
        return lo
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
        if hi / lo < 1 + 1e-6:
            break
    return hi


class _Search:
    """Bisection on log η for a monotone predicate (False below the threshold, True above)."""

    def __init__(self, predicate, rtol, max_factor, first_step):
        self.f = predicate
        self.rtol = rtol
        self.max_factor = max_factor
        self.first_step = first_step

    def run(self, start, lo=None, hi=None):
        f = self.f
        if lo is None and hi is None:
            if f(start):
                hi = start
            else:
                lo = start
        step = self.first_step
        while lo is None:
            cand = hi / step
            if cand < start / self.max_factor:
                return None, hi
            if f(cand):
                hi = cand
            else:
                lo = cand
            step = step * step
        while hi is None:
            cand = lo * step
            if cand > start * self.max_factor:
                return lo, None
            if f(cand):
                hi = cand
            else:
                lo = cand
            step = step * step
        while hi / lo > 1 + self.rtol:
            mid = math.sqrt(lo * hi)
            if f(mid):
                hi = mid
            else:
                lo = mid
        return lo, hi


def _targets(targets, n, rng):
    if isinstance(targets, str):
        t = _validate.choice("targets", targets, TARGETS)
        if t == "sign":
            return t, rng.choice([-1.0, 1.0], size=n)
        return t, np.zeros(n)
    y = np.asarray(targets, dtype=float)
    if y.shape != (n,) or not np.all(np.isfinite(y)):
        raise ValueError(f"targets must be one of {', '.join(TARGETS)} or a finite array of shape ({n},); "
                         f"got shape {y.shape}")
    return "array", y


def learning_rate_thresholds(spec: Architecture, X, targets="sign", width=2048, seed=0, steps=300,
                             divergence_steps=None, rtol=0.01, loss="mean", blowup=1e10, domain=None,
                             max_factor=256.0, divergence_rtol=None, progress=None) -> EmpiricalLearningRate:
    r"""Thresholds (a) instability and (b) divergence of full-batch gradient descent on given points.

    One network of the given width is drawn (seeded) and trained from that same initialisation
    at every learning rate tried; see the module docstring for the criteria. The search for (a)
    starts at the empirical-NTK prediction 2/(c λ_max(Θ_emp)), steps outward by factors
    q, q², q⁴, … (q = 1 + 2 rtol) until it brackets the threshold (within ``max_factor`` of the
    start) and bisects on log η until hi/lo ≤ 1 + ``rtol``; the search for (b) starts at (a)'s
    upper end (divergence implies instability) and steps up by 1.25, 1.25², … likewise.

    Parameters
    ----------
    spec : Architecture
        Activation with numpy φ and φ' (``Activation.fn``, ``.dfn``).
    X : array_like, shape (n, d)
        The training points.
    targets : {"sign", "zero"} or array_like, shape (n,)
        "sign": i.i.d. uniform ±1 (seeded); "zero": y = 0 (fit the network's own initial
        function); or explicit targets.
    width : int
        Hidden width (≥ 1; unused at depth 0, the linear model).
    seed : int
        Seeds the network and the "sign" targets.
    steps : int
        T: steps of the instability test (a).
    divergence_steps : int, optional
        S: steps of the divergence test (b) (default ``steps``).
    rtol : float
        Relative bracket width of the searches, in (0, 1].
    loss : {"mean", "sum"}
    blowup : float
        The loss multiple that counts as divergence (> 1).
    domain : {"cube", "sphere", "gaussian"}, optional
        Passed to :func:`spectra.domains.gram` for the analytic prediction (cube/sphere: the
        one-argument Φ; requires ‖x‖² = d).
    max_factor : float
        The searches give up (bracket end None) beyond this factor of their start.
    divergence_rtol : float, optional
        A separate bracket width for (b) (default ``rtol``).
    progress : callable, optional
        ``progress(event)`` after each training run, with ``event`` a dict: ``stage``
        ("instability" or "divergence"), ``learning_rate``, ``ratio`` (to the prediction),
        ``result`` (True: unstable/diverged), ``steps`` (steps run), ``evaluation``.

    Returns
    -------
    EmpiricalLearningRate
    """
    _spec(spec, "ntk")
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1 or not np.all(np.isfinite(X)):
        raise ValueError(f"X must be a finite 2-D array of shape (points >= 1, dim >= 1); got shape {X.shape}")
    n, dim = X.shape
    width = _validate.integer("width", width, lo=1)
    seed = _validate.integer("seed", seed, lo=0)
    steps = _validate.integer("steps", steps, lo=1)
    divergence_steps = steps if divergence_steps is None else _validate.integer("divergence_steps",
                                                                                 divergence_steps, lo=1)
    rtol = _validate.positive("rtol", rtol)
    if rtol > 1:
        raise ValueError(f"rtol must be a finite number in (0, 1]; got {rtol!r}")
    divergence_rtol = rtol if divergence_rtol is None else _validate.positive("divergence_rtol", divergence_rtol)
    if divergence_rtol > 1:
        raise ValueError(f"divergence_rtol must be a finite number in (0, 1]; got {divergence_rtol!r}")
    loss = _validate.choice("loss", loss, LOSSES)
    blowup = _validate.positive("blowup", blowup)
    if blowup <= 1:
        raise ValueError(f"blowup must be a finite number > 1; got {blowup!r}")
    max_factor = _validate.positive("max_factor", max_factor)
    if max_factor <= 1:
        raise ValueError(f"max_factor must be a finite number > 1; got {max_factor!r}")
    if domain is not None:
        domain = _validate.choice("domain", domain, DOMAINS)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable or None; got {progress!r}")

    ss = np.random.SeedSequence([seed, 0x4C52])
    s_init, s_targets = ss.spawn(2)
    tname, y = _targets(targets, n, np.random.default_rng(s_targets))
    params = init_params(spec, dim, width, np.random.default_rng(s_init))

    top_a = gram_top_eigenvalue(spec, X, domain, "ntk")
    pred = _lr(top_a, loss, n)
    w, V = np.linalg.eigh(empirical_ntk(params, spec, X) / n)
    top_e = float(w[-1])
    pred_e = _lr(top_e, loss, n)
    r0 = forward(params, spec, X).output - y
    share = float((V[:, -1] @ r0) ** 2 / (r0 @ r0)) if r0 @ r0 > 0 else 0.0
    c = 1.0 / n if loss == "mean" else 1.0
    L0 = 0.5 * c * float(r0 @ r0)
    if not L0 > 0:
        raise ValueError("the initial loss is 0 (targets equal the network's outputs): nothing to train")

    count = [0]

    def report(stage, eta, result, taken):
        count[0] += 1
        if progress is not None:
            progress({"stage": stage, "learning_rate": eta, "ratio": eta / pred, "result": bool(result),
                      "steps": taken, "evaluation": count[0]})

    cache_a, cache_b = {}, {}

    def unstable(eta):
        if eta in cache_a:
            return cache_a[eta]
        prev = [None]

        def cb(t, value):
            p = prev[0]
            prev[0] = value
            return p is not None and value > (1 + INCREASE_RTOL) * p + INCREASE_ATOL * L0

        res = train(params, spec, X, y, eta, steps, loss=loss, callback=cb)
        out = res.stopped != "completed"
        cache_a[eta] = out
        report("instability", eta, out, res.steps_taken)
        return out

    def diverged(eta):
        if eta in cache_b:
            return cache_b[eta]
        if divergence_steps <= steps and eta in cache_a and not cache_a[eta]:
            return False  # the loss never rose in the first T >= S steps, so L[S] < L[0]
        res = train(params, spec, X, y, eta, divergence_steps, loss=loss,
                    callback=lambda t, value: value > blowup * L0)
        out = res.stopped != "completed" or not res.losses[-1] < L0
        cache_b[eta] = out
        report("divergence", eta, out, res.steps_taken)
        return out

    lo_a, hi_a = _Search(unstable, rtol, max_factor, 1 + 2 * rtol).run(pred_e)
    if hi_a is None:
        lo_b, hi_b = lo_a, None
    elif diverged(hi_a):
        lo_b, hi_b = lo_a, hi_a  # below lo_a the loss never rises: no divergence
    else:
        lo_b, hi_b = _Search(diverged, divergence_rtol, max_factor, 1.25).run(hi_a, lo=hi_a)

    def mid(lo, hi):
        return math.sqrt(lo * hi) if lo is not None and hi is not None else None

    eta_a, eta_b = mid(lo_a, hi_a), mid(lo_b, hi_b)
    return EmpiricalLearningRate(
        max_learning_rate=pred, top_eigenvalue=top_a, empirical_ntk_learning_rate=pred_e,
        empirical_ntk_top_eigenvalue=top_e,
        empirical_instability_learning_rate=eta_a, instability_bracket=(lo_a, hi_a),
        empirical_divergence_learning_rate=eta_b, divergence_bracket=(lo_b, hi_b),
        instability_ratio=None if eta_a is None else eta_a / pred,
        divergence_ratio=None if eta_b is None else eta_b / pred,
        instability_ratio_empirical_ntk=None if eta_a is None else eta_a / pred_e,
        instability_criterion=INSTABILITY_CRITERION, divergence_criterion=DIVERGENCE_CRITERION,
        top_mode_share=share, instability_resolution=_resolution(share, steps), initial_loss=L0,
        steps=steps, divergence_steps=divergence_steps, blowup=blowup, rtol=rtol,
        divergence_rtol=divergence_rtol, evaluations=count[0],
        loss=loss, width=width, samples=n, dim=dim, targets=tname, seed=seed, domain=domain, spec=spec)


def empirical_learning_rate(spec: Architecture, domain="cube", dim=16, samples=64, width=2048, seed=0, steps=300,
                            divergence_steps=None, rtol=0.01, loss="mean", targets="sign", blowup=1e10,
                            divergence_rtol=None, progress=None) -> EmpiricalLearningRate:
    r"""Draw n training points from the domain and measure thresholds (a) and (b) on them.

    The points are :func:`spectra.domains.sample` (domain, dim, samples) with a generator
    seeded from ``seed``; everything else is :func:`learning_rate_thresholds`, whose ratios
    compare with the analytic-NTK prediction on these same points.

    Parameters
    ----------
    spec : Architecture
    domain : {"cube", "sphere", "gaussian"}
    dim, samples, width : int
    seed : int
    steps, divergence_steps, rtol, loss, targets, blowup, divergence_rtol, progress
        See :func:`learning_rate_thresholds`.

    Returns
    -------
    EmpiricalLearningRate

    Examples
    --------
    >>> from spectra import Architecture
    >>> r = empirical_learning_rate(Architecture("erf", 1, 2, 0.1), "cube", dim=4, samples=8, width=64,
    ...                             steps=100, rtol=0.05)
    >>> r.instability_bracket[0] < r.instability_bracket[1] <= r.divergence_bracket[1]
    True
    """
    _spec(spec, "ntk")
    domain, dim = _domain_dim(domain, dim)
    samples = _validate.integer("samples", samples, lo=1)
    seed = _validate.integer("seed", seed, lo=0)
    X = sample(domain, dim, samples, np.random.default_rng([seed, 0x58]))
    return learning_rate_thresholds(spec, X, targets=targets, width=width, seed=seed, steps=steps,
                                    divergence_steps=divergence_steps, rtol=rtol, loss=loss, blowup=blowup,
                                    domain=domain, divergence_rtol=divergence_rtol, progress=progress)
