"""Numba kernels of the fused polynomial-method attention (docs/theory.md §3).

Float64, C-contiguous arrays; rows padded to a multiple of 4, the columns of
``V`` / ``G`` padded to a multiple of 4 with zeros. The register blocks are
described in :mod:`promptlimits.poly_attention`, the drivers are in ``_plan``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: Let LLVM fuse ``a * b + c`` into FMA instructions (one rounding instead of
#: two), nothing else: no reassociation, so results are reproducible run to
#: run on one machine (a CPU without FMA rounds twice).
_FASTMATH = {"contract"}


@njit(cache=True, fastmath=_FASTMATH)
def _block_monomials(X, i0, runs, xb, M):
    """``M[a, b] = x_{i0+b}^alpha_a`` for the four rows ``i0..i0+3`` of ``X``.

    One multiply per feature, by runs (:class:`promptlimits.features.MonomialBasis`):
    the inner loop reads and writes contiguous rows of ``M``, four lanes at a time.
    """
    d = X.shape[1]
    for c in range(d):
        for b in range(4):
            xb[c, b] = X[i0 + b, c]
    for b in range(4):
        M[0, b] = 1.0
    for k in range(runs.shape[0]):
        out = runs[k, 0]
        par = runs[k, 1]
        c = runs[k, 3]
        x0 = xb[c, 0]
        x1 = xb[c, 1]
        x2 = xb[c, 2]
        x3 = xb[c, 3]
        for i in range(runs[k, 2]):
            a = par + np.uint64(i)
            y0 = M[a, 0] * x0
            y1 = M[a, 1] * x1
            y2 = M[a, 2] * x2
            y3 = M[a, 3] * x3
            a = out + np.uint64(i)
            M[a, 0] = y0
            M[a, 1] = y1
            M[a, 2] = y2
            M[a, 3] = y3


@njit(cache=True, fastmath=_FASTMATH)
def _keys_into_tile(M, V, j0, ct, St, s1t, r):
    """``St[a, :] += sum_b M[a, b] V[j0+b, ct:ct+4]`` for the four keys ``j0..j0+3``; ``s1t += M``.

    Adding ``M`` into ``s1t`` here, while its rows are in registers, is cheaper
    than a separate pass over ``M``.
    """
    v00 = V[j0, ct]
    v01 = V[j0, ct + 1]
    v02 = V[j0, ct + 2]
    v03 = V[j0, ct + 3]
    v10 = V[j0 + 1, ct]
    v11 = V[j0 + 1, ct + 1]
    v12 = V[j0 + 1, ct + 2]
    v13 = V[j0 + 1, ct + 3]
    v20 = V[j0 + 2, ct]
    v21 = V[j0 + 2, ct + 1]
    v22 = V[j0 + 2, ct + 2]
    v23 = V[j0 + 2, ct + 3]
    v30 = V[j0 + 3, ct]
    v31 = V[j0 + 3, ct + 1]
    v32 = V[j0 + 3, ct + 2]
    v33 = V[j0 + 3, ct + 3]
    for a in range(r):
        m0 = M[a, 0]
        m1 = M[a, 1]
        m2 = M[a, 2]
        m3 = M[a, 3]
        s1t[a, 0] += m0
        s1t[a, 1] += m1
        s1t[a, 2] += m2
        s1t[a, 3] += m3
        St[a, 0] += (m0 * v00 + m1 * v10) + (m2 * v20 + m3 * v30)
        St[a, 1] += (m0 * v01 + m1 * v11) + (m2 * v21 + m3 * v31)
        St[a, 2] += (m0 * v02 + m1 * v12) + (m2 * v22 + m3 * v32)
        St[a, 3] += (m0 * v03 + m1 * v13) + (m2 * v23 + m3 * v33)


@njit(cache=True, fastmath=_FASTMATH)
def _keys_into_tile_pair(M, V, j0, ct, SA, SB, s1t, r):
    """:func:`_keys_into_tile` for the two tiles ``ct:ct+4`` and ``ct+4:ct+8`` in one pass over ``M``."""
    v00 = V[j0, ct]
    v01 = V[j0, ct + 1]
    v02 = V[j0, ct + 2]
    v03 = V[j0, ct + 3]
    v04 = V[j0, ct + 4]
    v05 = V[j0, ct + 5]
    v06 = V[j0, ct + 6]
    v07 = V[j0, ct + 7]
    v10 = V[j0 + 1, ct]
    v11 = V[j0 + 1, ct + 1]
    v12 = V[j0 + 1, ct + 2]
    v13 = V[j0 + 1, ct + 3]
    v14 = V[j0 + 1, ct + 4]
    v15 = V[j0 + 1, ct + 5]
    v16 = V[j0 + 1, ct + 6]
    v17 = V[j0 + 1, ct + 7]
    v20 = V[j0 + 2, ct]
    v21 = V[j0 + 2, ct + 1]
    v22 = V[j0 + 2, ct + 2]
    v23 = V[j0 + 2, ct + 3]
    v24 = V[j0 + 2, ct + 4]
    v25 = V[j0 + 2, ct + 5]
    v26 = V[j0 + 2, ct + 6]
    v27 = V[j0 + 2, ct + 7]
    v30 = V[j0 + 3, ct]
    v31 = V[j0 + 3, ct + 1]
    v32 = V[j0 + 3, ct + 2]
    v33 = V[j0 + 3, ct + 3]
    v34 = V[j0 + 3, ct + 4]
    v35 = V[j0 + 3, ct + 5]
    v36 = V[j0 + 3, ct + 6]
    v37 = V[j0 + 3, ct + 7]
    for a in range(r):
        m0 = M[a, 0]
        m1 = M[a, 1]
        m2 = M[a, 2]
        m3 = M[a, 3]
        s1t[a, 0] += m0
        s1t[a, 1] += m1
        s1t[a, 2] += m2
        s1t[a, 3] += m3
        SA[a, 0] += (m0 * v00 + m1 * v10) + (m2 * v20 + m3 * v30)
        SA[a, 1] += (m0 * v01 + m1 * v11) + (m2 * v21 + m3 * v31)
        SA[a, 2] += (m0 * v02 + m1 * v12) + (m2 * v22 + m3 * v32)
        SA[a, 3] += (m0 * v03 + m1 * v13) + (m2 * v23 + m3 * v33)
        SB[a, 0] += (m0 * v04 + m1 * v14) + (m2 * v24 + m3 * v34)
        SB[a, 1] += (m0 * v05 + m1 * v15) + (m2 * v25 + m3 * v35)
        SB[a, 2] += (m0 * v06 + m1 * v16) + (m2 * v26 + m3 * v36)
        SB[a, 3] += (m0 * v07 + m1 * v17) + (m2 * v27 + m3 * v37)


@njit(cache=True, fastmath=_FASTMATH)
def _keys_into_tiles(M, V, j0, S, s1t, scratch, r):
    """``S[tile] += M^T V[j0:j0+4, tile columns]`` for every tile of ``S`` (tile-major, ``(Wv/4, r, 4)``).

    Eight columns per pass over ``M``, then four for an odd tile. The first
    pass also adds ``M`` into ``s1t``; later passes add it into ``scratch``,
    which is never read.
    """
    ntile = S.shape[0]
    for tp in range(ntile // 2):
        sink = s1t if tp == 0 else scratch
        _keys_into_tile_pair(M, V, j0, 8 * tp, S[2 * tp], S[2 * tp + 1], sink, r)
    if ntile % 2:
        sink = s1t if ntile == 1 else scratch
        _keys_into_tile(M, V, j0, 4 * (ntile - 1), S[ntile - 1], sink, r)


@njit(cache=True, fastmath=_FASTMATH, parallel=True)
def _key_pass(K, V, runs, r, bounds):
    """Partial sums ``S_V = sum_j m(k_j) v_j^T`` and lane sums of ``s_1 = sum_j m(k_j)``.

    ``bounds`` splits the rows (multiples of 4) into ranges, one per task.
    Returns ``S`` (tasks, Wv/4, r, 4), tile-major, and ``s1`` (tasks, r, 4);
    sum them over tasks (and ``s1`` over lanes) to get ``S_V`` and ``s_1``.
    Columns go eight at a time (two tiles per pass over the monomials).
    """
    ntask = bounds.shape[0] - 1
    d = K.shape[1]
    ntile = V.shape[1] // 4
    S = np.zeros((ntask, ntile, r, 4))
    s1 = np.zeros((ntask, r, 4))
    for t in prange(ntask):
        xb = np.empty((d, 4))
        M = np.empty((r, 4))
        scratch = np.zeros((r, 4))  # takes the s1 sums of every tile group but the first
        St = S[t]
        s1t = s1[t]
        for j0 in range(bounds[t], bounds[t + 1], 4):
            _block_monomials(K, j0, runs, xb, M)
            _keys_into_tiles(M, V, j0, St, s1t, scratch, r)
    return S, s1


@njit(cache=True, fastmath=_FASTMATH)
def _queries_tile(M, St, N, ct, s1w, E, r):
    """``N[b, ct:ct+4] = sum_a M[a, b] St[a, :]`` for the four rows ``b`` (4 x 4 accumulators)
    and the denominators' sums ``E[b] = sum_a M[a, b] s1w[a]``.
    """
    e0 = 0.0
    e1 = 0.0
    e2 = 0.0
    e3 = 0.0
    n00 = 0.0
    n01 = 0.0
    n02 = 0.0
    n03 = 0.0
    n10 = 0.0
    n11 = 0.0
    n12 = 0.0
    n13 = 0.0
    n20 = 0.0
    n21 = 0.0
    n22 = 0.0
    n23 = 0.0
    n30 = 0.0
    n31 = 0.0
    n32 = 0.0
    n33 = 0.0
    for a in range(r):
        m0 = M[a, 0]
        m1 = M[a, 1]
        m2 = M[a, 2]
        m3 = M[a, 3]
        s0 = St[a, 0]
        s1 = St[a, 1]
        s2 = St[a, 2]
        s3 = St[a, 3]
        w = s1w[a]
        e0 += m0 * w
        e1 += m1 * w
        e2 += m2 * w
        e3 += m3 * w
        n00 += m0 * s0
        n01 += m0 * s1
        n02 += m0 * s2
        n03 += m0 * s3
        n10 += m1 * s0
        n11 += m1 * s1
        n12 += m1 * s2
        n13 += m1 * s3
        n20 += m2 * s0
        n21 += m2 * s1
        n22 += m2 * s2
        n23 += m2 * s3
        n30 += m3 * s0
        n31 += m3 * s1
        n32 += m3 * s2
        n33 += m3 * s3
    N[0, ct] = n00
    N[0, ct + 1] = n01
    N[0, ct + 2] = n02
    N[0, ct + 3] = n03
    N[1, ct] = n10
    N[1, ct + 1] = n11
    N[1, ct + 2] = n12
    N[1, ct + 3] = n13
    N[2, ct] = n20
    N[2, ct + 1] = n21
    N[2, ct + 2] = n22
    N[2, ct + 3] = n23
    N[3, ct] = n30
    N[3, ct + 1] = n31
    N[3, ct + 2] = n32
    N[3, ct + 3] = n33
    E[0] = e0
    E[1] = e1
    E[2] = e2
    E[3] = e3


@njit(cache=True, fastmath=_FASTMATH)
def _queries_tile_pair(M, SA, SB, N, ct, s1w, E, r):
    """:func:`_queries_tile` for columns ``ct:ct+8`` (4 x 8 accumulators, one pass over ``M``),
    and ``E[b] = sum_a M[a, b] s1w[a]``.
    """
    e0 = 0.0
    e1 = 0.0
    e2 = 0.0
    e3 = 0.0
    n00 = 0.0
    n01 = 0.0
    n02 = 0.0
    n03 = 0.0
    n04 = 0.0
    n05 = 0.0
    n06 = 0.0
    n07 = 0.0
    n10 = 0.0
    n11 = 0.0
    n12 = 0.0
    n13 = 0.0
    n14 = 0.0
    n15 = 0.0
    n16 = 0.0
    n17 = 0.0
    n20 = 0.0
    n21 = 0.0
    n22 = 0.0
    n23 = 0.0
    n24 = 0.0
    n25 = 0.0
    n26 = 0.0
    n27 = 0.0
    n30 = 0.0
    n31 = 0.0
    n32 = 0.0
    n33 = 0.0
    n34 = 0.0
    n35 = 0.0
    n36 = 0.0
    n37 = 0.0
    for a in range(r):
        m0 = M[a, 0]
        m1 = M[a, 1]
        m2 = M[a, 2]
        m3 = M[a, 3]
        s0 = SA[a, 0]
        s1 = SA[a, 1]
        s2 = SA[a, 2]
        s3 = SA[a, 3]
        s4 = SB[a, 0]
        s5 = SB[a, 1]
        s6 = SB[a, 2]
        s7 = SB[a, 3]
        w = s1w[a]
        e0 += m0 * w
        e1 += m1 * w
        e2 += m2 * w
        e3 += m3 * w
        n00 += m0 * s0
        n01 += m0 * s1
        n02 += m0 * s2
        n03 += m0 * s3
        n04 += m0 * s4
        n05 += m0 * s5
        n06 += m0 * s6
        n07 += m0 * s7
        n10 += m1 * s0
        n11 += m1 * s1
        n12 += m1 * s2
        n13 += m1 * s3
        n14 += m1 * s4
        n15 += m1 * s5
        n16 += m1 * s6
        n17 += m1 * s7
        n20 += m2 * s0
        n21 += m2 * s1
        n22 += m2 * s2
        n23 += m2 * s3
        n24 += m2 * s4
        n25 += m2 * s5
        n26 += m2 * s6
        n27 += m2 * s7
        n30 += m3 * s0
        n31 += m3 * s1
        n32 += m3 * s2
        n33 += m3 * s3
        n34 += m3 * s4
        n35 += m3 * s5
        n36 += m3 * s6
        n37 += m3 * s7
    N[0, ct] = n00
    N[0, ct + 1] = n01
    N[0, ct + 2] = n02
    N[0, ct + 3] = n03
    N[0, ct + 4] = n04
    N[0, ct + 5] = n05
    N[0, ct + 6] = n06
    N[0, ct + 7] = n07
    N[1, ct] = n10
    N[1, ct + 1] = n11
    N[1, ct + 2] = n12
    N[1, ct + 3] = n13
    N[1, ct + 4] = n14
    N[1, ct + 5] = n15
    N[1, ct + 6] = n16
    N[1, ct + 7] = n17
    N[2, ct] = n20
    N[2, ct + 1] = n21
    N[2, ct + 2] = n22
    N[2, ct + 3] = n23
    N[2, ct + 4] = n24
    N[2, ct + 5] = n25
    N[2, ct + 6] = n26
    N[2, ct + 7] = n27
    N[3, ct] = n30
    N[3, ct + 1] = n31
    N[3, ct + 2] = n32
    N[3, ct + 3] = n33
    N[3, ct + 4] = n34
    N[3, ct + 5] = n35
    N[3, ct + 6] = n36
    N[3, ct + 7] = n37
    E[0] = e0
    E[1] = e1
    E[2] = e2
    E[3] = e3


@njit(cache=True, fastmath=_FASTMATH)
def _queries_tiles(M, Sw, N, s1w, E, r):
    """``N = M^T Sw`` (4 x Wv) over every tile of ``Sw`` (tile-major), and ``E = M^T s1w``.

    Eight columns per pass over ``M``, then four for an odd tile; each pass
    sets ``E`` to the same values.
    """
    ntile = Sw.shape[0]
    for tp in range(ntile // 2):
        _queries_tile_pair(M, Sw[2 * tp], Sw[2 * tp + 1], N, 8 * tp, s1w, E, r)
    if ntile % 2:
        _queries_tile(M, Sw[ntile - 1], N, 4 * (ntile - 1), s1w, E, r)


@njit(cache=True, fastmath=_FASTMATH, parallel=True)
def _query_pass(Q, Sw, s1w, d0, runs, r, bounds, dv):
    """``T_i = (m(q_i) Sw) / (d0 + m(q_i) . s1w)`` for every (padded) query row.

    ``Sw = w * S_V`` and ``s1w = w * s_1`` carry the feature weights, so
    ``m(q) Sw = phi_L(q) S_V``. ``Sw`` is stored tile-major, shape
    ``(Wv/4, r, 4)``: constant inner indices let LLVM vectorize the 4 x 8
    (or 4 x 4) accumulator block.
    """
    ntask = bounds.shape[0] - 1
    d = Q.shape[1]
    ntile = Sw.shape[0]
    Wv = 4 * ntile
    T = np.empty((Q.shape[0], dv))
    for t in prange(ntask):
        xb = np.empty((d, 4))
        M = np.empty((r, 4))
        N = np.empty((4, Wv))
        E = np.empty(4)
        for i0 in range(bounds[t], bounds[t + 1], 4):
            _block_monomials(Q, i0, runs, xb, M)
            _queries_tiles(M, Sw, N, s1w, E, r)
            e0 = d0 + E[0]
            e1 = d0 + E[1]
            e2 = d0 + E[2]
            e3 = d0 + E[3]
            for c in range(dv):
                T[i0, c] = N[0, c] / e0
                T[i0 + 1, c] = N[1, c] / e1
                T[i0 + 2, c] = N[2, c] / e2
                T[i0 + 3, c] = N[3, c] / e3
    return T


@njit(cache=True, fastmath=_FASTMATH)
def _block_monomials_backward(X, i0, runs, xb, M, dm, dX):
    """Pull ``dm`` (gradients w.r.t. the monomial block ``M`` of rows ``i0..i0+3``) back to ``dX``.

    Runs in reverse: every run of degree ``j`` reads the finished gradients of
    degree ``j`` and adds into degree ``j - 1``. ``xb`` must hold the rows as
    :func:`_block_monomials` left it. Overwrites ``dm``.
    """
    for k in range(runs.shape[0] - 1, -1, -1):
        out = runs[k, 0]
        par = runs[k, 1]
        c = runs[k, 3]
        x0 = xb[c, 0]
        x1 = xb[c, 1]
        x2 = xb[c, 2]
        x3 = xb[c, 3]
        acc0 = 0.0
        acc1 = 0.0
        acc2 = 0.0
        acc3 = 0.0
        for i in range(runs[k, 2]):
            a = out + np.uint64(i)
            g0 = dm[a, 0]
            g1 = dm[a, 1]
            g2 = dm[a, 2]
            g3 = dm[a, 3]
            p = par + np.uint64(i)
            acc0 += g0 * M[p, 0]
            acc1 += g1 * M[p, 1]
            acc2 += g2 * M[p, 2]
            acc3 += g3 * M[p, 3]
            dm[p, 0] += g0 * x0
            dm[p, 1] += g1 * x1
            dm[p, 2] += g2 * x2
            dm[p, 3] += g3 * x3
        dX[i0, c] += acc0
        dX[i0 + 1, c] += acc1
        dX[i0 + 2, c] += acc2
        dX[i0 + 3, c] += acc3


@njit(cache=True, fastmath=_FASTMATH)
def _feature_gradient(Sw, s1w, YT, y, dm, scratch, r):
    """``dm[a, b] = s1w[a] y[b] + sum_c Sw[a, c] YT[c, b]`` for the four lanes ``b``.

    ``Sw`` is tile-major ``(Wv/4, r, 4)``, ``YT`` is ``(Wv, 4)``. Each tile is
    :func:`_keys_into_tile` with the roles of monomials and values swapped.
    """
    y0 = y[0]
    y1 = y[1]
    y2 = y[2]
    y3 = y[3]
    for a in range(r):
        w = s1w[a]
        dm[a, 0] = w * y0
        dm[a, 1] = w * y1
        dm[a, 2] = w * y2
        dm[a, 3] = w * y3
    for tile in range(Sw.shape[0]):
        _keys_into_tile(Sw[tile], YT, 4 * tile, 0, dm, scratch, r)


@njit(cache=True, fastmath=_FASTMATH, parallel=True)
def _backward_query_pass(Q, G, Sw, s1w, d0, runs, r, bounds):
    """Query side of the backward pass (Alman--Song 2024), four queries at a time.

    For each query: ``N = m(q) Sw``, ``D = d0 + m(q) . s1w``, ``T = N/D``,
    ``dN = G/D``, ``dD = -G.T/D``; the gradient with respect to the monomials
    is ``dm = Sw dN + s1w dD``, pulled back to ``q`` through the runs in
    reverse. Also returns per-task partial sums, tile-major ``WV = sum_i
    m(q_i) dN_i^T`` (tasks, Wv/4, r, 4) and lane sums ``w1 = sum_i m(q_i) dD_i``
    (tasks, r, 4); multiplied by the feature weights they are the gradients of
    ``S_V`` and ``s_1``. Rows and the columns of ``G`` are padded to multiples
    of 4 (zero rows of ``G`` contribute nothing).
    """
    ntask = bounds.shape[0] - 1
    d = Q.shape[1]
    ntile = Sw.shape[0]
    Wv = 4 * ntile
    dQ = np.zeros(Q.shape)
    WV = np.zeros((ntask, ntile, r, 4))
    w1 = np.zeros((ntask, r, 4))
    for t in prange(ntask):
        xb = np.empty((d, 4))
        M = np.empty((r, 4))
        dm = np.empty((r, 4))
        scratch = np.empty((r, 4))
        N = np.empty((4, Wv))
        dN = np.empty((4, Wv))
        dNT = np.empty((Wv, 4))
        E = np.empty(4)
        dD = np.empty(4)
        WVt = WV[t]
        w1t = w1[t]
        for i0 in range(bounds[t], bounds[t + 1], 4):
            _block_monomials(Q, i0, runs, xb, M)
            _queries_tiles(M, Sw, N, s1w, E, r)
            for b in range(4):
                D = d0 + E[b]
                gT = 0.0
                for c in range(Wv):
                    g = G[i0 + b, c] / D
                    dN[b, c] = g
                    dNT[c, b] = g
                    gT += g * N[b, c]
                dD[b] = -gT / D
            _feature_gradient(Sw, s1w, dNT, dD, dm, scratch, r)
            _keys_into_tiles(M, dN, 0, WVt, scratch, scratch, r)
            q0 = dD[0]
            q1 = dD[1]
            q2 = dD[2]
            q3 = dD[3]
            for a in range(r):
                w1t[a, 0] += M[a, 0] * q0
                w1t[a, 1] += M[a, 1] * q1
                w1t[a, 2] += M[a, 2] * q2
                w1t[a, 3] += M[a, 3] * q3
            _block_monomials_backward(Q, i0, runs, xb, M, dm, dQ)
    return dQ, WV, w1


@njit(cache=True, fastmath=_FASTMATH, parallel=True)
def _backward_key_pass(K, V, WVw, w1w, runs, r, bounds):
    """Key side of the backward pass, four keys at a time: ``dV_j = m(k_j) WVw`` and ``dk_j``.

    ``WVw`` (tile-major, ``(Wv/4, r, 4)``) and ``w1w`` are the gradients of
    ``S_V`` and ``s_1``; the gradient with respect to ``m(k_j)`` is
    ``WVw v_j + w1w``, pulled back to ``k_j`` through the runs in reverse.
    """
    ntask = bounds.shape[0] - 1
    d = K.shape[1]
    ntile = WVw.shape[0]
    Wv = 4 * ntile
    dK = np.zeros(K.shape)
    dV = np.empty(V.shape)
    ones = np.ones(4)
    for t in prange(ntask):
        xb = np.empty((d, 4))
        M = np.empty((r, 4))
        dm = np.empty((r, 4))
        scratch = np.empty((r, 4))
        N = np.empty((4, Wv))
        VT = np.empty((Wv, 4))
        E = np.empty(4)
        for j0 in range(bounds[t], bounds[t + 1], 4):
            _block_monomials(K, j0, runs, xb, M)
            for c in range(Wv):
                for b in range(4):
                    VT[c, b] = V[j0 + b, c]
            _feature_gradient(WVw, w1w, VT, ones, dm, scratch, r)
            _queries_tiles(M, WVw, N, w1w, E, r)  # the dV block; E is not needed here
            for b in range(4):
                for c in range(Wv):
                    dV[j0 + b, c] = N[b, c]
            _block_monomials_backward(K, j0, runs, xb, M, dm, dK)
    return dK, dV
