"""Experiments: sweeps, summaries and verdicts built on the library, and their registry.

Each experiment module offers

- ``SETTINGS`` (grids and budgets per scale, :mod:`._settings`) and
  ``make_sweep(scale="quick", *, seed=0, **overrides) -> SweepDef``;
- the point function(s) and ``check_point`` run by the sweep engine,
  ``summarize(rows)`` stored in the sidecar;
- ``verdicts(results) -> list[Verdict]`` (:mod:`.verdict`), given every
  experiment's results by name;
- ``OPTIONS``: the command-line options of ``promptlimits sweep NAME``.

:data:`EXPERIMENTS` lists them in report order; ``promptlimits reproduce``, the
command line and the tests are driven by it. The library (``promptlimits``
outside ``experiments`` and ``commands``) never imports from here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

__all__ = ["Experiment", "EXPERIMENTS", "experiment", "names"]


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: its sweep name, module, figure stems and a one-line description."""

    name: str
    module_path: str
    figures: tuple
    description: str

    @property
    def module(self) -> ModuleType:
        """The experiment module (imported on first use)."""
        return importlib.import_module(self.module_path)


_PKG = "promptlimits.experiments"

#: Every experiment, in the order of the report's claims.
EXPERIMENTS = (
    Experiment("phase", f"{_PKG}.phase", ("fig1_phase",),
               "efficiency phase transition in the theorem's regime, from certificates (docs/theory.md §5)"),
    Experiment("runtime", f"{_PKG}.runtime", ("fig2_runtime",),
               "measured runtime in the theorem's regime beside the cost model (docs/theory.md §5.5)"),
    Experiment("approx_error", f"{_PKG}.approx_error", ("fig3_approx_error",),
               "measured poly-attention error against degree beside the certificate (docs/theory.md §4)"),
    Experiment("memorization", f"{_PKG}.memorization", ("fig4_memorization",),
               "counting bound, least prompt length measured and the construction against N, dL, 1/tol "
               "(docs/theory.md §7)"),
    Experiment("tuning_curves", f"{_PKG}.tuning_curves", ("fig5_tuning",),
               "loss and induced norm during prompt tuning, free and norm-constrained (docs/theory.md §2, §5)"),
    Experiment("prompt-norm", f"{_PKG}.prompt_norm", ("fig5_prompt_norm",),
               "prompt-induced norm B(P, X) against the efficiency frontier (docs/theory.md §2, §5)"),
    Experiment("hardness", f"{_PKG}.hardness", ("fig6_hardness",),
               "least polynomial rank and random features that decide planted Hamming instances (docs/theory.md §6)"),
    Experiment("universality", f"{_PKG}.universality", ("fig7_universality",),
               "constructed transformer: closed-form prompts' held-out error against k and lambda beside the "
               "proved bound, and tuning contrasts (docs/theory.md §8.3)"),
)


def names() -> tuple[str, ...]:
    """Registered experiment names, in order."""
    return tuple(e.name for e in EXPERIMENTS)


def experiment(name: str) -> Experiment:
    """The registered experiment ``name``; a ``ValueError`` listing the names otherwise."""
    from promptlimits._checks import check_choice

    return EXPERIMENTS[names().index(check_choice(name, "experiment", names()))]
