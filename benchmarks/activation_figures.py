"""Figures of issue 4: every built-in activation's kernel against an independent quadrature.

For each built-in name, the CK and NTK of depth 3, weight_var 1.5, bias_var 0.3 at
t ∈ {−1, −0.5, 0, 0.5, 1} are computed by spectra at double precision and at 30 digits, and
compared with a layer-by-layer recursion whose dual activations come from a reference
quadrature of the test suite, applied to the activation written independently as an mpmath
function: the tanh-sinh reference of tests/test_numeric_duals.py (40 digits, fine and coarse
steps must agree; piecewise-polynomial φ, relu3's cubic included, integrated in closed form on
the inner line; exp's rules centred on the peak of its integrand, at 100 digits since its
depth-3 kernel is e^{~1e48}). ``--reference gl`` uses tests/reference.py ``dual_quad`` instead
(tensor Gauss–Legendre over the bivariate normal density at 34 digits, pieces split at the
kinks, with its own error check; slow). Either shares no code with spectra's Mehler series, its
Arb/GL quadrature or the closed forms. Also times a 30-digit kernel value of each
quadrature-route activation. A value beyond the float64 range has no double figure; there the
double result must not be finite.

    python benchmarks/activation_figures.py [--names tanh,elu] [--out results.json] [--reference gl]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import mpmath

import spectra
from spectra import Architecture, kernel

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import reference as R

DPS = 34
DEPTH = 3
TS = ["-1", "-1/2", "0", "1/2", "1"]


def acts():
    """name -> (φ, φ' (None: CK only), kink besides 0), computing in the context of x."""
    def C(x):
        return x.context

    sel_l = "1.050700987355480493419334985294"
    sel_a = "1.6732632423543772848170429916717"

    def sig(x):
        return 1 / (1 + C(x).exp(-x))

    def sp(x):
        return C(x).log1p(C(x).exp(x)) if x < 30 else x + C(x).log1p(C(x).exp(-x))

    def H(x):
        return C(x).one if x > 0 else C(x).zero

    def gelu_d(x):
        c = C(x)
        return (1 + c.erf(x / c.sqrt(2))) / 2 + x * c.exp(-x * x / 2) / c.sqrt(2 * c.pi)

    return {
        "relu": (lambda x: max(x, 0), H, None),
        "erf": (lambda x: C(x).erf(x), lambda x: 2 / C(x).sqrt(C(x).pi) * C(x).exp(-x * x), None),
        "identity": (lambda x: x, lambda x: C(x).one, None),
        "leaky_relu": (lambda x: x if x > 0 else x / 100, lambda x: C(x).one if x > 0 else C(x).one / 100, None),
        "abs": (abs, lambda x: C(x).one if x > 0 else -C(x).one, None),
        "step": (H, None, None),
        "sign": (lambda x: C(x).one if x > 0 else -C(x).one, None, None),
        "sin": (lambda x: C(x).sin(x), lambda x: C(x).cos(x), None),
        "cos": (lambda x: C(x).cos(x), lambda x: -C(x).sin(x), None),
        "exp": (lambda x: C(x).exp(x), lambda x: C(x).exp(x), None),
        "gauss": (lambda x: C(x).exp(-x * x / 2), lambda x: -x * C(x).exp(-x * x / 2), None),
        "relu2": (lambda x: max(x, 0) ** 2, lambda x: 2 * max(x, 0), None),
        "relu3": (lambda x: max(x, 0) ** 3, lambda x: 3 * max(x, 0) ** 2, None),
        "gelu": (lambda x: x * (1 + C(x).erf(x / C(x).sqrt(2))) / 2, gelu_d, None),
        "x2": (lambda x: x * x, lambda x: 2 * x, None),
        "x3": (lambda x: x**3, lambda x: 3 * x * x, None),
        "x4": (lambda x: x**4, lambda x: 4 * x**3, None),
        "tanh": (lambda x: C(x).tanh(x), lambda x: 1 / C(x).cosh(x) ** 2, None),
        "sigmoid": (sig, lambda x: sig(x) * sig(-x), None),
        "softplus": (sp, sig, None),
        "silu": (lambda x: x * sig(x), lambda x: sig(x) * (1 + x * sig(-x)), None),
        "elu": (lambda x: x if x > 0 else C(x).expm1(x), lambda x: C(x).one if x > 0 else C(x).exp(x), None),
        "selu": (lambda x: C(x).mpf(sel_l) * (x if x > 0 else C(x).mpf(sel_a) * C(x).expm1(x)),
                 lambda x: C(x).mpf(sel_l) * (1 if x > 0 else C(x).mpf(sel_a) * C(x).exp(x)), None),
        "mish": (lambda x: x * C(x).tanh(sp(x)),
                 lambda x: C(x).tanh(sp(x)) + x * sig(x) / C(x).cosh(sp(x)) ** 2, None),
        "hardtanh": (lambda x: max(-1, min(1, x)), lambda x: C(x).one if -1 < x < 1 else C(x).zero, 1),
    }


def e2(f, c, q, kink):
    """E[f(u) f(v)], Var = q, Cov = c: tests/reference.py's tensor Gauss–Legendre quadrature
    (pieces with 0 and ±kink as breaks) at 34 digits, order 64; its own error estimate
    (order 72) is checked."""
    val, err = R.dual_quad(f, c, q, q, dps=DPS, order=64, return_error=True, kink=kink)
    if abs(err) > abs(val) * mpmath.mpf(10) ** (-31) + mpmath.mpf(10) ** (-33):
        raise RuntimeError(f"reference quadrature unresolved: error {err}")
    return val


def reference(ctx, name, t, depth=DEPTH):
    """(CK, NTK) of the given depth at t, in the context ctx (hyperparameters exact: 3/2, 3/10)."""
    f, df, kink = acts()[name]
    W, B = ctx.mpf(3) / 2, ctx.mpf(3) / 10
    S = W * t + B
    q = W + B
    T = S
    for _ in range(depth):
        V = e2(f, S, q, kink)
        D = e2(df, S, q, kink) if df is not None else None
        Vq = e2(f, q, q, kink)
        S_new = W * V + B
        T = S_new + W * T * D if df is not None else None
        S, q = S_new, W * Vq + B
    return S, T


def closed_form_refs():
    """The closed-form built-ins written for the tanh-sinh reference of tests/test_numeric_duals.py:
    smooth φ as functions, piecewise φ as pieces of polynomials (degree ≤ 2), whose inner
    Gaussian integrals that reference does in closed form. φ' None: the CK only (jumps)."""
    from fractions import Fraction

    import test_numeric_duals as T

    S, P = T._Smooth, T._Pieces

    def gelu(x, c):
        return x * (1 + c.erf(x / c.sqrt(2))) / 2

    def dgelu(x, c):
        return (1 + c.erf(x / c.sqrt(2))) / 2 + x * c.exp(-x * x / 2) / c.sqrt(2 * c.pi)

    return {
        "relu": (P([(0, [0], []), (None, [0, 1], [])]), P([(0, [0], []), (None, [1], [])])),
        "leaky_relu": (P([(0, [0, Fraction(1, 100)], []), (None, [0, 1], [])]),
                       P([(0, [Fraction(1, 100)], []), (None, [1], [])])),
        "abs": (P([(0, [0, -1], []), (None, [0, 1], [])]), P([(0, [-1], []), (None, [1], [])])),
        "step": (P([(0, [0], []), (None, [1], [])]), None),
        "sign": (P([(0, [-1], []), (None, [1], [])]), None),
        "relu2": (P([(0, [0], []), (None, [0, 0, 1], [])]), P([(0, [0], []), (None, [0, 2], [])])),
        "relu3": (P([(0, [0], []), (None, [0, 0, 0, 1], [])]), P([(0, [0], []), (None, [0, 0, 3], [])])),
        "erf": (S(lambda x, c: c.erf(x)), S(lambda x, c: 2 / c.sqrt(c.pi) * c.exp(-x * x))),
        "identity": (S(lambda x, c: x), S(lambda x, c: c.one)),
        "sin": (S(lambda x, c: c.sin(x)), S(lambda x, c: c.cos(x))),
        "cos": (S(lambda x, c: c.cos(x)), S(lambda x, c: -c.sin(x))),
        # growth 1: e^u e^v peaks far from the origin at depth 3 (variances ~60); the reference
        # centres its rules on the peak by completing the square (_GaussRef.shift_rule)
        "exp": (S(lambda x, c: c.exp(x), growth=1), S(lambda x, c: c.exp(x), growth=1)),
        "gauss": (S(lambda x, c: c.exp(-x * x / 2)), S(lambda x, c: -x * c.exp(-x * x / 2))),
        "gelu": (S(gelu), S(dgelu)),
        "x2": (S(lambda x, c: x * x), S(lambda x, c: 2 * x)),
        "x3": (S(lambda x, c: x**3), S(lambda x, c: 3 * x * x)),
        "x4": (S(lambda x, c: x**4), S(lambda x, c: 4 * x**3)),
    }


def reference_numeric(name, t_text, dps=40, n=24, depth=DEPTH):
    """(CK, NTK) from the tanh-sinh reference of tests/test_numeric_duals.py (steps 1/n and 2/n
    in p = Φ(z), inner kinked pieces in closed form; fine and coarse must agree to half the
    digits), for the quadrature-route built-ins and the closed forms of :func:`closed_form_refs`."""
    import test_numeric_duals as T

    Rf = T._engine(dps, n)
    ctx = Rf.ctx
    f, df = T.REF_ACTS[name] if name in T.REF_ACTS else closed_form_refs()[name]
    num, _, den = t_text.partition("/")
    t = ctx.mpf(int(num)) / int(den or 1)
    w, b = ctx.mpf(3) / 2, ctx.mpf(3) / 10
    sigma, q = w * t + b, w + b
    theta = sigma
    tol = ctx.mpf(10) ** (-(dps // 2 - 4))

    def e2(g, c, q):
        if abs(c) >= q:  # |ρ| = 1: one dimension
            cuts = [k / ctx.sqrt(q) for k in g.kinks(ctx)] if isinstance(g, T._Pieces) else []
            sgn = 1 if c > 0 else -1
            # g(√q z) g(±√q z) for φ growing like e^{γx}: centre the rule on the peak, z = γ√q(1 ± 1)
            zs, ws, _ = Rf.shift_rule(Rf.rule(cuts) if cuts else Rf.std_rule(),
                                      getattr(g, "growth", 0) * (1 + sgn) * ctx.sqrt(q))
            return ctx.fsum(wz * g(ctx.sqrt(q) * z, ctx) * g(sgn * ctx.sqrt(q) * z, ctx) for z, wz in zip(zs, ws))
        fine, coarse = Rf.expect2(g, c, q, q)
        assert abs(fine - coarse) <= tol * (abs(fine) + 1), (name, fine, coarse)
        return fine

    for _ in range(depth):
        V = e2(f, sigma, q)
        D = e2(df, sigma, q) if df is not None else None
        E, _ = Rf.expect1(f, q)
        theta = w * V + b + w * theta * D if df is not None else None
        sigma, q = w * V + b, w * E + b
    return sigma, theta


def _timing(names, args):
    """Seconds per 30-digit kernel value (CK and NTK at every t), in one process and in order, as
    a user's loop would compute them (caches warm up along the way)."""
    import statistics

    worst = {}
    for name in names:
        spec = Architecture(name, args.depth, "3/2", "3/10")
        secs = []
        for tt in args.ts.split(","):
            for kern in ("ck", "ntk"):
                t0 = time.perf_counter()
                kernel(spec, [tt], kern, precision=30)
                secs.append(time.perf_counter() - t0)
        worst[name] = max(secs)
        print(f"{name:10s} 30-digit value: median {statistics.median(secs):.2f} s, slowest {max(secs):.2f} s",
              flush=True)
    print(f"slowest 30-digit value over {', '.join(names)}: {max(worst.values()):.2f} s")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--names", default=None)
    ap.add_argument("--out", default="activation_figures.json")
    ap.add_argument("--reference", choices=("tanh-sinh", "gl"), default="tanh-sinh",
                    help="the independent reference: tanh-sinh (tests/test_numeric_duals.py) or the slow "
                         "tensor Gauss-Legendre of tests/reference.py")
    ap.add_argument("--depth", type=int, default=DEPTH, help="network depth (the figure's is 3)")
    ap.add_argument("--t", dest="ts", default=",".join(TS), help="comma-separated t values, e.g. -1,1/2")
    ap.add_argument("--timing-only", action="store_true",
                    help="only time the 30-digit values (no reference): the quadrature-route figure")
    args = ap.parse_args()
    names = args.names.split(",") if args.names else list(acts())
    if args.timing_only:
        return _timing(names, args)
    ctx = mpmath.MPContext()
    ctx.dps = DPS + 10
    results = {}
    for name in names:
        spec = Architecture(name, args.depth, "3/2", "3/10")
        act = spectra.get_activation(name)
        rows = []
        for tt in args.ts.split(","):
            t = ctx.mpf(tt.split("/")[0]) / (int(tt.split("/")[1]) if "/" in tt else 1)
            if args.reference == "tanh-sinh":
                # hard-tanh's smoothed kinks need a finer reference step (n = 48 leaves 5e-30 at t = −1).
                # exp: q³ ≈ 9e47 at depth 3 and Φ ≈ e^{q³}, whose relative condition is q³: 30 digits
                # of Φ need ~48 + 30 digits of q³, so its reference runs at 100 digits
                ck_ref, ntk_ref = reference_numeric(name, tt, dps={"exp": 100}.get(name, 40),
                                                    n={"hardtanh": 192}.get(name, 24), depth=args.depth)
            else:  # the tensor Gauss–Legendre reference
                ck_ref, ntk_ref = reference(ctx, name, t, args.depth)
            for kern, ref in (("ck", ck_ref), ("ntk", ntk_ref)):
                if ref is None:
                    continue
                d = float(kernel(spec, [float(t)], kern)[0])
                t0 = time.perf_counter()
                v30 = kernel(spec, [float(t)], kern, precision=30)[0]
                dt = time.perf_counter() - t0
                # a kernel value beyond the float64 range (exp at depth 3: Φ ≈ 10^(5.7e47)) has no
                # double figure; there the double result must not be a finite number
                in_range = abs(ref) <= sys.float_info.max
                rel_d = float(abs(d - ref) / abs(ref)) if in_range else None
                rel_30 = abs(ctx.mpf(v30) - ref) / abs(ref)
                rows.append({"t": tt, "kernel": kern, "rel_err_double": rel_d, "double_value": repr(d),
                             "double_ok": (rel_d <= 1e-12) if in_range else not math.isfinite(d),
                             "rel_err_30": float(rel_30), "seconds_30": dt})
        rels = [r["rel_err_double"] for r in rows if r["rel_err_double"] is not None]
        worst_d = max(rels) if rels else None
        worst_30 = max(r["rel_err_30"] for r in rows)
        slowest = max(r["seconds_30"] for r in rows)
        results[name] = {"closed_form": act.closed_form, "worst_rel_double": worst_d,
                         "double_ok": all(r["double_ok"] for r in rows),
                         "worst_rel_30": worst_30, "max_seconds_30": slowest, "rows": rows}
        dtext = f"{worst_d:.1e}" if worst_d is not None else "n/a"
        if len(rels) < len(rows):
            dtext += f" ({len(rows) - len(rels)} values beyond float64: double gives " \
                     f"{sorted({r['double_value'] for r in rows if r['rel_err_double'] is None})})"
        print(f"{name:10s} closed={act.closed_form!s:5s} double {dtext}  30-digit {worst_30:.1e}  "
              f"slowest 30-digit value {slowest:.2f} s", flush=True)
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1)
    ok = all(r["double_ok"] and r["worst_rel_30"] <= 1e-30 for r in results.values())
    print("all within 1e-12 (double) and 1e-30 (30 digits):", ok)
    quad = [r["max_seconds_30"] for r in results.values() if not r["closed_form"]]
    if quad:
        print(f"30-digit value, quadrature-route activations: min {min(quad):.2f} s, max {max(quad):.2f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
