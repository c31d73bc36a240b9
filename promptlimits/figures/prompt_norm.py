"""Figure 5 (induced-norm part): ``B(P, X)`` and the reachable loss as the prompt box ``rho`` grows.

From the prompt-norm sweep (docs/theory.md §5.6, §9.8): left, the induced ``B``
of the random prompt scaled to ``rho``, of the prompt tuned from it (cold) and
of the best prompt found in the box (warm-started from the previous ``rho``),
beside the inputs' own norm (the floor of ``B(P, X)``) and the certified
frontier at fixed ``d``, ``B_cert(n; d, eps)``, read at the ``n = Lp + L`` rows
used (at ``n = 8`` it lies below the inputs' own norm, so every prompt is on the
expensive side, and the panel says so); right, the loss of the same three prompts. The best loss never
rises with ``rho``; the cold starts show why warm starts are needed.
"""

from __future__ import annotations

from ._style import load, new_figure, save

#: The figure this module draws, ``STEM.png`` and ``STEM.pdf`` (discovered by ``promptlimits.figures``).
STEM = "fig5_prompt_norm"

_SERIES = (("init", "o-", "C0", "random prompt scaled to $\\|P\\|_{max}=\\rho$"),
           ("cold", "v--", "C1", "tuned from it (cold start)"),
           ("tuned", "s-", "C2", "best in the box (warm start from the previous $\\rho$)"))


def _warm_note(rows) -> str:
    """Where the warm start (or the previous box's prompt) beat the cold start; elsewhere the two tuned
    curves coincide."""
    warm = [r["rho"] for r in rows if r["tuned_from"] != "cold"]
    if not warm:
        return "the cold start was best at every $\\rho$"
    where = f"$\\rho \\geq {warm[0]:g}$" if warm == [r["rho"] for r in rows][-len(warm):] else \
        "$\\rho$ = " + ", ".join(f"{w:g}" for w in warm)
    return f"warm start better at {where};\nelsewhere the two tuned curves coincide"


def draw(results, out_dir) -> list:
    res = load(results, "prompt-norm")
    rows = sorted(res.rows, key=lambda r: r["rho"])
    if not rows:
        raise ValueError(f"no prompt-norm rows in {res.csv_path}")
    rho = [r["rho"] for r in rows]
    fig, axes = new_figure(ncols=2, size=(9.5, 3.8))
    ax, bx = axes[0]
    for series, style, colour, label in _SERIES:
        ax.plot(rho, [r[f"B_{series}"] for r in rows], style, ms=4, color=colour, lw=1.2, label=label)
        bx.plot(rho, [r[f"mse_{series}"] for r in rows], style, ms=4, color=colour, lw=1.2, label=label)
    ax.plot(rho, [r["B_input_init"] for r in rows], ":", color="0.4", lw=1.2,
            label="inputs' own $B$: the floor (curves on it coincide)")
    n, bcert = rows[0]["n"], rows[0]["B_cert"]
    ax.axhline(bcert, color="k", ls="-.", lw=1,
               label=f"certified frontier $B_{{cert}}(n={n}; d={rows[0]['s']}, \\varepsilon)$ = {bcert:.3g}")
    if bcert <= rows[0]["B_input_init"]:
        ax.text(0.98, 0.12, f"at n = {n} every prompt, and the inputs alone,\nlie above $B_{{cert}}$: "
                "no prompt is on the efficient side", transform=ax.transAxes, fontsize=6.5, ha="right", va="bottom")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("prompt box $\\rho$")
    ax.set_ylabel("induced norm $B(P, X)$")
    ax.set_title(f"induced norm (sequences of $n = {rows[0]['Lp'] + rows[0]['L']}$ rows)", fontsize=9)
    ax.legend(loc="upper left", fontsize=6.5)
    bx.set_xscale("log")
    bx.set_yscale("log")
    bx.set_xlabel("prompt box $\\rho$")
    bx.set_ylabel("MSE")
    bx.set_title("loss reached in the box", fontsize=9)
    bx.text(0.5, 0.72, _warm_note(rows), transform=bx.transAxes, fontsize=6.5, va="top")
    mse = [v for r in rows for series, *_ in _SERIES if (v := r[f"mse_{series}"]) is not None and v > 0]
    if mse:  # room below the lowest loss for the legend (three rows, a fifth of the panel)
        lo, hi = min(mse), max(mse)
        bx.set_ylim(lo / (hi / lo) ** 0.3 / 3, hi * 3)
    bx.legend(loc="lower left", fontsize=6.5)
    fig.suptitle("Fig. 5 (norm): prompt-induced norm and reachable loss against the prompt box", fontsize=9)
    return save(fig, out_dir, STEM)
