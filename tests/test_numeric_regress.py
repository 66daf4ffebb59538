"""Regressions of spectra.numeric at N digits, against references written here.

NaN from integer powers of balls centred at 0. python-flint's ``arb ** n`` is NaN for a ball
whose midpoint is exactly 0 and whose radius is not (``arb(0, r) ** 2``). The derivative of tanh
is compiled from sympy as ``1 − tanh(x)**2``, and the 2-D trapezoidal rule meets exactly such
balls: its inner argument m z₁ + s z₂ (m = c/√q₁, s = √((q₁q₂ − c²)/q₁)) has midpoint exactly 0
where the rounded m z₁ and s z₂ cancel, which happens on the grid when m/s is rational
(c = 4, q₁ = q₂ = 5: m/s = 4/3). One NaN node made E[tanh'(u) tanh'(v)] NaN at every level from 4
on, and ``cube_eigenvalues(Architecture("tanh", 1, 1.0, 4.0), 32, "ntk", precision=25)`` raised
QuadratureError ("last change nan"): t = 0 gives c = σ_w² t + σ_b² = 4, q = 5, and the batch's
largest |ρ| (t = 0.9375, ρ = 0.9875) sent every point to the 2-D rule.

The reference: the same Gaussian integral by a trapezoidal rule written here in mpmath (step
1/16 on [−11, 11]² at 32 digits, using the symmetry (z₁, z₂) → (−z₁, −z₂)). The integrand is
analytic in a strip (the nearest poles of tanh(√5 z₁) are at distance π/(2√5) ≈ 0.70), so the
error is ~e^{−2π·0.70·16} ≈ 1e-31; the Gaussian mass beyond 11 is ~4e-28. (Checked once: step
1/32 agrees to 6e-29 relative, and Gauss–Legendre panels to 4e-26.)
"""
import functools

import flint
import mpmath
import numpy as np
import pytest

from spectra import numeric as N


@functools.cache
def _reference(c, q, dps=32, inv_h=16, L=11):
    """(E[tanh(u) tanh(v)], E[tanh'(u) tanh'(v)]) with Var u = Var v = q, Cov = c, as mpf."""
    ctx = mpmath.MPContext()
    ctx.dps = dps
    c, q = ctx.mpf(c), ctx.mpf(q)
    sq = ctx.sqrt(q)
    m = c / sq
    s = ctx.sqrt((q * q - c * c) / q)
    h = ctx.mpf(1) / inv_h
    K = L * inv_h
    zs = [k * h for k in range(-K, K + 1)]
    g = [h * ctx.exp(-z * z / 2) / ctx.sqrt(2 * ctx.pi) for z in zs]
    V = D = ctx.zero
    for i in range(K, 2 * K + 1):  # z₁ ≥ 0; the z₁ < 0 half is the same by symmetry
        z1, g1 = zs[i], g[i]
        t1 = ctx.tanh(sq * z1)
        mz = m * z1
        iv = idd = ctx.zero
        for z2, g2 in zip(zs, g):
            t2 = ctx.tanh(mz + s * z2)
            iv += g2 * t2
            idd += g2 * (1 - t2 * t2)
        f = 1 if i == K else 2
        V += f * g1 * t1 * iv
        D += f * g1 * (1 - t1 * t1) * idd
    return V, D


def _arb_to_mpf(v):
    """The midpoint of an arb ball, exactly (man·2^exp)."""
    man, exp = v.mid().man_exp()
    with mpmath.workprec(max(int(man).bit_length(), 1) + 8):
        return mpmath.ldexp(mpmath.mpf(int(man)), int(exp))


def test_integer_power_of_a_ball_centred_at_zero_is_finite():
    with flint.ctx.workprec(100):
        be = N._arb_backend(100)
        ball = flint.arb(0, flint.arb(2) ** -60)
        assert not (ball ** 2).is_finite()  # the python-flint behaviour the fix works around
        x = np.array([ball, flint.arb(0), flint.arb("0.25", 1e-40), flint.arb(-3)], dtype=object)
        for n in (0, 1, 2, 3, 5, 8):
            got = N._ArbNS.ipow(x, n)
            for xi, gi in zip(x, got):
                assert gi.is_finite()
                assert gi.contains(xi.mid() ** n)
        got = N._ArbNS.ipow(x[2:], -2)
        assert got[0].contains(16) and got[1].contains(flint.arb(1) / 9)
        # the compiled derivatives of tanh on that ball: 1 − tanh², −2 tanh (1 − tanh²)
        comp, _ = N.compile_expr("tanh(x)")
        d1 = N._evaluate(comp, be, x[:1], None, True)[0]
        d2 = N._evaluate(comp.derivative(1), be, x[:1], None, True)[0]
        assert d1.is_finite() and d1.contains(1) and d1.rad() < 1e-30
        assert d2.is_finite() and d2.contains(0) and d2.rad() < 1e-15


@pytest.mark.parametrize("prec", [64, 80, 91])  # each raised "last change nan" before the fix
def test_2d_quadrature_tanh_c4_q5_against_mpmath(prec):
    ref_v, ref_d = _reference(4, 5)
    comp, _ = N.compile_expr("tanh(x)")
    with flint.ctx.workprec(prec):
        be = N._arb_backend(prec)
        c, q = be.array([4]), be.array([5])
        # forces the 2-D rule (the dual's Mehler series would handle ρ = 0.8 on its own)
        d, ed = N.expectation(comp, comp, c, q, q, be, True, True)
        v, ev = N.expectation(comp, comp, c, q, q, be)
    tol = 2.0 ** -(prec - 10)
    for got, err, ref in ((v[0], ev[0], ref_v), (d[0], ed[0], ref_d)):
        assert got.is_finite()
        assert np.isfinite(err) and err < tol
        assert abs(_arb_to_mpf(got) - ref) <= tol * abs(ref)
