"""
Prompt tuning on the ``auto`` backend, and why it chose its attention
=====================================================================

:func:`promptlimits.tuning.tune_prompt` with ``backend="auto"`` uses one certified
polynomial plan for the whole run where a plan certifies the induced norm ``B(P, X)``
and is predicted cheaper than exact attention at the sequence length, and exact attention
otherwise (:doc:`/theory`, §2.3). Every step records which attention it used and why
(``result.reasons``). Two runs on the same task: short sequences, where exact attention is
cheaper, and long ones, where the polynomial method pays.
"""

import matplotlib.pyplot as plt
import numpy as np

from promptlimits import PromptedModel
from promptlimits.datasets import teacher
from promptlimits.tuning import tune_prompt

model = PromptedModel.from_seed(4, seed=0, weight_scale=0.3)  # small weights: small induced norms
fig, ax = plt.subplots(figsize=(6, 3.5))
for L in (8, 512):
    X = np.random.default_rng(1).uniform(size=(2, L, 4))
    Y, _ = teacher(model, X, 4, prompt_scale=0.5, seed=2)
    res = tune_prompt(model, X, Y, Lp=4, optimizer="adam", steps=30, lr=0.02, init="normal", init_scale=0.3,
                      backend="auto", attn_eps=0.1)
    for backend, why in res.reasons.items():
        print(f"L = {L}: {backend} for {why['steps']} steps: {why['reason']}")
    ax.semilogy(res.history["mse"], label=f"L = {L} ({', '.join(res.reasons)})")
ax.set_xlabel("Adam step")
ax.set_ylabel("mean squared error")
ax.legend(title="sequence length (attention used)")
fig.tight_layout()
plt.show()
