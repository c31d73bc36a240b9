"""Roofline of the fused polynomial-method kernels: flops, vector operations and bytes per row, and each pass's rate.

``promptlimits bench attention --roofline`` (docs/theory.md §3.9, §3.10). For
each plan it counts, per row of queries or keys and per pass (the key pass,
the query pass, the backward's query and key passes):

* ``flop``: the useful flops the bench counts (``2 r d_v`` for the key and the
  query pass, ``6 r d_v`` and ``4 r d_v`` for the backward's query and key
  passes: ``4 n r d_v`` forward, ``12 n r d_v`` backward in all);
* ``ops``: the eight-lane vector operations the kernels of :mod:`..poly_attention._kernels`
  issue, in lanes per row: FMAs and products (the monomials, the lane sums of
  ``s_1``, the denominators, which the bench does not count), read off the code;
  ``ceiling = flop / (2 ops)`` is the fraction of the FMA peak the pass could
  reach if every vector operation ran at the FMA rate;
* ``B/row``: bytes each row moves between the kernel and memory (inputs read,
  outputs written; the per-block sums stay in cache), and ``flop/B``;
* ``cache``: the working set of one task (monomial block, sums of ``S``, scratch), in KiB.

Then it times each pass on one thread, on ``--roofline-rows`` rows, as the
least *CPU time* of many calls (``time.process_time``: on a shared machine the
time the process waits for a core is not counted, unlike the wall-clock
tables), and compares with float64 BLAS on one thread timed the same way
(``threadpoolctl``), and with the copy bandwidth of ``numpy``. ``of_BLAS1`` is
the pass's useful GFLOP/s over that BLAS rate, ``of_ceil`` that fraction over
the ceiling. Not a test: it prints a table.
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from ..poly_attention._kernels import LANES, backward_key_task, backward_query_task, key_task, query_task
from ._table import print_table

#: Seconds of repeated calls per timing; the least CPU time of the calls is kept.
_BUDGET = 1.0


def _least_cpu(fn, most: int = 200) -> float:
    """Least CPU seconds (``process_time``) of repeated calls of ``fn`` within :data:`_BUDGET` wall seconds."""
    fn()
    budget, best, start = _BUDGET, np.inf, time.perf_counter()
    for _ in range(most):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
        if time.perf_counter() - start > budget:
            break
    return best


def counts(r: int, d: int, dv: int) -> dict:
    """Per pass and per row: useful flops, vector lanes issued (FMA + products), streamed bytes, working set bytes.

    ``W`` is ``d_v`` rounded up to 8 (the column tiles); the counts follow :mod:`..poly_attention._kernels`:
    ``monomials`` is ``r - 1`` products; ``rows_update`` over a tile ``r W`` FMAs (plus ``r`` for lane
    sums); ``rows_reduce`` ``r (W + W/8)`` over all tiles (the denominators again in every tile); the
    pull-back ``2 (r - 1)`` FMAs; ``_feature_gradient`` ``r`` products and ``r W`` FMAs.
    """
    W = LANES * -(-dv // LANES)
    mono, reduce_, pull, feat = r - 1, r * (W + W // LANES), 2 * (r - 1), r + r * W
    ops = {
        "key": mono + r * W + r,
        "query": mono + reduce_,
        "bwd_query": mono + reduce_ + W + feat + (r * W + r) + pull,
        "bwd_key": mono + feat + reduce_ + pull,
    }
    flop = {"key": 2 * r * dv, "query": 2 * r * dv, "bwd_query": 6 * r * dv, "bwd_key": 4 * r * dv}
    streamed = {"key": 8 * (d + W), "query": 8 * (d + dv), "bwd_query": 8 * (d + W) + 16 * d,
                "bwd_key": 8 * (d + W) + 16 * d + 8 * W}
    block = 8 * LANES * r  # an (r, 8) block: monomials, lane sums, dm
    cache = {"key": 2 * block + 8 * r * W, "query": block + 8 * r * W + 8 * r,
             "bwd_query": 4 * block + 16 * r * W + 8 * r, "bwd_key": 2 * block + 8 * r * W + 8 * r}
    return {p: (flop[p], ops[p], streamed[p], cache[p]) for p in ops}


def _blas1(rng) -> float:
    """GFLOP/s of a float64 512 x 512 matmul on one thread (least CPU time)."""
    A = rng.standard_normal((512, 512))
    with threadpool_limits(1):
        t = _least_cpu(lambda: A @ A)
    return 2 * 512**3 / t / 1e9


def _copy_bandwidth(rng) -> float:
    """GB/s of ``np.copyto`` on 2^23 doubles (64 MiB read and written; least CPU time)."""
    a, b = rng.standard_normal(2**23), np.empty(2**23)
    t = _least_cpu(lambda: np.copyto(b, a), most=20)
    return 2 * a.nbytes / t / 1e9


def _pass_seconds(plan, rows: int, rng) -> dict:
    """Least CPU seconds of each pass over ``rows`` rows on one thread (the serial kernels, no driver)."""
    runs, r = plan._index
    d, B, W = plan.d, plan.B, LANES
    K, Q = rng.uniform(-B, B, (rows, d)), rng.uniform(-B, B, (rows, d))
    V, G = rng.standard_normal((rows, W)), rng.standard_normal((rows, W))
    S, s1 = np.zeros((1, r, W)), np.zeros((r, LANES))
    key_task(K, V, runs, r, 0, rows, S, s1)
    Sw = S * plan.weights[None, :, None] / rows
    s1w = s1.sum(axis=1) * plan.weights / rows
    T, dQ, dK, dV = np.empty((rows, W)), np.zeros((rows, d)), np.zeros((rows, d)), np.empty((rows, W))
    WV, w1 = np.zeros((1, r, W)), np.zeros((r, LANES))
    return {
        "key": _least_cpu(lambda: key_task(K, V, runs, r, 0, rows, S, s1)),
        "query": _least_cpu(lambda: query_task(Q, Sw, s1w, 0.0, runs, r, 0, rows, T)),
        "bwd_query": _least_cpu(lambda: backward_query_task(Q, G, Sw, s1w, 0.0, runs, r, 0, rows, dQ, WV, w1)),
        "bwd_key": _least_cpu(lambda: backward_key_task(K, V, Sw, s1w, runs, r, 0, rows, dK, dV)),
    }


def roofline(plans, rows: int, rng) -> None:
    """Print the roofline table of ``plans`` (``d_v = 8``) and the one-thread BLAS and copy rates."""
    blas1, bw = _blas1(rng), _copy_bandwidth(rng)
    print(f"Roofline (one thread, least CPU time of repeated calls on {rows} rows): BLAS float64 512^3 "
          f"{blas1:.2f} GFLOP/s, numpy copy {bw:.2f} GB/s, machine balance {blas1 / bw:.1f} flop/B")
    table = []
    for plan in plans:
        secs = _pass_seconds(plan, rows, rng)
        cnt = counts(plan.rank, plan.d, LANES)
        groups = [(p, (p,)) for p in cnt] + [("forward", ("key", "query")),
                                             ("backward", ("key", "bwd_query", "bwd_key"))]
        for name, parts in groups:
            flop = sum(cnt[p][0] for p in parts)
            ops = sum(cnt[p][1] for p in parts)
            byt = sum(cnt[p][2] for p in parts)
            cache = max(cnt[p][3] for p in parts)
            t = sum(secs[p] for p in parts) / rows
            ceil = flop / (2 * ops)
            gf = flop / t / 1e9
            table.append([f"{plan.B:g}", plan.rank, name, flop, ops, f"{ceil:.2f}", byt, f"{flop / byt:.0f}",
                          f"{cache / 1024:.0f}", f"{1e9 * t:.1f}", f"{gf:.2f}", f"{gf / blas1:.2f}",
                          f"{gf / blas1 / ceil:.2f}", f"{byt / t / 1e9:.2f}"])
    print_table(
        "Per row (flop = useful flops as the bench counts them; ops = vector lanes issued, FMA + products; "
        "ceiling = flop / (2 ops); B/row = bytes streamed; cache = working set of a task in KiB; "
        "ns/row, GFLOP/s: one thread; of_BLAS1 = GFLOP/s / one-thread BLAS; GB/s = streamed bytes / time)",
        ["B", "r", "pass", "flop", "ops", "ceiling", "B/row", "flop/B", "cache_KiB", "ns/row", "GFLOP/s",
         "of_BLAS1", "of_ceil", "GB/s"], table)
