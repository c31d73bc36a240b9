"""The error conversion and the cost model of promptlimits.poly_attention (docs/theory.md §4, §5)."""

import math
from fractions import Fraction

import numpy as np
import pytest
from naive import naive_sharp_output_eps

from promptlimits.features import rank
from promptlimits.poly_attention import (
    DEFAULT_EPS,
    certificate,
    eps_p_for_output,
    frontier_B,
    largest_certifiable_B,
    least_certified,
    least_cost,
    least_rank,
    logit_range,
    make_plan,
    output_eps_for_eps_p,
    poly_pays,
)
from promptlimits.polyapprox import least_degree

EPS_P = [1e-12, 3e-9, 1e-6, 2.5e-4, 1e-2, 0.1, 0.5, 0.9]


# --- one error conversion -----------------------------------------------------


@pytest.mark.parametrize("e", EPS_P)
def test_conversion_is_the_sharp_constant_and_round_trips(e):
    assert abs(output_eps_for_eps_p(e) / naive_sharp_output_eps(e) - 1) <= 4 * 2.0**-52
    inverse = 4 * Fraction(e) / (4 + Fraction(e) ** 2)  # 4 eps / (4 + eps^2) in exact rationals
    assert abs(Fraction(eps_p_for_output(e)) - inverse) <= 2 * 2.0**-52 * inverse
    assert eps_p_for_output(output_eps_for_eps_p(e)) == pytest.approx(e, rel=8e-16)
    assert output_eps_for_eps_p(eps_p_for_output(e)) == pytest.approx(e, rel=8e-16)


def test_conversion_is_increasing_below_the_old_constant_and_works_on_arrays():
    x = np.geomspace(1e-12, 0.999, 500)
    F = output_eps_for_eps_p(x)
    assert np.all(np.diff(F) > 0) and np.all(F < 2)
    assert np.all(F <= 2 * x / (1 - x)) and np.all(F >= x)  # between eps_p and the replaced 2 eps_p/(1-eps_p)
    np.testing.assert_allclose(eps_p_for_output(F), x, rtol=1e-14)
    assert [output_eps_for_eps_p(v) for v in x[::50]] == list(F[::50])  # the scalar path is the array path


# --- which error make_plan is given ---------------------------------------------


def test_make_plan_converts_eps_once_and_records_what_was_asked():
    eps = 3e-5
    by_eps = make_plan(4, 0.7, eps=eps)
    by_eps_p = make_plan(4, 0.7, eps_p=eps_p_for_output(eps))
    assert (by_eps.kind, by_eps.degree) == (by_eps_p.kind, by_eps_p.degree)
    np.testing.assert_array_equal(by_eps.approx.coefficients, by_eps_p.approx.coefficients)
    assert (by_eps.eps, by_eps.eps_p_target) == (eps, eps_p_for_output(eps))
    assert (by_eps_p.eps, by_eps_p.eps_p_target) == (None, eps_p_for_output(eps))
    V = np.random.default_rng(0).normal(size=(7, 3))
    assert by_eps.output_bound(V) <= eps * np.abs(V).max()  # what eps promises
    fixed = make_plan(4, 0.7, degree=3)
    assert (fixed.eps, fixed.eps_p_target, fixed.degree) == (None, None, 3)
    assert make_plan(4, 0.7).eps == DEFAULT_EPS


def test_make_plan_refuses_ambiguous_or_impossible_targets():
    with pytest.raises(ValueError, match="give eps .* or eps_p .*, not both"):
        make_plan(3, 0.5, eps=1e-6, eps_p=1e-6)
    with pytest.raises(ValueError, match="eps_p must lie in"):
        make_plan(3, 0.5, eps_p=1.5)
    with pytest.raises(ValueError, match=r"eps_p=1\.000e-15 cannot be certified .* rounding of the kernels alone"):
        make_plan(3, 0.5, eps_p=1e-15)  # below float64 rounding: refused by the rounding bound itself
    plan = make_plan(3, 0.5, eps_p=1e-12)
    assert plan.eps_p + plan.rounding(1) <= 1e-12
    with pytest.raises(ValueError, match=r"certify=False\) .* give degree"):
        make_plan(3, 0.5, eps=1e-3, certify=False)
    with pytest.raises(ValueError, match=r"certify=False\) .* give degree"):
        make_plan(3, 0.5, certify=False)


def test_uncertified_plan_is_flagged_and_refuses_a_bound():
    plan = make_plan(3, 3.0, degree=1, kind="chebyshev", certify=False)
    assert not plan.certified and plan.eps_p >= 1 and "UNCERTIFIED" in repr(plan)
    with pytest.raises(ValueError, match="uncertified .* no output bound"):
        plan.output_bound(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"eps_p=.* >= 1 .* certify=False"):
        make_plan(3, 3.0, degree=1, kind="chebyshev")
    certified_anyway = make_plan(3, 0.1, degree=6, certify=False)
    assert certified_anyway.certified and certified_anyway.output_bound(np.ones((2, 2))) > 0


# --- one cost model -------------------------------------------------------------


@pytest.mark.parametrize("d,B,eps", [(2, 0.3, 1e-6), (4, 1.0, 1e-6), (8, 1.7, 1e-3), (3, 1.9, 1e-8)])
def test_least_cost_is_the_chain_degree_rank_ratio(d, B, eps):
    """Where rounding is small next to the target the least degree is the polynomial's own (polyapprox);
    the chosen degree always fits certificate plus rounding with n keys into eps_p."""
    n = 1000
    g = least_degree(B * B, 4 * eps / (4 + eps * eps))  # the chain written out from polyapprox
    cost = least_cost(n, d, B, eps=eps)
    assert (cost.degree, cost.rank, cost.ratio) == (g, rank(d, g), rank(d, g) / n)
    assert least_rank(d, B, eps=eps, keys=n) == rank(d, g)
    plan = make_plan(d, B, eps=eps, keys=n)
    assert plan.eps_p == cost.eps_p and plan.eps_p + plan.rounding(n) <= eps_p_for_output(eps)
    assert output_eps_for_eps_p(cost.eps_p) <= eps


def test_rounding_raises_the_degree_then_refuses():
    """d=3, eps=1e-8, n=1000: at B=2.04 the polynomial alone needs degree 19, the rounding of 1000 keys
    pushes it to 20; past the largest certifiable norm (about 2.17) nothing is certified."""
    eps_p, n, B = eps_p_for_output(1e-8), 1000, 2.04
    R = logit_range(3, B)
    alone = least_degree(R, eps_p)
    assert least_certified(3, B, eps_p, keys=n).degree == alone + 1
    plan = make_plan(3, B, eps_p=eps_p, keys=n)
    assert plan.eps_p + plan.rounding(n) <= eps_p < certificate(R, eps_p).eps_p + plan.rounding(n)
    top = largest_certifiable_B(3, eps_p, keys=n)
    assert least_certified(3, 0.99 * top, eps_p, keys=n) is not None
    assert least_certified(3, 1.001 * top, eps_p, keys=n) is None
    assert least_cost(n, 3, 1.001 * top, eps=1e-8) is None


def test_cost_is_none_where_no_degree_is_certified():
    with pytest.raises(ValueError, match="cannot be certified"):
        least_degree(25.0, 5e-7)
    assert certificate(25.0, 5e-7) is None
    assert least_cost(100, 4, 5.0, eps=1e-6) is None and least_rank(4, 5.0, eps=1e-6) is None
    with pytest.raises(ValueError, match="eps_p must lie in"):
        certificate(1.0, 0.0)  # a bad argument is an error, not "not certifiable"


def test_logit_range_and_scale():
    """R is the least float at or above s d B^2, computed exactly with the float scale s."""
    for d, B, scale in ((7, 0.3, None), (5, 2.0, None), (3, 3.05, None), (7, 0.3, 0.5)):
        s = 1.0 / d if scale is None else scale
        R = logit_range(d, B, scale)
        exact = Fraction(s) * d * Fraction(B) ** 2
        assert Fraction(R) >= exact > Fraction(math.nextafter(R, 0.0))
    assert logit_range(7, 0.3) == pytest.approx(0.3 * 0.3, rel=3e-16)
    assert logit_range(7, 0.3, scale=0.5) == pytest.approx(0.5 * 7 * 0.09)
    # R = 4 B^2 with scale 4/d: the same frontier at half the norm
    a = frontier_B(60, d=3, eps=1e-4, kind="shifted_taylor")
    b = frontier_B(60, d=3, eps=1e-4, kind="shifted_taylor", scale=4 / 3)
    assert abs(b - a / 2) <= 1.5e-3


@pytest.mark.parametrize("n", [20, 60, 200])
def test_frontier_agrees_with_a_brute_force_scan(n):
    """On a grid of step 5e-3 the cheap set (r* < n) is an interval starting at 0, and the
    bisection's B* lies in the last grid cell where it ends."""
    Bs = np.round(np.arange(0.005, 3.0, 0.005), 3)
    cheap = np.array([(r := least_rank(3, float(B), eps=1e-4, kind="shifted_taylor", keys=n)) is not None
                      and r < n for B in Bs])
    k = int(np.argmin(cheap))  # first grid B that is not cheap
    assert cheap[:k].all() and not cheap[k:].any() and 0 < k < Bs.size
    bstar = frontier_B(n, d=3, eps=1e-4, kind="shifted_taylor")
    assert Bs[k - 1] - 1e-3 <= bstar < Bs[k]
    assert frontier_B(n, d=3, eps=1e-4, kind="shifted_taylor", B_max=Bs[k - 1]) == Bs[k - 1]  # all cheap


def test_frontier_edge_cases():
    assert frontier_B(1, d=3, eps=1e-4) == 0.0  # every rank is >= 1 = n: nothing is cheap
    assert 0 < frontier_B(2, d=3, eps=1e-4) < 0.01  # degree 0 (rank 1 < 2) only for tiny logits
    assert frontier_B(10**9, d=1, eps=1e-4, B_max=1.5) == 1.5
    # rank <= 400 < n everywhere: the frontier is where 10^9 keys' rounding stops certification
    top = largest_certifiable_B(1, eps_p_for_output(1e-4), keys=10**9)
    assert abs(frontier_B(10**9, d=1, eps=1e-4, B_max=2.0) - top) <= 1e-3


@pytest.mark.parametrize("B", [0.2, 0.7, 1.3, 2.2, 3.0, 4.5, 9.0])
def test_poly_pays_is_the_cost_rule_on_the_least_certified_rank(B):
    """The fast refusal before the degree search never changes the answer of the plain rule."""
    for nq, nk in ((3, 5), (40, 80), (256, 512), (1000, 3000)):
        r = least_rank(2, B, eps=1e-4, keys=nk)
        want = r is not None and r * (nq + nk) < nq * nk
        assert poly_pays(2, B, eps=1e-4, n_queries=nq, n_keys=nk) == want
