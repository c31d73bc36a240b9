r"""Positive random features for softmax attention, FAVOR+ style (Choromanski et al. 2021).

Choromanski et al., "Rethinking Attention with Performers" (ICLR 2021,
arXiv:2009.14794), estimate the softmax kernel ``exp(s q.k)`` without bias by
*positive* random features. With ``x' = sqrt(s) x`` and ``w ~ N(0, I_d)``::

    E_w[ exp(w.q' - |q'|^2/2) exp(w.k' - |k'|^2/2) ] = exp(|q'+k'|^2/2 - |q'|^2/2 - |k'|^2/2)
                                                    = exp(q'.k') = exp(s q.k),

so with ``m`` draws ``w_1..w_m`` (the rows of ``W``) and::

    phi(x) = exp(W x' - |x'|^2/2) / sqrt(m)        (m positive entries)

the product ``phi(q).phi(k)`` is an unbiased estimate of ``exp(s q.k)``. For
independent rows its variance is (one draw, divided by ``m``)::

    Var = exp(2 s q.k) (exp(s |q+k|^2) - 1) / m             (:func:`kernel_variance`),

which grows like ``exp(s |q+k|^2)``: large logits need exponentially many
features. *Orthogonal* rows (``orthogonal=True``, the "OR" of FAVOR+: blocks of
``d`` orthonormal directions, each scaled by the norm of an independent
Gaussian vector, so every row is still ``N(0, I_d)``) keep the estimate
unbiased and lower its variance (Choromanski et al., Theorem 2).

Attention (:func:`random_feature_attention`) replaces ``exp(s Q K^T)`` by
``phi(Q) phi(K)^T``:

    T = diag(phi(Q) (phi(K)^T 1))^-1 phi(Q) (phi(K)^T V),

in ``O((n_q + n_k) m (d + d_v))`` time. The exponents are shifted before
``exp`` (by each query row's maximum and by one maximum over all keys); both
shifts cancel in the ratio, so the result is the formula above, where the raw
features of large inputs would all underflow to 0. The ratio of two unbiased estimates is not unbiased; only the
kernel is.

Equal cost against the polynomial method (docs/theory.md §3.9):
:func:`matched_features` gives the feature count whose flop count
(:func:`forward_flops`) equals the fused polynomial forward at rank ``r``
(:func:`poly_forward_flops`). Flops, not seconds: they do not depend on the
machine's load, so an equal-cost comparison is reproducible.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import as_float_array, as_generator, check_positive_float, check_positive_int

__all__ = [
    "draw_projection",
    "equivalent_rank",
    "forward_flops",
    "kernel_variance",
    "matched_features",
    "poly_forward_flops",
    "positive_features",
    "random_feature_attention",
]


def draw_projection(m: int, d: int, *, seed, orthogonal: bool = True) -> np.ndarray:
    """``m x d`` random directions, every row distributed as ``N(0, I_d)``.

    ``orthogonal=True``: blocks of ``min(d, rows left)`` rows orthonormal to
    each other (QR of a Gaussian matrix, signs fixed by ``R``'s diagonal, so
    the directions are Haar-distributed), each row scaled by the norm of an
    independent ``N(0, I_d)`` vector. ``False``: independent Gaussian rows.
    """
    m = check_positive_int(m, "m (number of random features)")
    d = check_positive_int(d, "d")
    rng = as_generator(seed)
    if not orthogonal:
        return rng.standard_normal((m, d))
    blocks = []
    for start in range(0, m, d):
        q, r = np.linalg.qr(rng.standard_normal((d, d)))
        q *= np.sign(np.diag(r))[None, :]
        blocks.append(q.T[: min(d, m - start)])
    W = np.concatenate(blocks, axis=0)
    norms = np.linalg.norm(rng.standard_normal((m, d)), axis=1)
    return W * norms[:, None]


def _scaled(X, name: str, d: int | None, scale) -> tuple[np.ndarray, float]:
    X = as_float_array(X, name, ndim=2, dtype=np.float64)
    check_positive_int(X.shape[1], f"d (columns of {name})")
    if d is not None and X.shape[1] != d:
        raise ValueError(f"{name} must have d={d} columns (the projection's), got shape {X.shape}")
    s = 1.0 / X.shape[1] if scale is None else check_positive_float(scale, "scale")
    return X, s


def _log_features(X: np.ndarray, W: np.ndarray, s: float) -> np.ndarray:
    """``W x' - |x'|^2/2`` for every row ``x`` of ``X`` (``x' = sqrt(s) x``), shape ``(n, m)``."""
    Xs = math.sqrt(s) * X
    return Xs @ W.T - 0.5 * np.einsum("ij,ij->i", Xs, Xs)[:, None]


def positive_features(X, W, *, scale=None) -> np.ndarray:
    """``phi(X) = exp(W x' - |x'|^2/2) / sqrt(m)`` row by row, shape ``(n, m)``; ``x' = sqrt(scale) x``.

    ``phi(q).phi(k)`` is an unbiased estimate of ``exp(scale q.k)`` when the
    rows of ``W`` are ``N(0, I_d)`` (module docstring). ``scale`` defaults to
    ``1/d``. Not shifted: for large inputs every entry underflows to 0, as the
    formula does (:func:`random_feature_attention` shifts the exponents).
    """
    W = as_float_array(W, "W", ndim=2, dtype=np.float64)
    X, s = _scaled(X, "X", W.shape[1], scale)
    with np.errstate(over="ignore"):
        return np.exp(_log_features(X, W, s)) / math.sqrt(W.shape[0])


def kernel_variance(q, k, *, m: int, scale=None) -> float:
    """Variance of ``phi(q).phi(k)`` with ``m`` independent Gaussian rows: ``e^(2 s q.k) (e^(s|q+k|^2) - 1) / m``."""
    q = as_float_array(q, "q", ndim=1, dtype=np.float64)
    k = as_float_array(k, "k", ndim=1, dtype=np.float64)
    if q.shape != k.shape:
        raise ValueError(f"q and k must have the same length, got {q.shape} and {k.shape}")
    m = check_positive_int(m, "m (number of random features)")
    s = 1.0 / q.size if scale is None else check_positive_float(scale, "scale")
    return math.exp(2.0 * s * float(q @ k)) * math.expm1(s * float((q + k) @ (q + k))) / m


def random_feature_attention(Q, K, V, *, m: int | None = None, seed=None, scale=None, orthogonal: bool = True,
                             projection=None) -> np.ndarray:
    """Softmax attention with ``exp(s Q K^T)`` replaced by ``phi(Q) phi(K)^T`` (module docstring).

    Parameters
    ----------
    Q : (n_q, d) array
    K : (n_k, d) array
    V : (n_k, d_v) array
    m : int
        Number of random features.
    seed : int, SeedSequence or Generator
        Draws the projection (:func:`draw_projection`).
    scale : float, optional
        Logit scale ``s``; default ``1/d``, as :func:`promptlimits.exact_attention`.
    orthogonal : bool
        Orthogonal random features (FAVOR+), or independent rows.
    projection : (m, d) array, optional
        A projection from :func:`draw_projection` to reuse across calls,
        instead of ``m``, ``seed`` and ``orthogonal``.

    Returns
    -------
    (n_q, d_v) float64 array. A row whose denominator underflows to 0 is NaN.

    Raises
    ------
    ValueError, TypeError
        Non-2-D, non-finite or non-numeric inputs; ``Q`` and ``K`` with
        different widths; ``K`` and ``V`` with different row counts; no keys;
        ``m < 1``; ``scale <= 0``; neither or both of ``(m, seed)`` and
        ``projection``.
    """
    Q, s = _scaled(Q, "Q", None, scale)
    K, _ = _scaled(K, "K", Q.shape[1], s)
    V = as_float_array(V, "V", ndim=2, dtype=np.float64)
    if K.shape[0] != V.shape[0]:
        raise ValueError(f"K and V must have the same number of rows, got K {K.shape} and V {V.shape}")
    if K.shape[0] == 0:
        raise ValueError(f"attention needs at least one key, got K {K.shape}")
    drawn = m is not None or seed is not None
    if (projection is None and (m is None or seed is None)) or (projection is not None and drawn):
        raise ValueError("give m and seed (to draw the projection), or projection (to reuse one), not both")
    if projection is None:
        W = draw_projection(m, Q.shape[1], seed=seed, orthogonal=orthogonal)
    else:
        W = as_float_array(projection, "projection", ndim=2, dtype=np.float64)
        if W.shape[1] != Q.shape[1]:
            raise ValueError(f"projection must have d={Q.shape[1]} columns (Q's), got shape {W.shape}")
    LQ = _log_features(Q, W, s)
    LK = _log_features(K, W, s)
    PQ = np.exp(LQ - LQ.max(axis=1, keepdims=True))  # a per-query factor: cancels in num / den
    PK = np.exp(LK - LK.max())  # one factor for every key: cancels too
    num = PQ @ (PK.T @ V)
    den = PQ @ PK.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den[:, None] > 0, num / den[:, None], np.nan)


def forward_flops(n_q: int, n_k: int, m: int, d: int, d_v: int) -> int:
    """Flops of :func:`random_feature_attention` (one ``exp`` counted as one flop).

    Per row: ``2 m d`` for the projection and ``m`` for the shift and ``exp``
    (``O(d)`` terms dropped); per key ``2 m d_v + m`` for ``phi(K)^T V`` and
    ``phi(K)^T 1``; per query ``2 m d_v + 2 m`` for the numerator and denominator.
    """
    per_key = m * (2 * d + 1 + 2 * d_v + 1)
    per_query = m * (2 * d + 1 + 2 * d_v + 2)
    return int(n_k * per_key + n_q * per_query)


def poly_forward_flops(n_q: int, n_k: int, rank: int, d_v: int) -> int:
    """Flops of the fused polynomial forward at width ``rank`` (docs/theory.md §3.9).

    Every monomial is one product of a lower one and a coordinate: ``r`` per
    row. Per key ``2 r d_v + r`` for ``S_V`` and ``s_1``; per query ``2 r d_v
    + 2 r`` for ``N_i`` and ``D_i``. Padding of ``d_v`` to the kernels' tile
    width is not counted.
    """
    return int(n_k * rank * (1 + 2 * d_v + 1) + n_q * rank * (1 + 2 * d_v + 2))


def matched_features(rank: int, *, n_q: int, n_k: int, d: int, d_v: int) -> int:
    """The largest feature count ``m >= 1`` with ``forward_flops(m) <= poly_forward_flops(rank)``."""
    rank = check_positive_int(rank, "rank")
    for value, name in ((n_q, "n_q"), (n_k, "n_k"), (d, "d"), (d_v, "d_v")):
        check_positive_int(value, name)
    per_feature = forward_flops(n_q, n_k, 1, d, d_v)
    return max(1, poly_forward_flops(n_q, n_k, rank, d_v) // per_feature)


def equivalent_rank(m: int, *, n_q: int, n_k: int, d: int, d_v: int) -> float:
    """The polynomial rank whose fused forward costs as many flops as ``m`` random features."""
    m = check_positive_int(m, "m (number of random features)")
    return forward_flops(n_q, n_k, m, d, d_v) / poly_forward_flops(n_q, n_k, 1, d_v)
