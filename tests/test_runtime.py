"""Runtime claim (docs/theory.md §5.5, §9.4): the exact asymptotics, the cost model and its calibration, the rule
on synthetic timings, the sweep's rows, bad input."""

import json
import math
import platform
from types import SimpleNamespace

import numpy as np
import pytest

from promptlimits.cli import main
from promptlimits.experiments import runtime_asymptotics as asym
from promptlimits.experiments import runtime_model as model
from promptlimits.experiments.runtime import check_point, make_sweep, runtime_point, summarize, verdicts
from promptlimits.experiments.verdict import CONSISTENT, INCONCLUSIVE, NOT_CHECKED, NOT_CONSISTENT, VACUOUS
from promptlimits.poly_attention import least_cost

FIXED = {**make_sweep("tiny").fixed, "part": "timing"}


# ----------------------------------------------------------------------------- asymptotics (exact)
@pytest.mark.parametrize("name, log2_n", [("B=1", 16), ("B=1", 64), ("kappa=0.1", 32), ("kappa=0.15", 64),
                                          ("B=sqrt(ln n)/ln ln n", 32)])
def test_least_degree_matches_the_threshold_module(name, log2_n):
    """Against the float search of promptlimits.threshold (degrees <= 400 there): same g*, same log_n r*."""
    from mpmath import mp

    from promptlimits.threshold import rank_exponent

    R = float(asym.schedule_R(name, log2_n, mp))
    g_ref, e_ref = rank_exponent(log2_n, log2_n, R, 2.0**-log2_n)
    g, d, e = asym.rank_exponent(name, log2_n)
    assert (g, d) == (g_ref, log2_n) and math.isclose(e, e_ref, rel_tol=1e-12)


def test_limit_exponent_is_one_at_the_limit_crossing():
    """h(beta(kappa)) = 1 exactly at c*(infinity) of promptlimits.threshold.limit_c_star (docs/theory.md §5.2)."""
    from promptlimits.threshold import limit_c_star

    assert math.isclose(asym.limit_exponent(limit_c_star()), 1.0, rel_tol=1e-9)
    assert 0 < asym.limit_exponent(0.1) < asym.limit_exponent(0.15) < 1


def test_o_regimes_pass_the_rule_and_the_fixed_kappa_control_fails_it():
    table = asym.exponent_table()
    for name in asym.SCHEDULES:
        assert asym.decreasing_rule(table[name]["exponent"]), name
    for name in asym.CONTROLS:
        e = table[name]["exponent"]
        assert not asym.decreasing_rule(e), name  # rises towards its positive limit
        assert min(e) > 0.5 and abs(e[-1] - table[name]["limit"]) < 0.02
    assert asym.asymptotic_verdict(table)["status"] == CONSISTENT


def test_asymptotic_verdict_takes_each_status_by_its_rule():
    def table(schedule, control):
        return {"B=1": {"exponent": schedule}, "kappa=0.1": {"exponent": control}}

    assert asym.asymptotic_verdict(table([3, 2, 1], [1, 2, 3]))["status"] == CONSISTENT
    assert asym.asymptotic_verdict(table([3, 2, 2], [1, 2, 3]))["status"] == NOT_CONSISTENT  # a flat step fails
    assert asym.asymptotic_verdict(table([3, 2, 1], [3, 2, 1]))["status"] == VACUOUS  # the control passes too


def test_bad_schedule_is_refused():
    with pytest.raises(ValueError, match="unknown norm schedule 'B=2'"):
        asym.least_degree("B=2", 16)
    with pytest.raises(ValueError, match="log2 n must lie in"):
        asym.least_degree("B=1", 2000)


# ----------------------------------------------------------------------------- cost model and calibration
COEF = {"poly": {"multiply_adds": 4e-11, "monomials": 2e-10, "row_bytes": 2e-10, "calls": 4e-5},
        "exact": {"multiply_adds": 8e-11, "exponentials": 5e-9, "row_bytes": 0.0, "tiles": 2e-5,
                  "calls": 5e-5}}
CAL_POINTS = [("poly", 1536, 5, 1), ("poly", 1536, 5, 3), ("poly", 1536, 16, 2), ("poly", 1536, 20, 2),
              ("poly", 6144, 16, 1), ("poly", 6144, 5, 2), ("exact", 640, 7, None), ("exact", 768, 16, None),
              ("exact", 1152, 9, None), ("exact", 1536, 20, None), ("exact", 2560, 11, None),
              ("exact", 3072, 6, None)]


def _true_t(algo, n, d, rank):
    counts = model.op_counts(algo, n, d, rank)
    return sum(COEF[algo][k] * v for k, v in counts.items())


def _cal_rows():
    return [{"algo": a, "n": n, "d": d, "rank": None if g is None else math.comb(d + g, g),
             "t": _true_t(a, n, d, None if g is None else math.comb(d + g, g))} for a, n, d, g in CAL_POINTS]


def test_op_counts_follow_the_kernel_shapes():
    c = model.op_counts("poly", 1000, 9, 55)  # n8 = 1000, W = 16 (V's columns padded to two tiles)
    assert c == {"multiply_adds": 2 * 1000 * 55 * 17, "monomials": 2 * 1000 * 55, "row_bytes": 8 * 1000 * (27 + 16),
                 "calls": 1.0}
    assert model.op_counts("poly", 1001, 9, 55)["monomials"] == 2 * 1008 * 55  # rows padded to 8
    assert model.op_counts("exact", 512, 9) == {"multiply_adds": 2 * 512**2 * 9, "exponentials": 512**2,
                                                "row_bytes": 32 * 512 * 9, "tiles": 8.0, "calls": 1.0}
    # tiles of 64 queries by 512 keys, the last ones partial
    assert [model.op_counts("exact", n, 4)["tiles"] for n in (1, 640, 2**14)] == [1.0, 10.0 * 2, 256.0 * 32]


def test_exact_attention_as_timed_is_exact_attention():
    from promptlimits.attention import exact_attention

    rng = np.random.default_rng(0)
    Q, K, V = rng.uniform(-1, 1, (700, 5)), rng.uniform(-1, 1, (1100, 5)), rng.uniform(-1, 1, (1100, 5))
    np.testing.assert_allclose(model.exact_call(Q, K, V), exact_attention(Q, K, V), rtol=0, atol=1e-15)


def test_calibration_recovers_known_costs_and_predicts_other_sizes():
    cal = model.calibrate(_cal_rows())
    for algo in COEF:
        assert cal["rms_rel"][algo] < 1e-9
        for n, d, r in ((4096, 12, 455), (8192, 13, 105)):
            rank = r if algo == "poly" else None
            assert math.isclose(model.predict(cal, algo, n, d, rank), _true_t(algo, n, d, rank), rel_tol=1e-6)
    assert cal["machine"] == model.machine_id() and model.check_calibration(cal) is cal


def _repeats(ts, noise, rng, k=9):
    return {n: list(t * (1 + noise * rng.random(k))) for n, t in ts.items()}


NS = [2**k for k in range(9, 15)]


def test_slope_gap_classifies_synthetic_timings():
    rng = np.random.default_rng(0)
    pred = {n: 1e-9 * n**1.4 for n in NS}
    right = model.slope_gap(NS, _repeats(pred, 0.05, rng), pred)
    assert model.classify(right["low"], right["high"]) == CONSISTENT and abs(right["gap"]) < 0.02
    assert math.isclose(right["predicted_slope"], 1.4)
    wrong = model.slope_gap(NS, _repeats({n: 1e-9 * n**1.7 for n in NS}, 0.05, rng), pred)  # 0.3 steeper
    assert model.classify(wrong["low"], wrong["high"]) == NOT_CONSISTENT and wrong["low"] > model.SLOPE_MARGIN
    # a gap of about the margin, with noise that spreads the minima: the interval straddles 0.1
    noisy = {n: [t * (n / NS[0]) ** 0.1 * (1 + 3 * x) for x in rng.random(9)] for n, t in pred.items()}
    straddle = model.slope_gap(NS, noisy, pred, seed=1)
    assert straddle["low"] < model.SLOPE_MARGIN < straddle["high"]
    assert model.classify(straddle["low"], straddle["high"]) == INCONCLUSIVE


def test_slope_gap_is_reproducible_with_its_seed():
    rng = np.random.default_rng(3)
    pred = {n: 1e-9 * n for n in NS}
    reps = _repeats(pred, 0.5, rng)
    assert model.slope_gap(NS, reps, pred, seed=5) == model.slope_gap(NS, reps, pred, seed=5)


def test_cost_model_missing_a_size_is_refused():
    pred = {n: 1.0 for n in NS[:-1]}
    with pytest.raises(ValueError, match=f"the cost model has no prediction for n = \\[{NS[-1]}\\]"):
        model.slope_gap(NS, {n: [1.0, 1.1] for n in NS}, pred)
    cal = model.calibrate(_cal_rows())
    del cal["coefficients"]["exact"]["exponentials"]
    with pytest.raises(ValueError, match=r"has no coefficient for \['exponentials'\]"):
        model.predict(cal, "exact", 1024, 10)
    with pytest.raises(ValueError, match=r"the cost model for exact has no valid coefficient for \['exponentials'\]"):
        model.check_calibration(cal)


@pytest.mark.parametrize("change, text", [
    (lambda c: c["machine"].update(cpu="Another CPU"), "was made on another machine: cpu 'Another CPU' there"),
    (lambda c: c["machine"]["versions"].update(numpy="0.0"), "was made with another version of numpy: '0.0' there"),
    (lambda c: c["coefficients"]["poly"].pop("monomials"), "the cost model for poly has no valid coefficient for"),
])
def test_calibration_from_another_machine_or_version_or_incomplete_is_refused(tmp_path, capsys, change, text):
    cal = model.calibrate(_cal_rows())
    change(cal)
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"summary": {"calibration": cal}}))
    with pytest.raises(ValueError, match=text):
        model.load_calibration(path)
    assert main(["sweep", "runtime", "--scale", "tiny", "--calibration", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and text in err and not (tmp_path / "o").exists()


def test_calibration_file_that_is_not_json_is_refused(tmp_path):
    (tmp_path / "c.json").write_text("not json")
    with pytest.raises(ValueError, match="is not JSON"):
        model.load_calibration(tmp_path / "c.json")


# ----------------------------------------------------------------------------- the sweep's rows
def test_point_rows_hold_the_certified_plan_the_calibration_and_the_repeats():
    rows = runtime_point({**FIXED, "log2_ns": "8,9", "kappas": "0.15", "timing_repeats": 2, "min_call": 1e-4}, seed=3)
    test = [r for r in rows if r["role"] == "test" and r["algo"] == "poly"]
    for row in test:
        n, d = row["n"], int(math.log2(row["n"]))
        cost = least_cost(n, d, 0.15 * math.sqrt(math.log(n)), eps=1.0 / n)
        assert (row["d"], row["degree"], row["rank"]) == (d, cost.degree, cost.rank)
        assert row["measured"] and row["err_max"] <= row["err_bound"] <= 1.0 / n
        reps = [float(x) for x in row["t_repeats"].split()]
        assert len(reps) == 2 and row["t"] == min(reps) and row["calls"] == 2 * row["inner"]
    exact = [r for r in rows if r["role"] == "test" and r["algo"] == "exact"]
    assert [r["n"] for r in exact] == [256, 512] and all(r["measured"] for r in exact)
    cal = [r for r in rows if r["role"] == "calibration"]
    assert len(cal) == len(FIXED["calibration_points"].split()) and all(r["measured"] for r in cal)
    if platform.libc_ver()[0] == "glibc":  # freed memory kept in the process: no page faults per call
        assert all(r["freed_memory_kept"] for r in rows)
    assert not {r["n"] for r in cal} & {r["n"] for r in rows if r["role"] == "test"}


def test_calls_over_the_budgets_are_skipped_with_their_reason():
    rows = runtime_point({**FIXED, "log2_ns": "9", "kappas": "0.15", "max_flops": 1e3, "exact_max_flops": 1e3,
                          "timing_repeats": 1, "min_call": 1e-4}, seed=0)
    test = [r for r in rows if r["role"] == "test"]
    assert all(not r["measured"] and r["t"] is None for r in test)
    assert {r["reason"].split(" > ")[1].split()[0] for r in test} == {"max_flops", "exact_max_flops"}


@pytest.mark.parametrize("change, text", [
    ({"log2_ns": "30"}, "GiB for Q, K, V"),
    ({"log2_ns": "41"}, "log2 n must be"),
    ({"eps_exponent": 2.0, "log2_ns": "24"}, "eps = n^-a must lie in"),
    ({"kappas": "-0.1"}, "kappa = B/sqrt(ln n) must be finite and > 0"),
    ({"calibration_points": "poly:100:5"}, "calibration point 'poly:100:5' is not"),
    ({"calibration": "/no/such/file.json"}, "calibration file /no/such/file.json cannot be read"),
])
def test_bad_points_are_refused(change, text):
    with pytest.raises(ValueError, match=text.replace("(", r"\(").replace(")", r"\)").replace("^", r"\^")):
        check_point({**FIXED, **change})


def test_cli_refuses_a_size_that_does_not_fit_in_memory(tmp_path, capsys):
    assert main(["sweep", "runtime", "--log2-n", "30", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "GiB" in err and not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- summary and verdict
def _row(algo, role, n, d, rank, t, kappa=None, repeats=9, noise=0.02, rng=None):
    rng = rng or np.random.default_rng(n)
    reps = [float(t * (1 + noise * x)) for x in rng.random(repeats)]
    return {"algo": algo, "role": role, "kappa": kappa, "n": n, "d": d, "rank": rank, "B": kappa, "measured": True,
            "reason": "", "t": min(reps), "t_repeats": " ".join(repr(x) for x in reps), "err_max": 0.0,
            "err_bound": 1.0, "calibration": ""}


RANKS = {0.05: [10, 11, 12, 13, 105, 120], 0.15: [55, 66, 78, 455, 560, 680]}


def _rows(bend=0.0, exact_bend=0.0, repeats=9, noise=0.02, series=RANKS):
    rows = [_row(a, "calibration", n, d, None if g is None else math.comb(d + g, g),
                 _true_t(a, n, d, None if g is None else math.comb(d + g, g)), repeats=repeats)
            for a, n, d, g in CAL_POINTS]
    for kappa, ranks in series.items():
        rows += [_row("poly", "test", n, int(math.log2(n)), r, _true_t("poly", n, int(math.log2(n)), r)
                      * (n / NS[0]) ** bend, kappa=kappa, repeats=repeats, noise=noise) for n, r in zip(NS, ranks)]
    rows += [_row("exact", "test", n, int(math.log2(n)), None, _true_t("exact", n, int(math.log2(n)), None)
                  * (n / NS[0]) ** exact_bend, repeats=repeats, noise=noise) for n in NS[:5]]
    return rows


def _results(rows):
    first = {"c": 1.0, "eps_exponent": 1.0, "timing_repeats": 9, "min_call": 0.01, "max_flops": 2e9,
             "exact_max_flops": 4e9}
    return {"runtime": SimpleNamespace(rows=[{**first, **r} for r in rows], meta={"summary": summarize(rows)})}


def test_verdict_takes_each_status_by_its_rule():
    ok = verdicts(_results(_rows()))[0]
    assert ok.status == CONSISTENT and ok.values == {**ok.values, "asymptotics": CONSISTENT, "measurement": CONSISTENT}
    assert all(v["control"]["low"] > model.SLOPE_MARGIN for v in ok.values["kappas"].values())  # controls rejected
    bent = verdicts(_results(_rows(bend=0.3)))[0]  # every poly time grows n^0.3 faster than its count
    assert bent.status == NOT_CONSISTENT and "outside +-0.1" in bent.why
    slow_exact = verdicts(_results(_rows(exact_bend=-0.3)))[0]
    assert slow_exact.status == NOT_CONSISTENT and "'exact'" in slow_exact.why
    noisy = verdicts(_results(_rows(bend=0.1, noise=3.0)))[0]  # gap about the margin, wide interval
    assert noisy.status == INCONCLUSIVE and "straddles" in noisy.why
    flat = verdicts(_results(_rows(series={0.05: [10] * 6})))[0]  # a rank that does not grow: control = model
    assert flat.status == INCONCLUSIVE and "control was not rejected for ['kappa = 0.05']" in flat.why
    few = verdicts(_results(_rows(repeats=5)))[0]
    assert few.status == NOT_CHECKED and "fewer than 9 repeats" in few.why
    shared = _rows()  # a calibration point at a test size: the calibration would be fitted on the test
    shared.append({**shared[-1], "role": "calibration"})
    overlap = verdicts(_results(shared))[0]
    assert overlap.status == NOT_CHECKED and "shares a size or a rank" in overlap.why


def test_tiny_sweep_runs(tmp_path):
    from promptlimits.sweep import run_sweep

    res = run_sweep(make_sweep("tiny", log2_ns=[7, 8, 9]), tmp_path, workers=1, progress=False)
    s = res.meta["summary"]
    assert set(s["kappas"]) == {"0.05", "0.15"} and s["exact"]["n"] == [128, 256, 512]
    assert all(k["errors_within_bound"] and len(k["n"]) == 3 for k in s["kappas"].values())
    assert s["calibration"]["machine"] == model.machine_id() and s["calibration_disjoint"]
    assert s["asymptotics"]["status"] == CONSISTENT
    # 9 repeats at the tiny scale too: the measured rule is applied (its outcome on timings this small is a smoke
    # test; "fewer than 9 repeats" -> not checked is tested on synthetic rows above)
    assert verdicts({"runtime": res})[0].status in (CONSISTENT, NOT_CONSISTENT, INCONCLUSIVE)
