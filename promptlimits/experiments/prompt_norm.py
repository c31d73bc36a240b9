"""Prompt-induced norm against the efficiency frontier, warm-started over the prompt norm (docs/theory.md §5.6).

A frozen random model (:meth:`promptlimits.model.PromptedModel.from_seed`),
inputs ``X`` uniform in ``[0, 1]`` and teacher targets
(:func:`promptlimits.datasets.teacher`, a prompt of entries in
``[0, teacher_scale]``). One point runs a chain over the prompt norms
``rho_1 < rho_2 < ...`` (one row each):

* a random prompt scaled to ``||P||max = rho`` gives the induced
  ``B(P, X) = max(||Q||max, ||K||max)`` (docs/theory.md §2.4), and the predicted cost
  ratio ``r*/n`` of the polynomial method at that ``B`` for head size ``s`` and
  the ``n = Lp + L`` rows the model actually reads (docs/theory.md §5.3);
* norm-constrained tuning (``||P||max <= rho``, L-BFGS-B) from that scaled
  prompt (``mse_cold``) and, warm-started, from the best prompt of the
  previous ``rho``; the row keeps the best of the two and of that previous
  prompt, which lies in the larger box too. So the reachable loss
  ``mse_tuned`` never rises with ``rho``: a larger box contains the smaller
  one's solution. (Cold starts alone do not give this: a random prompt of large
  norm starts where attention is saturated, and a fixed budget of iterations
  need not recover from there.)

The certified frontier at fixed ``d``, ``B_cert(n; s, eps)`` for head size
``s`` at that ``n`` (largest ``B`` with ``r*/n < 1``, found by bisection on the
certificate; not the phase frontier ``B*(n)`` of docs/theory.md §5.4), is in
every row. At the default ``n = 8`` it is 0.044, below the inputs' own norm:
no prompt can be on the efficient side, so the comparison is empty there and the
sweep's content is the loss against ``rho`` (docs/theory.md §5.6, §9.8).
"""

from __future__ import annotations

import math
from itertools import pairwise

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
     "batch": 8, "steps": 60, "eps": 1e-6, "teacher_scale": 1.0, "model_seed": 0},
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
    Option("--eps", "eps", float, help="attention-output error target of the frontier"),
    Option("--teacher-scale", "teacher_scale", float, help="teacher prompt entries in [0, this]"),
    Option("--model-seed", "model_seed", int, help="seed of the frozen weights"),
)


def _ratio(s: int, B: float, n: int, eps: float) -> tuple[float, int | None]:
    """``(r*/n, g*)`` at the induced norm ``B`` (:func:`promptlimits.poly_attention.least_cost`)."""
    from promptlimits.poly_attention import least_cost

    cost = least_cost(n, s, B, eps=eps)
    return (math.inf, None) if cost is None else (cost.ratio, cost.degree)


def _rhos(text) -> list[float]:
    """The chain's prompt norms, ascending, from the space-separated ``rhos`` parameter."""
    if not isinstance(text, str) or not text.split():
        raise ValueError(f"rhos must be a non-empty space-separated list of numbers, got {text!r}")
    try:
        values = [float(v) for v in text.split()]
    except ValueError:
        raise ValueError(f"rhos must be numbers, got {text!r}") from None
    return sorted({check_positive_float(v, "rho") for v in values})


def check_point(params: dict) -> None:
    """Validate one point (called by the sweep engine before anything runs)."""
    _rhos(params.get("rhos"))
    for key in ("d", "L", "Lp", "batch"):
        check_positive_int(params.get(key), key)
    check_positive_int(params.get("steps"), "steps", minimum=0)
    check_open_interval(params.get("eps"), "eps", 0.0, 1.0)
    check_positive_float(params.get("teacher_scale"), "teacher_scale", allow_zero=True)
    check_positive_int(params.get("model_seed", 0), "model_seed", minimum=0)
    d = params["d"]
    check_tuning_memory(d, d, 4 * d, batch=params["batch"], L=params["L"], Lp=params["Lp"])


def _task(params):
    """The frozen model, the inputs and the teacher's targets (the same at every rho)."""
    from promptlimits.datasets import teacher
    from promptlimits.model import PromptedModel

    d, L, Lp = params["d"], params["L"], params["Lp"]
    model = PromptedModel.from_seed(d, seed=int(params.get("model_seed", 0)))
    data_rng = np.random.default_rng(int(params.get("data_seed", 0)))
    X = data_rng.uniform(0.0, 1.0, size=(params["batch"], L, d))
    Y, _ = teacher(model, X, Lp, prompt_scale=float(params.get("teacher_scale", 1.0)), seed=data_rng)
    return model, X, Y


def prompt_norm_point(params: dict, seed: int) -> list[dict]:
    """The chain over the prompt norms ``rhos``, ascending (module docstring): one row per ``rho``."""
    from promptlimits.poly_attention import frontier_B
    from promptlimits.tuning import tune_prompt

    check_point(params)
    model, X, Y = _task(params)
    eps, s = float(params.get("eps", 1e-6)), model.s
    n = params["Lp"] + params["L"]  # the rows one attention call reads: prompt and input
    bcert = frontier_B(n, d=s, eps=eps)
    rng = np.random.default_rng(seed)

    def tune(P0, rho):
        return tune_prompt(model, X, Y, P0=P0, optimizer="lbfgs", steps=params["steps"], rho=rho, progress=False)

    rows, best = [], None  # best: (mse, P, B, max_err) reached so far, feasible in every larger box
    for rho in _rhos(params["rhos"]):
        P0 = rng.uniform(-1.0, 1.0, size=(params["Lp"], params["d"]))
        P0 *= rho / np.abs(P0).max()
        ind = model.induced_norm(P0, X)
        cold = tune(P0, rho)
        candidates = [(cold.mse, cold.P, cold.B, cold.max_err, "cold")]
        if best is not None:
            warm = tune(best[1], rho)
            candidates += [(warm.mse, warm.P, warm.B, warm.max_err, "warm"), best[:4] + ("previous",)]
        mse, P, B, max_err, source = min(candidates, key=lambda c: c[0])
        best = (mse, P, B, max_err)
        ratio0, g0 = _ratio(s, ind.B, n, eps)
        ratio1, g1 = _ratio(s, B, n, eps)
        rows.append({
            "rho": rho, "s": s, "B_init": ind.B, "B_prompt_init": ind.B_prompt, "B_input_init": ind.B_input,
            "g_star_init": g0, "ratio_init": ratio0, "n": n, "B_cert": bcert, "init_below_frontier": ind.B < bcert,
            "mse_init": float(model.loss(P0, X, Y).mse), "mse_cold": cold.mse, "B_cold": cold.B,
            "mse_tuned": mse, "max_err_tuned": max_err, "B_tuned": B, "tuned_from": source, "g_star_tuned": g1,
            "ratio_tuned": ratio1, "tuned_below_frontier": B < bcert,
        })
    return rows


def summarize(rows: list[dict]) -> dict:
    rows = sorted(rows, key=lambda r: r["rho"])
    below = [r["rho"] for r in rows if r["tuned_below_frontier"]]
    best = min(rows, key=lambda r: r["mse_tuned"])
    losses = [r["mse_tuned"] for r in rows]
    return {"B_cert": rows[0]["B_cert"] if rows else None, "n": rows[0]["n"] if rows else None,
            "B_input": rows[0]["B_input_init"] if rows else None,
            "largest_rho_tuned_below_frontier": max(below) if below else None,
            "best_rho": best["rho"], "best_mse": best["mse_tuned"],
            "monotone": all(b <= a for a, b in pairwise(losses)),
            "warm_beat_cold_at": [r["rho"] for r in rows if r["tuned_from"] != "cold"]}


def make_sweep(scale: str = "quick", *, seed: int = 0, **overrides) -> SweepDef:
    """The prompt-norm sweep at ``scale``: one warm-started chain over the prompt norms ``rhos``."""
    s = resolve(SETTINGS, scale, overrides)
    return SweepDef(
        name="prompt-norm", point="promptlimits.experiments.prompt_norm:prompt_norm_point",
        points=({},),
        fixed={"rhos": " ".join(repr(float(r)) for r in sorted(s["rhos"])), "d": int(s["d"]), "L": int(s["L"]),
               "Lp": int(s["Lp"]), "batch": int(s["batch"]), "steps": int(s["steps"]),
               "eps": float(s["eps"]), "teacher_scale": float(s["teacher_scale"]),
               "model_seed": int(s["model_seed"]), "data_seed": int(seed)},
        seed=int(seed), check="promptlimits.experiments.prompt_norm:check_point",
        summary="promptlimits.experiments.prompt_norm:summarize",
        description="prompt-induced norm B(P, X) against the frontier, warm-started over rho, docs/theory.md §2 "
                    "and §5",
    )


def verdicts(results) -> list:
    """None of its own: the prompt-norm results are evidence for claim 5 (:mod:`.tuning_verdict`)."""
    del results
    return []
