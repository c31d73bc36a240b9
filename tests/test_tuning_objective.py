"""A tuning run checks its inputs and computes what every step shares once (``tuning._Objective``); each step
is still the model's own ``loss_and_grad`` on the prompt, bit for bit, on every backend."""

import numpy as np
import pytest

from promptlimits import PromptedModel
from promptlimits import tuning as tuning_module
from promptlimits.backend import AttentionBackend
from promptlimits.tuning import tune_prompt


class _PublicObjective:
    """Each step through the public, checked ``loss_and_grad`` and ``loss``: what the run did before."""

    def __init__(self, model, X, Y, backend):
        self.model, self.X, self.Y, self.backend = model, X, Y, backend

    def loss_and_grad(self, P):
        return self.model.loss_and_grad(P, self.X, self.Y, backend=self.backend)

    def loss(self, P):
        return self.model.loss(P, self.X, self.Y, backend=self.backend)


@pytest.mark.parametrize("backend,optimizer", [("poly", "adam"), ("exact", "adam"), ("auto", "adam"),
                                               ("poly", "lbfgs")])
def test_a_run_equals_the_one_through_the_public_steps_to_the_last_bit(backend, optimizer, monkeypatch):
    model = PromptedModel.from_seed(3, seed=1, weight_scale=0.3, positions=4)
    rng = np.random.default_rng(2)
    X, Y = rng.uniform(size=(5, 4, 3)), rng.normal(size=(5, 4, 3))

    def run():
        return tune_prompt(model, X, Y, Lp=3, steps=12, optimizer=optimizer, backend=AttentionBackend(backend, 1e-5),
                           seed=0, progress=False)

    fast = run()
    monkeypatch.setattr(tuning_module, "_Objective", _PublicObjective)
    slow = run()
    assert np.array_equal(fast.P, slow.P) and fast.mse == slow.mse and fast.max_err == slow.max_err
    assert fast.history == slow.history and fast.certifications == slow.certifications
    if backend == "poly":  # the poly kernels ran (L-BFGS-B's trial prompts may leave what a plan certifies)
        assert "poly" in fast.history["backend"]


def test_prepared_steps_equal_the_checked_ones_and_a_non_finite_prompt_is_refused():
    model = PromptedModel.from_seed(3, seed=0, weight_scale=0.5)
    rng = np.random.default_rng(0)
    P, X, Y = rng.normal(size=(2, 3)), rng.uniform(size=(4, 3, 3)), rng.normal(size=(4, 3, 3))
    objective = tuning_module._Objective(model, X, Y, AttentionBackend("poly", 1e-5))
    info, grad = objective.loss_and_grad(P)
    ref_info, ref_grad = model.loss_and_grad(P, X, Y, backend=AttentionBackend("poly", 1e-5))
    assert np.array_equal(grad, ref_grad) and info.mse == ref_info.mse and info.attn_bound == ref_info.attn_bound
    assert info.grad_bound is None and ref_info.grad_bound > 0  # the run records no gradient bound
    got, want = objective.loss(P), model.loss(P, X, Y, backend=AttentionBackend("poly", 1e-5))
    assert (got.mse, got.max_err, got.B, got.attn_bound, got.plan_B) == (want.mse, want.max_err, want.B,
                                                                         want.attn_bound, want.plan_B)
    P[1, 2] = np.nan
    with pytest.raises(ValueError, match="prompt P contains 1 NaN or infinite"):
        objective.loss_and_grad(P)
    with pytest.raises(ValueError, match="prompt P contains 1 NaN or infinite"):
        objective.loss(P)
