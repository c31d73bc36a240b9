"""Batched polynomial attention: one kernel call per pass for a batch equals the sequences one by one, bit for bit.

Marked ``kernels`` (small sizes): CI runs them again with ``NUMBA_DISABLE_JIT=1``.
Each sequence of a batch must get, to the last bit, what the plan returns for it
alone, on 1 and on 2 Numba threads, also where a sequence is cut into several
tasks and the units are grouped into several thread tasks (forced here by a small
``TASK_WORK``), and with values of very different sizes (each sequence has its own
power-of-two scaling).
"""

import numpy as np
import pytest
from naive import naive_poly_attention

import promptlimits._checks as checks
from promptlimits.poly_attention import _threads, make_plan

pytestmark = pytest.mark.kernels

B = 0.6


def _batch(seed, b, nq, n, d, dv):
    rng = np.random.default_rng(seed)
    Q = rng.uniform(-B, B, (b, nq, d))
    K = rng.uniform(-B, B, (b, n, d))
    V = rng.normal(size=(b, n, dv)) * 10.0 ** rng.integers(-3, 4, (b, 1, 1))  # sizes differ by sequence
    G = rng.normal(size=(b, nq, dv))
    if b > 2:
        V[1] = 0.0  # a sequence of zero values
    return Q, K, V, G


def _one_by_one(plan, Q, K, V, G, variant):
    T = np.stack([plan.forward(Q[i], K[i], V[i], variant=variant) for i in range(Q.shape[0])])
    grads = [plan.backward(Q[i], K[i], V[i], G[i], variant=variant) for i in range(Q.shape[0])]
    return T, [np.stack(g) for g in zip(*grads)]


@pytest.mark.parametrize("variant", ["softmax", "softmax1"])
@pytest.mark.parametrize("b, nq, n, d, dv, g, task_work", [
    (1, 3, 5, 2, 2, 3, None),
    (4, 5, 13, 3, 9, 2, None),   # odd rows, a partial second column tile
    (3, 9, 17, 2, 1, 3, 64),     # several tasks per sequence and several thread tasks
    (6, 8, 24, 1, 8, 4, 4096),   # units grouped across sequences
])
def test_batch_equals_sequences_to_the_last_bit(threads, monkeypatch, variant, b, nq, n, d, dv, g, task_work):
    if task_work is not None:
        monkeypatch.setattr(_threads, "TASK_WORK", task_work)
    plan = make_plan(d, B, degree=g)
    Q, K, V, G = _batch(b * 100 + n, b, nq, n, d, dv)
    T1, grads1 = _one_by_one(plan, Q, K, V, G, variant)
    T = plan.forward_batch(Q, K, V, variant=variant)
    assert T.shape == (b, nq, dv) and np.array_equal(T, T1)
    grads = plan.backward_batch(Q, K, V, G, variant=variant)
    for got, want, X in zip(grads, grads1, (Q, K, V)):
        assert got.shape == X.shape and np.array_equal(got, want)
    if task_work is not None:  # the forward's key pass really was cut into several tasks or thread tasks
        n8, wv = -(-n // 8) * 8, -(-dv // 8) * 8
        bounds = _threads.split(n8, plan.rank * wv)
        groups = _threads.group(b * (len(bounds) - 1), int(bounds[1] - bounds[0]) * plan.rank * wv)
        assert len(bounds) > 2 or len(groups) > 2


def test_batch_matches_the_n_by_n_polynomial_and_lists_are_batches():
    plan = make_plan(2, B, degree=3)
    Q, K, V, _ = _batch(7, 3, 4, 6, 2, 3)
    T = plan.forward_batch(list(Q), list(K), list(V))
    for i in range(3):
        want = naive_poly_attention(Q[i], K[i], V[i], plan.approx.coefficients)
        np.testing.assert_allclose(T[i], want, rtol=1e-12, atol=1e-13 * max(1.0, np.abs(V[i]).max()))


def test_float32_batch_is_float32_and_equals_sequences():
    plan = make_plan(2, B, degree=3)
    Q, K, V, G = (X.astype(np.float32) for X in _batch(3, 2, 3, 5, 2, 2))
    T = plan.forward_batch(Q, K, V)
    assert T.dtype == np.float32
    assert np.array_equal(T, np.stack([plan.forward(Q[i], K[i], V[i]) for i in range(2)]))


def test_sequences_of_different_lengths_are_refused():
    plan = make_plan(2, B, degree=2)
    rng = np.random.default_rng(0)
    K = [rng.uniform(-B, B, (5, 2)), rng.uniform(-B, B, (6, 2))]
    V = [rng.normal(size=(5, 3)), rng.normal(size=(6, 3))]
    Q = [rng.uniform(-B, B, (4, 2))] * 2
    with pytest.raises(ValueError, match=r"different lengths.*K\[1\] has shape \(6, 2\)"):
        plan.forward_batch(Q, K, V)
    with pytest.raises(ValueError, match="same number of sequences"):
        plan.forward_batch(np.zeros((2, 4, 2)), np.zeros((3, 5, 2)), np.zeros((3, 5, 3)))
    with pytest.raises(ValueError, match="at least one sequence"):
        plan.forward_batch([], [], [])
    with pytest.raises(ValueError, match=r"exceeds the plan's B"):
        plan.backward_batch(np.full((2, 4, 2), 2 * B), np.zeros((2, 5, 2)), np.zeros((2, 5, 3)),
                            np.zeros((2, 4, 3)))


def test_a_batch_above_the_memory_budget_is_refused(monkeypatch):
    plan = make_plan(2, B, degree=2)
    Q, K, V, G = _batch(1, 4, 8, 8, 2, 2)
    monkeypatch.setattr(checks, "physical_memory", lambda: 4096)  # a machine of 4 KiB
    with pytest.raises(ValueError, match=r"batched polynomial forward of 4 sequences.*memory"):
        plan.forward_batch(Q, K, V)
    with pytest.raises(ValueError, match=r"batched polynomial backward of 4 sequences.*memory"):
        plan.backward_batch(Q, K, V, G)


def test_batched_bound_helpers_equal_the_one_sequence_ones():
    from promptlimits.poly_attention import _gradient as gb

    plan = make_plan(3, B, eps=1e-6, keys=9)
    Q, K, V, G = _batch(11, 4, 5, 9, 3, 4)
    dG = np.abs(np.random.default_rng(2).normal(size=G.shape))
    bounds = plan.output_bound_batch(V)
    assert np.array_equal(bounds, [plan.output_bound(Vb) for Vb in V]) and bounds[1] == 0.0
    a_max = gb.largest_weight_batch(Q, K, plan.scale)
    dist = gb.backward_distance_columns_batch(plan.eps_p, plan.approx.eps_dp, plan.scale, Q, K, V, G, a_max)
    sens = gb.exact_backward_sensitivity_batch(plan.scale, Q, V, dG, a_max)
    for i in range(4):
        a = gb.largest_weight(Q[i], K[i], plan.scale)
        np.testing.assert_allclose(a_max[i], a, rtol=1e-14)
        one = gb.backward_distance_columns(plan.eps_p, plan.approx.eps_dp, plan.scale, Q[i], K[i], V[i], G[i], a)
        for got, want in zip(dist, one):
            np.testing.assert_allclose(got[i], want, rtol=1e-13)
        for got, want in zip(sens, gb.exact_backward_sensitivity(plan.scale, Q[i], V[i], dG[i], a)):
            np.testing.assert_allclose(got[i], want, rtol=1e-13)


def test_bench_tuning_step_adam_prints_both_tables(capsys):
    """``bench tuning-step --adam-steps``: the Adam-run table on the batch, and the batched attention alone
    against exact where a plan certifies (no timing is asserted: only that both were run and reported)."""
    from promptlimits.cli import main

    argv = ["bench", "tuning-step", "--adam-steps", "2", "--batch", "3", "--s", "2", "--n-min", "8",
            "--n-max", "8", "--repeats", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 Adam steps of tune_prompt" in out and "poly g=" in out
    assert "Attention alone" in out
    row = [line.split() for line in out.splitlines() if line.split()[:2] == ["8", "3"]]
    assert len(row) == 2 and row[0][2] == "poly"


@pytest.mark.kernels
def test_unpadded_inputs_go_to_the_kernels_uncopied_and_unchanged():
    """Rows a multiple of 8 and ``d_v = 8`` need no padding: the drivers hand the caller's arrays to the kernels
    (no copy), which must only read them; the results equal those from copies."""
    rng = np.random.default_rng(7)
    plan = make_plan(3, 0.5, eps_p=1e-4)
    Q, K = rng.uniform(-0.5, 0.5, (2, 16, 3)), rng.uniform(-0.5, 0.5, (2, 16, 3))
    V, G = rng.standard_normal((2, 16, 8)), rng.standard_normal((2, 16, 8))
    saved = [X.copy() for X in (Q, K, V, G)]
    T = plan.forward_batch(Q, K, V)
    grads = plan.backward_batch(Q, K, V, G)
    T0, grads0 = plan.forward(Q[0], K[0], V[0]), plan.backward(Q[0], K[0], V[0], G[0])
    for X, X0 in zip((Q, K, V, G), saved):
        assert np.array_equal(X, X0)
    assert np.array_equal(T[0], T0) and all(np.array_equal(a[0], b) for a, b in zip(grads, grads0))
    T_copy = plan.forward_batch(*(np.asfortranarray(X) for X in (Q, K, V)))  # not C-contiguous: copied
    assert np.array_equal(T, T_copy)
