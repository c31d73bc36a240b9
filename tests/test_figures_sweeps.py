"""Figures 1, 2, 3, 6 from saved sweep results: files written, byte-identical across runs."""

import pytest

from promptlimits.experiments.approx_error import make_sweep as approx_sweep
from promptlimits.experiments.hardness import make_sweep as hardness_sweep
from promptlimits.experiments.phase import make_sweep as phase_sweep
from promptlimits.experiments.runtime import make_sweep as runtime_sweep
from promptlimits.sweep import run_sweep


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    run_sweep(phase_sweep("tiny"), out, workers=1, progress=False)
    run_sweep(runtime_sweep("tiny", log2_ns=[7, 8, 9]), out, workers=1, progress=False)
    run_sweep(approx_sweep("tiny"), out, workers=1, progress=False)
    run_sweep(hardness_sweep("tiny", ns=[64, 128], kappas=[0.5, 3.0]), out, workers=1, progress=False)
    return out


@pytest.mark.parametrize("module", ["phase", "runtime", "approx_error", "hardness"])
def test_figure_deterministic(module, results, tmp_path):
    import importlib

    draw = importlib.import_module(f"promptlimits.figures.{module}").draw
    a = draw(results, tmp_path / "a")
    b = draw(results, tmp_path / "b")
    assert [p.suffix for p in a] == [".png", ".pdf"]
    for pa, pb in zip(a, b):
        assert pa.stat().st_size > 1000
        assert pa.read_bytes() == pb.read_bytes(), pa.name


def test_runtime_figure_needs_measured_rows(tmp_path):
    from promptlimits.figures.runtime import draw

    run_sweep(runtime_sweep("tiny", log2_ns=[7, 8], max_flops=1.0), tmp_path, workers=1, progress=False)
    with pytest.raises(ValueError, match="no measured polynomial-method times"):
        draw(tmp_path / "runtime.csv", tmp_path / "figs")


def test_library_never_imports_experiments_figures_or_commands():
    """Every library module, in every subpackage: the layers above it (experiments, figures, the command line)
    are never imported, by absolute or relative name."""
    import pathlib
    import re

    import promptlimits

    root = pathlib.Path(promptlimits.__file__).parent
    upper = ("experiments", "figures", "commands")
    pattern = re.compile(r"^\s*(from|import)\s+(promptlimits\.|\.+)(" + "|".join(upper) + r")\b"
                         r"|^\s*from\s+\.+\s+import\s+.*\b(" + "|".join(upper) + r")\b", re.M)
    library = [p for p in root.rglob("*.py")
               if p.relative_to(root).parts[0] not in upper and p.name not in ("cli.py", "__main__.py")]
    assert len(library) > 30 and any(p.parent.name == "poly_attention" for p in library)  # subpackages included
    bad = [str(p.relative_to(root)) for p in library if pattern.search(p.read_text())]
    assert not bad, f"library modules importing experiments, figures or commands: {bad}"
    assert pattern.search("from ..experiments import x") and pattern.search("from .. import figures")  # the guard bites


def test_prompt_norm_sweep_and_figure(tmp_path):
    pytest.importorskip("promptlimits.tuning", reason="model/tuning not available")
    from promptlimits.experiments.prompt_norm import make_sweep
    from promptlimits.figures.prompt_norm import draw

    res = run_sweep(make_sweep("tiny", rhos=[0.2, 5.0], batch=2, steps=5), tmp_path, workers=1,
                    progress=False)
    small, big = sorted(res.rows, key=lambda r: r["rho"])
    assert big["B_prompt_init"] > small["B_prompt_init"]
    assert small["mse_tuned"] <= small["mse_init"] + 1e-12 and big["mse_tuned"] <= big["mse_init"] + 1e-12
    assert small["B_cert"] == big["B_cert"] > 0
    a, b = draw(tmp_path, tmp_path / "a"), draw(tmp_path, tmp_path / "b")
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))
