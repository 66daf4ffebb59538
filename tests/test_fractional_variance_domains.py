"""Fractional variance on the sphere and the Gaussian against closed forms of the linear kernel.

K(x, y) = σ_w² ⟨x,y⟩/d + σ_b² (identity activation, depth 0): degree 0 carries σ_b², degree 1
carries σ_w² (E⟨x,y⟩²/d² summed over the d linear harmonics), so FV_0 = σ_b²/(σ_w²+σ_b²) and
FV_1 = σ_w²/(σ_w²+σ_b²) on both domains, and the Gaussian's radial families beyond j = 0 vanish.
"""
from fractions import Fraction

import numpy as np
import pytest

from spectra import Architecture, gaussian_eigenvalues, sphere_eigenvalues


@pytest.mark.parametrize("w,b", [(2, "1/2"), (1, 3)])
@pytest.mark.parametrize("dim", [3, 8])
def test_linear_kernel_fractional_variance(w, b, dim):
    net = Architecture("identity", 0, w, b)
    bw, bb = Fraction(w), Fraction(b)
    fv0, fv1 = float(bb / (bw + bb)), float(bw / (bw + bb))
    ks, fv = sphere_eigenvalues(net, dim, "ck", max_degree=3).fractional_variance_by_degree()
    assert list(ks) == [0, 1, 2, 3]
    np.testing.assert_allclose(fv, [fv0, fv1, 0, 0], rtol=1e-13, atol=1e-15)
    g = gaussian_eigenvalues(net, dim, "ck", max_degree=2, radial=2)
    ks, fv = g.fractional_variance_by_degree()
    np.testing.assert_allclose(fv[:2], [fv0, fv1], rtol=1e-12)
    assert fv[2] == 0
    # exact on the sphere
    s = sphere_eigenvalues(net, dim, "ck", max_degree=2, precision="exact")
    ks, fv = s.fractional_variance_by_degree()
    assert [Fraction(int(v.p), int(v.q)) for v in fv] == [bb / (bw + bb), bw / (bw + bb), 0]
