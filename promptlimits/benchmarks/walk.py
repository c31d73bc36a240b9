"""The kernel passes by blocks of eight rows and by the depth-first walk of the monomial tree, side by side.

``promptlimits bench walk`` (docs/theory.md §3.9, §3.10). For ``d`` and each
degree (rank ``r = C(d+g, g)``) it times, on one thread, the serial kernels of
one task over ``--n`` rows, each pass by blocks (:mod:`promptlimits.poly_attention._kernels`)
and by the walk (:mod:`promptlimits.poly_attention._tree`): the forward key pass,
the backward's query side and its key side. Least CPU time of repeated calls,
useful GFLOP/s (``2 r W``, ``6 r W`` and ``4 r W`` per row), the walk's speed-up,
and what the two give: the same forward sums to the last bit ("same bits"), or
the largest difference relative to the largest entry (the backward sums in the
walk's order). The plans walk from ``DEPTH_FIRST_RANK`` on. Not a test: it
prints a table.
"""

from __future__ import annotations

import numpy as np

from ..features import monomial_basis
from ..poly_attention import _tree
from ..poly_attention._kernels import LANES, backward_key_task, backward_query_task, key_task
from ._table import print_table
from .attention_roofline import _least_cpu


def add_arguments(parser) -> None:
    parser.add_argument("--d", type=int, default=8, help="head size (default 8)")
    parser.add_argument("--degrees", type=int, nargs="+", default=[6, 9, 12, 15],
                        help="polynomial degrees (default 6 9 12 15: ranks 3,003 to 490,314 at d = 8)")
    parser.add_argument("--n", type=int, default=4096, help="rows (keys, queries), a multiple of 8 (default 4096)")
    parser.add_argument("--seed", type=int, default=0)


def _relative(got, want) -> float:
    return max(float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)) for a, b in zip(got, want))


def _rows(K, V, g: int, rng) -> list:
    """One degree's rows: per pass, the two timings, the speed-up, the rates and the comparison."""
    n, d, W = K.shape[0], K.shape[1], V.shape[1]
    basis = monomial_basis(d, g)
    runs, r = np.ascontiguousarray(basis.runs), basis.rank
    order = _tree.visiting_order(d, g)
    S, s1, So, s1o = np.zeros((1, r, W)), np.zeros((r, LANES)), np.zeros((1, r, W)), np.zeros((r, LANES))
    key_task(K, V, runs, r, 0, n, S, s1)
    _tree.key_task_depth_first(K, V, g, 0, n, So, s1o)
    same = np.array_equal(S[:, order], So) and np.array_equal(s1[order], s1o)
    Sw, s1w = rng.uniform(-1, 1, (1, r, W)) / r, rng.uniform(0.5, 1, r) / r  # D near 1
    Swo, s1wo = np.ascontiguousarray(Sw[:, order]), s1w[order]
    dK, dV, dKo, dVo = np.zeros((n, d)), np.empty((n, W)), np.zeros((n, d)), np.empty((n, W))
    dQ, WV, w1 = np.zeros((n, d)), np.zeros((1, r, W)), np.zeros((r, LANES))
    dQo, WVo, w1o = np.zeros((n, d)), np.zeros((1, r, W)), np.zeros((r, LANES))

    def blocks_query():
        for a in (dQ, WV, w1):
            a.fill(0.0)
        backward_query_task(K, V, Sw, s1w, 1.0, runs, r, 0, n, dQ, WV, w1)

    def walk_query():
        for a in (dQo, WVo, w1o):
            a.fill(0.0)
        _tree.backward_query_task_depth_first(K, V, Swo, s1wo, 1.0, g, 0, n, dQo, WVo, w1o)

    def blocks_key():
        dK.fill(0.0)
        backward_key_task(K, V, Sw, s1w, runs, r, 0, n, dK, dV)

    def walk_key():
        dKo.fill(0.0)
        _tree.backward_key_task_depth_first(K, V, Swo, s1wo, g, 0, n, dKo, dVo)

    passes = [
        ("key", 2, lambda: key_task(K, V, runs, r, 0, n, S, s1), lambda: _tree.key_task_depth_first(
            K, V, g, 0, n, So, s1o)),
        ("bwd_query", 6, blocks_query, walk_query),
        ("bwd_key", 4, blocks_key, walk_key),
    ]
    rows = []
    for name, flop, blocks, walk in passes:
        tb, tw = (max(_least_cpu(f, most=20), 1e-9) for f in (blocks, walk))  # a clock tick can round to 0
        if name == "key":
            check = "same bits" if same else "DIFFERENT"
        elif name == "bwd_query":
            check = f"{_relative((dQo, WVo[:, order.argsort()], w1o[order.argsort()].sum(1)), (dQ, WV, w1.sum(1))):.1e}"
        else:
            check = f"{_relative((dKo, dVo), (dK, dV)):.1e}"
        gf = flop * r * W * n / 1e9
        walks = _tree.depth_first(r, "queries" if name == "bwd_query" else "keys")
        rows.append([g, r, "yes" if walks else "no", name, f"{tb:.3g}", f"{tw:.3g}",
                     f"{tb / tw:.2f}", f"{gf / tb:.1f}", f"{gf / tw:.1f}", check])
    return rows


def run(args) -> None:
    if args.n <= 0 or args.n % LANES:
        raise ValueError(f"--n must be a positive multiple of {LANES}, got {args.n}")
    if args.d <= 0 or min(args.degrees) < 1:
        raise ValueError(f"--d and every --degrees must be positive, got d = {args.d}, degrees {args.degrees}")
    rng = np.random.default_rng(args.seed)
    n, d, W = args.n, args.d, LANES
    K, V = rng.uniform(-1, 1, (n, d)), rng.uniform(-1, 1, (n, W))
    rows = [row for g in args.degrees for row in _rows(K, V, g, rng)]
    print_table(
        f"Kernel passes by blocks and by the walk, one thread, {n} rows, d = {d}, d_v = {W} (least CPU seconds of "
        f"repeated calls; GFLOP/s useful: 2, 6, 4 r W per row; check: the walk against the blocks; plans walk "
        f"from rank {_tree.DEPTH_FIRST_RANK}, the backward's query side from {_tree.DEPTH_FIRST_RANK_QUERIES})",
        ["degree", "rank", "plan_walks", "pass", "blocks_s", "walk_s", "speedup", "GF/s", "walk_GF/s", "check"],
        rows)
