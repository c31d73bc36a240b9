"""Figure 2: runtime, measured against a calibrated cost model, and the exact asymptotics (docs/theory.md §5.5, §9.4).

From the runtime sweep (:mod:`promptlimits.experiments.runtime`), ``d = ceil(log2 n)``
and ``eps = 1/n``: (a) CPU time against ``n``, log-log, of exact attention (every
query row) and of the polynomial method at each ``kappa = B/sqrt(ln n)``: markers
the minimum of the repeats with their range, lines the calibrated cost model's
prediction (a curve that stops says why in the legend); (b) per series, the
measured minus predicted log-log slope with its 95% bootstrap interval, the
control's beside it, and the margin of the rule; (c) ``log_n r*`` against
``log2 n`` up to ``2^1024`` from the certificates in exact arithmetic, for the
``o(sqrt(log n))`` schedules and the fixed-``kappa`` controls with their limits.
"""

from __future__ import annotations

import math

from promptlimits.experiments.runtime_model import SLOPE_MARGIN

from ._style import load, new_figure, save

#: The figure this module draws, ``STEM.png`` and ``STEM.pdf`` (discovered by ``promptlimits.figures``).
STEM = "fig2_runtime"


def _stop_note(s) -> str:
    if not s["stopped_at"]:
        return ""
    why = "call > budget" if "flops >" in s["stopped"] else "no certificate"
    return f"; stops before $2^{{{int(math.log2(s['stopped_at']))}}}$: {why}"


def _repeat_range(res, algo, kappa):
    out = {}
    for r in res.rows:
        if r["role"] == "test" and r["algo"] == algo and r["measured"] and (algo == "exact" or r["kappa"] == kappa):
            reps = [float(x) for x in r["t_repeats"].split()]
            out[r["n"]] = (min(reps), max(reps))
    return out


def _panel_times(ax, res, s):
    series = [(f"poly $\\kappa={k}$", "poly", float(k), v, f"C{i}") for i, (k, v) in enumerate(s["kappas"].items())]
    if s.get("exact"):
        series.append(("exact", "exact", None, s["exact"], "k"))
    for label, algo, kappa, v, color in series:
        if not v["n"]:
            continue
        rng = _repeat_range(res, algo, kappa)
        lo = [v["t"][i] - rng[n][0] for i, n in enumerate(v["n"])]
        hi = [rng[n][1] - v["t"][i] for i, n in enumerate(v["n"])]
        exp = f" (exponent {v['exponent']['measured_slope']:.2f})" if v["exponent"] else ""
        ax.errorbar(v["n"], v["t"], yerr=[lo, hi], fmt="o" if algo == "exact" else "s", ms=3.5, color=color,
                    lw=0.8, capsize=2, label=f"{label}{exp}{_stop_note(v)}")
        if v["predicted_t"][0] is not None:
            ax.plot(v["n"], v["predicted_t"], "-", color=color, lw=1, alpha=0.7)
    ax.plot([], [], "-", color="0.4", lw=1, label="lines: calibrated cost model")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("$n$ ($d=\\lceil\\log_2 n\\rceil$, $\\varepsilon=1/n$, $B=\\kappa\\sqrt{\\ln n}$)")
    ax.set_ylabel("CPU s per call (min and range of repeats)")
    ax.set_title("(a) time against $n$", fontsize=8)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi * (hi / lo) ** 0.35)  # head room for the legend above the curves
    ax.legend(loc="upper left", fontsize=6, frameon=True, framealpha=0.9)


def _panel_gaps(ax, s):
    names = [f"$\\kappa={k}$" for k in s["kappas"]] + (["exact"] if s.get("exact") else [])
    series = list(s["kappas"].values()) + ([s["exact"]] if s.get("exact") else [])
    ax.axhspan(-SLOPE_MARGIN, SLOPE_MARGIN, color="0.88", label=f"margin $\\pm${SLOPE_MARGIN}")
    ax.axhline(0.0, color="0.5", lw=0.6)
    for i, v in enumerate(series):
        for key, dx, color, label in (("gap", -0.1, "C3", "measured $-$ predicted (95% bootstrap)"),
                                      ("control", 0.1, "0.45", "control: rank frozen / exact linear in $n$")):
            g = v[key]
            if g is None:
                continue
            ax.errorbar([i + dx], [g["gap"]], yerr=[[g["gap"] - g["low"]], [g["high"] - g["gap"]]], fmt="o",
                        color=color, ms=4, capsize=3, label=label if i == 0 else None)
    ax.set_xticks(range(len(names)), names)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylabel("log-log slope gap")
    ax.set_title("(b) the rule: slope gap against the cost model", fontsize=8)
    ax.legend(loc="upper left", fontsize=6, frameon=True, framealpha=0.9)


def _panel_asymptotics(ax, s):
    table = s["asymptotics_figure"]
    styles = {"B=1": ("C0", "-", "$B=1$"), "B=sqrt(ln n)/ln ln n": ("C1", "-", "$B=\\sqrt{\\ln n}/\\ln\\ln n$")}
    for i, (name, v) in enumerate(table.items()):
        color, ls, label = styles.get(name, (f"C{i + 2}", "--", f"control $B={name[6:]}\\sqrt{{\\ln n}}$"))
        ax.plot(v["log2_n"], v["exponent"], ls, marker=".", color=color, lw=1, label=label)
        if "limit" in v:
            ax.axhline(v["limit"], color=color, lw=0.6, ls=":")
    ax.axhline(1.0, color="k", lw=0.6, ls="--", label="$r^*=n$ (exact attention's cost)")
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, None)
    ax.set_xlabel("$\\log_2 n$ ($d=\\log_2 n$, $\\varepsilon=1/n$; exact arithmetic)")
    ax.set_ylabel("$\\log_n r^*$ (cost $n^{1+\\log_n r^*}$)")
    ax.set_title("(c) asymptotics: dotted = fixed-$\\kappa$ limits", fontsize=8)
    ax.legend(loc="lower left", fontsize=6, frameon=True, framealpha=0.9)


def draw(results, out_dir) -> list:
    res = load(results, "runtime")
    s = res.meta.get("summary") or {}
    if not s or not any(r["measured"] for r in res.rows if r["algo"] == "poly" and r["role"] == "test"):
        raise ValueError(f"no measured polynomial-method times in {res.csv_path} (every call over max_flops?): "
                         "run 'promptlimits sweep runtime'")
    fig, axes = new_figure(ncols=3, size=(15.0, 4.6))
    _panel_times(axes[0][0], res, s)
    if s.get("calibration"):
        _panel_gaps(axes[0][1], s)
    _panel_asymptotics(axes[0][2], s)
    fig.suptitle("Fig. 2: runtime of exact and polynomial attention in the theorem's regime", fontsize=9)
    return save(fig, out_dir, STEM)
