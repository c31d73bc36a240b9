"""Runtime of the polynomial method, in two parts: exact asymptotics and a calibrated measurement (docs/theory.md §5.5).

*Asymptotics* (:mod:`.runtime_asymptotics`, computed in :func:`summarize`):
``log_n r*`` from the certificates in exact arithmetic up to ``n = 2^1024``, for
two ``o(sqrt(log n))`` norm schedules and the fixed-``kappa`` control.

*Measurement* (the sweep's one point, :func:`runtime_point`): in the theorem's
regime ``d = ceil(c log2 n)``, ``eps = n^-a`` (``c = a = 1``), every timed call
in one process, interleaved in a random order (seeded) across

* the test: the fused polynomial forward with its certified plan at each
  ``(n = 2^k, kappa)``, ``B = kappa sqrt(ln n)`` (calls above ``max_flops``,
  ``4 n r d``, are skipped with the reason; the error is checked against exact
  attention on ``check_rows`` rows), and exact attention on every query row at
  each ``n`` whose ``4 n^2 d`` is within ``exact_max_flops`` (no sampled rows),
  in tiles of queries by keys that stay in cache (:func:`.runtime_model.exact_call`);
* the calibration: both algorithms at ``calibration_points`` (sizes that are not
  powers of two and ranks that the test does not use), unless ``calibration``
  names a stored calibration file of this machine.

Each item is timed ``timing_repeats`` times in CPU seconds
(``time.process_time``: on a shared machine it counts the work, not the waits),
each timing running the call ``inner`` times so it lasts at least ``min_call``
seconds; a row keeps every repeat's per-call time (``t_repeats``) and their
minimum ``t``. :func:`summarize` fits the cost model of :mod:`.runtime_model`
to the calibration rows and compares each test series with it.

Inputs: ``Q, K`` uniform in ``[-B, B]`` with one all-``B`` row each (so the
logit range ``R = B^2`` is attained), ``V`` uniform in ``[-1, 1]``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from promptlimits._checks import check_choice, check_positive_float, check_positive_int, check_real, physical_memory
from promptlimits.polyapprox import KINDS
from promptlimits.sweep import SweepDef

from . import runtime_asymptotics as asym
from . import runtime_model as model
from ._settings import Option, resolve, scale_table
from .verdict import (
    CONSISTENT,
    INCONCLUSIVE,
    NOT_CHECKED,
    NOT_CONSISTENT,
    VACUOUS,
    Verdict,
    figures_of,
    fmt,
)

__all__ = ["runtime_point", "check_point", "summarize", "make_sweep", "verdicts", "SETTINGS", "OPTIONS",
           "parse_calibration_points", "FIGURE_GRID"]

#: Grids and budgets per scale (keys are the overrides ``make_sweep`` accepts).
SETTINGS = scale_table(
    {"log2_ns": tuple(range(9, 16)), "kappas": (0.05, 0.1, 0.15), "c": 1.0, "eps_exponent": 1.0, "kind": "auto",
     "max_flops": 2e9, "exact_max_flops": 4e9, "check_rows": 64, "timing_repeats": model.MIN_REPEATS,
     "min_call": 0.01, "calibration": "",
     "calibration_points": "poly:1536:5:1 poly:1536:5:3 poly:1536:16:1 poly:1536:16:2 poly:1536:20:2 "
                           "poly:1536:16:3 poly:6144:5:1 poly:6144:5:3 poly:6144:16:2 poly:6144:20:2 "
                           "exact:640:7 exact:768:16 exact:1152:9 exact:1536:20 exact:2560:11 exact:3072:6 "
                           "exact:5120:12"},
    tiny={"log2_ns": (7, 8, 9, 10), "kappas": (0.05, 0.15), "max_flops": 1e8, "exact_max_flops": 1e8,
          "timing_repeats": model.MIN_REPEATS, "min_call": 0.002,
          "calibration_points": "poly:200:5:1 poly:200:5:3 poly:200:16:2 poly:600:16:1 poly:600:20:2 "
                                "poly:600:5:2 exact:96:6 exact:160:9 exact:200:20 exact:300:6 exact:400:4 "
                                "exact:600:11"},
    quick={},
    full={"log2_ns": tuple(range(9, 17)), "kappas": (0.05, 0.1, 0.15, 0.2), "max_flops": 2e10,
          "exact_max_flops": 6e10, "timing_repeats": 15,
          "calibration_points": "poly:1536:5:1 poly:1536:5:3 poly:1536:10:4 poly:1536:17:1 poly:1536:17:2 "
                                "poly:1536:20:2 poly:6144:5:1 poly:6144:5:3 poly:6144:10:4 poly:6144:17:2 "
                                "exact:640:7 exact:768:16 exact:1152:9 exact:1536:20 exact:2560:11 exact:3072:6 "
                                "exact:5120:12"},
)

#: Options of ``promptlimits sweep runtime``.
OPTIONS = (
    Option("--log2-n", "log2_ns", int, "+", help="log2 of the sequence lengths"),
    Option("--kappa", "kappas", float, "+", help="kappa = B/sqrt(ln n) of the polynomial method"),
    Option("--c", "c", float, help="d = ceil(c log2 n) (1: the theorem's regime)"),
    Option("--eps-exponent", "eps_exponent", float, help="a > 0: eps = n^-a (1: the theorem's regime)"),
    Option("--kind", "kind", str, None, ("auto",) + KINDS, help="polynomial kind"),
    Option("--max-flops", "max_flops", float, help="skip polynomial calls above 4 n r d flops"),
    Option("--exact-max-flops", "exact_max_flops", float, help="time exact attention (every row) up to 4 n^2 d flops"),
    Option("--timing-repeats", "timing_repeats", int, help=f"timings per item (the rule needs >= {model.MIN_REPEATS})"),
    Option("--calibration", "calibration", str,
           help="a runtime sidecar or calibration JSON of this machine to use instead of calibrating"),
)

#: ``log2 n`` of the asymptotics panel of the figure (the rule uses ``runtime_asymptotics.RULE_GRID``).
FIGURE_GRID = (8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)

_TIMING = ("t", "calls", "t_repeats", "inner")


def parse_calibration_points(text: str) -> list[tuple]:
    """``"poly:n:d:degree ... exact:n:d"`` as ``[("poly", n, d, degree), ("exact", n, d, None), ...]``."""
    out = []
    for item in str(text).split():
        parts = item.split(":")
        try:
            if parts[0] == "poly" and len(parts) == 4:
                out.append(("poly", int(parts[1]), int(parts[2]), int(parts[3])))
                continue
            if parts[0] == "exact" and len(parts) == 3:
                out.append(("exact", int(parts[1]), int(parts[2]), None))
                continue
        except ValueError:
            pass
        raise ValueError(f"calibration point {item!r} is not 'poly:n:d:degree' or 'exact:n:d'")
    if any(n < 8 or d < 1 or (g is not None and g < 0) for _, n, d, g in out):
        raise ValueError(f"calibration points need n >= 8, d >= 1, degree >= 0: {text!r}")
    return out


def _grid(text: str, cast) -> list:
    return [cast(x) for x in str(text).split(",") if x]


def _size(k: int, params: dict) -> tuple[int, int, float]:
    """``(n, d, eps)``: ``d = ceil(c log2 n)``, ``eps = n^-a`` (``threshold.theorem_regime``)."""
    from promptlimits.threshold import theorem_regime

    return (1 << k, *theorem_regime(k, c=params["c"], a=params["eps_exponent"]))


def check_point(params: dict) -> None:
    """Validate the point (called by the sweep engine before anything runs)."""
    ks = [check_positive_int(k, "log2 n", minimum=2, maximum=40) for k in _grid(params.get("log2_ns", ""), int)]
    for x in _grid(params.get("kappas", ""), float):
        check_positive_float(x, "kappa = B/sqrt(ln n)")
    if not ks:
        raise ValueError("the log2 n grid is empty: give at least one value")
    check_positive_float(params.get("c"), "c (d = ceil(c log2 n))")
    check_positive_float(params.get("eps_exponent"), "eps_exponent (eps = n^-a, a > 0)")
    memory = physical_memory()
    for k in ks:
        n, d, eps = _size(k, params)
        check_real(eps, "eps = n^-a", low=1e-12, high=1.0, high_open=True)  # float certificates stop near 1e-12
        need = 4 * n * d * 8
        if memory is not None and need > memory // 2:
            raise ValueError(f"n = 2^{k} with d = {d} needs about {need / 2**30:.1f} GiB for Q, K, V and the output, "
                             f"more than half of this machine's {memory / 2**30:.1f} GiB")
    check_choice(params.get("kind", "auto"), "polynomial kind", ("auto",) + KINDS)
    for key in ("max_flops", "exact_max_flops", "min_call"):
        check_positive_float(params.get(key), key)
    check_positive_int(params.get("check_rows"), "check_rows")
    check_positive_int(params.get("timing_repeats"), "timing_repeats")
    if params.get("calibration"):
        model.load_calibration(params["calibration"])
    else:
        parse_calibration_points(params.get("calibration_points", ""))


def _inputs(n: int, d: int, B: float, rng):
    """Q, K uniform in [-B, B] with one all-B row each (so ||.||max = B and R = B^2 is hit); V in [-1, 1]."""
    Q = rng.uniform(-B, B, size=(n, d))
    K = rng.uniform(-B, B, size=(n, d))
    Q[0] = B
    K[rng.integers(n)] = B
    V = rng.uniform(-1.0, 1.0, size=(n, d))
    return Q, K, V


def _items(params: dict, rng) -> tuple[list[dict], list, list]:
    """The rows to fill; for each, its call (``None`` if skipped, with the reason in the row) and, for the
    polynomial test items, ``(plan, Q, K, V)`` for the error check."""
    from promptlimits.poly_attention import make_plan

    rows, calls, checks = [], [], []
    blank = {"role": "test", "kappa": None, "n": 0, "d": 0, "eps_target": None, "B": None, "degree": None,
             "rank": None, "kind_used": "", "log_n_rank": None, "ops": None, "measured": False, "reason": "",
             "err_max": None, "err_bound": None}
    for k in _grid(params["log2_ns"], int):
        n, d, eps = _size(k, params)
        row = {**blank, "algo": "exact", "n": n, "d": d, "ops": 4.0 * n * n * d}
        if row["ops"] > float(params["exact_max_flops"]):
            rows.append({**row, "reason": f"one call is {row['ops']:.2g} flops > exact_max_flops "
                                          f"{float(params['exact_max_flops']):.2g}"})
            calls.append(None)
        else:
            Q, K, V = _inputs(n, d, 1.0, rng)
            rows.append(row)
            calls.append(lambda Q=Q, K=K, V=V: model.exact_call(Q, K, V))
        for kappa in _grid(params["kappas"], float):
            B = kappa * math.sqrt(math.log(n))
            row = {**blank, "algo": "poly", "kappa": kappa, "n": n, "d": d, "eps_target": eps, "B": B}
            try:
                plan = make_plan(d, B, eps=eps, kind=params.get("kind", "auto"), keys=n)
            except ValueError as exc:
                rows.append({**row, "reason": f"no certified plan: {exc}"})
                calls.append(None)
                continue
            row.update(degree=plan.degree, rank=plan.rank, kind_used=plan.kind, ops=4.0 * n * plan.rank * d,
                       log_n_rank=math.log(plan.rank) / math.log(n))
            if row["ops"] > float(params["max_flops"]):
                rows.append({**row, "reason": f"one call is {row['ops']:.2g} flops > max_flops "
                                              f"{float(params['max_flops']):.2g}"})
                calls.append(None)
                continue
            Q, K, V = _inputs(n, d, B, rng)
            rows.append(row)
            calls.append(lambda plan=plan, Q=Q, K=K, V=V: plan(Q, K, V))
            checks.append((len(rows) - 1, plan, Q, K, V))
    if not params.get("calibration"):
        for algo, n, d, g in parse_calibration_points(params["calibration_points"]):
            Q, K, V = _inputs(n, d, 0.5, rng)
            row = {**blank, "role": "calibration", "algo": algo, "n": n, "d": d}
            if algo == "poly":
                plan = make_plan(d, 0.5, degree=g, kind="taylor", certify=False)
                row.update(degree=g, rank=plan.rank, kind_used=plan.kind, ops=4.0 * n * plan.rank * d)
                calls.append(lambda plan=plan, Q=Q, K=K, V=V: plan(Q, K, V))
            else:
                row["ops"] = 4.0 * n * n * d
                calls.append(lambda Q=Q, K=K, V=V: model.exact_call(Q, K, V))
            rows.append(row)
    return rows, calls, checks


#: glibc ``mallopt`` parameters: with both fixed, freed memory stays with the process (no page faults per call).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory in the process instead of returning it to the system (``mallopt``).

    By default the largest arrays of a run are mapped and unmapped on every
    call (the dynamic mmap and trim thresholds follow the largest block
    freed), so the largest size pays page faults that smaller ones do not: a
    cost of the allocator, not of the algorithm, and it grows with the
    machine's load. ``False`` where this is not glibc.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):
        return False


def _time_interleaved(calls: list, repeats: int, min_call: float, rng) -> tuple[list, list]:
    """Per timed call: ``inner`` and the per-call CPU seconds of each of ``repeats`` timings, taken in a random
    interleaved order (every item's ``r``-th timing is in the ``r``-th shuffled round)."""
    clock = time.process_time
    live = [i for i, c in enumerate(calls) if c is not None]
    inner = {}
    for i in live:  # warm up (compile, load caches), then size the inner loop on the fastest of three calls
        calls[i]()
        once = []
        for _ in range(3):
            t0 = clock()
            calls[i]()
            once.append(clock() - t0)
        inner[i] = max(1, math.ceil(min_call / max(min(once), 1e-6)))
    times = {i: [] for i in live}
    for _ in range(repeats):
        for i in rng.permutation(live):
            fn, m = calls[i], inner[i]
            t0 = clock()
            for _ in range(m):
                fn()
            times[i].append((clock() - t0) / m)
    return [inner.get(i) for i in range(len(calls))], [times.get(i) for i in range(len(calls))]


def runtime_point(params: dict, seed: int) -> list[dict]:
    """Build every item, time them interleaved, check the polynomial outputs (module docstring)."""
    from promptlimits.attention import exact_attention

    check_point(params)
    rng = np.random.default_rng(seed)
    kept = _keep_freed_memory()
    rows, calls, checks = _items(params, rng)
    inner, times = _time_interleaved(calls, int(params["timing_repeats"]), float(params["min_call"]), rng)
    for row, fn, reps, k in zip(rows, calls, times, inner):
        if fn is None:
            row.update({"t": None, "calls": None, "t_repeats": "", "inner": None, "freed_memory_kept": kept})
        else:
            row.update(measured=True, t=float(min(reps)), calls=len(reps) * k, inner=k, freed_memory_kept=kept,
                       t_repeats=" ".join(repr(float(x)) for x in reps))
    for i, plan, Q, K, V in checks:
        m = min(int(params["check_rows"]), rows[i]["n"])
        rows[i]["err_max"] = float(np.max(np.abs(plan(Q[:m], K, V) - exact_attention(Q[:m], K, V))))
        rows[i]["err_bound"] = float(plan.output_bound(V))
    return rows


def make_sweep(scale: str = "quick", *, seed: int = 0, **overrides) -> SweepDef:
    """The runtime sweep at ``scale``: one point that times every item (module docstring)."""
    s = resolve(SETTINGS, scale, overrides)
    ks = [check_positive_int(k, "log2 n", minimum=2, maximum=40) for k in s["log2_ns"]]
    kappas = [check_positive_float(x, "kappa = B/sqrt(ln n)") for x in s["kappas"]]
    if not ks:
        raise ValueError("the log2 n grid is empty: give at least one value")
    if not kappas:
        raise ValueError("the kappa grid is empty: give at least one value")
    fixed = {key: s[key] for key in ("c", "eps_exponent", "kind", "max_flops", "exact_max_flops", "check_rows",
                                     "timing_repeats", "min_call", "calibration", "calibration_points")}
    fixed["calibration"] = str(fixed["calibration"] or "")
    fixed["log2_ns"] = ",".join(str(k) for k in ks)
    fixed["kappas"] = ",".join(f"{x:g}" for x in kappas)
    return SweepDef(name="runtime", point="promptlimits.experiments.runtime:runtime_point",
                    points=({"part": "timing"},), fixed=fixed, seed=int(seed),
                    check="promptlimits.experiments.runtime:check_point",
                    summary="promptlimits.experiments.runtime:summarize",
                    description="runtime: exact asymptotics of log_n r*, and timings beside a calibrated cost model "
                                "(docs/theory.md §5.5)")


# ----------------------------------------------------------------------------
# Summary
# ----------------------------------------------------------------------------


def _repeats(row) -> list[float]:
    return [float(x) for x in str(row["t_repeats"]).split()]


def _series(rows: list[dict], predict, control, seed: int) -> dict:
    """One test series: sizes, times, the gap to the model and to the control, with intervals."""
    meas = sorted((r for r in rows if r["measured"]), key=lambda r: r["n"])
    stopped = sorted((r for r in rows if not r["measured"]), key=lambda r: r["n"])
    try:
        predicted, problem = [predict(r) for r in meas], ""
    except ValueError as exc:  # the calibration cannot speak for these sizes: the series is not checked
        predicted, problem = [None] * len(meas), str(exc)
    out = {"n": [r["n"] for r in meas], "d": [r["d"] for r in meas], "rank": [r["rank"] for r in meas],
           "B": [r["B"] for r in meas], "t": [r["t"] for r in meas], "model_problem": problem,
           "predicted_t": predicted, "repeats": min((len(_repeats(r)) for r in meas), default=0),
           "stopped_at": stopped[0]["n"] if stopped else None, "stopped": stopped[0]["reason"] if stopped else "",
           "gap": None, "control": None, "exponent": None, "status": NOT_CHECKED, "control_status": NOT_CHECKED,
           "errors_within_bound": all(r["err_max"] is None or r["err_max"] <= r["err_bound"] for r in meas)}
    if len(meas) < 3 or out["repeats"] < 2 or problem:
        return out
    reps = {r["n"]: _repeats(r) for r in meas}
    ns = out["n"]
    out["gap"] = model.slope_gap(ns, reps, dict(zip(ns, out["predicted_t"])), seed=seed)
    out["control"] = model.slope_gap(ns, reps, {r["n"]: control(r, meas[0]) for r in meas}, seed=seed)
    out["exponent"] = model.slope_gap(ns, reps, {n: 1.0 for n in ns}, seed=seed)  # gap to a constant = slope
    if out["repeats"] >= model.MIN_REPEATS:
        out["status"] = model.classify(out["gap"]["low"], out["gap"]["high"])
        out["control_status"] = model.classify(out["control"]["low"], out["control"]["high"])
    return out


def _calibration(rows: list[dict]) -> dict | None:
    path = rows[0].get("calibration") if rows else ""
    if path:
        return {**model.load_calibration(path), "source": str(path)}
    cal = [r for r in rows if r["role"] == "calibration" and r["measured"]]
    try:
        return {**model.calibrate(cal), "source": "this run"}
    except ValueError:
        return None


def summarize(rows: list[dict]) -> dict:
    """The calibration, each series beside its prediction and control, and the exact asymptotics."""
    table = asym.exponent_table()
    out = {"asymptotics": {"table": table, **asym.asymptotic_verdict(table)},
           "asymptotics_figure": asym.exponent_table(grid=FIGURE_GRID), "calibration": None,
           "kappas": {}, "exact": None}
    cal = _calibration(rows)
    out["calibration"] = cal
    if cal is None:
        return out
    test = [r for r in rows if r["role"] == "test"]
    cal_ns = {(r[1], r[2]) for r in cal["points"]}
    cal_ranks = {r[3] for r in cal["points"] if r[0] == "poly"}
    out["calibration_disjoint"] = (not any((r["n"], r["d"]) in cal_ns for r in test)
                                   and not any(r["rank"] in cal_ranks for r in test if r["algo"] == "poly"))

    def poly(r):
        return model.predict(cal, "poly", r["n"], r["d"], r["rank"])

    def poly_control(r, first):  # the rank frozen at the smallest size's: the cost if r* did not grow
        return model.predict(cal, "poly", r["n"], r["d"], first["rank"])

    for i, kappa in enumerate(sorted({r["kappa"] for r in test if r["algo"] == "poly"})):
        out["kappas"][f"{kappa:g}"] = _series([r for r in test if r["algo"] == "poly" and r["kappa"] == kappa],
                                              poly, poly_control, seed=i)

    def exact(r):
        return model.predict(cal, "exact", r["n"], r["d"])

    def exact_control(r, first):  # linear in n: what n^(1+o(1)) would look like
        return r["n"] * r["d"]

    out["exact"] = _series([r for r in test if r["algo"] == "exact"], exact, exact_control, seed=99)
    return out


# ----------------------------------------------------------------------------
# Verdict (claim 2 of the report)
# ----------------------------------------------------------------------------

#: Worst first: the combined status is the worst of the two parts'.
_ORDER = (NOT_CONSISTENT, VACUOUS, NOT_CHECKED, INCONCLUSIVE, CONSISTENT)


def _interval(g: dict | None) -> str:
    return "n/a" if g is None else f"{fmt(g['gap'])} [{fmt(g['low'])}, {fmt(g['high'])}]"


def _series_line(name: str, s: dict) -> str:
    if not s["n"]:
        return f"{name}: nothing measured ({s['stopped']})"
    stop = f"; stops before n = 2^{int(math.log2(s['stopped_at']))}: {s['stopped']}" if s["stopped_at"] else ""
    rank = f", rank {s['rank'][0]}..{s['rank'][-1]}" if s["rank"][0] is not None else ""
    exp = s["exponent"]
    return (f"{name}, n = 2^{int(math.log2(s['n'][0]))}..2^{int(math.log2(s['n'][-1]))}{rank}: measured exponent "
            f"{_interval(exp)}, predicted {fmt(s['gap']['predicted_slope']) if s['gap'] else 'n/a'}; measured - "
            f"predicted {_interval(s['gap'])} -> {s['status']}; control {_interval(s['control'])} -> "
            f"{s['control_status']}{stop}")


def _measured_part(s: dict) -> tuple[str, str]:
    series = {f"kappa = {k}": v for k, v in s["kappas"].items()}
    if s.get("exact"):
        series["exact"] = s["exact"]
    if s["calibration"] is None:
        return NOT_CHECKED, "no calibration (too few calibration points measured)"
    problems = [v["model_problem"] for v in series.values() if v["model_problem"]]
    if problems:
        return NOT_CHECKED, problems[0]
    if not s.get("calibration_disjoint"):
        return NOT_CHECKED, "the calibration shares a size or a rank with the test"
    checked = {k: v for k, v in series.items() if v["status"] != NOT_CHECKED}
    if not checked or "exact" not in checked:
        return NOT_CHECKED, (f"fewer than 3 sizes or fewer than {model.MIN_REPEATS} repeats in "
                             f"{sorted(set(series) - set(checked))}")
    weak = [k for k, v in checked.items() if v["control_status"] != NOT_CONSISTENT]
    bad = [k for k, v in checked.items() if v["status"] == NOT_CONSISTENT]
    open_ = [k for k, v in checked.items() if v["status"] == INCONCLUSIVE]
    if bad:
        return NOT_CONSISTENT, f"measured - predicted slope outside +-{model.SLOPE_MARGIN} for {bad}"
    if weak:
        return INCONCLUSIVE, f"the control was not rejected for {weak}: these sizes cannot tell the models apart"
    if open_:
        return INCONCLUSIVE, f"the interval straddles +-{model.SLOPE_MARGIN} for {open_}"
    return CONSISTENT, (f"every series' interval lies within +-{model.SLOPE_MARGIN} of the calibrated model and every "
                        "control's outside it")


def _exact_cost_per_operation(rows: list[dict]) -> list[str]:
    """Exact attention's measured time per pair and feature, ``t / (n^2 d)``, at each test size, beside the largest
    calibration size: the cost model's per-operation costs are constants, so a cost per operation that rises past the
    calibrated sizes is what a positive slope gap measures (docs/theory.md §9.4)."""
    test = sorted((r for r in rows if r.get("algo") == "exact" and r.get("role") == "test" and r.get("t")),
                  key=lambda r: r["n"])
    cal = [r["n"] for r in rows if r.get("algo") == "exact" and r.get("role") == "calibration" and r.get("t")]
    if not test or not cal:
        return []
    per = ", ".join(f"{fmt(r['t'] / (r['n'] ** 2 * r['d']) * 1e9)} (2^{int(math.log2(r['n']))})" for r in test)
    return [f"exact attention, measured ns per pair and feature t / (n^2 d): {per}; calibrated at n <= {max(cal)}, "
            "where the model's cost per operation is fixed: a rise past the calibrated sizes (for instance memory "
            "traffic once K and V outgrow the cache) is what a positive slope gap measures"]


def verdicts(results) -> list[Verdict]:
    """The runtime claim, from ``results["runtime"]``: one verdict, two parts (docs/theory.md §9.4)."""
    res = results["runtime"]
    s, first = res.meta["summary"], res.rows[0]
    a = s["asymptotics"]
    numbers = []
    for name, v in a["table"].items():
        lim = f", leading-order limit {fmt(v['limit'])}" if "limit" in v else ""
        numbers.append(f"asymptotics, {name}: log_n r* = " + ", ".join(
            f"{fmt(e)} (2^{k})" for k, e in zip(v["log2_n"], v["exponent"])) +
            f"; strictly decreasing: {'yes' if a['passed'][name] else 'no'}{lim}")
    cal = s["calibration"]
    if cal:
        coef = "; ".join(f"{algo}: " + ", ".join(f"{k} {fmt(c)}" for k, c in v.items())
                         for algo, v in cal["coefficients"].items())
        numbers.append(f"cost model ({cal['source']}, {len(cal['points'])} calibration points, on "
                       f"{cal['machine']['cpu']}; rms relative error "
                       + ", ".join(f"{k} {fmt(v)}" for k, v in cal["rms_rel"].items()) + f"): s per operation {coef}")
    numbers += [_series_line(f"kappa = {k}", v) for k, v in s["kappas"].items()]
    if s.get("exact"):
        numbers.append(_series_line("exact attention (every query row)", s["exact"]))
        numbers += _exact_cost_per_operation(res.rows)
    measured, why_m = _measured_part(s)
    status = min((a["status"], measured), key=_ORDER.index)
    why = f"asymptotics: {a['status']}; measurement: {measured} ({why_m})"
    return [Verdict(
        claim_id="runtime", title="Runtime of the polynomial method in the theorem's regime",
        claim="For B = o(sqrt(log n)), d = O(log n) and eps = 1/poly(n) the polynomial method computes attention in "
              "n^(1+o(1)) time, exact attention in n^2 (Alman and Song 2023; docs/theory.md §5).",
        status=status,
        rule=f"(1) asymptotics, exact: on log2 n = {', '.join(str(k) for k in asym.RULE_GRID)} "
             f"(d = log2 n, eps = 1/n), "
             f"log_n r* strictly decreases at every step for B = 1 and B = sqrt(ln n)/ln ln n, and does not for the "
             f"fixed-kappa control B = kappa sqrt(ln n) (kappa = 0.1, 0.15), whose log_n r* tends to a positive "
             f"limit; (2) measurement: for every kappa and for exact attention (>= 3 sizes, >= {model.MIN_REPEATS} "
             f"repeats each) the 95% bootstrap interval of the measured minus predicted log-log slope lies within "
             f"+-{model.SLOPE_MARGIN} (prediction: operation counts times per-operation costs calibrated on other "
             f"sizes and ranks), and the control's (rank frozen at the smallest size; exact: cost linear in n) "
             f"lies outside. The verdict is the worse of the two parts",
        falsifier="(1) a step of the grid where log_n r* does not fall in an o(sqrt(log n)) schedule (a control that "
                  f"falls makes the rule vacuous); (2) an interval outside +-{model.SLOPE_MARGIN} (not consistent) "
                  "or straddling it (inconclusive)",
        strength="(1) is exact and cannot flip between runs, but a finite grid shows a decrease, not the limit 0; "
                 "(2) tests that the implementation runs at its certified operation count, with an interval that "
                 "carries the timing noise: it can come out inconclusive on a loaded machine "
                 "(docs/theory.md §5.5, §9.4)",
        numbers=numbers, figures=figures_of("runtime"), why=why,
        settings=f"d = ceil({first['c']:g} log2 n), eps = n^-{first['eps_exponent']:g}; CPU time (time.process_time), "
                 f"minimum of {first['timing_repeats']} timings of >= {first['min_call']:g} s, interleaved in random "
                 f"order; polynomial calls above {first['max_flops']:.2g} flops (4 n r d) and exact calls above "
                 f"{first['exact_max_flops']:.2g} (4 n^2 d) skipped",
        values={"asymptotics": a["status"], "measurement": measured,
                "kappas": {k: {"gap": v["gap"], "control": v["control"], "status": v["status"]}
                           for k, v in s["kappas"].items()},
                "exact": None if not s.get("exact") else {"exponent": s["exact"]["exponent"], "gap": s["exact"]["gap"],
                                                          "status": s["exact"]["status"]}},
    )]
