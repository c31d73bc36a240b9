"""Figure 2: runtime in the theorem's regime, measured beside the cost model (docs/theory.md §5.5, §9.4).

From the runtime sweep (:mod:`promptlimits.experiments.runtime`), ``d = ceil(log2 n)``
and ``eps = 1/n``: (a) CPU time against ``n``, log-log, of exact attention
(open markers: timed on sampled query rows and scaled) and of the polynomial
method at each requested ``kappa = B/sqrt(ln n)`` (a curve that stops says why
in the legend); (b) the exponents against ``kappa``: measured, predicted by
the cost ``n d (r* + r0)``, the rank term ``n r* d`` alone, ``1 + log_n r*`` at
the largest size, and exact attention's.
"""

from __future__ import annotations

import math

from figures._style import load, new_figure, save
from promptlimits.experiments.runtime import SLOPE_TOLERANCE


def _panel_times(ax, res, s):
    ex = sorted((r for r in res.rows if r["algo"] == "exact" and r["measured"]), key=lambda r: r["n"])
    full = [r for r in ex if r["rows_timed"] == r["n"]]
    part = [r for r in ex if r["rows_timed"] < r["n"]]
    ax.plot([r["n"] for r in ex], [r["t"] for r in ex], "k-", lw=1.2,
            label=f"exact (exponent {s['exact']['slope']:.2f})" if s["exact"]["slope"] else "exact")
    ax.plot([r["n"] for r in full], [r["t"] for r in full], "ko", ms=3.5)
    if part:
        ax.plot([r["n"] for r in part], [r["t"] for r in part], "o", color="k", mfc="w", ms=3.5,
                label=f"exact on {part[0]['rows_timed']} sampled rows, scaled")
    for i, (kappa, ks) in enumerate(s["kappas"].items()):
        if not ks["n_measured"]:
            continue
        stop = ""
        if ks["stopped_at"]:
            stop = (f"; stops at $2^{{{int(math.log2(ks['stopped_at']))}}}$: "
                    + ("call > max_flops" if "max_flops" in ks["stopped"] else "no certificate"))
        ax.plot(ks["n_measured"], ks["t"], "-s", ms=3, lw=1, color=f"C{i}",
                label=f"poly $\\kappa={kappa}$ (exponent {ks['measured_slope']:.2f}){stop}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("$n$ ($d=\\lceil\\log_2 n\\rceil$, $\\varepsilon=1/n$, $B=\\kappa\\sqrt{\\ln n}$)")
    ax.set_ylabel("CPU time (s, best of repeats)")
    ax.set_title("(a) time against $n$", fontsize=8)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi * (hi / lo) ** 0.45)  # head room for the legend above the curves
    ax.legend(loc="upper left", fontsize=6.5, frameon=True, framealpha=0.9)


def _panel_exponents(ax, s):
    rows = [(float(k), v) for k, v in s["kappas"].items() if v["measured_slope"] is not None]
    if not rows:
        return
    kap = [k for k, _ in rows]
    pred = [v["predicted_slope"] for _, v in rows]
    r0 = (s.get("cost_model") or {}).get("r0")
    ax.fill_between(kap, [p - SLOPE_TOLERANCE for p in pred], [p + SLOPE_TOLERANCE for p in pred], color="0.88",
                    label=f"rule: predicted $\\pm$ {SLOPE_TOLERANCE}")
    ax.plot(kap, pred, "-", color="C0", lw=1.2,
            label=f"predicted: slope of $n\\,d\\,(r^*+r_0)$, $r_0={r0:.0f}$" if r0 else "predicted")
    ax.plot(kap, [v["rank_only_slope"] for _, v in rows], ":", color="C0", lw=1.2,
            label="rank term alone: slope of $n\\,r^*\\,d$")
    ax.plot(kap, [v["exponent_at_largest"] for _, v in rows], "x", color="C2", ms=6,
            label="$1 + \\log_n r^*$ at the largest $n$")
    ax.plot(kap, [v["measured_slope"] for _, v in rows], "o", color="C3", ms=5, label="measured")
    if s["exact"]["slope"] is not None:
        ax.axhline(s["exact"]["slope"], color="k", lw=1, label=f"exact attention ({s['exact']['slope']:.2f})")
    ax.axhline(1.0, color="gray", lw=0.8, ls="--", label="$n^1$ (what $n^{1+o(1)}$ tends to)")
    ax.set_xlabel("$\\kappa = B/\\sqrt{\\ln n}$")
    ax.set_ylabel("exponent $a$ in time $\\sim n^a$ (log-log slope)")
    ax.set_ylim(0.8, 2.6)
    ax.set_title("(b) exponents against $\\kappa$", fontsize=8)
    ax.legend(loc="lower right", fontsize=6.5, frameon=True, framealpha=0.9)


def draw(results, out_dir) -> list:
    res = load(results, "runtime")
    s = res.meta.get("summary") or {}
    if not s or not any(r["measured"] for r in res.rows if r["algo"] == "poly"):
        raise ValueError(f"no measured polynomial-method times in {res.csv_path} (every call over max_flops?): "
                         "run 'promptlimits sweep runtime'")
    fig, axes = new_figure(ncols=2, size=(11.0, 4.4))
    _panel_times(axes[0][0], res, s)
    _panel_exponents(axes[0][1], s)
    fig.suptitle("Fig. 2: runtime of exact and polynomial attention in the theorem's regime", fontsize=9)
    return save(fig, out_dir, "fig2_runtime")
