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

import mpmath
import numpy as np
import pytest
from reference import exp_kernel_ref

click = pytest.importorskip("click")
from click.testing import CliRunner
from spectra_cli.main import main

import spectra

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
# eigs --domain sphere | gaussian
# ---------------------------------------------------------------------------------------


def n_harmonics(d: int, k: int) -> int:
    """Dimension of the degree-k spherical harmonics on S^{d-1}, from the closed form
    (2k + d - 2)/k * C(k + d - 3, k - 1) (not the library's difference of binomials)."""
    if k == 0:
        return 1
    return (2 * k + d - 2) * math.comb(k + d - 3, k - 1) // k


def test_n_harmonics_known_values():
    assert [n_harmonics(3, k) for k in range(5)] == [1, 3, 5, 7, 9]  # 2k + 1 on S^2
    assert [n_harmonics(2, k) for k in range(4)] == [1, 2, 2, 2]  # cos, sin on the circle
    assert [n_harmonics(5, k) for k in range(5)] == [1, 5, 14, 30, 55]


SPHERE = ["eigs", "--domain", "sphere", "--dim", "5", "--max-degree", "4"]
GAUSS = ["eigs", "--domain", "gaussian", "--dim", "3", "--max-degree", "2", "--radial", "2"]
LINEAR = ["--activation", "identity", "--depth", "0", "--weight-var", "2", "--bias-var", "0.5"]


def test_sphere_table():
    r = ok(*SPHERE)
    head = [ln for ln in r.output.splitlines() if ln.startswith("#")]
    assert "on the sphere sqrt(5)·S^4 (uniform probability measure)" in head[0]
    assert "relu, depth 2, weight_var 2, bias_var 0; precision double" in head[0]
    assert "Phi(1) = 6" in head[1] and "N(5,k)" in head[1] and "C(5," not in head[1]
    assert "{-1,+1}" not in r.output and "Gaussian" not in r.output
    header, rows = table_rows(r.output)
    assert header[:6] == ["degree", "multiplicity", "eigenvalue", "frac_variance", "error", "digits"]
    assert [int(row[0]) for row in rows] == list(range(5))
    assert [int(row[1]) for row in rows] == [n_harmonics(5, k) for k in range(5)]
    assert sum(float(row[3]) for row in rows) <= 1 + 1e-5


def test_sphere_default_max_degree_is_10():
    doc = json.loads(ok("eigs", "--domain", "sphere", "--dim", "3", "--format", "json").output)
    assert [e["degree"] for e in doc["eigenvalues"]] == list(range(11))  # not min(dim, 10)


def test_sphere_csv_and_json_agree_and_match_funk_hecke_at_d3():
    # d = 3: t = <x,y>/3 is uniform on [-1, 1] (Archimedes) and P_{k,3} is Legendre's P_k, so
    # mu_k = (1/2) int_{-1}^{1} Phi(t) P_k(t) dt; erf's Phi is smooth, Gauss-Legendre converges fast.
    args = ("eigs", "--domain", "sphere", "--dim", "3", "--max-degree", "4", "--activation", "erf",
            "--bias-var", "0.5", "--kernel", "ntk")
    rows = list(csv.DictReader(io.StringIO(ok(*args, "--format", "csv").output)))
    doc = json.loads(ok(*args, "--format", "json").output)
    assert list(rows[0]) == ["degree", "multiplicity", "value", "normalized", "fractional_variance", "error",
                             "digits", "flag"]
    assert (doc["domain"], doc["dim"], doc["activation"], doc["bias_var"]) == ("sphere", 3, "erf", "1/2")
    assert "radial" not in doc and "radial_nodes" not in doc
    nodes, weights = np.polynomial.legendre.leggauss(200)
    spec = spectra.Architecture("erf", depth=2, weight_var=2, bias_var="0.5")
    phi = np.array([float(v) for v in spectra.kernel(spec, nodes.tolist(), "ntk")])
    phi1 = float(spectra.kernel(spec, [1.0], "ntk")[0])
    assert close(doc["trace"], phi1, 1e-14)
    for k, (x, e) in enumerate(zip(rows, doc["eigenvalues"])):
        mu = 0.5 * np.sum(weights * phi * np.polynomial.legendre.Legendre.basis(k)(nodes))
        assert int(x["degree"]) == e["degree"] == k
        assert int(x["multiplicity"]) == e["multiplicity"] == 2 * k + 1
        assert close(x["value"], mu, 1e-10) and close(e["value"], mu, 1e-10)
        assert close(e["normalized"], mu / phi1, 1e-10)
        assert close(e["fractional_variance"], (2 * k + 1) * mu / phi1, 1e-10)
        assert "radial_index" not in e and "flag" not in e


def test_sphere_json_multiplicities_are_exact_ints():
    doc = json.loads(ok("eigs", "--domain", "sphere", "--dim", "200", "--max-degree", "40", "--kernel", "ck",
                        "--format", "json").output)
    recs = doc["eigenvalues"]
    assert all(type(e["multiplicity"]) is int for e in recs)
    assert [e["multiplicity"] for e in recs] == [n_harmonics(200, k) for k in range(41)]
    assert recs[40]["multiplicity"] > 2**53  # a float would not hold it exactly


def test_sphere_linear_kernel():
    # depth 0: Phi(t) = wv t + bv, so mu_0 = bv, mu_1 = wv/d, nothing else; trace wv + bv
    doc = json.loads(ok(*SPHERE, *LINEAR, "--format", "json").output)
    recs = doc["eigenvalues"]
    assert close(doc["trace"], 2.5, 1e-15)
    assert close(recs[0]["value"], 0.5, 1e-12) and close(recs[1]["value"], 2 / 5, 1e-12)
    assert all(e["value"] == 0 and e.get("structural_zero") for e in recs[2:])
    assert close(recs[1]["fractional_variance"], 5 * (2 / 5) / 2.5, 1e-12)


def test_sphere_exact_x2():
    # x2, depth 1, wv 1, bv 0: CK = 1 + 2 t^2. With P_{2,d}(t) = (d t^2 - 1)/(d - 1),
    # t^2 = 1/d + (d-1)/d P_{2,d}, and Funk-Hecke maps P_{k,d} to 1/N(d,k): at d = 5,
    # mu_0 = 1 + 2/5 = 7/5 and mu_2 = 2 * (4/5) / N(5,2) = 4/35; trace Phi(1) = 3.
    args = ("eigs", "--domain", "sphere", "--dim", "5", "--activation", "x2", "--depth", "1", "--weight-var", "1",
            "--kernel", "ck", "--precision", "exact", "--max-degree", "4")
    doc = json.loads(ok(*args, "--format", "json").output)
    assert doc["precision"] == "exact" and doc["trace"] == "3"
    mu2 = Fraction(2) * Fraction(4, 5) / n_harmonics(5, 2)
    assert [e["exact"] for e in doc["eigenvalues"]] == ["7/5", "0", str(mu2), "0", "0"] == ["7/5", "0", "4/35", "0", "0"]
    r = ok(*args)
    assert "7/5" in r.output and "4/35" in r.output and "precision exact" in r.output
    rows = list(csv.DictReader(io.StringIO(ok(*args, "--format", "csv").output)))
    assert [x["exact"] for x in rows] == ["7/5", "0", "4/35", "0", "0"]


def test_sphere_n_digits_and_auto():
    double = json.loads(ok(*SPHERE, "--format", "json").output)["eigenvalues"]
    doc = json.loads(ok(*SPHERE, "--precision", "30", "--format", "json").output)
    assert doc["precision"] == 30 and isinstance(doc["trace"], str) and close(doc["trace"], 6, 1e-28)
    for e, d in zip(doc["eigenvalues"], double):
        assert isinstance(e["value"], str) and significant_digits(e["value"]) == 30
        assert e["digits"] >= 30 and close(e["value"], d["value"], 1e-11)
    _, rows = table_rows(ok(*SPHERE, "--precision", "30").output)
    assert all(significant_digits(row[2]) == 30 for row in rows)
    auto = json.loads(ok(*SPHERE, "--precision", "auto", "--format", "json").output)
    assert auto["precision"] == "auto"
    assert all(close(e["value"], d["value"], 1e-11) for e, d in zip(auto["eigenvalues"], double))


def test_gaussian_table():
    r = ok(*GAUSS)
    head = [ln for ln in r.output.splitlines() if ln.startswith("#")]
    assert "under the Gaussian N(0, I_3)" in head[0] and "relu, depth 2" in head[0]
    assert "trace E K(x,x) = 6" in head[1] and "N(3,k)" in head[1]
    assert "Phi(1)" not in r.output and "sphere" not in r.output and "{-1,+1}" not in r.output
    assert "radial index j" in r.output and "radial rule of" in r.output
    header, rows = table_rows(r.output)
    assert header[:7] == ["degree", "radial", "multiplicity", "eigenvalue", "frac_variance", "error", "digits"]
    assert [(int(row[0]), int(row[1])) for row in rows] == [(k, j) for k in range(3) for j in range(2)]
    assert [int(row[2]) for row in rows] == [n_harmonics(3, k) for k in range(3) for _ in range(2)]
    # a flagged value names its degree and radial index in the notes
    for row in rows:
        if "unresolved" in row:
            assert row[3] == "\u2014"
            assert f"# degree {row[0]}, radial {row[1]}: unresolved" in r.output


def test_gaussian_csv_and_json():
    rows = list(csv.DictReader(io.StringIO(ok(*GAUSS, "--format", "csv").output)))
    doc = json.loads(ok(*GAUSS, "--format", "json").output)
    assert list(rows[0]) == ["degree", "radial", "multiplicity", "value", "normalized", "fractional_variance",
                             "error", "digits", "flag"]
    assert {"domain", "dim", "activation", "depth", "weight_var", "bias_var", "kernel", "precision", "trace",
            "radial", "radial_nodes", "eigenvalues"} <= set(doc)
    assert (doc["domain"], doc["dim"], doc["radial"], doc["precision"]) == ("gaussian", 3, 2, "double")
    assert type(doc["radial_nodes"]) is int and doc["radial_nodes"] >= 2
    recs = doc["eigenvalues"]
    assert [(e["degree"], e["radial_index"]) for e in recs] == [(k, j) for k in range(3) for j in range(2)]
    assert [(int(x["degree"]), int(x["radial"])) for x in rows] == [(k, j) for k in range(3) for j in range(2)]
    for e, x in zip(recs, rows):
        assert type(e["multiplicity"]) is int and e["multiplicity"] == n_harmonics(3, e["degree"])
        assert int(x["multiplicity"]) == e["multiplicity"]
        if e["value"] is None:
            assert e["flag"] and x["flag"] and x["value"] == ""
        else:
            assert close(x["value"], e["value"], 1e-15)
    # the radial eigenvalues of each degree are descending
    for k in range(3):
        top, second = recs[2 * k]["value"], recs[2 * k + 1]["value"]
        assert top is not None and (second is None or second <= top)


def test_gaussian_default_radial_and_max_degree():
    doc = json.loads(ok("eigs", "--domain", "gaussian", "--dim", "2", "--kernel", "ck", "--format", "json").output)
    assert doc["radial"] == 4
    assert [(e["degree"], e["radial_index"]) for e in doc["eigenvalues"]] == [(k, j) for k in range(7)
                                                                               for j in range(4)]
    doc = json.loads(ok("eigs", "--domain", "gaussian", "--dim", "1", "--radial", "1", "--format", "json").output)
    assert [e["degree"] for e in doc["eigenvalues"]] == [0, 1]  # d = 1: even and odd parts
    assert [e["multiplicity"] for e in doc["eigenvalues"]] == [1, 1]


def test_gaussian_linear_kernel():
    # depth 0: K(x, y) = wv <x,y>/d + bv: mu_{0,0} = bv, mu_{1,0} = wv/d, E K(x,x) = wv + bv
    doc = json.loads(ok(*GAUSS, *LINEAR, "--format", "json").output)
    recs = {(e["degree"], e["radial_index"]): e for e in doc["eigenvalues"]}
    assert close(doc["trace"], 2.5, 1e-12)
    assert close(recs[0, 0]["value"], 0.5, 1e-12) and close(recs[1, 0]["value"], 2 / 3, 1e-12)
    assert recs[2, 0]["value"] == 0 and recs[2, 0]["structural_zero"] is True
    for k in (0, 1):  # rank one in the radius: the second radial eigenvalue is 0
        assert recs[k, 1]["value"] is None or abs(recs[k, 1]["value"]) < 1e-12


def test_gaussian_x2_closed_form():
    # x2, depth 1, wv 1, bv 0: CK = rho rho' + 2 rho rho' t^2 with rho = |x|^2/d (rho ~ chi2_d / d,
    # E rho^2 = (d^2 + 2d)/d^2), t the cosine of the angle. Degree 0: (1 + 2/d) rho rho', rank one,
    # mu_{0,0} = (1 + 2/d) E rho^2; degree 2: 2 (d-1)/d rho rho' / N(d,2), mu_{2,0} = 2 (d-1)/d E rho^2 / N(d,2);
    # trace E K(x,x) = 3 E rho^2. At d = 3: 25/9, 4/9 and 5.
    d = 3
    e_rho2 = Fraction(d * d + 2 * d, d * d)
    doc = json.loads(ok("eigs", "--domain", "gaussian", "--dim", "3", "--max-degree", "2", "--radial", "1",
                        "--activation", "x2", "--depth", "1", "--weight-var", "1", "--kernel", "ck",
                        "--format", "json").output)
    vals = [e["value"] for e in doc["eigenvalues"]]
    assert close(vals[0], (1 + Fraction(2, d)) * e_rho2, 1e-12)
    assert vals[1] == 0
    assert close(vals[2], 2 * Fraction(d - 1, d) * e_rho2 / n_harmonics(d, 2), 1e-12)
    assert close(doc["trace"], 3 * e_rho2, 1e-12)


def test_gaussian_n_digits():
    args = ("eigs", "--domain", "gaussian", "--dim", "3", "--max-degree", "1", "--radial", "1", *LINEAR,
            "--precision", "12")
    doc = json.loads(ok(*args, "--format", "json").output)
    assert doc["precision"] == 12 and isinstance(doc["trace"], str) and close(doc["trace"], 2.5, 1e-11)
    a, b = doc["eigenvalues"]
    assert significant_digits(a["value"]) == 12 and close(a["value"], 0.5, 1e-11)
    assert significant_digits(b["value"]) == 12 and close(b["value"], 2 / 3, 1e-11)
    assert a["radial_index"] == b["radial_index"] == 0
    _, rows = table_rows(ok(*args).output)
    assert [significant_digits(row[3]) for row in rows] == [12, 12]


def test_gaussian_library_error_is_one_line(monkeypatch):
    def broken(*args, **kwargs):
        assert kwargs["radial"] == 3
        raise ValueError("radial must be\n an integer in 1..64; got 99")

    monkeypatch.setattr(spectra, "gaussian_eigenvalues", broken)
    r = run("eigs", "--domain", "gaussian", "--radial", "3")
    assert r.exit_code == 2 and r.stderr == "Error: radial must be an integer in 1..64; got 99\n"


# ---------------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------------

COMPARE_COLS = ["dim", "degree", "cube", "sphere", "gaussian", "asymptotic", "rel_cube", "rel_sphere",
                "rel_gaussian"]
ERF = ["--activation", "erf", "--depth", "2", "--weight-var", "2", "--bias-var", "0.5", "--kernel", "ntk"]


def test_compare_json_differences_shrink_like_1_over_d():
    doc = json.loads(ok("compare", *ERF, "--dim", "16,256", "--max-degree", "3", "--format", "json").output)
    assert (doc["activation"], doc["depth"], doc["weight_var"], doc["bias_var"], doc["kernel"]) == \
        ("erf", 2, 2, "1/2", "ntk")
    assert doc["dims"] == [16, 256] and doc["max_degree"] == 3
    rows = doc["rows"]
    assert [(r["dim"], r["degree"]) for r in rows] == [(d, k) for d in (16, 256) for k in range(4)]
    assert all(list(r) == COMPARE_COLS for r in rows)
    # asymptotic: Phi(0) and Phi'(0)/d from the kernel itself (central difference)
    spec = spectra.Architecture("erf", depth=2, weight_var=2, bias_var="0.5")
    h = 1e-4
    phi0, phip, phim = (float(v) for v in spectra.kernel(spec, [0.0, h, -h], "ntk"))
    by = {(r["dim"], r["degree"]): r for r in rows}
    for d in (16, 256):
        assert close(by[d, 0]["asymptotic"], phi0, 1e-12)
        assert close(by[d, 1]["asymptotic"], (phip - phim) / (2 * h) / d, 1e-7)
        for k in range(4):
            r = by[d, k]
            for name in ("cube", "sphere", "gaussian"):
                assert close(r["rel_" + name], (r[name] - r["asymptotic"]) / r["asymptotic"], 1e-9)
    for k in range(4):
        small, large = abs(by[16, k]["rel_sphere"]), abs(by[256, k]["rel_sphere"])
        assert large < small / 4  # ~ 1/d: a factor ~16 from d = 16 to d = 256


def test_compare_linear_kernel_and_missing_values():
    # depth 0: every domain has mu_0 = bv, mu_1 = wv/d = Phi'(0)/d exactly and nothing above;
    # d = 2 has no cube degree 3
    args = ("compare", *LINEAR, "--dim", "2,8", "--max-degree", "3")
    doc = json.loads(ok(*args, "--format", "json").output)
    by = {(r["dim"], r["degree"]): r for r in doc["rows"]}
    for d in (2, 8):
        for name in ("cube", "sphere", "gaussian", "asymptotic"):
            assert close(by[d, 0][name], 0.5, 1e-12) and close(by[d, 1][name], 2 / d, 1e-12)
        for name in ("rel_cube", "rel_sphere", "rel_gaussian"):
            assert abs(by[d, 0][name]) < 1e-12 and abs(by[d, 1][name]) < 1e-12
            assert by[d, 2][name] is None  # the asymptotic value is 0
        assert by[d, 2]["asymptotic"] == 0 and by[d, 2]["sphere"] == 0
    assert by[2, 3]["cube"] is None and by[8, 3]["cube"] == 0
    rows = list(csv.DictReader(io.StringIO(ok(*args, "--format", "csv").output)))
    assert list(rows[0]) == COMPARE_COLS and len(rows) == 8
    assert rows[3]["dim"] == "2" and rows[3]["degree"] == "3" and rows[3]["cube"] == ""
    assert rows[2]["rel_sphere"] == "" and close(rows[5]["sphere"], 0.25, 1e-12)
    r = ok(*args)
    head = [ln for ln in r.output.splitlines() if ln.startswith("#")]
    assert "1/d" in " ".join(head) and "Phi^(k)(0)/d^k" in " ".join(head)
    assert "identity, depth 0, weight_var 2, bias_var 1/2" in head[0]
    header, table = table_rows(r.output)
    assert header == COMPARE_COLS and len(table) == 8
    assert table[3][:3] == ["2", "3", "\u2014"] and table[2][7] == "\u2014"
    assert close(table[5][3], 0.25, 1e-6)
    # aligned: every line of the table has the same width as its header
    lines = [ln for ln in r.output.splitlines() if not ln.startswith("#")]
    assert len({len(ln) for ln in lines}) == 1


def test_compare_defaults(monkeypatch):
    seen = {}

    def fake(spec, dims, kernel="ntk", max_degree=6, precision="double"):
        seen.update(spec=spec, dims=dims, kernel=kernel, max_degree=max_degree)
        return [{"dim": d, "degree": 0, "cube": float("nan"), "sphere": 1.0, "gaussian": 1.0, "asymptotic": 1.0,
                 "rel_cube": None, "rel_sphere": 0.0, "rel_gaussian": 0.0} for d in dims]

    monkeypatch.setattr(spectra, "compare_domains", fake)
    doc = json.loads(ok("compare", "--format", "json").output)
    assert seen["dims"] == [16, 64, 256, 1024] and seen["max_degree"] == 6 and seen["kernel"] == "ntk"
    assert seen["spec"].as_dict()["activation"] == "relu"
    assert doc["rows"][0]["cube"] is None  # NaN (unresolved) is written as null, not as NaN


# ---------------------------------------------------------------------------------------
# sweep --domain sphere
# ---------------------------------------------------------------------------------------


def test_sweep_sphere_npz(tmp_path):
    path = tmp_path / "sphere.npz"
    r = ok(*SWEEP, "--domain", "sphere", "--output", str(path))
    assert "sphere" in r.output and "(3, 3, 2, 4)" in r.output and len(r.output.splitlines()) == 1
    assert os.listdir(tmp_path) == ["sphere.npz"]
    with np.load(path) as z:
        check_sweep_layout(z)
        assert int(z["dim"]) == 7 and str(z["activation"]) == "relu"
        # depth 0 is linear on the sphere too: mu_0 = bv, mu_1 = wv/d, nothing else; Phi(1) = wv + bv
        wv = np.array([1, 1.5, 2])[:, None]
        bv = np.array([0, 2])[None, :]
        assert np.allclose(z["ck"][0, :, :, 0], np.broadcast_to(bv, (3, 2)), rtol=1e-12, atol=1e-14)
        assert np.allclose(z["ck"][0, :, :, 1], np.broadcast_to(wv / 7, (3, 2)), rtol=1e-12, atol=0)
        assert np.all(z["ck"][0, :, :, 2:] == 0)
        assert np.allclose(z["ck_phi1"][0], wv + bv, rtol=1e-14)
        # the grid agrees with `spectra eigs --domain sphere` at a grid point
        doc = json.loads(ok("eigs", "--domain", "sphere", *D7, "--kernel", "ntk", "--max-degree", "3",
                            "--format", "json").output)
        assert np.allclose(z["ntk"][2, 2, 1], [e["value"] for e in doc["eigenvalues"]], rtol=1e-9, atol=0)
        assert math.isclose(z["ntk_phi1"][2, 2, 1], 18, rel_tol=1e-14)


def test_sweep_sphere_csv(tmp_path):
    path = tmp_path / "sphere.csv"
    ok(*SWEEP, "--domain", "sphere", "--output", str(path))
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["kernel", "depth", "weight_var", "bias_var", "degree", "value", "error", "phi1"]
    assert len(rows) == 2 * 3 * 3 * 2 * 4
    x = next(x for x in rows if (x["kernel"], x["depth"], x["weight_var"], x["bias_var"], x["degree"])
             == ("ck", "0", "2.0", "2.0", "1"))
    assert close(x["value"], 2 / 7, 1e-12) and close(x["phi1"], 4, 1e-14)


@pytest.fixture
def progress_record(monkeypatch):
    """Pretend stderr is a terminal and record the sweep progress bar's length and total updates."""
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
    return seen


def test_sweep_sphere_progress_total(progress_record, tmp_path):
    seen = progress_record
    r = run("sweep", "--domain", "sphere", "--dim", "7", "--max-depth", "3", "--max-degree", "2",
            "--weight-var", "1:2:5", "--threads", "4", "--output", str(tmp_path / "g.npz"))
    assert r.exit_code == 0, (r.stderr, r.exception)
    assert seen["length"] == seen["done"] == 4  # one step per depth 0..3; threads play no part


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


def check_sweep_layout(z):
    """The arrays and shapes of a SWEEP grid (3 depths × 3 weight_var × 2 bias_var × 4 degrees)."""
    assert set(z.files) == {"ck", "ck_err", "ck_phi1", "ntk", "ntk_err", "ntk_phi1", "depths", "weight_var",
                            "bias_var", "degrees", "activation", "dim"}
    for k in ("ck", "ntk"):
        assert z[k].shape == z[k + "_err"].shape == (3, 3, 2, 4)
        assert z[k + "_phi1"].shape == (3, 3, 2)
    assert z["depths"].tolist() == [0, 1, 2] and z["degrees"].tolist() == [0, 1, 2, 3]


def test_sweep_npz(tmp_path):
    path = tmp_path / "grid.npz"
    r = ok(*SWEEP, "--output", str(path))
    assert str(path) in r.output and "(3, 3, 2, 4)" in r.output and len(r.output.splitlines()) == 1
    assert os.listdir(tmp_path) == ["grid.npz"]
    with np.load(path) as z:
        check_sweep_layout(z)
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
def test_sweep_progress_total_matches_library(progress_record, tmp_path, weight_var, threads):
    seen = progress_record
    r = run("sweep", "--dim", "7", "--max-depth", "2", "--max-degree", "2", "--weight-var", weight_var,
            "--threads", threads, "--output", str(tmp_path / "g.npz"))  # the bar writes to stderr
    assert r.exit_code == 0, (r.stderr, r.exception)
    # the bar is sized before the run to exactly the number of progress calls the library makes
    assert seen["length"] == seen["done"] > 0


@pytest.mark.parametrize("exc, code", [(ValueError("weight_var: boom"), 2), (KeyboardInterrupt(), 130)])
@pytest.mark.parametrize("ext", [".npz", ".csv"])
@pytest.mark.parametrize("domain", ["cube", "sphere"])
def test_sweep_failure_leaves_no_partial_file(monkeypatch, tmp_path, exc, code, ext, domain):
    calls = []

    def failing_grid(*args, progress=None, **kwargs):
        calls.append(1)
        progress(1)
        progress(1)
        raise exc

    monkeypatch.setattr(spectra, f"{domain}_eigenvalues_grid", failing_grid)
    old = tmp_path / ("old" + ext)
    old.write_text("previous results")
    r = run(*SWEEP, "--domain", domain, "--output", str(old))
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
    (["eigs", "--domain", "torus"], "domain must be one of cube, sphere, gaussian; got 'torus'"),
    (["eigs", "--domain", "sphere", "--dim", "1"], "dim must be an integer >= 2; got 1"),
    (["eigs", "--domain", "sphere", "--dim", "0"], "dim must be an integer >= 2"),
    (["eigs", "--domain", "sphere", "--precision", "exact", "--dim", "5"], "precision"),  # relu: no closed form
    (["eigs", "--domain", "sphere", "--max-degree", "-1"], "max_degree"),
    (["eigs", "--domain", "gaussian", "--dim", "0"], "dim must be an integer >= 1; got 0"),
    (["eigs", "--domain", "gaussian", "--dim", "1", "--max-degree", "2"], "max_degree must be 0 or 1 on the gaussian at dim 1"),
    (["eigs", "--domain", "gaussian", "--precision", "exact"], "precision: 'exact' is not available"),
    (["eigs", "--domain", "gaussian", "--radial", "0"], "radial must be an integer in 1..64; got 0"),
    (["eigs", "--domain", "gaussian", "--radial", "65"], "radial must be an integer in 1..64; got 65"),
    (["eigs", "--domain", "gaussian", "--radial", "two"], "radial must be an integer"),
    (["eigs", "--radial", "2"], "radial is for --domain gaussian only"),
    (["eigs", "--domain", "sphere", "--radial", "4"], "radial is for --domain gaussian only"),
    (["eigs", "--domain", "cube", "--radial", "4", "--format", "json"], "radial"),
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
    (["eigs", "--activation", "tahn"], "activation"),
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
    (["sweep", "-o", "g.npz", "--activation", "tahn"], "activation"),
    (["sweep", "-o", "g.npz", "--dim", "0"], "dim"),
    (["sweep", "-o", "g.npz", "--max-depth", "-1"], "max_depth"),
    (["sweep", "-o", "g.npz", "--dim", "4", "--max-degree", "5"], "max_degree"),
    (["sweep", "-o", "g.npz", "--threads", "0"], "threads"),
    (["sweep", "-o", "g.txt"], "output"),
    (["sweep"], "--output"),
    (["sweep", "-o", "g.npz", "--domain", "gaussian"], "domain must be one of cube, sphere; got 'gaussian'"),
    (["sweep", "-o", "g.npz", "--domain", "sphere", "--dim", "1"], "dim must be an integer >= 2"),
    (["sweep", "-o", "g.npz", "--domain", "sphere", "--max-depth", "-1"], "max_depth"),
    (["sweep", "-o", "g.npz", "--domain", "sphere", "--weight-var", "0"], "weight_var"),
    (["compare", "--dim", "1,16"], "dim must be a comma-separated list of integers >= 2"),
    (["compare", "--dim", "16,,64"], "dim must be"),
    (["compare", "--dim", "16;64"], "dim must be"),
    (["compare", "--dim", "2.5"], "dim must be"),
    (["compare", "--dim", "abc"], "dim must be"),
    (["compare", "--dim", ""], "dim must be"),
    (["compare", "--dim", "-16"], "dim must be"),
    (["compare", "--max-degree", "65"], "max_degree must be an integer in 0..64"),
    (["compare", "--max-degree", "-1"], "max_degree"),
    (["compare", "--max-degree", "x"], "max_degree"),
    (["compare", "--activation", "tahn"], "activation"),
    (["compare", "--weight-var", "nan"], "weight_var"),
    (["compare", "--bias-var", "-1"], "bias_var"),
    (["compare", "--depth", "-1"], "depth"),
    (["compare", "--kernel", "gp"], "kernel"),
    (["compare", "--format", "xml"], "format"),
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
    ([], ["eigs", "kernel", "sweep", "compare", "probability measure"]),
    (["eigs"], ["--domain", "--dim", "--activation", "--depth", "--weight-var", "--bias-var", "--kernel",
                "--max-degree", "--radial", "--precision", "--normalize", "--format", "probability measure",
                "fractional variance", "{-1,+1}^d", "sqrt(d)·S^{d-1}", "N(0, I_d)", "C(d,k)",
                "N(d,k) = C(d+k-1,k) - C(d+k-3,k-2)", "spherical harmonics", "radial index", "Phi(1)",
                "E K(x,x)"]),
    (["compare"], ["--dim", "--max-degree", "--activation", "--depth", "--weight-var", "--bias-var", "--kernel",
                   "--format", "Phi^(k)(0)/d^k", "1/d", "16,64,256,1024"]),
    (["kernel"], ["--t", "--symbolic", "--precision", "--format", "t = <x,y>/d"]),
    (["sweep"], ["--domain", "--weight-var", "--bias-var", "--max-depth", "--max-degree", "--threads", "--output",
                 "start:stop:num", ".npz", ".csv", "sphere", "ignored"]),
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
    r = subprocess.run([sys.executable, "-m", "spectra", "--version"], capture_output=True, text=True, env=env,
                       check=False)
    assert r.returncode == 0 and r.stdout.strip() == f"spectra {spectra.__version__}"
    code = ("import sys, spectra, spectra.plots, spectra.domains; "
            "print([m for m in ('click', 'matplotlib', 'cupy') if m in sys.modules])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert r.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------------------


def test_activations_lists_builtins_in_every_format():
    r = ok("activations", "--format", "json")
    recs = {a["name"]: a for a in json.loads(r.output)["activations"]}
    assert {"relu", "erf", "identity"} <= set(recs)
    # parities from the functions themselves: erf and x odd, x^2 even, relu neither
    assert recs["erf"]["parity"] == -1 and recs["identity"]["parity"] == -1
    assert recs["x2"]["parity"] == 1 and recs["relu"]["parity"] == 0
    assert all(a["reference"] for a in recs.values())
    table = ok("activations").output.splitlines()
    assert table[0].split()[:3] == ["name", "description", "closed_form"]
    assert any(line.startswith("relu ") for line in table)
    rows = list(csv.DictReader(io.StringIO(ok("activations", "--format", "csv").output)))
    assert {r["name"] for r in rows} == set(recs)


def test_activations_bad_format():
    r = run("activations", "--format", "xml")
    assert r.exit_code == 2 and r.stderr.strip().splitlines() == ["Error: format must be one of table, csv, json; got 'xml'"]


def test_lazy_public_api_resolves_every_name():
    """Every name of spectra.__all__ resolves (most on first use, PEP 562) to the object its module
    defines, functions that share a submodule's name stay functions after that submodule is
    imported elsewhere, and `import spectra` loads only the cube core."""
    import importlib

    code = ("import sys, spectra; print(sorted(m.split('.')[1] for m in sys.modules if m.startswith('spectra.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "dynamics" not in loaded and "learning_rate" not in loaded and "sphere" not in loaded, loaded
    for name in spectra.__all__:
        obj = getattr(spectra, name)
        assert obj is not None
        mod = getattr(obj, "__module__", None)
        if mod and mod.startswith("spectra."):
            assert getattr(importlib.import_module(mod), obj.__name__) is obj
    importlib.import_module("spectra.plots")
    assert callable(spectra.optimal_depth) and callable(spectra.fractional_variance)
    assert spectra.dynamics.__name__ == "spectra.dynamics" and "measure_dynamics" in dir(spectra)
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        spectra.nonexistent  # noqa: B018


def test_kernel_beyond_float64_is_flagged_and_digits_carry_their_bound():
    r = ok("kernel", "--activation", "exp", "--depth", "3", "--weight-var", "1.5", "--bias-var", "0.3",
           "--kernel", "ck", "--t=0.5", "--format", "json")
    row = json.loads(r.output)["values"][0]
    assert row["value"] is None and "beyond the float64 range" in row["flag"]
    r = ok("kernel", "--activation", "exp", "--depth", "3", "--weight-var", "1.5", "--bias-var", "0.3",
           "--kernel", "ck", "--t=0.5", "--precision", "30", "--format", "json")
    row = json.loads(r.output)["values"][0]
    ctx = mpmath.MPContext()
    ctx.dps = 110
    want = exp_kernel_ref(Fraction(1, 2), 3, Fraction(3, 2), Fraction(3, 10), "ck", ctx)
    value, error = ctx.mpf(row["value"]), ctx.mpf(row["error"])
    assert ctx.isfinite(error) and 0 < error <= abs(value) * ctx.mpf(10) ** -29
    assert abs(value - want) <= abs(want) * ctx.mpf(10) ** -29
