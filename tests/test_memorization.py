"""Least memorizing prompt length, the memorization sweep and the ``memorize`` CLI (docs/theory.md §7)."""

import json

import numpy as np
import pytest

from promptlimits.capacity import counting_bound
from promptlimits.cli import main
from promptlimits.datasets import grid, teacher
from promptlimits.experiments import memorization as mem_exp
from promptlimits.experiments import universality as uni_exp
from promptlimits.memorization import NOT_REACHED, REACHED, STOPPED, least_prompt_length, relative_hard_family
from promptlimits.model import PromptedModel
from promptlimits.sweep import read_results, run_sweep


def _model(d=1):
    return PromptedModel.from_seed(d, s=8, scale=1.0, seed=0)


def test_teacher_targets_reached_and_search_reports_every_Lp():
    model = _model()
    X = grid(0.25, 1, 1)
    Y, _ = teacher(model, X, 2, prompt_scale=2.0, seed=3)
    res = least_prompt_length(model, X, Y, 1e-3, rho=4.0, max_Lp=8, steps=150, restarts=2)
    assert res.status == REACHED and res.reached and res.least_Lp is not None
    errs = res.best_err_by_Lp()
    assert errs[res.least_Lp] <= 1e-3
    # every smaller Lp tried failed, and the bisection closed the gap
    assert all(e > 1e-3 for Lp, e in errs.items() if Lp < res.least_Lp)
    assert res.least_Lp == 1 or res.least_Lp - 1 in errs
    assert res.P.shape == (res.least_Lp, 1) and np.abs(res.P).max() <= 4.0


def test_least_lp_at_or_above_counting_bound_over_a_small_grid():
    for d, L, delta in ((1, 1, 0.5), (1, 1, 0.25), (2, 1, 0.5)):
        for rho in (2.0, 4.0):
            model = _model(d)
            X = grid(delta, L, d)
            fam = relative_hard_family(model, X, 0.02, rho=rho, seed=1)
            res = least_prompt_length(model, X, fam, 0.005, rho=rho, max_Lp=8, steps=100, restarts=1)
            b = counting_bound(d=d, L=L, gamma=0.02, tol=0.005, rho=rho, model=model, N=X.shape[0])
            if res.reached:
                assert res.least_Lp >= b.Lp_bound, (d, L, delta, rho, res.least_Lp, b)


def test_exhausted_budget_says_not_reached():
    model = _model()
    X = grid(0.125, 1, 1)
    Y = np.random.default_rng(0).integers(0, 2, size=X.shape) * 1.0  # {0, 1} targets: out of reach
    res = least_prompt_length(model, X, Y, 0.01, rho=1.0, max_Lp=4, steps=20, restarts=1, optimizers=("lbfgs",))
    assert res.status == NOT_REACHED and res.least_Lp is None and res.P is None
    assert [t.Lp for t in res.trials] == [1, 2, 4]
    assert all(not t.reached and np.isfinite(t.best_max_err) for t in res.trials)
    assert "1:" in res.trials_text()


class _Clock:
    """A stand-in for the ``time`` module whose clock jumps ``step`` seconds at every reading."""

    def __init__(self, step):
        self.now, self.step = 0.0, step

    def perf_counter(self):
        self.now += self.step
        return self.now


def _teacher_search(**kw):
    model = _model()
    X = grid(0.25, 1, 1)
    Y, _ = teacher(model, X, 2, prompt_scale=2.0, seed=3)
    return least_prompt_length(model, X, Y, 1e-3, rho=4.0, max_Lp=8, steps=60, restarts=2, **kw)


def test_the_clock_never_decides_a_result(monkeypatch):
    """The same search under a clock that jumps an hour per reading: the same result."""
    import promptlimits.memorization as memorization

    normal = _teacher_search()
    monkeypatch.setattr(memorization, "time", _Clock(3600.0))
    slow = _teacher_search()
    assert (slow.status, slow.least_Lp, slow.trials_text()) == (normal.status, normal.least_Lp, normal.trials_text())
    assert [(t.Lp, t.best_max_err, t.runs, t.steps) for t in slow.trials] == \
        [(t.Lp, t.best_max_err, t.runs, t.steps) for t in normal.trials]
    assert np.array_equal(slow.P, normal.P)


def _realizable_params(**kw):
    params = {**mem_exp.SETTINGS["tiny"], "axis": "realizable", "model": "random", "d": 1, "L": 1, "delta": 0.5,
              "Lp_star": 2, **kw}
    for key in mem_exp.LAYOUT:
        params.pop(key)
    return params


def test_a_point_gives_its_row_or_fails_whatever_the_clock(monkeypatch):
    """On a machine an hour slower per clock reading: the same row without a limit, a failure with one."""
    import promptlimits.memorization as memorization

    params = _realizable_params()
    normal = mem_exp.least_lp_point({**params, "time_limit": None}, 7)
    monkeypatch.setattr(memorization, "time", _Clock(3600.0))
    slow = mem_exp.least_lp_point({**params, "time_limit": None}, 7)
    assert {**slow, "seconds": 0} == {**normal, "seconds": 0}
    with pytest.raises(mem_exp.SearchStopped, match="stopped by its time limit"):
        mem_exp.least_lp_point(params, 7)


def test_the_time_limit_is_a_safety_net_that_gives_no_result(monkeypatch):
    import promptlimits.memorization as memorization

    monkeypatch.setattr(memorization, "time", _Clock(1.0))  # each run is seen to take about 1 s
    res = _teacher_search(time_limit=2.5)
    assert res.status == STOPPED and not res.complete and not res.reached
    assert res.least_Lp is None and res.P is None  # never a least Lp, not even "not reached"
    assert _teacher_search(time_limit=1e9).complete


def test_a_stopped_search_fails_its_point_and_a_resume_recomputes_it(tmp_path, monkeypatch):
    import promptlimits.memorization as memorization
    from promptlimits.sweep import SweepError

    sweep = mem_exp.make_sweep("tiny", shapes=(), cap_shapes=(), teachers=((1, 1, 2, 2), (1, 1, 4, 2)),
                               steps=30, time_limit=5.0)
    fresh = run_sweep(sweep, tmp_path / "fresh", workers=0, progress=False)
    calls = {"n": 0}
    real = memorization.least_prompt_length

    def second_stops(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            monkeypatch.setattr(memorization, "time", _Clock(10.0))
        try:
            return real(*a, **kw)
        finally:
            monkeypatch.setattr(memorization, "time", __import__("time"))

    monkeypatch.setattr(mem_exp, "least_prompt_length", second_stops)
    with pytest.raises(SweepError, match="stopped by its time limit of 5 s"):
        run_sweep(sweep, tmp_path / "run", workers=0, progress=False)
    assert not (tmp_path / "run" / "memorization.csv").exists()  # no CSV presents the stopped point
    resumed = run_sweep(sweep, tmp_path / "run", workers=0, progress=False, resume=True)
    assert calls["n"] == 3  # only the stopped point was computed again
    drop = {"seconds"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in resumed.rows] == \
        [{k: v for k, v in r.items() if k not in drop} for r in fresh.rows]


@pytest.mark.parametrize("kwargs, match", [
    (dict(tol=0.0), "tol"), (dict(rho=0.0), "rho"), (dict(rho=-1.0), "rho"), (dict(time_limit=-1.0), "time_limit"),
    (dict(max_Lp=0), "max_Lp"), (dict(optimizers=("sgd",)), "optimizer"), (dict(optimizers=()), "optimizer"),
])
def test_least_lp_bad_input(kwargs, match):
    X = grid(0.5, 1, 1)
    base = dict(tol=0.01, rho=1.0)
    base.update(kwargs)
    tol = base.pop("tol")
    with pytest.raises(ValueError, match=match):
        least_prompt_length(_model(), X, np.zeros_like(X), tol, **base)


@pytest.mark.parametrize("axis, change, match", [
    ("realizable", dict(delta=0.3), "whole cells"), ("N", dict(delta=1.0), "k = 1/delta >= 2"),
    ("realizable", dict(gamma=0.01, tol=0.005), "gamma > 2 tol"), ("N", dict(gamma=0.01, tol=0.005), "gamma > 2 tol"),
    ("realizable", dict(rho=0.0), "rho"), ("N", dict(rho_sandwich=-1.0), "rho_sandwich"),
    ("N", dict(q=1), "q \\(levels of the hard family\\) must be >= 2"), ("N", dict(q=2**40), "above the construction"),
    ("realizable", dict(variant="softmax2"), "attention variant"), ("N", dict(width="narrow"), "construction width"),
    ("N", dict(delta=1 / 64, d=3), "above the largest grid size 65536"),
    ("realizable", dict(delta=1 / 128, d=2), "above the largest grid size 4096"), ("bogus", {}, "axis"),
    ("realizable", dict(time_limit=-1.0), "time_limit"), ("realizable", dict(time_limit=float("nan")), "time_limit"),
    ("realizable", dict(max_Lp=10**12), "max_Lp must be <= 4096"),
    ("N", dict(model_seed=-1), "model_seed must be >= 0"),
    ("realizable", dict(s=10**6, max_Lp=4096, delta=1 / 64, L=2), "of memory"),
    ("capacity", dict(Lp=0), "Lp"), ("capacity", dict(rand_gamma=0.01, rand_tol=0.005), "gamma > 2 tol"),
])
def test_memorization_point_checks(axis, change, match):
    params = {**mem_exp.DEFAULTS, "axis": axis, "model": "random", "d": 1, "L": 1, "delta": 0.5, "Lp": 2,
              "Lp_star": 2, "width": "token", **change}
    with pytest.raises(ValueError, match=match):
        mem_exp.check_point(params)


@pytest.mark.parametrize("width, need", [("token", "1"), ("wide", "40")])
def test_a_box_that_misses_the_closed_form_prompt_is_refused_naming_both_numbers(width, need, tmp_path, capsys):
    params = {**mem_exp.DEFAULTS, "axis": "N", "model": "construct", "width": width, "d": 1, "L": 1,
              "delta": 0.25, "rho_sandwich": 0.5, "tune_max_N": 0}
    match = rf"rho = 0\.5 does not contain the construction's closed-form prompt, whose max norm is {need}\b"
    with pytest.raises(ValueError, match=match):
        mem_exp.check_point(params)
    with pytest.raises(ValueError, match=match):
        mem_exp.sandwich_point(params, 0)
    assert mem_exp.sandwich_point({**params, "rho_sandwich": float(need)}, 0)["rho_box"] == float(need)
    rc, err = _cli(["sweep", "memorization", "--scale", "tiny", "--rho-sandwich", "0.5", "--out",
                    str(tmp_path / "o")], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "does not contain" in err, err


def test_make_sweep_scales_and_bad_scale():
    for scale in ("tiny", "quick", "full"):
        assert mem_exp.make_sweep(scale).name == "memorization"
        assert uni_exp.make_sweep(scale).name == "universality"
    with pytest.raises(ValueError, match="unknown scale"):
        mem_exp.make_sweep("huge")
    with pytest.raises(ValueError, match="unknown overrides"):
        mem_exp.make_sweep("tiny", bogus=1)


def test_quick_and_full_sizes_reach_n_4096_at_token_width_and_keep_the_wide_contrast():
    quick, full = mem_exp.make_sweep("quick"), mem_exp.make_sweep("full")
    n = {round(1 / p["delta"]) ** (p["d"] * p["L"]) for p in full.points if p["axis"] == "N" and p["width"] == "token"}
    assert max(n) >= 4096 and full.fixed["bites"] == 100.0 and quick.fixed["bites"] == 10.0
    assert {p["width"] for p in quick.points if p["axis"] == "N"} == {"token", "wide"}
    assert {p["axis"] for p in quick.points} == {"N", "capacity", "realizable"}


def test_tiny_sweep_sandwich(tmp_path):
    run_sweep(mem_exp.make_sweep("tiny"), tmp_path, workers=0, progress=False)
    res = read_results(tmp_path, name="memorization")
    assert {r["axis"] for r in res.rows} == {"N", "capacity", "realizable"}
    for r in res.rows:
        if r["axis"] == "N":
            k = round(1 / r["delta"])
            assert r["N"] == k ** (r["d"] * r["L"]) and r["constr_Lp"] == r["L"] * k ** r["d"]
            assert r["constr_err"] <= r["tol"] < r["ctrl_other_err"]  # certificate, and its control misses
            assert r["bound_sample"] <= r["bound"] <= r["constr_Lp"]
            assert r["search_Lp"] is None or r["search_Lp"] >= r["bound_sample"]
            assert r["D"] <= r["width_model"] and r["rho_box"] >= 1.0
            if r["width"] == "token":
                assert r["width_model"] == r["d"] * k ** (r["d"] * (r["L"] - 1)) + 5 * r["d"] + 8
        elif r["axis"] == "capacity":
            assert r["bits"] == (r["N"] or 0) * r["L"] * r["d"] and r["rank_big"] <= r["rows_big"]
        else:
            assert r["tune_least_Lp"] is None or r["tune_least_Lp"] <= r["Lp_star"]
    s = res.meta["summary"]
    assert s["cert_fail"] == s["bound_above_construction"] == s["search_below_bound"] == s["control_memorized"] == []
    assert s["headline_width"] == "token"
    [v] = mem_exp.verdicts({"memorization": res})
    assert v.status == "vacuous" and "token width w" in v.claim  # tiny bounds stay below 10
    assert any("random model (reported" in n for n in v.numbers) and any("teacher Lp*" in n for n in v.numbers)
    from promptlimits.figures import memorization as fig4

    p1 = fig4.draw(tmp_path, tmp_path / "f1")
    p2 = fig4.draw(tmp_path, tmp_path / "f2")
    assert [p.read_bytes() for p in p1] == [p.read_bytes() for p in p2]


def test_the_sandwich_verdict_fails_on_a_bound_above_the_construction_and_on_a_control_that_memorizes(tmp_path):
    """Negative controls of the rule itself: doctored rows flip the status (the rule can fail)."""
    from promptlimits.experiments.memorization_verdict import summarize

    run_sweep(mem_exp.make_sweep("tiny", cap_shapes=(), teachers=()), tmp_path, workers=0, progress=False)
    res = read_results(tmp_path, name="memorization")
    for change, why in ((dict(bound=1e9), "exceeds a certified length"), (dict(ctrl_other_err=0.0), "control"),
                        (dict(constr_err=1.0), "missed tol"), (dict(search_Lp=0), "beats the bound")):
        rows = [{**r, **change} if i == 0 else r for i, r in enumerate(res.rows)]
        res.meta["summary"] = summarize(rows)
        res.rows[:] = rows
        [v] = mem_exp.verdicts({"memorization": res})
        assert v.status == "not consistent" and why in v.why, (change, v.why)
        res.rows[0] = read_results(tmp_path, name="memorization").rows[0]
    rows = [{**r, "bound": 50.0} if r["axis"] == "N" and r["width"] == "token" else r for r in res.rows]
    res.meta["summary"] = summarize([{**r, "constr_Lp": max(r["constr_Lp"], 60)} for r in rows])
    [v] = mem_exp.verdicts({"memorization": res})
    assert v.status == "consistent"  # a bound that bites, below every certified length


def test_fit_power_closed_form():
    fit = mem_exp.fit_power([2, 4, 8], [3, 6, 12])
    assert fit["b"] == pytest.approx(1.0) and fit["a"] == pytest.approx(1.5)
    assert mem_exp.fit_power([2, 2], [1, 3]) is None


def _cli(argv, capsys):
    """Run the command line; ``(exit code, stderr)``."""
    rc = main(argv)
    return rc, capsys.readouterr().err


def test_cli_least_lp(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["memorize", "least-lp", "--delta", "0.5", "--max-Lp", "4", "--steps", "60", "--restarts", "1",
               "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "counting bound" in text and "least Lp" in text
    data = json.loads(out.read_text())
    assert data["bound"]["N"] == 2 and "factors" in data and data["tol"] == 0.005 and data["bound"]["q"] == 2
    assert "per-sample form" in text


@pytest.mark.parametrize("argv, match", [
    (["least-lp", "--delta", "0.3"], "whole cells"),
    (["least-lp", "--gamma", "0.01", "--tol", "0.005"], "gamma > 2 tol"),
    (["least-lp", "--q", "1"], "levels of the hard family) must be >= 2, got 1"),
    (["least-lp", "--rho", "0"], "rho"),
    (["least-lp", "--eps", "0.01"], "unrecognized arguments: --eps"),
    (["least-lp", "--variant", "softmax2"], "invalid choice: 'softmax2'"),
    (["sweep", "--out", "X", "--scale", "huge"], "invalid choice: 'huge'"),
    (["sweep", "--out", "X", "--set", "bogus=1"], "unknown overrides ['bogus']"),
    (["universality", "--out", "X", "--steps", "many"], "invalid int value: 'many'"),
    (["universality", "--out", "X", "--scheduler", "nonsense"], "scheduler"),
    (["least-lp", "--time-budget", "-1"], "--time-budget was replaced"),
    (["least-lp", "--time-limit", "-1"], "--time-limit must be finite and > 0, got -1.0"),
    (["least-lp", "--max-Lp", "1000000000000"], "--max-Lp must be <= 4096"),
    (["least-lp", "--json", "/proc/promptlimits-x.json"], "--json /proc/promptlimits-x.json cannot be written"),
    (["sweep", "--out", "X", "--time-limit", "0"], "time_limit must be finite and > 0, got 0.0 (option --time-limit)"),
])
def test_cli_bad_input_one_line_exit_2(argv, match, tmp_path, capsys):
    argv = [str(tmp_path / "o") if a == "X" else a for a in argv]
    rc, err = _cli(["memorize", *argv], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and match in err, err


def test_cli_memorize_sweep_takes_the_running_options(tmp_path, capsys):
    argv = ["memorize", "sweep", "--scale", "tiny", "--set", "shapes=[]", "--set", "cap_shapes=[]", "--set",
            "teachers=[[1, 1, 2, 2]]", "--max-Lp", "4",
            "--out", str(tmp_path), "--workers", "1", "--no-progress", "--seed", "3"]
    assert main(argv) == 0
    res = read_results(tmp_path, name="memorization")
    assert len(res.rows) == 1 and res.rows[0]["max_Lp"] == 4 and res.meta["definition"]["seed"] == 3
    assert "tol" in res.columns and "eps" not in res.columns


def test_the_sandwich_search_stays_in_the_box_and_below_the_construction():
    """Token width: every length the linear regime tries is at most the construction's; a success is in the box."""
    params = {**mem_exp.DEFAULTS, "axis": "N", "model": "construct", "width": "token", "d": 1, "L": 1,
              "delta": 0.25, "tune_max_N": 0}
    row = mem_exp.sandwich_point(params, 0)
    tried = [int(t.split(":")[0]) for t in (row["lin_trials"] or "").split(";") if t]
    assert tried and max(tried) <= row["constr_Lp"] and min(tried) >= row["lin_lo"]
    assert row["rho_box"] == pytest.approx(mem_exp.RHO_MARGIN * 1.0)  # the closed form's max norm is max(1, R) = 1


def test_the_sandwich_tuning_search_compares_only_the_x_block():
    """Token width, N = 4: tuning scores the x block only (the other output columns are zeroed exactly), so it
    reaches tol at the construction's length; scored on the whole output it could not (no prompt reaches it)."""
    params = {**mem_exp.DEFAULTS, "axis": "N", "model": "construct", "width": "token", "d": 1, "L": 1,
              "delta": 0.5, "lin_max_entries": 0}
    row = mem_exp.sandwich_point(params, 0)
    assert row["lin_status"] == "not run" and row["tune_status"] == "reached"
    assert row["bound_sample"] <= row["tune_least_Lp"] <= row["constr_Lp"] and row["search_Lp"] == row["tune_least_Lp"]
