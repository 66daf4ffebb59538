r"""The large-d limit: μ_k ≈ Φ^{(k)}(0) / d^k on every domain.

For fixed k and a kernel smooth at t = 0, the cube, sphere and Gaussian eigenvalues of degree
k all approach Φ^{(k)}(0)/d^k as d → ∞, with relative corrections O(1/d), where the derivative
is taken in the first argument of Φ(c, q₁, q₂) at (0, 1, 1) (CONVENTIONS §2; Yang & Salman,
arXiv:1907.10599, Thm 3.4; the multiplicities grow like d^k / k!).

:func:`kernel_derivatives` computes Φ^{(k)}(0) by Taylor-mode arithmetic (:mod:`spectra.jets`)
through the layer recursion: float64, N digits (two working precisions must agree), or exactly
with sympy, optionally with symbolic weight and bias variances. :func:`compare_domains` tabulates
the three spectra against the limit.
"""
from __future__ import annotations

import math

import numpy as np

from . import _validate
from .jets import Jet, JetOps
from .kernels import _kernel_name, kernel_jet
from .precision import MpOps, NumpyOps, SympyOps, bits_for_digits, resolve_precision
from .spec import Architecture, kernel_parity

__all__ = ["compare_domains", "kernel_derivatives"]

_U = 2.0**-53


def taylor_at_zero(spec, kernel, order, base, weight_var=None, bias_var=None):
    """Taylor coefficients a_0..a_order of Φ(t) at t = 0 by jets, in the arithmetic of ``base``
    (NumpyOps, MpOps or SympyOps); the variances default to the spec's."""
    if base.kind == "double":
        X = Jet.variable(0.0, 1.0, order)
    else:
        X = Jet.variable(np.array([base.const(0)], dtype=object), np.array([base.const(1)], dtype=object), order)
    one = base.const(1)
    sw = base.const(spec.weight_var if weight_var is None else weight_var)
    sb = base.const(spec.bias_var if bias_var is None else bias_var)
    J = kernel_jet(spec.activation, X, one, one, sw, sb, spec.depth, JetOps(base), kernel)
    return [J.coef[k].reshape(-1)[0] for k in range(order + 1)]


def _jet_at_zero(spec, kernel, K, base, sw=None, sb=None):
    return [a * math.factorial(k) for k, a in enumerate(taylor_at_zero(spec, kernel, K, base, sw, sb))]


def kernel_derivatives(spec: Architecture, kernel="ntk", max_order=6, precision="double", symbols=None,
                       return_error=False):
    """Φ^{(k)}(0), k = 0..max_order: derivatives of the CK/NTK in its first argument at (0, 1, 1).

    Parameters
    ----------
    spec : Architecture
    kernel : {"ck", "ntk"}
    max_order : int
        Highest derivative (≥ 0).
    precision : "double", int N or "exact"
        ``"exact"`` needs an activation with an exact form (polynomials give rationals; relu and
        erf give closed expressions in π, square roots and inverse trigonometric functions).
    symbols : dict, optional
        With ``precision="exact"``: replace ``"weight_var"`` and/or ``"bias_var"`` by sympy
        symbols (or expressions), e.g. ``{"weight_var": sympy.Symbol("s")}``.
    return_error : bool
        Also return absolute error bounds.

    Returns
    -------
    ndarray
        float64, object array of mpf (N digits) or of sympy expressions (exact).

    Examples
    --------
    For erf at depth 1 with σ_b² = 0, Φ(t) = σ_w² (2/π) arcsin(σ_w² t / (σ_w² + ½)), so
    Φ'(0) = 2σ_w⁴ / (π(σ_w² + ½)) and every even derivative vanishes:

    >>> import sympy
    >>> from spectra import Architecture, kernel_derivatives
    >>> s = sympy.Symbol("s", positive=True)
    >>> d = kernel_derivatives(Architecture("erf", 1, 1, 0), "ck", 2, "exact", symbols={"weight_var": s})
    >>> sympy.simplify(d[1] - 2 * s**2 / (sympy.pi * (s + sympy.Rational(1, 2)))), d[2]
    (0, 0)
    """
    kernel = _kernel_name(kernel)
    K = _validate.integer("max_order", max_order, lo=0, hi=10000)
    prec = resolve_precision(precision)
    symbols = dict(symbols or {})
    unknown = set(symbols) - {"weight_var", "bias_var"}
    if unknown:
        raise ValueError(f"symbols may replace 'weight_var' and 'bias_var' only; got {sorted(unknown)}")
    if symbols and prec.kind != "exact":
        raise ValueError("symbols: symbolic variances need precision='exact'")
    parity = kernel_parity(spec.activation, spec.depth, spec.bias_var == 0 and "bias_var" not in symbols)
    zero = [parity == 1 and k % 2 == 1 or parity == -1 and k % 2 == 0 for k in range(K + 1)]
    if prec.kind == "exact":
        import sympy

        if spec.activation.exact is None:
            raise ValueError(f"precision='exact': activation {spec.activation.name!r} has no exact closed form; "
                             "use an integer number of digits")
        vals = _jet_at_zero(spec, kernel, K, SympyOps(), symbols.get("weight_var"), symbols.get("bias_var"))
        out = []
        for k, v in enumerate(vals):
            if zero[k]:
                out.append(sympy.Integer(0))
            elif spec.activation.exact == "rational":
                out.append(sympy.expand(v))
            else:
                out.append(sympy.simplify(v) if K <= 3 else v)
        res = np.array(out, dtype=object)
        return (res, np.zeros(K + 1)) if return_error else res
    if prec.kind in ("double", "auto"):
        with np.errstate(all="ignore"):
            vals = np.array(_jet_at_zero(spec, kernel, K, NumpyOps()), dtype=float)
        vals[zero] = 0.0
        err = np.abs(vals) * (np.arange(K + 1) + 2) * (spec.depth + 1) * spec.activation.rounding * _U
        return (vals, err) if return_error else vals
    N = prec.digits
    extra = 32 + 8 * spec.depth
    out_ctx = MpOps(bits_for_digits(N) + 8).ctx
    while True:
        res = []
        for bits in (bits_for_digits(N) + extra, bits_for_digits(N) + extra + 64):
            res.append(_jet_at_zero(spec, kernel, K, MpOps(bits)))
        a, b = res
        err = [abs(x - y) for x, y in zip(a, b)]
        ok = all(z or e <= abs(y) * out_ctx.mpf(10) ** (-N) / 4 for z, e, y in zip(zero, err, b))
        if ok or extra > 64 * (N + 100):
            break
        extra *= 2
    vals = np.array([out_ctx.zero if z else out_ctx.mpf(y) for z, y in zip(zero, b)], dtype=object)
    errs = np.array([out_ctx.zero if z else out_ctx.mpf(e) for z, e in zip(zero, err)], dtype=object)
    return (vals, errs) if return_error else vals


def compare_domains(spec: Architecture, dims, kernel="ntk", max_degree=6, precision="double"):
    """Per dimension and degree: cube μ_k, sphere μ_k, Gaussian μ_{k,0} and the limit Φ^{(k)}(0)/d^k.

    Returns a list of dicts with keys ``dim``, ``degree``, ``cube``, ``sphere``, ``gaussian``,
    ``asymptotic`` and ``rel_cube``, ``rel_sphere``, ``rel_gaussian`` (relative differences
    from the asymptotic value; None where it is 0). The cube column is None for k > d; the
    Gaussian column for d = 1 and k > 1. Values are float64 (``precision="double"``).

    The differences shrink like 1/d: for erf's NTK at depth 2 (σ_w² = 2, σ_b² = 0.5),
    rel_sphere at k = 2 falls about 4× from d = 64 to d = 256.
    """
    from .cube import cube_eigenvalues
    from .gaussian import gaussian_eigenvalues
    from .sphere import sphere_eigenvalues

    kernel = _kernel_name(kernel)
    K = _validate.integer("max_degree", max_degree, lo=0, hi=64)
    if isinstance(dims, (int, np.integer)):
        dims = [dims]
    dims = [_validate.integer("dim", d, lo=2) for d in dims]
    if not dims:
        raise ValueError("dims must not be empty")
    deriv = kernel_derivatives(spec, kernel, K, "double")
    rows = []
    for d in dims:
        cube = cube_eigenvalues(spec, d, kernel, max_degree=min(K, d), precision=precision)
        sph = sphere_eigenvalues(spec, d, kernel, max_degree=K, precision=precision)
        gau = gaussian_eigenvalues(spec, d, kernel, max_degree=K, radial=1, precision=precision)
        for k in range(K + 1):
            asym = float(deriv[k]) / float(d) ** k
            row = {"dim": d, "degree": k,
                   "cube": float(cube.values[k]) if k <= d else None,
                   "sphere": float(sph.values[k]),
                   "gaussian": float(gau.values[k]),
                   "asymptotic": asym}
            for name in ("cube", "sphere", "gaussian"):
                v = row[name]
                row["rel_" + name] = (None if v is None or asym == 0 or not np.isfinite(v)
                                      else (v - asym) / asym)
            rows.append(row)
    return rows
