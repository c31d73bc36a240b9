"""Figure 6: deciding planted Hamming instances with attention (docs/theory.md §6, §9.9).

Against ``kappa = lambda / sqrt(ln n)``: the decision accuracy of exact
attention and of the rank-budgeted polynomial method (top), and the budgeted
method's agreement with exact attention and its largest output deviation,
against the decision margin 1/4 (bottom). The dotted line is the derived
sufficient ``kappa_min``.
"""

from __future__ import annotations

from figures._style import load, new_figure, save


def draw(results, out_dir) -> list:
    res = load(results, "hardness")
    if not res.rows:
        raise ValueError(f"no hardness rows in {res.csv_path}")
    ns = sorted({r["n"] for r in res.rows})
    fig, axes = new_figure(ncols=1, nrows=2, size=(5.5, 6.0))
    top, bot = axes[0][0], axes[1][0]
    for k, n in enumerate(ns):
        color = f"C{k}"
        for method, style in (("exact", "-o"), ("poly", "--s")):
            rs = sorted((r for r in res.rows if r["n"] == n and r["method"] == method), key=lambda r: r["kappa"])
            if not rs:
                continue
            kap = [r["kappa"] for r in rs]
            lab = f"{method} n={n}" + (f" (rank {rs[0]['rank']} <= {rs[0]['budget_value']})" if method == "poly" else "")
            top.plot(kap, [r["accuracy"] for r in rs], style, color=color, ms=3, label=lab)
            if method == "poly":
                bot.plot(kap, [r["agreement_with_exact"] for r in rs], "-s", color=color, ms=3,
                         label=f"agreement with exact, n={n}")
                bot.plot(kap, [min(r["max_deviation"] if r["max_deviation"] is not None else 1.0, 1.0)
                               for r in rs], ":^", color=color, ms=3, label=f"max |T_poly - T_exact|, n={n}")
        kmin = next(r["kappa_min"] for r in res.rows if r["n"] == n)
        top.axvline(kmin, color=color, ls=":", lw=0.8)
    top.axhline(0.5, color="gray", lw=0.8)
    top.set_ylabel("decision accuracy")
    top.set_ylim(-0.02, 1.05)
    top.legend(loc="center right")
    bot.axhline(0.25, color="gray", lw=0.8)
    bot.set_ylabel("budgeted poly vs exact")
    bot.set_xlabel("$\\kappa = \\lambda / \\sqrt{\\ln n}$  (dotted: derived $\\kappa_{min}$)")
    bot.set_ylim(-0.02, 1.05)
    bot.legend(loc="center left")
    fig.suptitle("Fig. 6: planted Hamming instances decided by one attention call", fontsize=9)
    return save(fig, out_dir, "fig6_hardness")
