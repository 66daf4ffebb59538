r"""Which depth learns degree-k features best, and does training all layers favour complexity.

Optimal depth (Yang & Salman, arXiv:1907.10599, §5): for each degree k the depth L that
maximises the fractional variance FV_k (:mod:`spectra.fractional_variance`) — alone, or jointly
with σ_w² and σ_b² over a grid. Their finding, on the cube at d = 128: for relu the optimal depth
grows with the degree; for erf it grows within the odd and within the even degrees; it is finite.

NTK vs CK (ibid., §6): per degree, on how much of a hyperparameter grid the NTK's FV_k exceeds the
CK's — "training all layers" versus "training the last layer"; the NTK puts relatively more
weight on the higher degrees.

Both work from one :func:`spectra.fractional_variance_grid` pass (pass ``grid=`` to reuse one);
every comparison is made against the values' error bounds, so a maximiser or a "greater" is
reported only where the error allows it, and near-ties are listed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _validate
from .fractional_variance import fractional_variance_grid, fv_upper_bound

__all__ = ["NtkVsCk", "OptimalDepth", "ntk_vs_ck", "optimal_depth"]

#: Near-ties listed in full per degree (the count is always given).
MAX_TIES_LISTED = 20


@dataclass(frozen=True)
class OptimalDepth:
    """Optimal depth per degree (see :func:`optimal_depth`).

    Attributes
    ----------
    entries : list of dict
        Per degree: ``degree``, ``depth``, ``weight_var``, ``bias_var``, ``fractional_variance``,
        ``error``, ``ties`` (number of other grid points within ``rtol`` or within error),
        ``tie_depths`` ([min, max] depth among maximiser and ties), ``tie_points`` (up to
        :data:`MAX_TIES_LISTED` of them: depth, weight_var, bias_var, fractional_variance),
        ``at_max_depth`` (the maximiser is the largest depth of the grid: the optimum may lie
        beyond it), ``undecided`` (an unresolved grid value could exceed the maximum) and ``note``.
        ``depth`` is None where FV_k = 0 on the whole grid (structural zeros).
    depth_map : ndarray of int, shape (weight_var, bias_var, degree)
        The optimal depth at each hyperparameter point (−1 where FV_k is 0 or unresolved at every depth).
    fv_map : ndarray, shape (weight_var, bias_var, degree)
        The maximal FV_k over depth at each hyperparameter point.
    grid : dict
        The :func:`spectra.fractional_variance_grid` output it was computed from.
    kernel : str
    rtol : float
    """

    entries: list
    depth_map: np.ndarray
    fv_map: np.ndarray
    grid: dict = field(repr=False)
    kernel: str = "ntk"
    rtol: float = 1e-3

    @property
    def degrees(self):
        return np.array([e["degree"] for e in self.entries])

    @property
    def depths(self):
        """Optimal depth per degree (−1 where undefined)."""
        return np.array([-1 if e["depth"] is None else e["depth"] for e in self.entries])


def _grid(grid, activation, dim, max_depth, weight_var, bias_var, kernels, max_degree, domain, progress,
          threads):
    if grid is not None:
        for k in kernels:
            if "fv_" + k not in grid:
                raise ValueError(f"grid: has no fractional variance of the {k.upper()} (compute it with "
                                 f"kernels including {k!r})")
        return grid
    if activation is None or dim is None or max_depth is None:
        raise ValueError("activation, dim and max_depth are required unless a precomputed grid is given")
    return fractional_variance_grid(activation, dim, max_depth, weight_var, bias_var, kernels,
                                    max_degree=max_degree, domain=domain, progress=progress, threads=threads)


def optimal_depth(activation=None, dim=None, max_depth=None, weight_var=2.0, bias_var=0.0, kernel="ntk",
                  max_degree=None, domain="cube", rtol=1e-3, grid=None, progress=None,
                  threads=None) -> OptimalDepth:
    """For each degree k, the depth (and σ_w², σ_b² on the grid) that maximises FV_k.

    Parameters
    ----------
    activation : str or Activation
    dim : int
    max_depth : int
        Depths 0..max_depth are searched.
    weight_var, bias_var : number or 1-D array_like
        A single network's hyperparameters (depth-only search) or grids searched jointly.
    kernel : {"ck", "ntk"}
    max_degree : int, optional
    domain : {"cube", "sphere", "gaussian"}
    rtol : float
        Grid points with FV_k ≥ (1 − rtol)·max, or within the error bounds of the maximum,
        are reported as near-ties.
    grid : dict, optional
        A precomputed :func:`spectra.fractional_variance_grid` (then the network arguments are
        not needed).
    progress, threads
        Passed to the grid computation.

    Returns
    -------
    OptimalDepth

    Examples
    --------
    The relu NTK on the cube (σ_w² = 2): the optimal depth grows with the degree k ≥ 1 (Yang &
    Salman's finding); degree 1 is best served by the linear model (depth 0, FV_1 = 1 at σ_b² = 0).

    >>> import numpy as np
    >>> res = optimal_depth("relu", 128, 16, 2.0, [0.0, 1.0], kernel="ntk", max_degree=4)
    >>> res.entries[1]["depth"], bool(np.all(np.diff(res.depths[1:]) > 0))
    (0, True)
    """
    kernel = _validate.choice("kernel", kernel, ("ck", "ntk"))
    rtol = float(rtol)
    if not (0 <= rtol < 1):
        raise ValueError(f"rtol must be in [0, 1); got {rtol}")
    g = _grid(grid, activation, dim, max_depth, np.atleast_1d(weight_var), np.atleast_1d(bias_var), (kernel,),
              max_degree, domain, progress, threads)
    fv, err = g["fv_" + kernel], g["fv_" + kernel + "_err"]
    upper = fv_upper_bound(g, kernel)
    depths, wv, bv, ks = g["depths"], g["weight_var"], g["bias_var"], g["degrees"]
    entries = []
    finite = np.where(np.isnan(fv), -np.inf, fv)
    depth_map = np.argmax(finite, axis=0)
    fv_map = np.max(finite, axis=0)
    depth_map = np.where(np.isfinite(fv_map) & (fv_map > 0), depths[depth_map], -1)
    fv_map = np.where(np.isfinite(fv_map), fv_map, np.nan)
    for i, k in enumerate(ks):
        f = finite[..., i]
        best = np.unravel_index(np.argmax(f), f.shape)
        top = f[best]
        entry = {"degree": int(k)}
        if not np.isfinite(top) or top <= 0:
            entry.update(depth=None, weight_var=None, bias_var=None, fractional_variance=0.0 if top == 0 else None,
                         error=None, ties=0, tie_depths=None, tie_points=[], at_max_depth=False,
                         undecided=bool(np.any(upper[..., i] > 0)),
                         note="FV_k is 0 on the whole grid" if top == 0 else "FV_k unresolved on the whole grid")
            entries.append(entry)
            continue
        e_top = err[..., i][best]
        tie_mask = (f >= top * (1 - rtol)) | (f + err[..., i] >= top - e_top)
        tie_mask[best] = False
        idx = np.argwhere(tie_mask)
        order = np.argsort(-f[tie_mask], kind="stable")
        idx = idx[order]
        tie_depths = [int(depths[best[0]])] + [int(depths[j[0]]) for j in idx]
        undecided = bool(np.any(np.isnan(fv[..., i]) & (upper[..., i] > top - e_top)))
        entry.update(depth=int(depths[best[0]]), weight_var=float(wv[best[1]]), bias_var=float(bv[best[2]]),
                     fractional_variance=float(top), error=float(e_top), ties=int(idx.shape[0]),
                     tie_depths=[min(tie_depths), max(tie_depths)],
                     tie_points=[{"depth": int(depths[a]), "weight_var": float(wv[b]), "bias_var": float(bv[c]),
                                  "fractional_variance": float(f[a, b, c])} for a, b, c in idx[:MAX_TIES_LISTED]],
                     at_max_depth=bool(depths[best[0]] == depths[-1]), undecided=undecided, note=None)
        notes = []
        if entry["at_max_depth"]:
            notes.append("maximiser at the largest depth of the grid: the optimum may lie deeper")
        if undecided:
            notes.append("an unresolved grid value could exceed this maximum")
        entry["note"] = "; ".join(notes) or None
        entries.append(entry)
    return OptimalDepth(entries=entries, depth_map=depth_map, fv_map=fv_map, grid=g, kernel=kernel, rtol=rtol)


@dataclass(frozen=True)
class NtkVsCk:
    """Per degree, how often the NTK's FV_k exceeds the CK's on a grid (see :func:`ntk_vs_ck`).

    Attributes
    ----------
    entries : list of dict
        Per degree: ``degree``, ``points`` (grid points compared, depth ≥ ``min_depth``),
        ``ntk_greater``, ``ck_greater``, ``tied`` (|difference| within the error bounds, e.g.
        both 0), ``unresolved`` (either value unresolved), and ``fraction_ntk_greater`` =
        ntk_greater / (points − unresolved) (None if nothing was decided).
    examples : list of dict
        A few hyperparameter points with FV_k against depth for both kernels:
        ``weight_var``, ``bias_var``, ``depths``, ``ck`` and ``ntk`` (arrays (depth, degree)).
    grid : dict
    min_depth : int
    """

    entries: list
    examples: list
    grid: dict = field(repr=False)
    min_depth: int = 1


def ntk_vs_ck(activation=None, dim=None, max_depth=None, weight_var=2.0, bias_var=0.0, max_degree=None,
              domain="cube", min_depth=1, grid=None, progress=None, threads=None, n_examples=3) -> NtkVsCk:
    """Per degree k, the fraction of a (depth ≥ min_depth) × σ_w² × σ_b² grid where FV_k(NTK) > FV_k(CK).

    At depth 0 the two kernels coincide (Θ¹ = Σ¹), hence the default ``min_depth=1``. A point
    counts as "greater" only where the difference exceeds the sum of the two error bounds.

    Examples
    --------
    >>> r = ntk_vs_ck("relu", 32, 4, 2.0, [0.0, 0.5], max_degree=3)
    >>> [e["fraction_ntk_greater"] > 0.5 for e in r.entries]
    [False, True, True, True]
    """
    min_depth = _validate.integer("min_depth", min_depth, lo=0)
    g = _grid(grid, activation, dim, max_depth, np.atleast_1d(weight_var), np.atleast_1d(bias_var), ("ck", "ntk"),
              max_degree, domain, progress, threads)
    depths = g["depths"]
    if min_depth > depths[-1]:
        raise ValueError(f"min_depth must be <= max_depth = {int(depths[-1])}; got {min_depth}")
    sel = depths >= min_depth
    ck, ntk = g["fv_ck"][sel], g["fv_ntk"][sel]
    tol = g["fv_ck_err"][sel] + g["fv_ntk_err"][sel]
    entries = []
    for i, k in enumerate(g["degrees"]):
        a, b, t = ck[..., i], ntk[..., i], tol[..., i]
        bad = np.isnan(a) | np.isnan(b)
        diff = np.where(bad, 0.0, b - a)
        greater = int(np.sum(~bad & (diff > t)))
        less = int(np.sum(~bad & (diff < -t)))
        unresolved = int(np.sum(bad))
        points = int(a.size)
        decided = points - unresolved
        entries.append({"degree": int(k), "points": points, "ntk_greater": greater, "ck_greater": less,
                        "tied": decided - greater - less, "unresolved": unresolved,
                        "fraction_ntk_greater": greater / decided if decided else None})
    wv, bv = g["weight_var"], g["bias_var"]
    picks = sorted({(wv.size // 2, bv.size // 2), (0, 0), (wv.size - 1, bv.size - 1)})[: max(0, int(n_examples))]
    examples = [{"weight_var": float(wv[i]), "bias_var": float(bv[j]), "depths": depths,
                 "ck": g["fv_ck"][:, i, j], "ntk": g["fv_ntk"][:, i, j]} for i, j in picks]
    return NtkVsCk(entries=entries, examples=examples, grid=g, min_depth=min_depth)
