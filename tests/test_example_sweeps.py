"""examples/sweeps/tiny: one TOML sweep per experiment, equal to its tiny definition, each run and plotted."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptlimits.cli import main
from promptlimits.experiments import EXPERIMENTS
from promptlimits.sweep import load_sweep, read_results

TINY = Path(__file__).resolve().parent.parent / "examples" / "sweeps" / "tiny"


def test_one_example_per_registered_experiment():
    assert sorted(p.stem for p in TINY.glob("*.toml")) == sorted(e.name for e in EXPERIMENTS)


@pytest.mark.parametrize("exp", EXPERIMENTS, ids=lambda e: e.name)
def test_example_equals_the_tiny_definition_runs_and_plots(exp, tmp_path, capsys):
    path = TINY / f"{exp.name}.toml"
    tiny = exp.module.make_sweep("tiny").to_dict()
    tiny["fixed"] = {k: v for k, v in tiny["fixed"].items() if v is not None}  # TOML has no null: unset = default
    assert load_sweep(path).to_dict() == tiny, f"{path.name} no longer matches `sweep {exp.name} --scale tiny`"
    out = tmp_path / "run"
    assert main(["sweep", "run", "--config", str(path), "--out", str(out), "--no-progress", "--workers", "1"]) == 0
    assert read_results(out, name=exp.name).rows
    assert main(["plot", str(out), "--out", str(tmp_path / "figs")]) == 0
    drawn = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert drawn == sorted(f"{stem}.{ext}" for stem in exp.figures for ext in ("pdf", "png"))
    capsys.readouterr()
