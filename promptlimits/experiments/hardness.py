"""Hardness sweep: deciding planted Hamming instances with attention (DESIGN section 5).

A point is ``(n, kappa)`` with ``lambda = kappa sqrt(ln n)``; it draws
``n_instances`` promise instances (half planted) with
:func:`promptlimits.hardness.make_instance` and decides each with exact
attention and with the polynomial method under a rank budget
(:func:`promptlimits.hardness.budgeted_plan`, largest degree with
``C(d+g, g) <= budget``, no certificate). Two rows per point (``method`` =
``exact`` / ``poly``) with the accuracy, the agreement with exact attention's
decisions and the largest output deviation from exact attention. The summary
gives, per ``n``, the least ``kappa`` at which exact attention decides every
instance, the derived sufficient ``kappa_min = lambda_min / sqrt(ln n)``, and
the least ``kappa`` at which the budgeted polynomial method deviates from
exact attention by more than the decision margin 1/4 (after which it is no
better than chance).
"""

from __future__ import annotations

import math

import numpy as np

from promptlimits.sweep import SweepDef

__all__ = ["hardness_point", "check_point", "summarize", "make_sweep", "resolve_budget"]


def resolve_budget(budget, n: int) -> int:
    """``"n"``, ``"n^p"`` (e.g. ``"n^1.5"``) or an integer -> an integer rank budget."""
    if isinstance(budget, (int, np.integer)) and not isinstance(budget, bool):
        value = int(budget)
    elif isinstance(budget, str) and budget.strip() == "n":
        value = n
    elif isinstance(budget, str) and budget.strip().startswith("n^"):
        try:
            p = float(budget.strip()[2:])
        except ValueError:
            raise ValueError(f"budget must be 'n', 'n^p' or an integer, got {budget!r}") from None
        value = int(math.floor(n**p))
    else:
        try:
            value = int(budget)
        except (TypeError, ValueError):
            raise ValueError(f"budget must be 'n', 'n^p' or an integer, got {budget!r}") from None
    if value < 1:
        raise ValueError(f"rank budget must be >= 1, got {value} from {budget!r}")
    return value


def check_point(params: dict) -> None:
    n = params.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    k = params.get("kappa")
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k <= 0:
        raise ValueError(f"kappa = lambda/sqrt(ln n) must be a finite number > 0, got {k!r}")
    ni = params.get("n_instances")
    if isinstance(ni, bool) or not isinstance(ni, int) or ni < 2:
        raise ValueError(f"n_instances must be an integer >= 2, got {ni!r}")
    resolve_budget(params.get("budget", "n"), n)
    c_m = params.get("c_m", 3.0)
    if not isinstance(c_m, (int, float)) or c_m <= 0:
        raise ValueError(f"c_m must be > 0, got {c_m!r}")


def hardness_point(params: dict, seed: int) -> list[dict]:
    """Decide ``n_instances`` instances at ``lambda = kappa sqrt(ln n)`` (module docstring)."""
    from promptlimits.attention import exact_attention
    from promptlimits.hardness import budgeted_plan, decide, default_parameters, extra_dims, lambda_min, make_instance

    check_point(params)
    n, kappa = params["n"], float(params["kappa"])
    m, t, t_far = default_parameters(n, float(params.get("c_m", 3.0)))
    e, _ = extra_dims(m, t, t_far)
    d = m + e
    lam = kappa * math.sqrt(math.log(n))
    budget = resolve_budget(params.get("budget", "n"), n)
    plan = budgeted_plan(d, lam, budget)
    rng = np.random.default_rng(seed)
    count = params["n_instances"]
    truth, dec_exact, dec_poly, dev = [], [], [], []
    for k in range(count):
        inst = make_instance(n, m, t, t_far, planted=(k % 2 == 0), seed=rng)
        out = {}

        def exact(Q, K, V):
            out["exact"] = exact_attention(Q, K, V)
            return out["exact"]

        def poly(Q, K, V):
            out["poly"] = plan.forward(Q, K, V)
            return out["poly"]

        de, _ = decide(inst, lam, exact)
        dp, _ = decide(inst, lam, poly)
        truth.append(inst.planted)
        dec_exact.append(de)
        dec_poly.append(dp)
        Tp = out["poly"]
        dev.append(float(np.max(np.abs(Tp - out["exact"]))) if np.all(np.isfinite(Tp)) else math.inf)
    lam_min = lambda_min(n, m, t, t_far)
    common = {"lambda": lam, "lambda_min": lam_min, "kappa_min": lam_min / math.sqrt(math.log(n)),
              "m": m, "t": t, "t_far": t_far, "d": d, "n_instances_run": count}
    rows = []
    for method, dec in (("exact", dec_exact), ("poly", dec_poly)):
        right = sum(1 for x, y in zip(dec, truth) if x is not None and x == y)
        agree = sum(1 for x, y in zip(dec, dec_exact) if x is not None and x == y)
        rows.append({
            "method": method, **common,
            "degree": None if method == "exact" else plan.degree,
            "rank": None if method == "exact" else plan.rank,
            "budget_value": None if method == "exact" else budget,
            "accuracy": right / count, "n_correct": right,
            "agreement_with_exact": agree / count,
            "max_deviation": 0.0 if method == "exact" else float(np.max(dev)),
        })
    return rows


def summarize(rows: list[dict]) -> dict:
    """Per ``n``: where exact attention becomes perfect, and where the budgeted poly fails."""
    out = {}
    for n in sorted({r["n"] for r in rows}):
        ex = sorted((r for r in rows if r["n"] == n and r["method"] == "exact"), key=lambda r: r["kappa"])
        po = sorted((r for r in rows if r["n"] == n and r["method"] == "poly"), key=lambda r: r["kappa"])
        perfect = [r["kappa"] for r in ex if r["accuracy"] == 1.0]
        # least kappa from which exact stays perfect on the grid
        k_exact = None
        for i in range(len(ex)):
            if all(r["accuracy"] == 1.0 for r in ex[i:]):
                k_exact = ex[i]["kappa"]
                break
        k_fail = next((r["kappa"] for r in po if r["max_deviation"] is None or r["max_deviation"] > 0.25), None)
        out[str(n)] = {
            "kappa_min_derived": ex[0]["kappa_min"] if ex else None,
            "kappa_exact_perfect_from": k_exact,
            "n_kappa_exact_perfect": len(perfect),
            "kappa_poly_deviation_over_quarter": k_fail,
            "poly_accuracy_range": [min(r["accuracy"] for r in po), max(r["accuracy"] for r in po)] if po else None,
            "poly_degree": po[0]["degree"] if po else None,
            "poly_rank": po[0]["rank"] if po else None,
            "budget": po[0]["budget_value"] if po else None,
            "d": ex[0]["d"] if ex else None,
        }
    return out


def make_sweep(ns=(256, 1024), kappas=None, *, n_instances=20, budget="n", c_m=3.0, seed=0,
               name="hardness") -> SweepDef:
    """The hardness sweep: grid ``n x kappa``, ``n_instances`` instances per point."""
    if kappas is None:
        kappas = [round(float(k), 3) for k in np.linspace(0.25, 4.0, 16)]
    return SweepDef(
        name=name, point="promptlimits.experiments.hardness:hardness_point",
        grid={"n": [int(n) for n in ns], "kappa": [float(k) for k in kappas]},
        fixed={"n_instances": int(n_instances), "budget": str(budget), "c_m": float(c_m)},
        seed=int(seed), check="promptlimits.experiments.hardness:check_point",
        summary="promptlimits.experiments.hardness:summarize",
        description="planted Hamming instances decided by exact and rank-budgeted poly attention, DESIGN section 5",
    )
