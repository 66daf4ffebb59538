"""The analysis commands (fracvar, optimal-depth, ntk-vs-ck) and the plots, through click's CliRunner.

Numbers are checked against the brute-force Walsh–Hadamard fractional variances of
test_optimal_depth (independent reference recursion, no library transform); plots are checked by
file type and, for one figure, by the data drawn (not pixels).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("click")
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from cli_helpers import bad, ok, run  # noqa: E402,F401
from test_optimal_depth import BV, DEPTHS, WV, D, K, brute_fv  # noqa: E402

GRID = ["--dim", str(D), "--max-depth", str(DEPTHS), "--weight-var", ",".join(map(str, WV)),
        "--bias-var", ",".join(map(str, BV)), "--max-degree", str(K), "--threads", "1"]
MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF", ".svg": b"<?xml"}


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_optimal_depth_json_matches_brute_force(act):
    doc = json.loads(ok("optimal-depth", "--activation", act, "--kernel", "ntk", *GRID, "--rtol", "0",
                        "--format", "json").stdout)
    assert doc["grid"]["depth"] == {"min": 0, "max": DEPTHS, "num": DEPTHS + 1}
    want = brute_fv(act, "ntk")
    rows = doc["optimal_depth"]
    assert [r["degree"] for r in rows] == list(range(K + 1))
    for r in rows:
        f = want[..., r["degree"]]
        if f.max() <= 1e-14:
            assert r["depth"] is None
            continue
        assert set(r) >= {"degree", "depth", "weight_var", "bias_var", "fractional_variance"}
        np.testing.assert_allclose(r["fractional_variance"], f.max(), rtol=1e-10)
        # the reported maximiser's reference value is the maximum (ties allowed at round-off)
        a = r["depth"]
        i = int(np.flatnonzero(WV == r["weight_var"])[0])
        j = int(np.flatnonzero(BV == r["bias_var"])[0])
        assert f[a, i, j] >= f.max() * (1 - 1e-12)


def test_ntk_vs_ck_and_fracvar_outputs():
    doc = json.loads(ok("ntk-vs-ck", "--activation", "relu", *GRID, "--format", "json").stdout)
    ck, ntk = brute_fv("relu", "ck")[1:], brute_fv("relu", "ntk")[1:]
    for e in doc["ntk_vs_ck"]:
        diff = ntk[..., e["degree"]] - ck[..., e["degree"]]
        assert e["ntk_greater"] == int(np.sum(diff > 1e-9))
    csv_text = ok("ntk-vs-ck", "--activation", "relu", *GRID, "--format", "csv").stdout
    assert csv_text.splitlines()[0] == "degree,points,ntk_greater,ck_greater,tied,unresolved,fraction_ntk_greater"
    # fracvar over a grid: every record against the reference
    doc = json.loads(ok("fracvar", "--activation", "erf", "--dim", str(D), "--depth", "0..3", "--weight-var", "1.5,2.5",
                        "--bias-var", "0,0.5", "--kernel", "ck,ntk", "--max-degree", str(K), "--format", "json").stdout)
    assert len(doc["fractional_variance"]) == 2 * 4 * 2 * 2 * (K + 1)
    for r in doc["fractional_variance"]:
        want = brute_fv("erf", r["kernel"])[r["depth"], list(WV).index(r["weight_var"]), list(BV).index(r["bias_var"]),
                                             r["degree"]]
        np.testing.assert_allclose(r["value"], want, rtol=1e-9, atol=1e-13)
    # one network at 30 digits: FV over all degrees sums to 1
    doc = json.loads(ok("fracvar", "--activation", "erf", "--dim", "9", "--max-degree", "9", "--bias-var", "0.5",
                        "--precision", "30", "--format", "json").stdout)
    import mpmath

    total = mpmath.fsum(mpmath.mpf(r["value"]) for r in doc["fractional_variance"])
    assert abs(total - 1) < mpmath.mpf(10) ** -28


@pytest.mark.parametrize("ext", [".png", ".svg", ".pdf"])
def test_every_plot_command_writes_the_requested_type(tmp_path, ext):
    for cmd, extra in (("optimal-depth", []), ("ntk-vs-ck", []), ("fracvar", []), ("simplicity", []),
                       ("max-lr", [])):
        path = tmp_path / f"{cmd}{ext}"
        if cmd == "fracvar":
            args = ["fracvar", "--dim", "8", "--depth", "1,3", "--kernel", "ck,ntk", "--max-degree", "6"]
        elif cmd == "max-lr":
            args = ["max-lr", "--dim", "8", "--samples", "16", "--draws", "2", "--convergence", "8,16"]
        elif cmd == "simplicity":
            args = ["simplicity", "--dim", "5", "--samples", "300", "--width", "32"]
        else:
            args = [cmd, *GRID]
        r = ok(*args, *extra, "--plot", str(path))
        data = path.read_bytes()
        assert len(data) > 1000 and data.startswith(MAGIC[ext]), cmd
        assert f"wrote {path}" in r.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_optimal_depth_figure_data():
    """The figure draws the optimal depths of the brute force (its data, not its pixels)."""
    import matplotlib.pyplot as plt

    from spectra import plots
    from spectra.optimal_depth import optimal_depth

    res = optimal_depth("relu", D, DEPTHS, WV, BV, kernel="ck", max_degree=K, rtol=0.0, threads=1)
    ax = plots.plot_optimal_depth(res)
    want = brute_fv("relu", "ck")
    line = ax.lines[0]
    ks, ds = line.get_xdata(), line.get_ydata()
    assert list(ks) == list(range(K + 1))
    for k, dep in zip(ks, ds):
        f = want[..., k]
        assert f[int(dep)].max() >= f.max() * (1 - 1e-12)
    assert ax.get_xlabel() == "degree k" and "optimal depth" in ax.get_ylabel()
    plt.close(ax.figure)


def test_simplicity_command_shows_the_published_contrast():
    """d = 7 (CONVENTIONS §4 / Yang & Salman): relu depth 2 with σ_w² = σ_b² = 2 puts the most
    probable functions on the two constants; erf with σ_b² = 0 gives odd functions only; the same
    seed gives the same counts."""
    args = ["simplicity", "--dim", "7", "--samples", "400", "--width", "64", "--seed", "3", "--format", "json"]
    relu = json.loads(ok(*args).stdout)
    assert relu == json.loads(ok(*args).stdout)  # reproducible
    assert relu["weak_simplicity_bias"]["holds"] and not relu["weak_simplicity_bias"]["violations"]
    assert {t["function"] for t in relu["top"][:2]} == {"0x" + "ff" * 16, "0x" + "00" * 16}
    assert relu["p_constant"] > 0.2 and sum(relu["counts"]) == 400
    other = json.loads(ok(*args[:-4], "--seed", "4", "--format", "json").stdout)
    assert other["counts"] != relu["counts"] or other["top"] != relu["top"]
    erf = json.loads(ok("simplicity", "--activation", "erf", "--bias-var", "0", "--dim", "7", "--samples", "300",
                        "--width", "32", "--format", "json").stdout)
    assert erf["p_constant"] == 0 and erf["frac_odd"] == 1.0
    # the spectrum listed is the CK's, exact zeros on the even degrees (odd φ, σ_b² = 0)
    assert [r["value"] == 0 for r in erf["spectrum"]] == [k % 2 == 0 for k in range(8)]


def test_max_lr_prediction_and_empirical_thresholds():
    # infinite data: η* = 2/μ_max with the published d = 128 relu NTK μ_0 = 1.381078 (CONVENTIONS §4)
    doc = json.loads(ok("max-lr", "--dim", "128", "--activation", "relu", "--depth", "2", "--weight-var", "2",
                        "--bias-var", "0", "--format", "json").stdout)
    assert doc["loss"] == "mean" and doc["top_degree"] == 0
    np.testing.assert_allclose(doc["top_eigenvalue"], 1.381078, rtol=1e-6)
    np.testing.assert_allclose(doc["max_learning_rate"], 2 / 1.381078, rtol=1e-6)
    # sum loss: η* = 2/(n μ_max)
    doc = json.loads(ok("max-lr", "--dim", "128", "--bias-var", "0", "--loss", "sum", "--samples", "10", "--draws",
                        "2", "--format", "json").stdout)
    np.testing.assert_allclose(doc["max_learning_rate"], 2 / (10 * 1.381078), rtol=1e-6)
    # a small, fast empirical case: threshold (a) near the prediction on the same points
    doc = json.loads(ok("max-lr", "--dim", "8", "--depth", "1", "--samples", "32", "--empirical", "--width", "512",
                        "--steps", "200", "--seed", "1", "--format", "json").stdout)
    for key in ("empirical_instability_learning_rate", "empirical_divergence_learning_rate", "instability_ratio",
                "divergence_ratio"):
        assert key in doc
    assert 0.8 < doc["instability_ratio"] < 1.25
    assert doc["divergence_ratio"] >= doc["instability_ratio"]


def test_bad_input(tmp_path):
    bad("optimal-depth", *GRID, "--plot", str(tmp_path / "x.jpg"), match="plot must end in .png, .svg, .pdf")
    bad("optimal-depth", *GRID[:-2], "--bias-var", "-1", match="bias_var must be >= 0")
    bad("optimal-depth", *GRID, "--plot-degree", "99", match="plot_degree must be in 0..6")
    bad("ntk-vs-ck", *GRID, "--min-depth", "9", match="min_depth must be <= max_depth")
    bad("fracvar", "--depth", "two", match="depth must be an integer >= 0")
    bad("fracvar", "--depth", "1,2", "--precision", "30", match="precision: several networks")
    bad("fracvar", "--kernel", "nngp", match="kernel must be one of")
    bad("optimal-depth", "--kernel", "nngp", match="kernel must be one of")
    bad("max-lr", "--loss", "sum", match="samples")
    bad("max-lr", "--empirical", "--kernel", "ck", match="kernel: --empirical trains every layer")
    bad("max-lr", "--convergence", "0,16", match="convergence must be a comma-separated list")
    bad("max-lr", "--loss", "l1", match="loss must be one of mean, sum")
    bad("simplicity", "--width", "0", match="width must be an integer >= 1 or 'inf'")
    bad("simplicity", "--dim", "12", "--samples", "10", match="dim must be an integer in 1..10")
    bad("simplicity", "--samples", "-1", match="samples must be an integer >= 0")
    assert not list(tmp_path.iterdir())


def test_eigs_plot_draws_the_published_spectrum(tmp_path):
    """`spectra eigs --plot`: a PDF, and the drawn data are the normalised eigenvalues of CONVENTIONS §4
    (d = 7 relu CK: μ_0/Φ(1) = 6.710258/8, μ_1/Φ(1) = 0.1485453/8, …)."""
    path = tmp_path / "e.pdf"
    ok("eigs", "--dim", "7", "--activation", "relu", "--depth", "2", "--weight-var", "2", "--bias-var", "2",
       "--kernel", "ck", "--max-degree", "3", "--plot", str(path))
    assert path.read_bytes().startswith(b"%PDF")
    import spectra
    from spectra import plots

    s = spectra.cube_eigenvalues(spectra.Architecture("relu", 2, 2, 2), 7, "ck", max_degree=3)
    ax = plots.plot_spectrum(s)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), np.array([6.710258, 0.1485453, 9.328551e-3, 1.059299e-3]) / 8,
                               rtol=1e-6)
    ax = plots.plot_spectrum(s, weighted=True)
    np.testing.assert_allclose(ax.lines[0].get_ydata(),
                               np.array([6.710258, 7 * 0.1485453, 21 * 9.328551e-3, 35 * 1.059299e-3]) / 8, rtol=1e-6)
