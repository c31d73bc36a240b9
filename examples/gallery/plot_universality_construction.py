"""
Universality: a constructed transformer and its closed-form prompts
===================================================================

:func:`promptlimits.construct.build` builds a one-layer, one-head transformer whose weights do
not depend on the target (:doc:`/theory`, §8): FF1 quantizes each coordinate into ``k`` cells,
the head retrieves the prompt token of the query's cell and FF2 decodes it. For any target
``f``, :func:`promptlimits.construct.lookup_prompt` writes the prompt in closed form from
``f``'s cell-centre values. With ``width="token"`` prompt rows and input rows have one width
(the smallest that works, §8.5).

Here ``f(x) = sin(2 pi x) / 2`` on sequences of one token of width 1 (Lipschitz constant
``K_f = pi``): the error over all inputs falls like ``1/k``, below the proved bound
``c.bound(K_f)`` outside the ramp bands.
"""

import matplotlib.pyplot as plt
import numpy as np

from promptlimits import construct


def f(X):
    return 0.5 * np.sin(2 * np.pi * X)


K_f = np.pi
X = np.random.default_rng(0).uniform(size=(4096, 1, 1))
ks = [4, 8, 16, 32]
rms, sup, bound = [], [], []
for k in ks:
    c = construct.build(1, 1, k, width="token")
    P = construct.lookup_prompt(c, f)
    err = np.abs(c.predict(P, X) - f(X)).reshape(len(X))
    outside = ~c.in_bands(X)
    rms.append(np.sqrt(np.mean(err**2)))
    sup.append(err[outside].max())
    bound.append(c.bound(K_f))
    print(f"k = {k:2d}: width {c.model.d}, Lp = {P.shape[0]}, RMS error {rms[-1]:.3g}, "
          f"sup outside bands {sup[-1]:.3g} <= bound {bound[-1]:.3g}")

fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.loglog(ks, bound, "k--", label="proved bound outside the bands")
ax.loglog(ks, sup, "o-", label="sampled sup outside the bands")
ax.loglog(ks, rms, "s-", label="RMS error over all samples")
ax.set_xlabel("cells per coordinate k")
ax.set_ylabel("|prediction - f|")
ax.legend()
fig.tight_layout()
plt.show()
