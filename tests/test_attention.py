"""Exact attention against a naive reference, closed forms and finite differences."""

import numpy as np
import pytest
from naive import naive_attention

from promptlimits import exact_attention, exact_attention_backward


def rand(shape, seed=0, scale=1.0):
    return np.random.default_rng(seed).normal(0.0, scale, size=shape)


@pytest.mark.parametrize("variant", ["softmax", "softmax1"])
@pytest.mark.parametrize("scale", [None, 0.3])
def test_matches_naive_reference(variant, scale):
    Q, K, V = rand((17, 5), 1), rand((23, 5), 2), rand((23, 3), 3)
    got = exact_attention(Q, K, V, scale=scale, variant=variant, chunk=4)
    want = naive_attention(Q, K, V, scale=scale, variant=variant)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_rows_sum_to_one_for_softmax_and_below_one_for_softmax1():
    Q, K = rand((12, 4), 4), rand((12, 4), 5)
    ones = np.ones((12, 1))
    np.testing.assert_allclose(exact_attention(Q, K, ones), 1.0, rtol=1e-14)
    s1 = exact_attention(Q, K, ones, variant="softmax1")
    assert np.all(s1 < 1.0) and np.all(s1 > 0.0)
    # closed form: the row sum of Softmax_1 is sum e^a / (1 + sum e^a)
    E = np.exp(Q @ K.T / 4)
    np.testing.assert_allclose(s1[:, 0], E.sum(1) / (1 + E.sum(1)), rtol=1e-13)


def test_huge_logits_do_not_overflow():
    Q = np.full((3, 2), 100.0)
    K = np.array([[100.0, 100.0], [-100.0, -100.0], [99.0, 99.0]])
    V = np.array([[1.0], [2.0], [3.0]])
    T = exact_attention(Q, K, V, scale=0.5)  # logits up to 1e4
    assert np.all(np.isfinite(T))
    np.testing.assert_allclose(T, 1.0, atol=1e-12)  # the top key wins by a margin of 100
    T1 = exact_attention(Q, K, V, scale=0.5, variant="softmax1")
    np.testing.assert_allclose(T1, 1.0, atol=1e-12)


def test_permutation_equivariance():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(9, 4))
    Wq, Wk, Wv = rng.normal(size=(3, 4, 4))
    perm = rng.permutation(9)
    out = exact_attention(X @ Wq, X @ Wk, X @ Wv)
    out_p = exact_attention(X[perm] @ Wq, X[perm] @ Wk, X[perm] @ Wv)
    np.testing.assert_allclose(out_p, out[perm], rtol=1e-12)


def test_batched_equals_loop_and_chunking_is_invisible():
    Q, K, V = rand((3, 10, 4), 8), rand((3, 14, 4), 9), rand((3, 14, 2), 10)
    T = exact_attention(Q, K, V, chunk=3)
    for b in range(3):
        np.testing.assert_allclose(T[b], exact_attention(Q[b], K[b], V[b], chunk=100), rtol=1e-13)


def test_float32_stays_float32():
    Q, K, V = (rand((8, 4), s).astype(np.float32) for s in (1, 2, 3))
    T = exact_attention(Q, K, V)
    assert T.dtype == np.float32
    np.testing.assert_allclose(T, naive_attention(Q, K, V), rtol=1e-5)


def test_long_sequence_runs_in_chunks_without_an_n_by_n_matrix():
    n, d = 65_536, 16
    rng = np.random.default_rng(0)
    Q = rng.uniform(-1, 1, size=(64, d))  # a few query rows are enough to check values
    K, V = rng.uniform(-1, 1, size=(n, d)), rng.uniform(-1, 1, size=(n, 3))
    T = exact_attention(Q, K, V)
    want = naive_attention(Q, K, V)
    np.testing.assert_allclose(T, want, rtol=1e-10)


def numeric_grad(f, X, h=1e-6):
    g = np.zeros_like(X)
    for i in np.ndindex(X.shape):
        Xp, Xm = X.copy(), X.copy()
        Xp[i] += h
        Xm[i] -= h
        g[i] = (f(Xp) - f(Xm)) / (2 * h)
    return g


def rel_err(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


@pytest.mark.parametrize("variant", ["softmax", "softmax1"])
def test_backward_matches_finite_differences(variant):
    Q, K, V, G = rand((5, 3), 11), rand((7, 3), 12), rand((7, 2), 13), rand((5, 2), 14)

    def f(q, k, v):
        return np.sum(G * exact_attention(q, k, v, scale=0.7, variant=variant))

    dQ, dK, dV = exact_attention_backward(Q, K, V, G, scale=0.7, variant=variant, chunk=2)
    assert rel_err(dQ, numeric_grad(lambda q: f(q, K, V), Q)) < 1e-6
    assert rel_err(dK, numeric_grad(lambda k: f(Q, k, V), K)) < 1e-6
    assert rel_err(dV, numeric_grad(lambda v: f(Q, K, v), V)) < 1e-6


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.ones((3, 2)), np.ones((4, 3)), np.ones((4, 2))), "same number of columns"),
        ((np.ones((3, 2)), np.ones((4, 2)), np.ones((5, 2))), "same number of rows"),
        ((np.ones((3, 2)), np.ones((2, 4, 2)), np.ones((2, 4, 2))), "must all be 2-D or all 3-D"),
        ((np.ones(3), np.ones((4, 3)), np.ones((4, 2))), "dimensions"),
        ((np.array([[np.nan, 1.0]]), np.ones((4, 2)), np.ones((4, 2))), "Q contains 1 NaN"),
        ((np.ones((3, 2)), np.ones((4, 2)), np.full((4, 2), np.inf)), "V contains 8 NaN or infinite"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(args, match):
    with pytest.raises(ValueError, match=match):
        exact_attention(*args)


def test_unknown_variant_and_bad_scale():
    x = np.ones((2, 2))
    with pytest.raises(ValueError, match="unknown attention variant 'sparsemax'"):
        exact_attention(x, x, x, variant="sparsemax")
    with pytest.raises(ValueError, match="scale"):
        exact_attention(x, x, x, scale=-1.0)
    with pytest.raises(ValueError, match="upstream gradient G must have shape"):
        exact_attention_backward(x, x, x, np.ones((3, 2)))


def test_peak_memory_is_per_chunk_not_n_squared():
    import tracemalloc

    n, d = 4096, 8
    rng = np.random.default_rng(1)
    Q, K, V = rng.uniform(-1, 1, size=(3, n, d))
    tracemalloc.start()
    exact_attention(Q, K, V, chunk=128)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < n * n * 8 / 4, f"peak {peak / 2**20:.1f} MiB is not below a quarter of an n x n matrix"
