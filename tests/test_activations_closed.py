"""The closed-form activations (leaky_relu, abs, piecewise_linear, step, sign, sin, cos, exp,
gauss, relu2, relu3) against independent references: 2-D Gaussian quadrature of E[φ(u)φ(v)]
and E[φ'(u)φ'(v)] (tests/reference.py ``dual_quad``), Monte Carlo, brute-force Gram matrices
on the cube, and the sphere's N-digit path (which does not use the float64 jets)."""
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy

import reference as ref
import spectra
from spectra import Architecture, cube_eigenvalues, kernel, kernel3, sphere_eigenvalues
from spectra.activations import get_activation, piecewise_linear
from spectra.precision import MpOps, NumpyOps, SympyOps, bits_for_digits


def _relu(x):
    return x if x > 0 else 0 * x


def _mp_sign(x):
    return x.context.mpf(1 if x > 0 else (-1 if x < 0 else 0))


def _mp_step(x):
    return x.context.mpf(1 if x > 0 else 0)


# φ and φ' as functions of one mpf, computing in its context (independent of spectra);
# φ' is None where it is a Dirac delta
MP = {
    "leaky_relu": (lambda x: x if x > 0 else x / 100, lambda x: x.context.one if x > 0 else x.context.one / 100),
    "abs": (abs, _mp_sign),
    "step": (_mp_step, None),
    "sign": (_mp_sign, None),
    "sin": (lambda x: x.context.sin(x), lambda x: x.context.cos(x)),
    "cos": (lambda x: x.context.cos(x), lambda x: -x.context.sin(x)),
    "exp": (lambda x: x.context.exp(x), lambda x: x.context.exp(x)),
    "gauss": (lambda x: x.context.exp(-x * x / 2), lambda x: -x * x.context.exp(-x * x / 2)),
    "relu2": (lambda x: _relu(x) ** 2, lambda x: 2 * _relu(x)),
    "relu3": (lambda x: _relu(x) ** 3, lambda x: 3 * _relu(x) ** 2),
}
NAMES = list(MP)
PARITY = {"leaky_relu": 0, "abs": 1, "step": 0, "sign": -1, "sin": -1, "cos": 1, "exp": 0, "gauss": 1,
          "relu2": 0, "relu3": 0}
HAS_NTK = [n for n in NAMES if MP[n][1] is not None]

# (c, q1, q2): q1 ≠ q2, negative and near-extreme correlations, and |ρ| = 1 exactly
POINTS = [("0.3", "0.7", "1.6"),
          ("-0.9", "0.7", "1.6"),            # ρ ≈ −0.85
          ("1.0535", "0.7", "1.6"),          # ρ ≈ 0.9956
          ("2", "1", "4")]                   # ρ = 1


def _mp_dual(act, c, q1, q2, deriv=False, dps=40):
    ops = MpOps(bits_for_digits(dps))
    args = [ops.const(Fraction(v)) for v in (c, q1, q2)]
    return (act.ddual if deriv else act.dual)(*args, ops)


def test_registry_metadata():
    for n in NAMES:
        act = get_activation(n)
        assert act.exact == "closed"
        assert act.parity == PARITY[n], n
        assert act.reference and act.description
        assert act.odd_part_linear == (n in ("leaky_relu", "abs")), n
    assert get_activation("Heaviside") is get_activation("step")
    assert set(NAMES) <= set(spectra.activation_names())


@pytest.mark.parametrize("name", NAMES)
def test_duals_against_quadrature(name):
    """Value and derivative duals at 40 digits against 2-D quadrature at 30 (≥ 25 digits)."""
    act = get_activation(name)
    f, fp = MP[name]
    for c, q1, q2 in POINTS:
        want = ref.dual_quad(f, Fraction(c), Fraction(q1), Fraction(q2), dps=30)
        # tolerance scale √(E φ(u)² E φ(v)²) (from the closed form: it only sizes the tolerance)
        scale = mpmath.sqrt(abs(_mp_dual(act, q1, q1, q1) * _mp_dual(act, q2, q2, q2)))
        got = _mp_dual(act, c, q1, q2)
        assert abs(got - want) <= mpmath.mpf(10) ** -26 * scale, (name, c, float(got), float(want))
        if fp is None:
            continue
        want_d = ref.dual_quad(fp, Fraction(c), Fraction(q1), Fraction(q2), dps=30)
        got_d = _mp_dual(act, c, q1, q2, deriv=True)
        scale_d = mpmath.sqrt(_mp_dual(act, q1, q1, q1, True) * _mp_dual(act, q2, q2, q2, True))
        assert abs(got_d - want_d) <= mpmath.mpf(10) ** -26 * scale_d, (name, c, float(got_d), float(want_d))


@pytest.mark.parametrize("name", NAMES)
def test_duals_monte_carlo(name):
    """float64 duals against 10⁶ seeded samples (within 5 standard errors)."""
    act = get_activation(name)
    ops = NumpyOps()
    for seed, (c, q1, q2) in enumerate([(0.3, 0.7, 1.6), (-0.5, 0.5, 0.9)]):
        mean, se = ref.dual_mc(act.fn, c, q1, q2, seed=seed)
        assert abs(act.dual(c, q1, q2, ops) - mean) <= 5 * se + 1e-12, name
        if name in HAS_NTK:
            mean, se = ref.dual_mc(act.dfn, c, q1, q2, seed=seed + 10)
            assert abs(act.ddual(c, q1, q2, ops) - mean) <= 5 * se + 1e-12, name


@pytest.mark.parametrize("name", NAMES)
def test_float_dual_within_rounding(name):
    """The float64 duals agree with 40 digits of the same float inputs within the claimed
    ``rounding`` (units of u × the Cauchy–Schwarz scale) plus the inputs' own sensitivity
    (a relative change 4u of c: arccos near ρ = ±1), also at ρ → ±1; duals() = (dual, ddual)."""
    act = get_activation(name)
    ops = NumpyOps()
    mp_ops = MpOps(bits_for_digits(40))
    u = ops.eps

    def sensitivity(fn, c, q1, q2):
        x = [mp_ops.const(v) for v in (c, q1, q2)]
        f0 = fn(*x, mp_ops)
        return max(abs(fn(x[0] * (1 + s * 4 * u), x[1], x[2], mp_ops) - f0) for s in (1, -1))

    for q1, q2 in [(0.7, 1.6), (1.0, 1.0), (2.5, 0.4)]:
        q = math.sqrt(q1 * q2)
        for rho in [1.0, 1 - 1e-9, 0.9, 0.3, 0.0, -0.6, -1 + 1e-9, -1.0]:
            c = rho * q
            args = [mp_ops.const(v) for v in (c, q1, q2)]  # the float inputs, exactly
            diag = [act.dual(mp_ops.const(v), mp_ops.const(v), mp_ops.const(v), mp_ops) for v in (q1, q2)]
            scale = float(mpmath.sqrt(diag[0] * diag[1]))
            err = abs(act.dual(c, q1, q2, ops) - float(act.dual(*args, mp_ops)))
            tol = act.rounding * u * scale + float(sensitivity(act.dual, c, q1, q2))
            assert err <= tol, (name, q1, q2, rho, err / (u * scale))
            if name in HAS_NTK:
                got_d = act.ddual(c, q1, q2, ops)
                tol = 1e-14 * max(abs(got_d), 1.0) + float(sensitivity(act.ddual, c, q1, q2))
                assert abs(got_d - float(act.ddual(*args, mp_ops))) <= tol, (name, q1, q2, rho)
                if act.duals is not None:
                    v, d = act.duals(c, q1, q2, ops)
                    assert v == act.dual(c, q1, q2, ops) and d == got_d


def test_piecewise_linear_special_cases():
    relu, abs_ = get_activation("relu"), get_activation("abs")
    plin01, plin = piecewise_linear(0, 1), piecewise_linear(-1, 1, name="my_abs")
    leaky = get_activation("leaky_relu")
    assert plin01.name == "pwlinear(0,1)" and plin.name == "my_abs" and plin.parity == 1
    assert piecewise_linear("1/2", "1/2").parity == -1  # x/2
    mp_ops = MpOps(bits_for_digits(40))
    for c, q1, q2 in POINTS:
        a = [mp_ops.const(Fraction(v)) for v in (c, q1, q2)]
        for x, y in [(plin01, relu), (plin, abs_)]:
            assert abs(x.dual(*a, mp_ops) - y.dual(*a, mp_ops)) <= mpmath.mpf(10) ** -38
            assert abs(x.ddual(*a, mp_ops) - y.ddual(*a, mp_ops)) <= mpmath.mpf(10) ** -38
        # relu's own formula (leaky with slope 0)
        assert abs(plin01.dual(*a, mp_ops) - ref.dual_closed("relu", *a, mp_ops.ctx)) <= mpmath.mpf(10) ** -38
        assert abs(plin01.ddual(*a, mp_ops) - ref.ddual_closed("relu", *a, mp_ops.ctx)) <= mpmath.mpf(10) ** -38
        # slope a = b: the linear activation b·x, V = b² c
        lin = piecewise_linear(3, 3)
        assert abs(lin.dual(*a, mp_ops) - 9 * a[0]) <= mpmath.mpf(10) ** -37
        assert abs(lin.ddual(*a, mp_ops) - 9) <= mpmath.mpf(10) ** -37
        # the registered leaky relu is piecewise_linear(0.01, 1), exactly 1/100
        assert abs(leaky.dual(*a, mp_ops) - piecewise_linear("0.01", 1).dual(*a, mp_ops)) == 0
    x = np.linspace(-2, 2, 9)
    assert np.array_equal(leaky.fn(x), np.where(x > 0, x, 0.01 * x))
    assert np.array_equal(abs_.fn(x), np.abs(x)) and np.array_equal(abs_.dfn(x[x != 0]), np.sign(x[x != 0]))
    with pytest.raises(TypeError, match="a must be"):
        piecewise_linear("slope", 1)


def _quad_kernel_depth1(name, ts, sw, sb, kernel_name, dps=18):
    """Φ(t) of a depth-1 network from dual_quad alone (independent of spectra)."""
    f, fp = MP[name]
    q = sw + sb
    out = []
    for t in ts:
        s = sw * t + sb
        ck = sw * ref.dual_quad(f, s, q, q, dps=dps) + sb
        if kernel_name == "ntk":
            ck = ck + sw * s * ref.dual_quad(fp, s, q, q, dps=dps)
        out.append(float(ck))
    return np.array(out)


def _gram_check(spec, kernel_name, d, phi_values):
    """Spectra's cube μ_k (with multiplicities) against the eigenvalues of the brute-force
    Gram matrix built from Φ at the d + 1 cube values of t.

    Some μ_k are exactly 0 without spectra knowing it (step = ½ + sign/2 and relu2 = (x² + x|x|)/2
    at depth 1 with σ_b² = 0: the dual's even part is a constant or a quadratic); float64 must
    flag those unresolved with an error bound that covers 0, never return round-off noise."""
    ts = np.array([(d - 2 * j) / d for j in range(d + 1)])
    table = dict(zip(ts.tolist(), phi_values))
    gram = ref.gram_cube_eigs(lambda t: np.array([table[v] for v in np.asarray(t).tolist()]), d)
    s = cube_eigenvalues(spec, d, kernel_name)
    scale = abs(phi_values[0])
    vals = np.array([np.nan if v is None else float(v) for v in s.values])
    unresolved = ~np.isfinite(vals)
    assert np.all(np.asarray(s.errors)[unresolved] <= 1e-12 * scale), (spec, kernel_name, s.flags)
    vals[unresolved] = 0.0
    atol = 1e-12 * scale + float(np.max(np.asarray(s.errors)[unresolved], initial=0.0))
    mine = np.sort(np.repeat(vals, [math.comb(d, k) for k in range(d + 1)]))[::-1]
    assert np.allclose(mine, gram, rtol=1e-9, atol=atol), (spec, kernel_name, mine, gram)
    for k in range(d + 1):  # structural zeros come out exactly 0
        if spec.structural_zero(kernel_name, k):
            assert s.values[k] == 0, (spec, kernel_name, k)
    return s


# σ_w² + σ_b² a perfect square: dual_quad takes ρ = ±1 (t = ±1) exactly only when √q is exact
SPECS = {n: (Fraction(1, 4), 0) if n == "exp" else (1, 0) for n in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_cube_depth1_gram_independent(name):
    """d = 6, depth 1: Gram entries from dual_quad (fully independent of spectra)."""
    d = 6
    sw, sb = SPECS[name]
    ts = [Fraction(d - 2 * j, d) for j in range(d + 1)]
    for kernel_name in (["ck", "ntk"] if name in HAS_NTK else ["ck"]):
        phi = _quad_kernel_depth1(name, ts, sw, sb, kernel_name)
        _gram_check(Architecture(name, 1, sw, sb), kernel_name, d, phi)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bias", [False, True])
def test_cube_depth2_gram(name, bias):
    """d = 6, depth 2: Gram entries from spectra.kernel at 30 digits (the recursion is tested
    elsewhere; the duals above), eigenvalues from the float64 cube path."""
    d = 6
    sw, sb = SPECS[name]
    if bias:
        sw, sb = sw * Fraction(3, 2), Fraction(1, 10)
    spec = Architecture(name, 2, sw, sb)
    ts = [Fraction(d - 2 * j, d) for j in range(d + 1)]
    for kernel_name in (["ck", "ntk"] if name in HAS_NTK else ["ck"]):
        phi = np.array([float(v) for v in kernel(spec, ts, kernel_name, 30)])
        _gram_check(spec, kernel_name, d, phi)


@pytest.mark.parametrize("name", ["sin", "gauss", "leaky_relu", "relu3"])
def test_sphere_double_matches_digits(name):
    """The float64 sphere path (Taylor jets of the duals) against the N-digit path."""
    spec = Architecture(name, 2, 1, Fraction(1, 10))
    for kernel_name in ("ck", "ntk"):
        lo = sphere_eigenvalues(spec, 5, kernel_name, max_degree=6, precision="double")
        hi = sphere_eigenvalues(spec, 5, kernel_name, max_degree=6, precision=25)
        for k, (a, b) in enumerate(zip(lo.values, hi.values)):
            assert a is not None, (name, kernel_name, k, lo.flags)
            assert abs(a - float(b)) <= 1e-10 * abs(float(b)), (name, kernel_name, k, a, float(b))


@pytest.mark.parametrize("name", NAMES)
def test_exact_sympy(name):
    spec = Architecture(name, 2, 1, "1/2")
    for kernel_name in (["ck", "ntk"] if name in HAS_NTK else ["ck"]):
        e = kernel(spec, ["1/3"], kernel_name, "exact")[0]
        assert isinstance(e, sympy.Expr) and not isinstance(e, sympy.Float)
        v = kernel(spec, ["1/3"], kernel_name, 30)[0]
        assert abs(sympy.N(e, 40) - sympy.Float(str(v), 40)) <= sympy.Float(10) ** -28 * abs(v)
        f, err = kernel(spec, [1 / 3], kernel_name, return_error=True)
        assert abs(f[0] - float(v)) <= err[0] <= 1e-9 * abs(float(v))
    # the dual itself in sympy, at the general (c, q1, q2) form
    so = SympyOps()
    act = get_activation(name)
    got = act.dual(so.const(Fraction(1, 5)), so.const(Fraction(1, 2)), so.const(Fraction(3, 2)), so)
    want = _mp_dual(act, "1/5", "1/2", "3/2")
    assert abs(sympy.N(got, 40) - sympy.Float(str(want), 40)) <= sympy.Float(10) ** -30


@pytest.mark.parametrize("name", ["step", "sign"])
def test_step_sign_have_no_ntk(name):
    spec = Architecture(name, 2, 1, 0)
    act = spec.activation
    assert act.ntk_defined is False
    assert all(get_activation(n).ntk_defined for n in HAS_NTK)
    with pytest.raises(ValueError, match=rf"{name}.*NTK is undefined.*kernel='ck'"):
        act.ddual(0.3, 1.0, 1.0, MpOps(64))
    for call in (lambda: kernel(spec, [0.5], "ntk"),
                 lambda: kernel(spec, [0.5], "ntk", 20),
                 lambda: kernel3(spec, 0.2, 0.5, 1.5, "ntk"),
                 lambda: cube_eigenvalues(spec, 6, "ntk"),
                 lambda: sphere_eigenvalues(spec, 5, "ntk", max_degree=3),
                 lambda: spectra.gaussian_eigenvalues(spec, 3, "ntk", max_degree=2),
                 lambda: spectra.kernel_grid(name, [0.5], 2, [1.0], [0.0]),
                 lambda: spectra.cube_eigenvalues_grid(name, 6, 2, [1.0], [0.0], max_degree=2)):
        with pytest.raises(ValueError, match="kernel='ck'"):
            call()
    # while the CK works on every path, with finite error bounds, at off-diagonal norms too
    v, e = kernel3(spec, [0.2, 1.0], [0.5, 1.0], [1.5, 1.0], "ck", return_error=True)
    w = kernel3(spec, [0.2, 1.0], [0.5, 1.0], [1.5, 1.0], "ck", 30)
    assert np.all(np.isfinite(e)) and np.all(np.abs(v - w.astype(float)) <= e + 1e-16)
    s = sphere_eigenvalues(spec, 5, "ck", max_degree=4)
    assert all(x is not None for x in s.values)
    g = spectra.kernel_grid(name, [0.5, 1.0], 2, [1.0, 2.0], [0.0, 0.5], kernel="ck", return_error=True)
    assert np.all(np.isfinite(g["ck"])) and np.all(np.isfinite(g["ck_err"]))


@pytest.mark.parametrize("name", ["step", "sign"])
def test_step_sign_gaps(name):
    """The gap form's V(a) − V(a − δ) (the cube's float64 path) against 40-digit duals."""
    act = get_activation(name)
    mp_ops = MpOps(bits_for_digits(40))
    ctx = mp_ops.ctx
    rhos = [1.0, 1 - 1e-12, 1 - 1e-6, 0.6, 0.0, -0.4, -1 + 1e-9, -1.0]
    for q in (0.7, 3.0):
        Q = ctx.mpf(q)
        for ra in rhos:
            for rb in rhos:
                a = q * ra
                delta = a - q * rb
                A, B = ctx.mpf(a), ctx.mpf(a) - ctx.mpf(delta)
                if abs(B) > Q:
                    continue
                g, _ = act.gaps(np.array(a), np.array(delta), np.array(q), np.array(float(Q - A)))
                want = act.dual(A, Q, Q, mp_ops) - act.dual(B, Q, Q, mp_ops)
                # arccos has square-root singularities at ρ = ±1: there a rounding u of the inputs
                # moves V by ~√u (intrinsic; the cube pins t = ±1, where ρ = ±1 exactly)
                near = min(1 - abs(ra), 1 - abs(rb)) < 1e-5
                tol = (1e-7 if near else 1e-12) * abs(want) + 1e-16
                assert abs(g - want) <= tol, (ra, rb, float(g), float(want))


def test_exact_cube_closed_forms():
    """precision='exact' on the cube for a few closed forms (exp/sin/sqrt/arccos in sympy)."""
    for name in ("sin", "gauss", "abs", "relu2"):
        spec = Architecture(name, 1, 1, "1/4")
        ex = cube_eigenvalues(spec, 4, "ntk", precision="exact")
        hi = cube_eigenvalues(spec, 4, "ntk", precision=30)
        for e, h in zip(ex.values, hi.values):
            assert abs(sympy.N(e, 40) - sympy.Float(str(h), 40)) <= sympy.Float(10) ** -27 * (1 + abs(h))


def test_n_digits_refuses_kernels_beyond_fixed_point_range():
    """exp at depth 3, σ_w² = 2: Φ(1) = exp(exp(exp(...))) ~ 2^(1e95); the N-digit cube transform
    says so in one clear ValueError instead of failing inside mpmath."""
    net = spectra.Architecture("exp", 3, 2, 0)
    with pytest.raises(ValueError, match="precision: this network's kernel is about 2\\^"):
        spectra.cube_eigenvalues(net, 6, "ck", precision=20)


@pytest.mark.parametrize("name, kern, zero_ks, nonzero_ks", [
    ("relu2", "ck", [4, 6, 8], [2, 3, 5, 7]),
    ("relu2", "ntk", [4, 6, 8], [2, 3, 5, 7]),
    ("relu3", "ck", [5, 7], [3, 4, 6, 8]),
    ("relu3", "ntk", [5, 7], [3, 4, 6, 8]),
    ("step", "ck", [2, 4, 6, 8], [1, 3, 5, 7]),
])
def test_polynomial_parity_part_zeros_are_declared_and_true(name, kern, zero_ks, nonzero_ks):
    """At depth 1 with σ_b² = 0, the degrees above the polynomial part of φ of their parity are
    structural zeros; a 60-digit direct alternating sum over kernel values (tests/reference.py)
    confirms they are zero and that the others are not."""
    import mpmath
    import reference as ref

    d = 8
    net = spectra.Architecture(name, 1, 2, 0)
    s = spectra.cube_eigenvalues(net, d, kern, max_degree=d)
    ctx = mpmath.MPContext()
    ctx.dps = 60
    phi = spectra.kernel(net, [(d - 2 * j) / d for j in range(d + 1)], kern, 55)  # t exact in binary
    for k in zero_ks:
        assert s.structural[k] and s.values[k] == 0
        assert abs(ref.cube_mu_direct(list(phi), d, k, ctx)) < mpmath.mpf(10) ** -45
    for k in nonzero_ks:
        assert not s.structural[k]
        assert abs(ref.cube_mu_direct(list(phi), d, k, ctx)) > mpmath.mpf(10) ** -12
