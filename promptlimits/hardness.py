r"""Hamming nearest-neighbour instances decided by one attention call (docs/theory.md §6).

Alman and Song's lower bound ("Fast Attention Requires Bounded Entries",
NeurIPS 2023) reduces a SETH-hard Hamming nearest-neighbour problem to
attention with entries ``B = Theta(sqrt(log n))``. This module is an executable
version of that reduction with explicit constants (this project's own precise
statement, derived below).

Instances
---------
Sets ``A = {a_1..a_n}`` and ``C = {c_1..c_n}`` in ``{0,1}^m`` and thresholds
``t < t'``. The promise: either some pair has Hamming distance ``H(a_i, c_j)
<= t`` (*planted*), or every pair has ``H(a_i, c_j) >= t'`` (*far*). The
generator (:func:`make_instance`) draws uniform bits, plants one close pair
when asked, and then checks all ``n^2`` distances, resampling offending rows
until every other pair is ``>= t'`` -- so the promise holds exactly, in both
cases.

The attention input (:func:`encode`)
------------------------------------
Let ``sigma = m - t - t'`` and ``e = max(1, ceil(|sigma|))`` extra
coordinates, ``d = m + e``. With ``lambda > 0``,

    q_i   = [ lambda (2 a_i - 1),  lambda 1_e ]                (n queries)
    k_j   = [ lambda (2 c_j - 1),  -(sigma/e) lambda 1_e ]      (n keys)
    k_0   = 0                                                   (sentinel key)
    v_j   = 0,  v_0 = 1                                         (values, d_v = 1)

Every entry has absolute value ``<= lambda`` (``|sigma| <= e``), so
``B = max(||Q||max, ||K||max) = lambda``. Since ``(2a-1).(2c-1) = m - 2 H(a,c)``,
the logits with the default scale ``1/d`` are

    s_ij = q_i.k_j / d = lambda^2 (m - 2 H_ij - sigma) / d
         = lambda^2 (t + t' - 2 H_ij) / d,          s_i0 = 0.

So ``s_ij`` is an affine function of the Hamming distance, ``>= +gamma`` for a
close pair (``H <= t``), ``<= -gamma`` for a far pair (``H >= t'``), and the
sentinel sits exactly in the middle, with the *score gap*

    gamma = lambda^2 (t' - t) / d.

Output and decision
-------------------
Only the sentinel has a non-zero value, so ``T_i = 1 / (1 + sum_j exp(s_ij))``.

* Row ``i`` has no close partner: all ``n`` terms are ``<= e^-gamma``, so
  ``T_i >= 1 / (1 + n e^-gamma)``, which is ``> 3/4`` iff ``n e^-gamma < 1/3``,
  i.e. ``gamma > ln(3n)``.
* Row ``i`` has a close partner: one term is ``>= e^gamma``, so
  ``T_i <= 1 / (1 + e^gamma) < 1/4`` iff ``gamma > ln 3``.

Hence with

    lambda^2 > lambda_min^2 = d ln(3n) / (t' - t)

every output row is ``< 1/4`` (close partner) or ``> 3/4`` (none), and
:func:`decide` ("planted iff ``min_i T_i < 1/2``") is right for *any*
attention algorithm with additive error ``< 1/4``; exact attention is always
right. With ``m = Theta(log n)``, ``t' - t = Theta(m)`` and ``d = Theta(m)``,
``lambda_min^2 = Theta(log n)``: one close pair outweighs ``n`` far ones plus the
sentinel exactly when ``B = lambda = Theta(sqrt(log n))``.

Polynomial method under a rank budget
-------------------------------------
:func:`budgeted_plan` is the polynomial method of docs/theory.md §3 at the
largest degree ``g`` with ``C(d+g, g) <= budget`` -- *no certificate*: the
Chebyshev interpolant of ``exp`` on ``[-R, R]``, ``R = lambda^2``, whatever its
error, as an uncertified :class:`~promptlimits.poly_attention.PolyPlan`
(``make_plan(..., degree=g, certify=False)``), so it runs through the same
kernels as every other plan. With ``budget <= n`` (the polynomial method's
time ``O(n r d)`` then stays subquadratic) and ``d = Theta(log n)``, ``g``
stays small while ``R`` grows like ``log n``, so the method fails once
``lambda / sqrt(ln n)`` passes a constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._checks import as_generator, check_positive_float, check_positive_int
from .features import rank
from .poly_attention import make_plan

__all__ = [
    "HammingInstance",
    "default_parameters",
    "make_instance",
    "hamming",
    "encode",
    "lambda_min",
    "decide",
    "largest_degree",
    "extra_dims",
    "score_gap",
    "budgeted_plan",
]


@dataclass(frozen=True)
class HammingInstance:
    """A promise instance: ``A, C`` (``n x m`` 0/1 arrays), thresholds ``t < t_far``.

    ``planted`` is the truth; ``pair`` the planted ``(i, j)`` or ``None``.
    """

    A: np.ndarray
    C: np.ndarray
    t: int
    t_far: int
    planted: bool
    pair: tuple[int, int] | None

    @property
    def n(self) -> int:
        return self.A.shape[0]

    @property
    def m(self) -> int:
        return self.A.shape[1]


def hamming(A, C) -> np.ndarray:
    """All ``n x n`` Hamming distances, ``H = (m - (2A-1)(2C-1)^T) / 2``."""
    Pa = 2.0 * np.asarray(A, dtype=np.float64) - 1.0
    Pc = 2.0 * np.asarray(C, dtype=np.float64) - 1.0
    m = Pa.shape[1]
    # Exact in float64 (integers far below 2^53), through BLAS.
    return np.rint((m - Pa @ Pc.T) / 2.0).astype(np.int64)


def default_parameters(n: int, c_m: float = 3.0, row_violation: float = 0.25) -> tuple[int, int, int]:
    """Default ``(m, t, t')`` for ``n``: ``m = ceil(c_m log2 n)``.

    ``t'`` is the largest value with ``n P(Bin(m, 1/2) < t') <= row_violation``
    (a fresh uniform row then has a pair closer than ``t'`` with probability
    at most about ``row_violation``, so resampling ends fast), and
    ``t = floor(t'/4)``.
    """
    n = check_positive_int(n, "n", minimum=2)
    m = max(4, math.ceil(c_m * math.log2(n)))
    cdf = 0.0
    t_far = 1
    for k in range(m + 1):
        cdf += math.comb(m, k) / 2.0**m  # P(H <= k)
        if n * cdf > row_violation:
            t_far = max(1, k)  # P(H < k) = P(H <= k-1) still small enough
            break
    return m, t_far // 4, t_far


def make_instance(n, m, t, t_far, planted, seed=0, *, max_rounds=10_000) -> HammingInstance:
    """Draw a promise instance; every pair other than the planted one is ``>= t_far`` apart.

    Parameters
    ----------
    n, m : int
        Set size and bit length.
    t, t_far : int
        ``0 <= t < t_far <= m``. The planted pair is at a distance drawn
        uniformly from ``0..t``.
    planted : bool
    seed : int, SeedSequence or Generator

    Raises
    ------
    ValueError
        Bad parameters, or ``t_far`` too large for ``m`` (resampling did not
        finish within ``max_rounds`` rounds).
    """
    n = check_positive_int(n, "n", minimum=2)
    m = check_positive_int(m, "m")
    t = check_positive_int(t, "t", minimum=0)
    t_far = check_positive_int(t_far, "t_far")
    if not t < t_far <= m:
        raise ValueError(f"need 0 <= t < t_far <= m, got t={t}, t_far={t_far}, m={m}")
    rng = as_generator(seed)
    A = rng.integers(0, 2, size=(n, m), dtype=np.int8)
    C = rng.integers(0, 2, size=(n, m), dtype=np.int8)
    pair = None
    if planted:
        i, j = (int(x) for x in rng.integers(0, n, size=2))
        k = int(rng.integers(0, t + 1))
        flips = np.zeros(m, dtype=np.int8)
        flips[rng.choice(m, size=k, replace=False)] = 1
        C[j] = A[i] ^ flips
        pair = (i, j)
    # Work with G = (2A-1)(2C-1)^T = m - 2H (float, exact): H < t' iff G > m - 2t'.
    def gram(X, Y):
        return (2.0 * X - 1.0) @ (2.0 * Y - 1.0).T

    G = gram(A, C)
    limit = m - 2 * t_far
    for _ in range(max_rounds):
        bad = G > limit
        if pair is not None:
            bad[pair] = False
        if not bad.any():
            break
        rows_a, cols_c = np.nonzero(bad)
        # Resample the key side unless it is the planted key; then the query side.
        jp = pair[1] if pair else -1
        redo_c = np.unique(cols_c[cols_c != jp])
        redo_a = np.unique(rows_a[cols_c == jp])
        if redo_c.size:
            C[redo_c] = rng.integers(0, 2, size=(redo_c.size, m), dtype=np.int8)
            G[:, redo_c] = gram(A, C[redo_c])
        if redo_a.size:
            A[redo_a] = rng.integers(0, 2, size=(redo_a.size, m), dtype=np.int8)
            G[redo_a, :] = gram(A[redo_a], C)
    else:
        raise ValueError(
            f"could not make all pairs >= t_far={t_far} apart with m={m}, n={n} in {max_rounds} rounds; "
            f"lower t_far or raise m"
        )
    A.flags.writeable = False
    C.flags.writeable = False
    return HammingInstance(A=A, C=C, t=t, t_far=t_far, planted=bool(planted), pair=pair)


def extra_dims(m: int, t: int, t_far: int) -> tuple[int, float]:
    """``(e, sigma)``: ``sigma = m - t - t'`` and ``e = max(1, ceil(|sigma|))`` extra coordinates."""
    sigma = float(m - t - t_far)
    return max(1, math.ceil(abs(sigma))), sigma


def encode(inst: HammingInstance, lam: float):
    """``(Q, K, V)`` of the reduction (module docstring); ``K`` has ``n + 1`` rows, the last the sentinel."""
    lam = check_positive_float(lam, "lambda")
    n, m = inst.A.shape
    e, sigma = extra_dims(m, inst.t, inst.t_far)
    Q = np.empty((n, m + e))
    Q[:, :m] = lam * (2.0 * inst.A - 1.0)
    Q[:, m:] = lam
    K = np.zeros((n + 1, m + e))
    K[:n, :m] = lam * (2.0 * inst.C - 1.0)
    K[:n, m:] = -(sigma / e) * lam
    V = np.zeros((n + 1, 1))
    V[n, 0] = 1.0
    return Q, K, V


def lambda_min(n: int, m: int, t: int, t_far: int) -> float:
    """``sqrt(d ln(3n) / (t' - t))``: above it exact attention decides every instance."""
    e, _ = extra_dims(m, t, t_far)
    return math.sqrt((m + e) * math.log(3 * n) / (t_far - t))


def score_gap(lam: float, m: int, t: int, t_far: int) -> float:
    """``gamma = lambda^2 (t' - t) / d`` (module docstring)."""
    e, _ = extra_dims(m, t, t_far)
    return lam * lam * (t_far - t) / (m + e)


def decide(inst: HammingInstance, lam: float, attention) -> tuple[bool | None, float]:
    """Decide ``inst`` with one call ``attention(Q, K, V)``: planted iff ``min_i T_i < 1/2``.

    Returns ``(decision, min_i T_i)``; ``decision`` is ``None`` when the output
    is not finite (counted as wrong by callers).
    """
    Q, K, V = encode(inst, lam)
    T = np.asarray(attention(Q, K, V), dtype=float)[:, 0]
    if not np.all(np.isfinite(T)):
        return None, math.nan
    tmin = float(T.min())
    return tmin < 0.5, tmin


def largest_degree(d: int, budget: int, max_degree: int = 60) -> int:
    """Largest ``g`` with ``C(d+g, g) <= budget`` (0 if even ``g = 1`` is over budget)."""
    d = check_positive_int(d, "d")
    budget = check_positive_int(budget, "budget")
    g = 0
    while g < max_degree and rank(d, g + 1) <= budget:
        g += 1
    return g


def budgeted_plan(d: int, B: float, budget: int, kind: str = "chebyshev"):
    """The polynomial-method plan of largest degree within a rank budget, uncertified.

    Degree :func:`largest_degree` ``(d, budget)``, the ``kind`` approximation
    of ``exp`` on ``[-R, R]`` with ``R = B^2`` (scale ``1/d``); inputs with
    entries above ``B`` are refused. The plan is made with ``certify=False``:
    its ``certified`` flag is false when ``eps_p >= 1`` (then the weights may be
    negative, the output arbitrary, and ``output_bound`` raises).
    """
    return make_plan(d, B, degree=largest_degree(d, budget), kind=kind, certify=False)
