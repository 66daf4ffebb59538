"""The verification commands: ``spectra verify walsh | gram | width``.

Each states up front how much memory it will use (stderr), refuses with one line when that does
not fit (naming the largest size that does), runs on ``--backend numpy`` (default) or ``cupy``
(a GPU; ``pip install nn-spectra[gpu]``), prints a table, CSV or JSON, and with ``--plot FILE``
draws the figure. The library side is :mod:`spectra.verify` and :mod:`spectra.walsh`.
"""
from __future__ import annotations

import math
import time

import click

from spectra.backend import BACKENDS
from spectra.domains import DOMAINS

from .analysis import _PLOT_HELP, _check_plot, _figure, _save
from .main import (
    FORMATS,
    MISSING,
    CLIError,
    ComputationError,
    _arch_text,
    _architecture,
    _dump_json,
    _echo_csv,
    _Int,
    _library_errors,
    _one_line,
    _OneOf,
    _short,
    _table,
    architecture_options,
    main,
    run_with_progress,
)

_BACKEND_HELP = ("Array library: numpy (CPU), cupy (a CUDA GPU; pip install 'nn-spectra[gpu]'), or "
                 "array-api-strict (the strict array-API reference implementation, for testing).")
_MEMORY_HELP = ("Memory budget, e.g. 8G, 512M or 1e9 (bytes).  [default: 80% of the host's available "
                "memory; 90% of the GPU's free memory with cupy]")


def _common_options(command):
    options = [
        click.option("--backend", type=_OneOf("backend", BACKENDS), default="numpy", show_default=True,
                     help=_BACKEND_HELP),
        click.option("--max-memory", default=None, metavar="SIZE", help=_MEMORY_HELP),
        click.option("--format", "fmt", type=_OneOf("format", FORMATS), default="table", show_default=True),
        click.option("--plot", default=None, metavar="FILE", help=_PLOT_HELP),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@main.group("verify")
def verify():
    """Check the eigenvalues against data: the Walsh transform of a kernel row over the whole
    cube, Gram matrices of sampled points, and random networks of finite width.

    \b
    These are the heavy computations of the project; they run on numpy by default and on a
    GPU with --backend cupy (one array-API code path). Each command states how much memory it
    will use and refuses, naming the largest size that fits, instead of running out.

    \b
    Examples:
      spectra verify walsh --dim 20 --activation erf --depth 3
      spectra verify gram --domain sphere --dim 8 --samples 4000 --plot gram.png
      spectra verify width --widths 64,256,1024,4096 --samples 256 --seeds 3 --plot width.png
    """


def _backend(name):
    from spectra.backend import get_backend

    with _library_errors():
        return get_backend(name)


def _budget(max_memory):
    if max_memory is None:
        return None
    from spectra.backend import parse_bytes

    with _library_errors():
        return parse_bytes(max_memory)


def _run(total, label, compute):
    """:func:`run_with_progress`, with the library's numerical failures (e.g. a quadrature of the
    theory that does not converge: ArithmeticError) as one-line errors, exit status 1."""
    try:
        return run_with_progress(total, label, compute)
    except ArithmeticError as e:
        if isinstance(e, OverflowError):
            raise CLIError(_one_line(e)) from None
        raise ComputationError(_one_line(e) or type(e).__name__) from None


def _announce(text):
    click.echo(text, err=True)


def _memory_line(command, what, need, be, budget):
    from spectra.backend import available_memory, format_bytes

    avail = budget if budget is not None else available_memory(be)
    of = f" of {format_bytes(avail)} {'allowed' if budget is not None else 'available'}" if avail else ""
    _announce(f"verify {command}: {what}; about {format_bytes(need)} of memory{of} ({be.describe()})")


def _precheck(need, what, be, budget, largest):
    from spectra.backend import check_memory

    with _library_errors():
        check_memory(need, what, be, budget, largest)


def _sci(v, digits=3):
    if v is None:
        return MISSING
    v = float(v)
    if not math.isfinite(v):
        return MISSING
    return "0" if v == 0 else f"{v:.{digits}e}"


# ---------------------------------------------------------------------------------------
# walsh
# ---------------------------------------------------------------------------------------


@verify.command("walsh")
@click.option("--dim", type=_Int("dim"), default=16, show_default=True,
              help="D: all 2^D points of the cube {-1,+1}^D (D = 24 needs 256 MiB at double-double; "
                   "30 needs 16 GiB).")
@architecture_options
@click.option("--precision", type=_OneOf("precision", ("double", "double-double")), default="double-double",
              show_default=True,
              help="double-double: the kernel row to 34 digits, transformed with error-free additions and "
                   "compared with the theory at 25 digits (every coefficient to ~1e-20 relative); double: "
                   "float64 throughout (small high-degree coefficients then carry the transform's rounding, "
                   "reported as the bound).")
@click.option("--rtol", type=float, default=1e-12, show_default=True,
              help="A degree passes when its largest relative error is <= rtol (or within the rounding bound).")
@_common_options
def walsh_cmd(dim, activation, depth, weight_var, bias_var, kernel, precision, rtol, backend, max_memory, fmt, plot):
    """The exact full-cube check: Walsh-Hadamard transform of the kernel row K(x, 1).

    \b
    Evaluates the D + 1 distinct values Phi(1 - 2j/D) of the row, scatters them over all 2^D
    points by popcount, takes the fast Walsh-Hadamard transform (O(D 2^D), in place, blocked) and
    compares every one of the 2^D coefficients with mu_|S| from the theory (the Krawtchouk
    transform of `spectra eigs`): per degree the largest absolute and relative error and the
    bound that rounding explains. Exit status 1 if a degree fails.

    \b
    JSON: {check, activation, depth, weight_var, bias_var, kernel, dim, points, precision, backend,
    rtol, memory_bytes, seconds, passed, degrees: [{degree, multiplicity, theory, theory_error,
    empirical_min, empirical_max, max_abs_error, max_rel_error, bound, ok}]}.
    """
    _check_plot(plot)
    spec = _architecture(activation, depth, weight_var, bias_var)
    be = _backend(backend)
    budget = _budget(max_memory)
    from spectra import walsh as W

    with _library_errors():
        if not 1 <= dim <= W.MAX_WALSH_DIM:
            raise ValueError(f"dim must be an integer in 1..{W.MAX_WALSH_DIM}; got {dim}")
        need = W.walsh_memory(dim, precision, be)
        from spectra.verify import check_kernel

        check_kernel(spec, kernel)
    _precheck(need, f"walsh at dim {dim} ({precision})", be, budget,
              lambda b: W._largest_dim_text(b, precision, be, None))
    _memory_line("walsh", f"2^{dim} = {2**dim} points, {precision}", need, be, budget)
    t0 = time.perf_counter()
    res = _run(W.walsh_steps(dim, be), "walsh", lambda progress: W.walsh_check(
        spec, dim, kernel, precision=precision, backend=be, rtol=rtol, max_memory=budget, progress=progress))
    elapsed = time.perf_counter() - t0
    recs = res.to_records()
    if fmt == "json":
        doc = res.to_dict()
        doc["seconds"] = {**doc["seconds"], "total": elapsed}
        _dump_json(doc)
    elif fmt == "csv":
        cols = ("degree", "multiplicity", "theory", "theory_error", "empirical_min", "empirical_max",
                "max_abs_error", "max_rel_error", "bound", "ok")
        _echo_csv(cols, [[r[c] for c in cols] for r in recs])
    else:
        click.echo(f"Walsh check: {_arch_text(spec)}, {kernel.upper()} on the cube {{-1,+1}}^{dim} "
                   f"({2**dim} points), {precision}, {be.describe()}")
        rows = [[r["degree"], r["multiplicity"], _sci(r["theory"], 9),
                 f"{_sci(r['empirical_min'], 9)}..{_sci(r['empirical_max'], 9)}" if r["multiplicity"] > 1
                 else _sci(r["empirical_min"], 9),
                 _sci(r["max_abs_error"], 1), _sci(r["max_rel_error"], 1), _sci(r["bound"], 1),
                 "yes" if r["ok"] else "NO"] for r in recs]
        for line in _table(["degree", "mult", "theory mu_k", "Walsh coefficients", "max abs err",
                            "max rel err", "bound", "ok"], rows):
            click.echo(line)
        rel = [r["max_rel_error"] for r in recs if r["max_rel_error"] is not None]
        verdict = "all degrees agree" if res.passed else f"{sum(not r['ok'] for r in recs)} degree(s) FAIL"
        click.echo(f"{verdict}: max relative error {_sci(max(rel) if rel else None, 1)} (rtol {rtol:g}); "
                   f"{elapsed:.2f} s")
    if plot:
        from spectra.verify import plot_walsh

        fig, axes = _figure(1)
        plot_walsh(res, ax=axes[0])
        _save(fig, plot)
    if not res.passed:
        raise click.exceptions.Exit(1)


# ---------------------------------------------------------------------------------------
# gram
# ---------------------------------------------------------------------------------------


def _parse_top(text):
    if text is None:
        return None
    s = str(text).strip().lower()
    if s == "all":
        return "all"
    try:
        v = int(s, 10)
    except ValueError:
        raise CLIError(f"top must be 'all' or an integer >= 1; got {text!r}") from None
    if v < 1:
        raise CLIError(f"top must be 'all' or an integer >= 1; got {v}")
    return v


@verify.command("gram")
@click.option("--domain", type=_OneOf("domain", DOMAINS), default="cube", show_default=True,
              help="cube: uniform on {-1,+1}^d; sphere: uniform on sqrt(d)·S^{d-1}; gaussian: N(0, I_d).")
@click.option("--dim", type=_Int("dim"), default=12, show_default=True, help="Input dimension d.")
@click.option("--samples", type=_Int("samples"), default=2000, show_default=True,
              help="n points (memory 8n^2 bytes plus workspace: ~15000 on a 16 GB host, 60000 on an 80 GB GPU).")
@architecture_options
@click.option("--top", default=None, metavar="M|all",
              help="Eigenvalues to compute: all (LAPACK), or the M largest (Chebyshev-filtered subspace "
                   "iteration).  [default: all for n <= 2048, else whole theory clusters, at most min(512, n/2)]")
@click.option("--seed", type=_Int("seed"), default=0, show_default=True, help="Seed of the points.")
@_common_options
def gram_cmd(domain, dim, samples, activation, depth, weight_var, bias_var, kernel, top, seed, backend, max_memory,
             fmt, plot):
    """Eigenvalues of the Gram matrix K/n of n sampled points against the theory.

    \b
    The n x n matrix K(x_i, x_j)/n is built in blocks on the backend; its eigenvalues (all, or the
    top M) are grouped, in order, into clusters of the theory's eigenvalues with their
    multiplicities. Per cluster: theory mu, the empirical mean, min and max, and the deviation
    n points should show, dev = mu (2 sqrt(m/n) + r/n) + T_r/n (m the multiplicity, r the
    eigenvalues so far, T_r the trace left below: a scale, not a bound); z = (mean - mu)/dev.

    \b
    JSON: {check, activation, depth, weight_var, bias_var, kernel, domain, dim, samples, seed, backend,
    eigenvalues_computed, iterations, converged, trace, memory_bytes, seconds, clusters: [{label,
    degree, radial, multiplicity, theory, theory_error, mean, min, max, std, expected_deviation,
    rel_deviation, z}]}.
    """
    _check_plot(plot)
    spec = _architecture(activation, depth, weight_var, bias_var)
    topv = _parse_top(top)
    be = _backend(backend)
    budget = _budget(max_memory)
    from spectra import verify as V

    with _library_errors():
        if samples < 1:
            raise ValueError(f"samples must be an integer >= 1; got {samples}")
        if dim < (2 if domain == "sphere" else 1):
            raise ValueError(f"dim must be an integer >= {2 if domain == 'sphere' else 1}; got {dim}")
        if isinstance(topv, int) and topv > samples:
            raise ValueError(f"top must be 'all' or an integer in 1..{samples} (the samples); got {topv}")
        pre = ("all" if topv == "all" or (topv is None and samples <= V.ALL_EIGS_MAX)
               else min(topv or V.DEFAULT_TOP, samples))
        need = V.gram_memory(samples, pre, be, dim)
        V.check_kernel(spec, kernel)
    _precheck(need, f"gram with {samples} samples", be, budget, lambda b: V._largest_n_text(b, pre, be, dim))
    what = f"{samples} points of the {domain} d={dim}, " + ("all eigenvalues" if pre == "all" else
                                                           f"the top ~{pre} eigenvalues")
    _memory_line("gram", what, need, be, budget)
    t0 = time.perf_counter()
    res = _run(V.gram_steps(samples, topv), "gram", lambda progress: V.gram_check(
        spec, domain, dim, samples, kernel, top=topv, seed=seed, backend=be, max_memory=budget, progress=progress))
    elapsed = time.perf_counter() - t0
    if fmt == "json":
        doc = res.to_dict()
        doc["seconds"] = {**doc["seconds"], "total": elapsed}
        _dump_json(doc)
    elif fmt == "csv":
        cols = ("label", "degree", "radial", "multiplicity", "theory", "theory_error", "mean", "min", "max", "std",
                "expected_deviation", "rel_deviation", "z")
        _echo_csv(cols, [[c[k] for k in cols] for c in res.clusters])
    else:
        how = ("all eigenvalues (LAPACK)" if res.top == "all" else
               f"top {res.top} eigenvalues (subspace iteration: {res.iterations} iterations"
               f"{'' if res.converged else ', NOT converged'})")
        click.echo(f"Gram check: {_arch_text(spec)}, {kernel.upper()}; {samples} points of the {domain} d={dim} "
                   f"(seed {seed}); {how}; {be.describe()}")
        label = "k,j" if domain == "gaussian" else "k"
        rows = [[c["label"], c["multiplicity"], _short(c["theory"], 6), _short(c["mean"], 6),
                 f"{_short(c['min'], 4)}..{_short(c['max'], 4)}" if c["multiplicity"] > 1 else "",
                 f"{100 * c['rel_deviation']:+.2f}%", _short(c["expected_deviation"], 2), f"{c['z']:+.2f}"]
                for c in res.clusters]
        for line in _table([label, "mult", "theory", "empirical mean", "min..max", "mean-theory", "expected dev",
                            "z"], rows, left=(label,)):
            click.echo(line)
        click.echo(f"{len(res.clusters)} clusters, {sum(c['multiplicity'] for c in res.clusters)} eigenvalues; "
                   f"trace E K(x,x) = {_short(res.trace, 8)}; {elapsed:.2f} s")
    if plot:
        fig, axes = _figure(1)
        V.plot_gram(res, ax=axes[0])
        _save(fig, plot)


# ---------------------------------------------------------------------------------------
# width
# ---------------------------------------------------------------------------------------


def _parse_widths(text):
    usage = f"widths must be a comma-separated list of integers >= 1, e.g. 64,256,1024; got {text!r}"
    try:
        ws = [int(p.strip(), 10) for p in str(text).split(",")]
    except ValueError:
        raise CLIError(usage) from None
    if not ws or min(ws) < 1:
        raise CLIError(usage)
    return sorted(set(ws))


@verify.command("width")
@click.option("--widths", default="64,256,1024,4096", show_default=True, metavar="LIST",
              help="Hidden-layer widths of the random networks.")
@click.option("--samples", type=_Int("samples"), default=256, show_default=True, help="n input points.")
@click.option("--seeds", type=_Int("seeds"), default=3, show_default=True, help="Random networks per width.")
@click.option("--seed", type=_Int("seed"), default=0, show_default=True, help="Seed of the points and networks.")
@click.option("--domain", type=_OneOf("domain", DOMAINS), default="cube", show_default=True,
              help="Input distribution of the points.")
@click.option("--dim", type=_Int("dim"), default=16, show_default=True, help="Input dimension d.")
@architecture_options
@_common_options
def width_cmd(widths, samples, seeds, seed, domain, dim, activation, depth, weight_var, bias_var, kernel, backend,
              max_memory, fmt, plot):
    """Empirical CK and NTK of random finite-width networks against the analytic kernels.

    \b
    Networks in NTK parameterisation (N(0,1) weights and biases, CONVENTIONS section 1); the
    empirical NTK by the per-layer formula Theta = sum_l (D_l D_l^T) o (sigma_w^2 A_{l-1} A_{l-1}^T
    / n_{l-1} + sigma_b^2) (no per-parameter Jacobian). Reports the relative Frobenius error
    |K_emp - K|_F / |K|_F per width (mean and spread over the seeds), its log-log slope against
    width (expected about -1/2), and the spectrum of the empirical --kernel Gram matrix at the
    largest width against the analytic Gram matrix and the theory.

    \b
    JSON: {check, ..., ck_slope, ntk_slope, widths: [{width, ck_error, ck_error_std, ntk_error,
    ntk_error_std}], clusters: [{label, multiplicity, theory, mean, analytic_mean, expected_deviation,
    z, ...}]}; CSV: the widths table.
    """
    _check_plot(plot)
    spec = _architecture(activation, depth, weight_var, bias_var)
    ws = _parse_widths(widths)
    be = _backend(backend)
    budget = _budget(max_memory)
    from spectra import verify as V

    with _library_errors():
        if samples < 1:
            raise ValueError(f"samples must be an integer >= 1; got {samples}")
        if seeds < 1:
            raise ValueError(f"seeds must be an integer >= 1; got {seeds}")
        if seed < 0:
            raise ValueError(f"seed must be an integer >= 0; got {seed}")
        if dim < (2 if domain == "sphere" else 1):
            raise ValueError(f"dim must be an integer >= {2 if domain == 'sphere' else 1}; got {dim}")
        need = V.width_memory(ws, samples, spec.depth, dim, be)
        V.check_kernel(spec, "ntk", "the width check (it compares the empirical NTK)")
    _precheck(need, f"width check at width {max(ws)} with {samples} samples", be, budget,
              lambda b: V._largest_width_text(b, samples, spec.depth, dim, be))
    _memory_line("width", f"widths {','.join(map(str, ws))} x {seeds} seeds, {samples} points", need, be, budget)
    t0 = time.perf_counter()
    res = _run(len(ws) * seeds, "networks", lambda progress: V.width_check(
        spec, ws, samples, domain, dim, seeds=seeds, seed=seed, kernel=kernel, backend=be, max_memory=budget,
        progress=progress))
    elapsed = time.perf_counter() - t0
    rows = res.rows()
    if fmt == "json":
        doc = res.to_dict()
        doc["seconds"] = {**doc["seconds"], "total": elapsed}
        _dump_json(doc)
    elif fmt == "csv":
        cols = ("width", "ck_error", "ck_error_std", "ntk_error", "ntk_error_std")
        _echo_csv(cols, [[r[c] for c in cols] for r in rows])
    else:
        click.echo(f"Width check: {_arch_text(spec)}; {samples} points of the {domain} d={dim}; {seeds} network(s) "
                   f"per width; {be.describe()}")
        pm = seeds > 1
        table = [[r["width"], _sci(r["ck_error"], 3) + (f" ± {_sci(r['ck_error_std'], 1)}" if pm else ""),
                  _sci(r["ntk_error"], 3) + (f" ± {_sci(r['ntk_error_std'], 1)}" if pm else "")] for r in rows]
        for line in _table(["width", "CK rel. error", "NTK rel. error"], table):
            click.echo(line)
        click.echo(f"slope of log error vs log width: CK {_slope_text(res.ck_slope)}, NTK {_slope_text(res.ntk_slope)} "
                   "(expected about -0.5)")
        click.echo("")
        click.echo(f"{kernel.upper()} Gram spectrum (K/n) at width {max(ws)} against the analytic Gram matrix and "
                   "the theory:")
        label = "k,j" if domain == "gaussian" else "k"
        crow = [[c["label"], c["multiplicity"], _short(c["theory"], 6), _short(c.get("analytic_mean"), 6),
                 _short(c["mean"], 6), _short(c["expected_deviation"], 2), f"{c['z']:+.2f}"] for c in res.clusters]
        for line in _table([label, "mult", "theory", "analytic Gram", f"width {max(ws)}", "expected dev", "z"], crow,
                           left=(label,)):
            click.echo(line)
        click.echo(f"{elapsed:.2f} s")
    if plot:
        fig, axes = _figure(2)
        V.plot_width(res, ax=axes[0], spectrum_ax=axes[1])
        _save(fig, plot)


def _slope_text(v):
    return MISSING if v is None or not math.isfinite(v) else f"{v:+.3f}"
