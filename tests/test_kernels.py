"""The fused kernels against their naive references at every blocking edge case (docs/theory.md §3.9, §3.10).

The kernels take rows eight at a time and columns of ``V`` in tiles of eight:
``n`` and ``n_q`` below, at and above multiples of 8, ``d_v = 1..9`` (a partial
tile, a full tile, a second tile), rank 1 (degree 0) and a multi-task split.
"""

import numpy as np
import pytest
from naive import naive_poly_attention, naive_poly_attention_backward

from promptlimits.poly_attention import _threads, make_plan


def _inputs(seed, n, nq, d, dv, B):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-B, B, (nq, d)), rng.uniform(-B, B, (n, d)), rng.normal(size=(n, dv)),
            rng.normal(size=(nq, dv)))


def _check(plan, Q, K, V, G, variant="softmax"):
    c = plan.approx.coefficients
    want = naive_poly_attention(Q, K, V, c, scale=plan.scale, variant=variant)
    np.testing.assert_allclose(plan(Q, K, V, variant=variant), want, rtol=1e-12, atol=1e-13)
    for got, ref in zip(plan.backward(Q, K, V, G, variant=variant),
                        naive_poly_attention_backward(Q, K, V, G, c, scale=plan.scale, variant=variant)):
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n, nq", [(1, 1), (7, 9), (8, 8), (9, 16), (17, 7), (24, 25)])
@pytest.mark.parametrize("dv", range(1, 10))
def test_forward_and_backward_equal_naive_at_every_block_edge(n, nq, dv):
    plan = make_plan(3, 0.6, eps=None, degree=4)  # rank 35: no multiple of 8
    _check(plan, *_inputs(n * 10 + dv, n, nq, 3, dv, 0.6))


@pytest.mark.parametrize("variant", ["softmax", "softmax1"])
@pytest.mark.parametrize("d, degree", [(1, 0), (4, 0), (1, 7), (5, 2)])
def test_rank_one_and_single_coordinate_bases(d, degree, variant):
    """Degree 0 is rank 1 (no runs: every weight is c_0, the output the mean of V); d = 1 is one run per degree."""
    plan = make_plan(d, 0.5, eps=None, degree=degree)
    Q, K, V, G = _inputs(d + degree, 13, 10, d, 3, 0.5)
    _check(plan, Q, K, V, G, variant)
    if degree == 0 and variant == "softmax":
        np.testing.assert_allclose(plan(Q, K, V), np.broadcast_to(V.mean(axis=0), (10, 3)), rtol=1e-13)


def test_many_tasks_equal_one_task(monkeypatch):
    """A split into many tasks (forced by a tiny task size) gives the naive result, and the same bits as one task."""
    plan = make_plan(4, 0.5, eps=None, degree=5)
    Q, K, V, G = _inputs(5, 203, 150, 4, 6, 0.5)
    one = (plan(Q, K, V), *plan.backward(Q, K, V, G))
    monkeypatch.setattr(_threads, "TASK_WORK", 2**10)
    assert len(_threads.split(208, plan.rank * 8)) - 1 == _threads.MAX_TASKS
    _check(plan, Q, K, V, G)
    many = (plan(Q, K, V), *plan.backward(Q, K, V, G))
    for a, b in zip(one, many):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)  # partial sums regrouped: not bitwise
