"""Phase sweep (docs/theory.md §5): rows against the certificates, the AIC comparison, the verdict, the CLI."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from promptlimits.cli import main
from promptlimits.experiments.phase import SETTINGS, band_check, fit_models, make_sweep, phase_point, verdicts
from promptlimits.experiments.verdict import CONSISTENT, NOT_CHECKED, NOT_CONSISTENT, VACUOUS
from promptlimits.polyapprox import KINDS, log_approximation_bound
from promptlimits.sweep import read_results, run_sweep
from promptlimits.threshold import convergence_band, crossing, theorem_regime

POINT = {"regime": "log", "d_fixed": 0, "c": 1.0, "log2_n": 20.0, "beyond": False, "eps": 1e-6,
         "eps_exponent": 1.0, "kind": "auto", "kappa_step": 0.05, "kappa_max": 0.5}


def test_rows_are_the_least_degree_of_the_closed_form_bounds():
    """Each row's g* is, by a plain scan over degrees and kinds, the least whose bound is <= eps_p."""
    rows = phase_point(POINT, seed=0)
    eps = 2.0**-20
    eps_p = 4 * eps / (4 + eps * eps)
    assert np.allclose([r["kappa"] for r in rows], [0.05 * k for k in range(1, 11)])
    for r in rows:
        R = r["kappa"] ** 2 * 20 * math.log(2)
        g = next(g for g in range(400) if min(log_approximation_bound(k, g, R) for k in KINDS) <= math.log(eps_p))
        assert r["d"] == 20 and r["g_star"] == g and math.isclose(r["R"], R)
        assert math.isclose(r["log2_rank"], math.log2(math.comb(20 + g, g)))
        assert math.isclose(r["log_n_rank"], r["log2_rank"] / 20)
        assert (r["log_n_rank"] < 1) == (r["kappa"] <= r["c_star"])  # the crossing separates cheap from dear
    assert rows[0]["verified"] and len({r["c_star"] for r in rows}) == 1


def test_beyond_point_records_the_crossing_only():
    (row,) = phase_point({**POINT, "log2_n": 256.0, "beyond": True}, seed=0)
    assert row["kappa"] is None and row["g_star"] is None and row["d"] == 256
    assert row["verified"] and 0.15 < row["c_star"] < 0.2


# ----------------------------------------------------------------------------- the AIC comparison
L = np.arange(8, 65) * math.log(2)


@pytest.mark.parametrize("noise", [0.0, 0.01])
def test_aic_picks_the_sqrt_law_on_sqrt_data_and_the_power_law_on_power_data(noise):
    rng = np.random.default_rng(1)
    k = L / math.log(2)
    sqrt_data = np.sqrt(0.03 * L + 0.5) * (1 + noise * rng.standard_normal(L.size))
    fit = fit_models(k, sqrt_data)
    assert fit["winner"] == "sqrt" and fit["delta_aic"] > 10
    assert math.isclose(fit["sqrt"]["alpha"], 0.03, rel_tol=0.1 + 10 * noise)
    power_data = 0.8 * np.exp(0.07 * L) * (1 + noise * rng.standard_normal(L.size))
    fit = fit_models(k, power_data)
    assert fit["winner"] == "power" and fit["delta_aic"] < -10
    assert math.isclose(fit["power"]["gamma"], 0.07, rel_tol=0.05)
    assert fit_models(k[:2], power_data[:2]) is None


def test_aic_is_the_gaussian_likelihood_with_two_parameters():
    k = L / math.log(2)
    y = np.sqrt(0.03 * L + 0.5) + 0.01 * np.sin(L)
    fit = fit_models(k, y)
    for model in ("sqrt", "power"):
        m = fit[model]
        assert math.isclose(m["aic"], L.size * math.log(m["rss"] / L.size) + 6)
    assert math.isclose(fit["delta_aic"], fit["power"]["aic"] - fit["sqrt"]["aic"])


# ----------------------------------------------------------------------------- the convergence rule
BAND = convergence_band()
KS = [8.0, 12.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0]


def _ln(k):
    return k * math.log(2)


def _inside(k):
    """A synthetic c*(n) halfway up the band."""
    return BAND.c_inf * (1 + 0.5 * BAND.C * math.log(_ln(k)) / _ln(k))


def test_band_check_passes_inside_and_fails_outside():
    inside = band_check(KS, [_inside(k) for k in KS], BAND)
    assert inside["passes"] and inside["n_outside"] == 0 and inside["n_sizes"] == len(KS)
    assert math.isclose(inside["C_n_max"], 0.5 * BAND.C)
    # just above the band at one size: fails there and only there
    above = [_inside(k) for k in KS]
    above[4] = BAND.c_inf * BAND.upper(64.0) * 1.001
    chk = band_check(KS, above, BAND)
    assert not chk["passes"] and chk["outside"] == [64.0] and chk["worst"]["log2_n"] == 64.0
    # converging to a limit 2% too low: below the lower edge at large n
    low = band_check(KS, [0.98 * _inside(k) for k in KS], BAND)
    assert not low["passes"] and 1024.0 in low["outside"] and low["worst"]["ratio"] < 1
    # a constant c* (no convergence: B* = 0.35 sqrt(ln n)) leaves the band once it narrows
    flat = band_check(KS, [0.35] * len(KS), BAND)
    assert not flat["passes"] and flat["outside"][0] > 8.0
    # a power law, the fixed-d control's shape: B* = 0.8 n^0.07
    power = [0.8 * math.exp(0.07 * _ln(k)) / math.sqrt(_ln(k)) for k in KS]
    assert not band_check(KS, power, BAND)["passes"]


def test_band_check_leaves_out_small_n_and_missing_crossings():
    chk = band_check([4.0, 6.0] + KS, [5.0, 5.0] + [_inside(k) for k in KS[:-1]] + [None], BAND)
    assert chk["passes"] and chk["n_sizes"] == len(KS) - 1 and chk["log2_n_range"] == [8.0, 512.0]
    assert not band_check(KS[:2], [_inside(k) for k in KS[:2]], BAND)["applied"]  # fewer than MIN_RULE_SIZES


def test_the_real_crossings_pass_and_the_fixed_d_control_fails():
    """The rule on the quick grid's own crossings (theorem's regime to 2^1024; d = 8 as far as it certifies)."""
    quick = SETTINGS["quick"]
    ks = sorted(set(quick["log2_ns"]) | set(quick["beyond"]))
    assert ks[0] == 8 and ks[-1] == 1024
    theorem = [crossing(k, *theorem_regime(k)).c_star for k in ks]
    chk = band_check(ks, theorem, BAND)
    assert chk["passes"] and chk["n_sizes"] == len(ks)
    fixed = [(cr.c_star if (cr := crossing(k, 8, 2.0**-k)) else None) for k in quick["log2_ns"]]
    control = band_check(quick["log2_ns"], fixed, BAND)
    assert control["applied"] and control["n_outside"] > control["n_sizes"] // 2


def _curve(ks, c_stars, theorem):
    cross = [{"log2_n": float(k), "d": int(k) if theorem else 8, "g_max": 3, "kind_star": "chebyshev",
              "B_star": c * math.sqrt(_ln(k)) if c else None, "c_star": c, "verified": True}
             for k, c in zip(ks, c_stars)]
    return {"regime": "log" if theorem else "fixed", "theorem": theorem, "crossings": cross, "beyond": [],
            "c_star_min": min(c_stars), "c_star_max": max(c_stars), "c_star_ratio": max(c_stars) / min(c_stars),
            "all_verified": True, "fit": None, "limit_c_star": BAND.c_inf if theorem else None,
            "band": BAND._asdict() if theorem else None, "collapse": {},
            "band_reference": "d = ceil(log2 n), eps = 1/n", "band_check": band_check(ks, c_stars, BAND)}


THEOREM, CONTROL = "d = ceil(log2 n), eps = 1/n", "d = 8, eps = 1/n"


def _results(theorem=None, control=None):
    curves = {}
    if theorem is not None:
        curves[THEOREM] = _curve(KS, theorem, True)
    if control is not None:
        curves[CONTROL] = _curve(KS, control, False)
    rows = [{"log2_n": k, "beyond": k > 64, "kappa_step": 0.02, "kappa_max": 0.6} for k in KS]
    return {"phase": SimpleNamespace(rows=rows, meta={"summary": {"curves": curves}})}


def _summary(c_stars):
    """Phase results with a theorem-regime curve ``c_stars`` at n = 2^8, 2^12, ... and a power-law control (shared
    with tests/test_experiments_registry.py)."""
    ks = KS[: len(c_stars)]
    power = [0.8 * math.exp(0.07 * _ln(k)) / math.sqrt(_ln(k)) for k in ks]
    curves = {THEOREM: _curve(ks, list(c_stars), True), CONTROL: _curve(ks, power, False)}
    rows = [{"log2_n": k, "beyond": k > 64, "kappa_step": 0.02, "kappa_max": 0.6} for k in ks]
    return {"phase": SimpleNamespace(rows=rows, meta={"summary": {"curves": curves}})}


def test_verdict_takes_each_status_by_its_rule():
    good = [_inside(k) for k in KS]
    power = [0.8 * math.exp(0.07 * _ln(k)) / math.sqrt(_ln(k)) for k in KS]
    v = verdicts(_results(good, power))[0]
    assert v.status == CONSISTENT and "control" in v.why and "sizes outside" in v.why
    assert any("negative control" in line and "outside the band" in line for line in v.numbers)
    bad = verdicts(_results([0.35] * len(KS), power))[0]
    assert bad.status == NOT_CONSISTENT and "above the upper edge" in bad.why
    vac = verdicts(_results(good, good))[0]  # a control inside the band: the rule had no power
    assert vac.status == VACUOUS and CONTROL in vac.why
    assert verdicts(_results(good, None))[0].status == NOT_CHECKED  # no control run
    assert verdicts(_results(None, power))[0].status == NOT_CHECKED  # a control alone tests nothing
    assert "C1 ln ln n" in v.numbers[1] and "c_inf" in v.rule and "sqrt(log n)" in v.claim


# ----------------------------------------------------------------------------- the sweep and its command line
def test_tiny_sweep_summary(tmp_path):
    s = make_sweep("tiny", log2_ns=[8, 16, 24, 32], kappa_step=0.1, kappa_max=0.3, beyond=[64])
    res = run_sweep(s, tmp_path, workers=1, progress=False)
    curves = res.meta["summary"]["curves"]
    assert set(curves) == {"d = ceil(log2 n), eps = 1/n", "d = 8, eps = 1/n"}
    th, fixed = curves["d = ceil(log2 n), eps = 1/n"], curves["d = 8, eps = 1/n"]
    assert th["theorem"] and not fixed["theorem"] and th["all_verified"]
    assert [c["log2_n"] for c in th["crossings"]] == [8, 16, 24, 32] and [b["log2_n"] for b in th["beyond"]] == [64]
    assert fixed["beyond"] == [] and fixed["c_star_max"] > th["c_star_max"]  # fixed d: B* outgrows sqrt(ln n)
    assert th["limit_c_star"] < th["c_star_min"]
    assert th["band_check"]["passes"] and th["band_check"]["n_sizes"] == 5  # 2^8..2^32 and 2^64
    assert fixed["band_reference"] == "d = ceil(log2 n), eps = 1/n" and fixed["band_check"]["n_outside"] >= 2
    rows = read_results(tmp_path).rows
    assert len(rows) == 2 * 4 * 3 + 1


@pytest.mark.parametrize("argv, text", [
    (["sweep", "nosuch", "--out", "X"], "invalid choice: 'nosuch'"),
    (["sweep", "phase", "--log2-n", "0.5", "--out", "X"], "log2 n must"),
    (["sweep", "phase", "--log2-n", "--out", "X"], "expected at least one argument"),
    (["sweep", "phase", "--log2-n", "8", "--out", "X", "--scheduler", "tcp://127.0.0.1:9"],
     "cannot reach Dask scheduler"),
    (["sweep", "hardness", "--n", "256", "--budget", "lots", "--out", "X"], "budget must be"),
    (["sweep", "phase", "--eps-exponent", "-1", "--out", "X"], "eps_exponent must be finite and >= 0"),
    (["sweep", "phase", "--kappa-step", "0", "--out", "X"], "kappa_step must be finite and > 0"),
    (["sweep", "phase", "--log2-n", "2000", "--out", "X"], "log2 n must"),
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
    cfg.write_text('name = "p"\npoint = "promptlimits.experiments.phase:phase_point"\n[grid]\nlog2_n = []\n')
    assert main(["sweep", "run", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "grid entry 'log2_n' is empty" in capsys.readouterr().err


def test_cli_phase_runs_and_refuses_rerun(tmp_path, capsys):
    argv = ["sweep", "phase", "--scale", "tiny", "--log2-n", "8", "16", "24", "--beyond", "--out", str(tmp_path),
            "--workers", "1", "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "c*(n) = B*(n)/sqrt(ln n) in" in out and "AIC" in out
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(argv + ["--resume"]) == 0


def test_cli_options_and_set_reach_make_sweep(tmp_path):
    """An option and ``--set`` give the same sweep as ``make_sweep`` with the same overrides."""
    argv = ["sweep", "phase", "--scale", "tiny", "--log2-n", "8", "9", "--d", "3", "--kind", "chebyshev",
            "--set", "kappa_max=0.2", "--set", "eps_exponent=2", "--out", str(tmp_path), "--workers", "1",
            "--no-progress"]
    assert main(argv) == 0
    stored = json.loads((tmp_path / "phase.json").read_text())
    want = make_sweep("tiny", log2_ns=[8.0, 9.0], d_fixed=[3], kind="chebyshev", kappa_max=0.2, eps_exponent=2)
    assert stored["definition_hash"] == want.hash


def test_cli_run_config_with_seed(tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text('name = "p"\npoint = "promptlimits.experiments.phase:phase_point"\n'
                   '[grid]\nlog2_n = [12.0]\n[fixed]\nregime = "fixed"\nd_fixed = 4\nc = 0.0\neps = 1e-6\n'
                   'eps_exponent = 1.0\nbeyond = false\nkappa_step = 0.1\nkappa_max = 0.2\n')
    out = tmp_path / "o"
    assert main(["sweep", "run", "--config", str(cfg), "--out", str(out), "--seed", "5", "--workers", "1",
                 "--no-progress"]) == 0
    assert json.loads((out / "p.json").read_text())["definition"]["seed"] == 5
    assert "p: 1 points, 2 rows" in capsys.readouterr().out
