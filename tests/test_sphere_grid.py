"""sphere_eigenvalues_grid (one layer pass for every depth) against single-network calls, whose
accuracy test_sphere_reference.py checks against an independent 40-digit quadrature."""
import numpy as np
import pytest

from spectra import Architecture, sphere_eigenvalues, sphere_eigenvalues_grid


@pytest.mark.parametrize("act", ["erf", "relu"])
def test_grid_matches_single_calls(act):
    wv, bv = np.linspace(1, 4, 4), np.array([0.0, 0.5, 2.0])
    out = sphere_eigenvalues_grid(act, 20, 6, wv, bv, ("ck", "ntk"), max_degree=10)
    assert out["ck"].shape == (7, 4, 3, 11)
    rng = np.random.default_rng(1)
    for _ in range(6):
        L, i, j = int(rng.integers(7)), int(rng.integers(4)), int(rng.integers(3))
        for k in ("ck", "ntk"):
            s = sphere_eigenvalues(Architecture(act, L, float(wv[i]), float(bv[j])), 20, k, max_degree=10)
            ref = s.values
            got = out[k][L, i, j]
            both = np.isfinite(ref) & np.isfinite(got)
            np.testing.assert_allclose(got[both], ref[both], rtol=1e-12, atol=1e-300)
            assert np.array_equal(np.isnan(got), np.isnan(ref))
            assert out[k + "_phi1"][L, i, j] == pytest.approx(float(s.trace), rel=1e-15)


def test_grid_structural_zeros_exact():
    out = sphere_eigenvalues_grid("erf", 9, 3, [1.0, 2.0], [0.0, 1.0], ("ck",), max_degree=6)
    assert np.all(out["ck"][:, :, 0, 0::2] == 0)  # odd kernel at σ_b² = 0: even degrees vanish
    assert np.all(out["ck"][1:, :, 1, 0::2] > 0)  # with bias (depth ≥ 1; depth 0 is linear)
    assert np.all(out["ck"][0, :, :, 2:] == 0)  # the linear kernel has degrees 0 and 1 only
