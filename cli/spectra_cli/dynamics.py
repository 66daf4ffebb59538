"""The dynamics commands: ``spectra dynamics`` (residual per degree during training, measured vs
predicted) and ``spectra lambda-min`` (λ_min of Θ_train/n and the loss bound it gives).

Each calls one routine of :mod:`spectra.dynamics`, prints a table, CSV or JSON, and with
``--plot FILE`` draws the figure.
"""
from __future__ import annotations

import math

import click

from spectra.backend import BACKENDS
from spectra.domains import DOMAINS
from spectra.training import DTYPES

from .analysis import _PLOT_HELP, _check_plot, _figure, _parse_int_list, _save
from .main import (
    FORMATS,
    _arch_text,
    _architecture,
    _dump_json,
    _echo_csv,
    _Int,
    _library_errors,
    _OneOf,
    _table,
    architecture_options,
    main,
    run_with_progress,
)
from .verify import _MEMORY_HELP, _backend, _budget


def _fmt(v, spec=".4g"):
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


@main.command("dynamics")
@click.option("--dim", type=_Int("dim"), default=10, show_default=True,
              help="Input dimension d (1..14); the whole cube {-1,+1}^d is the test set.")
@architecture_options(bias_var="0.1", kernel=None, activation_note="The finite network needs its numpy function.")
@click.option("--target", default="1:1.0,2:1.0,3:1.0,4:1.0", show_default=True, metavar="DEG:W,...",
              help="Target: degree:weight pairs; each degree k is a random unit-variance function of pure "
                   "degree k times its weight (energy weight^2).")
@click.option("--width", type=_Int("width"), default=4096, show_default=True, help="Hidden width >= 1.")
@click.option("--samples", type=_Int("samples"), default=512, show_default=True,
              help="n distinct training points of the cube (1..2^d).")
@click.option("--steps", type=_Int("steps"), default=20, show_default=True,
              help="Gradient-descent steps T (the defaults, d=10, width 4096, n=512, 3 seeds, take under a minute "
                   "on 2 CPU cores; time grows with steps x seeds x width^2).")
@click.option("--records", type=_Int("records"), default=10, show_default=True,
              help="About this many log-spaced recorded steps (plus step 0).")
@click.option("--seeds", default="0,1,2", show_default=True, metavar="LIST",
              help="Network seeds, e.g. 0,1,2 (the measured energy is averaged over them: a single width-4096 "
                   "network's degree-k rate is off by a few %, at random).")
@click.option("--data-seed", type=_Int("data-seed"), default=0, show_default=True,
              help="Seed of the target and the training points.")
@click.option("--lr-fraction", type=float, default=1.0, show_default=True,
              help="eta * lambda_max(Theta_train/n), in (0, 2).")
@click.option("--floor", type=float, default=0.01, show_default=True,
              help="Report the gap while the predicted energy is >= FLOOR x its initial value.")
@click.option("--centred", is_flag=True,
              help="Train the centred network f - f_0 (removes the random initial function from the residual).")
@click.option("--backend", type=_OneOf("backend", BACKENDS), default="numpy", show_default=True,
              help="Where the networks train: numpy, or cupy on a GPU (pip install 'nn-spectra[gpu]').")
@click.option("--dtype", type=_OneOf("dtype", DTYPES), default="float32", show_default=True,
              help="Float type of the networks (float32 halves the time; its round-off is far below the "
                   "finite-width effects measured).")
@click.option("--max-memory", default=None, metavar="SIZE", help=_MEMORY_HELP)
@click.option("--format", "fmt", type=_OneOf("format", FORMATS), default="table", show_default=True)
@click.option("--plot", "plot", default=None, metavar="FILE", help=_PLOT_HELP)
def dynamics_cmd(dim, activation, depth, weight_var, bias_var, target, width, samples, steps, records, seeds,
                 data_seed, lr_fraction, floor, centred, backend, dtype, max_memory, fmt, plot):
    """Spectral bias in time: residual energy per degree during training, measured vs predicted.

    \b
    Trains MLPs (NTK parameterisation; numpy or cupy, float32 by default) by full-batch
    gradient descent on
    L = (1/2n) sum (f - y)^2 with eta = lr_fraction / lambda_max(Theta_train/n) on n distinct
    points of {-1,+1}^d, and projects the residual f_t - y (f_0 included) on all 2^d points per
    degree with the fast Walsh-Hadamard transform. Predictions use each network's own f_0:
    finite-n (kernel predictor with the analytic NTK on the n points) and operator
    (E_k(t) = E_k(0) (1 - eta mu_k)^(2t)). gap = |measured - predicted| / predicted (means over
    seeds) while the prediction is >= FLOOR x its start. bound ratio = max_t L_t / (rho^(2t) L_0),
    rho = max|1 - eta lambda| of Theta_train/n (<= 1: the lambda_min bound holds).

    \b
    JSON: {architecture..., dim, width, samples, seeds, target, lr, lambda_min, lambda_max,
    bound_ratio, seconds, degrees, steps, measured_mean, measured_std, predicted_mean,
    operator_mean, gap, max_gap}.
    """
    _check_plot(plot)
    from spectra.dynamics import (
        compare_dynamics,
        measure_dynamics,
        parse_target,
        record_steps,
    )

    spec = _architecture(activation, depth, weight_var, bias_var)
    seeds_t = tuple(_parse_int_list("seeds", seeds, lo=0, example="0,1,2", sort=False))
    be = _backend(backend)
    budget = _budget(max_memory)
    with _library_errors():
        tdict = parse_target(target)
        if not (0 < lr_fraction < 2):
            raise ValueError(f"lr-fraction must be in (0, 2); got {lr_fraction}")
        if not (0 <= floor < 1):
            raise ValueError(f"floor must be in [0, 1); got {floor}")
        n_rec = len(record_steps(steps, records)) - 1 if isinstance(steps, int) and steps >= 1 else 1
    m = run_with_progress(n_rec * len(seeds_t), "training", lambda progress: measure_dynamics(
        spec, dim, tdict, width, samples, steps=steps, records=records, seeds=seeds_t, data_seed=data_seed,
        lr_fraction=lr_fraction, centred=centred, progress=progress, backend=be, dtype=dtype, max_memory=budget))
    with _library_errors():
        c = compare_dynamics(m, floor=floor)
    head = {**spec.as_dict(), "dim": dim, "width": width, "samples": samples, "seeds": list(seeds_t),
            "data_seed": data_seed, "target": {str(k): w for k, w in tdict.items()}, "steps_total": steps,
            "backend": m.backend, "dtype": m.dtype,
            "loss": "mean", "lr": m.lr, "lr_fraction": m.lr_fraction, "lambda_min": m.lambda_min,
            "lambda_max": m.lambda_max, "bound_ratio": m.bound_ratio, "seconds": m.seconds}
    cd = c.as_dict()
    if fmt == "json":
        _dump_json({**head, **{k: cd[k] for k in ("degrees", "steps", "measured_mean", "measured_std",
                                                  "predicted_mean", "operator_mean", "gap", "max_gap", "floor")}})
    elif fmt == "csv":
        rows = []
        for j, k in enumerate(c.degrees):
            for i, t in enumerate(c.steps):
                g = c.gap[i, j]
                rows.append([k, int(t), float(c.measured_mean[i, j]), float(c.measured_std[i, j]),
                             float(c.predicted_mean[i, j]), float(c.operator_mean[i, j]),
                             None if not math.isfinite(g) else float(g)])
        _echo_csv(("degree", "step", "measured", "measured_std", "predicted_finite_n", "predicted_operator",
                   "relative_gap"), rows)
    else:
        click.echo(f"Residual energy per degree (NTK regime, L = (1/2n) sum (f - y)^2): {_arch_text(spec)}, "
                   f"cube d={dim}, width {width}, n = {samples}, seeds {','.join(map(str, seeds_t))}")
        click.echo(f"eta = {m.lr:.6g} ({m.lr_fraction:g}/lambda_max), lambda_max(Theta/n) = {m.lambda_max:.6g}, "
                   f"lambda_min(Theta/n) = {m.lambda_min:.6g}; loss / lambda_min bound: max ratio "
                   f"{m.bound_ratio:.4g} ({'holds' if m.bound_ratio <= 1 + 1e-9 else 'VIOLATED'}); {m.seconds:.1f} s")
        headers = ["step"] + [f"{h} k={k}" for k in c.degrees for h in ("meas", "pred", "gap")]
        rows = []
        for i, t in enumerate(c.steps):
            row = [int(t)]
            for j in range(len(c.degrees)):
                row += [f"{c.measured_mean[i, j]:.4g}", f"{c.predicted_mean[i, j]:.4g}", _fmt(c.gap[i, j], ".3f")]
            rows.append(row)
        for line in _table(headers, rows):
            click.echo(line)
        click.echo("max relative gap (while predicted >= " + f"{c.floor:g} x start): "
                   + ", ".join(f"k={k}: {_fmt(float(g), '.3f')}" for k, g in zip(c.degrees, c.max_gap)))
    if plot:
        from spectra.dynamics import plot_dynamics

        fig, (ax,) = _figure(1)
        plot_dynamics(c, ax=ax)
        ax.set_title(f"{_arch_text(spec)}; d={dim}, width {width}, n={samples}", fontsize=8)
        _save(fig, plot)


@main.command("lambda-min")
@click.option("--domain", type=_OneOf("domain", DOMAINS), default="cube", show_default=True,
              help="cube: n distinct points of {-1,+1}^d; sphere, gaussian: n i.i.d. points.")
@click.option("--dim", type=_Int("dim"), default=10, show_default=True, help="Input dimension d.")
@architecture_options(bias_var="0.1")
@click.option("--samples", type=_Int("samples"), default=512, show_default=True, help="n points (cube: <= 2^d).")
@click.option("--draws", type=_Int("draws"), default=8, show_default=True, help="Draws of the n points.")
@click.option("--lr-fraction", type=float, default=1.0, show_default=True,
              help="eta * lambda_max, in (0, 2), for the loss bound.")
@click.option("--seed", type=_Int("seed"), default=0, show_default=True)
@click.option("--format", "fmt", type=_OneOf("format", FORMATS), default="table", show_default=True)
@click.option("--plot", "plot", default=None, metavar="FILE", help=_PLOT_HELP)
def lambda_min_cmd(domain, dim, activation, depth, weight_var, bias_var, kernel, samples, draws, lr_fraction, seed,
                   fmt, plot):
    """Smallest eigenvalue of Theta_train/n and the linear-convergence bound of the training loss.

    \b
    In the kernel regime gradient descent on L = (1/2n) sum (f - y)^2 gives
    L_t <= rho^(2t) L_0 with rho = max(|1 - eta lambda_min|, |1 - eta lambda_max|) of Theta_train/n
    (Du et al. 2019). On the cube the exact value with all 2^d points is min_k mu_k.

    \b
    JSON: {architecture..., domain, dim, samples, draws, kernel, values, lambda_max, mean, std,
    min, max, exact, exact_degree, lr, rate}.
    """
    _check_plot(plot)
    from spectra.dynamics import lambda_min

    spec = _architecture(activation, depth, weight_var, bias_var)
    r = run_with_progress(1, "draws", lambda progress: lambda_min(spec, domain, dim, samples, draws=draws, seed=seed,
                                                                  kernel=kernel, lr_fraction=lr_fraction))
    doc = r.as_dict()
    doc.pop("spec", None)
    doc = {**spec.as_dict(), **doc}
    if fmt == "json":
        _dump_json(doc)
    elif fmt == "csv":
        _echo_csv(("draw", "lambda_min", "lambda_max"),
                  [[i, float(a), float(b)] for i, (a, b) in enumerate(zip(r.values, r.lambda_max))])
    else:
        click.echo(f"lambda_min(Theta_train/n) ({kernel.upper()}): {_arch_text(spec)}, {domain} d={dim}, "
                   f"n = {samples}, {draws} draws")
        rows = [["lambda_min", f"{r.mean:.6g}", f"{r.std:.2g}", f"{r.min:.6g}", f"{r.max:.6g}"],
                ["lambda_max", f"{r.lambda_max.mean():.6g}", f"{r.lambda_max.std(ddof=1) if draws > 1 else 0:.2g}",
                 f"{r.lambda_max.min():.6g}", f"{r.lambda_max.max():.6g}"]]
        for line in _table(["quantity", "mean", "std", "min", "max"], rows, left=("quantity",)):
            click.echo(line)
        if r.exact is not None:
            click.echo(f"full cube (all 2^{dim} points): lambda_min = min_k mu_k = {r.exact:.10g} "
                       f"(degree {r.exact_degree})")
        click.echo(f"loss bound: eta = {r.lr:.6g} ({lr_fraction:g}/lambda_max) -> L_t <= {r.rate:.6g}^t L_0")
    if plot:
        import numpy as np

        fig, (ax,) = _figure(1)
        ax.hist(r.values, bins=max(3, min(20, draws)), color="C0", alpha=0.8, label=f"n = {samples}")
        if r.exact is not None:
            ax.axvline(r.exact, color="C3", ls="--", label="min_k mu_k (full cube)")
        ax.set_xlabel("lambda_min(Theta_train / n)")
        ax.set_ylabel("draws")
        ax.set_title(f"{_arch_text(spec)}; {domain} d={dim}", fontsize=8)
        ax.legend(fontsize=8)
        del np
        _save(fig, plot)
