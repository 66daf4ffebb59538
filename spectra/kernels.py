"""Conjugate kernel (CK, NNGP) and neural tangent kernel (NTK) of a deep fully connected network.

With Σ¹(x, y) = σ_w² ⟨x,y⟩/d + σ_b² (CONVENTIONS §1),

.. math::

    Σ^{l+1} = σ_w² V_φ(Σ^l; q^l_x, q^l_y) + σ_b²,\\qquad
    Θ^{l+1} = Σ^{l+1} + σ_w² Θ^l V_{φ'}(Σ^l; q^l_x, q^l_y),\\qquad Θ^1 = Σ^1,

where q^l_x = Σ^l(x, x). The CK of a depth-L network is Σ^{L+1}, its NTK Θ^{L+1}
(Jacot, Gabriel & Hongler 2018; Lee et al. 2019; Arora et al. 2019).

Every routine takes an :class:`~spectra.spec.Architecture` and a ``precision``; the
recursion itself (:func:`layers`) is written once and runs in float64, mpmath or sympy.
At double precision it also carries a first-order running error bound (Higham,
*Accuracy and Stability of Numerical Algorithms*, §3.3): the rounding of each layer plus
the propagation of earlier errors through ∂V/∂c = V_{φ'}.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _validate
from .precision import MpOps, NumpyOps, SympyOps, bits_for_digits, resolve_precision
from .spec import KERNELS, Architecture

__all__ = ["kernel", "kernel3", "kernel_grid", "kernel_expression", "layers", "Layer"]


@dataclass
class Layer:
    """State after ``depth`` hidden layers: CK ``ck`` = Σ^{depth+1}, NTK ``ntk`` = Θ^{depth+1},
    their float64 error bounds (``None`` off the double path), and the diagonal q."""

    depth: int
    ck: object
    ntk: object
    ck_err: object = None
    ntk_err: object = None
    qx: object = None
    qy: object = None


def layers(act, cov, qx, qy, weight_var, bias_var, depth, ops, ntk=True, track=False):
    """Iterate the CK/NTK recursion, yielding a :class:`Layer` for depth 0, 1, …, ``depth``.

    All arguments broadcast against each other (this is how hyperparameter grids are
    vectorised). ``qx is qy`` signals equal norms (cube, sphere) and saves work.
    ``track=True`` (float64 only) carries absolute error bounds.
    """
    same = qx is qy
    sw, sb = weight_var, bias_var
    S = sw * cov + sb
    qa = sw * qx + sb
    qb = qa if same else sw * qy + sb
    T = S if ntk else None
    if track:
        u = ops.eps
        eS = u * (2 * np.abs(sw * cov) + sb)
        eqa = u * (2 * sw * np.abs(qx) + sb)
        eqb = eqa if same else u * (2 * sw * np.abs(qy) + sb)
        eT = eS
    else:
        eS = eT = eqa = eqb = None
    yield Layer(0, S, T, eS, eT if ntk else None, qa, qb)
    r = act.rounding
    for l in range(1, depth + 1):
        V = act.dual(S, qa, qb, ops)
        need_d = ntk or track
        D = act.ddual(S, qa, qb, ops) if need_d else None
        Va = act.dual(qa, qa, qa, ops)
        Vb = Va if same else act.dual(qb, qb, qb, ops)
        S_new = sw * V + sb
        T_new = S_new + sw * T * D if ntk else None
        if track:
            Da = act.ddual(qa, qa, qa, ops)
            Db = Da if same else act.ddual(qb, qb, qb, ops)
            scale = np.sqrt(qa * qb)
            vscale = np.sqrt(Va * Vb)
            dscale = np.sqrt(Da * Db)
            ein = eS + 0.5 * (eqa + eqb)
            eS_new = sw * np.abs(D) * ein + u * (r * sw * vscale + 2 * np.abs(S_new))
            if ntk:
                Dp = act.ddual(np.clip(S + ein, -scale, scale), qa, qb, ops)
                Dm = act.ddual(np.clip(S - ein, -scale, scale), qa, qb, ops)
                eD = np.maximum(np.abs(Dp - D), np.abs(Dm - D))
                # At |ρ| = 1 (t = ±1 on the cube and sphere) Σ and q come from the same float
                # operations, so their errors are identical and ρ = ±1 exactly: no propagation.
                eD = np.where(np.abs(S) >= scale, 0.0, eD) + u * r * dscale
                eT = (eS_new + sw * (np.abs(D) * eT + np.abs(T) * eD)
                      + u * (2 * sw * np.abs(T * D) + np.abs(T_new)))
            eqa_new = sw * Da * 2 * eqa + u * (r * sw * Va + 2 * (sw * Va + sb))
            eqb = eqa_new if same else sw * Db * 2 * eqb + u * (r * sw * Vb + 2 * (sw * Vb + sb))
            eqa, eS = eqa_new, eS_new
        qa = sw * Va + sb
        qb = qa if same else sw * Vb + sb
        S, T = S_new, T_new
        yield Layer(l, S, T, eS, eT if ntk else None, qa, qb)


def _kernel_name(kernel):
    return _validate.choice("kernel", kernel, KERNELS)


def _last(gen):
    layer = None
    for layer in gen:
        pass
    return layer


def _double(spec, cov, qx, qy, kernel):
    ops = NumpyOps()
    ntk = kernel == "ntk"
    with np.errstate(invalid="ignore", divide="ignore"):
        L = _last(layers(spec.activation, cov, qx, qy, float(spec.weight_var), float(spec.bias_var),
                         spec.depth, ops, ntk=ntk, track=True))
    return (L.ntk, L.ntk_err) if ntk else (L.ck, L.ck_err)


def guard_bits(err, scale):
    """Guard bits for a working-precision run, from the float64 error amplification."""
    amp = np.max(np.asarray(err, dtype=float) / (NumpyOps.eps * np.maximum(np.abs(scale), 1e-300)))
    return int(math.ceil(math.log2(max(amp, 1.0)))) + 24


def _mp(spec, cov, qx, qy, kernel, bits, exact_inputs=None):
    ops = MpOps(bits)
    ntk = kernel == "ntk"
    conv = exact_inputs if exact_inputs is not None else ops.array
    c = conv(cov) if not np.isscalar(cov) else ops.const(cov)
    a = conv(qx) if not np.isscalar(qx) else ops.const(qx)
    b = a if qx is qy else (conv(qy) if not np.isscalar(qy) else ops.const(qy))
    L = _last(layers(spec.activation, c, a, b, ops.const(spec.weight_var), ops.const(spec.bias_var),
                     spec.depth, ops, ntk=ntk))
    return ops, (L.ntk if ntk else L.ck)


def _exact(spec, cov, qx, qy, kernel):
    act = spec.activation
    if act.exact is None:
        raise ValueError(f"precision='exact': activation {act.name!r} has no exact closed form; "
                         "use an integer number of digits")
    ops = SympyOps()
    for name in ("weight_var", "bias_var"):
        v = getattr(spec, name)
        if isinstance(v, float) and not v.is_integer():
            raise TypeError(f"{name}: precision='exact' needs an exact rational (int, fractions.Fraction, "
                            f"sympy.Rational or a string such as '1/10'); got the float {v!r}")
    ntk = kernel == "ntk"
    c, a = ops.array(cov), ops.array(qx)
    b = a if qx is qy else ops.array(qy)
    L = _last(layers(act, c, a, b, ops.const(spec.weight_var), ops.const(spec.bias_var), spec.depth, ops, ntk=ntk))
    return L.ntk if ntk else L.ck


def _as_t(t):
    from fractions import Fraction

    if isinstance(t, (list, tuple)) and any(isinstance(v, (Fraction, str)) for v in t):
        vals = [Fraction(v) if isinstance(v, str) else v for v in t]
        arr = np.array(vals, dtype=object)
        _validate.finite_array("t", [float(v) for v in vals], -1, 1)
        return arr, True
    a = _validate.finite_array("t", t, -1.0, 1.0)
    return a, False


def kernel(spec: Architecture, t, kernel="ntk", precision="double", return_error=False):
    """Φ(t) = K(x, y) for ‖x‖² = ‖y‖² = d and t = ⟨x, y⟩/d (cube and sphere inputs).

    Parameters
    ----------
    spec : Architecture
    t : array_like
        Values in [−1, 1]. For ``precision="exact"`` pass Fractions or strings ("1/3")
        to keep them exact; floats are used with their binary value.
    kernel : {"ck", "ntk"}
    precision : "double", int, "exact" or "auto"
        See :mod:`spectra.precision`. ``"auto"`` is the same as ``"double"`` here.
    return_error : bool
        Also return an absolute error bound (float64; zeros for exact results).

    Returns
    -------
    values : ndarray
        float64 (double), object array of mpmath ``mpf`` carrying N correct digits, or
        object array of sympy expressions (exact).

    Examples
    --------
    The depth-0 kernel is linear, and the relu CK of depth 1 at t = 0 is σ_w²·q/(2π)·… :

    >>> import numpy as np
    >>> from spectra import Architecture, kernel
    >>> float(kernel(Architecture("relu", 0, 2, 1), 0.5, "ck"))
    2.0
    >>> kernel(Architecture("x2", 1, 1, 0), ["1/2"], "ck", "exact")[0]
    3/2
    """
    kernel = _kernel_name(kernel)
    prec = resolve_precision(precision)
    ta, exact_t = _as_t(t)
    if prec.kind == "exact":
        one = np.ones(ta.shape, dtype=object)
        vals = _exact(spec, ta, one, one, kernel)
        return (vals, np.zeros(ta.shape)) if return_error else vals
    tf = np.asarray([float(v) for v in ta.ravel()], dtype=float).reshape(ta.shape) if exact_t else ta
    one = np.ones_like(tf)
    vals, err = _double(spec, tf, one, one, kernel)
    if prec.kind in ("double", "auto"):
        return (vals, err) if return_error else vals
    N = prec.digits
    bits = bits_for_digits(N) + guard_bits(err, vals)
    ops = MpOps(bits)
    inp = ops.array(ta)
    ones = ops.array(np.ones(ta.shape))
    _, mp_vals = _mp(spec, inp, ones, ones, kernel, bits, exact_inputs=lambda x: x)
    out_ctx = MpOps(bits_for_digits(N) + 4).ctx
    res = np.frompyfunc(out_ctx.mpf, 1, 1)(mp_vals)
    if return_error:
        e = np.abs(np.asarray([float(v) for v in np.ravel(res)]).reshape(ta.shape)) * 10.0 ** (-N)
        return res, e
    return res


def kernel3(spec: Architecture, cov, qx, qy, kernel="ntk", precision="double", return_error=False):
    """K(x, y) in the three-argument form Φ(⟨x,y⟩/d, ‖x‖²/d, ‖y‖²/d) (Gaussian inputs).

    ``cov``, ``qx``, ``qy`` broadcast; |cov| ≤ √(qx qy) is required (Cauchy–Schwarz).
    """
    kernel = _kernel_name(kernel)
    prec = resolve_precision(precision)
    c = _validate.finite_array("cov", cov)
    a = _validate.finite_array("qx", qx, 0.0)
    b = _validate.finite_array("qy", qy, 0.0)
    c, a, b = np.broadcast_arrays(c, a, b)
    if np.any(np.abs(c) > np.sqrt(a * b) * (1 + 1e-15)):
        raise ValueError("cov must satisfy |cov| <= sqrt(qx*qy) (Cauchy-Schwarz)")
    if prec.kind == "exact":
        vals = _exact(spec, c, a, b, kernel)
        return (vals, np.zeros(c.shape)) if return_error else vals
    vals, err = _double(spec, c, a, b, kernel)
    if prec.kind in ("double", "auto"):
        return (vals, err) if return_error else vals
    N = prec.digits
    bits = bits_for_digits(N) + guard_bits(err, vals)
    _, mp_vals = _mp(spec, c, a, b, kernel, bits)
    out_ctx = MpOps(bits_for_digits(N) + 4).ctx
    res = np.frompyfunc(out_ctx.mpf, 1, 1)(mp_vals)
    if return_error:
        return res, np.abs(vals) * 10.0 ** (-N)
    return res


def kernel_expression(spec: Architecture, kernel="ntk", symbols=None):
    """Φ(t) as a sympy expression in the symbol ``t`` (exact hyperparameters required).

    ``symbols`` may replace the hyperparameters by sympy symbols, e.g.
    ``{"weight_var": sympy.Symbol("s_w2")}`` (polynomial activations only make this
    a polynomial; closed forms stay valid expressions).
    """
    import sympy

    kernel = _kernel_name(kernel)
    act = spec.activation
    if act.exact is None:
        raise ValueError(f"activation {act.name!r} has no closed form")
    ops = SympyOps()
    t = sympy.Symbol("t", real=True)
    sym = symbols or {}
    sw = sym.get("weight_var", None) or ops.const(spec.weight_var)
    sb = sym.get("bias_var", None) or ops.const(spec.bias_var)
    one = sympy.Integer(1)
    L = _last(layers(act, t, one, one, sw, sb, spec.depth, ops, ntk=kernel == "ntk"))
    expr = L.ntk if kernel == "ntk" else L.ck
    return sympy.simplify(expr) if act.exact == "rational" else expr


def kernel_grid(activation, t, max_depth, weight_var, bias_var, kernel=("ck", "ntk"), return_error=False):
    """Φ(t) for every depth 0..max_depth, every weight_var × bias_var, every t, in one call.

    Double precision only (use :func:`kernel` per architecture for more digits).

    Returns
    -------
    dict
        ``{"ck": array, "ntk": array}`` (the requested kernels), each of shape
        ``(max_depth + 1, len(weight_var), len(bias_var), len(t))``; with
        ``return_error=True`` also ``"ck_err"``/``"ntk_err"``.
    """
    from .activations import get_activation

    act = get_activation(activation)
    kernels = (kernel,) if isinstance(kernel, str) else tuple(kernel)
    kernels = tuple(_kernel_name(k) for k in kernels)
    max_depth = _validate.integer("max_depth", max_depth, lo=0)
    ta = _validate.finite_array("t", t, -1.0, 1.0).ravel()
    wv = _validate.finite_array("weight_var", weight_var).ravel()
    bv = _validate.finite_array("bias_var", bias_var).ravel()
    if np.any(wv <= 0):
        raise ValueError("weight_var must be > 0 everywhere on the grid")
    if np.any(bv < 0):
        raise ValueError("bias_var must be >= 0 everywhere on the grid")
    sw = wv[:, None, None]
    sb = bv[None, :, None]
    one = np.ones((1, 1, 1))
    ops = NumpyOps()
    shape = (max_depth + 1, wv.size, bv.size, ta.size)
    out = {k: np.empty(shape) for k in kernels}
    if return_error:
        out.update({k + "_err": np.empty(shape) for k in kernels})
    with np.errstate(invalid="ignore", divide="ignore"):
        for L in layers(act, ta[None, None, :], one, one, sw, sb, max_depth, ops,
                        ntk="ntk" in kernels, track=return_error):
            for k in kernels:
                out[k][L.depth] = getattr(L, k)
                if return_error:
                    out[k + "_err"][L.depth] = getattr(L, k + "_err")
    return out
