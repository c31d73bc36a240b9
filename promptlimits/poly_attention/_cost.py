"""The cost model of the polynomial method: certified degree, rank, cost against ``n`` (docs/theory.md §5).

One chain, used by every experiment, the model's ``"auto"`` backend and the
figures: for a head size ``d``, a norm bound ``B`` (logits in ``[-R, R]``,
``R = s d B^2``) and an attention-output target ``eps``,

    eps_p = eps_p_for_output(eps)                          (docs/theory.md §4)
    g*    = least degree whose certified eps_p(g) <= eps_p  (docs/theory.md §3)
    r*    = C(d + g*, g*)                                   (feature width)

and the polynomial method, ``O(n r* d)``, beats exact attention, ``O(n^2 d)``,
when ``r*/n < 1``. The frontier ``B*(n)`` is the largest ``B`` with ``r* < n``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

from .._checks import check_choice, check_positive_int, check_real
from ..features import rank
from ..polyapprox import KINDS, MAX_DEGREE, ExpApprox, exp_approximation, log_approximation_bound
from ._error import eps_p_for_output

__all__ = ["logit_range", "certificate", "certified_degree", "least_rank", "least_cost", "Cost", "frontier_B",
           "poly_pays"]


def logit_range(d: int, B: float, scale=None) -> float:
    """``R = scale d B^2``, the largest ``|s q.k|`` when ``||Q||max, ||K||max <= B``; ``B^2`` for the default ``1/d``."""
    return B * B if scale is None else scale * d * B * B


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
    """:class:`Cost` of the least certified degree for the output target ``eps``; ``None`` if not certifiable."""
    cert = certificate(logit_range(d, B, scale), eps_p_for_output(eps), kind)
    if cert is None:
        return None
    r = rank(d, cert.degree)
    return Cost(cert.kind, cert.degree, cert.eps_p, r, r / n)


def least_rank(d: int, B: float, *, eps: float, scale=None, kind: str = "auto") -> int | None:
    """Rank ``C(d+g*, g*)`` of the least degree certified for the output target ``eps``; ``None`` if none is."""
    g = certified_degree(logit_range(d, B, scale), eps_p_for_output(eps), kind)
    return None if g is None else rank(d, g)


@lru_cache(maxsize=256)
def frontier_B(n: int, *, d: int, eps: float, kind: str = "auto", scale=None, B_max: float = 4.0) -> float:
    """Largest ``B`` (bisection to 1e-3) whose least certified rank is below ``n``; 0 if none, ``B_max`` if all.

    The cost rule is ``r* < n`` (:func:`least_rank` for the output target
    ``eps``). Bisection assumes that ``r*`` does not decrease as ``B`` grows
    (a wider logit range never needs a lower degree); the result is the last
    ``B`` known to satisfy the rule, within 1e-3 of the crossing. Cached.
    """
    n = check_positive_int(n, "n")
    B_max = check_real(B_max, "B_max", low=1e-3, low_open=True)

    def cheap(B):
        r = least_rank(d, B, eps=eps, scale=scale, kind=kind)
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
    kinds = KINDS if kind == "auto" else (kind,)
    if all(log_approximation_bound(k, g_max, R) > math.log(eps_p) + 1e-6 for k in kinds):
        return False
    g = certified_degree(R, eps_p, kind)
    return g is not None and rank(d, g) * width < cells
