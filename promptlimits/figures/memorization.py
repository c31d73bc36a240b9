"""Figure 4: the memorization sandwich on one model and one prompt set, and a random model's capacity
(docs/theory.md §7.8, §7.9, §9.6).

Reads the ``memorization`` sweep (:mod:`promptlimits.experiments.memorization`).

(a) prompt length against ``N = k^(dL)`` (log-log), one colour per ``(d, L)``
    at the headline width, each curve labelled at its end: the whole-box lower
    bound (solid line), the construction's certified length (squares, dashed),
    the least length found by search (filled circles); a search that did not
    reach the tolerance is an upward arrow above the largest length it tried,
    never a data point. Points of the other width, when run, are grey.
(b) the same in parameters ``Lp * D`` (``D`` counted prompt columns).
(c) the random model at token width ``d``: bits memorized (``N L d`` at
    ``q = 2``) against ``Lp`` per ``(d, L)``, with the fitted slope in the
    label.
(d) realizable targets on the random model: the least length found by tuning
    against the teacher's length ``Lp*`` (an arrow: not reached).
"""

from __future__ import annotations

from ._style import load, new_figure, save

#: The figure this module draws, ``STEM.png`` and ``STEM.pdf`` (discovered by ``promptlimits.figures``).
STEM = "fig4_memorization"

_WIDTH_TEXT = {"token": "token width $w$ (prompt rows as wide as input rows)",
               "wide": "residual width $D$ (wide construction)"}


def _headline(rows):
    return "token" if any(r.get("width") == "token" for r in rows) else "wide"


def _shapes(rows):
    return sorted({(r["d"], r["L"]) for r in rows}, key=lambda s: (s[0] * s[1], s))


def _sandwich(ax, rows, scale_key, colours):
    width = _headline(rows)
    for w in sorted({r.get("width", "wide") for r in rows}):
        head = w == width
        for i, shape in enumerate(_shapes([r for r in rows if r.get("width", "wide") == w])):
            rs = sorted((r for r in rows if r.get("width", "wide") == w and (r["d"], r["L"]) == shape),
                        key=lambda r: r["N"])
            c = colours[shape] if head else "0.65"
            D = [r["D"] if scale_key else 1 for r in rs]
            N = [r["N"] for r in rs]
            ax.plot(N, [max(r["bound"], 1e-3) * m for r, m in zip(rs, D)], "_-", color=c, lw=1.4 if head else 0.8,
                    ms=8)
            ax.plot(N, [r["constr_Lp"] * m for r, m in zip(rs, D)], "s--", color=c, mfc="none", ms=4, lw=0.8)
            found = [(r["N"], r["search_Lp"] * m) for r, m in zip(rs, D) if r.get("search_Lp") is not None]
            if found:
                ax.plot(*zip(*found), "o", color=c, ms=3.5)
            for r, m in zip(rs, D):
                searched = "not reached" in f"{r.get('lin_status')} {r.get('tune_status')}"
                if r.get("search_Lp") is None and searched:  # not reached: an arrow above the largest length tried
                    y = r["constr_Lp"] * m
                    ax.annotate("", xy=(r["N"], y * 2.2), xytext=(r["N"], y * 1.15),
                                arrowprops={"arrowstyle": "->", "color": c, "lw": 0.9})
            if head:
                ax.annotate(f"({shape[0]},{shape[1]})", xy=(N[-1], rs[-1]["constr_Lp"] * D[-1]),
                            xytext=(4, 6 - 8 * (i % 4)), textcoords="offset points", fontsize=7, color=c)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("grid inputs $N = k^{dL}$")


def _random(ax, rows):
    import numpy as np

    cap = [r for r in rows if r.get("axis") == "capacity"]
    for i, shape in enumerate(_shapes(cap)):
        rs = sorted((r for r in cap if (r["d"], r["L"]) == shape), key=lambda r: r["Lp"])
        x, y = [r["Lp"] for r in rs], [r["bits"] for r in rs]
        slope = np.polyfit(x, y, 1)[0] if len(set(x)) > 1 else float("nan")
        ax.plot(x, y, "o-", color=f"C{i}", ms=4, label=f"$(d,L)=({shape[0]},{shape[1]})$: slope {slope:.2g} bits/token")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("prompt length $L_p$")
    ax.set_ylabel("bits memorized $NLd$ (binary family)")
    ax.legend(loc="upper left", fontsize=6, frameon=True)


def _realizable(ax, rows):
    real = [r for r in rows if r.get("axis") == "realizable"]
    top = max(r["Lp_star"] for r in real)
    ax.plot([0.5, top + 1], [0.5, top + 1], color="0.6", lw=0.8, ls=":", label="$L_p = L_p^*$ (the teacher's length)")
    for i, shape in enumerate(_shapes(real)):
        rs = [r for r in real if (r["d"], r["L"]) == shape]
        ok = [r for r in rs if r.get("tune_least_Lp") is not None]
        ax.plot([r["Lp_star"] for r in ok], [r["tune_least_Lp"] for r in ok], "x", color=f"C{i}", ms=7,
                label=f"$(d,L)=({shape[0]},{shape[1]})$, $N \\in {sorted({r['N'] for r in rs})}$: least $L_p$ found")
        for r in rs:
            if r.get("tune_least_Lp") is None:
                ax.annotate("", xy=(r["Lp_star"], r["Lp_star"] + 1.2), xytext=(r["Lp_star"], r["Lp_star"] + 0.2),
                            arrowprops={"arrowstyle": "->", "color": f"C{i}"})
    ax.set_xlim(0.5, top + 1)
    ax.set_ylim(0.5, top + 2)
    ax.set_xlabel("teacher prompt length $L_p^*$")
    ax.set_ylabel("least $L_p$ found by tuning")
    ax.legend(loc="upper left", fontsize=6, frameon=True)


def draw(results, out_dir) -> list:
    res = load(results, "memorization")
    if not res.rows:
        raise ValueError(f"no memorization rows in {res.csv_path}")
    sand = [r for r in res.rows if r.get("axis") == "N"]
    has_cap = any(r.get("axis") == "capacity" for r in res.rows)
    has_real = any(r.get("axis") == "realizable" for r in res.rows)
    ncols = (2 if sand else 0) + int(has_cap) + int(has_real)
    fig, axes = new_figure(ncols=ncols, nrows=1, size=(4.2 * ncols, 4.4))
    axs = list(axes[0])
    letters = "abcd"
    if sand:
        shapes = _shapes([r for r in sand if r.get("width", "wide") == _headline(sand)])
        colours = {s: f"C{i}" for i, s in enumerate(shapes)}
        for ax, key, ylabel in ((axs[0], False, "prompt length $L_p$"),
                                (axs[1], True, "prompt parameters $L_p D$")):
            _sandwich(ax, sand, key, colours)
            ax.set_ylabel(ylabel)
        from matplotlib.lines import Line2D

        key = [Line2D([], [], color="k", marker="_", ms=8, label="whole-box lower bound"),
               Line2D([], [], color="k", marker="s", mfc="none", ls="--", lw=0.8, label="construction (certified)"),
               Line2D([], [], color="k", marker="o", ls="none", ms=3.5, label="least length found by search"),
               Line2D([], [], color="k", marker="$\\uparrow$", ls="none", ms=8,
                      label="search not reached (above the largest length tried)"),
               Line2D([], [], color="0.65", label="other width (contrast)")]
        fig.legend(handles=key, loc="outside lower left", ncol=5, fontsize=7, frameon=False,
                   title="(a), (b): curves labelled $(d, L)$", title_fontsize=7)
    if has_cap:
        _random(axs[2 if sand else 0], res.rows)
    if has_real:
        _realizable(axs[-1], res.rows)
    for i, ax in enumerate(axs):
        ax.set_title(f"({letters[i]})", loc="left", fontsize=9, fontweight="bold")
    if sand:
        r0 = sand[0]
        w = _WIDTH_TEXT[_headline(sand)]
        fig.suptitle(f"Fig. 4: memorization sandwich at {w} over the whole box $\\|P\\|_{{\\max}}\\leq\\rho$ "
                     f"(q = $2^{{{int(r0['q']).bit_length() - 1}}}$, tol = $\\gamma/4$); (c), (d) random model at "
                     f"token width $d$, tol = {r0['rand_tol']:g}", fontsize=8.5)
    return save(fig, out_dir, STEM)
