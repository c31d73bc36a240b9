"""The experiment registry: settings and overrides, ``--set``, the generated command line, verdict rules."""

from types import SimpleNamespace

import pytest
from test_experiments_tuning import claim5_results
from test_phase import _summary as phase_summary
from test_runtime import _results as runtime_results
from test_runtime import _rows as runtime_rows

from promptlimits.cli import main
from promptlimits.commands._running import parse_set
from promptlimits.experiments import EXPERIMENTS, experiment, figures_of
from promptlimits.experiments._settings import SCALES, resolve, scale_table
from promptlimits.experiments.verdict import (
    CONSISTENT,
    ILLUSTRATION,
    NOT_CHECKED,
    NOT_CONSISTENT,
    STATUSES,
    VACUOUS,
    Verdict,
)
from promptlimits.sweep import SweepDef

NAMES = [e.name for e in EXPERIMENTS]


# ----------------------------------------------------------------------------- settings
@pytest.mark.parametrize("name", NAMES)
def test_make_sweep_at_every_scale_and_refuses_unknown_overrides(name):
    mod = experiment(name).module
    for scale in SCALES:
        sweep = mod.make_sweep(scale)
        assert isinstance(sweep, SweepDef) and sweep.name == name
    assert mod.make_sweep() == mod.make_sweep("quick")  # the default scale
    with pytest.raises(ValueError, match=r"unknown overrides \['bogus'\]; allowed: ") as info:
        mod.make_sweep("tiny", bogus=1)
    assert all(k in str(info.value) for k in mod.SETTINGS["tiny"])  # the message lists the allowed keys
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        mod.make_sweep("huge")


@pytest.mark.parametrize("name", NAMES)
def test_declared_options_map_onto_settings(name):
    mod = experiment(name).module
    keys = [o.key for o in mod.OPTIONS]
    assert len(set(keys)) == len(keys) and set(keys) <= set(mod.SETTINGS["quick"])
    for o in mod.OPTIONS:
        if o.choices is not None:  # an enumerated option's value at every scale is one of its choices
            for scale in SCALES:
                v = mod.SETTINGS[scale][o.key]
                assert all(x in o.choices for x in (v if o.nargs else [v])), (o.flag, scale)


def test_an_override_changes_the_sweep_and_seed_changes_the_seed():
    ph = experiment("phase").module
    s = ph.make_sweep("tiny", log2_ns=[8, 9], regimes=["log"], beyond=[], seed=7)
    assert sorted({p["log2_n"] for p in s.points}) == [8.0, 9.0] and {p["regime"] for p in s.points} == {"log"}
    assert s.seed == 7 and s.fixed["kappa_step"] == ph.SETTINGS["tiny"]["kappa_step"]


def test_scale_table_and_resolve():
    t = scale_table({"a": 1}, tiny={"b": 1}, quick={"b": 2}, full={"b": 3})
    assert t["full"] == {"a": 1, "b": 3}
    assert resolve(t, "quick", {"a": 5}) == {"a": 5, "b": 2}
    with pytest.raises(ValueError, match="same keys"):
        scale_table({}, tiny={"b": 1}, quick={}, full={"b": 1})
    with pytest.raises(ValueError, match="exactly the scales"):
        scale_table({}, tiny={}, quick={})


# ----------------------------------------------------------------------------- --set
@pytest.mark.parametrize("text, expected", [
    ("ns=[256,1024]", ("ns", [256, 1024])),
    ("measure=true", ("measure", True)),
    ("eps=1e-6", ("eps", 1e-6)),
    ("steps=60", ("steps", 60)),
    ("kind=chebyshev", ("kind", "chebyshev")),  # a bare word is a string
    ("budget=n^1.5", ("budget", "n^1.5")),
    ('kind="taylor"', ("kind", "taylor")),
    ("shapes=[[1, 1, 0.5]]", ("shapes", [[1, 1, 0.5]])),
    (" rho = 2.5 ", ("rho", 2.5)),
])
def test_parse_set(text, expected):
    assert parse_set(text) == expected


@pytest.mark.parametrize("text", ["ns", "=3", "n s=3", "ns=[1, 2", "kind=two words", 'kind="open'])
def test_parse_set_refuses(text):
    with pytest.raises(ValueError, match="--set"):
        parse_set(text)


# ----------------------------------------------------------------------------- the command line
@pytest.mark.parametrize("argv, text", [
    (["sweep", "phase", "--log2-n", "many"], "argument --log2-n: invalid float value: 'many'"),
    (["sweep", "phase", "--kind", "bessel"], "argument --kind: invalid choice: 'bessel'"),
    (["sweep", "phase", "--regimes", "sqrt"], "invalid choice: 'sqrt'"),
    (["sweep", "phase", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["sweep", "phase", "--scale", "medium"], "invalid choice: 'medium'"),
    (["sweep", "phase", "--set", "nope=1"], "unknown overrides ['nope']"),
    (["sweep", "phase", "--set", "ns=[1, 2"], "cannot read '[1, 2'"),
    (["sweep", "phase", "--set", "eps=0.1", "--eps", "0.2"], "'eps' is given twice"),
    (["sweep", "approx_error", "--kind", "auto"], "invalid choice: 'auto'"),
    (["sweep", "hardness", "--kappa", "-1"], "kappa = lambda/sqrt(ln n) must be finite and > 0"),
    (["sweep", "prompt-norm", "--rho", "0"], "rho must be finite and > 0"),
    (["sweep", "tuning_curves", "--box", "big"], "box must be 'free', 'frontier' or a number rho > 0"),
    (["sweep", "universality", "--variant", "relu"], "invalid choice: 'relu'"),
    (["sweep", "memorization", "--tol", "0.02"], "gamma > 2 tol"),
    (["sweep", "phase"], "the following arguments are required: --out"),
    (["sweep"], "the following arguments are required: NAME"),
    (["tune", "--optimizer", "sgd"], "invalid choice: 'sgd'"),
    (["tune", "--backend", "fast"], "invalid choice: 'fast'"),
    (["tune", "--dataset", "mnist"], "invalid choice: 'mnist'"),
])
def test_generated_subcommands_fail_in_one_line_with_exit_2(argv, text, tmp_path, capsys):
    if argv[0] == "sweep" and len(argv) > 1 and "--out" not in argv and argv != ["sweep", "phase"]:
        argv = [*argv, "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and text in err, err


def test_every_registered_experiment_has_a_sweep_subcommand(capsys):
    for name in NAMES:
        with pytest.raises(SystemExit) as info:
            main(["sweep", name, "--help"])
        assert info.value.code == 0
        assert "--scale" in capsys.readouterr().out


# ----------------------------------------------------------------------------- verdicts
def _res(rows=(), summary=None):
    return SimpleNamespace(rows=list(rows), meta={"summary": summary})


def _statuses(name, results):
    return [v.status for v in experiment(name).module.verdicts(results)]


def _approx_row(err=1e-4, grad_err=None, eps_p=5e-4):
    row = {"B": 0.5, "measured_err": err, "bound": 1e-3, "eps_p": eps_p, "n": 8, "d": 2, "kind": "chebyshev"}
    if grad_err is not None:
        row.update({"eps_dp": 5e-2, **{f"grad_{k}_{x}": v for x in "QKV"
                                       for k, v in (("err", grad_err), ("bound", 1e-2), ("gap", 1e-9))}})
    return row


def test_approx_error_verdict_each_status():
    def res(err, grad_err=None, eps_p=5e-4):
        return {"approx_error": _res([_approx_row(err, grad_err, eps_p)])}
    assert _statuses("approx_error", res(1e-4, 1e-3)) == [CONSISTENT, CONSISTENT]
    assert _statuses("approx_error", res(2e-3, 1e-3)) == [NOT_CONSISTENT, CONSISTENT]
    assert _statuses("approx_error", res(1e-4, 2e-2)) == [CONSISTENT, NOT_CONSISTENT]
    assert _statuses("approx_error", res(1e-4)) == [CONSISTENT, NOT_CHECKED]  # results without a backward
    # the gradient certificate includes the backward's rounding (docs/theory.md §4.6.1): no eps_p is exempt
    floor = _statuses("approx_error", {"approx_error": _res([_approx_row(1e-4, 1e-3),
                                                             _approx_row(1e-16, 2e-2, eps_p=1e-14)])})
    assert floor == [CONSISTENT, NOT_CONSISTENT]
    # a certificate test with no power (largest ratio below 0.1) is vacuous
    assert _statuses("approx_error", res(1e-5, 1e-4)) == [VACUOUS, VACUOUS]


def _memorization_results(bound, constr=64, err=0.0, control=0.5, found=None):
    from promptlimits.experiments.memorization_verdict import summarize

    row = {"axis": "N", "model": "construct", "width": "token", "N": 64, "d": 1, "L": 1, "dL": 1, "k": 64, "D": 8,
           "tol": 1e-3, "bound": bound, "bound_sample": bound, "constr_Lp": constr, "constr_err": err,
           "ctrl_other_err": control, "ctrl_short_Lp": None, "ctrl_short_err": None, "search_Lp": found,
           "lin_status": "not reached within budget", "tune_status": "not run", "ratio": constr / bound,
           "rho_box": 1.25, "K_P": 2.0, "bound_local": None, "bites": 10.0, "seconds": 1.0}
    return {"memorization": _res([row], summarize([row]))}


def test_memorization_verdict_each_status_and_strength():
    [v] = experiment("memorization").module.verdicts(_memorization_results(12.0))
    assert v.status == CONSISTENT and "reaches 12" in v.strength
    assert _statuses("memorization", _memorization_results(2.5))[0] == "vacuous"  # the bound never reaches 10
    assert _statuses("memorization", _memorization_results(80.0))[0] == NOT_CONSISTENT  # above the certificate
    assert _statuses("memorization", _memorization_results(12.0, err=0.1))[0] == NOT_CONSISTENT  # misses tol
    assert _statuses("memorization", _memorization_results(12.0, control=1e-4))[0] == NOT_CONSISTENT  # control
    assert _statuses("memorization", _memorization_results(12.0, found=11))[0] == NOT_CONSISTENT  # beats the bound
    assert _statuses("memorization", _memorization_results(12.0, found=70))[0] == CONSISTENT  # a search limit


def _hardness_results(exact_above_min=True, poly_decides=(), control_below=0.72):
    case = {"gap": 0.1, "n": 256, "m": 48, "t": 10, "t_far": 11, "d": 75, "kappa_min": 9.5,
            "kappa_exact_perfect_from": 2.5, "exact_decides_above_kappa_min": exact_above_min, "max_rank": 1024,
            "degree_cap": 1, "least_rank": [[1.0, 1], [2.0, None]], "crossing_kappa": 2.0,
            "crossing_over_kappa_min": 2.0 / 9.5, "poly_decides_where_exact_does": list(poly_decides),
            "rf_crossing_kappa": 2.0, "kappas_above_kappa_min": [10.0], "control_below": control_below,
            "control_above": 0.77, "log10_rank_cap": 2.0, "degree_at_rank_n": 1, "kappa_decide": None,
            "degree_decide": None, "log_n_rank_decide": None, "kappa_decide_rank_n": 3.0 if poly_decides else None}
    trend = {"0.1": {"n": [256], "known": False, "non_increasing": False, "non_decreasing": False}}
    return {"hardness": _res([], {"cases": [case], **{f"{k}_trend": {"0.1": trend["0.1"] | {k: [case[k]]}}
                                                      for k in ("kappa_decide", "degree_decide")},
                                  "crossing_trend": {"0.1": trend["0.1"] | {"crossing_kappa": [2.0]}}})}


def test_hardness_verdict_each_status():
    assert _statuses("hardness", _hardness_results()) == [ILLUSTRATION]
    assert _statuses("hardness", _hardness_results(poly_decides=[3.0])) == [ILLUSTRATION]
    assert _statuses("hardness", _hardness_results(exact_above_min=False)) == [NOT_CONSISTENT]
    assert _statuses("hardness", _hardness_results(control_below=0.76)) == [NOT_CONSISTENT]  # control kept the margin
    assert _statuses("hardness", {"hardness": _res([], {"cases": []})}) == [NOT_CHECKED]


def _universality_results(slope):
    from test_universality import _k_rows

    rows = _k_rows({(1, 1, "sine"): -1.0, (2, 2, "additive"): slope})
    return {"universality": _res(rows, experiment("universality").module.summarize(rows))}


def test_universality_verdict_each_status():
    assert _statuses("universality", _universality_results(-0.95)) == [CONSISTENT]
    assert _statuses("universality", _universality_results(-0.5)) == [NOT_CONSISTENT]


def test_every_verdict_names_its_rule_falsifier_strength_and_registered_figures():
    """On synthetic results of the experiments that have them here; every registered experiment, new ones
    included, gets the same checks on the tiny run's real results (tests/test_reproduce.py)."""
    results = {**phase_summary([0.2, 0.25, 0.29]), **runtime_results(runtime_rows()), **claim5_results(),
               **_hardness_results(),
               **_universality_results(-1.0), **_memorization_results(3, 0.4),
               "approx_error": _res([_approx_row(1e-4, 1e-3)])}
    assert set(results) <= set(NAMES)
    check_verdict_fields({e.name: e.module.verdicts(results) for e in EXPERIMENTS if e.name in results})


def check_verdict_fields(by_experiment: dict) -> None:
    """Each verdict names its claim, rule, falsifier, strength and the figures of its experiment (from the registry);
    claim ids are unique; every figure of these experiments is shown by some claim."""
    verdicts = [v for vs in by_experiment.values() for v in vs]
    assert verdicts and len({v.claim_id for v in verdicts}) == len(verdicts)  # claim ids are unique
    registered = {s for e in EXPERIMENTS for s in e.figures}
    assert {s for v in verdicts for s in v.figures} <= registered  # no claim shows an unregistered figure
    for name, vs in by_experiment.items():
        figs = experiment(name).figures
        # an experiment without a claim of its own is evidence for another's: its figures appear there
        assert vs or any(set(figs) <= set(v.figures) for v in verdicts), name
        for v in vs:
            assert v.status in STATUSES and v.rule and v.falsifier and v.strength and v.why
            assert set(figs) <= set(v.figures), name  # a claim shows its own experiment's figures
            assert v.numbers and v.claim and v.title


def test_figures_of_reads_the_registry():
    assert figures_of("phase") == experiment("phase").figures
    assert figures_of("tuning_curves", "prompt-norm") == experiment("tuning_curves").figures + \
        experiment("prompt-norm").figures
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        figures_of("nope")
    with pytest.raises(ValueError, match="at least one experiment name"):
        figures_of()


def test_verdict_refuses_an_unknown_status():
    with pytest.raises(ValueError, match="unknown verdict status 'fine'"):
        Verdict("x", "t", "c", "fine", "r", "f", "s")
