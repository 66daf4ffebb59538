"""Benchmark: the maximal learning rate of full-batch gradient descent, predicted vs measured.

Loss: L = (1/2n) Σ (f(xᵢ) − yᵢ)² (mean), so the kernel-regime prediction on the training points
is η_pred = 2/λ_max(Θ_train/n) with Θ the analytic NTK (CONVENTIONS §3).

1. For relu (σ_w² = 2, σ_b² = 0.1) and erf (σ_w² = 2, σ_b² = 0.1) networks of depth 1–4 in NTK
   parameterisation, width 2048, n = 64 points uniform on the cube {±1}^16, targets i.i.d. ±1:
   threshold (a) (instability: the loss rises at some step within T = 300 steps) and
   threshold (b) (divergence: the loss blows up past 1e10·L_0 or is still ≥ L_0 after 300
   steps), found by bisection on log η (rtol 1% for (a), 3% for (b)) from one initialisation.
   Target: (a)/η_pred within 10% of 1. Also shown: the empirical-NTK-at-init prediction
   2/λ_max(Θ_emp/n) and the infinite-data η* = 2/μ_max.
2. How the finite-sample prediction approaches the infinite-data one: mean ± std over 8 draws of
   λ_max(Θ_train/n)/μ_max for n = 16 … 2048.

Usage: python benchmarks/max_lr.py [--width 2048] [--samples 64] [--dim 16] [--depths 1 2 3 4]
       [--json out.json]. Takes several minutes on 2 cores (depth 4 dominates).
"""
import argparse
import json
import sys
import time

import numpy as np


def main(argv=None):
    from spectra import Architecture
    from spectra.learning_rate import empirical_learning_rate, finite_sample_convergence, max_learning_rate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--domain", default="cube")
    ap.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--activations", nargs="+", default=["relu", "erf"])
    ap.add_argument("--weight-var", type=float, default=2.0)
    ap.add_argument("--bias-var", type=float, default=0.1)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rtol", type=float, default=0.01)
    ap.add_argument("--divergence-rtol", type=float, default=0.03)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--convergence-samples", type=int, nargs="+", default=[16, 64, 256, 1024, 2048])
    ap.add_argument("--draws", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (1: no oversubscription on a shared machine)")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads):
        return run(args, Architecture, empirical_learning_rate, finite_sample_convergence, max_learning_rate)


def run(args, Architecture, empirical_learning_rate, finite_sample_convergence, max_learning_rate):

    print(f"loss = mean (1/2n) sum (f - y)^2; domain {args.domain}, d = {args.dim}, n = {args.samples}, "
          f"width = {args.width}, BLAS threads = {args.threads}, sigma_w^2 = {args.weight_var}, sigma_b^2 = {args.bias_var}, targets = random +-1, "
          f"T = S = {args.steps} steps, seed {args.seed}", flush=True)
    rows, conv = [], []
    hdr = (f"{'act':5} {'L':>2} {'eta*(inf)':>10} {'eta_pred':>10} {'eta_empNTK':>10} {'(a)':>10} {'(a)/pred':>9} "
           f"{'(a)/emp':>8} {'(b)':>10} {'(b)/pred':>9} {'share':>6} {'res':>6} {'runs':>4} {'time':>6}  ok")
    print(hdr, flush=True)
    ok_all = True
    for act in args.activations:
        for depth in args.depths:
            net = Architecture(act, depth, args.weight_var, args.bias_var)
            inf = max_learning_rate(net, args.domain, args.dim)
            t = time.perf_counter()
            prog = (lambda e: print("   ", e, flush=True)) if args.verbose else None
            r = empirical_learning_rate(net, args.domain, args.dim, args.samples, args.width, seed=args.seed,
                                        steps=args.steps, rtol=args.rtol, divergence_rtol=args.divergence_rtol,
                                        progress=prog)
            dt = time.perf_counter() - t
            ok = r.instability_ratio is not None and abs(r.instability_ratio - 1) <= 0.10
            ok_all &= ok

            def f(v, w=10, p=4):
                return f"{'-':>{w}}" if v is None else f"{v:>{w}.{p}g}"

            print(f"{act:5} {depth:>2} {f(inf.max_learning_rate)} {f(r.max_learning_rate)} "
                  f"{f(r.empirical_ntk_learning_rate)} {f(r.empirical_instability_learning_rate)} "
                  f"{f(r.instability_ratio, 9)} {f(r.instability_ratio_empirical_ntk, 8)} "
                  f"{f(r.empirical_divergence_learning_rate)} {f(r.divergence_ratio, 9)} "
                  f"{r.top_mode_share:6.3f} {r.instability_resolution:6.4f} {r.evaluations:>4} {dt:6.0f}s  "
                  f"{'yes' if ok else 'NO'}", flush=True)
            d = r.as_dict()
            d["infinite_data_max_learning_rate"] = inf.max_learning_rate
            d["infinite_data_top_eigenvalue"] = inf.top_eigenvalue
            d["seconds"] = dt
            rows.append(d)
    print(f"\nthreshold (a) within 10% of the prediction on the same points for every row: {ok_all}\n", flush=True)

    print("finite n -> infinite data: lambda_max(Theta_train/n)/mu_max, mean +- std over "
          f"{args.draws} draws (eta_n/eta* = 1/ratio)", flush=True)
    ns = args.convergence_samples
    print(f"{'act':5} {'L':>2} {'mu_max':>9} " + " ".join(f"{'n=' + str(n):>15}" for n in ns), flush=True)
    for act in args.activations:
        for depth in args.depths:
            net = Architecture(act, depth, args.weight_var, args.bias_var)
            c = finite_sample_convergence(net, args.domain, args.dim, ns, draws=args.draws, seed=args.seed)
            cells = " ".join(f"{row['ratio_mean']:7.4f}+-{row['ratio_std']:<6.4f}" for row in c.rows)
            print(f"{act:5} {depth:>2} {c.top_eigenvalue:9.4g} {cells}", flush=True)
            conv.append(c.as_dict())
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"thresholds": rows, "convergence": conv, "all_within_10_percent": ok_all}, fh, indent=1)
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
