"""Memorization: the sandwich on one model and one prompt set, and a fixed random model's capacity (docs/theory.md §7).

Three kinds of point (``axis``):

``"N"`` -- the sandwich on the constructed transformer
(:func:`promptlimits.construct.build` at ``width``: ``"token"``, prompt rows
as wide as the inputs, the headline; ``"wide"``, the residual-width contrast).
One member of the ``q``-ary hard family on the grid ``G_delta``
(``N = k^(d L)``): targets ``F + gamma B``, ``F = -(q-1) gamma / 2``, ``B``
drawn from the point's seed. The prompt set is the whole box
``‖P‖max <= rho``, ``rho`` the closed-form prompt's own max norm (or a given
``rho_sandwich``, refused when it does not contain that prompt). Then

- lower: :func:`promptlimits.capacity.counting_bound` with ``K_P`` over the
  whole box (outward-rounded interval arithmetic, exact at the grid inputs),
  ``D`` the counted prompt columns: ``bound`` (every member) and
  ``bound_sample`` (the drawn member, probability ``1e-6``); the box-local
  bound (prompts within ``rho_local`` of the closed-form prompt) beside it
  as ``bound_local``, a refinement that is never the headline;
- upper, a certificate: the closed-form prompt of length ``constr_Lp``
  memorizes the same dataset (``constr_err <= tol``, a forward pass);
- upper, a search: the least length found in the same box by the linear
  regime (Gauss--Newton from the first ``Lp`` rows of the closed-form prompt
  of ``F``) and, for ``N <= tune_max_N``, by multi-start tuning; "not
  reached" is a search limit, never a verdict;
- negative controls: the closed-form prompt of another member (another seed)
  on this dataset, and the closed-form prompt cut to a length below the
  bound; both must miss ``tol`` (``ctrl_other_err``, ``ctrl_short_err``).

``"capacity"`` -- a frozen random model at token width ``d``: for each
``Lp``, the largest ``N`` whose binary hard family on a reference output
(:func:`promptlimits.memorization.relative_hard_family`) the linear regime
memorizes within ``rand_tol`` (:func:`promptlimits.linear_regime.memorizes_at`),
with the Jacobian's rank at the first failure.

``"realizable"`` -- targets made by a teacher prompt of length ``Lp*`` on the
random model: the least ``Lp`` found by tuning (at most ``Lp*`` if reached).

Determinism: every budget is counted; ``seconds`` is the only timing column.
The verdict reads only quantities no seed can flip (memorization_verdict).
"""

from __future__ import annotations

import math
import time

import numpy as np

from promptlimits import construct
from promptlimits._checks import check_choice, check_positive_float, check_positive_int
from promptlimits.attention import VARIANTS
from promptlimits.capacity import check_gap, check_levels, check_rho_contains, counting_bound, prompt_lipschitz
from promptlimits.datasets import cells_per_side, grid, hard_family, teacher
from promptlimits.jacobian import prompt_jacobian, read_columns
from promptlimits.linear_regime import least_lp_linear, memorizes_at, numerical_rank
from promptlimits.memorization import (
    REFERENCE_ROWS,
    STOPPED,
    compared_outputs,
    least_prompt_length,
    relative_hard_family,
    tune_at,
)
from promptlimits.model import PromptedModel
from promptlimits.sweep import SweepDef
from promptlimits.tuning import check_tuning_memory

from ._settings import Option, resolve, scale_table
from .memorization_verdict import fit_power, summarize, verdicts

__all__ = ["sandwich_point", "least_lp_point", "check_point", "summarize", "make_sweep", "verdicts", "fit_power",
           "SETTINGS", "OPTIONS", "DEFAULTS", "LAYOUT", "ONE_DATASET", "MODEL_OPTIONS", "WIDTHS", "frozen_model",
           "check_grid", "check_model", "SearchStopped", "MAX_GRID", "sandwich_targets"]

WIDTHS = ("token", "wide")

#: Default sandwich box: this times the closed-form prompt's max norm (room for the search's prompts; the
#: bound depends on ``rho`` only through ``log M``).
RHO_MARGIN = 1.25

#: Parameters shared by every point (a point may override them).
DEFAULTS = {
    "s": 8, "logit_scale": 1.0, "variant": "softmax", "model_seed": 0,
    # the sandwich (axis N): 2^26 levels 2^-26 apart span [-1/2, 1/2]; tol = gamma / 4 = 3.7e-9, above the
    # closed-form prompts' floating-point error (at most 6.6e-10 on the grids run)
    "gamma": 2.0 ** -26, "tol": 2.0 ** -28, "q": 2 ** 26, "rho_sandwich": None, "rho_local": 0.25,
    "lam": 40.0, "gn_steps": 12, "rank_rtol": 1e-7, "tune_max_N": 16, "tune_steps": 60, "tune_restarts": 1,
    "lin_max_entries": 4e6,
    "bites": 10.0,
    # the random model (axes capacity, realizable; and promptlimits memorize least-lp)
    "rho": 4.0, "rand_gamma": 0.02, "rand_tol": 0.005, "rand_gn_steps": 12, "cap_steps": 100, "max_Lp": 8, "steps": 200,
    "restarts": 2, "time_limit": 600.0,
}

#: Settings that lay out the points rather than enter them.
LAYOUT = ("shapes", "cap_shapes", "cap_Lps", "teachers", "repeats")

#: One dataset for ``promptlimits memorize least-lp`` (a tuning search on a random model, binary family).
ONE_DATASET = {"d": 1, "L": 1, "delta": 0.25, "data_seed": 0, "time_limit": None, "gamma": 0.02, "tol": 0.005,
               "q": 2, "max_Lp": 16, "steps": 200, "restarts": 2}

#: ``(width, d, L, k)`` of the sandwich: ``N = k^(d L)``; token width is the headline, wide the contrast.
_T, _W = "token", "wide"
_QUICK = ((_T, 1, 1, 4), (_T, 1, 1, 16), (_T, 1, 1, 64), (_T, 1, 1, 256), (_T, 2, 1, 4), (_T, 2, 1, 8), (_T, 2, 1, 16),
          (_T, 1, 2, 3), (_T, 1, 2, 8), (_T, 1, 2, 16), (_T, 1, 2, 32), (_T, 2, 2, 2), (_T, 2, 2, 3), (_T, 2, 2, 4),
          (_T, 2, 2, 5), (_W, 1, 1, 4), (_W, 1, 1, 16), (_W, 1, 2, 4), (_W, 2, 2, 3))
_CELLS = "2,3,4,5,6,8,10,12,16,20,24,32"

#: Grids and budgets per scale (keys are the overrides ``make_sweep`` accepts).
SETTINGS = scale_table(
    DEFAULTS,
    tiny={"shapes": ((_T, 1, 1, 4), (_T, 1, 2, 3), (_W, 1, 1, 4)), "cap_shapes": ((1, 1),),
          "cap_Lps": (1, 2, 4), "cap_cells": "2,3,4,5", "teachers": ((1, 1, 4, 2),), "repeats": 1,
          "max_Lp": 4, "steps": 50, "tune_max_N": 4, "cap_steps": 30},
    quick={"shapes": _QUICK, "cap_shapes": ((1, 1), (2, 1)), "cap_Lps": (1, 2, 4, 8, 16, 32),
           "cap_cells": _CELLS, "teachers": ((1, 1, 8, 2), (1, 1, 8, 4), (2, 1, 4, 4)), "repeats": 1},
    full={"shapes": _QUICK + ((_T, 1, 1, 1024), (_T, 2, 1, 32), (_T, 2, 1, 64), (_T, 1, 2, 64), (_T, 2, 2, 6),
                              (_T, 2, 2, 7), (_T, 2, 2, 8), (_W, 2, 1, 8), (_W, 1, 2, 8)),
          "cap_shapes": ((1, 1), (2, 1), (1, 2)), "cap_Lps": (1, 2, 4, 8, 16, 32, 64),
          "cap_cells": _CELLS + ",48,64", "teachers": ((1, 1, 8, 2), (1, 1, 8, 4), (1, 1, 16, 8), (2, 1, 4, 4)),
          "repeats": 1, "bites": 100.0},
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
    Option("--max-Lp", "max_Lp", int, help="largest prompt length tuning tries on the random model"),
    Option("--steps", "steps", int, help="L-BFGS-B iterations per tuning run (Adam: 3x)"),
    Option("--restarts", "restarts", int, help="tuning runs per prompt length"),
    Option("--time-limit", "time_limit", float, help="safety net, seconds per tuning search (a search it stops "
                                                     "fails its point; results never depend on it)"),
    Option("--rho", "rho", float, help="prompt box ||P||max <= rho of the random model"),
    Option("--rho-sandwich", "rho_sandwich", float,
           help="prompt box ||P||max <= rho of the sandwich (default: the closed-form prompt's max norm)"),
    Option("--gamma", "gamma", float, help="hard-family spacing of the sandwich"),
    Option("--q", "q", int, help="hard-family levels of the sandwich"),
    Option("--tol", "tol", float, help="memorization tolerance of the sandwich (max-abs error on outputs)"),
    *MODEL_OPTIONS,
)

#: Largest tuning grid (:func:`check_grid`'s default, shared with :mod:`.universality`).
MAX_GRID = 4096

#: Largest grid of the memorization sweep.
SANDWICH_GRID = 1 << 16


def check_grid(params: dict, limit: int = MAX_GRID) -> None:
    """``d``, ``L`` positive and ``G_delta`` whole cells with at most ``limit`` points."""
    d, L = check_positive_int(params.get("d"), "d"), check_positive_int(params.get("L"), "L")
    delta = check_positive_float(params.get("delta"), "delta")
    k = cells_per_side(delta)  # raises for delta not dividing [0, 1]
    if k < 2:
        raise ValueError(f"the grid needs k = 1/delta >= 2 cells per side, got k = {k}")
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
    axis = params.get("axis", "realizable")
    check_choice(axis, "axis", ("N", "capacity", "realizable"))
    check_model(params)
    for key in ("max_Lp", "steps", "restarts"):
        check_positive_int(params.get(key), key)
    if params.get("time_limit") is not None:
        check_positive_float(params["time_limit"], "time_limit")
    if axis == "N":
        check_grid(params, SANDWICH_GRID)
        check_choice(params.get("width", "wide"), "construction width", WIDTHS)
        check_gap(params.get("gamma"), params.get("tol"))
        q = check_levels(params.get("q", 2))
        if (q - 1) * params["gamma"] > 1.0:
            raise ValueError(f"the sandwich's levels span (q-1) gamma = {(q - 1) * params['gamma']:.6g} > 1, above "
                             f"the construction's value range")
        if params.get("rho_sandwich") is not None:  # must contain the closed form (its max norm does not depend
            rho = check_positive_float(params["rho_sandwich"], "rho_sandwich")  # on targets within [-1/2, 1/2])
            c = _build(params)
            G = grid(c.delta, c.L, c.d, max_points=SANDWICH_GRID)
            check_rho_contains(_closed_form(c, np.zeros((G.shape[0], c.L, c.d))), rho)
        check_positive_float(params.get("rho_local"), "rho_local")
        return
    check_positive_float(params.get("rho"), "rho")
    if params["max_Lp"] > REFERENCE_ROWS:
        raise ValueError(f"max_Lp must be <= {REFERENCE_ROWS} (the reference prompt's rows), got {params['max_Lp']}")
    if axis == "capacity":
        check_positive_int(params.get("Lp"), "Lp")
        check_gap(params.get("rand_gamma"), params.get("rand_tol"))
        return
    check_grid(params)
    check_gap(params.get("gamma"), params.get("tol"))
    check_levels(params.get("q", 2))
    check_tuning_memory(params["d"], params["s"], 4 * params["d"], batch=cells_per_side(params["delta"]) ** (
        params["d"] * params["L"]), L=params["L"], Lp=params["max_Lp"])


class SearchStopped(RuntimeError):
    """A search stopped by its time limit: no result, so the point fails (and a resumed sweep retries it)."""


def frozen_model(params: dict, *, L=None) -> PromptedModel:
    """The frozen random model of a point (position rows for ``L`` inputs when ``L`` is given)."""
    return PromptedModel.from_seed(int(params["d"]), s=int(params["s"]), seed=int(params["model_seed"]),
                                   scale=float(params["logit_scale"]), variant=params.get("variant", "softmax"),
                                   positions=L)


# ---------------------------------------------------------------------------- the sandwich (axis N)
def _build(params):
    d, L, k = int(params["d"]), int(params["L"]), cells_per_side(params["delta"])
    width = params.get("width", "wide")
    if width == "wide":  # lambda is the wide construction's prompt key; the token one's is a weight (its default)
        return construct.build(d, L, k, lam=float(params["lam"]))
    return construct.build(d, L, k, width=width)


def _out_cols(c):
    """The model-output columns that carry ``c.predict`` (the ``x`` block: the first ``d``)."""
    return np.asarray(getattr(c, "out_cols", np.arange(c.d)), dtype=np.int64)


def sandwich_targets(G, gamma, q, seed):
    """``F + gamma B`` on the grid ``G``: ``F = -(q-1) gamma / 2``, ``B`` uniform in ``{0..q-1}`` from ``seed``."""
    return hard_family(G, gamma, q=q, seed=seed) - (q - 1) * gamma / 2


def _closed_form(c, Y):
    """The closed-form prompt for targets ``Y`` given at the grid's cell centres (in the grid's order)."""
    return construct.lookup_prompt(c, lambda C: Y)


def _err(c, P, G, Y):
    return float(np.abs(c.predict(P, G) - Y).max())


def _search(params, c, model, X, Y, rho, prompt_cols, base, seed):
    """Least length found in the box by the linear regime and (small ``N``) tuning: search limits, not verdicts.

    The linear regime runs when its largest Jacobian (``N L d`` by ``L_constr D``
    entries) is at most ``lin_max_entries``; else the search says "not run".
    """
    tol = float(params["tol"])
    full = np.zeros(X.shape[:2] + (model.d,))
    full[..., _out_cols(c)] = Y

    def targets(Lp):
        return full, (np.clip(base[:Lp], -rho, rho) if Lp <= base.shape[0] else None)

    lo = math.ceil(Y.size / prompt_cols.size)
    runs = lo <= c.Lp and Y.size * c.Lp * prompt_cols.size <= float(params["lin_max_entries"])
    lin = least_lp_linear(model, X, targets, tol, rho=rho, out_cols=_out_cols(c), prompt_cols=prompt_cols,
                          max_Lp=c.Lp, gn_steps=int(params["gn_steps"]), rank_rtol=float(params["rank_rtol"]),
                          box_rho=rho) if runs else None
    row = {"lin_least_Lp": None if lin is None else lin.least_Lp, "lin_lo": lo,
           "lin_status": "not run" if lin is None else lin.status,
           "lin_trials": None if lin is None else (lin.trials_text() or None), "tune_least_Lp": None,
           "tune_status": "not run"}
    if Y.shape[0] <= int(params["tune_max_N"]):
        # tuning compares only the x block: the model's other output columns are zeroed exactly (their targets
        # are 0), as the linear regime compares only out_cols; on the whole output no prompt could reach tol
        res = least_prompt_length(compared_outputs(model, _out_cols(c)), X, targets, tol, rho=rho, max_Lp=c.Lp,
                                  steps=int(params["tune_steps"]),
                                  restarts=int(params["tune_restarts"]), seed=seed, time_limit=params.get("time_limit"))
        if res.status == STOPPED:
            raise SearchStopped(f"the tuning search stopped by its time limit of {params['time_limit']:g} s")
        row.update(tune_least_Lp=res.least_Lp, tune_status=res.status)
    return row


def sandwich_point(params: dict, seed: int) -> dict:
    """One ``N`` point: lower bound over the whole box, the closed-form certificate, the search, the controls."""
    check_point(params)
    t0 = time.perf_counter()
    d, L, k = int(params["d"]), int(params["L"]), cells_per_side(params["delta"])
    gamma, tol, q = float(params["gamma"]), float(params["tol"]), int(params["q"])
    c = _build(params)
    model = c.model
    G = grid(1.0 / k, L, d, max_points=SANDWICH_GRID)
    X, N = c.embed(G), G.shape[0]
    Y = sandwich_targets(G, gamma, q, seed)
    P = _closed_form(c, Y)
    given = params.get("rho_sandwich")
    rho = check_rho_contains(P, given) if given is not None else RHO_MARGIN * check_rho_contains(P)
    prompt_cols = read_columns(model)
    D = int(prompt_cols.size)
    fac = prompt_lipschitz(model, rho, X=X, out_cols=_out_cols(c))
    b = counting_bound(d=d, L=L, gamma=gamma, tol=tol, rho=rho, q=q, K_P=fac.K_P, N=N, D=D)
    row = {"N": N, "dL": d * L, "k": k, "D": D, "width_model": int(model.d), "rho_box": rho, "K_P": fac.K_P,
           "c_ff1": fac.c_ff1, "c_ff2": fac.c_ff2, "M": b.M, "bound": b.Lp_bound, "bound_sample": b.Lp_sample,
           "constr_Lp": int(P.shape[0]), "constr_err": _err(c, P, G, Y)}
    # the box-local refinement: prompts within rho_local of the closed-form prompt (K_P on the per-column box
    # that holds them); it speaks about fewer prompts, so it is never the headline
    rl = float(params["rho_local"])
    loc = prompt_lipschitz(model, rl, box=(P.min(axis=0) - rl, P.max(axis=0) + rl), X=X, out_cols=_out_cols(c))
    row["bound_local"] = counting_bound(d=d, L=L, gamma=gamma, tol=tol, rho=rl, q=q, K_P=loc.K_P, N=N, D=D).Lp_bound
    # negative controls: another member's closed form, and the closed form cut below the bound
    Y2 = sandwich_targets(G, gamma, q, np.random.SeedSequence([int(seed), 1]))
    row["ctrl_other_err"] = _err(c, _closed_form(c, Y2), G, Y)
    short = int(min(P.shape[0] - 1, math.floor(b.Lp_bound))) if b.Lp_bound >= 1 else 0
    row["ctrl_short_Lp"] = short if short >= 1 else None
    row["ctrl_short_err"] = _err(c, P[:short], G, Y) if short >= 1 else None
    base = _closed_form(c, np.zeros_like(Y))
    row.update(_search(params, c, model, X, Y, rho, prompt_cols, base, seed))
    found = [v for v in (row["lin_least_Lp"], row["tune_least_Lp"]) if v is not None]
    row["search_Lp"] = min(found) if found else None
    row["ratio"] = row["constr_Lp"] / b.Lp_bound if b.Lp_bound > 0 else None
    row["params_constr"] = row["constr_Lp"] * D
    row["params_bound"] = b.Lp_bound * D
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row


# ---------------------------------------------------------------------------- the random model
def capacity_point(params: dict, seed: int) -> dict:
    """Largest ``N = k^(d L)`` (of ``cap_cells``) the linear regime memorizes at ``Lp`` on the random model."""
    check_point(params)
    t0 = time.perf_counter()
    d, L, Lp = int(params["d"]), int(params["L"]), int(params["Lp"])
    model = frozen_model(params, L=L)
    gamma, tol, rho = float(params["rand_gamma"]), float(params["rand_tol"]), float(params["rho"])
    best, rank_at_fail, rows_at_fail, tried, misses = 0, None, None, [], 0
    for k in str(params["cap_cells"]).split(","):
        N = int(k) ** (d * L)
        if N > SANDWICH_GRID or misses >= 2:
            break  # two grids in a row not memorized: the curve has stopped
        G = grid(1.0 / int(k), L, d, max_points=SANDWICH_GRID)
        targets = relative_hard_family(model, G, gamma, rho=rho, q=2, seed=seed)
        t = memorizes_at(model, G, targets, tol, Lp, rho=rho, gn_steps=int(params["rand_gn_steps"]),
                         rank_rtol=float(params["rank_rtol"]))
        tuned = t.reached or tune_at(model, G, targets, tol, Lp, rho=rho, steps=int(params["cap_steps"]),
                                     restarts=1, seed=seed).reached
        tried.append(f"{N}:{t.rank}/{t.rows}:{'lin' if t.reached else 'tune' if tuned else 'n'}")
        misses = 0 if tuned else misses + 1
        if tuned:
            best = max(best, N)
        elif rank_at_fail is None:
            rank_at_fail, rows_at_fail = t.rank, t.rows
    # the Jacobian's numerical rank at the largest grid listed (the smoothness ceiling of docs/theory.md §7.9)
    k_big = int(str(params["cap_cells"]).split(",")[-1])
    G = grid(1.0 / k_big, L, d, max_points=SANDWICH_GRID)
    R = relative_hard_family(model, G, gamma, rho=rho, q=2, seed=seed)(Lp)[1]
    rank_big, _ = numerical_rank(prompt_jacobian(model, R, G), float(params["rank_rtol"]))
    return {"N": best or None, "bits": best * L * d, "params": Lp * d, "rank_big": rank_big,
            "rows_big": G.shape[0] * L * d, "rank_at_fail": rank_at_fail,
            "rows_at_fail": rows_at_fail, "cap_trials": ";".join(tried) or None,
            "seconds": round(time.perf_counter() - t0, 3)}


def realizable_point(params: dict, seed: int) -> dict:
    """Teacher targets of length ``Lp*`` on the random model: the least ``Lp`` found by tuning."""
    check_point(params)
    t0 = time.perf_counter()
    d, L, k, Lp_star = int(params["d"]), int(params["L"]), cells_per_side(params["delta"]), int(params["Lp_star"])
    model = frozen_model(params, L=L)
    G = grid(1.0 / k, L, d)
    rho = float(params["rho"])
    Y, _ = teacher(model, G, Lp_star, prompt_scale=rho / 2, seed=np.random.SeedSequence([int(seed), 2]))
    res = least_prompt_length(model, G, Y, float(params["rand_tol"]), rho=rho, max_Lp=Lp_star,
                              steps=int(params["steps"]), restarts=int(params["restarts"]), seed=seed,
                              time_limit=params.get("time_limit"))
    if res.status == STOPPED:
        raise SearchStopped(f"the tuning search stopped by its time limit of {params['time_limit']:g} s")
    return {"N": G.shape[0], "tune_least_Lp": res.least_Lp, "tune_status": res.status,
            "tune_trials": res.trials_text() or None, "seconds": round(time.perf_counter() - t0, 3)}


def memorization_point(params: dict, seed: int) -> dict:
    """The sweep's point function: dispatch on ``axis``."""
    axis = params.get("axis")
    if axis == "N":
        return sandwich_point(params, seed)
    if axis == "capacity":
        return capacity_point(params, seed)
    return realizable_point(params, seed)


#: Name kept for callers.
least_lp_point = memorization_point


def make_sweep(scale: str = "quick", *, seed: int = 0, **overrides) -> SweepDef:
    """The memorization sweep: the sandwich against ``N`` per ``(d, L)`` and width, the random model's capacity
    curve and its realizable targets.

    ``scale``: ``"tiny"`` (tests, seconds), ``"quick"``, ``"full"``;
    ``overrides`` replace entries of :data:`SETTINGS`.
    """
    s = resolve(SETTINGS, scale, overrides)
    fixed = {k: v for k, v in s.items() if k not in LAYOUT}
    fixed["cap_cells"] = ",".join(str(int(k)) for k in str(s["cap_cells"]).split(","))  # sidecar: scalars only
    pts = [{"axis": "N", "model": "construct", "width": w, "d": int(d), "L": int(L), "delta": 1.0 / int(k)}
           for w, d, L, k in s["shapes"]]
    pts += [{"axis": "capacity", "model": "random", "d": int(d), "L": int(L), "Lp": int(Lp)}
            for d, L in s["cap_shapes"] for Lp in s["cap_Lps"]]
    pts += [{"axis": "realizable", "model": "random", "d": int(d), "L": int(L), "delta": 1.0 / int(k),
             "Lp_star": int(Lp)} for d, L, k, Lp in s["teachers"]]
    return SweepDef(name="memorization", point="promptlimits.experiments.memorization:memorization_point",
                    points=tuple(pts), fixed=fixed, repeats=int(s["repeats"]), seed=int(seed),
                    check="promptlimits.experiments.memorization:check_point",
                    summary="promptlimits.experiments.memorization:summarize",
                    description=f"memorization sandwich over the whole box against N (constructed model) and a "
                                f"random model's capacity (docs/theory.md §7), scale={scale}")
