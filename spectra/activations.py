"""Activation registry: each entry carries its dual activation and derivative dual.

The dual ("V-transform") of φ is V_φ(c; q₁, q₂) = E[φ(u)φ(v)] for a centred Gaussian pair
with Var u = q₁, Var v = q₂, Cov(u, v) = c; the derivative dual is V_φ'(c; q₁, q₂) =
E[φ'(u)φ'(v)] = ∂V_φ/∂c. Both are written once against an ``ops`` object
(:mod:`spectra.precision`), so the same code runs in float64, in mpmath and in sympy.

Built in: relu, erf, the monomials xⁿ, leaky_relu and abs (any a·min(x, 0) + b·max(x, 0) through
:func:`piecewise_linear`), step and sign (CK only: their derivatives are Dirac deltas), sin, cos,
exp, gauss (exp(−x²/2)), the rectified monomials relu2, relu3 (arc-cosine kernels) and gelu
(x Φ(x)); any polynomial through :func:`polynomial` (Hermite expansion, not registered).

Adding an activation is one local change: write its two duals and call :func:`register`.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

__all__ = ["Activation", "describe", "get_activation", "names", "piecewise_linear", "polynomial", "register"]


@dataclass(frozen=True, eq=False)
class Activation:
    """A registered activation function.

    Attributes
    ----------
    name : str
    dual, ddual : callable ``(c, q1, q2, ops) -> value``
        Value and derivative dual activations in the general (cov, q₁, q₂) form.
    gaps : callable ``(a, delta, q, gamma, scale=1) -> (ΔV, ΔV')``, optional
        scale × (V(a; q, q) − V(a − δ; q, q)) and the same for V_{φ'}, at equal norms q (with
        γ = q − a supplied accurately, for activations singular at ρ = 1), computed without
        cancellation in float64. Deep networks have kernels that are constant up to a part
        in 10¹¹ (ordered phase) or tiny away from t = ±1 (chaotic phase); their spectrum
        lives in such differences. Without this the float64 path subtracts (and its error
        estimate says so).
    parity : int
        -1 for odd φ, +1 for even φ, 0 otherwise.
    exact : {"rational", "closed", None}
        "rational": the kernel of rational hyperparameters is a polynomial with rational
        coefficients; "closed": a closed form in π, square roots, exponentials and inverse
        trigonometric functions; None: no exact form.
    fn, dfn : callable
        φ and φ' on numpy arrays (finite-width networks, Monte Carlo checks).
    poly_degree : int or None
        n if φ is a polynomial of degree n (then Φ is a polynomial in t, and μ_k = 0 exactly
        above its degree).
    duals : callable ``(c, q1, q2, ops) -> (V, V')``, optional
        Both duals at once, sharing their common work (relu: one arccos); must equal
        ``(dual(...), ddual(...))``.
    odd_part_linear : bool
        φ = (linear) + (even function), as relu, abs and leaky relu: the dual's odd part is then
        linear in c (E[u ψ(v)] = 0 for even ψ), so with σ_b² = 0 at depth 1 every odd μ_k,
        k ≥ 3, is exactly 0.
    odd_poly_degree, even_poly_degree : int or None
        The degree of φ's odd (even) part when that part is a polynomial: relu2 = x²/2 + x|x|/2
        has even part of degree 2, relu3 odd part of degree 3, step (1/2 + sign/2) even part of
        degree 0. The dual's odd (even) Hermite coefficients then vanish above that degree, so
        with σ_b² = 0 at depth 1 every μ_k of that parity above it is exactly 0 (CK and NTK).
        ``odd_part_linear`` is ``odd_poly_degree = 1``.
    rounding : float
        A bound, in units of the unit roundoff times the output scale √(q₁q₂)-like
        magnitude, on the float64 rounding error of one ``dual``/``ddual`` evaluation.
    ntk_defined : bool
        False when φ' is a Dirac delta (step, sign): E[φ'(u)φ'(v)] is then infinite on the
        diagonal, so the NTK does not exist and the kernel recursions raise for it. ``ddual``
        is then only the off-diagonal ∂V/∂c through which the CK's float64 error tracking
        propagates rounding errors.
    reference : str
        Where the closed form comes from.
    """

    name: str
    dual: Callable = field(repr=False)
    ddual: Callable = field(repr=False)
    parity: int = 0
    exact: str | None = None
    fn: Callable | None = field(default=None, repr=False)
    dfn: Callable | None = field(default=None, repr=False)
    rounding: float = 8.0
    reference: str = ""
    description: str = ""
    poly_degree: int | None = None
    odd_part_linear: bool = False
    odd_poly_degree: int | None = None
    even_poly_degree: int | None = None
    gaps: Callable | None = field(default=None, repr=False)
    duals: Callable | None = field(default=None, repr=False)
    ntk_defined: bool = True
    closed_form: bool = True

    def __eq__(self, other):
        return isinstance(other, Activation) and other.name == self.name

    def __hash__(self):
        return hash(("Activation", self.name))


_REGISTRY: dict[str, Activation] = {}
_ALIASES: dict[str, str] = {}


def register(act: Activation, aliases=()) -> Activation:
    """Add an activation to the registry (names are case-insensitive)."""
    _REGISTRY[act.name.lower()] = act
    for a in aliases:
        _ALIASES[a.lower()] = act.name.lower()
    return act


_MONOMIAL = re.compile(r"^x\^?(\d+)$")
MAX_MONOMIAL = 32


def get_activation(name) -> Activation:
    """Look up an activation by name (``"relu"``, ``"erf"``, ``"identity"``, ``"x3"`` …)."""
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        raise TypeError(f"activation must be a name such as 'relu'; got {name!r}")
    if name.strip().startswith("expr:"):
        text = name.strip()[5:].strip()
        if name.strip() not in _EXPR_CACHE:
            from .numeric import from_expr

            _EXPR_CACHE[name.strip()] = from_expr(text)
        return _EXPR_CACHE[name.strip()]
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in _REGISTRY:
        return _REGISTRY[key]
    if key in _NUMERIC_BUILTINS:
        return register(_numeric_builtin(key))
    m = _MONOMIAL.match(key)
    if m:
        n = int(m.group(1))
        if 1 <= n <= MAX_MONOMIAL:
            return register(_monomial(n))
        raise ValueError(f"activation: monomial degree must be in 1..{MAX_MONOMIAL}; got {name!r}")
    raise ValueError(f"activation must be one of {', '.join(names())}; got {name!r}")


def names() -> list[str]:
    """Built-in names (monomials listed as x2..x4; any x<n>, n ≤ 32, is accepted; so is any
    sympy expression as ``"expr:tanh(x) + 0.1*x"``)."""
    base = [k for k in _REGISTRY if not _MONOMIAL.match(k) and k not in _NUMERIC_BUILTINS]
    return base + ["x2", "x3", "x4"] + list(_NUMERIC_BUILTINS)


_EXPR_CACHE: dict[str, Activation] = {}

# Activations without a closed-form kernel: sympy expression, parity, degrees of the polynomial
# odd/even parts, reference. Their duals come from spectra.numeric (Mehler series, quadrature).
_SELU_L = "10507009873554804934193349852946/10000000000000000000000000000000"
_SELU_A = "16732632423543772848170429916717/10000000000000000000000000000000"
_NUMERIC_BUILTINS = {
    "tanh": ("tanh(x)", -1, None, None, "hyperbolic tangent (kernel: e.g. Poole et al., NeurIPS 2016)"),
    "sigmoid": ("1/(1 + exp(-x))", 0, None, 0, "logistic sigmoid = 1/2 + tanh(x/2)/2"),
    "softplus": ("log(1 + exp(x))", 0, 1, None, "softplus = x/2 + (even part); Dugas et al., NIPS 2000"),
    "silu": ("x/(1 + exp(-x))", 0, 1, None, "SiLU/swish x·sigmoid(x); Elfwing et al. 2018, Ramachandran et al. 2017"),
    "elu": ("Piecewise((x, x > 0), (exp(x) - 1, True))", 0, None, None, "ELU, α = 1; Clevert et al., ICLR 2016"),
    "selu": (f"{_SELU_L}*Piecewise((x, x > 0), ({_SELU_A}*(exp(x) - 1), True))", 0, None, None,
             "SELU (λ = 1.0507009873554804934193349852946, α = 1.6732632423543772848170429916717: Klambauer et al., NeurIPS 2017)"),
    "mish": ("x*tanh(log(1 + exp(x)))", 0, None, None, "Mish x·tanh(softplus(x)); Misra, BMVC 2020"),
    "hardtanh": ("Max(-1, Min(1, x))", -1, None, None, "hard tanh max(−1, min(1, x)); Collobert 2004"),
}
_NUMERIC_FORMULAS = {"tanh": "tanh(x)", "sigmoid": "1/(1 + exp(−x))", "softplus": "log(1 + exp(x))",
                     "silu": "x/(1 + exp(−x))", "elu": "x if x > 0 else exp(x) − 1",
                     "selu": "λ·(x if x > 0 else α(exp(x) − 1))", "mish": "x·tanh(softplus(x))",
                     "hardtanh": "max(−1, min(1, x))"}
_ALIASES.update({"swish": "silu", "logistic": "sigmoid", "hard_tanh": "hardtanh"})


def _numeric_builtin(key) -> Activation:
    from .numeric import from_expr

    text, parity, odd_deg, even_deg, ref = _NUMERIC_BUILTINS[key]
    return from_expr(text, name=key, description=_NUMERIC_FORMULAS.get(key, text), reference=ref, parity=parity,
                     odd_poly_degree=odd_deg, even_poly_degree=even_deg)


def describe() -> list[dict]:
    """One record per built-in activation: name, closed form?, exactness, reference."""
    out = []
    for n in names():
        a = get_activation(n)
        out.append({"name": a.name, "closed_form": a.closed_form, "exact": a.exact, "parity": a.parity,
                    "reference": a.reference, "description": a.description})
    return out


# ---------------------------------------------------------------------------------------
# relu: arc-cosine kernel of order 1 (Cho & Saul 2009)
# ---------------------------------------------------------------------------------------


def _relu_dual(c, q1, q2, ops):
    """E[relu(u) relu(v)] = (√(q₁q₂ − c²) + (π − arccos ρ) c) / (2π), ρ = c/√(q₁q₂)."""
    q = ops.sqrt(q1 * q2)
    rho = ops.clip_unit(c / q)
    return (q * ops.sqrt((1 - rho) * (1 + rho)) + (ops.pi - ops.acos(rho)) * c) / (2 * ops.pi)


def _relu_duals(c, q1, q2, ops):
    """(_relu_dual, _relu_ddual) sharing ρ and arccos ρ."""
    q = ops.sqrt(q1 * q2)
    rho = ops.clip_unit(c / q)
    step = ops.pi - ops.acos(rho)
    return (q * ops.sqrt((1 - rho) * (1 + rho)) + step * c) / (2 * ops.pi), step / (2 * ops.pi)


def _relu_ddual(c, q1, q2, ops):
    """E[step(u) step(v)] = (π − arccos ρ) / (2π)."""
    rho = ops.clip_unit(c / ops.sqrt(q1 * q2))
    return (ops.pi - ops.acos(rho)) / (2 * ops.pi)


#: Taylor coefficients of x − sin x = Σ_{n=3,5,…,19} (−1)^((n−1)/2) x^n / n!, highest first (Horner).
_XMS_COEF = tuple((-1.0) ** ((n - 3) // 2) / math.factorial(n) for n in range(19, 1, -2))


def _x_minus_sin(x):
    """x − sin x without cancellation (odd series below 0.6, 9 terms: relative error < 1e-17;
    evaluated in place by Horner's rule in x², the hot loop of relu sweeps)."""
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < 0.6
    t2 = np.where(small, x, 0.0)
    t2 *= t2
    acc = np.full_like(t2, _XMS_COEF[0])
    for c in _XMS_COEF[1:]:
        acc *= t2
        acc += c
    acc *= t2
    acc *= x
    return np.where(small, acc, x - np.sin(x))


def asin_diff(x, y, diff, rx=None, ry=None):
    """arcsin x − arcsin y for |x|, |y| ≤ 1, given diff = x − y (accurate), without cancellation:

    arcsin x − arcsin y = 2 arctan( (x − y) / (√(1−x²) + √(1−y²)) ),

    the half-angle formula tan(θ/2) = sin θ / (1 + cos θ) applied to
    sin(A − B) = (x − y)(1 + cos(A − B)) / (√(1−x²) + √(1−y²)).
    """
    if rx is None:
        rx = np.sqrt(np.maximum((1 - x) * (1 + x), 0.0))
    if ry is None:
        ry = np.sqrt(np.maximum((1 - y) * (1 + y), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(diff == 0, 0.0, 2 * np.arctan(diff / (rx + ry)))  # x = y = ±1: 0, not 0/0


def _relu_angles(a, delta, q, gamma):
    """Half-angle data for ρ_a = a/q and ρ_b = (a − δ)/q from the accurate gap γ = q − a:
    η = 1 − ρ, θ = arccos ρ = 2 arcsin √(η/2) (no arccos of a rounded ρ near 1)."""
    eta_a = np.clip(gamma / q, 0.0, 2.0)
    eta_b = np.clip((gamma + delta) / q, 0.0, 2.0)
    xa, xb = np.sqrt(eta_a / 2), np.sqrt(eta_b / 2)
    # x_a − x_b = (η_a − η_b) / (2 (x_a + x_b)) with η_a − η_b = −δ/q
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = (-delta / q) / (2 * (xa + xb))
    dx = np.where(xa + xb > 0, dx, 0.0)
    dtheta = 2 * asin_diff(xa, xb, dx, np.sqrt(1 - eta_a / 2), np.sqrt(1 - eta_b / 2))  # θ_a − θ_b
    return eta_a, eta_b, dtheta


def _relu_gaps(a, delta, q, gamma, scale=1.0):
    """scale × (V(a) − V(a − δ), V'(a) − V'(a − δ)) at equal norms q, |a|, |a − δ| ≤ q, with
    γ = q − a given accurately.

    With c = q cos θ, V = q(sin θ + (π − θ) cos θ)/(2π), b = a − δ, Δθ = θ_a − θ_b:
    2π (V(a) − V(b)) = (π − θ_a) δ − q (2 sin θ_b sin²(Δθ/2) + cos θ_b (Δθ − sin Δθ)),
    whose first-order terms cancel analytically (the rest is at most ~3× cancellation), and
    V'(a) − V'(b) = (θ_b − θ_a)/(2π).
    """
    eta_a, eta_b, dtheta = _relu_angles(a, delta, q, gamma)
    theta_a = 2 * np.arcsin(np.sqrt(eta_a / 2))
    sin_b = np.sqrt(eta_b * (2 - eta_b))
    half = np.sin(0.5 * dtheta)
    t = 2 * sin_b * half * half + (1 - eta_b) * _x_minus_sin(dtheta)
    return (scale / (2 * np.pi)) * ((np.pi - theta_a) * delta - q * t), dtheta * (-scale / (2 * np.pi))


register(Activation(
    name="relu", dual=_relu_dual, ddual=_relu_ddual, parity=0, exact="closed", odd_part_linear=True,
    gaps=_relu_gaps, duals=_relu_duals,
    fn=lambda x: np.maximum(x, 0.0), dfn=lambda x: (x > 0).astype(float), rounding=16.0,
    reference="Cho & Saul, 'Kernel methods for deep learning', NIPS 2009 (arc-cosine kernel, n = 1)",
    description="max(0, x)"))


# ---------------------------------------------------------------------------------------
# erf (Williams 1997)
# ---------------------------------------------------------------------------------------


def _erf_dual(c, q1, q2, ops):
    """E[erf(u) erf(v)] = (2/π) arcsin(c / √((q₁+½)(q₂+½)))."""
    half = ops.const(Fraction(1, 2))
    return 2 * ops.asin(c / ops.sqrt((q1 + half) * (q2 + half))) / ops.pi


def _erf_ddual(c, q1, q2, ops):
    """E[erf'(u) erf'(v)] = (4/π) ((1+2q₁)(1+2q₂) − 4c²)^(−½)."""
    return 4 / (ops.pi * ops.sqrt((1 + 2 * q1) * (1 + 2 * q2) - 4 * c * c))


_ATAN_SERIES = 2.0**-18  # g² below this: arctan g = g − g³/3 + g⁵/5 to within u/2 (g⁶/7 < 2⁻⁵⁶)


def _scaled_arctan(g, c):
    """c · arctan(g), overwriting ``g``. The three-term odd series where |g| < 2⁻⁹ (in deep
    layers most gaps are that small; np.arctan costs ~10 ns an entry, the series a few passes),
    np.arctan on the rest: gathered and scattered back when they are few (with 14 % of the
    entries beyond the series, a ``where=`` mask took 1.6 times as long), on every entry when
    they are many. The scale ``c`` (per column) multiplies once at the end: the series then runs
    on scalars, and a per-column operand costs numpy about twice a scalar one on (d+1, columns)
    arrays."""
    g2 = np.multiply(g, g, out=np.empty(g.shape))
    big = np.flatnonzero(g2 >= _ATAN_SERIES)
    if 3 * big.size > g.size:  # many: np.arctan everywhere (both agree to ~1 ulp)
        np.arctan(g, out=g)
        return np.multiply(g, c, out=g2)
    out = np.multiply(g2, 0.2, out=np.empty(g.shape))
    out -= 1 / 3
    out *= g2
    out += 1.0
    out *= g
    if big.size:
        out.reshape(-1)[big] = np.arctan(g.reshape(-1)[big])
    out *= c
    return out


def _erf_gaps(a, delta, q, gamma=None, scale=1.0):
    """scale × (V(a) − V(a − δ), V'(a) − V'(a − δ)) for erf (in place: the hot loop of sweeps).

    V(a) − V(b) = (2/π)(arcsin x − arcsin y), x = a/h, y = b/h, h = q + ½, evaluated as
    (4/π) arctan(δ / (√(h² − a²) + √(h² − b²))) (:func:`asin_diff`), and
    V'(a) − V'(b) = (4/π)(X^-½ − Y^-½) = (2/π) δ(a + b)/(√(h²−a²)√(h²−b²)(√(h²−a²) + √(h²−b²))).

    Shares v = δ(a + b), the numerator of the derivative difference, with
    h² − b² = (h² − a²) + v (cancellation at most (q + ½)²/(q + ¼), i.e. ≲ q + 1).
    """
    shape = np.broadcast_shapes(np.shape(a), np.shape(delta), np.shape(q))
    h = q + 0.5
    rx2 = (h - a) * (h + a)
    rx = np.sqrt(rx2)
    v = np.subtract(2 * a, delta, out=np.empty(shape))  # a + b
    v *= delta
    ry = np.add(v, rx2, out=np.empty(shape))
    np.sqrt(ry, out=ry)
    s = ry + rx
    g = np.divide(delta, s, out=np.empty(shape))
    g = _scaled_arctan(g, (4 / np.pi) * scale)
    s *= ry
    v /= s
    v *= (2 / np.pi) * scale / rx  # (per architecture: one pass fewer over the points)
    return g, v


def _erf_np(x):
    import scipy.special as sc

    return sc.erf(x)


register(Activation(
    name="erf", dual=_erf_dual, ddual=_erf_ddual, parity=-1, exact="closed",
    gaps=_erf_gaps,
    fn=_erf_np, dfn=lambda x: 2 / math.sqrt(math.pi) * np.exp(-x * x), rounding=16.0,
    reference="Williams, 'Computing with infinite networks', NIPS 1997",
    description="erf(x)"))


# ---------------------------------------------------------------------------------------
# monomials x^n: Isserlis/Wick pairings
# ---------------------------------------------------------------------------------------


def _dfact(n):
    """Double factorial with (−1)!! = 1."""
    return 1 if n <= 0 else math.prod(range(n, 0, -2))


def _monomial_moment(n):
    """E[u^n v^n] = Σ_k C(n,k)² k! ((n−k−1)!!)² c^k (q₁q₂)^((n−k)/2), n−k even."""
    terms = [(k, math.comb(n, k) ** 2 * math.factorial(k) * _dfact(n - k - 1) ** 2)
             for k in range(n % 2, n + 1, 2)]

    def moment(c, q1, q2, ops):
        qq = q1 * q2
        total = 0
        for k, coef in terms:
            total = total + ops.const(coef) * c**k * qq ** ((n - k) // 2)
        return total

    return moment


def _monomial_gap(n):
    """V(a) − V(a−δ) for E[u^n v^n] at equal norms q: Σ_k coef_k q^{n−k} (a^k − b^k), with
    a^k − b^k = δ Σ_i a^i b^{k−1−i}."""
    terms = [(k, math.comb(n, k) ** 2 * math.factorial(k) * _dfact(n - k - 1) ** 2)
             for k in range(n % 2, n + 1, 2)]

    def gap(a, delta, q, gamma=None):
        b = a - delta
        total = 0.0 * delta
        for k, coef in terms:
            if k == 0:
                continue
            diff = sum(a**i * b ** (k - 1 - i) for i in range(k)) * delta
            total = total + coef * q ** (2 * ((n - k) // 2)) * diff
        return total

    return gap


def _monomial(n) -> Activation:
    mom = _monomial_moment(n)
    dmom = _monomial_moment(n - 1) if n > 1 else None
    gap = _monomial_gap(n)
    dgap = _monomial_gap(n - 1) if n > 1 else (lambda a, delta, q, gamma=None: delta * 0.0)

    def dual(c, q1, q2, ops):
        return mom(c, q1, q2, ops)

    def ddual(c, q1, q2, ops):
        if dmom is None:
            return c * 0 + 1
        return ops.const(n * n) * dmom(c, q1, q2, ops)

    name = "identity" if n == 1 else f"x{n}"
    return Activation(
        name=name, dual=dual, ddual=ddual, parity=-1 if n % 2 else 1, exact="rational",
        odd_part_linear=n <= 2,
        fn=lambda x: x**n, dfn=lambda x: n * x ** (n - 1), rounding=4.0 * (n + 1),
        gaps=lambda a, delta, q, gamma=None, scale=1.0: (scale * gap(a, delta, q),
                                                         scale * n * n * dgap(a, delta, q)),
        poly_degree=n,
        reference="Isserlis' theorem (Gaussian moments by pairings)",
        description="x" if n == 1 else f"x^{n}")


register(_monomial(1), aliases=("linear", "x", "x1"))


# ---------------------------------------------------------------------------------------
# piecewise linear: leaky relu, abs (φ = a·min(x, 0) + b·max(x, 0))
# ---------------------------------------------------------------------------------------


def _exact_number(name, x):
    """An activation parameter as an exact Fraction (ints, Fractions, strings such as "1/100";
    floats keep their binary value, as hyperparameters do)."""
    if isinstance(x, bool):
        raise TypeError(f"{name} must be a number; got {x!r}")
    try:
        f = Fraction(x.strip()) if isinstance(x, str) else Fraction(x)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        raise TypeError(f"{name} must be a finite number such as 0.01 or '1/100'; got {x!r}") from None
    return f


def piecewise_linear(a, b, name=None, description=None) -> Activation:
    r"""The activation φ(x) = a·min(x, 0) + b·max(x, 0) (not registered; see :func:`register`).

    Writing φ = ((a+b)/2) x + ((b−a)/2) |x| (linear + even, so the odd part of the dual is
    linear in c) and, with ρ = c/√(q₁q₂), θ = arccos ρ, V_relu and S(c) = (π − θ)/(2π) the
    relu duals,

    .. math::

        V(c) = (a² + b²) V_relu(c) − 2ab V_relu(−c)
             = (a² + b²) c/2 + (a − b)² (√(q₁q₂ − c²) − θ c)/(2π),

        V'(c) = (a² + b²) S(c) + 2ab S(−c) = (a² + b²)/2 − (a − b)² θ/(2π).

    (E[relu(u) relu(−v)] = V_relu(−c); E[1(u>0) 1(v<0)] = S(−c) = θ/(2π).) ``a = 0, b = 1``
    is relu, ``a = α, b = 1`` leaky relu, ``a = −1, b = 1`` abs. ``a`` and ``b`` are kept
    exact (ints, Fractions, strings such as "1/100"; floats with their binary value), so
    ``precision="exact"`` works. ``name`` defaults to ``"pwlinear(a,b)"``.
    """
    fa, fb = _exact_number("a", a), _exact_number("b", b)
    lin, quad = (fa * fa + fb * fb) / 2, (fa - fb) ** 2  # (a² + b²)/2 and (a − b)²
    af, bf = float(fa), float(fb)

    def duals(c, q1, q2, ops):
        q = ops.sqrt(q1 * q2)
        rho = ops.clip_unit(c / q)
        theta = ops.acos(rho)
        w = ops.const(quad) / (2 * ops.pi)
        return (ops.const(lin) * c + w * (q * ops.sqrt((1 - rho) * (1 + rho)) - theta * c),
                ops.const(lin) - w * theta)

    def dual(c, q1, q2, ops):
        return duals(c, q1, q2, ops)[0]

    def ddual(c, q1, q2, ops):
        theta = ops.acos(ops.clip_unit(c / ops.sqrt(q1 * q2)))
        return ops.const(lin) - ops.const(quad) / (2 * ops.pi) * theta

    if name is None:
        name = f"pwlinear({fa},{fb})"
    parity = -1 if fa == fb else (1 if fa == -fb else 0)
    return Activation(
        name=name, dual=dual, ddual=ddual, duals=duals, parity=parity, exact="closed", odd_part_linear=True,
        fn=lambda x: af * np.minimum(x, 0.0) + bf * np.maximum(x, 0.0),
        dfn=lambda x: np.where(x > 0, bf, af), rounding=24.0,
        reference="Cho & Saul, 'Kernel methods for deep learning', NIPS 2009 (arc-cosine kernel, n = 1), "
                  "with φ = b·relu(x) − a·relu(−x)",
        description=description or f"{fa}·min(x, 0) + {fb}·max(x, 0)")


register(piecewise_linear(Fraction(1, 100), 1, name="leaky_relu", description="max(x, 0.01 x) (negative slope 0.01)"),
         aliases=("leakyrelu", "leaky-relu"))
register(piecewise_linear(-1, 1, name="abs", description="|x|"))


# ---------------------------------------------------------------------------------------
# step and sign: derivatives are Dirac deltas (CK only)
# ---------------------------------------------------------------------------------------


def _delta_ddual(name, density_scale):
    """ddual of an activation whose derivative is ``density_scale``·δ(x) (``ntk_defined=False``:
    the recursions raise before an NTK needs it).

    Only the CK's float64 error tracking calls it: it returns ∂V/∂c = density_scale² · p(0, 0),
    where p(0, 0) = 1/(2π√(q₁q₂ − c²)) is the density of (u, v) at the origin, set to 0 at
    |ρ| = 1, where it is infinite (on the diagonal Σ and q come from the same float operations,
    so ρ = ±1 exactly and nothing propagates; the gap form pins t = ±1 to the direct recursion).
    Any other arithmetic raises.
    """
    msg = (f"activation {name!r} has no derivative (φ' is a Dirac delta), so its NTK is undefined; "
           "use kernel='ck'")

    def ddual(c, q1, q2, ops):
        if ops.kind != "double":
            raise ValueError(msg)
        return density_scale**2 * _origin_density(c, q1, q2)

    return ddual


def _origin_density(c, q1, q2):
    """1/(2π√(q₁q₂ − c²)) in float64, 0 where |ρ| = 1 (error tracking only; see _delta_ddual)."""
    q = np.sqrt(np.asarray(q1, dtype=float) * np.asarray(q2, dtype=float))
    rho = np.clip(np.asarray(c, dtype=float) / q, -1.0, 1.0)
    r = q * np.sqrt((1 - rho) * (1 + rho))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r > 0, 1 / (2 * np.pi * r), 0.0)


def _step_dual(c, q1, q2, ops):
    """E[1(u>0) 1(v>0)] = (π − arccos ρ)/(2π) (Sheppard's formula), ρ = c/√(q₁q₂)."""
    return _relu_ddual(c, q1, q2, ops)


def _step_gaps_fn(factor):
    """Gaps of the duals of factor·step + const (step: factor 1; sign = 2·step − 1: factor 2,
    V_sign = 4 V_step − 1): the value's from the half-angle difference of arccos (as relu's V'),
    the error-tracking derivative's by subtraction (it only scales error bounds)."""

    def gaps(a, delta, q, gamma, scale=1.0):
        _, _, dtheta = _relu_angles(a, delta, q, gamma)
        dens = _origin_density(a, q, q) - _origin_density(a - delta, q, q)
        f2 = factor * factor * scale
        return dtheta * (-f2 / (2 * np.pi)), f2 * dens

    return gaps


register(Activation(
    name="step", dual=_step_dual, ddual=_delta_ddual("step", 1), parity=0, exact="closed",
    even_poly_degree=0,  # 1(x>0) = 1/2 + sign(x)/2
    gaps=_step_gaps_fn(1), ntk_defined=False,
    fn=lambda x: (x > 0).astype(float), dfn=lambda x: np.zeros_like(x, dtype=float), rounding=16.0,
    reference="Sheppard (1899) orthant probability; Cho & Saul, NIPS 2009 (arc-cosine kernel, n = 0)",
    description="1 if x > 0 else 0 (Heaviside; CK only)"), aliases=("heaviside",))


def _sign_dual(c, q1, q2, ops):
    """E[sign(u) sign(v)] = (2/π) arcsin ρ, ρ = c/√(q₁q₂)."""
    rho = ops.clip_unit(c / ops.sqrt(q1 * q2))
    return 2 * ops.asin(rho) / ops.pi


register(Activation(
    name="sign", dual=_sign_dual, ddual=_delta_ddual("sign", 2), parity=-1, exact="closed",
    gaps=_step_gaps_fn(2), ntk_defined=False,
    fn=lambda x: np.sign(x).astype(float), dfn=lambda x: np.zeros_like(x, dtype=float), rounding=16.0,
    reference="Sheppard (1899): P(u > 0, v > 0) = 1/4 + arcsin(ρ)/(2π)",
    description="sign(x) (CK only)"))


# ---------------------------------------------------------------------------------------
# sin, cos, exp: Gaussian characteristic / moment generating function
# ---------------------------------------------------------------------------------------


def _trig_exps(c, q1, q2, ops):
    """(e^{c − s}, e^{−c − s}), s = (q₁ + q₂)/2: E[e^{±i(u ∓ v)}]-type factors."""
    s = (q1 + q2) / 2
    return ops.exp(c - s), ops.exp(-c - s)


def _sin_duals(c, q1, q2, ops):
    """E[sin u sin v] = e^{−(q₁+q₂)/2} sinh c, E[cos u cos v] = e^{−(q₁+q₂)/2} cosh c.

    From sin u sin v = (cos(u − v) − cos(u + v))/2 and E cos w = e^{−Var w/2}."""
    ep, em = _trig_exps(c, q1, q2, ops)
    return (ep - em) / 2, (ep + em) / 2


def _cos_duals(c, q1, q2, ops):
    """E[cos u cos v] = e^{−(q₁+q₂)/2} cosh c; E[sin u sin v] = e^{−(q₁+q₂)/2} sinh c (cos' = −sin)."""
    ep, em = _trig_exps(c, q1, q2, ops)
    return (ep + em) / 2, (ep - em) / 2


register(Activation(
    name="sin", dual=lambda c, q1, q2, ops: _sin_duals(c, q1, q2, ops)[0],
    ddual=lambda c, q1, q2, ops: _sin_duals(c, q1, q2, ops)[1], duals=_sin_duals,
    parity=-1, exact="closed", fn=np.sin, dfn=np.cos, rounding=32.0,
    reference="E[cos w] = exp(−Var w / 2) for centred Gaussian w (e.g. Pearce et al., "
              "'Expressive priors in Bayesian neural networks', UAI 2020)",
    description="sin(x)"))

register(Activation(
    name="cos", dual=lambda c, q1, q2, ops: _cos_duals(c, q1, q2, ops)[0],
    ddual=lambda c, q1, q2, ops: _cos_duals(c, q1, q2, ops)[1], duals=_cos_duals,
    parity=1, exact="closed", fn=np.cos, dfn=lambda x: -np.sin(x), rounding=32.0,
    reference="E[cos w] = exp(−Var w / 2) for centred Gaussian w (random Fourier features, "
              "Rahimi & Recht, NIPS 2007)",
    description="cos(x)"))


def _exp_dual(c, q1, q2, ops):
    """E[e^u e^v] = E[e^{u+v}] = e^{(q₁ + q₂)/2 + c} (log-normal moment); e' = e, so V' = V."""
    return ops.exp((q1 + q2) / 2 + c)


register(Activation(
    name="exp", dual=_exp_dual, ddual=_exp_dual, duals=lambda c, q1, q2, ops: (_exp_dual(c, q1, q2, ops),) * 2,
    parity=0, exact="closed", fn=np.exp, dfn=np.exp, rounding=32.0,
    reference="Gaussian moment generating function E[e^w] = exp(Var w / 2)",
    description="exp(x)"))


# ---------------------------------------------------------------------------------------
# gauss: the bump exp(−x²/2)
# ---------------------------------------------------------------------------------------


def _gauss_duals(c, q1, q2, ops):
    """With D = det(I + Σ) = (1 + q₁)(1 + q₂) − c²:

    E[e^{−u²/2} e^{−v²/2}] = D^{−1/2}  (E exp(−zᵀz/2) = det(I + Σ)^{−1/2}), and, as the
    tilted law ∝ e^{−zᵀz/2} N(0, Σ) is N(0, Σ(I + Σ)⁻¹) with off-diagonal entry c/D,
    E[φ'(u) φ'(v)] = E[u v e^{−u²/2} e^{−v²/2}] = c D^{−3/2} (= ∂/∂c D^{−1/2})."""
    D = (1 + q1) * (1 + q2) - c * c
    v = 1 / ops.sqrt(D)
    return v, c * v / D


register(Activation(
    name="gauss", dual=lambda c, q1, q2, ops: _gauss_duals(c, q1, q2, ops)[0],
    ddual=lambda c, q1, q2, ops: _gauss_duals(c, q1, q2, ops)[1], duals=_gauss_duals,
    parity=1, exact="closed", fn=lambda x: np.exp(-x * x / 2), dfn=lambda x: -x * np.exp(-x * x / 2),
    rounding=16.0,
    reference="Gaussian integral E exp(−zᵀz/2) = det(I + Σ)^(−1/2) (cf. Williams, NIPS 1997, "
              "Gaussian-bump transfer functions)",
    description="exp(−x²/2)"))


# ---------------------------------------------------------------------------------------
# rectified monomials max(0, x)^n: arc-cosine kernels of order n (Cho & Saul 2009)
# ---------------------------------------------------------------------------------------


def _arccos_J(n, rho, ops):
    """J_n(θ) of Cho & Saul at θ = arccos ρ (cos θ = ρ, sin θ = √((1 − ρ)(1 + ρ))):

    J₀ = π − θ, J₁ = sin θ + (π − θ) cos θ, J₂ = 3 sin θ cos θ + (π − θ)(1 + 2cos²θ),
    J₃ = 4 sin³θ + 15 sin θ cos²θ + (π − θ)(9 sin²θ cos θ + 15 cos³θ)."""
    pt = ops.pi - ops.acos(rho)
    if n == 0:
        return pt
    s2 = (1 - rho) * (1 + rho)
    s = ops.sqrt(s2)
    if n == 1:
        return s + pt * rho
    if n == 2:
        return 3 * s * rho + pt * (1 + 2 * rho * rho)
    if n == 3:
        return s * (4 * s2 + 15 * rho * rho) + pt * rho * (9 * s2 + 15 * rho * rho)
    raise ValueError(f"J_n is implemented for n <= 3; got {n}")


def _relu_power(n) -> Activation:
    """max(0, x)^n: E[φ(u) φ(v)] = (q₁q₂)^{n/2} J_n(θ)/(2π), and φ' = n max(0, x)^{n−1} gives
    E[φ'(u) φ'(v)] = n² (q₁q₂)^{(n−1)/2} J_{n−1}(θ)/(2π), θ = arccos(c/√(q₁q₂))."""

    def duals(c, q1, q2, ops):
        q = ops.sqrt(q1 * q2)
        rho = ops.clip_unit(c / q)
        qn1 = q ** (n - 1)
        two_pi = 2 * ops.pi
        return (qn1 * q * _arccos_J(n, rho, ops) / two_pi,
                ops.const(n * n) * qn1 * _arccos_J(n - 1, rho, ops) / two_pi)

    def dual(c, q1, q2, ops):
        q = ops.sqrt(q1 * q2)
        return q**n * _arccos_J(n, ops.clip_unit(c / q), ops) / (2 * ops.pi)

    def ddual(c, q1, q2, ops):
        q = ops.sqrt(q1 * q2)
        return ops.const(n * n) * q ** (n - 1) * _arccos_J(n - 1, ops.clip_unit(c / q), ops) / (2 * ops.pi)

    return Activation(
        name=f"relu{n}", dual=dual, ddual=ddual, duals=duals, parity=0, exact="closed",
        # max(0,x)^n = xⁿ/2 + sign(x)|x|ⁿ/2: the part of xⁿ's parity is the polynomial xⁿ/2
        odd_poly_degree=n if n % 2 else None, even_poly_degree=None if n % 2 else n,
        fn=lambda x: np.maximum(x, 0.0) ** n, dfn=lambda x: n * np.maximum(x, 0.0) ** (n - 1),
        rounding=32.0,
        reference=f"Cho & Saul, 'Kernel methods for deep learning', NIPS 2009 (arc-cosine kernel, n = {n})",
        description=f"max(0, x)^{n}")


register(_relu_power(2))
register(_relu_power(3))


# ---------------------------------------------------------------------------------------
# gelu: x Φ(x) (Hendrycks & Gimpel 2016), kernel by Stein's lemma
# ---------------------------------------------------------------------------------------


def _gelu_duals(c, q1, q2, ops):
    r"""E[gelu(u) gelu(v)] and E[gelu'(u) gelu'(v)] for gelu(x) = x Φ(x), Φ the normal CDF.

    With s₁ = 1 + q₁, s₂ = 1 + q₂, S² = s₁s₂, D = √(S² − c²) and A = π − arccos(c/S)
    (= π/2 + arcsin(c/S), evaluated as arccos(−c/S)), Stein's lemma gives

    .. math::

        2π V(c) = c A + (q₁q₂ D² + c²)/(S² D),

        2π V'(c) = A + c ((2 + q₁ + q₂)/S² + 1/D²)/D,

    the second being ∂V/∂c = E[φ'(u)φ'(v)] (Price's theorem). The first is the usual
    c/4 + c arcsin(c/S)/(2π) + [q₁q₂ + c²(1 − q₁q₂)/S²]/(2πD). D ≥ √(1 + q₁ + q₂) on the cone
    |c| ≤ √(q₁q₂): nothing is singular at ρ = ±1 and no clipping is needed. For c ≥ 0 every
    term is nonnegative. For c < 0 the float64 path uses :func:`_gelu_duals_double`.
    """
    if getattr(ops, "kind", None) == "double":
        return _gelu_duals_double(c, q1, q2)
    S2 = (1 + q1) * (1 + q2)
    D2 = S2 - c * c
    D = ops.sqrt(D2)
    A = ops.acos(-c / ops.sqrt(S2))
    two_pi = 2 * ops.pi
    V = (c * A + (q1 * q2 * D2 + c * c) / (S2 * D)) / two_pi
    Vp = (A + c * ((2 + q1 + q2) / S2 + 1 / D2) / D) / two_pi
    return V, Vp


def _sin_minus_x_cos(x):
    """sin x − x cos x for 0 ≤ x < 1 by its series Σ_k (−1)^(k+1) 2k x^(2k+1)/(2k+1)!
    (11 terms: relative error < 1e-17)."""
    x2 = x * x
    term = x * x2 / 6.0  # x^3/3!
    acc = 2 * term
    for k in range(2, 12):
        term = -term * x2 / ((2 * k) * (2 * k + 1))
        acc = acc + 2 * k * term
    return acc


def _gelu_duals_double(c, q1, q2):
    """float64 gelu duals. For c < 0, with ψ = arccos(|c|/S) (cos ψ = |c|/S, sin ψ = D/S),

    2π S V = q₁q₂ (sin ψ − ψ cos ψ) − (1 + q₁ + q₂) ψ cos ψ + cos²ψ / sin ψ,

    so that the leading terms of c A and q₁q₂ D/S², both ~√(2q) at c = −√(q₁q₂) while V is
    O(q^(−1/2)), cancel analytically (sin ψ − ψ cos ψ by its series for ψ < 1, ψ from arcsin(D/S)
    where it is small); the rest cancels by at most a factor 5/3 (cot ψ ≤ (1 + q₁ + q₂)ψ/4),
    apart from the zero of V itself. V' has no such leading cancellation."""
    c, q1, q2 = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (c, q1, q2)))
    S2 = (1 + q1) * (1 + q2)
    S = np.sqrt(S2)
    D2 = S2 - c * c
    D = np.sqrt(D2)
    ac = np.abs(c)
    neg = c < 0
    psi = np.where(ac < D, np.arccos(np.minimum(ac / S, 1.0)), np.arcsin(np.minimum(D / S, 1.0)))
    A = np.where(neg, psi, np.pi - psi)  # arccos(−c/S)
    two_pi = 2 * np.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(psi < 1, _sin_minus_x_cos(np.minimum(psi, 1.0)), (D - psi * ac) / S)
        V_neg = (q1 * q2 * f - (1 + q1 + q2) * psi * ac / S + c * c / (S * D)) / (S * two_pi)
    V = np.where(neg, V_neg, (c * A + (q1 * q2 * D2 + c * c) / (S2 * D)) / two_pi)
    Vp = (A + c * ((2 + q1 + q2) / S2 + 1 / D2) / D) / two_pi
    return V[()], Vp[()]


def _gelu_dual(c, q1, q2, ops):
    """E[gelu(u) gelu(v)] (see :func:`_gelu_duals`)."""
    return _gelu_duals(c, q1, q2, ops)[0]


def _gelu_ddual(c, q1, q2, ops):
    """E[gelu'(u) gelu'(v)], gelu'(x) = Φ(x) + x φ(x) (see :func:`_gelu_duals`)."""
    return _gelu_duals(c, q1, q2, ops)[1]


def _gelu_np(x):
    import scipy.special as sc  # imported on first use (``import spectra`` does not load scipy)

    x = np.asarray(x, dtype=float)
    return x * sc.ndtr(x)


def _gelu_prime_np(x):
    import scipy.special as sc

    x = np.asarray(x, dtype=float)
    return sc.ndtr(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


register(Activation(
    name="gelu", dual=_gelu_dual, ddual=_gelu_ddual, duals=_gelu_duals, parity=0, exact="closed",
    # gelu = x/2 + x·erf(x/√2)/2: linear plus even, so the dual's odd part is c/4
    odd_part_linear=True, odd_poly_degree=1,
    fn=_gelu_np, dfn=_gelu_prime_np, rounding=32.0,
    reference="Hendrycks & Gimpel, 'Gaussian error linear units (GELUs)', arXiv:1606.08415 (2016); "
              "kernel by Stein's lemma, cf. Tsuchida, Pearce, van der Heide, Roosta & Gallagher, "
              "'Avoiding kernel fixed points: computing with ELU and GELU infinite networks', AAAI 2021",
    description="x·Φ(x) (exact erf form, Φ the standard normal CDF)"))


# ---------------------------------------------------------------------------------------
# polynomials Σ a_m x^m: Hermite expansion (Mehler's formula)
# ---------------------------------------------------------------------------------------


def _poly_coeffs(coeffs):
    """``coeffs`` as exact Fractions, constant term first, trailing zeros dropped."""
    allowed = (f"coeffs must be a list of numbers a_0, a_1, … (constant term first) of a polynomial of "
               f"degree 0..{MAX_MONOMIAL}, not all zero, such as [1, 0, '-1/3']")
    if isinstance(coeffs, (str, bytes, dict, set, frozenset)) or not hasattr(coeffs, "__len__") \
            or not hasattr(coeffs, "__iter__") or np.ndim(coeffs) != 1:
        raise TypeError(f"{allowed}; got {coeffs!r}")
    a = [_exact_number(f"coeffs[{i}]", x) for i, x in enumerate(coeffs)]
    a = [Fraction(int(x.numerator), int(x.denominator)) for x in a]  # numpy ints: Python ints (no overflow)
    while a and a[-1] == 0:
        a.pop()
    if not a:
        raise ValueError(f"{allowed}; got {list(coeffs)!r}")
    if len(a) - 1 > MAX_MONOMIAL:
        raise ValueError(f"{allowed}; got degree {len(a) - 1}")
    return a


def _hermite_table(a):
    """K[n] = [(j, a_{n+2j} (n+2j)!/(2^j j! n!)), …] (nonzero terms), so that
    B_n(q) = Σ_j K_{n,j} q^j: x^m = Σ_j m!/(2^j j! (m−2j)!) He_{m−2j}(x)."""
    N = len(a) - 1
    fact = math.factorial
    return [[(j, a[n + 2 * j] * Fraction(fact(n + 2 * j), 2**j * fact(j) * fact(n)))
             for j in range((N - n) // 2 + 1) if a[n + 2 * j] != 0] for n in range(N + 1)]


def _poly_cancellation(a):
    """sup over q of √(E φ̄(u)² / E φ(u)²), u ~ N(0, q), φ̄ = Σ |a_m| x^m (≥ 1; on a log grid
    q = 2^−24 … 2^24, beyond which one coefficient dominates): how much the float64 sums
    B_n(q) = Σ_j K_{n,j} q^j can cancel relative to the Cauchy–Schwarz scale of the dual."""
    top = max(abs(x) for x in a)
    K = _hermite_table([x / top for x in a])
    N = len(a) - 1
    q = 2.0 ** np.arange(-24.0, 24.5, 0.5)
    shift = np.where(q > 1, N / 2, 0.0)  # E/q^N above q = 1: every power ≤ 0, no overflow
    num = np.zeros_like(q)
    den = np.zeros_like(q)
    for n, terms in enumerate(K):
        t = np.zeros_like(q)
        tb = np.zeros_like(q)
        for j, k in terms:
            p = q ** (j + n / 2 - shift)
            t += float(k) * p
            tb += abs(float(k)) * p
        num += math.factorial(n) * tb * tb
        den += math.factorial(n) * t * t
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.sqrt(num / den)
    ratio = ratio[np.isfinite(ratio)]
    return max(1.0, float(ratio.max())) if ratio.size else 1.0


def _horner(w, x):
    """Σ_n w[n] x^n (w[n] None: zero), highest term w[-1] not None; result shaped like x."""
    acc = w[-1]
    for wn in reversed(w[:-1]):
        acc = acc * x if wn is None else acc * x + wn
    return acc if len(w) > 1 else x * 0 + acc


def _poly_str(a):
    """A readable formula, e.g. 1 − 1/3·x^2."""
    out = ""
    for m, x in enumerate(a):
        if x == 0:
            continue
        mag = abs(x)
        mono = "" if m == 0 else ("x" if m == 1 else f"x^{m}")
        body = str(mag) if m == 0 else (mono if mag == 1 else f"{mag}·{mono}")
        out += ("−" if x < 0 else "") + body if not out else (" − " if x < 0 else " + ") + body
    return out


def polynomial(coeffs, name=None) -> Activation:
    r"""The activation φ(x) = Σ_m a_m x^m, ``coeffs`` = [a_0, a_1, …, a_n] (constant term first,
    degree n ≤ 32; not registered: pass the object to :class:`~spectra.Architecture`, or see
    :func:`register`).

    Through the Hermite expansion of φ(√q z) (Mehler's formula), with

    .. math::

        B_n(q) = \sum_{j ≥ 0} a_{n+2j}\, q^j \frac{(n+2j)!}{2^j\, j!\, n!},

        V(c) = E[φ(u)φ(v)] = \sum_n n!\, B_n(q_1) B_n(q_2)\, c^n,\qquad
        V'(c) = E[φ'(u)φ'(v)] = \sum_{n ≥ 1} n\, n!\, B_n(q_1) B_n(q_2)\, c^{n-1},

    a polynomial with rational coefficients for rational inputs (no square roots), so
    ``precision="exact"`` gives exact rationals. The coefficients are kept
    exact (ints, Fractions, strings such as ``"1/3"``; floats with their binary value);
    ``name`` defaults to ``"poly(a_0,a_1,…)"`` with trailing zeros dropped, e.g.
    ``polynomial([1, 0, "-1/3"]).name == "poly(1,0,-1/3)"``. ``polynomial([0, 0, 0, 1])`` has
    the dual of ``"x3"``.

    Raises
    ------
    TypeError, ValueError
        If ``coeffs`` is not a list of numbers, is empty or all zero, or has degree > 32.
    """
    a = _poly_coeffs(coeffs)
    N = len(a) - 1
    K = _hermite_table(a)
    nfact = [math.factorial(n) for n in range(N + 1)]

    def hermite(q, ops):
        """[B_n(q)] (None where B_n ≡ 0), Horner in q."""
        out = []
        for terms in K:
            if not terms:
                out.append(None)
                continue
            coef = dict(terms)
            jmax = terms[-1][0]
            acc = ops.const(coef[jmax])
            for j in range(jmax - 1, -1, -1):
                acc = acc * q + ops.const(coef[j]) if j in coef else acc * q
            out.append(acc)
        return out

    def weights(q1, q2, ops):
        b1 = hermite(q1, ops)
        b2 = b1 if q2 is q1 else hermite(q2, ops)
        return [None if x is None else ops.const(nfact[n]) * x * y for n, (x, y) in enumerate(zip(b1, b2))]

    def deriv(w, c, ops):
        if N == 0:
            return c * 0
        return _horner([None if x is None else ops.const(n + 1) * x for n, x in enumerate(w[1:])], c)

    def duals(c, q1, q2, ops):
        w = weights(q1, q2, ops)
        return _horner(w, c), deriv(w, c, ops)

    def dual(c, q1, q2, ops):
        return _horner(weights(q1, q2, ops), c)

    def ddual(c, q1, q2, ops):
        return deriv(weights(q1, q2, ops), c, ops)

    odd = [m for m in range(1, N + 1, 2) if a[m] != 0]
    even = [m for m in range(0, N + 1, 2) if a[m] != 0]
    parity = -1 if not even else (1 if not odd else 0)
    odd_deg = max(odd) if odd else None
    even_deg = max(even) if even else None
    af = [float(x) for x in a]
    dfa = [m * x for m, x in enumerate(af)][1:] or [0.0]

    def fn(x):
        x = np.asarray(x, dtype=float)
        return np.polynomial.polynomial.polyval(x, af)

    def dfn(x):
        x = np.asarray(x, dtype=float)
        return np.polynomial.polynomial.polyval(x, dfa) + 0 * x

    cancel = _poly_cancellation(a)
    if N >= 1:
        cancel = max(cancel, _poly_cancellation([m * x for m, x in enumerate(a)][1:]))
    if name is None:
        name = "poly(" + ",".join(str(x) for x in a) + ")"
    return Activation(
        name=name, dual=dual, ddual=ddual, duals=duals, parity=parity, exact="rational",
        poly_degree=N, odd_poly_degree=odd_deg, even_poly_degree=even_deg,
        odd_part_linear=odd_deg is None or odd_deg <= 1,
        fn=fn, dfn=dfn, rounding=4.0 * (N + 1) * cancel,
        reference="Hermite expansion (Mehler's formula): E[φ(u)φ(v)] = Σ_n n! B_n(q₁) B_n(q₂) c^n",
        description=_poly_str(a))
