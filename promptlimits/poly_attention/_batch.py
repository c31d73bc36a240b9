"""Batched drivers of the fused kernels: all sequences of a batch in one kernel call per pass (docs/theory.md §3.9).

A batch is ``b`` sequences of the same length sharing one plan: queries
``(b, n_q, d)``, keys ``(b, n, d)``, values ``(b, n, d_v)``. Each sequence is
padded to a multiple of 8 rows and the batch stored as one 2-D array; each
sequence is cut into the tasks a lone sequence of its size gets
(:func:`._threads.split`), and one kernel call runs a range of (sequence, task)
*units* (:mod:`._kernels`). The partial sums of a sequence's tasks are added in
task order by elementwise array additions, which do not depend on how many
sequences are beside it, and the units are grouped into thread tasks by the
problem's size alone (:func:`._threads.group`). So every sequence's result is,
to the last bit, what :meth:`PolyPlan.forward` and :meth:`PolyPlan.backward`
return for it alone (those run through here with ``b = 1``), on any number of
threads.

The values of each sequence are scaled by the power of two that brings its
``||V||max`` into ``[1/2, 1)`` (docs/theory.md §4.6), as for a lone sequence.
"""

from __future__ import annotations

import numpy as np

from .._checks import as_float_array, check_memory
from ._kernels import LANES, backward_key_units, backward_query_units, key_units, query_units
from ._threads import group, run_tasks, split
from ._tree import (
    backward_key_units_depth_first,
    backward_query_units_depth_first,
    depth_first,
    key_units_depth_first,
    visiting_order,
)

_TILE = LANES  # column tile of V and G


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


def as_batch(X, name: str) -> np.ndarray:
    """``X`` as a 3-D float array ``(b, rows, cols)``: a 3-D array, or a list of 2-D arrays of one shape.

    Raises ``ValueError`` naming the first sequence whose shape differs from the first one's (sequences
    of different lengths cannot share one batch).
    """
    if isinstance(X, (list, tuple)):
        if not X:
            raise ValueError(f"{name} must hold at least one sequence, got an empty {type(X).__name__}")
        seqs = [as_float_array(x, f"{name}[{i}]", ndim=2) for i, x in enumerate(X)]
        for i, x in enumerate(seqs[1:], start=1):
            if x.shape != seqs[0].shape:
                raise ValueError(f"sequences of different lengths in one batch: {name}[{i}] has shape {x.shape}, "
                                 f"{name}[0] has {seqs[0].shape}; run sequences of each length as their own batch")
        return np.stack(seqs)
    X = as_float_array(X, name, ndim=3)
    if X.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sequence, got shape {X.shape}")
    return X


def batch_bytes(b: int, nq: int, n: int, d: int, dv: int, rank: int, *, backward: bool = False) -> int:
    """About the bytes the batched forward (or backward) holds besides its inputs: padded copies, the
    per-(sequence, task) partial sums and the outputs, in float64. Python ints: no overflow."""
    n8, nq8, wv = _round_up(n, LANES), _round_up(nq, LANES), _round_up(max(dv, 1), _TILE)
    kt = len(split(n8, rank * wv, partials_rank=rank)) - 1
    qt = len(split(nq8, 3 * rank * wv, partials_rank=rank)) - 1
    sums = rank * (wv + LANES)  # one task's S (tile-major) and lane sums
    rows = n8 * (d + wv) + nq8 * (d + wv)
    if not backward:
        return 8 * b * (rows + (kt + 1) * sums)
    return 8 * b * (2 * rows + (kt + 2 * qt + 2) * sums)


def check_batch_memory(b, nq, n, d, dv, rank, *, backward=False) -> None:
    """Refuse a batch whose :func:`batch_bytes` would not fit in the machine's memory, naming its sizes."""
    what = "backward" if backward else "forward"
    check_memory(batch_bytes(b, nq, n, d, dv, rank, backward=backward),
                 f"a batched polynomial {what} of {b} sequences ({nq} queries x {n} keys, d = {d}, d_v = {dv}, "
                 f"rank {rank})")


def _padded(X, rows: int, cols: int) -> np.ndarray:
    """``X (b, ., .)`` as ``(b * rows, cols)`` C-contiguous float64 with zero padding, sequence ``s`` from row
    ``s * rows``: ``X`` itself, reshaped, when it needs no padding (the kernels only read it), else a copy."""
    if X.shape[1:] == (rows, cols) and X.dtype == np.float64:
        return np.ascontiguousarray(X).reshape(X.shape[0] * rows, cols)
    out = np.zeros((X.shape[0], rows, cols))
    out[:, : X.shape[1], : X.shape[2]] = X
    return out.reshape(X.shape[0] * rows, cols)


def _run_units(kernel, b: int, bounds, work_per_unit: int, args, outputs) -> None:
    """``kernel(*args, rows, bounds, ulo, uhi, *outputs)`` over every unit, grouped into thread tasks."""
    tasks = len(bounds) - 1
    groups = group(b * tasks, work_per_unit)

    def task(g):
        kernel(*args, groups[g], groups[g + 1], *outputs)

    run_tasks(task, len(groups) - 1)


def _in_order(partial) -> np.ndarray:
    """``partial[:, 0] + partial[:, 1] + ...`` (axis 1, the tasks), added left to right elementwise."""
    total = partial[:, 0].copy()
    for t in range(1, partial.shape[1]):
        total += partial[:, t]
    return total


def _lanes(lane_sums) -> np.ndarray:
    """``(b, r, 8)`` lane sums added over the lanes, left to right: ``(b, r)``."""
    total = lane_sums[:, :, 0].copy()
    for k in range(1, LANES):
        total += lane_sums[:, :, k]
    return total


def _walk_order(order, M, m):
    """``M (b, tiles, r, 8)`` and ``m (b, r)`` with their rows in the walk's order (``order[i]``: the basis index of
    row ``i``, :func:`._tree.visiting_order`), C-contiguous for the walks."""
    return np.ascontiguousarray(M[:, :, order]), np.ascontiguousarray(m[:, order])


def _basis_order(order, M, lanes):
    """The sums of a walk, their rows in its order, back in the basis order: the task partials ``M (b, tasks,
    tiles, r, 8)`` added in task order, and the lane sums ``lanes (b, tasks, r, 8)`` added in task order then
    over the lanes, as for the block passes."""
    M_sum, m_sum = np.empty(M.shape[:1] + M.shape[2:]), np.empty(lanes.shape[:1] + lanes.shape[2:3])
    M_sum[:, :, order], m_sum[:, order] = _in_order(M), _lanes(_in_order(lanes))
    return M_sum, m_sum


def key_sums(plan, Kp, Vp, b: int, n: int):
    """``Sw = w * S_V`` ``(b, Wv/8, r, 8)`` and ``s1w = w * s_1`` ``(b, r)`` of every sequence, from the padded
    keys ``Kp (b * n8, d)`` and values ``Vp (b * n8, Wv)``, the first ``n`` rows of each sequence real."""
    runs, r = plan._index
    rows, wv = Kp.shape[0] // b, Vp.shape[1]
    bounds = split(rows, r * wv, partials_rank=r)
    tasks = len(bounds) - 1
    S = np.zeros((b, tasks, wv // _TILE, r, _TILE))
    s1 = np.zeros((b, tasks, r, LANES))
    work = (bounds[1] - bounds[0]) * r * wv
    if depth_first(r, "keys", rows):  # rows in the walk's order, the same sums (._tree); back to the basis order
        _run_units(key_units_depth_first, b, bounds, work, (Kp, Vp, plan.degree, rows, bounds), (S, s1))
        S_sum, s1_sum = _basis_order(visiting_order(Kp.shape[1], plan.degree), S, s1)
    else:
        _run_units(key_units, b, bounds, work, (Kp, Vp, runs, r, rows, bounds), (S, s1))
        S_sum, s1_sum = _in_order(S), _lanes(_in_order(s1))
    s1_sum[:, 0] -= rows - n  # each zero padding key added the constant monomial 1
    w = plan.weights
    return S_sum * w[None, None, :, None], s1_sum * w


def _scaled(V):
    """``V`` scaled per sequence by ``2^-e`` with ``||V_s||max`` in ``[1/2, 1)`` (exact); ``(Vs, e, vmax)``."""
    # max |V_s| from the max and the min (V is finite): no |V| temporary
    vmax = np.maximum(V.max(axis=(1, 2)), -V.min(axis=(1, 2))) if V.size else np.zeros(V.shape[0])
    e = np.frexp(vmax)[1]
    return np.ldexp(V.astype(np.float64, copy=False), -e[:, None, None]), e, vmax


def forward(plan, Q, K, V, d0: float) -> np.ndarray:
    """``T (b, n_q, d_v)`` float64 of the fused forward for checked 3-D ``Q, K, V`` (module docstring)."""
    b, nq, n, dv = Q.shape[0], Q.shape[1], K.shape[1], V.shape[2]
    if dv == 0 or nq == 0:
        return np.zeros((b, nq, dv))
    Vs, e, vmax = _scaled(V)
    runs, r = plan._index
    n8, nq8, wv = _round_up(n, LANES), _round_up(nq, LANES), _round_up(dv, _TILE)
    Sw, s1w = key_sums(plan, _padded(K, n8, K.shape[2]), _padded(Vs, n8, wv), b, n)
    Qp = _padded(Q, nq8, Q.shape[2])
    T = np.empty((b * nq8, dv))
    bounds = split(nq8, r * wv)
    _run_units(query_units, b, bounds, (bounds[1] - bounds[0]) * r * wv, (Qp, Sw, s1w, d0, runs, r, nq8, bounds), (T,))
    T = T.reshape(b, nq8, dv)[:, :nq]
    scaled = e != 0
    if scaled.all():  # scale back exactly and clip into [-||V_s||max, ||V_s||max], in place
        lim = vmax.astype(np.float64)[:, None, None]
        np.clip(np.ldexp(T, e[:, None, None], out=T), -lim, lim, out=T)
    elif scaled.any():
        lim = vmax[scaled, None, None]
        T[scaled] = np.clip(np.ldexp(T[scaled], e[scaled, None, None]), -lim, lim)
    T[vmax == 0.0] = 0.0  # zero values: the output is exactly zero
    return T


def backward(plan, Q, K, V, G, d0: float):
    """``dQ, dK, dV`` (3-D, float64) of the fused backward for checked 3-D ``Q, K, V, G`` (``d_v > 0``)."""
    b, nq, n, dv = Q.shape[0], Q.shape[1], K.shape[1], V.shape[2]
    n8, nq8, wv = _round_up(n, LANES), _round_up(nq, LANES), _round_up(dv, _TILE)
    Kp, Vp = _padded(K, n8, K.shape[2]), _padded(V, n8, wv)
    Sw, s1w = key_sums(plan, Kp, Vp, b, n)
    Qp, Gp = _padded(Q, nq8, Q.shape[2]), _padded(G, nq8, wv)
    dQ, WVw, w1w = query_gradients(plan, Qp, Gp, Sw, s1w, b, d0)
    dK, dV = key_gradients(plan, Kp, Vp, WVw, w1w, b)
    return (dQ.reshape(b, nq8, -1)[:, :nq], dK.reshape(b, n8, -1)[:, :n], dV.reshape(b, n8, wv)[:, :n, :dv])


def query_gradients(plan, Qp, Gp, Sw, s1w, b: int, d0: float):
    """The backward's query pass: ``dQ`` of the padded queries ``Qp (b * nq8, d)`` with upstream ``Gp``, and the
    gradients ``WVw (b, Wv/8, r, 8)``, ``w1w (b, r)`` of ``S_V`` and ``s_1`` (feature weights applied), from
    the key sums ``Sw``, ``s1w`` of :func:`key_sums`."""
    (runs, r), w = plan._index, plan.weights
    nq8, wv = Qp.shape[0] // b, Gp.shape[1]
    bounds = split(nq8, 3 * r * wv, partials_rank=r)
    tasks = len(bounds) - 1
    dQ = np.zeros(Qp.shape)
    WV = np.zeros((b, tasks) + Sw.shape[1:])
    w1 = np.zeros((b, tasks, r, LANES))
    work = (bounds[1] - bounds[0]) * 3 * r * wv
    if depth_first(r, "queries", nq8):  # two walks per 64 queries, the sums in the walk's order (._tree)
        order = visiting_order(Qp.shape[1], plan.degree)
        _run_units(backward_query_units_depth_first, b, bounds, work,
                   (Qp, Gp, *_walk_order(order, Sw, s1w), d0, plan.degree, nq8, bounds), (dQ, WV, w1))
        WVs, w1s = _basis_order(order, WV, w1)
    else:
        _run_units(backward_query_units, b, bounds, work, (Qp, Gp, Sw, s1w, d0, runs, r, nq8, bounds), (dQ, WV, w1))
        WVs, w1s = _in_order(WV), _lanes(_in_order(w1))
    return dQ, WVs * w[None, None, :, None], w1s * w


def key_gradients(plan, Kp, Vp, WVw, w1w, b: int):
    """The backward's key pass: ``dK`` and ``dV`` of the padded keys ``Kp (b * n8, d)`` and values ``Vp``, from
    the gradients ``WVw (b, Wv/8, r, 8)`` and ``w1w (b, r)`` of ``S_V`` and ``s_1`` (feature weights applied)."""
    (runs, r), n8, wv = plan._index, Kp.shape[0] // b, Vp.shape[1]
    dK, dV = np.zeros(Kp.shape), np.empty(Vp.shape)
    kb = split(n8, 3 * r * wv)
    work = (kb[1] - kb[0]) * 3 * r * wv
    if depth_first(r, "keys", n8):  # the walk reads the gradients of S_V and s_1 in its own order (._tree)
        WVw, w1w = _walk_order(visiting_order(Kp.shape[1], plan.degree), WVw, w1w)
        _run_units(backward_key_units_depth_first, b, kb, work, (Kp, Vp, WVw, w1w, plan.degree, n8, kb), (dK, dV))
    else:
        _run_units(backward_key_units, b, kb, work, (Kp, Vp, WVw, w1w, runs, r, n8, kb), (dK, dV))
    return dK, dV
