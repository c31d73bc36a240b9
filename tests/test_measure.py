"""promptlimits.measure: the best-of-k timer's bookkeeping and the log-log slope (no timing asserted)."""

import math

import numpy as np
import pytest

from promptlimits.measure import best_time, loglog_slope


def test_best_time_calls_repeats_times_and_returns_the_last_result():
    calls = []
    t = best_time(lambda: calls.append(len(calls)) or len(calls), 4)
    assert t.calls == 4 and len(calls) == 4 and t.result == 4
    assert 0 <= t.seconds < math.inf


def test_best_time_budget_stops_after_the_call_that_exceeds_it():
    calls = []
    t = best_time(lambda: calls.append(1), 50, budget=0.0)  # any call takes > 0 s
    assert t.calls == 1 and len(calls) == 1
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        best_time(lambda: None, 0)
    with pytest.raises(ValueError, match="budget must be finite and >= 0"):
        best_time(lambda: None, 1, budget=-1.0)


def test_loglog_slope_recovers_power_laws_and_skips_unmeasured_points():
    n = np.array([2.0**k for k in range(4, 12)])
    assert loglog_slope(n, 3.0 * n**1.7) == pytest.approx(1.7, rel=1e-12)
    t = 0.5 * n**2
    t[[1, 4]] = np.nan  # not measured
    t[2] = 0.0  # not measured either
    assert loglog_slope(n, t) == pytest.approx(2.0, rel=1e-12)
    assert math.isnan(loglog_slope([4, 8], [1.0, math.nan]))
    assert math.isnan(loglog_slope([4, 4], [1.0, 2.0]))
    with pytest.raises(ValueError, match="same length"):
        loglog_slope([1, 2, 3], [1, 2])


def test_best_time_measures_with_the_clock_it_is_given():
    ticks = iter([0.0, 5.0, 10.0, 12.0, 20.0, 29.0])  # calls of 5, 2 and 9 units on this clock
    t = best_time(lambda: None, 3, clock=lambda: next(ticks))
    assert (t.seconds, t.calls) == (2.0, 3)
