"""The approximation-error point's shared forward/backward pass against the plan's own methods."""

import numpy as np
import pytest

from promptlimits.experiments import approx_error as ae
from promptlimits.poly_attention import make_plan


def _slow(plan, Q, K, V, G):
    return plan.forward(Q, K, V), plan.backward(Q, K, V, G)


def _same(a, b):
    T1, g1 = a
    T2, g2 = b
    assert T1.dtype == T2.dtype and np.array_equal(T1, T2)
    for x, y in zip(g1, g2):
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y)


@pytest.mark.parametrize("vscale", [1.0, 0.3, 5.0, 0.75])  # ||V||max at 1 (e = 1), below 1/2, above 1, in [1/2, 1)
@pytest.mark.parametrize("degree", [0, 3, 6])
def test_forward_backward_bitwise_equal_to_plan_methods(vscale, degree):
    rng = np.random.default_rng(degree)
    d, B, n = 3, 0.5, 77
    plan = make_plan(d, B, eps=None, degree=degree, kind="chebyshev")
    Q, K = rng.uniform(-B, B, size=(2, n, d))
    V = rng.uniform(-1, 1, size=(n, 2))
    V *= vscale / np.abs(V).max()
    G = rng.uniform(-1, 1, size=(n, 2))
    _same(ae.forward_backward(plan, Q, K, V, G), _slow(plan, Q, K, V, G))
    # float32 inputs, one query, fewer queries than keys
    args = tuple(a.astype(np.float32) for a in (Q[:5], K, V, G[:5]))
    _same(ae.forward_backward(plan, *args), _slow(plan, *args))
    _same(ae.forward_backward(plan, Q[:1], K, V, G[:1]), _slow(plan, Q[:1], K, V, G[:1]))


def test_forward_backward_falls_back_where_scaling_may_round():
    d, n = 2, 16
    plan = make_plan(d, 1.0, eps=None, degree=4, kind="chebyshev")
    rng = np.random.default_rng(1)
    Q, K = rng.uniform(-1, 1, size=(2, n, d))
    V = rng.uniform(-1, 1, size=(n, 1)) * 1e-300  # products near the subnormal range
    G = rng.uniform(-1, 1, size=(n, 1))
    assert not ae._scaling_exact(K, V, plan.degree)
    assert ae._scaling_exact(K, rng.uniform(-1, 1, size=(n, 1)), plan.degree)
    _same(ae.forward_backward(plan, Q, K, V, G), _slow(plan, Q, K, V, G))
    Z = np.zeros((n, 1))
    _same(ae.forward_backward(plan, Q, K, Z, G), _slow(plan, Q, K, Z, G))


@pytest.mark.parametrize("family", ae.FAMILIES)
def test_error_point_rows_equal_the_slow_reference(family, monkeypatch):
    """Every row value of a point is what the plan's separate forward and backward give (tiny size)."""
    params = {"n": 64, "d": 2, "B": 1.0, "degree": 5, "family": family, "kind": "chebyshev"}
    fast = ae.error_point(params, 7)
    monkeypatch.setattr(ae, "forward_backward", _slow)
    slow = ae.error_point(params, 7)
    assert fast.keys() == slow.keys()
    for k in fast:
        assert fast[k] == slow[k] or (fast[k] != fast[k] and slow[k] != slow[k]), k
    assert fast["measured_err"] is not None and fast["grad_err_Q"] is not None
