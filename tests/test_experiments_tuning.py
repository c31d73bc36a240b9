"""The figure-3 (approximation error) and figure-5 (capacity against efficiency) experiments; claim 5's verdict."""

from itertools import pairwise
from types import SimpleNamespace

import numpy as np
import pytest

from promptlimits.experiments import approx_error, experiment, prompt_norm, tuning_curves, tuning_verdict
from promptlimits.experiments.verdict import ILLUSTRATION, NOT_CHECKED, NOT_CONSISTENT
from promptlimits.features import rank
from promptlimits.model import PromptedModel
from promptlimits.norm_box import induced_parts, largest_box, prompt_norm_bound, rows_norm
from promptlimits.poly_attention import frontier_B
from promptlimits.polyapprox import least_degree
from promptlimits.sweep import run_sweep


def test_measured_error_stays_below_the_certificate_where_rounding_is_negligible(tmp_path):
    res = run_sweep(approx_error.make_sweep("tiny"), tmp_path, workers=1, progress=False)
    measured = [r for r in res.rows if r["measured_err"] is not None]
    assert measured, "no degree was certified"
    # both certificates include the kernels' rounding (docs/theory.md §4.6, §4.6.1): every point, every family
    for r in measured:
        assert r["measured_err"] <= r["bound"], r
        assert approx_error.gradient_ratio(r) <= 1.0, r  # the backward within its bound (docs/theory.md §4.5)
        assert (approx_error.rounding_ratio(r) or 0.0) <= 1.0, r  # measured rounding within its proved bound
    # degrees whose certificate is >= 1 are recorded, not measured
    assert all(r["rank"] is None for r in res.rows if not r["certified"])
    # more degree, less error (until rounding): the error falls by orders of magnitude
    for B in {r["B"] for r in measured}:
        errs = [r["measured_err"] for r in sorted(measured, key=lambda r: r["degree"])
                if r["B"] == B and r["family"] == "random"]
        assert errs[-1] < 1e-3 * errs[0]


def test_frontier_is_where_the_least_certified_rank_reaches_n():
    n, s = 64, 2
    B = frontier_B(n, d=s, eps=1e-6)
    eps_p = 4e-6 / (4 + 1e-12)  # the sharp conversion of docs/theory.md §4.2
    assert rank(s, least_degree(B * B, eps_p)) < n
    assert rank(s, least_degree((B + 2e-3) ** 2, eps_p)) >= n


@pytest.fixture(scope="module")
def tiny_curves(tmp_path_factory):
    """The tiny sweep: n = 256 (frontier below the inputs' own norm: no box) and n = 1024 (free and boxed)."""
    return run_sweep(tuning_curves.make_sweep("tiny"), tmp_path_factory.mktemp("tc"), workers=1, progress=False)


def test_frontier_box_keeps_every_iterate_at_or_below_the_frontier(tiny_curves):
    runs = {(r["n"], r["box"]): r for r in tiny_curves.meta["summary"]["runs"]}
    assert runs[256, "frontier"]["status"].startswith("no box")  # B*(256) < the inputs' own B
    assert runs[256, "frontier"]["B_cert"] < runs[256, "frontier"]["B_input"]
    boxed, free = runs[1024, "frontier"], runs[1024, "free"]
    assert boxed["B_input"] < boxed["B_cert"] and boxed["box_bound"] <= boxed["B_cert"]
    rows = [r for r in tiny_curves.rows if r["n"] == 1024 and r["box"] == "frontier"]
    assert max(r["B"] for r in rows) <= boxed["B_cert"]
    assert free["rho"] is None and boxed["rho"] > 0
    # free and boxed start from the same prompt (the start lies inside the box), so both curves start at 1
    for box in ("free", "frontier"):
        first = min((r for r in tiny_curves.rows if r["n"] == 1024 and r["box"] == box), key=lambda r: r["step"])
        assert first["rel_mse"] == pytest.approx(1.0, rel=1e-12)
    assert [r["step"] for r in rows] == list(range(len(rows)))
    [v] = tuning_curves.verdicts({"tuning_curves": tiny_curves, "prompt-norm": _res(_prompt_norm_summary())})
    assert v.status == ILLUSTRATION


def test_teacher_prompt_induces_the_requested_norm():
    params = dict(tuning_curves.SETTINGS["tiny"], n=512, box="free", data_seed=3)
    model, X, Y, P_teacher, P0 = tuning_curves._task(params)
    assert rows_norm(model, P_teacher) == pytest.approx(params["teacher_B"], rel=1e-10)
    assert np.abs(P0).max() <= params["init_scale"] and Y.shape == X.shape == (1, 510, params["d"])


# ----------------------------------------------------------------------------- claim 5 verdict, synthetic
def _res(summary, rows=()):
    return SimpleNamespace(rows=list(rows), meta={"summary": summary})


def _prompt_norm_summary(monotone=True):
    return {"B_cert": 2.4, "n": 8, "B_input": 2.04, "largest_rho_tuned_below_frontier": 1.0, "best_mse": 1e-8,
            "best_rho": 10.0, "monotone": monotone}


def _run_rows(n, box, Bs, *, B_cert=1.5, B_input=0.9, rho=None, box_bound=None, status="tuned"):
    const = {"n": n, "box": box, "Lp": 4, "L": n - 4, "status": status, "B_cert": B_cert, "B_certifiable": 2.4,
             "B_input": B_input, "B_teacher": 1.75, "rho": rho, "box_bound": box_bound, "mse_start": 1.0,
             "seconds": 0.5, "d": 4, "share": 256, "weight_scale": 0.5, "teacher_B": 1.75, "steps": 3,
             "backend": "auto", "eps": 1e-6}
    return [const | {"step": k, "mse": 0.5 ** k, "rel_mse": 0.5 ** k, "max_err": 0.1, "B": B,
                     "backend_used": "poly" if k else "exact"} for k, B in enumerate(Bs)]


def claim5_results(boxed_B=(1.0, 1.2), *, box_bound=1.4, B_cert=1.5, B_input=0.9, free=True, monotone=True):
    """Synthetic results of ``tuning_curves`` (one boxed and one free run at n = 1024) and ``prompt-norm``."""
    rows = _run_rows(1024, "frontier", boxed_B, B_cert=B_cert, B_input=B_input, rho=0.7, box_bound=box_bound)
    if free:
        rows += _run_rows(1024, "free", (1.0, 1.8, 1.7), B_cert=B_cert, B_input=B_input)
    return {"tuning_curves": _res(tuning_verdict.summarize(rows), rows),
            "prompt-norm": _res(_prompt_norm_summary(monotone))}


def _claim5(*args, **kw):
    return tuning_curves.verdicts(claim5_results(*args, **kw))


def test_summary_reads_the_final_state_and_the_largest_norm_of_each_run():
    rows = _run_rows(2048, "free", (1.0, 1.8, 1.7)) + _run_rows(2048, 0.5, (0.9, 0.95), rho=0.5, box_bound=1.2)
    free, boxed = tuning_verdict.summarize(rows[::-1])["runs"][::-1]  # row order does not matter
    assert (free["box"], free["B_final"], free["B_max"], free["steps"], free["mse"]) == ("free", 1.7, 1.8, 2, 0.25)
    assert (free["poly_steps"], free["iterations"]) == (2, 3)
    assert (boxed["box"], boxed["B_max"], boxed["rho"], boxed["box_bound"]) == ("0.5", 0.95, 0.5, 1.2)


def test_capacity_verdict_each_status():
    [v] = _claim5()
    assert v.status == ILLUSTRATION and "above it at n = [1024]" in v.why and "either side" in v.strength
    assert _claim5(boxed_B=(1.0, 1.41))[0].status == NOT_CONSISTENT  # an iterate above the box's bound
    assert _claim5(box_bound=1.6)[0].status == NOT_CONSISTENT  # a frontier box whose bound exceeds B_cert(n)
    assert _claim5(monotone=False)[0].status == NOT_CONSISTENT  # the warm-started loss rose with rho
    assert _claim5(free=False)[0].status == NOT_CHECKED  # no free run
    assert _claim5(B_cert=0.8, box_bound=0.8, boxed_B=(0.9,))[0].status == NOT_CHECKED  # frontier below the inputs
    assert experiment("prompt-norm").module.verdicts({}) == []  # its numbers are claim 5's


# ----------------------------------------------------------------------------- the box's bound
def test_prompt_norm_bound_holds_over_the_box_and_largest_box_inverts_it():
    model = PromptedModel.from_seed(3, seed=4, weight_scale=0.7)
    rng = np.random.default_rng(0)
    for rho in (0.1, 0.8, 3.0):
        corners = rho * np.array(np.meshgrid(*[[-1.0, 1.0]] * 3)).reshape(3, -1).T
        P = np.concatenate([corners, rng.uniform(-rho, rho, size=(4000, 3))])
        assert rows_norm(model, P) <= prompt_norm_bound(model, rho)
    level = 1.3
    rho = largest_box(model, level)
    assert prompt_norm_bound(model, rho) <= level < prompt_norm_bound(model, rho * (1 + 1e-6))
    assert largest_box(model, 0.5 * prompt_norm_bound(model, 0.0)) is None


def test_induced_parts_match_the_models_induced_norm():
    model = PromptedModel.from_seed(4, seed=1, positions=6)
    P, X = np.random.default_rng(1).normal(size=(3, 4)), np.random.default_rng(2).uniform(size=(2, 6, 4))
    ind = model.induced_norm(P, X)
    assert induced_parts(model, P, X) == pytest.approx((ind.B_prompt, ind.B_input), rel=1e-14)


# ----------------------------------------------------------------------------- prompt-norm warm start
def test_warm_started_reachable_loss_never_rises_with_rho():
    from promptlimits.experiments import prompt_norm

    params = dict(prompt_norm.make_sweep("tiny", rhos=[0.2, 0.5, 1.5, 4.0, 10.0], steps=8, batch=3).fixed)
    rows = prompt_norm.prompt_norm_point(params, seed=5)
    losses = [r["mse_tuned"] for r in rows]
    assert [r["rho"] for r in rows] == [0.2, 0.5, 1.5, 4.0, 10.0]
    assert all(b <= a for a, b in pairwise(losses))
    assert all(r["mse_tuned"] <= r["mse_cold"] for r in rows) and rows[0]["tuned_from"] == "cold"
    assert prompt_norm.summarize([r for r in rows])["monotone"] is True


def test_boxes_are_text_in_the_grid_and_bad_ones_are_refused():
    sweep = tuning_curves.make_sweep("tiny", boxes=["free", 0.5, "frontier", "2"])
    assert sweep.grid["box"] == ("free", "0.5", "frontier", "2.0")  # one column type
    with pytest.raises(ValueError, match="box must be 'free', 'frontier' or a number rho > 0, got 'wide'"):
        tuning_curves.make_sweep("tiny", boxes=["wide"])
    with pytest.raises(ValueError, match="box radius rho must be finite and > 0"):
        tuning_curves.make_sweep("tiny", boxes=[-1.0])


def test_certified_frontier_at_fixed_d_is_named_apart_from_the_phase_frontier(tiny_curves):
    """B_cert(n; d, eps), the column of the tuning rows, against least_cost from poly_attention, and != B*(n)."""
    from promptlimits.poly_attention import least_cost
    from promptlimits.threshold import crossing, theorem_regime

    rows = [r for r in tiny_curves.rows if r["n"] == 1024]
    assert rows and "B_star" not in rows[0]
    b = rows[0]["B_cert"]
    eps, d = tuning_curves.SETTINGS["tiny"]["eps"], tuning_curves.SETTINGS["tiny"]["d"]
    assert d == 4 and eps == 1e-6
    below, above = least_cost(1024, d, b, eps=eps), least_cost(1024, d, b + 2e-3, eps=eps)
    assert below is not None and below.ratio < 1  # r* < n at B_cert ...
    assert above is None or above.ratio >= 1  # ... and not 2e-3 above it
    assert b == pytest.approx(1.367, abs=2e-3)
    # claim 1's B*(n) is the theorem-regime crossing (d = ceil(log2 n), eps = 1/n): a different number
    d1, eps1 = theorem_regime(10.0)
    assert abs(crossing(10.0, d1, eps1).B_star - b) > 0.3


def test_prompt_norm_reads_the_frontier_at_the_rows_used():
    """n = Lp + L, not a reference length: at n = 8 the certified frontier lies below the inputs' own norm."""
    from promptlimits.poly_attention import frontier_B

    params = dict(prompt_norm.SETTINGS["tiny"], rhos="0.3", steps=0)
    rows = prompt_norm.prompt_norm_point(params, seed=0)
    n = params["Lp"] + params["L"]
    assert rows[0]["n"] == n == 8 and "n_ref" not in params
    assert rows[0]["B_cert"] == frontier_B(n, d=rows[0]["s"], eps=params["eps"])
    assert rows[0]["B_cert"] < rows[0]["B_input_init"] and not rows[0]["tuned_below_frontier"]
    line = tuning_verdict._prompt_norm_line(prompt_norm.summarize(rows))
    assert "n = Lp + L = 8" in line and "every prompt is on the expensive side" in line
