"""Verdicts: what an experiment concludes about one claim, and how it could have concluded otherwise.

A :class:`Verdict` names the claim (with its citation), the rule applied to the
measured numbers, the result that would have made the rule fail (the
*falsifier*), a one-line *strength* of the test at the sizes run, and the
status (docs/theory.md §9):

- ``consistent`` / ``not consistent``: the rule was applied and passed / failed;
- ``vacuous``: the rule could not have failed at these sizes (e.g. a lower
  bound below 2 against prompt lengths of at least 1);
- ``illustration``: the experiment shows a mechanism and tests no claim;
- ``not checked``: too little data to apply the rule;
- ``inconclusive``: the rule was applied to a measurement with a confidence
  interval, and the interval straddles the rule's margin (neither passed nor failed).

Each experiment module offers ``verdicts(results) -> list[Verdict]``, each
verdict's figures named through :func:`figures_of` (the stems of the experiments
whose results it reads, from the registry); the report (:mod:`promptlimits.experiments.report`) renders them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from promptlimits._checks import check_choice

from . import figures_of

__all__ = ["CONSISTENT", "NOT_CONSISTENT", "VACUOUS", "ILLUSTRATION", "NOT_CHECKED", "INCONCLUSIVE", "STATUSES",
           "Verdict", "ResultsLike", "fmt", "figures_of"]

CONSISTENT = "consistent"
NOT_CONSISTENT = "not consistent"
VACUOUS = "vacuous"
ILLUSTRATION = "illustration"
NOT_CHECKED = "not checked"
INCONCLUSIVE = "inconclusive"

#: Every status a verdict may take.
STATUSES = (CONSISTENT, NOT_CONSISTENT, VACUOUS, ILLUSTRATION, NOT_CHECKED, INCONCLUSIVE)


class ResultsLike(Protocol):
    """What a verdict reads of a sweep's results (:func:`promptlimits.sweep.read_results`)."""

    rows: list
    meta: dict


@dataclass(frozen=True)
class Verdict:
    """One claim, tested.

    Attributes
    ----------
    claim_id : str
        Stable short name, e.g. ``"phase-transition"``.
    title : str
        Heading of the claim in the report.
    claim : str
        The statement tested, with its citation.
    status : str
        One of :data:`STATUSES`.
    rule : str
        The rule applied to the numbers.
    falsifier : str
        The result that would have made the rule fail.
    strength : str
        One line: how strong the test is at the sizes run (say so when the
        rule cannot fail there).
    numbers : tuple of str
        The measured numbers, one line each.
    settings : str
        The settings the numbers come from.
    figures : tuple of str
        Figure stems (``fig1_phase``, ...), taken from the registry:
        ``figures=figures_of("phase")`` (:func:`promptlimits.experiments.figures_of`).
    why : str
        One sentence: why this status.
    """

    claim_id: str
    title: str
    claim: str
    status: str
    rule: str
    falsifier: str
    strength: str
    numbers: tuple = ()
    settings: str = ""
    figures: tuple = ()
    why: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        check_choice(self.status, "verdict status", STATUSES)
        object.__setattr__(self, "numbers", tuple(str(x) for x in self.numbers))
        object.__setattr__(self, "figures", tuple(self.figures))


def fmt(x, digits: int = 3) -> str:
    """A number for the report: ``n/a`` for None, ``digits`` significant digits for floats."""
    if x is None:
        return "n/a"
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        return f"{x:.{digits}g}"
    return str(x)


def needs(results: Mapping[str, ResultsLike], names: Sequence[str]) -> list[ResultsLike]:
    """The results of the sweeps ``names``; a ``KeyError`` naming the missing ones."""
    missing = [n for n in names if n not in results]
    if missing:
        raise KeyError(f"verdicts need the results of {missing}; got {sorted(results)}")
    return [results[n] for n in names]
