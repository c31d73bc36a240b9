"""Measured error of polynomial attention against degree and rank, beside the certificate.

docs/theory.md §4 and §9, figure 3. A point ``(n, d, B, degree)`` draws ``Q, K`` with
entries uniform in ``[-B, B]`` (one entry of each set to ``B``, so the plan's
bound is attained) and ``V`` uniform in ``[-1, 1]``, runs the fused polynomial
kernel at that fixed degree (kind ``chebyshev``, or the kind asked) and records
the measured ``||T - Att||max`` against exact attention beside the certified
``F(eps_p) ||V||max`` (``F(eps_p) = 2 (1 - sqrt(1 - eps_p^2)) / eps_p``, docs/theory.md §4.2). Degrees whose certificate is ``>= 1`` are
recorded with ``certified = False`` and no measurement: the kernel refuses them.
"""

from __future__ import annotations

import numpy as np

from promptlimits._checks import attention_bytes, check_choice, check_memory, check_positive_float, check_positive_int
from promptlimits.attention import exact_attention
from promptlimits.poly_attention import make_plan
from promptlimits.polyapprox import KINDS, certified_eps
from promptlimits.sweep import SweepDef

from ._settings import Option, resolve, scale_table
from .verdict import CONSISTENT, NOT_CONSISTENT, Verdict, fmt

__all__ = ["error_point", "check_point", "summarize", "make_sweep", "verdicts", "SETTINGS", "OPTIONS"]

#: Grids per scale (keys are the overrides ``make_sweep`` accepts).
SETTINGS = scale_table(
    {"kind": "chebyshev"},
    tiny={"n": 128, "d": 2, "Bs": (0.5, 1.0), "degrees": tuple(range(0, 9, 2))},
    quick={"n": 1024, "d": 4, "Bs": (0.25, 0.5, 1.0, 1.5), "degrees": tuple(range(0, 15))},
    full={"n": 4096, "d": 8, "Bs": (0.25, 0.5, 1.0, 1.5, 2.0), "degrees": tuple(range(0, 21))},
)

#: Options of ``promptlimits sweep approx_error``.
OPTIONS = (
    Option("--B", "Bs", float, "+", help="norm bounds B"),
    Option("--degree", "degrees", int, "+", help="polynomial degrees"),
    Option("--n", "n", int, help="sequence length"),
    Option("--d", "d", int, help="head size"),
    Option("--kind", "kind", str, None, KINDS, help="polynomial kind"),
)


def check_point(params: dict) -> None:
    """Validate one point (called by the sweep engine before anything runs)."""
    n, d = check_positive_int(params.get("n"), "n"), check_positive_int(params.get("d"), "d")
    check_positive_float(params.get("B"), "B")
    check_positive_int(params.get("degree"), "degree", minimum=0)
    check_choice(params.get("kind"), "polynomial kind", KINDS)
    check_memory(attention_bytes(n, d), f"n = {n}, d = {d} (attention)")


def _inputs(n, d, B, rng):
    Q, K = rng.uniform(-B, B, size=(2, n, d))
    Q[0, 0] = K[0, 0] = B
    V = rng.uniform(-1.0, 1.0, size=(n, d))
    return Q, K, V


def error_point(params: dict, seed: int) -> dict:
    n, d, B, g, kind = int(params["n"]), int(params["d"]), float(params["B"]), int(params["degree"]), params["kind"]
    eps_p = certified_eps(kind, g, B * B)
    row = {"R": B * B, "eps_p": eps_p, "certified": bool(eps_p < 1.0), "rank": None,
           "measured_err": None, "bound": None}
    if eps_p < 1.0:
        plan = make_plan(d, B, eps=None, degree=g, kind=kind)
        Q, K, V = _inputs(n, d, B, np.random.default_rng(seed))
        err = float(np.abs(plan.forward(Q, K, V) - exact_attention(Q, K, V)).max())
        row.update(rank=plan.rank, measured_err=err, bound=plan.output_bound(V))
    return row


def summarize(rows: list[dict]) -> dict:
    """Whether any measured error beat its certificate, and the tightness per B."""
    measured = [r for r in rows if r["measured_err"] is not None]
    violations = [r for r in measured if r["measured_err"] > r["bound"]]
    tightness = {}
    for B in sorted({r["B"] for r in measured}):
        ratios = [r["measured_err"] / r["bound"] for r in measured if r["B"] == B and r["bound"] > 0]
        tightness[str(B)] = max(ratios) if ratios else None
    return {"points_measured": len(measured), "violations": len(violations),
            "max_measured_over_bound": tightness}


def make_sweep(scale: str = "quick", *, seed: int = 0, **overrides) -> SweepDef:
    """The approximation-error sweep at ``scale``: grid ``Bs x degrees`` at one ``(n, d)``."""
    cfg = resolve(SETTINGS, scale, overrides)
    return SweepDef(
        name="approx_error",
        point="promptlimits.experiments.approx_error:error_point",
        grid={"B": [float(b) for b in cfg["Bs"]], "degree": [int(g) for g in cfg["degrees"]]},
        fixed={"n": cfg["n"], "d": cfg["d"], "kind": cfg["kind"]},
        seed=seed,
        check="promptlimits.experiments.approx_error:check_point",
        summary="promptlimits.experiments.approx_error:summarize",
        description="measured poly-attention error vs degree beside the certified bound (figure 3)",
    )


def verdicts(results) -> list[Verdict]:
    """Claim 3 of the report, from ``results["approx_error"]``."""
    res = results["approx_error"]
    rows = [r for r in res.rows if r["measured_err"] is not None]
    exact_regime = [r for r in rows if r["eps_p"] > 1e-12]
    bad = [r for r in exact_regime if r["measured_err"] > r["bound"]]
    tight = max((r["measured_err"] / r["bound"] for r in exact_regime), default=float("nan"))
    floor = [r for r in rows if r["eps_p"] <= 1e-12]
    numbers = [f"{len(rows)} certified (B, degree) points measured; in {len(exact_regime)} with eps_p > 1e-12 "
               f"the largest measured/certified ratio is {fmt(tight)} and {len(bad)} exceed the bound",
               f"{len(floor)} points have eps_p <= 1e-12: their measured error is float64 rounding, "
               f"largest {fmt(max((r['measured_err'] for r in floor), default=None))}"]
    status = CONSISTENT if exact_regime and not bad else NOT_CONSISTENT
    why = ("every measured error is below its certificate wherever the certificate is above float64 "
           "rounding" if status == CONSISTENT else "a measured error exceeded its certificate")
    return [Verdict(
        claim_id="approx-error", title="Certified error of the polynomial method",
        claim="If the polynomial has relative error eps_p < 1 on the logit range, "
              "||T - Att||max <= F(eps_p) ||V||max with the sharp F(eps_p) = 2 (1 - sqrt(1 - eps_p^2))/eps_p "
              "(docs/theory.md §4.2).",
        status=status,
        rule="at every measured (B, degree) with eps_p > 1e-12, the measured ||T - Att||max is at most the "
             "certified bound (and at least one such point exists)",
        falsifier="one measured error above its certificate, or no point with eps_p > 1e-12",
        strength=f"strong where it applies: {len(exact_regime)} points each could exceed the bound; the largest "
                 f"measured/certified ratio is {fmt(tight)}, on inputs built to reach the logit range "
                 "(not adversarial)",
        numbers=numbers, figures=("fig3_approx_error",), why=why,
        settings=f"n={rows[0]['n']}, d={rows[0]['d']}, kind {rows[0]['kind']}" if rows else "",
        values={"max_measured_over_bound": tight, "violations": len(bad)},
    )]
