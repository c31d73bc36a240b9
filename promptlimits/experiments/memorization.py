"""Least memorizing prompt length against N, eps and rho, beside the counting bound (DESIGN section 6).

A point ``(axis, d, L, delta, gamma, eps, rho, data_seed)`` builds the frozen
model ``PromptedModel.from_seed(d, s=s, scale=logit_scale, seed=model_seed)``,
the grid ``G_delta`` (``N = (1/delta)^(d L)`` inputs), one dataset of the
hard family placed on a reference prompt's output
(:func:`promptlimits.memorization.relative_hard_family`; bits from the point's
seed), and searches the least ``Lp`` with
:func:`promptlimits.memorization.least_prompt_length`. Beside it, the counting
bound :func:`promptlimits.capacity.counting_bound` for the *same* model, ``rho``,
``gamma`` and ``eps``.

Defaults (chosen by a small exploration, see the report of issue 5): ``s = 8``,
logit scale 1, softmax, ``gamma = 0.02``, ``eps = gamma / 4``, ``rho = 4``.
With random weights and arbitrary ``{0, gamma}`` targets tuning plateaus near
``gamma / 2`` for any ``Lp`` (see :mod:`promptlimits.memorization`).

Rows: ``N``, ``least_Lp`` (``None`` when ``status`` is ``"not reached within
budget"``), ``status``, ``trials`` (``Lp:best_err;...``), ``best_err`` (the best
error at the largest ``Lp`` tried), ``K_P``, ``eta``, ``M``, ``bound``
(``N L log 2 / log M``), ``bound_Lp_min`` (its ceiling), ``above_bound``
(``least_Lp >= bound``; ``None`` if not reached), ``seconds``.

Summary: the log-log least-squares fit ``least_Lp ~ a N^b`` over the reached
points of the ``N`` axis, the number of reached / not-reached points and the
number of points below the bound (must be 0).
"""

from __future__ import annotations

import math
import time

import numpy as np

from promptlimits.capacity import counting_bound
from promptlimits.datasets import cells_per_side, grid
from promptlimits.memorization import least_prompt_length, relative_hard_family
from promptlimits.model import PromptedModel
from promptlimits.sweep import SweepDef

from ._settings import scaled_settings

__all__ = ["least_lp_point", "check_point", "summarize", "make_sweep", "fit_power", "SCALES", "DEFAULTS"]

SCALES = ("tiny", "quick", "full")

#: Fixed parameters shared by every point (a point may override them).
DEFAULTS = {
    "s": 8, "logit_scale": 1.0, "variant": "softmax", "model_seed": 0, "gamma": 0.02, "eps": 0.005,
    "rho": 4.0, "max_Lp": 16, "steps": 200, "restarts": 2, "time_budget": 60.0,
}


def _num(params, key, kind=float):
    v = params.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not isinstance(v, int)):
        raise ValueError(f"{key} must be {'an integer' if kind is int else 'a number'}, got {v!r}")
    if not math.isfinite(v):
        raise ValueError(f"{key} must be finite, got {v!r}")
    return v


def check_point(params: dict) -> None:
    """Validate a point before anything runs (clear messages naming the numbers)."""
    for key in ("d", "L", "max_Lp", "steps", "restarts", "s"):
        if _num(params, key, int) < 1:
            raise ValueError(f"{key} must be >= 1, got {params[key]}")
    delta = _num(params, "delta")
    k = cells_per_side(delta)  # raises for delta not dividing [0, 1]
    if k ** (params["d"] * params["L"]) > 4096:
        raise ValueError(f"grid N = {k}^{params['d'] * params['L']} is above 4096 points; use a larger delta")
    gamma, eps, rho = _num(params, "gamma"), _num(params, "eps"), _num(params, "rho")
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    if not gamma > 2 * eps:
        raise ValueError(f"the hard family needs gamma > 2 eps, got gamma = {gamma} <= 2 eps = {2 * eps}")
    if rho <= 0:
        raise ValueError(f"rho must be > 0, got {rho}")
    if _num(params, "logit_scale") <= 0:
        raise ValueError(f"logit_scale must be > 0, got {params['logit_scale']}")


def _model(params):
    return PromptedModel.from_seed(int(params["d"]), s=int(params["s"]), seed=int(params["model_seed"]),
                                   scale=float(params["logit_scale"]), variant=params.get("variant", "softmax"))


def least_lp_point(params: dict, seed: int) -> dict:
    """One point: least memorizing ``Lp`` for one sampled dataset, and the counting bound."""
    check_point(params)
    t0 = time.perf_counter()
    d, L, delta = int(params["d"]), int(params["L"]), float(params["delta"])
    gamma, eps, rho = float(params["gamma"]), float(params["eps"]), float(params["rho"])
    model = _model(params)
    X = grid(delta, L, d)
    targets = relative_hard_family(model, X, gamma, rho=rho, seed=seed)
    res = least_prompt_length(model, X, targets, eps, rho=rho, max_Lp=int(params["max_Lp"]),
                              steps=int(params["steps"]), restarts=int(params["restarts"]), seed=seed,
                              time_budget=float(params.get("time_budget", 60.0)))
    b = counting_bound(d=d, L=L, gamma=gamma, eps=eps, rho=rho, model=model, N=X.shape[0])
    errs = res.best_err_by_Lp()
    return {
        "N": int(X.shape[0]), "dL": d * L,
        "least_Lp": res.least_Lp, "status": res.status, "bisected": res.bisected,
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


#: (d, L, delta) triples with N = (1/delta)^(dL) from 2 to 16 and dL <= 4.
N_SHAPES = {
    "tiny": [(1, 1, 0.5), (1, 1, 0.25), (2, 1, 0.5)],
    "quick": [(1, 1, 0.5), (1, 1, 0.25), (2, 1, 0.5), (1, 2, 0.5), (1, 1, 0.125), (3, 1, 0.5), (1, 1, 1 / 16)],
    "full": [(1, 1, 0.5), (1, 1, 0.25), (2, 1, 0.5), (1, 2, 0.5), (1, 1, 0.125), (3, 1, 0.5), (1, 1, 1 / 16),
             (2, 1, 0.25), (4, 1, 0.5), (2, 2, 0.5)],
}
EPS_VALUES = {"tiny": [0.005], "quick": [0.0025, 0.005, 0.0075], "full": [0.002, 0.0035, 0.005, 0.0065, 0.008]}
RHO_VALUES = {"tiny": [4.0], "quick": [1.0, 2.0, 4.0], "full": [0.5, 1.0, 2.0, 4.0, 8.0]}
REPEATS = {"tiny": 1, "quick": 2, "full": 4}
BUDGET = {"tiny": {"max_Lp": 8, "steps": 100, "restarts": 1, "time_budget": 10.0},
          "quick": {"max_Lp": 32, "steps": 300, "restarts": 3, "time_budget": 30.0},
          "full": {"max_Lp": 32, "steps": 300, "restarts": 3, "time_budget": 120.0}}


def make_sweep(scale="quick", *, seed=0, name="memorization", **overrides) -> SweepDef:
    """The memorization sweep: least ``Lp`` against ``N`` (axis ``"N"``), ``eps`` and ``rho``.

    ``scale``: ``"tiny"`` (tests, seconds), ``"quick"`` (a few minutes on 2
    cores), ``"full"``. The ``eps`` and ``rho`` axes use ``(d, L, delta) =
    (1, 1, 1/4)`` (``N = 4``). ``overrides`` replace entries of
    :data:`DEFAULTS` / the budget.
    """
    fixed = scaled_settings(scale, SCALES, DEFAULTS, BUDGET, overrides)
    pts = [{"axis": "N", "d": d, "L": L, "delta": float(delta)} for d, L, delta in N_SHAPES[scale]]
    if scale != "tiny":
        pts += [{"axis": "eps", "d": 1, "L": 1, "delta": 0.25, "eps": float(e)} for e in EPS_VALUES[scale]]
        pts += [{"axis": "rho", "d": 1, "L": 1, "delta": 0.25, "rho": float(r)} for r in RHO_VALUES[scale]]
    return SweepDef(name=name, point="promptlimits.experiments.memorization:least_lp_point", points=tuple(pts),
                    fixed=fixed, repeats=REPEATS[scale], seed=int(seed),
                    check="promptlimits.experiments.memorization:check_point",
                    summary="promptlimits.experiments.memorization:summarize",
                    description=f"least memorizing prompt length vs N, eps, rho with the counting bound "
                                f"(DESIGN section 6), scale={scale}")
