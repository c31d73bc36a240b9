"""Figure 7: universality in L^2 over all inputs, beside the proved bound (docs/theory.md §8.5-§8.7, §9.10).

Reads the ``universality`` sweep's summary (:mod:`promptlimits.experiments.universality`).
One panel per ``(d, L)``: against ``k`` (log-log), the L^2 error over the whole
cube, bands included, of the closed-form prompt with its 95% interval, for the
token-width construction (solid, filled) and the wide one (dotted, open), and
their proved L^2 bounds (dashed, dash-dot), per target (colour). One panel for
the negative control (fixed ramps, grey, beside the same shape's shrinking
ramps). One panel
against the retrieval margin ``lambda`` at fixed ``(d, L, k)``, with the
quantization term ``K/(2k)``. One panel per tuned ``(d, L)``: the closed-form
prompt's sup error against the prompt length ``Lp = L k^d`` beside the prompts
found by gradient tuning on the constructed model (from the perturbed closed form
and from random prompts, one marker per run) and, for ``d = L = 1``, tuning on
frozen random weights with the error of learning nothing. One legend, below.
"""

from __future__ import annotations

import math

from matplotlib.lines import Line2D
from matplotlib.ticker import (
    FixedLocator,
    LogLocator,
    NullFormatter,
    NullLocator,
    StrMethodFormatter,
)

from ._style import load, new_figure, save

#: The figure this module draws, ``STEM.png`` and ``STEM.pdf`` (discovered by ``promptlimits.figures``).
STEM = "fig7_universality"

_TARGET_COLOURS = {"additive": "C0", "sine": "C1"}
_INIT_STYLE = {"perturbed": ("^", "C2"), "random": ("v", "C3")}
_RW_COLOUR = "C4"


def _finite(xs, ys):
    pairs = [(x, y) for x, y in zip(xs, ys) if y is not None and math.isfinite(y)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _log_axes(ax, xs, xlabel):
    ax.set_xscale("log", base=2)
    xs = sorted(set(xs))
    ax.xaxis.set_major_locator(FixedLocator(xs))  # ticks at the measured values, written plainly
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{v:g}" for v in xs])
    ax.set_xlabel(xlabel)
    _plain_log_y(ax)


def _plain_log_y(ax):
    """Log y axis with ticks at 1, 2, 5 times powers of ten, written as plain numbers."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


_WIDTH_STYLE = {"token": ("-", "o", None), "wide": (":", "s", "none")}


def _l2_curve(ax, e, colour):
    ls, marker, mfc = _WIDTH_STYLE.get(e["width"], ("-", "o", None))
    ks, l2 = _finite(e["k"], e["L2"])
    lo = [v - a for v, a in zip(e["L2"], e["L2_lo"]) if v is not None]
    hi = [b - v for v, b in zip(e["L2"], e["L2_hi"]) if v is not None]
    ax.errorbar(ks, l2, yerr=[lo, hi], ls=ls, marker=marker, mfc=mfc, color=colour, ms=4, lw=1.2, capsize=2)
    ax.plot(*_finite(e["k"], e["L2_bound"]), "--", color=colour, lw=1.0 if e["width"] == "token" else 0.6)


def _k_panel(ax, series, letter):
    slopes = []
    for e in sorted(series, key=lambda e: (e["width"] != "token", e["target"])):
        _l2_curve(ax, e, _TARGET_COLOURS.get(e["target"], "C7"))
        slopes.append(f"{e['width'][0]}:{'n/a' if e['slope'] is None else format(e['slope'], '.2f')}")
    _log_axes(ax, [k for e in series for k in e["k"]], "cells per coordinate $k = 1/\\delta$")
    ax.set_ylabel("$L^2$ error over all inputs")
    e = series[0]
    widths = ", ".join(f"{x['width']} {x['D'][-1]}" for x in series if x["target"] == e["target"])
    ax.set_title(f"({letter}) $(d, L) = ({e['d']}, {e['L']})$; width at k = {e['k'][-1]}: {widths}\n"
                 f"slopes {' '.join(slopes)}", fontsize=7)


def _control_panel(ax, series, shrinking, letter):
    """The negative control: fixed ramps (grey) beside the same shape with shrinking ramps."""
    for e in series:
        _l2_curve(ax, e, "C7")
    d, L, t = series[0]["d"], series[0]["L"], series[0]["target"]
    for e in shrinking:
        if (e["d"], e["L"], e["target"]) == (d, L, t):
            _l2_curve(ax, e, _TARGET_COLOURS.get(t, "C7"))
    _log_axes(ax, [k for e in series for k in e["k"]], "cells per coordinate $k = 1/\\delta$")
    ax.set_ylabel("$L^2$ error over all inputs")
    slopes = " ".join(f"{e['width'][0]}:{format(e['slope'], '.2f')}" for e in series if e["slope"] is not None)
    ax.set_title(f"({letter}) control: fixed ramps $\\xi = \\xi_0/k$ (grey), $(d, L) = ({d}, {L})$, {t}\n"
                 f"slopes {slopes}", fontsize=7)


def _lambda_panel(ax, series, letter):
    for e in series:
        c = _TARGET_COLOURS.get(e["target"], "C7")
        ax.plot(*_finite(e["lam"], e["sup_err"]), "-o", color=c, ms=4, lw=1.2)
        ax.plot(*_finite(e["lam"], e["bound"]), "--", color=c, lw=1)
        ax.axhline(e["quantization"], color=c, ls="-.", lw=0.8)
    _plain_log_y(ax)
    ax.set_xlabel("retrieval margin $\\lambda$ (prompt scalar)")
    ax.set_ylabel("held-out error")
    e = series[0]
    ax.set_title(f"({letter}) against $\\lambda$, $(d, L, k) = ({e['d']}, {e['L']}, {e['k']})$", fontsize=8)


def _contrast_panel(ax, dl, summary, letter):
    d, L = dl
    runs = [t for t in summary["tuning"] if (t["d"], t["L"]) == dl]
    target = runs[0]["target"] if runs else "additive"
    xs = []
    for e in summary["k_series"]:
        if (e["d"], e["L"], e["target"], e.get("width"), e.get("ramps")) == (d, L, target, "wide", "shrinking"):
            ax.plot(*_finite(e["Lp"], e["sup_err"]), "-o", color="k", ms=4, lw=1.2)
            xs += e["Lp"]
    for t in runs:
        marker, c = _INIT_STYLE[t["init"]]
        # one marker per run, spread a little sideways so repeated runs stay visible
        offsets = [2 ** (0.06 * (i - (len(t["sup_err"]) - 1) / 2)) for i in range(len(t["sup_err"]))]
        shift = 2 ** (0.12 if t["init"] == "random" else -0.12)
        ax.plot(*_finite([t["Lp"] * o * shift for o in offsets], t["sup_err"]), marker, color=c, ms=5, ls="none")
        xs.append(t["Lp"])
    rws = [r for r in summary["random_weights"] if (r["d"], r["L"]) == dl]
    if rws:
        ax.plot([r["Lp"] for r in rws], [r["sup_err"] for r in rws], "-x", color=_RW_COLOUR, ms=5, lw=1.2)
        ax.axhline(rws[0]["ref_err"], color="gray", ls="--", lw=1)
        xs += [r["Lp"] for r in rws]
    _log_axes(ax, xs, "prompt length $L_p$")
    ax.set_ylabel("held-out sup error")
    ax.set_title(f"({letter}) contrasts, $(d, L) = ({d}, {L})$, {target}", fontsize=8)


def _legend_handles():
    def line(label, **kw):
        return Line2D([], [], label=label, **kw)

    return [
        line("additive target", color=_TARGET_COLOURS["additive"], lw=2),
        line("sine target", color=_TARGET_COLOURS["sine"], lw=2),
        line("$L^2$ error over all inputs (95% interval), token width", color="k", marker="o", ms=4, ls="-"),
        line("$L^2$ error over all inputs (95% interval), wide (contrast)", color="k", marker="s", mfc="none", ms=4,
             ls=":"),
        line("proved $L^2$ bound, token / wide", color="k", ls="--"),
        line("fixed ramps (negative control)", color="C7", lw=2),
        line("sup error outside the bands (lambda panel)", color="k", marker="o", ms=4, ls="-"),
        line("quantization term $K/(2k)$", color="k", ls="-."),
        line("tuned on the constructed model from the perturbed closed form", color=_INIT_STYLE["perturbed"][1],
             marker=_INIT_STYLE["perturbed"][0], ls="none"),
        line("tuned on the constructed model from a random prompt", color=_INIT_STYLE["random"][1],
             marker=_INIT_STYLE["random"][0], ls="none"),
        line("tuned on frozen random weights (previous experiment)", color=_RW_COLOUR, marker="x", ls="-"),
        line("learning nothing (random weights' reference prompt)", color="gray", ls="--"),
    ]


def draw(results, out_dir) -> list:
    res = load(results, "universality")
    summary = (res.meta or {}).get("summary")
    if not res.rows or not summary:
        raise ValueError(f"no universality rows or summary in {res.csv_path}")
    by_dl = {}
    shrinking = [e for e in summary["k_series"] if e.get("ramps", "shrinking") == "shrinking"]
    controls = [e for e in summary["k_series"] if e.get("ramps") == "fixed"]
    for e in shrinking:
        by_dl.setdefault((e["d"], e["L"]), []).append(e)
    contrasts = sorted({(t["d"], t["L"]) for t in summary["tuning"]} |
                       {(r["d"], r["L"]) for r in summary["random_weights"]})
    panels = [("k", v) for v in by_dl.values()] + [("control", controls)] * bool(controls) + [
        ("lambda", summary["lambda_series"])] * bool(
        summary["lambda_series"]) + [("contrast", dl) for dl in contrasts]
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = new_figure(ncols=ncols, nrows=nrows, size=(3.2 * ncols, 2.7 * nrows + 0.9))
    flat = [ax for row in axes for ax in row]
    for i, (ax, (kind, what)) in enumerate(zip(flat, panels)):
        letter = chr(ord("a") + i)
        if kind == "k":
            _k_panel(ax, what, letter)
        elif kind == "control":
            _control_panel(ax, what, shrinking, letter)
        elif kind == "lambda":
            _lambda_panel(ax, what, letter)
        else:
            _contrast_panel(ax, what, summary, letter)
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    fig.legend(handles=_legend_handles(), loc="outside lower center", ncols=3, fontsize=7)
    fig.suptitle("Fig. 7: universality in $L^2$ over all inputs (bands included), closed-form prompts at token width "
                 "(solid) and wide (dotted), beside the proved bound\n(slopes in the titles: log-log least squares of "
                 "the $L^2$ error against $k$, t = token, w = wide, per target " + " / ".join(_TARGET_COLOURS) +
                 "); fixed-ramp control, $\\lambda$ series (wide) and tuning contrasts", fontsize=9)
    return save(fig, out_dir, STEM)
