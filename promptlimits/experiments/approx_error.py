"""Measured error of polynomial attention against degree and rank, beside the certificate.

docs/theory.md §4 and §9, figure 3. A point ``(n, d, B, degree)`` draws ``Q, K`` with
entries uniform in ``[-B, B]`` (one entry of each set to ``B``, so the plan's
bound is attained) and ``V`` uniform in ``[-1, 1]``, runs the fused polynomial
kernel at that fixed degree (kind ``chebyshev``, or the kind asked) and records
the measured ``||T - Att||max`` against exact attention beside the certified
``F(eps_p) ||V||max`` (``F(eps_p) = 2 (1 - sqrt(1 - eps_p^2)) / eps_p``, docs/theory.md §4.2).
Degrees whose certificate is ``>= 1`` are
recorded with ``certified = False`` and no measurement: the kernel refuses them.

The backward (docs/theory.md §4.5): with an upstream gradient ``G`` uniform in
``[-1, 1]`` the point also records, for ``X = Q, K, V``, the measured
``||dX_p - dX||max`` between :meth:`PolyPlan.backward` and
``exact_attention_backward`` beside :meth:`PolyPlan.gradient_bound`, a bound for
exact arithmetic; and the float64 gap ``||dX_p - dX_p^ext||max``, the distance of
the kernels' float64 gradient from the polynomial backward evaluated in extended
precision (``numpy.longdouble``, 64-bit mantissa on x86), as a fraction of the bound,
for ``n <= EXTENDED_MAX_N`` (NumPy has no long-double BLAS, so above that the
``O(n^2)`` reference costs more than the rest of the point; the gap is then not
measured and the summary says so).
"""

from __future__ import annotations

import math

import numpy as np

from promptlimits._checks import attention_bytes, check_choice, check_memory, check_positive_float, check_positive_int
from promptlimits.attention import exact_attention, exact_attention_backward
from promptlimits.poly_attention import make_plan
from promptlimits.polyapprox import KINDS, certified_eps
from promptlimits.sweep import SweepDef

from ._settings import Option, resolve, scale_table
from .verdict import CONSISTENT, NOT_CHECKED, NOT_CONSISTENT, Verdict, fmt

__all__ = ["error_point", "check_point", "summarize", "make_sweep", "verdicts", "SETTINGS", "OPTIONS"]

#: Grids per scale (keys are the overrides ``make_sweep`` accepts).
SETTINGS = scale_table(
    {"kind": "chebyshev"},
    tiny={"n": 128, "d": 2, "Bs": (0.5, 1.0), "degrees": tuple(range(0, 9, 2))},
    quick={"n": 1024, "d": 4, "Bs": (0.25, 0.5, 1.0, 1.5), "degrees": tuple(range(0, 15))},
    # degrees to 15 (rank 490,314 at d = 8): above it every B here is at the float64 floor
    # (eps_p <= 1e-12) or, at B = 2, costs minutes per point for a measurement of rounding
    full={"n": 4096, "d": 8, "Bs": (0.25, 0.5, 1.0, 1.5, 2.0), "degrees": tuple(range(0, 16))},
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


#: Largest n at which the float64 gap of the backward is measured (module docstring).
EXTENDED_MAX_N = 2048

#: The gradients measured at each point, and the row keys they get.
GRADIENTS = ("Q", "K", "V")


def _poly_backward_extended(plan, Q, K, V, G, chunk: int = 256):
    """The polynomial backward by its n x n formulas in ``numpy.longdouble``, ``chunk`` query rows at a time.

    ``p`` and ``p'`` by Horner with the plan's float64 coefficients; ``dS =
    p'(X)/D (G V^T - G.T)`` (docs/theory.md §3.10, §4.5).
    """
    ld = np.longdouble
    c = np.asarray(plan.approx.coefficients, dtype=ld)
    dc = c[1:] * np.arange(1, c.size, dtype=ld)
    Qx, Kx, Vx, Gx = (np.asarray(a, dtype=ld) for a in (Q, K, V, G))
    s = ld(plan.scale)
    dQ, dK, dV = np.empty_like(Qx), np.zeros_like(Kx), np.zeros_like(Vx)
    for a in range(0, Qx.shape[0], chunk):
        X = s * (Qx[a:a + chunk] @ Kx.T)
        P, dP = np.zeros_like(X), np.zeros_like(X)
        for cj in c[::-1]:
            P = P * X + cj
        for cj in dc[::-1]:
            dP = dP * X + cj
        D = P.sum(axis=1, keepdims=True)
        Gc = Gx[a:a + chunk]
        T = (P @ Vx) / D
        dS = dP / D * (Gc @ Vx.T - np.sum(Gc * T, axis=1, keepdims=True))
        dV += (P / D).T @ Gc
        dQ[a:a + chunk] = s * (dS @ Kx)
        dK += s * (dS.T @ Qx[a:a + chunk])
    return dQ, dK, dV


def _gradient_columns(plan, Q, K, V, rng) -> dict:
    """Measured distance, bound and float64 gap of the backward for each of ``dQ, dK, dV`` (module docstring)."""
    G = rng.uniform(-1.0, 1.0, size=V.shape)
    got = plan.backward(Q, K, V, G)
    ref = exact_attention_backward(Q, K, V, G)
    ext = _poly_backward_extended(plan, Q, K, V, G) if Q.shape[0] <= EXTENDED_MAX_N else (None,) * 3
    bound = plan.gradient_bound(Q, K, V, G)
    row = {"eps_dp": bound.eps_dp}
    for name, x, y, z in zip(GRADIENTS, got, ref, ext):
        b = getattr(bound, f"d{name}")
        row[f"grad_err_{name}"] = float(np.abs(x - y).max())
        row[f"grad_bound_{name}"] = b
        row[f"grad_gap_{name}"] = float(np.abs(x - z).max()) / b if b > 0 and z is not None else None
    return row


def error_point(params: dict, seed: int) -> dict:
    n, d, B, g, kind = int(params["n"]), int(params["d"]), float(params["B"]), int(params["degree"]), params["kind"]
    eps_p = certified_eps(kind, g, B * B)
    row = {"R": B * B, "eps_p": eps_p, "certified": bool(eps_p < 1.0), "rank": None,
           "measured_err": None, "bound": None, "eps_dp": None}
    row.update({f"grad_{k}_{name}": None for k in ("err", "bound", "gap") for name in GRADIENTS})
    if eps_p < 1.0:
        plan = make_plan(d, B, eps=None, degree=g, kind=kind)
        rng = np.random.default_rng(seed)
        Q, K, V = _inputs(n, d, B, rng)
        err = float(np.abs(plan.forward(Q, K, V) - exact_attention(Q, K, V)).max())
        row.update(rank=plan.rank, measured_err=err, bound=plan.output_bound(V))
        row.update(_gradient_columns(plan, Q, K, V, rng))
    return row


def gradient_ratio(row: dict) -> float | None:
    """``max_X ||dX_p - dX||max / bound_X`` over ``X = Q, K, V`` (``None`` without a backward measurement)."""
    if row.get("grad_err_K") is None:
        return None
    return max(row[f"grad_err_{x}"] / row[f"grad_bound_{x}"] if row[f"grad_bound_{x}"] > 0
               else (math.inf if row[f"grad_err_{x}"] > 0 else 0.0) for x in GRADIENTS)


def _per_B(rows, ratio) -> dict:
    out = {}
    for B in sorted({r["B"] for r in rows}):
        ratios = [v for r in rows if r["B"] == B and (v := ratio(r)) is not None]
        out[str(B)] = max(ratios) if ratios else None
    return out


def summarize(rows: list[dict]) -> dict:
    """Whether any measured error (forward or backward) beat its certificate, and the tightness per B.

    Backward distances above the exact-arithmetic bound are counted apart where ``eps_p <= 1e-12``
    (float64 rounding dominates there; docs/theory.md §4.5).
    """
    measured = [r for r in rows if r["measured_err"] is not None]
    violations = [r for r in measured if r["measured_err"] > r["bound"]]
    backward = [r for r in measured if gradient_ratio(r) is not None]
    return {"points_measured": len(measured), "violations": len(violations),
            "max_measured_over_bound": _per_B(measured, lambda r: r["measured_err"] / r["bound"] if r["bound"] > 0
                                              else None),
            "gradient_violations": sum(gradient_ratio(r) > 1.0 for r in backward if r["eps_p"] > 1e-12),
            "gradient_above_bound_where_rounding_dominates": sum(gradient_ratio(r) > 1.0 for r in backward
                                                                 if r["eps_p"] <= 1e-12),
            "gradient_max_measured_over_bound": _per_B(backward, gradient_ratio)}


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
    """Claim 3 of the report, forward and backward, from ``results["approx_error"]``."""
    return [_forward_verdict(results), _gradient_verdict(results)]


def _forward_verdict(results) -> Verdict:
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
    return Verdict(
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
    )


def _gradient_numbers(rows, regime, bad, floor) -> list[str]:
    tight = {x: max((r[f"grad_err_{x}"] / r[f"grad_bound_{x}"] for r in regime), default=None) for x in GRADIENTS}
    gap = max((v for r in regime for x in GRADIENTS if (v := r[f"grad_gap_{x}"]) is not None), default=None)
    dp = [r["eps_dp"] / r["eps_p"] for r in regime]
    over = [r for r in floor if gradient_ratio(r) > 1.0]
    over_gap = max((v for r in over for x in GRADIENTS if (v := r[f"grad_gap_{x}"]) is not None), default=None)
    return [f"{len(rows)} certified (B, degree) points with a backward measured; in {len(regime)} with "
            f"eps_p > 1e-12 the largest measured/certified ratio is {fmt(tight['Q'])} for dQ, {fmt(tight['K'])} "
            f"for dK, {fmt(tight['V'])} for dV, and {len(bad)} points exceed a bound",
            "the bound is for exact arithmetic; " + (
                f"float64 gap (kernels against the polynomial backward in extended precision) at most {fmt(gap)} of "
                "the bound at those points" if gap is not None else
                f"the float64 gap is not measured (n > {EXTENDED_MAX_N}: the long-double reference is O(n^2) "
                "without BLAS)"),
            f"the derivative's certificate eps_dp is {fmt(min(dp, default=None))} to {fmt(max(dp, default=None))} "
            f"times eps_p there (it drives the dQ and dK bounds)",
            f"{len(floor)} points have eps_p <= 1e-12, where float64 rounding dominates; {len(over)} of them "
            f"measure above the exact-arithmetic bound (up to {fmt(max(map(gradient_ratio, over), default=None))} "
            f"times it), where the float64 gap alone is up to {fmt(over_gap)} times the bound"]


def _gradient_verdict(results) -> Verdict:
    res = results["approx_error"]
    rows = [r for r in res.rows if r.get("measured_err") is not None and gradient_ratio(r) is not None]
    regime = [r for r in rows if r["eps_p"] > 1e-12]
    bad = [r for r in regime if gradient_ratio(r) > 1.0]
    tight = max((gradient_ratio(r) for r in regime), default=float("nan"))
    floor = [r for r in rows if r["eps_p"] <= 1e-12]
    if not regime:
        status, why = NOT_CHECKED, "no point with a backward measurement and eps_p > 1e-12"
    elif bad:
        status, why = NOT_CONSISTENT, "a measured gradient distance exceeded its bound"
    else:
        status, why = CONSISTENT, ("every measured gradient distance is below its bound wherever the "
                                   "certificate is above float64 rounding")
    return Verdict(
        claim_id="approx-gradient", title="Certified gradient of the polynomial method",
        claim="With |p - exp| <= eps_p exp and |p' - exp| <= eps_dp exp on the logit range, the polynomial "
              "backward is within s max|K| (rho (1 + F) + F) max_i gamma_i (dQ), s max|Q| (2 rho + F) a_max "
              "sum_i gamma_i (dK) and Phi(a_max) max_c sum_i |G_ic| (dV) of exact attention's, "
              "rho = (eps_p + eps_dp)/(1 - eps_p), F = F(eps_p), in exact arithmetic (docs/theory.md §4.5).",
        status=status,
        rule="at every measured (B, degree) with eps_p > 1e-12, each of ||dQ_p - dQ||max, ||dK_p - dK||max, "
             "||dV_p - dV||max is at most its bound (and at least one such point exists)",
        falsifier="one measured gradient distance above its bound, or no point with eps_p > 1e-12",
        strength=f"{3 * len(regime)} distances each could exceed their bound; the largest measured/certified "
                 f"ratio is {fmt(tight)} on random (not adversarial) inputs; the float64 rounding of the "
                 "backward is measured, not bounded",
        numbers=_gradient_numbers(rows, regime, bad, floor), figures=("fig3_approx_error",), why=why,
        settings=f"n={rows[0]['n']}, d={rows[0]['d']}, kind {rows[0]['kind']}, G uniform in [-1, 1]" if rows else "",
        values={"max_measured_over_bound": tight, "violations": len(bad)},
    )
