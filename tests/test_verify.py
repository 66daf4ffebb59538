"""spectra.verify / spectra.walsh / spectra.backend: the checks against data, under numpy and
array-api-strict (the strict array-API implementation stands in for CuPy on machines without a
GPU; the CuPy runs are skipped unless a GPU is present).

References are independent of the code under test: an explicit Hadamard matrix (Sylvester) and
exact rational arithmetic for the transforms; the theory (spectra.cube_eigenvalues at 25 digits,
sphere/gaussian eigenvalues) for the Walsh coefficients and the Gram clusters; the host Gram
matrices of spectra.domains for the backend Gram matrices; LAPACK for the subspace iteration;
a finite-difference Jacobian for the empirical NTK formula; and the per-unit Monte Carlo
standard error of a depth-1 network for the empirical-vs-analytic agreement.
"""
from __future__ import annotations

import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

import spectra
from spectra import Architecture
from spectra import backend as B
from spectra import verify as V
from spectra import walsh as W
from spectra.domains import gram as host_gram
from spectra.domains import sample

xs = pytest.importorskip("array_api_strict")


def _strict_backend():
    """array-api-strict on a non-default device when it has one: an array created without
    device= then fails to combine, as CPU and GPU arrays would."""
    names = [str(d) for d in xs.__array_namespace_info__().devices()]
    dev = xs.Device("device1") if any("device1" in n for n in names) else None
    return B.get_backend("array-api-strict", device=dev)


def _has_gpu():
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001
        return False


BACKENDS = ["numpy", "strict", pytest.param("cupy", marks=pytest.mark.skipif(not _has_gpu(), reason="no GPU"))]


def backend_of(name):
    return _strict_backend() if name == "strict" else B.get_backend(name)


def sylvester(D):
    H = np.array([[1.0]])
    for _ in range(D):
        H = np.block([[H, H], [H, -H]])
    return H


# ---------------------------------------------------------------------------------------
# the transform
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bk", BACKENDS)
@pytest.mark.parametrize("D", [1, 2, 5, 8])
def test_fwht_equals_hadamard_matrix(bk, D):
    be = backend_of(bk)
    x = np.random.default_rng(D).standard_normal(2**D)
    want = sylvester(D) @ x
    for block in (2, 4, 2**D, 4096):
        got = be.to_numpy(W.fwht(be.asarray(x.copy()), be, block=block))  # in place
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(x).sum())


@pytest.mark.parametrize("bk", BACKENDS)
def test_fwht_dd_is_exact_to_double_double(bk):
    be = backend_of(bk)
    D = 5
    rng = np.random.default_rng(3)
    hi = rng.standard_normal(2**D)
    lo = hi * 2.0**-60 * rng.standard_normal(2**D)
    exact = [sum(Fraction(int(s)) * (Fraction(h) + Fraction(l)) for s, h, l in zip(row, hi, lo))
             for row in sylvester(D)]
    gh, gl = W.fwht_dd(be.asarray(hi), be.asarray(lo), be, block=4)
    gh, gl = be.to_numpy(gh), be.to_numpy(gl)
    scale = float(sum(abs(Fraction(h)) for h in hi))
    for e, h, l in zip(exact, gh, gl):
        assert abs(Fraction(h) + Fraction(l) - e) <= Fraction(2.0**-100) * Fraction(scale)


# ---------------------------------------------------------------------------------------
# the Walsh check against the theory
# ---------------------------------------------------------------------------------------

NETS = [("relu", 2, 2, 1, "ntk"), ("erf", 3, 4, 0, "ck"), ("relu", 1, 2, 0, "ck"), ("gelu", 2, 2, "1/2", "ntk")]


@pytest.mark.parametrize("act,depth,wv,bv,kernel", NETS)
@pytest.mark.parametrize("D", [9, 16])
def test_walsh_coefficients_equal_theory_to_1e12(act, depth, wv, bv, kernel, D):
    spec = Architecture(act, depth, wv, bv)
    r = W.walsh_check(spec, D, kernel, precision="double-double")
    mu = spectra.cube_eigenvalues(spec, D, kernel, max_degree=D, precision=25)
    phi1 = float(spectra.kernel(spec, 1.0, kernel))
    assert r.passed
    for k in range(D + 1):
        m = float(mu.values[k])
        for got in (r.empirical_min[k], r.empirical_max[k]):
            if m == 0:
                assert abs(got) <= 1e-20 * phi1
            else:
                assert abs(got - m) <= 1e-12 * abs(m), (k, got, m)
    assert list(r.multiplicities) == [math.comb(D, k) for k in range(D + 1)]


def test_walsh_double_within_rounding():
    """float64 throughout: every coefficient within the transform's rounding, γ_D·Φ(1) (an
    independent bound), and to 1e-12 relative where μ_k is not tiny."""
    spec, D = Architecture("relu", 2, 2, 1), 14
    r = W.walsh_check(spec, D, "ck", precision="double")
    mu = spectra.cube_eigenvalues(spec, D, "ck", max_degree=D, precision=25).values
    phi1 = float(spectra.kernel(spec, 1.0, "ck"))
    for k in range(D + 1):
        m = float(mu[k])
        err = max(abs(r.empirical_min[k] - m), abs(r.empirical_max[k] - m))
        assert err <= 1e-12 * abs(m) + 4 * D * 2.0**-53 * phi1
        if abs(m) > 1e-3 * phi1:
            assert err <= 1e-12 * abs(m)
    assert r.passed


def test_walsh_strict_and_numpy_agree():
    spec = Architecture("erf", 2, 2, "1/4")
    a = W.walsh_check(spec, 11, "ntk", backend="numpy", block=64)
    b = W.walsh_check(spec, 11, "ntk", backend=_strict_backend(), block=64)
    np.testing.assert_array_equal(a.empirical_max, b.empirical_max)
    np.testing.assert_array_equal(a.max_abs_error, b.max_abs_error)


# ---------------------------------------------------------------------------------------
# Gram matrices
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bk", BACKENDS)
@pytest.mark.parametrize("domain", ["cube", "sphere", "gaussian"])
@pytest.mark.parametrize("act", ["relu", "erf", "gelu", "x2", "tanh"])
def test_gram_matrix_equals_host_gram(bk, domain, act):
    """tanh has no closed-form dual: its values come from the host library, block by block."""
    be = backend_of(bk)
    spec = Architecture(act, 2, 2, "1/2")
    X = sample(domain, 5, 8 if act == "tanh" else 30, seed=4)
    want = host_gram(spec, X, "ntk", domain=domain)
    got = be.to_numpy(V.gram_matrix(spec, be.asarray(X), "ntk", domain, be, block_rows=7))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13 * np.abs(want).max())


def test_xp_duals_used_where_closed_form():
    be = _strict_backend()
    for name in ("relu", "erf", "gelu", "x3", "sin", "gauss", "relu2", "leaky_relu"):
        assert B.xp_duals_ok(spectra.get_activation(name), be), name
    assert not B.xp_duals_ok(spectra.get_activation("tanh"), be)  # numeric duals: host path


@pytest.mark.parametrize("bk", ["numpy", "strict"])
def test_top_eigenvalues_equal_lapack(bk):
    be = backend_of(bk)
    n = 300
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.concatenate([[5.0], np.full(4, 1.0), 0.3 * 0.6 ** np.arange(n - 5)]) * (1 + 0.01 * rng.random(n))
    G = (U * lam) @ U.T
    want = np.sort(np.linalg.eigvalsh(G))[::-1]
    got, its, conv = V.top_eigenvalues(be.asarray(G), 12, be, tol=1e-10)
    assert conv and its > 1
    np.testing.assert_allclose(got, want[:12], rtol=1e-8)


@pytest.mark.parametrize("domain,dim,n,top", [("cube", 6, 900, "all"), ("sphere", 5, 1500, 60),
                                              ("gaussian", 3, 1500, 40)])
@pytest.mark.parametrize("kernel", ["ck", "ntk"])
def test_gram_clusters_match_theory(domain, dim, n, top, kernel):
    spec = Architecture("relu", 2, 2, 1)
    r = V.gram_check(spec, domain, dim, n, kernel, top=top, seed=11)
    assert r.converged
    if domain == "cube":
        mu = spectra.cube_eigenvalues(spec, dim, kernel, max_degree=dim).as_float()
    elif domain == "sphere":
        mu = spectra.sphere_eigenvalues(spec, dim, kernel, max_degree=4).as_float()
    else:
        g = spectra.gaussian_eigenvalues(spec, dim, kernel, max_degree=5, radial=4)
        mu = {f"{k},{j}": v for k, j, v in zip(g.degrees, g.extra["radial_index"], g.as_float())}
    checked = 0
    for c in r.clusters:
        th = mu[c["label"]] if domain == "gaussian" else mu[c["degree"]]
        # the Gaussian's Nyström eigenvalues move with the radial rule (within their error bounds)
        assert c["theory"] == pytest.approx(th, rel=1e-4 if domain == "gaussian" else 1e-12)
        if c["expected_deviation"] > 0.3 * th:
            continue  # a cluster n points cannot resolve
        checked += 1
        # a scale, not a bound; on the Gaussian its radial term is nominal: allow twice it past j = 0
        f = 2.0 if c["radial"] > 0 else 1.0
        assert abs(c["mean"] - th) <= f * c["expected_deviation"], c
        assert th - 1.5 * f * c["expected_deviation"] <= c["min"] <= c["max"] <= th + 1.5 * f * c["expected_deviation"], c
    assert checked >= 3


def test_gram_check_strict_equals_numpy():
    spec = Architecture("erf", 2, 2, "1/2")
    a = V.gram_check(spec, "sphere", 4, 300, "ntk", top=20, seed=2)
    b = V.gram_check(spec, "sphere", 4, 300, "ntk", top=20, seed=2, backend=_strict_backend())
    np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, rtol=1e-9)
    assert [c["label"] for c in a.clusters] == [c["label"] for c in b.clusters]


# ---------------------------------------------------------------------------------------
# finite-width networks
# ---------------------------------------------------------------------------------------


def _fd_jacobian(net, X, h=1e-6):
    params = net.weights + net.biases
    cols = []
    for p in params:
        flat = p.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + h
            up = np.asarray(V.network_output(net, X))
            flat[i] = old - h
            dn = np.asarray(V.network_output(net, X))
            flat[i] = old
            cols.append((up - dn) / (2 * h))
    return np.stack(cols, axis=1), [c.size for c in params]


@pytest.mark.parametrize("act,depth", [("erf", 2), ("tanh", 3), ("relu", 2), ("gelu", 1)])
def test_empirical_ntk_equals_jacobian_gram(act, depth):
    spec = Architecture(act, depth, 1.5, 0.3)
    net = V.init_network(spec, dim=3, width=4, seed=5)
    X = sample("gaussian", 3, 6, seed=6)
    J, sizes = _fd_jacobian(net, X)
    ck, ntk = V.empirical_kernels(net, X)
    np.testing.assert_allclose(ntk, J @ J.T, rtol=1e-6, atol=1e-8)
    # the CK is the last layer's part (W^{L+1}, b^{L+1}): the last weight matrix and the last bias
    nW = sum(sizes[:depth + 1])
    last = list(range(nW - sizes[depth], nW)) + [J.shape[1] - 1]
    Jl = J[:, last]
    np.testing.assert_allclose(ck, Jl @ Jl.T, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_depth1_empirical_kernels_within_monte_carlo_error(act):
    """At depth 1 both empirical kernels are means over the units of i.i.d. terms: the analytic
    kernel (host library) must lie within a few standard errors of them."""
    spec = Architecture(act, 1, 2, "1/2")
    d, n, width = 4, 10, 4000
    X = sample("sphere", d, n, seed=1)
    net = V.init_network(spec, d, width, seed=2)
    ck, ntk = (np.asarray(k) for k in V.empirical_kernels(net, X))
    W1, W2 = np.asarray(net.weights[0]), np.asarray(net.weights[1]).ravel()
    b1 = np.asarray(net.biases[0])
    sw, sb = math.sqrt(2), math.sqrt(0.5)
    act_ = spectra.get_activation(act)
    h = sw * X @ W1.T / math.sqrt(d) + sb * b1  # (n, width)
    f, df = act_.fn(h), act_.dfn(h)
    first = sw**2 * X @ X.T / d + sb**2
    ck_terms = sw**2 * f[:, None, :] * f[None, :, :]
    ntk_terms = ck_terms + sw**2 * W2**2 * df[:, None, :] * df[None, :, :] * first[:, :, None]
    for emp, terms, kern in ((ck, ck_terms, "ck"), (ntk, ntk_terms, "ntk")):
        np.testing.assert_allclose(emp, terms.mean(axis=2) + sb**2, rtol=1e-10)
        se = terms.std(axis=2, ddof=1) / math.sqrt(width)
        exact = host_gram(spec, X, kern, domain="sphere")
        assert np.all(np.abs(emp - exact) <= 5 * se + 1e-12), kern


def test_width_error_shrinks_like_inverse_sqrt():
    spec = Architecture("relu", 2, 2, "1/2")
    r = V.width_check(spec, [16, 64, 256, 1024], samples=24, domain="sphere", dim=5, seeds=3, seed=1)
    for err, slope in ((r.ck_error, r.ck_slope), (r.ntk_error, r.ntk_slope)):
        assert err[-1] < err[0] / 4
        assert -0.8 < slope < -0.3
    assert r.clusters and r.clusters[0]["label"] == "0"
    assert r.clusters[0]["theory"] == pytest.approx(
        float(spectra.sphere_eigenvalues(spec, 5, "ntk", max_degree=1).values[0]), rel=1e-12)


def test_width_check_same_networks_on_every_backend():
    spec = Architecture("erf", 2, 2, 0)
    a = V.width_check(spec, [8, 32], samples=10, dim=4, seeds=2, seed=3)
    b = V.width_check(spec, [8, 32], samples=10, dim=4, seeds=2, seed=3, backend=_strict_backend())
    np.testing.assert_allclose(a.ntk_error, b.ntk_error, rtol=1e-10)
    np.testing.assert_allclose(a.ck_error, b.ck_error, rtol=1e-10)


@pytest.mark.parametrize("bk", BACKENDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act", ["relu", "erf", "softplus"])
def test_training_same_on_every_backend(bk, dtype, act):
    """spectra.training (the one finite-width network of verify, dynamics and learning_rate)
    trains the same network on every back end and float type: gradient descent, its outputs and
    the empirical kernels against numpy float64 (round-off of the float type; softplus runs
    through the host fallback)."""
    from spectra.dynamics import measure_dynamics
    from spectra.training import empirical_kernels, forward, init_params, train

    spec = Architecture(act, 2, 2, 0.1)
    X = np.sign(np.random.default_rng(0).standard_normal((12, 5)))
    y = np.random.default_rng(1).standard_normal(12)
    be = backend_of(bk)
    tol = 1e-10 if dtype == "float64" else 3e-5
    p, p0 = init_params(spec, 5, 48, seed=2, backend=be, dtype=dtype), init_params(spec, 5, 48, seed=2)
    r, r0 = train(p, spec, X, y, 0.4, 30), train(p0, spec, X, y, 0.4, 30)
    assert r.stopped == "completed" and r.params.dtype == dtype
    np.testing.assert_allclose(r.losses, r0.losses, rtol=tol)
    np.testing.assert_allclose(be.to_numpy(forward(r.params, spec, X).output), forward(r0.params, spec, X).output,
                               rtol=tol, atol=tol)
    for k, k0 in zip(empirical_kernels(r.params, spec, X), empirical_kernels(r0.params, spec, X)):
        np.testing.assert_allclose(be.to_numpy(k), k0, rtol=tol, atol=tol * np.abs(k0).max())
    kw = {"spec": spec, "dim": 5, "target": {1: 1.0, 2: 0.5}, "width": 32, "samples": 12, "steps": 20, "records": 3}
    m, m0 = measure_dynamics(**kw, backend=be, dtype=dtype), measure_dynamics(**kw, dtype="float64")
    np.testing.assert_allclose(m.energy, m0.energy, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", ["relu", "erf", "gelu", "tanh", "x3", "sign", "softplus", "leaky_relu", "gauss",
                                  "abs"])
def test_backend_activations_equal_numpy(name):
    act = spectra.get_activation(name)
    x = np.linspace(-3, 3, 41) + 0.013
    for be in (B.get_backend("numpy"), _strict_backend()):
        f, df = B.xp_activation(act, be)
        np.testing.assert_allclose(be.to_numpy(f(be.asarray(x))), act.fn(x), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(be.to_numpy(df(be.asarray(x))), act.dfn(x), rtol=1e-13, atol=1e-15)


# ---------------------------------------------------------------------------------------
# memory refusals, backends, imports
# ---------------------------------------------------------------------------------------


def test_walsh_refuses_with_largest_dim():
    budget = 5 * 2**20
    with pytest.raises(B.MemoryRefusal, match=r"walsh at dim 24 .*the largest dim that fits is (\d+)") as e:
        W.walsh_check(Architecture("relu"), 24, max_memory=budget)
    d = int(e.value.args[0].split("the largest dim that fits is ")[1].split()[0])
    assert W.walsh_memory(d, "double-double") <= budget < W.walsh_memory(d + 1, "double-double")
    assert isinstance(e.value, MemoryError) and isinstance(e.value, ValueError)


def test_gram_and_width_refuse_with_largest_size():
    with pytest.raises(B.MemoryRefusal, match=r"gram with 100000 samples needs about .* the largest number of "
                                              r"samples that fits is (\d+)") as e:
        V.gram_check(Architecture("relu"), "cube", 8, 100000, max_memory=10**9)
    n = int(e.value.args[0].rsplit(" ", 1)[1])
    assert 1000 < n < 100000
    with pytest.raises(B.MemoryRefusal, match=r"the largest width that fits is \d+"):
        V.width_check(Architecture("relu"), [10**5], samples=64, max_memory=10**8)


def test_bad_arguments():
    spec = Architecture("relu")
    with pytest.raises(ValueError, match=r"samples must be an integer >= 1; got 0"):
        V.gram_check(spec, "cube", 4, 0)
    with pytest.raises(ValueError, match=r"dim must be an integer in 1..40; got 41"):
        W.walsh_check(spec, 41)
    with pytest.raises(ValueError, match=r"backend must be one of numpy, cupy, array-api-strict; got 'torch'"):
        B.get_backend("torch")
    with pytest.raises(ValueError, match=r"precision must be one of double, double-double"):
        W.walsh_check(spec, 4, precision="quad")
    with pytest.raises(ValueError, match=r"widths must be a non-empty list of integers >= 1"):
        V.width_check(spec, [0, 4])
    with pytest.raises(ValueError, match=r"NTK is undefined"):
        W.walsh_check(Architecture("step", 1), 4, "ntk")
    with pytest.raises(ValueError, match=r"activation 'tanh' has no closed-form dual.*at most 64 samples; got 65"):
        V.gram_matrix(Architecture("tanh", 1), sample("gaussian", 3, 65, seed=0), "ck", "gaussian")


@pytest.mark.skipif(_has_gpu(), reason="a GPU is present")
def test_cupy_missing_is_a_clear_error():
    with pytest.raises(ValueError, match=r"backend 'cupy'.*(pip install|GPU)"):
        B.get_backend("cupy")


@pytest.mark.skipif(not _has_gpu(), reason="no GPU")
def test_cupy_runs_match_numpy():
    spec = Architecture("relu", 2, 2, 1)
    a = W.walsh_check(spec, 14, "ntk", backend="cupy")
    b = W.walsh_check(spec, 14, "ntk")
    np.testing.assert_allclose(a.empirical_max, b.empirical_max, rtol=1e-14)
    g1 = V.gram_check(spec, "sphere", 5, 600, top=30, seed=1, backend="cupy")
    g2 = V.gram_check(spec, "sphere", 5, 600, top=30, seed=1)
    np.testing.assert_allclose(g1.eigenvalues, g2.eigenvalues, rtol=1e-8)


def test_imports_stay_light():
    code = ("import sys, spectra, spectra.verify, spectra.walsh, spectra.backend; "
            "print([m for m in ('matplotlib', 'click', 'cupy', 'array_api_strict') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
