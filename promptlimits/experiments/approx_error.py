"""Measured error of polynomial attention against degree and rank, beside the certificate.

DESIGN section 8, figure 3. A point ``(n, d, B, degree)`` draws ``Q, K`` with
entries uniform in ``[-B, B]`` (one entry of each set to ``B``, so the plan's
bound is attained) and ``V`` uniform in ``[-1, 1]``, runs the fused polynomial
kernel at that fixed degree (kind ``chebyshev``, or the kind asked) and records
the measured ``||T - Att||max`` against exact attention beside the certified
``2 eps_p / (1 - eps_p) ||V||max``. Degrees whose certificate is ``>= 1`` are
recorded with ``certified = False`` and no measurement: the kernel refuses them.
"""

from __future__ import annotations

import numpy as np

from promptlimits.attention import exact_attention
from promptlimits.poly_attention import make_plan
from promptlimits.polyapprox import certified_eps
from promptlimits.sweep import SweepDef

__all__ = ["error_point", "check_point", "summarize", "make_sweep"]

SCALES = {
    "tiny": {"n": 128, "d": 2, "Bs": (0.5, 1.0), "degrees": tuple(range(0, 9, 2))},
    "quick": {"n": 1024, "d": 4, "Bs": (0.25, 0.5, 1.0, 1.5), "degrees": tuple(range(0, 15))},
    "full": {"n": 4096, "d": 8, "Bs": (0.25, 0.5, 1.0, 1.5, 2.0), "degrees": tuple(range(0, 21))},
}


def check_point(params: dict) -> None:
    if params["n"] < 1 or params["d"] < 1:
        raise ValueError(f"n and d must be >= 1, got n={params['n']}, d={params['d']}")
    if not params["B"] > 0:
        raise ValueError(f"B must be > 0, got {params['B']}")
    if params["degree"] < 0:
        raise ValueError(f"degree must be >= 0, got {params['degree']}")


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


def make_sweep(scale: str = "quick", *, kind: str = "chebyshev", seed: int = 0) -> SweepDef:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
    cfg = SCALES[scale]
    return SweepDef(
        name="approx_error",
        point="promptlimits.experiments.approx_error:error_point",
        grid={"B": [float(b) for b in cfg["Bs"]], "degree": [int(g) for g in cfg["degrees"]]},
        fixed={"n": cfg["n"], "d": cfg["d"], "kind": kind},
        seed=seed,
        check="promptlimits.experiments.approx_error:check_point",
        summary="promptlimits.experiments.approx_error:summarize",
        description="measured poly-attention error vs degree beside the certified bound (figure 3)",
    )
