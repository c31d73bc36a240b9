"""The exact-arithmetic frontier of the polynomial method (promptlimits.threshold, docs/theory.md §5.4)."""

import math

import numpy as np
import pytest

from promptlimits.polyapprox import KINDS, MAX_DEGREE, log_approximation_bound
from promptlimits.threshold import (
    convergence_band,
    crossing,
    degree_reach,
    exact_least_degree,
    largest_cheap_degree,
    limit_c_star,
    theorem_regime,
    verify_crossing,
)


def _brute_rank(d, R, eps_p, kinds):
    """C(d+g, g) for the least g any kind certifies at R, by scanning every degree (None if none up to 400)."""
    for g in range(MAX_DEGREE + 1):
        if any(log_approximation_bound(k, g, R) <= math.log(eps_p) for k in kinds):
            return math.comb(d + g, g)
    return None


@pytest.mark.parametrize("log2_n, d, a, kind", [(8, 8, 1.0, "auto"), (20, 20, 1.0, "auto"), (40, 40, 1.0, "auto"),
                                                (16, 8, 1.0, "auto"), (12, 12, 2.0, "auto"),
                                                (24, 24, 1.0, "taylor"), (24, 24, 1.0, "shifted_taylor")])
def test_crossing_matches_a_brute_force_scan_over_R(log2_n, d, a, kind):
    eps = 2.0 ** (-a * log2_n)
    cr = crossing(log2_n, d, eps, kind=kind)
    kinds = KINDS if kind == "auto" else (kind,)
    Rs = np.geomspace(cr.R_star / 3, cr.R_star * 2.9, 801)  # R_star itself is no grid point
    cheap = [(r := _brute_rank(d, R, cr.eps_p, kinds)) is not None and r < 2**log2_n for R in Rs]
    last = max(i for i, c in enumerate(cheap) if c)
    assert all(cheap[: last + 1]) and not any(cheap[last + 1:])  # one crossing: cheap below, dear above
    assert Rs[last] <= cr.R_star < Rs[last + 1]
    assert math.isclose(cr.B_star, math.sqrt(cr.R_star)) and math.isclose(cr.c_star, cr.B_star / math.sqrt(
        log2_n * math.log(2)))
    assert verify_crossing(cr)


def test_verify_refuses_a_crossing_moved_off_the_root():
    cr = crossing(24, 24, 2.0**-24)
    assert not verify_crossing(cr._replace(R_star=cr.R_star * 1.01))
    assert not verify_crossing(cr._replace(R_star=cr.R_star * 0.99))


@pytest.mark.parametrize("log2_n, d", [(8, 8), (17, 3), (64, 64), (10.5, 10)])
def test_largest_cheap_degree_by_definition(log2_n, d):
    g = largest_cheap_degree(log2_n, d)
    assert math.comb(d + g, g) < 2**log2_n <= math.comb(d + g + 1, g + 1)


def test_largest_cheap_degree_beyond_the_certificates():
    assert largest_cheap_degree(20, 1) is None  # C(1+g, g) = g+1 < 2^20 up to g ~ 10^6
    assert crossing(20, 1, 2.0**-20) is None


def test_degree_reach_is_the_root_of_the_winning_bound():
    eps_p = 1e-9
    R, kind = degree_reach(12, eps_p)
    assert math.isclose(log_approximation_bound(kind, 12, R), math.log(eps_p), rel_tol=1e-12)
    for k in KINDS:
        assert log_approximation_bound(k, 12, R * (1 + 1e-9)) > math.log(eps_p)  # no kind reaches further
    assert exact_least_degree(R * (1 - 1e-9), eps_p) <= 12 < exact_least_degree(R * (1 + 1e-9), eps_p)


def test_least_degree_grows_with_R():
    gs = [exact_least_degree(R, 1e-12) for R in np.linspace(0, 20, 81)]
    assert gs[0] == 0 and gs == sorted(gs)


def test_c_star_falls_towards_its_leading_order_limit():
    limit = limit_c_star()
    cs = [crossing(k, *theorem_regime(k)).c_star for k in (64, 128, 256, 512, 1024)]
    assert cs == sorted(cs, reverse=True) and cs[-1] > limit
    assert (cs[-1] - limit) / limit < 0.03
    assert limit_c_star(c=2.0) < limit and limit_c_star(a=2.0) < limit  # a wider rank or a finer target: lower


def test_theorem_regime_and_bad_input():
    assert theorem_regime(20) == (20, 2.0**-20)
    assert theorem_regime(10.5, c=2.0, a=0.5) == (21, 2.0**-5.25)
    for bad in (0.5, 2000.0, math.nan):
        with pytest.raises(ValueError, match="log2 n must"):
            theorem_regime(bad)
    with pytest.raises(ValueError, match="underflows float64"):
        theorem_regime(1000, a=2.0)
    with pytest.raises(ValueError, match="polynomial kind"):
        crossing(20, 20, 1e-6, kind="bessel")


# ----------------------------------------------------------------------------- the convergence band (§5.5)
def _limit_mp(delta):
    """(beta_inf, kappa_inf^2) for the Chebyshev certificate and eps = 1/n, solved afresh in mpmath."""
    from mpmath import e, findroot, log, mpf

    beta = findroot(lambda b: (delta + b) * log(delta + b) - delta * log(delta) - b * log(b) - 1, mpf("0.4"))
    k2 = findroot(lambda k: 2 * k + beta * log(e * k / (2 * beta)) + 1, mpf("0.03"))
    return beta, k2


def _smooth_c(L, theta, phi, delta, guess):
    """c(n) of the smooth model: the rank and the Chebyshev bound with log-Gamma for the factorials (no Stirling),
    g_max + 1 = x + 1 - theta where C(d+x, x) = n exactly, d = delta L + phi (docs/theory.md §5.5)."""
    from mpmath import findroot, log, loggamma, mpf, sqrt

    L = mpf(L)
    d = delta * L + phi
    x = findroot(lambda x: loggamma(d + x + 1) - loggamma(d + 1) - loggamma(x + 1) - L, guess[0] * L)
    m = x + 1 - theta
    R = findroot(lambda R: log(2) + 2 * R + m * log(R / 2) - loggamma(m + 1) + L, guess[1] * L)
    return sqrt(R / L)


def test_band_constants_match_an_independent_smooth_model():
    """c_inf, C1, D_hi and D_lo against the exact smooth model at L = 1e6, 1e7 (second-order terms ~ 1e-3)."""
    from mpmath import log, mp, sqrt

    band = convergence_band()
    saved, mp.dps = mp.dps, 40
    try:
        delta = 1 / log(2)
        beta, k2 = _limit_mp(delta)
        c_inf = sqrt(k2)
        assert band.kind == "chebyshev" and math.isclose(band.c_inf, float(c_inf), rel_tol=1e-12)
        assert math.isclose(band.beta_inf, float(beta), rel_tol=1e-12)

        def uL(L, theta, phi):
            return (_smooth_c(L, theta, phi, delta, (beta, k2)) / c_inf - 1) * L

        L1, L2 = 10**6, 10**7
        C1 = (uL(L2, 0, 0) - uL(L1, 0, 0)) / log(mp.mpf(L2) / L1)
        assert abs(float(C1) - band.C1) < 0.01
        assert abs(float(uL(L2, 0, 0) - band.C1 * log(L2)) - band.D_hi) < 0.01
        assert abs(float(uL(L2, 1, 1) - band.C1 * log(L2)) - band.D_lo) < 0.01
    finally:
        mp.dps = saved
    assert band.C == pytest.approx(band.C1 + band.D_hi / math.log(8 * math.log(2)))
    assert band.lower(8) == 1.0 and band.upper(8) == pytest.approx(1 + band.C * math.log(8 * math.log(2)) / (
        8 * math.log(2)))


@pytest.mark.parametrize("k", [8, 9, 10, 11, 64, 65, 300, 1023, 1024])
def test_band_holds_on_the_theorem_crossings(k):
    band = convergence_band()
    ratio = crossing(k, *theorem_regime(k)).c_star / band.c_inf
    assert band.lower(k) <= ratio <= band.upper(k)


def test_band_for_other_regimes_and_bad_input():
    b2 = convergence_band(c=2.0)
    assert b2.c_inf == pytest.approx(limit_c_star(c=2.0)) and b2.C1 > 0 and b2.D_lo < b2.D_hi
    ratio = crossing(40, *theorem_regime(40, c=2.0)).c_star / b2.c_inf
    assert b2.lower(40) <= ratio <= b2.upper(40)
    with pytest.raises(ValueError, match="log2 n0 must"):
        convergence_band(log2_n0=1.0)
    with pytest.raises(ValueError, match="c must"):
        convergence_band(c=0.0)
