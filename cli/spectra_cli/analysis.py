"""The analysis commands: fracvar, optimal-depth, ntk-vs-ck, max-lr, simplicity.

Each parses its options, calls one library routine (:mod:`spectra.fractional_variance`,
:mod:`spectra.optimal_depth`, :mod:`spectra.learning_rate`, :mod:`spectra.simplicity`), prints a
table, CSV or JSON, and with ``--plot FILE`` draws the figure with :mod:`spectra.plots`.
"""
from __future__ import annotations

import math

import click

import spectra
from spectra.domains import DOMAINS

from .main import (
    FORMATS,
    MISSING,
    CLIError,
    _architecture,
    _dump_json,
    _echo_csv,
    _hyper_text,
    _Int,
    _library_errors,
    _OneOf,
    _resolve_precision,
    _short,
    _table,
    architecture_options,
    main,
    parse_grid,
    run_with_progress,
)

_DOMAIN_HELP = ("cube: uniform on {-1,+1}^d; sphere: uniform on sqrt(d)·S^{d-1} (d >= 2); gaussian: N(0, I_d) "
                "(FV_k summed over the radial index; one network at a time, so keep its grids small).")
_GRID_W_HELP = ("sigma_w^2: a number, a list 1,2,4 or a grid start:stop:num (numpy.linspace, both ends "
                "included), e.g. 1:5:41.")
_GRID_B_HELP = "sigma_b^2: a number, a list or a grid start:stop:num, e.g. 0:4:401."
_PLOT_HELP = "Also draw the figure to FILE (.png, .svg or .pdf, by extension); written atomically."


def _check_plot(path):
    if path is None:
        return None
    from spectra.plots import check_figure_path

    try:
        check_figure_path(path)
    except ValueError as e:
        raise CLIError(str(e)) from None
    return path


def _save(fig, path):
    import matplotlib.pyplot as plt

    from spectra.plots import save

    try:
        save(fig, path)
    except OSError as e:
        raise CLIError(f"plot: cannot write {path!r}: {e.strerror or e}") from None
    finally:
        plt.close(fig)  # pyplot keeps every figure until closed
    click.echo(f"wrote {path}", err=True)


def _figure(ncols, width=5.4, height=3.9):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), layout="constrained", squeeze=False)
    return fig, list(axes[0])


def parse_depths(text: str) -> list[int]:
    """Depths: an integer, a comma-separated list, or an inclusive range ``lo..hi``."""
    usage = f"depth must be an integer >= 0, a list 1,2,4 or a range lo..hi, e.g. 0..8; got {text!r}"
    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            if ".." in part:
                lo, hi = (int(x.strip(), 10) for x in part.split(".."))
                if lo > hi:
                    raise ValueError
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part, 10))
        except ValueError:
            raise CLIError(usage) from None
    if not out or min(out) < 0:
        raise CLIError(usage)
    return sorted(set(out))


def _kernels(text):
    ks = tuple(dict.fromkeys(k.strip().lower() for k in text.split(",")))
    for k in ks:
        if k not in spectra.KERNELS:
            raise CLIError(f"kernel must be one of {', '.join(spectra.KERNELS)} (or a comma-separated list); "
                           f"got {k!r}")
    return ks


def _grid_progress_total(domain, max_depth, nw, nb, threads):
    from spectra.fractional_variance import grid_total

    try:
        return grid_total(domain, max_depth, nw, nb, threads)
    except (ValueError, TypeError):
        return 1


def _compute_grid(domain, activation, dim, max_depth, wv, bv, kernels, max_degree, threads):
    from spectra.fractional_variance import fractional_variance_grid

    total = _grid_progress_total(domain, max_depth, wv.size, bv.size, threads) * (
        len(kernels) if domain == "gaussian" else 1)
    return run_with_progress(total, "grid", lambda progress: fractional_variance_grid(
        activation, dim, max_depth, wv, bv, kernels, max_degree=max_degree, domain=domain, progress=progress,
        threads=threads if domain == "cube" else None))


def _num(v):
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


def _axis_json(a):
    return {"min": float(a.min()), "max": float(a.max()), "num": int(a.size)}


def _grid_header(g):
    return {"activation": g["activation"], "domain": g["domain"], "dim": g["dim"],
            "grid": {"depth": _axis_json(g["depths"]), "weight_var": _axis_json(g["weight_var"]),
                     "bias_var": _axis_json(g["bias_var"])}}


def _grid_text(g):
    def rng(a):
        return f"{a[0]:g}" if a.size == 1 else f"{a[0]:g}..{a[-1]:g} ({a.size} values)"

    return (f"{g['activation']} on the {g['domain']} d={g['dim']}: depth {int(g['depths'][0])}..{int(g['depths'][-1])}, "
            f"weight_var {rng(g['weight_var'])}, bias_var {rng(g['bias_var'])}")


# ---------------------------------------------------------------------------------------
# fracvar
# ---------------------------------------------------------------------------------------


@main.command("fracvar")
@click.option("--domain", type=_OneOf("domain", DOMAINS), default="cube", show_default=True, help=_DOMAIN_HELP)
@click.option("--dim", type=_Int("dim"), default=128, show_default=True, help="Input dimension d.")
@click.option("--activation", default="relu", show_default=True, metavar="NAME",
              help="Activation name (see `spectra activations`) or expr:<sympy expression in x>.")
@click.option("--depth", "depths", default="2", show_default=True, metavar="LIST",
              help="Hidden layers: an integer, a list 1,2,4 or a range 0..8.")
@click.option("--weight-var", default="2", show_default=True, metavar="GRID", help=_GRID_W_HELP)
@click.option("--bias-var", default="0", show_default=True, metavar="GRID", help=_GRID_B_HELP)
@click.option("--kernel", "kernels", default="ntk", show_default=True, metavar="LIST", help="ck, ntk or ck,ntk.")
@click.option("--max-degree", type=_Int("max_degree"), default=None,
              help="Degrees 0..max-degree.  [default: cube min(dim, 10); sphere 10; gaussian 6]")
@click.option("--precision", default="double", show_default=True, metavar="PRECISION",
              help="One network: 'double', N digits or 'exact'. Several networks: double only.")
@click.option("--threads", type=_Int("threads"), default=None, help="Workers (cube sweeps; forked processes on Linux, else threads).")
@click.option("--format", "fmt", type=_OneOf("format", FORMATS), default="table", show_default=True)
@click.option("--plot", "plot", default=None, metavar="FILE", help=_PLOT_HELP)
def fracvar_cmd(domain, dim, activation, depths, weight_var, bias_var, kernels, max_degree, precision, threads, fmt,
                plot):
    """Fractional variance FV_k = multiplicity_k * mu_k / E K(x,x) per degree k.

    \b
    The share of a random network's (GP(0, K)) variance in degree k (CONVENTIONS section 3;
    Yang & Salman 2019, section 4); FV sums to 1 over all degrees ("tail" is the share of the
    degrees not listed). One network, or every combination of the depth list, the weight_var and
    bias_var grids and the kernels (one pass of the layer recursion at double precision).

    \b
    JSON: {activation, domain, dim, fractional_variance: [{kernel, depth, weight_var, bias_var,
    degree, value, error}], [tail]}; CSV: the same records, one per line.
    """
    _check_plot(plot)
    ds = parse_depths(depths)
    wv = parse_grid("weight_var", weight_var)
    bv = parse_grid("bias_var", bias_var)
    ks = _kernels(kernels)
    single = len(ds) == 1 and wv.size == 1 and bv.size == 1
    records, tails, items = [], {}, []
    if single:
        prec = _resolve_precision(precision)
        spec = _architecture(activation, ds[0], weight_var.strip(), bias_var.strip())
        from spectra.fractional_variance import fractional_variance

        for k in ks:
            with _library_errors():
                fv = fractional_variance(spec, dim, k, domain, max_degree=max_degree, precision=precision)
            items.append(fv)
            tails[k] = fv.tail
            for deg, v, e in zip(fv.degrees, fv.values, fv.errors):
                records.append({"kernel": k, "depth": ds[0], "weight_var": float(wv[0]), "bias_var": float(bv[0]),
                                "degree": int(deg), "value": _value_json(v, prec), "error": float(e)})
        header = {"activation": spec.activation.name, "domain": domain, "dim": dim, "precision": prec.label}
    else:
        if str(precision).strip().lower() not in ("double", "auto"):
            raise CLIError("precision: several networks are computed at double precision only; give one depth, "
                           "one weight_var and one bias_var for N digits or exact")
        for v, name in ((wv, "weight_var"), (bv, "bias_var")):
            for x in v:
                _hyper_text(name, repr(float(x)))
        g = _compute_grid(domain, activation, dim, max(ds), wv, bv, ks, max_degree, threads)
        for k in ks:
            fv, err = g["fv_" + k], g["fv_" + k + "_err"]
            for L in ds:
                for i, w in enumerate(g["weight_var"]):
                    for j, b in enumerate(g["bias_var"]):
                        for n, deg in enumerate(g["degrees"]):
                            val = float(fv[L, i, j, n])
                            records.append({"kernel": k, "depth": L, "weight_var": float(w), "bias_var": float(b),
                                            "degree": int(deg), "value": _num(val), "error": float(err[L, i, j, n])})
        header = {"activation": g["activation"], "domain": domain, "dim": dim, "precision": "double"}
    if fmt == "json":
        doc = dict(header)
        doc["fractional_variance"] = records
        if tails:
            doc["tail"] = {k: _value_json(t, items[0].spectrum.precision) for k, t in tails.items()}
        _dump_json(doc)
    elif fmt == "csv":
        cols = ("kernel", "depth", "weight_var", "bias_var", "degree", "value", "error")
        _echo_csv(cols + ("flag",), [[r[c] for c in cols] + [None if r["value"] is not None else "unresolved"]
                                     for r in records])
    else:
        _fracvar_table(header, records, tails, single)
    if plot:
        _fracvar_plot(plot, items, records, header, ks, ds, wv, bv, single)


def _value_json(v, prec):
    from spectra._format import digits_text

    if prec.kind in ("double", "auto"):
        return _num(float(v))
    if prec.kind == "digits":
        return digits_text(v, prec.digits)
    return str(v)


def _fracvar_table(header, records, tails, single):
    click.echo(f"Fractional variance FV_k = multiplicity_k * mu_k / E K(x,x): {header['activation']} on the "
               f"{header['domain']} d={header['dim']} ({header['precision']})")
    if single:
        rows = [[r["kernel"], r["degree"], _short(r["value"], 10), f"{r['error']:.1e}"] for r in records]
        for line in _table(["kernel", "degree", "FV_k", "error"], rows, left=("kernel",)):
            click.echo(line)
        for k, t in tails.items():
            click.echo(f"{k}: share of the degrees not listed (tail) {_short(t, 3)}")
        return
    degrees = sorted({r["degree"] for r in records})
    table = {}
    for r in records:
        table.setdefault((r["kernel"], r["depth"], r["weight_var"], r["bias_var"]), {})[r["degree"]] = r["value"]
    rows = [[k, L, f"{w:g}", f"{b:g}"] + [_short(v.get(deg), 4) for deg in degrees]
            for (k, L, w, b), v in table.items()]
    for line in _table(["kernel", "depth", "weight_var", "bias_var"] + [f"FV_{d}" for d in degrees], rows,
                       left=("kernel",)):
        click.echo(line)
    click.echo(f"({MISSING}: unresolved at double precision)")


def _fracvar_plot(path, items, records, header, ks, ds, wv, bv, single):
    import numpy as np

    from spectra import plots

    fig, (ax,) = _figure(1, 6.0, 4.0)
    if single:
        plots.plot_fractional_variance(items, ax=ax)
    else:
        curves = {}
        for r in records:
            curves.setdefault((r["kernel"], r["depth"], r["weight_var"], r["bias_var"]), []).append(
                (r["degree"], np.nan if r["value"] is None else r["value"]))
        if len(curves) > 12:
            raise CLIError(f"plot: {len(curves)} networks are too many curves for one figure (at most 12); use "
                           "`spectra optimal-depth --plot` for depth × degree heatmaps")
        for n, ((k, L, w, b), pts) in enumerate(curves.items()):
            x, y = np.array(pts).T
            keep = y > 0
            ax.plot(x[keep], y[keep], marker="os^vD<>p"[n % 8],
                    label=f"{header['activation']}, L={L}, σw²={w:g}, σb²={b:g} ({k.upper()})")
        ax.set_yscale("log")
        ax.set_xlabel("degree k")
        ax.set_ylabel("fractional variance FV_k")
        ax.set_title(f"{header['domain']} d={header['dim']}: share of variance per degree", fontsize="medium")
        ax.legend(fontsize="x-small")
        ax.grid(True, alpha=0.3)
    _save(fig, path)


# ---------------------------------------------------------------------------------------
# optimal-depth
# ---------------------------------------------------------------------------------------


def _grid_options(command):
    options = [
        click.option("--domain", type=_OneOf("domain", DOMAINS), default="cube", show_default=True, help=_DOMAIN_HELP),
        click.option("--activation", default="relu", show_default=True, metavar="NAME",
                     help="Activation name (see `spectra activations`) or expr:<sympy expression in x>."),
        click.option("--dim", type=_Int("dim"), default=128, show_default=True, help="Input dimension d."),
        click.option("--max-depth", type=_Int("max_depth"), default=32, show_default=True,
                     help="Depths 0..max-depth are searched (one pass of the layer recursion)."),
        click.option("--weight-var", default="2", show_default=True, metavar="GRID", help=_GRID_W_HELP),
        click.option("--bias-var", default="0:4:41", show_default=True, metavar="GRID", help=_GRID_B_HELP),
        click.option("--max-degree", type=_Int("max_degree"), default=8, show_default=True,
                     help="Degrees 0..max-degree."),
        click.option("--threads", type=_Int("threads"), default=None,
                     help="Workers (cube; forked processes on Linux, else threads).  [default: min(CPUs, 8)]"),
        click.option("--format", "fmt", type=_OneOf("format", FORMATS), default="table", show_default=True),
        click.option("--plot", "plot", default=None, metavar="FILE", help=_PLOT_HELP),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@main.command("optimal-depth")
@_grid_options
@click.option("--kernel", type=_OneOf("kernel", spectra.KERNELS), default="ntk", show_default=True)
@click.option("--rtol", type=float, default=1e-3, show_default=True,
              help="Grid points with FV_k >= (1 - rtol) * max (or within the error bounds) are near-ties.")
@click.option("--plot-degree", type=_Int("plot_degree"), default=None,
              help="Degree of the (weight_var x bias_var) heatmap in the figure.  [default: max-degree]")
def optimal_depth_cmd(domain, activation, dim, max_depth, weight_var, bias_var, max_degree, threads, fmt, plot,
                      kernel, rtol, plot_degree):
    """For each degree k, the depth (and weight_var, bias_var on the grid) maximising FV_k.

    \b
    Yang & Salman 2019, section 5: which depth learns degree-k features best. Maximised
    jointly over depth 0..max-depth and the weight_var x bias_var grid; near-ties (within
    --rtol or within the error bounds) are counted and their depth range shown. A maximiser
    at max-depth is marked (the optimum may lie deeper).

    \b
    Example (the paper's relu grid):
      spectra optimal-depth --activation relu --kernel ntk --dim 128 --max-depth 128 \\
          --weight-var 2 --bias-var 0:4:401 --max-degree 8 --format json

    \b
    JSON: {activation, domain, dim, grid: {depth, weight_var, bias_var: {min, max, num}}, kernel, rtol,
    optimal_depth: [{degree, depth, weight_var, bias_var, fractional_variance, error, ties,
    tie_depths, at_max_depth, undecided, note}]}.
    """
    _check_plot(plot)
    from spectra.optimal_depth import optimal_depth

    wv = parse_grid("weight_var", weight_var)
    bv = parse_grid("bias_var", bias_var)
    if plot_degree is not None and (plot_degree < 0 or plot_degree > max_degree):
        raise CLIError(f"plot_degree must be in 0..{max_degree} (the max-degree); got {plot_degree}")
    g = _compute_grid(domain, activation, dim, max_depth, wv, bv, (kernel,), max_degree, threads)
    with _library_errors():
        res = optimal_depth(grid=g, kernel=kernel, rtol=rtol)
    entries = [{k: v for k, v in e.items() if k != "tie_points"} for e in res.entries]
    if fmt == "json":
        doc = {**_grid_header(g), "kernel": kernel, "rtol": rtol, "optimal_depth": entries}
        _dump_json(doc)
    elif fmt == "csv":
        cols = ("degree", "depth", "weight_var", "bias_var", "fractional_variance", "error", "ties", "at_max_depth",
                "note")
        _echo_csv(cols, [[e.get(c) for c in cols] for e in entries])
    else:
        click.echo(f"Optimal depth (max FV_k over the grid), {kernel.upper()}: {_grid_text(g)}")
        rows = []
        for e in entries:
            if e["depth"] is None:
                rows.append([e["degree"], MISSING, MISSING, MISSING, _short(e["fractional_variance"]), MISSING,
                             MISSING, e["note"] or ""])
                continue
            td = e["tie_depths"]
            rows.append([e["degree"], e["depth"], f"{e['weight_var']:g}", f"{e['bias_var']:g}",
                         _short(e["fractional_variance"], 8), f"{e['error']:.1e}",
                         f"{e['ties']} (depth {td[0]}..{td[1]})" if e["ties"] else "0", e["note"] or ""])
        for line in _table(["degree", "depth", "weight_var", "bias_var", "FV_k", "error", "near-ties", "note"], rows,
                           left=("near-ties", "note")):
            click.echo(line)
    if plot:
        _optimal_depth_plot(plot, res, plot_degree if plot_degree is not None else max_degree)


def _optimal_depth_plot(path, res, degree):
    import numpy as np

    from spectra import plots

    g = res.grid
    two_d = g["weight_var"].size > 1 and g["bias_var"].size > 1
    fig, axes = _figure(3 if two_d else 2)
    plots.plot_optimal_depth(res, ax=axes[0])
    ks = list(g["degrees"])
    e = res.entries[ks.index(degree)]
    wi = 0 if e["weight_var"] is None else int(np.argmin(np.abs(g["weight_var"] - e["weight_var"])))
    bi = 0 if e["bias_var"] is None else int(np.argmin(np.abs(g["bias_var"] - e["bias_var"])))
    plots.plot_depth_degree(g, res.kernel, wi, bi, ax=axes[1])
    if two_d:
        dmap = res.depth_map[..., ks.index(degree)].astype(float)
        dmap[dmap < 0] = np.nan  # FV_k = 0 (structural) or unresolved at every depth: no optimum
        plots.plot_hyper_heatmap(dmap, g["weight_var"], g["bias_var"], ax=axes[2],
                                 label="optimal depth L",
                                 title=f"{g['activation']} {res.kernel.upper()}: optimal depth of degree {degree}")
    _save(fig, path)


# ---------------------------------------------------------------------------------------
# ntk-vs-ck
# ---------------------------------------------------------------------------------------


@main.command("ntk-vs-ck")
@_grid_options
@click.option("--min-depth", type=_Int("min_depth"), default=1, show_default=True,
              help="Compare depths min-depth..max-depth (at depth 0 the NTK equals the CK).")
@click.option("--plot-degree", type=_Int("plot_degree"), default=None,
              help="Degree of the example curves (FV_k against depth) in the figure.  [default: 1]")
def ntk_vs_ck_cmd(domain, activation, dim, max_depth, weight_var, bias_var, max_degree, threads, fmt, plot,
                  min_depth, plot_degree):
    """Per degree, the fraction of the (depth x weight_var x bias_var) grid where FV_k(NTK) > FV_k(CK).

    \b
    Yang & Salman 2019, section 6: does training all layers (NTK) favour more complex
    features than training the last layer (CK)? A point counts as "NTK greater" or "CK
    greater" only where the difference exceeds the error bounds ("tied" otherwise);
    unresolved values are counted apart and left out of the fraction.

    \b
    JSON: {activation, domain, dim, grid: {depth, weight_var, bias_var: {min, max, num}}, min_depth,
    ntk_vs_ck: [{degree, points, ntk_greater, ck_greater, tied, unresolved, fraction_ntk_greater}]}.
    """
    _check_plot(plot)
    from spectra.optimal_depth import ntk_vs_ck

    wv = parse_grid("weight_var", weight_var)
    bv = parse_grid("bias_var", bias_var)
    if plot_degree is not None and (plot_degree < 0 or plot_degree > max_degree):
        raise CLIError(f"plot_degree must be in 0..{max_degree} (the max-degree); got {plot_degree}")
    if min_depth > max_depth:
        raise CLIError(f"min_depth must be <= max_depth = {max_depth}; got {min_depth}")
    g = _compute_grid(domain, activation, dim, max_depth, wv, bv, ("ck", "ntk"), max_degree, threads)
    with _library_errors():
        res = ntk_vs_ck(grid=g, min_depth=min_depth)
    if fmt == "json":
        _dump_json({**_grid_header(g), "min_depth": min_depth, "ntk_vs_ck": res.entries})
    elif fmt == "csv":
        cols = ("degree", "points", "ntk_greater", "ck_greater", "tied", "unresolved", "fraction_ntk_greater")
        _echo_csv(cols, [[e[c] for c in cols] for e in res.entries])
    else:
        click.echo(f"NTK vs CK fractional variance, depth >= {min_depth}: {_grid_text(g)}")
        rows = [[e["degree"], e["points"], e["ntk_greater"], e["ck_greater"], e["tied"], e["unresolved"],
                 MISSING if e["fraction_ntk_greater"] is None else f"{e['fraction_ntk_greater']:.3f}"]
                for e in res.entries]
        for line in _table(["degree", "points", "NTK>CK", "CK>NTK", "tied", "unresolved", "fraction NTK>CK"], rows):
            click.echo(line)
    if plot:
        from spectra import plots

        fig, axes = _figure(2)
        plots.plot_ntk_vs_ck(res, ax=axes[0])
        plots.plot_ntk_vs_ck_examples(res, 1 if plot_degree is None else plot_degree, ax=axes[1])
        _save(fig, plot)


# ---------------------------------------------------------------------------------------
# simplicity
# ---------------------------------------------------------------------------------------


def _width(text):
    t = text.strip().lower()
    if t in ("inf", "infinity", "gp"):
        return math.inf
    try:
        w = int(t, 10)
    except ValueError:
        w = 0
    if w < 1:
        raise CLIError(f"width must be an integer >= 1 or 'inf' (the GP limit); got {text!r}")
    return w


def _simplicity_check_json(chk):
    def clean(d):
        out = {}
        for k, v in d.items():
            if isinstance(v, (tuple, list)):
                out[k] = [x if isinstance(x, int) else float(x) for x in v]
            elif isinstance(v, str):
                out[k] = v
            else:
                out[k] = float(v)
        return out

    return {"holds": bool(chk.holds), "pairs": chk.n_pairs, "violations": [clean(v) for v in chk.violations],
            "undecided": [clean(v) for v in chk.undecided]}


@main.command("simplicity")
@click.option("--dim", type=_Int("dim"), default=7, show_default=True,
              help="Cube dimension d (the experiment enumerates all 2^d points: d <= 10).")
@architecture_options(bias_var="2", kernel="ck", activation_note="The sampler needs its numpy function.",
                      kernel_help="Kernel of the spectral check (the sampled functions follow the CK).")
@click.option("--samples", type=_Int("samples"), default=10000, show_default=True,
              help="Random networks N (0: only the spectral check).")
@click.option("--width", "width_text", default="256", show_default=True, metavar="W",
              help="Hidden width, or 'inf' for samples of GP(0, CK) (the infinite-width limit).")
@click.option("--seed", type=_Int("seed"), default=0, show_default=True, help="Seed (same seed, same counts).")
@click.option("--threads", type=_Int("threads"), default=1, show_default=True, help="Sampler threads.")
@click.option("--top", type=_Int("top"), default=10, show_default=True, help="Most frequent functions listed.")
@click.option("--format", "fmt", type=_OneOf("format", FORMATS), default="table", show_default=True)
@click.option("--plot", "plot", default=None, metavar="FILE", help=_PLOT_HELP)
def simplicity_cmd(dim, activation, depth, weight_var, bias_var, kernel, samples, width_text, seed, threads, top, fmt,
                   plot):
    """Simplicity bias: the weak spectral check and the random-network experiment on {-1,+1}^d.

    \b
    Spectral (CONVENTIONS section 3): mu_0 >= mu_2 >= mu_4 >= ... and mu_1 >= mu_3 >= ...
    on the cube; every violation beyond the error bounds is reported.
    Experiment (Valle-Perez et al. 2019; Yang & Salman 2019, section 4): N random networks
    of the given width in NTK parameterisation (or GP(0, CK) samples with --width inf),
    evaluated on all 2^d points and thresholded at 0, are counted as boolean functions:
    probability against rank, next to the CK spectrum of the same architecture.
    Published contrast (d = 7): relu depth 2, weight_var = bias_var = 2 concentrates on the
    constant functions; erf with bias_var = 0 never gives a constant (odd functions only);
    erf depth 32, weight_var 4, bias_var 0 is close to uniform over the odd functions.

    \b
    Functions are printed as hexadecimal truth tables: bit i is [f(x_i) > 0] with
    x_i[j] = 1 - 2*((i >> j) & 1) (x_0 = all ones).
    JSON: {activation, depth, weight_var, bias_var, dim, kernel, spectrum: [{degree, value,
    normalized, fractional_variance}], weak_simplicity_bias: {holds, pairs, violations,
    undecided}, and with --samples > 0: width, samples, seed, distinct, p_constant, frac_odd,
    frac_even, entropy_bits, collision_probability, top: [{rank, function, count,
    probability}], counts (all, descending)}.
    """
    _check_plot(plot)
    from spectra.simplicity import simplicity_bias_experiment, weak_simplicity_bias

    spec = _architecture(activation, depth, weight_var, bias_var)
    width = _width(width_text)
    if samples < 0:
        raise CLIError(f"samples must be an integer >= 0; got {samples}")
    if top < 0:
        raise CLIError(f"top must be an integer >= 0; got {top}")
    with _library_errors():
        s = spectra.cube_eigenvalues(spec, dim, kernel, max_degree=dim)
        chk = weak_simplicity_bias(s)
    exp = None
    if samples:
        state = {"done": 0}

        def compute(progress):
            def step(done, total):
                progress(done - state["done"])
                state["done"] = done

            return simplicity_bias_experiment(spec, dim, samples, width, seed=seed, threads=threads, progress=step)

        exp = run_with_progress(samples, "networks", compute)
    norm = s.normalized
    fv = s.fractional_variance
    spec_rows = [{"degree": int(k), "value": _num(float(v)), "normalized": _num(float(nv)),
                  "fractional_variance": _num(float(f))} for k, v, nv, f in zip(s.degrees, s.values, norm, fv)]
    tops = []
    if exp is not None:
        for i in range(min(top, exp.n_distinct)):
            tops.append({"rank": i + 1, "function": "0x" + exp.functions[i][::-1].tobytes().hex(),
                         "count": int(exp.counts[i]), "probability": float(exp.probabilities[i])})
    if fmt == "json":
        doc = {**spec.as_dict(), "dim": dim, "kernel": kernel, "spectrum": spec_rows,
               "weak_simplicity_bias": _simplicity_check_json(chk)}
        if exp is not None:
            doc.update(width="inf" if width == math.inf else width, samples=samples, seed=int(exp.seed),
                       distinct=int(exp.n_distinct), p_constant=exp.p_constant, frac_odd=exp.frac_odd,
                       frac_even=exp.frac_even, entropy_bits=exp.entropy_bits,
                       collision_probability=exp.collision_probability, top=tops,
                       counts=[int(c) for c in exp.counts])
        _dump_json(doc)
    elif fmt == "csv":
        if exp is None:
            _echo_csv(("degree", "value", "normalized", "fractional_variance"),
                      [[r[c] for c in ("degree", "value", "normalized", "fractional_variance")] for r in spec_rows])
        else:
            _echo_csv(("rank", "function", "count", "probability"),
                      [[i + 1, "0x" + exp.functions[i][::-1].tobytes().hex(), int(c), int(c) / samples]
                       for i, c in enumerate(exp.counts)])
    else:
        _simplicity_table(spec, dim, kernel, spec_rows, chk, exp, tops)
    if plot:
        from spectra import plots

        fig, axes = _figure(2 if exp is not None else 1)
        if exp is not None:
            plots.plot_probability_rank(exp, ax=axes[0])
        plots.plot_spectrum(s, ax=axes[-1], normalized=True)
        _save(fig, plot)


def _simplicity_table(spec, dim, kernel, spec_rows, chk, exp, tops):
    from .main import _arch_text

    click.echo(f"Simplicity bias: {_arch_text(spec)}, cube {{-1,+1}}^{dim}")
    click.echo(f"{kernel.upper()} spectrum (normalised mu_k, fractional variance):")
    rows = [[r["degree"], _short(r["normalized"]), _short(r["fractional_variance"])] for r in spec_rows]
    for line in _table(["degree", "mu_k/E K(x,x)", "FV_k"], rows):
        click.echo(line)
    verdict = "holds" if chk.holds else f"VIOLATED at {len(chk.violations)} pair(s)"
    click.echo(f"weak spectral simplicity bias (mu_k >= mu_k+2 within each parity): {verdict}"
               + (f"; {len(chk.undecided)} pair(s) undecided within error" if chk.undecided else ""))
    for v in chk.violations:
        k, k2 = v["degrees"]
        click.echo(f"  mu_{k2} - mu_{k} = {float(v['excess']):.3e} > error {float(v['tolerance']):.1e}")
    if exp is None:
        return
    width = "inf (GP)" if exp.width == math.inf else exp.width
    click.echo(f"{exp.n_samples} random networks (width {width}, seed {exp.seed}): {exp.n_distinct} distinct "
               f"functions; P(constant) {exp.p_constant:.4g}; odd {exp.frac_odd:.3g}; even {exp.frac_even:.3g}; "
               f"entropy {exp.entropy_bits:.2f} bits (log2 N = {math.log2(exp.n_samples):.2f})")
    rows = [[t["rank"], t["count"], f"{t['probability']:.4g}", t["function"]] for t in tops]
    for line in _table(["rank", "count", "probability", "function (truth table, hex)"], rows,
                       left=("function (truth table, hex)",)):
        click.echo(line)


# ---------------------------------------------------------------------------------------
# max-lr
# ---------------------------------------------------------------------------------------


def _parse_int_list(label, text, lo=1, example="16,64,256", sort=True):
    """A comma-separated list of integers >= ``lo``, without repeats: sorted, or in the given
    order (``sort=False``)."""
    try:
        vals = [int(p.strip(), 10) for p in text.split(",")]
    except ValueError:
        vals = []
    if not vals or min(vals) < lo:
        raise CLIError(f"{label} must be a comma-separated list of integers >= {lo}, e.g. {example}; got {text!r}")
    return sorted(set(vals)) if sort else list(dict.fromkeys(vals))


@main.command("max-lr")
@click.option("--domain", type=_OneOf("domain", DOMAINS), default="cube", show_default=True, help=_DOMAIN_HELP)
@click.option("--dim", type=_Int("dim"), default=16, show_default=True, help="Input dimension d.")
@architecture_options(bias_var="0.1", activation_note="--empirical needs its numpy function.",
                      kernel_help="ntk: train every layer; ck: train the readout layer only.")
@click.option("--loss", type=_OneOf("loss", ("mean", "sum")), default="mean", show_default=True,
              help="mean: L = (1/2n) sum (f - y)^2 (eta* = 2/lambda_max); sum: L = (1/2) sum (f - y)^2 "
                   "(eta* = 2/(n lambda_max), needs --samples).")
@click.option("--samples", type=_Int("samples"), default=None,
              help="n training points: adds the finite-sample prediction lambda_max(Theta_train/n) over "
                   "--draws draws (and sets n for --empirical, default 64).")
@click.option("--draws", type=_Int("draws"), default=8, show_default=True, help="Draws of the n points.")
@click.option("--convergence", default=None, metavar="LIST",
              help="Also show how the finite-sample prediction approaches the operator's as n grows, e.g. "
                   "16,64,256,1024.")
@click.option("--empirical", is_flag=True,
              help="Train finite-width networks by full-batch gradient descent and find the instability "
                   "and divergence thresholds by bisection.")
@click.option("--width", type=_Int("width"), default=2048, show_default=True, help="Hidden width (--empirical).")
@click.option("--steps", type=_Int("steps"), default=300, show_default=True,
              help="Steps T watched for the instability criterion (--empirical).")
@click.option("--rtol", type=float, default=0.01, show_default=True, help="Relative bracket of the bisection.")
@click.option("--seed", type=_Int("seed"), default=0, show_default=True)
@click.option("--format", "fmt", type=_OneOf("format", FORMATS), default="table", show_default=True)
@click.option("--plot", "plot", default=None, metavar="FILE", help=_PLOT_HELP)
def max_lr_cmd(domain, dim, activation, depth, weight_var, bias_var, kernel, loss, samples, draws, convergence,
               empirical, width, steps, rtol, seed, fmt, plot):
    """Largest stable learning rate of full-batch gradient descent in the kernel regime.

    \b
    CONVENTIONS section 3: with L = (1/2n) sum_i (f(x_i) - y_i)^2, gradient descent in the NTK
    regime is u <- u - eta (Theta_train/n)(u - y), stable iff eta < 2/lambda_max(Theta_train/n);
    as n grows lambda_max(Theta_train/n) tends to the largest operator eigenvalue mu_max
    (unnormalised). Printed: the infinite-data prediction eta* = 2/mu_max, with --samples the
    finite-sample prediction on n drawn points, and with --empirical the thresholds measured on
    finite-width networks in NTK parameterisation trained on n points with random +-1 targets:
    (a) instability: the loss rises at some step of the first T; (b) divergence: the loss blows
    up (> 1e10 x its start) or has not come down after T steps. Finite-width networks survive
    above (a) by the catapult effect. Ratios are to the finite-sample prediction on the SAME
    points (analytic NTK).

    \b
    JSON: {max_learning_rate, top_eigenvalue, top_degree, loss, domain, dim, kernel, ...,
    [finite_sample: {...}], [convergence: [...]], [empirical_instability_learning_rate,
    empirical_divergence_learning_rate, instability_ratio, divergence_ratio, empirical: {...}]}.
    """
    _check_plot(plot)
    from spectra.learning_rate import (
        empirical_learning_rate,
        finite_sample_convergence,
        finite_sample_learning_rate,
        max_learning_rate,
    )

    spec = _architecture(activation, depth, weight_var, bias_var)
    ns = _parse_int_list("convergence", convergence) if convergence else None
    if empirical and kernel != "ntk":
        raise CLIError("kernel: --empirical trains every layer, which the NTK describes; use --kernel ntk")
    if not (0 < rtol < 1):
        raise CLIError(f"rtol must be in (0, 1); got {rtol}")
    with _library_errors():
        pred = max_learning_rate(spec, domain, dim, kernel=kernel, loss=loss, samples=samples)
    doc = pred.as_dict()
    fs = conv = emp = None
    if samples is not None:
        fs = run_with_progress(1, "draws", lambda progress: finite_sample_learning_rate(
            spec, domain, dim, samples, draws=draws, seed=seed, kernel=kernel, loss=loss))
        doc["finite_sample"] = fs.as_dict()
    if ns:
        conv = run_with_progress(len(ns), "samples", lambda progress: finite_sample_convergence(
            spec, domain, dim, samples=tuple(ns), draws=draws, seed=seed, kernel=kernel))
        doc["convergence"] = conv.as_dict()["rows"]
    if empirical:
        n_emp = 64 if samples is None else samples

        def compute(progress):
            return empirical_learning_rate(spec, domain, dim, samples=n_emp, width=width, seed=seed, steps=steps,
                                           rtol=rtol, loss=loss, progress=lambda event: None)

        emp = run_with_progress(1, "training", compute)
        e = emp.as_dict()
        doc.update({k: e[k] for k in ("empirical_instability_learning_rate", "empirical_divergence_learning_rate",
                                      "instability_ratio", "divergence_ratio")})
        doc["empirical"] = e
    for key in ("spec",):
        doc.pop(key, None)
    doc = {**spec.as_dict(), **doc}
    if fmt == "json":
        _dump_json(doc)
    elif fmt == "csv":
        rows = [["infinite_data", pred.max_learning_rate, pred.top_eigenvalue, None]]
        if fs is not None:
            rows.append(["finite_sample", fs.max_learning_rate, fs.top_eigenvalue, None])
        if emp is not None:
            rows.append(["empirical_instability", emp.empirical_instability_learning_rate, None, emp.instability_ratio])
            rows.append(["empirical_divergence", emp.empirical_divergence_learning_rate, None, emp.divergence_ratio])
        _echo_csv(("quantity", "learning_rate", "top_eigenvalue", "ratio_to_prediction"), rows)
    else:
        _max_lr_table(spec, pred, fs, conv, emp)
    if plot:
        _max_lr_plot(plot, spec, pred, fs, conv, emp)


def _max_lr_table(spec, pred, fs, conv, emp):
    from .main import _arch_text

    lossdef = "L = (1/2n) sum (f - y)^2" if pred.loss == "mean" else "L = (1/2) sum (f - y)^2"
    click.echo(f"Maximal learning rate ({pred.kernel.upper()}, {lossdef}): {_arch_text(spec)}, "
               f"{pred.domain} d={pred.dim}")
    where = f"degree {pred.top_degree}" + (f", radial {pred.top_radial_index}" if pred.top_radial_index is not None
                                           else "")
    n_text = f" with n = {pred.samples}" if pred.loss == "sum" else ""
    click.echo(f"infinite data: mu_max = {pred.top_eigenvalue:.10g} ({where}) -> eta* = {pred.max_learning_rate:.6g}"
               f"{n_text}")
    if fs is not None:
        click.echo(f"finite sample n = {fs.samples} ({fs.draws} draws): lambda_max(Theta/n) = {fs.top_eigenvalue:.6g} "
                   f"+- {fs.top_eigenvalue_std:.2g} -> eta = {fs.max_learning_rate:.6g} "
                   f"(range {fs.max_learning_rate_min:.4g}..{fs.max_learning_rate_max:.4g})")
    if conv is not None:
        rows = [[r["samples"], f"{r['top_eigenvalue_mean']:.6g}", f"{r['top_eigenvalue_std']:.2g}",
                 f"{r['ratio_mean']:.4f}", f"{r['max_learning_rate']:.6g}"] for r in conv.rows]
        for line in _table(["n", "lambda_max(Theta/n)", "std", "ratio to mu_max", "eta"], rows):
            click.echo(line)
    if emp is not None:
        click.echo(f"empirical (width {emp.width}, n = {emp.samples}, {emp.targets} targets, seed {emp.seed}); "
                   f"prediction on these points eta = {emp.max_learning_rate:.6g}, "
                   f"from the empirical NTK at init {emp.empirical_ntk_learning_rate:.6g}")

        def lr(v):
            return MISSING if v is None else f"{v:.6g}"

        def ratio(v):
            return MISSING if v is None else f"{v:.4f}"

        rows = [["(a) instability", lr(emp.empirical_instability_learning_rate), ratio(emp.instability_ratio),
                 emp.instability_criterion],
                ["(b) divergence", lr(emp.empirical_divergence_learning_rate), ratio(emp.divergence_ratio),
                 emp.divergence_criterion]]
        for line in _table(["threshold", "eta", "ratio", "criterion"], rows, left=("threshold", "criterion")):
            click.echo(line)


def _max_lr_plot(path, spec, pred, fs, conv, emp):
    import numpy as np

    from spectra import plots

    fig, (ax,) = _figure(1, 6.2, 4.0)
    ax.axhline(pred.max_learning_rate, color="k", lw=1.2, label=f"infinite data 2/μ_max = {pred.max_learning_rate:.4g}")
    if conv is not None:
        n = np.array([r["samples"] for r in conv.rows], dtype=float)
        lam = np.array([r["top_eigenvalue_mean"] for r in conv.rows])
        sd = np.array([r["top_eigenvalue_std"] for r in conv.rows])
        ax.errorbar(n, 2 / lam, yerr=2 * sd / lam**2, marker="o", capsize=3,
                    label="finite sample 2/λ_max(Θ/n) (mean ± sd over draws)")
    if fs is not None:
        ax.errorbar([fs.samples], [fs.max_learning_rate], yerr=[[fs.max_learning_rate - fs.max_learning_rate_min],
                                                               [fs.max_learning_rate_max - fs.max_learning_rate]],
                    marker="s", color="C1", capsize=3, ls="none", label=f"finite sample n = {fs.samples}")
    if emp is not None:
        for v, m, lab in ((emp.empirical_instability_learning_rate, "v", "(a) instability"),
                          (emp.empirical_divergence_learning_rate, "^", "(b) divergence")):
            if v is not None:
                ax.plot([emp.samples], [v], m, ms=9, ls="none", label=f"width {emp.width}: {lab} = {v:.4g}")
        ax.plot([emp.samples], [emp.max_learning_rate], "x", ms=9, color="C3", ls="none",
                label=f"prediction on the training points = {emp.max_learning_rate:.4g}")
    ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training points n")
    ax.set_ylabel("learning rate η (mean loss)" if pred.loss == "mean" else "learning rate η (sum loss)")
    ax.set_title(f"{plots.arch_label(spec, pred.kernel)}, {pred.domain} d={pred.dim}", fontsize="medium")
    ax.legend(fontsize="x-small")
    ax.grid(True, which="both", alpha=0.3)
    _save(fig, path)
