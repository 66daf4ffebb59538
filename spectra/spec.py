"""The architecture spec: one frozen object that flows through every routine."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from . import _validate
from .activations import Activation, get_activation

__all__ = ["Architecture", "KERNELS"]

KERNELS = ("ck", "ntk")


@dataclass(frozen=True)
class Architecture:
    """A fully connected network of ``depth`` hidden layers in NTK parameterisation.

    .. math::

        h^1 = \\sigma_w W^1 x/\\sqrt d + \\sigma_b b^1,\\qquad
        h^{l+1} = \\sigma_w W^{l+1}\\phi(h^l)/\\sqrt n + \\sigma_b b^{l+1}

    Parameters
    ----------
    activation : str or Activation
        A registered name (``spectra.activations.names()``) or an :class:`Activation`.
    depth : int
        Number of hidden layers L ≥ 0 (L = 0 is the linear model).
    weight_var : number
        σ_w² > 0. Ints, Fractions and strings such as ``"1/3"`` are kept exact, so that
        ``precision="exact"`` can use them; floats keep their binary value.
    bias_var : number
        σ_b² ≥ 0.

    Examples
    --------
    >>> a = Architecture("relu", depth=2, weight_var=2, bias_var=0)
    >>> a.replace(depth=3).depth
    3
    """

    activation: Activation | str
    depth: int = 1
    weight_var: object = 1
    bias_var: object = 0

    def __post_init__(self):
        act = self.activation if isinstance(self.activation, Activation) else get_activation(self.activation)
        object.__setattr__(self, "activation", act)
        object.__setattr__(self, "depth", _validate.integer("depth", self.depth, lo=0))
        object.__setattr__(self, "weight_var", _validate.hyper("weight_var", self.weight_var, positive=True))
        object.__setattr__(self, "bias_var", _validate.hyper("bias_var", self.bias_var, positive=False))

    def replace(self, **changes) -> "Architecture":
        """A copy with some fields changed (validated again)."""
        fields = dict(activation=self.activation, depth=self.depth, weight_var=self.weight_var, bias_var=self.bias_var)
        fields.update(changes)
        return Architecture(**fields)

    @property
    def parity(self) -> int:
        """+1 if Φ is even in t, -1 if odd, 0 otherwise (see :func:`kernel_parity`)."""
        return kernel_parity(self.activation, self.depth, self.bias_var == 0)

    def kernel_degree(self, kernel: str):
        """Degree of Φ as a polynomial in t, or None if Φ is not a polynomial (see
        :func:`kernel_degree`)."""
        return kernel_degree(self.activation, self.depth, kernel)

    def structural_zero(self, kernel: str, k: int) -> bool:
        """True if μ_k = 0 exactly on the cube and sphere (see :func:`structural_zero`)."""
        return structural_zero(self.activation, self.depth, self.bias_var == 0, kernel, k)

    def as_dict(self) -> dict:
        def num(v):
            return str(v) if isinstance(v, Fraction) else v

        return {"activation": self.activation.name, "depth": self.depth,
                "weight_var": num(self.weight_var), "bias_var": num(self.bias_var)}


def kernel_parity(act: Activation, depth: int, zero_bias: bool) -> int:
    """+1 if Φ is even in t, -1 if odd, 0 otherwise (CONVENTIONS §3, parity).

    Φ is odd when φ is odd and σ_b² = 0 (or depth = 0 and σ_b² = 0); even when φ is even,
    σ_b² = 0 and depth ≥ 1.
    """
    if not zero_bias:
        return 0
    if act.parity == -1 or depth == 0:
        return -1
    return act.parity


def kernel_degree(act: Activation, depth: int, kernel: str):
    """Degree of Φ as a polynomial in t, or None if Φ is not a polynomial.

    Σ¹ has degree 1; V_φ of a degree-n polynomial φ is a polynomial of degree n in c and
    V_φ' one of degree n − 1, so deg Σ^{l+1} = n deg Σ^l and
    deg Θ^{l+1} = max(deg Σ^{l+1}, deg Θ^l + (n − 1) deg Σ^l).
    """
    if depth == 0:
        return 1
    n = act.poly_degree
    if n is None:
        return None
    s = t = 1
    for _ in range(depth):
        s, t = n * s, max(n * s, t + (n - 1) * s)
    return t if kernel == "ntk" else s


def structural_zero(act: Activation, depth: int, zero_bias: bool, kernel: str, k: int) -> bool:
    """True if μ_k = 0 exactly on the cube and sphere.

    By parity; above the degree of Φ when Φ is a polynomial; and at depth 1 with σ_b² = 0,
    above the degree of φ's odd (even) part for odd (even) k when that part is a polynomial
    (relu: odd part linear, so odd k ≥ 3; relu2: even k ≥ 4; relu3: odd k ≥ 5; step: even
    k ≥ 2), since Φ's Taylor coefficients of that parity then stop at that degree.
    """
    p = kernel_parity(act, depth, zero_bias)
    if (p == -1 and k % 2 == 0) or (p == 1 and k % 2 == 1):
        return True
    if depth == 1 and zero_bias:
        odd_deg = 1 if act.odd_part_linear else getattr(act, "odd_poly_degree", None)
        even_deg = getattr(act, "even_poly_degree", None)
        if k % 2 == 1 and odd_deg is not None and k > odd_deg:
            return True
        if k % 2 == 0 and even_deg is not None and k > even_deg:
            return True
    deg = kernel_degree(act, depth, kernel)
    return deg is not None and k > deg
