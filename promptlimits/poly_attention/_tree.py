"""The passes of large ranks: the monomial tree walked depth first, 64 rows at a time (docs/theory.md §3.9, §3.10).

The key pass of :mod:`._kernels` fills an ``r x 8`` block of monomials for
every eight keys and then streams it, with every row of ``S``, through memory:
at rank ``r`` that is about ``7 r`` cache lines per eight keys, and once ``r``
is in the hundreds of thousands (``S`` alone tens of megabytes) the pass runs
at the speed of memory, not of the FMA units.

Here a block of up to :data:`KEYS` keys walks the tree of the monomial basis
(:class:`promptlimits.features.MonomialBasis`: the children of a monomial ``a``
of degree ``j`` are ``x_c a`` for ``c`` up to the coordinate that made ``a``)
depth first. The values of one path from the root, ``KEYS`` lanes per level,
stay in cache; each monomial is made from its parent's values by the same
product as in :func:`._simd.monomials`, queued, and eight queued monomials at a
time meet their rows of ``S`` (:func:`._simd.nodes_update`): one read and one
write of a row of ``S`` per ``KEYS`` keys, and every row gets the same chain of
FMAs over the keys, in the same order, as the block-of-eight pass gives it.
So the two forward key passes return the same sums to the last bit
(``tests/test_tree.py``). The backward's key side (and, from a higher rank, its
query side) walks the same way; its sums over the monomials run in the walk's
order, so its last bits differ from the block pass's, within the rounding bound
of docs/theory.md §4.6.1. Which form runs (:func:`depth_first`) is a function of
the problem's size only, so results do not depend on the machine or the threads.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

from ..features import monomial_basis
from ._simd import WIDTH as LANES
from ._simd import ascend, descend, node_gradient, node_reduce, nodes_update

__all__ = ["KEYS", "DEPTH_FIRST_RANK", "DEPTH_FIRST_RANK_QUERIES", "depth_first", "visiting_order",
           "key_task_depth_first", "backward_key_task_depth_first", "backward_query_task_depth_first",
           "key_units_depth_first", "backward_key_units_depth_first", "backward_query_units_depth_first"]

#: Keys per walk of the tree: the FMA chain of a row of ``S`` runs this long between a read and a write.
KEYS = 64

#: From this rank up the key passes walk the tree. An ``r x 8`` block outgrows a core's second-level cache
#: from ``r = 8192``, but with each task's partial sums bounded (``_threads.PARTIALS_ROWS``) the blocks keep up
#: with the walk to rank 75,582 (d = 8, 4,096 keys, two threads: forward 169 ms by blocks, 175 walked;
#: backward 648 and 635 ms; at 12,870 the blocks' forward is 1.3 times faster) and the walk wins from 125,970
#: (forward 465 -> 333 ms, backward 1,416 -> 1,164 ms).
DEPTH_FIRST_RANK = 65536

#: From this rank up the backward's query side walks the tree too. It walks twice per 64 queries (``N`` and
#: ``D`` first, then the gradients), so it pays later: ``bench walk`` (d = 8, one thread) measured it 16 %
#: slower than the blocks at rank 24,310 and 1.4 times faster at 125,970.
DEPTH_FIRST_RANK_QUERIES = 65536


def depth_first(rank: int, side: str = "keys", rows: int = KEYS) -> bool:
    """Whether a pass over ``rows`` rows (per sequence) of a plan of this rank walks the tree, a function of the
    problem's size only: ``side`` is ``"keys"`` (the forward key pass, the backward's key side) or
    ``"queries"`` (the backward's query side). Fewer than :data:`KEYS` rows keep the blocks: a walk costs
    the same whatever the number of rows up to ``KEYS``."""
    if side not in ("keys", "queries"):
        raise ValueError(f"side must be 'keys' or 'queries', got {side!r}")
    return rows >= KEYS and rank >= (DEPTH_FIRST_RANK if side == "keys" else DEPTH_FIRST_RANK_QUERIES)


#: The moves of a walk (:func:`_move`).
ENTER, LEAVE, DONE = 1, -1, 0


@njit(cache=True, nogil=True, inline="always")
def _start(nextc, d, g):
    """Stand at the root: its children are ``x_c`` for every coordinate ``c`` (none at degree 0)."""
    nextc[0] = d - 1 if g > 0 else -1


@njit(cache=True, nogil=True, inline="always")
def _move(nextc, depth, g):
    """The walk's next move from the monomial at level ``depth``: ``(ENTER, c)`` into its child ``x_c a``, one level
    down (children from the largest coordinate down, each child's own children up to ``c``); ``(LEAVE, -1)`` back
    to its parent once every child is done; ``(DONE, -1)`` when that monomial is the root. ``nextc[j]`` is the
    next child to visit at level ``j`` (-1: none left)."""
    c = nextc[depth]
    if c < 0:
        return (LEAVE if depth > 0 else DONE), -1
    nextc[depth] = c - 1
    nextc[depth + 1] = c if depth + 1 < g else -1
    return ENTER, c


@njit(cache=True, nogil=True)
def _visiting_order(runs, d, g, r):
    """``order[i]``: the basis index of the ``i``-th monomial the walk visits (the root first)."""
    order = np.empty(r, dtype=np.int64)
    node = np.zeros(g + 1, dtype=np.int64)
    nextc = np.zeros(g + 1, dtype=np.int64)  # the next child to visit (counting down; -1: none left)
    _start(nextc, d, g)
    order[0], seen, depth = 0, 1, 0
    while True:
        move, c = _move(nextc, depth, g)
        if move == DONE:
            break
        if move == LEAVE:
            depth -= 1
            continue
        run = depth * d + c  # the run of degree depth+1, coordinate c
        depth += 1
        node[depth] = runs[run, 0] + node[depth - 1] - runs[run, 1]
        order[seen] = node[depth]
        seen += 1
    return order


@lru_cache(maxsize=16)
def visiting_order(d: int, g: int) -> np.ndarray:
    """The walk's order of the monomials of ``monomial_basis(d, g)``: ``order[i]`` is the basis index of the
    ``i``-th visited; a permutation of ``0..r-1`` with ``order[0] = 0`` (cached, read-only)."""
    basis = monomial_basis(d, g)
    order = _visiting_order(np.ascontiguousarray(basis.runs), d, g, basis.rank) if g > 0 else np.zeros(1, np.int64)
    order.flags.writeable = False
    return order


@njit(cache=True, nogil=True)
def _flush(S, s1, P, prow, npend, V, j0, nk, y):
    """Add the ``npend`` queued monomials into their rows of ``S`` and ``s1`` (lane weights ``y``); the unused
    slots read row 0."""
    for p in range(npend, LANES):
        prow[p] = 0
    nodes_update(S, s1, P, prow, np.int64(npend), V, j0, nk, y)


@njit(cache=True, nogil=True)
def key_task_depth_first(K, V, g, lo, hi, S, s1):
    """:func:`._kernels.key_task` by the depth-first walk (module docstring), rows in the visiting order.

    ``S += sum_j m(k_j) v_j^T`` (tile-major) and ``s1 += m(k_j)`` in lanes, over the padded rows
    ``lo..hi`` of ``K``, ``KEYS`` keys per walk; row ``i`` of ``S`` and ``s1`` is the monomial
    :func:`visiting_order` puts ``i``-th (the values depend only on the path from the root: the
    coordinates ``c`` of its edges, each at most the one before).
    """
    d = K.shape[1]
    xb = np.empty((d, KEYS))
    vals = np.empty((g + 1, KEYS))  # the path from the root: its monomials' values at each level
    nextc = np.zeros(g + 1, dtype=np.int64)  # the next child to visit (counting down; -1: none left)
    P = np.empty((LANES, KEYS))  # queued monomials, their values on the keys of the walk
    prow = np.zeros(LANES, dtype=np.int64)
    ones = np.ones(KEYS)
    for j0 in range(lo, hi, KEYS):
        nk = min(KEYS, hi - j0)
        groups = np.int64(nk // LANES)
        for c in range(d):
            for k in range(nk):
                xb[c, k] = K[j0 + k, c]
        for k in range(nk):
            vals[0, k] = 1.0
            P[0, k] = 1.0
        prow[0] = 0
        npend, seen, depth = 1, 1, 0
        _start(nextc, d, g)
        while True:
            move, c = _move(nextc, depth, g)
            if move == DONE:
                break
            if move == LEAVE:
                depth -= 1
                continue
            depth += 1
            descend(vals, xb, depth, c, groups, P, np.int64(npend))
            prow[npend] = seen
            npend += 1
            seen += 1
            if npend == LANES:
                nodes_update(S, s1, P, prow, np.int64(LANES), V, np.int64(j0), np.int64(nk), ones)
                npend = 0
        if npend > 0:
            _flush(S, s1, P, prow, npend, V, np.int64(j0), np.int64(nk), ones)


@njit(cache=True, nogil=True)
def backward_key_task_depth_first(K, V, WVw, w1w, g, lo, hi, dK, dV):
    """:func:`._kernels.backward_key_task` by the depth-first walk: ``dV_j = m(k_j) WVw`` and ``dk_j``.

    ``WVw`` (tile-major) and ``w1w`` are in the visiting order (:func:`visiting_order`). Each monomial's
    gradient ``WVw v_j + w1w`` is its adjoint's start; children are visited from the largest coordinate
    down, so when the walk leaves a monomial its adjoint has every child's ``adj_child x_c`` added in the
    order :func:`._simd.monomials_backward` adds them, and it passes ``adj x_c`` to its parent and
    ``adj m_parent`` to ``dk_j[c]``. The sums over monomials (``dV``, ``dK``) run in the visiting order,
    which docs/theory.md §4.6.1 allows (any order).
    """
    d, wv = K.shape[1], V.shape[1]
    xb = np.empty((d, KEYS))
    VT = np.empty((wv, KEYS))
    vals = np.empty((g + 1, KEYS))  # the path's monomials on the keys
    adj = np.empty((g + 1, KEYS))  # their adjoints so far
    dVT = np.empty((wv, KEYS))
    dKT = np.empty((d, KEYS))
    coord = np.zeros(g + 1, dtype=np.int64)  # the coordinate of the edge into each level
    nextc = np.zeros(g + 1, dtype=np.int64)  # the next child to visit (counting down; -1: none left)
    groups = np.int64(KEYS // LANES)
    ones = np.ones(KEYS)
    for j0 in range(lo, hi, KEYS):
        nk = min(KEYS, hi - j0)  # the lanes k >= nk walk zero keys and values and are not written out
        xb[:] = 0.0
        VT[:] = 0.0
        dKT[:] = 0.0
        dVT[:] = 0.0
        for k in range(nk):
            for c in range(d):
                xb[c, k] = K[j0 + k, c]
            for c in range(wv):
                VT[c, k] = V[j0 + k, c]
        vals[0, :] = 1.0
        node_gradient(WVw, w1w, np.int64(0), VT, ones, vals, np.int64(0), adj, dVT)
        seen, depth = 1, 0
        _start(nextc, d, g)
        while True:
            move, c = _move(nextc, depth, g)
            if move == DONE:
                break
            if move == LEAVE:  # pass this monomial's adjoint to its parent and to dk
                ascend(adj, vals, xb, dKT, depth, coord[depth], groups)
                depth -= 1
                continue
            depth += 1
            descend(vals, xb, depth, c, groups, vals, depth)  # (the copy is the same row again)
            coord[depth] = c
            node_gradient(WVw, w1w, seen, VT, ones, vals, depth, adj, dVT)
            seen += 1
        for k in range(nk):
            for c in range(d):
                dK[j0 + k, c] += dKT[c, k]
            for c in range(wv):
                dV[j0 + k, c] = dVT[c, k]


@njit(cache=True, nogil=True)
def backward_query_task_depth_first(Q, G, Sw, s1w, d0, g, lo, hi, dQ, WV, w1):
    """:func:`._kernels.backward_query_task` by two walks per 64 queries (``Sw``, ``s1w``, ``WV``, ``w1`` in the
    visiting order).

    The first walk sums ``N = m(q) Sw`` and ``D = d0 + m(q) . s1w`` (in the walk's order); then
    ``dN = G/D`` and ``dD = -(dN . N)/D`` as in the block pass. The second walk starts each monomial's adjoint
    at ``s1w dD + Sw dN`` and pulls it back into ``dQ`` as the backward key walk does, and queues the monomials
    into their rows of ``WV`` and of the lane sums of ``w1`` (weights ``dD``) as the forward key walk does:
    each row of ``WV`` gets one FMA chain over the queries in order. Zero padding queries (``G = 0``) add
    nothing. docs/theory.md §4.6.1 bounds the rounding for any order of these sums.
    """
    d, wv = Q.shape[1], G.shape[1]
    xb = np.zeros((d, KEYS))
    vals = np.empty((g + 1, KEYS))
    adj = np.empty((g + 1, KEYS))
    NT, DT = np.empty((wv, KEYS)), np.empty(KEYS)
    dNT, dN, dD = np.zeros((wv, KEYS)), np.zeros((KEYS, wv)), np.zeros(KEYS)
    dQT = np.empty((d, KEYS))
    P = np.empty((LANES, KEYS))
    prow = np.zeros(LANES, dtype=np.int64)
    coord = np.zeros(g + 1, dtype=np.int64)
    nextc = np.zeros(g + 1, dtype=np.int64)
    groups = np.int64(KEYS // LANES)
    for i0 in range(lo, hi, KEYS):
        nk = min(KEYS, hi - i0)  # lanes k >= nk: zero queries with dN = dD = 0, not written out
        xb[:] = 0.0
        for k in range(nk):
            for c in range(d):
                xb[c, k] = Q[i0 + k, c]
        # the first walk: N and D
        NT[:] = 0.0
        DT[:] = 0.0
        vals[0, :] = 1.0
        node_reduce(Sw, s1w, np.int64(0), vals, np.int64(0), NT, DT)
        seen, depth = 1, 0
        _start(nextc, d, g)
        while True:
            move, c = _move(nextc, depth, g)
            if move == DONE:
                break
            if move == LEAVE:
                depth -= 1
                continue
            depth += 1
            descend(vals, xb, depth, c, groups, vals, depth)
            node_reduce(Sw, s1w, seen, vals, depth, NT, DT)
            seen += 1
        for k in range(nk):
            D = d0 + DT[k]
            gT = 0.0
            for c in range(wv):
                x = G[i0 + k, c] / D
                dN[k, c] = x
                dNT[c, k] = x
                gT += x * NT[c, k]
            dD[k] = -gT / D
        # the second walk: the adjoints into dQ, the monomials into WV and w1
        dQT[:] = 0.0
        vals[0, :] = 1.0
        node_gradient(Sw, s1w, np.int64(0), dNT, dD, vals, np.int64(0), adj, None)
        P[0, :] = 1.0
        prow[0] = 0
        npend, seen, depth = 1, 1, 0
        _start(nextc, d, g)
        while True:
            move, c = _move(nextc, depth, g)
            if move == DONE:
                break
            if move == LEAVE:
                ascend(adj, vals, xb, dQT, depth, coord[depth], groups)
                depth -= 1
                continue
            depth += 1
            descend(vals, xb, depth, c, groups, P, np.int64(npend))
            coord[depth] = c
            node_gradient(Sw, s1w, seen, dNT, dD, vals, depth, adj, None)
            prow[npend] = seen
            npend += 1
            seen += 1
            if npend == LANES:
                nodes_update(WV, w1, P, prow, np.int64(LANES), dN, np.int64(0), np.int64(nk), dD)
                npend = 0
        if npend > 0:
            _flush(WV, w1, P, prow, npend, dN, np.int64(0), np.int64(nk), dD)
        for k in range(nk):
            for c in range(d):
                dQ[i0 + k, c] += dQT[c, k]
        dNT[:] = 0.0
        dN[:] = 0.0
        dD[:] = 0.0

# -- batches: the units of :mod:`._kernels`, by the walk ----------------------------------------


@njit(cache=True, nogil=True)
def key_units_depth_first(K, V, g, rows, bounds, ulo, uhi, S, s1):
    """:func:`._kernels.key_units` by :func:`key_task_depth_first` (rows of ``S``, ``s1`` in the visiting order)."""
    tasks = bounds.shape[0] - 1
    for u in range(ulo, uhi):
        s, t = u // tasks, u % tasks
        key_task_depth_first(K, V, g, s * rows + bounds[t], s * rows + bounds[t + 1], S[s, t], s1[s, t])


@njit(cache=True, nogil=True)
def backward_key_units_depth_first(K, V, WVw, w1w, g, rows, bounds, ulo, uhi, dK, dV):
    """:func:`._kernels.backward_key_units` by :func:`backward_key_task_depth_first` (``WVw[s]``, ``w1w[s]`` in the
    visiting order)."""
    tasks = bounds.shape[0] - 1
    for u in range(ulo, uhi):
        s, t = u // tasks, u % tasks
        backward_key_task_depth_first(K, V, WVw[s], w1w[s], g, s * rows + bounds[t], s * rows + bounds[t + 1],
                                      dK, dV)


@njit(cache=True, nogil=True)
def backward_query_units_depth_first(Q, G, Sw, s1w, d0, g, rows, bounds, ulo, uhi, dQ, WV, w1):
    """:func:`._kernels.backward_query_units` by :func:`backward_query_task_depth_first` (``Sw[s]``, ``s1w[s]``,
    the partial sums ``WV[s, t]``, ``w1[s, t]`` in the visiting order)."""
    tasks = bounds.shape[0] - 1
    for u in range(ulo, uhi):
        s, t = u // tasks, u % tasks
        backward_query_task_depth_first(Q, G, Sw[s], s1w[s], d0, g, s * rows + bounds[t], s * rows + bounds[t + 1],
                                        dQ, WV[s, t], w1[s, t])
