"""Summary and verdicts of the memorization experiment (:mod:`.memorization`; docs/theory.md §7.8, §9.6).

Claim 5 (the sandwich). The rule reads only quantities that no seed can flip:

- the **lower bound** over the whole box ``‖P‖max <= rho`` (``bound``, every
  member of the family) depends on the weights, the grid and ``rho``, not on
  the drawn member;
- the **certificate**: the closed-form prompt memorizes the drawn member
  within ``tol`` -- proved for every member (docs/theory.md §8.3.2), so a
  failure is a bug, whatever the seed;
- the **sandwich**: ``bound <= constr_Lp`` at every ``N`` (a certified prompt
  shorter than the bound would refute the bound);
- the **negative controls** (another member's closed form, and the closed
  form cut below the bound) must miss ``tol``: the certificate check can fail;
- the bound must reach ``bites`` (10 at quick scale, 100 at full) at a
  certified point, else **vacuous**.

The least length found by search is a second upper bound, reported with its
ratio; "not reached" and "above the construction" are search limits, not
verdicts. A found length below the per-sample bound (probability ``1e-6``)
would refute the bound and fails the rule. The upper/lower ratio
``constr_Lp / bound`` is reported at every ``N`` with the goal (within
:data:`RATIO_GOAL` over two decades of ``N``) and whether it is met.

The fixed random model's capacity curve and realizable targets are reported
among claim 5's numbers; no rule reads them (they are searches on one model).
"""

from __future__ import annotations

import math

import numpy as np

from .verdict import CONSISTENT, NOT_CHECKED, NOT_CONSISTENT, VACUOUS, Verdict, figures_of, fmt

__all__ = ["RATIO_GOAL", "fit_power", "summarize", "verdicts", "headline_width"]

#: The goal for the upper/lower ratio: within this over at least two decades of ``N``.
RATIO_GOAL = 20.0


def fit_power(x, y) -> dict | None:
    """Least-squares fit of ``log y = log a + b log x``; ``None`` with fewer than 2 distinct ``x``."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = (x > 0) & (y > 0)
    x, y = x[ok], y[ok]
    if np.unique(x).size < 2:
        return None
    b, loga = np.polyfit(np.log(x), np.log(y), 1)
    pred = loga + b * np.log(x)
    ss = float(np.sum((np.log(y) - pred) ** 2))
    tot = float(np.sum((np.log(y) - np.log(y).mean()) ** 2))
    return {"a": float(np.exp(loga)), "b": float(b), "r2": 1.0 - ss / tot if tot > 0 else 1.0, "n": int(x.size)}


def headline_width(rows) -> str:
    """``"token"`` when the run has token-width sandwich points, else ``"wide"``."""
    return "token" if any(r.get("axis") == "N" and r.get("width") == "token" for r in rows) else "wide"


def _where(r) -> str:
    return f"{r.get('width', 'wide')} (d,L)=({r['d']},{r['L']}) k={r['k']} N={r['N']}"


def _decades_within(rows, goal) -> dict:
    """Per ``(d, L)``: the longest span of ``log10 N`` over consecutive points (by ``N``) with ratio within ``goal``."""
    out = {}
    for shape in sorted({(r["d"], r["L"]) for r in rows}):
        best, start = 0.0, None
        for r in sorted((r for r in rows if (r["d"], r["L"]) == shape), key=lambda r: r["N"]):
            if r.get("ratio") is not None and r["ratio"] <= goal:
                start = r["N"] if start is None else start
                best = max(best, math.log10(r["N"] / start))
            else:
                start = None
        out[f"{shape[0]},{shape[1]}"] = round(best, 3)
    return out


def _capacity(rows) -> list[dict]:
    out = []
    for shape in sorted({(r["d"], r["L"]) for r in rows if r.get("axis") == "capacity"}):
        rs = sorted((r for r in rows if r.get("axis") == "capacity" and (r["d"], r["L"]) == shape),
                    key=lambda r: r["Lp"])
        Lps = np.array([r["Lp"] for r in rs], dtype=float)
        bits = np.array([r["bits"] for r in rs], dtype=float)
        slope = float(np.polyfit(Lps, bits, 1)[0]) if np.unique(Lps).size >= 2 else None
        ranks = [r["rank_at_fail"] for r in rs if r.get("rank_at_fail") is not None]
        out.append({"d": shape[0], "L": shape[1], "Lp": [r["Lp"] for r in rs], "bits": [r["bits"] for r in rs],
                    "slope_bits_per_Lp": slope, "fit_loglog": fit_power(Lps, bits),
                    "rank_ceiling": max(ranks) if ranks else None,
                    "rank_big": max((r.get("rank_big") or 0 for r in rs), default=None),
                    "rows_big": rs[-1].get("rows_big"),
                    "rows_at_ceiling": next((r["rows_at_fail"] for r in rs if r.get("rank_at_fail") == max(ranks)),
                                            None) if ranks else None})
    return out


def summarize(rows: list) -> dict:
    sand = [r for r in rows if r.get("axis") == "N"]
    width = headline_width(rows)
    head = [r for r in sand if r.get("width", "wide") == width]
    tol = {id(r): r["tol"] for r in sand}
    bites = max((float(r.get("bites", 10.0)) for r in sand), default=10.0)
    largest = max(head, key=lambda r: (r["N"], r["dL"]), default=None)
    return {
        "points": len(rows), "sandwich_points": len(sand), "headline_width": width, "bites": bites,
        "cert_fail": [f"{_where(r)}: error {r['constr_err']:.3g} > tol {r['tol']:.3g}" for r in sand
                      if not r["constr_err"] <= tol[id(r)]],
        "bound_above_construction": [f"{_where(r)}: bound {r['bound']:.4g} > {r['constr_Lp']}" for r in sand
                                     if r["bound"] > r["constr_Lp"]],
        "search_below_bound": [f"{_where(r)}: found {r['search_Lp']} < {r['bound_sample']:.4g}" for r in sand
                               if r.get("search_Lp") is not None and r["search_Lp"] < r["bound_sample"]],
        "control_memorized": [f"{_where(r)}: {name} error {r[key]:.3g} <= tol" for r in sand
                              for key, name in (("ctrl_other_err", "other member"), ("ctrl_short_err", "cut prompt"))
                              if r.get(key) is not None and r[key] <= tol[id(r)]],
        "controls": [min((r["ctrl_other_err"] for r in sand), default=None),
                     min((r["ctrl_short_err"] for r in sand if r.get("ctrl_short_err") is not None), default=None)],
        "search_limits": [f"{_where(r)}: search {'not reached' if r.get('search_Lp') is None else r['search_Lp']}"
                          f" (construction {r['constr_Lp']})" for r in sand
                          if r.get("search_Lp") is None or r["search_Lp"] > r["constr_Lp"]],
        "largest_bound": max((r["bound"] for r in head), default=None),
        "ratios": [(r["d"], r["L"], r["N"], r["ratio"]) for r in sorted(head, key=lambda r: (r["dL"], r["d"], r["N"]))],
        "ratio_range": [min((r["ratio"] for r in head if r.get("ratio")), default=None),
                        max((r["ratio"] for r in head if r.get("ratio")), default=None)],
        "decades_within_goal": _decades_within([r for r in head if r.get("ratio")], RATIO_GOAL),
        "fit_bound_vs_N": fit_power([r["N"] for r in head], [r["bound"] for r in head]),
        "fit_constr_vs_N": fit_power([r["N"] for r in head], [r["constr_Lp"] for r in head]),
        "largest": None if largest is None else {k: largest.get(k) for k in (
            "width", "d", "L", "k", "N", "D", "rho_box", "K_P", "bound", "bound_sample", "bound_local", "search_Lp",
            "lin_least_Lp", "tune_least_Lp", "constr_Lp", "constr_err", "ratio", "seconds")},
        "capacity": _capacity(rows),
        "realizable": [{k: r.get(k) for k in ("d", "L", "N", "Lp_star", "tune_least_Lp", "tune_status")}
                       for r in rows if r.get("axis") == "realizable"],
        "total_seconds": round(sum(r["seconds"] for r in rows), 2),
    }


def _sandwich_numbers(rows, s) -> list[str]:
    out = []
    for r in sorted((r for r in rows if r.get("axis") == "N"), key=lambda r: (r["width"], r["dL"], r["d"], r["N"])):
        found = r["search_Lp"] if r.get("search_Lp") is not None else "not reached"
        out.append(f"{_where(r)} (D={r['D']}, rho={fmt(r['rho_box'])}): lower {fmt(r['bound'])} (per sample "
                   f"{fmt(r['bound_sample'])}; box-local {fmt(r.get('bound_local'))}), found {found}, construction "
                   f"{r['constr_Lp']} (error {fmt(r['constr_err'])}), upper/lower {fmt(r['ratio'])}; controls: other "
                   f"member {fmt(r['ctrl_other_err'])}, cut to {fmt(r.get('ctrl_short_Lp'))} rows "
                   f"{fmt(r.get('ctrl_short_err'))}")
    big = s.get("largest")
    if big:
        found = big["search_Lp"] if big["search_Lp"] is not None else "not reached"
        out.append(f"largest N ({big['width']}): N={big['N']} (d,L)=({big['d']},{big['L']}): lower bound "
                   f"{fmt(big['bound'])}, least length found {found}, construction {big['constr_Lp']}, "
                   f"upper/lower {fmt(big['ratio'])}")
    lo, hi = s["ratio_range"]
    spans = s["decades_within_goal"]
    best = max(spans.values(), default=0.0)
    out.append(f"upper/lower over the {s['headline_width']}-width points: {fmt(lo)} to {fmt(hi)}; decades of N "
               f"within {RATIO_GOAL:g} per (d,L): {spans}; goal (two decades) "
               f"{'met' if best >= 2.0 else 'not met'} (longest {fmt(best)})")
    for name, key in (("lower bound", "fit_bound_vs_N"), ("construction", "fit_constr_vs_N")):
        f = s.get(key)
        if f:
            out.append(f"{name} ~ {fmt(f['a'])} N^{fmt(f['b'])} (R^2 {fmt(f['r2'])}, {f['n']} points)")
    out.append(f"search limits (not verdicts): {len(s['search_limits'])} of {s['sandwich_points']} points"
               + (f", e.g. {s['search_limits'][0]}" if s["search_limits"] else ""))
    return out


def _sandwich_verdict(res, s) -> Verdict:
    top, bites = s["largest_bound"], s["bites"]
    if s["sandwich_points"] == 0:
        status, why = NOT_CHECKED, "no sandwich point ran"
    elif s["cert_fail"]:
        status, why = NOT_CONSISTENT, f"the closed-form prompt missed tol: {s['cert_fail'][0]}"
    elif s["bound_above_construction"]:
        status, why = NOT_CONSISTENT, f"the lower bound exceeds a certified length: {s['bound_above_construction'][0]}"
    elif s["search_below_bound"]:
        status, why = NOT_CONSISTENT, f"a prompt found by search beats the bound: {s['search_below_bound'][0]}"
    elif s["control_memorized"]:
        status, why = NOT_CONSISTENT, f"a negative control memorized the dataset: {s['control_memorized'][0]}"
    elif top is None or top < bites:
        status, why = VACUOUS, (f"the lower bound at {s['headline_width']} width never reaches {bites:g} (largest "
                                f"{fmt(top)}), so the sandwich could not have failed")
    else:
        status, why = CONSISTENT, (f"at every N the certified length lies above the whole-box lower bound, which "
                                   f"reaches {fmt(top)}; both controls miss tol")
    w = s["headline_width"]
    width_text = ("token width w = d k^(d(L-1)) + 5d + 8 (prompt rows exactly as wide as the input rows; width d "
                  "itself is provably too narrow, docs/theory.md §8.5)" if w == "token" else
                  "the residual width D of the wide construction (the token-width construction was not in this run)")
    c_other, c_short = s["controls"]
    return Verdict(
        claim_id="memorization", title="Memorization needs long prompts",
        claim=f"Memorizing every dataset of N inputs needs a prompt length exponential in dL (Hu et al. 2025, "
              f"memorization lower bound), tested at {width_text}, over every prompt in the box ||P||max <= rho "
              f"(rho the closed-form prompt's max norm; max norm on prompts and outputs): "
              f"Lp >= N L d log q / (D log M) with K_P over the whole box, against the constructed transformer's "
              f"closed-form prompt as a certified upper bound (docs/theory.md §7.4, §7.8, §8.3).",
        status=status,
        rule=f"the closed-form prompt memorizes the drawn member within tol at every N; the whole-box lower bound "
             f"is at most its length; no prompt found by search beats the per-sample bound; both negative controls "
             f"miss tol; the bound reaches {bites:g} at a certified point (else vacuous). Searches that do not reach "
             f"the construction's length are search limits",
        falsifier="a certified or found prompt shorter than the lower bound, a closed-form prompt above tol, or a "
                  "control (another member's closed form, or the closed form cut below the bound) within tol",
        strength=f"the bound reaches {fmt(top)} at {w} width (threshold {bites:g}); controls' smallest errors: "
                 f"other member {fmt(c_other)}, cut prompt {fmt(c_short)} (tol {fmt(res.rows[0].get('tol'))})"
        if res.rows else "no rows",
        numbers=_sandwich_numbers(res.rows, s) + _random_numbers(s), figures=figures_of("memorization"), why=why,
        settings="q-ary hard family F + gamma B on the grid (q, gamma, tol = gamma/4 in the sidecar); the whole box "
                 "||P||max <= rho; K_P by outward-rounded interval arithmetic, exact at the grid inputs",
        values={"largest": s.get("largest"), "ratios": s.get("ratios"),
                "decades_within_goal": s.get("decades_within_goal"), "capacity": s.get("capacity"),
                "realizable": s.get("realizable")},
    )


def _random_numbers(s) -> list[str]:
    """The fixed random model's capacity and realizable targets: reported beside claim 5, not tested by its rule."""
    cap, real = s["capacity"], s["realizable"]
    nums = []
    for c in cap:
        full = c["rank_ceiling"] is not None and c["rank_ceiling"] == c["rows_at_ceiling"]
        nums.append(f"random model (reported, not part of the rule), (d,L)=({c['d']},{c['L']}): bits memorized by Lp "
                    f"{dict(zip(c['Lp'], c['bits']))}; slope {fmt(c['slope_bits_per_Lp'])} bits per prompt token; at "
                    f"the first grid missed the Jacobian has rank {fmt(c['rank_ceiling'])} of "
                    f"{fmt(c['rows_at_ceiling'])} outputs ({'full: not a rank limit' if full else 'short'}); at the "
                    f"largest grid {fmt(c['rank_big'])} of {fmt(c['rows_big'])} (docs/theory.md §7.9)")
    for r in real:
        nums.append(f"random model, realizable targets (d,L)=({r['d']},{r['L']}) N={r['N']}: teacher Lp*="
                    f"{r['Lp_star']}, least found "
                    f"{r['tune_least_Lp'] if r['tune_least_Lp'] is not None else r['tune_status']}")
    return nums


def verdicts(results) -> list[Verdict]:
    """Claim 5 (the sandwich; the random model's capacity among its numbers), from ``results["memorization"]``."""
    res = results["memorization"]
    s = res.meta["summary"]
    return [_sandwich_verdict(res, s)]
