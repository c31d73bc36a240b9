"""The cost model of the polynomial method: certified degree, rank, cost against ``n`` (docs/theory.md §5).

One chain, used by every experiment, the model's ``"auto"`` backend, the
plans and the figures: for a head size ``d``, a norm bound ``B`` (logits in
``[-R, R]``, ``R = s d B^2``), ``n`` keys and an attention-output target ``eps``,

    eps_p = eps_p_for_output(eps)                                   (docs/theory.md §4)
    g*    = least degree with eps_p(g) + delta(g, n) <= eps_p       (docs/theory.md §3, §4.6)
    r*    = C(d + g*, g*)                                            (feature width)

where ``eps_p(g)`` is the polynomial's certificate and ``delta(g, n)`` the
kernels' rounding (:mod:`._rounding`); the polynomial method, ``O(n r* d)``,
beats exact attention, ``O(n^2 d)``, when ``r*/n < 1``. The frontier
``B*(n)`` is the largest ``B`` with ``r* < n``.

Hopeless targets are refused from closed forms before any interval
arithmetic: every degree's certificate is at least its closed-form bound
(:func:`promptlimits.polyapprox.log_approximation_bound`) and the rounding at
least ``2 M u e^(2R)`` (:func:`._rounding.log_rounding_floor`).
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from .._checks import check_choice, check_positive_int, check_real
from ..features import rank
from ..polyapprox import (
    KINDS,
    MAX_DEGREE,
    ExpApprox,
    exp_approximation,
    log_approximation_bound,
    log_approximation_bounds,
)
from ._error import eps_p_for_output
from ._rounding import KernelRounding, kernel_rounding, log_rounding_floor, log_rounding_floors

__all__ = ["logit_range", "certificate", "certified_degree", "least_certified", "largest_certifiable_B",
           "least_rank", "least_cost", "Cost", "frontier_B", "poly_pays"]


def logit_range(d: int, B: float, scale=None) -> float:
    """``R >= s d B^2``, the largest ``|s q.k|`` when ``||Q||max, ||K||max <= B``: the least float at or above it.

    ``s`` is the float scale the kernels and :func:`promptlimits.exact_attention`
    use (default ``1/d`` rounded to float64), and ``s d B^2`` is computed
    exactly (rationals) and rounded up, so every logit lies in ``[-R, R]``;
    for the default scale ``R`` is ``B^2`` to within one unit in the last place.
    """
    s = 1.0 / d if scale is None else float(scale)
    exact = Fraction(s) * d * Fraction(float(B)) ** 2
    try:
        R = float(exact)
    except OverflowError:
        return math.inf
    return R if Fraction(R) >= exact else math.nextafter(R, math.inf)


def certificate(R: float, eps_p: float, kind: str = "auto") -> ExpApprox | None:
    """The certified polynomial of least degree for ``eps_p`` on ``[-R, R]``, or ``None`` if there is none (cached).

    :func:`promptlimits.polyapprox.exp_approximation`, with "cannot be
    certified up to ``MAX_DEGREE``" returned as ``None`` instead of raised.
    """
    R = check_real(R, "R", low=0.0)
    eps_p = check_real(eps_p, "eps_p", low=0.0, high=1.0, low_open=True, high_open=True)
    check_choice(kind, "polynomial kind", ("auto",) + KINDS)
    return _certificate(R, eps_p, kind)


@lru_cache(maxsize=4096)
def _certificate(R: float, eps_p: float, kind: str) -> ExpApprox | None:
    try:
        return exp_approximation(R, eps_p=eps_p, kind=kind)
    except ValueError:  # the arguments are checked: eps_p is out of reach at this R
        return None


def certified_degree(R: float, eps_p: float, kind: str = "auto") -> int | None:
    """Least degree ``g`` whose certified ``eps_p(g) <= eps_p`` on ``[-R, R]``; ``None`` when not certifiable."""
    cert = certificate(R, eps_p, kind)
    return None if cert is None else cert.degree


class Cost(NamedTuple):
    """The least certified polynomial for a target and its cost against ``n``."""

    kind: str
    degree: int
    eps_p: float  # certified
    rank: int  # C(d + degree, degree)
    ratio: float  # rank / n: cost of the polynomial method relative to exact attention


def least_cost(n: int, d: int, B: float, *, eps: float, scale=None, kind: str = "auto") -> Cost | None:
    """:class:`Cost` of the least degree certified for the output target ``eps`` with ``n`` keys; ``None`` if
    none is."""
    cert = least_certified(d, B, eps_p_for_output(eps), keys=n, scale=scale, kind=kind)
    if cert is None:
        return None
    r = rank(d, cert.degree)
    return Cost(cert.kind, cert.degree, cert.eps_p, r, r / n)


def least_rank(d: int, B: float, *, eps: float, scale=None, kind: str = "auto", keys: int = 1) -> int | None:
    """Rank ``C(d+g*, g*)`` of the least degree certified for the output target ``eps`` with ``keys`` keys;
    ``None`` if none is."""
    cert = least_certified(d, B, eps_p_for_output(eps), keys=keys, scale=scale, kind=kind)
    return None if cert is None else rank(d, cert.degree)


@lru_cache(maxsize=256)
def frontier_B(n: int, *, d: int, eps: float, kind: str = "auto", scale=None, B_max: float = 4.0) -> float:
    """Largest ``B`` (bisection to 1e-3) whose least certified rank is below ``n``; 0 if none, ``B_max`` if all.

    The cost rule is ``r* < n`` (:func:`least_rank` for the output target
    ``eps`` with ``n`` keys). Bisection assumes that ``r*`` does not decrease as ``B`` grows
    (a wider logit range never needs a lower degree); the result is the last
    ``B`` known to satisfy the rule, within 1e-3 of the crossing. Cached.
    """
    n = check_positive_int(n, "n")
    B_max = check_real(B_max, "B_max", low=1e-3, low_open=True)

    def cheap(B):
        r = least_rank(d, B, eps=eps, scale=scale, kind=kind, keys=n)
        return r is not None and r < n

    if not cheap(1e-3):
        return 0.0
    lo, hi = 1e-3, B_max
    if cheap(hi):
        return hi
    while hi - lo > 1e-3:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if cheap(mid) else (lo, mid)
    return lo


def poly_pays(d: int, B: float, *, eps: float, n_queries: int, n_keys: int, scale=None, kind: str = "auto") -> bool:
    """Does the least certified rank ``r*`` satisfy ``r* (n_queries + n_keys) < n_queries n_keys``?

    The cost of one head of attention with ``n_queries`` queries and
    ``n_keys`` keys: exact ``n_queries n_keys``, polynomial ``r (n_queries +
    n_keys)`` multiply-adds per head dimension. Before the degree search (with
    interval arithmetic), the closed-form bounds at the largest affordable
    degree ``g_max`` rule out hopeless norms: each kind's bound ``b(g)`` is
    unimodal in ``g`` with ``b(0) >= 1`` when it first rises, so ``b(g_max) >
    eps_p`` means no degree ``<= g_max`` is certified (docs/theory.md §3).
    """
    check_choice(kind, "polynomial kind", ("auto",) + KINDS)
    cells, width = n_queries * n_keys, n_queries + n_keys
    g_max = -1
    while g_max < MAX_DEGREE and rank(d, g_max + 1) * width < cells:
        g_max += 1
    if g_max < 0:
        return False
    R, eps_p = logit_range(d, B, scale), eps_p_for_output(eps)
    if not math.isfinite(R) or _floor_logs(d, R, n_keys, kind)[g_max] > math.log(eps_p) + 1e-9:
        return False
    cert = least_certified(d, B, eps_p, keys=n_keys, scale=scale, kind=kind)
    return cert is not None and rank(d, cert.degree) * width < cells


# -- the least degree with the kernels' rounding (docs/theory.md §4.6) -----------------


def _kinds(kind: str) -> tuple:
    return KINDS if kind == "auto" else (kind,)


def _approx_logs(R: float, kind: str) -> np.ndarray:
    """Log of the least closed-form approximation bound over the kinds, for every degree ``0..MAX_DEGREE``."""
    return np.min([log_approximation_bounds(k, R) for k in _kinds(kind)], axis=0)


def _floor_logs(d: int, R: float, keys: int, kind: str) -> np.ndarray:
    """Log of a lower bound on certificate plus rounding, for every degree ``0..MAX_DEGREE`` (closed forms only)."""
    return np.logaddexp(_approx_logs(R, kind), log_rounding_floors(d, R, keys, MAX_DEGREE))


def _plausible_degrees(d: int, R: float, eps_p: float, keys: int, kind: str) -> list[int]:
    """Degrees ``<= MAX_DEGREE`` that the closed forms do not rule out for ``eps_p``."""
    if not math.isfinite(R):
        return []
    return [int(g) for g in np.flatnonzero(_floor_logs(d, R, keys, kind) <= math.log(eps_p) + 1e-9)]


@lru_cache(maxsize=4096)
def plan_rounding(d: int, approx: ExpApprox, B: float, scale: float) -> KernelRounding:
    """The kernels' rounding bound for ``approx`` used with head size ``d``, norm ``B`` and ``scale`` (cached)."""
    return kernel_rounding(d, rank(d, approx.degree), approx.coefficients, approx.R, approx.eps_p, B, scale)


def least_certified(d: int, B: float, eps_p: float, *, keys: int = 1, scale=None,
                    kind: str = "auto") -> ExpApprox | None:
    """The polynomial of least degree whose certificate plus the kernels' rounding with ``keys`` keys is ``<= eps_p``.

    ``None`` if no degree up to ``MAX_DEGREE`` is; decided from closed forms,
    without interval arithmetic, where they already rule every degree out. At
    the least degree, ``"auto"`` takes the kind of least total (then the
    first of :data:`~promptlimits.polyapprox.KINDS`). Cached.
    """
    d = check_positive_int(d, "d")
    B = check_real(B, "B", low=0.0)
    eps_p = check_real(eps_p, "eps_p", low=0.0, high=1.0, low_open=True, high_open=True)
    keys = check_positive_int(keys, "keys")
    check_choice(kind, "polynomial kind", ("auto",) + KINDS)
    s = 1.0 / d if scale is None else check_real(scale, "scale", low=0.0, low_open=True)
    return _least_certified(d, B, s, eps_p, keys, kind)


@lru_cache(maxsize=4096)
def _least_certified(d: int, B: float, scale: float, eps_p: float, keys: int, kind: str) -> ExpApprox | None:
    R = logit_range(d, B, scale)
    limit = math.log(eps_p) + 1e-9
    for g in _plausible_degrees(d, R, eps_p, keys, kind):
        best = None
        for k in _kinds(kind):
            if log_approximation_bound(k, g, R) > limit:
                continue
            approx = exp_approximation(R, degree=g, kind=k)
            if approx.eps_p >= eps_p:
                continue
            total = approx.eps_p + plan_rounding(d, approx, B, scale).delta(keys)
            if total <= eps_p and (best is None or total < best[0]):
                best = (total, approx)
        if best is not None:
            return best[1]
    return None


def largest_certifiable_B(d: int, eps_p: float, *, keys: int = 1, scale=None, kind: str = "auto") -> float:
    """An upper bound (from closed forms, to 1e-6 relative) on the largest ``B`` for which ``eps_p`` is certifiable.

    It is the largest ``B`` that :func:`least_certified` does not refuse from
    closed forms alone; the certificates' coefficient rounding makes the true
    largest slightly smaller. For refusal messages and for tests at the edge.
    """
    def plausible(B):
        return bool(_plausible_degrees(d, logit_range(d, B, scale), eps_p, keys, kind))

    if not plausible(0.0):
        return 0.0
    lo, hi = 0.0, 1.0
    while plausible(hi):
        lo, hi = hi, 2.0 * hi
    while hi - lo > 1e-6 * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if plausible(mid) else (lo, mid)
    return hi


def uncertifiable_message(d: int, B: float, eps_p: float, *, keys: int, scale, kind: str, asked: str) -> str:
    """Why ``asked`` (a target, already formatted) cannot be certified at ``B``, and the largest ``B`` that can be."""
    R = logit_range(d, B, scale)
    where = f"for d={d}, B={B:.6g} (logits up to R={R:.6g}) with {keys} key(s)"
    best = largest_certifiable_B(d, eps_p, keys=keys, scale=scale, kind=kind)
    tail = f"; the largest norm certifiable for this target is about B = {best:.4g} (docs/theory.md §4.6)"
    if not math.isfinite(R):
        return f"{asked} cannot be certified {where}: the logit range overflows float64{tail}"
    polynomial = np.flatnonzero(_approx_logs(R, kind) <= math.log(eps_p) + 1e-9)
    if polynomial.size == 0:
        return f"{asked} cannot be certified {where}: no polynomial of degree <= {MAX_DEGREE} meets it{tail}"
    g = int(polynomial[0])
    floor = math.exp(min(log_rounding_floor(keys, rank(d, g), g, R), 700.0))
    if floor > eps_p:
        why = (f"the float64 rounding of the kernels alone exceeds it (at degree {g}, where the polynomial first "
               f"meets it, the rank is {rank(d, g):,} and the rounding at least {floor:.3e})")
    else:
        why = "no degree meets it once the rounding of the coefficients and of the kernels is counted"
    return f"{asked} cannot be certified {where}: {why}{tail}"
