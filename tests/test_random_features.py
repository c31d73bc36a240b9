"""Positive random features (FAVOR+): unbiased kernel, its variance, attention, bad input."""

import math

import numpy as np
import pytest
from naive import naive_attention

from promptlimits.random_features import (
    draw_projection,
    forward_flops,
    kernel_variance,
    matched_features,
    poly_forward_flops,
    positive_features,
    random_feature_attention,
)

D = 6
SCALE = 1.0 / D


def _pairs():
    rng = np.random.default_rng(11)
    return [(rng.uniform(-b, b, D), rng.uniform(-b, b, D)) for b in (0.5, 1.0, 1.5)]


def _estimates(q, k, *, m, draws, orthogonal, scale=SCALE):
    """``draws`` independent estimates phi(q).phi(k), each with its own fixed seed."""
    out = np.empty(draws)
    for i in range(draws):
        W = draw_projection(m, q.size, seed=1000 + i, orthogonal=orthogonal)
        out[i] = positive_features(q[None], W, scale=scale)[0] @ positive_features(k[None], W, scale=scale)[0]
    return out


@pytest.mark.parametrize("orthogonal", [False, True])
@pytest.mark.parametrize("pair", range(3))
def test_kernel_estimate_is_unbiased(orthogonal, pair):
    """Mean of 400 estimates within 5 standard errors of exp(s q.k); the standard error comes from the
    closed-form variance of independent rows (orthogonal rows have a smaller one: Choromanski et al. Thm 2)."""
    q, k = _pairs()[pair]
    m, draws = 16, 400
    est = _estimates(q, k, m=m, draws=draws, orthogonal=orthogonal)
    want = math.exp(SCALE * q @ k)
    stderr = math.sqrt(kernel_variance(q, k, m=m, scale=SCALE) / draws)
    assert stderr < 0.05 * want  # the tolerance is tight enough to see a bias of a few percent
    assert abs(est.mean() - want) < 5 * stderr


def test_a_biased_feature_map_fails_the_same_test():
    """The test above can fail: dropping the -|x|^2/2 term multiplies the mean by exp(s(|q|^2+|k|^2)/2)."""
    q, k = _pairs()[1]
    m, draws = 16, 400
    est = _estimates(q, k, m=m, draws=draws, orthogonal=False) * math.exp(SCALE * (q @ q + k @ k) / 2)
    stderr = math.sqrt(kernel_variance(q, k, m=m, scale=SCALE) / draws)
    assert abs(est.mean() - math.exp(SCALE * q @ k)) > 5 * stderr


def test_variance_matches_the_closed_form():
    """Sample variance of 200,000 one-feature estimates (independent rows) within 5 standard errors of
    e^(2 s q.k)(e^(s|q+k|^2) - 1); the standard error from the closed-form moments E Y^j = e^(j^2|u|^2/2 - j c)
    of Y = exp(w.u - c), u = q' + k', c = (|q'|^2 + |k'|^2)/2."""
    q, k = _pairs()[0]
    N = 200_000
    W = draw_projection(N, D, seed=21, orthogonal=False)
    Y = positive_features(q[None], W)[0] * positive_features(k[None], W)[0] * N  # N single-feature estimates
    var = kernel_variance(q, k, m=1, scale=SCALE)
    u2, c = SCALE * (q + k) @ (q + k), SCALE * (q @ q + k @ k) / 2
    EY = [math.exp(j * j * u2 / 2 - j * c) for j in range(5)]
    mu4 = EY[4] - 4 * EY[1] * EY[3] + 6 * EY[1] ** 2 * EY[2] - 3 * EY[1] ** 4
    se = math.sqrt((mu4 - var**2) / N)
    assert 5 * se < 0.1 * var  # the test sees a 10% error in the formula
    assert abs(Y.var(ddof=1) - var) < 5 * se


def test_orthogonal_rows_are_gaussian_and_orthogonal_in_blocks():
    W = draw_projection(2 * D + 2, D, seed=3)
    assert W.shape == (2 * D + 2, D)
    block = W[:D] / np.linalg.norm(W[:D], axis=1)[:, None]
    np.testing.assert_allclose(block @ block.T, np.eye(D), atol=1e-12)
    big = draw_projection(20_000, D, seed=4)
    np.testing.assert_allclose(np.cov(big.T), np.eye(D), atol=0.05)  # rows ~ N(0, I)


def test_attention_equals_the_unshifted_formula():
    """The shifts before exp cancel: the result is D^-1 phi(Q) phi(K)^T V with phi unshifted."""
    rng = np.random.default_rng(5)
    Q, K, V = rng.uniform(-2, 2, (9, D)), rng.uniform(-2, 2, (13, D)), rng.normal(size=(13, 3))
    T = random_feature_attention(Q, K, V, m=40, seed=7)
    W = draw_projection(40, D, seed=7)
    A = positive_features(Q, W) @ positive_features(K, W).T
    np.testing.assert_allclose(T, (A @ V) / A.sum(axis=1, keepdims=True), rtol=1e-10)
    assert T.shape == (9, 3)


def test_attention_converges_to_exact_with_many_features():
    rng = np.random.default_rng(6)
    Q, K, V = rng.uniform(-1, 1, (5, D)), rng.uniform(-1, 1, (30, D)), rng.normal(size=(30, 2))
    exact = naive_attention(Q, K, V)
    errs = [np.abs(random_feature_attention(Q, K, V, m=m, seed=8) - exact).max() for m in (8, 20_000)]
    assert errs[1] < 0.02 and errs[1] < errs[0] / 5


def test_large_logits_do_not_underflow():
    """Raw features of large inputs are all 0 (0/0 in the ratio); the shifted computation stays finite."""
    rng = np.random.default_rng(9)
    Q, K, V = rng.uniform(-300, 300, (4, D)), rng.uniform(-300, 300, (7, D)), rng.normal(size=(7, 1))
    assert not positive_features(Q, draw_projection(8, D, seed=1)).any()
    T = random_feature_attention(Q, K, V, m=8, seed=1)
    assert np.all(np.isfinite(T)) and np.all(np.abs(T) <= np.abs(V).max() + 1e-12)  # a convex combination


def test_matched_features_spend_no_more_flops_than_the_polynomial():
    for rank, d in ((1, 8), (79, 78), (4851, 97)):
        m = matched_features(rank, n_q=1024, n_k=1025, d=d, d_v=1)
        poly = poly_forward_flops(1024, 1025, rank, 1)
        assert forward_flops(1024, 1025, m, d, 1) <= poly or m == 1
        assert forward_flops(1024, 1025, m + 1, d, 1) > poly


@pytest.mark.parametrize("call, match", [
    (lambda Q, K, V: random_feature_attention(Q, K, V, m=0, seed=0), "m .* must be >= 1"),
    (lambda Q, K, V: random_feature_attention(Q, K[:, :3], V, m=4, seed=0), "K must have d=6 columns"),
    (lambda Q, K, V: random_feature_attention(Q, K, V[:2], m=4, seed=0), "same number of rows"),
    (lambda Q, K, V: random_feature_attention(Q, K, V, m=4, seed=0, scale=0.0), "scale must be finite and > 0"),
    (lambda Q, K, V: random_feature_attention(Q * np.nan, K, V, m=4, seed=0), "Q contains .* NaN"),
    (lambda Q, K, V: random_feature_attention(Q[0], K, V, m=4, seed=0), "Q must have 2 dimensions"),
    (lambda Q, K, V: random_feature_attention(Q[:, :0], K[:, :0], V, m=4, seed=0), "d \\(columns of Q\\) must be >= 1"),
    (lambda Q, K, V: kernel_variance(Q[0], K[0, :2], m=4), "same length"),
])
def test_bad_input_is_named(call, match):
    rng = np.random.default_rng(0)
    Q, K, V = rng.normal(size=(3, D)), rng.normal(size=(5, D)), rng.normal(size=(5, 1))
    with pytest.raises(ValueError, match=match):
        call(Q, K, V)


def test_bad_types_are_named():
    with pytest.raises(TypeError, match="seed must be"):
        random_feature_attention(np.ones((2, 2)), np.ones((2, 2)), np.ones((2, 1)), m=2, seed="x")
    with pytest.raises(TypeError, match="m .* must be an integer"):
        draw_projection(2.5, 2, seed=0)
