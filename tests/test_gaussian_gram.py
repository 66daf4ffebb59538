"""Gaussian-input spectra (x ~ N(0, I_d), CONVENTIONS §2) against independent references.

* Monte Carlo Gram matrices with the three-argument kernel
  K(x, y) = Φ(⟨x,y⟩/d, ‖x‖²/d, ‖y‖²/d): the eigenvalues of K/n cluster at μ_{k,j}, each
  N(d, k) times.  At d = 1 the sample is symmetrised (points ±|x_i|), which splits the
  Gram matrix exactly into its even (degree 0) and odd (degree 1) parts.
* Deterministic Nyström discretisations written independently of the library
  (Gauss–Hermite at d = 1; Gauss–Jacobi in the angle × generalised Gauss–Laguerre in
  the radius at d = 3), with their own error estimate from two resolutions.
* Polynomial activations: the radial kernels have finite rank, so the μ_{k,j} are the
  eigenvalues of small exact moment matrices.
* The trace identity Σ_{k,j} N(d,k) μ_{k,j} = E K(x, x), with E K(x, x) by quadrature
  over the χ² law of ‖x‖².
"""
import functools
from fractions import Fraction

import numpy as np
import pytest
import reference as ref

import spectra

CASES = {
    "relu-ntk-L2": ("relu", 2, 2, Fraction(1, 2), "ntk"),
    "erf-ck-L1": ("erf", 1, 2, Fraction(1, 10), "ck"),
}


def arch(case):
    act, depth, wv, bv, _ = CASES[case]
    return spectra.Architecture(act, depth, wv, bv)


def kfun3(case):
    act, depth, wv, bv, kern = CASES[case]
    return lambda c, q1, q2: ref.kernel_ref3(act, c, q1, q2, depth, float(wv), float(bv), kern)


@functools.cache
def trace_ref(case, d):
    act, depth, wv, bv, kern = CASES[case]
    return float(ref.gaussian_trace_ref(act, d, depth, wv, bv, kern, dps=20))


@functools.cache
def spectrum(case, d, max_degree, radial):
    return spectra.gaussian_eigenvalues(arch(case), d, kernel=CASES[case][4], max_degree=max_degree, radial=radial)


def check_entry(got, err, flag, want, tol):
    """One library entry against a reference value.

    Resolved entries must be within ``tol`` of ``want``; an entry flagged unresolved
    (NaN, value below ten times its error bound) is accepted only if the reference
    value is itself that small: |want| <= 11 * error bound.
    """
    if flag is not None or not np.isfinite(got):
        return abs(want) <= 11 * err + tol
    return abs(got - want) <= tol

def assert_matches_nystrom(s, lo, hi, tr):
    """Every μ_{k,j} of the Spectrum ``s`` agrees with the Nyström reference ``hi`` (its error
    estimated as 10·|hi − lo|), and unflagged error estimates cover the difference."""
    vals, errs = np.asarray(s.values, dtype=float), np.asarray(s.errors, dtype=float)
    bad = []
    for i, (k, j) in enumerate(zip(s.degrees, s.extra["radial_index"])):
        k, j = int(k), int(j)
        want = hi[k][j]
        ny_err = 10 * abs(hi[k][j] - lo[k][j]) + 1e-12 * tr
        if not check_entry(vals[i], errs[i], s.flags[i], want, ny_err + 1e-9 * tr):
            bad.append(f"(k={k}, j={j}): {vals[i]!r} vs {want!r} (reference error {ny_err:.2g}; flag {s.flags[i]})")
        elif s.flags[i] is None and abs(vals[i] - want) > errs[i] + ny_err:
            bad.append(f"(k={k}, j={j}): error estimate {errs[i]:.2g} < |diff| {abs(vals[i] - want):.2g}")
    assert not bad, "\n".join(bad)



def by_degree(s):
    """{k: values in the order of the radial index} from a flat Gaussian Spectrum."""
    deg = np.asarray(s.degrees)
    jj = np.asarray(s.extra["radial_index"])
    vals = np.asarray(s.values, dtype=float)
    out = {}
    for k in sorted(set(deg.tolist())):
        sel = deg == k
        order = np.argsort(jj[sel])
        out[k] = vals[sel][order]
    return out


# ---------------------------------------------------------------------------
# layout of the flat spectrum
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_layout_d3(case):
    s = spectrum(case, 3, 8, 4)
    assert len(s.degrees) == 9 * 4
    assert list(s.degrees) == [k for k in range(9) for _ in range(4)]
    assert list(s.extra["radial_index"]) == [j for _ in range(9) for j in range(4)]
    assert tuple(s.multiplicities) == tuple(ref.sphere_multiplicity_ref(3, k) for k in range(9) for _ in range(4))
    assert all(type(m) is int for m in s.multiplicities)
    vals = np.asarray(s.values, dtype=float)
    tr = trace_ref(case, 3)
    assert float(s.trace) == pytest.approx(tr, rel=1e-12)
    ok = np.isfinite(vals)  # NaN only where flagged unresolved
    assert all((f is None) == o for f, o in zip(s.flags, ok))
    assert np.all(vals[ok] >= -1e-13 * tr)
    for k, v in by_degree(s).items():  # descending in the radial index
        v = v[np.isfinite(v)]
        assert np.all(np.diff(v) <= 1e-13 * tr), (k, v)


@pytest.mark.parametrize("case", sorted(CASES))
def test_layout_d1(case):
    s = spectrum(case, 1, 1, 4)
    assert list(s.degrees) == [0] * 4 + [1] * 4
    assert list(s.extra["radial_index"]) == [0, 1, 2, 3] * 2
    assert tuple(s.multiplicities) == (1,) * 8
    assert float(s.trace) == pytest.approx(trace_ref(case, 1), rel=1e-12)


# ---------------------------------------------------------------------------
# Monte Carlo Gram matrices
# ---------------------------------------------------------------------------


@functools.cache
def gram_eigs_d3(case, n=2000):
    X = ref.gaussian_points(n, 3, seed=2024)
    G = X @ X.T / 3
    q = np.diag(G).copy()
    K = kfun3(case)(G, q[:, None], q[None, :])
    return np.linalg.eigvalsh(K / n)[::-1], float(np.trace(K)) / n


@pytest.mark.parametrize("case", sorted(CASES))
def test_gram_clusters_d3(case):
    """Leading clusters of the n = 2000 Gram matrix at d = 3.

    Observed over seeds: block means of the three leading clusters within 1.5 %, members
    within 13 %; further clusters (isolated radial excitations such as μ_{0,1}) within
    6.5 % / 22 %.
    """
    s = spectrum(case, 3, 8, 4)
    vals = np.nan_to_num(np.asarray(s.values, dtype=float))  # unresolved entries are tiny
    pred = list(zip(vals, s.multiplicities))
    eig, tr_emp = gram_eigs_d3(case)
    assert tr_emp == pytest.approx(trace_ref(case, 3), rel=0.05)  # E K(x,x) by sampling
    fails = ref.match_clusters(eig, pred, 0.03, 0.2, count=3)
    fails += ref.match_clusters(eig, pred, 0.1, 0.3, count=7)
    assert not fails, "\n".join(fails)
    # and the tolerances have teeth
    assert ref.match_clusters(eig, [(1.1 * v, m) for v, m in pred], 0.03, 0.2, count=3)
    assert ref.match_clusters(eig, [(v / 3, m) for v, m in pred], 0.1, 0.3, count=7)


@functools.cache
def gram_eigs_d1(case, m=1500):
    x = np.abs(ref.gaussian_points(m, 1, seed=7)[:, 0])
    X, Y = x[:, None], x[None, :]
    f = kfun3(case)
    kp, km = f(X * Y, X * X, Y * Y), f(-X * Y, X * X, Y * Y)
    even = np.linalg.eigvalsh((kp + km) / (2 * m))[::-1]
    odd = np.linalg.eigvalsh((kp - km) / (2 * m))[::-1]
    return even, odd


@pytest.mark.parametrize("case", sorted(CASES))
def test_gram_even_odd_d1(case):
    """d = 1: symmetrised sample ±|x_i| (i ≤ 1500); even part ↔ degree 0, odd ↔ degree 1.

    Observed over 8 seeds: relative errors ≤ 5.0 %, 5.1 %, 5.2 % for j = 0, 1, 2 (the
    relu kernel's diagonal grows like ‖x‖², so its leading eigenvalue fluctuates like a
    sample mean of x²: ~√(2/1500) ≈ 3.7 %).
    """
    mu = by_degree(spectrum(case, 1, 1, 4))
    even, odd = gram_eigs_d1(case)
    rtol = np.array([0.08, 0.1, 0.15])
    for k, emp in ((0, even), (1, odd)):
        want = mu[k][:3]
        assert np.all(np.abs(emp[:3] - want) <= rtol * want), (k, emp[:3], want)
    # the even/odd assignment matters: the two leading values differ by far more than the tolerance
    assert abs(mu[0][0] - mu[1][0]) > 0.2 * max(mu[0][0], mu[1][0])


# ---------------------------------------------------------------------------
# deterministic Nyström references
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_nystrom_hermite_d1(case):
    """d = 1 against Gauss–Hermite Nyström (error estimate: 100 vs 200 positive nodes)."""
    f = kfun3(case)
    lo, hi = ref.gaussian_d1_nystrom(f, 100), ref.gaussian_d1_nystrom(f, 200)
    s = spectrum(case, 1, 1, 4)
    tr = trace_ref(case, 1)
    assert_matches_nystrom(s, lo, hi, tr)


@functools.cache
def nystrom_d3(case):
    f = kfun3(case)
    return ref.gaussian_mu_nystrom(f, 3, 8, nr=100, nt=100), ref.gaussian_mu_nystrom(f, 3, 8, nr=150, nt=150)


@pytest.mark.parametrize("case", sorted(CASES))
def test_nystrom_jacobi_laguerre_d3(case):
    """d = 3, k ≤ 8, j ≤ 3 against an independent Funk–Hecke + Nyström discretisation.

    Its error is estimated from two resolutions (100 and 150 nodes per axis): about
    1e-10 of the trace for erf (smooth kernel), 1e-6 for relu (kink at r = r', t = 1).
    Library error estimates must cover the difference.
    """
    lo, hi = nystrom_d3(case)
    s = spectrum(case, 3, 8, 4)
    tr = trace_ref(case, 3)
    assert_matches_nystrom(s, lo, hi, tr)


# ---------------------------------------------------------------------------
# polynomial activations: exact finite-rank radial kernels
# ---------------------------------------------------------------------------

POLY = [
    ("identity", 0, Fraction(3, 2), Fraction(1, 3), "ntk"),
    ("x2", 1, 2, Fraction(1, 2), "ck"),
    ("x2", 1, 1, Fraction(1, 4), "ntk"),
    ("x3", 1, Fraction(3, 2), Fraction(1, 5), "ntk"),
    ("x2", 2, 1, Fraction(1, 3), "ck"),
]


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("act,depth,wv,bv,kern", POLY)
def test_polynomial_kernels_exact(act, depth, wv, bv, kern, d):
    p3 = ref.poly_kernel3(act, depth, wv, bv, kern)
    kmax = 1 if d == 1 else 6
    radial = 4
    exact = ref.gaussian_mu_exact_poly(p3, d, kmax, dps=40)
    tr = ref.gaussian_trace_exact_poly(p3, d)
    s = spectra.gaussian_eigenvalues(spectra.Architecture(act, depth, wv, bv), d, kernel=kern,
                                     max_degree=kmax, radial=radial)
    assert float(s.trace) == pytest.approx(float(tr), rel=1e-13)
    assert sorted(set(np.asarray(s.degrees).tolist())) == list(range(kmax + 1))
    vals, errs = np.asarray(s.values, dtype=float), np.asarray(s.errors, dtype=float)
    bad = []
    for i, (k, j) in enumerate(zip(s.degrees, s.extra["radial_index"])):
        ex = [float(v) for v in exact[int(k)]]
        want = ex[j] if j < len(ex) else 0.0
        if not check_entry(vals[i], errs[i], s.flags[i], want, 1e-11 * abs(want) + 1e-13 * float(tr)):
            bad.append(f"(k={k}, j={j}): {vals[i]!r} (error {errs[i]:.2g}, flag {s.flags[i]}) vs exact {want!r}")
    assert not bad, "\n".join(bad)


def test_identity_depth0_by_hand():
    """K = σ_w² ⟨x,y⟩/d + σ_b²: μ_{0,0} = σ_b², μ_{1,0} = σ_w²/d, everything else 0."""
    wv, bv, d = Fraction(3, 2), Fraction(1, 3), 3
    s = spectra.gaussian_eigenvalues(spectra.Architecture("identity", 0, wv, bv), d, kernel="ck",
                                     max_degree=3, radial=3)
    want = {(0, 0): 1 / 3, (1, 0): 0.5}
    vals, errs = np.asarray(s.values, dtype=float), np.asarray(s.errors, dtype=float)
    for i, (k, j) in enumerate(zip(s.degrees, s.extra["radial_index"])):
        w = want.get((int(k), int(j)), 0.0)
        assert check_entry(vals[i], errs[i], s.flags[i], w, 1e-12 * w + 1e-13), (k, j, vals[i], s.flags[i])
    assert float(s.trace) == pytest.approx(1.5 + 1 / 3, rel=1e-14)


# ---------------------------------------------------------------------------
# trace identity
# ---------------------------------------------------------------------------

def library_total(s):
    """Σ N(d,k) μ_{k,j} over the resolved entries, and a bound on the flagged ones' share."""
    vals, errs = np.asarray(s.values, dtype=float), np.asarray(s.errors, dtype=float)
    mult = np.array(s.multiplicities, dtype=float)
    ok = np.array([f is None for f in s.flags]) & np.isfinite(vals)
    return float(np.sum(mult[ok] * vals[ok])), float(np.sum(mult[~ok] * 11 * errs[~ok]))


@pytest.mark.parametrize("case", sorted(CASES))
def test_trace_identity_d3(case):
    """Σ_{k≤8, j<4} N(3,k) μ_{k,j} = E K(x,x) − (tail), the tail from the Nyström reference.

    The truncated sum falls short of E K(x, x) by 2.4–2.9 % (relu) and ~6e-4 (erf); the
    same truncation of the independent Nyström spectrum predicts that shortfall to
    ~1e-6 (relu) / 1e-10 (erf) of the trace.
    """
    s = spectrum(case, 3, 8, 4)
    tr = trace_ref(case, 3)
    assert float(s.trace) == pytest.approx(tr, rel=1e-12)
    total, flagged = library_total(s)
    assert total <= tr * (1 + 1e-12)
    lo, hi = nystrom_d3(case)
    ny_hi = sum(ref.sphere_multiplicity_ref(3, k) * hi[k][:4].sum() for k in range(9))
    ny_lo = sum(ref.sphere_multiplicity_ref(3, k) * lo[k][:4].sum() for k in range(9))
    deficit, deficit_ny = 1 - total / tr, 1 - ny_hi / tr
    assert 0 < deficit < (0.04 if case.startswith("relu") else 2e-3)
    assert abs(deficit - deficit_ny) <= 10 * abs(ny_hi - ny_lo) / tr + flagged / tr + 1e-9, (deficit, deficit_ny)


@pytest.mark.parametrize("case", sorted(CASES))
def test_trace_identity_d1(case):
    """d = 1, radial 6: Σ_j (μ_{0,j} + μ_{1,j}) vs E K(x,x) and the Gauss–Hermite Nyström tail."""
    s = spectrum(case, 1, 1, 6)
    tr = trace_ref(case, 1)
    assert float(s.trace) == pytest.approx(tr, rel=1e-12)
    total, flagged = library_total(s)
    assert total <= tr * (1 + 1e-12)
    f = kfun3(case)
    lo, hi = ref.gaussian_d1_nystrom(f, 100), ref.gaussian_d1_nystrom(f, 200)
    ny_hi = hi[0][:6].sum() + hi[1][:6].sum()
    ny_lo = lo[0][:6].sum() + lo[1][:6].sum()
    deficit, deficit_ny = 1 - total / tr, 1 - ny_hi / tr
    assert -1e-12 < deficit < (0.02 if case.startswith("relu") else 1e-4)
    assert abs(deficit - deficit_ny) <= 10 * abs(ny_hi - ny_lo) / tr + flagged / tr + 1e-9, (deficit, deficit_ny)


def test_trace_reference_values():
    """E K(x,x): relu's diagonal is linear in ‖x‖²/d (so E K(x,x) = Φ(1)); erf's is not."""
    assert trace_ref("relu-ntk-L2", 3) == pytest.approx(float(ref.kernel_ref("relu", 1, 2, 2, 0.5, "ntk")), rel=1e-15)
    mc = kfun3("erf-ck-L1")
    x = ref.gaussian_points(200000, 3, seed=5)
    rho = (x * x).sum(axis=1) / 3
    v = mc(rho, rho, rho)
    assert abs(v.mean() - trace_ref("erf-ck-L1", 3)) < 5 * v.std() / np.sqrt(v.size)
    assert trace_ref("erf-ck-L1", 3) != pytest.approx(float(ref.kernel_ref("erf", 1, 1, 2, 0.1, "ck")), rel=1e-3)
