"""Summary and verdict of the universality experiment (:mod:`.universality`; docs/theory.md §9.10).

:func:`summarize` groups the rows: per ``(d, L, target)`` the ``k`` series
with the least-squares slope of ``log sup_err`` against ``log k``; the
``lambda`` series; every point against its proved bound; the measured
Lipschitz constants; the largest sizes built; and the two tuning contrasts.
:func:`verdicts` applies the rule of issue 13 (consistent only if no point
outside the bands exceeds its bound and every slope lies in
:data:`SLOPE_RANGE`); the contrasts are illustrations and enter no rule.
"""

from __future__ import annotations

from collections import defaultdict

from .memorization import fit_power
from .verdict import CONSISTENT, NOT_CHECKED, NOT_CONSISTENT, Verdict, fmt

__all__ = ["SLOPE_RANGE", "summarize", "summary_lines", "verdicts"]

#: The log-log slope of sup error against k must lie here for every (d, L) and target (issue 13).
SLOPE_RANGE = (-1.15, -0.85)

_SIZE_KEYS = ("D", "Lp", "m1", "m2", "head_size", "weight_MiB")


def _groups(rows, kind, keys):
    out = defaultdict(list)
    for r in rows:
        if r["kind"] == kind:
            out[tuple(r[k] for k in keys)].append(r)
    return sorted(out.items())


def _k_series(rows) -> list[dict]:
    series = []
    for (d, L, target), rs in _groups(rows, "k", ("d", "L", "target")):
        rs = sorted(rs, key=lambda r: r["k"])
        ok = [r for r in rs if r["sup_err"] is not None]
        fit = fit_power([r["k"] for r in ok], [r["sup_err"] for r in ok])
        series.append({"d": d, "L": L, "target": target, "K_nominal": rs[0]["K_nominal"],
                       "k": [r["k"] for r in rs], "Lp": [r["Lp"] for r in rs],
                       "sup_err": [r["sup_err"] for r in rs], "rms_err": [r["rms_err"] for r in rs],
                       "rms_outside": [r["rms_outside"] for r in rs], "band_sup_err": [r["band_sup_err"] for r in rs],
                       "bound": [r["bound"] for r in rs], "slope": None if fit is None else fit["b"],
                       "slope_r2": None if fit is None else fit["r2"],
                       "largest": {key: rs[-1][key] for key in ("k", *_SIZE_KEYS)}})
    return series


def _lambda_series(rows) -> list[dict]:
    return [{"d": d, "L": L, "k": k, "target": t, "lam": [r["lam"] for r in rs],
             "sup_err": [r["sup_err"] for r in rs], "rms_err": [r["rms_err"] for r in rs],
             "bound": [r["bound"] for r in rs], "leakage": [r["leakage"] for r in rs],
             "quantization": rs[0]["K_nominal"] / (2 * k)}
            for (d, L, k, t), rs in ((key, sorted(rs, key=lambda r: r["lam"]))
                                     for key, rs in _groups(rows, "lambda", ("d", "L", "k", "target")))]


def _bound_check(rows) -> dict:
    pts = [r for r in rows if r["kind"] in ("k", "lambda") and r["sup_err"] is not None]
    above = [r for r in pts if r["sup_err"] > r["bound"]]
    worst = max(pts, key=lambda r: r["ratio"], default=None)

    def where(r):
        return {key: r[key] for key in ("kind", "d", "L", "k", "target", "lam", "sup_err", "bound")}

    return {"points": len(pts), "above_bound": [where(r) for r in above],
            "worst_ratio": None if worst is None else worst["ratio"],
            "worst_at": None if worst is None else where(worst),
            "n_test": pts[0]["n_test"] if pts else None,
            "inputs_outside_min": min((r["n_outside"] for r in pts), default=None)}


def _tuning(rows) -> list[dict]:
    keys = ("sup_err", "rms_err", "init_sup_err", "closed_form_sup_err", "train_max_err")
    out = []
    for (d, L, k, init), rs in _groups(rows, "tune", ("d", "L", "k", "init")):
        entry = {"d": d, "L": L, "k": k, "init": init, "Lp": rs[0]["Lp"], "runs": len(rs),
                 "tune_noise": rs[0]["tune_noise"], "target": rs[0]["target"]}
        for key in keys:  # one value per run, in run order (None: no test input outside the bands)
            entry[key] = [r[key] for r in rs]
        out.append(entry)
    return out


def summarize(rows: list) -> dict:
    """The series, the bound check, constants, sizes and contrasts (module docstring)."""
    return {
        "k_series": _k_series(rows),
        "lambda_series": _lambda_series(rows),
        "bound_check": _bound_check(rows),
        "lipschitz": [{"d": r["d"], "L": r["L"], "target": r["target"], "K_nominal": r["K_nominal"],
                       "K_measured": r["K_measured"]} for r in rows if r["kind"] == "lipschitz"],
        "tuning": _tuning(rows),
        "random_weights": [{"d": r["d"], "L": r["L"], "Lp": r["Lp"], "sup_err": r["sup_err"],
                            "rms_err": r["rms_err"], "train_max_err": r["train_max_err"], "ref_err": r["ref_err"]}
                           for r in sorted(rows, key=lambda r: r.get("Lp") or 0)
                           if r["kind"] == "random_weights"],
        "total_seconds": round(sum(r["seconds"] for r in rows), 2),
    }


# ----------------------------------------------------------------------------- text
def _range(vals) -> str:
    vals = [v for v in vals if v is not None]
    return f"{fmt(float(min(vals)))}..{fmt(float(max(vals)))}" if vals else "n/a"


def _series_line(e) -> str:
    ks = e["k"]
    ok = [i for i, v in enumerate(e["sup_err"]) if v is not None]
    ratios = [e["sup_err"][i] / e["bound"][i] for i in ok]
    big = e["largest"]
    return (f"(d, L) = ({e['d']}, {e['L']}), {e['target']} (K = {fmt(e['K_nominal'])}): k = "
            f"{', '.join(str(k) for k in ks)}; sup error {fmt(e['sup_err'][0])} -> {fmt(e['sup_err'][-1])}, "
            f"slope {fmt(e['slope'])}; bound {fmt(e['bound'][0])} -> {fmt(e['bound'][-1])}, "
            f"measured/bound {_range(ratios)}; at k = {ks[-1]} RMS {fmt(e['rms_err'][-1])} (outside the bands "
            f"{fmt(e['rms_outside'][-1])}), largest error inside the bands {fmt(e['band_sup_err'][-1])}; largest built "
            f"D = {big['D']}, Lp = {big['Lp']}, m1 = {big['m1']}, m2 = {big['m2']}, head {big['head_size']}, "
            f"{fmt(big['weight_MiB'])} MiB")


def _lambda_line(e) -> str:
    parts = [f"{fmt(lam)}: {fmt(s)} (bound {fmt(b)})" for lam, s, b in zip(e["lam"], e["sup_err"], e["bound"])]
    return (f"lambda series, (d, L, k) = ({e['d']}, {e['L']}, {e['k']}), {e['target']}: sup error at lambda "
            f"{'; '.join(parts)}; quantization term K/(2k) = {fmt(e['quantization'])}")


def _tuning_line(e) -> str:
    how = "a random prompt" if e["init"] == "random" else f"the closed-form prompt + N(0, {fmt(e['tune_noise'])}^2)"
    found = sum(t is not None and c is not None and t <= 1.05 * c
                for t, c in zip(e["sup_err"], e["closed_form_sup_err"]))
    return (f"contrast (a), illustration: tuning on the constructed model, (d, L, k) = ({e['d']}, {e['L']}, "
            f"{e['k']}), Lp = {e['Lp']}, {e['target']}, from {how}: {found} of {e['runs']} run(s) reach the "
            f"closed form's held-out sup error (within 5%); held-out sup error "
            f"{_range(e['sup_err'])} (start {_range(e['init_sup_err'])}; closed form "
            f"{_range(e['closed_form_sup_err'])}), RMS {_range(e['rms_err'])}, grid max error "
            f"{_range(e['train_max_err'])}")


def _rw_line(rws) -> str:
    parts = [f"Lp = {r['Lp']}: sup {fmt(r['sup_err'])}, RMS {fmt(r['rms_err'])}" for r in rws]
    return (f"contrast (b), illustration: frozen random weights, (d, L) = ({rws[0]['d']}, {rws[0]['L']}), "
            f"tuned on the grid: "
            f"{'; '.join(parts)}; learning nothing {fmt(rws[0]['ref_err'])}")


def summary_lines(s: dict) -> list[str]:
    """The summary as text lines (the CLI prints them; the verdict lists them)."""
    lines = [_series_line(e) for e in s["k_series"]]
    b = s["bound_check"]
    if b["points"]:
        w = b["worst_at"]
        lines.append(f"{b['points']} closed-form points (n_test = {b['n_test']} uniform inputs each, at least "
                     f"{b['inputs_outside_min']} outside the bands): {len(b['above_bound'])} above the bound; worst "
                     f"measured/bound {fmt(b['worst_ratio'])} at {w['kind']} (d, L, k) = ({w['d']}, {w['L']}, "
                     f"{w['k']}), {w['target']}, lambda = {fmt(w['lam'])}")
    lines += [_lambda_line(e) for e in s["lambda_series"]]
    if s["lipschitz"]:
        lines.append("measured Lipschitz constants (lower estimates; nominal in brackets): " + "; ".join(
            f"({e['d']}, {e['L']}) {e['target']} {fmt(e['K_measured'])} [{fmt(e['K_nominal'])}]"
            for e in s["lipschitz"]))
    lines += [_tuning_line(e) for e in s["tuning"]]
    if s["random_weights"]:
        lines.append(_rw_line(s["random_weights"]))
    return lines


# ----------------------------------------------------------------------------- verdict
def _status(s: dict) -> tuple[str, str]:
    lo, hi = SLOPE_RANGE
    series, above = s["k_series"], s["bound_check"]["above_bound"]
    off = [e for e in series if e["slope"] is not None and not lo <= e["slope"] <= hi]
    unfit = [e for e in series if e["slope"] is None]

    def name(e):
        return f"({e['d']}, {e['L']}) {e['target']}"

    if above:
        return NOT_CONSISTENT, (f"{len(above)} held-out point(s) outside the bands exceed the proved bound, e.g. "
                                f"sup error {fmt(above[0]['sup_err'])} > bound {fmt(above[0]['bound'])}")
    if off:
        return NOT_CONSISTENT, ("the sup error does not fall like 1/k for " + ", ".join(
            f"{name(e)} (slope {fmt(e['slope'])})" for e in off) + f", outside [{lo}, {hi}]")
    if not series or unfit:
        return NOT_CHECKED, ("no k series" if not series else
                             "fewer than two k values (or no input outside the bands) for " +
                             ", ".join(name(e) for e in unfit))
    return CONSISTENT, (f"every closed-form point is within its proved bound and the sup error falls like 1/k "
                        f"(slopes {_range([e['slope'] for e in series])}) for every (d, L) and target measured")


def verdicts(results) -> list[Verdict]:
    """Claim 7 of the report, from ``results["universality"]``."""
    s = results["universality"].meta["summary"]
    status, why = _status(s)
    ks = [k for e in s["k_series"] for k in e["k"]]
    b = s["bound_check"]
    strength = (f"{len(s['k_series'])} series, k = {min(ks, default=0)}..{max(ks, default=0)}, "
                f"{b['n_test']} uniform test inputs per point: the bound is proved (docs/theory.md §8.3), so a "
                f"point above it means a bug or rounding; the slope fails if leakage, rounding or a wrong "
                f"decoding flattens the error or it falls at another rate; a sampled sup underestimates the true "
                f"sup; the tuning contrasts are illustrations and enter no rule")
    lo, hi = SLOPE_RANGE
    return [Verdict(
        claim_id="universality", title="Universality of prompt tuning",
        claim="Some fixed one-layer, one-head transformer FF2 o Attn o FF1 has, for every Lipschitz "
              "sequence-to-sequence map, prompts that approximate it to any accuracy (Hu et al. 2025); here the "
              "transformer is constructed and its prompts written in closed form, with the proved bound "
              "K_f delta/2 + leakage (docs/theory.md §8.3).",
        status=status,
        rule=f"consistent only if every held-out point outside the bands (closed-form prompts, k and lambda "
             f"series) has sup error <= its proved bound, and the least-squares log-log slope of sup error "
             f"against k lies in [{lo}, {hi}] for every (d, L) and target measured; not checked if a series "
             f"has fewer than two k values",
        falsifier=f"one point outside the bands above its bound, or a slope outside [{lo}, {hi}] for some "
                  f"(d, L) and target (an error that stops falling with k, or falls at another rate)",
        strength=strength, numbers=summary_lines(s), figures=("fig7_universality",), why=why,
        settings="constructed weights (promptlimits.construct), closed-form prompts, fresh uniform test inputs; "
                 "additive targets with exact constant K_f and the sine target 0.5 sin 2 pi (x_i + 0.5 x_(i+1)); "
                 "see the sidecar for every setting",
        values={"slopes": {f"{e['d']},{e['L']},{e['target']}": e["slope"] for e in s["k_series"]},
                "worst_ratio": b["worst_ratio"]},
    )]

