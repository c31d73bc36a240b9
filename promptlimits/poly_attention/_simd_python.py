"""The eight-wide blocks of :mod:`._simd` in plain NumPy, operation for operation (docs/theory.md §3.9).

Numba intrinsics cannot run without the JIT, so under ``NUMBA_DISABLE_JIT=1``
:mod:`._simd` exports these instead, and the kernels' logic runs as Python.
They are also the reference the intrinsics are tested against: the same sums
in the same order, with ``a * b + c`` rounded twice here where the intrinsics
use one FMA, so the two agree to a few units in the last place.
"""

from __future__ import annotations

import numpy as np

WIDTH = 8


def rows_update(OUT, IN, COEF, k0, c0, r, LANE_SUMS, y):
    """``OUT[a, :] += sum_k IN[a, k] COEF[k0+k, c0:c0+8]`` for ``a < r``; ``LANE_SUMS[a, :] += IN[a, :] * y``
    unless ``None``."""
    coef = COEF[k0:k0 + WIDTH, c0:c0 + WIDTH]
    for a in range(r):
        if LANE_SUMS is not None:
            LANE_SUMS[a, :] = IN[a, :] * y[:WIDTH] + LANE_SUMS[a, :]
        acc = OUT[a, :].copy()
        for k in range(WIDTH):
            acc = IN[a, k] * coef[k] + acc
        OUT[a, :] = acc


def rows_reduce(M, S, w, r, N, ct, E):
    """``N[b, ct:ct+8] = sum_a M[a, b] S[a, :]`` and ``E = sum_a M[a, :] w[a]`` over ``a < r``, in order."""
    accs = np.zeros((WIDTH + 1, WIDTH))
    for a in range(r):
        accs[WIDTH] = M[a, :] * w[a] + accs[WIDTH]
        for b in range(WIDTH):
            accs[b] = M[a, b] * S[a, :] + accs[b]
    N[:, ct:ct + WIDTH] = accs[:WIDTH]
    E[:WIDTH] = accs[WIDTH]


def divide_rows(A, a0, OUT, D, ct):
    """``OUT[b, ct:ct+8] = A[a0+b, ct:ct+8] / D[b]`` for the eight rows ``b``."""
    OUT[:WIDTH, ct:ct + WIDTH] = A[a0:a0 + WIDTH, ct:ct + WIDTH] / D[:WIDTH, None]


def nodes_update(S, LANE_SUMS, P, prow, npend, V, j0, nk, y):
    """``S[t, prow[p], :] += sum_k P[p, k] V[j0+k, 8t:8t+8]`` and ``LANE_SUMS[prow[p], :] += P[p, 8q:8q+8]
    y[8q:8q+8]`` in order, for ``p < npend``."""
    for p in range(int(npend)):
        a = int(prow[p])
        for t in range(S.shape[0]):
            acc = S[t, a, :].copy()
            for k in range(int(nk)):
                acc = P[p, k] * V[j0 + k, WIDTH * t:WIDTH * (t + 1)] + acc
            S[t, a, :] = acc
        for q in range(int(nk) // WIDTH):
            lanes = slice(WIDTH * q, WIDTH * (q + 1))
            LANE_SUMS[a, :] = P[p, lanes] * y[lanes] + LANE_SUMS[a, :]


def node_gradient(WVw, w1w, pos, VT, y, vals, depth, adj, dVT):
    """``adj[depth] = w1w[pos] y + sum_c WVw[pos, c] VT[c]`` (``c`` in order); ``dVT[c] += vals[depth] WVw[pos, c]``
    unless ``None``."""
    acc = w1w[pos] * y
    for c in range(VT.shape[0]):
        w = WVw[c // WIDTH, pos, c % WIDTH]
        acc = w * VT[c] + acc
        if dVT is not None:
            dVT[c] = w * vals[depth] + dVT[c]
    adj[depth] = acc


def node_reduce(Sw, s1w, pos, vals, depth, NT, DT):
    """``NT[c] += vals[depth] Sw[pos, c]`` and ``DT += vals[depth] s1w[pos]``."""
    DT[:] = s1w[pos] * vals[depth] + DT
    for c in range(NT.shape[0]):
        NT[c] = Sw[c // WIDTH, pos, c % WIDTH] * vals[depth] + NT[c]


def descend(vals, xb, depth, c, groups, P, slot):
    """``vals[depth, :8g] = vals[depth-1, :8g] * xb[c, :8g]``, also into ``P[slot]``, ``g = groups``."""
    nk = WIDTH * int(groups)
    vals[depth, :nk] = vals[depth - 1, :nk] * xb[c, :nk]
    P[slot, :nk] = vals[depth, :nk]


def ascend(adj, vals, xb, dKT, depth, c, groups):
    """``dKT[c] += adj[depth] * vals[depth-1]`` and ``adj[depth-1] += adj[depth] * xb[c]`` on ``8 * groups`` keys."""
    nk = WIDTH * int(groups)
    a = adj[depth, :nk].copy()
    dKT[c, :nk] = a * vals[depth - 1, :nk] + dKT[c, :nk]
    adj[depth - 1, :nk] = a * xb[c, :nk] + adj[depth - 1, :nk]


def monomials(X, i0, runs, xb, M):
    """``M[a, :] = x_{i0..i0+7}^alpha_a`` by the runs of the basis; ``xb[c, :]`` gets column ``c`` of the rows."""
    xb[:, :] = X[i0:i0 + WIDTH, :].T
    M[0, :] = 1.0
    for out, par, length, coord in runs:
        for i in range(int(length)):
            M[int(out) + i, :] = M[int(par) + i, :] * xb[int(coord), :]


def monomials_backward(X, i0, runs, xb, M, dm, dX):
    """Pull ``dm`` back into ``dX[i0:i0+8]`` through the runs in reverse (``dm`` is overwritten)."""
    for out, par, length, coord in runs[::-1]:
        out, par, coord = int(out), int(par), int(coord)
        acc = np.zeros(WIDTH)
        for i in range(int(length)):
            g = dm[out + i, :].copy()
            acc = g * M[par + i, :] + acc
            dm[par + i, :] = g * xb[coord, :] + dm[par + i, :]
        dX[i0:i0 + WIDTH, coord] += acc
