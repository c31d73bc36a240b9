"""Figure 4: least memorizing prompt length against N (and tol, rho) with the counting bound (docs/theory.md §7, §9).

Reads the ``memorization`` sweep (:mod:`promptlimits.experiments.memorization`).
Filled markers: least ``Lp`` found by tuning (one per sampled dataset);
open markers at the top: "not reached within budget" (drawn at the largest
``Lp`` tried, never as a value); line: the counting bound
``N L log 2 / log M`` for the same model and ``rho``; dashed: the log-log fit
of the reached points.
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import FixedLocator, NullLocator

from figures._style import load, new_figure, save


def _panel(ax, rows, x, xlabel, fit=None):
    rows = sorted(rows, key=lambda r: r[x])
    ok = [r for r in rows if r["least_Lp"] is not None]
    bad = [r for r in rows if r["least_Lp"] is None]
    ax.plot([r[x] for r in ok], [r["least_Lp"] for r in ok], "o", color="C0", ms=4, alpha=0.8,
            label="least $L_p$ by tuning")
    if bad:
        ax.plot([r[x] for r in bad], [r["max_Lp"] for r in bad], "^", mfc="none", color="C3", ms=5,
                label="not reached within budget (at max $L_p$)")
    xs = sorted({r[x] for r in rows})
    bound = [max(r["bound"] for r in rows if r[x] == v) for v in xs]
    ax.plot(xs, bound, "-s", color="k", ms=3, lw=1, label="counting bound $NL\\log 2/\\log M$")
    if fit:
        grid = np.geomspace(min(xs), max(xs), 50)
        ax.plot(grid, fit["a"] * grid ** fit["b"], "--", color="C0", lw=1,
                label=f"fit $L_p \\approx {fit['a']:.2g} N^{{{fit['b']:.2f}}}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    # ticks at the swept values, written plainly (log-axis minor labels overlap)
    ax.xaxis.set_major_locator(FixedLocator(xs))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{v:g}" for v in xs])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("prompt length $L_p$")
    ax.legend(loc="best")


def draw(results, out_dir) -> list:
    res = load(results, "memorization")
    if not res.rows:
        raise ValueError(f"no memorization rows in {res.csv_path}")
    axes_present = [a for a in ("N", "tol", "rho") if any(r["axis"] == a for r in res.rows)]
    fig, axes = new_figure(ncols=len(axes_present), nrows=1, size=(4.0 * len(axes_present), 3.6))
    fit = (res.meta.get("summary") or {}).get("fit_least_Lp_vs_N")
    labels = {"N": "number of grid inputs $N = (1/\\delta)^{dL}$", "tol": "memorization tolerance tol (max-abs)",
              "rho": "prompt box $\\rho$"}
    for ax, a in zip(axes[0], axes_present):
        _panel(ax, [r for r in res.rows if r["axis"] == a], a, labels[a], fit if a == "N" else None)
    r0 = res.rows[0]
    fig.suptitle(f"Fig. 4: memorization capacity (s={r0['s']}, logit scale {r0['logit_scale']}, "
                 f"$\\gamma$={r0['gamma']}, budget $L_p \\leq$ {r0['max_Lp']})", fontsize=9)
    return save(fig, out_dir, "fig4_memorization")
