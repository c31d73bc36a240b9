"""The certificate holds in floating point (docs/theory.md §4.6): reproducers, the edge of the range, refusals.

Every measured error is against references far more precise than float64
(``naive_attention`` in long double, or mpmath), so a bound that includes
float64 rounding is tested, not the reference's own rounding.
"""

import math
import pathlib

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from naive import naive_attention, naive_attention_mp

from promptlimits import PromptedModel, exact_attention
from promptlimits.attention import exact_attention_backward
from promptlimits.experiments.approx_error import (
    FAMILIES,
    _relative_error,
    error_point,
    forward_ratio,
    forward_verdict,
    gradient_ratio,
    gradient_verdict,
    relative_error_extremes,
    rounding_ratio,
)
from promptlimits.experiments.verdict import CONSISTENT, NOT_CHECKED, NOT_CONSISTENT, VACUOUS
from promptlimits.features import BASIS_MEMORY_BUDGET, monomial_basis
from promptlimits.poly_attention import (
    eps_p_for_output,
    largest_certifiable_B,
    make_plan,
    output_eps_for_eps_p,
    poly_attention,
    poly_attention_backward,
)

LD = np.longdouble


def _error(T, Q, K, V, variant="softmax"):
    return float(np.max(np.abs(T.astype(LD) - naive_attention(Q, K, V, variant=variant, dtype=LD))))


# --- inputs that broke earlier certificates -------------------------------------------------------------


def test_reproducer_fused_anti_aligned_corner():
    """Found earlier: B=3.05, one anti-aligned key, error 3.05e-8 against a bound of 1.43e-8 (eps_p=1e-8).
    Now the target is refused (rounding alone, about u e^(2R) times the operation count, exceeds it)
    with the largest certifiable norm; a plan at that norm, and the old degree, keep their bounds."""
    B = 3.05
    Q, K, V = np.full((1, 3), -B), np.full((1, 3), B), np.array([[-0.9]])
    for kw in ({"eps": 1e-8}, {"eps_p": 1e-8}):
        with pytest.raises(ValueError,
                           match=r"B=3\.05 .* rounding of the kernels alone exceeds it .* about B = 2\.[12]"):
            make_plan(3, B, **kw)
    with pytest.raises(ValueError, match="rounding of the kernels alone exceeds it"):
        poly_attention(Q, K, V, eps=1e-8)
    old = make_plan(3, B, degree=45, kind="taylor")  # what the old code chose for eps_p = 1e-8
    err = _error(old.forward(Q, K, V), Q, K, V)
    assert err > output_eps_for_eps_p(old.eps_p) * 0.9  # the old bound (3.05e-8 > 1.43e-8)
    assert err <= old.output_bound(V)
    top = largest_certifiable_B(3, 1e-8)
    plan = make_plan(3, 0.999 * top, eps_p=1e-8)
    Q, K = np.full((2, 3), -plan.B), np.vstack([np.full((1, 3), plan.B), np.full((1, 3), -plan.B)])
    V = np.array([[-0.9], [0.4]])
    for method in ("fused", "factors"):
        assert _error(plan.forward(Q, K, V, method=method), Q, K, V) <= plan.output_bound(V)
    assert plan.output_bound(V) <= output_eps_for_eps_p(1e-8) * 0.9


def test_reproducer_factors_chebyshev():
    """Found earlier: degree-47 Chebyshev on R=16.2 with 512 equal keys returned 1.1087 (exact 1, bound 0.019).
    The target is refused; the fixed degree has no bound at 512 keys (and its output stays in [-1, 1])."""
    for kw in ({"eps": 1e-2}, {"eps_p": 1e-2}):
        with pytest.raises(ValueError, match=r"R=16\.2.* rounding of the kernels alone exceeds it"):
            make_plan(1, 4.026, kind="chebyshev", **kw)
    plan = make_plan(1, 4.026, degree=47, kind="chebyshev")
    V = np.ones((512, 1))
    with pytest.raises(ValueError, match="no output bound"):
        plan.output_bound(V)
    T = plan.forward(np.full((2, 1), 4.026), np.full((512, 1), -4.026), V, method="factors")
    assert np.all(np.abs(T) <= 1.0)
    top = largest_certifiable_B(1, 1e-2, keys=512, kind="chebyshev")
    edge = make_plan(1, 0.999 * top, eps_p=1e-2, kind="chebyshev", keys=512)
    Q, K = np.full((2, 1), edge.B), np.full((512, 1), -edge.B)
    K[::2] = edge.B
    V = np.where(np.arange(512)[:, None] % 2 == 0, 1.0, -1.0)
    assert _error(edge.forward(Q, K, V, method="factors"), Q, K, V) <= edge.output_bound(V)


def test_float32_cast_is_in_the_bound():
    """Found earlier: float32 outputs exceeded the bound by up to 2.2e4 (the cast costs about 2^-24 |T|).
    A plan whose target the cast alone would break refuses float32 arrays."""
    rng = np.random.default_rng(5)
    Q, K, V = (rng.uniform(-0.5, 0.5, (64, 4)).astype(np.float32) for _ in range(3))
    plan = make_plan(4, 0.5, degree=12)
    T = plan.forward(Q, K, V)
    assert T.dtype == np.float32
    err = _error(T, Q, K, V)
    vmax = float(np.max(np.abs(V)))
    assert err > output_eps_for_eps_p(plan.eps_p + plan.rounding(64)) * vmax  # float64 terms alone: exceeded
    assert err <= plan.output_bound(V) and plan.output_bound(V) >= 2.0**-24 * vmax
    with pytest.raises(ValueError, match=r"float32 output: .* above its eps_p=1\.000e-10"):
        make_plan(4, 0.5, eps_p=1e-10)(Q, K, V)
    assert make_plan(4, 0.5, eps=1e-4)(Q, K, V).dtype == np.float32


# --- the edge of the certifiable range ---------------------------------------------------------


def _corner(kind, n, d, B, rng):
    """Queries and keys with entries +-B (aligned, anti-aligned, mixed) or uniform with one row at each corner."""
    if kind == "random":
        Q, K = rng.uniform(-B, B, (3, d)), rng.uniform(-B, B, (n, d))
        Q[0], K[0] = B, -B
        return Q, K
    Q = np.full((3, d), -B if kind == "anti" else B)
    K = np.full((n, d), B)
    if kind == "mixed":
        K[rng.random(n) < 0.5] = -B
    return Q, K


@settings(max_examples=30, deadline=None)
@given(d=st.integers(1, 4), log2n=st.integers(0, 12), eps=st.sampled_from([1e-2, 1e-4, 1e-6, 1e-8]),
       frac=st.floats(0.95, 0.999), kind=st.sampled_from(["auto", "chebyshev", "shifted_taylor", "taylor"]),
       corner=st.sampled_from(["aligned", "anti", "mixed", "random"]), method=st.sampled_from(["fused", "factors"]),
       float32=st.booleans(), variant=st.sampled_from(["softmax", "softmax1"]), seed=st.integers(0, 2**16))
def test_edge_of_the_range_never_exceeds_the_bound(d, log2n, eps, frac, kind, corner, method, float32, variant, seed):
    """R within 5 % of the largest certifiable for the target and n keys; the corners of the box."""
    rng = np.random.default_rng(seed)
    n = 2**log2n
    top = largest_certifiable_B(d, eps_p_for_output(eps), keys=n, kind=kind)
    assume(top > 0)
    Q, K = _corner(corner, n, d, math.sqrt(frac) * top, rng)  # R = B^2 within 5 % of the largest
    V = rng.uniform(-1, 1, (n, 2))
    if float32:
        Q, K, V = Q.astype(np.float32), K.astype(np.float32), V.astype(np.float32)
    B = float(max(np.abs(Q).max(), np.abs(K).max()))
    plan = make_plan(d, B, eps=eps, kind=kind, keys=n)
    if method == "factors" and n * plan.rank > 4_000_000:
        method = "fused"
    if float32 and plan.eps_p + plan.rounding(n, float32=True) > plan.eps_p_target:
        event("float32 refused: the cast alone exceeds the target")
        with pytest.raises(ValueError, match="float32 output: rounding the result to float32"):
            plan.forward(Q, K, V, method=method, variant=variant)  # the cast alone would break the promise
        return
    T = plan.forward(Q, K, V, method=method, variant=variant)
    assert _error(T, Q, K, V, variant) <= plan.output_bound(V) <= eps * np.max(np.abs(V)) + 2.0**-150


@pytest.mark.parametrize("d,eps", [(1, 1e-4), (2, 1e-6), (4, 1e-6)])
def test_edge_with_4096_keys(d, eps):
    n = 4096
    plan = make_plan(d, 0.99 * largest_certifiable_B(d, eps_p_for_output(eps), keys=n), eps=eps, keys=n)
    rng = np.random.default_rng(d)
    for corner in ("aligned", "anti", "mixed"):
        Q, K = _corner(corner, n, d, plan.B, rng)
        V = rng.choice([-1.0, 1.0], (n, 3))
        assert _error(plan.forward(Q, K, V), Q, K, V) <= plan.output_bound(V) <= eps
    assert 4096 <= plan.max_keys < 20_000  # near the edge for 4096 keys, the plan covers little more
    m = plan.max_keys + 1
    with pytest.raises(ValueError, match=rf"{m} keys exceed the {m - 1} for which this plan's eps=.* keys={m}"):
        plan.forward(Q[:1], np.resize(K, (m, d)), np.ones((m, 1)))


# --- fast, bounded refusals --------------------------------------------------------------------


def test_hopeless_norm_is_refused_from_closed_forms():
    """Found earlier: this spent over 10 minutes in interval arithmetic; now the closed forms refuse it,
    naming the norm and the largest certifiable one."""
    with pytest.raises(ValueError, match=r"B=100 \(logits up to R=10000\) .* about B = 2\.4"):
        poly_attention(np.full((4, 4), 100.0), np.full((4, 4), 100.0), np.ones((4, 3)))


def test_huge_bases_are_refused_before_building():
    """Found earlier: make_plan(16, 1.0, eps=1e-12) built a rank-30-million basis (231 s, 4 GB)."""
    with pytest.raises(ValueError, match=r"rank is 30,421,755"):
        make_plan(16, 1.0, eps=1e-12)
    need = monomial_basis.__wrapped__  # uncached: the check comes before any allocation
    with pytest.raises(ValueError, match=r"rank C\(d\+g, g\) = 145,422,675 and needs about 22\.8 GiB"):
        need(16, 14)
    with pytest.raises(ValueError, match=r"145,422,675"):
        make_plan(16, 1.0, degree=14)
    assert BASIS_MEMORY_BUDGET == 2 * 2**30


def test_large_basis_has_exact_multinomials():
    """Past int64 the multinomials are exact Python integers, rounded once."""
    basis = monomial_basis(3, 60)
    for a in (basis.rank - 1, basis.rank // 2, 1234):
        e = [int(x) for x in basis.exponents[a]]
        want = math.factorial(sum(e)) // math.prod(math.factorial(x) for x in e)
        assert basis.multinomial[a] == float(want)


# --- overflow and degenerate shapes ------------------------------------------------------------


def test_values_near_the_float_maximum_give_finite_outputs():
    rng = np.random.default_rng(0)
    Q, K = rng.uniform(-0.5, 0.5, (2, 6, 3))
    V = np.full((6, 2), 1.7e308) * rng.choice([-1.0, 1.0], (6, 2))
    ref = naive_attention(Q, K, V / 1e308, dtype=LD).astype(np.float64) * 1e308  # linear in V
    bound = make_plan(3, 0.5, eps=1e-6, keys=6).output_bound(V / 1e308) * 1e308  # the plan poly_attention makes
    for T in (poly_attention(Q, K, V, B=0.5), poly_attention(Q, K, V, B=0.5, method="factors")):
        assert np.all(np.isfinite(T)) and np.all(np.abs(T) <= 1.7e308)
        assert np.max(np.abs(T - ref)) <= bound
    T = exact_attention(Q, K, V)
    assert np.all(np.isfinite(T)) and np.all(np.abs(T) <= 1.7e308)
    np.testing.assert_allclose(T, ref, rtol=1e-12)
    T = poly_attention(Q, K, np.full((6, 1), np.finfo(np.float64).max))
    assert np.all(T == np.finfo(np.float64).max)


def test_exact_attention_with_logits_near_the_float_maximum():
    """Found earlier: Q = K = 1e154 gave all NaN; the logits are about 1e308. With entries +-2^511 every
    logit (in {-2^1022, 0, 2^1022}) is exact, so exact ties must stay ties; with logits 1e308 apart
    the weights are one-hot."""
    Q = np.full((4, 4), 1e154)
    V = np.arange(12.0).reshape(4, 3)
    np.testing.assert_allclose(exact_attention(Q, Q, V), naive_attention_mp(Q, Q, V), rtol=1e-14)
    rng = np.random.default_rng(1)
    Q, K = 2.0**511 * rng.choice([-1.0, 1.0], (2, 4, 2))
    for variant in ("softmax", "softmax1"):
        np.testing.assert_allclose(exact_attention(Q, K, V, variant=variant),
                                   naive_attention_mp(Q, K, V, variant=variant), rtol=1e-14, atol=1e-300)
    K = 1e154 * np.array([[1.0, 1.0], [0.9, 0.8], [0.5, -1.0], [-1.0, 1.0]])
    np.testing.assert_allclose(exact_attention(K, K, V), naive_attention_mp(K, K, V), rtol=1e-14)
    _, _, dV = exact_attention_backward(Q, K, V, np.ones((4, 3)))
    assert np.all(np.isfinite(dV))


def test_zero_value_columns_give_zeros_forward_and_backward():
    rng = np.random.default_rng(2)
    Q, K = rng.uniform(-0.5, 0.5, (2, 5, 3))
    V, G = np.zeros((5, 0)), np.zeros((5, 0))
    assert poly_attention(Q, K, V).shape == (5, 0)
    for got, want in zip(poly_attention_backward(Q, K, V, G), exact_attention_backward(Q, K, V, G)):
        assert got.shape == want.shape and np.all(got == 0) and np.all(want == 0)
    assert np.all(poly_attention(Q, K, np.zeros((5, 2))) == 0)
    assert make_plan(3, 0.5).output_bound(np.zeros((5, 2))) == 0.0


def test_non_finite_weights_are_refused(tmp_path):
    with pytest.raises(ValueError, match="weight_scale must be finite"):
        PromptedModel.from_seed(2, weight_scale=float("nan"))
    model = PromptedModel.from_seed(2, seed=3)
    WQ = model.WQ.copy()
    WQ[0, 1] = np.inf
    with pytest.raises(ValueError, match="weight WQ contains 1 NaN or infinite"):
        PromptedModel(model.ff1, WQ, model.WK, model.WV, model.WO, model.ff2, model.scale)
    path = model.save(tmp_path / "m.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["b1b"] = arrays["b1b"] * np.nan
    bad = pathlib.Path(tmp_path / "bad.npz")
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match=r"weight ff2\.b1 contains \d+ NaN or infinite"):
        PromptedModel.load(bad)


# --- certificates with power: the extremal input family (docs/theory.md §9.5) -----------------


def test_extremal_logits_are_where_the_relative_error_is_extreme():
    """The refined extremes are at least as extreme as a 20,001-point grid in long double."""

    for B, g, kind in ((0.5, 3, "chebyshev"), (1.0, 6, "chebyshev"), (1.0, 4, "taylor"), (0.7, 5, "shifted_taylor")):
        plan = make_plan(2, B, eps=None, degree=g, kind=kind)
        for derivative in (False, True):
            xp, xm = relative_error_extremes(plan.approx.coefficients, plan.R, derivative=derivative)
            assert -plan.R <= xm <= plan.R and -plan.R <= xp <= plan.R
            grid = _relative_error(plan.approx.coefficients, np.linspace(-plan.R, plan.R, 20001), derivative)
            top, bottom = (float(_relative_error(plan.approx.coefficients, x, derivative)) for x in (xp, xm))
            tol = 1e-6 * float(np.abs(grid).max())
            assert top >= float(grid.max()) - tol and bottom <= float(grid.min()) + tol
            if kind == "chebyshev" and not derivative:  # an interpolant errs both ways (it crosses exp)
                assert top > 0 > bottom


def test_extremal_family_reaches_the_forward_and_gradient_certificates():
    """A real tightness assertion: one query, 64 keys at the extreme logits reach half of each certificate."""

    params = {"n": 64, "d": 2, "B": 0.5, "degree": 3, "kind": "chebyshev"}
    rows = {f: error_point({**params, "family": f}, 0) for f in FAMILIES}
    ext = rows["extremal"]
    assert 0.5 <= forward_ratio(ext) <= 1.0, ext
    assert 0.5 <= gradient_ratio(ext, "K") <= 1.0 and 0.5 <= gradient_ratio(ext, "V") <= 1.0, ext
    assert 0.5 <= forward_ratio(rows["float32"]) <= 1.0
    # the contrast: random inputs stay far from it
    assert forward_ratio(rows["random"]) < 0.25 * forward_ratio(ext)


@pytest.mark.parametrize("B,degree", [(0.25, 1), (0.5, 4), (1.0, 8), (1.5, 14), (1.0, 14)])
def test_no_family_exceeds_its_certificate(B, degree):

    for fam in FAMILIES:
        row = error_point({"n": 96, "d": 3, "B": B, "degree": degree, "kind": "chebyshev", "family": fam}, 3)
        assert row["certified"]
        assert forward_ratio(row) <= 1.0 and gradient_ratio(row) <= 1.0, (fam, row)
        assert (rounding_ratio(row) or 0.0) <= 1.0, (fam, row)


def _synthetic(family, ratio, grad_ratio=None, rounding=None):
    row = {"family": family, "B": 0.5, "degree": 2, "measured_err": ratio * 1e-3, "bound": 1e-3, "eps_p": 1e-3,
           "eps_dp": 1e-2, "n": 8, "d": 2, "kind": "chebyshev"}
    g = ratio if grad_ratio is None else grad_ratio
    row.update({f"grad_{k}_{x}": v for x in "QKV" for k, v in (("err", g * 1e-2), ("bound", 1e-2))})
    row.update({f"grad_gap_ratio_{x}": rounding for x in "QKV"})
    return row


def test_verdict_statuses_on_synthetic_rows():

    def statuses(rows):
        return forward_verdict(rows).status, gradient_verdict(rows).status

    # no power: every family below 0.1 of its certificate
    assert statuses([_synthetic("random", 0.03), _synthetic("corners", 0.09)]) == (VACUOUS, VACUOUS)
    # power from the extremal family; the random contrast alone would have none
    assert statuses([_synthetic("random", 0.03), _synthetic("extremal", 0.92)]) == (CONSISTENT, CONSISTENT)
    # any measured distance above its certificate fails, whatever the power
    assert statuses([_synthetic("random", 1.2), _synthetic("extremal", 0.9)]) == (NOT_CONSISTENT, NOT_CONSISTENT)
    assert statuses([_synthetic("random", 0.03, 1.01), _synthetic("extremal", 0.9)]) == (CONSISTENT, NOT_CONSISTENT)
    # measured backward rounding above its proved bound fails the gradient verdict
    assert statuses([_synthetic("extremal", 0.9, rounding=1.5)]) == (CONSISTENT, NOT_CONSISTENT)
    assert statuses([_synthetic("extremal", 0.9, rounding=0.2)]) == (CONSISTENT, CONSISTENT)
    assert statuses([]) == (NOT_CHECKED, NOT_CHECKED)
    # the verdict reports the negative control with its numbers
    numbers = forward_verdict([_synthetic("random", 0.03), _synthetic("extremal", 0.92)]).numbers
    assert any("negative control" in x and "1 points" in x and "1.84" in x for x in numbers), numbers
