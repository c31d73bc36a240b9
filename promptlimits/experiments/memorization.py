"""Least memorizing prompt length against N, tol and rho, beside the counting bound (docs/theory.md §7).

A point ``(axis, d, L, delta, gamma, tol, rho, data_seed)`` builds the frozen
model ``PromptedModel.from_seed(d, s=s, scale=logit_scale, seed=model_seed)``,
the grid ``G_delta`` (``N = (1/delta)^(d L)`` inputs), one dataset of the
hard family placed on a reference prompt's output
(:func:`promptlimits.memorization.relative_hard_family`; bits from the point's
seed), and searches the least ``Lp`` with
:func:`promptlimits.memorization.least_prompt_length`. Beside it, the counting
bound :func:`promptlimits.capacity.counting_bound` for the *same* model, ``rho``,
``gamma`` and ``tol``.

Defaults (chosen by a small exploration, see the report of issue 5): ``s = 8``,
logit scale 1, softmax, ``gamma = 0.02``, ``tol = gamma / 4``, ``rho = 4``.
With random weights and arbitrary ``{0, gamma}`` targets tuning plateaus near
``gamma / 2`` for any ``Lp`` (see :mod:`promptlimits.memorization`).

Rows: ``N``, ``least_Lp`` (``None`` when ``status`` is ``"not reached within
budget"``), ``status``, ``trials`` (``Lp:best_err;...``), ``best_err`` (the best
error at the largest ``Lp`` tried), ``K_P``, ``eta``, ``M``, ``bound``
(``N L log 2 / log M``), ``bound_Lp_min`` (its ceiling), ``above_bound``
(``least_Lp >= bound``; ``None`` if not reached), ``seconds`` (the only timing
column).

Determinism: a row depends only on the point's settings and seed -- the
search's budgets are counted (``max_Lp``, ``restarts``, ``steps``), never
timed -- so two runs give the same CSV apart from ``seconds``, on any machine
and under any load. ``time_limit`` (seconds per search) is a safety net far
above the expected time: if it fires, :func:`least_lp_point` raises
:class:`SearchStopped` instead of returning a row, so the sweep saves the
other points, reports the point as failed and ``--resume`` recomputes it; a
time-limited search never reaches the CSV, the summary or the verdict.

Summary: the log-log least-squares fit ``least_Lp ~ a N^b`` over the reached
points of the ``N`` axis, the number of reached / not-reached points and the
number of points below the bound (must be 0).
"""

from __future__ import annotations

import time

import numpy as np

from promptlimits._checks import check_choice, check_positive_float, check_positive_int
from promptlimits.attention import VARIANTS
from promptlimits.capacity import check_gap, counting_bound
from promptlimits.datasets import cells_per_side, grid
from promptlimits.memorization import REFERENCE_ROWS, STOPPED, least_prompt_length, relative_hard_family
from promptlimits.model import PromptedModel
from promptlimits.sweep import SweepDef
from promptlimits.tuning import check_tuning_memory

from ._settings import Option, resolve, scale_table
from .verdict import CONSISTENT, NOT_CHECKED, NOT_CONSISTENT, Verdict, fmt

__all__ = ["least_lp_point", "check_point", "summarize", "make_sweep", "verdicts", "fit_power", "SETTINGS",
           "OPTIONS", "DEFAULTS", "LAYOUT", "ONE_DATASET", "MODEL_OPTIONS", "frozen_model", "check_grid",
           "check_model", "SearchStopped"]

#: Fixed parameters shared by every point (a point may override them).
DEFAULTS = {
    "s": 8, "logit_scale": 1.0, "variant": "softmax", "model_seed": 0, "gamma": 0.02, "tol": 0.005,
    "rho": 4.0, "max_Lp": 16, "steps": 200, "restarts": 2, "time_limit": 600.0,
}

#: Settings that lay out the points rather than enter them: ``shapes`` are the ``(d, L, delta)``
#: of the ``N`` axis (``N = (1/delta)^(d L)``); the ``tol`` and ``rho`` axes use :data:`ONE_DATASET`'s grid.
LAYOUT = ("shapes", "tol_values", "rho_values", "repeats")

#: One dataset's grid ``(d, L, delta) = (1, 1, 1/4)`` (``N = 4``): the ``tol`` and ``rho`` axes, and
#: ``promptlimits memorize least-lp`` (there with the data seed 0 and no time limit).
ONE_DATASET = {"d": 1, "L": 1, "delta": 0.25, "data_seed": 0, "time_limit": None}

_QUICK_SHAPES = ((1, 1, 0.5), (1, 1, 0.25), (2, 1, 0.5), (1, 2, 0.5), (1, 1, 0.125), (3, 1, 0.5), (1, 1, 1 / 16))

#: Grids and budgets per scale (keys are the overrides ``make_sweep`` accepts).
SETTINGS = scale_table(
    DEFAULTS,
    tiny={"shapes": ((1, 1, 0.5), (1, 1, 0.25), (2, 1, 0.5)), "tol_values": (), "rho_values": (), "repeats": 1,
          "max_Lp": 8, "steps": 100, "restarts": 1, "time_limit": 120.0},
    quick={"shapes": _QUICK_SHAPES, "tol_values": (0.0025, 0.005, 0.0075), "rho_values": (1.0, 2.0, 4.0),
           "repeats": 2, "max_Lp": 16, "steps": 300, "restarts": 3, "time_limit": 600.0},
    full={"shapes": _QUICK_SHAPES + ((2, 1, 0.25), (4, 1, 0.5), (2, 2, 0.5)),
          "tol_values": (0.002, 0.0035, 0.005, 0.0065, 0.008), "rho_values": (0.5, 1.0, 2.0, 4.0, 8.0),
          "repeats": 4, "max_Lp": 32, "steps": 300, "restarts": 3, "time_limit": 3600.0},
)

#: Options of the frozen model (:func:`frozen_model`), shared with :mod:`.universality`.
MODEL_OPTIONS = (
    Option("--s", "s", int, help="head size"),
    Option("--logit-scale", "logit_scale", float, help="logit multiplier"),
    Option("--variant", "variant", str, None, VARIANTS, help="attention variant"),
    Option("--model-seed", "model_seed", int, help="seed of the frozen weights"),
)

#: Options of ``promptlimits sweep memorization`` (and ``promptlimits memorize sweep``).
OPTIONS = (
    Option("--max-Lp", "max_Lp", int, help="largest prompt length tried"),
    Option("--steps", "steps", int, help="L-BFGS-B iterations per run (Adam: 3x)"),
    Option("--restarts", "restarts", int, help="runs per prompt length"),
    Option("--time-limit", "time_limit", float, help="safety net, seconds per search (a search it stops fails "
                                                     "its point; results never depend on it)"),
    Option("--rho", "rho", float, help="prompt box ||P||max <= rho"),
    Option("--gamma", "gamma", float, help="hard-family gap"),
    Option("--tol", "tol", float, help="memorization tolerance (max-abs error on outputs)"),
    *MODEL_OPTIONS,
)

#: Largest grid the sweep accepts.
MAX_GRID = 4096


def check_grid(params: dict) -> None:
    """``d``, ``L`` positive and ``G_delta`` whole cells with at most :data:`MAX_GRID` points."""
    d, L = check_positive_int(params.get("d"), "d"), check_positive_int(params.get("L"), "L")
    delta = check_positive_float(params.get("delta"), "delta")
    k = cells_per_side(delta)  # raises for delta not dividing [0, 1]
    if k ** (d * L) > MAX_GRID:
        raise ValueError(f"grid N = {k}^{d * L} is above {MAX_GRID} points; use a larger delta")


def check_model(params: dict) -> None:
    """The frozen model's settings: head size, logit scale, variant, seed."""
    check_positive_int(params.get("s"), "s")
    check_positive_int(params.get("model_seed", 0), "model_seed", minimum=0)
    check_positive_float(params.get("logit_scale"), "logit_scale")
    check_choice(params.get("variant", "softmax"), "attention variant", VARIANTS)


def check_point(params: dict) -> None:
    """Validate a point before anything runs (clear messages naming the numbers), its memory included."""
    check_grid(params)
    check_model(params)
    for key in ("max_Lp", "steps", "restarts"):
        check_positive_int(params.get(key), key)
    if params["max_Lp"] > REFERENCE_ROWS:
        raise ValueError(f"max_Lp must be <= {REFERENCE_ROWS} (the reference prompt's rows), got {params['max_Lp']}")
    check_gap(params.get("gamma"), params.get("tol"))
    check_positive_float(params.get("rho"), "rho")
    if params.get("time_limit") is not None:
        check_positive_float(params["time_limit"], "time_limit")
    d, L = params["d"], params["L"]
    check_tuning_memory(d, params["s"], 4 * d, batch=cells_per_side(params["delta"]) ** (d * L), L=L,
                        Lp=params["max_Lp"])


class SearchStopped(RuntimeError):
    """A search stopped by its time limit: no result, so the point fails (and a resumed sweep retries it)."""


def frozen_model(params: dict) -> PromptedModel:
    """The frozen model of a point: ``d``, head size ``s``, ``logit_scale``, ``variant``, ``model_seed``."""
    return PromptedModel.from_seed(int(params["d"]), s=int(params["s"]), seed=int(params["model_seed"]),
                                   scale=float(params["logit_scale"]), variant=params.get("variant", "softmax"))


def least_lp_point(params: dict, seed: int) -> dict:
    """One point: least memorizing ``Lp`` for one sampled dataset, and the counting bound."""
    check_point(params)
    t0 = time.perf_counter()
    d, L, delta = int(params["d"]), int(params["L"]), float(params["delta"])
    gamma, tol, rho = float(params["gamma"]), float(params["tol"]), float(params["rho"])
    model = frozen_model(params)
    X = grid(delta, L, d)
    targets = relative_hard_family(model, X, gamma, rho=rho, seed=seed)
    res = least_prompt_length(model, X, targets, tol, rho=rho, max_Lp=int(params["max_Lp"]),
                              steps=int(params["steps"]), restarts=int(params["restarts"]), seed=seed,
                              time_limit=params.get("time_limit"))
    if res.status == STOPPED:
        raise SearchStopped(f"the least-Lp search stopped by its time limit of {params['time_limit']:g} s after "
                            f"trying Lp {res.trials_text() or 'none'} (a time-limited search is no result)")
    b = counting_bound(d=d, L=L, gamma=gamma, tol=tol, rho=rho, model=model, N=X.shape[0])
    errs = res.best_err_by_Lp()
    return {
        "N": int(X.shape[0]), "dL": d * L,
        "least_Lp": res.least_Lp, "status": res.status,
        "best_err": float(errs[max(errs)]) if errs else None, "trials": res.trials_text(),
        "K_P": b.K_P, "eta": b.eta, "M": b.M, "bound": b.Lp_bound, "bound_Lp_min": b.Lp_min,
        "above_bound": None if res.least_Lp is None else bool(res.least_Lp >= b.Lp_bound),
        "seconds": round(time.perf_counter() - t0, 3),
    }


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


def summarize(rows: list) -> dict:
    reached = [r for r in rows if r["least_Lp"] is not None]
    n_axis = [r for r in reached if r.get("axis") == "N"]
    below = [r for r in reached if r["least_Lp"] < r["bound"]]
    return {
        "points": len(rows), "reached": len(reached), "not_reached": len(rows) - len(reached),
        "below_bound": len(below),
        "fit_least_Lp_vs_N": fit_power([r["N"] for r in n_axis], [r["least_Lp"] for r in n_axis]),
        "fit_bound_vs_N": fit_power([r["N"] for r in rows if r.get("axis") == "N"],
                                    [r["bound"] for r in rows if r.get("axis") == "N"]),
        "total_seconds": round(sum(r["seconds"] for r in rows), 2),
    }


def make_sweep(scale: str = "quick", *, seed: int = 0, **overrides) -> SweepDef:
    """The memorization sweep: least ``Lp`` against ``N`` (axis ``"N"``), ``tol`` and ``rho``.

    ``scale``: ``"tiny"`` (tests, seconds), ``"quick"`` (a few minutes on 2
    cores), ``"full"``; ``overrides`` replace entries of :data:`SETTINGS`.
    """
    s = resolve(SETTINGS, scale, overrides)
    fixed = {k: v for k, v in s.items() if k not in LAYOUT}
    pts = [{"axis": "N", "d": int(d), "L": int(L), "delta": float(delta)} for d, L, delta in s["shapes"]]
    small = {k: ONE_DATASET[k] for k in ("d", "L", "delta")}
    pts += [{"axis": "tol", **small, "tol": float(e)} for e in s["tol_values"]]
    pts += [{"axis": "rho", **small, "rho": float(r)} for r in s["rho_values"]]
    return SweepDef(name="memorization", point="promptlimits.experiments.memorization:least_lp_point",
                    points=tuple(pts), fixed=fixed, repeats=int(s["repeats"]), seed=int(seed),
                    check="promptlimits.experiments.memorization:check_point",
                    summary="promptlimits.experiments.memorization:summarize",
                    description=f"least memorizing prompt length vs N, tol, rho with the counting bound "
                                f"(docs/theory.md §7), scale={scale}")


def verdicts(results) -> list[Verdict]:
    """Claim 4 of the report, from ``results["memorization"]``."""
    res = results["memorization"]
    s = res.meta["summary"]
    rows = [r for r in res.rows if r.get("axis") == "N"]
    numbers = [f"N={r['N']} (d={r['d']}, L={r['L']}, delta={fmt(r['delta'])}): least Lp "
               f"{r['least_Lp'] if r['least_Lp'] is not None else 'not reached within budget'}, "
               f"counting bound {fmt(r['bound'])}" for r in rows]
    fit = s.get("fit_least_Lp_vs_N") or {}
    if fit:
        numbers.append(f"fit least Lp ~ {fmt(fit['a'])} N^{fmt(fit['b'])} (R^2 {fmt(fit['r2'])}, {fit['n']} points)")
    numbers.append(f"{s['reached']} of {s['points']} searches reached the target; "
                   f"{s['below_bound']} measured least Lp below the bound")
    if s["reached"] == 0:
        status, why = NOT_CHECKED, "no search reached the target within budget"
    elif s["below_bound"] == 0:
        status, why = CONSISTENT, ("every measured least Lp is at or above the counting bound (a weak test "
                                   "while the bound is small); searches that ran out of budget are listed "
                                   "as such, not counted")
    else:
        status, why = NOT_CONSISTENT, "a measured least Lp fell below the counting bound"
    reached = [r for r in res.rows if r["least_Lp"] is not None]
    can_fail = [r for r in reached if r["bound"] > 1]
    top = max((r["bound"] for r in reached), default=None)
    strength = (f"can fail at {len(can_fail)} of {len(reached)} reached searches (bound above 1; largest "
                f"{fmt(top)}); the bound is for the worst dataset, each search tunes one sampled dataset"
                if can_fail else
                f"cannot fail at these sizes: every reached search has a counting bound <= 1 (largest "
                f"{fmt(top)}) and every prompt length is at least 1")
    return [Verdict(
        claim_id="memorization", title="Memorization needs long prompts",
        claim="Memorizing every dataset of N inputs needs a prompt length that grows with N L, exponentially "
              "in dL for Lipschitz targets (Hu et al. 2025; this project's counting bound "
              "Lp >= N L log 2 / log ceil(rho/eta), docs/theory.md §7).",
        status=status,
        rule="every search that reached the tolerance tol found a least Lp at or above its counting bound "
             "(searches out of budget are not counted; at least one must reach)",
        falsifier="a reached least Lp strictly below the counting bound N L log 2 / log M",
        strength=strength, numbers=numbers, figures=("fig4_memorization",), why=why,
        settings="hard {0, gamma} family on a reference output, frozen random weights, max-abs tolerance tol; "
                 "see the sidecar",
    )]
