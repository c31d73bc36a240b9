"""The key passes by blocks of eight keys and by the depth-first walk of the monomial tree, side by side.

``promptlimits bench key-walk`` (docs/theory.md §3.9, §3.10). For ``d`` and each
degree (rank ``r = C(d+g, g)``) it times, on one thread, the serial kernels of
one task over ``--n`` keys: the forward key pass (``_kernels.key_task`` against
``_tree.key_task_depth_first``) and the backward's key side
(``backward_key_task`` against ``backward_key_task_depth_first``), as the least
CPU time of repeated calls, with the useful GFLOP/s (``2 r W`` and ``4 r W`` per
key) and the walk's speed-up; it also checks that the forward sums are the same
to the last bit and prints the backward's largest relative difference. The
plans walk from ``DEPTH_FIRST_RANK`` on. Not a test: it prints a table.
"""

from __future__ import annotations

import numpy as np

from ..features import monomial_basis
from ..poly_attention import _tree
from ..poly_attention._kernels import LANES, backward_key_task, key_task
from ._table import print_table
from .attention_roofline import _least_cpu


def add_arguments(parser) -> None:
    parser.add_argument("--d", type=int, default=8, help="head size (default 8)")
    parser.add_argument("--degrees", type=int, nargs="+", default=[6, 9, 12, 15],
                        help="polynomial degrees (default 6 9 12 15: ranks 3,003 to 490,314 at d = 8)")
    parser.add_argument("--n", type=int, default=4096, help="keys, a multiple of 8 (default 4096)")
    parser.add_argument("--seed", type=int, default=0)


def _row(K, V, g: int) -> list:
    """One degree's cells: the four timings, speed-ups, rates and the two comparisons."""
    n, d, W = K.shape[0], K.shape[1], V.shape[1]
    basis = monomial_basis(d, g)
    runs, r = np.ascontiguousarray(basis.runs), basis.rank
    order = _tree.visiting_order(d, g)
    S, s1, Sw, s1w = np.zeros((1, r, W)), np.zeros((r, LANES)), np.zeros((1, r, W)), np.zeros((r, LANES))
    key_task(K, V, runs, r, 0, n, S, s1)
    _tree.key_task_depth_first(K, V, g, 0, n, Sw, s1w)
    same = np.array_equal(S[:, order], Sw) and np.array_equal(s1[order], s1w)
    rng = np.random.default_rng(g)
    WV, w1 = rng.uniform(-1, 1, (1, r, W)), rng.uniform(-1, 1, r)
    WVo, w1o = np.ascontiguousarray(WV[:, order]), w1[order]
    dK, dV, dKo, dVo = np.zeros((n, d)), np.empty((n, W)), np.zeros((n, d)), np.empty((n, W))

    def blocks_backward():
        dK.fill(0.0)
        backward_key_task(K, V, WV, w1, runs, r, 0, n, dK, dV)

    def walk_backward():
        dKo.fill(0.0)
        _tree.backward_key_task_depth_first(K, V, WVo, w1o, g, 0, n, dKo, dVo)

    t = {
        "key": _least_cpu(lambda: key_task(K, V, runs, r, 0, n, S, s1), most=20),
        "walk": _least_cpu(lambda: _tree.key_task_depth_first(K, V, g, 0, n, Sw, s1w), most=20),
        "bwd": _least_cpu(blocks_backward, most=20),
        "bwd_walk": _least_cpu(walk_backward, most=20),
    }
    t = {k: max(v, 1e-9) for k, v in t.items()}  # a CPU clock tick can round a tiny call to 0
    rel = max(float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)) for a, b in ((dKo, dK), (dVo, dV)))
    fwd, bwd = 2 * r * W * n / 1e9, 4 * r * W * n / 1e9
    return [g, r, "yes" if _tree.depth_first(r) else "no",
            f"{t['key']:.3g}", f"{t['walk']:.3g}", f"{t['key'] / t['walk']:.2f}",
            f"{fwd / t['key']:.1f}", f"{fwd / t['walk']:.1f}", "yes" if same else "NO",
            f"{t['bwd']:.3g}", f"{t['bwd_walk']:.3g}", f"{t['bwd'] / t['bwd_walk']:.2f}",
            f"{bwd / t['bwd']:.1f}", f"{bwd / t['bwd_walk']:.1f}", f"{rel:.1e}"]


def run(args) -> None:
    if args.n <= 0 or args.n % LANES:
        raise ValueError(f"--n must be a positive multiple of {LANES}, got {args.n}")
    if args.d <= 0 or min(args.degrees) < 1:
        raise ValueError(f"--d and every --degrees must be positive, got d = {args.d}, degrees {args.degrees}")
    rng = np.random.default_rng(args.seed)
    n, d, W = args.n, args.d, LANES
    K, V = rng.uniform(-1, 1, (n, d)), rng.uniform(-1, 1, (n, W))
    rows = [_row(K, V, g) for g in args.degrees]
    print_table(
        f"Key passes, one thread, {n} keys, d = {d}, d_v = {W} (least CPU seconds of repeated calls; GFLOP/s useful: "
        f"2 r W per key forward, 4 r W backward; plans walk from rank {_tree.DEPTH_FIRST_RANK})",
        ["degree", "rank", "plan_walks", "key_s", "walk_s", "speedup", "GF/s", "walk_GF/s", "same_bits",
         "bwd_key_s", "bwd_walk_s", "speedup", "GF/s", "walk_GF/s", "bwd_rel_diff"],
        rows)
