"""Fuzz the certificate at the edge of the certifiable range: worst measured error / output_bound.

docs/theory.md §4.6. Plans are made at ``R`` within 5 % of the largest
certifiable for their target (``R = B^2`` in ``[0.95, 0.999]`` times the
largest, :func:`~promptlimits.poly_attention.largest_certifiable_B`), over
head sizes ``d <= 4``, output targets ``eps``, polynomial kinds and numbers of
keys up to 4096 (fewer where ``n r`` would pass :data:`WORK`). Each plan then runs many cases: the
corners of the box (all queries and
keys at ``+-B``, aligned, anti-aligned or mixed) and uniform inputs with one
row at each corner, fused and factors paths, float64 and float32, softmax and
Softmax_1. Each output is compared with exact attention computed in long
double (64-bit mantissa), and with the exact polynomial attention ``N/D`` in
long double, so the table shows two ratios:

* ``err/bound``: ``||T - Att||max / output_bound(V)`` (must be <= 1);
* ``rnd/delta``: ``||T - T_p||max / (delta(n) ||V||max)``, the rounding the code
  made against the rounding bound alone (how tight the a-priori bound is).

Run: ``python -m promptlimits.benchmarks.certificate [--cases 10000] [--seed 0]``
or ``promptlimits bench certificate``. Not a test: it prints a table.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time

import numpy as np

from ..poly_attention import eps_p_for_output, largest_certifiable_B, make_plan

LD = np.longdouble
DS = (1, 2, 3, 4)
EPS = (1e-2, 1e-4, 1e-6, 1e-8)
KINDS = ("auto", "chebyshev", "shifted_taylor", "taylor")
KEYS = (1, 16, 256, 4096)
#: Largest n * rank per case (keeps one case under about 0.1 s); plans with a larger rank run fewer keys.
WORK = 50_000_000
CORNERS = ("aligned", "anti", "mixed", "uniform")


def add_arguments(parser) -> None:
    parser.add_argument("--cases", type=int, default=10_000, help="number of cases (default 10000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--queries", type=int, default=3, help="query rows per case (default 3)")


def _weights_ld(plan, Q, K):
    """Exact-attention and polynomial weights ``e^x``, ``p(x)`` in long double, ``x = s q.k`` (``s`` the
    plan's float)."""
    x = LD(plan.scale) * (Q.astype(LD) @ K.astype(LD).T)
    p = np.zeros_like(x)
    for c in plan.approx.coefficients[::-1]:
        p = p * x + LD(c)
    return np.exp(x), p


def _normalised(W, V, d0):
    return (W @ V.astype(LD)) / (d0 + W.sum(axis=1, keepdims=True))


def _inputs(corner, nq, n, d, B, rng):
    if corner == "uniform":
        Q, K = rng.uniform(-B, B, (nq, d)), rng.uniform(-B, B, (n, d))
        Q[0], K[0] = B, -B
        return Q, K
    Q = np.full((nq, d), -B if corner == "anti" else B)
    K = np.full((n, d), B)
    if corner == "mixed":
        K[rng.random(n) < 0.5] = -B
    return Q, K


def _case(plan, n, rng, nq):
    """One random case on ``plan`` with ``n`` keys: ``(err/bound, rounding/delta, description)``."""
    corner = CORNERS[rng.integers(len(CORNERS))]
    method = "factors" if rng.random() < 0.5 and n * plan.rank <= 4_000_000 else "fused"
    variant = "softmax1" if rng.random() < 0.5 else "softmax"
    Q, K = _inputs(corner, nq, n, plan.d, plan.B, rng)
    V = rng.uniform(-1.0, 1.0, (n, 2)) if rng.random() < 0.5 else rng.choice([-1.0, 1.0], (n, 2))
    float32 = rng.random() < 0.5 and plan.eps_p + plan.rounding(n, float32=True) <= plan.eps_p_target
    if float32:
        b32 = np.float32(plan.B)
        if float(b32) > plan.B:  # the largest float32 within the plan's B
            b32 = np.nextafter(b32, np.float32(0))
        Q, K, V = np.clip(Q, -b32, b32).astype(np.float32), np.clip(K, -b32, b32).astype(np.float32), \
            V.astype(np.float32)
    T = plan.forward(Q, K, V, method=method, variant=variant).astype(LD)
    d0 = 1.0 if variant == "softmax1" else 0.0
    E, P = _weights_ld(plan, Q, K)
    vmax = float(np.max(np.abs(V)))
    err = float(np.max(np.abs(T - _normalised(E, V, d0)))) / plan.output_bound(V)
    rnd = float(np.max(np.abs(T - _normalised(P, V, d0)))) / (plan.rounding(n, float32=float32) * vmax)
    what = (f"d={plan.d} B={plan.B:.5g} R={plan.R:.4g} eps={plan.eps:g} {plan.kind} g={plan.degree} r={plan.rank} "
            f"n={n} {corner} {method} {'float32' if float32 else 'float64'} {variant}")
    return err, rnd, what, float32


def _edge_plan(d, eps, kind, keys, rng):
    top = largest_certifiable_B(d, eps_p_for_output(eps), keys=keys, kind=kind)
    return make_plan(d, math.sqrt(rng.uniform(0.95, 0.999)) * top, eps=eps, kind=kind, keys=keys)


def run(args) -> int:
    if args.cases < 1 or args.queries < 1:
        raise ValueError(f"--cases and --queries must be >= 1, got {args.cases} and {args.queries}")
    rng = np.random.default_rng(args.seed)
    configs = list(itertools.product(DS, EPS, KINDS, KEYS))
    per_plan = -(-args.cases // len(configs))
    t0 = time.perf_counter()
    rows, cases, refused = {}, 0, []
    worst = {dtype: [(0.0, ""), (0.0, "")] for dtype in ("float64", "float32")}  # err/bound, rnd/delta
    print(f"certificate fuzz: {len(configs)} plans at R in [0.95, 0.999] x the largest certifiable, "
          f"{per_plan} cases each, {args.queries} queries, references in long double", flush=True)
    for d, eps, kind, keys in configs:
        try:
            plan = _edge_plan(d, eps, kind, keys, rng)
        except ValueError as e:  # within 1e-4 of the estimate the certificate's coefficient rounding decides
            refused.append(f"d={d} eps={eps:g} {kind} keys={keys}: {e}")
            continue
        most = max(1, min(keys, WORK // plan.rank))
        for _ in range(per_plan):
            n = most if rng.random() < 0.5 else int(rng.integers(1, most + 1))
            err, rnd, what, float32 = _case(plan, n, rng, args.queries)
            cases += 1
            row = rows.setdefault((d, eps), [0, 0.0, 0.0, 0.0])
            row[0] += 1
            row[1 + 2 * float32] = max(row[1 + 2 * float32], err)
            row[2] = max(row[2], rnd) if not float32 else row[2]
            w = worst["float32" if float32 else "float64"]
            w[0], w[1] = max(w[0], (err, what)), max(w[1], (rnd, what))
    seconds = time.perf_counter() - t0
    print(f"{'d':>2} {'eps':>7} {'cases':>6} {'err/bound f64':>14} {'rnd/delta f64':>14} {'err/bound f32':>14}")
    for (d, eps), (k, e64, r64, e32) in sorted(rows.items()):
        print(f"{d:>2} {eps:>7.0e} {k:>6} {e64:>14.3e} {r64:>14.3e} {e32:>14.3e}")
    print(f"{cases} cases in {seconds:.1f} s")
    for dtype, ((e, e_at), (r, r_at)) in worst.items():
        print(f"{dtype}: worst measured/bound = {e:.4g} at {e_at}\n         worst rounding/delta = {r:.4g} at {r_at}")
    for line in refused:
        print(f"plan refused: {line}")
    return 0 if max(w[0][0] for w in worst.values()) <= 1.0 else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m promptlimits.benchmarks.certificate",
                                 description=__doc__.splitlines()[0])
    add_arguments(ap)
    raise SystemExit(run(ap.parse_args()))
