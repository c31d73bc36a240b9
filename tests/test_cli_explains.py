"""Commands say what they did and why: tune's backend, a resumed or interrupted sweep, a refused resume."""

import shlex
from pathlib import Path

import pytest

import promptlimits.sweep.run as sweep_run
from promptlimits.cli import main

EXAMPLE = Path(__file__).parent.parent / "examples" / "sweeps" / "phase.toml"


def lines_of(text: str, key: str) -> list[str]:
    return [line.split(None, 1)[1] for line in text.splitlines() if line.split(None, 1)[:1] == [key]]


@pytest.mark.parametrize("argv, backend, why", [
    (["--backend", "exact"], "exact", "exact attention asked"),
    (["--backend", "auto"], "exact", "exact predicted cheaper than a plan certified for B <= "),
    (["--backend", "poly"], "exact", "not certifiable: the induced norm is above the range a plan certifies for "
                                     "attn_eps = 1e-06 at 6 keys"),
    (["--backend", "poly", "--init-scale", "0.1", "--weight-scale", "0.2"], "poly", "plan certified for B <= "),
])
def test_tune_prints_the_backend_and_why(argv, backend, why, capsys):
    assert main(["tune", "--steps", "3", "--quiet", *argv]) == 0
    out = capsys.readouterr().out
    assert lines_of(out, "backend") == [backend]
    reasons = lines_of(out, "why")
    assert len(reasons) == 1 and reasons[0].startswith(why), out


def test_tune_json_holds_the_reasons(tmp_path, capsys):
    import json

    out = tmp_path / "t.json"
    assert main(["tune", "--steps", "3", "--quiet", "--backend", "auto", "--json", str(out)]) == 0
    summary = json.loads(out.read_text())
    reasons = summary["backend_reasons"]
    assert list(reasons) == ["exact"] and reasons["exact"]["steps"] == len(summary["history"]["backend"])
    assert reasons["exact"]["reason"] == summary["history"]["reason"][-1]
    assert lines_of(capsys.readouterr().out, "why") == [reasons["exact"]["reason"]]


def test_the_example_sweep_file_runs_and_resumes_saying_so(tmp_path, capsys):
    out = tmp_path / "o"
    argv = ["sweep", "run", "--config", str(EXAMPLE), "--out", str(out), "--workers", "1", "--no-progress"]
    assert main(argv) == 0
    first = capsys.readouterr()
    assert f"phase_custom: 30 points, 30 rows -> {out / 'phase_custom.csv'}" in first.out
    assert "d = ceil(log2 n), eps = 1/n:" in first.out  # the experiment's summary lines, not raw JSON
    assert main(argv + ["--resume"]) == 0
    assert (f"phase_custom: resuming: 30 of 30 points reused from {out / 'phase_custom.journal.jsonl'}, 0 to compute"
            in capsys.readouterr().err)
    assert main(argv + ["--resume", "--seed", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "belongs to a different sweep definition: the settings differ (old -> new): seed: 0 -> 5;" in err


def test_ctrl_c_names_the_command_that_continues_the_run(tmp_path, capsys, monkeypatch):
    real = sweep_run._run_point

    def interrupted_at_two(spec, i, params, seed):
        if i == 2:
            raise KeyboardInterrupt
        return real(spec, i, params, seed)

    monkeypatch.setattr(sweep_run, "_run_point", interrupted_at_two)
    out = tmp_path / "o"
    argv = ["sweep", "run", "--config", str(EXAMPLE), "--out", str(out), "--workers", "1", "--no-progress"]
    assert main(argv) == 130
    err = capsys.readouterr().err.strip()
    again = ["promptlimits", *argv, "--resume"]
    assert err == (f"promptlimits sweep: interrupted: 2/30 points of sweep 'phase_custom' saved in {out}; "
                   f"continue with: {shlex.join(again)}")
    monkeypatch.setattr(sweep_run, "_run_point", real)
    assert main(shlex.split(err.rsplit("continue with: ", 1)[1])[1:]) == 0  # the command it names, as printed
    assert "phase_custom: resuming: 2 of 30 points reused" in capsys.readouterr().err


@pytest.mark.parametrize("value, scale", [("0.25", 0.25), ("1/sqrt(s)", 2 ** -0.5), ("1/s", 0.5)])
def test_tune_logit_scale_reaches_the_model(value, scale, tmp_path):
    """``tune --logit-scale`` is the model's logit multiplier (``--scale`` is a sweep's run size)."""
    import json

    out = tmp_path / "t.json"
    assert main(["tune", "--steps", "2", "--quiet", "--d", "2", "--logit-scale", value, "--json", str(out)]) == 0
    assert json.loads(out.read_text())["scale"] == pytest.approx(scale, rel=1e-15)
