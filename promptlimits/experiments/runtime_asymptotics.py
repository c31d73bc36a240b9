"""The deterministic half of the runtime claim: ``log_n r*`` as ``n`` grows to ``2^1024`` (docs/theory.md §5.5).

In the theorem's regime ``d = ceil(log2 n)``, ``eps = 1/n`` (``eps_p =
4 eps / (4 + eps^2)``, docs/theory.md §4.2) the polynomial method costs
``n^(1 + e(n))`` with ``e(n) = log_n r*``, ``r* = C(d + g*, g*)`` and ``g*`` the
least degree whose closed-form certificate (docs/theory.md §3.3-§3.5, exact
arithmetic, no rounding term; as ``promptlimits.threshold``) meets ``eps_p`` on
``[-R, R]``, ``R = B^2``. The theorem's ``n^(1+o(1))`` is ``e(n) -> 0``, which it
promises for ``B = o(sqrt(log n))``. Three norm schedules are computed:

* ``B = 1`` and ``B = sqrt(ln n)/ln ln n``: both ``o(sqrt(log n))``;
* ``B = kappa sqrt(ln n)`` (fixed ``kappa``): ``Theta(sqrt(log n))``, where ``e(n)``
  tends to the positive leading-order limit :func:`limit_exponent` -- the
  negative control.

Every degree is decided with ``mpmath`` interval arithmetic (the bound is
evaluated in logs, so nothing overflows at ``n = 2^1024``, where ``r*`` has
hundreds of digits): ``g*`` is certified and ``g* - 1`` is not, for every kind
(a certified degree lies on the falling side of each kind's unimodal bound,
docs/theory.md §5.4, so no lower degree is certified). The degree is not capped
at ``MAX_DEGREE``: only the closed forms are evaluated, never a polynomial.
"""

from __future__ import annotations

import copy
import math
from functools import lru_cache

from scipy.optimize import brentq
from scipy.special import gammaln

__all__ = ["SCHEDULES", "CONTROLS", "RULE_GRID", "schedule_R", "least_degree", "rank_exponent", "limit_exponent",
           "exponent_table", "decreasing_rule", "asymptotic_verdict"]

KINDS = ("taylor", "shifted_taylor", "chebyshev")

#: The ``o(sqrt(log n))`` schedules the rule is applied to, and the fixed-``kappa`` controls.
SCHEDULES = ("B=1", "B=sqrt(ln n)/ln ln n")
CONTROLS = ("kappa=0.1", "kappa=0.15")

#: The rule's grid: ``log2 n = 16, 32, ..., 1024`` (each step doubles ``ln n``).
RULE_GRID = (16, 32, 64, 128, 256, 512, 1024)


def _check_schedule(name: str) -> str:
    if name in SCHEDULES:
        return name
    if name.startswith("kappa="):
        try:
            kappa = float(name[6:])
        except ValueError:
            kappa = math.nan
        if math.isfinite(kappa) and kappa > 0:
            return name
    raise ValueError(f"unknown norm schedule {name!r}: use one of {SCHEDULES} or 'kappa=<positive number>'")


def schedule_R(name: str, log2_n: int, ctx):
    """``R = B^2`` of schedule ``name`` at ``n = 2^log2_n``, as an interval of the ``mpmath`` context ``ctx``."""
    _check_schedule(name)
    L = log2_n * ctx.log(2)
    if name == "B=1":
        return ctx.mpf(1)
    if name == "B=sqrt(ln n)/ln ln n":
        return L / ctx.log(L) ** 2
    return ctx.mpf(name[6:]) ** 2 * L


def _log_bound(kind: str, g: int, R, ctx):
    """Log of the kind's closed-form bound at degree ``g`` on ``[-R, R]`` (docs/theory.md §3.3-§3.5)."""
    lf = ctx.log(ctx.mpf(math.factorial(g + 1)))
    if kind == "taylor":
        return R + (g + 1) * ctx.log(R) - lf
    if kind == "shifted_taylor":
        return (g + 1) * ctx.log(2 * R) - lf
    return ctx.log(2) + 2 * R + (g + 1) * ctx.log(R / 2) - lf


def _float_log_bound(kind: str, g: int, R: float) -> float:
    lf = float(gammaln(g + 2))
    if kind == "taylor":
        return R + (g + 1) * math.log(R) - lf
    if kind == "shifted_taylor":
        return (g + 1) * math.log(2 * R) - lf
    return math.log(2) + 2 * R + (g + 1) * math.log(R / 2) - lf


def least_degree(name: str, log2_n: int) -> int:
    """``g*`` of schedule ``name`` at ``n = 2^log2_n`` for ``eps = 1/n``, decided in interval arithmetic."""
    from mpmath import iv

    log2_n = int(log2_n)
    if not 2 <= log2_n <= 1024:
        raise ValueError(f"log2 n must lie in [2, 1024] (eps = 1/n a positive float), got {log2_n}")
    saved, iv.dps = iv.dps, 40
    try:
        R = schedule_R(name, log2_n, iv)
        eps = iv.mpf(2) ** (-log2_n)
        log_eps_p = iv.log(4 * eps / (4 + eps * eps))
        Rf, target = float(R.mid), float(log_eps_p.mid)
        g = 0
        while min(_float_log_bound(k, g, Rf) for k in KINDS) > target:
            g += 1

        def certified(h):  # True / False decided by the intervals, None if they overlap
            bounds = [_log_bound(k, h, R, iv) for k in KINDS]
            if any(b.b < log_eps_p.a for b in bounds):
                return True
            if all(b.a > log_eps_p.b for b in bounds):
                return False
            return None

        while certified(g) is not True:  # the float scan may sit one below
            if certified(g) is None:
                raise ValueError(f"{name} at n = 2^{log2_n}: degree {g} is too close to the target to decide")
            g += 1
        while g > 0 and certified(g - 1) is not False:
            if certified(g - 1) is None:
                raise ValueError(f"{name} at n = 2^{log2_n}: degree {g - 1} is too close to the target to decide")
            g -= 1
        return g
    finally:
        iv.dps = saved


def rank_exponent(name: str, log2_n: int) -> tuple[int, int, float]:
    """``(g*, d, log_n r*)`` of schedule ``name`` at ``n = 2^log2_n`` (``d = log2 n``; ``r*`` an exact integer)."""
    from mpmath import mp

    g = least_degree(name, log2_n)
    d = int(log2_n)
    r = math.comb(d + g, g)
    return g, d, float(mp.log(r, 2) / d)


def _beta(kind: str, kappa2: float) -> float:
    """Least ``beta = g / ln n`` whose leading-order log bound per ``ln n`` is ``-1`` at ``R = kappa2 ln n``."""
    lead = {"taylor": (kappa2, 1.0), "shifted_taylor": (0.0, 2.0), "chebyshev": (2 * kappa2, 0.5)}[kind]

    def f(beta):  # decreasing for beta > C kappa2
        return lead[0] + beta * math.log(math.e * lead[1] * kappa2 / beta) + 1.0

    lo = lead[1] * kappa2
    hi = max(2 * lo, 1.0)
    while f(hi) > 0:
        hi *= 2
    return brentq(f, lo, hi, xtol=1e-15)


def limit_exponent(kappa: float) -> float:
    """Leading-order limit of ``log_n r*`` at ``B = kappa sqrt(ln n)``: ``h(beta(kappa))`` (docs/theory.md §5.2).

    With ``L = ln n``, ``d = L/ln 2``, ``g = beta L``: ``ln C(d+g, g)/L ->
    h(beta) = (delta+beta) ln(delta+beta) - delta ln delta - beta ln beta``
    (``delta = 1/ln 2``), ``beta`` the least over the kinds solving the
    leading-order certificate ``= -1`` (``eps = 1/n``). Positive for every
    ``kappa > 0``.
    """
    if not (math.isfinite(kappa) and kappa > 0):
        raise ValueError(f"kappa must be finite and > 0, got {kappa}")
    delta = 1.0 / math.log(2)
    beta = min(_beta(k, kappa * kappa) for k in KINDS)
    return (delta + beta) * math.log(delta + beta) - delta * math.log(delta) - beta * math.log(beta)


def exponent_table(names=SCHEDULES + CONTROLS, grid=RULE_GRID) -> dict:
    """``{name: {"log2_n": [...], "degree": [...], "exponent": [log_n r*]}}`` on ``grid`` (cached; a fresh copy)."""
    return copy.deepcopy(_exponent_table(tuple(names), tuple(int(k) for k in grid)))


@lru_cache(maxsize=16)
def _exponent_table(names: tuple, grid: tuple) -> dict:
    out = {}
    for name in names:
        rows = [rank_exponent(name, k) for k in grid]
        out[name] = {"log2_n": [int(k) for k in grid], "degree": [g for g, _, _ in rows],
                     "exponent": [e for _, _, e in rows]}
        if name.startswith("kappa="):
            out[name]["limit"] = limit_exponent(float(name[6:]))
    return out


def decreasing_rule(exponents) -> bool:
    """The ``o(sqrt(log n))`` rule: ``log_n r*`` strictly decreases at every step of the grid."""
    e = list(exponents)
    if len(e) < 2:
        raise ValueError("the rule needs at least 2 sizes")
    return all(b < a for a, b in zip(e, e[1:]))


def asymptotic_verdict(table: dict) -> dict:
    """Apply :func:`decreasing_rule` to every schedule and control of ``table`` (:func:`exponent_table`).

    ``status``: ``consistent`` when every ``o(sqrt(log n))`` schedule passes and
    every fixed-``kappa`` control fails; ``not consistent`` when a schedule
    fails; ``vacuous`` when a control passes too (the rule then cannot tell the
    regimes apart).
    """
    from .verdict import CONSISTENT, NOT_CONSISTENT, VACUOUS

    passed = {name: decreasing_rule(v["exponent"]) for name, v in table.items()}
    schedules = [n for n in table if not n.startswith("kappa=")]
    controls = [n for n in table if n.startswith("kappa=")]
    if not schedules or not controls:
        raise ValueError("the asymptotic rule needs at least one o(sqrt(log n)) schedule and one control")
    if not all(passed[n] for n in schedules):
        status = NOT_CONSISTENT
    elif any(passed[n] for n in controls):
        status = VACUOUS
    else:
        status = CONSISTENT
    return {"status": status, "passed": passed}
