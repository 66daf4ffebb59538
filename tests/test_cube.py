"""Cube eigenvalues against independent references: Walsh–Hadamard transforms of the brute-force
kernel row, Gram matrices, direct sums at high working precision, exact rationals, and the
published values of CONVENTIONS §4."""
import math
import os
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference as ref
from spectra import Architecture, cube_eigenvalues, cube_eigenvalues_grid, grid_steps, krawtchouk_transform

ACTS = ref.ACTIVATIONS

# CONVENTIONS §4 (arXiv:1907.10599 companion notebooks)
PUBLIC = [
    (7, "relu", 2, 2, 2, "ck", 8, [6.710258, 0.1485453, 9.328551e-3, 1.059299e-3]),
    (7, "relu", 2, 2, 2, "ntk", 18, [11.28443, 0.5984509, 6.405307e-2, 1.705928e-2]),
    (128, "relu", 2, 2, 0, "ck", 2, [0.9896237, 4.722547e-3, 3.386542e-5, 1.693449e-7]),
    (128, "relu", 2, 2, 0, "ntk", 6, [1.381078, 1.503825e-2, 1.516146e-4, 1.075173e-6]),
    (128, "erf", 2, 2, 0, "ntk", 4.055668, [0.0, 1.822389e-2, 0.0, 2.213144e-6]),
]


def ctx(dps):
    c = mpmath.MPContext()
    c.dps = dps
    return c


@pytest.mark.parametrize("d,act,L,wv,bv,kern,phi1,mus", PUBLIC)
@pytest.mark.parametrize("precision", ["double", 20])
def test_public_values(d, act, L, wv, bv, kern, phi1, mus, precision):
    s = cube_eigenvalues(Architecture(act, L, wv, bv), d, kern, max_degree=3, precision=precision)
    assert float(s.trace) == pytest.approx(phi1, rel=1e-6)
    for got, want in zip(s.values, mus):
        if want == 0:
            assert got == 0
        else:
            assert float(got) == pytest.approx(want, rel=1e-6)


def test_public_normalised_and_white_noise():
    s = cube_eigenvalues(Architecture("relu", 2, 2, 2), 7, "ck", max_degree=7)
    assert s.normalized[0] == pytest.approx(0.838782, rel=1e-6)
    s = cube_eigenvalues(Architecture("erf", 32, 4, 0), 7, "ck", max_degree=7)
    assert s.normalized[[1, 3, 5, 7]] == pytest.approx([0.01629, 0.01556, 0.01551, 0.01549], abs=1e-5)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("kern", ["ck", "ntk"])
@pytest.mark.parametrize("d,L,wv,bv", [(6, 0, 1.3, 0.2), (7, 1, 2.0, 0.5), (8, 2, 1.5, 0.0), (5, 4, 0.9, 1.1)])
def test_walsh_brute_force(act, kern, d, L, wv, bv):
    """Every one of the 2^d Walsh coefficients of the kernel row equals μ_|S|."""
    coeffs, deg = ref.cube_walsh_eigs(lambda t: ref.kernel_ref(act, t, L, wv, bv, kern), d)
    s = cube_eigenvalues(Architecture(act, L, wv, bv), d, kern, max_degree=d)
    scale = float(s.trace)
    for k in range(d + 1):
        want = coeffs[deg == k]
        v = s.values[k]
        assert np.all(np.abs(want - v) <= 1e-13 * scale), (k, v, want[:3])
        assert np.all(np.abs(want - v) <= s.errors[k] + 4e-16 * scale * d)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("kern", ["ck", "ntk"])
@pytest.mark.parametrize("L,wv,bv", [(1, 1.8, 0.4), (3, 1.2, 0.0)])
def test_gram_matrix_clusters_and_multiplicities(act, kern, L, wv, bv):
    """Eigenvalues of the full 2^d × 2^d Gram matrix / 2^d cluster at μ_k with multiplicity C(d, k)."""
    d = 6
    eig = ref.gram_cube_eigs(lambda t: ref.kernel_ref(act, t, L, wv, bv, kern), d)
    s = cube_eigenvalues(Architecture(act, L, wv, bv), d, kern, max_degree=d)
    tol = 1e-11 * float(s.trace)
    expected = {}
    for k in range(d + 1):  # degrees whose μ coincide (e.g. structural zeros) share a cluster
        key = next((v for v in expected if abs(v - s.values[k]) <= tol), s.values[k])
        expected[key] = expected.get(key, 0) + s.multiplicities[k]
    for value, count in expected.items():
        assert np.sum(np.abs(eig - value) <= tol) == count
    assert sum(expected.values()) == 2**d


@pytest.mark.parametrize("act,kern,d,L,wv,bv", [
    ("relu", "ntk", 24, 3, "2", "1/2"), ("erf", "ck", 30, 5, "3", "1/5"), ("x3", "ntk", 20, 2, "1/2", "1/3"),
    ("relu", "ck", 40, 1, "2", "0"), ("erf", "ntk", 33, 12, "4", "0"),
])
def test_digits_against_direct_sum(act, kern, d, L, wv, bv):
    """N-digit results agree with the direct alternating sum run at 2d + 60 working digits."""
    N = 25
    s = cube_eigenvalues(Architecture(act, L, wv, bv), d, kern, max_degree=d, precision=N)
    c = ctx(2 * d + 60)
    phis = ref.cube_phi_values(act, d, L, Fraction(wv), Fraction(bv), kern, c)
    for k in range(d + 1):
        exact = ref.cube_mu_direct(phis, d, k, c)
        got = s.values[k]
        if s.structural[k]:
            assert got == 0 and abs(exact) < c.mpf(10) ** (-(2 * d + 40))
            continue
        assert abs(c.mpf(got) - exact) <= c.mpf(s.errors[k]) * (1 + c.mpf(10) ** -5)
        assert abs(c.mpf(got) - exact) <= c.mpf(10) ** (-N) * abs(exact)
        assert s.digits[k] >= N


@pytest.mark.parametrize("act", ["identity", "x2", "x3", "x4"])
@pytest.mark.parametrize("kern", ["ck", "ntk"])
def test_exact_rationals(act, kern):
    import sympy

    d = 9
    spec = Architecture(act, 2, "1/2", "1/3")
    s = cube_eigenvalues(spec, d, kern, max_degree=d, precision="exact")
    c = ctx(3 * d + 80)
    phis = ref.cube_phi_values(act, d, 2, Fraction(1, 2), Fraction(1, 3), kern, c)
    for k in range(d + 1):
        v = s.values[k]
        assert isinstance(v, sympy.Rational)
        assert abs(c.mpf(v.p) / v.q - ref.cube_mu_direct(phis, d, k, c)) < c.mpf(10) ** -60


def test_exact_rational_against_moment_enumeration():
    # Φ(t) = 1 + 2 t² (x2, depth 1, w = 1, b = 0, CK): exact μ_k by the reference's own enumeration
    d = 8
    s = cube_eigenvalues(Architecture("x2", 1, 1, 0), d, "ck", max_degree=d, precision="exact")
    for k in range(d + 1):
        want = ref.cube_mu_exact_poly([Fraction(1), Fraction(0), Fraction(2)], d, k)
        assert Fraction(int(s.values[k].p), int(s.values[k].q)) == want


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_exact_closed_forms_agree_with_digits(act):
    spec = Architecture(act, 2, 2, 1)
    ex = cube_eigenvalues(spec, 5, "ntk", max_degree=5, precision="exact")
    nd = cube_eigenvalues(spec, 5, "ntk", max_degree=5, precision=30)
    c = ctx(50)
    for a, b in zip(ex.values, nd.values):
        assert abs(c.mpf(str(a.evalf(45))) - c.mpf(b)) <= c.mpf(10) ** -29 * abs(c.mpf(b))


def test_exact_refusals():
    with pytest.raises(TypeError, match="weight_var"):
        cube_eigenvalues(Architecture("x2", 1, 0.1, 0), 4, precision="exact")
    with pytest.raises(ValueError, match="dim"):
        cube_eigenvalues(Architecture("relu", 1, 2, 0), 40, precision="exact")


@pytest.mark.parametrize("precision", ["double", 20, "exact", "auto"])
def test_parity_zeros_are_exact(precision):
    odd = cube_eigenvalues(Architecture("erf", 3, 2, 0), 12, "ntk", max_degree=12, precision=precision)
    even = cube_eigenvalues(Architecture("x2", 2, 1, 0), 12, "ck", max_degree=12, precision=precision)
    for k in range(13):
        if k % 2 == 0:
            assert odd.values[k] == 0 and odd.structural[k]
        if k % 2 == 1 or k > 4:  # x2 depth 2: Φ even, of degree 4
            assert even.values[k] == 0 and even.structural[k]
    assert not any(odd.structural[1::2])


def test_trace_identity_digits():
    for act, kern in [("relu", "ntk"), ("erf", "ck"), ("x3", "ntk")]:
        d = 50
        s = cube_eigenvalues(Architecture(act, 3, 2, "1/4"), d, kern, max_degree=d, precision=30)
        total = sum(m * v for m, v in zip(s.multiplicities, s.values))
        assert abs(total - s.trace) <= mpmath.mpf(10) ** -28 * s.trace
        assert abs(sum(s.fractional_variance) - 1) < mpmath.mpf(10) ** -28


def test_krawtchouk_transform_direct():
    rng = np.random.default_rng(3)
    for d in (1, 2, 5, 11):
        F = [int(v) for v in rng.integers(-10**12, 10**12, d + 1)]
        Q = krawtchouk_transform(F, d)
        for k in range(d + 1):
            assert Q[k] == math.comb(d, k) * sum(f * c for f, c in zip(F, ref.cube_coeffs(d, k)))


def test_double_flags_instead_of_noise():
    d = 200
    s = cube_eigenvalues(Architecture("erf", 2, 2, "1/2"), d, "ntk", max_degree=d)
    flagged = [f is not None for f in s.flags]
    assert any(flagged) and not all(flagged)
    assert list(~s.resolved) == flagged
    for k in range(d + 1):
        if flagged[k]:
            assert np.isnan(s.values[k])
        else:
            assert s.values[k] != 0 and s.errors[k] <= 0.1 * abs(s.values[k])
    # the unresolved values really are below double precision's reach
    nd = cube_eigenvalues(Architecture("erf", 2, 2, "1/2"), d, "ntk", degrees=[d], precision=10)
    assert abs(nd.values[0]) < 1e-30 * float(nd.trace)


def test_auto_recomputes_unresolved():
    d = 200
    spec = Architecture("erf", 2, 2, "1/2")
    auto = cube_eigenvalues(spec, d, "ntk", max_degree=d, precision="auto")
    nd = cube_eigenvalues(spec, d, "ntk", max_degree=d, precision=20)
    for a, b, f in zip(auto.values, nd.values, auto.flags):
        if f is None:
            assert abs(a - float(b)) <= 1e-12 * abs(float(b)) + 1e-300
        else:
            assert "underflow" in f and np.isnan(a) and abs(b) < 1e-290


def test_large_dimension_no_overflow():
    s = cube_eigenvalues(Architecture("relu", 2, 2, 0.5), 100000, "ntk", max_degree=6)
    assert np.all(np.isfinite(s.errors))
    resolved = ~np.isnan(s.values)
    assert resolved[:3].all()
    # large-d limit: μ_k ≈ Φ^{(k)}(0)/d^k, so μ_1 d ≈ Φ'(0) and μ_0 ≈ Φ(0) (CONVENTIONS §2)
    from spectra import kernel

    spec = Architecture("relu", 2, 2, 0.5)
    h = 1e-4
    dphi = (kernel(spec, [h], "ntk")[0] - kernel(spec, [-h], "ntk")[0]) / (2 * h)
    assert s.values[1] * 100000 == pytest.approx(dphi, rel=1e-3)
    assert s.values[0] == pytest.approx(kernel(spec, [0.0], "ntk")[0], rel=1e-3)


_FORK = pytest.mark.skipif(not hasattr(os, "fork"), reason="forked workers need os.fork")


@pytest.mark.parametrize("processes", [False, pytest.param(True, marks=_FORK)])
@pytest.mark.parametrize("wv,bv", [
    (np.array([1.0, 2.5, 4.0]), np.array([0.0, 0.5, 3.0])),  # 9 points: items of 5 and 4 cross a weight_var row
    (np.array([2.0]), np.array([0.0, 0.2, 0.5, 1.0, 3.0])),  # one weight_var: split along bias_var
])
def test_grid_matches_single(wv, bv, processes):
    calls = []
    out = cube_eigenvalues_grid("erf", 64, 20, wv, bv, ("ck", "ntk"), max_degree=6, threads=2, progress=calls.append,
                                processes=processes)
    assert out["ck"].shape == (21, wv.size, bv.size, 7)
    assert len(calls) == grid_steps(20, wv.size, bv.size, threads=2) == 21 * 2
    for L in (0, 1, 7, 20):
        for i in range(wv.size):
            for j in range(bv.size):
                for k in ("ck", "ntk"):
                    s = cube_eigenvalues(Architecture("erf", L, float(wv[i]), float(bv[j])), 64, k, max_degree=6)
                    g = out[k][L, i, j]
                    assert out[k + "_phi1"][L, i, j] == pytest.approx(float(s.trace), rel=1e-14)
                    for kk in range(7):
                        if s.structural[kk]:
                            assert g[kk] == 0
                        elif np.isfinite(g[kk]) and np.isfinite(s.values[kk]):
                            tol = out[k + "_err"][L, i, j, kk] + s.errors[kk]
                            assert abs(g[kk] - s.values[kk]) <= tol


@pytest.mark.parametrize("nw,nb,threads,block", [(41, 41, 2, None), (1, 41, 2, None), (3, 1, 8, None),
                                                   (5, 4, 3, None), (5, 2, 4, None), (5, 4, 3, 2), (1, 1, 2, None)])
def test_grid_chunks_cover_the_grid(nw, nb, threads, block):
    """Work items: contiguous ranges of the flattened grid, each point once, at most ``threads``
    of them, sizes within one of each other (default) or ``block`` weight_var rows each."""
    from spectra.cube import _grid_chunks

    chunks = _grid_chunks(nw, nb, threads, block)
    assert [c[0] for c in chunks] == [0] + [c[1] for c in chunks[:-1]] and chunks[-1][1] == nw * nb
    sizes = [b - a for a, b in chunks]
    if block is None:
        assert len(chunks) <= threads and max(sizes) - min(sizes) <= 1
    else:
        assert all(n == block * nb for n in sizes[:-1]) and 0 < sizes[-1] <= block * nb


def test_grid_block_items():
    """``block`` weight_var rows per work item: more items (progress steps), the same results."""
    wv, bv = np.linspace(1, 5, 5), np.linspace(0, 4, 3)
    calls = []
    a = cube_eigenvalues_grid("erf", 32, 6, wv, bv, ("ck",), max_degree=4, threads=2, block=2, progress=calls.append)
    b = cube_eigenvalues_grid("erf", 32, 6, wv, bv, ("ck",), max_degree=4, threads=1)
    assert len(calls) == grid_steps(6, 5, 3, threads=2, block=2) == 7 * 3
    np.testing.assert_array_equal(np.isnan(a["ck"]), np.isnan(b["ck"]))
    ok = np.isfinite(a["ck"])
    assert np.all(np.abs(a["ck"] - b["ck"])[ok] <= (a["ck_err"] + b["ck_err"])[ok])


@_FORK
def test_grid_processes_same_as_threads():
    """Forked workers (shared-memory output) give the same bits as threads on the same blocks."""
    wv, bv = np.linspace(1, 5, 7), np.linspace(0, 4, 6)
    a = cube_eigenvalues_grid("relu", 32, 12, wv, bv, ("ck", "ntk"), max_degree=5, threads=3, processes=True)
    b = cube_eigenvalues_grid("relu", 32, 12, wv, bv, ("ck", "ntk"), max_degree=5, threads=3, processes=False)
    for k in ("ck", "ntk", "ck_err", "ntk_err", "ck_phi1", "ntk_phi1"):
        np.testing.assert_array_equal(a[k], b[k])


def _no_children_left():
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


@_FORK
def test_grid_worker_error_reaches_caller(monkeypatch):
    import spectra.cube as cube_mod

    def boom(*args, **kwargs):
        raise ArithmeticError("injected failure in a worker")

    monkeypatch.setattr(cube_mod, "_fast_core", boom)
    with pytest.raises(RuntimeError, match="injected failure in a worker"):
        cube_eigenvalues_grid("erf", 16, 3, [1.0, 2.0], [0.0, 1.0], max_degree=4, threads=2, processes=True)
    _no_children_left()


@_FORK
def test_grid_interrupt_kills_workers():
    """Ctrl-C in the caller (here: the progress callback raising) stops the forked workers."""
    seen = []

    def progress(n):
        seen.append(n)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cube_eigenvalues_grid("erf", 128, 400, np.linspace(1, 5, 8), np.linspace(0, 4, 8), max_degree=8,
                              threads=2, processes=True, progress=progress)
    assert len(seen) == 3
    _no_children_left()


def test_grid_processes_argument(monkeypatch):
    out = cube_eigenvalues_grid("erf", 8, 1, [1.0, 2.0], [0.0], threads=2, processes=False, max_degree=2)
    assert np.isfinite(out["ck"]).any()
    # a platform without fork (e.g. Windows): processes=True is refused, naming the parameter
    monkeypatch.delattr(os, "fork", raising=False)
    with pytest.raises(ValueError, match="processes"):
        cube_eigenvalues_grid("erf", 8, 1, [1.0, 2.0], [0.0], threads=2, processes=True)


def test_grid_accuracy_against_digits():
    wv, bv = np.array([1.0, 3.0, 5.0]), np.array([0.0, 1.2, 4.0])
    out = cube_eigenvalues_grid("relu", 128, 60, wv, bv, ("ck", "ntk"), max_degree=8)
    rng = np.random.default_rng(0)
    for _ in range(6):
        L, i, j = int(rng.integers(0, 61)), int(rng.integers(0, 3)), int(rng.integers(0, 3))
        for k in ("ck", "ntk"):
            s = cube_eigenvalues(Architecture("relu", L, float(wv[i]), float(bv[j])), 128, k, max_degree=8,
                                 precision=25)
            for kk in range(9):
                ex = float(s.values[kk])
                got = out[k][L, i, j, kk]
                if np.isfinite(got):
                    assert abs(got - ex) <= out[k + "_err"][L, i, j, kk]
                if ex != 0 and abs(ex) / float(s.trace) >= 1e-12:
                    assert abs(got - ex) <= 1e-9 * abs(ex)


@pytest.mark.parametrize("bad,match", [
    (dict(dim=0), "dim"), (dict(dim=5, max_degree=6), "max_degree"), (dict(dim=5, max_degree=-1), "max_degree"),
    (dict(dim=5, kernel="foo"), "kernel"), (dict(dim=5, precision=10001), "precision"),
    (dict(dim=5, precision="fast"), "precision"), (dict(dim=2.0), "dim"),
])
def test_bad_input(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        cube_eigenvalues(Architecture("relu", 1, 1, 0), **bad)


# --- property tests ------------------------------------------------------------------------

hyper = st.fractions(min_value=Fraction(1, 10), max_value=5, max_denominator=20)
bias = st.fractions(min_value=0, max_value=4, max_denominator=20)


@settings(max_examples=25, deadline=None)
@given(act=st.sampled_from(["relu", "erf", "x3"]), kern=st.sampled_from(["ck", "ntk"]),
       depth=st.integers(0, 8), wv=hyper, bv=bias, d=st.integers(2, 60))
def test_double_within_error_of_digits(act, kern, depth, wv, bv, d):
    spec = Architecture(act, depth, wv, bv)
    db = cube_eigenvalues(spec, d, kern, max_degree=d)
    nd = cube_eigenvalues(spec, d, kern, max_degree=d, precision=20)
    for v, e, x in zip(db.values, db.errors, nd.values):
        if np.isfinite(v):
            assert abs(v - float(x)) <= e + 1e-300


@settings(max_examples=25, deadline=None)
@given(act=st.sampled_from(["relu", "erf", "x2", "x3"]), depth=st.integers(1, 6), wv=hyper, bv=bias,
       d=st.integers(2, 40))
def test_weak_simplicity_bias_and_trace(act, depth, wv, bv, d):
    """μ_0 ≥ μ_2 ≥ … and μ_1 ≥ μ_3 ≥ … for the CK (Yang & Salman); trace identity."""
    spec = Architecture(act, depth, wv, bv)
    s = cube_eigenvalues(spec, d, "ck", max_degree=d, precision=20)
    for k in range(d - 1):
        assert s.values[k] >= s.values[k + 2] - s.errors[k] - s.errors[k + 2]
    total = sum(m * v for m, v in zip(s.multiplicities, s.values))
    assert abs(total - s.trace) <= mpmath.mpf(10) ** -17 * s.trace
