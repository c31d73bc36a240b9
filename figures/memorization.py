"""Figure 4: the memorization sandwich -- lower bound, least prompt length measured, construction
(docs/theory.md §7, §9.6).

Reads the ``memorization`` sweep (:mod:`promptlimits.experiments.memorization`).
Three panels, one colour per model (constructed: blue, random: red): against
``N`` (log-log), against ``d L`` at fixed ``delta`` (log ``y``), and against
``1/tol`` with the grid tied to ``tol``. Lines: the per-sample counting bound;
filled circles: least ``Lp`` in the linear regime; crosses: least ``Lp`` by
tuning; open triangles: "not reached within budget", drawn at the largest
length tried, never as a value; squares: the construction's ``L k^d``.
"""

from __future__ import annotations

from figures._style import load, new_figure, save

_COLOURS = {"construct": "C0", "random": "C3"}
_LABELS = {"N": "number of grid inputs $N = k^{dL}$", "dL": "$dL$ (fixed $\\delta$)",
           "tol": "$1/\\mathrm{tol}$ (grid tied to tol: $k = \\lfloor K_f / (2(q-1)\\gamma)\\rfloor$)"}
_X = {"N": "N", "dL": "dL", "tol": "inv_tol"}


def _lines(ax, rows, x, key, style, c, label, **kw):
    """One line per ``(d, L)`` shape (against ``d L``: one line), labelled once."""
    shapes = sorted({(r["d"], r["L"]) for r in rows}) if x != "dL" else [None]
    for i, shape in enumerate(shapes):
        rs = sorted((r for r in rows if shape is None or (r["d"], r["L"]) == shape), key=lambda r: r[x])
        ax.plot([r[x] for r in rs], [max(r[key], 1e-2) for r in rs], style, color=c, label=label if i == 0 else None,
                **kw)


def _series(ax, rows, x, model):
    c = _COLOURS[model]
    _lines(ax, rows, x, "bound_sample", "-", c, f"{model}: counting bound (per sample), one line per (d, L)", lw=1.2)
    ok = [r for r in rows if r["lin_least_Lp"] is not None]
    ax.plot([r[x] for r in ok], [r["lin_least_Lp"] for r in ok], "o", color=c, ms=4,
            label=f"{model}: least $L_p$, linear regime")
    bad = [r for r in rows if r["lin_least_Lp"] is None]
    if bad:
        ax.plot([r[x] for r in bad], [r["lin_max_Lp"] for r in bad], "^", mfc="none", color=c, ms=6,
                label=f"{model}: not reached within budget (at max $L_p$ tried)")
    tuned = [r for r in rows if r["tune_least_Lp"] is not None]
    if tuned:
        ax.plot([r[x] for r in tuned], [r["tune_least_Lp"] for r in tuned], "x", color=c, ms=6,
                label=f"{model}: least $L_p$, tuning")
    built = [r for r in rows if r.get("constr_Lp") is not None]
    if built:
        _lines(ax, built, x, "constr_Lp", "s--", c, f"{model}: construction $Lk^d$", mfc="none", ms=4, lw=0.8)


def _panel(ax, rows, axis):
    x = _X[axis]
    for model in _COLOURS:
        rs = [r for r in rows if r["model"] == model]
        if rs:
            _series(ax, rs, x, model)
    if axis != "dL":
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(_LABELS[axis])
    ax.set_ylabel("prompt length $L_p$")
    ax.axhline(1.0, color="0.6", lw=0.6, ls=":")


def draw(results, out_dir) -> list:
    res = load(results, "memorization")
    if not res.rows:
        raise ValueError(f"no memorization rows in {res.csv_path}")
    present = [a for a in ("N", "dL", "tol") if any(r["axis"] == a for r in res.rows)]
    fig, axes = new_figure(ncols=len(present), nrows=1, size=(4.6 * len(present), 4.2))
    for ax, a in zip(axes[0], present):
        _panel(ax, [r for r in res.rows if r["axis"] == a], a)
    axes[0][0].legend(loc="upper left", fontsize=6)
    r0 = res.rows[0]
    fig.suptitle(f"Fig. 4: memorization sandwich (q={r0['q']}, $\\gamma$={r0['gamma']:.2g}, tol={r0['tol']:.2g}; "
                 f"bound $NLd\\log q/(D\\log M)$ per sample at $10^{{-6}}$; construction $Lk^d$)", fontsize=9)
    return save(fig, out_dir, "fig4_memorization")
