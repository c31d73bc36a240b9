"""promptlimits._checks: scalar checks name the argument and the allowed range."""

import math

import numpy as np
import pytest

from promptlimits._checks import check_positive_float, check_positive_int, check_real


def test_check_real_accepts_the_interval_and_returns_a_float():
    assert check_real(np.float32(0.5), "x", low=0.0, high=1.0, low_open=True, high_open=True) == 0.5
    assert type(check_real(3, "x")) is float
    assert check_real(0.0, "x", low=0.0) == 0.0 and check_real(1.0, "x", high=1.0) == 1.0


@pytest.mark.parametrize("value, kw, message", [
    (0.0, {"low": 0.0, "high": 1.0, "low_open": True, "high_open": True}, r"eps must lie in \(0, 1\), got 0.0"),
    (1.0, {"low": 0.0, "high": 1.0, "low_open": True, "high_open": True}, r"eps must lie in \(0, 1\), got 1.0"),
    (2.0, {"low": 0.0, "high": 1.0}, r"eps must lie in \[0, 1\], got 2.0"),
    (-1.0, {"low": 0.0}, r"eps must be finite and >= 0, got -1.0"),
    (2.0, {"low": 2.0, "low_open": True}, r"eps must be finite and > 2, got 2.0"),
    (5.0, {"high": 4.0, "high_open": True}, r"eps must be finite and < 4, got 5.0"),
    (math.nan, {}, r"eps must be finite, got nan"),
    (math.inf, {"low": 0.0}, r"eps must be finite and >= 0, got inf"),
])
def test_check_real_names_the_argument_and_the_range(value, kw, message):
    with pytest.raises(ValueError, match=message):
        check_real(value, "eps", **kw)


@pytest.mark.parametrize("value", [True, "0.5", None, np.array([0.5])])
def test_check_real_refuses_non_numbers(value):
    with pytest.raises(TypeError, match="eps must be a real number"):
        check_real(value, "eps")


def test_int_and_positive_float_checks():
    assert check_positive_int(np.int64(7), "g", minimum=0, maximum=7) == 7
    with pytest.raises(ValueError, match="degree must be <= 400, got 401"):
        check_positive_int(401, "degree", minimum=0, maximum=400)
    with pytest.raises(ValueError, match="rho must be finite and > 0, got 0"):
        check_positive_float(0, "rho")
    assert check_positive_float(0, "rho", allow_zero=True) == 0.0
