"""Phase sweep options: the kappa grid as a list or as a step, and the logit multiplier (docs/theory.md §3.1, §5)."""

import math

import pytest

from promptlimits.cli import main
from promptlimits.experiments.phase import SETTINGS, kappa_grid, make_sweep, phase_point
from promptlimits.poly_attention import make_plan
from promptlimits.sweep import SweepError, load_sweep, read_results, run_sweep
from promptlimits.threshold import convergence_band, crossing, limit_c_star

POINT = {"regime": "log", "d_fixed": 0, "c": 1.0, "log2_n": 20.0, "beyond": False, "eps": 1e-6,
         "eps_exponent": 1.0, "kind": "auto"}
#: What every row of a point computes (the rest are the point's parameters, its id and seed).
COMPUTED = ("kappa", "B", "R", "g_star", "log2_rank", "log_n_rank", "d", "eps_target", "eps_p", "g_max", "kind_star",
            "R_star", "B_star", "c_star", "verified")

#: ``make_sweep("quick").hash`` before the list form and the logit multiplier existed: an old quick run resumes.
QUICK_HASH = "fa73e6e2aa5b9c8b"


def _computed(row):
    return {k: row[k] for k in COMPUTED}


def _one_line_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


# ----------------------------------------------------------------------------- list or step
def test_list_gives_exactly_those_kappas_each_row_as_the_step_form(tmp_path):
    kappas = [0.3, 0.1, 0.25]  # in the order given, not sorted
    res = run_sweep(make_sweep("tiny", log2_ns=[8, 12], regimes=["log"], kappas=kappas, beyond=[64]), tmp_path,
                    workers=1, progress=False)
    rows = [r for r in res.rows if not r["beyond"]]
    assert [(r["log2_n"], r["kappa"]) for r in rows] == [(k, x) for k in (8.0, 12.0) for x in kappas]
    (beyond,) = [r for r in res.rows if r["beyond"]]
    assert beyond["log2_n"] == 64.0 and beyond["kappa"] is None and beyond["verified"]
    assert "kappa_step" not in res.rows[0] and "kappa_max" not in res.rows[0]
    # the verdict reads a list-form result too, and names its kappas
    from promptlimits.experiments.phase import verdicts

    (v,) = verdicts({"phase": res})
    assert "kappas 0.1, 0.25, 0.3" in v.settings
    for k in (8.0, 12.0):  # the step grid 0.05, ..., 0.3 holds every listed value: same rows there
        step = {r["kappa"]: r for r in phase_point({**POINT, "log2_n": k, "kappa_step": 0.05, "kappa_max": 0.3}, 0)}
        for r in (r for r in rows if r["log2_n"] == k):
            assert _computed(r) == _computed(step[r["kappa"]])


def test_step_form_unchanged():
    assert kappa_grid(0.1, 0.5) == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert make_sweep("quick").hash.startswith(QUICK_HASH)
    for scale in ("tiny", "quick", "full"):
        s = make_sweep(scale)
        assert s.fixed["kappa_step"] == SETTINGS[scale]["kappa_step"]
        assert s.fixed["kappa_max"] == SETTINGS[scale]["kappa_max"]
        assert "logit_scale" not in s.fixed and all("kappa" not in p for p in s.points)
        assert make_sweep(scale, logit_scale=1.0).hash == s.hash  # the default multiplier, given, is the same sweep
    rows = phase_point({**POINT, "kappa_step": 0.1, "kappa_max": 0.35}, 0)
    assert [r["kappa"] for r in rows] == [0.1, 0.2, 0.3]


def test_list_and_step_together_refused():
    for step in ({"kappa_step": 0.1}, {"kappa_max": 0.3}):
        with pytest.raises(ValueError, match="kappa grid is given twice") as info:
            make_sweep("tiny", kappas=[0.1], **step)
        assert "kappas" in str(info.value) and next(iter(step)) in str(info.value)
    with pytest.raises(ValueError, match="given twice"):  # a TOML point with both
        phase_point({**POINT, "kappa": 0.1, "kappa_step": 0.1, "kappa_max": 0.2}, 0)


@pytest.mark.parametrize("kappas, error, text", [
    ([], ValueError, "the kappa list is empty"),
    ([0.1, 0.0], ValueError, "kappa must be finite and > 0, got 0.0"),
    ([-0.2], ValueError, "kappa must be finite and > 0"),
    ([0.1, math.nan], ValueError, "kappa must be finite and > 0, got nan"),
    ([0.1, 0.1], ValueError, "kappa 0.1 is given twice"),
    ([0.1, "0.2"], TypeError, "kappa must be a real number, got str"),
    (0.1, TypeError, "kappas must be a list of numbers, got float"),
    ("0.1,0.2", TypeError, "kappas must be a list of numbers, got str"),
])
def test_bad_kappa_lists_refused(kappas, error, text):
    with pytest.raises(error, match=text):
        make_sweep("tiny", kappas=kappas)


def test_point_without_any_kappa_grid_refused():
    with pytest.raises(ValueError, match="no kappa grid: give kappa"):
        phase_point(POINT, 0)
    with pytest.raises(ValueError, match="beyond point records the crossing only"):
        phase_point({**POINT, "beyond": True, "kappa": 0.1}, 0)
    (row,) = phase_point({**POINT, "log2_n": 128.0, "beyond": True}, 0)  # beyond needs no kappa grid
    assert row["kappa"] is None and row["c_star"] is not None


@pytest.mark.parametrize("args, text", [
    (["--kappa", "0.1", "--kappa-step", "0.1"], "--kappa) and as a step (kappa_step, option --kappa-step)"),
    (["--kappa-max", "0.3", "--kappa", "0.1"], "option --kappa-max"),
    (["--kappa", "0.1", "--set", "kappa_step=0.05"], "option --kappa-step"),
    (["--kappa", "0.1", "0"], "kappa must be finite and > 0, got 0.0 (option --kappa)"),
    (["--kappa", "nan"], "--kappa must be a finite number, got nan"),
    (["--kappa", "0.1", "0.1"], "kappa 0.1 is given twice"),
    (["--kappa"], "expected at least one argument"),
    (["--set", "kappas=0.2"], "kappas must be a list of numbers, got float 0.2 (option --kappa)"),
    (["--set", "kappas=[]"], "the kappa list is empty"),
    (["--logit-scale", "0"], "logit_scale must be finite and > 0, got 0.0 (option --logit-scale)"),
    (["--logit-scale", "-2"], "logit_scale must be finite and > 0, got -2.0"),
    (["--logit-scale", "nan"], "--logit-scale must be a finite number, got nan"),
    (["--logit-scale", "inf"], "--logit-scale must be a finite number, got inf"),
    (["--logit-scale", "big"], "--logit-scale: invalid float value: 'big'"),
    (["--scale", "2"], "--scale is the size of the run; the logit multiplier is --logit-scale"),
])
def test_cli_bad_grid_and_logit_scale_one_line_exit_2(args, text, tmp_path, capsys):
    err = _one_line_exit_2(["sweep", "phase", "--scale", "tiny", *args, "--out", str(tmp_path / "o")], capsys)
    assert text in err, err
    assert not (tmp_path / "o").exists()


def test_cli_list_reaches_make_sweep(tmp_path, capsys):
    argv = ["sweep", "phase", "--scale", "tiny", "--log2-n", "8", "--regimes", "log", "--kappa", "0.2", "0.1",
            "--beyond", "--logit-scale", "2", "--out", str(tmp_path), "--workers", "1", "--no-progress"]
    assert main(argv) == 0
    assert "logit scale 2" in capsys.readouterr().out
    res = read_results(tmp_path)
    want = make_sweep("tiny", log2_ns=[8.0], regimes=["log"], kappas=[0.2, 0.1], beyond=[], logit_scale=2.0)
    assert res.meta["definition_hash"] == want.hash
    assert [r["kappa"] for r in res.rows] == [0.2, 0.1] and {r["logit_scale"] for r in res.rows} == {2.0}


def test_cli_help_names_both_forms(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "phase", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--kappa KAPPA [KAPPA ...]" in out and "instead of --kappa-step and --kappa-max" in out
    assert "--logit-scale LOGIT_SCALE" in out and "R = logit_scale B^2" in out


# ----------------------------------------------------------------------------- TOML
TOML_HEAD = ('name = "p"\npoint = "promptlimits.experiments.phase:phase_point"\n'
             'summary = "promptlimits.experiments.phase:summarize"\n')
TOML_FIXED = 'regime = "log"\nd_fixed = 0\nc = 1.0\nbeyond = false\neps = 1e-6\neps_exponent = 1.0\n'


def test_toml_grid_list_gives_those_kappas(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text(TOML_HEAD + "[grid]\nlog2_n = [8.0, 12.0]\nkappa = [0.25, 0.1]\n[fixed]\n" + TOML_FIXED)
    out = tmp_path / "o"
    assert main(["sweep", "run", "--config", str(cfg), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    rows = read_results(out).rows
    assert [(r["log2_n"], r["kappa"]) for r in rows] == [(8.0, 0.25), (8.0, 0.1), (12.0, 0.25), (12.0, 0.1)]
    for r in rows:
        step = {s["kappa"]: s for s in phase_point({**POINT, "log2_n": r["log2_n"], "kappa_step": 0.05,
                                                     "kappa_max": 0.25}, 0)}
        assert _computed(r) == _computed(step[r["kappa"]])


@pytest.mark.parametrize("body, text", [
    ('[grid]\nlog2_n = [8.0]\nkappa = ["a"]\n[fixed]\n' + TOML_FIXED, "kappa must be a real number, got str"),
    ('[grid]\nlog2_n = [8.0]\n[fixed]\nkappa = [0.1, 0.2]\n' + TOML_FIXED,
     "fixed.kappa must be one value (number, string, bool), got an array [0.1, 0.2]: a list of values goes in "
     "[grid]"),
    ('[grid]\nlog2_n = [8.0]\nkappa = [0.1]\n[fixed]\nlogit_scale = "big"\n' + TOML_FIXED,
     "logit_scale must be a real number, got str"),
    ('[grid]\nlog2_n = [8.0]\nkappa = [0.1]\n[fixed]\nlogit_scale = 0.0\n' + TOML_FIXED,
     "logit_scale must be finite and > 0, got 0.0"),
    ('[grid]\nlog2_n = [8.0]\nkappa = [0.1]\n[fixed]\nkappa_step = 0.1\n' + TOML_FIXED, "kappa grid is given twice"),
    ('[grid]\nlog2_n = [8.0]\n[fixed]\n' + TOML_FIXED, "no kappa grid"),
])
def test_toml_wrong_type_names_key_and_type(body, text, tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text(TOML_HEAD + body)
    err = _one_line_exit_2(["sweep", "run", "--config", str(cfg), "--out", str(tmp_path / "o")], capsys)
    assert text in err, err


def test_toml_fixed_array_refused_by_the_library(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text(TOML_HEAD + "[grid]\nlog2_n = [8.0]\n[fixed]\nkappa = [0.1]\n" + TOML_FIXED)
    with pytest.raises(SweepError, match="fixed.kappa must be one value"):
        load_sweep(cfg)


# ----------------------------------------------------------------------------- the logit multiplier
@pytest.mark.parametrize("s", [0.5, 2.0, 7.0])
def test_logit_scale_s_at_kappa_is_scale_1_at_kappa_sqrt_s(s):
    """Logits s q.k/d with entries <= B lie in [-s B^2, s B^2]: the certificate at (s, B) is that at (1, B sqrt(s))."""
    kappas = [0.05, 0.1, 0.2, 0.3]
    for log2_n in (12.0, 20.0):
        scaled = [phase_point({**POINT, "log2_n": log2_n, "logit_scale": s, "kappa": k}, 0)[0] for k in kappas]
        plain = [phase_point({**POINT, "log2_n": log2_n, "kappa": k * math.sqrt(s)}, 0)[0] for k in kappas]
        for a, b in zip(scaled, plain):
            assert math.isclose(a["R"], b["R"], rel_tol=1e-12) and math.isclose(a["R"], s * a["B"] ** 2)
            assert (a["g_star"], a["log_n_rank"]) == (b["g_star"], b["log_n_rank"])
            assert math.isclose(a["B"] * math.sqrt(s), b["B"], rel_tol=1e-12)
            # the frontier: R* does not move, B* and c* shrink by sqrt(s); the crossing still separates
            assert a["R_star"] == b["R_star"] and a["g_max"] == b["g_max"] and a["verified"] and b["verified"]
            assert math.isclose(a["B_star"] * math.sqrt(s), b["B_star"], rel_tol=1e-12)
            assert math.isclose(a["c_star"] * math.sqrt(s), b["c_star"], rel_tol=1e-12)
        rows = phase_point({**POINT, "log2_n": log2_n, "logit_scale": s, "kappa_step": 0.05, "kappa_max": 0.6}, 0)
        assert all((r["log_n_rank"] < 1) == (r["kappa"] <= r["c_star"]) for r in rows)


def test_logit_scale_range_is_the_plans():
    """R of a phase row is the polynomial plan's range for the model's scale logit_scale / d (docs/theory.md §3.1)."""
    for s in (0.5, 3.0):
        (row,) = phase_point({**POINT, "regime": "fixed", "d_fixed": 4, "log2_n": 12.0, "logit_scale": s,
                              "kappa": 0.2}, 0)
        plan = make_plan(4, row["B"], degree=3, scale=s / 4, certify=False)
        assert math.isclose(plan.R, row["R"], rel_tol=1e-12)


def test_logit_scale_in_the_threshold_library():
    cr1, cr4 = crossing(24.0, 24, 2.0**-24), crossing(24.0, 24, 2.0**-24, logit_scale=4.0)
    assert cr4.R_star == cr1.R_star and cr4.B_star == cr1.B_star / 2 and cr4.logit_scale == 4.0
    assert math.isclose(limit_c_star(logit_scale=4.0), limit_c_star() / 2, rel_tol=1e-15)
    b1, b4 = convergence_band(), convergence_band(logit_scale=4.0)
    assert math.isclose(b4.c_inf, b1.c_inf / 2, rel_tol=1e-15) and b4._replace(c_inf=b1.c_inf) == b1
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="logit_scale must be finite and > 0"):
            crossing(24.0, 24, 2.0**-24, logit_scale=bad)
        with pytest.raises(ValueError, match="logit_scale must be finite and > 0"):
            make_sweep("tiny", logit_scale=bad)


def test_logit_scale_sweep_summary_moves_c_star_not_the_band(tmp_path):
    """At logit scale 4, c*(n) and c_inf halve, so c*/c_inf and the band rule are those at scale 1."""
    kw = {"log2_ns": [8, 16, 24, 32], "kappa_step": 0.1, "kappa_max": 0.3, "beyond": [64]}
    one = run_sweep(make_sweep("tiny", **kw), tmp_path / "1", workers=1, progress=False).meta["summary"]["curves"]
    four = run_sweep(make_sweep("tiny", logit_scale=4.0, **kw), tmp_path / "4", workers=1,
                     progress=False).meta["summary"]["curves"]
    assert set(four) == {f"{label}, logit scale 4" for label in one}
    for label, cv in one.items():
        cv4 = four[f"{label}, logit scale 4"]
        assert [c["c_star"] / 2 for c in cv["crossings"]] == pytest.approx([c["c_star"] for c in cv4["crossings"]],
                                                                           rel=1e-12)
        chk, chk4 = cv["band_check"], cv4["band_check"]
        assert chk4["passes"] == chk["passes"] and chk4["n_outside"] == chk["n_outside"]
        assert chk4["ratio_range"] == pytest.approx(chk["ratio_range"], rel=1e-12)
    th = one["d = ceil(log2 n), eps = 1/n"]
    assert four["d = ceil(log2 n), eps = 1/n, logit scale 4"]["limit_c_star"] == pytest.approx(th["limit_c_star"] / 2)
    assert th["band_check"]["passes"] and one["d = 8, eps = 1/n"]["band_check"]["n_outside"] >= 2  # as at scale 1


def test_sweep_run_help_example_runs(tmp_path, capsys):
    """The TOML example of ``sweep run --help`` (a kappa list) loads and runs."""
    import textwrap

    from promptlimits.commands.sweep import CONFIG_HELP

    text = textwrap.dedent(CONFIG_HELP.split("a commented one):\n", 1)[1].split("\n\n", 1)[0])
    (tmp_path / "help.toml").write_text(text)
    out = tmp_path / "o"
    assert main(["sweep", "run", "--config", str(tmp_path / "help.toml"), "--out", str(out), "--workers", "1",
                 "--no-progress"]) == 0
    rows = read_results(out).rows
    assert len(rows) == 3 * 2 * 3 and {r["kappa"] for r in rows} == {0.1, 0.2, 0.3}
    assert "phase_custom: 18 points, 18 rows" in capsys.readouterr().out


def test_plot_draws_a_kappa_list_at_another_logit_scale(tmp_path, capsys):
    """``promptlimits plot`` draws figure 1 from a run with a kappa list and a logit multiplier (labels name it)."""
    out = tmp_path / "run"
    assert main(["sweep", "phase", "--scale", "tiny", "--log2-n", "8", "12", "16", "20", "--kappa", "0.3", "0.1",
                 "0.2", "--beyond", "64", "--logit-scale", "2", "--out", str(out), "--workers", "1",
                 "--no-progress"]) == 0
    from promptlimits.figures.phase import pretty

    assert pretty("d = 8, eps = 1/n, logit scale 2") == "$d=8$, $\\varepsilon=1/n$, logit scale 2"
    assert main(["plot", str(out), "--out", str(tmp_path / "figs")]) == 0
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["fig1_phase.pdf", "fig1_phase.png"]
    capsys.readouterr()
