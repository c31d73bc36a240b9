"""Summary and verdict of the universality experiment (:mod:`.universality`; docs/theory.md §9.10).

:func:`summarize` groups the rows: per ``(width, ramps, d, L, target)`` the
``k`` series with the least-squares slopes of ``log L2`` (the error over the
whole cube) and of the band-free sup against ``log k``; the ``lambda`` series;
every point against its proved bounds; the measured Lipschitz constants; the
sizes at the largest ``k``; and the two tuning contrasts. :func:`verdicts`
applies the rule of docs/theory.md §9.10: consistent only if no band-free point
(uniform or adversarial) exceeds its sup bound plus rounding, no ``L2`` interval
lies above its proved ``L2`` bound, and every shrinking-ramp series has an
``L2`` slope in :data:`SLOPE_RANGE` -- while the fixed-ramp control fails that
slope rule (if it passes, the rule cannot tell converging from stalling, and
the verdict is inconclusive). The contrasts are illustrations.
"""

from __future__ import annotations

from collections import defaultdict

from .memorization import fit_power
from .verdict import CONSISTENT, INCONCLUSIVE, NOT_CHECKED, NOT_CONSISTENT, Verdict, figures_of, fmt

__all__ = ["SLOPE_RANGE", "summarize", "summary_lines", "verdicts"]

#: The log-log slope of the L^2 error against k must lie here for every shrinking-ramp series: the proved
#: rate is 1/k (docs/theory.md §8.7), and for a target with a non-zero gradient it is also the true rate.
SLOPE_RANGE = (-1.15, -0.85)

#: Float64 allowance on the sup bound, relative: FF1's query columns drift by up to about 1e-4 at the largest k
#: run (ramp values up to 1/xi summed in one product; docs/theory.md §8.6), which no rigorous rounding bound
#: captures usefully; the largest excess measured is 3e-4 of the bound (token, (1, 2), k = 64, full scale).
FLOAT_REL = 1e-3

_SIZE_KEYS = ("D", "Lp", "m1", "m2", "head_size", "weight_MiB", "prompt_max", "prompt_entries", "w_lower")


def _groups(rows, kind, keys):
    out = defaultdict(list)
    for r in rows:
        if r["kind"] == kind:
            out[tuple(r.get(k) for k in keys)].append(r)
    return sorted(out.items(), key=lambda kv: tuple(str(x) for x in kv[0]))


def _slope(xs, ys):
    fit = fit_power(xs, ys)
    return None if fit is None else fit["b"]


def _k_series(rows) -> list[dict]:
    series = []
    for (width, ramps, d, L, target), rs in _groups(rows, "k", ("width", "ramps", "d", "L", "target")):
        rs = sorted(rs, key=lambda r: r["k"])
        ks = [r["k"] for r in rs]
        e = {"width": width, "ramps": ramps, "d": d, "L": L, "target": target, "K_nominal": rs[0]["K_nominal"],
             "k": ks, "xi": [r["xi"] for r in rs], "mu": [r["mu"] for r in rs]}
        for key in ("L2", "L2_lo", "L2_hi", "L2_bound", "L1", "L1_bound", "L2_outside", "sup_err", "adv_err", "bound",
                    "band_sup", "band_bound", "rounding", "Lp", "D"):
            e[key] = [r[key] for r in rs]
        e["slope"] = _slope(ks, e["L2"])
        e["slope_sup"] = _slope(ks, [max(r["sup_err"], r["adv_err"]) for r in rs])
        e["slope_bound"] = _slope(ks, e["L2_bound"])
        e["adv_ratio"] = [r["adv_err"] / r["bound"] for r in rs]
        e["largest"] = {key: rs[-1].get(key) for key in ("k", *_SIZE_KEYS)}
        series.append(e)
    return series


def _lambda_series(rows) -> list[dict]:
    return [{"d": d, "L": L, "k": k, "target": t, "lam": [r["lam"] for r in rs],
             "sup_err": [r["sup_err"] for r in rs], "rms_err": [r["rms_err"] for r in rs],
             "bound": [r["bound"] for r in rs], "leakage": [r["leakage"] for r in rs],
             "quantization": rs[0]["K_nominal"] / (2 * k)}
            for (d, L, k, t), rs in ((key, sorted(rs, key=lambda r: r["lam"]))
                                     for key, rs in _groups(rows, "lambda", ("d", "L", "k", "target")))]


def _where(r):
    return {key: r.get(key) for key in ("kind", "width", "ramps", "d", "L", "k", "target", "lam")}


def _bound_check(rows) -> dict:
    pts = [r for r in rows if r["kind"] in ("k", "lambda") and r["sup_err"] is not None]
    allow = {id(r): max(r.get("rounding") or 0.0, FLOAT_REL * r["bound"]) for r in pts}
    above = [{**_where(r), "err": max(r["sup_err"], r.get("adv_err") or 0.0), "bound": r["bound"]} for r in pts
             if max(r["sup_err"], r.get("adv_err") or 0.0) > r["bound"] + allow[id(r)]]
    kpts = [r for r in pts if r["kind"] == "k"]
    l2_above = [{**_where(r), "L2_lo": r["L2_lo"], "L2_bound": r["L2_bound"]} for r in kpts
                if r["L2_lo"] > r["L2_bound"]]
    worst_adv = max(kpts, key=lambda r: r["adv_err"] / r["bound"], default=None)
    worst_l2 = max(kpts, key=lambda r: r["L2"] / r["L2_bound"], default=None)
    return {"points": len(pts), "above_bound": above, "L2_above_bound": l2_above,
            "worst_adv_ratio": None if worst_adv is None else worst_adv["adv_err"] / worst_adv["bound"],
            "worst_adv_at": None if worst_adv is None else _where(worst_adv),
            "worst_L2_ratio": None if worst_l2 is None else worst_l2["L2"] / worst_l2["L2_bound"],
            "worst_L2_at": None if worst_l2 is None else _where(worst_l2),
            "n_out": kpts[0]["n_out"] if kpts else None, "n_band": kpts[0]["n_band"] if kpts else None,
            "n_adversarial": kpts[0]["n_adversarial"] if kpts else None}


def _tuning(rows) -> list[dict]:
    keys = ("sup_err", "rms_err", "init_sup_err", "closed_form_sup_err", "train_max_err")
    out = []
    for (d, L, k, init), rs in _groups(rows, "tune", ("d", "L", "k", "init")):
        entry = {"d": d, "L": L, "k": k, "init": init, "Lp": rs[0]["Lp"], "runs": len(rs),
                 "tune_noise": rs[0]["tune_noise"], "target": rs[0]["target"]}
        for key in keys:
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


def _name(e) -> str:
    return f"{e['width']} ({e['ramps']} ramps) (d, L) = ({e['d']}, {e['L']}), {e['target']}"


def _series_line(e) -> str:
    ks, big = e["k"], e["largest"]
    return (f"{_name(e)} (K = {fmt(e['K_nominal'])}): k = {', '.join(str(k) for k in ks)}; L2 error over the cube "
            f"{fmt(e['L2'][0])} -> {fmt(e['L2'][-1])} (95% {fmt(e['L2_lo'][-1])}..{fmt(e['L2_hi'][-1])} at k = "
            f"{ks[-1]}), slope {fmt(e['slope'])}; proved L2 bound {fmt(e['L2_bound'][0])} -> {fmt(e['L2_bound'][-1])} "
            f"(slope {fmt(e['slope_bound'])}); L1 {fmt(e['L1'][-1])} (bound {fmt(e['L1_bound'][-1])}); band measure "
            f"{fmt(e['mu'][0])} -> {fmt(e['mu'][-1])}, largest band error {fmt(max(e['band_sup']))} (proved <= "
            f"{fmt(e['band_bound'][-1])}); sup outside the bands: adversarial/bound {_range(e['adv_ratio'])}, sup "
            f"slope {fmt(e['slope_sup'])}; at k = {ks[-1]}: width {big['D']} (the paper's token width is "
            f"{e['d']}; memorizing every grid target needs width >= {big['w_lower']}), Lp = {big['Lp']}, "
            f"m1 = {big['m1']}, m2 = {big['m2']}, head {big['head_size']}, {fmt(big['weight_MiB'])} MiB, ||P||max = "
            f"{fmt(big['prompt_max'])}")


def _lambda_line(e) -> str:
    parts = [f"{fmt(lam)}: {fmt(s)} (bound {fmt(b)})" for lam, s, b in zip(e["lam"], e["sup_err"], e["bound"])]
    return (f"lambda series (wide), (d, L, k) = ({e['d']}, {e['L']}, {e['k']}), {e['target']}: sup error at lambda "
            f"{'; '.join(parts)}; quantization term K/(2k) = {fmt(e['quantization'])}")


def _tuning_line(e) -> str:
    how = "a random prompt" if e["init"] == "random" else f"the closed-form prompt + N(0, {fmt(e['tune_noise'])}^2)"
    found = sum(t is not None and c is not None and t <= 1.05 * c
                for t, c in zip(e["sup_err"], e["closed_form_sup_err"]))
    return (f"contrast (a), illustration: tuning on the wide constructed model, (d, L, k) = ({e['d']}, {e['L']}, "
            f"{e['k']}), Lp = {e['Lp']}, {e['target']}, from {how}: {found} of {e['runs']} run(s) reach the "
            f"closed form's held-out sup error (within 5%); held-out sup error "
            f"{_range(e['sup_err'])} (start {_range(e['init_sup_err'])}; closed form "
            f"{_range(e['closed_form_sup_err'])}), RMS {_range(e['rms_err'])}, grid max error "
            f"{_range(e['train_max_err'])}")


def _rw_line(rws) -> str:
    parts = [f"Lp = {r['Lp']}: sup {fmt(r['sup_err'])}, RMS {fmt(r['rms_err'])}" for r in rws]
    return (f"contrast (b), illustration: frozen random weights, (d, L) = ({rws[0]['d']}, {rws[0]['L']}), "
            f"tuned on the grid: {'; '.join(parts)}; learning nothing {fmt(rws[0]['ref_err'])}")


def summary_lines(s: dict) -> list[str]:
    """The summary as text lines (the CLI prints them; the verdict lists them)."""
    lines = [_series_line(e) for e in s["k_series"]]
    b = s["bound_check"]
    if b["points"]:
        line = (f"{b['points']} closed-form points: {len(b['above_bound'])} band-free point(s) above sup bound + "
                f"rounding, {len(b['L2_above_bound'])} L2 interval(s) above the L2 bound")
        if b["worst_adv_at"]:
            w, v = b["worst_adv_at"], b["worst_L2_at"]
            line += (f"; {b['n_out']} band-free + {b['n_band']} band inputs and {b['n_adversarial']} adversarial "
                     f"points per k point; worst adversarial/bound {fmt(b['worst_adv_ratio'])} at {w['width']} "
                     f"(d, L, k) = ({w['d']}, {w['L']}, {w['k']}), {w['target']}; worst L2/L2 bound "
                     f"{fmt(b['worst_L2_ratio'])} at {v['width']} {v['ramps']} (d, L, k) = ({v['d']}, {v['L']}, "
                     f"{v['k']})")
        lines.append(line)
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
def _off(e) -> bool:
    lo, hi = SLOPE_RANGE
    return e["slope"] is not None and not lo <= e["slope"] <= hi


def _status(s: dict) -> tuple[str, str]:
    lo, hi = SLOPE_RANGE
    b = s["bound_check"]
    series = [e for e in s["k_series"] if e["ramps"] == "shrinking"]
    controls = [e for e in s["k_series"] if e["ramps"] == "fixed"]
    off = [e for e in series if _off(e)]
    unfit = [e for e in series if e["slope"] is None]
    if b["above_bound"]:
        a = b["above_bound"][0]
        return NOT_CONSISTENT, (f"{len(b['above_bound'])} band-free point(s) exceed the proved sup bound plus "
                                f"rounding, e.g. error {fmt(a['err'])} > bound {fmt(a['bound'])} at {a['width']} "
                                f"(d, L, k) = ({a['d']}, {a['L']}, {a['k']})")
    if b["L2_above_bound"]:
        a = b["L2_above_bound"][0]
        return NOT_CONSISTENT, (f"{len(b['L2_above_bound'])} L2 interval(s) lie above the proved L2 bound, e.g. "
                                f"{fmt(a['L2_lo'])} > {fmt(a['L2_bound'])}")
    if off:
        return NOT_CONSISTENT, ("the L2 error over the cube does not fall like 1/k for " + ", ".join(
            f"{_name(e)} (slope {fmt(e['slope'])})" for e in off) + f", outside [{lo}, {hi}]")
    if not series or unfit:
        return NOT_CHECKED, ("no shrinking-ramp k series" if not series else
                             "fewer than two k values for " + ", ".join(_name(e) for e in unfit))
    failing = [e for e in controls if _off(e)]
    if not controls or len(failing) < len(controls):
        passing = [e for e in controls if not _off(e)]
        return INCONCLUSIVE, ("no fixed-ramp control was run" if not controls else
                              "the fixed-ramp control passes the slope rule too (" + ", ".join(
                                  f"{_name(e)} slope {fmt(e['slope'])}" for e in passing) +
                              "), so the rule does not tell a converging L2 error from a stalling one here")
    return CONSISTENT, (f"every band-free point is within its proved sup bound (+ float allowance; worst "
                        f"measured/bound {fmt(b['worst_adv_ratio'])}), every L2 estimate within its proved "
                        f"L2 bound, and the L2 error over the whole cube falls like 1/k (slopes "
                        f"{_range([e['slope'] for e in series])}) for both constructions, every (d, L) and target; "
                        f"the fixed-ramp control fails the rule (slopes {_range([e['slope'] for e in controls])})")


def verdicts(results) -> list[Verdict]:
    """The universality claim of the report, from ``results["universality"]``."""
    s = results["universality"].meta["summary"]
    status, why = _status(s)
    series = [e for e in s["k_series"] if e["ramps"] == "shrinking"]
    ks = [k for e in series for k in e["k"]]
    b = s["bound_check"]
    lo, hi = SLOPE_RANGE
    strength = (f"{len(series)} shrinking-ramp series over both constructions, k = {min(ks, default=0)}.."
                f"{max(ks, default=0)}; per point {b['n_out']} band-free and {b['n_band']} band inputs (stratified, "
                f"exact weights; 95% normal interval) and {b['n_adversarial']} adversarial inputs: the sup and L2 "
                f"bounds are proved (docs/theory.md §8.6-§8.7), so a point above them means a bug; the slope rule "
                f"fails if the bands stop shrinking (the fixed-ramp control shows it does), if leakage or rounding "
                f"flattens the error, or if it falls at another rate; the tuning contrasts are illustrations")
    return [Verdict(
        claim_id="universality", title="Universality of prompt tuning in L^p, at token width",
        claim="For every Lipschitz sequence-to-sequence map f: [0,1]^(L x d) -> R^(L x d) and every eps > 0, some "
              "prompt makes a fixed one-layer, one-head transformer FF2 o Attn o FF1 approximate f within eps in "
              "L^p (Hu et al. 2025, universality theorem). Tested here: the constructed transformer at token width "
              "(prompt rows and input rows of one width w = d k^(d(L-1)) + 5d + 8, the least width that works up to "
              "5d + 9, since width d provably cannot memorize every grid target: docs/theory.md §8.5) and, as a "
              "contrast, the wide construction (prompt rows D wide, §8.3); the prompt is the closed form of "
              "Lp = L k^d tokens with ||P||max <= max(1, R) (token) or max(1, lambda d, 2R) (wide); the error is "
              "‖pred - f‖max integrated in L^2 (and L^1) over the whole cube, bands included, against the proved "
              "bound sqrt((1 - mu) B^2 + mu C^2) = O(1/k) (§8.7).",
        status=status,
        rule=f"consistent only if (i) no band-free point, uniform or adversarial (cell corners, points of largest "
             f"target variation), has error above its proved sup bound plus a float64 allowance (the larger of the "
             f"construction's rounding estimate and {FLOAT_REL:g} of the bound); (ii) no L2 interval lies "
             f"above its proved L2 bound; (iii) the least-squares log-log slope of the L2 error over the whole cube "
             f"against k lies in [{lo}, {hi}] (the proved rate 1/k) for every shrinking-ramp series, both "
             f"constructions; and (iv) the fixed-ramp control (xi = xi0_fixed / k, band measure constant) has a "
             f"slope outside that range, else inconclusive; not checked if a series has fewer than two k values",
        falsifier=f"a band-free point above its sup bound, an L2 interval above its L2 bound, or an L2 slope outside "
                  f"[{lo}, {hi}] for some construction, (d, L) and target (an error over the cube that stops "
                  f"falling with k, as the fixed-ramp control's does)",
        strength=strength, numbers=summary_lines(s), figures=figures_of("universality"), why=why,
        settings="constructed weights (promptlimits.construct, width 'token' and 'wide'), closed-form prompts, "
                 "ramps xi = xi0 / k^3 (control: xi0_fixed / k), stratified inputs over the whole cube; additive "
                 "targets with exact constant K_f and the sine target 0.5 sin 2 pi (x_i + 0.5 x_(i+1)); see the "
                 "sidecar for every setting",
        values={"slopes": {f"{e['width']},{e['ramps']},{e['d']},{e['L']},{e['target']}": e["slope"]
                           for e in s["k_series"]},
                "worst_adv_ratio": b["worst_adv_ratio"], "worst_L2_ratio": b["worst_L2_ratio"]},
    )]
