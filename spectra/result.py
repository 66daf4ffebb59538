"""The result of a spectrum computation: values with their precision, multiplicities,
normalised eigenvalues and fractional variance."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .precision import Precision
from .spec import Architecture

__all__ = ["Spectrum"]


def _to_float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return float(v.evalf(20))


@dataclass(frozen=True)
class Spectrum:
    """Eigenvalues μ_k of a kernel's integral operator under the domain's probability measure.

    Attributes
    ----------
    domain : str
    dim : int
    spec : Architecture
    kernel : {"ck", "ntk"}
    precision : Precision
    degrees : ndarray of int
    values : ndarray
        float64 (``NaN`` where unresolved, see ``flags``), object array of mpmath ``mpf``
        (N digits) or of sympy numbers (exact).
    errors : ndarray
        Absolute error bounds (float64 for double; ``mpf`` for N digits; 0 for exact).
    digits : ndarray of float
        Correct significant digits guaranteed by ``errors`` (``inf`` for exact values and
        structural zeros).
    flags : tuple of (str or None)
        Why a value is not given (double precision only), e.g. ``"unresolved: ..."``.
    multiplicities : tuple of int
        Exact multiplicities (C(d, k) on the cube).
    trace : number
        E_x K(x, x) = Σ multiplicity × eigenvalue (= Φ(1) on the cube and sphere).
    structural : ndarray of bool
        True where the value is an exact structural zero (parity).
    """

    domain: str
    dim: int
    spec: Architecture
    kernel: str
    precision: Precision
    degrees: np.ndarray
    values: np.ndarray
    errors: np.ndarray
    digits: np.ndarray
    flags: tuple
    multiplicities: tuple
    trace: object
    structural: np.ndarray
    extra: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.degrees)

    @property
    def resolved(self) -> np.ndarray:
        """Boolean mask: True where a value is given (False where ``flags`` says why not)."""
        return np.array([f is None for f in self.flags])

    @property
    def normalized(self) -> np.ndarray:
        """μ_k / E K(x, x): Σ multiplicity × normalized = 1."""
        if self.precision.kind in ("double", "auto"):
            return self.values / float(self.trace)
        return np.array([v / self.trace for v in self.values], dtype=object)

    @property
    def fractional_variance(self) -> np.ndarray:
        """FV_k = multiplicity_k μ_k / E K(x, x): the share of a GP(0, K) sample's variance in degree k."""
        if self.precision.kind in ("double", "auto"):
            tr = float(self.trace)
            out = np.empty(len(self.values))
            for i, (m, v) in enumerate(zip(self.multiplicities, self.values)):
                if v == 0 or not np.isfinite(v):
                    out[i] = v * 0.0 if np.isfinite(v) else np.nan
                else:
                    out[i] = math.copysign(math.exp(math.log(m) + math.log(abs(v)) - math.log(tr)), v)
            return out
        return np.array([m * v / self.trace for m, v in zip(self.multiplicities, self.values)], dtype=object)

    def fractional_variance_by_degree(self):
        """(degrees, FV_k): the fractional variance of each degree.

        On the Gaussian FV_k = N(d, k) Σ_j μ_{k,j} / E K(x, x) sums over the radial index j. At
        double precision the sum runs over *every* j (``extra["degree_trace"]``, the trace of the
        radial operator κ_k), whatever ``radial`` was; at N digits over the listed j only (a lower
        bound for a PSD kernel), leaving out unresolved entries. Elsewhere the same as
        ``fractional_variance``.
        """
        ks = sorted(set(int(k) for k in self.degrees))
        double = self.precision.kind in ("double", "auto")
        if double and "degree_trace" in self.extra:
            tr = float(self.trace)
            return np.array(ks), np.array([self._mult_of(k) * float(self.extra["degree_trace"][k]) / tr
                                           for k in ks])
        fv = self.fractional_variance
        out = []
        for k in ks:
            parts = [fv[i] for i, kk in enumerate(self.degrees) if int(kk) == k]
            if double:
                arr = np.asarray(parts, dtype=float)
                out.append(float(np.sum(arr[np.isfinite(arr)])) if np.isfinite(arr).any() else np.nan)
            else:
                out.append(sum(parts[1:], parts[0]))
        return np.array(ks), np.array(out, dtype=float if double else object)

    def _mult_of(self, k):
        return next(int(m) for m, kk in zip(self.multiplicities, self.degrees) if int(kk) == k)

    def fractional_variance_error_by_degree(self) -> np.ndarray:
        """Absolute error bounds of :meth:`fractional_variance_by_degree` (float64): the
        eigenvalues' (or degree traces') errors times multiplicity over E K(x, x), plus that
        trace's own error where it is known."""
        ks = sorted(set(int(k) for k in self.degrees))
        tr = abs(_to_float(self.trace))
        tr_rel = float(self.extra.get("trace_error", 0.0)) / tr if tr else 0.0
        _, fv = self.fractional_variance_by_degree()
        fv = np.array([_to_float(v) for v in fv])
        if self.precision.kind in ("double", "auto") and "degree_trace" in self.extra:
            e = np.array([self._mult_of(k) * float(self.extra["degree_trace_error"][k]) for k in ks]) / tr
        else:
            errs = np.array([_to_float(v) for v in self.errors])
            e = np.array([sum(float(m) * errs[i] for i, (m, kk) in enumerate(zip(self.multiplicities, self.degrees))
                              if int(kk) == k) for k in ks]) / tr
        return e + np.abs(fv) * tr_rel

    def as_float(self) -> np.ndarray:
        """The values as float64 (NaN where unresolved)."""
        return np.array([_to_float(v) for v in self.values], dtype=float)

    def to_records(self) -> list[dict]:
        """One dict per degree, the JSON form of the CLI (see ``spectra eigs --format json``)."""
        from ._format import records

        return records(self)

    def __repr__(self):
        return (f"Spectrum(domain={self.domain!r}, dim={self.dim}, kernel={self.kernel!r}, "
                f"precision={str(self.precision)!r}, degrees={self.degrees[0]}..{self.degrees[-1]}, "
                f"spec={self.spec!r})")
