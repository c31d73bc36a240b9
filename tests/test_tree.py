"""The depth-first key passes of large ranks (``poly_attention._tree``) against the block-of-eight passes.

Marked ``kernels`` (small sizes): CI runs them again with ``NUMBA_DISABLE_JIT=1``.
The forward key pass by the walk must give the block pass's sums to the last bit
(every row of ``S`` gets the same chain of FMAs); the backward key pass sums ``dV``
and ``dK`` over the monomials in the walk's order, so it is compared with the block
pass to rounding, with the n x n polynomial backward, and with the proved rounding
bound against extended precision (docs/theory.md §4.6.1: any summation order).
The backward's query side walks twice per 64 queries (``N`` and ``D``, then the
gradients) and is compared in the same way. The plan chooses the walk by rank alone
(``DEPTH_FIRST_RANK``, ``DEPTH_FIRST_RANK_QUERIES``); the tests force it at small
ranks and also run it once at the real threshold of the key passes.
"""

import numba
import numpy as np
import pytest
from naive import naive_poly_attention, naive_poly_attention_backward

from promptlimits.features import monomial_basis
from promptlimits.poly_attention import _threads, _tree, make_plan
from promptlimits.poly_attention._kernels import backward_key_task, backward_query_task, key_task

pytestmark = pytest.mark.kernels

SHAPES = [  # d, degree, keys, value columns (a multiple of 8), first row
    (1, 7, 40, 8, 0),
    (2, 3, 16, 8, 8),
    (3, 4, 200, 16, 8),   # two column tiles, several walks with a short last one
    (4, 6, 72, 8, 0),
    (8, 5, 136, 8, 64),
    (3, 0, 16, 8, 0),     # the constant alone
]


def _walk(monkeypatch, from_rank):
    monkeypatch.setattr(_tree, "DEPTH_FIRST_RANK", from_rank)
    monkeypatch.setattr(_tree, "DEPTH_FIRST_RANK_QUERIES", from_rank)


@pytest.fixture
def walk_always(monkeypatch):
    _walk(monkeypatch, 1)


@pytest.mark.parametrize("d, g", [(1, 5), (2, 4), (3, 3), (5, 4), (4, 0)])
def test_the_walk_visits_every_monomial_once_after_its_parent(d, g):
    basis = monomial_basis(d, g)
    order = _tree.visiting_order(d, g)
    assert order[0] == 0 and np.array_equal(np.sort(order), np.arange(basis.rank))
    position = np.empty(basis.rank, dtype=np.int64)
    position[order] = np.arange(basis.rank)
    child = np.arange(1, basis.rank)
    assert (position[basis.parent[child]] < position[child]).all()


@pytest.mark.parametrize("d, g, n, wv, lo", SHAPES)
def test_the_walk_gives_the_block_pass_sums_to_the_last_bit(d, g, n, wv, lo):
    rng = np.random.default_rng(d * 100 + g)
    basis = monomial_basis(d, g)
    runs, r = np.ascontiguousarray(basis.runs), basis.rank
    K, V = rng.uniform(-1, 1, (n, d)), rng.uniform(-1, 1, (n, wv))
    S, s1 = rng.normal(size=(wv // 8, r, 8)), rng.normal(size=(r, 8))  # partial sums already under way
    order = _tree.visiting_order(d, g)
    S_walk, s1_walk = np.ascontiguousarray(S[:, order]), np.ascontiguousarray(s1[order])
    key_task(K, V, runs, r, lo, n, S, s1)
    _tree.key_task_depth_first(K, V, g, lo, n, S_walk, s1_walk)
    assert np.array_equal(S_walk, S[:, order]) and np.array_equal(s1_walk, s1[order])


@pytest.mark.parametrize("d, g, n, wv, lo", SHAPES)
def test_the_walks_backward_is_the_block_backward_to_rounding(d, g, n, wv, lo):
    rng = np.random.default_rng(d * 100 + g + 1)
    basis = monomial_basis(d, g)
    runs, r = np.ascontiguousarray(basis.runs), basis.rank
    K, V = rng.uniform(-1, 1, (n, d)), rng.uniform(-1, 1, (n, wv))
    WVw, w1w = rng.uniform(-1, 1, (wv // 8, r, 8)), rng.uniform(-1, 1, r)
    dK, dV = np.zeros((n, d)), np.full((n, wv), np.nan)
    backward_key_task(K, V, WVw, w1w, runs, r, lo, n, dK, dV)
    order = _tree.visiting_order(d, g)
    dK_walk, dV_walk = np.zeros((n, d)), np.full((n, wv), np.nan)
    _tree.backward_key_task_depth_first(K, V, np.ascontiguousarray(WVw[:, order]), w1w[order], g, lo, n,
                                        dK_walk, dV_walk)
    assert np.isnan(dV_walk[:lo]).all() and (dK_walk[:lo] == 0).all()  # rows outside the task untouched
    scale = r * (1 + wv)  # terms of at most this absolute sum, each |.| <= 1
    np.testing.assert_allclose(dV_walk[lo:], dV[lo:], rtol=0, atol=1e-15 * scale)
    np.testing.assert_allclose(dK_walk[lo:], dK[lo:], rtol=0, atol=1e-15 * scale * max(g, 1))
    if g > 0:
        assert np.abs(dK[lo:]).max() > 0.1  # the comparison has something to compare


@pytest.mark.parametrize("d, g, n, wv, lo", SHAPES)
def test_the_query_walks_backward_is_the_block_backward_to_rounding(d, g, n, wv, lo):
    rng = np.random.default_rng(d * 100 + g + 2)
    basis = monomial_basis(d, g)
    runs, r = np.ascontiguousarray(basis.runs), basis.rank
    Q, G = rng.uniform(-1, 1, (n, d)), rng.uniform(-1, 1, (n, wv))
    Sw, s1w = rng.uniform(-1, 1, (wv // 8, r, 8)) / r, rng.uniform(0.5, 1, r) / r  # D = 1 + m(q) . s1w > 0
    order = _tree.visiting_order(d, g)
    dQ, WV, w1 = np.zeros((n, d)), np.zeros((wv // 8, r, 8)), np.zeros((r, 8))
    backward_query_task(Q, G, Sw, s1w, 1.0, runs, r, lo, n, dQ, WV, w1)
    dQ_w, WV_w, w1_w = np.zeros((n, d)), np.zeros((wv // 8, r, 8)), np.zeros((r, 8))
    _tree.backward_query_task_depth_first(Q, G, np.ascontiguousarray(Sw[:, order]), s1w[order], 1.0, g, lo, n,
                                          dQ_w, WV_w, w1_w)
    assert (dQ_w[:lo] == 0).all()
    WV_b, w1_b = np.empty_like(WV_w), np.empty_like(w1_w)
    WV_b[:, order], w1_b[order] = WV_w, w1_w
    atol = 1e-15 * n * max(g, 1) * (1 + wv)
    np.testing.assert_allclose(WV_b, WV, rtol=0, atol=atol)
    np.testing.assert_allclose(w1_b.sum(1), w1.sum(1), rtol=0, atol=atol)
    np.testing.assert_allclose(dQ_w, dQ, rtol=0, atol=atol)
    assert np.abs(WV).max() > 0.1 and (g == 0 or np.abs(dQ[lo:]).max() > 1e-3)


def _inputs(seed, b, nq, n, d, dv, B):
    rng = np.random.default_rng(seed)
    Q, K = rng.uniform(-B, B, (b, nq, d)), rng.uniform(-B, B, (b, n, d))
    return Q, K, rng.normal(size=(b, n, dv)), rng.normal(size=(b, nq, dv))


@pytest.mark.parametrize("variant", ["softmax", "softmax1"])
def test_plans_forward_is_the_same_walked_or_not_and_batches_are_the_sequences(threads, monkeypatch, variant):
    """Forward bit for bit with and without the walk; with it, a batch is its sequences one by one (both passes),
    on 1 and 2 threads, the keys cut into several tasks."""
    monkeypatch.setattr(_threads, "TASK_WORK", 2**12)
    plan = make_plan(3, 0.7, degree=5)
    Q, K, V, G = _inputs(3, 3, 70, 150, 3, 10, 0.7)  # at least 64 queries and keys: both sides walk
    _walk(monkeypatch, 2**62)
    T_blocks = plan.forward_batch(Q, K, V, variant=variant)
    _walk(monkeypatch, 1)
    assert len(_threads.split(152, plan.rank * 16)) > 2
    T = plan.forward_batch(Q, K, V, variant=variant)
    assert np.array_equal(T, T_blocks)
    grads = plan.backward_batch(Q, K, V, G, variant=variant)
    for i in range(Q.shape[0]):
        assert np.array_equal(plan.forward(Q[i], K[i], V[i], variant=variant), T[i])
        for got, want in zip(grads, plan.backward(Q[i], K[i], V[i], G[i], variant=variant)):
            assert np.array_equal(got[i], want)


@pytest.mark.parametrize("variant", ["softmax", "softmax1"])
def test_walked_backward_matches_the_n_by_n_polynomial(walk_always, variant):
    plan = make_plan(2, 0.8, degree=6)
    Q, K, V, G = _inputs(4, 1, 66, 77, 2, 3, 0.8)
    T = plan.forward(Q[0], K[0], V[0], variant=variant)
    want = naive_poly_attention(Q[0], K[0], V[0], plan.approx.coefficients, scale=plan.scale, variant=variant)
    np.testing.assert_allclose(T, want, rtol=1e-12, atol=1e-13)
    got = plan.backward(Q[0], K[0], V[0], G[0], variant=variant)
    ref = naive_poly_attention_backward(Q[0], K[0], V[0], G[0], plan.approx.coefficients, scale=plan.scale,
                                        variant=variant)
    for x, y in zip(got, ref):
        np.testing.assert_allclose(x, y, rtol=1e-11, atol=1e-12 * np.abs(y).max())


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= 1e-18, reason="numpy.longdouble has no extended precision here")
@pytest.mark.parametrize("d, B, degree", [(2, 1.5, 14), (4, 1.0, 10)])
def test_walked_backward_rounding_is_within_its_proved_bound(walk_always, d, B, degree):
    """1024 keys and 64 queries at the corners of the box (the inputs that maximise rounding): the walk's backward
    against the polynomial backward in long double, beside ``GradientBound.rounding_d*`` (§4.6.1)."""
    from promptlimits.experiments.approx_error import _poly_backward_extended

    plan = make_plan(d, B, eps=None, degree=degree, kind="chebyshev")
    rng = np.random.default_rng(degree)
    Q, K = rng.choice([-B, B], (64, d)), rng.choice([-B, B], (1024, d))
    V, G = rng.choice([-1.0, 1.0], (1024, 3)), rng.choice([-1.0, 1.0], (64, 3))
    got = plan.backward(Q, K, V, G)
    bound = plan.gradient_bound(Q, K, V, G)
    for name, x, y in zip("QKV", got, _poly_backward_extended(plan, Q, K, V, G)):
        gap = float(np.abs(x - y).max())
        assert 0.0 < gap <= getattr(bound, f"rounding_d{name}"), name


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="rank 75,582 as plain Python takes minutes; the JIT run has it")
def test_at_the_threshold_the_plan_walks_and_agrees_with_the_blocks(monkeypatch):
    """Rank 75,582 (d = 8, degree 11) is above ``DEPTH_FIRST_RANK`` (rank 43,758 below it): the plan's own choice
    walks the tree, on both sides."""
    assert not _tree.depth_first(43_758, "keys", 72) and not _tree.depth_first(43_758, "queries", 72)
    plan = make_plan(8, 0.3, degree=11)
    assert _tree.depth_first(plan.rank, "keys", 72) and _tree.depth_first(plan.rank, "queries", 72)
    assert not _tree.depth_first(plan.rank, "keys", 56)  # fewer rows than a walk's lanes: the blocks
    with pytest.raises(ValueError, match="side must be 'keys' or 'queries', got 'values'"):
        _tree.depth_first(plan.rank, "values")
    Q, K, V, G = _inputs(5, 1, 8, 70, 8, 4, 0.3)
    T, grads = plan.forward(Q[0], K[0], V[0]), plan.backward(Q[0], K[0], V[0], G[0])
    _walk(monkeypatch, 2**62)
    assert np.array_equal(plan.forward(Q[0], K[0], V[0]), T)
    for x, y in zip(grads, plan.backward(Q[0], K[0], V[0], G[0])):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14 * np.abs(y).max())
