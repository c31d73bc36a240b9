"""
A custom phase sweep from TOML
==============================

Any sweep can be defined in a TOML file and run with
``promptlimits sweep run --config FILE.toml --out DIR`` or, as here, from Python with
:func:`promptlimits.sweep.load_sweep` and :func:`promptlimits.sweep.run_sweep`. The file
``examples/sweeps/phase.toml`` walks ``kappa = B / sqrt(ln n)`` for three sequence lengths
and two head-size constants ``c`` (``d = ceil(c log2 n)``, ``eps = 1/n``), recording the least
certified degree and the rank exponent ``log_n r*`` (:doc:`/theory`, §5.3). Where
``log_n r*`` crosses 1 the polynomial method stops being cheaper than ``n`` per query.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from promptlimits.sweep import load_sweep, read_results, run_sweep

# examples/sweeps/phase.toml (sphinx-gallery runs each example in its own folder, without __file__)
here = Path(__file__).parent if "__file__" in globals() else Path.cwd()
toml = here.resolve().parent / "sweeps" / "phase.toml"
out = Path(tempfile.mkdtemp())
run_sweep(load_sweep(toml), out, workers=0, progress=False)
rows = read_results(out, name="phase_custom").rows

fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
for ax, c in zip(axes, (0.5, 1.0)):
    for log2_n in (8.0, 12.0, 16.0):
        pts = sorted((r["kappa"], r["log_n_rank"]) for r in rows if r["c"] == c and r["log2_n"] == log2_n)
        ax.plot(*zip(*pts), "o-", label=f"n = 2^{log2_n:.0f}")
    ax.axhline(1.0, color="0.5", lw=0.8, ls="--")
    ax.set_title(f"d = ceil({c} log2 n)")
    ax.set_xlabel("kappa = B / sqrt(ln n)")
axes[0].set_ylabel("log_n r*  (rank exponent)")
axes[0].legend()
fig.tight_layout()
plt.show()
