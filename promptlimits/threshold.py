"""Where the certified polynomial method stops beating exact attention, exactly (docs/theory.md §5.2-§5.5).

The theorem's regime is ``d = ceil(log2 n)`` and ``eps = 1/n`` (Alman and Song
2023), with ``B = kappa sqrt(ln n)``. There the output target reaches ``2^-64``
at ``n = 2^64``, far below what float64 coefficients can certify (docs/theory.md
§3.6), so the float-certified cost model (:mod:`promptlimits.poly_attention`)
cannot speak; the theorem is about the algorithm in exact arithmetic. Here the
certificate of degree ``g`` on ``[-R, R]`` is the kinds' closed-form bound
``b(kind, g, R)`` without the rounding term (:mod:`promptlimits.polyapprox`,
docs/theory.md §3.3-§3.5), and the target is ``eps_p = eps_p_for_output(eps)``
(docs/theory.md §4.2). ``B*`` below is the cost frontier of this one
upper-bound algorithm, not a statement about every algorithm.

Two facts make the frontier closed-form up to one root (docs/theory.md §5.4;
proved in ``python -m proofs_check``, check ``5b``):

1. ``b(kind, g, R)`` increases with ``R``.
2. ``b(kind, ., R)`` is unimodal in ``g`` (its ratios ``R/(g+2)``,
   ``2R/(g+2)``, ``R/(2(g+2))`` decrease), and where it rises from ``g = 0``
   it starts at ``b(0) >= 1``; so a bound below ``eps_p < 1`` lies on the
   falling side, and a certified degree stays certified at every higher degree.

So with ``g_max(n, d)``, the largest ``g`` with rank ``C(d+g, g) < n``, the rank
``r*`` of the least certified degree is below ``n`` exactly when some kind
certifies ``g_max``, that is when ``R <= R*``, the largest root in ``R`` of
``b(kind, g_max, R) = eps_p`` over the kinds. The logits are ``logit_scale * q.k / d``
(``logit_scale = 1``: Alman and Song's ``exp(QK^T/d)``, the model's scale ``1/d``), so
the logit range is ``R = logit_scale * B^2`` (docs/theory.md §3.1), ``B*(n) =
sqrt(R* / logit_scale)`` and ``c*(n) = B*/sqrt(ln n)``; ``R*`` itself does not
depend on the multiplier.
Roots are found in float64 on the log of the bound (to about ``1e-13``
relative); :func:`verify_crossing` brackets each crossing with ``mpmath``
intervals. :func:`convergence_band` gives how ``c*(n)`` approaches its limit
``c_inf`` (:func:`limit_c_star`): ``c*/c_inf = 1 + (C1 ln ln n + D)/ln n`` to
first order, with ``C1`` and the range of ``D`` derived (docs/theory.md §5.5).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from scipy.optimize import brentq

from ._checks import check_choice, check_positive_int, check_real
from .features import rank
from .poly_attention import eps_p_for_output
from .polyapprox import KINDS, MAX_DEGREE, approximation_bound_interval, log_approximation_bound

__all__ = ["theorem_regime", "largest_cheap_degree", "degree_reach", "exact_least_degree", "rank_exponent",
           "Crossing", "crossing", "verify_crossing", "limit_c_star", "MAX_LOG2_N", "Band", "convergence_band",
           "BAND_MIN_LOG2_N"]

#: Largest ``log2 n`` accepted: ``eps = n^-1`` must stay a positive float64 (2^-1074 is the smallest).
MAX_LOG2_N = 1024.0


def _kinds(kind: str) -> tuple[str, ...]:
    return KINDS if check_choice(kind, "polynomial kind", ("auto",) + KINDS) == "auto" else (kind,)


def _check_log2_n(log2_n) -> float:
    return check_real(log2_n, "log2 n", low=1.0, high=MAX_LOG2_N)


def theorem_regime(log2_n: float, *, c: float = 1.0, a: float = 1.0) -> tuple[int, float]:
    """``(d, eps) = (ceil(c log2 n), n^-a)``: the theorem's head size and output target (``c = a = 1``)."""
    log2_n = _check_log2_n(log2_n)
    c = check_real(c, "c (d = ceil(c log2 n))", low=0.0, low_open=True)
    a = check_real(a, "a (eps = n^-a)", low=0.0, low_open=True)
    eps = 2.0 ** (-a * log2_n)
    if eps == 0.0:
        raise ValueError(f"eps = n^-a = 2^-{a * log2_n:g} underflows float64: take a log2 n <= 1074")
    return max(1, math.ceil(c * log2_n - 1e-12)), eps


def largest_cheap_degree(log2_n: float, d: int) -> int | None:
    """Largest ``g`` with ``C(d+g, g) < n`` (exact integers for an integer ``log2 n``); ``None`` above MAX_DEGREE."""
    log2_n = _check_log2_n(log2_n)
    d = check_positive_int(d, "d")
    if float(log2_n).is_integer():
        n = 1 << int(log2_n)

        def cheap(g):
            return rank(d, g) < n
    else:
        def cheap(g):
            return math.log2(rank(d, g)) < log2_n
    g = 0
    while g <= MAX_DEGREE and cheap(g + 1):
        g += 1
    return None if g > MAX_DEGREE else g


def _reach(kind: str, g: int, log_eps_p: float) -> float:
    """Root in ``R`` of ``log b(kind, g, R) = log eps_p`` (``b`` increases with ``R``), searched on ``log R``."""
    def f(x):
        return log_approximation_bound(kind, g, math.exp(x)) - log_eps_p

    lo, hi = -40.0, 0.0
    while f(lo) >= 0:
        if lo < -700:
            return 0.0
        lo -= 40.0
    while f(hi) < 0:
        hi += 1.0
    return math.exp(brentq(f, lo, hi, xtol=1e-14, rtol=4 * 2.0**-52))


def degree_reach(g: int, eps_p: float, kind: str = "auto") -> tuple[float, str]:
    """``(R_g, kind)``: the largest ``R`` on which degree ``g`` is certified to ``eps_p`` in exact arithmetic."""
    g = check_positive_int(g, "degree", minimum=0, maximum=MAX_DEGREE)
    eps_p = check_real(eps_p, "eps_p", low=0.0, high=1.0, low_open=True, high_open=True)
    reach = {k: _reach(k, g, math.log(eps_p)) for k in _kinds(kind)}
    best = max(reach, key=reach.get)
    return reach[best], best


def exact_least_degree(R: float, eps_p: float, kind: str = "auto") -> int | None:
    """Least ``g`` whose closed-form bound (no rounding term) is ``<= eps_p`` on ``[-R, R]``; ``None`` past 400."""
    R = check_real(R, "R", low=0.0)
    eps_p = check_real(eps_p, "eps_p", low=0.0, high=1.0, low_open=True, high_open=True)
    if R == 0.0:
        return 0
    kinds, le = _kinds(kind), math.log(eps_p)
    for g in range(MAX_DEGREE + 1):
        if any(log_approximation_bound(k, g, R) <= le for k in kinds):
            return g
    return None


def rank_exponent(log2_n: float, d: int, R: float, eps: float, kind: str = "auto") -> tuple[int | None, float]:
    """``(g*, log_n r*)`` at the logit range ``R`` for the output target ``eps``; ``(None, inf)`` above MAX_DEGREE."""
    g = exact_least_degree(R, eps_p_for_output(eps), kind)
    if g is None:
        return None, math.inf
    return g, math.log2(rank(d, g)) / _check_log2_n(log2_n)


class Crossing(NamedTuple):
    """The cost frontier at one ``n``: ``r* < n`` exactly when ``R <= R_star`` (module docstring)."""

    log2_n: float
    d: int
    eps: float
    eps_p: float
    g_max: int  # largest degree whose rank C(d+g, g) is below n
    kind: str  # the kind that certifies g_max on the widest range
    asked: str  # the kinds searched: "auto" (all of KINDS) or one kind
    R_star: float
    B_star: float  # sqrt(R_star / logit_scale)
    c_star: float  # B_star / sqrt(ln n)
    logit_scale: float = 1.0  # the logits are logit_scale * q.k / d, so R = logit_scale * B^2


def _check_logit_scale(logit_scale) -> float:
    return check_real(logit_scale, "logit_scale", low=0.0, low_open=True)


def crossing(log2_n: float, d: int, eps: float, *, kind: str = "auto", logit_scale: float = 1.0) -> Crossing | None:
    """The frontier ``B*(n)`` and ``c*(n)`` for head size ``d`` and output target ``eps``; ``None`` if
    ``g_max > 400``.

    The logits are ``logit_scale * q.k / d``, so ``R = logit_scale * B^2`` and
    ``B* = sqrt(R* / logit_scale)``: ``R*`` is the same at every multiplier.
    """
    eps = check_real(eps, "eps", low=0.0, high=1.0, low_open=True, high_open=True)
    logit_scale = _check_logit_scale(logit_scale)
    g_max = largest_cheap_degree(log2_n, d)
    if g_max is None:
        return None
    eps_p = eps_p_for_output(eps)
    R, k = degree_reach(g_max, eps_p, kind)
    B = math.sqrt(R / logit_scale)
    return Crossing(float(log2_n), int(d), eps, eps_p, g_max, k, kind, R, B, B / math.sqrt(log2_n * math.log(2)),
                    float(logit_scale))


def verify_crossing(cr: Crossing, *, margin: float = 1e-9) -> bool:
    """Interval check of a crossing: ``r* < n`` at ``R_star (1 - margin)`` and ``r* >= n`` at ``R_star (1 + margin)``.

    Below: ``cr.kind`` certifies ``g_max`` (the bound's interval lies below
    ``eps_p``'s). Above: no kind certifies any degree ``<= g_max`` (each bound's
    interval lies above ``eps_p``'s). ``eps_p`` is the exact
    ``4 eps / (4 + eps^2)`` of the float ``eps``, as an interval.
    """
    from mpmath import iv

    saved = iv.dps
    iv.dps = 30
    try:
        E = iv.mpf(cr.eps)
        eps_p = 4 * E / (4 + E * E)
        below = approximation_bound_interval(cr.kind, cr.g_max, iv.mpf(cr.R_star * (1 - margin)))
        if not below.b <= eps_p.a:
            return False
        R_hi = iv.mpf(cr.R_star * (1 + margin))
        return all(approximation_bound_interval(k, g, R_hi).a > eps_p.b
                   for k in _kinds(cr.asked) for g in range(cr.g_max + 1))
    finally:
        iv.dps = saved


def _beta(kind: str, kappa2: float, a: float) -> float:
    """Least ``beta = g / ln n`` whose leading-order log bound per ``ln n`` is ``<= -a`` at ``R = kappa2 ln n``."""
    lead = {"taylor": (kappa2, 1.0), "shifted_taylor": (0.0, 2.0), "chebyshev": (2 * kappa2, 0.5)}[kind]

    def f(beta):  # R/ln n term + beta ln(e C kappa2 / beta): decreasing for beta > C kappa2
        return lead[0] + beta * math.log(math.e * lead[1] * kappa2 / beta) + a

    lo = lead[1] * kappa2
    hi = max(2 * lo, 1.0)
    while f(hi) > 0:
        hi *= 2
    return brentq(f, lo, hi, xtol=1e-15)


def _limit(c: float, a: float, kind: str) -> tuple[float, float, str]:
    """``(kappa_inf^2, beta_inf, kind)``: the leading-order crossing and the kind setting it (:func:`limit_c_star`)."""
    c = check_real(c, "c", low=0.0, low_open=True)
    a = check_real(a, "a", low=0.0, low_open=True)
    kinds = _kinds(kind)
    delta = c / math.log(2)

    def excess(kappa2):
        beta = min(_beta(k, kappa2, a) for k in kinds)
        return (delta + beta) * math.log(delta + beta) - delta * math.log(delta) - beta * math.log(beta) - 1.0

    hi = 0.1
    while excess(hi) < 0:
        hi *= 2
    kappa2 = brentq(excess, 1e-9, hi, xtol=1e-16, rtol=4 * 2.0**-52)
    best = min(kinds, key=lambda k: _beta(k, kappa2, a))
    return kappa2, _beta(best, kappa2, a), best


def limit_c_star(c: float = 1.0, a: float = 1.0, kind: str = "auto", *, logit_scale: float = 1.0) -> float:
    """Leading-order limit of ``c*(n)`` as ``n -> inf`` for ``d = c log2 n`` and ``eps = n^-a`` (docs/theory.md §5.2).

    With ``L = ln n``, ``g = beta L`` and ``R = kappa^2 L``, Stirling gives
    ``ln C(d+g, g) / L -> h(beta) = (delta+beta) ln(delta+beta) - delta ln delta
    - beta ln beta`` (``delta = c / ln 2``) and ``ln b / L ->``
    ``kappa^2 + beta ln(e kappa^2/beta)`` (taylor), ``beta ln(2 e kappa^2/beta)``
    (shifted_taylor), ``2 kappa^2 + beta ln(e kappa^2/(2 beta))`` (chebyshev).
    The least certified ``beta`` solves ``ln b / L = -a``; the limit is the
    ``kappa`` at which ``h(beta) = 1`` (rank ``= n``). The logits are
    ``logit_scale * q.k / d`` (``R = logit_scale * kappa^2 L``), so the limit
    is divided by ``sqrt(logit_scale)``.
    """
    return math.sqrt(_limit(c, a, kind)[0] / _check_logit_scale(logit_scale))


# -- how c*(n) approaches its limit (docs/theory.md §5.5) ------------------------------

#: The convergence band is derived and applied for ``n >= 2^BAND_MIN_LOG2_N`` (``ln ln n > 0`` there and beyond).
BAND_MIN_LOG2_N = 8.0

#: Per kind, ``(A, s, K)`` with ``ln b(g, R) = A R + m ln(s R) - ln m! + K``, ``m = g + 1`` (docs/theory.md §3.3-§3.5).
_BOUND_FORM = {"taylor": (1.0, 1.0, 0.0), "shifted_taylor": (0.0, 2.0, 0.0), "chebyshev": (2.0, 0.5, math.log(2))}


class Band(NamedTuple):
    """First-order expansion of ``c*(n)/c_inf`` (docs/theory.md §5.5): with ``L = ln n``,

    ``c*(n)/c_inf = 1 + (C1 ln L + D)/L + O((ln L/L)^2)``, ``D_lo <= D <= D_hi``
    (``D`` moves with the integer part of ``g_max`` and the ceiling of ``d``),
    and the rule's band for ``n >= 2^log2_n0``:
    ``lower(n) <= c*(n)/c_inf <= 1 + C ln L / L``, ``C = C1 + max(D_hi, 0) / ln L0``.
    """

    c: float  # d = c log2 n
    a: float  # eps = n^-a
    kind: str  # the kind that sets the limit
    c_inf: float  # limit of c*(n)
    beta_inf: float  # limit of g_max / ln n
    C1: float  # coefficient of ln ln n / ln n
    D_lo: float  # the O(1/ln n) term at its least (g_max just past a step, d rounded up by almost 1)
    D_hi: float  # the O(1/ln n) term at its largest (g_max just below a step, d = c log2 n)
    log2_n0: float  # smallest n of the band's domain
    C: float  # the band's constant: C1 + max(D_hi, 0) / ln ln n0

    def upper(self, log2_n: float) -> float:
        """``1 + C ln ln n / ln n``."""
        L = float(log2_n) * math.log(2)
        return 1.0 + self.C * math.log(L) / L

    def lower(self, log2_n: float) -> float:
        """``1 + min(0, C1 ln ln n + D_lo) / ln n``: 1 whenever the first-order term cannot be negative."""
        L = float(log2_n) * math.log(2)
        return 1.0 + min(0.0, self.C1 * math.log(L) + self.D_lo) / L


def convergence_band(c: float = 1.0, a: float = 1.0, kind: str = "auto", *,
                     log2_n0: float = BAND_MIN_LOG2_N, logit_scale: float = 1.0) -> Band:
    """The band ``c*(n)/c_inf`` lies in to first order for ``d = ceil(c log2 n)``, ``eps = n^-a`` (docs/theory.md §5.5).

    Derived, not fitted. ``g_max + 1 = m`` and ``R* = kappa^2 L`` solve, with
    Stirling's ``ln m! = m ln(m/e) + (1/2) ln(2 pi m) + O(1/m)``,

    ``L h(beta_g) + phi ln((delta+beta)/delta) + (1/2) ln((delta+beta)/(2 pi delta beta L)) = L`` (rank ``= n``),
    ``m = beta_g L + 1 - theta`` (``theta`` in ``[0, 1)``: the floor of ``g_max``),
    ``L f(m/L, kappa^2) - (1/2) ln(2 pi m) + K = -a L`` (bound ``= eps_p``),

    ``f(beta, kappa^2) = A kappa^2 + beta ln(e s kappa^2/beta)`` the kind's
    leading term, ``d = delta L + phi`` (``phi`` in ``[0, 1)``: the ceiling).
    Linearising at ``(beta_inf, kappa_inf^2)`` and ``c*/c_inf = 1 + dkappa^2 /
    (2 kappa^2) + ...`` gives ``C1 = (1 - f_beta/h') / (4 kappa^2 f_kappa2)`` and
    ``D = [(1/2) ln(2 pi beta) - K - f_beta ((1/2) ln(2 pi delta beta/(delta+beta)) / h'
    - phi ln((delta+beta)/delta) / h' + 1 - theta)] / (2 kappa^2 f_kappa2)``,
    with ``f_beta = ln(s kappa^2/beta) < 0``, ``f_kappa2 = A + beta/kappa^2`` and
    ``h' = ln((delta+beta)/beta)``. The second-order remainder is not bounded
    here; ``python -m proofs_check`` (check ``5c``) verifies the band on every
    ``n = 2^8..2^1024`` of the theorem's regime. A logit multiplier divides
    ``c*(n)`` and ``c_inf`` alike by ``sqrt(logit_scale)`` (``R*`` does not
    move), so only ``c_inf`` changes: the band on the ratio is the same.
    """
    log2_n0 = check_real(log2_n0, "log2 n0", low=2.0, high=MAX_LOG2_N)
    root = math.sqrt(_check_logit_scale(logit_scale))
    kappa2, beta, k = _limit(c, a, kind)
    A, s, K = _BOUND_FORM[k]
    delta = float(c) / math.log(2)
    f_beta = math.log(s * kappa2 / beta)
    f_k2 = A + beta / kappa2
    h1 = math.log((delta + beta) / beta)
    scale = 2 * kappa2 * f_k2
    C1 = (1 - f_beta / h1) / (2 * scale)

    def D(theta, phi):
        degree = 0.5 * math.log(2 * math.pi * delta * beta / (delta + beta)) / h1 + 1 - theta
        degree -= phi * math.log((delta + beta) / delta) / h1
        return (0.5 * math.log(2 * math.pi * beta) - K - f_beta * degree) / scale

    D_hi, D_lo = D(0.0, 0.0), D(1.0, 1.0)
    C = C1 + max(D_hi, 0.0) / math.log(log2_n0 * math.log(2))
    return Band(float(c), float(a), k, math.sqrt(kappa2) / root, beta, C1, D_lo, D_hi, log2_n0, C)
