"""Timing and scaling helpers shared by the experiments, benchmarks, figures and report.

:func:`best_time` is the best-of-k wall-clock timer (the minimum is the least
noisy estimate on a shared machine: noise only adds time); :func:`loglog_slope`
is the least-squares exponent ``a`` in ``t ~ n^a``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ._checks import check_positive_int, check_real

__all__ = ["Timing", "best_time", "loglog_slope"]


class Timing(NamedTuple):
    """Best wall time of the calls made, their number, and the last call's return value."""

    seconds: float
    calls: int
    result: Any


def best_time(fn: Callable[[], Any], repeats: int, *, budget: float | None = None,
              clock: Callable[[], float] = time.perf_counter) -> Timing:
    """Call ``fn()`` up to ``repeats`` times and keep the shortest time.

    With ``budget`` (wall seconds), stop after the call that brings the total
    wall time spent above it (at least one call is always made). ``clock`` is
    what a call is measured with: wall time by default; ``time.process_time``
    counts this process's CPU time instead, which on a machine shared with
    other work measures the work done rather than the time spent waiting for a
    core. Warm up (compile, load caches) before calling this: every call counts.
    """
    repeats = check_positive_int(repeats, "repeats")
    if budget is not None:
        budget = check_real(budget, "budget", low=0.0)
    best, spent, calls, out = math.inf, 0.0, 0, None
    while calls < repeats:
        w0, t0 = time.perf_counter(), clock()
        out = fn()
        dt, dw = clock() - t0, time.perf_counter() - w0
        best, spent, calls = min(best, dt), spent + dw, calls + 1
        if budget is not None and spent > budget:
            break
    return Timing(best, calls, out)


def loglog_slope(x, y) -> float:
    """Least-squares slope of ``log y`` against ``log x``: ``a`` in ``y ~ x^a``.

    Points whose ``x`` or ``y`` is not finite and positive are left out (an
    unmeasured size is recorded as ``nan``); ``nan`` if fewer than two points
    remain or all remaining ``x`` are equal.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of the same length, got shapes {x.shape} and {y.shape}")
    ok = np.isfinite(x) & (x > 0) & np.isfinite(y) & (y > 0)
    if ok.sum() < 2 or np.ptp(x[ok]) == 0:
        return math.nan
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])
