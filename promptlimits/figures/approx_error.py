"""Figure 3: measured error of polynomial attention against degree, beside the certified bounds.

From the ``approx_error`` sweep (docs/theory.md §4.1, §4.5, §4.6, §9.5). Panels (a)-(c)
show the random input family, (d) every family. For each ``B``: (a) the measured
``||T - Att||max`` of the fused kernel (markers) and the certificate
``F(eps_p + delta(n)) ||V||max`` (lines; docs/theory.md §4.2, §4.6) against the degree;
(b) the same for the backward, the measured ``||dK_code - dK||max`` against
``PolyPlan.gradient_bound`` (the exact-arithmetic bound of §4.5 plus the backward's
rounding bound of §4.6.1, hence the flat tails of both panels' lines; dQ and dV are in
the verdict's numbers); (c) the measured forward error against the rank ``C(d+g, g)``;
(d) per family, the largest measured/certified ratio over ``B`` against the degree,
forward and backward (largest of dQ, dK, dV), between the bound (1) and the power
threshold (0.1) of the verdicts. The axes are set from the data, so no bound or point is
clipped; a measured zero is drawn at the bottom of its panel as a downward triangle.
Colours are ``B`` in (a)-(c) and families in (d); lines are certified, markers measured.
"""

from __future__ import annotations

import math

from ._style import load, new_figure, save

#: The figure this module draws, ``STEM.png`` and ``STEM.pdf`` (discovered by ``promptlimits.figures``).
STEM = "fig3_approx_error"

_FAMILY_STYLE = {"random": ("C0", "o"), "extremal": ("C3", "s"), "corners": ("C2", "^"), "float32": ("C4", "D")}


def _limits(values, head: float):
    """Log-axis limits covering every positive value, with ``head`` decades of room above (for the legend)."""
    pos = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    if not pos:
        return 1e-18, 1.0
    return 10.0 ** (math.floor(math.log10(min(pos))) - 1), 10.0 ** (math.ceil(math.log10(max(pos))) + head)


#: Share of a degree panel's height kept free above the data for its legend (two columns, five rows).
_LEGEND_SHARE = 0.3


def _degree_panel(ax, rows, Bs, measured_key, bound_key, ylabel, title):
    lo, top = _limits([r[k] for r in rows for k in (measured_key, bound_key) if r.get(k) is not None] + [2.2e-16], 0)
    span = math.log10(top / lo)  # decades of data: the legend's room grows with them
    hi = top * 10.0 ** math.ceil(span * _LEGEND_SHARE / (1 - _LEGEND_SHARE))
    for i, B in enumerate(Bs):
        pts = sorted((r for r in rows if r["B"] == B and r.get(measured_key) is not None), key=lambda r: r["degree"])
        if not pts:
            continue
        g = [r["degree"] for r in pts]
        ax.semilogy(g, [r[bound_key] for r in pts], "-", color=f"C{i}", lw=1, label=f"$B={B:g}$")
        ax.semilogy([x for x, r in zip(g, pts) if r[measured_key] > 0],
                    [r[measured_key] for r in pts if r[measured_key] > 0], "o", ms=3, color=f"C{i}")
        zeros = [x for x, r in zip(g, pts) if r[measured_key] <= 0]
        ax.semilogy(zeros, [lo * 1.5] * len(zeros), "v", ms=3, color=f"C{i}")
    ax.axhline(2.2e-16, color="gray", ls=":", lw=1, label="float64 unit roundoff")
    ax.set_xlabel("degree $g$")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.set_ylim(lo, hi)
    ax.plot([], [], "-", color="k", lw=1, label="certified bound")
    ax.plot([], [], "o", color="k", ms=3, label="measured")
    ax.legend(loc="upper right", fontsize=7, ncol=2, frameon=True, framealpha=0.9)


def _ratio(err, bound):
    return err / bound if bound and bound > 0 else None


def _family_panel(ax, rows):
    families = [f for f in _FAMILY_STYLE if any(r.get("family", "random") == f for r in rows)]
    values = []
    for fam in families:
        colour, marker = _FAMILY_STYLE[fam]
        fr = [r for r in rows if r.get("family", "random") == fam]
        degrees = sorted({r["degree"] for r in fr})
        fwd, bwd = [], []
        for g in degrees:
            at = [r for r in fr if r["degree"] == g]
            fwd.append(max((v for r in at if (v := _ratio(r["measured_err"], r["bound"])) is not None), default=None))
            bwd.append(max((v for r in at for x in "QKV" if r.get(f"grad_err_{x}") is not None
                            and (v := _ratio(r[f"grad_err_{x}"], r[f"grad_bound_{x}"])) is not None), default=None))
        values += fwd + bwd
        for ys, ls, fill, what in ((fwd, "-", colour, "forward"), (bwd, "--", "none", "backward")):
            pts = [(g, y) for g, y in zip(degrees, ys) if y is not None and y > 0]
            ax.semilogy([p[0] for p in pts], [p[1] for p in pts], ls, marker=marker, ms=4, lw=0.8, color=colour,
                        mfc=fill, label=f"{fam}, {what}")
    lo, _ = _limits(values + [0.05], 0)
    ax.axhline(1.0, color="k", lw=1)
    ax.axhline(0.1, color="gray", ls=":", lw=1)
    ax.text(0.02, 1.0, "bound", transform=ax.get_yaxis_transform(), fontsize=7, va="bottom")
    ax.text(0.02, 0.1, "power threshold 0.1", transform=ax.get_yaxis_transform(), fontsize=7, va="bottom")
    ax.set_ylim(lo, 30.0)
    ax.set_xlabel("degree $g$")
    ax.set_ylabel("largest measured / certified (over $B$)")
    ax.set_title("(d) how close each input family comes to its certificate", fontsize=9)
    ax.legend(loc="lower left", fontsize=6.5, ncol=2, frameon=True, framealpha=0.9)


def draw(results, out_dir) -> list:
    res = load(results, "approx_error")
    rows = [r for r in res.rows if r["measured_err"] is not None]
    if not rows:
        raise ValueError(f"no measured approx_error rows in {res.csv_path}")
    random = [r for r in rows if r.get("family", "random") == "random"] or rows
    fig, axes = new_figure(ncols=2, nrows=2, size=(11.5, 8.0))
    (ax, gx), (rx, fx) = axes
    Bs = sorted({r["B"] for r in random})
    _degree_panel(ax, random, Bs, "measured_err", "bound", "$\\|T - \\mathrm{Att}\\|_{max}$",
                  "(a) forward: attention output (random inputs)")
    _degree_panel(gx, random, Bs, "grad_err_K", "grad_bound_K", "$\\|dK_p - dK\\|_{max}$",
                  "(b) backward: key gradient (random inputs; bound with rounding)")
    for i, B in enumerate(Bs):
        pts = sorted((r for r in random if r["B"] == B), key=lambda r: r["degree"])
        rx.loglog([r["rank"] for r in pts], [max(r["measured_err"], 1e-300) for r in pts], "o-", ms=3,
                  color=f"C{i}", lw=0.8, label=f"$B={B:g}$")
    rx.set_ylim(*_limits([r["measured_err"] for r in random] + [2.2e-16], 1))
    rx.axhline(2.2e-16, color="gray", ls=":", lw=1)
    rx.set_xlabel("rank $r = C(d+g, g)$")
    rx.set_ylabel("measured $\\|T - \\mathrm{Att}\\|_{max}$")
    rx.set_title("(c) forward error against the rank (random inputs)", fontsize=9)
    rx.legend(loc="lower left")
    _family_panel(fx, rows)
    first = rows[0]
    fig.suptitle(f"Fig. 3: polynomial attention error, forward and backward, vs degree and rank, per input family "
                 f"(n={first['n']}, d={first['d']}, {first['kind']})", fontsize=9)
    return save(fig, out_dir, STEM)
