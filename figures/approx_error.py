"""Figure 3: measured error of polynomial attention against degree, beside the certified bound.

From the ``approx_error`` sweep (docs/theory.md §4.1, §9.5): for each ``B``, the
measured ``||T - Att||max`` of the fused kernel (markers) and the certified
``F(eps_p) ||V||max`` (lines; ``F(eps_p) = 2 (1 - sqrt(1 - eps_p^2)) / eps_p``,
docs/theory.md §4.2) against the degree, with the rank
``C(d+g, g)`` on a second axis. Below about ``1e-15`` the measured error is
float64 rounding; the certificate includes the kernels' rounding bound
(:meth:`promptlimits.poly_attention.PolyPlan.rounding`, docs/theory.md §4.6), hence
the flat tails of the lines.
Colours are ``B`` (in both panels' legends); lines are certified, markers measured.
"""

from __future__ import annotations

from figures._style import load, new_figure, save


def draw(results, out_dir) -> list:
    res = load(results, "approx_error")
    rows = [r for r in res.rows if r["measured_err"] is not None]
    if not rows:
        raise ValueError(f"no measured approx_error rows in {res.csv_path}")
    fig, axes = new_figure(ncols=2, size=(8.5, 3.6))
    ax, rx = axes[0]
    for i, B in enumerate(sorted({r["B"] for r in rows})):
        pts = sorted((r for r in rows if r["B"] == B), key=lambda r: r["degree"])
        color = f"C{i}"
        g = [r["degree"] for r in pts]
        ax.semilogy(g, [r["bound"] for r in pts], "-", color=color, lw=1, label=f"$B={B:g}$")
        ax.semilogy(g, [max(r["measured_err"], 1e-18) for r in pts], "o", ms=3, color=color)
        rx.loglog([r["rank"] for r in pts], [max(r["measured_err"], 1e-18) for r in pts], "o-", ms=3,
                  color=color, lw=0.8, label=f"$B={B:g}$")
    ax.axhline(2.2e-16, color="gray", ls=":", lw=1, label="float64 unit roundoff")
    ax.set_xlabel("degree $g$")
    ax.set_ylabel("$\\|T - \\mathrm{Att}\\|_{max}$")
    ax.set_ylim(1e-18, 1e6)  # head room: the legend sits above the curves
    ax.plot([], [], "-", color="k", lw=1, label="certified bound")
    ax.plot([], [], "o", color="k", ms=3, label="measured")
    ax.legend(loc="upper right", fontsize=7, ncol=2, frameon=True, framealpha=0.9)
    rx.axhline(2.2e-16, color="gray", ls=":", lw=1)
    rx.set_xlabel("rank $r = C(d+g, g)$")
    rx.set_ylabel("measured error")
    rx.legend(loc="lower left")
    first = rows[0]
    fig.suptitle(f"Fig. 3: polynomial attention error vs degree and rank (n={first['n']}, d={first['d']}, "
                 f"{first['kind']})", fontsize=9)
    return save(fig, out_dir, "fig3_approx_error")
