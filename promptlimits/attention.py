"""Exact attention, forward and backward, chunked over query rows.

``T = D^{-1} exp(scale * Q K^T) V`` with ``D = diag(exp(scale * Q K^T) 1)`` for
``variant="softmax"``, and ``D = diag(1 + exp(scale * Q K^T) 1)`` for
``variant="softmax1"`` (Softmax_1 of the Outlier-Efficient Hopfield paper,
docs/theory.md §2.2). The default ``scale`` is ``1 / Q.shape[-1]``, Alman and Song's
``exp(Q K^T / d)``.

Numerically stable: ``Q``, ``K`` and ``V`` are scaled by powers of two (exact)
to largest entries below 1, each row's maximum logit (and 0 for ``softmax1``)
is subtracted before the logits are scaled back and passed to ``exp``, and the
output is scaled back and kept within ``[-||V||max, ||V||max]``: finite inputs
give finite outputs, even near the float maximum (``Q = K = 1e154``,
``V = 1e308``). For inputs of ordinary size the scalings are exact and the
results are those of the direct formula. Memory: the
``n x n`` score matrix is never formed for long sequences; queries are handled
``chunk`` rows at a time, so the extra memory is O(chunk * n).

Inputs are ``(n, d)`` matrices or batches ``(batch, n, d)``; float32 inputs are
computed in float32, everything else in float64.
"""

from __future__ import annotations

import numpy as np

from ._checks import SCORE_BLOCK, as_float_array, check_choice, check_positive_float

VARIANTS = ("softmax", "softmax1")


def _prepare(Q, K, V, scale, variant, G=None):
    check_choice(variant, "attention variant", VARIANTS)
    Q = as_float_array(Q, "Q", ndim=(2, 3))
    K = as_float_array(K, "K", ndim=(2, 3))
    V = as_float_array(V, "V", ndim=(2, 3))
    arrays = [Q, K, V] if G is None else [Q, K, V, as_float_array(G, "G", ndim=(2, 3))]
    if len({a.ndim for a in arrays}) != 1:
        raise ValueError(f"Q, K, V must all be 2-D or all 3-D, got shapes {[a.shape for a in arrays]}")
    if Q.shape[:-2] != K.shape[:-2] or K.shape[:-2] != V.shape[:-2]:
        raise ValueError(f"batch shapes differ: Q {Q.shape}, K {K.shape}, V {V.shape}")
    if Q.shape[-1] != K.shape[-1]:
        raise ValueError(f"Q and K must have the same number of columns, got Q {Q.shape} and K {K.shape}")
    if K.shape[-2] != V.shape[-2]:
        raise ValueError(f"K and V must have the same number of rows, got K {K.shape} and V {V.shape}")
    if K.shape[-2] == 0 or Q.shape[-1] == 0:
        raise ValueError(f"attention needs at least one key and one feature, got K {K.shape}")
    if G is not None:
        G = arrays[3]
        want = Q.shape[:-1] + (V.shape[-1],)
        if G.shape != want:
            raise ValueError(f"upstream gradient G must have shape {want}, got {G.shape}")
    dtype = np.result_type(*arrays)
    if scale is None:
        scale = 1.0 / Q.shape[-1]
    else:
        scale = check_positive_float(scale, "scale")
    out = [a.astype(dtype, copy=False) for a in arrays]
    return out, scale


def _chunk_rows(n_queries: int, n_keys: int, batch: int, chunk) -> int:
    if chunk is not None:
        return max(1, int(chunk))
    return max(1, min(n_queries, SCORE_BLOCK // max(1, n_keys * batch)))


def _exponent(X) -> int:
    """``e`` with ``max|X| = m 2^e``, ``m`` in ``[1/2, 1)`` (0 for an empty or zero array)."""
    return int(np.frexp(np.max(np.abs(X)))[1]) if X.size else 0


def _probabilities(Qc, K, scale, variant, eq=0, ek=0):
    """Attention probabilities for a block of query rows, stably.

    ``Qc`` and ``K`` arrive scaled by ``2^-eq`` and ``2^-ek`` (exact), so
    their product cannot overflow; the row maximum is subtracted before the
    logits are scaled back by ``2^(eq+ek)``, where an overflow can only give
    ``-inf`` (a weight of exactly 0), never ``inf - inf``.
    """
    S = scale * (Qc @ np.swapaxes(K, -1, -2))
    m = S.max(axis=-1, keepdims=True)
    if variant == "softmax1":
        m = np.maximum(m, 0.0)  # the implicit extra logit 0
    with np.errstate(over="ignore"):  # -inf: a weight of exactly 0
        E = np.exp(np.ldexp(S - m, eq + ek))
        den = E.sum(axis=-1, keepdims=True)
        if variant == "softmax1":
            den += np.exp(np.ldexp(-m, eq + ek))
    E /= den
    return E


def _scaled(Q, K, V):
    """``Q, K, V`` scaled by powers of two to max entries in ``[1/2, 1)``, and the exponents."""
    eq, ek, ev = _exponent(Q), _exponent(K), _exponent(V)
    return np.ldexp(Q, -eq).astype(Q.dtype), np.ldexp(K, -ek).astype(K.dtype), np.ldexp(V, -ev).astype(V.dtype), \
        (eq, ek, ev)


def exact_attention(Q, K, V, *, scale=None, variant="softmax", chunk=None):
    """Exact (softmax or Softmax_1) attention ``D^{-1} exp(scale Q K^T) V``.

    Parameters
    ----------
    Q, K : array, shape ``(n_q, d)`` / ``(n, d)`` or batched ``(batch, ., d)``
    V : array, shape ``(n, d_v)`` or ``(batch, n, d_v)``
    scale : float, optional
        Multiplies the logits; default ``1 / d`` (Alman--Song's ``QK^T/d``).
    variant : {"softmax", "softmax1"}
    chunk : int, optional
        Query rows per block; by default chosen so a block holds about 4M
        scores.

    Returns
    -------
    T : array, shape ``(n_q, d_v)`` (or batched), dtype of the inputs.
    """
    (Q, K, V), scale = _prepare(Q, K, V, scale, variant)
    vmax = np.max(np.abs(V)) if V.size else 0.0
    Q, K, V, (eq, ek, ev) = _scaled(Q, K, V)
    nq = Q.shape[-2]
    batch = int(np.prod(Q.shape[:-2], dtype=np.int64)) if Q.ndim == 3 else 1
    step = _chunk_rows(nq, K.shape[-2], batch, chunk)
    T = np.empty(Q.shape[:-1] + (V.shape[-1],), dtype=Q.dtype)
    for a in range(0, nq, step):
        b = min(nq, a + step)
        T[..., a:b, :] = _probabilities(Q[..., a:b, :], K, scale, variant, eq, ek) @ V
    # back to V's scale; clip into [-||V||max, ||V||max], where every convex combination of V lies
    with np.errstate(over="ignore"):  # +-inf only beyond ||V||max: clipped
        return np.clip(np.ldexp(T, ev), -vmax, vmax).astype(Q.dtype, copy=False)


def exact_attention_backward(Q, K, V, G, *, scale=None, variant="softmax", chunk=None):
    """Gradients of ``<G, exact_attention(Q, K, V)>`` with respect to Q, K, V.

    With ``A = softmax(S)`` (or Softmax_1), ``S = scale Q K^T`` and
    ``T = A V``: ``dV = A^T G``, ``dS_ij = A_ij (G_i . v_j - G_i . T_i)`` (the
    same formula holds for both variants), ``dQ = scale dS K`` and
    ``dK = scale dS^T Q``. Chunked over query rows like the forward.

    Returns
    -------
    dQ, dK, dV : arrays shaped like Q, K, V.
    """
    (Q, K, V, G), scale = _prepare(Q, K, V, scale, variant, G=G)
    nq = Q.shape[-2]
    batch = int(np.prod(Q.shape[:-2], dtype=np.int64)) if Q.ndim == 3 else 1
    step = _chunk_rows(nq, K.shape[-2], batch, chunk)
    dQ = np.empty_like(Q)
    dK = np.zeros_like(K)
    dV = np.zeros_like(V)
    eq, ek = _exponent(Q), _exponent(K)
    for a in range(0, nq, step):
        b = min(nq, a + step)
        A = _probabilities(np.ldexp(Q[..., a:b, :], -eq).astype(Q.dtype), np.ldexp(K, -ek).astype(K.dtype),
                           scale, variant, eq, ek)
        Gc = G[..., a:b, :]
        dV += np.swapaxes(A, -1, -2) @ Gc
        GVt = Gc @ np.swapaxes(V, -1, -2)  # G_i . v_j
        GT = np.sum(GVt * A, axis=-1, keepdims=True)  # G_i . T_i
        dS = A * (GVt - GT)
        dS *= scale
        dQ[..., a:b, :] = dS @ K
        dK += np.swapaxes(dS, -1, -2) @ Q[..., a:b, :]
    return dQ, dK, dV


def exact_attention_tiled(Q, K, V, *, scale=None, variant="softmax", rows=64, keys=512):
    """Exact attention computed in tiles of ``rows`` queries by ``keys`` keys, with a running softmax.

    The same function as :func:`exact_attention`, with its scalings and its
    clipping; only the order of the sums differs (results agree to rounding).
    Each tile's scores, and the slices of ``K`` and ``V`` it reads, stay in a
    core's private cache whatever the number of keys, so every query-key pair
    costs the same memory traffic at every ``n``: the cost model of the
    runtime experiment (docs/theory.md §9.4) counts operations per pair. The
    blocks over query rows alone of :func:`exact_attention` re-read all of
    ``K`` and ``V`` per block, which leaves the private cache at long
    sequences.

    For each query row the running maximum ``m`` of the logits, the running
    denominator ``l`` and the running numerator ``a`` are updated per key tile
    ``S``: ``m' = max(m, max S)``, ``l' = e^(m - m') l + sum e^(S - m')``,
    ``a' = e^(m - m') a + e^(S - m') V_tile``; ``T = a / l``. For
    ``softmax1`` the implicit extra logit 0 is the starting state ``m = 0``,
    ``l = 1``.

    Parameters
    ----------
    Q, K, V : arrays
        As for :func:`exact_attention`.
    scale : float, optional
        Multiplies the logits; default ``1 / d``.
    variant : {"softmax", "softmax1"}
    rows, keys : int
        Tile shape: query rows and keys per tile.

    Returns
    -------
    T : array, shape ``(n_q, d_v)`` (or batched), dtype of the inputs.
    """
    from ._checks import check_positive_int

    rows, keys = check_positive_int(rows, "rows"), check_positive_int(keys, "keys")
    (Q, K, V), scale = _prepare(Q, K, V, scale, variant)
    vmax = np.max(np.abs(V)) if V.size else 0.0
    Q, K, V, (eq, ek, ev) = _scaled(Q, K, V)
    e = eq + ek
    nq, n = Q.shape[-2], K.shape[-2]
    T = np.empty(Q.shape[:-1] + (V.shape[-1],), dtype=Q.dtype)
    start = 0.0 if variant == "softmax1" else -np.inf
    for a in range(0, nq, rows):
        Qc = Q[..., a:a + rows, :] * Q.dtype.type(scale)
        shape = Qc.shape[:-1] + (1,)
        m = np.full(shape, start, dtype=Q.dtype)
        den = np.full(shape, 1.0 if variant == "softmax1" else 0.0, dtype=Q.dtype)
        num = np.zeros(Qc.shape[:-1] + (V.shape[-1],), dtype=Q.dtype)
        for b in range(0, n, keys):
            S = Qc @ np.swapaxes(K[..., b:b + keys, :], -1, -2)
            m_new = np.maximum(m, S.max(axis=-1, keepdims=True))
            with np.errstate(over="ignore", invalid="ignore"):  # -inf: a weight of exactly 0
                S = np.exp(np.ldexp(S - m_new, e))
                alpha = np.exp(np.ldexp(m - m_new, e))  # 0 on the first tile of softmax (m = -inf)
            den = den * alpha + S.sum(axis=-1, keepdims=True)
            num = num * alpha + S @ V[..., b:b + keys, :]
            m = m_new
        T[..., a:a + rows, :] = num / den
    with np.errstate(over="ignore"):  # +-inf only beyond ||V||max: clipped
        return np.clip(np.ldexp(T, ev), -vmax, vmax).astype(Q.dtype, copy=False)
