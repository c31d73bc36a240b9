"""Hardness sweep: the least cost at which fast attention decides planted Hamming instances (docs/theory.md §6).

A point is ``(n, gap, kappa)``: ``n_instances`` promise instances (half
planted, the planted pair at distance exactly ``t``) with distance ratio
``t'/t = 1 + gap`` and ``t = Theta(m)``
(:func:`promptlimits.hardness.gap_parameters`), encoded at ``lambda = kappa
sqrt(ln n)``. The instances depend on ``(n, gap)`` and the sweep's seed only, so
every ``kappa`` sees the same ones. Three rows per point:

- ``exact``: exact attention's accuracy and whether its outputs keep the
  decision margin (every row below 1/4 or above 3/4);
- ``poly``: the least degree, and its rank ``C(d+g, g)``, at which the
  polynomial method is within 1/4 of exact attention in every row of every
  instance (:func:`promptlimits.hardness.least_poly_degree`, uncertified
  Chebyshev plans through the fused kernels), searched up to the rank cap
  ``budget``;
- ``rf``: the same for positive random features
  (:func:`promptlimits.random_features.random_feature_attention`) over feature
  counts ``1, 2, 4, ...`` up to the flop equivalent of the cap; and the outcome
  at the feature count matched in flops to the polynomial method's least rank
  (or, when none was found, to the largest rank it tried).

Equal cost is measured in flops (:func:`promptlimits.random_features.matched_features`),
not seconds: the machine is shared, and a timing-matched count would change from
run to run. The summary gives, per ``(gap, n)``, the least rank at each
``kappa``, the measured crossing (the least ``kappa`` of the grid from which no
rank ``<= n`` decides) beside the derived ``kappa_min``, and the same for the
random features.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from promptlimits._checks import check_memory, check_positive_float, check_positive_int, check_real
from promptlimits.sweep import SweepDef

from ._settings import Option, resolve, scale_table
from .verdict import ILLUSTRATION, NOT_CHECKED, NOT_CONSISTENT, Verdict, fmt

__all__ = ["hardness_point", "check_point", "summarize", "summary_lines", "make_sweep", "verdicts",
           "resolve_budget", "SETTINGS", "OPTIONS", "METHODS"]

#: The three rows of a point.
METHODS = ("exact", "poly", "rf")

#: Grids and budgets per scale (keys are the overrides ``make_sweep`` accepts).
SETTINGS = scale_table(
    {"ns": (256, 1024), "gaps": (1.0, 0.5, 0.25, 0.1),
     "kappas": (0.5, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0),
     "n_instances": 8, "budget": "n^1.25", "c_m": 6.0},
    tiny={"ns": (128,), "gaps": (1.0, 0.5), "kappas": (0.5, 2.0, 6.0), "n_instances": 4},
    quick={},
    full={"ns": (256, 1024, 4096), "n_instances": 20},
)

#: Options of ``promptlimits sweep hardness``.
OPTIONS = (
    Option("--n", "ns", int, "+", help="sequence lengths"),
    Option("--gap", "gaps", float, "+", help="distance gaps, t'/t = 1 + gap, each in (0, 10]"),
    Option("--kappa", "kappas", float, "+", help="lambda / sqrt(ln n) values"),
    Option("--instances", "n_instances", int, help="instances per point (half planted)"),
    Option("--budget", "budget", str, help="largest rank the degree search tries: 'n', 'n^p' or an integer"),
    Option("--c-m", "c_m", float, help="m = ceil(c_m log2 n) bits"),
)


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
    return check_positive_int(value, f"rank budget (from {budget!r})")


def check_point(params: dict) -> None:
    """Validate one point (called by the sweep engine before anything runs)."""
    from promptlimits.hardness import GAP_MAX, gap_parameters

    n = check_positive_int(params.get("n"), "n", minimum=2)
    gap = check_real(params.get("gap"), "gap (t'/t - 1)", low=0.0, high=GAP_MAX, low_open=True)
    check_positive_float(params.get("kappa"), "kappa = lambda/sqrt(ln n)")
    check_positive_int(params.get("n_instances"), "n_instances", minimum=2)
    resolve_budget(params.get("budget", "n"), n)
    gap_parameters(n, gap, c_m=check_positive_float(params.get("c_m", 6.0), "c_m"))
    check_memory(32 * n * n, f"n = {n} (Hamming instances: n x n distances)")


@lru_cache(maxsize=8)
def _instances(n: int, m: int, t: int, t_far: int, count: int, seed: int) -> tuple:
    """``count`` instances (even ones planted, at distance exactly ``t``) from ``SeedSequence((seed, n, m, t,
    t'))``, with their distance counts: shared by every kappa."""
    from promptlimits.hardness import distance_counts, make_instance

    rng = np.random.default_rng(np.random.SeedSequence((seed, n, m, t, t_far)))
    insts = [make_instance(n, m, t, t_far, planted=(k % 2 == 0), seed=rng, close_distance=t) for k in range(count)]
    return tuple((inst, distance_counts(inst)) for inst in insts)


def _tried(search) -> dict:
    """The levels a search ran, as text cells: ``"size:error"`` separated by spaces."""
    return {"largest_size_tried": max((s for _, s, _, _ in search.tried), default=None),
            "errors_tried": " ".join(f"{s}:{e:.3g}" for _, s, _, e in search.tried)}


def _search_row(method: str, search, **extra) -> dict:
    return {"method": method, "least_level": search.level, "least_size": search.size, "error": search.error,
            **_tried(search), **extra}


def _random_features(inputs, exact, seed: int, *, d: int, n: int, match_rank: int, cap_rank: int) -> dict:
    """The ``rf`` row: least feature count (powers of two up to the flop equivalent of the rank cap), and the
    outcome at the count matched in flops to ``match_rank``."""
    from promptlimits.hardness import least_level, within_margin
    from promptlimits.random_features import (
        draw_projection,
        equivalent_rank,
        matched_features,
        random_feature_attention,
    )

    def rf_at(m):
        W = draw_projection(m, d, seed=np.random.SeedSequence((seed, m)))
        return lambda Q, K, V: random_feature_attention(Q, K, V, projection=W)

    shape = {"n_q": n, "n_k": n + 1, "d": d, "d_v": 1}
    cap = matched_features(cap_rank, **shape)
    counts = [2**k for k in range(int(math.log2(cap)) + 1)]
    search = least_level([(m, m) for m in counts], rf_at, inputs, exact)
    m_match = matched_features(match_rank, **shape)
    ok, err = within_margin(rf_at(m_match), inputs, exact)
    return _search_row("rf", search, matched_to_rank=match_rank, matched_features=m_match, matched_ok=ok,
                       matched_error=err, features_at_rank_n=matched_features(n, **shape),
                       equivalent_rank=None if search.size is None else equivalent_rank(search.size, **shape))


def hardness_point(params: dict, seed: int) -> list[dict]:
    """Exact, polynomial and random-feature attention on the point's instances (module docstring)."""
    from promptlimits.features import rank
    from promptlimits.hardness import (
        MARGIN,
        degree_levels,
        encode,
        exact_output,
        extra_dims,
        gap_parameters,
        lambda_min,
        least_poly_degree,
        sufficient_degree,
    )

    check_point(params)
    n, gap, kappa = params["n"], float(params["gap"]), float(params["kappa"])
    m, t, t_far = gap_parameters(n, gap, c_m=float(params.get("c_m", 6.0)))
    d = m + extra_dims(m, t, t_far)[0]
    lam = kappa * math.sqrt(math.log(n))
    cached = _instances(n, m, t, t_far, int(params["n_instances"]), int(params.get("instance_seed", 0)))
    insts = [inst for inst, _ in cached]
    inputs = [encode(inst, lam) for inst in insts]
    exact = [exact_output(inst, lam, counts) for inst, counts in cached]
    right = sum(bool(T.min() < 0.5) == inst.planted for T, inst in zip(exact, insts))
    margin = all(bool(np.all((T < MARGIN) | (T > 1 - MARGIN))) for T in exact)
    max_rank = resolve_budget(params.get("budget", "n"), n)
    poly = least_poly_degree(inputs, exact, lam, max_rank=max_rank)
    g_suff = sufficient_degree(n, lam * lam)
    lam_min = lambda_min(n, m, t, t_far)
    common = {"lambda": lam, "lambda_min": lam_min, "kappa_min": lam_min / math.sqrt(math.log(n)), "m": m, "t": t,
              "t_far": t_far, "ratio": t_far / t, "d": d, "n_instances_run": len(insts), "max_rank": max_rank}
    rows = [
        {"method": "exact", "accuracy": right / len(insts), "margin_holds": margin},
        _search_row("poly", poly, degree_cap=degree_levels(d, max_rank)[-1][0], degree_sufficient=g_suff,
                    log10_rank_sufficient=math.log10(rank(d, g_suff))),
        _random_features(inputs, exact, seed, d=d, n=n, match_rank=poly.size or max_rank, cap_rank=max_rank),
    ]
    return [{**common, **row} for row in rows]


def _crossing(by_kappa: dict, limit: float):
    """Least kappa of the grid from which no size ``<= limit`` passes (None: one passes at the largest kappa)."""
    crossing = None
    for kappa in sorted(by_kappa, reverse=True):
        size = by_kappa[kappa]
        if size is not None and size <= limit:
            break
        crossing = kappa
    return crossing


def _case_summary(rows: list[dict]) -> dict:
    """The summary of one ``(gap, n)`` from the rows of every kappa."""
    by = {method: sorted((r for r in rows if r["method"] == method), key=lambda r: r["kappa"]) for method in METHODS}
    ex, po, rf = by["exact"], by["poly"], by["rf"]
    n, kappa_min = ex[0]["n"], ex[0]["kappa_min"]
    k_exact = next((r["kappa"] for i, r in enumerate(ex) if all(x["accuracy"] == 1.0 for x in ex[i:])), None)
    poly_rank = {r["kappa"]: r["least_size"] for r in po}
    rf_rank = {r["kappa"]: r["equivalent_rank"] for r in rf}
    crossing = _crossing(poly_rank, n)
    deciding = [r["kappa"] for r in ex if r["accuracy"] == 1.0]
    return {
        "gap": ex[0]["gap"], "n": n, "m": ex[0]["m"], "t": ex[0]["t"], "t_far": ex[0]["t_far"], "d": ex[0]["d"],
        "kappa_min": kappa_min, "kappa_exact_perfect_from": k_exact,
        "exact_decides_above_kappa_min": all(r["accuracy"] == 1.0 and r["margin_holds"] for r in ex
                                             if r["kappa"] > kappa_min),
        "max_rank": po[0]["max_rank"], "degree_cap": po[0]["degree_cap"],
        "least_rank": [[k, v] for k, v in poly_rank.items()],
        "crossing_kappa": crossing,
        "crossing_over_kappa_min": None if crossing is None else crossing / kappa_min,
        "poly_decides_where_exact_does": [k for k in deciding if poly_rank[k] is not None],
        "kappas_exact_decides": deciding,
        "sufficient_log_n_rank": [[r["kappa"], r["log10_rank_sufficient"] / math.log10(n)] for r in po],
        "rf_equivalent_rank": [[k, v] for k, v in rf_rank.items()],
        "rf_crossing_kappa": _crossing(rf_rank, n),
        "rf_matched": [[r["kappa"], r["matched_features"], r["matched_ok"], r["matched_error"]] for r in rf],
    }


def summarize(rows: list[dict]) -> dict:
    """Per ``(gap, n)``: where exact attention decides, the least rank by kappa, the crossings."""
    cases = sorted({(r["gap"], r["n"]) for r in rows}, key=lambda c: (-c[0], c[1]))
    return {"cases": [_case_summary([r for r in rows if (r["gap"], r["n"]) == c]) for c in cases]}


def summary_lines(s: dict) -> list[str]:
    """The summary as a table for the command line."""
    lines = ["gap    n      d    kappa_min  exact decides from  crossing (/kappa_min)  rf crossing  "
             "least rank by kappa (>cap: none up to the cap)"]
    for c in s["cases"]:
        ranks = " ".join(f"{k:g}:{'>' + str(c['max_rank']) if v is None else v}" for k, v in c["least_rank"])
        cross = f"{fmt(c['crossing_kappa'])} ({fmt(c['crossing_over_kappa_min'], 2)})"
        lines.append(f"{c['gap']:<6g} {c['n']:<6} {c['d']:<4} {c['kappa_min']:<10.3g} "
                     f"{fmt(c['kappa_exact_perfect_from']):<19} {cross:<22} {fmt(c['rf_crossing_kappa']):<12} {ranks}")
    return lines


def make_sweep(scale: str = "quick", *, seed: int = 0, **overrides) -> SweepDef:
    """The hardness sweep at ``scale``: grid ``ns x gaps x kappas``, ``n_instances`` instances per point."""
    s = resolve(SETTINGS, scale, overrides)
    return SweepDef(
        name="hardness", point="promptlimits.experiments.hardness:hardness_point",
        grid={"n": [int(n) for n in s["ns"]], "gap": [float(g) for g in s["gaps"]],
              "kappa": [float(k) for k in s["kappas"]]},
        fixed={"n_instances": int(s["n_instances"]), "budget": str(s["budget"]), "c_m": float(s["c_m"]),
               "instance_seed": int(seed)},
        seed=int(seed), check="promptlimits.experiments.hardness:check_point",
        summary="promptlimits.experiments.hardness:summarize",
        description="least polynomial rank and random-feature count that decide planted Hamming instances with "
                    "distance ratio 1 + gap, docs/theory.md §6",
    )


def _case_line(c: dict) -> str:
    below = max((k for k, v in c["least_rank"] if v is not None and v <= c["n"]), default=None)
    return (f"gap={c['gap']:g} (t'/t = {c['t_far']}/{c['t']}), n={c['n']} (m={c['m']}, d={c['d']}): exact attention "
            f"decides every instance from kappa = {fmt(c['kappa_exact_perfect_from'])} (derived sufficient kappa_min = "
            f"{fmt(c['kappa_min'])}); a polynomial of rank <= n stays within 1/4 of exact attention up to kappa = "
            f"{fmt(below)}, none from kappa = {fmt(c['crossing_kappa'])} on "
            f"({fmt(c['crossing_over_kappa_min'], 2)} kappa_min; searched up to degree {c['degree_cap']}, rank "
            f"{c['max_rank']}); positive random features at equal flops: none within the rank-n budget from kappa = "
            f"{fmt(c['rf_crossing_kappa'])}")


def _span(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    low, high = fmt(min(values), 2), fmt(max(values), 2)
    return low if low == high else f"{low}-{high}"


def verdicts(results) -> list[Verdict]:
    """Claim 6 of the report, from ``results["hardness"]``: an illustration with the measured crossing."""
    res = results["hardness"]
    cases = (res.meta.get("summary") or {}).get("cases") or []
    broken = [f"gap={c['gap']:g}, n={c['n']}" for c in cases if not c["exact_decides_above_kappa_min"]]
    overlap = [f"gap={c['gap']:g}, n={c['n']}" for c in cases if c["poly_decides_where_exact_does"]]
    crossings = [c["crossing_kappa"] for c in cases]
    ratios = [c["crossing_over_kappa_min"] for c in cases]
    exact_from = [c["kappa_exact_perfect_from"] for c in cases]
    if not cases:
        status, why = NOT_CHECKED, "no hardness results"
    elif broken:
        status, why = NOT_CONSISTENT, f"exact attention missed the proved margin above kappa_min at {broken}"
    else:
        status = ILLUSTRATION
        why = (f"the least rank within 1/4 of exact attention passes n at kappa = {_span(crossings)} "
               f"({_span(ratios)} of the derived kappa_min), where exact attention starts to decide every instance "
               f"(kappa = {_span(exact_from)}); "
               + ("no rank up to the cap decides at any kappa where exact attention does"
                  if not overlap else f"a rank up to the cap decides where exact attention does at {overlap}"))
    gaps = sorted({c["gap"] for c in cases}, reverse=True)
    ns = sorted({c["n"] for c in cases})
    return [Verdict(
        claim_id="hardness", title="Hardness at B = Theta(sqrt(log n)): where fast attention stops deciding",
        claim="Deciding Hamming nearest neighbours reduces to attention with B = lambda ~ sqrt(log n), so under "
              "SETH no algorithm much faster than n^2 approximates attention there (Alman and Song 2023; "
              "docs/theory.md §6).",
        status=status,
        rule="illustration (tests no claim); the one rule applied is the reduction's own guarantee: at every kappa "
             "above the derived kappa_min, exact attention decides every instance with every row below 1/4 or "
             "above 3/4",
        falsifier="a wrong decision or a row inside (1/4, 3/4) of exact attention at some kappa > kappa_min",
        strength=f"illustration: SETH-hardness concerns every algorithm and asymptotic n; this shows one algorithm "
                 f"(the polynomial method, uncertified Chebyshev degrees up to the rank cap) and positive random "
                 f"features at equal flops, on the reduction's instances at n = {', '.join(map(str, ns))} with "
                 f"distance ratios t'/t = {', '.join(f'{1 + g:g}' for g in gaps)}",
        numbers=[_case_line(c) for c in cases], figures=("fig6_hardness",), why=why,
        settings="promise instances with exact distance ratio 1 + gap and t = Theta(m), a sentinel key, decided by "
                 "min_i T_i < 1/2; criterion: every row within 1/4 of exact attention; equal cost in flops",
        values={"crossing_kappa": crossings, "crossing_over_kappa_min": ratios},
    )]
