"""Figure 1: the efficiency phase transition in the theorem's regime (docs/theory.md §5.4, §9.3).

From the phase sweep (certificates only, :mod:`promptlimits.experiments.phase`):

(a) ``log_n r* - 1`` over ``(log2 n, kappa)`` for the theorem's curve
    (``d = ceil(log2 n)``, ``eps = 1/n``): blue where the certified polynomial
    method is cheaper than exact attention, with the crossing ``c*(n)``; its
    vertical jumps are the sizes where ``g_max``, the largest degree with rank
    ``C(d+g, g) < n``, rises by one.
(b) the collapse: ``log_n r*`` against ``kappa``, one curve per ``n``.
(c) ``c*(n) = B*(n)/sqrt(ln n)`` per curve against ``log2 n`` (logarithmic), with
    the rule's factor-1.5 band, the sizes beyond the grid and the leading-order
    limit; the fixed-``d`` contrast climbs like a power of ``n``.
(d) ``B*(n)`` against ``ln n`` with both fits, ``B*^2 = alpha ln n + beta`` and
    ``B* = c n^gamma``, and their AIC.
"""

from __future__ import annotations

import math

import numpy as np

from figures._style import load, new_figure, save
from promptlimits.experiments.phase import C_STAR_FACTOR, curve_label, power_model, sqrt_model


def pretty(label: str) -> str:
    """A curve label in mathtext, e.g. ``$d=\\lceil\\log_2 n\\rceil$, $\\varepsilon=1/n$``."""
    d, e = label.split(", ")
    d = d.replace("d = ceil(log2 n)", r"$d=\lceil\log_2 n\rceil$")
    if "ceil(" in d:
        d = "$d=\\lceil " + d.split("ceil(")[1].replace(" log2 n)", r"\log_2 n\rceil$")
    elif d.startswith("d = "):
        d = f"$d={d[4:]}$"
    e = {"eps = 1/n": r"$\varepsilon=1/n$"}.get(e, "$" + e.replace("eps = ", r"\varepsilon=").replace("^-", "^{-") +
                                              ("}$" if "^-" in e else "$"))
    return f"{d}, {e}"


def _theorem_label(summary: dict) -> str | None:
    labels = [lab for lab, cv in summary["curves"].items() if cv["theorem"]]
    return labels[0] if labels else None


def _panel_map(ax, fig, rows, label, cv):
    ks = sorted({r["log2_n"] for r in rows if not r["beyond"]})
    kappas = sorted({r["kappa"] for r in rows if r["kappa"] is not None})
    Z = np.full((len(kappas), len(ks)), np.nan)
    for r in rows:
        if r["kappa"] is not None and r["log_n_rank"] is not None:
            Z[kappas.index(r["kappa"]), ks.index(r["log2_n"])] = r["log_n_rank"] - 1.0
    Z = np.where(np.isfinite(Z), Z, np.nanmax(Z))
    lim = max(0.5, float(np.nanmax(np.abs(Z))))
    mesh = ax.pcolormesh(ks, kappas, Z, shading="nearest", cmap="RdBu_r", vmin=-lim, vmax=lim)
    fig.colorbar(mesh, ax=ax, label=r"$\log_n r^* - 1$ (blue: cheaper than exact)")
    found = [c for c in cv["crossings"] if c["c_star"] is not None]
    x = [c["log2_n"] for c in found]
    ax.step(x, [c["c_star"] for c in found], where="mid", color="k", lw=1.2,
            label=r"crossing $c^*(n)$: $r^* = n$ at $B = c^*\sqrt{\ln n}$")
    jumps = [b for a, b in zip(found, found[1:]) if b["g_max"] > a["g_max"]]
    ax.plot([j["log2_n"] for j in jumps], [j["c_star"] for j in jumps], "^", color="k", ms=3.5, mfc="w",
            label=r"jump: $g_{\max}$ (largest degree with $C(d+g,g)<n$) $+1$")
    ax.set_xlabel(r"$\log_2 n$")
    ax.set_ylabel(r"$\kappa = B/\sqrt{\ln n}$")
    ax.set_title(f"(a) cost of the certified polynomial method, {pretty(label)}", fontsize=8)
    ax.legend(loc="upper right", fontsize=6.5, frameon=True, framealpha=0.9)


def _panel_collapse(ax, rows, cv):
    import matplotlib as mpl

    ks = sorted({r["log2_n"] for r in rows if not r["beyond"]})
    shown = ks[:: max(1, len(ks) // 8)]
    cmap = mpl.colormaps["viridis"]
    for k in shown:
        pts = sorted((r["kappa"], r["log_n_rank"]) for r in rows if r["log2_n"] == k and r["kappa"] is not None
                     and r["log_n_rank"] is not None and math.isfinite(r["log_n_rank"]))
        if pts:
            x, y = zip(*pts)
            ax.plot(x, y, "-", lw=1, color=cmap((k - ks[0]) / max(1, ks[-1] - ks[0])), label=f"$n=2^{{{k:g}}}$")
    ax.axhline(1.0, color="k", lw=0.8, ls=":", label=r"$r^* = n$")
    if cv.get("limit_c_star"):
        ax.axvline(cv["limit_c_star"], color="gray", lw=0.8, ls="--",
                   label=rf"limit $c^*(\infty) = {cv['limit_c_star']:.3f}$")
    ax.set_xlabel(r"$\kappa = B/\sqrt{\ln n}$")
    ax.set_ylabel(r"$\log_n r^*$ (time $\propto n^{1+\log_n r^*}$)")
    ax.set_title("(b) $\\log_n r^*$ against $\\kappa$: near one curve at large $n$", fontsize=8)
    ax.set_ylim(0, 2.0)
    ax.legend(loc="upper left", fontsize=6.5, ncol=2, frameon=True, framealpha=0.9)


def _panel_cstar(ax, summary, theorem):
    for i, (label, cv) in enumerate(summary["curves"].items()):
        pts = [c for c in cv["crossings"] + cv["beyond"] if c["c_star"] is not None]
        if not pts:
            continue
        color = "k" if label == theorem else f"C{i}"
        ax.plot([c["log2_n"] for c in pts], [c["c_star"] for c in pts], "-o", ms=2, lw=0.9, color=color,
                label=pretty(label) + (" (theorem)" if label == theorem else " (contrast)"))
    if theorem:
        cv = summary["curves"][theorem]
        lo = cv["c_star_min"]
        grid = [c["log2_n"] for c in cv["crossings"]]
        ax.fill_between([min(grid), max(grid)], lo, lo * C_STAR_FACTOR, color="0.85",
                        label=f"rule: within a factor {C_STAR_FACTOR} of the least $c^*$")
        if cv.get("limit_c_star"):
            ax.axhline(cv["limit_c_star"], color="gray", ls="--", lw=0.8,
                       label=rf"leading-order limit $c^*(\infty)={cv['limit_c_star']:.3f}$")
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_major_locator(FixedLocator([0.15, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0]))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(r"$\log_2 n$ (beyond 64: outside the rule)")
    ax.set_ylabel(r"$c^*(n) = B^*(n)/\sqrt{\ln n}$")
    ax.set_title("(c) the crossing constant", fontsize=8)
    ax.legend(loc="upper left", fontsize=6.5, frameon=True, framealpha=0.9)


def _panel_fits(ax, summary, theorem):
    for i, (label, cv) in enumerate(summary["curves"].items()):
        found = [c for c in cv["crossings"] if c["c_star"] is not None]
        fit = cv["fit"]
        if not found or not fit:
            continue
        color = "k" if label == theorem else f"C{i}"
        L = np.array([c["log2_n"] for c in found]) * math.log(2)
        ax.plot(L, [c["B_star"] for c in found], "o", ms=2.5, color=color, label=pretty(label))
        xx = np.linspace(L.min(), L.max(), 200)
        s, p = fit["sqrt"], fit["power"]
        ax.plot(xx, sqrt_model(xx, s["alpha"], s["beta"]), "-", lw=1, color=color,
                label=rf"  $\sqrt{{{s['alpha']:.3g}\,\ln n {s['beta']:+.3g}}}$, AIC {s['aic']:.0f}")
        ax.plot(xx, power_model(xx, p["c"], p["gamma"]), "--", lw=1, color=color,
                label=rf"  ${p['c']:.3g}\,n^{{{p['gamma']:.3g}}}$, AIC {p['aic']:.0f}")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\ln n$")
    ax.set_ylabel(r"frontier $B^*(n)$ (largest $B$ with $r^* < n$)")
    ax.set_title(r"(d) $B^{*2} = \alpha\ln n + \beta$ (solid) against $B^* = c\,n^\gamma$ (dashed)", fontsize=8)
    ax.legend(loc="upper left", fontsize=6.5, frameon=True, framealpha=0.9)


def draw(results, out_dir) -> list:
    res = load(results, "phase")
    summary = res.meta.get("summary") or {}
    if not res.rows or not summary.get("curves"):
        raise ValueError(f"no phase rows or summary in {res.csv_path}")
    theorem = _theorem_label(summary) or next(iter(summary["curves"]))
    rows = [r for r in res.rows if curve_label(r) == theorem]
    fig, axes = new_figure(ncols=2, nrows=2, size=(11.0, 8.2))
    _panel_map(axes[0][0], fig, rows, theorem, summary["curves"][theorem])
    _panel_collapse(axes[0][1], rows, summary["curves"][theorem])
    _panel_cstar(axes[1][0], summary, theorem)
    _panel_fits(axes[1][1], summary, theorem)
    fig.suptitle("Fig. 1: where the certified polynomial method (an upper-bound algorithm) stops beating exact "
                 "attention; exact arithmetic, from certificates", fontsize=9)
    return save(fig, out_dir, "fig1_phase")
