"""Kernel values against the independent reference (tests/reference.py) at every precision."""
from fractions import Fraction

import mpmath
import numpy as np
import pytest

import reference as ref
from spectra import Architecture, kernel, kernel3, kernel_expression, kernel_grid

ACTS = ref.ACTIVATIONS
T = np.array([-1.0, -0.75, -0.5, -0.1, 0.0, 0.3, 0.5, 0.9, 1 - 2 / 128, 1.0])


def ctx(dps):
    c = mpmath.MPContext()
    c.dps = dps
    return c


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("kern", ["ck", "ntk"])
@pytest.mark.parametrize("depth,wv,bv", [(0, 2.0, 0.5), (1, 1.5, 0.3), (3, 2.0, 0.0), (4, 0.8, 1.2)])
def test_double_matches_reference_within_error(act, kern, depth, wv, bv):
    spec = Architecture(act, depth, wv, bv)
    got, err = kernel(spec, T, kern, return_error=True)
    c = ctx(40)
    exact = np.array([float(v) for v in ref.kernel_ref(act, T, depth, wv, bv, kern, ctx=c)])
    assert np.all(np.abs(got - exact) <= err)
    assert np.all(np.abs(got - exact) <= 1e-13 * np.maximum(np.abs(exact), 1e-300) + 1e-300)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("kern", ["ck", "ntk"])
def test_digits_match_reference(act, kern):
    spec = Architecture(act, 3, "3/2", "3/10")
    ts = ["-1", "-1/2", "0", "1/3", "1"]
    got = kernel(spec, ts, kern, precision=30)
    c = ctx(60)
    exact = ref.kernel_ref(act, np.array([Fraction(s) for s in ts], dtype=object), 3, Fraction(3, 2),
                           Fraction(3, 10), kern, ctx=c)
    for g, e in zip(got, exact):
        assert abs(c.mpf(g) - e) <= c.mpf(10) ** -30 * abs(e)


@pytest.mark.parametrize("act", ["identity", "x2", "x3", "x4"])
@pytest.mark.parametrize("kern", ["ck", "ntk"])
def test_exact_polynomial_kernels_are_rational(act, kern):
    import sympy

    spec = Architecture(act, 2, "1/2", "1/3")
    got = kernel(spec, ["-1", "1/5", "1"], kern, precision="exact")
    c = ctx(80)
    exact = ref.kernel_ref(act, np.array([Fraction(-1), Fraction(1, 5), Fraction(1)], dtype=object), 2,
                           Fraction(1, 2), Fraction(1, 3), kern, ctx=c)
    for g, e in zip(got, exact):
        assert isinstance(g, sympy.Rational)
        assert abs(c.mpf(g.p) / g.q - e) <= c.mpf(10) ** -70 * max(1, abs(e))


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_exact_closed_forms(act):
    spec = Architecture(act, 2, 2, 1)
    got = kernel(spec, ["1/2"], "ntk", precision="exact")[0]
    assert not got.is_Rational
    c = ctx(50)
    e = ref.kernel_ref(act, np.array([Fraction(1, 2)], dtype=object), 2, 2, 1, "ntk", ctx=c)[0]
    assert abs(c.mpf(str(got.evalf(45))) - e) < c.mpf(10) ** -40 * abs(e)


def test_depth_zero_is_linear():
    spec = Architecture("erf", 0, 2.5, 0.25)
    exact = np.array([float(Fraction(5, 2) * Fraction(t) + Fraction(1, 4)) for t in T])
    for k in ("ck", "ntk"):
        v, e = kernel(spec, T, k, return_error=True)
        assert np.all(np.abs(v - exact) <= e)


def test_identity_closed_polynomials():
    # identity: Σ^{l+1} = w Σ^l + b and Θ^{l+1} = Σ^{l+1} + w Θ^l, polynomials of degree 1 in t
    w, b, L = 1.5, 0.4, 3
    s, th = w * T + b, w * T + b
    for _ in range(L):
        s = w * s + b
        th = s + w * th
    spec = Architecture("identity", L, w, b)
    assert np.allclose(kernel(spec, T, "ck"), s, rtol=1e-15)
    assert np.allclose(kernel(spec, T, "ntk"), th, rtol=1e-15)


@pytest.mark.parametrize("act", ["relu", "erf", "x3"])
def test_kernel3_matches_reference(act):
    rng = np.random.default_rng(1)
    q1 = rng.uniform(0.2, 3, 20)
    q2 = rng.uniform(0.2, 3, 20)
    cov = rng.uniform(-1, 1, 20) * np.sqrt(q1 * q2)
    for kern in ("ck", "ntk"):
        got, err = kernel3(Architecture(act, 2, 1.7, 0.2), cov, q1, q2, kern, return_error=True)
        exact = np.array([float(v) for v in ref.kernel_ref3(act, cov, q1, q2, 2, 1.7, 0.2, kern, ctx=ctx(40))])
        assert np.all(np.abs(got - exact) <= err)


def test_kernel_grid_matches_single_calls():
    wv, bv = np.array([1.0, 2.0, 3.5]), np.array([0.0, 0.7])
    out = kernel_grid("erf", T, 4, wv, bv, ("ck", "ntk"))
    assert out["ck"].shape == (5, 3, 2, T.size)
    for L in range(5):
        for i, w in enumerate(wv):
            for j, b in enumerate(bv):
                for k in ("ck", "ntk"):
                    single = kernel(Architecture("erf", L, w, b), T, k)
                    assert np.allclose(out[k][L, i, j], single, rtol=1e-13, atol=1e-15)


def test_symbolic_expression():
    import sympy

    t = sympy.Symbol("t", real=True)
    expr = kernel_expression(Architecture("x2", 1, 1, 0), "ck")
    # E[u²v²] with Var = 1, Cov = t: 1 + 2t²
    assert sympy.simplify(expr - (1 + 2 * t**2)) == 0
    w = sympy.Symbol("w", positive=True)
    expr = kernel_expression(Architecture("identity", 1, 1, 0), "ntk", symbols={"weight_var": w})
    assert sympy.simplify(expr - 2 * w**2 * t) == 0


def test_mpmath_global_precision_untouched():
    before = mpmath.mp.prec
    kernel(Architecture("relu", 2, 2, 1), [0.5], "ntk", precision=200)
    assert mpmath.mp.prec == before


@pytest.mark.parametrize("kwargs,match", [
    (dict(activation="nope"), "activation"),
    (dict(depth=-1), "depth"),
    (dict(depth=1.5), "depth"),
    (dict(weight_var=0), "weight_var"),
    (dict(weight_var=-2), "weight_var"),
    (dict(weight_var=float("nan")), "weight_var"),
    (dict(bias_var=-0.1), "bias_var"),
    (dict(bias_var=float("inf")), "bias_var"),
    (dict(bias_var="abc"), "bias_var"),
])
def test_spec_validation(kwargs, match):
    args = dict(activation="relu", depth=1, weight_var=1, bias_var=0)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        Architecture(**args)


def test_bad_t_and_precision():
    spec = Architecture("relu", 1, 1, 0)
    with pytest.raises(ValueError, match="t"):
        kernel(spec, [1.5])
    with pytest.raises(ValueError, match="t"):
        kernel(spec, [float("nan")])
    with pytest.raises(ValueError, match="precision"):
        kernel(spec, [0.5], precision="quad")
    with pytest.raises(ValueError, match="precision"):
        kernel(spec, [0.5], precision=0)
    with pytest.raises(TypeError, match="precision"):
        kernel(spec, [0.5], precision=2.5)
    with pytest.raises(ValueError, match="kernel"):
        kernel(spec, [0.5], kernel="gp")
    with pytest.raises(TypeError, match="weight_var"):
        kernel(Architecture("x2", 1, 0.1, 0), ["1/2"], precision="exact")


def test_scalar_and_shaped_t():
    spec = Architecture("relu", 2, 2, 1)
    grid = kernel(spec, [[0.1, 0.2], [0.3, 1.0]], "ck")
    assert grid.shape == (2, 2)
    assert kernel(spec, 0.3, "ck").shape == ()
    assert float(kernel(spec, 0.3, "ck")) == grid[1, 0]
    exact = kernel(spec, "1/2", "ntk", precision="exact")
    assert exact.shape == () and abs(float(exact.item().evalf(30)) - float(kernel(spec, 0.5, "ntk"))) < 1e-14


def test_error_bound_of_a_value_beyond_float64():
    """exp at depth 3 is ~10^(5.7e47): at double precision no value (flagged by the CLI), at 30 digits
    a value whose error bound is an mpf of relative size 1e-30, not inf; the value against the
    independent closed-form recursion of tests/reference.py."""
    net = Architecture("exp", 3, "3/2", "3/10")
    ctx = mpmath.MPContext()
    ctx.dps = 110  # the exponent is ~1.3e48: 30 digits of the value need ~80 of the exponent
    for kern in ("ck", "ntk"):
        v, e = kernel(net, ["1/2"], kern, 30, return_error=True)
        assert mpmath.isfinite(e[0]) and 0 < e[0] <= abs(v[0]) * mpmath.mpf(10) ** -29
        want = ref.exp_kernel_ref(Fraction(1, 2), 3, Fraction(3, 2), Fraction(3, 10), kern, ctx)
        assert abs(v[0] - want) <= abs(want) * mpmath.mpf(10) ** -29
    vd = kernel(net, [0.5], "ck", "double")
    assert not np.isfinite(vd[0])
