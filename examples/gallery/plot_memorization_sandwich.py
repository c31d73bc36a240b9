"""
The memorization sandwich on a small grid
=========================================

How long must a soft prompt be to memorize ``N`` sequences? On one model (the token-width
construction of :mod:`promptlimits.construct`, prompt rows as wide as input rows) and one
prompt set (every prompt with ``||P||max <= rho``, ``rho`` containing the construction's
closed-form prompt), the length is sandwiched (:doc:`/theory`, §7.8):

- below, by the counting bound with the prompt-Lipschitz constant ``K_P`` over the whole box,
  enclosed in outward-rounded interval arithmetic;
- above, by the closed-form prompt of length ``L k^d``, which memorizes the sampled targets
  within the tolerance (a certificate, measured).

Here the memorization experiment's own point function runs for ``d = 1, L = 2`` on three grids.
"""

import dataclasses
import tempfile

import matplotlib.pyplot as plt

from promptlimits.experiments import experiment
from promptlimits.sweep import read_results, run_sweep

exp = experiment("memorization")
sweep = exp.module.make_sweep("quick", seed=0)
points = tuple(p for p in sweep.points if p["axis"] == "N" and p["width"] == "token" and (p["d"], p["L"]) == (1, 2))
sweep = dataclasses.replace(sweep, name="sandwich", points=points[:3], summary=None)
out = tempfile.mkdtemp()
run_sweep(sweep, out, workers=0, progress=False)
rows = sorted(read_results(out, name="sandwich").rows, key=lambda r: r["N"])

for r in rows:
    print(f"N = {r['N']:5d}: lower bound {r['bound']:.3g}, construction {r['constr_Lp']} "
          f"(error {r['constr_err']:.2g} <= tol {r['tol']:.2g}), ratio {r['constr_Lp'] / r['bound']:.3g}")

N = [r["N"] for r in rows]
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.loglog(N, [r["constr_Lp"] for r in rows], "s-", label="closed-form prompt (certified upper)")
ax.loglog(N, [r["bound"] for r in rows], "o-", label="counting bound over the box (lower)")
ax.fill_between(N, [r["bound"] for r in rows], [r["constr_Lp"] for r in rows], alpha=0.15)
ax.set_xlabel("N = k^(dL) sequences memorized")
ax.set_ylabel("prompt length Lp")
ax.legend()
fig.tight_layout()
plt.show()
