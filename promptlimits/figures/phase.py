"""Figure 1: the efficiency phase transition in the theorem's regime (docs/theory.md §5.4, §9.3).

From the phase sweep (certificates only, :mod:`promptlimits.experiments.phase`):

(a) ``log_n r* - 1`` over ``(log2 n, kappa)`` for the theorem's curve
    (``d = ceil(log2 n)``, ``eps = 1/n``): blue where the certified polynomial
    method is cheaper than exact attention, with the crossing ``c*(n)``; its
    vertical jumps are the sizes where ``g_max``, the largest degree with rank
    ``C(d+g, g) < n``, rises by one.
(b) the collapse: ``log_n r*`` against ``kappa``, one curve per ``n``.
(c) the rule (docs/theory.md §5.5): ``c*(n)/c_inf`` against ``log2 n``
    (logarithmic, up to ``2^1024``) in the band ``1 <= c*/c_inf <= 1 + C ln ln n / ln n``
    with the derived ``C``, and the first-order edges ``1 + (C1 ln ln n + D)/ln n``
    at ``D_lo`` and ``D_hi``; the fixed-``d`` negative control, held to the same
    band, climbs out of it like a power of ``n``.
(d) ``B*(n)`` against ``ln n`` with both fits, ``B*^2 = alpha ln n + beta`` and
    ``B* = c n^gamma``, and their AIC; the square-root fit is drawn only where it
    stays within the data's range (it reaches 0 where ``alpha ln n + beta`` does).
"""

from __future__ import annotations

import math

import numpy as np

from promptlimits.experiments.phase import curve_label, power_model, sqrt_model

from ._style import load, new_figure, save

#: The figure this module draws, ``STEM.png`` and ``STEM.pdf`` (discovered by ``promptlimits.figures``).
STEM = "fig1_phase"


def pretty(label: str) -> str:
    """A curve label in mathtext, e.g. ``$d=\\lceil\\log_2 n\\rceil$, $\\varepsilon=1/n$``."""
    d, e, *rest = label.split(", ")  # rest: ["logit scale 2"] for a multiplier other than 1
    d = d.replace("d = ceil(log2 n)", r"$d=\lceil\log_2 n\rceil$")
    if "ceil(" in d:
        d = "$d=\\lceil " + d.split("ceil(")[1].replace(" log2 n)", r"\log_2 n\rceil$")
    elif d.startswith("d = "):
        d = f"$d={d[4:]}$"
    e = {"eps = 1/n": r"$\varepsilon=1/n$"}.get(e, "$" + e.replace("eps = ", r"\varepsilon=").replace("^-", "^{-") +
                                              ("}$" if "^-" in e else "$"))
    return ", ".join([d, e, *rest])


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


def _panel_band(ax, summary, theorem):
    from promptlimits.threshold import Band

    cvt = summary["curves"][theorem]
    if cvt.get("band"):
        band = Band(**cvt["band"])
        k0 = max(band.log2_n0, min(c["log2_n"] for c in cvt["crossings"] + cvt["beyond"]))
        k1 = max(c["log2_n"] for c in cvt["crossings"] + cvt["beyond"])
        kk = np.geomspace(k0, k1, 400)
        ax.fill_between(kk, [band.lower(k) for k in kk], [band.upper(k) for k in kk], color="0.85", lw=0,
                        label=rf"rule: $1 \leq c^*/c_\infty \leq 1 + C\,\ln\ln n/\ln n$, $C = {band.C:.2f}$ (derived)")
        L = kk * math.log(2)
        for D, ls in ((band.D_lo, ":"), (band.D_hi, "--")):
            ax.plot(kk, 1 + (band.C1 * np.log(L) + D) / L, ls, color="0.45", lw=0.8)
        ax.plot([], [], "--", color="0.45", lw=0.8,
                label=rf"first order $1 + (C_1\ln\ln n + D)/\ln n$, $D = {band.D_lo:.2f}$ (dotted), "
                      rf"${band.D_hi:.2f}$ (dashed)")
        ax.axhline(1.0, color="gray", lw=0.8, ls="-")
        ref = band.c_inf
    else:
        ref = None
    for i, (label, cv) in enumerate(summary["curves"].items()):
        pts = sorted((c for c in cv["crossings"] + cv["beyond"] if c["c_star"] is not None),
                     key=lambda c: c["log2_n"])
        r = ref if (cv.get("band_reference") == theorem and ref) else cv.get("limit_c_star")
        if not pts or not r:
            continue
        chk = cv.get("band_check") or {}
        tail = (f", {chk['n_outside']}/{chk['n_sizes']} sizes outside" if chk.get("n_sizes") else "")
        color = "k" if label == theorem else f"C{i}"
        ax.plot([c["log2_n"] for c in pts], [c["c_star"] / r for c in pts], "-o", ms=1.8, lw=0.8, color=color,
                label=pretty(label) + (" (theorem)" if label == theorem else " (control)") + tail)
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_major_locator(FixedLocator([1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0]))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(r"$\log_2 n$ (beyond 64: crossing only)")
    ax.set_ylabel(r"$c^*(n)/c_\infty$, $c^*(n) = B^*(n)/\sqrt{\ln n}$" +
                  (rf", $c_\infty = {ref:.4f}$" if ref else ""))
    ax.set_title("(c) the crossing constant against its limit: the rule and its negative control", fontsize=8)
    ax.set_ylim(top=ax.get_ylim()[1] * 4)  # room for the legend above the curves
    ax.legend(loc="upper right", fontsize=6.2, frameon=True, framealpha=0.9)


def _panel_fits(ax, summary, theorem):
    for i, (label, cv) in enumerate(summary["curves"].items()):
        found = [c for c in cv["crossings"] if c["c_star"] is not None]
        fit = cv["fit"]
        if not found or not fit:
            continue
        color = "k" if label == theorem else f"C{i}"
        L = np.array([c["log2_n"] for c in found]) * math.log(2)
        ax.plot(L, [c["B_star"] for c in found], "o", ms=2.5, color=color, label=pretty(label))
        xx = np.linspace(L.min(), L.max(), 400)
        s, p = fit["sqrt"], fit["power"]
        yy = sqrt_model(xx, s["alpha"], s["beta"])
        # where alpha ln n + beta nears 0 the fit plunges off the log axis: draw it where it is in the data's range
        yy = np.where(yy >= min(c["B_star"] for c in found), yy, np.nan)
        ax.plot(xx, yy, "-", lw=1, color=color,
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
    _panel_band(axes[1][0], summary, theorem)
    _panel_fits(axes[1][1], summary, theorem)
    fig.suptitle("Fig. 1: where the certified polynomial method (an upper-bound algorithm) stops beating exact "
                 "attention; exact arithmetic, from certificates", fontsize=9)
    return save(fig, out_dir, STEM)
