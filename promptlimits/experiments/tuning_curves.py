"""Prompt tuning curves: loss and induced norm ``B(P)`` step by step (docs/theory.md §2 and §5).

docs/theory.md §9, figure 5. A frozen model (``d``, seed 0) and a teacher
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

from promptlimits._checks import check_positive_float, check_positive_int
from promptlimits.datasets import teacher
from promptlimits.model import PromptedModel
from promptlimits.poly_attention import frontier_B
from promptlimits.sweep import SweepDef
from promptlimits.tuning import check_tuning_memory, tune_prompt

from ._settings import Option, resolve, scale_table
from .verdict import CONSISTENT, NOT_CHECKED, NOT_CONSISTENT, Verdict, fmt

__all__ = ["curve_point", "check_point", "summarize", "make_sweep", "verdicts", "SETTINGS",
           "OPTIONS"]

#: Grids and budgets per scale; a ``rhos`` entry ``None`` (``"free"`` on the command line) is unconstrained.
SETTINGS = scale_table(
    {},
    tiny={"d": 2, "L": 2, "batch": 4, "Lps": (1, 4), "rhos": (None, 1.0), "steps": 60},
    quick={"d": 2, "L": 4, "batch": 8, "Lps": (1, 2, 4, 8), "rhos": (None, 1.0), "steps": 300},
    full={"d": 4, "L": 8, "batch": 32, "Lps": (1, 2, 4, 8, 16, 32), "rhos": (None, 0.5, 1.0, 2.0),
          "steps": 2000},
)

#: Options of ``promptlimits sweep tuning_curves``.
OPTIONS = (
    Option("--Lp", "Lps", int, "+", help="prompt lengths"),
    Option("--rho", "rhos", str, "+", help="prompt boxes ||P||max <= rho; 'free' for none"),
    Option("--d", "d", int, help="token width"),
    Option("--L", "L", int, help="input length"),
    Option("--batch", "batch", int, help="input sequences"),
    Option("--steps", "steps", int, help="L-BFGS-B iterations"),
)


def _box(rho):
    """``None`` (or ``"free"``) for an unconstrained run, else the checked box radius."""
    if rho is None or rho == "free":
        return None
    if isinstance(rho, str):
        try:
            rho = float(rho)
        except ValueError:
            raise ValueError(f"rho must be a number > 0 or 'free', got {rho!r}") from None
    return check_positive_float(rho, "rho")


def check_point(params: dict) -> None:
    """Validate one point (called by the sweep engine before anything runs)."""
    for key in ("d", "L", "batch", "Lp"):
        check_positive_int(params.get(key), key)
    check_positive_int(params.get("steps"), "steps", minimum=0)
    _box(params.get("rho"))
    d = params["d"]  # the teacher's prompt has 3 rows
    check_tuning_memory(d, d, 4 * d, batch=params["batch"], L=params["L"], Lp=max(params["Lp"], 3))


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


def make_sweep(scale: str = "quick", *, seed: int = 0, **overrides) -> SweepDef:
    """The tuning-curves sweep at ``scale``: one tuning run per ``(Lp, rho)``."""
    c = resolve(SETTINGS, scale, overrides)
    return SweepDef(
        name="tuning_curves",
        point="promptlimits.experiments.tuning_curves:curve_point",
        grid={"Lp": [check_positive_int(Lp, "Lp") for Lp in c["Lps"]], "rho": [_box(r) for r in c["rhos"]]},
        fixed={"d": c["d"], "L": c["L"], "batch": c["batch"], "steps": c["steps"]},
        seed=seed,
        check="promptlimits.experiments.tuning_curves:check_point",
        summary="promptlimits.experiments.tuning_curves:summarize",
        description="loss and induced norm during prompt tuning, constrained and not (figure 5)",
    )


def _capacity_status(free: list[dict], boxed: list[dict], top: float) -> tuple[str, str]:
    """Status and reason of claim 5 from the final state of the free and the boxed runs."""
    if not free or not boxed:
        return NOT_CHECKED, "the rule needs both unconstrained and norm-constrained runs"
    best_free = min(v["mse"] for v in free)
    best_boxed = min(v["mse"] for v in boxed)
    if best_free < best_boxed and max(v["B_max"] for v in free) > top:
        return CONSISTENT, (f"the best fit (MSE {fmt(best_free)}) needs an induced norm above the frontier; "
                            f"the norm-constrained runs stay lower and fit worse (MSE {fmt(best_boxed)})")
    return NOT_CONSISTENT, "constrained tuning fit as well as free tuning at these settings"


def verdicts(results) -> list[Verdict]:
    """Claim 5 of the report, from ``results["tuning_curves"]`` and ``results["prompt-norm"]``."""
    res, pn = results["tuning_curves"], results["prompt-norm"]
    s = res.meta["summary"]
    frontier = s.get("frontier", {})
    runs = {k: v for k, v in s.items() if k.startswith("Lp=")}
    numbers = [f"{k}: final MSE {fmt(v['mse'])}, max error {fmt(v['max_err'])}, induced B up to "
               f"{fmt(v['B_max'])}" for k, v in sorted(runs.items())]
    numbers.append("frontier B*(n) of the poly method: " + ", ".join(f"n={n}: {fmt(b)}"
                                                                      for n, b in frontier.items()))
    ps = pn.meta["summary"]
    numbers.append(f"prompt-norm sweep: frontier B*={fmt(ps['B_star'])}; tuned prompts stay below it up to "
                   f"rho={fmt(ps['largest_rho_tuned_below_frontier'])}; best loss {fmt(ps['best_mse'])} "
                   f"at rho={fmt(ps['best_rho'])}")
    free = [v for k, v in runs.items() if k.endswith("rho=None")]
    boxed = [v for k, v in runs.items() if not k.endswith("rho=None")]
    top = max(frontier.values()) if frontier else 0.0
    status, why = _capacity_status(free, boxed, top)
    largest_n = max((int(n) for n in frontier), default=0)
    return [Verdict(
        claim_id="capacity-efficiency", title="Capacity against efficiency",
        claim="Prompts that fit well induce large key/query norms B(P, X), past the efficiency frontier; "
              "bounding the prompt norm keeps B small at a cost in loss (Hu et al. 2025; docs/theory.md §2, §5).",
        status=status,
        rule="the best unconstrained run reaches a lower final MSE than every norm-constrained run, and some "
             "unconstrained run's induced norm exceeds the largest frontier B*(n) over the lengths run",
        falsifier="a norm-constrained run fitting as well as the unconstrained ones, or every unconstrained "
                  "run staying at or below the frontier",
        strength=f"weak: the frontier is read at n = Lp + L <= {largest_n}, where B*(n) <= {fmt(top)}, so any "
                 "prompt with a larger induced norm passes the frontier side; only the loss comparison can fail",
        numbers=numbers, figures=("fig5_tuning", "fig5_prompt_norm"), why=why,
        settings=f"teacher targets on a frozen d={res.rows[0]['d'] if res.rows else '?'} model; L-BFGS-B, "
                 "free and ||P||max <= rho",
    )]
