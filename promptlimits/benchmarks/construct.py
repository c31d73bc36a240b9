"""Sup error of the universality construction against k, per (d, L), beside the proved bound.

For each ``(d, L)`` and ``k``: build the construction, compute the closed-form
prompt of a target (``SineTarget``, constant ``1.5 pi``, and an
``AdditiveLipschitzTarget`` with ``K = 2``), predict ``n`` fresh uniform inputs
with the model's exact forward, and print the sizes, the seconds of each step,
the sup error outside the bands, the bound and their ratio; then the log-log
slope of sup error against ``k`` per ``(d, L)`` and target (least squares).

Run: ``python -m promptlimits.benchmarks.construct [--n 512] [--quick]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from .. import construct
from ..datasets import AdditiveLipschitzTarget, SineTarget

#: k values per (d, L): the largest keeps one predict of 512 inputs near a minute on 2 cores
K_VALUES = {(1, 1): [4, 8, 16, 32, 64], (1, 2): [4, 8, 16, 32], (1, 3): [4, 8, 12, 16],
            (2, 1): [4, 8, 12, 16], (2, 2): [3, 4, 6, 8]}


def add_arguments(p) -> None:
    p.add_argument("--n", type=int, default=512, help="test inputs per point")
    p.add_argument("--quick", action="store_true", help="drop the largest k of each (d, L)")
    p.add_argument("--seed", type=int, default=0)


def point(d, L, k, target, K_f, X):
    t0 = time.perf_counter()
    c = construct.build(d, L, k)
    t1 = time.perf_counter()
    P = construct.lookup_prompt(c, target)
    t2 = time.perf_counter()
    Y = c.predict(P, X)
    t3 = time.perf_counter()
    keep = ~c.in_bands(X)
    err = float(np.abs(Y - target(X))[keep].max())
    return c, {"err": err, "bound": c.bound(K_f), "build": t1 - t0, "prompt": t2 - t1, "predict": t3 - t2,
               "in_bands": int((~keep).sum())}


def slope(ks, errs) -> float:
    return float(np.polyfit(np.log(ks), np.log(errs), 1)[0])


def run(args) -> int:
    if args.n < 1:
        raise ValueError(f"--n must be >= 1, got {args.n}")
    rng = np.random.default_rng(args.seed)
    print(f"universality construction: sup error outside the bands on {args.n} uniform inputs, exact attention")
    print(f"{'d':>2} {'L':>2} {'k':>3} {'target':>8} {'D':>5} {'s':>5} {'m1':>4} {'m2':>5} {'Lp':>5} {'MiB':>6} "
          f"{'build':>6} {'prompt':>6} {'predict':>7} {'sup err':>9} {'bound':>9} {'ratio':>6}")
    worst, slopes = 0.0, []
    for (d, L), ks in K_VALUES.items():
        ks = ks[:-1] if args.quick else ks
        X = rng.uniform(size=(args.n, L, d))
        targets = {"sine": (SineTarget(L, d), 1.5 * np.pi),
                   "additive": (AdditiveLipschitzTarget.random(L, d, K=2.0, seed=args.seed), 2.0)}
        for name, (f, K_f) in targets.items():
            errs = []
            for k in ks:
                c, r = point(d, L, k, f, K_f, X)
                s = c.sizes
                print(f"{d:>2} {L:>2} {k:>3} {name:>8} {s['D']:>5} {s['s']:>5} {s['m1']:>4} {s['m2']:>5} {s['Lp']:>5} "
                      f"{s['weight_bytes'] / 2**20:>6.1f} {r['build']:>6.2f} {r['prompt']:>6.2f} {r['predict']:>7.2f} "
                      f"{r['err']:>9.3e} {r['bound']:>9.3e} {r['err'] / r['bound']:>6.3f}", flush=True)
                errs.append(r["err"])
                worst = max(worst, r["err"] / r["bound"])
            slopes.append((d, L, name, slope(ks, errs)))
    print("\nlog-log slope of sup error against k (least squares over the k above):")
    for d, L, name, sl in slopes:
        print(f"  d={d} L={L} {name:>8}: {sl:+.3f}")
    print(f"worst measured/bound ratio: {worst:.3f}")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m promptlimits.benchmarks.construct",
                                 description=__doc__.splitlines()[0])
    add_arguments(ap)
    raise SystemExit(run(ap.parse_args()))
