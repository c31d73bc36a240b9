"""``promptlimits plot DIR``: redraws a saved sweep's figures exactly, and says what it looked for."""

from __future__ import annotations

import pytest

from promptlimits import figures
from promptlimits.cli import main
from promptlimits.experiments import experiment
from promptlimits.sweep import run_sweep


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny approx_error sweep saved in a run folder's ``results``."""
    run = tmp_path_factory.mktemp("run")
    exp = experiment("approx_error")
    run_sweep(exp.module.make_sweep("tiny", seed=0), run / "results", workers=0, progress=False)
    return run, exp


def test_plot_redraws_byte_identically(saved, tmp_path, capsys):
    run, exp = saved
    direct = figures.draw(exp.figures[0], run / "results" / f"{exp.name}.csv", tmp_path / "direct")
    assert main(["plot", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"{exp.figures[0]}: drawn from" in out
    for path in direct:
        drawn = run / "figures" / path.name  # beside results/, not inside it
        assert drawn.read_bytes() == path.read_bytes(), path.name


def test_plot_results_folder_itself_and_out(saved, tmp_path):
    run, exp = saved
    assert main(["plot", str(run / "results"), "--out", str(tmp_path / "figs")]) == 0
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [f"{exp.figures[0]}.pdf",
                                                                     f"{exp.figures[0]}.png"]


def test_plot_names_the_files_it_looked_for(tmp_path, capsys):
    (tmp_path / "unrelated.csv").write_text("a\n1\n")
    assert main(["plot", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no sweep results" in err and "approx_error.csv" in err
    assert main(["plot", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
