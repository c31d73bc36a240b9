"""Polynomial-method attention (promptlimits.poly_attention): kernels, certificates, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import naive_attention, naive_poly_attention, naive_poly_attention_backward, naive_sharp_output_eps

from promptlimits import exact_attention
from promptlimits.attention import exact_attention_backward
from promptlimits.poly_attention import (
    eps_p_for_output,
    largest_certifiable_B,
    make_plan,
    output_eps_for_eps_p,
    poly_attention,
    poly_attention_backward,
)


def _inputs(seed, n, d, dv, B, nq=None):
    rng = np.random.default_rng(seed)
    nq = n if nq is None else nq
    return (rng.uniform(-B, B, (nq, d)), rng.uniform(-B, B, (n, d)), rng.normal(size=(n, dv)))


@pytest.mark.parametrize(
    "d,degree,n,nq,dv",
    [(1, 0, 5, 3, 1), (1, 6, 9, 9, 2), (2, 3, 13, 7, 5), (4, 4, 16, 16, 4), (3, 5, 30, 11, 8), (8, 2, 21, 6, 9)],
)
@pytest.mark.parametrize("variant", ["softmax", "softmax1"])
def test_kernels_match_naive(d, degree, n, nq, dv, variant):
    """Fused kernel == factors path == naive n x n polynomial attention."""
    Q, K, V = _inputs(degree, n, d, dv, 0.5, nq)
    plan = make_plan(d, 0.5, eps=None, degree=degree, scale=0.8 / d)
    want = naive_poly_attention(Q, K, V, plan.approx.coefficients, scale=plan.scale, variant=variant)
    fused = plan(Q, K, V, variant=variant)
    factors = plan(Q, K, V, method="factors", variant=variant)
    assert fused.shape == (nq, dv)
    np.testing.assert_allclose(fused, want, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(factors, want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("B", [0.25, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("eps", [1e-3, 1e-8])
def test_output_within_certified_bound(B, eps):
    Q, K, V = _inputs(int(B * 8), 64, 5, 3, B)
    Q[0, 0], K[0, 0] = B, -B  # reach the extreme logits
    if B > largest_certifiable_B(5, eps_p_for_output(eps), keys=64):  # d=5, eps=1e-8: B* = 1.8
        with pytest.raises(ValueError, match="rounding of the kernels alone exceeds it"):
            poly_attention(Q, K, V, eps=eps, B=B)
        return
    plan = make_plan(5, B, eps=eps, keys=64)
    assert plan.eps_p <= eps and plan.R == pytest.approx(B * B) and plan.max_keys >= 64
    err = np.max(np.abs(poly_attention(Q, K, V, eps=eps, B=B) - naive_attention(Q, K, V, dtype=np.longdouble)))
    assert err <= plan.output_bound(V) <= eps * np.max(np.abs(V))


@settings(max_examples=12, deadline=None)
@given(
    B=st.floats(0.05, 1.5),
    d=st.integers(1, 4),
    n=st.integers(1, 20),
    eps=st.sampled_from([1e-2, 1e-5, 1e-9]),
    kind=st.sampled_from(["auto", "chebyshev", "shifted_taylor", "taylor"]),
    seed=st.integers(0, 2**16),
)
def test_measured_error_never_exceeds_certificate(B, d, n, eps, kind, seed):
    Q, K, V = _inputs(seed, n, d, 2, B)
    plan = make_plan(d, B, eps=eps, kind=kind)
    T = plan(Q, K, V)
    assert np.max(np.abs(T - exact_attention(Q, K, V))) <= plan.output_bound(V)
    # element-wise: the approximate weights are within (1 +- eps_p) of exp
    x = plan.scale * (Q @ K.T)
    p = plan.approx(x)
    assert np.all(np.abs(p - np.exp(x)) <= plan.eps_p * np.exp(x) * (1 + 1e-12) + 1e-15)


def test_the_bound_includes_rounding_and_tiny_targets_are_refused():
    """A fixed high degree has eps_p far below float64 rounding: its bound is eps_p plus the proved
    rounding term (docs/theory.md §4.6), not eps_p; targets below the rounding are refused, naming it."""
    with pytest.raises(ValueError, match=r"eps=1\.000e-14 .* rounding of the kernels alone exceeds it"):
        make_plan(3, 0.5, eps=1e-14)
    plan = make_plan(8, 1.0, eps=None, degree=14)
    assert plan.eps_p < 1e-12
    Q, K, V = _inputs(3, 1024, 8, 8, 1.0, nq=64)
    delta = plan.rounding(1024)
    assert 1e-13 < delta < 1e-9 and plan.rounding(2048) > delta  # grows with the number of keys
    assert plan.output_bound(V) == pytest.approx(output_eps_for_eps_p(plan.eps_p + delta) * np.max(np.abs(V)))
    assert np.max(np.abs(plan(Q, K, V) - naive_attention(Q, K, V, dtype=np.longdouble))) <= plan.output_bound(V)


def test_plan_reports():
    plan = make_plan(8, 0.5, eps_p=1e-6)
    assert (plan.kind, plan.degree, plan.rank) == ("chebyshev", 4, 495)
    assert plan.R == 0.25 and plan.B == 0.5 and plan.eps_p <= 1e-6
    assert (plan.eps, plan.eps_p_target, plan.certified, plan.keys) == (None, 1e-6, True, 1)
    total = plan.eps_p + plan.rounding(3)
    assert plan.output_bound(np.full((3, 2), -2.0)) == pytest.approx(2 * naive_sharp_output_eps(total), rel=1e-15)
    assert plan.eps_p + plan.rounding(plan.max_keys) <= 1e-6 < plan.eps_p + plan.rounding(plan.max_keys + 1)
    assert make_plan(8, 0.5, eps_p=1e-6) is plan  # cached


def test_float32_and_default_B():
    Q, K, V = _inputs(3, 40, 4, 3, 0.7)
    T32 = poly_attention(Q.astype(np.float32), K.astype(np.float32), V.astype(np.float32))
    assert T32.dtype == np.float32
    T = poly_attention(Q, K, V)
    assert T.dtype == np.float64
    np.testing.assert_allclose(T32, T, rtol=1e-5, atol=1e-6)
    plan = make_plan(4, max(np.abs(Q).max(), np.abs(K).max()))
    np.testing.assert_array_equal(T, plan(Q, K, V))


def test_degree_zero_is_uniform_average():
    Q, K, V = _inputs(4, 10, 3, 2, 0.01)
    T = poly_attention(Q, K, V, eps=None, degree=0)
    np.testing.assert_allclose(T, np.broadcast_to(V.mean(axis=0), T.shape), rtol=1e-13)


# --- backward ---------------------------------------------------------------


def _fd_gradients(plan, Q, K, V, G, h=1e-6):
    out = []
    for idx in range(3):
        X = [Q.copy(), K.copy(), V.copy()]
        grad = np.zeros_like(X[idx])
        for pos in np.ndindex(*X[idx].shape):
            Xp = [a.copy() for a in X]
            Xm = [a.copy() for a in X]
            Xp[idx][pos] += h
            Xm[idx][pos] -= h
            grad[pos] = (np.sum(G * plan(*Xp)) - np.sum(G * plan(*Xm))) / (2 * h)
        out.append(grad)
    return out


@pytest.mark.parametrize(
    "d,degree,n,nq,dv", [(1, 0, 4, 3, 1), (1, 5, 6, 5, 2), (3, 4, 9, 7, 3), (2, 6, 5, 5, 5), (2, 3, 11, 10, 9)]
)
def test_backward_matches_finite_differences_and_naive(d, degree, n, nq, dv):
    B = 0.6
    Q, K, V = _inputs(7 + degree, n, d, dv, B, nq)
    G = np.random.default_rng(1).normal(size=(nq, dv))
    plan = make_plan(d, B + 1e-3, eps=None, degree=degree)  # room for the FD steps
    grads = plan.backward(Q, K, V, G)
    naive = naive_poly_attention_backward(Q, K, V, G, plan.approx.coefficients, scale=plan.scale)
    fd = _fd_gradients(plan, Q, K, V, G)
    for got, ref, num in zip(grads, naive, fd):
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
        assert np.max(np.abs(got - num)) <= 1e-6 * max(1.0, np.max(np.abs(num)))


def test_backward_softmax1_matches_naive():
    Q, K, V = _inputs(11, 12, 3, 2, 0.8)
    G = np.random.default_rng(2).normal(size=(12, 2))
    plan = make_plan(3, 0.8, eps=1e-9)
    got = plan.backward(Q, K, V, G, variant="softmax1")
    ref = naive_poly_attention_backward(Q, K, V, G, plan.approx.coefficients, scale=plan.scale, variant="softmax1")
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("B", [0.3, 1.0])
def test_backward_close_to_exact(B):
    Q, K, V = _inputs(5, 50, 4, 3, B)
    G = np.random.default_rng(3).normal(size=(50, 3))
    got = poly_attention_backward(Q, K, V, G, eps=1e-8)
    ref = exact_attention_backward(Q, K, V, G)
    for a, b in zip(got, ref):
        scale = np.max(np.abs(b)) + np.max(np.abs(G)) * np.max(np.abs(V))
        assert np.max(np.abs(a - b)) <= 1e-6 * scale


# --- bad inputs -------------------------------------------------------------


def test_bad_inputs_raise_with_numbers():
    Q, K, V = _inputs(0, 8, 3, 2, 0.5)
    plan = make_plan(3, 0.5)
    bad = Q.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        plan(bad, K, V)
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        poly_attention(bad, K, V)
    with pytest.raises(ValueError, match="same number of rows"):
        plan(Q, K, V[:-1])
    with pytest.raises(ValueError, match="d=3 columns"):
        plan(Q[:, :2], K[:, :2], V)
    with pytest.raises(ValueError, match="same number of columns"):
        poly_attention(Q[:, :2], K, V)
    with pytest.raises(ValueError, match=r"upstream gradient G must have shape \(8, 2\)"):
        plan.backward(Q, K, V, np.zeros((8, 3)))
    for eps in (0.0, 1.0, -1e-3, 2.0):
        with pytest.raises(ValueError, match="eps must lie in"):
            poly_attention(Q, K, V, eps=eps)
    with pytest.raises(ValueError, match=r"eps=1\.000e-08 \(eps_p=1\.000e-08\): degree 2 .* certifies eps_p=1\.07.e-03 "
                                         r"and the kernels' rounding .* adds .*, above .*; use degree >= 6"):
        make_plan(3, 0.5, eps=1e-8, degree=2)
    big = K.copy()
    big[2, 1] = 0.75
    with pytest.raises(ValueError, match=r"\|\|K\|\|max = 0\.75 exceeds the plan's B = 0\.5"):
        plan(Q, big, V)
    with pytest.raises(ValueError, match=r"\|\|Q\|\|max = 0\.75 exceeds the plan's B = 0\.5"):
        poly_attention(big, K, V, B=0.5)
    with pytest.raises(ValueError, match=r"eps_p=.* >= 1"):
        make_plan(3, 3.0, eps=None, degree=1)
    with pytest.raises(ValueError, match="unknown method"):
        plan(Q, K, V, method="dense")
    with pytest.raises(ValueError, match="at least one key"):
        plan(Q, K[:0], V[:0])
