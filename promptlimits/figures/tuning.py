"""Figure 5: prompts tuned at long sequences, free and in the frontier's box, beside ``B_cert(n)``.

From the ``tuning_curves`` sweep (docs/theory.md §5.6, §9.7), one colour per
sequence length ``n = Lp + L``:

(a) the loss relative to the shared start against L-BFGS-B iterations, free
    (solid) and boxed (dashed);
(b) the induced norm ``B(P, X)`` of the fitted prompts against ``n``, free and
    boxed, beside the frontier ``B_cert(n)`` of the polynomial method, the largest
    norm it can certify at ``n`` keys, the inputs' own norm (a floor no prompt
    lowers) and the teacher's;
(c) the loss reached against ``n``, free and boxed.

Markers are filled where every iteration ran on the polynomial backend and
hollow otherwise. Runs that end at the same value are drawn side by side and
said so in the panel.
"""

from __future__ import annotations

from ._style import load, new_figure, save

#: The figure this module draws, ``STEM.png`` and ``STEM.pdf`` (discovered by ``promptlimits.figures``).
STEM = "fig5_tuning"

_MARK = {"free": ("o", "-"), "boxed": ("s", "--")}


def _runs(res):
    runs = (res.meta.get("summary") or {}).get("runs") or []
    if not runs:
        raise ValueError(f"no tuning_curves runs in {res.csv_path}")
    return runs


def _kind(run) -> str:
    return "free" if run["box"] == "free" else "boxed"


def _curves(ax, rows, ns):
    for i, n in enumerate(ns):
        for kind in ("free", "boxed"):
            run = sorted((r for r in rows if r["n"] == n and _kind(r) == kind and r["status"] == "tuned"),
                         key=lambda r: r["step"])
            if run:
                ax.semilogy([r["step"] for r in run], [r["rel_mse"] for r in run], _MARK[kind][1], color=f"C{i}",
                            lw=1.2, label=f"$n={n}$ ($L_p={run[0]['Lp']}$)" if kind == "free" else None)
    ax.plot([], [], "k-", lw=1, label="free")
    ax.plot([], [], "k--", lw=1, label="box $B(P,X)\\leq B_{cert}(n)$")
    ax.set_xlabel("L-BFGS-B iteration")
    ax.set_ylabel("MSE / MSE at the start")
    ax.set_title("(a) tuning curves", fontsize=9)
    ax.legend(loc="upper right", ncol=2, fontsize=6.5, frameon=True, framealpha=0.95, edgecolor="0.8")


def _point(ax, run, i, value, offset):
    marker = _MARK[_kind(run)][0]
    full = run["poly_steps"] == run["iterations"]
    ax.plot(run["n"] * offset, value, marker, ms=6, color=f"C{i}", mfc=f"C{i}" if full else "white", mew=1.3)


def _norms(ax, runs, ns):
    tuned = [r for r in runs if r["status"] == "tuned"]
    first = {n: next(r for r in runs if r["n"] == n) for n in ns}
    ax.plot(ns, [first[n]["B_cert"] for n in ns], "k-", lw=1.5,
            label="certified frontier at fixed d,\n$B_{cert}(n; d, \\varepsilon)$: $r^* < n$")
    ax.plot(ns, [first[n]["B_certifiable"] for n in ns], "k:", lw=1, label="largest certifiable $B$")
    ax.plot(ns, [first[n]["B_teacher"] for n in ns], "-.", color="0.5", lw=1, label="teacher's $B(P,X)$")
    ax.plot(ns, [first[n]["B_input"] for n in ns], "--", color="0.5", lw=1, label="inputs' own $B$ (floor)")
    for r in tuned:
        _point(ax, r, ns.index(r["n"]), r["B_final"], 0.93 if _kind(r) == "free" else 1.07)
    capped = [n for n in ns if first[n]["B_cert"] >= 0.99 * first[n]["B_certifiable"]]
    if capped:
        ax.annotate("here the frontier is the float64\nceiling, not the rank", (capped[0], first[capped[0]]["B_cert"]),
                    xytext=(0.38, 0.6), textcoords="axes fraction", fontsize=6.5, va="bottom",
                    arrowprops={"arrowstyle": "->", "lw": 0.6})
    ax.plot([], [], "ko", mfc="k", label="free, fitted")
    ax.plot([], [], "ks", mfc="k", label="boxed, fitted")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("sequence length $n = L_p + L$")
    ax.set_ylabel("induced norm $B(P, X)$")
    ax.set_title("(b) fitted prompts against the frontier", fontsize=9)
    top = max(max(r["B_certifiable"], r["B_teacher"], r.get("B_final") or 0.0) for r in runs)
    ax.set_ylim(top=1.45 * top)  # room for the legend above every line
    ax.legend(loc="upper left", ncol=2, fontsize=6.5)


def _losses(ax, runs, ns):
    tuned = [r for r in runs if r["status"] == "tuned"]
    for r in tuned:
        _point(ax, r, ns.index(r["n"]), r["rel_mse"], 0.93 if _kind(r) == "free" else 1.07)
    ax.plot([], [], "ko", mfc="k", label="free")
    ax.plot([], [], "ks", mfc="k", label="boxed")
    ax.plot([], [], "ko", mfc="white", label="some iterations on exact")
    missing = [r["n"] for r in runs if r["status"] != "tuned"]
    if missing:
        ax.text(0.02, 0.02, f"no box at n = {missing}: the inputs alone exceed $B_{{cert}}(n)$", transform=ax.transAxes,
                fontsize=6.5)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length $n = L_p + L$")
    ax.set_ylabel("MSE / MSE at the start, final")
    ax.set_title("(c) loss reached", fontsize=9)
    ax.legend(loc="upper right", fontsize=6.5)


def draw(results, out_dir) -> list:
    res = load(results, "tuning_curves")
    runs = _runs(res)
    ns = sorted({r["n"] for r in runs})
    fig, axes = new_figure(ncols=3, size=(12.0, 3.8))
    _curves(axes[0][0], res.rows, ns)
    _norms(axes[0][1], runs, ns)
    _losses(axes[0][2], runs, ns)
    fig.suptitle("Fig. 5: prompt tuning at long sequences, free and in the box that keeps $B(P,X)$ at or below "
                 "the certified frontier at fixed d, $B_{cert}(n; d, \\varepsilon)$\n"
                 "(not the phase frontier $B^*(n)$ of fig. 1)", fontsize=9)
    return save(fig, out_dir, STEM)
