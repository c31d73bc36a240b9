"""Numba kernels of the fused polynomial-method attention, forward and backward (docs/theory.md §3.9, §3.10).

Float64, C-contiguous arrays; rows padded to a multiple of :data:`LANES` (8),
the columns of ``V`` (and ``G``) to a multiple of 8 with zeros. ``S``-like
arrays (``S_V``, its weighted form ``Sw``, the backward's ``W_V``) are stored
tile-major, ``(Wv/8, r, 8)``, so one row of a tile is one vector.

Rows go eight at a time: their monomials fill an ``r x 8`` block ``M`` (one
vector multiply per monomial, by runs), which then meets every tile of ``S``
in the eight-wide blocks of :mod:`._simd`. Each kernel is serial and releases
the GIL; one call is one *task*, a contiguous range of rows, and
:mod:`._threads` decides how tasks are split and run. The ``*_units`` kernels
run many tasks of a batch in one call. The drivers are in :mod:`._batch`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._simd import WIDTH as LANES
from ._simd import divide_rows, monomials, monomials_backward, rows_reduce, rows_update

__all__ = ["LANES", "key_task", "query_task", "backward_query_task", "backward_key_task",
           "key_units", "query_units", "backward_query_units", "backward_key_units"]


@njit(cache=True, nogil=True)
def _keys_into_tiles(M, V, j0, S, lane_sums, y, r):
    """``S[t] += M^T V[j0:j0+8, 8t:8t+8]`` for every tile ``t``, and ``lane_sums += M y`` (in the first pass)."""
    rows_update(S[0], M, V, j0, 0, r, lane_sums, y)
    for t in range(1, S.shape[0]):
        rows_update(S[t], M, V, j0, 8 * t, r, None, None)


@njit(cache=True, nogil=True)
def _queries_tiles(M, Sw, N, s1w, E, r):
    """``N = M^T Sw`` (8 x Wv) over every tile of ``Sw``, and ``E = M^T s1w`` (each pass sets it again)."""
    for t in range(Sw.shape[0]):
        rows_reduce(M, Sw[t], s1w, r, N, 8 * t, E)


@njit(cache=True, nogil=True)
def _query_block(Q, i0, runs, Sw, s1w, d0, xb, M, N, D, r):
    """For the eight queries ``i0..i0+7``: their monomials ``M``, ``N = M^T Sw`` and the denominators
    ``D = d0 + M^T s1w``."""
    monomials(Q, i0, runs, xb, M)
    _queries_tiles(M, Sw, N, s1w, D, r)
    for b in range(LANES):
        D[b] += d0


@njit(cache=True, nogil=True)
def key_task(K, V, runs, r, lo, hi, S, s1):
    """One task of the key pass: partial sums over the padded rows ``lo..hi``.

    ``S += sum_j m(k_j) v_j^T`` (tile-major) and the lane sums ``s1 += m(k_j)``
    (``(r, 8)``; their sum over lanes is ``s_1``).
    """
    xb = np.empty((K.shape[1], LANES))
    M = np.empty((r, LANES))
    ones = np.ones(LANES)
    for j0 in range(lo, hi, LANES):
        monomials(K, j0, runs, xb, M)
        _keys_into_tiles(M, V, j0, S, s1, ones, r)


@njit(cache=True, nogil=True)
def query_task(Q, Sw, s1w, d0, runs, r, lo, hi, T):
    """One task of the query pass: ``T_i = (m(q_i) Sw) / (d0 + m(q_i) . s1w)`` for the padded rows ``lo..hi``.

    ``Sw = w * S_V`` and ``s1w = w * s_1`` carry the feature weights, so
    ``m(q) Sw = phi_L(q) S_V``. ``T`` has the true number ``d_v`` of columns.
    """
    N = np.empty((LANES, LANES * Sw.shape[0]))
    xb = np.empty((Q.shape[1], LANES))
    M = np.empty((r, LANES))
    D = np.empty(LANES)
    for i0 in range(lo, hi, LANES):
        _query_block(Q, i0, runs, Sw, s1w, d0, xb, M, N, D, r)
        for t in range(Sw.shape[0]):
            divide_rows(N, np.int64(0), N, D, LANES * t)  # in place, eight lanes at a time
        for b in range(LANES):
            for c in range(T.shape[1]):
                T[i0 + b, c] = N[b, c]


@njit(cache=True, nogil=True)
def _feature_gradient(Sw, s1w, YT, y, dm, r):
    """``dm[a, b] = s1w[a] y[b] + sum_c Sw[a, c] YT[c, b]`` for the eight lanes ``b`` (``Sw`` tile-major)."""
    for a in range(r):
        for b in range(LANES):
            dm[a, b] = s1w[a] * y[b]
    for t in range(Sw.shape[0]):
        rows_update(dm, Sw[t], YT, 8 * t, 0, r, None, None)


@njit(cache=True, nogil=True)
def _backward_buffers(d, r, Wv):
    """Scratch of a backward block: ``xb (d, 8)``, ``M`` and ``dm (r, 8)``, ``N (8, Wv)``, a transpose ``(Wv, 8)``,
    ``(8,)``."""
    return (np.empty((d, LANES)), np.empty((r, LANES)), np.empty((r, LANES)), np.empty((LANES, Wv)),
            np.empty((Wv, LANES)), np.empty(LANES))


@njit(cache=True, nogil=True)
def backward_query_task(Q, G, Sw, s1w, d0, runs, r, lo, hi, dQ, WV, w1):
    """Query side of the backward pass (Alman--Song 2024) over the padded rows ``lo..hi``.

    For each query: ``N = m(q) Sw``, ``D = d0 + m(q) . s1w``, ``T = N/D``,
    ``dN = G/D``, ``dD = -G.T/D``; the gradient with respect to the monomials
    is ``dm = Sw dN + s1w dD``, pulled back to ``q`` through the runs in
    reverse (into ``dQ``). Adds this task's partial sums ``WV += sum_i m(q_i)
    dN_i^T`` (tile-major) and the lane sums ``w1 += m(q_i) dD_i`` (``(r, 8)``);
    multiplied by the feature weights they are the gradients of ``S_V`` and
    ``s_1``. Zero padding rows of ``G`` contribute nothing.
    """
    Wv = LANES * Sw.shape[0]
    xb, M, dm, N, dNT, D = _backward_buffers(Q.shape[1], r, Wv)
    dN = np.empty((LANES, Wv))
    dD = np.empty(LANES)
    for i0 in range(lo, hi, LANES):
        _query_block(Q, i0, runs, Sw, s1w, d0, xb, M, N, D, r)
        for t in range(Sw.shape[0]):
            divide_rows(G, i0, dN, D, LANES * t)
        for b in range(LANES):
            gT = 0.0
            for c in range(Wv):
                g = dN[b, c]
                dNT[c, b] = g
                gT += g * N[b, c]
            dD[b] = -gT / D[b]
        _feature_gradient(Sw, s1w, dNT, dD, dm, r)
        _keys_into_tiles(M, dN, np.int64(0), WV, w1, dD, r)  # int64, not a literal: one signature
        monomials_backward(Q, i0, runs, xb, M, dm, dQ)


@njit(cache=True, nogil=True)
def backward_key_task(K, V, WVw, w1w, runs, r, lo, hi, dK, dV):
    """Key side of the backward pass over the padded rows ``lo..hi``: ``dV_j = m(k_j) WVw`` and ``dk_j``.

    ``WVw`` (tile-major) and ``w1w`` are the gradients of ``S_V`` and ``s_1``;
    the gradient with respect to ``m(k_j)`` is ``WVw v_j + w1w``, pulled back to
    ``k_j`` through the runs in reverse.
    """
    xb, M, dm, N, VT, E = _backward_buffers(K.shape[1], r, LANES * WVw.shape[0])
    Wv = VT.shape[0]
    ones = np.ones(LANES)
    for j0 in range(lo, hi, LANES):
        monomials(K, j0, runs, xb, M)
        for c in range(Wv):
            for b in range(LANES):
                VT[c, b] = V[j0 + b, c]
        _feature_gradient(WVw, w1w, VT, ones, dm, r)
        _queries_tiles(M, WVw, N, w1w, E, r)  # the dV block; E is not needed here
        for b in range(LANES):
            for c in range(Wv):
                dV[j0 + b, c] = N[b, c]
        monomials_backward(K, j0, runs, xb, M, dm, dK)


# -- batches: one call runs many (sequence, task) units ------------------------------
#
# A batch of ``b`` sequences of equal length is stored as one 2-D array, sequence
# ``s`` in the padded rows ``s*rows .. (s+1)*rows``. Every sequence is cut into
# the same tasks ``bounds`` (:func:`._threads.split` of one sequence), and unit
# ``u`` is task ``u % tasks`` of sequence ``u // tasks``: exactly the work, in the
# same order and into the same partial sums, of that task of that sequence alone.
# So a batch's results equal the sequences' one by one to the last bit.


@njit(cache=True, nogil=True)
def key_units(K, V, runs, r, rows, bounds, ulo, uhi, S, s1):
    """:func:`key_task` for the units ``ulo..uhi``; ``S[s, t]``, ``s1[s, t]`` are unit ``(s, t)``'s partial sums."""
    tasks = bounds.shape[0] - 1
    for u in range(ulo, uhi):
        s, t = u // tasks, u % tasks
        key_task(K, V, runs, r, s * rows + bounds[t], s * rows + bounds[t + 1], S[s, t], s1[s, t])


@njit(cache=True, nogil=True)
def query_units(Q, Sw, s1w, d0, runs, r, rows, bounds, ulo, uhi, T):
    """:func:`query_task` for the units ``ulo..uhi``, sequence ``s`` with its own sums ``Sw[s]``, ``s1w[s]``."""
    tasks = bounds.shape[0] - 1
    for u in range(ulo, uhi):
        s, t = u // tasks, u % tasks
        query_task(Q, Sw[s], s1w[s], d0, runs, r, s * rows + bounds[t], s * rows + bounds[t + 1], T)


@njit(cache=True, nogil=True)
def backward_query_units(Q, G, Sw, s1w, d0, runs, r, rows, bounds, ulo, uhi, dQ, WV, w1):
    """:func:`backward_query_task` for the units ``ulo..uhi`` (partial sums ``WV[s, t]``, ``w1[s, t]``)."""
    tasks = bounds.shape[0] - 1
    for u in range(ulo, uhi):
        s, t = u // tasks, u % tasks
        backward_query_task(Q, G, Sw[s], s1w[s], d0, runs, r, s * rows + bounds[t], s * rows + bounds[t + 1],
                            dQ, WV[s, t], w1[s, t])


@njit(cache=True, nogil=True)
def backward_key_units(K, V, WVw, w1w, runs, r, rows, bounds, ulo, uhi, dK, dV):
    """:func:`backward_key_task` for the units ``ulo..uhi``, sequence ``s`` with ``WVw[s]``, ``w1w[s]``."""
    tasks = bounds.shape[0] - 1
    for u in range(ulo, uhi):
        s, t = u // tasks, u % tasks
        backward_key_task(K, V, WVw[s], w1w[s], runs, r, s * rows + bounds[t], s * rows + bounds[t + 1], dK, dV)
