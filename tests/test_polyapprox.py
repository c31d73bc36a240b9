"""Certified polynomial approximations of exp (promptlimits.polyapprox) against mpmath."""

import math

import mpmath
import numpy as np
import pytest

from promptlimits.polyapprox import (
    KINDS,
    certified_eps,
    exp_approximation,
    least_degree,
    monomial_coefficients,
)


def _true_relative_error(coeffs, R, points=801):
    """sup over a fine grid of |p(x) - e^x| / e^x, with p evaluated exactly at 50 digits."""
    with mpmath.workdps(50):
        cs = [mpmath.mpf(float(c)) for c in coeffs]
        worst = mpmath.mpf(0)
        over = mpmath.mpf(0)
        for k in range(points):
            x = mpmath.mpf(-R) + mpmath.mpf(2 * R) * k / (points - 1)
            p = mpmath.polyval(cs[::-1], x)
            e = mpmath.exp(x)
            worst = max(worst, abs(p - e) / e)
            over = max(over, (p - e) / e)
        return float(worst), float(over)


CASES = [(0.1, 0), (0.1, 3), (0.25, 4), (0.5, 2), (0.5, 6), (1.0, 5), (1.0, 9), (3.0, 12), (3.0, 20), (8.0, 30)]


@pytest.mark.parametrize("R,g", CASES)
@pytest.mark.parametrize("kind", KINDS)
def test_certificate_bounds_true_error(kind, R, g):
    c = monomial_coefficients(kind, g, R)
    assert c.shape == (g + 1,) and c.dtype == np.float64
    err, over = _true_relative_error(c, R)
    cert = certified_eps(kind, g, R)
    assert err <= cert, (kind, R, g, err, cert)
    if kind == "shifted_taylor":
        # the exact shifted Taylor polynomial never overshoots e^x; the float64 one
        # only by coefficient rounding
        assert over <= 4 * 2.0**-53 * math.exp(2 * R)
    # the certificates are not absurdly loose where they are meaningful
    if cert < 1e-3 and kind == "chebyshev":
        assert err > cert / (20 * math.exp(2 * R))


def test_closed_forms():
    R, g = 0.5, 5
    assert certified_eps("shifted_taylor", g, R) == pytest.approx((2 * R) ** (g + 1) / math.factorial(g + 1), rel=1e-9)
    assert certified_eps("taylor", g, R) == pytest.approx(math.exp(R) * R ** (g + 1) / math.factorial(g + 1), rel=1e-9)
    cheb = 2 * math.exp(2 * R) * (R / 2) ** (g + 1) / math.factorial(g + 1)
    assert certified_eps("chebyshev", g, R) == pytest.approx(cheb, rel=1e-9)
    np.testing.assert_array_equal(monomial_coefficients("taylor", 4, 1.0), [1 / math.factorial(j) for j in range(5)])


@pytest.mark.parametrize("R", [0.0, 0.0625, 0.25, 1.0, 4.0])
@pytest.mark.parametrize("eps", [1e-3, 1e-6, 1e-10])
def test_least_degree_is_least(R, eps):
    for kind in KINDS:
        g = least_degree(R, eps, kind)
        assert certified_eps(kind, g, R) <= eps
        if g > 0:
            assert certified_eps(kind, g - 1, R) > eps
    a = exp_approximation(R, eps_p=eps)
    assert a.degree == min(least_degree(R, eps, k) for k in KINDS) == least_degree(R, eps)
    assert a.eps_p <= eps


def test_zero_range_is_exact():
    a = exp_approximation(0.0, eps_p=1e-12)
    assert a.degree == 0 and a.eps_p == 0.0 and a.coefficients[0] == 1.0


def test_errors():
    with pytest.raises(ValueError, match="eps_p=.*above the eps_p=1.000e-06"):
        exp_approximation(1.0, eps_p=1e-6, degree=3)
    with pytest.raises(ValueError, match="cannot be certified"):
        least_degree(20.0, 1e-6)
    with pytest.raises(ValueError, match="eps_p must lie in"):
        least_degree(1.0, 1.5)
    with pytest.raises(ValueError, match="unknown polynomial kind"):
        certified_eps("pade", 3, 1.0)
    with pytest.raises(ValueError, match="R must be finite"):
        certified_eps("taylor", 3, -1.0)
    with pytest.raises(ValueError, match="degree must be >= 0"):
        certified_eps("taylor", -1, 1.0)


@pytest.mark.parametrize("g, R", [(1, 0.5), (6, 2.0), (17, 9.3), (40, 39.1), (64, 520.0)])
def test_chebyshev_intervals_agree_with_ivs_operators(g, R):
    """The coefficient intervals (endpoint-pair sums, cosines by symmetry) and those of mpmath.iv's operators
    with one iv.cos per cosine both enclose the exact coefficients: every pair overlaps, the widths are alike,
    and the float64 coefficients (the midpoints, rounded) are the same."""
    from mpmath import iv
    from naive import naive_chebyshev_coefficient_intervals

    from promptlimits.polyapprox import _exact_coefficients_interval

    saved = iv.prec
    try:
        iv.dps = 40 + g + int(R)
        got = _exact_coefficients_interval("chebyshev", g, R)
        want = naive_chebyshev_coefficient_intervals(g, R)
    finally:
        iv.prec = saved
    assert len(got) == len(want) == g + 1
    assert all(x.a <= y.b and y.a <= x.b for x, y in zip(got, want))  # both hold the exact coefficient
    assert all(x.delta <= 4 * y.delta and y.delta <= 4 * x.delta for x, y in zip(got, want) if y.delta > 0)
    assert [float(x.mid) for x in got] == [float(y.mid) for y in want]
    assert any(x.delta > 0 for x in got)  # real intervals: the comparison compares endpoints


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("g, R", [(2, 0.0625), (7, 1.0), (12, 0.25), (15, 4.0), (24, 30.0)])
def test_coefficients_are_the_exact_ones_rounded_to_nearest(kind, g, R):
    """The float64 coefficients are the exact coefficients of the kind's polynomial rounded to nearest (mpmath at
    a precision far above the certificate's, without intervals; at these (g, R) every interval is far narrower
    than an ulp); for chebyshev at an even degree the interpolant passes through (0, 1), so c_0 is exactly 1.
    Rounding toward zero, as the code once did, fails 14 of these 15 cases."""
    from mpmath import mp, mpf

    from promptlimits.polyapprox import _chebyshev_monomial_table, exp_approximation

    got = exp_approximation(R, degree=g, kind=kind).coefficients
    n = g + 1
    with mp.workdps(200 + g + int(R)):
        Rm = mpf(R)
        if kind == "taylor":
            exact = [1 / mp.factorial(j) for j in range(n)]
        elif kind == "shifted_taylor":  # the Taylor polynomial of e^(x+R) at 0, times e^-R
            exact = [mp.exp(-Rm) / mp.factorial(j) * sum(Rm**m / mp.factorial(m) for m in range(g - j + 1))
                     for j in range(n)]
        else:  # interpolation at the Chebyshev nodes of [-R, R], in the monomial basis of x
            ys = [mp.cos(mp.pi * (2 * k + 1) / (2 * n)) for k in range(n)]
            a = [2 * sum(mp.exp(Rm * y) * mp.chebyt(m, y) for y in ys) / n for m in range(n)]
            a[0] /= 2
            table = _chebyshev_monomial_table(g)
            exact = [sum(a[m] * table[m][j] for m in range(j, n) if j < len(table[m])) / Rm**j for j in range(n)]
        want = [float(c) for c in exact]  # mpmath rounds to nearest
    assert got.tolist() == want
    if kind == "chebyshev" and g % 2 == 0:
        assert got[0] == 1.0


@pytest.mark.parametrize("n", [1, 2, 5, 8, 17, 65])
def test_chebyshev_cosines_enclose_the_cosines(n):
    """Every entry of the cosine table (one cos_sin per angle up to pi/4, the rest by symmetry) holds
    cos(pi t / (2n)) computed at four times the precision, and is as narrow as the precision allows."""
    from mpmath import iv, libmp, mp, mpf

    from promptlimits.polyapprox import _chebyshev_cosines

    prec = 200
    table = _chebyshev_cosines(n, prec)
    assert len(table) == 4 * n
    with mp.workprec(4 * prec):
        for t, (lo, hi) in enumerate(table):
            exact = mp.cospi(mpf(t) / (2 * n))
            assert mpf(lo) <= exact <= mpf(hi), (n, t)
            assert mpf(hi) - mpf(lo) <= mpf(2) ** (8 - prec), (n, t)
    saved = iv.prec
    try:
        iv.prec = prec
        direct = [iv.cos(iv.pi * t / (2 * n))._mpi_ for t in range(n // 2 + 1)]
    finally:
        iv.prec = saved
    assert table[: n // 2 + 1] == direct  # the angles up to pi/4 are iv.cos's own intervals
    assert libmp.mpf_eq(table[n][0], libmp.fzero) and libmp.mpf_eq(table[n][1], libmp.fzero)  # cos(pi/2) = 0
