"""The experiment registry is the one list: the figure modules, README's lists and docs/theory.md §9 are held to it.

Adding an experiment to :data:`promptlimits.experiments.EXPERIMENTS` without its figure
module, its README rows or its docs/theory.md §9 section fails here, naming what is missing
(docs/adding_an_experiment.md).
"""

from __future__ import annotations

import importlib
import re
import textwrap
import uuid
from pathlib import Path

import pytest

from promptlimits import figures
from promptlimits.experiments import EXPERIMENTS, names

ROOT = Path(__file__).resolve().parent.parent
STEMS = [stem for e in EXPERIMENTS for stem in e.figures]


def _difference(listed: list, registered: list) -> str:
    missing = [x for x in registered if x not in listed]
    unknown = [x for x in listed if x not in registered]
    return f"missing {missing}, unknown {unknown}" if missing or unknown else f"order {listed}, not {registered}"


# ----------------------------------------------------------------------------- figure modules
def test_every_registered_stem_has_exactly_one_figure_module_and_no_module_is_unregistered():
    assert len(STEMS) == len(set(STEMS)), "a stem is named by two experiments"
    unknown = [s for s in STEMS if s not in figures.FIGURES]
    undrawn = [s for s in figures.FIGURES if s not in STEMS]
    assert not unknown, f"registered stems with no promptlimits/figures module declaring STEM: {unknown}"
    assert not undrawn, f"figure modules whose STEM no registered experiment names: {undrawn}"


@pytest.mark.parametrize("stem", sorted(figures.FIGURES))
def test_each_discovered_module_declares_its_stem_and_draws(stem):
    module, func = figures.FIGURES[stem].split(":")
    mod = importlib.import_module(module)
    assert mod.STEM == stem and callable(getattr(mod, func))
    assert figures.draw_function(stem) is getattr(mod, func)


def test_draw_function_refuses_an_unknown_stem():
    with pytest.raises(ValueError, match="unknown figure 'fig9_nothing'; expected one of 'fig1_phase'"):
        figures.draw_function("fig9_nothing")


def _package(tmp_path, monkeypatch, name: str, modules: dict[str, str]) -> str:
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for mod, source in modules.items():
        (pkg / f"{mod}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_discover_reads_stems_without_importing(tmp_path, monkeypatch):
    # a module that would fail on import is still discovered: the stem is read from its source
    pkg = _package(tmp_path, monkeypatch, "figpkg_ok", {
        "b": 'import no_such_module\nSTEM = "fig2_b"\ndef draw(results, out_dir): ...\n',
        "a": 'STEM = "fig1_a"\n',
        "_helper": "x = 1\n",  # private modules are not figures
    })
    assert figures.discover(pkg) == {"fig1_a": f"{pkg}.a:draw", "fig2_b": f"{pkg}.b:draw"}


@pytest.mark.parametrize("modules, message", [
    ({"a": "def draw(results, out_dir): ...\n"}, r"figpkg_\w+\.a declares no STEM"),
    ({"a": 'STEM = "fig" + "1"\n'}, r"figpkg_\w+\.a: STEM must be a non-empty string literal"),
    ({"a": 'STEM = ""\n'}, r"figpkg_\w+\.a: STEM must be a non-empty string literal"),
    ({"a": 'STEM = "fig1"\n', "b": 'STEM = "fig1"\n'}, r"figure stem 'fig1' is declared by both figpkg_\w+\.a and "
                                                     r"figpkg_\w+\.b"),
])
def test_discover_names_the_module_at_fault(modules, message, tmp_path, monkeypatch):
    pkg = _package(tmp_path, monkeypatch, f"figpkg_{uuid.uuid4().hex}", modules)
    with pytest.raises(ValueError, match=message):
        figures.discover(pkg)


# ----------------------------------------------------------------------------- README.md
def test_readme_figure_table_lists_every_registered_figure_in_order():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| !\[\]\(figures/gallery/([a-z0-9_]+)\.png\) \|", readme, flags=re.M)
    assert rows == STEMS, ("README.md's figure table must have one row per registered figure, in registry order: "
                           + _difference(rows, STEMS))
    missing = [s for s in rows if not (ROOT / "figures" / "gallery" / f"{s}.png").is_file()]
    assert not missing, f"README.md shows figures/gallery/STEM.png for stems with no such file: {missing}"


def test_readme_sweep_names_are_the_registered_experiments_in_order():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"`NAME` one of ((?:`[^`]+`(?:, )?)+)", readme)
    assert m, "README.md's command table no longer says \"`NAME` one of `...`, ...\" for `promptlimits sweep NAME`"
    listed = re.findall(r"`([^`]+)`", m.group(1))
    assert listed == list(names()), "README.md's `sweep NAME` list: " + _difference(listed, list(names()))


# ----------------------------------------------------------------------------- docs/theory.md §9
def test_theory_section_9_has_one_figure_section_per_registered_figure():
    theory = (ROOT / "docs" / "theory.md").read_text(encoding="utf-8")
    start = theory.index("\n## §9 ")
    end = theory.find("\n## ", start + 1)
    s9 = theory[start:end if end > 0 else len(theory)]
    headed = re.findall(r"^### 9\.\d+ Figure [^\n]*\(`([a-z0-9_]+)`\)$", s9, flags=re.M)
    # order is not held: a new figure's section may follow §9.11-§9.12 rather than renumber them
    assert sorted(headed) == sorted(STEMS), ("docs/theory.md §9 must have one '### 9.N Figure ...: ... (`STEM`)' "
                                             "section per registered figure: " + _difference(headed, STEMS))


def test_the_list_checks_bite():
    """The patterns above find a listed name and would report one left out (so a missing row fails)."""
    row = "| ![](figures/gallery/fig9_new.png) | **9.** A new figure. |"
    assert re.findall(r"^\| !\[\]\(figures/gallery/([a-z0-9_]+)\.png\) \|", row, flags=re.M) == ["fig9_new"]
    heading = "### 9.13 Figure 9: something new (`fig9_new`)"
    assert re.findall(r"^### 9\.\d+ Figure [^\n]*\(`([a-z0-9_]+)`\)$", heading, flags=re.M) == ["fig9_new"]
    cell = "`NAME` one of `phase`, `new-one`; `--scale`"
    m = re.search(r"`NAME` one of ((?:`[^`]+`(?:, )?)+)", cell)
    assert re.findall(r"`([^`]+)`", m.group(1)) == ["phase", "new-one"]
