"""Least memorizing prompt length, the memorization / universality sweeps and the CLI (DESIGN section 6)."""

import argparse
import json

import numpy as np
import pytest

from promptlimits.capacity import counting_bound
from promptlimits.commands import memorize
from promptlimits.datasets import grid, teacher
from promptlimits.experiments import memorization as mem_exp
from promptlimits.experiments import universality as uni_exp
from promptlimits.memorization import NOT_REACHED, REACHED, least_prompt_length, relative_hard_family
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
    assert res.bisected and (res.least_Lp == 1 or res.least_Lp - 1 in errs)
    assert res.P.shape == (res.least_Lp, 1) and np.abs(res.P).max() <= 4.0


def test_least_lp_at_or_above_counting_bound_over_a_small_grid():
    for d, L, delta in ((1, 1, 0.5), (1, 1, 0.25), (2, 1, 0.5)):
        for rho in (2.0, 4.0):
            model = _model(d)
            X = grid(delta, L, d)
            fam = relative_hard_family(model, X, 0.02, rho=rho, seed=1)
            res = least_prompt_length(model, X, fam, 0.005, rho=rho, max_Lp=8, steps=100, restarts=1)
            b = counting_bound(d=d, L=L, gamma=0.02, eps=0.005, rho=rho, model=model, N=X.shape[0])
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


@pytest.mark.parametrize("kwargs, match", [
    (dict(eps=0.0), "eps"), (dict(rho=0.0), "rho"), (dict(rho=-1.0), "rho"),
    (dict(max_Lp=0), "max_Lp"), (dict(optimizers=("sgd",)), "optimizer"), (dict(optimizers=()), "optimizer"),
])
def test_least_lp_bad_input(kwargs, match):
    X = grid(0.5, 1, 1)
    base = dict(eps=0.01, rho=1.0)
    base.update(kwargs)
    eps = base.pop("eps")
    with pytest.raises(ValueError, match=match):
        least_prompt_length(_model(), X, np.zeros_like(X), eps, **base)


@pytest.mark.parametrize("change, match", [
    (dict(delta=0.3), "whole cells"), (dict(gamma=0.01, eps=0.005), "gamma > 2 eps"), (dict(rho=0.0), "rho"),
])
def test_memorization_point_checks(change, match):
    params = {**mem_exp.DEFAULTS, "axis": "N", "d": 1, "L": 1, "delta": 0.5, **change}
    with pytest.raises(ValueError, match=match):
        mem_exp.check_point(params)


def test_make_sweep_scales_and_bad_scale():
    for scale in mem_exp.SCALES:
        assert mem_exp.make_sweep(scale).name == "memorization"
        assert uni_exp.make_sweep(scale).name == "universality"
    with pytest.raises(ValueError, match="unknown scale"):
        mem_exp.make_sweep("huge")
    with pytest.raises(ValueError, match="unknown overrides"):
        mem_exp.make_sweep("tiny", bogus=1)


def test_tiny_sweeps_run_and_respect_the_bound(tmp_path):
    run_sweep(mem_exp.make_sweep("tiny"), tmp_path, workers=0, progress=False)
    res = read_results(tmp_path, name="memorization")
    assert len(res.rows) == len(mem_exp.N_SHAPES["tiny"])
    for r in res.rows:
        assert r["status"] in (REACHED, NOT_REACHED)
        if r["least_Lp"] is not None:
            assert r["least_Lp"] >= r["bound"] and r["above_bound"] is True
        else:
            assert r["above_bound"] is None
    assert res.meta["summary"]["below_bound"] == 0
    run_sweep(uni_exp.make_sweep("tiny"), tmp_path, workers=0, progress=False)
    u = read_results(tmp_path, name="universality")
    assert all(r["test_max_err"] >= 0 and r["ref_test_max_err"] > 0 for r in u.rows)
    # figures from the saved results, deterministic
    from figures import memorization as fig4
    from figures import universality as fig7

    p1 = fig4.draw(tmp_path, tmp_path / "f1")
    p2 = fig4.draw(tmp_path, tmp_path / "f2")
    assert [p.read_bytes() for p in p1] == [p.read_bytes() for p in p2]
    q1 = fig7.draw(tmp_path, tmp_path / "f1")
    assert all(p.exists() and p.stat().st_size > 0 for p in q1)


def test_fit_power_closed_form():
    fit = mem_exp.fit_power([2, 4, 8], [3, 6, 12])
    assert fit["b"] == pytest.approx(1.0) and fit["a"] == pytest.approx(1.5)
    assert mem_exp.fit_power([2, 2], [1, 3]) is None


def _cli(argv):
    from promptlimits.cli import main

    parser = argparse.ArgumentParser(prog="promptlimits")
    sub = parser.add_subparsers(dest="command", required=True)
    memorize.register(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError) as exc:
        return ("error", str(exc))
    finally:
        del main


def test_cli_least_lp(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = _cli(["memorize", "least-lp", "--delta", "0.5", "--max-Lp", "4", "--steps", "60", "--restarts", "1",
               "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "counting bound" in text and "least Lp" in text
    data = json.loads(out.read_text())
    assert data["bound"]["N"] == 2 and "factors" in data


@pytest.mark.parametrize("argv, match", [
    (["--delta", "0.3"], "whole cells"),
    (["--gamma", "0.01", "--eps", "0.005"], "gamma > 2 eps"),
    (["--rho", "0"], "rho"),
])
def test_cli_least_lp_bad_input(argv, match):
    rc = _cli(["memorize", "least-lp", *argv])
    assert rc[0] == "error" and match in rc[1]
