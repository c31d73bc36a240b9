"""Phase sweep (docs/theory.md §5): certificates, frontier, fit, the generated CLI and its errors."""

import math

import numpy as np
import pytest

from promptlimits.cli import main
from promptlimits.experiments.phase import fit_sqrt_log, frontier, make_sweep, phase_point
from promptlimits.sweep import read_results, run_sweep


def test_point_matches_certificate():
    from promptlimits.polyapprox import certified_eps, least_degree

    p = {"n": 1024, "B": 1.0, "regime": "fixed", "d_fixed": 4, "c": 0.0, "eps": 1e-6}
    row = phase_point(p, seed=0)
    eps_p = 1e-6 / (2 + 1e-6)
    g = least_degree(1.0, eps_p)
    assert row["g_star"] == g and row["rank"] == math.comb(4 + g, g)
    assert row["ratio"] == row["rank"] / 1024
    assert certified_eps(row["kind_used"], g, 1.0) <= eps_p
    assert 2 * row["eps_p"] / (1 - row["eps_p"]) <= 1e-6  # the attention target is met
    lg = phase_point({**p, "regime": "log", "d_fixed": 0, "c": 1.0}, seed=0)
    assert lg["d"] == 10


def test_frontier_interpolation_and_fit():
    B = [0.5, 1.0, 2.0]
    assert frontier(B, [0.1, 0.5, 5.0])[1] == "interior"
    b, _ = frontier(B, [0.1, 0.5, 2.0])
    assert 1.0 < b < 2.0 and math.isclose(b, 1.0 + math.log(2) / math.log(4))
    assert frontier(B, [2, 3, 4]) == (math.nan, "below") or math.isnan(frontier(B, [2, 3, 4])[0])
    assert frontier(B, [0.1, 0.2, 0.3]) == (2.0, "above")
    ns = np.array([256, 1024, 4096, 16384])
    fit = fit_sqrt_log(ns, 1.5 * np.sqrt(np.log(ns)) - 0.5)
    assert math.isclose(fit["a"], 1.5) and math.isclose(fit["b"], -0.5) and math.isclose(fit["r2"], 1.0)


def test_small_sweep_measured_and_monotone(tmp_path):
    s = make_sweep("tiny", ns=[256, 512, 1024, 2048], Bs=[0.1, 0.3, 0.6, 1.0, 1.5, 2.0, 3.0],
                   regimes=("fixed", "log"), measure=True, measure_B=[0.3], measure_max_n=512)
    res = run_sweep(s, tmp_path, workers=1, progress=False)
    rows = read_results(tmp_path).rows
    for regime in ("fixed", "log"):
        for n in (256, 1024):
            g = [math.inf if r["g_star"] is None else r["g_star"] for r in rows
                 if r["regime"] == regime and r["n"] == n]
            assert g == sorted(g)  # more norm never needs a lower degree (inf: not certifiable)
    meas = [r for r in rows if r["measured"]]
    assert len(meas) == 4 and all(r["err_max"] <= r["err_bound"] for r in meas)
    summ = res.meta["summary"]
    fixed = [f for f in summ["frontier"] if f["curve"].startswith("d=4")]
    bs = [f["B_star"] for f in fixed]
    assert all(f["status"] == "interior" for f in fixed) and bs == sorted(bs)  # B* grows with n
    assert set(summ["fit"]) == {"d=4, eps=1e-06", "d=ceil(1*log2 n), eps=1e-06"}


@pytest.mark.parametrize("argv, text", [
    (["sweep", "nosuch", "--out", "X"], "invalid choice: 'nosuch'"),
    (["sweep", "phase", "--B", "-0.5", "1", "--out", "X"], "B must be finite and > 0, got -0.5"),
    (["sweep", "phase", "--n", "1", "--out", "X"], "n must be >= 2, got 1"),
    (["sweep", "phase", "--n", "--out", "X"], "expected at least one argument"),
    (["sweep", "phase", "--n", "256", "--B", "1", "--out", "X", "--scheduler", "tcp://127.0.0.1:9"],
     "cannot reach Dask scheduler"),
    (["sweep", "hardness", "--n", "256", "--budget", "lots", "--out", "X"], "budget must be"),
    (["sweep", "phase", "--eps-exponent", "-1", "--out", "X"], "eps_exponent must be finite and >= 0"),
])
def test_cli_errors_one_line_exit_2(argv, text, tmp_path, capsys):
    if "--scheduler" in argv:
        pytest.importorskip("distributed", reason="dask.distributed not installed")
    argv = [str(tmp_path / "o") if a == "X" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and text in err, err


def test_cli_empty_grid_from_toml(tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text('name = "p"\npoint = "promptlimits.experiments.phase:phase_point"\n[grid]\nn = []\n')
    assert main(["sweep", "run", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "grid entry 'n' is empty" in capsys.readouterr().err


def test_cli_phase_runs_and_refuses_rerun(tmp_path, capsys):
    argv = ["sweep", "phase", "--scale", "tiny", "--n", "256", "1024", "4096", "--B", "0.3", "1", "2",
            "--set", "measure=false", "--out", str(tmp_path), "--workers", "1", "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "B*=" in out and "fit d=4" in out and "R^2" in out
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(argv + ["--resume"]) == 0


def test_cli_options_and_set_reach_make_sweep(tmp_path):
    """An option and ``--set`` give the same sweep as ``make_sweep`` with the same overrides."""
    import json

    argv = ["sweep", "phase", "--scale", "tiny", "--n", "256", "512", "--B", "0.5", "1", "--d", "3",
            "--kind", "chebyshev", "--set", "measure=false", "--set", "eps=1e-4",
            "--out", str(tmp_path), "--workers", "1", "--no-progress"]
    assert main(argv) == 0
    stored = json.loads((tmp_path / "phase.json").read_text())
    want = make_sweep("tiny", ns=[256, 512], Bs=[0.5, 1.0], d_fixed=[3], kind="chebyshev", measure=False, eps=1e-4)
    assert stored["definition_hash"] == want.hash


def test_cli_run_config_with_seed(tmp_path, capsys):
    import json

    cfg = tmp_path / "s.toml"
    cfg.write_text('name = "p"\npoint = "promptlimits.experiments.phase:phase_point"\n'
                   '[grid]\nn = [256]\nB = [0.5]\n[fixed]\nregime = "fixed"\nd_fixed = 4\neps = 1e-6\n')
    out = tmp_path / "o"
    assert main(["sweep", "run", "--config", str(cfg), "--out", str(out), "--seed", "5", "--workers", "1",
                 "--no-progress"]) == 0
    assert json.loads((out / "p.json").read_text())["definition"]["seed"] == 5
    assert "p: 1 points, 1 rows" in capsys.readouterr().out
