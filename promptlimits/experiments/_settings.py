"""One way to state an experiment's settings: a table per scale, checked overrides, option declarations.

Every experiment module holds ``SETTINGS = scale_table(common, tiny=..., quick=..., full=...)``:
the complete settings (grids and budgets) at each scale of :data:`SCALES`.
``make_sweep(scale, *, seed, **overrides)`` calls :func:`resolve`, which refuses an
unknown scale or an unknown override key (naming the allowed ones), so a misspelt
setting never silently keeps its default. Defaults live only in these tables.

``OPTIONS`` (a tuple of :class:`Option`) declares the command-line options of
``promptlimits sweep NAME``: each maps onto one override key. The command line
turns them into argparse options (:mod:`promptlimits.commands.sweep`); nothing
here imports argparse.

A grid option takes a list (``nargs="+"``, e.g. ``--kappa 0.1 0.2 0.3``). Where a
grid also has a step form (the phase experiment's ``kappa_step`` and
``kappa_max`` beside its list ``kappas``), the list setting defaults to ``None``
(the step form acts) and ``make_sweep`` refuses the list together with a step
setting, naming both; a setting at its default that changes nothing is left
out of the sweep's definition, so existing runs keep their definition hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptlimits._checks import check_choice

__all__ = ["SCALES", "DEFAULT_SCALE", "Option", "scale_table", "resolve"]

#: The scales of every experiment: seconds (tests), minutes on 2 cores, a workstation.
SCALES = ("tiny", "quick", "full")

#: The scale ``make_sweep`` and ``promptlimits reproduce`` use when none is given.
DEFAULT_SCALE = "quick"


@dataclass(frozen=True)
class Option:
    """One command-line option of an experiment, mapped onto the override ``key``.

    ``type`` is ``int``, ``float``, ``str`` or ``bool`` (a flag that sets the key
    to ``True``); ``nargs`` as in argparse (``"+"``, ``"*"`` or ``None``; a grid
    takes ``"+"``); ``choices`` lists the allowed values of an enumerated option.
    """

    flag: str
    key: str
    type: type = str
    nargs: str | None = None
    choices: tuple | None = None
    help: str = ""


def scale_table(common: Mapping[str, Any], **per_scale: Mapping[str, Any]) -> dict[str, dict]:
    """``{scale: {**common, **per_scale[scale]}}`` for every scale of :data:`SCALES`.

    Every scale must be given (possibly as an empty mapping), and each must
    end with the same keys, so an override is allowed at one scale exactly
    when it is allowed at every scale.
    """
    if set(per_scale) != set(SCALES):
        raise ValueError(f"scale_table needs exactly the scales {SCALES}, got {tuple(per_scale)}")
    table = {scale: {**common, **per_scale[scale]} for scale in SCALES}
    keys = {scale: set(t) for scale, t in table.items()}
    if any(k != keys[SCALES[0]] for k in keys.values()):
        raise ValueError(f"every scale must set the same keys, got {keys}")
    return table


def resolve(table: Mapping[str, Mapping[str, Any]], scale: str, overrides: Mapping[str, Any]) -> dict:
    """The settings at ``scale`` with ``overrides`` applied.

    Raises
    ------
    ValueError
        An unknown scale, or override keys the table does not hold (the
        message lists the allowed keys).
    """
    check_choice(scale, "scale", SCALES)
    settings = dict(table[scale])
    unknown = sorted(set(overrides) - set(settings))
    if unknown:
        raise ValueError(f"unknown overrides {unknown}; allowed: {', '.join(sorted(settings))}")
    settings.update(overrides)
    return settings
