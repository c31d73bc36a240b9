"""Every user error is one line and exit 2, before any work, naming the option.

Bad command lines across every command (bad values, bad sweep files, a loaded
model with conflicting options), run in-process through
``promptlimits.cli.main``. Each must fail before any work: nothing is
computed (a point, a tuning step or a benchmark would take seconds and is
refused by monkeypatching it to raise), nothing is left behind in the scratch
folder, the message names the option as it is spelt on the command line, and
it never advises ``--resume`` for a bad input.
"""

import pytest

import promptlimits.benchmarks.attention as bench_attention
import promptlimits.benchmarks.tuning_step as bench_step
import promptlimits.commands.tune as tune_command
import promptlimits.sweep.run as sweep_run
from promptlimits import PromptedModel
from promptlimits.cli import main, one_line

BIG = "1000000000000"

CASES = [  # (argv, text the one line must hold: the option as spelt on the command line)
    (["tune", "--teacher-scale", "nan"], "--teacher-scale must be finite and >= 0, got nan"),
    (["tune", "--init-scale", "nan"], "--init-scale must be finite and >= 0, got nan"),
    (["tune", "--batch", BIG], f"--batch {BIG}"),
    (["tune", "--Lp", BIG], f"--Lp {BIG}"),
    (["tune", "--d", "1000000"], "--d 1000000"),
    (["tune", "--optimizer", "adam", "--lr", "-1"], "--lr must be finite and > 0, got -1.0"),
    (["tune", "--weight-scale", "-1"], "--weight-scale must be finite and >= 0, got -1.0"),
    (["tune", "--seed", "-1"], "--seed must be >= 0, got -1"),
    (["tune", "--load-model", "TMP/notes.txt"], "--load-model TMP/notes.txt is not a promptlimits model file"),
    (["tune", "--steps", "2000", "--json", "/proc/x.json"], "--json /proc/x.json cannot be written"),
    (["tune", "--save-model", "TMP/no/such/m.npz"], "--save-model TMP/no/such/m.npz: folder"),
    (["tune", "--attn-eps", "2"], "--attn-eps must lie in (0, 1), got 2.0"),
    (["memorize", "least-lp", "--time-budget", "-1"], "--time-budget was replaced"),
    (["memorize", "least-lp", "--time-limit", "-1"], "--time-limit must be finite and > 0, got -1.0"),
    (["memorize", "least-lp", "--max-Lp", BIG], "--max-Lp must be <= 4096"),
    (["memorize", "sweep", "--time-limit", "-1", "--out", "TMP/o"], "(option --time-limit)"),
    (["sweep", "runtime", "--set", "timing_repeats=0", "--out", "TMP/o"],
     "timing_repeats must be >= 1, got 0"),
    (["sweep", "runtime", "--timing-repeats", "0", "--out", "TMP/o"], "(option --timing-repeats)"),
    (["sweep", "phase", "--eps", "nan", "--out", "TMP/o"], "--eps must be a finite number, got nan"),
    (["sweep", "phase", "--eps", "2", "--out", "TMP/o"], "eps must lie in (0, 1), got 2.0 (option --eps)"),
    (["sweep", "prompt-norm", "--eps", "0", "--out", "TMP/o"], "eps must lie in (0, 1), got 0.0 (option --eps)"),
    (["sweep", "hardness", "--n", BIG, "--out", "TMP/o"], "of memory, more than"),
    (["bench", "attention", "--quick", "--exact-rows", "0"], "--exact-rows must be >= 1, got 0"),
    (["bench", "tuning-step", "--repeats", "0"], "--repeats must be >= 1, got 0"),
    (["bench", "walk", "--n", "12"], "--n must be a positive multiple of 8, got 12"),
    (["bench", "tuning-step", "--backend", "fast"], "argument --backend: invalid choice: 'fast'"),
    (["bench", "tuning-step", "--weight-scale", "0"], "--weight-scale must be finite and > 0, got 0.0"),
    (["tune", "--backend", "fast"], "argument --backend: invalid choice: 'fast'"),
    (["reproduce", "--out", "/proc/promptlimits-r"], "--out /proc/promptlimits-r cannot be written"),
    (["memorize", "sweep", "--out", "/proc/promptlimits-m"], "--out /proc/promptlimits-m cannot be written"),
    (["sweep", "phase", "--workers", "100000", "--out", "TMP/o"], "--workers 100000 (about 0.4 GB per worker"),
    (["sweep", "run", "--config", "TMP/missing.toml", "--out", "TMP/o"], "--config TMP/missing.toml: no such file"),
    (["tune", "--load-model", "TMP/m", "--d", "8"],
     "--d 8 conflicts with --load-model TMP/m, whose model has d = 3, s = 3, m = 12; drop --d"),
    (["tune", "--load-model", "TMP/m.npz", "--variant", "softmax1"],
     "--variant softmax1 conflicts with --load-model TMP/m.npz, whose model has variant = softmax"),
    (["tune", "--load-model", "TMP/m", "--model-seed", "4"], "--model-seed 4 conflicts with --load-model TMP/m"),
    (["tune", "--load-model", "TMP/absent"], "--load-model TMP/absent: no such file (nor TMP/absent.npz)"),
    (["tune", "--load-model", "TMP/m", "--logit-scale", "0.5"],
     "--logit-scale 0.5 conflicts with --load-model TMP/m, whose model has scale = 0.333333; drop --logit-scale"),
    (["tune", "--scale", "2"], "--scale was replaced: the logit multiplier is --logit-scale (--scale is the size "
                               "of a sweep run)"),
    (["tune", "--logit-scale", "0"], "--logit-scale must be finite and > 0, got 0.0"),
    (["tune", "--logit-scale", "1/d"], "--logit-scale must be a number > 0, '1/s' or '1/sqrt(s)', got '1/d'"),
    (["sweep", "run", "--config", "TMP/unknown.toml", "--out", "TMP/o"],
     "TMP/unknown.toml: unknown key 'bogus'; a sweep file holds name, point, grid, points, fixed"),
    (["sweep", "run", "--config", "TMP/wrong.toml", "--out", "TMP/o"],
     "TMP/wrong.toml: key 'repeats' must be an integer >= 1, got a string '2'"),
    (["sweep", "run", "--config", "TMP/stale.toml", "--out", "TMP/o"],
     "bad point 0 {'d': 4, 'eps': 1e-06, 'n': 256, 'B': 0.5}: log2 n must be a real number, got NoneType"),
    (["sweep", "run", "--config", "TMP/stale.toml", "--out", "TMP/o", "--no-worker-timeout", "5"],
     "--no-worker-timeout applies to Dask workers only: give --scheduler too"),
    (["sweep", "phase", "--no-worker-timeout", "-1", "--out", "TMP/o"],
     "--no-worker-timeout must be finite and > 0, got -1.0"),
]

#: Sweep files of the cases above: an unknown key, a wrong type, and the grid of an older phase experiment.
SWEEP_FILES = {
    "unknown.toml": 'name = "u"\npoint = "promptlimits.experiments.phase:phase_point"\nbogus = 1\n[grid]\nx = [1]\n',
    "wrong.toml": 'name = "w"\npoint = "promptlimits.experiments.phase:phase_point"\nrepeats = "2"\n[grid]\nx = [1]\n',
    "stale.toml": 'name = "phase"\npoint = "promptlimits.experiments.phase:phase_point"\n'
                  '[grid]\nn = [256, 1024]\nB = [0.5, 1.0]\n[fixed]\nd = 4\neps = 1e-6\n',
}


@pytest.fixture
def no_work(monkeypatch):
    """Any computation (a sweep point, a tuning run, a benchmark) fails the test."""
    def refuse(*a, **kw):
        raise AssertionError("work started before the bad input was refused")

    monkeypatch.setattr(sweep_run, "_compute", refuse)
    monkeypatch.setattr(tune_command, "tune_prompt", refuse)
    monkeypatch.setattr(bench_attention, "make_plan", refuse)
    monkeypatch.setattr(bench_step, "_row", refuse)


@pytest.mark.parametrize("argv, text", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_is_one_line_exit_2_naming_the_option(argv, text, tmp_path, capsys, no_work):
    (tmp_path / "notes.txt").write_text("some notes, not a model\n")
    PromptedModel.from_seed(3, seed=0).save(tmp_path / "m")
    for name, contents in SWEEP_FILES.items():
        (tmp_path / name).write_text(contents)
    before = sorted(tmp_path.rglob("*"))
    argv = [a.replace("TMP", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert text.replace("TMP", str(tmp_path)) in err, err
    assert "Error" not in err and "Errno" not in err and "=True" not in err, err  # command-line words
    assert "--resume" not in err or "--resume or --out" in text, err  # a bad input never advises resuming
    assert sorted(tmp_path.rglob("*")) == before  # nothing left behind


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setenv("PROMPTLIMITS_DEBUG", "1")
    with pytest.raises(ValueError, match="--json /proc/x.json cannot be written"):
        main(["tune", "--json", "/proc/x.json"])


def test_file_errors_are_worded_by_path_and_reason():
    assert one_line(FileNotFoundError(2, "No such file or directory", "r.toml")) == "r.toml: No such file or directory"
    assert one_line(MemoryError()) == "ran out of memory; use smaller sizes"
    assert one_line(ValueError("first\nsecond")) == "first"


def test_good_output_paths_are_written(tmp_path, capsys):
    """The probes leave valid paths alone: a run with --json and --save-model writes both (and nothing else)."""
    out, model = tmp_path / "t.json", tmp_path / "m"
    assert main(["tune", "--steps", "3", "--quiet", "--json", str(out), "--save-model", str(model)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz", "t.json"]
    assert main(["tune", "--steps", "3", "--quiet", "--load-model", str(tmp_path / "m.npz")]) == 0
