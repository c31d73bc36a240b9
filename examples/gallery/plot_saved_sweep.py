"""
Run a sweep and plot its saved results
======================================

Every experiment is a sweep whose results are saved as a CSV with a JSON sidecar
(:mod:`promptlimits.sweep`). Any saved folder can be read back with
:func:`promptlimits.sweep.read_results` and drawn with the report's own figure code,
``promptlimits.figures.draw(stem, results, out_dir)``. Here the approximation-error experiment runs at
its ``tiny`` scale into a temporary folder, and figure 3 is drawn from what was saved.
On the command line the same is ``promptlimits plot DIR``.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from promptlimits import figures
from promptlimits.experiments import experiment
from promptlimits.sweep import read_results, run_sweep

exp = experiment("approx_error")
sweep = exp.module.make_sweep("tiny", seed=0)
out = Path(tempfile.mkdtemp())
run_sweep(sweep, out / "results", workers=0, progress=False)

results = read_results(out / "results", name=exp.name)
print(f"{len(results.rows)} rows; columns: {', '.join(list(results.rows[0])[:8])}, ...")
(png, *_) = figures.draw(exp.figures[0], out / "results" / f"{exp.name}.csv", out / "figures")

# %%
# The figure as written to disk (PNG and PDF):
fig, ax = plt.subplots(figsize=(9, 4))
ax.imshow(plt.imread(png))
ax.set_axis_off()
plt.show()
