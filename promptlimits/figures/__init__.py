"""Figures of the report (docs/theory.md §9), drawn from saved sweep results: ``promptlimits.figures``.

:data:`FIGURES` maps each figure stem to its draw function
``draw(results, out_dir) -> list[Path]``: ``results`` is a results directory
(or a CSV / sidecar path, see :func:`promptlimits.sweep.read_results`); the PNG
and PDF written are byte-identical across runs (:mod:`promptlimits.figures._style`). Which
experiment's results a figure reads is the experiment registry's business
(:data:`promptlimits.experiments.EXPERIMENTS`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

__all__ = ["FIGURES", "draw_function", "draw"]

#: figure stem -> ``"module:function"`` of its draw function (imported on use: matplotlib is slow to load).
FIGURES = {
    "fig1_phase": "promptlimits.figures.phase:draw",
    "fig2_runtime": "promptlimits.figures.runtime:draw",
    "fig3_approx_error": "promptlimits.figures.approx_error:draw",
    "fig4_memorization": "promptlimits.figures.memorization:draw",
    "fig5_tuning": "promptlimits.figures.tuning:draw",
    "fig5_prompt_norm": "promptlimits.figures.prompt_norm:draw",
    "fig6_hardness": "promptlimits.figures.hardness:draw",
    "fig7_universality": "promptlimits.figures.universality:draw",
}


def draw_function(stem: str) -> Callable:
    """The draw function of figure ``stem``; a ``ValueError`` listing the stems otherwise."""
    from promptlimits._checks import check_choice

    module, func = FIGURES[check_choice(stem, "figure", tuple(FIGURES))].split(":")
    return getattr(importlib.import_module(module), func)


def draw(stem: str, results, out_dir) -> list[Path]:
    """Draw figure ``stem`` from ``results`` into ``out_dir``; the PNG and PDF paths written."""
    return draw_function(stem)(results, out_dir)
