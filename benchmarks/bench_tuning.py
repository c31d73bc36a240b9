"""Prompt tuning: one loss-and-gradient step, and batched Adam runs, on the exact and poly backends.

docs/theory.md §2 and §5. The model is :meth:`promptlimits.PromptedModel.from_seed`
(``d = 8``, weight scale 0.25: induced norm ``B`` below 0.5), prompt and
inputs uniform in ``[0, 1]``, as ``promptlimits bench tuning-step``. A step
reuses one :class:`promptlimits.backend.AttentionBackend` (its plan is made
in ``setup``), as tuning does; an Adam run
(:func:`promptlimits.tuning.tune_prompt`) makes its own, as a user's run does.
"""

from __future__ import annotations

import numpy as np

from promptlimits import PromptedModel
from promptlimits.backend import AttentionBackend
from promptlimits.tuning import tune_prompt

from .common import BATCHED, TUNING_NS, D, Timed, parse_batched

#: The backends timed.
BACKENDS = ["exact", "poly"]

#: Attention-output error of the poly backend.
ATTN_EPS = 1e-6


def _problem(batch: int, n: int, seed: int = 0):
    """Model, prompt, inputs and targets with ``L = n // 2`` inputs and ``n - L`` prompt rows."""
    rng = np.random.default_rng(seed)
    model = PromptedModel.from_seed(D, seed=seed, weight_scale=0.25)
    L = n // 2
    P = rng.uniform(size=(n - L, D))
    X = rng.uniform(size=(batch, L, D))
    return model, P, X, rng.uniform(size=X.shape)


class TuningStep(Timed):
    """One loss and gradient with respect to the prompt, ``L = Lp = n / 2``, one sequence."""

    params = (BACKENDS, TUNING_NS)
    param_names = ["backend", "n"]

    def setup(self, backend, n):
        self.model, self.P, self.X, self.Y = _problem(1, n)
        self.backend = AttentionBackend(backend, ATTN_EPS)
        info, _ = self.model.loss_and_grad(self.P, self.X, self.Y, backend=self.backend)
        if info.backend != backend:
            raise RuntimeError(f"the {backend} backend ran {info.backend} attention at n = {n}")

    def time_step(self, backend, n):
        self.model.loss_and_grad(self.P, self.X, self.Y, backend=self.backend)


class BatchedTuning(Timed):
    """Adam runs of :func:`promptlimits.tuning.tune_prompt` on a batch of sequences (case ``SEQUENCESxNxSTEPS``)."""

    params = (BATCHED, BACKENDS)
    param_names = ["case", "backend"]

    def setup(self, case, backend):
        b, n, self.steps = parse_batched(case)
        self.model, _, self.X, self.Y = _problem(b, n)
        self.Lp = n - n // 2
        used = set(self.run(backend).history["backend"])  # warm-up: loads the kernels
        if used != {backend}:
            raise RuntimeError(f"the {backend} backend ran {sorted(used)} attention on case {case}")

    def run(self, backend):
        return tune_prompt(self.model, self.X, self.Y, Lp=self.Lp, steps=self.steps, backend=backend, seed=0,
                           progress=False, attn_eps=ATTN_EPS)

    def time_adam(self, case, backend):
        self.run(backend)
