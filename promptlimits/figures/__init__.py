"""Figures of the report (docs/theory.md §9), drawn from saved sweep results: ``promptlimits.figures``.

One module per figure: each public module of this package declares the stem of the
figure it draws, ``STEM = "fig1_phase"``, beside its draw function
``draw(results, out_dir) -> list[Path]``. ``results`` is a results directory (or a
CSV / sidecar path, see :func:`promptlimits.sweep.read_results`); the PNG and PDF
written, ``STEM.png`` and ``STEM.pdf``, are byte-identical across runs
(:mod:`promptlimits.figures._style`). :data:`FIGURES` is discovered from the
package's modules, so a new figure is a new module and nothing else here. Which
experiment's results a figure reads is the experiment registry's business
(:data:`promptlimits.experiments.EXPERIMENTS`, whose figure stems a test holds equal
to the stems discovered here).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path

__all__ = ["FIGURES", "discover", "draw_function", "draw"]


def _declared_stem(path: Path, module: str) -> str:
    """The string literal a module's top-level ``STEM = "..."`` assigns; a ``ValueError`` otherwise."""
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "STEM"):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str) and node.value.value:
                return node.value.value
            raise ValueError(f"figure module {module}: STEM must be a non-empty string literal")
    raise ValueError(f"figure module {module} declares no STEM = \"...\" (the stem of the figure its draw() writes)")


def discover(package: str = __name__) -> dict[str, str]:
    """Figure stem -> ``"module:draw"`` for every public module of ``package``, sorted by stem.

    The stems are read from each module's source (its top-level ``STEM = "..."``)
    without importing it: matplotlib is slow to load and a figure module may import
    its experiment. A ``ValueError`` names a module without a ``STEM`` and a stem
    declared twice.
    """
    pkg = importlib.import_module(package)
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_") or info.ispkg:
            continue
        module = f"{package}.{info.name}"
        spec = info.module_finder.find_spec(module, None)
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            raise ValueError(f"figure module {module}: no Python source to read its STEM from")
        stem = _declared_stem(Path(spec.origin), module)
        if stem in found:
            raise ValueError(f"figure stem {stem!r} is declared by both {found[stem].split(':')[0]} and {module}")
        found[stem] = f"{module}:draw"
    return dict(sorted(found.items()))


#: figure stem -> ``"module:function"`` of its draw function, discovered from this package's modules
#: (:func:`discover`; imported on use: matplotlib is slow to load).
FIGURES = discover()


def draw_function(stem: str) -> Callable:
    """The draw function of figure ``stem``; a ``ValueError`` listing the stems otherwise."""
    from promptlimits._checks import check_choice

    module, func = FIGURES[check_choice(stem, "figure", tuple(FIGURES))].split(":")
    return getattr(importlib.import_module(module), func)


def draw(stem: str, results, out_dir) -> list[Path]:
    """Draw figure ``stem`` from ``results`` into ``out_dir``; the PNG and PDF paths written."""
    return draw_function(stem)(results, out_dir)
