"""The certified gradient of the polynomial method (docs/theory.md §4.5).

Attention level: ``PolyPlan.gradient_bound`` against the distance between the
polynomial backward and exact attention's backward, (1) in extended precision
(the bound's own claim, exact arithmetic: both backwards by their n x n
formulas in ``numpy.longdouble``) and (2) from the float64 kernels where the
certificate is far above float64 rounding. Model level: ``LossInfo.grad_bound``
against the distance between the ``poly`` and ``exact`` prompt gradients.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from naive import naive_attention_backward, naive_poly_attention_backward

from promptlimits import PromptedModel
from promptlimits.attention import exact_attention_backward
from promptlimits.backend import AttentionBackend
from promptlimits.poly_attention import GradientBound, make_plan, output_eps_for_eps_p
from promptlimits.poly_attention._gradient import largest_weight, weight_error, weight_error_cap, weight_error_peak
from promptlimits.polyapprox import KINDS, certified_derivative_eps, certified_eps, exp_approximation

EXTENDED = np.finfo(np.longdouble).eps < 1e-18  # 64-bit mantissa (x86); elsewhere the extended test is skipped


@st.composite
def attention_inputs(draw, min_eps_p):
    """A certified plan and inputs within its B: random or at the corners of the box, both variants."""
    d = draw(st.integers(1, 4))
    B = draw(st.sampled_from([0.05, 0.3, 0.6, 1.0, 1.5]))
    kind = draw(st.sampled_from(KINDS))
    g = draw(st.integers(1, 12))
    eps_p = certified_eps(kind, g, B * B)
    assume(min_eps_p <= eps_p < 1.0)
    plan = make_plan(d, B, eps=None, degree=g, kind=kind)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    nq, n, dv = draw(st.integers(1, 6)), draw(st.integers(1, 12)), draw(st.integers(1, 3))
    corners = draw(st.booleans())
    Q = rng.choice([-B, B], (nq, d)) if corners else rng.uniform(-B, B, (nq, d))
    K = rng.choice([-B, B], (n, d)) if corners else rng.uniform(-B, B, (n, d))
    vscale, gscale = draw(st.sampled_from([1e-3, 1.0, 1e3])), draw(st.sampled_from([1e-3, 1.0, 1e3]))
    V = vscale * (rng.choice([-1.0, 1.0], (n, dv)) if corners else rng.uniform(-1, 1, (n, dv)))
    G = gscale * rng.uniform(-1, 1, (nq, dv))
    return plan, Q, K, V, G, draw(st.sampled_from(["softmax", "softmax1"]))


def _distances(got, ref):
    return [float(np.abs(np.asarray(x, dtype=np.longdouble) - y).max()) for x, y in zip(got, ref)]


def _assert_within(dist, bound: GradientBound, what):
    for name, m, b in zip("QKV", dist, (bound.dQ, bound.dK, bound.dV)):
        assert m <= b, f"{what}: ||d{name}_p - d{name}||max = {m:.3e} > bound {b:.3e} ({bound})"


@pytest.mark.skipif(not EXTENDED, reason="numpy.longdouble has no extended precision here")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(attention_inputs(min_eps_p=1e-14))
def test_bound_holds_in_exact_arithmetic(case):
    """Both backwards in extended precision (rounding ~1e-19 relative, far below eps_p >= 1e-14)."""
    plan, Q, K, V, G, variant = case
    ld = np.longdouble
    poly = naive_poly_attention_backward(Q, K, V, G, plan.approx.coefficients, scale=plan.scale, variant=variant,
                                         dtype=ld)
    exact = naive_attention_backward(Q, K, V, G, scale=plan.scale, variant=variant, dtype=ld)
    _assert_within(_distances(poly, exact), plan.gradient_bound(Q, K, V, G), "extended precision")


@pytest.mark.skipif(not EXTENDED, reason="numpy.longdouble has no extended precision here")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(attention_inputs(min_eps_p=0.0), st.booleans())
def test_kernels_stay_within_the_bound_at_every_eps_p(case, float32):
    """The float64 kernels (float32 arrays: and the cast) against exact attention in extended precision, at any
    eps_p: the bound includes the backward's rounding (docs/theory.md §4.6.1), so no eps_p is exempt."""
    plan, Q, K, V, G, variant = case
    if float32:
        assume(float(np.float32(plan.B)) == plan.B)  # float32 copies of Q, K at +-B stay within B
        Q, K, V, G = (a.astype(np.float32) for a in (Q, K, V, G))
    got = plan.backward(Q, K, V, G, variant=variant)
    ref = naive_attention_backward(Q, K, V, G, scale=plan.scale, variant=variant, dtype=np.longdouble)
    _assert_within(_distances(got, ref), plan.gradient_bound(Q, K, V, G), "float kernels")
    poly = naive_poly_attention_backward(Q, K, V, G, plan.approx.coefficients, scale=plan.scale, variant=variant,
                                         dtype=np.longdouble)
    bound = plan.gradient_bound(Q, K, V, G)
    for name, m in zip("QKV", _distances(got, poly)):
        assert m <= getattr(bound, f"rounding_d{name}"), f"rounding of d{name}: {m:.3e} > {bound}"


def _rounding_case(plan, n, nq, rng):
    """Inputs built to maximise the backward's rounding: many keys, logits at the ends of [-R, R] (corners of the
    box), values that cancel (+-1 with a small spread), upstream gradients of both signs."""
    B, d = plan.B, plan.d
    Q, K = rng.choice([-B, B], (nq, d)), rng.choice([-B, B], (n, d))
    V = rng.choice([-1.0, 1.0], (n, 3)) * (1.0 + 1e-6 * rng.random((n, 3)))
    return Q, K, V, rng.choice([-1.0, 1.0], (nq, 3))


@pytest.mark.skipif(not EXTENDED, reason="numpy.longdouble has no extended precision here")
@pytest.mark.parametrize("d,B,degree", [(2, 1.5, 14), (4, 1.0, 12), (3, 2.0, 20), (1, 0.5, 6)])
def test_backward_rounding_bound_holds_against_extended_precision(d, B, degree):
    """2048 keys at the corners: the kernels' float64 backward against the polynomial backward in long double,
    beside the proved rounding part of the bound (docs/theory.md §4.6.1); where eps_p is far below float64
    rounding the total bound must also cover the distance to exact attention."""
    from promptlimits.experiments.approx_error import _poly_backward_extended

    plan = make_plan(d, B, eps=None, degree=degree, kind="chebyshev")
    rng = np.random.default_rng(degree)
    Q, K, V, G = _rounding_case(plan, 2048, 16, rng)
    got = plan.backward(Q, K, V, G)
    bound = plan.gradient_bound(Q, K, V, G)
    ext = _poly_backward_extended(plan, Q, K, V, G)
    for name, x, y in zip("QKV", got, ext):
        gap, rb = float(np.abs(x - y).max()), getattr(bound, f"rounding_d{name}")
        assert 0.0 < gap <= rb, f"d{name}: measured rounding {gap:.3e}, bound {rb:.3e}"
    ref = naive_attention_backward(Q, K, V, G, scale=plan.scale, dtype=np.longdouble)
    _assert_within(_distances(got, ref), bound, "2048 corner keys")


def test_rounding_part_is_what_the_exact_arithmetic_bound_lacked():
    """At eps_p ~ 1e-21 the exact-arithmetic bound alone is far below float64 rounding; the total is not."""
    plan = make_plan(4, 1.0, eps=None, degree=14, kind="chebyshev")
    assert plan.eps_p < 1e-15
    rng = np.random.default_rng(5)
    Q, K, V, G = _rounding_case(plan, 512, 8, rng)
    bound = plan.gradient_bound(Q, K, V, G)
    for name in "QKV":
        total, rounding = getattr(bound, f"d{name}"), getattr(bound, f"rounding_d{name}")
        assert 0.5 * total < rounding <= total  # rounding dominates here


def test_the_bound_is_not_vacuous_on_an_adversarial_instance():
    """One query at +B, four keys at -B (logits at -R, where p' errs most), one value against the others."""
    plan = make_plan(1, 0.5, eps=None, degree=3, kind="chebyshev")
    Q, K, V, G = np.array([[0.5]]), np.full((4, 1), -0.5), np.array([[-1.0], [-1.0], [-1.0], [1.0]]), np.ones((1, 1))
    bound = plan.gradient_bound(Q, K, V, G)
    dK = np.abs(plan.backward(Q, K, V, G)[1] - exact_attention_backward(Q, K, V, G)[1]).max()
    assert 0.5 * bound.dK <= dK <= bound.dK


def test_zero_upstream_gradient_or_values_give_zero_bounds_where_the_gradients_agree():
    plan = make_plan(2, 1.0, eps=1e-6)
    rng = np.random.default_rng(0)
    Q, K, V = rng.uniform(-1, 1, (3, 4, 2))
    zero = plan.gradient_bound(Q, K, V, np.zeros((4, 2)))
    assert (zero.dQ, zero.dK, zero.dV) == (0.0, 0.0, 0.0)
    novalues = plan.gradient_bound(Q, K, np.zeros((4, 2)), rng.uniform(-1, 1, (4, 2)))
    assert novalues.dQ == novalues.dK == 0.0 and novalues.dV > 0
    got = plan.backward(Q, K, np.zeros((4, 2)), rng.uniform(-1, 1, (4, 2)))
    assert not got[0].any() and not got[1].any()


def test_bound_uses_the_derivative_certificate_and_grows_with_it():
    plan = make_plan(3, 1.0, eps=1e-6)
    assert plan.approx.eps_dp == certified_derivative_eps(plan.kind, plan.degree, plan.R) > plan.eps_p
    rng = np.random.default_rng(1)
    Q, K, V, G = rng.uniform(-1, 1, (4, 6, 3))
    loose = make_plan(3, 1.0, eps=1e-3)
    tight_b, loose_b = plan.gradient_bound(Q, K, V, G), loose.gradient_bound(Q, K, V, G)
    assert tight_b.dQ < loose_b.dQ and tight_b.dK < loose_b.dK and tight_b.dV < loose_b.dV


def test_largest_weight_bounds_every_weight_and_is_attained():
    rng = np.random.default_rng(2)
    for d in (1, 3):
        Q, K = rng.uniform(-2, 2, (2, 9, d))
        X = Q @ K.T / d
        for d0 in (0.0, 1.0):
            A = np.exp(X) / (d0 + np.exp(X).sum(axis=1, keepdims=True))
            assert A.max() <= largest_weight(Q, K, 1.0 / d)
    K = np.array([[1.0], [-1.0], [-1.0]])
    top = math.exp(1.0) / (math.exp(1.0) + 2 * math.exp(-1.0))
    assert largest_weight(np.array([[1.0]]), K, 1.0) == pytest.approx(top, rel=1e-12)


def test_weight_error_peaks_at_half_the_sharp_constant():
    for eps_p in (1e-12, 1e-3, 0.3, 0.9):
        a = np.linspace(0, 1, 200001)
        phi = weight_error(eps_p, a)
        assert phi.max() == pytest.approx(float(output_eps_for_eps_p(eps_p)) / 2, rel=1e-6)
        assert weight_error_cap(eps_p, 1.0) == pytest.approx(phi.max(), rel=1e-6)
        assert abs(a[np.argmax(phi)] - weight_error_peak(eps_p)) < 1e-4 or eps_p < 1e-6
        assert weight_error_cap(eps_p, 0.1) == pytest.approx(float(weight_error(eps_p, 0.1)))


def test_derivative_certificate_closed_forms_and_bad_input():
    assert certified_derivative_eps("chebyshev", 0, 1.0) == 1.0  # p constant, p' = 0
    assert certified_derivative_eps("taylor", 5, 0.0) == 1.0
    R, g = 1.0, 6
    taylor = certified_derivative_eps("taylor", g, R)
    assert taylor >= math.e * R**g / math.factorial(g)  # the closed form, plus coefficient rounding
    assert taylor == pytest.approx(math.e * R**g / math.factorial(g), rel=1e-6)
    x = np.linspace(-R, R, 2001)
    for kind in KINDS:
        c = exp_approximation(R, degree=g, kind=kind).coefficients
        dp = np.polynomial.polynomial.polyval(x, c[1:] * np.arange(1, g + 1))
        assert np.abs(dp * np.exp(-x) - 1).max() <= certified_derivative_eps(kind, g, R)
    with pytest.raises(ValueError, match="polynomial kind"):
        certified_derivative_eps("spline", 3, 1.0)
    with pytest.raises(ValueError, match="R"):
        certified_derivative_eps("taylor", 3, -1.0)


def test_gradient_bound_refuses_bad_input():
    plan = make_plan(2, 1.0, eps=1e-6)
    Q, K, V = np.zeros((3, 2)), np.zeros((4, 2)), np.zeros((4, 1))
    with pytest.raises(ValueError, match="upstream gradient G"):
        plan.gradient_bound(Q, K, V, np.zeros((2, 1)))
    with pytest.raises(ValueError, match="exceeds the plan's B"):
        plan.gradient_bound(Q + 2.0, K, V, np.zeros((3, 1)))
    loose = make_plan(2, 3.0, degree=2, certify=False)
    with pytest.raises(ValueError, match="uncertified"):
        loose.gradient_bound(Q, K, V, np.zeros((3, 1)))


# --- model level ----------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), ws=st.sampled_from([0.3, 0.6]), attn_eps=st.sampled_from([1e-2, 1e-5, 1e-8]),
       variant=st.sampled_from(["softmax", "softmax1"]), positions=st.booleans(), Lp=st.integers(1, 3))
def test_model_gradient_within_its_bound(seed, ws, attn_eps, variant, positions, Lp):
    model = PromptedModel.from_seed(3, m=6, seed=seed, weight_scale=ws, variant=variant,
                                    positions=3 if positions else None)
    rng = np.random.default_rng(seed)
    P, X, Y = rng.normal(size=(Lp, 3)), rng.uniform(0, 1, (2, 3, 3)), rng.normal(size=(2, 3, 3))
    info, gp = model.loss_and_grad(P, X, Y, backend="poly", attn_eps=attn_eps)
    _, ge = model.loss_and_grad(P, X, Y, backend="exact")
    if info.backend == "exact":  # an induced norm beyond what the target can certify: exact, with a note
        assert info.plan_event == "exact: not certifiable" and "cannot be certified" in info.note
        assert info.grad_bound == 0.0 and np.array_equal(gp, ge)
        return
    assert info.backend == "poly" and np.abs(gp - ge).max() <= info.grad_bound


def test_model_gradient_bound_covers_a_relu_mask_flip():
    """FF2's bias set so one unit's pre-activation has opposite signs in the two runs (proofs_check 10d)."""
    from proofs_check.gradient import _gradient_distance, _with_flip

    model = PromptedModel.from_seed(3, m=8, seed=1, weight_scale=0.4)
    rng = np.random.default_rng(3)
    P, X, Y = rng.normal(size=(2, 3)), rng.uniform(0, 1, (2, 3, 3)), rng.normal(size=(2, 3, 3))
    flipped = _with_flip(model, P, X, 1e-3)
    dist, bound = _gradient_distance(flipped, P, X, Y, 1e-3)
    plain, plain_bound = _gradient_distance(model, P, X, Y, 1e-3)
    assert dist <= bound and dist > 10 * plain  # the flip moves the gradient far more than the weights' error


def test_grad_bound_is_zero_for_exact_and_absent_without_a_gradient():
    model = PromptedModel.from_seed(3, seed=0, weight_scale=0.5)
    rng = np.random.default_rng(0)
    P, X, Y = rng.normal(size=(2, 3)), rng.uniform(0, 1, (2, 3, 3)), rng.normal(size=(2, 3, 3))
    assert model.loss_and_grad(P, X, Y)[0].grad_bound == 0.0
    assert model.loss(P, X, Y, backend="poly").grad_bound is None
    assert model.loss_and_grad(P, X, Y, backend="poly")[0].grad_bound > 0


def _per_row_bound(model, P, X, Y, backend):
    """The model's gradient bound by its per-row formula (docs/theory.md §4.5, steps 1-4 as written): ``dG`` for
    every row, each sequence's attention bounds one by one; the reference for the row-summed computation."""
    from promptlimits.gradient_bound import _forward_moves
    from promptlimits.poly_attention import _gradient as ga

    Yhat, (U1p, _, Q, K, V, U2, choice, _) = model._forward(P, X, backend)
    plan, ff2 = choice.plan, model.ff2
    dY = (2.0 / Yhat.size) * (Yhat - Y)
    alphas = np.array([plan.output_bound(Vb) for Vb in V])
    _, dU, dYhat = _forward_moves(model, alphas)
    ddY = (2.0 / Yhat.size) * dYhat
    W1p, W2p, WOp = np.abs(ff2.W1), np.abs(ff2.W2), np.abs(model.WO)
    ambiguous = np.abs(U2) <= dU[:, None, :]
    through = ((ddY @ W2p.T)[:, None, :] * ((U2 > 0) | ambiguous)) @ W1p.T
    flips = (np.abs(dY @ ff2.W2.T) * ambiguous) @ W1p.T
    dG = (ddY[:, None, :] + through + flips) @ WOp.T
    G = ff2.backward(dY, U2) @ model.WO.T
    dH = np.zeros(model.d)
    for b in range(X.shape[0]):
        a = ga.largest_weight(Q[b], K[b], model.scale)
        _, dK, dV = ga.backward_distance_columns(plan.eps_p, plan.approx.eps_dp, model.scale, Q[b], K[b], V[b],
                                                 G[b], a)
        sK, sV = ga.exact_backward_sensitivity(model.scale, Q[b], V[b], dG[b], a)
        dH = dH + (dK + sK) @ np.abs(model.WK).T + (dV + sV) @ np.abs(model.WV).T
    mask = (U1p > 0)
    return float((dH[None, :] + ((dH @ np.abs(model.ff1.W2).T)[None, :] * mask) @ np.abs(model.ff1.W1).T).max())


@pytest.mark.parametrize("flip", [False, True])
def test_the_row_summed_bound_is_the_per_row_formula_and_bounds_a_batch(flip):
    """The model's bound is formed from row sums over the batch; it equals the per-row, sequence-by-sequence
    formula up to float rounding, and bounds the measured distance on a batch of 7 (with a ReLU mask flip too)."""
    from proofs_check.gradient import _gradient_distance, _with_flip

    model = PromptedModel.from_seed(3, m=8, seed=4, weight_scale=0.5, variant="softmax1" if flip else "softmax")
    rng = np.random.default_rng(5)
    P, X, Y = rng.normal(size=(2, 3)), rng.uniform(0, 1, (7, 4, 3)), rng.normal(size=(7, 4, 3))
    if flip:
        model = _with_flip(model, P, X, 1e-3)
    dist, bound = _gradient_distance(model, P, X, Y, 1e-3)
    assert 0.0 < dist <= bound
    np.testing.assert_allclose(bound, _per_row_bound(model, P, X, Y, AttentionBackend("poly", 1e-3)), rtol=1e-12)
