"""The warm-started least-``Lp`` search: exact padding, a best error that cannot rise, what more search buys."""

import numpy as np
import pytest

from promptlimits import construct
from promptlimits.datasets import grid
from promptlimits.experiments.memorization import sandwich_targets
from promptlimits.memorization import (
    LEAST_CHANGE,
    SPLIT,
    compared_outputs,
    least_prompt_length,
    logit_bias_column,
    pad_prompt,
    relative_hard_family,
)
from promptlimits.model import PromptedModel
from promptlimits.tuning import tune_prompt


def _construction(k=2, seed=0, gamma=0.02, q=2):
    """Token-width construction on the k-grid (d = L = 1), its targets, start prompts and the tuned model."""
    c = construct.build(1, 1, k, width="token")
    G = grid(1.0 / k, 1, 1)
    X = c.embed(G)
    Y = np.zeros(X.shape)
    Y[..., :1] = sandwich_targets(G, gamma, q, seed)
    base = construct.lookup_prompt(c, lambda C: np.zeros(C.shape))
    return c, X, Y, base


def test_split_padding_leaves_the_constructed_outputs_unchanged_and_duplication_does_not():
    c, X, Y, base = _construction(k=3)
    P = construct.lookup_prompt(c, lambda C: Y[..., :1])
    col, g = logit_bias_column(c.model, X)
    assert g == pytest.approx(c.lam * c.layout.kappa)  # the key-bias slot times the query's constant 1
    before = c.model.forward(P, X)
    for Lp in (P.shape[0] + 1, P.shape[0] + 5, 4 * P.shape[0]):
        Q, kind = pad_prompt(c.model, X, P, Lp, rho=1.25)
        assert kind == SPLIT and Q.shape == (Lp, P.shape[1]) and np.abs(Q).max() <= 1.25
        # reference: the copies of each row have weights exp(logit - ln n) summing to the row's own
        assert np.allclose(c.model.forward(Q, X), before, rtol=0, atol=1e-12)
    # negative control: plain duplication (bias not lowered) doubles a row's weight and moves the outputs
    dup = np.vstack([P, P[:1]])
    assert np.abs(c.model.forward(dup, X) - before).max() > 1e-3


def test_a_random_model_has_no_weightless_padding_and_gets_the_least_change_candidate():
    model = PromptedModel.from_seed(1, s=8, scale=1.0, seed=0)
    X = grid(0.25, 1, 1)
    assert logit_bias_column(model, X) is None
    P = np.array([[0.7], [-1.2]])
    before = model.forward(P, X)
    Q, kind = pad_prompt(model, X, P, 4, rho=4.0)
    assert kind == LEAST_CHANGE and Q.shape == (4, 1) and np.array_equal(Q[:2], P)

    def change(row):
        return np.abs(model.forward(np.vstack([P, [row], [row]]), X) - before).max()

    cands = [P[0], P[1], [-4.0], [0.0], [4.0]]
    assert change(Q[2]) == min(change(r) for r in cands)
    assert min(change(r) for r in cands) > 1e-4  # every candidate moves the outputs: none carries no weight


def _monotone(res, rel=1e-9):
    errs = res.best_err_by_Lp()
    lengths = sorted(errs)
    return all(errs[b] <= min(errs[a] for a in lengths if a < b) * (1 + rel) + 1e-15 for b in lengths[1:])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_warm_best_error_is_non_increasing_in_Lp_on_the_construction(seed):
    c, X, Y, base = _construction(k=3, seed=seed)
    model = compared_outputs(c.model, [0])

    def targets(Lp):  # restart 1 starts at the closed form of F, cut or padded (exactly) to Lp rows
        return Y, base[:Lp] if Lp <= base.shape[0] else pad_prompt(c.model, X, base, Lp, rho=1.25)[0]

    res = least_prompt_length(model, X, targets, 0.005, rho=1.25, max_Lp=8, steps=15, restarts=2, seed=seed,
                              warm_start=True)
    assert res.padding == SPLIT and len(res.trials) >= 3
    assert _monotone(res), res.trials_text()
    for t in res.trials[1:]:
        assert t.warm_from is not None and t.warm_from < t.Lp and t.best_max_err <= t.start_err
    # reached at or below the construction's length L k^d = 3 (tried as 4 by doubling, then 3 by bisection)
    assert res.reached and res.least_Lp <= c.Lp


def test_bisection_carries_the_best_shorter_prompt_into_longer_lengths_tried_earlier():
    """Doubling reaches at 4 with error 0.004, bisection then finds 3 with error ~0: 4 gets 3's prompt, padded."""
    c, X, Y, base = _construction(k=3, seed=1)
    model = compared_outputs(c.model, [0])
    near = construct.lookup_prompt(c, lambda C: Y[..., :1] + 0.004)  # error 0.004 <= tol, every cell present
    exact = construct.lookup_prompt(c, lambda C: Y[..., :1])
    calls = []

    def targets(Lp):
        calls.append(Lp)
        start = {3: exact, 4: pad_prompt(c.model, X, near, 4, rho=1.25)[0]}.get(Lp, base[:Lp])
        return Y, start

    kw = dict(rho=1.25, max_Lp=4, steps=3, restarts=2, optimizers=("adam",))  # Adam stops at once within tol
    cold = least_prompt_length(model, X, targets, 0.005, **kw)
    assert calls == [1, 2, 4, 3] and not _monotone(cold), cold.trials_text()  # the rule can fail: without warm
    calls.clear()
    res = least_prompt_length(model, X, targets, 0.005, warm_start=True, **kw)
    assert calls == [1, 2, 4, 3] and _monotone(res), res.trials_text()
    four = res.trials[2]
    assert four.Lp == 4 and four.optimizer == "padded" and four.warm_from == 3 and four.best_max_err < 1e-9
    assert res.least_Lp == 3


def test_a_warm_start_needs_one_dataset():
    model = PromptedModel.from_seed(1, s=8, scale=1.0, seed=0)
    X = grid(0.5, 1, 1)
    per_length = relative_hard_family(model, X, 0.02, rho=4.0)
    with pytest.raises(ValueError, match="one dataset for every prompt length"):
        least_prompt_length(model, X, per_length, 1e-9, rho=4.0, max_Lp=2, steps=5, restarts=1, warm_start=True)
    one = relative_hard_family(model, X, 0.02, rho=4.0, dataset_Lp=1)
    assert np.array_equal(one(1)[0], one(3)[0]) and one(3)[1].shape == (3, 1)
    assert np.array_equal(one(1)[0], per_length(1)[0])


def test_what_more_restarts_and_steps_bought_is_read_from_the_same_runs():
    model = PromptedModel.from_seed(1, s=8, scale=1.0, seed=0)
    X = grid(0.25, 1, 1)
    Y, P0 = relative_hard_family(model, X, 0.02, rho=4.0, dataset_Lp=1)(1)
    res = least_prompt_length(model, X, Y, 1e-9, rho=4.0, max_Lp=1, steps=12, restarts=1, optimizers=("lbfgs",))
    [t] = res.trials
    # reference: the run itself, repeated from the same start (fixed targets: restart 0 is a fresh prompt)
    from promptlimits.memorization import _Runs

    runs = _Runs.checked(model, X, 1e-9, 4.0, 12, None, 1, ("lbfgs",), 0.05, 1.0, 0, None)
    again = tune_prompt(model, X, Y, P0=runs.start(1, 0, None), optimizer="lbfgs", steps=12, rho=4.0,
                        target_max_err=1e-9, progress=False)
    errs = again.history["max_err"]
    assert t.half_steps_err == errs[min(len(errs) - 1, 6)] and t.best_max_err == again.max_err
    assert t.half_restarts_err is None and t.restarts_run == 1
    res3 = least_prompt_length(model, X, Y, 1e-9, rho=4.0, max_Lp=1, steps=12, restarts=3, optimizers=("lbfgs",))
    [t3] = res3.trials
    assert t3.restarts_run == 3 and t3.half_restarts_err >= t3.best_max_err
    assert t3.half_restarts_err == pytest.approx(min(t.best_max_err, t3.half_restarts_err))


def test_compared_outputs_zeroes_the_other_columns_exactly_and_keeps_the_compared_ones():
    c, X, Y, base = _construction(k=3)
    P = construct.lookup_prompt(c, lambda C: Y[..., :1])
    full, kept = c.model.forward(P, X), compared_outputs(c.model, [0]).forward(P, X)
    assert np.array_equal(kept[..., 0], full[..., 0]) and np.abs(full[..., 1:]).max() > 1.0
    assert not kept[..., 1:].any()  # exactly 0, so tuning's max error is the compared columns' error
    with pytest.raises(ValueError, match="writes a column outside out_cols"):
        compared_outputs(PromptedModel.from_seed(2, s=2, seed=0), [0])


def test_a_column_whose_logit_differs_between_queries_is_no_bias_column():
    """Negative control: queries that also read x make the bias column's logit per unit vary with the input."""
    from dataclasses import replace

    c, X, Y, base = _construction(k=3)
    col, _ = logit_bias_column(c.model, X)
    bent = replace(c.model, WQ=c.model.WQ + np.outer(np.eye(c.model.d)[0], c.model.WK[col]))
    found = logit_bias_column(bent, X)
    assert found is None or found[0] != col


def test_the_least_error_of_a_random_softmax_model_rises_from_Lp_1_to_2_so_no_padding_can_keep_it():
    """Certified: every length-2 prompt in the box misses by more than a length-1 prompt (d = 1, N = 4).

    All unordered pairs of a grid of spacing h over [-rho, rho] are evaluated in closed form (the
    prompt rows are a set: no positions); ``K_P`` (rigorous, docs/theory.md §7.3) bounds the error
    between grid points, so ``min over the grid - K_P h / 2`` is a lower bound over the whole box.
    """
    from promptlimits.capacity import prompt_lipschitz

    model = PromptedModel.from_seed(1, s=8, scale=1.0, seed=1)  # memorize least-lp --model-seed 1 --data-seed 1
    X = grid(0.25, 1, 1)
    Y = relative_hard_family(model, X, 0.02, rho=4.0, seed=1, dataset_Lp=1)(1)[0][:, 0, 0]
    K_P = prompt_lipschitz(model, 4.0, X=X).K_P
    h = 0.002
    g = np.arange(-4.0 + h / 2, 4.0, h)
    Hg, _ = model.ff1.forward(g[:, None])
    Hx, _ = model.ff1.forward(X.reshape(-1, 1))
    Q = Hx @ model.WQ
    lg, ug = model.scale * (Hg @ model.WK) @ Q.T, ((Hg @ model.WV) @ model.WO)[:, 0]  # logits (n, 4), values
    lx, ux = model.scale * ((Hx @ model.WK) * Q).sum(axis=1), ((Hx @ model.WV) @ model.WO)[:, 0]

    def errors(l1, u1, l2, u2):  # a prompt of rows 1 and 2: logits (..., 4) and values (..., 1) each
        m = np.maximum(np.maximum(l1, l2), lx)
        w1, w2, wx = np.exp(l1 - m), np.exp(l2 - m), np.exp(lx - m)
        A = Hx[:, 0] + (w1 * u1 + w2 * u2 + wx * ux) / (w1 + w2 + wx)
        out = A + np.maximum(A[..., None] * model.ff2.W1[0] + model.ff2.b1, 0) @ model.ff2.W2[:, 0] + model.ff2.b2[0]
        return np.abs(out - Y).max(axis=-1)

    e1 = errors(lg, ug[:, None], -np.inf, 0.0)  # one row: the second has weight 0
    P1 = g[[np.argmin(e1)]][:, None]
    assert np.abs(model.forward(P1, X)[:, 0, 0] - Y).max() == pytest.approx(e1.min(), rel=1e-12)  # the reference
    P2 = np.array([[0.3], [-1.7]])
    H2 = model.ff1.forward(P2)[0]
    l2, u2 = model.scale * (H2 @ model.WK) @ Q.T, (H2 @ model.WV) @ model.WO
    assert errors(l2[0], u2[0], l2[1], u2[1]) == pytest.approx(np.abs(model.forward(P2, X)[:, 0, 0] - Y).max(),
                                                                rel=1e-12)
    low2 = min(errors(lg[i], ug[i], lg[i:], ug[i:, None]).min() for i in range(g.size))  # unordered pairs
    assert low2 - K_P * h / 2 > e1.min(), (low2, K_P, e1.min())  # every length-2 prompt is worse than P1
