"""Spectral bias in time (spectra.dynamics): operator prediction vs the closed form, the finite-n
prediction vs a step-by-step simulation of the linearised model, λ_min on the full cube vs
min_k μ_k, a small trained network vs its prediction, and argument errors."""
import math

import numpy as np
import pytest

from spectra import Architecture, cube_eigenvalues
from spectra import dynamics as D
from spectra.domains import gram

NET = Architecture("relu", 2, 2, 0.1)
ERF = Architecture("erf", 1, 2, 0.1)


def _walsh_brute(f, d):
    """Energy per degree by the definition f̂(S) = 2^-d Σ_x f(x) χ_S(x), χ_S = Π_{i∈S} x_i."""
    X = D.cube_points(d)
    out = np.zeros(d + 1)
    for S in range(2**d):
        bits = [i for i in range(d) if S >> i & 1]
        chi = np.prod(X[:, bits], axis=1) if bits else np.ones(2**d)
        out[len(bits)] += (f @ chi / 2**d) ** 2
    return out


def test_degree_energy_matches_definition():
    d = 5
    f = np.random.default_rng(1).standard_normal(2**d)
    np.testing.assert_allclose(D.degree_energy(f, d), _walsh_brute(f, d), rtol=1e-12, atol=1e-15)


def test_make_target_pure_degrees_and_weights():
    y = D.make_target({1: 1.0, 3: 0.5}, 6, seed=3)
    e = _walsh_brute(y, 6)
    np.testing.assert_allclose(e, [0, 1.0, 0, 0.25, 0, 0, 0], atol=1e-12)
    assert D.parse_target("1:1.0, 3:0.5") == {1: 1.0, 3: 0.5}


@pytest.mark.parametrize("flow", [False, True])
def test_operator_prediction_closed_form(flow):
    d, lr = 6, 0.7
    steps = np.array([0, 1, 5, 40, 300])
    y = D.make_target({0: 0.3, 1: 1.0, 2: 0.5, 4: 0.2}, d, seed=0)
    p = D.predict_dynamics(NET, d, y, steps, lr, method="operator", flow=flow)
    mu = cube_eigenvalues(NET, d, "ntk", max_degree=d).values
    for k, w2 in [(0, 0.09), (1, 1.0), (2, 0.25), (4, 0.04)]:
        fac = [math.exp(-lr * float(mu[k]) * t) if flow else (1 - lr * float(mu[k])) ** t for t in steps]
        np.testing.assert_allclose(p.energy[:, k], w2 * np.square(fac), rtol=1e-9)


def _simulate(spec, d, y, f0, idx, lr, T):
    """Linearised gradient descent step by step on all points: f ← f − (η/n) Θ(·, X)(f(X) − y(X)),
    with Θ from the library's generic Gram builder (not the cube indexing of spectra.dynamics)."""
    Xall = D.cube_points(d)
    K = gram(spec, Xall, "ntk", Y=Xall[idx], domain="cube")
    f, n, out = f0.copy(), len(idx), [f0 - y]
    for _ in range(T):
        f = f - (lr / n) * K @ (f[idx] - y[idx])
        out.append(f - y)
    return np.array(out)


@pytest.mark.parametrize("spec", [NET, ERF])
def test_finite_prediction_against_simulation(spec):
    d, n, T = 6, 24, 60
    rng = np.random.default_rng(5)
    idx = np.sort(rng.choice(2**d, n, replace=False))
    y = D.make_target({1: 1.0, 2: 0.6, 3: 0.4}, d, seed=2)
    f0 = 0.3 * rng.standard_normal(2**d)
    lr = 1.5 / np.linalg.eigvalsh(gram(spec, D.cube_points(d)[idx], "ntk", domain="cube") / n)[-1]
    steps = np.array([0, 1, 2, 7, 20, 60])
    p = D.predict_dynamics(spec, d, y, steps, lr, method="finite", train_index=idx, init_output=f0)
    R = _simulate(spec, d, y, f0, idx, lr, T)[steps]
    np.testing.assert_allclose(p.energy, _walsh_brute_rows(R, d), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(p.train_loss, 0.5 * np.mean(R[:, idx] ** 2, axis=1), rtol=1e-8, atol=1e-14)


def _walsh_brute_rows(R, d):
    return np.array([_walsh_brute(r, d) for r in R])


def test_finite_with_all_points_equals_operator():
    d = 5
    y = D.make_target({1: 1.0, 2: 0.5, 5: 0.3}, d, seed=0)
    steps = np.array([0, 3, 30, 200])
    a = D.predict_dynamics(NET, d, y, steps, 0.5, method="finite", train_index=np.arange(2**d))
    b = D.predict_dynamics(NET, d, y, steps, 0.5, method="operator")
    np.testing.assert_allclose(a.energy, b.energy, rtol=1e-7, atol=1e-13)


@pytest.mark.parametrize("spec,d", [(NET, 6), (ERF, 7), (Architecture("relu", 3, 2, 0.5), 5)])
def test_lambda_min_full_cube_is_min_mu(spec, d):
    r = D.lambda_min(spec, "cube", d, 2**d, draws=2, seed=0)
    mu = np.asarray(cube_eigenvalues(spec, d, "ntk", max_degree=d).values, dtype=float)
    assert r.exact == pytest.approx(mu.min(), rel=1e-13)
    np.testing.assert_allclose(r.values, mu.min(), rtol=1e-10)
    np.testing.assert_allclose(r.lambda_max, mu.max(), rtol=1e-12)


def test_lambda_min_sampled_domains():
    for dom in ("cube", "sphere", "gaussian"):
        r = D.lambda_min(NET, dom, 6, 20, draws=3, seed=1)
        assert r.values.shape == (3,) and np.all(r.values > 0) and r.mean <= r.lambda_max.min()
        assert (r.exact is not None) == (dom == "cube")
    assert 0 < D.lambda_min(NET, "sphere", 6, 20, draws=2).rate < 1


def test_loss_bound_simple():
    np.testing.assert_allclose(D.loss_bound(0.1, 1.0, 1.0, [0, 1, 3]), [1, 0.81, 0.81**3])
    np.testing.assert_allclose(D.loss_bound(0.1, 1.0, 2.0, [2], flow=True), [math.exp(-0.8)])


def test_measured_matches_prediction_small_case():
    m = D.measure_dynamics(Architecture("relu", 1, 2, 0.1), 6, {1: 1.0, 2: 0.5}, width=2048, samples=32,
                           steps=150, records=6, seeds=(0, 1))
    c = D.compare_dynamics(m)
    assert c.degrees == (1, 2)
    assert np.all(c.max_gap < 0.15), c.max_gap
    assert m.losses.shape == (2, 151)
    assert m.bound_ratio <= 1.0 + 1e-6
    d = c.as_dict()
    assert d["degrees"] == [1, 2] and len(d["steps"]) == len(m.steps)


@pytest.mark.parametrize("centred", [False, True])
def test_linear_model_training_is_exactly_the_kernel_prediction(centred):
    """Depth 0: the network is linear in its parameters, its NTK is constant and equal to the
    analytic σ_w²⟨x,y⟩/d + σ_b², so measured and finite-n predicted residuals agree to round-off
    (with or without the random f_0)."""
    m = D.measure_dynamics(Architecture("identity", 0, 2, 0.5), 6, {0: 0.3, 1: 1.0, 2: 0.5}, width=8, samples=20,
                           steps=50, records=5, seeds=(0, 3), centred=centred, dtype="float64")
    np.testing.assert_allclose(m.energy, m.predicted, rtol=1e-8, atol=1e-12)
    if centred:  # the residual starts at −y: its degree-2 part is unreachable for a linear model
        np.testing.assert_allclose(m.energy[:, -1, 2], m.energy[:, 0, 2], rtol=1e-12)


def test_float32_networks_track_float64_and_backends_agree():
    """The default float32 networks follow the float64 ones to float32 round-off (far below the
    finite-width effects measured), and the array-API code path (array-api-strict, the stand-in
    for cupy) trains the same networks as numpy."""
    kw = {"spec": Architecture("erf", 2, 2, 0.1), "dim": 5, "target": {1: 1.0, 2: 0.5, 3: 0.5}, "width": 64,
          "samples": 16, "steps": 40, "records": 5, "seeds": (0, 1)}
    m64 = D.measure_dynamics(**kw, dtype="float64")
    m32 = D.measure_dynamics(**kw)
    assert m32.dtype == "float32" and m64.dtype == "float64"
    np.testing.assert_allclose(m32.energy, m64.energy, rtol=2e-4, atol=1e-7)
    np.testing.assert_allclose(m32.losses, m64.losses, rtol=2e-4, atol=1e-7)
    pytest.importorskip("array_api_strict")
    ms = D.measure_dynamics(**kw, dtype="float64", backend="array-api-strict")
    np.testing.assert_allclose(ms.energy, m64.energy, rtol=1e-10, atol=1e-13)
    ms32 = D.measure_dynamics(**kw, backend="array-api-strict")
    np.testing.assert_allclose(ms32.energy, m64.energy, rtol=2e-4, atol=1e-7)


def test_plot_dynamics_lazy_matplotlib():
    import subprocess
    import sys
    code = "import sys, spectra, spectra.dynamics; print('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip() == "False"
    import matplotlib
    matplotlib.use("Agg")
    m = D.measure_dynamics(NET, 4, {1: 1.0}, width=64, samples=8, steps=10, records=3, seeds=(0, 1))
    ax = D.plot_dynamics(D.compare_dynamics(m))
    assert ax.get_xscale() == "log"


@pytest.mark.parametrize("call,match", [
    (lambda: D.make_target({7: 1.0}, 6), r"target degree must be an integer in 0\.\.6"),
    (lambda: D.make_target({1: -1.0}, 6), r"weight of degree 1 must be a finite number >= 0"),
    (lambda: D.measure_dynamics(NET, 6, {1: 1.0}, width=0, samples=8), r"width must be an integer >= 1"),
    (lambda: D.measure_dynamics(NET, 6, {1: 1.0}, width=8, samples=65), r"samples must be an integer in 1\.\.64"),
    (lambda: D.measure_dynamics(NET, 15, {1: 1.0}, width=8, samples=8), r"dim must be an integer in 1\.\.14"),
    (lambda: D.measure_dynamics(NET, 6, {1: 1.0}, width=8, samples=8, dtype="float16"),
     r"dtype must be one of float64, float32; got 'float16'"),
    (lambda: D.measure_dynamics(NET, 6, {1: 1.0}, width=8, samples=8, backend="torch"), r"backend must be one of"),
    (lambda: D.parse_target("1=2"), r"target must be a comma-separated list"),
    (lambda: D.lambda_min(NET, "cube", 4, 17), r"samples must be an integer in 1\.\.16"),
    (lambda: D.predict_dynamics(NET, 4, {1: 1.0}, [0, 1], 0.5), r"train_index"),
    (lambda: D.predict_dynamics(NET, 4, {1: 1.0}, [0, 1], -1.0, method="operator"), r"lr must be"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


# ---------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------


def _cli(*args):
    pytest.importorskip("click")
    from click.testing import CliRunner
    from spectra_cli.main import main

    return CliRunner().invoke(main, list(args))


def test_cli_dynamics_json_and_csv(tmp_path):
    import json

    args = ["dynamics", "--dim", "5", "--width", "256", "--samples", "16", "--steps", "40", "--records", "4",
            "--target", "1:1.0,3:0.5"]
    r = _cli(*args, "--format", "json", "--plot", str(tmp_path / "d.png"))
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output[:r.output.rindex("}") + 1])
    assert doc["degrees"] == [1, 3] and doc["steps"][0] == 0 and len(doc["max_gap"]) == 2
    assert (tmp_path / "d.png").stat().st_size > 0
    r = _cli(*args, "--format", "csv")
    assert r.exit_code == 0 and r.output.splitlines()[0].startswith("degree,step,measured")
    r = _cli(*args)
    assert r.exit_code == 0 and "max relative gap" in r.output
    # the array-API code path (the one cupy runs) gives the same numbers as numpy
    r64 = json.loads(_cli(*args, "--format", "json", "--dtype", "float64").output)
    rs = json.loads(_cli(*args, "--format", "json", "--dtype", "float64", "--backend", "array-api-strict").output)
    assert rs["backend"] == "array-api-strict" and r64["dtype"] == "float64" and doc["dtype"] == "float32"
    np.testing.assert_allclose(rs["measured_mean"], r64["measured_mean"], rtol=1e-10)


def test_cli_lambda_min_full_cube():
    import json

    r = _cli("lambda-min", "--dim", "5", "--samples", "32", "--draws", "2", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["mean"] == pytest.approx(doc["exact"], rel=1e-10)


@pytest.mark.parametrize("args,msg", [
    (["dynamics", "--dim", "6", "--target", "7:1"], "target degree must be an integer in 0..6"),
    (["dynamics", "--dim", "6", "--target", "1:-1"], "target weight of degree 1 must be a finite number >= 0"),
    (["dynamics", "--dim", "6", "--width", "0"], "width must be an integer >= 1"),
    (["dynamics", "--dim", "15"], "dim must be an integer in 1..14"),
    (["lambda-min", "--dim", "4", "--samples", "17"], "samples must be an integer in 1..16"),
    (["dynamics", "--dim", "6", "--dtype", "float16"], "dtype must be one of float64, float32"),
    (["dynamics", "--dim", "6", "--backend", "torch"], "backend must be one of numpy, cupy, array-api-strict"),
    (["dynamics", "--dim", "10", "--width", "100000", "--max-memory", "1G"], "the largest width that fits is"),
])
def test_cli_bad_input(args, msg):
    r = _cli(*args)
    assert r.exit_code == 2 and msg in r.output, r.output
