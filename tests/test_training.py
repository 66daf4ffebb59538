"""Finite-width MLP (spectra.training): hand-written gradients and tangent kernel against
finite differences and against the analytic NTK; gradient descent against the exact linear
dynamics of the depth-0 model."""
import numpy as np
import pytest

from reference import kernel_ref3
from spectra import Architecture
from spectra.activations import Activation
from spectra.training import (MLPParams, empirical_ntk, forward, gradients, init_params, loss_value,
                              train)


def _points(n, d, seed):
    return np.random.default_rng(seed).standard_normal((n, d))


def _loss_fd(params, net, X, y, loss):
    """Central finite differences of the loss, written from the formula (not from the library's loss)."""
    theta = params.flat()
    out = np.empty_like(theta)
    c = 1.0 / len(y) if loss == "mean" else 1.0
    eps = 1e-6

    def L(th):
        r = forward(params.from_flat(th), net, X).output - y
        return 0.5 * c * np.sum(r * r)

    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = eps
        out[i] = (L(theta + e) - L(theta - e)) / (2 * eps)
    return out


@pytest.mark.parametrize("act,depth", [("erf", 2), ("tanh", 3), ("relu", 2), ("gelu", 1), ("relu", 0)])
@pytest.mark.parametrize("loss", ["mean", "sum"])
def test_gradients_match_finite_differences(act, depth, loss):
    net = Architecture(act, depth, 1.7, 0.3)
    X = _points(5, 3, 1)
    y = np.random.default_rng(2).standard_normal(5)
    p = init_params(net, 3, 6, seed=3)
    value, grad = gradients(p, net, X, y, loss=loss)
    fd = _loss_fd(p, net, X, y, loss)
    assert value == pytest.approx(loss_value(forward(p, net, X).output, y, loss))
    np.testing.assert_allclose(grad.flat(), fd, rtol=1e-6, atol=1e-7 * np.abs(fd).max())


def _forward_formula(p, net, X):
    """The network of CONVENTIONS §1 written out once more, for the Jacobian test."""
    sw, sb = np.sqrt(float(net.weight_var)), np.sqrt(float(net.bias_var))
    A = X
    for l, (W, b) in enumerate(zip(p.weights, p.biases)):
        H = sw * A @ W.T / np.sqrt(W.shape[1]) + sb * b
        A = net.activation.fn(H) if l < net.depth else H
    return A[:, 0]


@pytest.mark.parametrize("act,depth", [("erf", 2), ("relu", 3), ("tanh", 1), ("identity", 0)])
def test_empirical_ntk_equals_jacobian_product(act, depth):
    """Θ = J Jᵀ with J the per-parameter Jacobian by central differences, at tiny width."""
    net = Architecture(act, depth, 2.0, 0.5)
    X = _points(4, 3, 5)
    Y = _points(3, 3, 6)
    p = init_params(net, 3, 5, seed=7)
    theta = p.flat()
    eps = 1e-6

    def jac(Z):
        J = np.empty((Z.shape[0], theta.size))
        for i in range(theta.size):
            e = np.zeros_like(theta)
            e[i] = eps
            J[:, i] = (_forward_formula(p.from_flat(theta + e), net, Z)
                       - _forward_formula(p.from_flat(theta - e), net, Z)) / (2 * eps)
        return J

    Jx, Jy = jac(X), jac(Y)
    K = empirical_ntk(p, net, X)
    np.testing.assert_allclose(K, Jx @ Jx.T, rtol=1e-6, atol=1e-8 * np.abs(K).max())
    np.testing.assert_allclose(K, K.T, rtol=1e-12)
    np.testing.assert_allclose(empirical_ntk(p, net, X, Y), Jx @ Jy.T, rtol=1e-6, atol=1e-8 * np.abs(K).max())


@pytest.mark.parametrize("act,depth", [("relu", 1), ("erf", 2), ("relu", 3)])
def test_empirical_ntk_converges_to_analytic(act, depth):
    """At width 4096 the tangent kernel at init is the analytic NTK up to O(√(L/width))."""
    net = Architecture(act, depth, 2.0, 0.1)
    d = 6
    X = _points(8, d, 11)
    q = np.sum(X * X, axis=1) / d
    K_ref = kernel_ref3(act, X @ X.T / d, q[:, None], q[None, :], depth, 2.0, 0.1, "ntk")
    K = np.mean([empirical_ntk(init_params(net, d, 4096, seed=s), net, X) for s in range(2)], axis=0)
    err = np.abs(K - K_ref).max() / np.abs(K_ref).max()
    assert err < 0.06 * np.sqrt(depth), err
    # and a narrow network is visibly random
    K1 = empirical_ntk(init_params(net, d, 4, seed=0), net, X)
    assert np.abs(K1 - K_ref).max() / np.abs(K_ref).max() > 0.05


def test_depth0_is_linear_model_and_gd_is_exact_linear_recursion():
    """Depth 0: f = σ_w ⟨w, x⟩/√d + σ_b b, Θ = σ_w² ⟨x,y⟩/d + σ_b² exactly, and gradient descent is
    u_{t+1} = (I − η c Θ) u_t."""
    net = Architecture("relu", 0, 3.0, 0.5)
    d, n = 5, 7
    X = _points(n, d, 0)
    y = np.random.default_rng(1).standard_normal(n)
    p = init_params(net, d, 100, seed=2)
    assert p.widths == (d, 1)
    f = np.sqrt(3.0) * X @ p.weights[0][0] / np.sqrt(d) + np.sqrt(0.5) * p.biases[0][0]
    np.testing.assert_allclose(forward(p, net, X).output, f, rtol=1e-13)
    Theta = 3.0 * X @ X.T / d + 0.5
    np.testing.assert_allclose(empirical_ntk(p, net, X), Theta, rtol=1e-12)
    for loss, c in [("mean", 1.0 / n), ("sum", 1.0)]:
        eta = 0.7 / (c * np.linalg.eigvalsh(Theta)[-1])
        u = f - y
        expected = []
        for _ in range(21):
            expected.append(0.5 * c * u @ u)
            u = u - eta * c * Theta @ u
        res = train(p, net, X, y, eta, 20, loss=loss)
        np.testing.assert_allclose(res.losses, expected, rtol=1e-10)
        assert res.stopped == "completed" and res.steps_taken == 20
        assert np.all(np.diff(res.losses) <= 0)


def test_train_does_not_modify_input_and_stops():
    net = Architecture("erf", 2, 2, 0.1)
    X = _points(6, 4, 3)
    y = np.sign(_points(6, 1, 4)[:, 0])
    p = init_params(net, 4, 32, seed=0)
    before = p.flat().copy()
    res = train(p, net, X, y, 0.3, 30)
    np.testing.assert_array_equal(p.flat(), before)
    assert res.losses[-1] < res.losses[0]
    # the last loss is the loss of the returned parameters
    assert res.losses[-1] == pytest.approx(loss_value(forward(res.params, net, X).output, y))
    # a huge learning rate: stops at the first non-finite loss
    big = train(init_params(Architecture("relu", 2, 2, 0.1), 4, 32, seed=0), Architecture("relu", 2, 2, 0.1),
                X, y, 1e6, 500)
    assert big.stopped == "nonfinite" and not np.isfinite(big.losses[-1]) and big.steps_taken < 500
    # the callback stops it
    seen = []
    cb = train(p, net, X, y, 0.3, 30, callback=lambda t, v: seen.append(t) or t == 4)
    assert cb.stopped == "callback" and cb.steps_taken == 4 and seen == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(cb.losses, res.losses[:5], rtol=1e-14)


def test_params_layout():
    net = Architecture("relu", 3, 2, 0.1)
    p = init_params(net, 4, 9, seed=0)
    assert p.widths == (4, 9, 9, 9, 1) and p.depth == 3
    assert p.size == 4 * 9 + 9 + 2 * (81 + 9) + 9 + 1
    q = p.from_flat(p.flat())
    assert all(np.array_equal(a, b) for a, b in zip(p.weights + p.biases, q.weights + q.biases))
    # seeded
    np.testing.assert_array_equal(init_params(net, 4, 9, seed=5).flat(), init_params(net, 4, 9, seed=5).flat())
    # all entries N(0, 1)
    big = init_params(net, 50, 400, seed=1).flat()
    assert abs(big.mean()) < 0.01 and abs(big.std() - 1) < 0.01


def test_bad_inputs():
    net = Architecture("relu", 1, 2, 0.1)
    with pytest.raises(ValueError, match="width must be an integer >= 1; got 0"):
        init_params(net, 3, 0)
    with pytest.raises(ValueError, match="dim must be an integer >= 1; got 0"):
        init_params(net, 0, 4)
    with pytest.raises(TypeError, match="width must be an integer"):
        init_params(net, 3, 4.0)
    p = init_params(net, 3, 4, seed=0)
    X = _points(5, 3, 0)
    y = np.zeros(5)
    with pytest.raises(ValueError, match="X must be a 2-D array of shape"):
        forward(p, net, _points(5, 4, 0))
    with pytest.raises(ValueError, match="y must have shape"):
        gradients(p, net, X, np.zeros(4))
    with pytest.raises(ValueError, match="loss must be one of mean, sum; got 'median'"):
        gradients(p, net, X, y, loss="median")
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        train(p, net, X, y, -1.0, 3)
    with pytest.raises(ValueError, match="steps must be an integer >= 0; got -1"):
        train(p, net, X, y, 0.1, -1)
    with pytest.raises(ValueError, match="params has depth 1 but spec has depth 2"):
        forward(p, net.replace(depth=2), X)
    bare = Activation(name="bare", dual=lambda c, q1, q2, ops: c, ddual=lambda c, q1, q2, ops: 1.0)
    with pytest.raises(ValueError, match="activation 'bare' has no numpy function"):
        init_params(Architecture(bare, 1, 2, 0), 3, 4)
    with pytest.raises(TypeError, match="params must be MLPParams"):
        forward({"W": 1}, net, X)
    assert isinstance(p, MLPParams)
