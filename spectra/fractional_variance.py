r"""Fractional variance by degree: the share of a random network's variance in each degree.

A sample f ~ GP(0, K) has E‖f‖² = E_x K(x, x) = Σ_k mult_k μ_k (the trace identity), so

.. math::

    \mathrm{FV}_k = \frac{\mathrm{mult}_k\, μ_k}{E_x K(x, x)}, \qquad Σ_k \mathrm{FV}_k = 1,

(CONVENTIONS §3; Yang & Salman, "A Fine-Grained Spectral Perspective on Neural Networks",
arXiv:1907.10599, §4). On the Gaussian the degree-k share sums over the radial index j.
FV_k is the CK's "prior" weight of degree-k functions, and for the NTK the share of the
gradient-descent speed spent on them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _validate
from .domains import DOMAINS
from .result import Spectrum
from .spec import Architecture

__all__ = ["GRID_DOMAINS", "FractionalVariance", "fractional_variance", "fractional_variance_grid"]

#: Domains with a whole-grid (depth × weight_var × bias_var) routine; the Gaussian loops per network.
GRID_DOMAINS = DOMAINS


@dataclass(frozen=True)
class FractionalVariance:
    """FV_k of one network.

    Attributes
    ----------
    degrees : ndarray of int
    values : ndarray
        FV_k (float64 at double precision; mpmath ``mpf`` at N digits; sympy at ``"exact"``).
    errors : ndarray of float
        Absolute error bounds of ``values``.
    tail : float
        1 − Σ_k FV_k over the listed degrees: the share of the degrees not listed (0 up to
        round-off when every degree is listed, as on the cube with ``max_degree = dim``).
    spectrum : Spectrum
        The eigenvalues it came from.
    """

    degrees: np.ndarray
    values: np.ndarray
    errors: np.ndarray
    tail: float
    spectrum: Spectrum

    def to_records(self) -> list[dict]:
        return [{"degree": int(k), "fractional_variance": v, "error": float(e)}
                for k, v, e in zip(self.degrees, self.values, self.errors)]


def fractional_variance(spec: Architecture, dim: int, kernel="ntk", domain="cube", max_degree=None,
                        precision="double", radial=None) -> FractionalVariance:
    """FV_k = mult_k μ_k / E K(x, x) for one network.

    Parameters
    ----------
    spec : Architecture
    dim : int
    kernel : {"ck", "ntk"}
    domain : {"cube", "sphere", "gaussian"}
    max_degree : int, optional
        Degrees 0..max_degree (the domain's default otherwise; on the cube ``dim`` lists them all).
    precision : "double", int or "exact"
        As for the eigenvalues (the Gaussian has no "exact").
    radial : int, optional
        Gaussian only: radial indices listed in ``spectrum`` (FV_k sums over all of them at double
        precision regardless; see :meth:`Spectrum.fractional_variance_by_degree`).

    Examples
    --------
    Every degree of the cube listed, the shares add up to one:

    >>> from spectra import Architecture
    >>> fv = fractional_variance(Architecture("relu", 2, 2, 2), 7, "ck", max_degree=7)
    >>> round(float(fv.values[0]), 6), abs(float(fv.tail)) < 1e-14
    (0.838782, True)
    """
    import spectra

    domain = _validate.choice("domain", domain, DOMAINS)
    if domain == "gaussian":
        s = spectra.gaussian_eigenvalues(spec, dim, kernel, max_degree=max_degree,
                                         radial=4 if radial is None else radial, precision=precision)
    else:
        if radial is not None:
            raise ValueError(f"radial applies to the gaussian domain only; got radial={radial!r} on {domain!r}")
        fn = spectra.cube_eigenvalues if domain == "cube" else spectra.sphere_eigenvalues
        s = fn(spec, dim, kernel, max_degree=max_degree, precision=precision)
    ks, fv = s.fractional_variance_by_degree()
    err = s.fractional_variance_error_by_degree()
    total = sum(fv[1:], fv[0])
    tail = 1 - total
    return FractionalVariance(degrees=ks, values=fv, errors=err, tail=tail, spectrum=s)


def _log_mult(domain, dim, ks):
    if domain == "cube":
        return np.array([math.lgamma(dim + 1) - math.lgamma(k + 1) - math.lgamma(dim - k + 1) for k in ks])
    from .sphere import sphere_multiplicity

    return np.array([math.log(sphere_multiplicity(dim, int(k))) for k in ks])


def fractional_variance_grid(activation, dim, max_depth, weight_var, bias_var, kernels=("ck", "ntk"),
                             max_degree=None, domain="cube", progress=None, threads=None):
    """FV_k on a whole grid of depth 0..max_depth × weight_var × bias_var, at double precision.

    Parameters
    ----------
    activation : str or Activation
    dim, max_depth : int
    weight_var, bias_var : 1-D array_like
    kernels : sequence of {"ck", "ntk"}
    max_degree : int, optional
        Default: cube min(dim, 10), sphere 10, gaussian 6.
    domain : {"cube", "sphere", "gaussian"}
        The cube and the sphere use their one-pass grid routines
        (:func:`spectra.cube_eigenvalues_grid`, :func:`spectra.sphere_eigenvalues_grid`); the
        Gaussian computes each network on its own (about a second each), so keep its grid small.
    progress : callable, optional
        ``progress(n)`` after each step; the total is :func:`grid_total`.
    threads : int, optional
        Cube only (see :func:`spectra.cube_eigenvalues_grid`).

    Returns
    -------
    dict
        The grid routine's arrays (``<kernel>`` = μ, ``<kernel>_err``, ``<kernel>_phi1``; on the
        Gaussian ``<kernel>`` holds Σ_j μ_{k,j}) plus, per kernel, ``fv_<kernel>`` of shape
        (depth, weight_var, bias_var, degree) — NaN where the eigenvalue is unresolved — and
        ``fv_<kernel>_err`` (absolute error bounds, also where the value is NaN: there they bound
        |FV| up to the unresolved factor, see :func:`fv_upper_bound`); the axes ``depths``,
        ``weight_var``, ``bias_var``, ``degrees``; and ``domain``, ``dim``, ``activation``.
    """
    import spectra

    from .activations import get_activation

    domain = _validate.choice("domain", domain, DOMAINS)
    kernels = tuple((kernels,) if isinstance(kernels, str) else kernels)
    act = get_activation(activation)
    if domain == "cube":
        out = spectra.cube_eigenvalues_grid(act, dim, max_depth, weight_var, bias_var, kernels,
                                            max_degree=max_degree, progress=progress, threads=threads)
    elif domain == "sphere":
        out = spectra.sphere_eigenvalues_grid(act, dim, max_depth, weight_var, bias_var, kernels,
                                              max_degree=10 if max_degree is None else max_degree,
                                              progress=progress)
    else:
        out = _gaussian_grid(act, dim, max_depth, weight_var, bias_var, kernels,
                             6 if max_degree is None else max_degree, progress)
    ks = out["degrees"]
    if domain != "gaussian":
        logm = _log_mult(domain, int(dim), ks)
        for k in dict.fromkeys(kernels):
            mu, err, phi1 = out[k], out[k + "_err"], out[k + "_phi1"][..., None]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                scale = np.exp(logm - np.log(np.abs(phi1)))  # mult / Φ(1), overflow-free for large d
                out["fv_" + k] = mu * scale
                out["fv_" + k + "_err"] = err * scale
    out["domain"] = domain
    out["dim"] = int(dim)
    out["activation"] = act.name
    return out


def grid_total(domain, max_depth, n_weight_var, n_bias_var, threads=None):
    """The number of ``progress`` steps :func:`fractional_variance_grid` takes."""
    import spectra

    if domain == "cube":
        return spectra.grid_steps(max_depth, n_weight_var, n_bias_var, threads)
    if domain == "sphere":
        return max_depth + 1
    return (max_depth + 1) * n_weight_var * n_bias_var


def _gaussian_grid(act, dim, max_depth, weight_var, bias_var, kernels, K, progress):
    from .gaussian import gaussian_eigenvalues

    max_depth = _validate.integer("max_depth", max_depth, lo=0)
    wv, bv = _validate.variance_grids(weight_var, bias_var)
    shape = (max_depth + 1, wv.size, bv.size, K + 1)
    out = {}
    for k in dict.fromkeys(kernels):
        for key in (k, k + "_err", "fv_" + k, "fv_" + k + "_err"):
            out[key] = np.full(shape, np.nan)
        out[k + "_phi1"] = np.full(shape[:3], np.nan)
    for L in range(max_depth + 1):
        for i, w in enumerate(wv):
            for j, b in enumerate(bv):
                spec = Architecture(act, L, float(w), float(b))
                for k in dict.fromkeys(kernels):
                    s = gaussian_eigenvalues(spec, dim, k, max_degree=K, radial=1)
                    _, fv = s.fractional_variance_by_degree()
                    out[k][L, i, j] = s.extra["degree_trace"]
                    out[k + "_err"][L, i, j] = s.extra["degree_trace_error"]
                    out[k + "_phi1"][L, i, j] = float(s.trace)
                    out["fv_" + k][L, i, j] = fv
                    out["fv_" + k + "_err"][L, i, j] = s.fractional_variance_error_by_degree()
                if progress is not None:
                    progress(1)
    out["degrees"] = np.arange(K + 1)
    out["depths"] = np.arange(max_depth + 1)
    out["weight_var"] = wv
    out["bias_var"] = bv
    return out


def fv_upper_bound(grid, kernel):
    """An upper bound of FV_k everywhere on the grid: the value plus its error where resolved,
    and 11× the error bound where the value is NaN (unresolved means error > 10 % of |value|,
    so |value| < 10·error there and |FV| < 11·error)."""
    fv, err = grid["fv_" + kernel], grid["fv_" + kernel + "_err"]
    return np.where(np.isnan(fv), 11 * err, fv + err)
