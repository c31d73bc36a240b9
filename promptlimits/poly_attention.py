"""Almost-linear attention by the polynomial method (AAttC), forward and backward.

DESIGN section 3; Alman and Song, "Fast Attention Requires Bounded Entries"
(NeurIPS 2023) for the forward pass and "The Fine-Grained Complexity of
Gradient Computation for Training Large Language Models" (NeurIPS 2024) for
the backward pass.

With ``exp`` replaced on the logit range ``[-R, R]`` by a certified polynomial
``p`` (:mod:`promptlimits.polyapprox`) and ``p(s q.k) = phi_L(q) . phi_R(k)``
(:mod:`promptlimits.features`, width ``r = C(d+g, g)``),

    T_i = N_i / D_i,   N_i = phi_L(q_i) S_V,   D_i = d0 + phi_L(q_i) s_1,
    S_V = sum_j phi_R(k_j) v_j^T   (r x d_v),   s_1 = sum_j phi_R(k_j)   (r),

with ``d0 = 0`` for softmax and ``d0 = 1`` for Softmax_1. This is
``diag(U1 (U2^T 1))^-1 U1 (U2^T V)`` with ``U1 = phi_L(Q)``, ``U2 = phi_R(K)``,
computed in O(n r d) time.

Error (DESIGN section 3): if ``eps_p < 1`` then every approximate weight
``p_ij`` lies in ``[(1-eps_p) e_ij, (1+eps_p) e_ij]``, so each normalised weight
is within a factor ``(1+eps_p)/(1-eps_p)`` of the exact one, and since the
exact weights of a row sum to at most 1,

    ||T - Att||max <= 2 eps_p / (1 - eps_p) * ||V||max

(:meth:`PolyPlan.output_bound`). The bound is for exact arithmetic; float64
evaluation adds rounding, measured at up to about ``7e-15 ||V||max`` (d = 8,
degree 14). Below ``eps_p ~ 1e-14`` that rounding can exceed the certificate
itself, so :func:`make_plan` refuses targets below :data:`EPS_MIN` ``= 1e-12``
and ``output_bound`` never uses an ``eps_p`` below it.

Kernels
-------
``method="fused"`` never forms an ``n x r`` or ``n x n`` matrix: one parallel
pass over keys (``prange`` over pre-split key ranges, one partial ``S`` per
range, serial reduction) and one parallel pass over queries. Keys and queries
go four at a time: the four monomial vectors are built by runs of the parent
recursion (one contiguous multiply loop per run, :mod:`promptlimits.features`)
into an ``r x 4`` buffer, and the updates ``S[a, c:c+8] += sum_b m[a, b]
v_b[c:c+8]`` and ``N_b[c:c+8] += m[a, b] S[a, c:c+8]`` (eight columns per pass
over the buffer, then four for an odd tile) are written with scalar
accumulators so that LLVM keeps them in vector registers; ``a * b + c`` may
become one FMA. Extra memory per range is O(r (d_v + 4)). The backward pass
reuses these blocks (:meth:`PolyPlan.backward`). ``method="factors"``
materialises ``U1`` and ``U2`` (``n x r``) and uses BLAS; it is for small
``n`` and for tests.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

import numba
import numpy as np
from numba import njit, prange

from ._checks import as_float_array, check_choice
from .features import MonomialBasis, feature_weights, monomial_basis
from .polyapprox import ExpApprox, exp_approximation

METHODS = ("fused", "factors")
VARIANTS = ("softmax", "softmax1")

_LANES = 4  # rows handled together by the kernels; also the column tile width

#: Smallest certified relative error the plans accept and claim: float64
#: rounding in the attention sums is of order 1e-15 (module docstring).
EPS_MIN = 1e-12

#: Let LLVM fuse ``a * b + c`` into FMA instructions (one rounding instead of
#: two), nothing else: no reassociation, so results are reproducible run to
#: run on one machine (a CPU without FMA rounds twice).
_FASTMATH = {"contract"}


@contextmanager
def _slp_vectorize():
    """Turn on LLVM's SLP vectorizer while the kernels below compile.

    Numba leaves it off by default (``NUMBA_SLP_VECTORIZE=0``); the kernels'
    4 x 4 blocks of scalar accumulators only become vector registers with it.
    The flag is read when a function is compiled, so it has no effect on
    kernels loaded from the cache, and it never changes results (SLP does not
    reassociate floating-point operations).
    """
    old = numba.config.SLP_VECTORIZE
    numba.config.SLP_VECTORIZE = 1
    try:
        yield
    finally:
        numba.config.SLP_VECTORIZE = old


# ---------------------------------------------------------------------------
# Numba kernels (float64, C-contiguous; rows padded to a multiple of 4, the
# columns of V / G padded to a multiple of 4 with zeros).
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Python drivers
# ---------------------------------------------------------------------------


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


def _pad(X, rows: int, cols: int) -> np.ndarray:
    """Copy ``X`` into a zero float64 C array of shape ``(rows, cols)``."""
    out = np.zeros((rows, cols), dtype=np.float64)
    out[: X.shape[0], : X.shape[1]] = X
    return out


def _bounds(n_rows: int, step: int, tasks: int | None = None) -> np.ndarray:
    """Split ``n_rows`` (a multiple of ``step``) into contiguous ranges of whole steps."""
    if tasks is None:
        tasks = numba.get_num_threads()
    blocks = n_rows // step
    tasks = max(1, min(tasks, blocks))
    cuts = (np.arange(tasks + 1, dtype=np.int64) * blocks) // tasks
    return cuts * step


def _max_abs(X) -> float:
    return float(np.max(np.abs(X))) if X.size else 0.0


@dataclass(frozen=True, eq=False)
class PolyPlan:
    """A certified polynomial-method attention for head size ``d`` and norm bound ``B``.

    Made by :func:`make_plan`. Inputs with ``||Q||max`` or ``||K||max`` above
    ``B`` are refused (DESIGN section 3), so the certificate always applies.

    Attributes
    ----------
    d : int
        Head dimension (columns of Q and K).
    B : float
        Bound on ``||Q||max`` and ``||K||max``.
    scale : float
        Logit scale ``s`` (default ``1/d``).
    R : float
        Logit range, ``s d B^2``.
    eps : float or None
        The target asked for.
    approx : ExpApprox
        The polynomial; ``kind``, ``degree`` and ``eps_p`` are repeated below.
    kind : str
    degree : int
    eps_p : float
        Certified relative error of ``p`` on ``[-R, R]``.
    rank : int
        Feature width ``r = C(d+g, g)``.
    basis : MonomialBasis
    weights : ndarray, shape ``(rank,)``
        ``w_alpha = c_|alpha| s^|alpha| |alpha|!/alpha!``.
    """

    d: int
    B: float
    scale: float
    R: float
    eps: float | None
    approx: ExpApprox = field(repr=False)
    basis: MonomialBasis = field(repr=False)
    weights: np.ndarray = field(repr=False)
    #: ``(runs, rank)`` for the kernels, ``runs`` as uint64 (unsigned indices
    #: skip Numba's negative-index wraparound, which blocks vectorisation).
    _index: tuple = field(repr=False, default=None)

    @property
    def kind(self) -> str:
        return self.approx.kind

    @property
    def degree(self) -> int:
        return self.approx.degree

    @property
    def eps_p(self) -> float:
        return self.approx.eps_p

    @property
    def rank(self) -> int:
        return self.basis.rank

    def __repr__(self) -> str:
        return (f"PolyPlan(d={self.d}, B={self.B:.6g}, scale={self.scale:.6g}, R={self.R:.6g}, "
                f"kind={self.kind!r}, degree={self.degree}, rank={self.rank}, eps_p={self.eps_p:.3e})")

    def output_bound(self, V) -> float:
        """Certified ``||T - Att||max <= 2 eps / (1 - eps) ||V||max`` (DESIGN section 3).

        ``eps = max(eps_p, EPS_MIN)``: below :data:`EPS_MIN` float64 rounding,
        not the polynomial, limits the accuracy.
        """
        V = as_float_array(V, "V")
        e = max(self.eps_p, EPS_MIN)
        return 2.0 * e / (1.0 - e) * _max_abs(V)

    # -- input checks ------------------------------------------------------
    def _check(self, Q, K, V, G=None):
        Q = as_float_array(Q, "Q", ndim=2)
        K = as_float_array(K, "K", ndim=2)
        V = as_float_array(V, "V", ndim=2)
        arrays = [Q, K, V]
        if Q.shape[1] != self.d or K.shape[1] != self.d:
            raise ValueError(f"Q and K must have d={self.d} columns for this plan, got Q {Q.shape} and K {K.shape}")
        if K.shape[0] != V.shape[0]:
            raise ValueError(f"K and V must have the same number of rows, got K {K.shape} and V {V.shape}")
        if K.shape[0] == 0:
            raise ValueError(f"attention needs at least one key, got K {K.shape}")
        if G is not None:
            G = as_float_array(G, "G", ndim=2)
            want = (Q.shape[0], V.shape[1])
            if G.shape != want:
                raise ValueError(f"upstream gradient G must have shape {want}, got {G.shape}")
            arrays.append(G)
        for X, name in ((Q, "Q"), (K, "K")):
            b = _max_abs(X)
            if b > self.B:
                raise ValueError(
                    f"||{name}||max = {b:.6g} exceeds the plan's B = {self.B:.6g}: "
                    f"the certificate eps_p={self.eps_p:.3e} does not cover it; make a plan with B >= {b:.6g}"
                )
        dtype = np.result_type(*arrays)
        return arrays, dtype

    # -- forward -----------------------------------------------------------
    def forward(self, Q, K, V, *, method: str = "fused", variant: str = "softmax"):
        """Approximate attention ``D^-1 exp(s Q K^T) V`` (or Softmax_1), shape ``(n_q, d_v)``.

        Within :meth:`output_bound` of :func:`promptlimits.exact_attention`.
        float32 inputs are computed in float64 and returned as float32.
        """
        check_choice(method, "method", METHODS)
        check_choice(variant, "attention variant", VARIANTS)
        (Q, K, V), dtype = self._check(Q, K, V)
        d0 = 1.0 if variant == "softmax1" else 0.0
        if method == "factors":
            T = self._forward_factors(Q, K, V, d0)
        else:
            T = self._forward_fused(Q, K, V, d0)
        return T.astype(dtype, copy=False)

    __call__ = forward

    @staticmethod
    def _padded_keys(K, V):
        """``K`` and ``V`` as float64 C arrays, rows padded to a multiple of 4, ``V``'s columns too."""
        n4 = _round_up(K.shape[0], _LANES)
        return _pad(K, n4, K.shape[1]), _pad(V, n4, _round_up(V.shape[1], _LANES))

    def _key_sums(self, Kp, Vp, n):
        """``S_V * w`` tile-major ``(Wv/4, r, 4)`` and ``s_1 * w`` (r) over the first ``n`` padded keys."""
        with _slp_vectorize():
            S, s1 = _key_pass(Kp, Vp, *self._index, _bounds(Kp.shape[0], _LANES))
        s1 = s1.sum(axis=(0, 2))
        s1[0] -= Kp.shape[0] - n  # each zero padding key added the constant monomial 1
        w = self.weights
        return S.sum(axis=0) * w[None, :, None], s1 * w

    def _forward_fused(self, Q, K, V, d0):
        Sw, s1w = self._key_sums(*self._padded_keys(K, V), K.shape[0])
        nq = Q.shape[0]
        nq4 = _round_up(nq, _LANES)
        Qp = _pad(Q, nq4, Q.shape[1])
        with _slp_vectorize():
            T = _query_pass(Qp, Sw, s1w, d0, *self._index, _bounds(nq4, _LANES), V.shape[1])
        return T[:nq]

    def factors(self, Q, K):
        """The materialised factors ``U1 = phi_L(Q)`` and ``U2 = phi_R(K)``, each ``n x r``."""
        from .features import _monomials

        Q = np.ascontiguousarray(Q, dtype=np.float64)
        K = np.ascontiguousarray(K, dtype=np.float64)
        U1 = _monomials(Q, self.basis.runs, self.rank) * self.weights
        U2 = _monomials(K, self.basis.runs, self.rank)
        return U1, U2

    def _forward_factors(self, Q, K, V, d0):
        U1, U2 = self.factors(Q, K)
        num = U1 @ (U2.T @ V.astype(np.float64))
        den = d0 + U1 @ U2.sum(axis=0)
        return num / den[:, None]

    # -- backward ----------------------------------------------------------
    def backward(self, Q, K, V, G, *, variant: str = "softmax"):
        """Gradients of ``<G, T>`` with respect to ``Q, K, V`` for the polynomial ``T``.

        O(n r d) time and O(r d) extra memory per thread (Alman--Song 2024;
        module docstring): these are the exact gradients of :meth:`forward`,
        which are close to those of exact attention when ``eps_p`` is small.

        Returns
        -------
        dQ, dK, dV : arrays shaped like Q, K, V (dtype of the inputs).
        """
        check_choice(variant, "attention variant", VARIANTS)
        (Q, K, V, G), dtype = self._check(Q, K, V, G)
        d0 = 1.0 if variant == "softmax1" else 0.0
        n, dv = V.shape
        nq = Q.shape[0]
        (runs, r), w = self._index, self.weights
        Kp, Vp = self._padded_keys(K, V)
        Sw, s1w = self._key_sums(Kp, Vp, n)
        nq4 = _round_up(nq, _LANES)
        Qp = _pad(Q, nq4, Q.shape[1])
        Gp = _pad(G, nq4, Vp.shape[1])
        with _slp_vectorize():
            dQ, WV, w1 = _backward_query_pass(Qp, Gp, Sw, s1w, d0, runs, r, _bounds(nq4, _LANES))
        WVw = WV.sum(axis=0) * w[None, :, None]  # tile-major (ntile, r, 4)
        w1w = w1.sum(axis=(0, 2)) * w
        with _slp_vectorize():
            dK, dV = _backward_key_pass(Kp, Vp, WVw, w1w, runs, r, _bounds(Kp.shape[0], _LANES))
        return (dQ[:nq].astype(dtype, copy=False), dK[:n].astype(dtype, copy=False),
                dV[:n, :dv].astype(dtype, copy=False))


def _check_scale(scale, d: int) -> float:
    if scale is None:
        return 1.0 / d
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise TypeError(f"scale must be a real number, got {type(scale).__name__}")
    scale = float(scale)
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be finite and > 0, got {scale}")
    return scale


@lru_cache(maxsize=256)
def _make_plan_cached(d: int, B: float, eps, degree, scale: float, kind: str) -> PolyPlan:
    R = scale * d * B * B
    approx = exp_approximation(R, eps=eps, degree=degree, kind=kind)
    if not approx.eps_p < 1.0:
        raise ValueError(
            f"degree {approx.degree} ({approx.kind}) certifies only eps_p={approx.eps_p:.3e} >= 1 "
            f"on [-R, R] with R={R:.6g} (B={B:.6g}): the approximation is not certified"
        )
    basis = monomial_basis(d, approx.degree)
    w = feature_weights(basis, approx.coefficients, scale)
    w.flags.writeable = False
    runs = basis.runs.astype(np.uint64)
    return PolyPlan(d=d, B=B, scale=scale, R=R, eps=eps, approx=approx, basis=basis, weights=w,
                    _index=(runs, basis.rank))


def make_plan(d, B, *, eps=1e-6, degree=None, scale=None, kind: str = "auto") -> PolyPlan:
    """Make a certified polynomial-method plan (DESIGN section 3).

    Parameters
    ----------
    d : int
        Head dimension.
    B : float
        Bound on ``||Q||max`` and ``||K||max``; the logits lie in ``[-R, R]``
        with ``R = scale * d * B^2`` (``= B^2`` for the default scale).
    eps : float in [EPS_MIN, 1) or None
        Target for the certified relative error ``eps_p`` of ``p``. With
        ``degree=None`` the least certified degree is used. ``None`` is
        allowed with an explicit degree (no target).
    degree : int, optional
        Fixed degree; must certify ``eps`` when ``eps`` is given.
    scale : float, optional
        Logit scale; default ``1/d``.
    kind : {"auto", "chebyshev", "shifted_taylor", "taylor"}
        See :func:`promptlimits.polyapprox.least_degree`.

    Raises
    ------
    ValueError
        Bad arguments; an explicit degree whose certified ``eps_p`` is above
        ``eps`` (both named); ``eps_p >= 1``; an ``eps`` that cannot be certified.
    """
    from ._checks import check_positive_int

    d = check_positive_int(d, "d")
    if isinstance(B, bool) or not isinstance(B, (int, float, np.integer, np.floating)):
        raise TypeError(f"B must be a real number, got {type(B).__name__}")
    B = float(B)
    if not np.isfinite(B) or B < 0:
        raise ValueError(f"B must be finite and >= 0, got {B}")
    scale = _check_scale(scale, d)
    if eps is None and degree is None:
        raise ValueError("make_plan needs eps or degree")
    if eps is not None:
        if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)):
            raise TypeError(f"eps must be a real number, got {type(eps).__name__}")
        eps = float(eps)
        if not (0.0 < eps < 1.0):
            raise ValueError(f"eps must lie in (0, 1), got {eps}")
        if eps < EPS_MIN:
            raise ValueError(f"eps={eps:.3e} is below {EPS_MIN:.0e}: float64 rounding in the attention sums "
                             f"(about 1e-15 relative) would exceed the certificate; ask for eps >= {EPS_MIN:.0e}")
    if degree is not None:
        if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)):
            raise TypeError(f"degree must be an integer, got {type(degree).__name__}")
        degree = int(degree)
    check_choice(kind, "polynomial kind", ("auto", "chebyshev", "shifted_taylor", "taylor"))
    return _make_plan_cached(d, B, eps, degree, scale, kind)


def _plan_for_inputs(Q, K, eps, degree, scale, B, kind):
    Qa = as_float_array(Q, "Q", ndim=2)
    Ka = as_float_array(K, "K", ndim=2)
    if Qa.shape[1] != Ka.shape[1]:
        raise ValueError(f"Q and K must have the same number of columns, got Q {Qa.shape} and K {Ka.shape}")
    if Qa.shape[1] == 0:
        raise ValueError(f"attention needs at least one feature, got Q {Qa.shape}")
    if B is None:
        B = max(_max_abs(Qa), _max_abs(Ka))
    return make_plan(Qa.shape[1], B, eps=eps, degree=degree, scale=scale, kind=kind), Qa, Ka


def poly_attention(Q, K, V, *, eps=1e-6, degree=None, scale=None, B=None, kind="auto",
                   method="fused", variant="softmax"):
    """Polynomial-method attention ``T ~ D^-1 exp(scale Q K^T) V`` (DESIGN sections 3, 7).

    Parameters
    ----------
    Q : array, shape ``(n_q, d)``
    K : array, shape ``(n, d)``
    V : array, shape ``(n, d_v)``
    eps : float in (0, 1) or None
        Target certified relative error of the polynomial; the output is then
        within ``2 eps/(1-eps) ||V||max`` of exact attention.
    degree : int, optional
        Fixed degree (must certify ``eps`` unless ``eps=None``).
    scale : float, optional
        Logit scale, default ``1/d`` as in :func:`promptlimits.exact_attention`.
    B : float, optional
        Norm bound for the plan; default ``max(||Q||max, ||K||max)``. Inputs
        above it raise ``ValueError``.
    kind : {"auto", "chebyshev", "shifted_taylor", "taylor"}
    method : {"fused", "factors"}
        Fused Numba kernel (default) or materialised ``n x r`` factors.
    variant : {"softmax", "softmax1"}

    Returns
    -------
    T : array, shape ``(n_q, d_v)``; float32 when all inputs are float32.

    See Also
    --------
    make_plan : the reusable plan (degree, rank, eps_p, output_bound, backward).
    """
    plan, Qa, Ka = _plan_for_inputs(Q, K, eps, degree, scale, B, kind)
    return plan.forward(Qa, Ka, V, method=method, variant=variant)


def poly_attention_backward(Q, K, V, G, *, eps=1e-6, degree=None, scale=None, B=None, kind="auto",
                            variant="softmax"):
    """Gradients of ``<G, poly_attention(Q, K, V)>`` with respect to Q, K, V.

    Same parameters as :func:`poly_attention`; see :meth:`PolyPlan.backward`.
    """
    plan, Qa, Ka = _plan_for_inputs(Q, K, eps, degree, scale, B, kind)
    return plan.backward(Qa, Ka, V, G, variant=variant)
