"""`spectra verify walsh | gram | width` through click's CliRunner: the formats, the figures, the
memory statement and refusal, and one-line errors for bad input.

Numbers are checked against the theory (spectra.cube_eigenvalues) and against the library
calls with the same arguments; plots by file type.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("click")
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from cli_helpers import bad, ok, run  # noqa: E402,F401

import spectra  # noqa: E402

MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF", ".svg": b"<?xml"}


def _has_gpu():
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001
        return False


# ---------------------------------------------------------------------------------------
# walsh
# ---------------------------------------------------------------------------------------


def test_walsh_json_matches_theory():
    r = ok("verify", "walsh", "--dim", 10, "--activation", "erf", "--depth", 3, "--weight-var", 4, "--bias-var",
           "1/4", "--kernel", "ck", "--format", "json")
    doc = json.loads(r.stdout)
    assert doc["check"] == "walsh" and doc["points"] == 1024 and doc["passed"] is True
    assert doc["backend"] == "numpy" and doc["precision"] == "double-double"
    mu = spectra.cube_eigenvalues(spectra.Architecture("erf", 3, 4, "1/4"), 10, "ck", max_degree=10,
                                  precision=25).values
    for rec in doc["degrees"]:
        m = float(mu[rec["degree"]])
        assert rec["empirical_min"] == pytest.approx(m, rel=1e-12)
        assert rec["empirical_max"] == pytest.approx(m, rel=1e-12)
        assert rec["ok"] is True
    assert "about" in r.stderr and "of memory" in r.stderr  # the memory statement, up front


def test_walsh_table_and_csv():
    r = ok("verify", "walsh", "--dim", 8, "--precision", "double")
    lines = r.stdout.splitlines()
    assert lines[0].startswith("Walsh check: relu, depth 2") and "{-1,+1}^8 (256 points), double" in lines[0]
    assert lines[1].split()[:3] == ["degree", "mult", "theory"]
    assert len(lines) == 2 + 9 + 1 and lines[-1].startswith("all degrees agree")
    csv = ok("verify", "walsh", "--dim", 6, "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("degree,multiplicity,theory,") and len(csv) == 8
    assert csv[3].split(",")[1] == "15"  # C(6, 2)


@pytest.mark.parametrize("ext", [".png", ".svg"])
def test_walsh_plot(tmp_path, ext):
    path = tmp_path / f"w{ext}"
    r = ok("verify", "walsh", "--dim", 6, "--plot", path)
    assert path.read_bytes().startswith(MAGIC[ext]) and "wrote" in r.stderr


# ---------------------------------------------------------------------------------------
# gram and width
# ---------------------------------------------------------------------------------------


def test_gram_json_and_plot(tmp_path):
    path = tmp_path / "g.pdf"
    args = ("verify", "gram", "--domain", "sphere", "--dim", 4, "--samples", 400, "--seed", 3, "--bias-var", 1)
    doc = json.loads(ok(*args, "--format", "json", "--plot", path).stdout)
    assert path.read_bytes().startswith(MAGIC[".pdf"])
    assert doc["check"] == "gram" and doc["eigenvalues_computed"] == "all" and doc["samples"] == 400
    mu = spectra.sphere_eigenvalues(spectra.Architecture("relu", 2, 2, 1), 4, "ntk", max_degree=3).as_float()
    c0 = doc["clusters"][0]
    assert c0["label"] == "0" and c0["multiplicity"] == 1 and c0["theory"] == pytest.approx(mu[0], rel=1e-12)
    assert [c["multiplicity"] for c in doc["clusters"][:3]] == [1, 4, 9]  # N(4, k)
    table = ok(*args).stdout.splitlines()
    assert table[0].startswith("Gram check:") and "all eigenvalues (LAPACK)" in table[0]
    assert table[1].split()[:3] == ["k", "mult", "theory"]
    csv = ok(*args, "--format", "csv", "--top", 30).stdout.splitlines()
    assert csv[0].startswith("label,degree,radial,multiplicity,theory")


def test_width_formats_and_plot(tmp_path):
    path = tmp_path / "w.png"
    args = ("verify", "width", "--widths", "16,64,256", "--samples", 16, "--seeds", 2, "--dim", 5)
    r = ok(*args, "--plot", path)
    assert path.read_bytes().startswith(MAGIC[".png"])
    assert r.stdout.splitlines()[1].split() == ["width", "CK", "rel.", "error", "NTK", "rel.", "error"]
    assert "slope of log error vs log width" in r.stdout
    csv = ok(*args, "--format", "csv").stdout.splitlines()
    assert csv[0] == "width,ck_error,ck_error_std,ntk_error,ntk_error_std" and len(csv) == 4
    doc = json.loads(ok(*args, "--format", "json").stdout)
    assert [w["width"] for w in doc["widths"]] == [16, 64, 256]
    errs = [w["ntk_error"] for w in doc["widths"]]
    assert errs[-1] < errs[0] and np.isfinite(doc["ntk_slope"])


def test_strict_backend_runs():
    doc = json.loads(ok("verify", "walsh", "--dim", 7, "--backend", "array-api-strict", "--format", "json").stdout)
    assert doc["backend"] == "array-api-strict" and doc["passed"]


# ---------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------


def test_memory_refusals():
    r = bad("verify", "walsh", "--dim", 40, match="needs about 16.0 TiB of memory")
    assert "the largest dim that fits is" in r.stderr
    bad("verify", "walsh", "--dim", 22, "--max-memory", "20M", match="the largest dim that fits is 16")
    bad("verify", "gram", "--samples", 50000, "--max-memory", "1G", match="the largest number of samples that fits is")
    bad("verify", "width", "--widths", "100000", "--max-memory", "1G", match="the largest width that fits is")


@pytest.mark.parametrize("args,match", [
    (("walsh", "--dim", 0), "dim must be an integer in 1..40; got 0"),
    (("walsh", "--dim", "x"), "dim must be an integer; got 'x'"),
    (("walsh", "--precision", "quad"), "precision must be one of double, double-double; got 'quad'"),
    (("gram", "--samples", 0), "samples must be an integer >= 1; got 0"),
    (("gram", "--samples", -3), "samples must be an integer >= 1; got -3"),
    (("gram", "--top", 0), "top must be 'all' or an integer >= 1; got 0"),
    (("gram", "--samples", 10, "--top", 20), "top must be 'all' or an integer in 1..10"),
    (("gram", "--domain", "torus"), "domain must be one of cube, sphere, gaussian; got 'torus'"),
    (("gram", "--backend", "torch"), "backend must be one of numpy, cupy, array-api-strict; got 'torch'"),
    (("gram", "--max-memory", "lots"), "max_memory must be a size > 0 such as 8G"),
    (("width", "--widths", "64,x"), "widths must be a comma-separated list of integers >= 1"),
    (("width", "--widths", "0"), "widths must be a comma-separated list of integers >= 1"),
    (("width", "--seeds", 0), "seeds must be an integer >= 1; got 0"),
    (("width", "--activation", "step", "--kernel", "ck"), "NTK is undefined and the width check"),
    (("gram", "--activation", "sign"), "NTK is undefined"),
    (("walsh", "--weight-var", "-1"), "weight_var must be a finite number > 0"),
])
def test_bad_input(args, match):
    bad("verify", *args, match=match)


@pytest.mark.skipif(_has_gpu(), reason="a GPU is present")
def test_cupy_missing():
    bad("verify", "walsh", "--backend", "cupy", match="backend 'cupy'")


def test_help_lists_subcommands():
    out = ok("verify", "--help").stdout
    for name in ("walsh", "gram", "width"):
        assert name in out
