"""SETH-hardness instances (docs/theory.md §6): promise, encoding algebra, decisions."""

import math

import numpy as np
import pytest
from naive import naive_poly_attention

from promptlimits.attention import exact_attention
from promptlimits.experiments.hardness import make_sweep, resolve_budget
from promptlimits.hardness import (
    budgeted_plan,
    decide,
    default_parameters,
    encode,
    extra_dims,
    hamming,
    lambda_min,
    largest_degree,
    make_instance,
    score_gap,
)
from promptlimits.sweep import run_sweep


def test_promise_holds_exactly():
    n = 256
    m, t, tf = default_parameters(n)
    for k in range(6):
        inst = make_instance(n, m, t, tf, planted=k % 2 == 0, seed=k)
        H = hamming(inst.A, inst.C)
        if inst.planted:
            i, j = inst.pair
            assert H[i, j] <= t
            H = H.copy()
            H[i, j] = m
        assert H.min() >= tf


def test_hamming_matches_naive():
    rng = np.random.default_rng(0)
    A, C = rng.integers(0, 2, (7, 9)), rng.integers(0, 2, (5, 9))
    naive = np.array([[np.sum(a != c) for c in C] for a in A])
    assert np.array_equal(hamming(A, C), naive)


def test_encoding_logits_are_affine_in_hamming_and_bounded():
    n = 64
    m, t, tf = default_parameters(n)
    inst = make_instance(n, m, t, tf, planted=True, seed=3)
    lam = 2.5
    Q, K, V = encode(inst, lam)
    e, _ = extra_dims(m, t, tf)
    d = m + e
    assert Q.shape == (n, d) and K.shape == (n + 1, d) and V.sum() == 1.0 and V[-1, 0] == 1.0
    assert max(np.abs(Q).max(), np.abs(K).max()) == pytest.approx(lam)  # B = lambda
    S = Q @ K.T / d
    H = hamming(inst.A, inst.C)
    assert np.allclose(S[:, :n], lam**2 * (t + tf - 2 * H) / d)
    assert np.allclose(S[:, n], 0.0)
    gamma = score_gap(lam, m, t, tf)
    close = H <= t
    assert np.all(S[:, :n][close] >= gamma - 1e-12) and np.all(S[:, :n][~close] <= -gamma + 1e-12)


def test_exact_attention_decides_all_50_instances_at_n_1024():
    n = 1024
    m, t, tf = default_parameters(n)
    lam = 1.001 * lambda_min(n, m, t, tf)
    assert score_gap(lam, m, t, tf) > math.log(3 * n)
    rng = np.random.default_rng(2025)
    right = 0
    for k in range(50):
        inst = make_instance(n, m, t, tf, planted=k % 2 == 0, seed=rng)
        Q, K, V = encode(inst, lam)
        T = exact_attention(Q, K, V)[:, 0]
        assert np.all((T < 0.25) | (T > 0.75))  # the derived margin holds row by row
        dec, _ = decide(inst, lam, exact_attention)
        right += dec == inst.planted
    assert right == 50


def test_budget_degree_and_poly_small_lambda():
    assert largest_degree(53, 1024) == 1 and largest_degree(4, 35) == 3 and largest_degree(4, 34) == 2
    assert resolve_budget("n", 100) == 100 and resolve_budget("n^1.5", 100) == 1000
    assert resolve_budget(77, 100) == 77
    with pytest.raises(ValueError):
        resolve_budget("lots", 100)
    n = 64
    m, t, tf = default_parameters(n)
    inst = make_instance(n, m, t, tf, planted=True, seed=1)
    Q, K, V = encode(inst, 0.2)  # tiny logits: a degree-1 polynomial is accurate
    plan = budgeted_plan(Q.shape[1], 0.2, n)
    assert plan.degree == largest_degree(Q.shape[1], n) == 1 and plan.certified
    T = plan.forward(Q, K, V)
    assert np.max(np.abs(T - exact_attention(Q, K, V))) <= plan.output_bound(V) < 1e-3


@pytest.mark.parametrize("lam", [1.5, 2.5, 3.5])
def test_budgeted_plan_is_uncertified_and_runs_the_polynomial(lam):
    """Past the certified range the budgeted plan says so, refuses a bound, and still computes
    D^-1 p(QK^T/d) V for its Chebyshev p (the naive n x n twin), with the same decisions."""
    n = 64
    m, t, tf = default_parameters(n)
    plan = budgeted_plan(m + extra_dims(m, t, tf)[0], lam, n)
    assert not plan.certified and plan.eps_p >= 1 and "UNCERTIFIED" in repr(plan)
    with pytest.raises(ValueError, match="uncertified"):
        plan.output_bound(np.ones((3, 1)))
    for k in range(4):
        inst = make_instance(n, m, t, tf, planted=(k % 2 == 0), seed=k)
        Q, K, V = encode(inst, lam)
        want = naive_poly_attention(Q, K, V, plan.approx.coefficients)
        np.testing.assert_allclose(plan.forward(Q, K, V), want, rtol=1e-9, atol=1e-12)
        assert decide(inst, lam, plan.forward)[0] == decide(
            inst, lam, lambda Q, K, V: naive_poly_attention(Q, K, V, plan.approx.coefficients))[0]


def test_bad_parameters():
    with pytest.raises(ValueError, match="t < t_far"):
        make_instance(16, 8, 3, 3, planted=False)
    with pytest.raises(ValueError, match="could not make"):
        make_instance(64, 8, 0, 8, planted=False, max_rounds=5)
    with pytest.raises(ValueError, match="lambda"):
        encode(make_instance(16, 12, 0, 1, planted=False), -1.0)


def test_small_hardness_sweep(tmp_path):
    res = run_sweep(make_sweep("tiny", ns=[128], kappas=[0.5, 3.0], n_instances=6), tmp_path, workers=1,
                    progress=False)
    by = {(r["kappa"], r["method"]): r for r in res.rows}
    assert by[(3.0, "exact")]["accuracy"] == 1.0
    assert by[(0.5, "poly")]["agreement_with_exact"] == 1.0
    assert by[(3.0, "poly")]["max_deviation"] > 0.25
    assert res.meta["summary"]["128"]["kappa_exact_perfect_from"] == 3.0
