"""The prompt Jacobian and the linear-regime least prompt length (docs/theory.md §7.6)."""

import numpy as np
import pytest

from promptlimits import construct
from promptlimits.datasets import grid
from promptlimits.jacobian import prompt_jacobian, read_columns
from promptlimits.linear_regime import least_lp_linear, numerical_rank
from promptlimits.memorization import NOT_REACHED, REACHED, construction_reference, relative_hard_family
from promptlimits.model import PromptedModel


def _central_differences(model, P, X, out_cols, h=1e-6):
    J = np.empty((X.shape[0] * X.shape[1] * len(out_cols), P.size))
    for i in range(P.size):
        up, down = P.copy().ravel(), P.copy().ravel()
        up[i] += h
        down[i] -= h
        diff = model.forward(up.reshape(P.shape), X) - model.forward(down.reshape(P.shape), X)
        J[:, i] = (diff[..., out_cols] / (2 * h)).ravel()
    return J


@pytest.mark.parametrize("variant", ["softmax", "softmax1"])
def test_jacobian_matches_central_differences(variant):
    model = PromptedModel.from_seed(3, s=4, seed=1, positions=2, variant=variant)
    rng = np.random.default_rng(0)
    P, X = rng.normal(size=(5, 3)), rng.uniform(size=(4, 2, 3))
    J = prompt_jacobian(model, P, X, out_cols=[0, 2])
    assert J.shape == (4 * 2 * 2, 5 * 3)
    assert np.abs(J - _central_differences(model, P, X, [0, 2])).max() <= 1e-7 * max(1.0, np.abs(J).max())
    sub = prompt_jacobian(model, P, X, out_cols=[0, 2], prompt_cols=[1])
    assert np.allclose(sub, J.reshape(16, 5, 3)[:, :, 1], rtol=1e-12, atol=1e-15)


def test_unread_columns_change_no_output():
    c = construct.build(1, 2, 3)
    cols = read_columns(c.model)
    unread = np.setdiff1d(np.arange(c.model.d), cols)
    assert unread.size == c.L + c.L * c.d * c.k  # the pos and bag blocks
    X = c.embed(grid(1 / 3, 2, 1))
    P = np.random.default_rng(0).normal(size=(4, c.model.d))
    P2 = P.copy()
    P2[:, unread] += 5.0
    assert np.array_equal(c.model.forward(P, X), c.model.forward(P2, X))


def test_numerical_rank_closed_form():
    U, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(6, 6)))
    V, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(9, 9)))
    sig = np.array([3.0, 1.0, 0.5, 1e-3, 1e-9, 0.0])
    J = U @ np.diag(sig) @ V[:6]
    assert numerical_rank(J, 1e-7) == (4, pytest.approx(0.0, abs=1e-7))
    assert numerical_rank(J.T, 1e-2)[0] == 3
    with pytest.raises(ValueError, match="rank_rtol"):
        numerical_rank(J, 1e-12)


def test_construction_linear_regime_certifies_its_length():
    c = construct.build(2, 1, 4)
    X = c.embed(grid(0.25, 1, 2))
    ref, lo, hi = construction_reference(c, seed=1)
    for Lp in (1, 7, 30):
        R = ref(Lp)
        assert np.all(R >= lo) and np.all(R <= hi)
    fam = relative_hard_family(c.model, X, 1e-8, rho=0.25, q=2**16, seed=2, reference=ref, out_cols=[0, 1])
    cols = read_columns(c.model)
    res = least_lp_linear(c.model, X, fam, 2.5e-9, rho=0.25, out_cols=[0, 1], prompt_cols=cols, max_Lp=64)
    assert res.status == REACHED and res.lo == int(np.ceil(16 * 2 / cols.size))
    t = res.trial(res.least_Lp)
    assert t.full_rank and t.reached and t.max_err <= 2.5e-9 and t.step_max <= 0.25
    # the certificate: the returned prompt memorizes within tol, by a forward pass
    Y, R = fam(res.least_Lp)
    assert np.abs(c.model.forward(res.P, X) - Y)[..., :2].max() <= 2.5e-9
    assert np.abs(res.P - R).max() <= 0.25
    # every length below the least tried either lacks full rank or failed to reach
    assert all(not u.reached for u in res.trials if u.Lp < res.least_Lp)
    assert all(u.rank <= min(u.rows, u.cols) for u in res.trials)


def test_random_model_rank_saturates_and_says_not_reached():
    model = PromptedModel.from_seed(1, s=8, scale=1.0, seed=0, positions=1)
    X = grid(1 / 32, 1, 1)
    fam = relative_hard_family(model, X, 1e-8, rho=4.0, q=16, seed=0)
    res = least_lp_linear(model, X, fam, 2.5e-9, rho=4.0, max_Lp=64)
    assert res.status == NOT_REACHED and res.least_Lp is None and res.P is None
    assert [t.Lp for t in res.trials] == [32, 64] and all(t.rank < t.rows for t in res.trials)
    assert "32:" in res.trials_text() and res.summary()["least_Lp"] is None


@pytest.mark.parametrize("kw, match", [(dict(tol=0.0), "tol"), (dict(rho=-1.0), "rho"), (dict(max_Lp=0), "max_Lp"),
                                       (dict(gn_steps=0), "gn_steps")])
def test_linear_regime_bad_input(kw, match):
    model = PromptedModel.from_seed(1, seed=0)
    X = grid(0.5, 1, 1)
    args = {"tol": 1e-3, "rho": 1.0, **kw}
    tol = args.pop("tol")
    with pytest.raises(ValueError, match=match):
        least_lp_linear(model, X, relative_hard_family(model, X, 0.01, rho=1.0), tol, **args)
    with pytest.raises(ValueError, match="out_cols"):
        prompt_jacobian(model, np.zeros((1, 1)), X, out_cols=[3])


def test_whole_box_search_certifies_inside_the_box_and_refuses_outside():
    """box_rho: a success must lie in ||P||max <= box_rho (the sandwich's prompt set), whatever the reference."""
    from promptlimits.experiments.memorization import sandwich_targets

    c = construct.build(1, 1, 4)  # wide: the closed form's keys are lambda = 40
    G = grid(0.25, 1, 1)
    X = c.embed(G)
    Y = sandwich_targets(G, 2.0 ** -26, 2 ** 26, 0)
    base = construct.lookup_prompt(c, lambda C: np.zeros_like(Y))
    full = np.zeros(X.shape[:2] + (c.model.d,))
    full[..., :1] = Y

    def targets(Lp):
        return full, base[:Lp]

    kw = dict(rho=1.0, out_cols=[0], prompt_cols=read_columns(c.model), max_Lp=c.Lp, gn_steps=6)
    ok = least_lp_linear(c.model, X, targets, 2.0 ** -28, box_rho=50.0, **kw)
    assert ok.least_Lp == c.Lp and np.abs(ok.P).max() <= 50.0
    assert np.abs(c.model.forward(ok.P, X)[..., :1] - Y).max() <= 2.0 ** -28  # a certificate, checked again
    assert least_lp_linear(c.model, X, targets, 2.0 ** -28, box_rho=10.0, **kw).status == NOT_REACHED


def test_memorizes_at_is_a_forward_checked_certificate():
    from promptlimits.linear_regime import memorizes_at

    model = PromptedModel.from_seed(1, s=8, scale=1.0, seed=0, positions=1)
    X = grid(0.5, 1, 1)
    targets = relative_hard_family(model, X, 0.02, rho=4.0, q=2, seed=1)
    t = memorizes_at(model, X, targets, 0.005, 4, rho=4.0)
    assert t.rows == 2 and t.cols == 4 and t.rank == 2
    assert t.reached == (t.max_err <= 0.005 and t.step_max <= 4.0)
    with pytest.raises(ValueError, match="Lp"):
        memorizes_at(model, X, targets, 0.005, 0, rho=4.0)
