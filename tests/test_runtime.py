"""Runtime sweep (docs/theory.md §5.5): its rows, the cost-model fit, the verdict rule, bad input."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from promptlimits.cli import main
from promptlimits.experiments.runtime import (
    EXACT_MIN_SLOPE,
    SLOPE_TOLERANCE,
    check_point,
    fit_overhead,
    make_sweep,
    runtime_point,
    summarize,
    verdicts,
)
from promptlimits.experiments.verdict import CONSISTENT, NOT_CHECKED, NOT_CONSISTENT
from promptlimits.poly_attention import least_cost

FIXED = dict(make_sweep("tiny").fixed)


def test_poly_row_is_the_certified_plan_and_within_its_bound():
    row = runtime_point({**FIXED, "algo": "poly", "log2_n": 9, "kappa": 0.15}, seed=3)
    n, d, eps = 512, 9, 2.0**-9
    cost = least_cost(n, d, 0.15 * math.sqrt(math.log(n)), eps=eps)
    assert (row["n"], row["d"], row["eps_target"], row["degree"], row["rank"]) == (n, d, eps, cost.degree, cost.rank)
    assert row["flops"] == 4 * n * cost.rank * d and math.isclose(row["log_n_rank"], math.log(cost.rank, n))
    assert row["measured"] and row["t"] > 0 and row["err_max"] <= row["err_bound"] <= eps


def test_poly_row_over_the_flop_budget_is_skipped_with_its_reason():
    row = runtime_point({**FIXED, "algo": "poly", "log2_n": 9, "kappa": 0.15, "max_flops": 1e3}, seed=0)
    assert not row["measured"] and row["t"] is None and "> max_flops" in row["reason"]


@pytest.mark.parametrize("log2_n, rows", [(8, 256), (9, 64)])
def test_exact_row_samples_query_rows_above_the_full_size(log2_n, rows):
    row = runtime_point({**FIXED, "algo": "exact", "log2_n": log2_n, "kappa": None}, seed=0)
    assert row["rows_timed"] == rows and math.isclose(row["t"], row["t_rows"] * row["n"] / rows)


@pytest.mark.parametrize("change, text", [
    ({"log2_n": 30}, "GiB for Q, K, V"),
    ({"log2_n": 41}, "log2 n must be"),
    ({"eps_exponent": 2.0, "log2_n": 24}, "eps = n^-a must lie in"),
    ({"algo": "fast"}, "unknown algorithm 'fast'"),
    ({"kappa": -0.1}, "kappa = B/sqrt(ln n) must be finite and > 0"),
])
def test_bad_points_are_refused(change, text):
    with pytest.raises(ValueError, match=text.replace("(", r"\(").replace(")", r"\)").replace("^", r"\^")):
        check_point({**FIXED, "algo": "poly", "log2_n": 10, "kappa": 0.1, **change})


def test_cli_refuses_a_size_that_does_not_fit_in_memory(tmp_path, capsys):
    assert main(["sweep", "runtime", "--log2-n", "30", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "GiB" in err and not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- summary and verdict
def _poly_rows(kappa, ns, ranks, t_of):
    return [{"algo": "poly", "kappa": kappa, "n": n, "d": int(math.log2(n)), "rank": r, "B": kappa,
             "measured": True, "t": t_of(n, int(math.log2(n)), r), "reason": "", "err_max": 0.0, "err_bound": 1.0,
             "log_n_rank": math.log(r, n), "flops": 4.0 * n * r * math.log2(n)} for n, r in zip(ns, ranks)]


NS = [2**k for k in range(10, 15)]


def _rows(a=1e-8, b=3e-10, exact_power=2.0, bend=0.0):
    rows = []
    for kappa, ranks in ((0.05, [11, 12, 13, 105, 120]), (0.2, [286, 364, 455, 2380, 3060])):
        rows += _poly_rows(kappa, NS, ranks, lambda n, d, r: n * d * (a + b * r) * (n / NS[0]) ** bend)
    rows += [{"algo": "exact", "kappa": None, "n": n, "d": int(math.log2(n)), "measured": True, "rows_timed": n,
              "t": 1e-9 * n**exact_power} for n in NS]
    return rows


def test_fit_overhead_recovers_the_cost_model():
    fit = fit_overhead([r for r in _rows() if r["algo"] == "poly"])
    assert math.isclose(fit["a"], 1e-8, rel_tol=1e-6) and math.isclose(fit["b"], 3e-10, rel_tol=1e-6)
    assert math.isclose(fit["r0"], 1e-8 / 3e-10, rel_tol=1e-6) and fit["rms_log"] < 1e-9
    s = summarize(_rows())
    ks = s["kappas"]["0.05"]
    assert math.isclose(ks["measured_slope"], ks["predicted_slope"], abs_tol=1e-9)
    assert ks["rank_only_slope"] > ks["predicted_slope"]  # the overhead flattens small ranks
    assert math.isclose(s["exact"]["slope"], 2.0)


def _results(rows):
    first = {"c": 1.0, "eps_exponent": 1.0, "timing_repeats": 7, "timing_budget": 1.0, "max_flops": 4e9}
    return {"runtime": SimpleNamespace(rows=[{**first, **r} for r in rows], meta={"summary": summarize(rows)})}


def test_verdict_takes_each_status_by_its_rule():
    assert verdicts(_results(_rows()))[0].status == CONSISTENT
    bent = verdicts(_results(_rows(bend=SLOPE_TOLERANCE * 2)))  # every poly time grows n^0.3 faster than predicted
    assert bent[0].status == NOT_CONSISTENT and "against predicted" in bent[0].why
    slow_exact = verdicts(_results(_rows(exact_power=EXACT_MIN_SLOPE - 0.1)))[0]
    assert slow_exact.status == NOT_CONSISTENT and "exact's exponent 1.8 < 1.9" in slow_exact.why
    few = [r for r in _rows() if r["n"] <= NS[1]]
    assert verdicts(_results(few))[0].status == NOT_CHECKED


def test_tiny_sweep_runs(tmp_path):
    from promptlimits.sweep import run_sweep

    res = run_sweep(make_sweep("tiny", log2_ns=[7, 8, 9]), tmp_path, workers=1, progress=False)
    s = res.meta["summary"]
    assert set(s["kappas"]) == {"0.05", "0.15"} and s["exact"]["n"] == [128, 256, 512]
    assert all(k["errors_within_bound"] and len(k["n_measured"]) == 3 for k in s["kappas"].values())
    assert np.isfinite(s["cost_model"]["r0"])
