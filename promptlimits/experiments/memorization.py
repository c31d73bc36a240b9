"""Memorization sandwiched: the counting bound, the least prompt length measured, the construction (docs/theory.md §7).

A point ``(axis, model, d, L, k, ...)`` builds a frozen model -- ``"construct"``,
the transformer of :func:`promptlimits.construct.build` (prompt width ``D``,
outputs read on its ``x`` block), or ``"random"``, ``PromptedModel.from_seed(d,
s, positions=L)`` -- the grid ``G_delta`` (``delta = 1/k``, ``N = k^(d L)``),
one member of the ``q``-ary hard family on a reference output
(:func:`promptlimits.memorization.relative_hard_family`; levels from the
point's seed, reference prompts of :func:`promptlimits.memorization.construction_reference`
for the construction) and computes

- the lower bound: :func:`promptlimits.capacity.counting_bound` with ``K_P``
  tightened on the prompt box and exact at the grid inputs, ``D`` the counted
  prompt columns (:func:`promptlimits.jacobian.read_columns`), ``d`` the
  compared output columns; its per-sample form at probability ``1e-6``
  (``bound_sample``, the value the verdict compares with);
- the least ``Lp`` measured in the linear regime
  (:func:`promptlimits.linear_regime.least_lp_linear`; ``lin_*`` columns with
  the Jacobian's numerical rank and tolerance) and, for random models with
  ``N <= tune_max_N``, by tuning (:func:`promptlimits.memorization.least_prompt_length`;
  ``tune_*``). "not reached within budget" is a status, never a number;
- the construction's prompt length ``L k^d`` (constructed model only) and
  the max error of its closed-form prompt on the same dataset;
- ``K_P`` beside the factor of issue 5 (``K_P_old``: every unit, input box)
  and the largest probed difference quotient (``probe``: the largest
  ``‖J‖_(inf->inf)`` over the Jacobians at the reference prompts).

Axes: ``N`` (sizes per model), ``dL`` (fixed ``k``; the bound grows
exponentially in ``d L``) and ``tol`` (the grid tied to the tolerance: ``k =
floor(K_f / (2 (q-1) gamma))``, ``gamma = gamma_over_tol * tol``, so every
member is ``K_f``-Lipschitz, docs/theory.md §7.5).

How the bound is made to bite (docs/theory.md §7.7): ``q = 2^16`` levels at
spacing ``gamma = 1e-8`` (``tol = gamma / 4``): the targets stay within
``6.6e-4`` of the reference (the linear regime), ``log q`` is large, and
``log M = log(4 rho K_P / gamma)`` grows only logarithmically as ``gamma``
shrinks, so ``log q / log M`` is about 0.4 and the bound about 0.4 ``N L d /
D``.

Determinism: every budget is counted (lengths, ranks, Gauss--Newton steps,
tuning steps); ``seconds`` is the only timing column.
"""

from __future__ import annotations

import math
import time

import numpy as np

from promptlimits import construct
from promptlimits._checks import check_choice, check_positive_float, check_positive_int
from promptlimits.attention import VARIANTS
from promptlimits.capacity import check_gap, check_levels, counting_bound, prompt_lipschitz
from promptlimits.datasets import cells_per_side, grid
from promptlimits.jacobian import read_columns
from promptlimits.linear_regime import least_lp_linear
from promptlimits.memorization import (
    REFERENCE_ROWS,
    STOPPED,
    construction_reference,
    least_prompt_length,
    relative_hard_family,
)
from promptlimits.model import PromptedModel
from promptlimits.sweep import SweepDef
from promptlimits.tuning import check_tuning_memory

from ._settings import Option, resolve, scale_table
from .memorization_verdict import fit_power, summarize, verdicts

__all__ = ["sandwich_point", "least_lp_point", "check_point", "summarize", "make_sweep", "verdicts", "fit_power",
           "SETTINGS", "OPTIONS", "DEFAULTS", "LAYOUT", "ONE_DATASET", "MODEL_OPTIONS", "MODELS", "frozen_model",
           "check_grid", "check_model", "SearchStopped", "MAX_GRID", "tol_grid"]

MODELS = ("construct", "random")

#: Parameters shared by every point (a point may override them). ``rho`` is the box of the counting
#: bound and of the search (within ``rho`` of the reference prompt for the construction, ``[-rho, rho]``
#: for random models: ``rho_construct`` / ``rho``).
DEFAULTS = {
    "s": 8, "logit_scale": 1.0, "variant": "softmax", "model_seed": 0, "gamma": 1e-8, "tol": 2.5e-9, "q": 2**16,
    "rho": 4.0, "rho_construct": 0.25, "ref_sigma": 0.3, "lin_budget": 4, "gn_steps": 6, "rank_rtol": 1e-7,
    "tune_max_N": 64, "max_Lp": 8, "steps": 200, "restarts": 1, "time_limit": 600.0,
    "K_f": 0.1, "gamma_over_tol": 4.0,
}

#: Settings that lay out the points rather than enter them.
LAYOUT = ("shapes", "dL_shapes", "dL_k", "tol_shape", "tol_cells", "repeats")

#: One dataset for ``promptlimits memorize least-lp`` (a tuning search on a random model, binary family).
ONE_DATASET = {"d": 1, "L": 1, "delta": 0.25, "data_seed": 0, "time_limit": None, "gamma": 0.02, "tol": 0.005,
               "q": 2, "max_Lp": 16, "steps": 200, "restarts": 2}

_C, _R = "construct", "random"
_QUICK_SHAPES = ((_C, 1, 1, 64), (_C, 1, 1, 256), (_C, 2, 1, 8), (_C, 2, 1, 16), (_C, 1, 2, 8), (_C, 1, 2, 16),
                 (_C, 2, 2, 3), (_C, 2, 2, 4), (_C, 2, 2, 5),
                 (_R, 1, 1, 64), (_R, 1, 1, 256), (_R, 1, 1, 1024), (_R, 2, 1, 8), (_R, 2, 1, 16), (_R, 1, 2, 8))
_DL_SHAPES = ((1, 1), (2, 1), (1, 2), (3, 1), (2, 2), (1, 3))

#: Grids and budgets per scale (keys are the overrides ``make_sweep`` accepts).
SETTINGS = scale_table(
    DEFAULTS,
    tiny={"shapes": ((_C, 1, 1, 8), (_C, 1, 2, 3), (_R, 1, 1, 8)), "dL_shapes": ((1, 1), (1, 2)), "dL_k": 2,
          "tol_shape": (1, 2), "tol_cells": (2, 3), "repeats": 1, "max_Lp": 4, "steps": 50},
    quick={"shapes": _QUICK_SHAPES, "dL_shapes": _DL_SHAPES, "dL_k": 3, "tol_shape": (1, 2),
           "tol_cells": (4, 8, 16), "repeats": 1},
    full={"shapes": _QUICK_SHAPES + ((_C, 1, 2, 32), (_C, 2, 2, 6), (_C, 2, 1, 32), (_R, 1, 1, 4096),
                                     (_R, 2, 1, 64)),
          "dL_shapes": _DL_SHAPES + ((4, 1), (2, 3)), "dL_k": 3, "tol_shape": (1, 2), "tol_cells": (4, 8, 16, 32),
          "repeats": 2},
)

#: Options of the frozen random model (:func:`frozen_model`), shared with :mod:`.universality`.
MODEL_OPTIONS = (
    Option("--s", "s", int, help="head size"),
    Option("--logit-scale", "logit_scale", float, help="logit multiplier"),
    Option("--variant", "variant", str, None, VARIANTS, help="attention variant"),
    Option("--model-seed", "model_seed", int, help="seed of the frozen weights"),
)

#: Options of ``promptlimits sweep memorization`` (and ``promptlimits memorize sweep``).
OPTIONS = (
    Option("--max-Lp", "max_Lp", int, help="largest prompt length tuning tries"),
    Option("--steps", "steps", int, help="L-BFGS-B iterations per tuning run (Adam: 3x)"),
    Option("--restarts", "restarts", int, help="tuning runs per prompt length"),
    Option("--time-limit", "time_limit", float, help="safety net, seconds per tuning search (a search it stops "
                                                     "fails its point; results never depend on it)"),
    Option("--rho", "rho", float, help="prompt box ||P||max <= rho of random models"),
    Option("--gamma", "gamma", float, help="hard-family spacing"),
    Option("--q", "q", int, help="hard-family levels"),
    Option("--tol", "tol", float, help="memorization tolerance (max-abs error on outputs)"),
    Option("--lin-budget", "lin_budget", int,
           help="linear regime tries lengths up to this times N L d / D (at most the reference prompt's 4096 rows)"),
    *MODEL_OPTIONS,
)

#: Largest tuning grid (:func:`check_grid`'s default, shared with :mod:`.universality`).
MAX_GRID = 4096

#: Largest grid of the memorization sweep (issue 14 raised the cap for the linear regime and the bound).
SANDWICH_GRID = 1 << 16


def check_grid(params: dict, limit: int = MAX_GRID) -> None:
    """``d``, ``L`` positive and ``G_delta`` whole cells with at most ``limit`` points."""
    d, L = check_positive_int(params.get("d"), "d"), check_positive_int(params.get("L"), "L")
    delta = check_positive_float(params.get("delta"), "delta")
    k = cells_per_side(delta)  # raises for delta not dividing [0, 1]
    if k ** (d * L) > limit:
        raise ValueError(f"grid N = {k}^{d * L} is above the largest grid size {limit}; use a larger delta")


def check_model(params: dict) -> None:
    """The frozen random model's settings: head size, logit scale, variant, seed."""
    check_positive_int(params.get("s"), "s")
    check_positive_int(params.get("model_seed", 0), "model_seed", minimum=0)
    check_positive_float(params.get("logit_scale"), "logit_scale")
    check_choice(params.get("variant", "softmax"), "attention variant", VARIANTS)


def check_point(params: dict) -> None:
    """Validate a point before anything runs (clear messages naming the numbers), its memory included."""
    check_grid(params, SANDWICH_GRID)
    check_model(params)
    check_choice(params.get("model", _R), "model", MODELS)
    for key in ("max_Lp", "steps", "restarts"):
        check_positive_int(params.get(key), key)
    if params["max_Lp"] > REFERENCE_ROWS:
        raise ValueError(f"max_Lp must be <= {REFERENCE_ROWS} (the reference prompt's rows), got {params['max_Lp']}")
    check_gap(params.get("gamma"), params.get("tol"))
    check_levels(params.get("q", 2))
    check_positive_float(params.get("rho"), "rho")
    if params.get("time_limit") is not None:
        check_positive_float(params["time_limit"], "time_limit")
    d, L = params["d"], params["L"]
    if params.get("model", _R) == _C:
        check_positive_float(params.get("rho_construct"), "rho_construct")  # its memory budget: construct.build
    else:
        check_tuning_memory(d, params["s"], 4 * d, batch=cells_per_side(params["delta"]) ** (d * L), L=L,
                            Lp=params["max_Lp"])


class SearchStopped(RuntimeError):
    """A search stopped by its time limit: no result, so the point fails (and a resumed sweep retries it)."""


def frozen_model(params: dict, *, L=None) -> PromptedModel:
    """The frozen random model of a point (position rows for ``L`` inputs when ``L`` is given)."""
    return PromptedModel.from_seed(int(params["d"]), s=int(params["s"]), seed=int(params["model_seed"]),
                                   scale=float(params["logit_scale"]), variant=params.get("variant", "softmax"),
                                   positions=L)


def tol_grid(tol, *, K_f, q, gamma_over_tol) -> int:
    """``k = floor(K_f / (2 (q-1) gamma))``, ``gamma = gamma_over_tol * tol``: cells whose family is
    ``K_f``-Lipschitz."""
    gamma = gamma_over_tol * tol
    return int(math.floor(K_f / (2 * (q - 1) * gamma) * (1 + 1e-12)))


def _setup(params: dict, seed: int):
    """Model, inputs, targets, compared/counted columns, prompt box and tuning flag of a point."""
    d, L, k = int(params["d"]), int(params["L"]), cells_per_side(params["delta"])
    gamma, q = float(params["gamma"]), int(params["q"])
    G = grid(1.0 / k, L, d, max_points=SANDWICH_GRID)
    if params["model"] == _C:
        c = construct.build(d, L, k)
        model, X, rho = c.model, c.embed(G), float(params["rho_construct"])
        ref, lo, hi = construction_reference(c, sigma=float(params["ref_sigma"]), seed=seed)
        box, prompt_cols = (lo - rho, hi + rho), read_columns(model)
        targets = relative_hard_family(model, X, gamma, rho=rho, q=q, seed=seed, reference=ref,
                                       out_cols=np.arange(d))
    else:
        c, model, X, rho = None, frozen_model(params, L=L), G, float(params["rho"])
        box, prompt_cols = None, np.arange(d)
        targets = relative_hard_family(model, X, gamma, rho=rho, q=q, seed=seed)
    return c, model, X, rho, box, prompt_cols, targets


def _construction(c, targets, d):
    """The closed-form prompt's length and its max error on the same dataset (at the construction's length)."""
    Y = targets(c.Lp)[0][..., :d]
    P = construct.lookup_prompt(c, lambda C: Y)
    return c.Lp, float(np.abs(c.predict(P, grid(c.delta, c.L, c.d)) - Y).max())


def _tuning(params, model, X, targets, rho, seed):
    res = least_prompt_length(model, X, targets, float(params["tol"]), rho=rho, max_Lp=int(params["max_Lp"]),
                              steps=int(params["steps"]), restarts=int(params["restarts"]), seed=seed,
                              time_limit=params.get("time_limit"))
    if res.status == STOPPED:
        raise SearchStopped(f"the least-Lp search stopped by its time limit of {params['time_limit']:g} s after "
                            f"trying Lp {res.trials_text() or 'none'} (a time-limited search is no result)")
    return {"tune_least_Lp": res.least_Lp, "tune_status": res.status, "tune_trials": res.trials_text()}


def sandwich_point(params: dict, seed: int) -> dict:
    """One point: the bound, the least ``Lp`` measured (linear regime; tuning where cheap), the construction."""
    check_point(params)
    t0 = time.perf_counter()
    d, L = int(params["d"]), int(params["L"])
    gamma, tol, q = float(params["gamma"]), float(params["tol"]), int(params["q"])
    c, model, X, rho, box, prompt_cols, targets = _setup(params, seed)
    N = X.shape[0]
    out_cols = np.arange(d)
    lo = math.ceil(N * L * d / prompt_cols.size)
    lin = least_lp_linear(model, X, targets, tol, rho=rho, out_cols=out_cols, prompt_cols=prompt_cols,
                          max_Lp=min(int(params["lin_budget"]) * lo, REFERENCE_ROWS), gn_steps=int(params["gn_steps"]),
                          rank_rtol=float(params["rank_rtol"]))
    fac = prompt_lipschitz(model, rho, box=box, X=X, out_cols=out_cols)
    old = prompt_lipschitz(model, rho, drop_inactive=False)
    b = counting_bound(d=d, L=L, gamma=gamma, tol=tol, rho=rho, q=q, K_P=fac.K_P, N=N, D=int(prompt_cols.size))
    # None when even the least length the outputs allow exceeds the reference prompt's rows
    last = max(lin.trials, key=lambda t: t.Lp, default=None)
    row = {
        "N": N, "dL": d * L, "D": int(prompt_cols.size), "width": model.d, "inv_tol": 1.0 / tol,
        "K_P": fac.K_P, "K_P_old": old.K_P, "K_P_tightening": old.K_P / fac.K_P,
        "probe": max((t.probe for t in lin.trials), default=None), "c_ff1": fac.c_ff1, "c_ff2": fac.c_ff2,
        "M": b.M, "bound": b.Lp_bound, "bound_sample": b.Lp_sample,
        "lin_least_Lp": lin.least_Lp, "lin_status": lin.status, "lin_lo": lin.lo, "lin_max_Lp": lin.max_Lp,
        "lin_rank": None if last is None else (lin.trial(lin.least_Lp) or last).rank,
        "lin_rows": None if last is None else last.rows,
        "lin_trials": lin.trials_text(),
        "tune_least_Lp": None, "tune_status": "not run", "tune_trials": "",
        "constr_Lp": None, "constr_err": None,
    }
    if c is None and N <= int(params["tune_max_N"]):
        row.update(_tuning(params, model, X, targets, rho, seed))
    if c is not None:
        row["constr_Lp"], row["constr_err"] = _construction(c, targets, d)
    row["ratio"] = None if lin.least_Lp is None or not b.Lp_sample > 0 else lin.least_Lp / b.Lp_sample
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row


#: The point function of the sweep (name kept for callers of issue 5).
least_lp_point = sandwich_point


def make_sweep(scale: str = "quick", *, seed: int = 0, **overrides) -> SweepDef:
    """The memorization sweep: axes ``N`` (per model), ``dL`` (fixed ``k``) and ``tol`` (grid tied to ``tol``).

    ``scale``: ``"tiny"`` (tests, seconds), ``"quick"`` (about two minutes on 2
    cores), ``"full"``; ``overrides`` replace entries of :data:`SETTINGS`.
    """
    s = resolve(SETTINGS, scale, overrides)
    fixed = {k: v for k, v in s.items() if k not in LAYOUT}
    pts = [{"axis": "N", "model": m, "d": int(d), "L": int(L), "delta": 1.0 / int(k)} for m, d, L, k in s["shapes"]]
    pts += [{"axis": "dL", "model": m, "d": int(d), "L": int(L), "delta": 1.0 / int(s["dL_k"])}
            for m in MODELS for d, L in s["dL_shapes"]]
    d, L = s["tol_shape"]
    for k in s["tol_cells"]:  # the tolerance whose Lipschitz family lives on k cells per side
        tol = s["K_f"] / (2 * (s["q"] - 1) * s["gamma_over_tol"] * int(k))
        pts += [{"axis": "tol", "model": m, "d": int(d), "L": int(L), "delta": 1.0 / int(k), "tol": tol,
                 "gamma": s["gamma_over_tol"] * tol} for m in MODELS]
    return SweepDef(name="memorization", point="promptlimits.experiments.memorization:sandwich_point",
                    points=tuple(pts), fixed=fixed, repeats=int(s["repeats"]), seed=int(seed),
                    check="promptlimits.experiments.memorization:check_point",
                    summary="promptlimits.experiments.memorization:summarize",
                    description=f"counting bound, least prompt length (linear regime, tuning) and construction "
                                f"against N, dL and 1/tol (docs/theory.md §7), scale={scale}")
