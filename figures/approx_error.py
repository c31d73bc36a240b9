"""Figure 3: measured error of polynomial attention against degree, beside the certified bounds.

From the ``approx_error`` sweep (docs/theory.md §4.1, §4.5, §9.5): for each ``B``,
(a) the measured ``||T - Att||max`` of the fused kernel (markers) and the certified
``F(eps_p) ||V||max`` (lines; ``F(eps_p) = 2 (1 - sqrt(1 - eps_p^2)) / eps_p``,
docs/theory.md §4.2) against the degree; (b) the same for the backward, the
measured ``||dK_p - dK||max`` against ``PolyPlan.gradient_bound`` (exact
arithmetic; the key gradient carries the prompt's gradient and the derivative's
certificate ``eps_dp``; dQ and dV are in the verdict's numbers); (c) the measured
forward error against the rank ``C(d+g, g)``. Below about ``1e-15`` the measured
forward error is float64 rounding; the forward certificate includes the kernels'
rounding bound (:meth:`promptlimits.poly_attention.PolyPlan.rounding`,
docs/theory.md §4.6), hence the flat tails of its lines, while the gradient bound
does not, so measured gradients cross it only where rounding dominates.
Colours are ``B`` (in every panel's legend); lines are certified, markers measured.
"""

from __future__ import annotations

import math

from figures._style import load, new_figure, save

_FLOOR = 1e-18  # where a zero measurement is drawn on the log axis


def _degree_panel(ax, rows, Bs, measured_key, bound_key, ylabel, title):
    top = max((r[bound_key] for r in rows if r.get(bound_key) is not None), default=1.0)
    for i, B in enumerate(Bs):
        pts = sorted((r for r in rows if r["B"] == B and r.get(measured_key) is not None), key=lambda r: r["degree"])
        if not pts:
            continue
        g = [r["degree"] for r in pts]
        ax.semilogy(g, [r[bound_key] for r in pts], "-", color=f"C{i}", lw=1, label=f"$B={B:g}$")
        ax.semilogy(g, [max(r[measured_key], _FLOOR) for r in pts], "o", ms=3, color=f"C{i}")
    ax.axhline(2.2e-16, color="gray", ls=":", lw=1, label="float64 unit roundoff")
    ax.set_xlabel("degree $g$")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.set_ylim(_FLOOR, 10.0 ** max(6, math.ceil(math.log10(top)) + 6))  # head room: the legend sits above
    ax.plot([], [], "-", color="k", lw=1, label="certified bound")
    ax.plot([], [], "o", color="k", ms=3, label="measured")
    ax.legend(loc="upper right", fontsize=7, ncol=2, frameon=True, framealpha=0.9)


def draw(results, out_dir) -> list:
    res = load(results, "approx_error")
    rows = [r for r in res.rows if r["measured_err"] is not None]
    if not rows:
        raise ValueError(f"no measured approx_error rows in {res.csv_path}")
    fig, axes = new_figure(ncols=3, size=(12.5, 3.8))
    ax, gx, rx = axes[0]
    Bs = sorted({r["B"] for r in rows})
    _degree_panel(ax, rows, Bs, "measured_err", "bound", "$\\|T - \\mathrm{Att}\\|_{max}$",
                  "(a) forward: attention output")
    _degree_panel(gx, rows, Bs, "grad_err_K", "grad_bound_K", "$\\|dK_p - dK\\|_{max}$",
                  "(b) backward: key gradient (bound in exact arithmetic)")
    for i, B in enumerate(Bs):
        pts = sorted((r for r in rows if r["B"] == B), key=lambda r: r["degree"])
        rx.loglog([r["rank"] for r in pts], [max(r["measured_err"], _FLOOR) for r in pts], "o-", ms=3,
                  color=f"C{i}", lw=0.8, label=f"$B={B:g}$")
    rx.axhline(2.2e-16, color="gray", ls=":", lw=1)
    rx.set_xlabel("rank $r = C(d+g, g)$")
    rx.set_ylabel("measured $\\|T - \\mathrm{Att}\\|_{max}$")
    rx.set_title("(c) forward error against the rank", fontsize=9)
    rx.legend(loc="lower left")
    first = rows[0]
    fig.suptitle(f"Fig. 3: polynomial attention error, forward and backward, vs degree and rank "
                 f"(n={first['n']}, d={first['d']}, {first['kind']})", fontsize=9)
    return save(fig, out_dir, "fig3_approx_error")
