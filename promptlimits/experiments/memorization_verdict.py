"""Summary and verdict of the memorization experiment (:mod:`.memorization`; docs/theory.md §9.6).

The rule (issue 14, item 7): **consistent** only if no measured least ``Lp``
(linear regime or tuning) is below its lower bound, the bound is at least
:data:`BITES` somewhere in the run (else **vacuous**), and every measured value
on the constructed model is at most the construction's ``L k^d``. The lower
bound compared is the per-sample form ``bound_sample`` (a sampled member is
memorized below it with probability at most about ``1e-6``, docs/theory.md §7.4).
"Not reached within budget" is no measured value. The numbers give the
measured/bound ratio per point and its fitted exponent in ``N``.
"""

from __future__ import annotations

import numpy as np

from .verdict import CONSISTENT, NOT_CHECKED, NOT_CONSISTENT, VACUOUS, Verdict, fmt

__all__ = ["BITES", "fit_power", "summarize", "verdicts", "measured"]

#: The bound must reach this somewhere in the run, else the verdict is "vacuous".
BITES = 10.0

_METHODS = (("lin_least_Lp", "linear regime"), ("tune_least_Lp", "tuning"))


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


def measured(row) -> list[tuple[str, int]]:
    """``[(method, least Lp)]`` of the searches of ``row`` that reached the tolerance."""
    return [(name, row[key]) for key, name in _METHODS if row.get(key) is not None]


def _where(r) -> str:
    return f"{r['model']} d={r['d']} L={r['L']} N={r['N']}"


def _largest(rows) -> list[dict]:
    """Per model, the ``N``-axis point of largest ``N``: the closing note's numbers."""
    out = []
    for model in ("construct", "random"):
        rs = [r for r in rows if r.get("axis") == "N" and r["model"] == model]
        if rs:
            r = max(rs, key=lambda r: (r["N"], r["dL"]))
            out.append({k: r.get(k) for k in ("model", "d", "L", "N", "D", "bound", "bound_sample", "lin_least_Lp",
                                               "lin_status", "tune_least_Lp", "tune_status", "constr_Lp",
                                               "ratio", "K_P", "K_P_old", "K_P_tightening", "probe", "seconds")})
    return out


def summarize(rows: list) -> dict:
    pairs = [(r, name, v) for r in rows for name, v in measured(r)]
    below = [f"{_where(r)} ({name} {v} < {r['bound_sample']:.4g})" for r, name, v in pairs if v < r["bound_sample"]]
    above = [f"{_where(r)} ({name} {v} > {r['constr_Lp']})" for r, name, v in pairs
             if r.get("constr_Lp") is not None and v > r["constr_Lp"]]
    n_axis = [r for r in rows if r.get("axis") == "N" and r["model"] == "construct" and r.get("ratio")]
    bites = [r for r in rows if r["bound_sample"] >= BITES]
    return {
        "points": len(rows), "measured": len(pairs), "reached_lin": sum(r["lin_least_Lp"] is not None for r in rows),
        "not_reached_lin": sum(r["lin_least_Lp"] is None for r in rows),
        "tuning_runs": sum(r["tune_status"] != "not run" for r in rows),
        "reached_tune": sum(r["tune_least_Lp"] is not None for r in rows),
        "below_bound": below, "above_construction": above,
        "largest_bound": max((r["bound_sample"] for r in rows), default=None),
        "largest_measured_bound": max((r["bound_sample"] for r, _, _ in pairs), default=None),
        "bites_at": [_where(r) for r in bites],
        "fit_ratio_vs_N": fit_power([r["N"] for r in n_axis], [r["ratio"] for r in n_axis]),
        "fit_lin_vs_N": fit_power([r["N"] for r in n_axis], [r["lin_least_Lp"] for r in n_axis]),
        "fit_bound_vs_N": fit_power([r["N"] for r in n_axis], [r["bound_sample"] for r in n_axis]),
        "K_P_tightening": [min((r["K_P_tightening"] for r in rows), default=None),
                           max((r["K_P_tightening"] for r in rows), default=None)],
        "K_P_over_probe": [min((r["K_P"] / r["probe"] for r in rows if (r["probe"] or 0) > 0), default=None),
                           max((r["K_P"] / r["probe"] for r in rows if (r["probe"] or 0) > 0), default=None)],
        "largest": _largest(rows),
        "total_seconds": round(sum(r["seconds"] for r in rows), 2),
    }


def _numbers(rows, s) -> list[str]:
    out = []
    for r in sorted((r for r in rows if r.get("axis") == "N"), key=lambda r: (r["model"], r["dL"], r["N"])):
        lin = r["lin_least_Lp"] if r["lin_least_Lp"] is not None else "not reached within budget"
        out.append(f"{_where(r)} (D={r['D']}): bound {fmt(r['bound_sample'])}, linear regime {lin} (rank "
                   f"{r['lin_rank']}/{r['lin_rows']} at rtol {fmt(r['rank_rtol'])}), tuning "
                   f"{r['tune_least_Lp'] if r['tune_least_Lp'] is not None else r['tune_status']}, construction "
                   f"{r['constr_Lp'] if r['constr_Lp'] is not None else 'n/a'}, measured/bound {fmt(r['ratio'])}")
    fit = s.get("fit_ratio_vs_N")
    if fit:
        out.append(f"measured/bound ~ {fmt(fit['a'])} N^{fmt(fit['b'])} (R^2 {fmt(fit['r2'])}, {fit['n']} "
                   f"constructed-model points)")
    for big in s.get("largest", []):
        out.append(f"largest N, {big['model']}: N={big['N']}, bound {fmt(big['bound_sample'])}, linear regime "
                   f"{big['lin_least_Lp'] if big['lin_least_Lp'] is not None else big['lin_status']}, construction "
                   f"{big['constr_Lp'] if big['constr_Lp'] is not None else 'n/a'}, ratio {fmt(big['ratio'])}, "
                   f"K_P {fmt(big['K_P'])} (issue-5 factor {fmt(big['K_P_old'])}, tightening "
                   f"{fmt(big['K_P_tightening'])}; probe {fmt(big['probe'])}), {fmt(big['seconds'])} s")
    out.append(f"{s['measured']} measured values ({s['reached_lin']} linear regime, {s['reached_tune']} tuning of "
               f"{s['tuning_runs']} run); {s['not_reached_lin']} linear-regime searches not reached within budget; "
               f"{len(s['below_bound'])} below the bound, {len(s['above_construction'])} above the construction")
    return out


def verdicts(results) -> list[Verdict]:
    """Claim 4 of the report, from ``results["memorization"]``."""
    res = results["memorization"]
    s = res.meta["summary"]
    top, top_measured = s.get("largest_bound"), s.get("largest_measured_bound")
    if s["measured"] == 0:
        status, why = NOT_CHECKED, "no search reached the tolerance within budget"
    elif s["below_bound"]:
        status, why = NOT_CONSISTENT, f"a measured least Lp fell below the bound: {s['below_bound'][0]}"
    elif s["above_construction"]:
        status, why = NOT_CONSISTENT, f"a measured least Lp exceeds the construction's: {s['above_construction'][0]}"
    elif top is None or top < BITES:
        status, why = VACUOUS, f"the bound never reaches {BITES:g} (largest {fmt(top)}), so no outcome could fail it"
    else:
        status, why = CONSISTENT, ("every measured least Lp lies between the bound and the construction's L k^d, "
                                   f"and the bound reaches {fmt(top)}")
    strength = (f"the bound reaches {fmt(top)} (at least {BITES:g} at {len(s['bites_at'])} points); at measured "
                f"points it reaches {fmt(top_measured)}, so a least Lp below it there would have failed the rule")
    return [Verdict(
        claim_id="memorization", title="Memorization needs long prompts",
        claim="Memorizing every dataset of N inputs needs a prompt length that grows with N L, exponentially in dL "
              "for Lipschitz targets (Hu et al. 2025); here Lp >= N L d log q / (D log M) with its per-sample form, "
              "and a constructed transformer memorizes with L k^d tokens (docs/theory.md §7, §8.3).",
        status=status,
        rule=f"no measured least Lp below its per-sample lower bound (probability about 1e-6), the bound at least "
             f"{BITES:g} somewhere, and every measured value on the constructed model at most L k^d; searches not "
             f"reached within budget give no value",
        falsifier="a measured least Lp below the bound, or above the construction's length on the constructed model",
        strength=strength, numbers=_numbers(res.rows, s), figures=("fig4_memorization",), why=why,
        settings="q-ary hard family (q, spacing gamma, tol = gamma/4) on a reference output; constructed model "
                 "(box within rho_construct of the reference) and random model with positions (box [-rho, rho]); "
                 "see the sidecar",
        values={"largest": s.get("largest"), "fit_ratio_vs_N": s.get("fit_ratio_vs_N")},
    )]
