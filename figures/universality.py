"""Figure 7: held-out error of tuned prompts for Lipschitz targets against Lp and delta (docs/theory.md §8.4, §9.10).

Reads the ``universality`` sweep (:mod:`promptlimits.experiments.universality`):
mean over sampled targets of the max-abs and RMS error on fresh uniform inputs
(and the training error on the grid), beside the error of learning nothing
(the reference prompt).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from figures._style import load, new_figure, save


def _means(rows, x):
    groups = defaultdict(list)
    for r in rows:
        groups[r[x]].append(r)
    xs = sorted(groups)
    return xs, {k: [float(np.mean([r[k] for r in groups[v]])) for v in xs]
                for k in ("test_max_err", "test_rmse", "train_max_err", "ref_test_max_err")}


def draw(results, out_dir) -> list:
    res = load(results, "universality")
    if not res.rows:
        raise ValueError(f"no universality rows in {res.csv_path}")
    fig, axes = new_figure(ncols=2, nrows=1, size=(8.0, 3.6))
    for ax, axis, xlabel in ((axes[0][0], "Lp", "prompt length $L_p$"),
                             (axes[0][1], "delta", "training grid: inputs $N = (1/\\delta)^{dL}$")):
        rows = [r for r in res.rows if r["axis"] == axis]
        if not rows:
            ax.set_visible(False)
            continue
        key = "Lp" if axis == "Lp" else "N"
        xs, m = _means(rows, key)
        ax.plot(xs, m["test_max_err"], "-o", ms=4, label="held-out max-abs error")
        ax.plot(xs, m["test_rmse"], "-s", ms=4, label="held-out RMS error")
        ax.plot(xs, m["train_max_err"], ":^", ms=4, label="grid (training) max-abs error")
        ax.plot(xs, m["ref_test_max_err"], "--", color="gray", label="learning nothing (reference prompt)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("error")
        fixed = rows[0]["delta"] if axis == "Lp" else rows[0]["Lp"]
        ax.set_title(f"{'delta' if axis == 'Lp' else 'Lp'} = {fixed:g}", fontsize=8)
        ax.legend(loc="best")
    r0 = res.rows[0]
    fig.suptitle(f"Fig. 7: universality, random {r0['K_f']}-Lipschitz targets (d={r0['d']}, L={r0['L']}, "
                 f"$\\rho$={r0['rho']})", fontsize=9)
    return save(fig, out_dir, "fig7_universality")
