"""Prompt tuning curves: loss and induced norm ``B(P)`` step by step (DESIGN sections 2 and 4).

DESIGN section 8, figure 5. A frozen model (``d``, seed 0) and a teacher
dataset (targets made by the same model with a random prompt of length 3 and
entries in ``[0, 6]``, so a fit exists but needs a prompt of large norm). A
point ``(Lp, rho)`` tunes a prompt of length ``Lp`` with L-BFGS-B, unconstrained
(``rho`` empty) or in the box ``||P||max <= rho``, and writes one row per
iteration: MSE, max-abs error and the induced norm ``B(P, X)``. The summary
adds the frontier ``B*(n)`` of the polynomial method for the model's sequence
length ``n = Lp + L`` and head size: the largest ``B`` at which a degree
certified for the error target has rank ``r* < n``.
"""

from __future__ import annotations

import math

import numpy as np

from promptlimits.datasets import teacher
from promptlimits.model import PromptedModel
from promptlimits.poly_attention import frontier_B
from promptlimits.sweep import SweepDef
from promptlimits.tuning import tune_prompt

__all__ = ["curve_point", "summarize", "make_sweep", "SCALES"]

SCALES = {
    "tiny": {"d": 2, "L": 2, "batch": 4, "Lps": (1, 4), "rhos": (None, 1.0), "steps": 60},
    "quick": {"d": 2, "L": 4, "batch": 8, "Lps": (1, 2, 4, 8), "rhos": (None, 1.0), "steps": 300},
    "full": {"d": 4, "L": 8, "batch": 32, "Lps": (1, 2, 4, 8, 16, 32), "rhos": (None, 0.5, 1.0, 2.0),
             "steps": 2000},
}


def _task(d, L, batch, data_seed=0):
    model = PromptedModel.from_seed(d, seed=0)
    X = np.random.default_rng(data_seed).uniform(size=(batch, L, d))
    Y, _ = teacher(model, X, 3, prompt_scale=6.0, seed=10)
    return model, X, Y


def curve_point(params: dict, seed: int) -> list[dict]:
    model, X, Y = _task(params["d"], params["L"], params["batch"])
    rho = params["rho"]
    res = tune_prompt(model, X, Y, Lp=int(params["Lp"]), optimizer="lbfgs", steps=int(params["steps"]),
                      rho=rho, init="normal", init_scale=1.0, seed=seed, progress=False)
    h = res.history
    return [{"step": k, "mse": h["mse"][k], "max_err": h["max_err"][k], "B": h["B"][k]}
            for k in range(len(h["mse"]))]


def summarize(rows: list[dict]) -> dict:
    out = {}
    for Lp in sorted({r["Lp"] for r in rows}):
        for rho in sorted({r["rho"] for r in rows if r["Lp"] == Lp}, key=lambda v: math.inf if v is None else v):
            run = [r for r in rows if r["Lp"] == Lp and r["rho"] == rho]
            last = max(run, key=lambda r: r["step"])
            out[f"Lp={Lp},rho={rho}"] = {"steps": last["step"], "mse": last["mse"], "max_err": last["max_err"],
                                         "B_final": last["B"], "B_max": max(r["B"] for r in run)}
    any_row = rows[0]
    ns = sorted({r["Lp"] + r["L"] for r in rows})
    out["frontier"] = {str(n): frontier_B(n, d=any_row["d"], eps=1e-6) for n in ns}
    return out


def make_sweep(scale: str = "quick", *, seed: int = 0) -> SweepDef:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
    c = SCALES[scale]
    return SweepDef(
        name="tuning_curves",
        point="promptlimits.experiments.tuning_curves:curve_point",
        grid={"Lp": list(c["Lps"]), "rho": list(c["rhos"])},
        fixed={"d": c["d"], "L": c["L"], "batch": c["batch"], "steps": c["steps"]},
        seed=seed,
        summary="promptlimits.experiments.tuning_curves:summarize",
        description="loss and induced norm during prompt tuning, constrained and not (figure 5)",
    )
