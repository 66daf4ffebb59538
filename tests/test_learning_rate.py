"""Maximal learning rate (spectra.learning_rate): the prediction against independent spectra
(full-cube Gram matrices, Walsh–Hadamard transforms, CONVENTIONS §4), the finite-sample
prediction against Gram matrices of the reference kernel, and the measured thresholds against
the exact threshold of the linear model."""
import json
import math

import numpy as np
import pytest

from reference import cube_walsh_eigs, gram_cube_eigs, kernel_ref, kernel_ref3
from spectra import Architecture
from spectra.domains import sample
from spectra.learning_rate import (empirical_learning_rate, finite_sample_convergence, finite_sample_learning_rate,
                                   learning_rate_thresholds, max_learning_rate, operator_top_eigenvalue)


@pytest.mark.parametrize("act,depth,wv,bv", [("relu", 2, 2, 2), ("erf", 3, 2, 0), ("relu", 1, 2, 0.1),
                                             ("erf", 1, 4, 0.2), ("identity", 0, 2, 0), ("x3", 2, 1, 0)])
def test_cube_prediction_is_2_over_top_of_full_gram(act, depth, wv, bv):
    """μ_max = the largest eigenvalue of the Gram matrix over all 2^d points / 2^d."""
    d = 6
    net = Architecture(act, depth, wv, bv)
    lam = gram_cube_eigs(lambda t: kernel_ref(act, t, depth, wv, bv, "ntk"), d)[0]
    r = max_learning_rate(net, "cube", d)
    assert r.certified and r.loss == "mean"
    assert r.top_eigenvalue == pytest.approx(lam, rel=1e-10)
    assert r.max_learning_rate == pytest.approx(2 / lam, rel=1e-10)


@pytest.mark.parametrize("act,depth,wv,bv", [("erf", 2, 2, 0), ("relu", 4, 2, 0.3), ("erf", 8, 3, 0.05)])
def test_cube_prediction_walsh_hadamard(act, depth, wv, bv):
    """d = 14: every μ_k from a fast Walsh–Hadamard transform of y ↦ K(y, 1); max over all degrees."""
    d = 14
    coeffs, deg = cube_walsh_eigs(lambda t: kernel_ref(act, t, depth, wv, bv, "ntk"), d)
    i = int(np.argmax(coeffs))
    top = operator_top_eigenvalue(Architecture(act, depth, wv, bv), "cube", d)
    assert top.value == pytest.approx(coeffs[i], rel=1e-9) and top.degree == deg[i]


def test_published_reference_values():
    """CONVENTIONS §4, d = 128, depth 2, σ_w² = 2, σ_b² = 0: relu NTK μ₀ = 1.381078; erf NTK has
    μ₀ = 0 and μ₁ = 1.822389e-2 the largest."""
    r = max_learning_rate(Architecture("relu", 2, 2, 0), "cube", 128)
    assert r.max_learning_rate == pytest.approx(2 / 1.381078, rel=1e-6) and r.top_degree == 0
    e = max_learning_rate(Architecture("erf", 2, 2, 0), "cube", 128)
    assert e.max_learning_rate == pytest.approx(2 / 1.822389e-2, rel=1e-6) and e.top_degree == 1
    # the sum loss: η* = 2/(n μ_max)
    s = max_learning_rate(Architecture("relu", 2, 2, 0), "cube", 128, loss="sum", samples=500)
    assert s.max_learning_rate == pytest.approx(2 / (500 * 1.381078), rel=1e-6)
    assert json.loads(json.dumps(s.as_dict()))["loss"] == "sum"


def test_sphere_and_gaussian_top_eigenvalue_against_large_n_gram():
    """Sphere and gaussian μ_max against λ_max(K/n) of the reference kernel on 300 sampled points
    (Monte Carlo: the top eigenvalue of the Gram matrix over n converges at rate ~ 1/√n; about 1%
    here)."""
    net = Architecture("relu", 2, 2, 0.5)
    for domain in ("sphere", "gaussian"):
        X = sample(domain, 5, 300, seed=3)
        q = np.sum(X * X, axis=1) / 5
        K = kernel_ref3("relu", X @ X.T / 5, q[:, None], q[None, :], 2, 2, 0.5, "ntk")
        lam = np.linalg.eigvalsh(K / len(X))[-1]
        top = operator_top_eigenvalue(net, domain, 5)
        assert top.certified and top.degree == 0
        assert top.radial_index == (0 if domain == "gaussian" else None)
        assert top.value == pytest.approx(lam, rel=0.03), domain


def test_finite_sample_prediction_matches_reference_gram():
    net = Architecture("erf", 2, 2, 0.1)
    d, n = 8, 40
    r = finite_sample_learning_rate(net, "sphere", d, n, draws=4, seed=9)
    rng = np.random.default_rng(9)  # the documented draw order: one generator, draws in turn
    lams = []
    for _ in range(4):
        X = sample("sphere", d, n, rng)
        K = kernel_ref("erf", np.clip(X @ X.T / d, -1, 1), 2, 2, 0.1, "ntk")
        lams.append(np.linalg.eigvalsh(K / n)[-1])
    np.testing.assert_allclose(r.top_eigenvalues, lams, rtol=1e-9)
    assert r.top_eigenvalue == pytest.approx(np.mean(lams), rel=1e-9)
    assert r.top_eigenvalue_std == pytest.approx(np.std(lams, ddof=1), rel=1e-6)
    assert r.max_learning_rate == pytest.approx(2 / np.mean(lams), rel=1e-9)
    np.testing.assert_allclose(r.max_learning_rates, 2 / np.array(lams), rtol=1e-9)
    assert r.max_learning_rate_min == pytest.approx(2 / max(lams)) and r.max_learning_rate_max == pytest.approx(
        2 / min(lams))
    s = finite_sample_learning_rate(net, "sphere", d, n, draws=4, seed=9, loss="sum")
    assert s.max_learning_rate == pytest.approx(2 / (n * np.mean(lams)), rel=1e-9)
    d1 = finite_sample_learning_rate(net, "cube", d, n, draws=1, seed=0).as_dict()
    assert d1["top_eigenvalue_std"] == 0.0 and {"max_learning_rate", "top_eigenvalue", "loss"} <= set(d1)
    X = sample("cube", d, n, np.random.default_rng(0))
    K = kernel_ref("erf", X @ X.T / d, 2, 2, 0.1, "ntk")
    assert d1["top_eigenvalue"] == pytest.approx(np.linalg.eigvalsh(K / n)[-1], rel=1e-9)


def test_finite_sample_approaches_operator():
    net = Architecture("relu", 2, 2, 0.1)
    c = finite_sample_convergence(net, "cube", 10, samples=[8, 64, 256], draws=3, seed=1)
    top = operator_top_eigenvalue(net, "cube", 10).value
    assert c.top_eigenvalue == pytest.approx(top) and c.max_learning_rate == pytest.approx(2 / top)
    gaps = [abs(row["ratio_mean"] - 1) for row in c.rows]
    assert gaps[2] < gaps[0] and gaps[2] < 0.05
    for row in c.rows:
        assert row["learning_rate_ratio"] == pytest.approx(1 / row["ratio_mean"])
        assert row["max_learning_rate"] == pytest.approx(2 / row["top_eigenvalue_mean"])
    json.dumps(c.as_dict())


def _exact_linear_threshold(X, wv, bv, c):
    d = X.shape[1]
    Theta = wv * X @ X.T / d + bv
    return 2 / (c * np.linalg.eigvalsh(Theta)[-1])


@pytest.mark.parametrize("loss", ["mean", "sum"])
def test_linear_model_thresholds_are_exact(loss):
    """Depth 0: the dynamics are exactly linear with Θ = σ_w² XXᵀ/d + σ_b², so both thresholds
    are 2/(c λ_max(Θ)); the search must bracket it to within the bisection tolerance and the
    detection resolution of T steps (never calling a learning rate below it unstable)."""
    wv, bv = 2.0, 0.5
    X = np.random.default_rng(4).standard_normal((16, 8))
    n = len(X)
    eta = _exact_linear_threshold(X, wv, bv, 1 / n if loss == "mean" else 1.0)
    r = learning_rate_thresholds(Architecture("relu", 0, wv, bv), X, width=1, seed=0, steps=3000,
                                 rtol=1e-3, loss=loss)
    assert r.max_learning_rate == pytest.approx(eta, rel=1e-12)
    assert r.empirical_ntk_learning_rate == pytest.approx(eta, rel=1e-10)
    for lo, hi in (r.instability_bracket, r.divergence_bracket):
        assert hi >= eta and hi / lo <= 1 + 1e-3 + 1e-12
        assert lo <= eta * (1 + 2e-3)
    assert r.instability_resolution < 2e-3
    assert r.instability_ratio == pytest.approx(1, abs=2.5e-3)
    assert r.divergence_ratio == pytest.approx(1, abs=2.5e-3)


def test_finite_width_thresholds_small_case():
    """A small, fast finite-width case: (a) is near both predictions; (b) lies above (a)
    (the catapult range) and below the search limit."""
    events = []
    r = empirical_learning_rate(Architecture("relu", 1, 2, 0.1), "cube", dim=8, samples=16, width=1024, seed=1,
                                steps=200, rtol=0.02, divergence_rtol=0.1, progress=events.append)
    assert 0.9 < r.instability_ratio < 1.1
    assert 0.95 < r.instability_ratio_empirical_ntk < 1.05
    lo_a, hi_a = r.instability_bracket
    lo_b, hi_b = r.divergence_bracket
    assert hi_a / lo_a <= 1.02 + 1e-12 and hi_b / lo_b <= 1.1 + 1e-12
    assert lo_a < hi_a <= hi_b and r.divergence_ratio > 1.2
    assert r.empirical_instability_learning_rate == pytest.approx(math.sqrt(lo_a * hi_a))
    assert r.evaluations == len(events) and {e["stage"] for e in events} == {"instability", "divergence"}
    for e in events:  # the recorded outcomes are consistent with the brackets
        if e["stage"] == "instability":
            assert e["result"] == (e["learning_rate"] >= hi_a)
        else:
            assert e["result"] == (e["learning_rate"] >= hi_b)
    d = json.loads(json.dumps(r.as_dict()))
    for key in ("max_learning_rate", "top_eigenvalue", "loss", "empirical_instability_learning_rate",
                "empirical_divergence_learning_rate", "instability_ratio", "divergence_ratio",
                "empirical_ntk_learning_rate", "instability_criterion", "divergence_criterion"):
        assert key in d
    assert d["targets"] == "sign" and d["width"] == 1024 and d["spec"]["activation"] == "relu"


def test_bad_inputs_name_the_parameter():
    net = Architecture("relu", 2, 2, 0.1)
    with pytest.raises(ValueError, match="samples .* is required for loss='sum'"):
        max_learning_rate(net, "cube", 16, loss="sum")
    with pytest.raises(ValueError, match="loss must be one of mean, sum; got 'l1'"):
        max_learning_rate(net, "cube", 16, loss="l1")
    with pytest.raises(ValueError, match="domain must be one of cube, sphere, gaussian; got 'torus'"):
        max_learning_rate(net, "torus", 16)
    with pytest.raises(ValueError, match="dim must be an integer >= 2; got 1"):
        max_learning_rate(net, "sphere", 1)
    with pytest.raises(ValueError, match="kernel must be one of ck, ntk"):
        max_learning_rate(net, "cube", 16, kernel="nngp2")
    with pytest.raises(ValueError, match="NTK of activation 'step' is not defined"):
        max_learning_rate(Architecture("step", 2, 2, 0.1), "cube", 16)
    with pytest.raises(ValueError, match="samples must be an integer >= 1; got 0"):
        finite_sample_learning_rate(net, "cube", 8, 0)
    with pytest.raises(ValueError, match="draws must be an integer >= 1; got 0"):
        finite_sample_learning_rate(net, "cube", 8, 10, draws=0)
    with pytest.raises(ValueError, match="width must be an integer >= 1; got 0"):
        empirical_learning_rate(net, "cube", 8, 10, width=0)
    with pytest.raises(ValueError, match="rtol must be a finite number in"):
        empirical_learning_rate(net, "cube", 8, 10, width=8, rtol=2)
    with pytest.raises(ValueError, match="rtol must be a finite number > 0"):
        empirical_learning_rate(net, "cube", 8, 10, width=8, rtol=0)
    with pytest.raises(ValueError, match="blowup must be a finite number > 1"):
        empirical_learning_rate(net, "cube", 8, 10, width=8, blowup=1)
    with pytest.raises(ValueError, match="targets must be one of sign, zero"):
        empirical_learning_rate(net, "cube", 8, 10, width=8, targets="ones")
    with pytest.raises(ValueError, match="steps must be an integer >= 1; got 0"):
        empirical_learning_rate(net, "cube", 8, 10, width=8, steps=0)
    with pytest.raises(TypeError, match="seed must be an integer"):
        empirical_learning_rate(net, "cube", 8, 10, width=8, seed=1.5)
    with pytest.raises(ValueError, match="samples must be an integer >= 1; got 0"):
        finite_sample_convergence(net, "cube", 8, samples=[4, 0])
