"""Capacity against efficiency: prompts tuned at long sequences beside ``B_cert(n)`` (docs/theory.md §5.6).

``B_cert(n; d, eps)``, *the certified frontier at fixed d*, is the largest norm
at which the float-certified polynomial method for head size ``d`` and output
error ``eps`` is predicted to be cheaper than exact attention with ``n`` keys
(:func:`promptlimits.poly_attention.frontier_B`, ``r* < n``). It is not the
phase frontier ``B*(n)`` of claim 1 (docs/theory.md §5.4), which is taken in the
theorem's regime ``d = ceil(log2 n)``, ``eps = 1/n``: at ``n = 1024``
``B_cert(n; 4, 1e-6) = 1.367`` against ``B*(1024) = 0.904``.

docs/theory.md §9.7, figure 5. A frozen random model (``d``, weights scaled by
``weight_scale`` so that the inputs' own induced norm lies below the frontier
at ``n = 1024``) reads one sequence ``[P; X]`` of ``n = Lp + L`` rows, the prompt
a fixed share of it (``Lp = n // share``). The targets are the same model's
outputs with a teacher prompt of ``Lp`` rows (a random prompt with entries in
``[0, 1]``, scaled so that its rows induce the norm ``teacher_B``), computed
with the tuning backend, so a fit exists; where the fit's induced norm lands
is set by this teacher, not by any theorem.

A point ``(n, box)`` tunes a prompt with L-BFGS-B on the attention backend
``backend`` (default ``auto``: the polynomial method, certified to the output
error ``eps``, wherever its certified rank makes it cheaper than exact
attention; docs/theory.md §2.3) from a shared initial prompt:

* ``box = "free"``: unconstrained;
* ``box = "frontier"``: in the largest box ``‖P‖max <= rho`` whose bound on the
  prompt-induced norm is at most ``B_cert(n)`` (:func:`promptlimits.norm_box.largest_box`),
  so every iterate keeps ``B(P, X) <= B_cert(n)`` and the polynomial method stays
  cheaper than exact attention for the whole run; none when the inputs alone
  induce more than ``B_cert(n)``;
* a number: that box.

Each iteration gives a row: MSE, MSE relative to the shared start, max-abs
error, the induced norm ``B(P, X)`` and the backend used; every row repeats the
run's constants (``Lp``, ``B_cert(n)``, the largest certifiable norm at ``n`` keys,
the inputs' and the teacher's induced norms, the box and its bound, seconds).
The verdict (claim 5) is an illustration: the paper's efficiency results are
asymptotic statements about algorithms at a given norm and its capacity results
are existential, so where tuned prompts land tests none of them.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from promptlimits._checks import check_choice, check_open_interval, check_positive_float, check_positive_int
from promptlimits.backend import BACKENDS
from promptlimits.model import PromptedModel
from promptlimits.norm_box import induced_parts, largest_box, prompt_norm_bound, rows_norm
from promptlimits.poly_attention import eps_p_for_output, frontier_B, largest_certifiable_B
from promptlimits.sweep import SweepDef
from promptlimits.tuning import check_tuning_memory, tune_prompt

from ._settings import Option, resolve, scale_table
from .tuning_verdict import summarize, verdicts

__all__ = ["curve_point", "check_point", "summarize", "make_sweep", "verdicts", "SETTINGS", "OPTIONS", "BOX_NAMES"]

#: Grids and budgets per scale; a box is ``"free"``, ``"frontier"`` or a radius ``rho``.
SETTINGS = scale_table(
    {"d": 4, "weight_scale": 0.5, "model_seed": 0, "eps": 1e-6, "share": 256, "teacher_B": 1.75,
     "init_scale": 0.3, "boxes": ("free", "frontier"), "backend": "auto"},
    tiny={"ns": (256, 1024), "steps": 3},
    quick={"ns": (1024, 2048, 4096, 8192, 16384, 32768), "steps": 30},
    full={"ns": (1024, 2048, 4096, 8192, 16384, 32768, 65536), "steps": 100},
)

#: Options of ``promptlimits sweep tuning_curves``.
OPTIONS = (
    Option("--n", "ns", int, "+", help="sequence lengths n = Lp + L"),
    Option("--box", "boxes", str, "+", help="prompt boxes: 'free', 'frontier' (B(P, X) <= B_cert(n)) or a radius rho"),
    Option("--d", "d", int, help="token width"),
    Option("--share", "share", int, help="the prompt is Lp = n // share rows"),
    Option("--steps", "steps", int, help="L-BFGS-B iterations"),
    Option("--eps", "eps", float, help="attention-output error of the backend and of the frontier"),
    Option("--backend", "backend", str, choices=BACKENDS, help="attention backend of the tuning"),
    Option("--teacher-B", "teacher_B", float, help="norm induced by the teacher prompt's rows"),
    Option("--weight-scale", "weight_scale", float, help="scale of the frozen random weights"),
    Option("--init-scale", "init_scale", float, help="initial prompt entries in [-this, this]"),
)

#: The named boxes.
BOX_NAMES = ("free", "frontier")


def _box(box):
    """A named box, or the checked radius of a numeric one (as a float)."""
    if box in BOX_NAMES:
        return box
    try:
        rho = float(box)
    except (TypeError, ValueError):
        raise ValueError(f"box must be 'free', 'frontier' or a number rho > 0, got {box!r}") from None
    return check_positive_float(rho, "box radius rho")


def _box_label(box) -> str:
    """The grid value of a box: its name, or its checked radius as text (a CSV column holds one type)."""
    box = _box(box)
    return box if isinstance(box, str) else repr(box)


def _sizes(params) -> tuple[int, int]:
    """``(Lp, L)`` of a point: the prompt is ``n // share`` rows (at least one), the input the rest."""
    n, share = params["n"], params["share"]
    Lp = max(1, n // share)
    return Lp, n - Lp


def check_point(params: dict) -> None:
    """Validate one point (called by the sweep engine before anything runs)."""
    for key in ("d", "share", "n"):
        check_positive_int(params.get(key), key, minimum=2 if key != "d" else 1)
    check_positive_int(params.get("steps"), "steps", minimum=0)
    check_positive_int(params.get("model_seed"), "model_seed", minimum=0)
    check_open_interval(params.get("eps"), "eps", 0.0, 1.0)
    for key in ("teacher_B", "weight_scale", "init_scale"):
        check_positive_float(params.get(key), key)
    check_choice(params.get("backend"), "backend", BACKENDS)
    _box(params.get("box"))
    Lp, L = _sizes(params)
    if L < 1:
        raise ValueError(f"n = {params['n']} leaves no input rows after a prompt of Lp = {Lp} "
                         f"(share {params['share']})")
    d = params["d"]
    check_tuning_memory(d, d, 4 * d, batch=1, L=L, Lp=Lp)
    floor = rows_norm(_model(params), np.zeros((1, d)))
    if params["teacher_B"] <= floor:
        raise ValueError(f"teacher_B = {params['teacher_B']} must be above {floor:.4g}, "
                         "the norm of a zero prompt's rows")


def _model(params) -> PromptedModel:
    """The frozen random model of a point."""
    return PromptedModel.from_seed(params["d"], seed=int(params["model_seed"]),
                                   weight_scale=float(params["weight_scale"]))


def _task(params):
    """The frozen model, the input ``X`` (one sequence), the teacher's targets and prompt, the shared start."""
    d, (Lp, L) = params["d"], _sizes(params)
    model = _model(params)
    rng = np.random.default_rng(int(params["data_seed"]))
    X = rng.uniform(0.0, 1.0, size=(1, L, d))
    P_teacher = _scaled_to(model, rng.uniform(0.0, 1.0, size=(Lp, d)), float(params["teacher_B"]))
    P0 = rng.uniform(-1.0, 1.0, size=(Lp, d)) * float(params["init_scale"])
    Y = model.forward(P_teacher, X, backend=params["backend"], attn_eps=float(params["eps"]))
    return model, X, Y, P_teacher, P0


def _scaled_to(model, U, level: float):
    """``c U`` with ``c > 0`` such that its rows induce the norm ``level`` (:func:`promptlimits.norm_box.rows_norm`)."""
    def excess(c):
        return rows_norm(model, c * U) - level

    hi = 1.0
    while excess(hi) < 0.0:
        hi *= 2.0
    return brentq(excess, 0.0, hi, xtol=1e-14, rtol=1e-12) * U


def _radius(box, model, B_cert: float, B_input: float):
    """``(rho, bound)``: the box radius (``None``: free) and the bound on the prompt part of ``B`` over it.

    For ``"frontier"`` with the inputs' own norm at or above ``B_cert(n)`` no box
    helps: ``(math.nan, math.nan)``.
    """
    box = _box(box)
    if box == "free":
        return None, None
    if box == "frontier":
        rho = largest_box(model, B_cert) if B_input < B_cert else None
        if rho is None:
            return math.nan, math.nan
    else:
        rho = box
    return rho, prompt_norm_bound(model, rho)


def curve_point(params: dict, seed: int) -> list[dict]:
    """One tuning run at ``(n, box)`` (module docstring); the rows, one per iteration."""
    del seed  # the data, the teacher and the start come from data_seed, shared by every point
    n, eps = int(params["n"]), float(params["eps"])
    model, X, Y, P_teacher, P0 = _task(params)
    Lp, L = _sizes(params)
    backend = {"backend": params["backend"], "attn_eps": eps}
    B_teacher, B_input = induced_parts(model, P_teacher, X)
    const = {"Lp": Lp, "L": L, "B_cert": frontier_B(n, d=model.s, eps=eps),
             "B_certifiable": largest_certifiable_B(model.s, eps_p_for_output(eps), keys=n),
             "B_input": B_input, "B_teacher": max(B_teacher, B_input),
             "mse_start": float(model.loss(P0, X, Y, **backend).mse)}
    rho, bound = _radius(params["box"], model, const["B_cert"], B_input)
    const |= {"rho": rho, "box_bound": bound}
    if rho is not None and math.isnan(rho):
        return [{**const, "status": "no box: the inputs alone induce B above B_cert(n)", "step": 0, "mse": None,
                 "rel_mse": None, "max_err": None, "B": None, "backend_used": None, "seconds": 0.0}]
    start = P0 if rho is None else np.clip(P0, -rho, rho)
    res = tune_prompt(model, X, Y, P0=start, optimizer="lbfgs", steps=int(params["steps"]), rho=rho,
                      progress=False, **backend)
    h = res.history
    return [{**const, "status": "tuned", "step": k, "mse": h["mse"][k], "rel_mse": h["mse"][k] / const["mse_start"],
             "max_err": h["max_err"][k], "B": h["B"][k], "backend_used": h["backend"][k], "seconds": res.seconds}
            for k in range(len(h["mse"]))]


def make_sweep(scale: str = "quick", *, seed: int = 0, **overrides) -> SweepDef:
    """The capacity-against-efficiency sweep at ``scale``: one tuning run per ``(n, box)``."""
    c = resolve(SETTINGS, scale, overrides)
    return SweepDef(
        name="tuning_curves",
        point="promptlimits.experiments.tuning_curves:curve_point",
        grid={"n": [check_positive_int(n, "n", minimum=2) for n in c["ns"]],
              "box": [_box_label(b) for b in c["boxes"]]},
        fixed={k: c[k] for k in ("d", "weight_scale", "model_seed", "eps", "share", "teacher_B", "init_scale",
                                 "backend", "steps")} | {"data_seed": int(seed)},
        seed=seed,
        check="promptlimits.experiments.tuning_curves:check_point",
        summary="promptlimits.experiments.tuning_verdict:summarize",
        description="prompts tuned at n = Lp + L beside the frontier B_cert(n), free and in the frontier's box "
                    "(figure 5)",
    )
