"""Universality: held-out error of tuned prompts for random Lipschitz targets (DESIGN sections 6, 8).

A point ``(axis, d, L, delta, Lp, K_f, rho, repeat)`` draws a random
``K_f``-Lipschitz target :class:`promptlimits.datasets.LipschitzTarget` and
its test inputs from ``(target_seed, repeat)`` (the same target for every
``Lp`` and ``delta`` of one repeat; the prompt's initialisation uses the
point's seed), tunes a prompt of length ``Lp`` on the grid ``G_delta``
(L-BFGS-B, box ``‖P‖max <= rho``, ``restarts`` restarts, the best kept by
training MSE) and measures the error on ``n_test`` fresh uniform inputs in
``[0, 1]^{L x d}`` (not the grid): max-abs and root-mean-square. For scale it
also records ``ref_test_max_err``, the held-out error of the reference prompt
``R`` (below), i.e. of learning nothing: ``max |g - mean g|``.

The target is centred on the model's own prompt-free-ish output: ``f(X) =
tau([R; X])[1:] + g(X) - mean g`` with ``R`` one fixed reference row and ``g``
the random Lipschitz map, so the held-out error measures how much of ``g`` the
prompt captures rather than a constant offset the residual path cannot remove.

Axes: ``"Lp"`` (``Lp`` varies at a fixed ``delta``) and ``"delta"``
(``delta`` varies at a fixed ``Lp``). Summary: mean held-out errors per
``(axis, Lp, delta)``.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict

import numpy as np

from promptlimits.datasets import LipschitzTarget, cells_per_side, grid
from promptlimits.model import PromptedModel
from promptlimits.sweep import SweepDef
from promptlimits.tuning import tune_prompt

from ._settings import scaled_settings

__all__ = ["universality_point", "check_point", "summarize", "make_sweep", "SCALES", "DEFAULTS"]

SCALES = ("tiny", "quick", "full")

DEFAULTS = {"s": 8, "logit_scale": 1.0, "variant": "softmax", "model_seed": 0, "K_f": 2.0, "rho": 4.0,
            "steps": 200, "restarts": 2, "n_test": 512, "d": 1, "L": 1,
            "target_seed": 0}


def check_point(params: dict) -> None:
    for key in ("d", "L", "Lp", "steps", "restarts", "n_test", "s"):
        v = params.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{key} must be an integer >= 1, got {v!r}")
    k = cells_per_side(params.get("delta"))
    if k ** (params["d"] * params["L"]) > 4096:
        raise ValueError(f"grid N = {k}^{params['d'] * params['L']} is above 4096 points; use a larger delta")
    for key in ("K_f", "rho", "logit_scale"):
        v = params.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"{key} must be a finite number > 0, got {v!r}")


def universality_point(params: dict, seed: int) -> dict:
    """Tune on the grid, measure on fresh uniform inputs."""
    check_point(params)
    t0 = time.perf_counter()
    d, L, Lp, rho = int(params["d"]), int(params["L"]), int(params["Lp"]), float(params["rho"])
    model = PromptedModel.from_seed(d, s=int(params["s"]), seed=int(params["model_seed"]),
                                    scale=float(params["logit_scale"]), variant=params.get("variant", "softmax"))
    # one target per repeat, shared by every Lp / delta (so the curves compare like with like)
    trng = np.random.default_rng([int(params.get("target_seed", 0)), int(params.get("repeat", 0))])
    g = LipschitzTarget.random(L, d, K=float(params["K_f"]), seed=trng)
    rng = np.random.default_rng(seed)
    ref = np.random.default_rng(12345).uniform(-rho / 2, rho / 2, size=(1, d))
    Xg = grid(float(params["delta"]), L, d)
    Xt = trng.uniform(0.0, 1.0, size=(int(params["n_test"]), L, d))
    centre = float(np.mean(g(Xt)))

    def f(X):
        return model.forward(ref, X) + g(X) - centre

    Yg, Yt = f(Xg), f(Xt)
    best = None
    for r in range(int(params["restarts"])):
        res = tune_prompt(model, Xg, Yg, Lp=Lp, optimizer="lbfgs", steps=int(params["steps"]), rho=rho,
                          init="normal", init_scale=min(rho, 1.0), seed=np.random.default_rng([seed, r]),
                          progress=False)
        if best is None or res.mse < best.mse:
            best = res
    test = model.loss(best.P, Xt, Yt)
    ref_err = model.loss(ref, Xt, Yt).max_err  # = max |g - mean g|: the error of learning nothing
    return {
        "N": int(Xg.shape[0]), "train_max_err": best.max_err, "train_rmse": math.sqrt(best.mse),
        "test_max_err": test.max_err, "test_rmse": math.sqrt(test.mse),
        "ref_test_max_err": ref_err,
        "B": best.B, "seconds": round(time.perf_counter() - t0, 3),
    }


def summarize(rows: list) -> dict:
    groups = defaultdict(list)
    for r in rows:
        groups[(r["axis"], r["Lp"], r["delta"])].append(r)
    table = []
    for (axis, Lp, delta), rs in sorted(groups.items()):
        table.append({"axis": axis, "Lp": Lp, "delta": delta, "N": rs[0]["N"], "count": len(rs),
                      "test_max_err": float(np.mean([r["test_max_err"] for r in rs])),
                      "test_rmse": float(np.mean([r["test_rmse"] for r in rs])),
                      "train_max_err": float(np.mean([r["train_max_err"] for r in rs])),
                      "ref_test_max_err": float(np.mean([r["ref_test_max_err"] for r in rs]))})
    return {"by_point": table, "total_seconds": round(sum(r["seconds"] for r in rows), 2)}


LP_VALUES = {"tiny": [1, 4], "quick": [1, 2, 4, 8, 16, 32], "full": [1, 2, 4, 8, 16, 32, 64]}
DELTAS = {"tiny": [0.25], "quick": [0.5, 0.25, 0.125, 1 / 16], "full": [0.5, 0.25, 0.125, 1 / 16, 1 / 32]}
FIXED_DELTA = {"tiny": 0.25, "quick": 0.125, "full": 0.125}
FIXED_LP = {"tiny": 4, "quick": 8, "full": 16}
REPEATS = {"tiny": 1, "quick": 8, "full": 16}
BUDGET = {"tiny": {"steps": 60, "restarts": 1, "n_test": 128},
          "quick": {"steps": 400, "restarts": 3, "n_test": 1024},
          "full": {"steps": 400, "restarts": 3, "n_test": 2048}}


def make_sweep(scale="quick", *, seed=0, name="universality", **overrides) -> SweepDef:
    """Held-out error against ``Lp`` (axis ``"Lp"``) and against ``delta`` (axis ``"delta"``)."""
    fixed = scaled_settings(scale, SCALES, DEFAULTS, BUDGET, overrides)
    pts = [{"axis": "Lp", "Lp": int(Lp), "delta": float(FIXED_DELTA[scale])} for Lp in LP_VALUES[scale]]
    pts += [{"axis": "delta", "Lp": int(FIXED_LP[scale]), "delta": float(dl)} for dl in DELTAS[scale]]
    return SweepDef(name=name, point="promptlimits.experiments.universality:universality_point",
                    points=tuple(pts), fixed=fixed, repeats=REPEATS[scale], seed=int(seed),
                    check="promptlimits.experiments.universality:check_point",
                    summary="promptlimits.experiments.universality:summarize",
                    description=f"held-out error of tuned prompts for Lipschitz targets (DESIGN sections 6, 8), "
                                f"scale={scale}")
