"""Benchmark of spectra.dynamics: measured vs predicted residual per degree during training.

The issue's target case: relu and erf NTK networks, depth 2, d = 10, width 4096, n = 512, target of
degrees 1-4; the gap |measured - finite-n prediction| / prediction per degree while the prediction
is >= 1% of its start, the tightest lambda_min-bound ratio, and the wall time. Also the gap at two
widths and two n (it should shrink as both grow).

    python benchmarks/dynamics.py                       # the target case, as `spectra dynamics` runs it
    python benchmarks/dynamics.py --widths 1024,4096 --samples 256,512   # the gap at two widths and two n
    python benchmarks/dynamics.py --dtype float64       # float64 networks (about twice the time)

The networks are spectra.training's, float32 by default, on numpy (--backend cupy on a GPU);
about 0.45 s per step and seed at width 4096, n = 512 on 2 CPU cores (float64: about 0.9 s).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from spectra import Architecture
from spectra.dynamics import compare_dynamics, lambda_min, measure_dynamics


def _ints(text):
    return [int(x) for x in text.split(",")]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--activations", default="relu,erf")
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--weight-var", type=float, default=2.0)
    ap.add_argument("--bias-var", type=float, default=0.1)
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--widths", default="4096")
    ap.add_argument("--samples", default="512")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--records", type=int, default=10)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--lr-fraction", type=float, default=1.0)
    ap.add_argument("--centred", action="store_true")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--backend", default="numpy")
    ap.add_argument("--target", default="1:1.0,2:1.0,3:1.0,4:1.0")
    ap.add_argument("--json", default=None, help="write all results to this file")
    a = ap.parse_args(argv)
    out = []
    for act in a.activations.split(","):
        spec = Architecture(act, a.depth, a.weight_var, a.bias_var)
        for n in _ints(a.samples):
            lm = lambda_min(spec, "cube", a.dim, n, draws=4, seed=0)
            print(f"{act}: lambda_min(Theta/n), n={n}: {lm.mean:.4g} +- {lm.std:.2g} "
                  f"(full cube: min_k mu_k = {lm.exact:.4g}, degree {lm.exact_degree})", flush=True)
            for w in _ints(a.widths):
                t0 = time.perf_counter()
                m = measure_dynamics(spec, a.dim, a.target, w, n, steps=a.steps, records=a.records,
                                     seeds=tuple(_ints(a.seeds)), lr_fraction=a.lr_fraction, centred=a.centred,
                                     dtype=a.dtype, backend=a.backend)
                c = compare_dynamics(m)
                dt = time.perf_counter() - t0
                reached = {k: bool(c.predicted_mean[-1, j] < 0.01 * c.predicted_mean[0, j])
                           for j, k in enumerate(c.degrees)}
                print(f"  width {w:5d} n {n:4d}: max gap per degree "
                      + ", ".join(f"k={k}: {g:.3f}" for k, g in zip(c.degrees, c.max_gap))
                      + f"; reached 1%: {reached}; bound ratio {m.bound_ratio:.4f}; "
                      f"lambda_min {m.lambda_min:.4g}; {dt:.1f} s", flush=True)
                # per seed: |E_s - P_s| / P_s with each seed's own prediction, while P_s >= 1% of its start
                Ps, Es = m.predicted[:, :, list(c.degrees)], m.energy[:, :, list(c.degrees)]
                live = Ps >= 0.01 * Ps[:, :1]
                per_seed = np.where(live, np.abs(Es - Ps) / Ps, 0.0).max(axis=1)  # (seeds, degrees)
                print("    largest per-seed gap (each seed against its own prediction): "
                      + ", ".join(f"k={k}: {per_seed[:, j].max():.3f}" for j, k in enumerate(c.degrees)), flush=True)
                out.append({"activation": act, "width": w, "samples": n, "steps": a.steps, "seeds": a.seeds,
                            "dtype": a.dtype, "centred": a.centred, "lr_fraction": a.lr_fraction,
                            "max_gap_per_seed": {str(k): float(per_seed[:, j].max()) for j, k in enumerate(c.degrees)},
                            "max_gap": dict(zip(map(str, c.degrees), map(float, c.max_gap))),
                            "reached_1pct": {str(k): v for k, v in reached.items()},
                            "bound_ratio": m.bound_ratio, "lambda_min": m.lambda_min, "lr": m.lr, "seconds": dt,
                            "final_predicted": dict(zip(map(str, c.degrees),
                                                        map(float, c.predicted_mean[-1] / c.predicted_mean[0])))})
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
