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

:func:`gap_parameters` fixes ``(m, t, t')`` for a distance ratio ``t'/t = 1 +
gap`` with ``t = Theta(m)``: ``m = ceil(c_m log2 n)``, ``t'_max`` the largest
value with ``n P(Bin(m, 1/2) < t'_max) <= 1/4`` (a fresh uniform row then has a
pair closer than ``t'_max`` with probability at most about 1/4, so resampling
ends fast; exact integer arithmetic), and ``t`` the largest multiple of ``q``
with ``t (1 + gap) <= t'_max``, where ``gap = p/q`` in lowest terms, so that
``t' = t (1 + gap)`` is an integer and the ratio is exact. Since ``t'_max =
Theta(m)`` and ``t >= t_hi / 2`` for ``t_hi = floor(t'_max / (1 + gap)) >=
q``, ``t = Theta(m)``. Small gaps are the hard ones: locality-sensitive hashing by bit
sampling (Indyk and Motwani 1998) separates distance ``t`` from ``t (1 + gap)``
in about ``n^(1 + 1/(1 + gap))`` time, ``n^1.5`` at gap 1 but ``n^1.91`` at
gap 0.1.

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

The least degree that decides
-----------------------------
:func:`least_poly_degree` runs the polynomial method of docs/theory.md §3 at
degrees ``g = 0, 1, 2, ...`` -- the Chebyshev interpolant of ``exp`` on
``[-R, R]``, ``R = lambda^2``, as an uncertified
:class:`~promptlimits.poly_attention.PolyPlan` (``make_plan(..., degree=g,
certify=False)``), through the same kernels as every other plan -- and returns
the least ``g`` whose output is within :data:`MARGIN` ``= 1/4`` of exact
attention in every row of every instance (:func:`within_margin`), searching
while the rank ``C(d+g, g)`` stays within a cap. Above ``lambda_min`` that is
exactly "decides every instance"; below it, exact attention itself may not
decide, and the criterion only says that the method reproduces exact attention
to within the margin. :func:`least_level` is the same search over any
increasing sequence of levels (feature counts of
:func:`promptlimits.random_features.random_feature_attention`, for one).

The fused form computes ``sum_j p(q_i.k_j/d)``, and on the encoding
``q_i.k_j/d`` is the logit ``s_h`` of the distance ``h``, so in exact arithmetic
``T_i = p(0) / (p(0) + sum_h N_ih p(s_h))`` with ``N_ih`` the distance counts.
:func:`poly_output` evaluates that with the plan's own coefficients in
``O(n m)`` at any rank, and :func:`least_poly_degree_counts` searches every
degree up to a cap whatever its rank (docs/theory.md §6.6).

Above the cap the least degree is bracketed by a *sufficient* one
(:func:`sufficient_degree`). The Chebyshev interpolant of degree ``g`` on
``[-R, R]`` has absolute error ``|p(x) - e^x| <= delta_g = 2 e^R (R/2)^(g+1) /
(g+1)!`` (the bound of :mod:`promptlimits.polyapprox` before the division by
``e^-R``). With ``X = sum_j p(s_ij)`` and ``Y = sum_j e^(s_ij)`` over the
``n`` keys, ``|X - Y| <= n delta_g``, and since ``Y >= 0``::

    |1/(1 + X) - 1/(1 + Y)| = |X - Y| / ((1 + X)(1 + Y)) <= n delta_g / (1 - n delta_g),

which is below 1/4 once ``n delta_g < 1/5``. So every instance encoded at any
``lambda <= sqrt(R)`` is within the margin at that degree (in exact
arithmetic), and the least degree lies between the cap and it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numba
import numpy as np

from ._checks import as_generator, check_positive_float, check_positive_int, check_real
from .features import rank
from .poly_attention import FloatOverflow, make_plan

__all__ = [
    "GAP_MAX",
    "MARGIN",
    "HammingInstance",
    "LevelSearch",
    "decide",
    "degree_levels",
    "distance_counts",
    "encode",
    "exact_output",
    "extra_dims",
    "far_threshold",
    "gap_parameters",
    "hamming",
    "lambda_min",
    "least_level",
    "least_poly_degree",
    "least_poly_degree_counts",
    "logits",
    "make_instance",
    "max_row_error",
    "poly_output",
    "score_gap",
    "sufficient_degree",
    "within_margin",
]

#: Largest distance gap accepted: ``t'/t = 1 + gap <= 11``.
GAP_MAX = 10.0

#: Decision margin: an output within it of exact attention in every row decides (docs/theory.md §6.4).
MARGIN = 0.25


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


def _packed(X) -> np.ndarray:
    """The 0/1 rows of ``X`` as bits in ``ceil(m/64)`` uint64 words per row (zero bits past ``m``)."""
    bits = np.packbits(np.asarray(X) != 0, axis=1, bitorder="little")
    words = -(-bits.shape[1] // 8)
    out = np.zeros((bits.shape[0], 8 * words), dtype=np.uint8)
    out[:, : bits.shape[1]] = bits
    return out.view(np.uint64)


@numba.njit(cache=True, nogil=True)
def _distance(a, c):
    """Set bits of ``a XOR c`` (two rows of words): the Hamming distance, by the SWAR popcount."""
    h = 0
    for k in range(a.shape[0]):
        x = a[k] ^ c[k]
        x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
        x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
        x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
        h += (x * np.uint64(0x0101010101010101)) >> np.uint64(56)
    return h


@numba.njit(cache=True, nogil=True)
def _count_distances(a, c, counts):
    for i in range(a.shape[0]):
        for j in range(c.shape[0]):
            counts[i, _distance(a[i], c[j])] += 1


@numba.njit(cache=True, nogil=True)
def _closer_than(a, c, limit, rows, cols):
    """The pairs ``(i, j)`` with distance below ``limit``, row-major, into ``rows``/``cols``; returns how many
    there are (more than fit: call again with larger buffers)."""
    k = 0
    for i in range(a.shape[0]):
        for j in range(c.shape[0]):
            if _distance(a[i], c[j]) < limit:
                if k < rows.shape[0]:
                    rows[k], cols[k] = i, j
                k += 1
    return k


def _close_pairs(A, C, t_far: int) -> list:
    """Every ``(i, j)`` with ``H(a_i, c_j) < t_far``, row-major (one pass over the packed bits, O(n m) memory)."""
    a, c = _packed(A), _packed(C)
    size = max(1024, a.shape[0])
    while True:
        rows, cols = np.empty(size, dtype=np.int64), np.empty(size, dtype=np.int64)
        k = _closer_than(a, c, t_far, rows, cols)
        if k <= size:
            return list(zip(rows[:k].tolist(), cols[:k].tolist()))
        size = k


def far_threshold(n: int, m: int, row_violation: float = 0.25) -> int:
    """Largest ``t'`` with ``n P(Bin(m, 1/2) < t') <= row_violation`` (at least 1), in exact integers.

    A fresh uniform row then has a partner closer than ``t'`` with probability
    at most about ``row_violation``, so :func:`make_instance` resamples little.
    """
    n = check_positive_int(n, "n", minimum=2)
    m = check_positive_int(m, "m")
    rv = Fraction(check_real(row_violation, "row_violation", low=0.0, low_open=True))
    below = 0
    for k in range(m + 1):
        below += math.comb(m, k)  # now 2^m P(H <= k) = 2^m P(H < k + 1)
        if n * below * rv.denominator > rv.numerator * 2**m:
            return max(1, k)
    return m


def gap_parameters(n: int, gap: float, *, c_m: float = 6.0, row_violation: float = 0.25) -> tuple[int, int, int]:
    """``(m, t, t')`` with ``t'/t = 1 + gap`` exactly and ``t = Theta(m)`` (module docstring).

    ``m = max(4, ceil(c_m log2 n))``; ``t`` is the largest multiple of ``q``
    (``gap = p/q`` in lowest terms, denominator at most 1000) with ``t (1 + gap)
    <= far_threshold(n, m)``; ``t' = t (1 + gap)``.

    Raises
    ------
    ValueError
        ``gap`` outside ``(0, GAP_MAX]``, or no such ``t >= 1`` at this ``m``
        (the message says how large ``t'`` may be; raise ``c_m``).
    """
    n = check_positive_int(n, "n", minimum=2)
    gap = check_real(gap, "gap (t'/t - 1)", low=0.0, high=GAP_MAX, low_open=True)
    c_m = check_positive_float(c_m, "c_m")
    m = max(4, math.ceil(c_m * math.log2(n)))
    frac = Fraction(gap).limit_denominator(1000)
    p, q = frac.numerator, frac.denominator
    t_far_max = far_threshold(n, m, row_violation)
    t_hi = t_far_max * q // (p + q)  # largest t with t (1 + p/q) <= t'_max
    t = q * (t_hi // q)
    if t < 1:
        raise ValueError(f"gap={gap:g} needs t a multiple of {q} with t (1 + gap) <= {t_far_max}, the largest "
                         f"t' that m={m} bits allow at n={n}; raise c_m (now {c_m:g})")
    return m, t, t * (p + q) // q


def make_instance(n, m, t, t_far, planted, seed=0, *, close_distance=None, max_rounds=10_000) -> HammingInstance:
    """Draw a promise instance; every pair other than the planted one is ``>= t_far`` apart.

    Parameters
    ----------
    n, m : int
        Set size and bit length.
    t, t_far : int
        ``0 <= t < t_far <= m``.
    planted : bool
    seed : int, SeedSequence or Generator
    close_distance : int, optional
        The planted pair's distance, ``0..t``; default: drawn uniformly from
        ``0..t``. ``t`` makes the distance ratio of the instance exactly
        ``t_far / t`` (the hardest case of the promise).

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
    if close_distance is not None:
        close_distance = check_positive_int(close_distance, "close_distance", minimum=0, maximum=t)
    rng = as_generator(seed)
    A = rng.integers(0, 2, size=(n, m), dtype=np.int8)
    C = rng.integers(0, 2, size=(n, m), dtype=np.int8)
    pair = None
    if planted:
        i, j = (int(x) for x in rng.integers(0, n, size=2))
        k = int(rng.integers(0, t + 1)) if close_distance is None else close_distance
        flips = np.zeros(m, dtype=np.int8)
        flips[rng.choice(m, size=k, replace=False)] = 1
        C[j] = A[i] ^ flips
        pair = (i, j)
    # The pairs closer than t' ("bad"), kept as a set: one pass over all n^2 pairs, then after each
    # resampling only the rows and columns that changed are compared again (O(n m) memory at any n).
    bad = set(_close_pairs(A, C, t_far))
    for _ in range(max_rounds):
        bad.discard(pair)
        if not bad:
            break
        # Resample the key side unless it is the planted key; then the query side.
        jp = pair[1] if pair else -1
        redo_c = sorted({j for _, j in bad if j != jp})
        redo_a = sorted({i for i, j in bad if j == jp})
        if redo_c:
            C[redo_c] = rng.integers(0, 2, size=(len(redo_c), m), dtype=np.int8)
        if redo_a:
            A[redo_a] = rng.integers(0, 2, size=(len(redo_a), m), dtype=np.int8)
        cs, as_ = set(redo_c), set(redo_a)
        bad = {(i, j) for i, j in bad if i not in as_ and j not in cs}
        if redo_c:
            bad.update((i, redo_c[j]) for i, j in _close_pairs(A, C[redo_c], t_far))
        if redo_a:
            bad.update((redo_a[i], j) for i, j in _close_pairs(A[redo_a], C, t_far))
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


def distance_counts(inst: HammingInstance) -> np.ndarray:
    """``counts[i, h]`` = number of keys ``j`` with ``H(a_i, c_j) = h``, shape ``(n, m + 1)``.

    One pass over the ``n^2`` pairs on the rows packed into 64-bit words (XOR and popcount), O(n m) memory.
    """
    n, m = inst.A.shape
    counts = np.zeros((n, m + 1), dtype=np.int64)
    _count_distances(_packed(inst.A), _packed(inst.C), counts)
    return counts


def exact_output(inst: HammingInstance, lam: float, counts=None) -> np.ndarray:
    """Exact attention on ``encode(inst, lam)``, ``T_i = 1 / (1 + sum_j e^(s_ij))``, from the distances.

    The logits are ``s_h = lambda^2 (t + t' - 2h) / d`` for distance ``h``
    (module docstring), so ``T_i = expit(-log sum_h counts[i, h] e^(s_h))``:
    ``O(n m)`` given :func:`distance_counts`, with no overflow. Equals
    ``exact_attention(*encode(inst, lam))`` (shape ``(n, 1)``) up to rounding.
    """
    from scipy.special import expit, logsumexp

    lam = check_positive_float(lam, "lambda")
    n, m = inst.A.shape
    counts = distance_counts(inst) if counts is None else counts
    e, _ = extra_dims(m, inst.t, inst.t_far)
    s = lam * lam * (inst.t + inst.t_far - 2.0 * np.arange(m + 1)) / (m + e)
    return expit(-logsumexp(np.broadcast_to(s, counts.shape), b=counts, axis=1))[:, None]


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


def sufficient_degree(n: int, R: float, *, max_degree: int = 100_000) -> int:
    """Least ``g`` with ``n delta_g < 1/5``, ``delta_g = 2 e^R (R/2)^(g+1)/(g+1)!`` (module docstring).

    At this degree the Chebyshev interpolant on ``[-R, R]`` keeps every row of
    every encoded instance within :data:`MARGIN` of exact attention, so the
    least degree that does is at most this.
    """
    n = check_positive_int(n, "n")
    R = check_real(R, "R", low=0.0)
    bound = math.log(n) + math.log(2.0) + R  # log(n delta_g) = bound + (g+1) log(R/2) - log((g+1)!)
    for g in range(max_degree + 1):
        log_nd = bound + (g + 1) * math.log(R / 2) - math.lgamma(g + 2) if R > 0 else -math.inf
        if log_nd < math.log(0.2):
            return g
    raise ValueError(f"no degree up to {max_degree} is sufficient at R={R:g}, n={n}")


def max_row_error(T, T_exact) -> float:
    """``max_i |T_i - T_exact,i|``; ``inf`` when ``T`` is not finite (an output that decides nothing)."""
    T = np.asarray(T, dtype=float)
    if not np.all(np.isfinite(T)):
        return math.inf
    return float(np.max(np.abs(T - np.asarray(T_exact, dtype=float))))


def within_margin(attention: Callable, inputs: Sequence, exact_outputs: Sequence) -> tuple[bool, float]:
    """Is ``attention(Q, K, V)`` within :data:`MARGIN` of exact attention in every row of every instance?

    ``inputs`` are the ``(Q, K, V)`` of :func:`encode`, ``exact_outputs`` the
    exact outputs. Stops at the first instance that fails. Returns ``(ok,
    largest row error seen)``.
    """
    worst = 0.0
    for (Q, K, V), T in zip(inputs, exact_outputs):
        worst = max(worst, max_row_error(attention(Q, K, V), T))
        if not worst < MARGIN:
            return False, worst
    return True, worst


@dataclass(frozen=True)
class LevelSearch:
    """Result of :func:`least_level`.

    ``level`` is the least level within the margin (``None`` if none was),
    ``size`` its cost (a rank or a feature count), ``error`` its largest row
    error; ``tried`` lists ``(level, size, ok, error)`` for every level run,
    where a failed level's error is the largest seen before it stopped.
    """

    level: int | None
    size: int | None
    error: float | None
    tried: tuple


def least_level(levels: Sequence[tuple[int, int]], attention_at: Callable, inputs: Sequence,
                exact_outputs: Sequence) -> LevelSearch:
    """The first ``(level, size)`` of ``levels`` whose ``attention_at(level)`` passes :func:`within_margin`."""
    tried = []
    for level, size in levels:
        ok, err = within_margin(attention_at(level), inputs, exact_outputs)
        tried.append((level, size, ok, err))
        if ok:
            return LevelSearch(level, size, err, tuple(tried))
    return LevelSearch(None, None, None, tuple(tried))


def degree_levels(d: int, max_rank: int) -> list[tuple[int, int]]:
    """``(g, C(d+g, g))`` for every degree ``g = 0, 1, ...`` whose rank is within ``max_rank``."""
    levels = []
    while rank(d, len(levels)) <= max_rank:
        levels.append((len(levels), rank(d, len(levels))))
    return levels


def least_poly_degree(inputs: Sequence, exact_outputs: Sequence, lam: float, *, max_rank: int,
                      kind: str = "chebyshev") -> LevelSearch:
    """Least degree whose polynomial method decides every instance, among ranks ``C(d+g, g) <= max_rank``.

    Degrees ``g = 0, 1, ...`` of the ``kind`` approximation of ``exp`` on
    ``[-R, R]``, ``R = lambda^2``, as uncertified plans (``make_plan(d,
    lambda, degree=g, certify=False)``), run through the fused kernels on the
    encoded instances ``inputs`` (module docstring).
    """
    lam = check_positive_float(lam, "lambda")
    max_rank = check_positive_int(max_rank, "max_rank")
    d = inputs[0][0].shape[1]
    levels = degree_levels(d, max_rank)

    def plan_at(g):
        try:
            plan = make_plan(d, lam, degree=g, kind=kind, certify=False)
        except FloatOverflow:  # p's feature weights overflow float64
            plan = None

        def forward(Q, K, V):
            if plan is None or plan.overflows(K.shape[0]):  # p cannot be evaluated in float64, so it decides
                return np.full((Q.shape[0], V.shape[1]), np.inf)  # nothing: inf fails the margin
            return plan.forward(Q, K, V)

        return forward

    return least_level(levels, plan_at, inputs, exact_outputs)


def logits(lam: float, m: int, t: int, t_far: int) -> np.ndarray:
    """``s_h = lambda^2 (t + t' - 2h) / d`` for every distance ``h = 0..m`` (docs/theory.md §6.3)."""
    e, _ = extra_dims(m, t, t_far)
    return lam * lam * (t + t_far - 2.0 * np.arange(m + 1)) / (m + e)


def poly_output(approx, counts, lam: float, m: int, t: int, t_far: int, *, n_keys: int | None = None) -> np.ndarray:
    """The polynomial method's output on an encoded instance, from its distance counts: shape ``(n, 1)``.

    The fused form computes ``T_i = sum_j p(s_ij) v_j / sum_j p(s_ij)`` through
    features, and ``p(q.k/d)`` is exactly the polynomial ``p`` of the logit, so
    in exact arithmetic ``T_i = p(0) / (p(0) + sum_h counts[i, h] p(s_h))``
    with ``p`` the monomial coefficients ``approx.coefficients`` (the plan's own
    polynomial, :func:`promptlimits.polyapprox.exp_approximation`). Here that sum
    is evaluated in float64 in ``O(n m)``, for any rank, instead of the
    ``O(n r d)`` features. As in ``PolyPlan.forward`` the output is clipped to
    ``[-1, 1]`` (``||V||max = 1``); ``inf`` marks a result that is not finite,
    or a degree whose feature weights ``c_j d^-j j!`` (the largest, for
    ``d >= g``) or whose intermediate values with ``n_keys`` keys overflow
    float64, where ``make_plan`` and ``forward`` refuse (``FloatOverflow``).
    """
    from .poly_attention._cost import plan_rounding

    counts = np.asarray(counts)
    n, d = counts.shape[0], m + extra_dims(m, t, t_far)[0]
    c = np.asarray(approx.coefficients, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        weights = c * np.array([d ** -float(j) * math.factorial(j) for j in range(c.size)])
        keys = n + 1 if n_keys is None else n_keys
        if not np.all(np.isfinite(weights)) or plan_rounding(d, approx, lam, 1.0 / d).overflows(keys):
            return np.full((n, 1), np.inf)
        ps = np.polynomial.polynomial.polyval(logits(lam, m, t, t_far), c)
        p0 = c[0]
        T = p0 / (p0 + counts @ ps)
    if not np.all(np.isfinite(T)):
        return np.full((n, 1), np.inf)
    return np.clip(T, -1.0, 1.0)[:, None]


def least_poly_degree_counts(instances: Sequence, exact_outputs: Sequence, lam: float, *, max_rank: int,
                             min_degree: int = 0, kind: str = "chebyshev") -> LevelSearch:
    """:func:`least_poly_degree` from the distance counts (:func:`poly_output`), at any rank.

    ``instances`` are ``(HammingInstance, distance_counts)`` pairs. Degrees
    ``g = 0, 1, ...`` while ``C(d+g, g) <= max_rank``, and at least up to
    ``min_degree`` whatever their rank. Equal to :func:`least_poly_degree` up
    to the kernels' rounding (tests compare them where the kernels are cheap).
    """
    from .polyapprox import exp_approximation

    lam = check_positive_float(lam, "lambda")
    max_rank = check_positive_int(max_rank, "max_rank")
    min_degree = check_positive_int(min_degree, "min_degree", minimum=0)
    inst0 = instances[0][0]
    d = inst0.m + extra_dims(inst0.m, inst0.t, inst0.t_far)[0]
    levels = degree_levels(d, max_rank)
    levels += [(g, rank(d, g)) for g in range(len(levels), min_degree + 1)]

    def attention_at(g):
        approx = exp_approximation(lam * lam, degree=g, kind=kind)
        return lambda inst, counts, _: poly_output(approx, counts, lam, inst.m, inst.t, inst.t_far)

    # within_margin calls attention(*input) per instance: here an input is (instance, counts, None)
    return least_level(levels, attention_at, [(inst, counts, None) for inst, counts in instances], exact_outputs)
