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


_UPPER = ("experiments", "figures", "commands")  # the layers above the library


def _library_modules():
    """(dotted name, path) of every library module: ``promptlimits`` and its subpackages, but not the layers above it
    nor the command line's entry points."""
    import pathlib

    import promptlimits

    root = pathlib.Path(promptlimits.__file__).parent
    mods = []
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root)
        if rel.parts[0] in _UPPER or p.name in ("cli.py", "__main__.py"):
            continue
        parts = ["promptlimits", *rel.with_suffix("").parts]
        mods.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), p))
    return mods


def _upper_imports(name: str, source: str, is_package: bool) -> list[str]:
    """The modules of the layers above the library that ``source`` (module ``name``) imports, at any depth:
    absolute, relative, ``from .. import figures`` and ``importlib.import_module("...")`` or ``__import__("...")``
    with a literal."""
    import ast

    package = name if is_package else name.rpartition(".")[0]
    targets = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets += [base] + [f"{base}.{a.name}" for a in node.names]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) == "import_module" or getattr(node.func, "id", None)
                   in ("import_module", "__import__"))):
            targets.append(node.args[0].value)
    upper = tuple(f"promptlimits.{u}" for u in _UPPER)
    return sorted({t for t in targets if t in upper or t.startswith(tuple(u + "." for u in upper))})


def test_library_never_imports_experiments_figures_or_commands():
    """Every library module, in every subpackage: the layers above it (experiments, figures, the command line)
    are never imported, by absolute or relative name, at module level or inside a function."""
    library = _library_modules()
    names = [n for n, _ in library]
    assert len(library) > 30 and "promptlimits.poly_attention" in names  # subpackages included
    assert any(n.count(".") >= 2 for n in names)  # and the modules inside them
    bad = {n: found for n, p in library if (found := _upper_imports(n, p.read_text(), p.name == "__init__.py"))}
    assert not bad, f"library modules importing experiments, figures or commands: {bad}"
    # the guard bites, on every form of import
    for source in ("from ..experiments import x", "from .. import figures", "import promptlimits.commands.plot",
                   "def f():\n    from promptlimits.experiments.phase import y",
                   "import importlib\nimportlib.import_module('promptlimits.figures.phase')"):
        assert _upper_imports("promptlimits.sweep.run", source, False), source
    assert _upper_imports("promptlimits.sweep", "from .. import commands", True) == ["promptlimits.commands"]
    assert not _upper_imports("promptlimits.sweep.run", "from . import experiments_helper\nimport figures", False)


def test_importing_every_library_module_loads_no_upper_layer():
    """The same guard at run time: importing all library modules (in a fresh interpreter) leaves experiments,
    figures and commands unloaded."""
    import pathlib
    import subprocess
    import sys

    names = [n for n, _ in _library_modules()]
    code = ("import importlib, sys\n"
            f"for n in {names!r}:\n    importlib.import_module(n)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[:2] in "
            f"[['promptlimits', u] for u in {_UPPER!r}]))")
    root = pathlib.Path(__file__).resolve().parent.parent  # this tree's promptlimits, not an installed one
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300,
                         cwd=root)
    assert out.stdout.strip() == "[]", out.stdout


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
