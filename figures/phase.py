"""Figure 1: phase diagram over ``(n, B)`` (docs/theory.md §5.4, §9.3).

One panel per curve (regime, d rule, eps rule) of the phase sweep: the
predicted cost ratio ``log10(r*/n)`` as a colour map over ``(log2 n, B)``, the
level ``r*/n = 1``, the interpolated frontier ``B*(n)`` and the least-squares
fit ``B* = a sqrt(ln n) + b`` from the sweep's sidecar.
"""

from __future__ import annotations

import math

import numpy as np

from figures._style import load, new_figure, save
from promptlimits.experiments.phase import curve_label


def draw(results, out_dir) -> list:
    res = load(results, "phase")
    curves = {}
    for r in res.rows:
        curves.setdefault(curve_label(r), []).append(r)
    if not curves:
        raise ValueError(f"no phase rows in {res.csv_path}")
    summary = res.meta.get("summary") or {}
    fits = summary.get("fit", {})
    front = summary.get("frontier", [])
    fig, axes = new_figure(ncols=len(curves), size=(4.2 * len(curves), 3.8))
    for ax, (label, rows) in zip(axes[0], sorted(curves.items())):
        ns = sorted({r["n"] for r in rows})
        Bs = sorted({r["B"] for r in rows})
        Z = np.full((len(Bs), len(ns)), np.nan)
        for r in rows:
            v = r["log10_ratio"]
            Z[Bs.index(r["B"]), ns.index(r["n"])] = np.nan if v is None else v
        finite = Z[np.isfinite(Z)]
        top = float(finite.max()) if finite.size else 1.0
        Z = np.where(np.isfinite(Z), Z, top)  # uncertified points: beyond the worst certified ratio
        x = np.log2(ns)
        lim = max(abs(float(Z.min())), abs(float(Z.max())), 0.5)
        mesh = ax.pcolormesh(x, Bs, Z, shading="nearest", cmap="RdBu_r", vmin=-lim, vmax=lim)
        if len(ns) > 1 and len(Bs) > 1:
            ax.contour(x, Bs, Z, levels=[0.0], colors="k", linewidths=1.0)
        fr = [f for f in front if f["curve"] == label and f["B_star"] is not None]
        if fr:
            ax.plot([math.log2(f["n"]) for f in fr], [f["B_star"] for f in fr], "o", color="k", ms=4,
                    label="frontier $B^*(n)$ ($r^*/n=1$)")
        fit = fits.get(label, {})
        if fit.get("a") is not None:
            xx = np.linspace(x.min(), x.max(), 100)
            yy = fit["a"] * np.sqrt(np.log(2.0**xx)) + fit["b"]
            ax.plot(xx, yy, "--", color="k",
                    label=f"fit {fit['a']:.2f}$\\sqrt{{\\ln n}}${fit['b']:+.2f}, $R^2$={fit['r2']:.3f}")
        ax.set_yscale("log")
        ax.set_xlabel("$\\log_2 n$")
        ax.set_ylabel("$B$ (max entry of $Q, K$)")
        ax.set_title(label, fontsize=8)
        ax.legend(loc="upper left")
        fig.colorbar(mesh, ax=ax, label="$\\log_{10}(r^*/n)$")
    fig.suptitle("Fig. 1: polynomial method vs exact attention, predicted cost ratio", fontsize=9)
    return save(fig, out_dir, "fig1_phase")
