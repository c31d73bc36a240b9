"""The model's polynomial and auto attention backends against the exact one."""

import numpy as np
import pytest
from naive import central_difference_prompt_grad

from promptlimits import PromptedModel, exact_attention, make_plan
from promptlimits.backend import AttentionBackend, plan_bound
from promptlimits.tuning import tune_prompt


def colsum(W):
    """Induced max-norm of z -> z W on row vectors: the largest absolute column sum."""
    return np.abs(W).sum(axis=0).max()


@pytest.mark.parametrize("variant", ["softmax", "softmax1"])
def test_poly_backend_is_within_the_propagated_certificate(variant):
    model = PromptedModel.from_seed(3, seed=4, variant=variant)
    rng = np.random.default_rng(0)
    P, X = rng.uniform(size=(5, 3)), rng.uniform(size=(3, 4, 3))
    exact = model.forward(P, X)
    poly = model.forward(P, X, backend="poly", attn_eps=1e-4)
    info = model.loss(P, X, exact, backend="poly", attn_eps=1e-4)
    assert info.backend == "poly" and info.attn_bound > 0
    # attn_eps is the attention-output error: the certified bound is at most attn_eps ||V||max
    # (before it was passed to the plan as the polynomial's eps_p: 1.8 attn_eps ||V||max at 3e-3)
    H = model.ff1.forward(np.concatenate([np.broadcast_to(P, (3, 5, 3)), X], axis=1))[0]
    for attn_eps in (1e-2, 3e-3, 1e-3, 1e-4):
        bound = model.loss(P, X, exact, backend="poly", attn_eps=attn_eps).attn_bound
        assert 0 < bound <= attn_eps * np.abs(H @ model.WV).max()
    # Yhat = FF2(H + T WO): an attention error e moves the output by at most Lip(FF2) ||WO|| e
    lip = (1 + colsum(model.ff2.W1) * colsum(model.ff2.W2)) * colsum(model.WO)
    err = np.abs(poly - exact).max()
    assert 0 < err <= lip * info.attn_bound
    assert info.max_err == pytest.approx(err, rel=1e-12)


def test_poly_backend_gradient_matches_finite_differences_of_the_poly_model():
    model = PromptedModel.from_seed(2, seed=1)
    rng = np.random.default_rng(1)
    P, X, Y = rng.uniform(size=(3, 2)), rng.uniform(size=(2, 3, 2)), rng.uniform(size=(2, 3, 2))
    kw = {"backend": AttentionBackend("poly", 1e-3)}  # one plan for every evaluation: the FD steps stay within it
    _, g = model.loss_and_grad(P, X, Y, **kw)
    num = central_difference_prompt_grad(model, P, X, Y, **kw)
    assert np.abs(g - num).max() / np.abs(num).max() < 1e-6
    assert kw["backend"].certifications == 1
    _, g_exact = model.loss_and_grad(P, X, Y)
    assert np.abs(g - g_exact).max() / np.abs(g_exact).max() < 1e-2


def test_auto_picks_poly_only_where_it_is_certified_and_cheaper():
    model = PromptedModel.from_seed(2, seed=0)
    rng = np.random.default_rng(2)
    small = model.loss(rng.uniform(size=(2, 2)), rng.uniform(size=(1, 2, 2)), np.zeros((1, 2, 2)), backend="auto")
    assert small.backend == "exact"  # n = 4: no rank is cheaper than exact
    X = rng.uniform(size=(1, 512, 2))
    long = model.loss(rng.uniform(size=(512, 2)), X, np.zeros_like(X), backend="auto")
    assert long.backend == "poly"
    huge = model.loss(40 * rng.uniform(size=(512, 2)), X, np.zeros_like(X), backend="auto")
    assert huge.B > 5 and huge.backend == "exact"  # the induced norm is past what a cheap rank certifies


def test_tuning_runs_on_the_poly_backend_and_records_it():
    model = PromptedModel.from_seed(2, seed=0)
    rng = np.random.default_rng(3)
    X = rng.uniform(size=(2, 3, 2))
    Y = model.forward(rng.uniform(size=(2, 2)), X)
    res = tune_prompt(model, X, Y, Lp=2, optimizer="adam", steps=40, backend="poly", attn_eps=1e-6, progress=False)
    assert set(res.history["backend"]) == {"poly"}
    assert res.history["mse"][-1] < res.history["mse"][0]
    with pytest.raises(ValueError, match="unknown attention backend 'fast'"):
        model.forward(X[0][:2], X, backend="fast")


def test_plan_is_reused_below_its_bound_and_recertified_when_the_norm_crosses_it():
    model = PromptedModel.from_seed(3, seed=2, weight_scale=0.5)
    rng = np.random.default_rng(4)
    P, X = 1.0 + rng.uniform(size=(4, 3)), rng.uniform(size=(2, 5, 3))  # the prompt rows set the norm
    Y = np.zeros_like(X)
    backend = AttentionBackend("poly", 1e-6, headroom=0.25)
    first, _ = model.loss_and_grad(P, X, Y, backend=backend)
    plan = backend.plan
    assert first.plan_event == "built" and first.backend == "poly" and first.plan_B == plan.B
    # headroom at no cost: the largest grid bound up to 1.25 B with the rank of the plan for B
    grid = [plan_bound(first.B) * 2 ** (k / 16) for k in range(6)]
    ranks = [make_plan(3, b, eps=1e-6, scale=model.scale, keys=9).rank for b in grid if b <= plan_bound(1.25 * first.B)]
    assert plan.rank == ranks[0] and np.isclose(plan.B, grid[ranks.count(ranks[0]) - 1]) and plan.B >= first.B
    again, _ = model.loss_and_grad(1.05 * P, X, Y, backend=backend)  # the norm grows, still within the bound
    assert again.plan_event == "reused" and backend.plan is plan and first.B < again.B <= plan.B
    big = 1.5 * P
    crossed, _ = model.loss_and_grad(big, X, Y, backend=backend)
    assert crossed.B > plan.B and crossed.plan_event == "recertified" and crossed.plan_B >= crossed.B
    assert backend.plan is not plan and backend.certifications == 2
    assert model.loss(P, X, Y, backend=backend).plan_event == "reused"  # a smaller norm keeps the larger plan


def test_a_norm_no_plan_certifies_runs_exact_attention_and_says_why():
    model = PromptedModel.from_seed(2, seed=0)
    rng = np.random.default_rng(5)
    X = rng.uniform(size=(2, 3, 2))
    P = 30 * rng.uniform(size=(3, 2))
    backend = AttentionBackend("poly", 1e-6)
    info = model.loss(P, X, np.zeros_like(X), backend=backend)
    assert info.backend == "exact" and info.plan_event == "exact: not certifiable" and info.attn_bound == 0.0
    assert "cannot be certified" in info.note and "largest norm certifiable" in info.note
    np.testing.assert_array_equal(model.forward(P, X, backend=backend), model.forward(P, X))  # exact, bit for bit
    assert backend.plan is None and backend.certifications == 0
    res = tune_prompt(model, X, model.forward(P, X), P0=P, optimizer="adam", steps=3, backend="poly", progress=False)
    assert set(res.history["backend"]) == {"exact"} and len(res.notes) == 1 and res.certifications == 0


def test_auto_keeps_exact_where_it_is_cheaper_and_the_exact_numbers():
    model = PromptedModel.from_seed(2, seed=0)
    rng = np.random.default_rng(6)
    P, X = rng.uniform(size=(4, 2)), rng.uniform(size=(4, 2, 2))
    info = model.loss(P, X, np.zeros_like(X), backend="auto")
    assert info.backend == "exact" and info.plan_event == "exact: cheaper"  # n = 6: no rank beats 2 x 6 scores
    np.testing.assert_array_equal(model.forward(P, X, backend="auto"), model.forward(P, X))


def test_the_poly_step_uses_the_plan_and_its_attention_is_within_the_certificate():
    model = PromptedModel.from_seed(3, seed=4)
    rng = np.random.default_rng(7)
    P, X = rng.uniform(size=(6, 3)), rng.uniform(size=(2, 4, 3))
    backend = AttentionBackend("poly", 1e-5)
    info = model.loss(P, X, np.zeros_like(X), backend=backend)
    H = model.ff1.forward(np.concatenate([np.broadcast_to(P, (2, 6, 3)), X], axis=1))[0]
    Q, K, V = H[:, 6:] @ model.WQ, H @ model.WK, H @ model.WV
    for b in range(2):
        err = np.abs(backend.plan(Q[b], K[b], V[b]) - exact_attention(Q[b], K[b], V[b], scale=model.scale)).max()
        assert err <= backend.plan.output_bound(V[b]) <= info.attn_bound


def test_backends_name_still_importable_from_model():
    from promptlimits import backend, model

    assert model.BACKENDS is backend.BACKENDS == ("exact", "poly", "auto")


def test_each_choice_says_why_and_the_reason_holds():
    """The reason of every event, checked against the facts it states (plans made or refused, the cost rule)."""
    from promptlimits.poly_attention import poly_pays

    model = PromptedModel.from_seed(2, seed=0)
    rng = np.random.default_rng(2)
    X = rng.uniform(size=(1, 512, 2))
    Y = np.zeros_like(X)
    backend = AttentionBackend("auto", 1e-6)
    model.loss(rng.uniform(size=(512, 2)), X, Y, backend=backend)
    plan, reason = backend.plan, backend.last.reason
    assert backend.last.event == "built"
    assert reason == (f"plan certified for B <= {plan.B:.4g} (degree {plan.degree}, rank {plan.rank}, "
                      "attn_eps = 1e-06) and predicted cheaper than exact at 512 queries x 1024 keys")
    assert poly_pays(2, plan.B, eps=1e-6, n_queries=512, n_keys=1024, scale=model.scale)
    poly = AttentionBackend("poly", 1e-6)
    model.loss(rng.uniform(size=(512, 2)), X, Y, backend=poly)
    assert poly.last.reason.startswith("plan certified for B <= ") and "cheaper" not in poly.last.reason
    # exact predicted cheaper: at the bound it names, the cost rule says so
    small = AttentionBackend("auto", 1e-6)
    P, Xs = rng.uniform(size=(4, 2)), rng.uniform(size=(4, 2, 2))
    info = model.loss(P, Xs, np.zeros_like(Xs), backend=small)
    bound = plan_bound(info.B)
    assert small.last.event == "exact: cheaper"
    assert small.last.reason == (f"exact predicted cheaper than a plan certified for B <= {bound:.4g} "
                                 "at 2 queries x 6 keys")
    assert not poly_pays(2, bound, eps=1e-6, n_queries=2, n_keys=6, scale=model.scale)
    # not certifiable: the bound it names has no plan
    refused = AttentionBackend("poly", 1e-6)
    model.loss(30 * rng.uniform(size=(3, 2)), Xs[:, :2], np.zeros_like(Xs[:, :2]), backend=refused)
    assert refused.last.event == "exact: not certifiable"
    text = refused.last.reason
    assert text.startswith("not certifiable: the induced norm is above the range a plan certifies for "
                           "attn_eps = 1e-06 at 5 keys (none for B <= ")
    with pytest.raises(ValueError, match="cannot be certified"):
        make_plan(2, float(text.rsplit("<= ", 1)[1].rstrip(")")) * 1.001, eps=1e-6, scale=model.scale, keys=5)
    exact = AttentionBackend("exact")
    model.loss(P, Xs, np.zeros_like(Xs), backend=exact)
    assert exact.last.reason == "exact attention asked"


def test_tuning_keeps_why_each_backend_was_used():
    model = PromptedModel.from_seed(2, seed=0, weight_scale=0.5)
    rng = np.random.default_rng(8)
    X = rng.uniform(size=(2, 2, 2))
    Y = model.forward(20.0 * rng.uniform(size=(2, 2)), X)  # the norm grows past what a plan certifies
    res = tune_prompt(model, X, Y, Lp=2, optimizer="adam", steps=30, lr=0.3, init_scale=0.5, backend="poly",
                      attn_eps=1e-2, seed=1, progress=False)
    history = res.history
    assert list(res.reasons) == ["poly", "exact"]
    assert len(history["reason"]) == len(history["backend"]) > 1 and all(history["reason"])
    assert sum(e["steps"] for e in res.reasons.values()) == len(history["backend"])
    for backend, entry in res.reasons.items():
        mine = [r for b, r in zip(history["backend"], history["reason"]) if b == backend]
        assert entry == {"steps": len(mine), "reason": mine[-1]}
    for b, r, event in zip(history["backend"], history["reason"], history["plan_event"]):
        assert r.startswith("plan certified") if b == "poly" else (event == "exact: not certifiable"
                                                                   and r.startswith("not certifiable"))


@pytest.mark.parametrize("variant", ["softmax", "softmax1"])
def test_the_batched_poly_model_equals_its_sequences_one_by_one_to_the_last_bit(variant):
    """The model runs the batch through the plan's batched kernels; each sequence's attention, and so the
    model's output, are what the plan gives that sequence alone, bit for bit."""
    model = PromptedModel.from_seed(3, seed=2, variant=variant)
    rng = np.random.default_rng(3)
    P, X = rng.uniform(size=(5, 3)), rng.uniform(size=(6, 4, 3))
    backend = AttentionBackend("poly", 1e-5)
    got = model.forward(P, X, backend=backend)
    Hp, _, Hx, Q, K, V = model._attention_inputs(P, X)
    T = np.stack([backend.plan.forward(Q[b], K[b], V[b], variant=variant) for b in range(6)])
    assert np.array_equal(got, model.ff2.forward(Hx + T @ model.WO)[0])
    # the gradient: the batched backward's dK, dV per sequence are those of the plan alone
    info, grad = model.loss_and_grad(P, X, np.zeros_like(X), backend=backend)
    _, (U1p, _, Q2, K2, V2, U2, choice, _) = model._forward(P, X, backend)
    dT = model.ff2.backward((2.0 / X.size) * got, U2) @ model.WO.T
    grads = [choice.plan.backward(Q2[b], K2[b], V2[b], dT[b], variant=variant) for b in range(6)]
    dK, dV = np.stack([g[1] for g in grads]), np.stack([g[2] for g in grads])
    dHp = dK[:, :5].sum(axis=0) @ model.WK.T + dV[:, :5].sum(axis=0) @ model.WV.T
    assert np.array_equal(grad, model.ff1.backward(dHp, U1p))
    assert info.grad_bound > 0


def test_feed_forward_in_place_equals_its_formula_to_the_last_bit():
    """``FF(Z) = Z + relu(Z W1 + b1) W2 + b2`` and its backward, computed in place, are the formulas' own
    float results (sums reordered only as ``x + y = y + x``), for batches, matrices and a broadcast ``dY``."""
    from promptlimits.model import FFWeights

    rng = np.random.default_rng(8)
    ff = FFWeights(rng.normal(size=(3, 6)), rng.normal(size=6), rng.normal(size=(6, 3)), rng.normal(size=3))
    for Z in (rng.normal(size=(5, 7, 3)), rng.normal(size=(4, 3))):
        out, U = ff.forward(Z)
        Z2 = Z.reshape(-1, 3)
        U_ref = Z2 @ ff.W1 + ff.b1
        assert np.array_equal(U.reshape(-1, 6), U_ref)
        assert np.array_equal(out.reshape(-1, 3), Z2 + np.maximum(U_ref, 0.0) @ ff.W2 + ff.b2)
        for dY in (rng.normal(size=Z.shape), rng.normal(size=3)):  # the prompt's dH is one row for every U row
            assert np.array_equal(ff.backward(dY, U), dY + ((dY @ ff.W2.T) * (U > 0)) @ ff.W1.T)
