"""Activation registry: each entry carries its dual activation and derivative dual.

The dual ("V-transform") of φ is V_φ(c; q₁, q₂) = E[φ(u)φ(v)] for a centred Gaussian pair
with Var u = q₁, Var v = q₂, Cov(u, v) = c; the derivative dual is V_φ'(c; q₁, q₂) =
E[φ'(u)φ'(v)] = ∂V_φ/∂c. Both are written once against an ``ops`` object
(:mod:`spectra.precision`), so the same code runs in float64, in mpmath and in sympy.

Adding an activation is one local change: write its two duals and call :func:`register`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np

__all__ = ["Activation", "register", "get_activation", "names", "describe"]


@dataclass(frozen=True, eq=False)
class Activation:
    """A registered activation function.

    Attributes
    ----------
    name : str
    dual, ddual : callable ``(c, q1, q2, ops) -> value``
        Value and derivative dual activations in the general (cov, q₁, q₂) form.
    parity : int
        -1 for odd φ, +1 for even φ, 0 otherwise.
    exact : {"rational", "closed", None}
        "rational": the kernel of rational hyperparameters is a polynomial with rational
        coefficients; "closed": a closed form in π, square roots and inverse trigonometric
        functions; None: no exact form.
    fn, dfn : callable
        φ and φ' on numpy arrays (finite-width networks, Monte Carlo checks).
    rounding : float
        A bound, in units of the unit roundoff times the output scale √(q₁q₂)-like
        magnitude, on the float64 rounding error of one ``dual``/``ddual`` evaluation.
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
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in _REGISTRY:
        return _REGISTRY[key]
    m = _MONOMIAL.match(key)
    if m:
        n = int(m.group(1))
        if 1 <= n <= MAX_MONOMIAL:
            return register(_monomial(n))
        raise ValueError(f"activation: monomial degree must be in 1..{MAX_MONOMIAL}; got {name!r}")
    raise ValueError(f"activation must be one of {', '.join(names())}; got {name!r}")


def names() -> list[str]:
    """Registered names (monomials listed as x2..x4; any x<n>, n ≤ 32, is accepted)."""
    base = [k for k in _REGISTRY if not _MONOMIAL.match(k)]
    return base + ["x2", "x3", "x4"]


def describe() -> list[dict]:
    """One record per built-in activation: name, closed form?, exactness, reference."""
    out = []
    for n in names():
        a = get_activation(n)
        out.append({"name": a.name, "closed_form": True, "exact": a.exact, "parity": a.parity,
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


def _relu_ddual(c, q1, q2, ops):
    """E[step(u) step(v)] = (π − arccos ρ) / (2π)."""
    rho = ops.clip_unit(c / ops.sqrt(q1 * q2))
    return (ops.pi - ops.acos(rho)) / (2 * ops.pi)


register(Activation(
    name="relu", dual=_relu_dual, ddual=_relu_ddual, parity=0, exact="closed",
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


def _erf_np(x):
    import scipy.special as sc

    return sc.erf(x)


register(Activation(
    name="erf", dual=_erf_dual, ddual=_erf_ddual, parity=-1, exact="closed",
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


def _monomial(n) -> Activation:
    mom = _monomial_moment(n)
    dmom = _monomial_moment(n - 1) if n > 1 else None

    def dual(c, q1, q2, ops):
        return mom(c, q1, q2, ops)

    def ddual(c, q1, q2, ops):
        if dmom is None:
            return c * 0 + 1
        return ops.const(n * n) * dmom(c, q1, q2, ops)

    name = "identity" if n == 1 else f"x{n}"
    return Activation(
        name=name, dual=dual, ddual=ddual, parity=-1 if n % 2 else 1, exact="rational",
        fn=lambda x: x**n, dfn=lambda x: n * x ** (n - 1), rounding=4.0 * (n + 1),
        reference="Isserlis' theorem (Gaussian moments by pairings)",
        description="x" if n == 1 else f"x^{n}")


register(_monomial(1), aliases=("linear", "x", "x1"))
