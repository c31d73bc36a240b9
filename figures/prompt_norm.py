"""Figure 5 (induced-norm part): ``B(P, X)`` against the frontier as the prompt norm grows.

From the prompt-norm sweep (docs/theory.md §5.6, §9.8): left, the induced ``B`` of
the scaled prompt and of the norm-constrained tuned prompt against ``rho``,
with the frontier ``B*(n_ref)`` of the polynomial method; right, the loss
that constrained tuning reaches at each ``rho``.
"""

from __future__ import annotations

from figures._style import load, new_figure, save


def draw(results, out_dir) -> list:
    res = load(results, "prompt-norm")
    rows = sorted(res.rows, key=lambda r: r["rho"])
    if not rows:
        raise ValueError(f"no prompt-norm rows in {res.csv_path}")
    rho = [r["rho"] for r in rows]
    fig, axes = new_figure(ncols=2, size=(8.5, 3.6))
    ax, bx = axes[0]
    ax.plot(rho, [r["B_init"] for r in rows], "-o", ms=3, label="$B(P,X)$, prompt scaled to $\\rho$")
    ax.plot(rho, [r["B_tuned"] for r in rows], "-s", ms=3, label="$B(P,X)$ after tuning, $\\|P\\|_{max}\\leq\\rho$")
    ax.axhline(rows[0]["B_star"], color="k", ls="--", lw=1,
               label=f"frontier $B^*(n={rows[0]['n_ref']})$, head size {rows[0]['s']}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("prompt norm $\\rho$")
    ax.set_ylabel("induced norm $B$")
    ax.legend(loc="upper left")
    bx.plot(rho, [r["mse_init"] for r in rows], "-o", ms=3, label="scaled prompt")
    bx.plot(rho, [r["mse_tuned"] for r in rows], "-s", ms=3, label="tuned, $\\|P\\|_{max}\\leq\\rho$")
    bx.set_xscale("log")
    bx.set_yscale("log")
    bx.set_xlabel("prompt norm $\\rho$")
    bx.set_ylabel("MSE")
    bx.legend(loc="lower left")
    fig.suptitle("Fig. 5 (part): prompt-induced norm against the efficiency frontier", fontsize=9)
    return save(fig, out_dir, "fig5_prompt_norm")
