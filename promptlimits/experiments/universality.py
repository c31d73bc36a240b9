"""Universality on the constructed transformer: held-out error against k and lambda, beside the proved bound.

The universality theorem (Hu et al. 2025) is existential; :mod:`promptlimits.construct`
builds one transformer it speaks of and writes its prompts in closed form
(docs/theory.md §8.3). This experiment measures that construction. Each row is
one measurement; the column ``kind`` says which:

- ``"lipschitz"``: one target on ``[0,1]^{L x d}``: its nominal max-norm
  Lipschitz constant ``K_nominal`` (exact for these targets) and the lower
  estimate ``K_measured`` of :func:`promptlimits.datasets.measured_lipschitz`.
- ``"k"``: ``c = construct.build(d, L, k, width=width, xi=xi)`` with
  ``width`` ``"token"`` (prompt and input rows of one width, docs/theory.md
  §8.5) or ``"wide"`` (residual width ``D``, §8.3), ramps ``"shrinking"``
  (``xi = xi0 / k^3``) or ``"fixed"`` (``xi = xi0_fixed / k``, band measure
  constant in ``k``: the negative control), ``P = lookup_prompt(c, f)``:
  the error ``e(X) = ‖pred - f‖max`` over the whole cube by a stratified
  sample (:func:`promptlimits.universality_lp.estimate_lp`: ``n_out`` band-free
  inputs, ``n_band`` band inputs, exact weights): ``L2`` with its 95% interval
  ``L2_lo..L2_hi``, ``L1``, ``mu``; the proved ``L2_bound``, ``L1_bound``,
  ``bound`` (sup outside the bands), ``band_bound`` (sup everywhere) and
  ``rounding``; ``sup_err`` (largest error of the band-free sample),
  ``adv_err`` (largest error at the adversarial points:
  band-free corners of ``n_cells`` random cells and each one's point of largest
  target variation), ``ratio = max(sup_err, adv_err) / bound``, the band
  sample's ``band_sup``, and the sizes (``D`` = model width, ``Lp``, ``m1``,
  ``m2``, ``head_size``, ``weight_MiB``, ``prompt_max``).
- ``"lambda"``: the wide construction at one ``(d, L, k)`` against the retrieval
  margin ``lambda`` (a prompt scalar; the weights do not change), on
  ``n_test`` uniform inputs: ``sup_err`` outside the bands, ``bound``, ``ratio``.
- ``"tune"`` (contrast a, an illustration): L-BFGS-B prompt tuning on the
  constructed model, on the ``k^(dL)`` cell centres (the values the closed form
  reads), from a random prompt (entries N(0, 1)) or from the closed-form prompt
  plus N(0, ``tune_noise``^2) noise on every entry; held-out errors of the
  initial, the tuned and the closed-form prompt on the same inputs.
- ``"random_weights"`` (contrast b, an illustration): the previous
  experiment's tuning on a frozen random model (``PromptedModel.from_seed``,
  no positional encoding, ``d = L = 1``) for the target ``tau([R; X]) + g(X) -
  mean g`` (``R`` one fixed reference row, ``g`` the contrast target), trained
  on the grid of side ``rw_delta``; ``sup_err`` is over every test input,
  ``ref_err = max |g - mean g|`` is the error of learning nothing.

Targets: ``"additive"``, :class:`promptlimits.datasets.AdditiveLipschitzTarget`
with constant exactly ``K_f`` (seed ``target_seed``), and ``"sine"``,
:class:`promptlimits.datasets.SineTarget` (``0.5 sin 2 pi (v_m + 0.5 v_(m+1))``,
constant exactly ``1.5 pi``). The bound uses the nominal constant.

Verdict (docs/theory.md §9.10): consistent only if no band-free point (uniform
or adversarial, ``k`` and ``lambda`` series) exceeds ``bound + rounding``, no
``L2_lo`` exceeds ``L2_bound``, and for every shrinking-ramp series (both
widths, every ``(d, L)`` and target) the least-squares slope of ``log L2``
against ``log k`` lies in ``[-1.15, -0.85]``; the fixed-ramp control must fail
that slope rule, else the verdict is inconclusive.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache

import numpy as np

from promptlimits import construct
from promptlimits._checks import check_choice, check_memory, check_positive_float, check_positive_int
from promptlimits.construct_token import min_token_width, token_sizes
from promptlimits.datasets import (
    AdditiveLipschitzTarget,
    SineTarget,
    cells_per_side,
    grid,
    measured_lipschitz,
)
from promptlimits.model import FFWeights, PromptedModel
from promptlimits.sweep import SweepDef
from promptlimits.tuning import check_tuning_memory, tune_prompt, tuning_bytes
from promptlimits.universality_lp import adversarial_points, estimate_lp, lp_bounds, shrinking_xi

from ._settings import Option, resolve, scale_table
from .memorization import MAX_GRID, MODEL_OPTIONS, check_grid, check_model, frozen_model
from .universality_verdict import SLOPE_RANGE, summarize, summary_lines, verdicts

__all__ = ["universality_point", "check_point", "summarize", "summary_lines", "make_sweep", "verdicts",
           "make_target", "readout_model", "SETTINGS", "OPTIONS", "DEFAULTS", "LAYOUT", "TARGETS", "INITS",
           "KINDS", "SLOPE_RANGE"]

TARGETS = ("additive", "sine")
INITS = ("random", "perturbed")
KINDS = ("lipschitz", "k", "lambda", "tune", "random_weights")
RAMPS = ("shrinking", "fixed")

DEFAULTS = {
    "lam": 40.0, "token_lam": 80.0, "xi0": 1e-3, "xi0_fixed": 0.01, "n_out": 1024, "n_band": 256, "n_cells": 16,
    "widths": construct.WIDTHS, "K_f": 2.0, "target_seed": 0, "value_range": 1.0, "n_test": 4096,
    "contrast_target": "additive", "tune_steps": 300, "tune_noise": 0.1,
    "s": 8, "logit_scale": 1.0, "variant": "softmax", "model_seed": 0, "rho": 4.0, "rw_delta": 0.125,
    "steps": 300, "restarts": 2,
}

#: Settings that lay out the points rather than enter them. ``shapes``: ``(d, L, (k, ...))`` of the
#: ``k`` series; ``lam_shape``: the ``(d, L, k)`` of the ``lambda`` series; ``tune_shapes``: the
#: ``(d, L, k)`` of contrast (a), each with every init of ``tune_inits`` ``tune_repeats`` times;
#: ``Lp_values``: the prompt lengths of contrast (b).
LAYOUT = ("shapes", "targets", "widths", "control_shapes", "lam_shape", "lam_values", "tune_shapes", "tune_inits",
          "tune_repeats", "Lp_values")

#: k from 4 (below, the error is well under K delta/2: the targets bend inside a cell) over at least a
#: factor 4, so sampling noise in the sup (about 10% per point in 4 dimensions) moves the slope little
_QUICK_SHAPES = ((1, 1, (4, 8, 16, 32)), (1, 2, (4, 8, 16, 32)), (1, 3, (4, 6, 8, 12)),
                 (2, 1, (4, 8, 16)), (2, 2, (4, 6, 8)))
#: k <= 64: at k = 128 (xi = 4.8e-10) the token construction's FF1 sums ramp values up to 1/xi in float64 and
#: its query columns drift by about 1e-4, which lifts the error 8% above the exact-arithmetic bound (§8.6)
_FULL_SHAPES = ((1, 1, (4, 8, 16, 32, 64)), (1, 2, (4, 8, 16, 32, 64)), (1, 3, (4, 6, 8, 12, 16)),
                (2, 1, (4, 6, 8, 12, 16, 24)), (2, 2, (4, 6, 8, 12)))
_LAMBDAS = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0)

#: Grids and budgets per scale (keys are the overrides ``make_sweep`` accepts).
SETTINGS = scale_table(
    DEFAULTS,
    tiny={"shapes": ((1, 1, (2, 4)), (1, 2, (2, 4))), "targets": TARGETS, "lam_shape": (1, 2, 4),
          "control_shapes": ((1, 2, (2, 4)),), "n_out": 128, "n_band": 32, "n_cells": 4,
          "lam_values": (2.0, 8.0), "tune_shapes": ((1, 1, 4),), "tune_inits": INITS, "tune_repeats": 1,
          "Lp_values": (1, 4), "n_test": 256, "tune_steps": 30, "steps": 30, "restarts": 1, "rw_delta": 0.25},
    quick={"shapes": _QUICK_SHAPES, "targets": TARGETS, "lam_shape": (1, 2, 8), "lam_values": _LAMBDAS,
           "control_shapes": ((1, 2, (4, 8, 16, 32)),),
           "tune_shapes": ((1, 1, 8), (1, 2, 4)), "tune_inits": INITS, "tune_repeats": 3,
           "Lp_values": (1, 4, 16)},
    full={"shapes": _FULL_SHAPES, "targets": TARGETS, "lam_shape": (1, 2, 8), "lam_values": _LAMBDAS,
          "control_shapes": ((1, 2, (4, 8, 16, 32, 64)),), "n_out": 4096, "n_band": 1024, "n_cells": 64,
          "tune_shapes": ((1, 1, 8), (1, 2, 4), (2, 1, 4)), "tune_inits": INITS, "tune_repeats": 5,
          "Lp_values": (1, 4, 16, 32), "n_test": 16384, "restarts": 3},
)

#: Options of ``promptlimits sweep universality`` (and ``promptlimits memorize universality``).
OPTIONS = (
    Option("--targets", "targets", str, "+", TARGETS, help="targets of the k and lambda series"),
    Option("--n-test", "n_test", int, help="fresh uniform test inputs per lambda, tuning and contrast point"),
    Option("--n-out", "n_out", int, help="band-free inputs per k point (L^2 estimate)"),
    Option("--n-band", "n_band", int, help="band inputs per k point (L^2 estimate)"),
    Option("--n-cells", "n_cells", int, help="random cells per k point for the adversarial points"),
    Option("--widths", "widths", str, "+", construct.WIDTHS, help="constructions of the k series"),
    Option("--lam", "lam", float, help="retrieval margin lambda of the k series"),
    Option("--lam-values", "lam_values", float, "+", help="lambda values of the lambda series"),
    Option("--K-f", "K_f", float, help="Lipschitz constant of the additive target"),
    Option("--tune-steps", "tune_steps", int, help="L-BFGS-B iterations of contrast (a)"),
    Option("--tune-noise", "tune_noise", float, help="noise on the closed-form prompt, contrast (a)"),
    Option("--Lp", "Lp_values", int, "+", help="prompt lengths of contrast (b), random weights"),
    Option("--steps", "steps", int, help="L-BFGS-B iterations per run of contrast (b)"),
    Option("--restarts", "restarts", int, help="runs per point of contrast (b), the best kept"),
    Option("--rho", "rho", float, help="prompt box ||P||max <= rho of contrast (b)"),
    *MODEL_OPTIONS,
)


# ----------------------------------------------------------------------------- targets and models
def make_target(name: str, d: int, L: int, K_f: float, seed: int):
    """``(f, K)``: the target ``name`` on ``[0,1]^{L x d}`` and its exact max-norm Lipschitz constant."""
    check_choice(name, "target", TARGETS)
    if name == "additive":
        return AdditiveLipschitzTarget.random(L, d, K=K_f, seed=seed), float(K_f)
    f = SineTarget(L, d)
    return f, float(f.K)


@lru_cache(maxsize=64)
def _measured_K(name: str, d: int, L: int, K_f: float, seed: int) -> float:
    return measured_lipschitz(make_target(name, d, L, K_f, seed)[0], L, d)


def readout_model(c: construct.Construction) -> PromptedModel:
    """The constructed model with ``2 (D - d)`` more FF2 units that zero every output column but ``x``.

    :func:`promptlimits.tuning.tune_prompt` fits every column of the output;
    the construction's output carries its residual stream (slots, bag, table)
    outside the ``x`` block. Units ``relu(z_c)`` and ``relu(-z_c)`` with output
    weights ``-1`` and ``+1`` subtract ``z_c`` exactly from column ``c``, so the
    output is ``[tau_x, 0, ..., 0]`` with the ``x`` block unchanged, and the
    MSE is ``d / D`` times the MSE on the ``x`` block.
    """
    m, ff, d = c.model, c.model.ff2, c.d
    D = ff.W1.shape[0]
    S = np.zeros((D, D - d))
    S[np.arange(d, D), np.arange(D - d)] = 1.0
    ff2 = FFWeights(np.concatenate([ff.W1, S, -S], axis=1), np.concatenate([ff.b1, np.zeros(2 * (D - d))]),
                    np.concatenate([ff.W2, -S.T, S.T], axis=0), ff.b2)
    return PromptedModel(m.ff1, m.WQ, m.WK, m.WV, m.WO, ff2, m.scale, m.variant, m.metadata, m.E)


# ----------------------------------------------------------------------------- checks
def _check_construction(params: dict) -> None:
    d, L = (check_positive_int(params.get(key), key) for key in ("d", "L"))
    k = check_positive_int(params.get("k"), "k (cells per coordinate; k >= 2 so the grid has more than one cell)",
                           minimum=2)
    check_positive_float(params.get("lam"), "lambda")
    width = check_choice(params.get("width", "wide"), "construction width", construct.WIDTHS)
    if params.get("kind") == "k":
        check_choice(params.get("ramps"), "ramps", RAMPS)
        xi = _xi(params)
        if xi > 0.5 / k:
            raise ValueError(f"ramp width xi = {xi:.6g} is above 1/(2k) = {0.5 / k:.6g} at k = {k}; lower xi0")
        for key in ("n_out", "n_band", "n_cells"):
            check_positive_int(params.get(key), key)
    size = construct.sizes(d, L, k) if width == "wide" else token_sizes(d, L, k)
    if size["weight_bytes"] > construct.MAX_BYTES:
        raise ValueError(f"{width} construction d={d}, L={L}, k={k} needs {size['weight_bytes'] / 2**20:.1f} MiB "
                         f"of weights (FF2 width m2 = {size['m2']}), above the budget "
                         f"{construct.MAX_BYTES / 2**20:.0f} MiB; use a smaller k")


def _check_target(params: dict) -> None:
    name = check_choice(params.get("target"), "target", TARGETS)
    K_f, R = check_positive_float(params.get("K_f"), "K_f"), check_positive_float(params.get("value_range"),
                                                                                    "value_range")
    reach = K_f / math.pi if name == "additive" else 0.5  # sup |f| of the target
    if reach > R:
        raise ValueError(f"target {name!r} reaches |f| = {reach:.4g} > value_range = {R:g}; "
                         f"raise value_range or lower K_f")


def check_point(params: dict) -> None:
    """Validate one point before anything runs (the sweep engine calls it for every point first)."""
    kind = check_choice(params.get("kind"), "kind", KINDS)
    check_positive_int(params.get("n_test"), "n_test")
    _check_target(params)
    if kind in ("k", "lambda", "tune"):
        _check_construction(params)
    if kind == "tune":
        check_choice(params.get("init"), "prompt initialisation", INITS)
        check_positive_int(params.get("tune_steps"), "tune_steps")
        check_positive_float(params.get("tune_noise"), "tune_noise", allow_zero=True)
        if params["k"] ** (params["d"] * params["L"]) > MAX_GRID:
            raise ValueError(f"tuning grid k^(dL) = {params['k']}^{params['d'] * params['L']} is above "
                             f"{MAX_GRID} points; use a smaller k")
    if kind == "random_weights":
        check_grid({**params, "delta": params.get("rw_delta")})
        check_model(params)
        for key in ("Lp", "steps", "restarts"):
            check_positive_int(params.get(key), key)
        check_positive_float(params.get("rho"), "rho")
        d, L, s, Lp, n_test = params["d"], params["L"], params["s"], params["Lp"], params["n_test"]
        check_tuning_memory(d, s, 4 * d, batch=cells_per_side(params["rw_delta"]) ** (d * L), L=L, Lp=Lp)
        check_memory(tuning_bytes(d, s, 4 * d, batch=n_test, L=L, Lp=Lp), f"n_test = {n_test} (held-out outputs)")


# ----------------------------------------------------------------------------- points
def universality_point(params: dict, seed: int) -> dict:
    """One measurement of kind ``params["kind"]`` (module docstring)."""
    check_point(params)
    t0 = time.perf_counter()
    kind = params["kind"]
    f, K = make_target(params["target"], int(params["d"]), int(params["L"]), float(params["K_f"]),
                       int(params["target_seed"]))
    rng = np.random.default_rng(seed)
    if kind == "lipschitz":
        row = {"K_nominal": K, "K_measured": _measured_K(params["target"], int(params["d"]), int(params["L"]),
                                                         float(params["K_f"]), int(params["target_seed"]))}
    elif kind == "k":
        row = _over_the_cube(params, f, K, rng)
    elif kind == "lambda":
        row = _closed_form(params, f, K, rng)
    elif kind == "tune":
        row = _tuned(params, f, rng)
    else:
        row = _random_weights(params, f, rng)
    return {**row, "seconds": round(time.perf_counter() - t0, 3)}


def _xi(params: dict):
    """The ramp width of a ``k`` point: ``xi0 / k^3`` (shrinking) or ``xi0_fixed / k`` (the control)."""
    k = int(params["k"])
    if params.get("ramps") == "shrinking":
        return shrinking_xi(k, check_positive_float(params.get("xi0"), "xi0"))
    if params.get("ramps") == "fixed":
        return check_positive_float(params.get("xi0_fixed"), "xi0_fixed") / k
    return None  # the construction's default, 10^-3 / k


def _build(params: dict):
    width = params.get("width", "wide")
    lam = float(params["lam"] if width == "wide" else params["token_lam"])
    return construct.build(int(params["d"]), int(params["L"]), int(params["k"]), width=width, lam=lam,
                           xi=_xi(params), value_range=float(params["value_range"]))


def _test_inputs(params: dict, rng) -> np.ndarray:
    return rng.uniform(0.0, 1.0, size=(int(params["n_test"]), int(params["L"]), int(params["d"])))


def _errors(c: construct.Construction, P, X, FX) -> dict:
    """Held-out errors of prompt ``P``: outside the bands (sup, RMS), everywhere (RMS), inside (sup)."""
    err = np.abs(c.predict(P, X) - FX)
    keep = ~c.in_bands(X)
    out, band = err[keep], err[~keep]
    return {"sup_err": float(out.max()) if out.size else None, "rms_err": float(np.sqrt(np.mean(err * err))),
            "rms_outside": float(np.sqrt(np.mean(out * out))) if out.size else None,
            "band_sup_err": float(band.max()) if band.size else None, "n_outside": int(keep.sum())}


def _closed_form(params: dict, f, K: float, rng) -> dict:
    """The lambda series: held-out sup error outside the bands on uniform inputs, beside the bound."""
    c = _build(params)
    X = _test_inputs(params, rng)
    e = _errors(c, construct.lookup_prompt(c, f), X, f(X))
    bound = c.bound(K)
    s = c.sizes
    return {"K_nominal": K, **e, "bound": bound, "ratio": None if e["sup_err"] is None else e["sup_err"] / bound,
            "rounding": c.rounding(), "leakage": c.leakage(),
            "Lp": s["Lp"], "D": s["D"], "m1": s["m1"], "m2": s["m2"], "head_size": s["s"],
            "weight_MiB": round(s["weight_bytes"] / 2**20, 3)}


def _over_the_cube(params: dict, f, K: float, rng) -> dict:
    """L^1, L^2 over the whole cube, the sup at band-free and adversarial points, beside the proved bounds."""
    c = _build(params)
    P = construct.lookup_prompt(c, f)
    est = estimate_lp(c, P, f, n_out=int(params["n_out"]), n_band=int(params["n_band"]), rng=rng)
    A = adversarial_points(c, f, int(params["n_cells"]), rng)
    adv = float(np.abs(c.predict(P, A) - f(A)).max())
    b = lp_bounds(c, K)
    s = c.sizes
    worst = max(est["sup_uniform"], adv)
    return {"K_nominal": K, "xi": c.xi, "lam_used": c.lam, **est, "sup_err": est["sup_uniform"], "adv_err": adv,
            "n_adversarial": len(A), "bound": b["sup"], "band_bound": b["band"], "L2_bound": b["L2"],
            "L1_bound": b["L1"], "rounding": c.rounding(), "ratio": worst / b["sup"], "leakage": c.leakage(),
            "Lp": c.Lp, "D": c.model.d, "m1": s["m1"], "m2": s["m2"], "head_size": s["s"],
            "weight_MiB": round(s["weight_bytes"] / 2**20, 3), "prompt_max": c.prompt_max,
            "prompt_entries": c.Lp * c.model.d, "w_lower": min_token_width(c.d, c.L, c.k)}


def _tuned(params: dict, f, rng) -> dict:
    c = _build(params)
    Xg = grid(1.0 / c.k, c.L, c.d)
    Yg = np.zeros(Xg.shape[:2] + (c.sizes["D"],))
    Yg[..., : c.d] = f(Xg)
    P_star = construct.lookup_prompt(c, f)
    if params["init"] == "random":
        P0 = rng.normal(0.0, 1.0, size=P_star.shape)
    else:
        P0 = P_star + float(params["tune_noise"]) * rng.normal(size=P_star.shape)
    res = tune_prompt(readout_model(c), c.embed(Xg), Yg, P0=P0, optimizer="lbfgs",
                      steps=int(params["tune_steps"]), progress=False)
    X = _test_inputs(params, rng)
    FX = f(X)
    tuned, start, closed = (_errors(c, P, X, FX) for P in (res.P, P0, P_star))
    return {"Lp": c.Lp, "D": c.sizes["D"], **tuned, "init_sup_err": start["sup_err"],
            "init_rms_err": start["rms_err"], "closed_form_sup_err": closed["sup_err"],
            "closed_form_rms_err": closed["rms_err"], "train_max_err": res.max_err, "tune_iterations": res.steps}


def _random_weights(params: dict, g, rng) -> dict:
    """Contrast (b): the previous experiment's tuning on a frozen random model (module docstring)."""
    d, L, Lp, rho = int(params["d"]), int(params["L"]), int(params["Lp"]), float(params["rho"])
    model = frozen_model(params)
    ref = np.random.default_rng(12345).uniform(-rho / 2, rho / 2, size=(1, d))
    Xg = grid(float(params["rw_delta"]), L, d)
    Xt = _test_inputs(params, rng)
    centre = float(np.mean(g(Xt)))

    def f(X):
        return model.forward(ref, X) + g(X) - centre

    Yg, Yt = f(Xg), f(Xt)
    best = None
    for _ in range(int(params["restarts"])):
        res = tune_prompt(model, Xg, Yg, Lp=Lp, optimizer="lbfgs", steps=int(params["steps"]), rho=rho,
                          init="normal", init_scale=min(rho, 1.0), seed=int(rng.integers(2**32)), progress=False)
        if best is None or res.mse < best.mse:
            best = res
    test = model.loss(best.P, Xt, Yt)
    return {"sup_err": test.max_err, "rms_err": math.sqrt(test.mse), "train_max_err": best.max_err,
            "ref_err": model.loss(ref, Xt, Yt).max_err, "B": best.B}


# ----------------------------------------------------------------------------- the sweep
def _shape(v, what: str, *, with_ks: bool = False) -> tuple:
    """``(d, L, k)`` (or ``(d, L, (k, ...))`` with ``with_ks``) of a layout setting, checked."""
    try:
        d, L, k = v
        ks = tuple(k) if with_ks else (k,)
    except (TypeError, ValueError):
        form = "(d, L, (k, ...))" if with_ks else "(d, L, k)"
        raise ValueError(f"{what} entries must be {form}, got {v!r}") from None
    if not ks:
        raise ValueError(f"{what} entry {v!r} has no k values")
    for x, name in [(d, "d"), (L, "L"), *((kk, "k") for kk in ks)]:
        check_positive_int(x, f"{what}: {name}")
    return int(d), int(L), (tuple(int(kk) for kk in ks) if with_ks else int(k))


def _points(s: dict) -> list[dict]:
    shapes = [_shape(v, "shapes", with_ks=True) for v in s["shapes"]]
    targets = [check_choice(t, "target", TARGETS) for t in s["targets"]]
    ct = check_choice(s["contrast_target"], "contrast_target", TARGETS)
    pts = [{"kind": "lipschitz", "d": d, "L": L, "target": t} for d, L, _ in shapes for t in targets]
    widths = [check_choice(w, "construction width", construct.WIDTHS) for w in s["widths"]]
    pts += [{"kind": "k", "d": d, "L": L, "k": k, "target": t, "width": w, "ramps": "shrinking"}
            for w in widths for d, L, ks in shapes for t in targets for k in ks]
    controls = [_shape(v, "control_shapes", with_ks=True) for v in s["control_shapes"]]
    pts += [{"kind": "k", "d": d, "L": L, "k": k, "target": targets[0], "width": w, "ramps": "fixed"}
            for w in widths for d, L, ks in controls for k in ks]
    if s["lam_values"]:
        d, L, k = _shape(s["lam_shape"], "lam_shape")
        pts += [{"kind": "lambda", "d": d, "L": L, "k": k, "target": t, "lam": float(lam), "width": "wide"}
                for t in targets for lam in s["lam_values"]]
    tune = [_shape(v, "tune_shapes") for v in s["tune_shapes"]]
    inits = [check_choice(i, "prompt initialisation", INITS) for i in s["tune_inits"]]
    repeats = check_positive_int(s["tune_repeats"], "tune_repeats")
    pts += [{"kind": "tune", "d": d, "L": L, "k": k, "target": ct, "init": i, "repeat": r}
            for d, L, k in tune for i in inits for r in range(repeats)]
    pts += [{"kind": "random_weights", "d": 1, "L": 1, "target": ct, "Lp": int(Lp)} for Lp in s["Lp_values"]]
    return pts


def make_sweep(scale: str = "quick", *, seed: int = 0, **overrides) -> SweepDef:
    """The closed-form series against ``k`` and ``lambda``, and the two tuning contrasts (module docstring)."""
    s = resolve(SETTINGS, scale, overrides)
    fixed = {k: v for k, v in s.items() if k not in LAYOUT}
    return SweepDef(name="universality", point="promptlimits.experiments.universality:universality_point",
                    points=tuple(_points(s)), fixed=fixed, repeats=1, seed=int(seed),
                    check="promptlimits.experiments.universality:check_point",
                    summary="promptlimits.experiments.universality:summarize",
                    description=f"constructed transformer: held-out error of closed-form prompts against k and "
                                f"lambda beside the proved bound, and tuning contrasts (docs/theory.md §8.3), "
                                f"scale={scale}")
