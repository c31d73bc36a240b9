"""Prompt-induced norm against the efficiency frontier (docs/theory.md §2, §5; figure 5).

A frozen random model (:meth:`promptlimits.model.PromptedModel.from_seed`),
inputs ``X`` uniform in ``[0, 1]`` and teacher targets
(:func:`promptlimits.datasets.teacher`, a prompt of entries in
``[0, teacher_scale]``). A point is a prompt norm ``rho``:

* a random prompt scaled to ``||P||max = rho`` gives the induced
  ``B(P, X) = max(||Q||max, ||K||max)`` (docs/theory.md §2.4), and the predicted cost
  ratio ``r*/n_ref`` of the polynomial method at that ``B`` for head size
  ``s`` and a reference length ``n_ref`` (docs/theory.md §5.3; which side of the
  frontier the prompt lands on);
* norm-constrained tuning (``||P||max <= rho``, L-BFGS-B) from that prompt
  gives the loss reached and the induced ``B`` of the tuned prompt: the
  capacity--efficiency trade-off.

The frontier ``B*(n_ref)`` for head size ``s`` (largest ``B`` with
``r*/n_ref < 1``, found by bisection on the certificate) is in every row.
"""

from __future__ import annotations

import math

import numpy as np

from promptlimits._checks import check_open_interval, check_positive_float, check_positive_int
from promptlimits.sweep import SweepDef
from promptlimits.tuning import check_tuning_memory

from ._settings import Option, resolve, scale_table

__all__ = ["prompt_norm_point", "check_point", "make_sweep", "summarize", "verdicts",
           "SETTINGS", "OPTIONS"]

#: Grids and budgets per scale (keys are the overrides ``make_sweep`` accepts).
SETTINGS = scale_table(
    {"rhos": tuple(float(f"{r:.4g}") for r in np.geomspace(0.1, 10.0, 9)), "d": 4, "L": 4, "Lp": 4,
     "batch": 8, "steps": 60, "n_ref": 16384, "eps": 1e-6, "teacher_scale": 1.0, "model_seed": 0},
    tiny={"rhos": (0.3, 3.0), "steps": 10},
    quick={},
    full={"steps": 300},
)

#: Options of ``promptlimits sweep prompt-norm``.
OPTIONS = (
    Option("--rho", "rhos", float, "+", help="prompt norms"),
    Option("--d", "d", int, help="token width"),
    Option("--L", "L", int, help="input length"),
    Option("--Lp", "Lp", int, help="prompt length"),
    Option("--batch", "batch", int, help="input sequences"),
    Option("--steps", "steps", int, help="L-BFGS-B iterations"),
    Option("--n-ref", "n_ref", int, help="length at which the frontier is read"),
    Option("--eps", "eps", float, help="attention-output error target of the frontier"),
    Option("--teacher-scale", "teacher_scale", float, help="teacher prompt entries in [0, this]"),
    Option("--model-seed", "model_seed", int, help="seed of the frozen weights"),
)


def _ratio(s: int, B: float, n: int, eps: float) -> tuple[float, int | None]:
    """``(r*/n, g*)`` at the induced norm ``B`` (:func:`promptlimits.poly_attention.least_cost`)."""
    from promptlimits.poly_attention import least_cost

    cost = least_cost(n, s, B, eps=eps)
    return (math.inf, None) if cost is None else (cost.ratio, cost.degree)


def check_point(params: dict) -> None:
    """Validate one point (called by the sweep engine before anything runs)."""
    check_positive_float(params.get("rho"), "rho")
    for key in ("d", "L", "Lp", "batch"):
        check_positive_int(params.get(key), key)
    check_positive_int(params.get("n_ref"), "n_ref", minimum=2)
    check_positive_int(params.get("steps"), "steps", minimum=0)
    check_open_interval(params.get("eps"), "eps", 0.0, 1.0)
    check_positive_float(params.get("teacher_scale"), "teacher_scale", allow_zero=True)
    check_positive_int(params.get("model_seed", 0), "model_seed", minimum=0)
    d = params["d"]
    check_tuning_memory(d, d, 4 * d, batch=params["batch"], L=params["L"], Lp=params["Lp"])


def prompt_norm_point(params: dict, seed: int) -> dict:
    """One prompt norm ``rho`` (module docstring)."""
    from promptlimits.datasets import teacher
    from promptlimits.model import PromptedModel
    from promptlimits.poly_attention import frontier_B
    from promptlimits.tuning import tune_prompt

    check_point(params)
    d, L, Lp, rho = params["d"], params["L"], params["Lp"], float(params["rho"])
    model = PromptedModel.from_seed(d, seed=int(params.get("model_seed", 0)))
    data_rng = np.random.default_rng(int(params.get("data_seed", 0)))  # same data at every rho
    X = data_rng.uniform(0.0, 1.0, size=(params["batch"], L, d))
    Y, _ = teacher(model, X, Lp, prompt_scale=float(params.get("teacher_scale", 1.0)), seed=data_rng)
    rng = np.random.default_rng(seed)
    P0 = rng.uniform(-1.0, 1.0, size=(Lp, d))
    P0 *= rho / np.abs(P0).max()
    ind = model.induced_norm(P0, X)
    eps, n_ref, s = float(params.get("eps", 1e-6)), params["n_ref"], model.s
    ratio0, g0 = _ratio(s, ind.B, n_ref, eps)
    res = tune_prompt(model, X, Y, P0=P0, optimizer="lbfgs", steps=params["steps"], rho=rho, progress=False)
    ratio1, g1 = _ratio(s, res.B, n_ref, eps)
    bstar = frontier_B(n_ref, d=s, eps=eps)
    return {
        "s": s, "B_init": ind.B, "B_prompt_init": ind.B_prompt, "B_input_init": ind.B_input,
        "g_star_init": g0, "ratio_init": ratio0, "B_star": bstar, "init_below_frontier": ind.B < bstar,
        "mse_init": float(model.loss(P0, X, Y).mse), "mse_tuned": res.mse, "max_err_tuned": res.max_err,
        "B_tuned": res.B, "g_star_tuned": g1, "ratio_tuned": ratio1, "tuned_below_frontier": res.B < bstar,
        "tune_steps": res.steps,
    }


def summarize(rows: list[dict]) -> dict:
    rows = sorted(rows, key=lambda r: r["rho"])
    below = [r["rho"] for r in rows if r["tuned_below_frontier"]]
    best = min(rows, key=lambda r: r["mse_tuned"])
    return {"B_star": rows[0]["B_star"] if rows else None,
            "largest_rho_tuned_below_frontier": max(below) if below else None,
            "best_rho": best["rho"], "best_mse": best["mse_tuned"]}


def make_sweep(scale: str = "quick", *, seed: int = 0, **overrides) -> SweepDef:
    """The prompt-norm sweep at ``scale``: one point per prompt norm of ``rhos``."""
    s = resolve(SETTINGS, scale, overrides)
    return SweepDef(
        name="prompt-norm", point="promptlimits.experiments.prompt_norm:prompt_norm_point",
        grid={"rho": [float(r) for r in s["rhos"]]},
        fixed={"d": int(s["d"]), "L": int(s["L"]), "Lp": int(s["Lp"]), "batch": int(s["batch"]),
               "steps": int(s["steps"]), "n_ref": int(s["n_ref"]), "eps": float(s["eps"]),
               "teacher_scale": float(s["teacher_scale"]), "model_seed": int(s["model_seed"]),
               "data_seed": int(seed)},
        seed=int(seed), check="promptlimits.experiments.prompt_norm:check_point",
        summary="promptlimits.experiments.prompt_norm:summarize",
        description="prompt-induced norm B(P, X) against the frontier, docs/theory.md §2 and §5",
    )


def verdicts(results) -> list:
    """None of its own: the prompt-norm results are evidence for claim 5 (:mod:`.tuning_curves`)."""
    del results
    return []
