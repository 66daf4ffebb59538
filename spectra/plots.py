"""Figures of spectra, fractional variance, optimal depth, NTK vs CK, learning rates and simplicity.

Every function draws on a matplotlib ``ax`` (a new figure when none is given), returns the ``ax``,
labels both axes (with units where there are any) and puts the hyperparameters in the title or
legend. matplotlib is imported only when a function is called (``import spectra`` does not load it).
:func:`save` writes a figure as PNG, SVG or PDF by the file's extension, atomically.
"""
from __future__ import annotations

import os

import numpy as np

__all__ = [
    "FIGURE_EXTENSIONS",
    "arch_label",
    "plot_depth_degree",
    "plot_fractional_variance",
    "plot_hyper_heatmap",
    "plot_ntk_vs_ck",
    "plot_ntk_vs_ck_examples",
    "plot_optimal_depth",
    "plot_spectrum",
    "save",
]

#: File types :func:`save` writes.
FIGURE_EXTENSIONS = (".png", ".svg", ".pdf")


def _ax(ax, size=(5.0, 3.6)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _num(v):
    v = float(v)
    return f"{v:g}"


def arch_label(spec, kernel=None) -> str:
    """``relu, L=2, σw²=2, σb²=0 (NTK)``: a legend label of a network."""
    text = (f"{spec.activation.name}, L={spec.depth}, σw²={_num(spec.weight_var)}, "
            f"σb²={_num(spec.bias_var)}")
    return text + (f" ({kernel.upper()})" if kernel else "")


def _integer_x(ax):
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def check_figure_path(path) -> str:
    """The lower-case extension of ``path`` if it is one :func:`save` writes; ValueError otherwise."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in FIGURE_EXTENSIONS:
        raise ValueError(f"plot must end in {', '.join(FIGURE_EXTENSIONS)}; got {str(path)!r}")
    if os.path.isdir(path):
        raise ValueError(f"plot must be a file name; got the directory {str(path)!r}")
    return ext


def save(fig, path, dpi=200) -> None:
    """Write ``fig`` to ``path`` (.png, .svg or .pdf): to a temporary file in the same directory,
    renamed into place, so that an error never leaves a partial file."""
    import tempfile

    ext = check_figure_path(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=ext, dir=directory)
    os.close(fd)
    try:
        fig.savefig(tmp, format=ext[1:], dpi=dpi)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _positive(x, values):
    """(x, v) with the points where v is not > 0 (zero, negative or NaN) left out, so that lines
    on a log scale join the remaining points."""
    v = np.array([float(t) for t in values], dtype=float)
    keep = v > 0
    return np.asarray(x)[keep], v[keep]


def _range_text(name, grid):
    g = np.asarray(grid, dtype=float)
    return f"{name}={_num(g[0])}" if g.size == 1 else f"{name}∈[{_num(g[0])}, {_num(g[-1])}]"


def plot_spectrum(spectra, ax=None, weighted=False, normalized=True, labels=None):
    """Eigenvalue per degree on a log scale, for one or several :class:`spectra.Spectrum`.

    ``weighted`` multiplies by the multiplicity (then with ``normalized`` the points are the
    fractional variances FV_k); ``normalized`` divides by E K(x, x). Zeros (structural or
    underflowed) and unresolved values are left out (a log scale has no 0); on the Gaussian each
    radial index j is its own series.
    """
    from spectra.result import Spectrum

    items = [spectra] if isinstance(spectra, Spectrum) else list(spectra)
    ax = _ax(ax)
    markers = "os^vD<>p"
    for n, s in enumerate(items):
        vals = np.array([float(v) for v in s.as_float()])
        if normalized:
            vals = vals / float(s.trace)
        if weighted:
            vals = vals * np.array([float(m) for m in s.multiplicities])
        label = labels[n] if labels is not None else arch_label(s.spec, s.kernel)
        radial = s.extra.get("radial_index")
        ks = np.asarray(s.degrees)
        if radial is None:
            ax.semilogy(*_positive(ks, vals), marker=markers[n % len(markers)], ls="-", label=label)
        else:
            for j in sorted(set(int(x) for x in radial)):
                sel = np.asarray(radial) == j
                ax.semilogy(*_positive(ks[sel], vals[sel]), marker=markers[n % len(markers)],
                            ls="-" if j == 0 else ":", label=label if j == 0 else None, alpha=1 / (1 + 0.5 * j))
    ax.set_xlabel("degree k")
    _integer_x(ax)
    what = "multiplicity × " if weighted else ""
    ax.set_ylabel(f"{what}{'normalised ' if normalized else ''}eigenvalue μ_k"
                  + ("" if normalized else " (kernel units)"))
    s0 = items[0]
    ax.set_title(f"{s0.domain} d={s0.dim}: eigenvalue per degree", fontsize="medium")
    ax.legend(fontsize="small")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_fractional_variance(items, ax=None, labels=None, log=True):
    """Fractional variance FV_k per degree for several networks
    (:class:`spectra.fractional_variance.FractionalVariance` objects)."""
    ax = _ax(ax)
    markers = "os^vD<>p"
    for n, fv in enumerate(items):
        s = fv.spectrum
        label = labels[n] if labels is not None else arch_label(s.spec, s.kernel)
        vals = np.array([float(v) for v in fv.values])
        ax.plot(*(_positive(fv.degrees, vals) if log else (fv.degrees, vals)), marker=markers[n % len(markers)], label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("degree k")
    _integer_x(ax)
    ax.set_ylabel("fractional variance FV_k")
    s0 = items[0].spectrum
    ax.set_title(f"{s0.domain} d={s0.dim}: share of variance per degree", fontsize="medium")
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    return ax


def plot_depth_degree(grid, kernel="ntk", weight_index=0, bias_index=0, ax=None, optimal=True):
    """Heatmap of log10 FV_k over (depth × degree) at one (σ_w², σ_b²) of a
    :func:`spectra.fractional_variance_grid`; with ``optimal`` the best depth of each degree is marked."""
    ax = _ax(ax, (5.6, 3.8))
    fv = grid["fv_" + kernel][:, weight_index, bias_index, :]
    depths, ks = grid["depths"], grid["degrees"]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log10(np.where(fv > 0, fv, np.nan))
    im = ax.imshow(z, aspect="auto", origin="lower", interpolation="nearest", cmap="viridis",
                   extent=(ks[0] - 0.5, ks[-1] + 0.5, depths[0] - 0.5, depths[-1] + 0.5))
    ax.figure.colorbar(im, ax=ax, label="log10 FV_k")
    ax.grid(False)
    if optimal:
        finite = np.where(np.isnan(fv), -np.inf, fv)
        best = depths[np.argmax(finite, axis=0)]
        ok = np.max(finite, axis=0) > 0
        ax.plot(ks[ok], best[ok], "w*", ms=9, mec="k", label="optimal depth")
        ax.legend(fontsize="small", loc="upper left")
    ax.set_xlabel("degree k")
    _integer_x(ax)
    ax.set_ylabel("depth L (hidden layers)")
    ax.set_title(f"{grid['activation']} {kernel.upper()}, {grid['domain']} d={grid['dim']}, "
                 f"σw²={_num(grid['weight_var'][weight_index])}, σb²={_num(grid['bias_var'][bias_index])}",
                 fontsize="medium")
    return ax


def plot_hyper_heatmap(values, weight_var, bias_var, ax=None, label="", title="", log=False, cmap="viridis",
                       vmin=None, vmax=None):
    """Heatmap of ``values`` (shape (weight_var, bias_var)) over the σ_w² × σ_b² grid, e.g. the
    optimal depth of one degree (``OptimalDepth.depth_map[..., k]``, whose −1 entries — no
    optimum: FV_k = 0 or unresolved at every depth — are left blank) or FV_k at one depth.
    ``vmin``/``vmax`` fix the colour scale (to compare panels)."""
    ax = _ax(ax, (5.2, 3.8))
    v = np.asarray(values, dtype=float)
    if np.issubdtype(np.asarray(values).dtype, np.integer):
        v = np.where(v < 0, np.nan, v)  # the depth maps' "no optimum" sentinel
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.log10(np.where(v > 0, v, np.nan))
    wv, bv = np.asarray(weight_var, float), np.asarray(bias_var, float)

    def edges(x):
        if x.size == 1:
            return np.array([x[0] - 0.5, x[0] + 0.5])
        mid = (x[1:] + x[:-1]) / 2
        return np.r_[x[0] - (mid[0] - x[0]), mid, x[-1] + (x[-1] - mid[-1])]

    im = ax.pcolormesh(edges(bv), edges(wv), v, cmap=cmap, shading="flat", vmin=vmin, vmax=vmax)
    ax.grid(False)
    ax.figure.colorbar(im, ax=ax, label=("log10 " if log else "") + label)
    ax.set_xlabel("bias variance σb²")
    ax.set_ylabel("weight variance σw²")
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


def plot_optimal_depth(results, ax=None, labels=None):
    """Optimal depth against degree for one or several :class:`spectra.OptimalDepth` results
    (degrees whose FV is 0 on the whole grid are left out; near-tie ranges drawn as bars)."""
    from spectra.optimal_depth import OptimalDepth

    items = [results] if isinstance(results, OptimalDepth) else list(results)
    ax = _ax(ax)
    markers = "os^vD<>p"
    for n, r in enumerate(items):
        g = r.grid
        ks = np.array([e["degree"] for e in r.entries if e["depth"] is not None])
        ds = np.array([e["depth"] for e in r.entries if e["depth"] is not None])
        lo = np.array([e["tie_depths"][0] for e in r.entries if e["depth"] is not None])
        hi = np.array([e["tie_depths"][1] for e in r.entries if e["depth"] is not None])
        label = labels[n] if labels is not None else (
            f"{g['activation']} {r.kernel.upper()}, {_range_text('σw²', g['weight_var'])}, "
            f"{_range_text('σb²', g['bias_var'])}")
        ax.errorbar(ks, ds, yerr=[ds - lo, hi - ds], marker=markers[n % len(markers)], capsize=3, label=label)
    ax.set_xlabel("degree k")
    _integer_x(ax)
    ax.set_ylabel("optimal depth L (hidden layers)")
    g = items[0].grid
    ax.set_title(f"depth maximising FV_k, {g['domain']} d={g['dim']} (bars: near-ties)", fontsize="medium")
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    return ax


def plot_ntk_vs_ck(result, ax=None):
    """Per degree, the fraction of the grid where FV_k(NTK) > FV_k(CK) (an :class:`spectra.NtkVsCk`)."""
    ax = _ax(ax)
    ks = [e["degree"] for e in result.entries]
    fr = [np.nan if e["fraction_ntk_greater"] is None else e["fraction_ntk_greater"] for e in result.entries]
    ax.bar(ks, fr, color="tab:blue", alpha=0.8)
    ax.axhline(0.5, color="k", lw=0.8, ls=":")
    ax.set_ylim(0, 1)
    ax.set_xlabel("degree k")
    _integer_x(ax)
    ax.set_ylabel("fraction of grid with FV_k(NTK) > FV_k(CK)")
    g = result.grid
    ax.set_title(f"{g['activation']}, {g['domain']} d={g['dim']}, depth {result.min_depth}..{int(g['depths'][-1])}, "
                 f"{g['weight_var'].size}×{g['bias_var'].size} (σw², σb²)", fontsize="medium")
    ax.grid(True, axis="y", alpha=0.3)
    return ax


def plot_ntk_vs_ck_examples(result, degree, ax=None):
    """FV_k against depth for the CK (dashed) and the NTK (solid) at the result's example points."""
    ax = _ax(ax)
    ks = list(result.grid["degrees"])
    i = ks.index(degree)
    for n, ex in enumerate(result.examples):
        color = f"C{n}"
        lab = f"σw²={_num(ex['weight_var'])}, σb²={_num(ex['bias_var'])}"
        sel = ex["depths"] >= result.min_depth
        ax.plot(*_positive(ex["depths"][sel], ex["ntk"][sel, i]), color=color, ls="-", label=lab + " NTK")
        ax.plot(*_positive(ex["depths"][sel], ex["ck"][sel, i]), color=color, ls="--", label=lab + " CK")
    ax.set_yscale("log")
    ax.set_xlabel("depth L (hidden layers)")
    ax.set_ylabel(f"fractional variance FV_{degree}")
    g = result.grid
    ax.set_title(f"{g['activation']}, {g['domain']} d={g['dim']}, degree {degree}", fontsize="medium")
    ax.legend(fontsize="x-small")
    ax.grid(True, alpha=0.3)
    return ax


def plot_probability_rank(experiments, ax=None, labels=None):
    """Probability against rank (log-log) of the boolean functions sampled by
    :func:`spectra.simplicity.simplicity_bias_experiment`, for one or several experiments; the
    dotted line is 1/N, the smallest probability N samples can show."""
    items = [experiments] if hasattr(experiments, "counts") else list(experiments)
    ax = _ax(ax)
    for n, e in enumerate(items):
        p = e.probabilities
        width = "∞ (GP)" if e.width == float("inf") else str(e.width)
        label = labels[n] if labels is not None else (f"{arch_label(e.spec)}, width {width}: "
                                                      f"P(const)={e.p_constant:.3g}, {e.n_distinct} distinct")
        ax.loglog(np.arange(1, p.size + 1), p, drawstyle="steps-post", label=label)
        ax.axhline(1 / e.n_samples, color=f"C{n}", lw=0.7, ls=":")
    ax.set_xlabel("rank of the boolean function")
    ax.set_ylabel("probability")
    e0 = items[0]
    ax.set_title(f"random networks on {{±1}}^{e0.dim}, N={e0.n_samples} samples", fontsize="medium")
    ax.legend(fontsize="x-small")
    ax.grid(True, which="major", alpha=0.3)
    return ax
