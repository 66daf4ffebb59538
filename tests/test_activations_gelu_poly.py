"""gelu (x Φ(x)) and polynomial activations against references independent of their code:
2-D Gaussian quadrature of E[φ(u)φ(v)] and E[φ'(u)φ'(v)] (tests/reference.py ``dual_quad``),
Monte Carlo, a brute-force symbolic expectation over the bivariate Gaussian (sympy, with
E z^k = (k−1)!!), a layer-by-layer kernel recursion built from those, and the cube's rational
direct sum."""
import math
import subprocess
import sys
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import reference as ref
import sympy

import spectra
from spectra import Architecture, cube_eigenvalues, kernel, sphere_eigenvalues
from spectra.activations import get_activation, polynomial
from spectra.precision import MpOps, NumpyOps, SympyOps, bits_for_digits

# ---------------------------------------------------------------------------------------
# independent definitions of gelu and its derivative (one mpf, computed in its context)
# ---------------------------------------------------------------------------------------


def gelu_mp(x):
    ctx = x.context
    return x * (1 + ctx.erf(x / ctx.sqrt(2))) / 2


def gelu_prime_mp(x):
    ctx = x.context
    return (1 + ctx.erf(x / ctx.sqrt(2))) / 2 + x * ctx.exp(-x * x / 2) / ctx.sqrt(2 * ctx.pi)


# (c, q1, q2): q1 ≠ q2, c = 0, negative and near-extreme correlations, |ρ| = 1 exactly
GELU_POINTS = [("3/10", "7/10", "8/5"),
               ("-9/10", "7/10", "8/5"),          # ρ ≈ −0.85
               ("1.0535", "7/10", "8/5"),         # ρ ≈ 0.9956
               ("-1.0535", "7/10", "8/5"),        # ρ ≈ −0.9956
               ("0", "1/2", "2"),
               ("2", "1", "4"),                   # ρ = 1
               ("-2", "1", "4"),                  # ρ = −1
               ("-1", "1", "1"),                  # ρ = −1
               ("1/2", "1/10", "5")]


def _mp_ops(dps):
    return MpOps(bits_for_digits(dps))


def _args(ops, *vals):
    return [ops.const(Fraction(v)) for v in vals]


# ---------------------------------------------------------------------------------------
# gelu
# ---------------------------------------------------------------------------------------


def test_gelu_registry_metadata():
    act = get_activation("gelu")
    assert act is get_activation("GELU") and "gelu" in spectra.activation_names()
    assert act.exact == "closed" and act.parity == 0 and act.ntk_defined
    assert act.odd_part_linear and act.odd_poly_degree == 1 and act.even_poly_degree is None
    assert act.poly_degree is None and act.duals is not None
    assert "Hendrycks" in act.reference and "Tsuchida" in act.reference and "Stein" in act.reference
    rec = {r["name"]: r for r in spectra.describe_activations()}["gelu"]
    assert rec["exact"] == "closed" and rec["parity"] == 0


def test_gelu_fn_dfn():
    act = get_activation("gelu")
    ctx = mpmath.MPContext()
    ctx.dps = 30
    x = np.array([-6.0, -1.3, -0.2, 0.0, 0.4, 1.0, 2.5, 7.0])
    for xi, f, fp in zip(x, act.fn(x), act.dfn(x)):
        X = ctx.mpf(xi)
        # Φ(x) in the far left tail has condition number ≈ x² (x/√2 is rounded)
        assert abs(f - float(gelu_mp(X))) <= (4 + xi * xi) * 2.0**-53 * abs(float(gelu_mp(X)))
        assert abs(fp - float(gelu_prime_mp(X))) <= 2e-16 * max(abs(float(gelu_prime_mp(X))), 1.0)


def test_import_spectra_does_not_load_scipy():
    code = "import sys, spectra; spectra.get_activation('gelu'); print('scipy' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"


@pytest.mark.parametrize("point", GELU_POINTS)
def test_gelu_duals_against_quadrature_35_digits(point):
    """dual and ddual at 35-digit MpOps against 40-digit quadrature: ≥ 30 digits (relative)."""
    act = get_activation("gelu")
    ops = _mp_ops(35)
    a = _args(ops, *point)
    c, q1, q2 = (Fraction(v) for v in point)
    want = ref.dual_quad(gelu_mp, c, q1, q2, dps=40)
    want_d = ref.dual_quad(gelu_prime_mp, c, q1, q2, dps=40)
    got, got_d = act.dual(*a, ops), act.ddual(*a, ops)
    assert abs(got - want) <= mpmath.mpf(10) ** -30 * abs(want), (point, got, want)
    assert abs(got_d - want_d) <= mpmath.mpf(10) ** -30 * abs(want_d), (point, got_d, want_d)
    V, D = act.duals(*a, ops)
    assert V == got and D == got_d


def test_gelu_float64_against_quadrature():
    """float64 duals within 1e-13 (relative) of 30-digit quadrature, also at c near ±√(q₁q₂)."""
    act = get_activation("gelu")
    ops = NumpyOps()
    # 2-D quadrature needs ~1/√(1 − ρ²) pieces per axis, so ρ = ±0.99 is as close as it goes;
    # ρ = ±1 is a 1-D integral when it is exact: √(q₁q₂) exact in binary
    q = math.sqrt(0.7 * 1.6)
    pts = [(0.3, 0.7, 1.6), (-0.9, 0.7, 1.6), (0.0, 0.5, 2.0), (1.5, 0.3, 9.0), (0.99 * q, 0.7, 1.6),
           (-0.99 * q, 0.7, 1.6)]
    pts += [(s * math.sqrt(q1 * q2), q1, q2) for q1, q2 in [(1.0, 4.0), (0.0625, 9.0), (1.0, 1.0)] for s in (1, -1)]
    for c, q1, q2 in pts:
        want = ref.dual_quad(gelu_mp, c, q1, q2, dps=30)  # the float inputs, exactly
        want_d = ref.dual_quad(gelu_prime_mp, c, q1, q2, dps=30)
        got, got_d = act.duals(c, q1, q2, ops)
        assert abs(got - float(want)) <= 1e-13 * abs(float(want)), (c, q1, q2, got, want)
        assert abs(got_d - float(want_d)) <= 1e-13 * abs(float(want_d)), (c, q1, q2, got_d, want_d)
        assert got == act.dual(c, q1, q2, ops) and got_d == act.ddual(c, q1, q2, ops)
    # arrays broadcast; the value is the same as element by element
    c = np.array([p[0] for p in pts])
    v, d = act.duals(c, np.array([p[1] for p in pts]), np.array([p[2] for p in pts]), ops)
    assert v.shape == c.shape and np.array_equal(v, [act.dual(*p, ops) for p in pts])
    assert np.array_equal(d, [act.ddual(*p, ops) for p in pts])


def test_gelu_float64_forward_stable():
    """Over q ∈ [10⁻³, 10⁴] and ρ up to ±1 the float64 duals stay within a few u of the exact
    values of the same float inputs, relative to |V| plus the inputs' own sensitivity (a
    relative change u of c, q₁ or q₂): in particular no cancellation at c ≈ −√(q₁q₂), where
    V = O(q^(−1/2)) while the terms of the textbook formula are O(q^(1/2)); and within the
    claimed ``rounding`` of the Cauchy–Schwarz scale."""
    act = get_activation("gelu")
    ops, mp_ops = NumpyOps(), _mp_ops(40)
    u = ops.eps
    rng = np.random.default_rng(3)
    worst = worst_d = 0.0
    for _ in range(300):
        q1, q2 = 10 ** rng.uniform(-3, 4, 2)
        rho = [-1.0, 1.0, -1 + 10 ** rng.uniform(-12, 0), rng.uniform(-1, 1)][rng.integers(4)]
        c = rho * math.sqrt(q1 * q2)
        a = [mp_ops.const(x) for x in (c, q1, q2)]
        V, D = act.duals(*a, mp_ops)
        v, d = act.duals(c, q1, q2, ops)
        sens = sens_d = 0
        for k in range(3):
            b = [x + x * u if i == k else x for i, x in enumerate(a)]
            sens += abs(act.dual(*b, mp_ops) - V)
            sens_d += abs(act.ddual(*b, mp_ops) - D)
        worst = max(worst, float(abs(v - V) / (u * abs(V) + sens)))
        worst_d = max(worst_d, float(abs(d - D) / (u * abs(D) + sens_d)))
        scale = mpmath.sqrt(act.dual(a[1], a[1], a[1], mp_ops) * act.dual(a[2], a[2], a[2], mp_ops))
        assert abs(v - V) <= act.rounding * u * scale
    assert worst < 16 and worst_d < 16, (worst, worst_d)


def test_gelu_monte_carlo():
    """float64 duals against 10⁶ seeded samples of the numpy φ, φ' (within 5 standard errors)."""
    act = get_activation("gelu")
    ops = NumpyOps()
    f = lambda x: x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))) / 2
    fp = lambda x: ((1 + np.vectorize(math.erf)(x / math.sqrt(2))) / 2
                    + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi))
    for seed, (c, q1, q2) in enumerate([(0.3, 0.7, 1.6), (-0.5, 0.5, 0.9), (-1.9, 1.0, 4.0)]):
        mean, se = ref.dual_mc(f, c, q1, q2, seed=seed)
        assert abs(act.dual(c, q1, q2, ops) - mean) <= 5 * se
        mean, se = ref.dual_mc(fp, c, q1, q2, seed=seed + 10)
        assert abs(act.ddual(c, q1, q2, ops) - mean) <= 5 * se


def test_gelu_sympy_closed_form():
    """SympyOps: a closed sympy expression (π, √, arccos; no Float) whose 40-digit value is the
    quadrature's; exact kernels through spectra.kernel(..., 'exact')."""
    act = get_activation("gelu")
    so = SympyOps()
    for point in [("1/5", "1/2", "3/2"), ("-9/10", "7/10", "8/5"), ("-2", "1", "4")]:
        a = _args(so, *point)
        for fn, f in ((act.dual, gelu_mp), (act.ddual, gelu_prime_mp)):
            e = fn(*a, so)
            assert isinstance(e, sympy.Expr) and not e.atoms(sympy.Float) and e.free_symbols == set()
            assert e.has(sympy.pi)
            want = ref.dual_quad(f, *(Fraction(v) for v in point), dps=40)
            assert abs(sympy.N(e, 40) - sympy.Float(str(want), 45)) <= sympy.Float(10) ** -35 * abs(want)
    spec = Architecture("gelu", 2, 1, "1/2")
    for kernel_name in ("ck", "ntk"):
        e = kernel(spec, ["1/3"], kernel_name, "exact")[0]
        assert isinstance(e, sympy.Expr) and not e.atoms(sympy.Float)
        v = kernel(spec, ["1/3"], kernel_name, 30)[0]
        assert abs(sympy.N(e, 40) - sympy.Float(str(v), 40)) <= sympy.Float(10) ** -28 * abs(v)


def _quad_kernels(f, fp, ts, depth, weight_var, bias_var, dps):
    """(CK, NTK) Φ(t) (‖x‖² = ‖y‖² = d) by the recursion of CONVENTIONS §1 with every
    expectation from dual_quad (independent of spectra): Σ¹ = Θ¹ = σ_w² t + σ_b², q¹ = σ_w² + σ_b²,
    Σˡ⁺¹ = σ_w² E[φφ] + σ_b², Θˡ⁺¹ = Σˡ⁺¹ + σ_w² Θˡ E[φ'φ'], qˡ⁺¹ = σ_w² E[φ(u)²] + σ_b²."""
    ctx = mpmath.MPContext()
    ctx.dps = dps
    w, b = ref.to_ctx(ctx, weight_var), ref.to_ctx(ctx, bias_var)
    S = [w * ref.to_ctx(ctx, t) + b for t in ts]
    T = list(S)
    q = w + b
    for _ in range(depth):
        V = [ctx.mpf(ref.dual_quad(f, s, q, q, dps=dps)) for s in S]
        D = [ctx.mpf(ref.dual_quad(fp, s, q, q, dps=dps)) for s in S]
        S = [w * v + b for v in V]
        T = [s + w * th * dv for s, th, dv in zip(S, T, D)]
        q = w * ctx.mpf(ref.dual_quad(f, q, q, q, dps=dps)) + b
    return S, T


def test_gelu_kernel_against_quadrature_recursion():
    """Architecture('gelu', depth=3, σ_w² = 1.5, σ_b² = 0.3): spectra.kernel's NTK (and CK) in
    float64 and at 30 digits against the layer-by-layer recursion of 2-D quadratures at 36."""
    spec = Architecture(activation="gelu", depth=3, weight_var=1.5, bias_var=0.3)
    ts = [0.5, -0.75, 1.0, -1.0]
    ck, ntk = _quad_kernels(gelu_mp, gelu_prime_mp, ts, 3, 1.5, 0.3, dps=36)
    for kernel_name, want in (("ntk", ntk), ("ck", ck)):
        hi = kernel(spec, ts, kernel=kernel_name, precision=30)
        for h, w_ in zip(hi, want):
            assert abs(h - w_) <= mpmath.mpf(10) ** -29 * abs(w_), (kernel_name, h, w_)
        lo, err = kernel(spec, ts, kernel=kernel_name, precision="double", return_error=True)
        for x, e, w_ in zip(lo, err, want):
            assert abs(x - float(w_)) <= max(e, 1e-14 * abs(float(w_))) and e <= 1e-12 * abs(float(w_))


def test_gelu_sphere_double_matches_digits():
    """The float64 sphere path (Taylor jets of the generic gelu duals) against the N-digit path."""
    spec = Architecture("gelu", 2, 1.5, Fraction(1, 10))
    for kernel_name in ("ck", "ntk"):
        lo = sphere_eigenvalues(spec, 5, kernel_name, max_degree=6, precision="double")
        hi = sphere_eigenvalues(spec, 5, kernel_name, max_degree=6, precision=25)
        for k, (a, b) in enumerate(zip(lo.values, hi.values)):
            assert a is not None, (kernel_name, k, lo.flags)
            assert abs(a - float(b)) <= 1e-10 * abs(float(b)), (kernel_name, k, a, float(b))


@pytest.mark.parametrize("kernel_name", ["ck", "ntk"])
def test_gelu_odd_part_linear_zeros(kernel_name):
    """Depth 1, σ_b² = 0: gelu = x/2 + (even), so every odd μ_k, k ≥ 3, is a structural zero;
    a 60-digit direct alternating sum over kernel values confirms it (and the others are not 0)."""
    d = 8
    net = Architecture("gelu", 1, 2, 0)
    s = cube_eigenvalues(net, d, kernel_name, max_degree=d)
    ctx = mpmath.MPContext()
    ctx.dps = 60
    phi = kernel(net, [(d - 2 * j) / d for j in range(d + 1)], kernel_name, 55)
    for k in range(d + 1):
        mu = ref.cube_mu_direct(list(phi), d, k, ctx)
        if k % 2 and k >= 3:
            assert s.structural[k] and s.values[k] == 0 and abs(mu) < mpmath.mpf(10) ** -45
        else:
            assert not s.structural[k] and abs(mu) > mpmath.mpf(10) ** -12
            assert abs(s.values[k] - float(mu)) <= 1e-9 * abs(float(mu))


# ---------------------------------------------------------------------------------------
# polynomials
# ---------------------------------------------------------------------------------------

Z1, Z2 = sympy.symbols("z1 z2")


def _std_moment(k):
    """E z^k for z ~ N(0, 1): (k − 1)!! for even k, 0 for odd."""
    return 0 if k % 2 else sympy.factorial2(k - 1)


def brute_expectation(coeffs, c, q1, q2, derivative=False):
    """E[φ(u)φ(v)] (or E[φ'(u)φ'(v)]) by expanding u = √q₁ z₁, v = (c/√q₁) z₁ + √(q₂ − c²/q₁) z₂
    in independent standard normals and replacing z₁^i z₂^j by E z₁^i E z₂^j (sympy; c, q1, q2
    sympy numbers, symbols or expressions)."""
    x = sympy.Symbol("x")
    phi = sum(sympy.Rational(str(Fraction(a))) * x**m for m, a in enumerate(coeffs))
    if derivative:
        phi = sympy.diff(phi, x)
    u = sympy.sqrt(q1) * Z1
    v = c / sympy.sqrt(q1) * Z1 + sympy.sqrt(q2 - c**2 / q1) * Z2
    prod = sympy.expand(phi.subs(x, u) * phi.subs(x, v))
    if prod == 0:
        return sympy.Integer(0)
    poly = sympy.Poly(prod, Z1, Z2)
    return sympy.expand(sum(coef * _std_moment(i) * _std_moment(j) for (i, j), coef in poly.terms()))


POLYS = [[1, 0, "-1/3"], [0, 1, 0, "-1/3"], [1, "1/2", 0, "-1/3"], ["1/2", -2, 3, 0, "-1/4", "1/5"],
         [0, 0, 0, 1], [3], [0, "2/3"]]
POLY_POINTS = [("3/10", "7/10", "8/5"), ("-9/10", "7/10", "8/5"), ("2", "1", "4"), ("-1", "1", "1")]


def test_polynomial_metadata_and_names():
    p = polynomial([1, 0, "-1/3"])
    assert p.name == "poly(1,0,-1/3)" and p.description == "1 − 1/3·x^2"
    assert p.exact == "rational" and p.poly_degree == 2 and p.parity == 1
    assert p.even_poly_degree == 2 and p.odd_poly_degree is None
    assert "Hermite" in p.reference and "Mehler" in p.reference
    q = polynomial([0, 1, 0, Fraction(-1, 3), 0, 0])  # trailing zeros dropped
    assert q.name == "poly(0,1,0,-1/3)" and q.poly_degree == 3 and q.parity == -1
    assert q.odd_poly_degree == 3 and q.even_poly_degree is None and not q.odd_part_linear
    m = polynomial(["1/2", 1, 0, 2])
    assert m.parity == 0 and m.odd_poly_degree == 3 and m.even_poly_degree == 0 and not m.odd_part_linear
    lin = polynomial([1, 2, 5])
    assert lin.odd_part_linear and lin.odd_poly_degree == 1 and lin.even_poly_degree == 2
    assert polynomial([2], name="two").name == "two" and polynomial([2]).parity == 1
    assert polynomial([0.5, 0.1]).name == f"poly(1/2,{Fraction(0.1)})"  # floats keep their binary value
    assert polynomial(np.array([1, 2])).name == "poly(1,2)"
    big = polynomial(np.array([0] * 20 + [3], dtype=np.int64))  # numpy ints become Python ints
    one = SympyOps().const(1)
    assert big.dual(one, one, one, SympyOps()) == 9 * math.factorial(40) // (2**20 * math.factorial(20))
    assert "poly(1,0,-1/3)" not in spectra.activation_names()  # not registered by default
    assert "polynomial" in spectra.activations.__all__
    x = np.linspace(-2, 2, 7)
    assert np.allclose(p.fn(x), 1 - x**2 / 3) and np.allclose(p.dfn(x), -2 * x / 3)
    assert np.allclose(m.fn(x), 0.5 + x + 2 * x**3) and np.allclose(m.dfn(x), 1 + 6 * x**2)
    assert np.array_equal(polynomial([3]).dfn(x), np.zeros_like(x))


@pytest.mark.parametrize("bad, exc", [
    ([], ValueError), ([0, 0, 0], ValueError), ([0] * 33 + [1], ValueError),
    (["a", 1], TypeError), ([1, None], TypeError), ([True, 1], TypeError), ([1, float("nan")], TypeError),
    ("1,2", TypeError), (3, TypeError), ({1: 2}, TypeError), (None, TypeError), ([[1, 2]], TypeError),
])
def test_polynomial_bad_input(bad, exc):
    with pytest.raises(exc, match="coeffs"):
        polynomial(bad)
    if exc is ValueError:
        with pytest.raises(exc, match="0..32"):
            polynomial(bad)
    assert polynomial([0] * 32 + [1]).poly_degree == 32


@pytest.mark.parametrize("coeffs", POLYS)
def test_polynomial_against_brute_symbolic(coeffs):
    """The duals as polynomials in (c, q₁, q₂) equal the brute-force sympy expectation
    identically, and at rational points exactly (SympyOps gives rationals, no square roots)."""
    act = polynomial(coeffs)
    so = SympyOps()
    c, q1, q2 = sympy.symbols("c q1 q2", positive=True)
    for deriv, fn in ((False, act.dual), (True, act.ddual)):
        want = brute_expectation(coeffs, c, q1, q2, deriv)
        assert sympy.expand(fn(c, q1, q2, so) - want) == 0, (coeffs, deriv)
        for point in POLY_POINTS:
            a = _args(so, *point)
            got = fn(*a, so)
            assert isinstance(got, sympy.Rational), got
            assert got == brute_expectation(coeffs, *a, deriv)
        v, d = act.duals(c, q1, q2, so)
        assert sympy.expand(v - act.dual(c, q1, q2, so)) == 0 and sympy.expand(d - act.ddual(c, q1, q2, so)) == 0


@pytest.mark.parametrize("coeffs", POLYS[:4])
def test_polynomial_against_quadrature(coeffs):
    act = polynomial(coeffs)
    ops = _mp_ops(40)
    a_ = [Fraction(x) for x in coeffs]
    f = lambda x: sum(ref.to_ctx(x.context, am) * x**m for m, am in enumerate(a_))
    fp = lambda x: sum(m * ref.to_ctx(x.context, am) * x ** (m - 1) for m, am in enumerate(a_) if m)
    for point in POLY_POINTS[:2] + [("1/7", "3", "1/4")]:
        pt = [Fraction(v) for v in point]
        a = _args(ops, *point)
        scale = mpmath.sqrt(act.dual(a[1], a[1], a[1], ops) * act.dual(a[2], a[2], a[2], ops))
        assert abs(act.dual(*a, ops) - ref.dual_quad(f, *pt, dps=35)) <= mpmath.mpf(10) ** -30 * scale
        scale_d = mpmath.sqrt(act.ddual(a[1], a[1], a[1], ops) * act.ddual(a[2], a[2], a[2], ops))
        assert abs(act.ddual(*a, ops) - ref.dual_quad(fp, *pt, dps=35)) <= mpmath.mpf(10) ** -30 * scale_d


def test_polynomial_monte_carlo():
    act = polynomial([1, "1/2", 0, "-1/3"])
    ops = NumpyOps()
    for seed, (c, q1, q2) in enumerate([(0.3, 0.7, 1.6), (-0.5, 0.5, 0.9)]):
        mean, se = ref.dual_mc(act.fn, c, q1, q2, seed=seed)
        assert abs(act.dual(c, q1, q2, ops) - mean) <= 5 * se
        mean, se = ref.dual_mc(act.dfn, c, q1, q2, seed=seed + 10)
        assert abs(act.ddual(c, q1, q2, ops) - mean) <= 5 * se


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_polynomial_monomial_matches_xn(n):
    """polynomial([0, …, 0, 1]) has exactly the duals of the registered monomial x^n."""
    p, x = polynomial([0] * n + [1]), get_activation(f"x{n}")
    assert p.poly_degree == x.poly_degree == n and p.parity == x.parity and p.exact == x.exact
    so = SympyOps()
    c, q1, q2 = sympy.symbols("c q1 q2")
    assert sympy.expand(p.dual(c, q1, q2, so) - x.dual(c, q1, q2, so)) == 0
    assert sympy.expand(p.ddual(c, q1, q2, so) - x.ddual(c, q1, q2, so)) == 0
    ops = NumpyOps()
    cs = np.array([-0.9, 0.0, 0.3, 1.1])
    assert np.allclose(p.dual(cs, 0.9, 1.4, ops), x.dual(cs, 0.9, 1.4, ops), rtol=1e-14, atol=0)
    assert np.allclose(p.ddual(cs, 0.9, 1.4, ops), x.ddual(cs, 0.9, 1.4, ops), rtol=1e-14, atol=0)
    net_p, net_x = Architecture(p, 2, "3/2", "1/3"), Architecture(f"x{n}", 2, "3/2", "1/3")
    for kernel_name in ("ck", "ntk"):
        assert list(kernel(net_p, ["1/3", "-1"], kernel_name, "exact")) == \
            list(kernel(net_x, ["1/3", "-1"], kernel_name, "exact"))


def _brute_kernel_poly(coeffs, depth, w, b, kernel_name):
    """Φ(t) ∈ Q[t] by the recursion of CONVENTIONS §1 with brute_expectation (sympy)."""
    t = sympy.Symbol("t")
    w, b = sympy.Rational(str(w)), sympy.Rational(str(b))
    S = w * t + b
    T = S
    q = w + b
    for _ in range(depth):
        V = brute_expectation(coeffs, S, q, q)
        if kernel_name == "ntk":
            T = sympy.expand(w * V + b + w * T * brute_expectation(coeffs, S, q, q, True))
        S = sympy.expand(w * V + b)
        q = w * brute_expectation(coeffs, q, q, q) + b
    return sympy.Poly(T if kernel_name == "ntk" else S, t)


@pytest.mark.parametrize("coeffs", [[1, "1/2", 0, "-1/3"], [0, 1, 0, "-1/3"], ["1/2", 0, 1]])
def test_polynomial_exact_kernel_and_cube(coeffs):
    """Architecture(polynomial(...), depth=2, σ_w² = 3/2, σ_b² = 1/3): precision='exact' gives
    rationals equal to the brute symbolic recursion; 30 digits agree; the cube's exact μ_k are
    the rational direct sums over that Φ (zero above its degree), and float64 agrees; so do the
    sphere's float64 μ_k with the exact Funk–Hecke sums."""
    w, b = Fraction(3, 2), Fraction(1, 3)
    spec = Architecture(activation=polynomial(coeffs), depth=2, weight_var=w, bias_var=b)
    ts = ["1/3", "-1/2", "1", "-1"]
    d = 6
    for kernel_name in ("ck", "ntk"):
        phi = _brute_kernel_poly(coeffs, 2, w, b, kernel_name)
        assert phi.degree() == spec.kernel_degree(kernel_name)
        got = kernel(spec, ts, kernel_name, "exact")
        for g, tv in zip(got, ts):
            assert isinstance(g, sympy.Rational)
            assert Fraction(int(g.p), int(g.q)) == Fraction(str(phi.eval(sympy.Rational(tv))))
        hi = kernel(spec, [Fraction(tv) for tv in ts], kernel_name, 30)
        for g, h in zip(got, hi):
            assert abs(sympy.Float(str(h), 40) - g) <= sympy.Float(10) ** -28 * abs(g)
        lo = kernel(spec, [float(Fraction(tv)) for tv in ts], kernel_name)
        assert np.allclose(lo, [float(g) for g in got], rtol=1e-13, atol=0)
        coef = [Fraction(str(phi.coeff_monomial(sympy.Symbol("t") ** j))) for j in range(phi.degree() + 1)]
        ex = cube_eigenvalues(spec, d, kernel_name, precision="exact")
        dbl = cube_eigenvalues(spec, d, kernel_name)
        for k in range(d + 1):
            want = ref.cube_mu_exact_poly(coef, d, k)
            assert Fraction(str(ex.values[k])) == want, (kernel_name, k)
            if k > phi.degree():
                assert want == 0 and dbl.values[k] == 0 and dbl.structural[k]
            else:
                assert abs(dbl.values[k] - float(want)) <= 1e-10 * abs(float(want)) + 1e-14 * abs(float(coef[0]))
        # the sphere's float64 path (Taylor jets of the duals) against the exact Funk–Hecke sums
        sph = sphere_eigenvalues(spec, 5, kernel_name, max_degree=phi.degree() + 2)
        for k, v in enumerate(sph.values):
            want = float(ref.sphere_mu_exact_poly(coef, 5, k))
            if want == 0:
                assert v == 0 and sph.structural[k], (kernel_name, k, v)
            else:
                assert abs(v - want) <= 1e-12 * abs(want), (kernel_name, k, v, want)


def test_polynomial_float_within_rounding():
    """float64 duals against 40 digits of the same float inputs: within the claimed ``rounding``
    (units of u × the Cauchy–Schwarz scale), which grows with the cancellation the coefficients
    admit (a Chebyshev polynomial: large alternating coefficients, values of order 1)."""
    cheb = [int(x) for x in np.polynomial.chebyshev.cheb2poly([0] * 12 + [1])]
    ops, mp_ops = NumpyOps(), _mp_ops(40)
    u = ops.eps
    for coeffs in POLYS[:4] + [cheb]:
        act = polynomial(coeffs)
        assert act.rounding >= 4 * (act.poly_degree + 1)
        for q1, q2 in [(0.7, 1.6), (1.0, 1.0), (0.05, 0.3), (25.0, 3.0)]:
            q = math.sqrt(q1 * q2)
            for rho in [1.0, 0.9, 0.3, 0.0, -0.6, -1.0]:
                c = rho * q
                a = [mp_ops.const(v) for v in (c, q1, q2)]
                scale = mpmath.sqrt(act.dual(a[1], a[1], a[1], mp_ops) * act.dual(a[2], a[2], a[2], mp_ops))
                v, dv = act.duals(c, q1, q2, ops)
                assert abs(v - act.dual(*a, mp_ops)) <= act.rounding * u * scale, (coeffs, q1, q2, rho)
                if act.poly_degree >= 1:
                    scale_d = mpmath.sqrt(act.ddual(a[1], a[1], a[1], mp_ops) * act.ddual(a[2], a[2], a[2], mp_ops))
                    assert abs(dv - act.ddual(*a, mp_ops)) <= act.rounding * u * scale_d, (coeffs, q1, q2, rho)
    assert polynomial(cheb).rounding > 100 * polynomial(POLYS[0]).rounding
