"""The ``spectra`` command line: parse arguments, call the library, format the results.

Every number is computed by :mod:`spectra`; this module only parses and formats. Errors
(bad options and the library's ``ValueError``/``TypeError``, whose messages already name the
parameter) are printed as ONE line ``Error: <message>`` on stderr with exit status 2; an
interrupt prints one line and exits with status 130.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import signal
import sys
import tempfile
import threading
import time
from fractions import Fraction

import click

import spectra
from spectra._format import digits_text  # the same digit strings as the JSON records

#: Input distributions ``spectra eigs --domain`` accepts, with the library function that
#: computes their spectrum (looked up on :mod:`spectra` at call time).
DOMAINS = {"cube": "cube_eigenvalues", "sphere": "sphere_eigenvalues", "gaussian": "gaussian_eigenvalues"}
#: Domains ``spectra sweep --domain`` accepts, with their grid function.
SWEEP_DOMAINS = {"cube": "cube_eigenvalues_grid", "sphere": "sphere_eigenvalues_grid"}
#: Radial eigenvalues per degree on the Gaussian when --radial is not given.
DEFAULT_RADIAL = 4
DEFAULT_COMPARE_DIMS = "16,64,256,1024"
FORMATS = ("table", "csv", "json")
SWEEP_EXTENSIONS = (".npz", ".csv")
DEFAULT_T = "-1,-0.5,0,0.5,1"
#: Placeholder for a value the library does not give (unresolved or underflowed).
MISSING = "\u2014"

EIGS_CSV_COLUMNS = ("degree", "multiplicity", "value", "normalized", "fractional_variance", "error",
                    "digits", "flag")
COMPARE_COLUMNS = ("dim", "degree", "cube", "sphere", "gaussian", "asymptotic", "rel_cube", "rel_sphere",
                   "rel_gaussian")
SWEEP_CSV_COLUMNS = ("kernel", "depth", "weight_var", "bias_var", "degree", "value", "error", "phi1")


# ---------------------------------------------------------------------------------------
# errors: one line, fixed exit codes
# ---------------------------------------------------------------------------------------


def _one_line(message) -> str:
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


class CLIError(click.ClickException):
    """Bad input: printed as one line ``Error: <message>``, exit status 2."""

    exit_code = 2


class ComputationError(click.ClickException):
    """The library could not finish (e.g. ran out of memory): one line, exit status 1."""

    exit_code = 1


class Interrupted(click.ClickException):
    """Keyboard interrupt: one line, exit status 130."""

    exit_code = 130


@contextlib.contextmanager
def _library_errors():
    """Turn the library's argument errors into one-line CLI errors (exit status 2)."""
    try:
        yield
    except (ValueError, TypeError, OverflowError) as e:
        raise CLIError(_one_line(e)) from None
    except (RuntimeError, MemoryError) as e:
        raise ComputationError(_one_line(e) or type(e).__name__) from None


def _echo_error(message: str) -> None:
    click.echo(f"Error: {_one_line(message)}", err=True)


class _Group(click.Group):
    """A click group whose every error is one line on stderr (no usage text, no traceback
    for bad input), with exit status 2 for bad input and 130 for an interrupt."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Interrupted("interrupted") from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        _STATE.clear()
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except Interrupted as e:
            if _isatty(sys.stderr) and not _STATE.get("line_ended"):
                click.echo(err=True)  # end the line holding the terminal's ^C
            _echo_error(e.format_message())
            sys.exit(e.exit_code)
        except _NoArgsIsHelp as e:  # bare `spectra`: the help, not an error
            click.echo(e.format_message())
            sys.exit(0)
        except click.UsageError as e:
            message = e.format_message()
            if e.ctx is not None:
                message = f"{_one_line(message)} (see '{e.ctx.command_path} --help')"
            _echo_error(message)
            sys.exit(2)
        except click.ClickException as e:
            _echo_error(e.format_message())
            sys.exit(e.exit_code)
        except (click.exceptions.Abort, KeyboardInterrupt, EOFError):
            _echo_error("interrupted")
            sys.exit(130)
        except BrokenPipeError:
            # the reader went away (e.g. `spectra eigs | head`): stop quietly
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)


#: click >= 8.2 raises this (a UsageError carrying the help text) for a bare group.
_NoArgsIsHelp = getattr(click.exceptions, "NoArgsIsHelpError", ())

#: Per-invocation state: "line_ended" is set once a progress bar has ended its line.
_STATE: dict = {}


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


# ---------------------------------------------------------------------------------------
# parameter types (library-style messages: "<name> must be ...; got <value>")
# ---------------------------------------------------------------------------------------


class _Int(click.ParamType):
    """An integer option; range checks are left to the library."""

    name = "integer"

    def __init__(self, label):
        self.label = label

    def convert(self, value, param, ctx):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return int(str(value).strip(), 10)
        except ValueError:
            raise CLIError(f"{self.label} must be an integer; got {value!r}") from None


class _OneOf(click.Choice):
    """A case-insensitive choice with the library's message style."""

    def __init__(self, label, options):
        super().__init__(tuple(options), case_sensitive=False)
        self.label = label

    def convert(self, value, param, ctx):
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            raise CLIError(f"{self.label} must be one of {', '.join(self.choices)}; got {value!r}") from None


def _hyper_text(label: str, text: str) -> str:
    """A variance as typed, for :class:`spectra.Architecture` to parse exactly ("0.1" -> 1/10).

    The library rejects nan, inf, negative and malformed values; this only rejects values
    that parse exactly but leave the float64 range (e.g. "1e400", or "1e-400", which would
    round to 0), which the library would accept.
    """
    s = text.strip()
    try:
        value = Fraction(s)
    except (ValueError, ZeroDivisionError):
        return s  # the library says what is wrong with it
    try:
        underflow = value != 0 and float(value) == 0.0
    except OverflowError:
        underflow = None
    if underflow is None or underflow:
        raise CLIError(f"{label} must be a finite number within the float64 range; got {text!r}")
    return s


def _finite_float(text: str):
    try:
        v = float(text.strip())
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def parse_grid(label: str, text: str):
    """A hyperparameter grid: ``start:stop:num`` (``numpy.linspace``, both ends included,
    ``num`` an integer >= 1) or a comma-separated list of finite numbers."""
    import numpy as np

    usage = (f"{label} must be a grid 'start:stop:num' (num an integer >= 1, as numpy.linspace) "
             f"or a comma-separated list of finite numbers; got {text!r}")
    s = text.strip()
    if not s:
        raise CLIError(usage)
    if ":" in s:
        parts = s.split(":")
        if len(parts) != 3:
            raise CLIError(usage)
        start, stop = _finite_float(parts[0]), _finite_float(parts[1])
        try:
            num = int(parts[2].strip(), 10)
        except ValueError:
            num = 0
        if start is None or stop is None or num < 1:
            raise CLIError(usage)
        return np.linspace(start, stop, num)
    values = [_finite_float(p) for p in s.split(",")]
    if any(v is None for v in values):
        raise CLIError(usage)
    return np.array(values, dtype=float)


def parse_dims(text: str) -> list[int]:
    """A comma-separated list of dimensions, each an integer >= 2 (``spectra compare --dim``)."""
    usage = f"dim must be a comma-separated list of integers >= 2, e.g. 16,64,256; got {text!r}"
    items = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in items):
        raise CLIError(usage)
    dims = []
    for p in items:
        try:
            d = int(p, 10)
        except ValueError:
            raise CLIError(usage) from None
        if d < 2:
            raise CLIError(usage)
        dims.append(d)
    return dims


def parse_t(text: str, exact: bool):
    """Comma-separated t values: strings (kept exact by the library) or floats."""
    usage = f"t must be a comma-separated list of finite numbers in [-1, 1]; got {text!r}"
    items = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in items):
        raise CLIError(usage)
    if exact:
        for p in items:
            try:
                Fraction(p)
            except (ValueError, ZeroDivisionError):
                raise CLIError(usage) from None
        return items
    values = [_finite_float(p) for p in items]
    if any(v is None for v in values):
        raise CLIError(usage)
    return values


# ---------------------------------------------------------------------------------------
# number formatting
# ---------------------------------------------------------------------------------------


def _short(value, digits=6) -> str:
    """A short display form of a float, an mpf or a decimal string."""
    if value is None:
        return MISSING
    if isinstance(value, str):
        import mpmath

        try:
            value = mpmath.mpf(value)
        except (ValueError, TypeError):
            return value
    if isinstance(value, float) or hasattr(value, "dtype"):
        v = float(value)
        if not math.isfinite(v):
            return MISSING
        return f"{v:.{digits}g}"
    import mpmath

    return mpmath.nstr(value, digits)


def _float_text(v: float, sig: int) -> str:
    """A float with ``sig`` significant digits (exponent form)."""
    if v == 0:
        return "0"
    return f"{v:.{max(sig, 1) - 1}e}"


def _int_text(m: int) -> str:
    """An exact integer, abbreviated as ~d.ddddde+N when it has more than 15 digits."""
    s = str(m)
    if len(s) <= 15:
        return s
    return f"~{s[0]}.{s[1:6]}e+{len(s) - 1}"


def _scalar_json(value, prec):
    """A scalar (e.g. the trace) in the JSON style of the library's records."""
    if prec.kind in ("double", "auto"):
        v = float(value)
        return v if math.isfinite(v) else None
    if prec.kind == "digits":
        return digits_text(value, prec.digits)
    return str(value)


def _scalar_text(value, prec):
    if prec.kind in ("double", "auto"):
        return f"{float(value):.16g}"
    if prec.kind == "digits":
        return digits_text(value, prec.digits)
    s = str(value)
    if len(s) > 40:
        import sympy

        return f"{sympy.N(value, 20)} (20 digits; closed form in --format json)"
    return s


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def _dump_json(doc) -> None:
    click.echo(json.dumps(doc, indent=2, allow_nan=False, default=_json_default))


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def _echo_csv(header, rows) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[_csv_cell(c) for c in row] for row in rows])
    click.echo(buf.getvalue(), nl=False)


def _table(headers, rows, left=()) -> list[str]:
    """Aligned columns: numbers right-aligned, the columns named in ``left`` left-aligned."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]

    def line(cells):
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(str(c).ljust(w) if headers[i] in left else str(c).rjust(w))
        return "  ".join(out).rstrip()

    return [line(headers)] + [line(r) for r in rows]


def _arch_text(spec) -> str:
    d = spec.as_dict()
    return (f"{d['activation']}, depth {d['depth']}, weight_var {d['weight_var']}, "
            f"bias_var {d['bias_var']}")


# ---------------------------------------------------------------------------------------
# the group
# ---------------------------------------------------------------------------------------

_ACTIVATION_HELP = (f"Activation: one of {', '.join(spectra.activation_names())} "
                    "(any monomial x<n>, n <= 32), or any sympy expression in x as "
                    "\"expr:tanh(x) + 0.1*x\" (decimals read exactly; kinks from Piecewise, Abs, "
                    "Max, Min, Heaviside, sign are split).")
_PRECISION_HELP = ("'double' (float64 with error bounds; unresolved values are flagged), "
                   "N (N guaranteed significant digits, 1..10000), 'exact' (sympy: rationals "
                   "or closed forms), or 'auto' (double, with unresolved values recomputed "
                   "at 16 digits).")
_WEIGHT_HELP = "sigma_w^2 > 0. Decimals and fractions ('0.1', '1/3') are read exactly."
_BIAS_HELP = "sigma_b^2 >= 0. Decimals and fractions ('0.1', '1/3') are read exactly."


def architecture_options(command=None, *, bias_var="0", kernel="ntk", kernel_help=None, activation_note=None):
    """The options every command that takes one network shares: activation, depth, weight_var,
    bias_var and kernel. Used bare (``@architecture_options``) or with the command's own
    defaults and notes (``@architecture_options(bias_var="0.1", kernel=None)``; ``kernel=None``
    leaves out --kernel for a command that fixes it)."""
    def apply(cmd):
        options = [
            click.option("--activation", default="relu", show_default=True, metavar="NAME",
                         help=_ACTIVATION_HELP + (f" {activation_note}" if activation_note else "")),
            click.option("--depth", type=_Int("depth"), default=2, show_default=True,
                         help="Number of hidden layers L >= 0 (0 is the linear model)."),
            click.option("--weight-var", default="2", show_default=True, metavar="NUMBER", help=_WEIGHT_HELP),
            click.option("--bias-var", default=bias_var, show_default=True, metavar="NUMBER", help=_BIAS_HELP),
        ]
        if kernel is not None:
            options.append(click.option("--kernel", type=_OneOf("kernel", spectra.KERNELS), default=kernel,
                                        show_default=True,
                                        help=kernel_help or "ck: conjugate kernel (NNGP); ntk: neural tangent kernel."))
        for option in reversed(options):
            cmd = option(cmd)
        return cmd

    return apply if command is None else apply(command)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(spectra.__version__, "--version", "-V", prog_name="spectra",
                      message="%(prog)s %(version)s")
def main():
    """Eigenvalues of the conjugate kernel (CK, also NNGP) and the neural tangent kernel
    (NTK) of wide fully connected networks, exactly or to any precision.

    \b
    Network: `depth` hidden layers of `activation` in NTK parameterisation,
    weight variance sigma_w^2 (`--weight-var`), bias variance sigma_b^2 (`--bias-var`);
    inputs enter as sigma_w^2 <x,y>/d + sigma_b^2 (CONVENTIONS section 1).
    Eigenvalues are those of the integral operator (Tf)(x) = E_y[K(x,y) f(y)] under the
    probability measure of the input domain, so sum_k multiplicity_k * mu_k = E K(x,x)
    (CONVENTIONS section 2). Domains: the cube {-1,+1}^d and the sphere sqrt(d)·S^{d-1}
    (both uniform) and the Gaussian N(0, I_d); `compare` sets them against the
    high-dimensional limit Phi^(k)(0)/d^k.

    \b
    Examples:
      spectra eigs --dim 128 --activation relu --depth 2 --kernel ntk
      spectra eigs --dim 7 --bias-var 2 --precision 30 --format json
      spectra eigs --domain sphere --dim 64 --activation erf
      spectra eigs --domain gaussian --dim 16 --max-degree 4 --radial 3
      spectra compare --activation erf --dim 16,64,256,1024 --max-degree 6
      spectra kernel --activation erf --depth 3 --t=-1,0,1
      spectra sweep --activation erf --weight-var 1:5:41 --bias-var 0:4:41 --output grid.npz
      spectra optimal-depth --activation relu --max-depth 128 --bias-var 0:4:401
      spectra ntk-vs-ck --activation erf --weight-var 1:5:11 --bias-var 0:4:11
      spectra fracvar --depth 1,2,4 --kernel ck,ntk --plot fv.png
      spectra simplicity --dim 7 --samples 10000 --width 256
      spectra max-lr --samples 64 --empirical --width 2048
      spectra verify walsh --dim 20
      spectra dynamics --dim 8 --width 1024 --samples 128 --steps 200

    Errors print one line "Error: ..." and exit with status 2 (130 when interrupted).
    """


# ---------------------------------------------------------------------------------------
# eigs
# ---------------------------------------------------------------------------------------


def _architecture(activation, depth, weight_var, bias_var):
    wv = _hyper_text("weight_var", weight_var)
    bv = _hyper_text("bias_var", bias_var)
    with _library_errors():
        return spectra.Architecture(activation, depth=depth, weight_var=wv, bias_var=bv)


def _resolve_precision(precision):
    with _library_errors():
        return spectra.resolve_precision(precision)


_DOMAIN_HELP = (
    "Input distribution. cube: uniform on {-1,+1}^d; eigenfunctions the monomials "
    "prod_{i in S} x_i, degree k = |S|, multiplicity C(d,k). sphere: uniform on "
    "sqrt(d)·S^{d-1} (d >= 2); eigenfunctions the spherical harmonics of degree k, "
    "multiplicity N(d,k) = C(d+k-1,k) - C(d+k-3,k-2). gaussian: N(0, I_d); eigenfunctions "
    "(radial function) x (harmonic of degree k), eigenvalues mu_{k,j} with radial index "
    "j = 0, 1, ... (descending), multiplicity N(d,k).")


def _multiplicity_text(domain: str, d: int) -> str:
    """The multiplicity formula of a domain, with d substituted (table headers)."""
    if domain == "cube":
        return f"multiplicity C({d},k)"

    def plus(n):
        return f"k+{n}" if n > 0 else ("k" if n == 0 else f"k-{-n}")

    return f"multiplicity N({d},k) = C({plus(d - 1)},k) - C({plus(d - 3)},k-2)"


def _domain_text(domain: str, d: int) -> str:
    """Where the eigenvalues live, for the first table header line."""
    if domain == "cube":
        return f"on the cube {{-1,+1}}^{d} (uniform probability measure)"
    if domain == "sphere":
        return f"on the sphere sqrt({d})·S^{d - 1} (uniform probability measure)"
    return f"mu_{{k,j}} under the Gaussian N(0, I_{d})"


@main.command("eigs")
@click.option("--domain", type=_OneOf("domain", DOMAINS), default="cube", show_default=True, help=_DOMAIN_HELP)
@click.option("--dim", type=_Int("dim"), default=128, show_default=True,
              help="Input dimension d >= 1 (d >= 2 on the sphere).")
@architecture_options
@click.option("--max-degree", type=_Int("max_degree"), default=None,
              help="Degrees 0..max-degree (at most dim on the cube; at most 1 on the Gaussian at "
                   "d = 1).  [default: cube min(dim, 10); sphere 10; gaussian 6, 1 at d = 1]")
@click.option("--radial", type=_Int("radial"), default=None, metavar="J",
              help="Gaussian only: the J largest radial eigenvalues mu_{k,0} >= ... >= mu_{k,J-1} "
                   f"of each degree, 1 <= J <= 64.  [default: {DEFAULT_RADIAL}]")
@click.option("--precision", default="double", show_default=True, metavar="PRECISION",
              help=_PRECISION_HELP + " The Gaussian has no 'exact' (no closed form); the sphere has it "
                                     "for polynomial activations (identity, x<n>).")
@click.option("--normalize", is_flag=True,
              help="Table: show mu_k / E K(x,x) (so sum_k multiplicity_k * mu_k = 1) instead of mu_k. "
                   "CSV and JSON always carry both.")
@click.option("--format", "fmt", type=_OneOf("format", FORMATS), default="table", show_default=True,
              help="table: aligned columns; csv: one row per eigenvalue; json: inputs and per-eigenvalue "
                   "records.")
@click.option("--plot", "plot", default=None, metavar="FILE",
              help="Also draw the spectrum per degree (normalised eigenvalue, and multiplicity-weighted: "
                   "the fractional variance) to FILE (.png, .svg or .pdf); written atomically.")
def eigs(domain, dim, activation, depth, weight_var, bias_var, kernel, max_degree, radial, precision, normalize,
         fmt, plot):
    """Eigenvalues of the CK or NTK integral operator: mu_k per degree k (mu_{k,j} on the Gaussian).

    \b
    The eigenvalues of (Tf)(x) = E_y[K(x,y) f(y)] under the probability measure of the
    domain (CONVENTIONS section 2), unnormalised: sum multiplicity * eigenvalue = E K(x,x),
    printed as the trace.
      cube      uniform on {-1,+1}^d; eigenfunctions the monomials prod_{i in S} x_i,
                degree k = |S| = 0..d; multiplicity C(d,k); trace Phi(1).
      sphere    uniform on sqrt(d)·S^{d-1}, d >= 2; eigenfunctions the spherical harmonics
                of degree k; multiplicity N(d,k) = C(d+k-1,k) - C(d+k-3,k-2); trace Phi(1).
      gaussian  x ~ N(0, I_d); eigenfunctions (radial function) x (harmonic of degree k),
                eigenvalues mu_{k,j}, radial index j = 0..J-1 (--radial J, descending);
                multiplicity N(d,k); trace E K(x,x) (K depends on |x|, |y| too).
    Also shown: the normalised eigenvalue mu / E K(x,x) and the fractional variance
    multiplicity * mu / E K(x,x), the share of a GP(0, K) sample's variance in that
    eigenspace (CONVENTIONS section 3).

    \b
    Every value comes with an absolute error bound and its number of correct significant
    digits. At double precision a value the bound cannot resolve is not printed: it is
    flagged (table: a dash and a note; JSON: null with a "flag"); rerun with
    --precision auto or --precision N. Structural zeros (by parity, or above the degree of
    a polynomial kernel) are exactly 0.

    JSON: {domain, dim, activation, depth, weight_var, bias_var, kernel, precision, trace,
    [radial, radial_nodes], eigenvalues: [{degree, [radial_index], value, multiplicity,
    normalized, fractional_variance, error, digits, [flag], [structural_zero], [exact]}]}.
    Values are numbers at double precision and decimal strings carrying every requested
    digit at N digits; exact mode adds the closed form ("exact") next to a 20-digit decimal.
    Multiplicities are exact integers; weight_var and bias_var are echoed as integers or
    exact fractions ("1/10"). On the Gaussian, "radial" is J and "radial_nodes" the size of
    the final radial quadrature rule; CSV and table get a "radial" column (j).
    """
    if radial is not None and domain != "gaussian":
        raise CLIError(f"radial is for --domain gaussian only (radial eigenvalues per degree); got --domain {domain}")
    from .analysis import _check_plot

    _check_plot(plot)
    spec = _architecture(activation, depth, weight_var, bias_var)
    _resolve_precision(precision)
    compute = getattr(spectra, DOMAINS[domain])
    options = {"max_degree": max_degree, "precision": precision}
    if domain == "gaussian":
        radial = DEFAULT_RADIAL if radial is None else radial
        options["radial"] = radial
    with _library_errors():
        spectrum = compute(spec, dim, kernel, **options)
        records = spectrum.to_records()
    prec = spectrum.precision
    gaussian = spectrum.domain == "gaussian"
    if fmt == "json":
        doc = {"domain": spectrum.domain, "dim": spectrum.dim, **spec.as_dict(), "kernel": spectrum.kernel,
               "precision": prec.label, "trace": _scalar_json(spectrum.trace, prec)}
        if gaussian:
            doc["radial"] = radial
            doc["radial_nodes"] = int(spectrum.extra["radial_nodes"])
        doc["eigenvalues"] = records
        _dump_json(doc)
    elif fmt == "csv":
        exact = prec.kind == "exact"
        header = EIGS_CSV_COLUMNS + (("exact",) if exact else ())
        if gaussian:
            header = header[:1] + ("radial",) + header[1:]
        rows = [[r.get("radial_index" if c == "radial" else c) for c in header] for r in records]
        _echo_csv(header, rows)
    else:
        for line in _eigs_table(spectrum, records, normalize):
            click.echo(line)
    if plot:
        from spectra import plots

        from .analysis import _figure, _save

        fig, axes = _figure(2)
        plots.plot_spectrum(spectrum, ax=axes[0])
        plots.plot_spectrum(spectrum, ax=axes[1], weighted=True)
        axes[1].set_title(f"{spectrum.domain} d={spectrum.dim}: multiplicity-weighted (fractional variance)",
                          fontsize="medium")
        _save(fig, plot)


def _eigs_table(spectrum, records, normalize) -> list[str]:
    prec = spectrum.precision
    kind = prec.kind
    d = spectrum.dim
    gaussian = spectrum.domain == "gaussian"
    trace = "E K(x,x)" if gaussian else "E K(x,x) = Phi(1)"
    lines = [
        (f"# {spectrum.kernel.upper()} eigenvalues {_domain_text(spectrum.domain, d)}: "
         f"{_arch_text(spectrum.spec)}; precision {prec}"),
        (f"# trace {trace} = {_scalar_text(spectrum.trace, prec)}; {_multiplicity_text(spectrum.domain, d)}"
         + ("; eigenvalues divided by the trace" if normalize else "")),
    ]
    if gaussian:
        lines.append(f"# eigenfunctions (radial function j) x (harmonic of degree k); radial index j = 0, 1, ... "
                     f"(descending); radial rule of {int(spectrum.extra['radial_nodes'])} nodes")
    elif spectrum.domain == "sphere":
        lines.append("# eigenfunctions: the spherical harmonics of degree k")
    key = "normalized" if normalize else "value"
    values = spectrum.normalized if normalize else spectrum.values
    fvs = spectrum.fractional_variance
    exact_col = kind == "exact" and all(len(r.get("exact", "")) <= 40 for r in records)
    rows, notes = [], []
    for i, r in enumerate(records):
        flag = r.get("flag")
        structural = r.get("structural_zero", False)
        digits = r.get("digits")
        if flag:
            val = fv = MISSING
        elif structural:
            val = fv = "0"
        elif kind in ("double", "auto"):
            sig = 16 if digits is None else int(min(16, max(1, math.floor(digits))))
            val = _float_text(float(values[i]), sig)
            fv = _short(float(fvs[i]), min(6, sig))
        else:  # N digits: every digit; exact: the 20-digit decimal
            val = r[key]
            fv = _short(r["fractional_variance"])
        err = r.get("error")
        if structural or kind == "exact":
            err_text = "0"
        elif isinstance(err, float):
            err_text = f"{err:.1e}"
        else:
            err_text = MISSING if err is None else str(err)
        digits_text = "exact" if digits is None else f"{digits:g}"
        note = ""
        where = f"degree {r['degree']}" + (f", radial {r['radial_index']}" if gaussian else "")
        if flag:
            note = flag.split(":", 1)[0]
            notes.append(f"# {where}: {flag}")
        elif structural:
            note = "structural zero"
        row = [r["degree"]] + ([r["radial_index"]] if gaussian else [])
        row += [_int_text(r["multiplicity"]), val, fv, err_text, digits_text]
        if exact_col:
            row.append(r.get("exact", ""))
        row.append(note)
        rows.append(row)
    headers = (["degree"] + (["radial"] if gaussian else [])
               + ["multiplicity", "normalized" if normalize else "eigenvalue", "frac_variance", "error", "digits"]
               + (["exact"] if exact_col else []) + ["note"])
    lines += _table(headers, rows, left=("exact", "note"))
    if kind == "exact" and not exact_col:
        lines.append("# exact closed forms are long: see --format json (key \"exact\")")
    lines += notes
    return lines


# ---------------------------------------------------------------------------------------
# compare

# ---------------------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------------------


@main.command("activations")
@click.option("--format", "fmt", type=_OneOf("format", FORMATS), default="table", show_default=True,
              help="table, csv or json.")
def activations_cmd(fmt):
    """List the built-in activations: name, formula, whether the dual kernel is closed-form,
    whether exact arithmetic is available, parity, and the reference for the closed form.

    Any monomial x<n> (n <= 32) is accepted as well, and any sympy expression as
    --activation "expr:...". Activations without a closed form are computed by a Hermite
    (Mehler) series or by quadrature split at their kinks, to the requested precision.
    """
    records = spectra.describe_activations()
    header = ("name", "description", "closed_form", "exact", "parity", "reference")
    if fmt == "json":
        _dump_json({"activations": records})
    elif fmt == "csv":
        _echo_csv(header, [[r.get(h) for h in header] for r in records])
    else:
        parity = {1: "even", -1: "odd", 0: ""}
        rows = [[r["name"], r["description"], "yes" if r["closed_form"] else "no", r["exact"] or "",
                 parity.get(r["parity"], ""), r["reference"]] for r in records]
        for line in _table(list(header), rows, left=header):
            click.echo(line)

# ---------------------------------------------------------------------------------------


@main.command("compare")
@click.option("--dim", "dims", default=DEFAULT_COMPARE_DIMS, show_default=True, metavar="LIST",
              help="Comma-separated input dimensions, each d >= 2.")
@architecture_options
@click.option("--max-degree", type=_Int("max_degree"), default=6, show_default=True,
              help="Degrees 0..max-degree (0..64).")
@click.option("--format", "fmt", type=_OneOf("format", FORMATS), default="table", show_default=True,
              help="table: aligned columns; csv: one row per (dim, degree); json: inputs and rows.")
def compare(dims, activation, depth, weight_var, bias_var, kernel, max_degree, fmt):
    """The three domains against the high-dimensional limit, per dimension and degree.

    \b
    For each d and k: the cube mu_k ({-1,+1}^d, uniform), the sphere mu_k (sqrt(d)·S^{d-1},
    uniform), the Gaussian's top radial eigenvalue mu_{k,0} (N(0, I_d)), the asymptotic value
    Phi^(k)(0)/d^k (the k-th derivative of the kernel in t = <x,y>/d at t = 0, inputs of
    norm sqrt(d)) and the relative differences rel_X = (X - asymptotic)/asymptotic. For a
    kernel smooth at t = 0 the differences shrink like 1/d at fixed k (CONVENTIONS
    section 2). Double precision; a dash (table), an empty field (CSV) or null (JSON) where
    a value is not available: the cube above k = d, an unresolved value, or a relative
    difference from an asymptotic value of 0.

    JSON: {activation, depth, weight_var, bias_var, kernel, dims, max_degree, precision,
    rows: [{dim, degree, cube, sphere, gaussian, asymptotic, rel_cube, rel_sphere,
    rel_gaussian}]}.
    """
    dim_list = parse_dims(dims)
    spec = _architecture(activation, depth, weight_var, bias_var)
    with _library_errors():
        raw = spectra.compare_domains(spec, dim_list, kernel, max_degree=max_degree)
    rows = [{c: _finite_or_none(r.get(c)) for c in COMPARE_COLUMNS} for r in raw]
    if fmt == "json":
        _dump_json({**spec.as_dict(), "kernel": kernel, "dims": dim_list, "max_degree": max_degree,
                    "precision": "double", "rows": rows})
        return
    if fmt == "csv":
        _echo_csv(COMPARE_COLUMNS, [[r[c] for c in COMPARE_COLUMNS] for r in rows])
        return
    click.echo(f"# {kernel.upper()} eigenvalues on three domains vs the high-dimensional limit: {_arch_text(spec)}; "
               "precision double")
    click.echo("# cube: mu_k on {-1,+1}^d; sphere: mu_k on sqrt(d)·S^{d-1} (both uniform); "
               "gaussian: mu_{k,0}, the top radial eigenvalue under N(0, I_d)")
    click.echo("# asymptotic: Phi^(k)(0)/d^k; rel_*: (value - asymptotic)/asymptotic, which shrinks like 1/d "
               f"for a kernel smooth at t = 0; {MISSING}: not available")
    table_rows = []
    for r in rows:
        table_rows.append([r["dim"], r["degree"]]
                          + [_short(r[c]) for c in ("cube", "sphere", "gaussian", "asymptotic")]
                          + [MISSING if r[c] is None else f"{r[c]:+.2e}" for c in ("rel_cube", "rel_sphere",
                                                                                     "rel_gaussian")])
    for line in _table(list(COMPARE_COLUMNS), table_rows):
        click.echo(line)


def _finite_or_none(value):
    """Ints as they are; floats as floats, None for None, NaN or an infinity."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    v = float(value)
    return v if math.isfinite(v) else None


# ---------------------------------------------------------------------------------------
# kernel
# ---------------------------------------------------------------------------------------


@main.command("kernel")
@architecture_options
@click.option("--t", "t", default=DEFAULT_T, show_default=True, metavar="LIST",
              help="Comma-separated t = <x,y>/d in [-1, 1]; write --t=-1,0,1 when the list starts "
                   "with a minus sign. Read exactly ('1/3', '0.1') with --precision exact.")
@click.option("--precision", default="double", show_default=True, metavar="PRECISION",
              help=_PRECISION_HELP + " 'auto' is the same as 'double' here.")
@click.option("--symbolic", is_flag=True,
              help="Print Phi(t) as a sympy expression in t instead of values (exact "
                   "hyperparameters; takes no --t or --precision).")
@click.option("--format", "fmt", type=_OneOf("format", FORMATS), default="table", show_default=True,
              help="table, csv (t,value,error) or json.")
@click.pass_context
def kernel_cmd(ctx, activation, depth, weight_var, bias_var, kernel, t, precision, symbolic, fmt):
    """The kernel Phi(t) = K(x, y) of the CK or NTK at t = <x,y>/d.

    \b
    For inputs with |x|^2 = |y|^2 = d (the cube and the sphere) every CK and NTK is a
    function of t = <x,y>/d alone (CONVENTIONS section 1); Phi(1) = E K(x,x) is the trace
    of the integral operator. Values come with an absolute error bound (0 when exact).
    JSON: {activation, depth, weight_var, bias_var, kernel, precision, values: [{t, value,
    error, [exact]}]}; with --symbolic: {..., variable: "t", expression}.
    """
    spec = _architecture(activation, depth, weight_var, bias_var)
    if symbolic:
        for name in ("t", "precision"):
            if ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None):
                raise CLIError(f"--symbolic takes no --{name}: it gives Phi(t) as an expression in t")
        with _library_errors():
            expr = spectra.kernel_expression(spec, kernel)
        text = str(expr)
        if fmt == "json":
            _dump_json({**spec.as_dict(), "kernel": kernel, "variable": "t", "expression": text})
        elif fmt == "csv":
            _echo_csv(["expression"], [[text]])
        else:
            click.echo(text)
        return
    prec = _resolve_precision(precision)
    exact = prec.kind == "exact"
    ts = parse_t(t, exact)
    with _library_errors():
        values, errors = spectra.kernel(spec, ts, kernel, precision, return_error=True)
    rows = []
    for i, tv in enumerate(ts):
        v, e = values[i], errors[i]
        if exact:
            import sympy

            row = {"t": str(Fraction(tv)), "value": str(sympy.N(v, 20)), "error": 0, "exact": str(v)}
        elif prec.kind == "digits":
            fe = float(e)
            if math.isfinite(fe) or math.isnan(fe):
                et = f"{fe:.3g}"
            else:  # an error bound beyond the float64 range, of a value beyond it (e.g. exp at depth 3)
                import mpmath

                et = mpmath.nstr(mpmath.mpf(e), 3, min_fixed=1, max_fixed=0)
            row = {"t": tv, "value": digits_text(v, prec.digits), "error": et}
        else:
            fv, fe = float(v), float(e)
            row = {"t": tv, "value": fv if math.isfinite(fv) else None,
                   "error": fe if math.isfinite(fe) else None}
            if row["value"] is None:
                row["flag"] = "beyond the float64 range; use --precision N"
        rows.append(row)
    if fmt == "json":
        _dump_json({**spec.as_dict(), "kernel": kernel, "precision": prec.label, "values": rows})
        return
    header = ["t", "value", "error"] + (["exact"] if exact else [])
    if fmt == "csv":
        _echo_csv(header, [[r.get(c) for c in header] for r in rows])
        return
    click.echo(f"# {kernel.upper()} Phi(t), t = <x,y>/d with |x|^2 = |y|^2 = d: {_arch_text(spec)}; "
               f"precision {prec}")
    table_rows = []
    for r in rows:
        if exact:
            table_rows.append([r["t"], r["value"], "0", r["exact"]])
        elif prec.kind == "digits":
            table_rows.append([repr(r["t"]), r["value"], r["error"]])
        else:
            table_rows.append([repr(r["t"]), MISSING if r["value"] is None else repr(r["value"]),
                               MISSING if r["error"] is None else f"{r['error']:.1e}"])
    for line in _table(["t", "Phi(t)", "error"] + (["exact"] if exact else []), table_rows, left=("exact",)):
        click.echo(line)
    if any(r["value"] is None for r in rows):
        click.echo(f"# {MISSING}: beyond the float64 range; use --precision N")


# ---------------------------------------------------------------------------------------
# sweep
# ---------------------------------------------------------------------------------------


def _default_threads() -> int:
    return min(os.cpu_count() or 1, 8)


@main.command("sweep")
@click.option("--domain", type=_OneOf("domain", SWEEP_DOMAINS), default="cube", show_default=True,
              help="cube: uniform on {-1,+1}^d (multiplicity C(d,k)); sphere: uniform on sqrt(d)·S^{d-1}, "
                   "d >= 2 (multiplicity N(d,k) = C(d+k-1,k) - C(d+k-3,k-2)).")
@click.option("--activation", default="relu", show_default=True, metavar="NAME", help=_ACTIVATION_HELP)
@click.option("--kernel", "kernels", default="ck,ntk", show_default=True, metavar="LIST",
              help="Comma-separated kernels: ck, ntk or both.")
@click.option("--dim", type=_Int("dim"), default=128, show_default=True, help="Input dimension d >= 1 (d >= 2 on the sphere).")
@click.option("--max-depth", type=_Int("max_depth"), default=16, show_default=True,
              help="Depths 0..max-depth, all computed in one pass of the layer recursion.")
@click.option("--weight-var", default="2", show_default=True, metavar="GRID",
              help="sigma_w^2 grid: start:stop:num (numpy.linspace, both ends included) or a "
                   "comma-separated list, e.g. 1:5:41 or 1,2,4.")
@click.option("--bias-var", default="0", show_default=True, metavar="GRID",
              help="sigma_b^2 grid, same syntax, e.g. 0:4:41.")
@click.option("--max-degree", type=_Int("max_degree"), default=None,
              help="Degrees 0..max-degree (at most dim on the cube).  [default: cube min(dim, 10); sphere 10]")
@click.option("--threads", type=_Int("threads"), default=_default_threads,
              help="Workers (the grid's points are shared out equally among them; forked processes on Linux, "
                   "threads elsewhere); cube only, ignored with --domain sphere.  [default: min(CPUs, 8)]")
@click.option("--output", "-o", required=True, metavar="FILE",
              help="Output file: .npz (arrays) or .csv (long format). Written atomically.")
def sweep(domain, activation, kernels, dim, max_depth, weight_var, bias_var, max_degree, threads, output):
    """Cube or sphere eigenvalues on a whole (depth, weight_var, bias_var) grid, at double precision.

    \b
    Unnormalised mu_k (uniform probability measure on the cube {-1,+1}^d or the sphere
    sqrt(d)·S^{d-1}, CONVENTIONS section 2) for every depth 0..max-depth, every grid point
    and degrees 0..max-degree; NaN where the error bound exceeds 10% of the value (use
    `spectra eigs --domain ... --precision N` there). The sphere runs in one thread
    (--threads is ignored there).

    \b
    .npz: for each kernel k, arrays k (depth, weight_var, bias_var, degree) of mu_k,
    k_err (their error bounds) and k_phi1 (depth, weight_var, bias_var) = Phi(1) = E K(x,x)
    (divide by it to normalise); the axes depths, weight_var, bias_var, degrees; and
    activation and dim as 0-d arrays.
    .csv: one row per value, columns kernel,depth,weight_var,bias_var,degree,value,error,phi1
    (NaN written as an empty field).

    The file is written to a temporary file in the same directory and renamed into place,
    so an error or an interrupt never leaves a partial file. A progress bar is shown on a
    terminal.
    """
    import numpy as np

    ext = os.path.splitext(output)[1].lower()
    if ext not in SWEEP_EXTENSIONS:
        raise CLIError(f"output must end in {' or '.join(SWEEP_EXTENSIONS)}; got {output!r}")
    if os.path.isdir(output):
        raise CLIError(f"output must be a file name; got the directory {output!r}")
    wv = parse_grid("weight_var", weight_var)
    bv = parse_grid("bias_var", bias_var)
    kernel_list = tuple(k.strip().lower() for k in kernels.split(","))
    with _library_errors():
        spectra.get_activation(activation)
        for k in kernel_list:
            if k not in spectra.KERNELS:
                raise ValueError(f"kernel must be one of {', '.join(spectra.KERNELS)}; got {k!r}")

    directory = os.path.dirname(os.path.abspath(output))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(output)}.", suffix=".part", dir=directory)
        os.close(fd)
    except OSError as e:
        raise CLIError(f"output: cannot write in {directory!r}: {e.strerror or e}") from None
    start = time.perf_counter()
    try:
        out = _run_sweep(domain, activation, dim, max_depth, wv, bv, kernel_list, max_degree, threads)
        out.pop("steps", None)
        try:
            if ext == ".npz":
                arrays = {key: out[key] for key in out}
                arrays["activation"] = np.array(spectra.get_activation(activation).name)
                arrays["dim"] = np.array(dim)
                with open(tmp, "wb") as fh:
                    np.savez(fh, **arrays)
            else:
                with open(tmp, "w", newline="", encoding="utf-8") as fh:
                    _write_sweep_csv(fh, out, kernel_list)
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, output)
        except OSError as e:
            raise CLIError(f"output: cannot write {output!r}: {e.strerror or e}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    elapsed = time.perf_counter() - start
    shape = out[kernel_list[0]].shape
    click.echo(f"wrote {output}: {domain} {', '.join(dict.fromkeys(kernel_list))} of shape {shape} "
               f"(depth, weight_var, bias_var, degree) in {elapsed:.1f} s")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def run_with_progress(total, label, compute):
    """``compute(progress)`` with a progress bar on a terminal (``progress(n)`` advances it by n
    of ``total`` steps), and Ctrl-C stopping worker threads at their next step instead of after
    the whole computation. The library's argument errors become one-line CLI errors."""
    cancel = threading.Event()
    lock = threading.Lock()
    show = _isatty(sys.stderr)
    bar_cm = (click.progressbar(length=max(int(total), 1), label=label, file=sys.stderr, show_eta=True)
              if show else contextlib.nullcontext(None))

    with bar_cm as bar:
        def progress(n=1):
            if cancel.is_set():
                raise KeyboardInterrupt
            if bar is not None:
                with lock:
                    bar.update(n)

        def on_sigint(signum, frame):
            cancel.set()
            raise KeyboardInterrupt

        old = None
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError, OSError):
                old = signal.signal(signal.SIGINT, on_sigint)
        try:
            with _library_errors():
                return compute(progress)
        finally:
            cancel.set()
            if old is not None:
                signal.signal(signal.SIGINT, old)
            _STATE["line_ended"] = bar is not None  # the bar's exit ends its line


def _run_sweep(domain, activation, dim, max_depth, wv, bv, kernels, max_degree, threads):
    """Call the library with a progress callback (a bar on a terminal); see :func:`run_with_progress`."""
    if domain == "sphere":
        total = max_depth + 1 if max_depth >= 0 else 1  # progress(1) once per depth
    else:
        try:
            total = spectra.grid_steps(max_depth, len(wv), len(bv), threads)
        except (ValueError, TypeError):
            total = 1  # the library reports the bad argument when the sweep starts

    def compute(progress):
        if domain == "sphere":
            return spectra.sphere_eigenvalues_grid(activation, dim, max_depth, wv, bv, kernels,
                                                   max_degree, progress=progress)
        return spectra.cube_eigenvalues_grid(activation, dim, max_depth, wv, bv, kernels, max_degree,
                                             progress=progress, threads=threads)

    return run_with_progress(total, "sweep", compute)


def _write_sweep_csv(fh, out, kernels) -> None:
    """Long format, one line per value. Every field is a kernel name or a number, so no field
    needs quoting: lines are joined directly (the csv module is ~3x slower on 4M rows)."""
    fh.write(",".join(SWEEP_CSV_COLUMNS) + "\n")
    depths = [str(int(x)) for x in out["depths"]]
    wv = [repr(float(x)) for x in out["weight_var"]]
    bv = [repr(float(x)) for x in out["bias_var"]]
    degrees = [str(int(x)) for x in out["degrees"]]
    nk = len(degrees)

    def cells(a):
        return ["" if math.isnan(x) else repr(x) for x in a.ravel().tolist()]

    for k in dict.fromkeys(kernels):
        for a, depth in enumerate(depths):
            mu, err, phi1 = cells(out[k][a]), cells(out[k + "_err"][a]), cells(out[k + "_phi1"][a])
            lines = []
            n = 0
            for b, w in enumerate(wv):
                for c, s in enumerate(bv):
                    head = f"{k},{depth},{w},{s},"
                    tail = "," + phi1[b * len(bv) + c] + "\n"
                    for i in range(nk):
                        lines.append(head + degrees[i] + "," + mu[n] + "," + err[n] + tail)
                        n += 1
            fh.write("".join(lines))


# the analysis commands (fracvar, optimal-depth, ntk-vs-ck, max-lr, simplicity) register on `main`
from . import analysis as _analysis  # noqa: F401
from . import dynamics as _dynamics  # noqa: F401
from . import verify as _verify  # noqa: F401
