"""Claim 5 (capacity against efficiency): the summary of the tuning runs and the verdict (docs/theory.md §9.7).

The verdict is an **illustration**. Hu et al. 2025's efficiency results say
that inference with a soft-prompt-induced norm ``B(P, X) = o(sqrt(log n))`` has
an almost-linear algorithm and that at ``Theta(sqrt(log n))`` none is truly
subquadratic under SETH: asymptotic statements about algorithms at a given
norm. Their capacity results (universality, the lower bound on the prompt
length) say that some prompt exists or that none shorter does. None of them
says which norm a *tuned* prompt reaches, so no outcome of this experiment can
contradict the paper; where the fits land is set by the task.

The one rule applied is the mechanism's own guarantee, which a bug could break:
every iterate of a boxed run keeps ``B(P, X)`` at or below the larger of the
inputs' own norm and the box's bound (:func:`promptlimits.norm_box.prompt_norm_bound`),
the frontier box's bound is at most ``B_cert(n)``, and the warm-started prompt-norm
chain's loss does not rise with ``rho`` (:mod:`.prompt_norm`).
"""

from __future__ import annotations

from .verdict import ILLUSTRATION, NOT_CHECKED, NOT_CONSISTENT, Verdict, figures_of, fmt, needs

__all__ = ["summarize", "verdicts"]

#: Relative slack on the box guarantee (the bound carries its own rounding margin).
_SLACK = 1e-12

_CONSTANTS = ("n", "box", "Lp", "status", "B_cert", "B_certifiable", "B_input", "B_teacher", "rho", "box_bound",
              "mse_start", "seconds")


def _run_summary(run: list[dict]) -> dict:
    """The final state of one tuning run (its rows in step order) and its constants."""
    last = run[-1]
    out = {k: last[k] for k in _CONSTANTS}
    out["box"] = str(out["box"])
    if last["status"] != "tuned":
        return out
    Bs = [r["B"] for r in run]
    return out | {"steps": last["step"], "mse": last["mse"], "rel_mse": last["rel_mse"], "max_err": last["max_err"],
                  "B_final": last["B"], "B_max": max(Bs), "poly_steps": sum(r["backend_used"] == "poly" for r in run),
                  "iterations": len(run)}


def summarize(rows: list[dict]) -> dict:
    """``runs``: one entry per ``(n, box)`` in grid order (:func:`_run_summary`); ``frontier``: ``B_cert(n)`` per
    ``n``."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["n"], str(r["box"])), []).append(r)
    runs = [_run_summary(sorted(g, key=lambda r: r["step"])) for g in groups.values()]
    return {"runs": runs, "frontier": {str(r["n"]): r["B_cert"] for r in runs}}


def box_violations(runs: list[dict]) -> list[str]:
    """The boxed runs whose guarantee failed: an iterate above the box's bound, or a frontier box above
    ``B_cert(n)``."""
    bad = []
    for r in runs:
        if r["status"] != "tuned" or r["box"] == "free":
            continue
        cap = max(r["B_input"], r["box_bound"]) * (1.0 + _SLACK)
        if r["B_max"] > cap:
            bad.append(f"n={r['n']}, box={r['box']}: B(P, X) reached {fmt(r['B_max'])} > {fmt(cap)}")
        if r["box"] == "frontier" and r["box_bound"] > r["B_cert"] * (1.0 + _SLACK):
            bad.append(f"n={r['n']}: the frontier box's bound {fmt(r['box_bound'])} > B_cert(n) = {fmt(r['B_cert'])}")
    return bad


def _run_part(r: dict) -> str:
    """One run of an ``n``: its box, the fitted norm, the loss, the backend, the time."""
    if r["status"] != "tuned":
        return f"box {r['box']}: {r['status']}"
    box = "free" if r["rho"] is None else f"box {r['box']} (rho = {fmt(r['rho'])}, bound {fmt(r['box_bound'])})"
    side = "above" if r["B_final"] > r["B_cert"] else "at or below"
    return (f"{box}: fitted B(P, X) = {fmt(r['B_final'])} ({side} B_cert), MSE {fmt(r['mse'])} = "
            f"{fmt(r['rel_mse'])} of "
            f"the start, {r['poly_steps']}/{r['iterations']} iterations on poly, {fmt(r['seconds'], 2)} s")


def _n_line(runs: list[dict]) -> str:
    """The runs of one ``n``: the norms that frame them, then each run."""
    r = runs[0]
    head = (f"n={r['n']} (Lp={r['Lp']}): B_cert(n) = {fmt(r['B_cert'])} (certifiable up to about "
            f"{fmt(r['B_certifiable'])}), inputs' B {fmt(r['B_input'])}, teacher's {fmt(r['B_teacher'])}")
    return "; ".join([head] + [_run_part(x) for x in runs])


def _prompt_norm_line(ps: dict) -> str:
    empty = ps.get("B_input") is not None and ps["B_input"] >= ps["B_cert"]
    return (f"prompt-norm sweep (frontier read at the n = Lp + L = {ps['n']} rows used): "
            f"B_cert = {fmt(ps['B_cert'])}; the tuned prompt stays below it up to rho = "
            f"{fmt(ps['largest_rho_tuned_below_frontier'])}"
            + (f" (the inputs alone induce {fmt(ps['B_input'])}, above it: at this length every prompt is on the "
               f"expensive side, and the panel shows only the norms reached and the loss against rho); "
               if empty else "; ")
            + f"best loss {fmt(ps['best_mse'])} at rho = {fmt(ps['best_rho'])}; warm-started loss non-increasing "
              f"in rho: {ps['monotone']}")


def _span(values) -> str:
    lo, hi = fmt(min(values)), fmt(max(values))
    return lo if lo == hi else f"{lo}..{hi}"


def _status(free, boxed, meaningful, violations, monotone) -> tuple[str, str]:
    if not free or not boxed:
        return NOT_CHECKED, "the illustration needs both free and boxed tuning runs"
    if not meaningful:
        return NOT_CHECKED, ("at every n run the inputs alone induce a norm above B_cert(n), so the frontier "
                             "means nothing")
    if violations or not monotone:
        what = violations + ([] if monotone else ["the warm-started prompt-norm loss rose with rho"])
        return NOT_CONSISTENT, "the box's own guarantee failed: " + "; ".join(what)
    counted = [r for r in free if r["B_cert"] > r["B_input"]]  # elsewhere every prompt is above B_cert(n)
    above = [r["n"] for r in counted if r["B_final"] > r["B_cert"]]
    below = [r["n"] for r in counted if r["B_final"] <= r["B_cert"]]
    costs = ", ".join(f"n={r['n']}: {fmt(r['rel_mse'])}" for r in boxed)
    return ILLUSTRATION, (f"where B_cert(n) exceeds the inputs' own B, free tuning lands above it at n = "
                          f"{above or 'none'} and at or below it at n = {below or 'none'}; the boxed runs stay within "
                          f"their boxes and end at {costs} of the "
                          f"starting loss; the paper states nothing about where tuned prompts land")


def verdicts(results) -> list[Verdict]:
    """Claim 5 of the report, from ``results["tuning_curves"]`` and ``results["prompt-norm"]``."""
    res, pn = needs(results, ["tuning_curves", "prompt-norm"])
    runs = (res.meta.get("summary") or {}).get("runs") or []
    ps = pn.meta.get("summary") or {}
    free = [r for r in runs if r["box"] == "free" and r["status"] == "tuned"]
    boxed = [r for r in runs if r["box"] != "free" and r["status"] == "tuned"]
    meaningful = [r for r in runs if r["B_cert"] > r["B_input"]]
    violations = box_violations(runs)
    status, why = _status(free, boxed, meaningful, violations, ps.get("monotone", True))
    by_n: dict = {}
    for r in runs:
        by_n.setdefault(r["n"], []).append(r)
    numbers = [_n_line(group) for group in by_n.values()] + ([_prompt_norm_line(ps)] if ps else [])
    ns = sorted({r["n"] for r in meaningful})
    stars = [r["B_cert"] for r in meaningful]
    teacher = sorted({fmt(r["B_teacher"]) for r in runs})
    return [Verdict(
        claim_id="capacity-efficiency", title="Capacity against efficiency",
        claim="Hu et al. 2025: inference with soft-prompt-induced norm B(P, X) = o(sqrt(log n)) has an almost-linear "
              "algorithm, at Theta(sqrt(log n)) none truly subquadratic under SETH; their capacity results "
              "(universality, the prompt-length lower bound) are existential. Where tuned prompts land against the "
              "certified frontier at fixed d, B_cert(n; d, eps) (the float-certified r* < n at the model's head size "
              "and the backend's eps; not claim 1's phase frontier B*(n)), is not a statement of the paper "
              "(docs/theory.md §5.6).",
        status=status,
        rule="illustration (tests no claim of the paper); the one rule applied is the box's own guarantee: every "
             "iterate of a boxed run keeps B(P, X) at or below the larger of the inputs' B and the box's bound, the "
             "frontier box's bound is at most B_cert(n), and the warm-started prompt-norm loss does not rise with rho",
        falsifier="a boxed iterate with B(P, X) above its box's bound, a frontier box whose bound exceeds B_cert(n), "
                  "or a warm-started prompt-norm loss that rises with rho",
        strength=(f"illustration: at n = {', '.join(map(str, ns))} the certified frontier at fixed d, B_cert(n) = "
                  f"{_span(stars)}, lies above "
                  f"the inputs' own B, so a tuned prompt can land on "
                  f"either side; which side is set by the task (the teacher's prompt induces B = {', '.join(teacher)})"
                  if meaningful else "none: the frontier lies below the inputs' own induced norm at every n run"),
        numbers=numbers, figures=figures_of("tuning_curves", "prompt-norm"), why=why,
        settings=_settings(res.rows),
        values={"runs": runs},
    )]


def _settings(rows: list[dict]) -> str:
    if not rows:
        return "no runs"
    r = rows[0]
    return (f"one sequence of n = Lp + L rows, Lp = n // {r['share']}; frozen d={r['d']} model (weights scaled by "
            f"{r['weight_scale']}); teacher prompt rows inducing B = {r['teacher_B']}; L-BFGS-B, {r['steps']} "
            f"iterations at most, backend {r['backend']} at eps = {r['eps']}; free and in the largest box whose "
            "bound on B(P, X) is at most B_cert(n)")
