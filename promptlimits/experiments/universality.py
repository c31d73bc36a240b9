"""Universality: held-out error of tuned prompts for random Lipschitz targets (docs/theory.md §7, §8).

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

from promptlimits._checks import check_memory, check_positive_float, check_positive_int
from promptlimits.datasets import LipschitzTarget, cells_per_side, grid
from promptlimits.sweep import SweepDef
from promptlimits.tuning import check_tuning_memory, tune_prompt, tuning_bytes

from ._settings import Option, resolve, scale_table
from .memorization import MODEL_OPTIONS, check_grid, check_model, frozen_model
from .verdict import CONSISTENT, NOT_CONSISTENT, Verdict, fmt

__all__ = ["universality_point", "check_point", "summarize", "make_sweep", "verdicts", "SETTINGS", "OPTIONS",
           "DEFAULTS", "LAYOUT"]

DEFAULTS = {"s": 8, "logit_scale": 1.0, "variant": "softmax", "model_seed": 0, "K_f": 2.0, "rho": 4.0,
            "steps": 200, "restarts": 2, "n_test": 512, "d": 1, "L": 1,
            "target_seed": 0}

#: Settings that lay out the points: the ``Lp`` axis at ``fixed_delta``, the ``delta`` axis at ``fixed_Lp``.
LAYOUT = ("Lp_values", "deltas", "fixed_delta", "fixed_Lp", "repeats")

#: Grids and budgets per scale (keys are the overrides ``make_sweep`` accepts).
SETTINGS = scale_table(
    DEFAULTS,
    tiny={"Lp_values": (1, 4), "deltas": (0.25,), "fixed_delta": 0.25, "fixed_Lp": 4, "repeats": 1,
          "steps": 60, "restarts": 1, "n_test": 128},
    quick={"Lp_values": (1, 2, 4, 8, 16, 32), "deltas": (0.5, 0.25, 0.125, 1 / 16), "fixed_delta": 0.125,
           "fixed_Lp": 8, "repeats": 8, "steps": 400, "restarts": 3, "n_test": 1024},
    full={"Lp_values": (1, 2, 4, 8, 16, 32, 64), "deltas": (0.5, 0.25, 0.125, 1 / 16, 1 / 32),
          "fixed_delta": 0.125, "fixed_Lp": 16, "repeats": 16, "steps": 400, "restarts": 3, "n_test": 2048},
)

#: Options of ``promptlimits sweep universality`` (and ``promptlimits memorize universality``).
OPTIONS = (
    Option("--Lp", "Lp_values", int, "+", help="prompt lengths of the Lp axis"),
    Option("--delta", "deltas", float, "+", help="grid sides of the delta axis"),
    Option("--steps", "steps", int, help="L-BFGS-B iterations per run"),
    Option("--restarts", "restarts", int, help="runs per point, the best kept"),
    Option("--rho", "rho", float, help="prompt box ||P||max <= rho"),
    Option("--K-f", "K_f", float, help="Lipschitz constant of the targets"),
    Option("--n-test", "n_test", int, help="held-out inputs"),
    *MODEL_OPTIONS,
)


def check_point(params: dict) -> None:
    """Validate one point (called by the sweep engine before anything runs)."""
    check_grid(params)
    check_model(params)
    for key in ("Lp", "steps", "restarts", "n_test"):
        check_positive_int(params.get(key), key)
    check_positive_float(params.get("K_f"), "K_f")
    check_positive_float(params.get("rho"), "rho")
    d, L, s, Lp, n_test = params["d"], params["L"], params["s"], params["Lp"], params["n_test"]
    check_tuning_memory(d, s, 4 * d, batch=cells_per_side(params["delta"]) ** (d * L), L=L, Lp=Lp)
    check_memory(tuning_bytes(d, s, 4 * d, batch=n_test, L=L, Lp=Lp), f"n_test = {n_test} (held-out outputs)")


def universality_point(params: dict, seed: int) -> dict:
    """Tune on the grid, measure on fresh uniform inputs."""
    check_point(params)
    t0 = time.perf_counter()
    d, L, Lp, rho = int(params["d"]), int(params["L"]), int(params["Lp"]), float(params["rho"])
    model = frozen_model(params)
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


def make_sweep(scale: str = "quick", *, seed: int = 0, **overrides) -> SweepDef:
    """Held-out error against ``Lp`` (axis ``"Lp"``) and against ``delta`` (axis ``"delta"``)."""
    s = resolve(SETTINGS, scale, overrides)
    fixed = {k: v for k, v in s.items() if k not in LAYOUT}
    pts = [{"axis": "Lp", "Lp": int(Lp), "delta": float(s["fixed_delta"])} for Lp in s["Lp_values"]]
    pts += [{"axis": "delta", "Lp": int(s["fixed_Lp"]), "delta": float(dl)} for dl in s["deltas"]]
    return SweepDef(name="universality", point="promptlimits.experiments.universality:universality_point",
                    points=tuple(pts), fixed=fixed, repeats=int(s["repeats"]), seed=int(seed),
                    check="promptlimits.experiments.universality:check_point",
                    summary="promptlimits.experiments.universality:summarize",
                    description=f"held-out error of tuned prompts for Lipschitz targets (docs/theory.md §7, §8), "
                                f"scale={scale}")


def verdicts(results) -> list[Verdict]:
    """Claim 7 of the report, from ``results["universality"]``."""
    res = results["universality"]
    table = sorted((t for t in res.meta["summary"]["by_point"] if t["axis"] == "Lp"), key=lambda t: t["Lp"])
    numbers = [f"Lp={t['Lp']}: held-out max error {fmt(t['test_max_err'])} (RMS {fmt(t['test_rmse'])}), "
               f"train {fmt(t['train_max_err'])}, no-prompt-change reference {fmt(t['ref_test_max_err'])}"
               for t in table]
    first, last = table[0], table[-1]
    falls = last["test_max_err"] < first["test_max_err"]
    plateau = last["test_max_err"] > 0.5 * min(t["test_max_err"] for t in table) and len(table) > 2
    if falls and not plateau:
        status, why = CONSISTENT, "held-out error keeps falling as Lp grows"
    elif falls:
        status, why = NOT_CONSISTENT, ("held-out error falls with Lp but plateaus: with frozen random weights "
                                       "the prompt cannot reach every Lipschitz target; the paper's "
                                       "universality uses constructed weights, which this run does not build")
    else:
        status, why = NOT_CONSISTENT, "held-out error does not fall with Lp at these settings"
    return [Verdict(
        claim_id="universality", title="Universality of prompt tuning",
        claim="Prompt tuning a fixed one-layer transformer approximates any Lipschitz sequence-to-sequence map "
              "to any accuracy with a long enough prompt (Hu et al. 2025; docs/theory.md §8).",
        status=status,
        rule="consistent if the mean held-out max error at the largest Lp is below that at the smallest Lp "
             "and, with more than 2 lengths, not above half the smallest mean error on the Lp axis (no plateau)",
        falsifier="held-out error not falling from the shortest to the longest prompt, or (with more than 2 "
                  "lengths) the longest prompt's error above half the best error",
        strength=(f"{len(table)} prompt lengths ({first['Lp']}..{last['Lp']}) on frozen random weights, not the "
                  "theorem's constructed weights; " + (
                      "with more than 2 lengths the rule cannot return consistent: the last error is never "
                      "below the smallest, so it always exceeds half of it" if len(table) > 2 else
                      "with 2 lengths only the fall from the shortest to the longest prompt is tested")),
        numbers=numbers, figures=("fig7_universality",), why=why,
        settings="random Lipschitz targets, prompts tuned on the grid, fresh uniform test inputs",
    )]
