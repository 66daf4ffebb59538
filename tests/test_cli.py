"""The ``spectra`` command line, through click's CliRunner.

Numbers are compared with independent values: the public reference values of CONVENTIONS §4
(arXiv:1907.10599 notebooks), closed forms derived by hand below, and exact binomials.
"""
from __future__ import annotations

import csv
import importlib
import io
import json
import math
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

click = pytest.importorskip("click")
from click.testing import CliRunner  # noqa: E402

import spectra  # noqa: E402
from spectra_cli.main import main  # noqa: E402

cli_module = importlib.import_module("spectra_cli.main")  # the module, not the click group

# CONVENTIONS §4: unnormalised cube eigenvalues mu_0..mu_3
REF_D7_CK = [6.710258, 0.1485453, 9.328551e-3, 1.059299e-3]  # relu, depth 2, wv 2, bv 2; Phi(1) = 8
REF_D7_NTK = [11.28443, 0.5984509, 6.405307e-2, 1.705928e-2]  # Phi(1) = 18
REF_D128_CK = [0.9896237, 4.722547e-3, 3.386542e-5, 1.693449e-7]  # relu, depth 2, wv 2, bv 0; Phi(1) = 2
REF_D128_NTK = [1.381078, 1.503825e-2, 1.516146e-4, 1.075173e-6]  # Phi(1) = 6
REF_D7_CK_NORMALIZED_MU0 = 0.838782
D7 = ["--dim", "7", "--activation", "relu", "--depth", "2", "--weight-var", "2", "--bias-var", "2"]


def run(*args):
    return CliRunner().invoke(main, list(args))


def ok(*args):
    r = run(*args)
    assert r.exit_code == 0, (r.output, r.stderr, r.exception)
    assert r.stderr == ""
    return r


def close(a, b, rel):
    return math.isclose(float(a), float(b), rel_tol=rel)


def significant_digits(text: str) -> int:
    mantissa = text.lstrip("-").split("e")[0].replace(".", "")
    return len(mantissa.lstrip("0"))


def table_rows(output):
    """Data rows of a table (lines not starting with '#' after the column header)."""
    lines = [ln for ln in output.splitlines() if ln and not ln.startswith("#")]
    return lines[0].split(), [ln.split() for ln in lines[1:]]


# ---------------------------------------------------------------------------------------
# eigs
# ---------------------------------------------------------------------------------------


def test_bare_eigs_prints_the_d128_relu_ntk_table():
    r = ok("eigs")
    header, rows = table_rows(r.output)
    assert header[:6] == ["degree", "multiplicity", "eigenvalue", "frac_variance", "error", "digits"]
    assert [int(row[0]) for row in rows] == list(range(11))  # max-degree = min(128, 10)
    assert [int(row[1]) for row in rows] == [math.comb(128, k) for k in range(11)]
    for row, ref in zip(rows, REF_D128_NTK):
        assert close(row[2], ref, 1e-6)
    assert "relu, depth 2, weight_var 2, bias_var 0" in r.output
    assert "Phi(1) = 6" in r.output


def test_eigs_table_normalize():
    r = ok("eigs", *D7, "--kernel", "ck", "--max-degree", "3", "--normalize")
    header, rows = table_rows(r.output)
    assert header[2] == "normalized"
    assert close(rows[0][2], REF_D7_CK_NORMALIZED_MU0, 1e-6)
    assert close(rows[1][2], REF_D7_CK[1] / 8, 1e-6)


def test_eigs_table_prints_all_n_digits():
    r = ok("eigs", *D7, "--kernel", "ck", "--max-degree", "3", "--precision", "40")
    _, rows = table_rows(r.output)
    for row, ref in zip(rows, REF_D7_CK):
        assert significant_digits(row[2]) == 40
        assert close(row[2], ref, 1e-6)


def test_eigs_csv_d7_reference_values():
    for kernel, ref, phi1 in (("ck", REF_D7_CK, 8), ("ntk", REF_D7_NTK, 18)):
        r = ok("eigs", *D7, "--kernel", kernel, "--max-degree", "7", "--format", "csv")
        rows = list(csv.DictReader(io.StringIO(r.output)))
        assert list(rows[0]) == ["degree", "multiplicity", "value", "normalized", "fractional_variance",
                                 "error", "digits", "flag"]
        assert [int(x["degree"]) for x in rows] == list(range(8))
        assert [int(x["multiplicity"]) for x in rows] == [math.comb(7, k) for k in range(8)]
        for x, mu in zip(rows, ref):
            assert close(x["value"], mu, 1e-6)
            assert close(x["normalized"], mu / phi1, 1e-6)
        # trace identity: sum_k C(d,k) mu_k = Phi(1), and the fractional variances sum to 1
        assert close(sum(int(x["multiplicity"]) * float(x["value"]) for x in rows), phi1, 1e-12)
        assert close(sum(float(x["fractional_variance"]) for x in rows), 1.0, 1e-12)
        assert all(x["flag"] == "" for x in rows)


def test_eigs_json_double():
    r = ok("eigs", "--dim", "128", "--kernel", "ck", "--max-degree", "10", "--format", "json")
    doc = json.loads(r.output)
    assert {"domain", "dim", "activation", "depth", "weight_var", "bias_var", "kernel", "precision",
            "trace", "eigenvalues"} <= set(doc)
    assert (doc["domain"], doc["dim"], doc["activation"], doc["depth"]) == ("cube", 128, "relu", 2)
    assert (doc["weight_var"], doc["bias_var"], doc["kernel"], doc["precision"]) == (2, 0, "ck", "double")
    assert doc["trace"] == 2.0
    recs = doc["eigenvalues"]
    assert [e["degree"] for e in recs] == list(range(11))
    for e in recs:
        assert {"degree", "value", "multiplicity", "normalized", "fractional_variance", "error", "digits"} <= set(e)
        assert type(e["multiplicity"]) is int and e["multiplicity"] == math.comb(128, e["degree"])
    for e, mu in zip(recs, REF_D128_CK):
        assert close(e["value"], mu, 1e-6)
        assert e["error"] < 1e-6 * mu


def test_eigs_json_huge_multiplicities_stay_exact_ints():
    r = ok("eigs", "--dim", "200", "--max-degree", "100", "--format", "json")
    recs = json.loads(r.output)["eigenvalues"]
    assert recs[100]["multiplicity"] == math.comb(200, 100)  # ~9e58: a float would not be exact
    assert all(type(e["multiplicity"]) is int for e in recs)


def test_eigs_json_25_digits():
    r = ok("eigs", *D7, "--kernel", "ntk", "--max-degree", "3", "--precision", "25", "--format", "json")
    doc = json.loads(r.output)
    assert doc["precision"] == 25
    assert isinstance(doc["trace"], str) and close(doc["trace"], 18, 1e-20)
    for e, mu in zip(doc["eigenvalues"], REF_D7_NTK):
        assert isinstance(e["value"], str) and significant_digits(e["value"]) == 25
        assert close(e["value"], mu, 1e-6)
        assert e["digits"] >= 25


def test_eigs_exact_rational():
    # x2, depth 1, wv 1, bv 0: Sigma^1 = t, CK = E[u^2 v^2] = 1 + 2t^2. On {±1}^d,
    # t^2 = 1/d + (2/d^2) sum_{i<j} x_i x_j, so mu_0 = 1 + 2/d, mu_2 = 4/d^2, others 0.
    r = ok("eigs", "--activation", "x2", "--depth", "1", "--weight-var", "1", "--bias-var", "0",
           "--dim", "5", "--kernel", "ck", "--precision", "exact", "--format", "json")
    doc = json.loads(r.output)
    assert doc["precision"] == "exact" and doc["trace"] == "3"
    assert [e["exact"] for e in doc["eigenvalues"]] == ["7/5", "0", "4/25", "0", "0", "0"]
    assert [e["multiplicity"] for e in doc["eigenvalues"]] == [1, 5, 10, 10, 5, 1]
    assert close(doc["eigenvalues"][0]["value"], 1.4, 1e-15)
    r = ok("eigs", "--activation", "x2", "--depth", "1", "--weight-var", "1", "--dim", "5", "--kernel", "ck",
           "--precision", "exact")
    assert "7/5" in r.output and "4/25" in r.output


def test_eigs_exact_closed_form_relu():
    r = ok("eigs", *D7, "--kernel", "ck", "--max-degree", "1", "--precision", "exact", "--format", "json")
    doc = json.loads(r.output)
    assert doc["trace"] == "8"
    for e, mu in zip(doc["eigenvalues"], REF_D7_CK):
        assert isinstance(e["exact"], str) and "pi" in e["exact"]
        assert isinstance(e["value"], str) and close(e["value"], mu, 1e-6)


def test_eigs_flagged_values():
    # relu CK at d = 128 with bias: the tiny high-degree values are below float64's resolution
    args = ("eigs", "--dim", "128", "--bias-var", "0.5", "--kernel", "ck", "--max-degree", "22")
    doc = json.loads(ok(*args, "--format", "json").output)
    recs = doc["eigenvalues"]
    flagged = [e for e in recs if "flag" in e]
    assert flagged and recs[0].get("flag") is None
    for e in flagged:
        assert e["value"] is None and e["normalized"] is None and e["fractional_variance"] is None
        assert e["flag"].startswith("unresolved")
    out = ok(*args).output
    _, rows = table_rows(out)
    flagged_rows = [row for row in rows if "unresolved" in row]
    assert len(flagged_rows) == len(flagged)
    assert all(row[2] == "\u2014" for row in flagged_rows)
    csv_rows = list(csv.DictReader(io.StringIO(ok(*args, "--format", "csv").output)))
    assert sum(1 for x in csv_rows if x["flag"]) == len(flagged)
    assert all(x["value"] == "" for x in csv_rows if x["flag"])


def test_eigs_auto_resolves_and_structural_zeros():
    # erf, sigma_b^2 = 0: Phi is odd, even degrees are exactly 0 (CONVENTIONS §3, §4)
    doc = json.loads(ok("eigs", "--activation", "erf", "--max-degree", "3", "--precision", "auto",
                        "--format", "json").output)
    recs = doc["eigenvalues"]
    assert doc["precision"] == "auto" and close(doc["trace"], 4.055668, 1e-6)
    assert recs[0]["value"] == 0 and recs[0]["structural_zero"] is True
    assert recs[2]["value"] == 0 and recs[2]["structural_zero"] is True
    assert close(recs[1]["value"], 1.822389e-2, 1e-6) and close(recs[3]["value"], 2.213144e-6, 1e-6)


# ---------------------------------------------------------------------------------------
# kernel
# ---------------------------------------------------------------------------------------


def test_kernel_depth0_is_linear_double():
    ts = [-1, -0.5, -0.25, 0, 0.5, 1]
    r = ok("kernel", "--activation", "relu", "--depth", "0", "--weight-var", "2", "--bias-var", "0.25",
           "--kernel", "ck", "--t=" + ",".join(map(str, ts)), "--format", "json")
    doc = json.loads(r.output)
    assert [v["t"] for v in doc["values"]] == ts
    assert [v["value"] for v in doc["values"]] == [2 * t + 0.25 for t in ts]  # exactly representable


def test_kernel_depth0_is_linear_exact():
    ts = ["-1", "-1/3", "0", "1/2", "0.1", "1"]
    for kernel in ("ck", "ntk"):
        r = ok("kernel", "--depth", "0", "--weight-var", "2/3", "--bias-var", "1/7", "--kernel", kernel,
               "--t=" + ",".join(ts), "--precision", "exact", "--format", "json")
        doc = json.loads(r.output)
        assert doc["precision"] == "exact"
        assert [v["exact"] for v in doc["values"]] == [str(Fraction(2, 3) * Fraction(t) + Fraction(1, 7)) for t in ts]
        assert [v["t"] for v in doc["values"]] == [str(Fraction(t)) for t in ts]


def test_kernel_reference_phi1():
    for kernel, phi1 in (("ck", 8), ("ntk", 18)):
        doc = json.loads(ok("kernel", "--bias-var", "2", "--kernel", kernel, "--t=1", "--format", "json").output)
        assert close(doc["values"][0]["value"], phi1, 1e-14)
    doc = json.loads(ok("kernel", "--kernel", "ck", "--t=1,0", "--precision", "30", "--format", "json").output)
    one, zero = doc["values"]
    assert significant_digits(one["value"]) == 30 and close(one["value"], 2, 1e-29)
    # relu CK, depth 2, wv 2, bv 0 (q = 2 at every layer): the depth-1 CK at t = 0 is
    # 2 * 2 / (2 pi) = 2/pi, i.e. rho = 1/pi, so Phi(0) = 2 * 2 (sqrt(1 - rho^2) + (pi - arccos rho) rho) / (2 pi)
    rho = 1 / math.pi
    expected = 2 * (math.sqrt(1 - rho**2) + (math.pi - math.acos(rho)) * rho) / math.pi
    assert close(zero["value"], expected, 1e-14)


def test_kernel_table_and_csv():
    r = ok("kernel", "--depth", "0", "--weight-var", "2", "--bias-var", "1", "--t=-1,0,1")
    _, rows = table_rows(r.output)
    assert [float(row[1]) for row in rows] == [-1.0, 1.0, 3.0]
    r = ok("kernel", "--depth", "0", "--weight-var", "2", "--bias-var", "1", "--t=-1,0,1", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert [float(x["value"]) for x in rows] == [-1.0, 1.0, 3.0]


def test_kernel_symbolic_polynomial():
    sympy = pytest.importorskip("sympy")
    t = sympy.Symbol("t", real=True)
    # x2, depth 1, wv 2, bv 0: Sigma^1 = 2t, q = 2; CK = 2 (q^2 + 2 (2t)^2) = 8 + 16 t^2
    r = ok("kernel", "--activation", "x2", "--depth", "1", "--weight-var", "2", "--bias-var", "0",
           "--kernel", "ck", "--symbolic")
    expr = sympy.sympify(r.output.strip(), locals={"t": t})
    assert sympy.Poly(expr, t).all_coeffs() == [16, 0, 8]
    doc = json.loads(ok("kernel", "--activation", "x2", "--depth", "1", "--weight-var", "2", "--kernel", "ck",
                        "--symbolic", "--format", "json").output)
    assert sympy.expand(sympy.sympify(doc["expression"], locals={"t": t}) - (16 * t**2 + 8)) == 0


# ---------------------------------------------------------------------------------------
# sweep
# ---------------------------------------------------------------------------------------

SWEEP = ["sweep", "--activation", "relu", "--kernel", "ck,ntk", "--dim", "7", "--max-depth", "2",
         "--weight-var", "1:2:3", "--bias-var", "0,2", "--max-degree", "3", "--threads", "2"]


def test_sweep_npz(tmp_path):
    path = tmp_path / "grid.npz"
    r = ok(*SWEEP, "--output", str(path))
    assert str(path) in r.output and "(3, 3, 2, 4)" in r.output and len(r.output.splitlines()) == 1
    assert os.listdir(tmp_path) == ["grid.npz"]
    with np.load(path) as z:
        assert set(z.files) == {"ck", "ck_err", "ck_phi1", "ntk", "ntk_err", "ntk_phi1", "depths", "weight_var",
                                "bias_var", "degrees", "activation", "dim"}
        for k in ("ck", "ntk"):
            assert z[k].shape == z[k + "_err"].shape == (3, 3, 2, 4)
            assert z[k + "_phi1"].shape == (3, 3, 2)
        assert z["depths"].tolist() == [0, 1, 2] and z["degrees"].tolist() == [0, 1, 2, 3]
        assert z["weight_var"].tolist() == [1.0, 1.5, 2.0] and z["bias_var"].tolist() == [0.0, 2.0]
        assert z["activation"].shape == () and str(z["activation"]) == "relu"
        assert z["dim"].shape == () and int(z["dim"]) == 7
        # depth 2, wv 2, bv 2: CONVENTIONS §4
        for k, ref, phi1 in (("ck", REF_D7_CK, 8), ("ntk", REF_D7_NTK, 18)):
            assert np.allclose(z[k][2, 2, 1], ref, rtol=1e-6, atol=0)
            assert math.isclose(z[k + "_phi1"][2, 2, 1], phi1, rel_tol=1e-14)
        # depth 0 is linear: mu_0 = bv, mu_1 = wv/d, higher degrees 0
        assert np.allclose(z["ck"][0, :, 1], [[2, w / 7, 0, 0] for w in (1, 1.5, 2)], rtol=1e-14, atol=1e-300)


def test_sweep_csv(tmp_path):
    path = tmp_path / "grid.csv"
    ok(*SWEEP, "--output", str(path))
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["kernel", "depth", "weight_var", "bias_var", "degree", "value", "error", "phi1"]
    assert len(rows) == 2 * 3 * 3 * 2 * 4
    got = {(x["kernel"], int(x["depth"]), float(x["weight_var"]), float(x["bias_var"]), int(x["degree"])): x
           for x in rows}
    for k, ref, phi1 in (("ck", REF_D7_CK, 8), ("ntk", REF_D7_NTK, 18)):
        for deg, mu in enumerate(ref):
            x = got[(k, 2, 2.0, 2.0, deg)]
            assert close(x["value"], mu, 1e-6) and close(x["phi1"], phi1, 1e-14)


def test_sweep_csv_nan_is_empty(tmp_path):
    path = tmp_path / "grid.csv"
    ok("sweep", "--kernel", "ck", "--dim", "128", "--max-depth", "2", "--weight-var", "2", "--bias-var", "0.5",
       "--max-degree", "22", "--output", str(path))
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    empty = [x for x in rows if x["value"] == ""]
    assert empty and all(x["error"] != "" and int(x["degree"]) > 10 for x in empty)


@pytest.mark.parametrize("weight_var, threads", [("1:2:3", "2"), ("1:2:9", "2"), ("1:5:41", "8"), ("2", "3"),
                                                 ("1:2:5", "1")])
def test_sweep_progress_total_matches_library(monkeypatch, tmp_path, weight_var, threads):
    seen = {}
    real_bar = click.progressbar

    def recording_bar(*args, **kwargs):
        bar = real_bar(*args, **kwargs)
        seen["length"] = kwargs["length"]
        real_update = bar.update

        def update(n, *a):
            seen["done"] = seen.get("done", 0) + n
            return real_update(n, *a)

        bar.update = update
        return bar

    monkeypatch.setattr(cli_module, "_isatty", lambda stream: True)
    monkeypatch.setattr(cli_module.click, "progressbar", recording_bar)
    r = run("sweep", "--dim", "7", "--max-depth", "2", "--max-degree", "2", "--weight-var", weight_var,
            "--threads", threads, "--output", str(tmp_path / "g.npz"))  # the bar writes to stderr
    assert r.exit_code == 0, (r.stderr, r.exception)
    # the bar is sized before the run to exactly the number of progress calls the library makes
    assert seen["length"] == seen["done"] > 0


@pytest.mark.parametrize("exc, code", [(ValueError("weight_var: boom"), 2), (KeyboardInterrupt(), 130)])
@pytest.mark.parametrize("ext", [".npz", ".csv"])
def test_sweep_failure_leaves_no_partial_file(monkeypatch, tmp_path, exc, code, ext):
    calls = []

    def failing_grid(*args, progress=None, **kwargs):
        calls.append(1)
        progress(1)
        progress(1)
        raise exc

    monkeypatch.setattr(spectra, "cube_eigenvalues_grid", failing_grid)
    old = tmp_path / ("old" + ext)
    old.write_text("previous results")
    r = run(*SWEEP, "--output", str(old))
    assert calls and r.exit_code == code
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("Error: ")
    assert "Traceback" not in r.output + r.stderr
    assert os.listdir(tmp_path) == [old.name]  # no temporary file left
    assert old.read_text() == "previous results"  # not clobbered


def test_sweep_output_errors(tmp_path):
    for out in (str(tmp_path / "grid.txt"), str(tmp_path / "grid"), str(tmp_path / "missing" / "g.npz"),
                str(tmp_path)):
        r = run(*SWEEP, "--output", out)
        assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1, (out, r.stderr)
        assert r.stderr.startswith("Error: ") and "output" in r.stderr
    r = run(*SWEEP, "--output", str(tmp_path / "g.txt"))
    assert "output must end in .npz or .csv" in r.stderr
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------
# bad input: one line on stderr, exit status 2, no traceback
# ---------------------------------------------------------------------------------------

BAD = [
    (["eigs", "--domain", "sphere"], "domain must be one of cube; got 'sphere'"),
    (["eigs", "--dim", "0"], "dim"),
    (["eigs", "--dim", "-3"], "dim"),
    (["eigs", "--dim", "1.5"], "dim"),
    (["eigs", "--dim", "abc"], "dim"),
    (["eigs", "--depth", "-1"], "depth"),
    (["eigs", "--depth", "two"], "depth"),
    (["eigs", "--weight-var", "nan"], "weight_var"),
    (["eigs", "--weight-var", "inf"], "weight_var"),
    (["eigs", "--weight-var", "-inf"], "weight_var"),
    (["eigs", "--weight-var", "0"], "weight_var"),
    (["eigs", "--weight-var", "1e999"], "weight_var"),
    (["eigs", "--weight-var", "abc"], "weight_var"),
    (["eigs", "--weight-var", "1e-400"], "weight_var"),
    (["eigs", "--weight-var", "1/0"], "weight_var"),
    (["eigs", "--bias-var", "NaN"], "bias_var"),
    (["eigs", "--bias-var", "-1"], "bias_var"),
    (["eigs", "--dim", "7", "--max-degree", "8"], "max_degree"),
    (["eigs", "--max-degree", "-1"], "max_degree"),
    (["eigs", "--precision", "0"], "precision"),
    (["eigs", "--precision", "10001"], "precision"),
    (["eigs", "--precision", "fast"], "precision"),
    (["eigs", "--precision", "2.5"], "precision"),
    (["eigs", "--precision", "-5"], "precision"),
    (["eigs", "--precision", "exact", "--dim", "128"], "dim"),
    (["eigs", "--activation", "tanh"], "activation"),
    (["eigs", "--activation", "x99"], "activation"),
    (["eigs", "--kernel", "gp"], "kernel"),
    (["eigs", "--format", "xml"], "format"),
    (["eigs", "--no-such-option"], "no-such-option"),
    (["eigs", "--dim"], "--dim"),
    (["nosuchcommand"], "nosuchcommand"),
    (["kernel", "--t=nan"], "t must"),
    (["kernel", "--t=0,inf"], "t must"),
    (["kernel", "--t=2"], "t must"),
    (["kernel", "--t=1,,0"], "t must"),
    (["kernel", "--t="], "t must"),
    (["kernel", "--t=a"], "t must"),
    (["kernel", "--t=nan", "--precision", "exact"], "t must"),
    (["kernel", "--t=1/0", "--precision", "exact"], "t must"),
    (["kernel", "--activation", "relu", "--weight-var", "inf"], "weight_var"),
    (["kernel", "--kernel", "nngp"], "kernel"),
    (["kernel", "--precision", "0"], "precision"),
    (["kernel", "--symbolic", "--t=0"], "--symbolic"),
    (["kernel", "--format", "yaml"], "format"),
    (["sweep", "-o", "g.npz", "--weight-var", "1:5"], "weight_var"),
    (["sweep", "-o", "g.npz", "--weight-var", "a:b:c"], "weight_var"),
    (["sweep", "-o", "g.npz", "--weight-var", "1:5:0"], "weight_var"),
    (["sweep", "-o", "g.npz", "--weight-var", "1:5:2.5"], "weight_var"),
    (["sweep", "-o", "g.npz", "--weight-var", "1:5:4:1"], "weight_var"),
    (["sweep", "-o", "g.npz", "--weight-var", "1,,2"], "weight_var"),
    (["sweep", "-o", "g.npz", "--weight-var", ""], "weight_var"),
    (["sweep", "-o", "g.npz", "--weight-var", "nan"], "weight_var"),
    (["sweep", "-o", "g.npz", "--weight-var", "1:inf:3"], "weight_var"),
    (["sweep", "-o", "g.npz", "--weight-var", "0:1:3"], "weight_var"),
    (["sweep", "-o", "g.npz", "--bias-var", "1,nan"], "bias_var"),
    (["sweep", "-o", "g.npz", "--bias-var", "-1,0"], "bias_var"),
    (["sweep", "-o", "g.npz", "--kernel", "ck,foo"], "kernel"),
    (["sweep", "-o", "g.npz", "--kernel", ""], "kernel"),
    (["sweep", "-o", "g.npz", "--activation", "tanh"], "activation"),
    (["sweep", "-o", "g.npz", "--dim", "0"], "dim"),
    (["sweep", "-o", "g.npz", "--max-depth", "-1"], "max_depth"),
    (["sweep", "-o", "g.npz", "--dim", "4", "--max-degree", "5"], "max_degree"),
    (["sweep", "-o", "g.npz", "--threads", "0"], "threads"),
    (["sweep", "-o", "g.txt"], "output"),
    (["sweep"], "--output"),
]


@pytest.mark.parametrize("args, needle", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_exit_2(args, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run(*args)
    assert r.exit_code == 2, (r.output, r.stderr, r.exception)
    assert isinstance(r.exception, SystemExit)  # handled, not an uncaught exception
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert needle in lines[0]
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    assert os.listdir(tmp_path) == []


def test_library_errors_are_one_line(monkeypatch):
    def broken(*args, **kwargs):
        raise TypeError("kernel must be one of ck, ntk;\n got something else")

    monkeypatch.setattr(spectra, "cube_eigenvalues", broken)
    r = run("eigs")
    assert r.exit_code == 2 and r.stderr == "Error: kernel must be one of ck, ntk; got something else\n"


def test_keyboard_interrupt_exits_130(monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(spectra, "cube_eigenvalues", interrupted)
    r = run("eigs")
    assert r.exit_code == 130
    assert r.stderr == "Error: interrupted\n"


# ---------------------------------------------------------------------------------------
# help and version
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command, words", [
    ([], ["eigs", "kernel", "sweep", "probability measure"]),
    (["eigs"], ["--domain", "--dim", "--activation", "--depth", "--weight-var", "--bias-var", "--kernel",
                "--max-degree", "--precision", "--normalize", "--format", "uniform probability measure",
                "fractional variance"]),
    (["kernel"], ["--t", "--symbolic", "--precision", "--format", "t = <x,y>/d"]),
    (["sweep"], ["--weight-var", "--bias-var", "--max-depth", "--max-degree", "--threads", "--output",
                 "start:stop:num", ".npz", ".csv"]),
])
def test_help(command, words):
    for flag in ("--help", "-h"):
        r = ok(*command, flag)
        assert r.output.startswith("Usage: ")
        text = " ".join(r.output.split())
        for w in words:
            assert w in text, w


def test_bare_spectra_prints_help():
    r = ok()
    assert r.output.startswith("Usage: ") and "eigs" in r.output


def test_version():
    r = ok("--version")
    assert r.output.strip() == f"spectra {spectra.__version__}"


def test_python_dash_m_and_import_stays_click_free():
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    r = subprocess.run([sys.executable, "-m", "spectra", "--version"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.strip() == f"spectra {spectra.__version__}"
    r = subprocess.run([sys.executable, "-c", "import sys, spectra; print('click' in sys.modules)"],
                       capture_output=True, text=True, env=env)
    assert r.stdout.strip() == "False"
