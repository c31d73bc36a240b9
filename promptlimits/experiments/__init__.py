"""Experiments: sweeps, summaries and verdicts built on the library, and their registry.

Each experiment module offers

- ``SETTINGS`` (grids and budgets per scale, :mod:`._settings`) and
  ``make_sweep(scale="quick", *, seed=0, **overrides) -> SweepDef``;
- the point function(s) and ``check_point`` run by the sweep engine,
  ``summarize(rows)`` stored in the sidecar;
- ``verdicts(results) -> list[Verdict]`` (:mod:`.verdict`), given every
  experiment's results by name, each verdict's figures taken from here
  (:func:`figures_of`);
- ``OPTIONS``: the command-line options of ``promptlimits sweep NAME``.

:data:`EXPERIMENTS` lists them in report order, with the stems of their figures
(each drawn by the module of :mod:`promptlimits.figures` that declares it); it is the
one list of experiments: ``promptlimits reproduce``, ``promptlimits plot``, the command
line, the verdicts' figures and the tests are driven by it, and tests hold the README's
and docs/theory.md §9's lists of experiments and figures to it
(docs/adding_an_experiment.md). The library (``promptlimits``
outside ``experiments`` and ``commands``) never imports from here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

__all__ = ["Experiment", "EXPERIMENTS", "experiment", "names", "figures_of"]


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: its sweep name, module, figure stems and a one-line description.

    Attributes
    ----------
    name : str
        The sweep's name (``promptlimits sweep NAME``, ``results/NAME.csv``).
    module_path : str
        The dotted path of the experiment module.
    figures : tuple of str
        The stems of the figures drawn from its results, each declared (``STEM``) by one
        module of :mod:`promptlimits.figures`.
    description : str
        One line, with its docs/theory.md section.
    """

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


def figures_of(*experiment_names: str) -> tuple[str, ...]:
    """The figure stems of the named experiments, in order: what a verdict drawn from their results shows.

    A verdict passes ``figures=figures_of("phase")`` rather than naming a stem, so the
    experiments name each stem once, in :data:`EXPERIMENTS` (and its figure module declares
    it, a test holding the two equal). A ``ValueError`` names an unknown experiment.
    """
    if not experiment_names:
        raise ValueError("figures_of needs at least one experiment name")
    return tuple(stem for name in experiment_names for stem in experiment(name).figures)
