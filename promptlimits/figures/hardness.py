"""Figure 6: the least cost at which fast attention decides planted Hamming instances (docs/theory.md §6, §9.9).

One column per distance ratio ``t'/t = 1 + gap``; against ``kappa = lambda /
sqrt(ln n)`` (log axis), one colour per ``n``:

- top: the rank ``C(d+g, g)`` of the least degree ``g`` of the polynomial
  method within 1/4 of exact attention in every row, as a power of ``n``
  (``log_n r``), so that "rank ``n``", the cost of exact attention, is the line
  at 1 for every ``n``; the dash-dotted line of each ``n`` is the rank of the
  degree cap, where the search stops (the budget), and a triangle on it marks
  "no degree up to the cap";
- middle: the same for positive random features, their least feature count
  converted to the rank of equal flops;
- bottom: exact attention's decision accuracy.

Dotted verticals (every row, the same meaning): the derived sufficient
``kappa_min`` for that ``n``. Points of different ``n`` are shifted
sideways by a few percent so that none hides another.
"""

from __future__ import annotations

import math

from ._style import load, new_figure, save

#: The figure this module draws, ``STEM.png`` and ``STEM.pdf`` (discovered by ``promptlimits.figures``).
STEM = "fig6_hardness"

_MARKERS = ("o", "s", "D", "v")
_DODGE = 0.035  # relative x shift between consecutive n


def _series(rows, n, gap, method):
    return sorted((r for r in rows if r["n"] == n and r["gap"] == gap and r["method"] == method),
                  key=lambda r: r["kappa"])


def _cost_panel(ax, rs, size_key, cap_key, color, marker, x_shift, n):
    """log_n of the least size per kappa; censored points (none up to the search's cap) as triangles at the cap.

    ``size_key`` and ``cap_key`` hold log10 of the size and of the cap."""
    xs = [r["kappa"] * x_shift for r in rs]
    ys, censored = [], []
    for r in rs:
        size = r[size_key]
        ys.append((size if size is not None else r[cap_key]) / math.log10(n))
        censored.append(size is None)
    ax.plot(xs, ys, "-", color=color, lw=1.2, zorder=2)
    found = [(x, y) for x, y, c in zip(xs, ys, censored) if not c]
    cut = [(x, y) for x, y, c in zip(xs, ys, censored) if c]
    if found:
        ax.plot(*zip(*found), marker, color=color, ms=5, zorder=3, ls="none")
    if cut:
        ax.plot(*zip(*cut), "^", color=color, ms=6, mfc="white", zorder=3, ls="none")


def _legend(fig, ns, columns: int):
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=f"C{k}", marker=_MARKERS[k % len(_MARKERS)], ls="-", lw=1.2, ms=5,
                      label=f"n = {n:,}") for k, n in enumerate(ns)]
    handles += [
        Line2D([], [], color="black", marker="^", mfc="white", ls="none", ms=6,
               label="none up to the search's cap (drawn at the cap; colour: n)"),
        Line2D([], [], color="black", ls="-.", lw=0.9,
               label="top: the degree cap, where the search stops (its rank; colour: n)"),
        Line2D([], [], color="0.35", ls="--", lw=1.0, label="rank n: the cost of exact attention"),
        Line2D([], [], color="black", ls=":", lw=1.0, label=r"derived sufficient $\kappa_{min}$ (colour: n)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 2 if columns < 3 else 3),
               frameon=True, framealpha=1.0, edgecolor="0.8", fontsize=8)


def draw(results, out_dir) -> list:
    res = load(results, "hardness")
    if not res.rows:
        raise ValueError(f"no hardness rows in {res.csv_path}")
    rows = res.rows
    ns = sorted({r["n"] for r in rows})
    gaps = sorted({r["gap"] for r in rows}, reverse=True)
    min_k, max_k = min(r["kappa"] for r in rows), max(r["kappa"] for r in rows)
    fig, axes = new_figure(ncols=len(gaps), nrows=3, size=(max(2.6 * len(gaps) + 0.6, 8.4), 7.4))
    for col, gap in enumerate(gaps):
        top, mid, bot = axes[0][col], axes[1][col], axes[2][col]
        for k, n in enumerate(ns):
            color, marker = f"C{k}", _MARKERS[k % len(_MARKERS)]
            shift = 1.0 + _DODGE * (k - (len(ns) - 1) / 2)
            ex, po, rf = (_series(rows, n, gap, m) for m in ("exact", "poly", "rf"))
            if not ex:
                continue
            _cost_panel(top, po, "log10_least_size", "log10_rank_cap", color, marker, shift, n)
            cap = po[0]["log10_rank_cap"] / math.log10(n)  # the search stops at this degree: the budget
            top.axhline(cap, color=color, ls="-.", lw=0.9, zorder=1)
            if k == len(ns) - 1:
                top.text(0.97, 0.4, f"dash-dot: the search\nstops at degree {po[0]['degree_cap']}",
                         transform=top.transAxes, ha="right", va="center", fontsize=6.5, color="0.2")
            for r in rf:
                r["log10_rank"] = None if r["equivalent_rank"] is None else math.log10(r["equivalent_rank"])
                r["log10_cap"] = math.log10(r["max_rank"])
            _cost_panel(mid, rf, "log10_rank", "log10_cap", color, marker, shift, n)
            bot.plot([r["kappa"] * shift for r in ex], [r["accuracy"] for r in ex], "-", marker=marker, color=color,
                     ms=4, lw=1.2)
            for ax in (top, mid, bot):
                ax.axvline(ex[0]["kappa_min"], color=color, ls=":", lw=1.0, zorder=1)
        top.set_title(f"distance ratio t'/t = {1 + gap:g}", fontsize=9)
        for ax in (top, mid):
            ax.axhline(1.0, color="0.35", ls="--", lw=1.0, zorder=1)
        top.set_ylim(-0.3, 1.1 * max(r["log10_rank_cap"] / math.log10(r["n"]) for r in rows if r["method"] == "poly"))
        mid.set_ylim(-0.08, 1.45)
        bot.axhline(0.5, color="0.6", lw=0.8, zorder=1)
        bot.set_ylim(0.4, 1.05)
        for ax in (top, mid, bot):
            ax.set_xscale("log")
            ticks = [x for x in (0.5, 1, 2, 4, 8, 16) if min_k <= x <= max_k] or [min_k, max_k]
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{x:g}" for x in ticks])
            ax.minorticks_off()
        bot.set_xlabel(r"$\kappa = \lambda/\sqrt{\ln n}$")
    axes[0][0].set_ylabel("polynomial method:\nleast rank, as $\\log_n r$")
    axes[0][0].annotate("rank 1: a constant is within 1/4,\nexact attention does not decide", xy=(0.6, 0.0),
                        xytext=(0.55, 0.45), fontsize=7, arrowprops={"arrowstyle": "->", "lw": 0.7})
    axes[1][0].set_ylabel("random features:\nequal-flop rank, $\\log_n$")
    axes[2][0].set_ylabel("exact attention:\ndecision accuracy")
    _legend(fig, ns, len(gaps))
    fig.suptitle("Fig. 6: the least cost within 1/4 of exact attention on planted Hamming instances\n"
                 "(planted pair at distance t, every other pair at least t' apart)", fontsize=10)
    return save(fig, out_dir, STEM)
