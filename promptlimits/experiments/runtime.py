"""Measured runtime of the polynomial method in the theorem's regime, beside its cost model (docs/theory.md §5.5).

A point times one algorithm at one ``n = 2^log2_n`` with ``d = ceil(c log2 n)``
and the output target ``eps = n^-a`` (``c = a = 1``: the theorem's regime):

* ``algo = "poly"`` at ``B = kappa sqrt(ln n)``: the fused polynomial kernel
  with the float-certified plan for ``eps`` (:func:`promptlimits.poly_attention.make_plan`);
  its error is checked against exact attention on the first ``check_rows``
  query rows. Points whose one call would exceed ``max_flops`` (``4 n r d``, the
  kernel's flop count) are recorded as not measured, with the reason.
* ``algo = "exact"``: exact attention, on every query row up to
  ``exact_full_max`` and above it on ``exact_rows`` sampled rows, scaled by
  ``n / rows`` (its cost is linear in the number of query rows at fixed keys),
  as ``promptlimits bench attention`` does.

Times are CPU seconds of the process (``time.process_time``), best of up to
``timing_repeats`` calls within ``timing_budget`` wall seconds: on a machine
shared with other work, wall time charges a long call for every time slice it
waits, which bends log-log slopes upwards; CPU time counts the work. (Sweep
workers run one thread each; in-process runs count every thread's time.)

Inputs: ``Q, K`` uniform in ``[-B, B]`` with one all-``B`` row each (so the
logit range ``R = B^2`` is attained), ``V`` uniform in ``[-1, 1]``.

:func:`summarize` fits the kernel's cost ``t = n d (a + b r)`` to every
measured point (``r0 = a / b`` is its per-row overhead in units of rank:
loading, padding and normalising do not scale with ``r``), and gives, per
``kappa``, the measured log-log slope of time against ``n`` beside the slope
of ``n d (r* + r0)`` and of the rank term ``n r* d`` alone over the same sizes,
and ``1 + log_n r*`` at the largest size; and exact attention's slope. The cost
``n^(1+o(1))`` of the theorem is an asymptotic statement that no finite set of
sizes can show: at fixed ``kappa``, ``log_n r*`` stays near a positive
constant at these sizes (docs/theory.md §5.5).
"""

from __future__ import annotations

import math
import time

import numpy as np

from promptlimits._checks import check_choice, check_positive_float, check_positive_int, check_real, physical_memory
from promptlimits.measure import loglog_slope
from promptlimits.polyapprox import KINDS
from promptlimits.sweep import SweepDef

from ._settings import Option, resolve, scale_table
from .verdict import CONSISTENT, NOT_CHECKED, NOT_CONSISTENT, Verdict, fmt

__all__ = ["runtime_point", "check_point", "summarize", "make_sweep", "verdicts", "SETTINGS", "OPTIONS",
           "SLOPE_TOLERANCE", "EXACT_MIN_SLOPE"]

ALGOS = ("exact", "poly")

#: The rule: measured and predicted exponents within this, and exact attention's at least EXACT_MIN_SLOPE.
SLOPE_TOLERANCE = 0.15
EXACT_MIN_SLOPE = 1.9

#: Grids and budgets per scale (keys are the overrides ``make_sweep`` accepts).
SETTINGS = scale_table(
    {"log2_ns": tuple(range(10, 16)), "kappas": (0.05, 0.1, 0.15, 0.2, 0.25), "c": 1.0, "eps_exponent": 1.0,
     "kind": "auto", "max_flops": 4e9, "exact_full_max": 2048, "exact_rows": 256, "check_rows": 64,
     "timing_repeats": 10, "timing_budget": 1.0},
    tiny={"log2_ns": (7, 8, 9, 10), "kappas": (0.05, 0.15), "exact_full_max": 256, "exact_rows": 64,
          "timing_repeats": 1},
    quick={},
    full={"log2_ns": tuple(range(10, 19)), "max_flops": 2e11, "timing_repeats": 15, "timing_budget": 2.0},
)

#: Options of ``promptlimits sweep runtime``.
OPTIONS = (
    Option("--log2-n", "log2_ns", int, "+", help="log2 of the sequence lengths"),
    Option("--kappa", "kappas", float, "+", help="kappa = B/sqrt(ln n) of the polynomial method"),
    Option("--c", "c", float, help="d = ceil(c log2 n) (1: the theorem's regime)"),
    Option("--eps-exponent", "eps_exponent", float, help="a > 0: eps = n^-a (1: the theorem's regime)"),
    Option("--kind", "kind", str, None, ("auto",) + KINDS, help="polynomial kind"),
    Option("--max-flops", "max_flops", float, help="skip polynomial calls above 4 n r d flops"),
    Option("--exact-full-max", "exact_full_max", int, help="largest n timed on every query row"),
    Option("--exact-rows", "exact_rows", int, help="query rows timed above --exact-full-max"),
    Option("--timing-repeats", "timing_repeats", int, help="best of this many timings"),
)


def _size(params: dict) -> tuple[int, int, float]:
    """``(n, d, eps)`` of a point: ``d = ceil(c log2 n)``, ``eps = n^-a`` (``threshold.theorem_regime``)."""
    from promptlimits.threshold import theorem_regime

    k = int(params["log2_n"])
    return (1 << k, *theorem_regime(k, c=params["c"], a=params["eps_exponent"]))


def check_point(params: dict) -> None:
    """Validate one point (called by the sweep engine before anything runs)."""
    check_choice(params.get("algo"), "algorithm", ALGOS)
    check_positive_int(params.get("log2_n"), "log2 n", minimum=2, maximum=40)
    check_positive_float(params.get("c"), "c (d = ceil(c log2 n))")
    check_positive_float(params.get("eps_exponent"), "eps_exponent (eps = n^-a, a > 0)")
    n, d, eps = _size(params)
    check_real(eps, "eps = n^-a", low=1e-12, high=1.0, high_open=True)  # float certificates stop near 1e-12
    need, memory = 4 * n * d * 8, physical_memory()
    if memory is not None and need > memory // 2:
        raise ValueError(f"n = 2^{params['log2_n']} with d = {d} needs about {need / 2**30:.1f} GiB for Q, K, V and "
                         f"the output, more than half of this machine's {memory / 2**30:.1f} GiB")
    if params["algo"] == "poly":
        check_positive_float(params.get("kappa"), "kappa = B/sqrt(ln n)")
        check_choice(params.get("kind", "auto"), "polynomial kind", ("auto",) + KINDS)
        check_positive_float(params.get("max_flops"), "max_flops")
        check_positive_int(params.get("check_rows"), "check_rows")
    else:
        check_positive_int(params.get("exact_full_max"), "exact_full_max")
        check_positive_int(params.get("exact_rows"), "exact_rows")
    check_positive_int(params.get("timing_repeats"), "timing_repeats")
    check_positive_float(params.get("timing_budget"), "timing_budget")


def _inputs(n: int, d: int, B: float, rng):
    """Q, K uniform in [-B, B] with one all-B row each (so ||.||max = B and R = B^2 is hit); V in [-1, 1]."""
    Q = rng.uniform(-B, B, size=(n, d))
    K = rng.uniform(-B, B, size=(n, d))
    Q[0] = B
    K[rng.integers(n)] = B
    V = rng.uniform(-1.0, 1.0, size=(n, d))
    return Q, K, V


def runtime_point(params: dict, seed: int) -> dict:
    """Time one algorithm at one size (module docstring); the row's columns are listed there and in the code."""
    check_point(params)
    return _poly(params, seed) if params["algo"] == "poly" else _exact(params, seed)


def _exact(params: dict, seed: int) -> dict:
    from promptlimits.attention import exact_attention
    from promptlimits.measure import best_time

    n, d, _ = _size(params)
    Q, K, V = _inputs(n, d, 1.0, np.random.default_rng(seed))
    rows = n if n <= int(params["exact_full_max"]) else min(n, int(params["exact_rows"]))
    exact_attention(Q[:2], K[:64], V[:64])  # first call: imports, allocation
    t = best_time(lambda: exact_attention(Q[:rows], K, V), int(params["timing_repeats"]),
                  budget=float(params["timing_budget"]), clock=time.process_time)
    return {"n": n, "d": d, "measured": True, "reason": "", "rows_timed": rows, "t_rows": t.seconds,
            "t": t.seconds * n / rows, "calls": t.calls}


def _poly(params: dict, seed: int) -> dict:
    from promptlimits.attention import exact_attention
    from promptlimits.measure import best_time
    from promptlimits.poly_attention import make_plan

    n, d, eps = _size(params)
    B = float(params["kappa"]) * math.sqrt(math.log(n))
    row = {"n": n, "d": d, "eps_target": eps, "B": B, "R": B * B, "certified": False, "kind_used": "",
           "degree": None, "rank": None, "log_n_rank": None, "flops": None, "measured": False, "reason": "",
           "t": None, "calls": None, "err_max": None, "err_bound": None}
    try:
        plan = make_plan(d, B, eps=eps, kind=params.get("kind", "auto"))
    except ValueError as exc:
        return {**row, "reason": f"no certified plan: {exc}"}
    flops = 4 * n * plan.rank * d
    row.update(certified=True, kind_used=plan.kind, degree=plan.degree, rank=plan.rank,
               log_n_rank=math.log(plan.rank) / math.log(n), flops=float(flops))
    if flops > float(params["max_flops"]):
        return {**row, "reason": f"one call is {flops:.2g} flops > max_flops {float(params['max_flops']):.2g}"}
    Q, K, V = _inputs(n, d, B, np.random.default_rng(seed))
    plan(Q[:8], K[:8], V[:8])  # compile or load the kernels before timing
    t = best_time(lambda: plan(Q, K, V), int(params["timing_repeats"]), budget=float(params["timing_budget"]),
                  clock=time.process_time)
    m = min(n, int(params["check_rows"]))
    err = float(np.max(np.abs(t.result[:m] - exact_attention(Q[:m], K, V))))
    return {**row, "measured": True, "t": t.seconds, "calls": t.calls, "err_max": err,
            "err_bound": plan.output_bound(V)}


def make_sweep(scale: str = "quick", *, seed: int = 0, **overrides) -> SweepDef:
    """The runtime sweep at ``scale``: exact attention at each ``n``, the polynomial method at each ``(n, kappa)``."""
    s = resolve(SETTINGS, scale, overrides)
    ks = [check_positive_int(k, "log2 n", minimum=2, maximum=40) for k in s["log2_ns"]]
    kappas = [check_positive_float(x, "kappa = B/sqrt(ln n)") for x in s["kappas"]]
    if not ks:
        raise ValueError("the log2 n grid is empty: give at least one value")
    points = [{"algo": "exact", "log2_n": k, "kappa": None} for k in ks]
    points += [{"algo": "poly", "log2_n": k, "kappa": x} for x in kappas for k in ks]
    fixed = {key: s[key] for key in ("c", "eps_exponent", "kind", "max_flops", "exact_full_max", "exact_rows",
                                     "check_rows", "timing_repeats", "timing_budget")}
    return SweepDef(name="runtime", point="promptlimits.experiments.runtime:runtime_point", points=tuple(points),
                    fixed=fixed, seed=int(seed), check="promptlimits.experiments.runtime:check_point",
                    summary="promptlimits.experiments.runtime:summarize",
                    description="measured runtime in the theorem's regime beside the cost model (docs/theory.md §5.5)")


# ----------------------------------------------------------------------------
# Summary and verdict (claim 2 of the report)
# ----------------------------------------------------------------------------


def fit_overhead(rows: list[dict]) -> dict | None:
    """Fit ``t = n d (a + b r)`` to every measured polynomial row (least squares on ``log t``).

    The fused kernel does ``O(r)`` work per row and head dimension for the
    rank and ``O(1)`` for loading, padding and normalising; ``r0 = a / b`` is
    that overhead in units of rank. One ``(a, b)`` serves every ``kappa`` and
    ``n``; ``None`` with fewer than 3 measured rows.
    """
    from scipy.optimize import least_squares

    meas = [r for r in rows if r["measured"]]
    if len(meas) < 3:
        return None
    nd = np.array([r["n"] * r["d"] for r in meas], dtype=float)
    rank = np.array([r["rank"] for r in meas], dtype=float)
    logt = np.log([r["t"] for r in meas])

    def resid(z):
        return np.log(nd * (np.exp(z[0]) + np.exp(z[1]) * rank)) - logt

    z0 = np.log(np.median(np.exp(logt) / (nd * rank)))
    fit = least_squares(resid, [z0 + np.log(10.0), z0])
    a, b = float(np.exp(fit.x[0])), float(np.exp(fit.x[1]))
    return {"a": a, "b": b, "r0": a / b, "rms_log": float(np.sqrt(np.mean(fit.fun**2))), "points": len(meas)}


def _kappa_summary(rows: list[dict], r0: float | None) -> dict:
    """Measured and predicted exponents of the polynomial method at one ``kappa``."""
    meas = sorted((r for r in rows if r["measured"]), key=lambda r: r["n"])
    ns = [r["n"] for r in meas]
    stopped = sorted((r for r in rows if not r["measured"]), key=lambda r: r["n"])
    out = {"n_measured": ns, "B": [r["B"] for r in meas], "t": [r["t"] for r in meas],
           "rank": [r["rank"] for r in meas], "measured_slope": None, "predicted_slope": None,
           "rank_only_slope": None, "exponent_at_largest": None,
           "stopped": stopped[0]["reason"] if stopped else "", "stopped_at": stopped[0]["n"] if stopped else None,
           "errors_within_bound": all(r["err_max"] <= r["err_bound"] for r in meas)}
    if len(meas) >= 2:
        out["measured_slope"] = loglog_slope(ns, out["t"])
        out["rank_only_slope"] = loglog_slope(ns, [r["n"] * r["rank"] * r["d"] for r in meas])
        if r0 is not None:
            out["predicted_slope"] = loglog_slope(ns, [r["n"] * r["d"] * (r["rank"] + r0) for r in meas])
        out["exponent_at_largest"] = 1.0 + meas[-1]["log_n_rank"]
    return out


def summarize(rows: list[dict]) -> dict:
    """Per ``kappa``: measured and predicted exponents; the kernel's overhead ``r0``; exact attention's exponent."""
    poly = [r for r in rows if r["algo"] == "poly"]
    exact = sorted((r for r in rows if r["algo"] == "exact" and r["measured"]), key=lambda r: r["n"])
    kappas = sorted({r["kappa"] for r in poly})
    cost = fit_overhead(poly)
    r0 = None if cost is None else cost["r0"]
    return {"cost_model": cost,
            "kappas": {f"{k:g}": _kappa_summary([r for r in poly if r["kappa"] == k], r0) for k in kappas},
            "exact": {"n": [r["n"] for r in exact], "t": [r["t"] for r in exact],
                      "rows_timed": [r["rows_timed"] for r in exact],
                      "slope": loglog_slope([r["n"] for r in exact], [r["t"] for r in exact])
                      if len(exact) >= 2 else None}}


def _kappa_line(kappa: str, ks: dict) -> str:
    ns = ks["n_measured"]
    if not ns:
        return f"kappa = {kappa}: nothing measured ({ks['stopped']})"
    stop = f"; stops before n = 2^{int(math.log2(ks['stopped_at']))}: {ks['stopped']}" if ks["stopped_at"] else ""
    return (f"kappa = {kappa} (B = {fmt(ks['B'][0])}..{fmt(ks['B'][-1])}), n = 2^{int(math.log2(ns[0]))}.."
            f"2^{int(math.log2(ns[-1]))}, rank {ks['rank'][0]}..{ks['rank'][-1]}: measured exponent "
            f"{fmt(ks['measured_slope'])}, predicted {fmt(ks['predicted_slope'])} (n d (r* + r0)), rank term alone "
            f"{fmt(ks['rank_only_slope'])} (n r* d); 1 + log_n r* = {fmt(ks['exponent_at_largest'])} at the "
            f"largest n; errors within the certificate: {'yes' if ks['errors_within_bound'] else 'NO'}{stop}")


def _exact_line(ex: dict) -> str:
    sampled = [n for n, r in zip(ex["n"], ex["rows_timed"]) if r < n]
    return (f"exact attention, n = 2^{int(math.log2(ex['n'][0]))}..2^{int(math.log2(ex['n'][-1]))}: exponent "
            f"{fmt(ex['slope'])}" + (f" (timed on {ex['rows_timed'][-1]} sampled query rows and scaled from n = "
                                     f"2^{int(math.log2(sampled[0]))})" if sampled else ""))


def verdicts(results) -> list[Verdict]:
    """The runtime claim, from ``results["runtime"]``."""
    res = results["runtime"]
    s, first = res.meta["summary"], res.rows[0]
    numbers = [_kappa_line(k, ks) for k, ks in s["kappas"].items()]
    cost, ex = s["cost_model"], s["exact"]
    if cost:
        numbers.append(f"kernel cost fitted to all {cost['points']} measured points: t = n d ({fmt(cost['a'])} + "
                       f"{fmt(cost['b'])} r) CPU s, a per-row overhead of r0 = {fmt(cost['r0'])} rank units "
                       f"(rms error {fmt(cost['rms_log'])} in ln t)")
    if ex["slope"] is not None:
        numbers.append(_exact_line(ex))
    tested = [k for k, ks in s["kappas"].items() if len(ks["n_measured"]) >= 3 and ks["predicted_slope"] is not None]
    off = [k for k in tested
           if abs(s["kappas"][k]["measured_slope"] - s["kappas"][k]["predicted_slope"]) > SLOPE_TOLERANCE]
    if not tested or len(ex["n"]) < 3:
        status, why = NOT_CHECKED, "fewer than 3 measured sizes"
    elif not off and ex["slope"] >= EXACT_MIN_SLOPE:
        status, why = CONSISTENT, ("at every kappa the time grows as the certified rank predicts, and exact "
                                   "attention's like n^2")
    else:
        status = NOT_CONSISTENT
        why = "; ".join(f"kappa = {k}: measured {fmt(s['kappas'][k]['measured_slope'])} against predicted "
                        f"{fmt(s['kappas'][k]['predicted_slope'])}" for k in off)
        if ex["slope"] < EXACT_MIN_SLOPE:
            why += ("; " if why else "") + f"exact's exponent {fmt(ex['slope'])} < {EXACT_MIN_SLOPE}"
    return [Verdict(
        claim_id="runtime", title="Runtime of the polynomial method in the theorem's regime",
        claim="For B = o(sqrt(log n)), d = O(log n) and eps = 1/poly(n) the polynomial method computes attention in "
              "n^(1+o(1)) time, exact attention in n^2 (Alman and Song 2023; docs/theory.md §5).",
        status=status,
        rule=f"for every kappa with at least 3 measured sizes, the log-log slope of the measured CPU time against n "
             f"is within {SLOPE_TOLERANCE} of the slope of the cost n d (r* + r0) over the same sizes (r* the "
             f"certified rank at that n; r0 the kernel's per-row overhead, one constant fitted to all points); and "
             f"exact attention's slope over at least 3 sizes is at least {EXACT_MIN_SLOPE}",
        falsifier=f"a kappa whose time grows more than {SLOPE_TOLERANCE} faster or slower (in the exponent) than its "
                  f"certified rank predicts, or exact attention growing slower than n^{EXACT_MIN_SLOPE}",
        strength="tests that the implementation's time follows the certified rank at d = ceil(log2 n), eps = 1/n; "
                 "n^(1+o(1)) itself cannot be seen at finite n: at fixed kappa log_n r* stays near a positive "
                 "constant at these sizes, so the exponents here lie well above 1; the 0.15 tolerance is close "
                 "to the run-to-run variation on a shared machine, so one run's verdict can flip "
                 "(docs/theory.md §9.4)",
        numbers=numbers, figures=("fig2_runtime",), why=why,
        settings=f"d = ceil({first['c']:g} log2 n), eps = n^-{first['eps_exponent']:g}; CPU time (time.process_time), "
                 f"best of up to {first['timing_repeats']} calls within {first['timing_budget']:g} s; polynomial "
                 f"calls above {first['max_flops']:.2g} flops (4 n r d) skipped",
        values={"kappas": {k: {x: v[x] for x in ("measured_slope", "predicted_slope", "rank_only_slope",
                                                 "exponent_at_largest")} for k, v in s["kappas"].items()},
                "exact_slope": ex["slope"], "cost_model": cost},
    )]
