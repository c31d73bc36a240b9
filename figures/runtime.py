"""Figure 2: runtime against ``n``, log-log, exact and polynomial attention (docs/theory.md §9.4).

From the phase sweep's measured rows (``promptlimits sweep phase --measure``):
per curve, the exact time (best over its measured ``B``) and the polynomial
time at each measured ``B``, with the log-log slopes in the legend.
"""

from __future__ import annotations

from figures._style import load, new_figure, save
from promptlimits.experiments.phase import curve_label
from promptlimits.measure import loglog_slope


def draw(results, out_dir) -> list:
    res = load(results, "phase")
    rows = [r for r in res.rows if r.get("measured") and r.get("t_exact") is not None]
    if not rows:
        raise ValueError(f"no measured times in {res.csv_path}: run 'promptlimits sweep phase --measure'")
    curves = {}
    for r in rows:
        curves.setdefault(curve_label(r), []).append(r)
    fig, axes = new_figure(ncols=len(curves), size=(4.2 * len(curves), 3.8))
    for ax, (label, rs) in zip(axes[0], sorted(curves.items())):
        ns = sorted({r["n"] for r in rs})
        te = [min(r["t_exact"] for r in rs if r["n"] == n) for n in ns]
        lab = f"exact (slope {loglog_slope(ns, te):.2f})" if len(ns) > 1 else "exact"
        ax.plot(ns, te, "k-o", ms=3, label=lab)
        for B in sorted({r["B"] for r in rs}):
            pts = sorted((r["n"], r["t_poly"]) for r in rs if r["B"] == B)
            n_b, t_b = zip(*pts)
            lab = f"poly B={B:g}" + (f" (slope {loglog_slope(n_b, t_b):.2f})" if len(pts) > 1 else "")
            ax.plot(n_b, t_b, "-s", ms=3, label=lab)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("$n$")
        ax.set_ylabel("time (s, best of repeats)")
        ax.set_title(label, fontsize=8)
        ax.legend(loc="upper left")
    fig.suptitle("Fig. 2: runtime of exact and polynomial attention", fontsize=9)
    return save(fig, out_dir, "fig2_runtime")
