"""Figure 5 (tuning part): loss curves for several prompt lengths and the induced norm during tuning.

From the ``tuning_curves`` sweep (docs/theory.md §2.5, §5.6, §9.7): left, the MSE
against L-BFGS-B iterations for each ``Lp``, free (solid) and in the box
``||P||max <= rho`` (dashed); right, the induced ``B(P, X)`` along the same
runs, with the frontier ``B*(n)`` of the polynomial method (largest ``B`` whose
certified rank is below ``n``) for the longest sequence.
"""

from __future__ import annotations

from figures._style import load, new_figure, save


def draw(results, out_dir) -> list:
    res = load(results, "tuning_curves")
    rows = res.rows
    if not rows:
        raise ValueError(f"no tuning_curves rows in {res.csv_path}")
    fig, axes = new_figure(ncols=2, size=(8.5, 3.6))
    ax, bx = axes[0]
    Lps = sorted({r["Lp"] for r in rows})
    rhos = sorted({r["rho"] for r in rows if r["rho"] is not None})
    for i, Lp in enumerate(Lps):
        for rho, ls in [(None, "-")] + [(v, "--") for v in rhos]:
            run = sorted((r for r in rows if r["Lp"] == Lp and r["rho"] == rho), key=lambda r: r["step"])
            if not run:
                continue
            label = f"$L_p={Lp}$" + ("" if rho is None else f", $\\rho={rho:g}$")
            steps = [r["step"] for r in run]
            ax.semilogy(steps, [r["mse"] for r in run], ls, color=f"C{i}", lw=1, label=label)
            bx.plot(steps, [r["B"] for r in run], ls, color=f"C{i}", lw=1, label=label)
    frontier = res.meta.get("summary", {}).get("frontier", {})
    if frontier:
        n = max(frontier, key=int)
        bx.axhline(frontier[n], color="k", ls=":", lw=1, label=f"frontier $B^*(n={n})$")
    ax.set_xlabel("L-BFGS-B iteration")
    ax.set_ylabel("MSE")
    ax.legend(ncol=2)
    bx.set_yscale("log")
    bx.set_xlabel("L-BFGS-B iteration")
    bx.set_ylabel("induced norm $B(P, X)$")
    bx.legend(ncol=2, loc="center right")
    fig.suptitle("Fig. 5: prompt tuning, free (solid) and norm-constrained (dashed)", fontsize=9)
    return save(fig, out_dir, "fig5_tuning")
