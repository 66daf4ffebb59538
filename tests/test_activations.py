"""The activations' cancellation-free dual differences (the float64 gap form) against the
difference of the independent reference duals evaluated at 60 digits."""
import mpmath
import numpy as np
import pytest

import reference as ref
from spectra.activations import asin_diff, get_activation

RHOS = [1.0, 1 - 1e-12, 1 - 1e-6, 0.6, 0.0, -0.4, -0.7, -1 + 1e-9, -1.0]


@pytest.mark.parametrize("name", ref.ACTIVATIONS)
@pytest.mark.parametrize("q", [0.7, 3.0])
def test_gaps_against_reference(name, q):
    act = get_activation(name)
    ctx = mpmath.MPContext()
    ctx.dps = 60
    Q = ctx.mpf(q)
    for ra in RHOS:
        for rb in RHOS:
            # consistent float inputs: a and δ as floats, γ = q − a exactly as the recursion carries it
            a = q * ra
            delta = a - q * rb
            gamma = float(Q - ctx.mpf(a))
            A, B = ctx.mpf(a), ctx.mpf(a) - ctx.mpf(delta)
            if abs(B) > Q:
                continue
            g, gd = act.gaps(np.array(a), np.array(delta), np.array(q), np.array(gamma))
            want = ref.dual_closed(name, A, Q, Q, ctx) - ref.dual_closed(name, B, Q, Q, ctx)
            want_d = ref.ddual_closed(name, A, Q, Q, ctx) - ref.ddual_closed(name, B, Q, Q, ctx)
            scale = ref.dual_closed(name, Q, Q, Q, ctx)
            scale_d = ref.ddual_closed(name, Q, Q, Q, ctx)
            # relative to the difference itself, up to the cancellation the activation admits:
            # 1e-12 of |Δ| + 1e-13 of the scale (x^n with a ≈ −b cancels in Σ a^i b^(k−1−i))
            tol = 1e-12 * abs(want) + (1e-13 if act.poly_degree else 1e-16) * abs(scale)
            tol_d = 1e-12 * abs(want_d) + (1e-13 if act.poly_degree else 1e-16) * abs(scale_d)
            if name == "relu" and min(1 - abs(ra), 1 - abs(rb)) < 1e-5:
                # V' = (π − arccos ρ)/(2π) has square-root singularities at ρ = ±1: a rounding u of
                # the inputs moves it by ~√u there (intrinsic; the cube pins t = ±1, where ρ = ±1 exactly)
                tol_d = 1e-7 * abs(want_d) + 1e-16
            assert abs(g - want) <= tol, (ra, rb, float(g), float(want))
            assert abs(gd - want_d) <= tol_d, (ra, rb, float(gd), float(want_d))


def test_asin_diff_half_angle():
    ctx = mpmath.MPContext()
    ctx.dps = 40
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 200)
    y = rng.uniform(-1, 1, 200)
    x[:5], y[:5] = [1, -1, 0.5, 1 - 1e-15, 0.3], [-1, 1, 0.5, 1 - 2e-15, 0.3 - 1e-13]
    got = asin_diff(x, y, x - y)
    for xi, yi, g in zip(x, y, got):
        want = ctx.asin(xi) - ctx.asin(yi)
        assert abs(g - want) <= 4e-16 * max(abs(want), 1e-300) + 1e-300 or abs(g - want) < 1e-15


@pytest.mark.parametrize("layout", ["all series", "few arctan", "many arctan"])
def test_erf_scaled_arctan_paths(layout):
    """c · arctan(g) on whole arrays, as the sweep calls it (per-column c, the series below 2⁻⁹,
    np.arctan gathered for a few entries or applied to all): within 3 units of 2⁻⁵³ of 40 digits."""
    from spectra.activations import _scaled_arctan

    ctx = mpmath.MPContext()
    ctx.dps = 40
    rng = np.random.default_rng(1)
    small = 10 ** rng.uniform(-14, np.log10(2.0**-9), (40, 7))
    big = 10 ** rng.uniform(np.log10(2.0**-9), 0.5, (40, 7))
    frac = {"all series": 0.0, "few arctan": 0.1, "many arctan": 0.8}[layout]
    g = np.where(rng.random((40, 7)) < frac, big, small) * rng.choice([-1, 1], (40, 7))
    g[0, :3] = [2.0**-9, np.nextafter(2.0**-9, 0), -(2.0**-9)]  # both sides of the switch
    c = rng.uniform(0.5, 3, (1, 7))
    got = _scaled_arctan(g.copy(), c)
    for (i, j), v in np.ndenumerate(got):
        want = ctx.mpf(float(c[0, j])) * ctx.atan(ctx.mpf(float(g[i, j])))
        assert abs(v - want) <= 3 * 2.0**-53 * abs(want), (i, j, g[i, j])


@pytest.mark.parametrize("rows", [138, 129])
def test_erf_gaps_sweep_layout(rows):
    """erf's gaps on a (points, columns) array with per-column a, q and scale, as the sweep calls
    them (the arctan series and np.arctan mixed, the scale applied last): every sampled entry
    against the difference of the reference duals at 60 digits."""
    act = get_activation("erf")
    ctx = mpmath.MPContext()
    ctx.dps = 60
    rng = np.random.default_rng(rows)
    C = 37
    q = rng.uniform(0.5, 6, (1, C))
    a = q * rng.uniform(-0.9, 0.9, (1, C))
    scale = rng.uniform(1, 5, (1, C))
    # δ = a − b with b spread over (−q, q], tiny gaps included (the series path of arctan)
    b = np.where(rng.random((rows, C)) < 0.5, a - q * 10 ** rng.uniform(-12, -3, (rows, C)),
                 q * rng.uniform(-1, 1, (rows, C)))
    delta = a - b
    g, gd = act.gaps(a, delta, q, None, scale)
    assert g.shape == gd.shape == (rows, C)
    for i, j in zip(rng.integers(0, rows, 60), rng.integers(0, C, 60)):
        A, Q, S = ctx.mpf(float(a[0, j])), ctx.mpf(float(q[0, j])), ctx.mpf(float(scale[0, j]))
        B = A - ctx.mpf(float(delta[i, j]))
        want = S * (ref.dual_closed("erf", A, Q, Q, ctx) - ref.dual_closed("erf", B, Q, Q, ctx))
        want_d = S * (ref.ddual_closed("erf", A, Q, Q, ctx) - ref.ddual_closed("erf", B, Q, Q, ctx))
        assert abs(g[i, j] - want) <= 1e-12 * abs(want), (i, j)
        assert abs(gd[i, j] - want_d) <= 1e-12 * abs(want_d) + 1e-16 * S, (i, j)
