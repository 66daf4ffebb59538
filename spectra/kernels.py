r"""Conjugate kernel (CK, NNGP) and neural tangent kernel (NTK) of a deep fully connected network.

With Σ¹(x, y) = σ_w² ⟨x,y⟩/d + σ_b² (CONVENTIONS §1),

.. math::

    Σ^{l+1} = σ_w² V_φ(Σ^l; q^l_x, q^l_y) + σ_b²,\qquad
    Θ^{l+1} = Σ^{l+1} + σ_w² Θ^l V_{φ'}(Σ^l; q^l_x, q^l_y),\qquad Θ^1 = Σ^1,

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
from dataclasses import dataclass, fields

import numpy as np

from . import _validate
from .precision import MpOps, NumpyOps, SympyOps, bits_for_digits, resolve_precision
from .spec import KERNELS, Architecture

__all__ = ["Layer", "kernel", "kernel3", "kernel_expression", "kernel_grid", "layers"]


@dataclass
class Layer:
    """State after ``depth`` hidden layers: CK ``ck`` = Σ^{depth+1}, NTK ``ntk`` = Θ^{depth+1},
    their float64 error bounds (``None`` off the double path) and the shared relative error."""

    depth: int
    ck: object
    ntk: object
    ck_err: object = None
    ntk_err: object = None
    rel_err: object = None


_REL_STEP = 2.0**-20  # relative step of the central difference in :func:`_shared_rel`


def _shared_rel(act, rel, q, q_new, weight_var, ops):
    """Propagate the relative error shared by all points through the diagonal map
    q ↦ σ_w² V(q; q, q) + σ_b²: it is amplified by σ_w² V/q' times the log-slope
    d log V(q; q, q)/d log q (1 for relu, n for xⁿ), measured by a central difference."""
    up, dn = q * (1 + _REL_STEP), q * (1 - _REL_STEP)
    return _shared_rel_from(act, rel, act.dual(q, q, q, ops), act.dual(up, up, up, ops), act.dual(dn, dn, dn, ops),
                            q_new, weight_var, ops)


def _shared_rel_from(act, rel, V, V_up, V_dn, q_new, weight_var, ops):
    """:func:`_shared_rel` from V(q; q, q) and its values at q(1 ± 2⁻²⁰)."""
    with np.errstate(all="ignore"):
        slope = np.abs(V_up - V_dn) / (2 * _REL_STEP * np.abs(V))
        gain = np.where(V != 0, slope * np.abs(weight_var * V / q_new), 0.0)  # V underflowed: nothing left
    return rel * gain + 4 * act.rounding * ops.eps


def kernel_jet(act, X, qx, qy, weight_var, bias_var, depth, ops, kernel):
    """The CK or NTK of depth ``depth`` as a :class:`~spectra.jets.Jet` in the variable of ``X``
    (the first-layer covariance as a jet; ``ops`` a :class:`~spectra.jets.JetOps`)."""
    from .jets import Jet

    L = _last(layers(act, X, qx, qy, weight_var, bias_var, depth, ops, ntk=kernel == "ntk"))
    J = L.ntk if kernel == "ntk" else L.ck
    return J if isinstance(J, Jet) else Jet.constant(J, X)  # a constant kernel (depth 0, σ_w² t absent)


def _check_ntk(act, ntk):
    """The NTK needs E[φ'(u)φ'(v)] on the diagonal; activations whose derivative is a Dirac
    delta (step, sign) have none there (it is infinite), so only their CK exists."""
    if ntk and not getattr(act, "ntk_defined", True):
        raise ValueError(f"activation {act.name!r} has no derivative (φ' is a Dirac delta), so its NTK "
                         "is undefined; use kernel='ck'")


def layers(act, cov, qx, qy, weight_var, bias_var, depth, ops, ntk=True, track=False):
    """Iterate the CK/NTK recursion, yielding a :class:`Layer` for depth 0, 1, …, ``depth``.

    All arguments broadcast against each other (this is how hyperparameter grids are
    vectorised). ``qx is qy`` signals equal norms (cube, sphere) and saves work.

    ``track=True`` (float64 only) carries error estimates of two kinds:

    * ``ck_err``/``ntk_err``: absolute, point-wise rounding errors, propagated through
      ∂V/∂c = V_{φ'} (for the NTK also through the error of V_{φ'} itself);
    * ``rel_err``: a relative error shared by all points, from the rounding of the
      diagonal q (one scalar per architecture). It perturbs the kernel like a change of
      hyperparameters, smoothly in t, so it is kept apart from the point-wise noise; it is
      amplified layer by layer as the diagonal map amplifies relative changes of q.
    """
    _check_ntk(act, ntk)
    same = qx is qy
    sw, sb = weight_var, bias_var
    S = sw * cov + sb
    qa = sw * qx + sb
    qb = qa if same else sw * qy + sb
    T = S if ntk else None
    eS = eT = rel = None
    if track:
        u = ops.eps
        eS = u * (2 * np.abs(sw * cov) + sb)
        eT = eS
        rel = 4 * u
    yield Layer(0, S, T, eS, eT if ntk else None, rel)
    r = act.rounding
    for l in range(1, depth + 1):
        if (ntk or track) and act.duals is not None:
            V, D = act.duals(S, qa, qb, ops)
        else:
            V = act.dual(S, qa, qb, ops)
            D = act.ddual(S, qa, qb, ops) if (ntk or track) else None
        Va = act.dual(qa, qa, qa, ops)
        Vb = Va if same else act.dual(qb, qb, qb, ops)
        S_new = sw * V + sb
        T_new = S_new + sw * T * D if ntk else None
        if track:
            vscale = np.sqrt(Va * Vb)
            eS_new = sw * np.abs(D) * eS + u * (r * sw * vscale + 2 * np.abs(S_new))
            if ntk:
                Da = act.ddual(qa, qa, qa, ops)
                dscale = Da if same else np.sqrt(Da * act.ddual(qb, qb, qb, ops))
                scale = qa if same else np.sqrt(qa * qb)
                # V_{φ'} is absolutely monotone on [0, q]: one upward step bounds its change
                Dp = act.ddual(np.minimum(S + eS, scale), qa, qb, ops)
                eD = 2 * np.abs(Dp - D)
                # At |ρ| = 1 (t = ±1 on the cube and sphere) Σ and q come from the same float
                # operations, so ρ = ±1 exactly: nothing propagates there.
                eD = np.where(np.abs(S) >= scale, 0.0, eD) + u * r * dscale
                eT = (eS_new + sw * (np.abs(D) * eT + np.abs(T) * eD)
                      + u * (2 * sw * np.abs(T * D) + np.abs(T_new)))
            eS = eS_new
            qa_new, qb_new = sw * Va + sb, sw * Vb + sb
            rel = np.maximum(_shared_rel(act, rel, qa, qa_new, sw, ops),
                             rel if same else _shared_rel(act, rel, qb, qb_new, sw, ops))
        qa = sw * Va + sb
        qb = qa if same else sw * Vb + sb
        S, T = S_new, T_new
        yield Layer(l, S, T, eS, eT if ntk else None, rel)


@dataclass
class GapLayer:
    """Equal-norm state in gap form (float64).

    The CK is ``ref − delta`` and the NTK ``ref_ntk − eps``, where ``ref``/``ref_ntk`` are the
    kernels at the reference t = 0; ``q``/``p`` are the diagonal values (t = 1). ``*_err``
    bound the point-wise errors of the gaps; ``rel_err`` is the shared relative error.
    """

    depth: int
    q: object
    ref: object
    delta: object
    p: object = None
    ref_ntk: object = None
    eps: object = None
    delta_err: object = None
    eps_err: object = None
    rel_err: float = 0.0

    def value(self, kernel):
        return (self.ref_ntk - self.eps) if kernel == "ntk" else (self.ref - self.delta)

    def diag(self, kernel):
        return self.p if kernel == "ntk" else self.q

    def center(self, kernel):
        return self.ref_ntk if kernel == "ntk" else self.ref

    def gap(self, kernel):
        return self.eps if kernel == "ntk" else self.delta

    def gap_err(self, kernel):
        return self.eps_err if kernel == "ntk" else self.delta_err


def _gap_fns(act):
    """(gaps, accurate): the activation's cancellation-free differences, or plain subtraction."""
    if act.gaps is not None:
        return act.gaps, True
    ops = NumpyOps()

    def gaps(a, delta, q, gamma=None, scale=1.0):
        b = a - delta
        return (scale * (act.dual(a, q, q, ops) - act.dual(b, q, q, ops)),
                scale * (act.ddual(a, q, q, ops) - act.ddual(b, q, q, ops)))

    return gaps, False


@dataclass
class GapColumns:
    """The per-architecture part of :func:`layers_gap` at layer l (none of it depends on t).

    State at layer l: diagonal ``q`` = Σ_l(1), reference ``a`` = Σ_l(0), ``gamma`` = q − a, NTK
    diagonal ``p`` and reference ``P``, shared relative error ``rel``. Step l → l+1 (``None`` at
    the last layer): ``Vq`` = V(q), ``Dq`` = V'(q), ``Da`` = V'(a); the values pinned at t = 1
    and t = −1 after the step (``d_top``, ``d_bottom`` for δ, ``e_top``, ``e_bottom`` for ε) and,
    with ``track``, their error bounds ``end_d``, ``end_e``.
    """

    depth: int
    q: object
    a: object
    gamma: object
    p: object = None
    P: object = None
    rel: object = 0.0
    Vq: object = None
    Dq: object = None
    Da: object = None
    d_top: object = None
    d_bottom: object = None
    e_top: object = None
    e_bottom: object = None
    end_d: object = None
    end_e: object = None

    def take(self, index):
        """The same quantities on a block of the hyperparameter grid (``index`` into the
        trailing axes of the (1, …) arrays); scalars are kept."""
        def sub(v):
            return v[(slice(None),) + tuple(index)] if np.ndim(v) > len(index) else v

        return GapColumns(self.depth, *(sub(getattr(self, f.name)) for f in fields(self)[1:]))


def gap_columns(act, weight_var, bias_var, depth, ntk=True, track=False, pin=True, zero=0.0):
    """The per-architecture recursion of :func:`layers_gap`: yields :class:`GapColumns` for
    layers 0..depth. ``pin``: also carry Σ(−1) and Θ(−1) for the points t = ±1; ``zero``
    broadcasts the results over every hyperparameter axis."""
    _check_ntk(act, ntk)
    ops = NumpyOps()
    gaps, _ = _gap_fns(act)
    u = ops.eps
    r = act.rounding
    sw, sb = weight_var, bias_var
    q = sw + sb + zero
    a = sb + zero
    gamma = sw + zero
    lo = sb - sw + zero  # Σ(−1), direct
    p, P, lo_T = (q, a, lo) if ntk else (None, None, None)
    rel = 4 * u
    for l in range(depth + 1):
        c = GapColumns(l, q, a, gamma, p, P, rel)
        if l == depth:
            yield c
            return
        # every dual of the step in one call on stacked arguments (they act entry-wise): V at
        # q, a, Σ(−1) and, for the shared error, at q(1 ± h) with its own diagonal
        args, diag = [q, a], [q, q]
        if pin:
            args.append(lo)
            diag.append(q)
        if track:
            up, dn = q * (1 + _REL_STEP), q * (1 - _REL_STEP)
            args += [up, dn]
            diag += [up, dn]
        diag = np.stack(diag)
        V = act.dual(np.stack(args), diag, diag, ops)
        Vq, Va = V[0], V[1]
        gq, gDq = gaps(q, gamma, q, zero)  # diagonal minus reference: γ' and V'(q) − V'(a)
        gamma_new = sw * gq
        if ntk or track:
            if ntk and pin:
                D = act.ddual(np.stack([q, lo]), diag[:2], diag[:2], ops)
                c.Dq, D_lo = D[0], D[1]
            else:
                c.Dq = act.ddual(q, q, q, ops)
            c.Da = c.Dq - gDq
        c.Vq = Vq
        q_new, a_new = sw * Vq + sb, sw * Va + sb
        if pin:
            lo_new = sw * V[2] + sb
            c.d_top, c.d_bottom = -gamma_new, a_new - lo_new
        if ntk:
            p_new, P_new = q_new + sw * p * c.Dq, a_new + sw * P * c.Da
            if pin:
                loT_new = lo_new + sw * lo_T * D_lo
                c.e_top, c.e_bottom = P_new - p_new, P_new - loT_new
        if track:
            if pin:  # direct recursion at t = ±1: rounding relative to the scale q, per layer
                c.end_d = (l + 2) * u * r * (np.abs(q_new) + np.abs(a_new))
                if ntk:
                    c.end_e = (l + 2) * u * r * (np.abs(p_new) + np.abs(P_new))
            rel = _shared_rel_from(act, rel, Vq, V[-2], V[-1], q_new, sw, ops)
        yield c
        q, a, gamma = q_new, a_new, gamma_new
        if pin:
            lo = lo_new
        if ntk:
            p, P = p_new, P_new
            if pin:
                lo_T = loT_new


def layers_gap(act, one_minus_t, weight_var, bias_var, depth, ntk=True, track=False, track_points=None,
               columns=None):
    r"""The recursion of :func:`layers` for ‖x‖² = ‖y‖² = d in float64, carried in gap form.

    With the reference t = 0, a_l = Σ_l(0), P_l = Θ_l(0), δ_l(t) = a_l − Σ_l(t) and
    ε_l(t) = P_l − Θ_l(t):

    .. math::

        δ_{l+1} = σ_w² [V(a_l) − V(a_l − δ_l)],\qquad
        ε_{l+1} = δ_{l+1} + σ_w² [P_l (V'(a_l) − V'(a_l − δ_l)) + ε_l V'(a_l − δ_l)],

    with the differences of V, V' from the activation's ``gaps``, which
    have no cancellation. μ_k for k ≥ 1 sees only the gaps, which keep their relative
    accuracy whether the kernel is nearly constant (deep ordered phase), nearly zero
    away from t = ±1 (chaotic phase) or neither. γ_l = q_l − a_l is carried by the same
    recursion based at the diagonal. The points t = ±1 are pinned to the direct recursion
    (t = 1 is the diagonal itself), where ρ = ±1 holds exactly.
    ``one_minus_t`` = 1 − t is passed so that it can be exact (2j/d on the cube). The points run
    along the *first* axis; hyperparameter grids broadcast along the trailing axes (so that
    per-architecture quantities broadcast over contiguous memory).

    The per-architecture part (a, q, γ, P, the pinned points) is :func:`gap_columns`;
    ``columns`` passes it precomputed (a sweep computes it once for the whole grid, then runs
    blocks of the grid in threads). ``track_points`` (indices along the first axis, with
    ``track``) propagates the error bounds on those points only, from the values the recursion
    computes there anyway: ``delta_err``/``eps_err`` then run along ``track_points``.
    """
    _check_ntk(act, ntk)
    gaps, accurate = _gap_fns(act)
    u = NumpyOps.eps
    r = act.rounding
    sw, sb = weight_var, bias_var
    omt = np.asarray(one_minus_t, dtype=float)
    # points t = 1 and t = −1 (along the first axis), carried by the direct recursion
    col = np.ravel(omt[(slice(None),) + (0,) * (omt.ndim - 1)]) if omt.ndim else np.ravel(omt)
    top, bottom = np.nonzero(col == 0)[0], np.nonzero(col == 2)[0]
    pin = bool(top.size or bottom.size)
    zero = 0.0 * (sw + sb + omt[:1])  # broadcast over every hyperparameter axis
    if columns is None:
        columns = gap_columns(act, sw, sb, depth, ntk, track, pin, zero)
    columns = iter(columns)
    c = next(columns)
    delta = sw * (omt - 1) + zero  # a − Σ¹(t) = σ_w² (0 − t)
    eps = delta if ntk else None
    ed = ee = None
    if track:
        tp = slice(None) if track_points is None else np.asarray(track_points)
        # 1 − t may itself be rounded (error ≤ u|1 − t|/2), then δ = σ_w²((1 − t) − 1)
        ed = u * (sw * np.abs(omt[tp]) + 2 * np.abs(delta[tp]))
        ee = ed if ntk else None
        if pin:  # positions of t = ±1 among the tracked points
            tcol = col[tp]
            ends = np.r_[np.nonzero(tcol == 0)[0], np.nonzero(tcol == 2)[0]]
    # The NTK bound needs V' at δ + e_δ on the tracked points: those rows ride along below the
    # points in the same ``gaps`` call (one call per layer, not two)
    ride = track and ntk and omt.ndim >= 1 and depth > 0
    if ride:
        n = delta.shape[0]
        delta_ext = np.concatenate([delta, np.clip(delta[tp] + ed, c.a - c.q, c.a + c.q)])
    yield GapLayer(0, c.q, c.a, delta, c.p, c.P, eps, ed, ee, c.rel)
    for _ in range(depth):
        a, q = c.a, c.q
        # delta_new = σ_w² (V(a) − V(a − δ)), sgD = σ_w² (V'(a) − V'(a − δ))
        if ride:
            res_d, res_g = gaps(a, delta_ext, q, c.gamma, sw)
            delta_new, sgD, gDp = res_d[:n], res_g[:n], res_g[n:] / sw
        else:
            delta_new, sgD = gaps(a, delta, q, c.gamma, sw)
        if track:
            gD = sgD[tp] / sw
            D = c.Da - gD
            e_t = eps[tp] if ntk else None
            if ntk and not ride:
                gDp = gaps(a, np.clip(delta[tp] + ed, a - q, a + q), q, c.gamma)[1]
        if pin:
            delta_new[top] = c.d_top
            delta_new[bottom] = c.d_bottom
        if ntk:
            # ε' = δ' + σ_w²[P (V'(a) − V'(a−δ)) + ε V'(a−δ)] = ε σ_w² V'(a) + (P − ε) sgD + δ'
            eps_new = c.P - eps
            eps_new *= sgD
            eps_new += delta_new
            eps_new += eps * (sw * c.Da)
            if pin:
                eps_new[top] = c.e_top
                eps_new[bottom] = c.e_bottom
        if track:
            Dq = c.Dq
            ed_new = sw * np.abs(D) * ed + u * (r * np.abs(delta_new[tp]) if accurate else r * sw * c.Vq)
            if ntk:
                # V'(a − δ) is monotone in δ on the cone: one step of size e_δ bounds its change
                egD = 2 * np.abs(gDp - gD) + u * (r * np.abs(gD) if accurate else r * Dq)
                eD = egD + 2 * u * np.abs(Dq)
                ee = (ed_new + sw * (np.abs(c.P) * egD + np.abs(D) * ee + np.abs(e_t) * eD)
                      + 3 * u * np.abs(eps_new[tp]))
            if pin:
                ed_new[ends] = c.end_d
                if ntk:
                    ee[ends] = c.end_e
            ed = ed_new
        delta = delta_new
        if ntk:
            eps = eps_new
        c = next(columns)
        if ride and _ + 1 < depth:
            res_d[n:] = np.clip(delta[tp] + ed, c.a - c.q, c.a + c.q)
            delta_ext = res_d
        yield GapLayer(_ + 1, c.q, c.a, delta, c.p, c.P, eps, ed, ee, c.rel)


def _kernel_name(kernel):
    return _validate.choice("kernel", kernel, KERNELS)


def _last(gen):
    layer = None
    for layer in gen:
        pass
    return layer


def _double(spec, cov, qx, qy, kernel):
    """float64 values, point-wise error bounds and the shared relative error.

    Equal unit norms (cube, sphere: ``qx is qy`` and all ones) use the gap form."""
    ntk = kernel == "ntk"
    with np.errstate(all="ignore"):
        if qx is qy and np.all(np.asarray(qx) == 1):
            L = _last(layers_gap(spec.activation, 1.0 - np.asarray(cov, dtype=float), float(spec.weight_var),
                                 float(spec.bias_var), spec.depth, ntk=ntk, track=True))
            vals = L.value(kernel)
            err = L.gap_err(kernel) + NumpyOps.eps * (np.abs(L.center(kernel)) + np.abs(vals))
            return vals, err, L.rel_err
        L = _last(layers(spec.activation, cov, qx, qy, float(spec.weight_var), float(spec.bias_var),
                         spec.depth, NumpyOps(), ntk=ntk, track=True))
    v, e = (L.ntk, L.ntk_err) if ntk else (L.ck, L.ck_err)
    return v, e, L.rel_err


def guard_bits(err, scale):
    """Guard bits for a working-precision run, from the float64 error amplification
    (None when float64 overflowed and gave no estimate)."""
    if not (np.all(np.isfinite(err)) and np.all(np.isfinite(scale))):
        return None
    amp = np.max(np.asarray(err, dtype=float) / (NumpyOps.eps * np.maximum(np.abs(scale), 1e-300)))
    return int(math.ceil(math.log2(max(amp, 1.0)))) + 24


def _mp(spec, cov, qx, qy, kernel, bits):
    """Φ in a private mpmath context of ``bits`` bits (inputs: floats, Fractions or mpf)."""
    ops = MpOps(bits)
    a = ops.array(qx)
    b = a if qx is qy else ops.array(qy)
    L = _last(layers(spec.activation, ops.array(cov), a, b, ops.const(spec.weight_var),
                     ops.const(spec.bias_var), spec.depth, ops, ntk=kernel == "ntk"))
    return L.ntk if kernel == "ntk" else L.ck


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

    if isinstance(t, (Fraction, str)):  # one exact value
        arr, _ = _as_t([t])
        return arr.reshape(()), True
    if isinstance(t, (list, tuple)) and any(isinstance(v, (Fraction, str)) for v in t):
        try:
            vals = [Fraction(v) if isinstance(v, str) else v for v in t]
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"t must be finite numbers in [-1, 1]; got {t!r}") from None
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
        Also return an absolute error bound (float64; zeros for exact results; at N digits,
        mpf bounds when a value exceeds the float64 range).

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
    shape = ta.shape
    vals, err = _kernel_values(spec, ta.reshape(-1), exact_t, kernel, prec)  # 1-D inside
    vals, err = vals.reshape(shape), err.reshape(shape)
    return (vals, err) if return_error else vals


def _kernel_values(spec, ta, exact_t, kernel, prec):
    """(values, absolute errors) of Φ at the 1-D array ``ta`` at precision ``prec``."""
    if prec.kind == "exact":
        one = np.ones(ta.shape, dtype=object)
        return _exact(spec, ta, one, one, kernel), np.zeros(ta.shape)
    tf = np.asarray([float(v) for v in ta], dtype=float) if exact_t else ta
    one = np.ones_like(tf)
    vals, err, rel = _double(spec, tf, one, one, kernel)
    err = err + rel * np.abs(vals)
    if prec.kind in ("double", "auto"):
        return vals, err
    ones = np.ones(ta.shape)
    return _mp_verified(spec, ta, ones, ones, kernel, prec.digits, guard_bits(err, vals))


def _mp_verified(spec, cov, qx, qy, kernel, N, guard):
    """Φ to N digits. With a float64 guard estimate, one evaluation at N digits + guard bits;
    without one (float64 overflowed), two evaluations 64 bits apart that must agree."""
    base = bits_for_digits(N) + 8
    verify = guard is None
    guard = 64 + 16 * spec.depth if verify else guard
    out_ctx = MpOps(base).ctx
    tol = out_ctx.ldexp(1, -base)  # an mpf: 2^-base underflows float64 beyond 1074 bits
    while True:
        v1 = _mp(spec, cov, qx, qy, kernel, base + guard)
        if not verify:
            break
        v2 = _mp(spec, cov, qx, qy, kernel, base + guard + 64)
        if all(abs(a - b) <= abs(b) * tol for a, b in zip(np.ravel(v1), np.ravel(v2))):
            v1 = v2
            break
        guard *= 2
    res = np.frompyfunc(out_ctx.mpf, 1, 1)(v1)
    mags = np.abs(np.asarray([float(v) for v in np.ravel(res)]).reshape(np.shape(res)))
    if np.all(np.isfinite(mags)):
        return res, mags * 10.0 ** (-N)
    # a value beyond the float64 range (e.g. exp at depth 3, ~10^(10^47)): its bound as an mpf
    scale = out_ctx.mpf(10) ** (-N)
    return res, np.frompyfunc(lambda v: abs(v) * scale, 1, 1)(res)


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
    vals, err, rel = _double(spec, c, a, b, kernel)
    err = err + rel * np.abs(vals)
    if prec.kind in ("double", "auto"):
        return (vals, err) if return_error else vals
    res, res_err = _mp_verified(spec, c, a, b, kernel, prec.digits, guard_bits(err, vals))
    return (res, res_err) if return_error else res


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
    wv, bv = _validate.variance_grids(weight_var, bias_var)
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
