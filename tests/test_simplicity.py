"""spectra.simplicity: the weak spectral simplicity bias against brute-force Walsh–Hadamard
spectra, and the random-network simplicity-bias experiment (Valle-Pérez et al. 2019; Yang &
Salman 2019, arXiv:1907.10599) against direct network evaluation and the analytic CK Gram."""
import math
from collections import Counter
from types import SimpleNamespace

import mpmath
import numpy as np
import pytest
from scipy.linalg import hadamard

from spectra import Architecture, cube_eigenvalues, sphere_eigenvalues
from spectra.domains import gram
from spectra.simplicity import (
    cube_points,
    decode_function,
    gp_outputs,
    network_outputs,
    simplicity_bias_experiment,
    weak_simplicity_bias,
)

RELU = Architecture("relu", 2, 2, 2)  # concentrates on the constants (CONVENTIONS §4)
ERF = Architecture("erf", 2, 2, 0)  # odd
ERF32 = Architecture("erf", 32, 4, 0)  # odd, flat odd spectrum: "white noise"


# ---------------------------------------------------------------------------------------
# independent references
# ---------------------------------------------------------------------------------------


def brute_cube_spectrum(spec, d, kernel):
    """μ_k by a Walsh–Hadamard transform of the kernel row K(1, ·) on all 2^d points.

    With x_i[j] = (−1)^{bit j of i}, χ_S(x_i) = (−1)^{popcount(S & i)} = H[S, i] (Sylvester
    Hadamard matrix), so μ_S = 2^{−d} Σ_i K(x_0, x_i) H[S, i]; all S with |S| = k must agree."""
    P = 2**d
    X = np.array([[(-1.0) ** ((i >> j) & 1) for j in range(d)] for i in range(P)])
    row = gram(spec, X, kernel, domain="cube")[0]
    mu_S = hadamard(P) @ row / P
    size = np.array([S.bit_count() for S in range(P)])
    mus = []
    for k in range(d + 1):
        vals = mu_S[size == k]
        assert np.ptp(vals) <= 1e-12 * row[0]
        mus.append(vals.mean())
    return np.array(mus), row[0]


def naive_network(spec, x, width, seed, i):
    """Network i of a run with ``seed``, written out point by point from the documented draws."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(i + 1)[i])
    sw, sb = math.sqrt(float(spec.weight_var)), math.sqrt(float(spec.bias_var))
    fan = [len(x)] + [width] * spec.depth + [1]
    params = []
    for l in range(spec.depth + 1):
        Wb = rng.standard_normal((fan[l + 1], fan[l] + 1))
        params.append((Wb[:, :-1], Wb[:, -1]))
    h = x
    for l, (W, b) in enumerate(params):
        a = h if l == 0 else spec.activation.fn(h)
        h = sw * W @ a / math.sqrt(fan[l]) + sb * b
    return float(h[0])


# ---------------------------------------------------------------------------------------
# weak spectral simplicity bias
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec,kernel", [
    (RELU, "ck"), (RELU, "ntk"), (ERF, "ck"), (ERF32, "ck"), (Architecture("relu", 1, 2, 0), "ck"),
    (Architecture("tanh", 3, 1.5, 0.3), "ntk"), (Architecture("gelu", 2, 2, 0.5), "ck"),
])
def test_weak_bias_against_walsh_hadamard(spec, kernel):
    d = 6
    mu, phi1 = brute_cube_spectrum(spec, d, kernel)
    # the brute-force spectrum as a plain object, with a round-off error bound
    brute = SimpleNamespace(values=mu, errors=np.full(d + 1, 1e-13 * phi1), degrees=np.arange(d + 1))
    chk_brute = weak_simplicity_bias(brute)
    s = cube_eigenvalues(spec, d, kernel, max_degree=d)
    np.testing.assert_allclose(s.values, mu, rtol=1e-9, atol=1e-12 * phi1)
    chk = weak_simplicity_bias(s)
    assert chk.holds and chk_brute.holds and chk.n_pairs == d - 1
    assert chk.pairs == tuple((k, k + 2) for k in range(d - 1))
    # every pair the brute-force spectrum separates clearly is decided, and the same way
    for k in range(d - 1):
        if mu[k] - mu[k + 2] > 1e-9 * phi1:
            assert (k, k + 2) not in [u["degrees"] for u in chk.undecided]
            assert (k, k + 2) not in [u["degrees"] for u in chk_brute.undecided]


def test_weak_bias_planted_violation_and_undecided():
    vals = np.array([1.0, 0.5, 0.2, 0.6, 0.1, 0.6001, 0.0, 0.0, np.nan, 1e-9])
    errs = np.array([1e-3] * 6 + [0.0, 0.0, 1e-3, 1e-3])
    s = SimpleNamespace(values=vals, errors=errs, degrees=np.arange(10))
    c = weak_simplicity_bias(s)
    assert not c.holds and not bool(c)
    assert [v["degrees"] for v in c.violations] == [(1, 3)]
    v = c.violations[0]
    assert v["values"] == (0.5, 0.6)
    assert v["excess"] == pytest.approx(0.1) and v["tolerance"] == pytest.approx(2e-3)
    und = {u["degrees"]: u["reason"] for u in c.undecided}
    # μ_5 − μ_3 = 1e-4 < 2e-3 and μ_9 − μ_7 = 1e-9 < 1e-3: within error; μ_8 = NaN: unresolved;
    # (4, 6), (5, 7) hold (0 ≤ μ_k with a zero-error zero)
    assert und == {(3, 5): "within error", (6, 8): "unresolved value", (7, 9): "within error"}
    assert (4, 6) not in und and (5, 7) not in und
    # tightening the errors turns (3, 5) into a violation
    c2 = weak_simplicity_bias(SimpleNamespace(values=vals, errors=errs * 1e-3, degrees=np.arange(10)))
    assert {v["degrees"] for v in c2.violations} == {(1, 3), (3, 5)}


def test_weak_bias_mpf_and_sparse_degrees():
    ctx = mpmath.MPContext()
    ctx.dps = 40
    a = ctx.mpf(1) / 3
    vals = [a, ctx.mpf("0.25"), a + ctx.mpf("1e-35"), ctx.mpf("0.1")]
    errs = [ctx.mpf("1e-38")] * 4
    c = weak_simplicity_bias(SimpleNamespace(values=vals, errors=errs, degrees=[0, 1, 2, 3]))
    # the 1e-35 excess is invisible in float64 but beyond the 2e-38 error bound
    assert [v["degrees"] for v in c.violations] == [(0, 2)]
    assert hasattr(c.violations[0]["excess"], "_mpf_")  # reported as mpf
    assert abs(float(c.violations[0]["excess"]) - 1e-35) < 1e-40  # vals[2] carries 1/3's rounding
    # degrees without a partner two up are skipped
    c = weak_simplicity_bias(SimpleNamespace(values=[1.0, 2.0, 0.5], errors=[0.0] * 3, degrees=[0, 3, 2]))
    assert c.pairs == ((0, 2),) and c.holds


@pytest.mark.parametrize("precision", [30, "auto"])
def test_weak_bias_high_precision(precision):
    c = weak_simplicity_bias(ERF32, dim=7, precision=precision)
    assert c.holds and c.decided and c.n_pairs == 6
    s = cube_eigenvalues(Architecture("erf", 3, 2, "1/10"), 64, "ntk", max_degree=24, precision=precision)
    c = weak_simplicity_bias(s)
    assert c.holds and c.decided


def test_weak_bias_exact():
    s = cube_eigenvalues(Architecture("x2", 2, 2, "1/2"), 6, "ntk", max_degree=6, precision="exact")
    c = weak_simplicity_bias(s)
    assert c.holds and c.decided and c.n_pairs == 5


def test_weak_bias_double_reports_unresolved_as_undecided():
    # high degrees at d = 128 are below double precision's error bound: flagged, not compared
    c = weak_simplicity_bias(Architecture("erf", 3, 2, 0), dim=128, max_degree=24)
    assert c.holds and not c.decided
    assert all(u["reason"] == "unresolved value" for u in c.undecided)


# ---------------------------------------------------------------------------------------
# the simplicity-bias experiment
# ---------------------------------------------------------------------------------------


def test_cube_points_and_decoding():
    X = cube_points(3)
    assert X.shape == (8, 3) and set(np.unique(X)) == {-1.0, 1.0}
    assert np.array_equal(X[::-1], -X)  # −x_i = x_{2^d − 1 − i}
    assert len({tuple(r) for r in X}) == 8
    t = decode_function(np.packbits([1, 0, 0, 1, 1, 1, 0, 0], bitorder="little"), 3)
    assert t.tolist() == [1, -1, -1, 1, 1, 1, -1, -1]
    assert decode_function(0b00111001, 3).tolist() == t.tolist()


def test_counts_reproducible_and_batch_independent():
    kw = {"spec": Architecture("relu", 2, 2, 2), "dim": 4, "n_samples": 300, "width": 16}
    a = simplicity_bias_experiment(**kw, seed=7)
    b = simplicity_bias_experiment(**kw, seed=7, batch_size=1, threads=2)
    c = simplicity_bias_experiment(**kw, seed=7, batch_size=37)
    for r in (b, c):
        assert np.array_equal(r.functions, a.functions) and np.array_equal(r.counts, a.counts)
    d = simplicity_bias_experiment(**kw, seed=8)
    assert not (np.array_equal(d.counts, a.counts) and np.array_equal(d.functions, a.functions))
    assert a.counts.sum() == 300 and np.all(np.diff(a.counts) <= 0) and a.seed == 7
    # seed=None is recorded and reproduces
    e = simplicity_bias_experiment(**kw)
    f = simplicity_bias_experiment(**kw, seed=e.seed)
    assert np.array_equal(e.functions, f.functions) and np.array_equal(e.counts, f.counts)
    # the first m networks of a longer run are those of a run of m
    o1 = network_outputs(kw["spec"], 4, 16, 10, seed=3, batch_size=4)
    o2 = network_outputs(kw["spec"], 4, 16, 25, seed=3, batch_size=9)
    np.testing.assert_array_equal(o1, o2[:10])


@pytest.mark.parametrize("spec,dim", [(Architecture("relu", 2, 2, 2), 4), (ERF, 5),
                                      (Architecture("tanh", 0, 1, 0.5), 3), (Architecture("relu", 3, 2, 0.1), 3)])
def test_keys_match_direct_evaluation(spec, dim):
    n, width, seed = 12, 8, 11
    r = simplicity_bias_experiment(spec, dim, n, width, seed=seed, batch_size=5)
    X = cube_points(dim)
    direct = Counter(tuple(1 if naive_network(spec, x, width, seed, i) > 0 else -1 for x in X) for i in range(n))
    got = Counter({tuple(r.truth_table(i).tolist()): int(c) for i, c in enumerate(r.counts)})
    assert got == direct
    assert r.keys[0] == int("".join("1" if v > 0 else "0" for v in r.truth_table(0))[::-1], 2)
    assert r.bitstring(0) == "".join("1" if v > 0 else "0" for v in r.truth_table(0))


def test_published_contrast_d7():
    """Yang & Salman Fig. 1 / companion notebooks, d = 7, at small N."""
    relu = simplicity_bias_experiment(RELU, 7, 600, width=64, seed=0)
    erf = simplicity_bias_experiment(ERF, 7, 600, width=64, seed=0)
    # relu: > 80% of the CK variance in degree 0, and the two constants are the top functions
    assert relu.spectrum.fractional_variance[0] == pytest.approx(0.838782, abs=1e-6)
    assert relu.p_constant > 0.2
    top2 = {tuple(relu.truth_table(i).tolist()) for i in (0, 1)}
    assert top2 == {(1,) * 128, (-1,) * 128}
    assert relu.n_distinct < 0.8 * relu.n_samples
    # erf with σ_b² = 0: odd, never constant
    assert erf.p_constant == 0.0 and erf.frac_odd == 1.0
    assert erf.spectrum.fractional_variance[0] == 0.0
    assert relu.entropy_bits < erf.entropy_bits <= math.log2(600) + 1e-12


def test_erf32_close_to_uniform_over_odd_functions():
    """erf, depth 32, σ_w² = 4, σ_b² = 0: normalised odd μ_k ≈ 1/64 (CONVENTIONS §4), i.e. sign(f)
    is nearly uniform on the 2^64 odd functions of d = 7. Quantitatively: (i) under the uniform
    law N samples repeat with probability ≈ N²/2^65 < 1e-13, so all must be distinct; (ii) the
    sign correlations E[f(x) f(y)], y ∉ {x, −x}, must be pure sampling noise, mean absolute
    value ≈ √(2/(πN)), whereas erf at depth 2 has strong correlations."""
    n = 400
    r = simplicity_bias_experiment(ERF32, 7, n, width=32, seed=2)
    odd = r.spectrum.normalized[1::2]
    np.testing.assert_allclose(odd, [0.01629, 0.01556, 0.01551, 0.01549], atol=1e-5)
    assert r.n_distinct == n and r.frac_odd == 1.0 and r.p_constant == 0.0
    assert r.collision_probability == 0.0
    assert r.entropy_bits == pytest.approx(math.log2(n))
    P = 128
    off = ~(np.eye(P, dtype=bool) | np.eye(P, dtype=bool)[::-1])
    C = r.sign_correlation()
    assert np.allclose(np.diag(C), 1) and np.allclose(C[np.arange(P), P - 1 - np.arange(P)], -1)
    noise = math.sqrt(2 / (math.pi * n))
    assert 0.7 * noise < np.abs(C[off]).mean() < 1.3 * noise
    shallow = simplicity_bias_experiment(ERF, 7, n, width=32, seed=2)
    assert np.abs(shallow.sign_correlation()[off]).mean() > 3 * noise
    # the infinite-width limit agrees
    g = simplicity_bias_experiment(ERF32, 7, 2000, width=math.inf, seed=2)
    assert g.n_distinct == 2000 and g.frac_odd == 1.0


def test_odd_network_gives_odd_functions():
    for spec in (Architecture("erf", 1, 1, 0), Architecture("tanh", 3, 2, 0), Architecture("erf", 4, 3, 0)):
        r = simplicity_bias_experiment(spec, 5, 300, width=24, seed=4)
        assert r.frac_odd == 1.0 and r.p_constant == 0.0 and r.frac_even == 0.0
        T = r.truth_tables()
        assert np.array_equal(T[:, ::-1], -T)
        f = network_outputs(spec, 5, 24, 20, seed=4)
        np.testing.assert_array_equal(f[:, ::-1], -f)  # exactly odd in floating point


def _mc_check(f, K, tol_sigma):
    n = f.shape[0]
    C = f.T @ f / n
    se = np.sqrt((np.outer(np.diag(K), np.diag(K)) + K**2) / n)
    z = np.abs(C - K) / se
    assert z.max() < tol_sigma, z.max()


@pytest.mark.parametrize("spec", [Architecture("relu", 1, 2, 0.5), Architecture("erf", 1, 3, 0),
                                  Architecture("tanh", 0, 1.5, 0.2)])
def test_network_covariance_matches_ck_depth_le_1(spec):
    """At depth ≤ 1, h¹ is exactly Gaussian with covariance Σ¹, so E[f(x)f(y)] is the CK at any
    width: Monte Carlo against the analytic Gram (about 5 standard errors over 136 entries)."""
    d, n = 4, 20000
    X = cube_points(d)
    f = network_outputs(spec, d, 8, n, seed=5, batch_size=2500)
    K = gram(spec, X, "ck", domain="cube")
    _mc_check(f, K, 5.5)


def test_network_covariance_matches_ck_depth_2():
    """At depth 2 the finite-width covariance is the CK up to O(1/width): loose relative check."""
    spec = Architecture("relu", 2, 2, 0.5)
    d, n = 3, 4000
    f = network_outputs(spec, d, 128, n, seed=6)
    K = gram(spec, cube_points(d), "ck", domain="cube")
    C = f.T @ f / n
    assert np.linalg.norm(C - K) / np.linalg.norm(K) < 0.07
    # the GP sampler has the same covariance
    g = gp_outputs(spec, d, 20000, seed=6)
    _mc_check(g, K, 5.5)


def test_bad_input():
    with pytest.raises(ValueError, match=r"dim must be an integer in 1\.\.10.*2\^dim"):
        simplicity_bias_experiment(RELU, 11, 10, 8)
    with pytest.raises(TypeError, match="dim must be an integer"):
        simplicity_bias_experiment(RELU, 7.0, 10, 8)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        simplicity_bias_experiment(RELU, 3, 0, 8)
    with pytest.raises(ValueError, match="width must be an integer >= 1"):
        simplicity_bias_experiment(RELU, 3, 10, 0)
    with pytest.raises(TypeError, match="width must be an integer >= 1 or math.inf"):
        simplicity_bias_experiment(RELU, 3, 10, 2.5)
    with pytest.raises(TypeError, match="width must be an integer"):
        simplicity_bias_experiment(RELU, 3, 10, None)
    with pytest.raises(ValueError, match="seed must be None or an integer >= 0"):
        simplicity_bias_experiment(RELU, 3, 10, 8, seed=-1)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        simplicity_bias_experiment(RELU, 3, 10, 8, batch_size=0)
    with pytest.raises(ValueError, match="dtype must be one of float64, float32"):
        simplicity_bias_experiment(RELU, 3, 10, 8, dtype="float16")
    with pytest.raises(TypeError, match="spec must be an Architecture"):
        simplicity_bias_experiment("relu", 3, 10, 8)
    with pytest.raises(TypeError, match="progress must be callable"):
        simplicity_bias_experiment(RELU, 3, 10, 8, progress=1)
    with pytest.raises(ValueError, match="key must be 1 packed bytes"):
        decode_function(np.zeros(2, np.uint8), 3)
    with pytest.raises(ValueError, match="key must be an integer in 0..2\\^8 - 1"):
        decode_function(256, 3)
    # the weak check
    s = cube_eigenvalues(RELU, 5, "ck")
    with pytest.raises(TypeError, match="apply only when an Architecture is given"):
        weak_simplicity_bias(s, dim=5)
    with pytest.raises(TypeError, match="dim is required"):
        weak_simplicity_bias(RELU)
    with pytest.raises(TypeError, match="must be a Spectrum or an Architecture"):
        weak_simplicity_bias([1.0, 0.5])
    with pytest.raises(ValueError, match="statement about the cube"):
        weak_simplicity_bias(sphere_eigenvalues(RELU, 5, "ck", max_degree=3))
    with pytest.raises(ValueError, match="same length"):
        weak_simplicity_bias(SimpleNamespace(values=[1.0], errors=[0.0, 0.0], degrees=[0]))


def test_progress_and_summaries():
    seen = []
    r = simplicity_bias_experiment(RELU, 3, 50, 8, seed=1, batch_size=20, progress=lambda a, b: seen.append((a, b)))
    assert seen == [(20, 50), (40, 50), (50, 50)]
    p = r.probabilities
    assert p.sum() == pytest.approx(1.0)
    H = -(p * np.log2(p)).sum()
    assert r.entropy_bits == pytest.approx(H)
    assert r.entropy_mm_bits == pytest.approx(H + (r.n_distinct - 1) / (2 * 50 * math.log(2)))
    T = r.truth_tables()
    const = (np.abs(T.sum(axis=1)) == 8)
    assert r.p_constant == pytest.approx(r.counts[const].sum() / 50)
    assert r.collision_probability == pytest.approx((r.counts * (r.counts - 1)).sum() / (50 * 49))
    assert len(r.spectrum.values) == 4 and r.spectrum.kernel == "ck"
