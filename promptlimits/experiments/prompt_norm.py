"""Prompt-induced norm against the efficiency frontier (DESIGN sections 2, 4; figure 5).

A frozen random model (:meth:`promptlimits.model.PromptedModel.from_seed`),
inputs ``X`` uniform in ``[0, 1]`` and teacher targets
(:func:`promptlimits.datasets.teacher`, a prompt of entries in
``[0, teacher_scale]``). A point is a prompt norm ``rho``:

* a random prompt scaled to ``||P||max = rho`` gives the induced
  ``B(P, X) = max(||Q||max, ||K||max)`` (section 2), and the predicted cost
  ratio ``r*/n_ref`` of the polynomial method at that ``B`` for head size
  ``s`` and a reference length ``n_ref`` (section 4; which side of the
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

from promptlimits.sweep import SweepDef

__all__ = ["prompt_norm_point", "check_point", "make_sweep", "add_arguments", "make_sweep_from_args", "summarize"]


def _ratio(s: int, B: float, n: int, eps: float) -> tuple[float, int | None]:
    """``(r*/n, g*)`` at the induced norm ``B`` (:func:`promptlimits.poly_attention.least_cost`)."""
    from promptlimits.poly_attention import least_cost

    cost = least_cost(n, s, B, eps=eps)
    return (math.inf, None) if cost is None else (cost.ratio, cost.degree)


def check_point(params: dict) -> None:
    rho = params.get("rho")
    if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not math.isfinite(rho) or rho <= 0:
        raise ValueError(f"rho must be a finite number > 0, got {rho!r}")
    for key in ("d", "L", "Lp", "batch", "n_ref"):
        v = params.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < (2 if key == "n_ref" else 1):
            raise ValueError(f"{key} must be a positive integer, got {v!r}")
    st = params.get("steps")
    if isinstance(st, bool) or not isinstance(st, int) or st < 0:
        raise ValueError(f"steps must be an integer >= 0, got {st!r}")


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


def make_sweep(rhos=None, *, d=4, L=4, Lp=4, batch=8, steps=60, n_ref=16384, eps=1e-6,
               teacher_scale=1.0, model_seed=0, seed=0, name="prompt-norm") -> SweepDef:
    if rhos is None:
        rhos = [float(f"{r:.4g}") for r in np.geomspace(0.1, 10.0, 9)]
    return SweepDef(
        name=name, point="promptlimits.experiments.prompt_norm:prompt_norm_point",
        grid={"rho": [float(r) for r in rhos]},
        fixed={"d": int(d), "L": int(L), "Lp": int(Lp), "batch": int(batch), "steps": int(steps),
               "n_ref": int(n_ref), "eps": float(eps), "teacher_scale": float(teacher_scale),
               "model_seed": int(model_seed), "data_seed": int(seed)},
        seed=int(seed), check="promptlimits.experiments.prompt_norm:check_point",
        summary="promptlimits.experiments.prompt_norm:summarize",
        description="prompt-induced norm B(P, X) against the frontier, DESIGN sections 2 and 4",
    )


def add_arguments(p) -> None:
    p.add_argument("--rho", type=float, nargs="+", default=None, help="prompt norms (default 0.1..10, 9 values)")
    p.add_argument("--d", type=int, default=4)
    p.add_argument("--L", type=int, default=4)
    p.add_argument("--Lp", type=int, default=4)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--n-ref", type=int, default=16384, help="length at which the frontier is read")
    p.add_argument("--eps", type=float, default=1e-6)
    p.add_argument("--teacher-scale", type=float, default=1.0)
    p.add_argument("--model-seed", type=int, default=0)


def make_sweep_from_args(a) -> SweepDef:
    return make_sweep(a.rho, d=a.d, L=a.L, Lp=a.Lp, batch=a.batch, steps=a.steps, n_ref=a.n_ref, eps=a.eps,
                      teacher_scale=a.teacher_scale, model_seed=a.model_seed, seed=a.seed)
