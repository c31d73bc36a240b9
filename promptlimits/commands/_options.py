"""Checked command-line options: a bad value is refused while the command line is read.

- :class:`Checked` (through :func:`checked`): an argparse action that passes the
  value (or each value of a list) to a check of :mod:`promptlimits._checks`,
  called with the option's flag as the name, so the one-line error of
  :mod:`promptlimits.cli` says e.g. ``--lr must be finite and > 0, got -1.0``
  before any work starts. Defaults are not checked (they are valid).
- The checks used by the commands: :data:`COUNT` (integer >= 1),
  :data:`NATURAL` (integer >= 0: seeds, step counts), :data:`POSITIVE`,
  :data:`NONNEGATIVE`, :data:`FRACTION` (in ``(0, 1)``), :data:`FINITE` (any sign).
- :func:`probe_output_file`, :func:`probe_output_folder`: an output file's
  folder (or an output folder's nearest existing ancestor) accepts a new file,
  tried with a real temporary file (removed at once), before any work;
  :func:`check_resume_folder`: ``--resume`` needs an existing folder.
- :func:`name_option`: a library message about a setting, made to name the
  option that set it.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from .._checks import check_finite, check_open_interval, check_positive_float, check_positive_int
from .._io import probe_folder, probe_new_file
from ..cli import CommandLineError

COUNT = check_positive_int
NATURAL = partial(check_positive_int, minimum=0)
POSITIVE = check_positive_float
NONNEGATIVE = partial(check_positive_float, allow_zero=True)
FRACTION = partial(check_open_interval, low=0.0, high=1.0)
FINITE = check_finite


class Checked(argparse.Action):
    """Store ``check(value, flag)`` (each element for a list); a refusal is a :class:`CommandLineError`."""

    def __init__(self, option_strings, dest, *, check, **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.check = check

    def __call__(self, parser, namespace, values, option_string=None):
        flag = option_string or self.dest
        try:
            value = [self.check(v, flag) for v in values] if isinstance(values, list) else self.check(values, flag)
        except (ValueError, TypeError) as exc:
            raise CommandLineError(parser.prog, str(exc)) from None
        setattr(namespace, self.dest, value)


class Replaced(argparse.Action):
    """An option that no longer exists: using it is a one-line error saying what replaced it."""

    def __init__(self, option_strings, dest, *, instead: str, **kwargs):
        super().__init__(option_strings, dest, nargs="?", help=argparse.SUPPRESS, **kwargs)
        self.instead = instead

    def __call__(self, parser, namespace, values, option_string=None):
        raise CommandLineError(parser.prog, f"{option_string} was replaced: {self.instead}")


def checked(check) -> dict:
    """``add_argument`` keywords for a checked option: ``add_argument("--lr", type=float, **checked(POSITIVE))``."""
    return {"action": Checked, "check": check}


def probe_output_file(path, flag: str) -> Path:
    """Refuse an output file that cannot be written, naming ``flag`` and the user's ``path``.

    The folder must exist and accept a new file (tried with an unnamed
    temporary file, gone when closed, so nothing is left behind; a root user
    passes ``os.access`` checks but not this one on a read-only or virtual
    file system such as ``/proc``).
    """
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{flag} {path} is a folder; give a file name")
    if not p.parent.is_dir():
        raise ValueError(f"{flag} {path}: folder {p.parent} does not exist")
    probe_new_file(p.parent, f"{flag} {path}")
    return p


def probe_output_folder(path, flag: str) -> Path:
    """Refuse an output folder that cannot be made or written, before any work; nothing is created."""
    return probe_folder(path, f"{flag} {path}")


def check_resume_folder(path, resume: bool, flag: str = "--out") -> Path:
    """With ``--resume``, refuse an output folder that does not exist (there is nothing to resume)."""
    if resume and not Path(path).is_dir():
        raise ValueError(f"--resume: {flag} {path} is not an existing folder; nothing to resume "
                         "(leave out --resume to start a new run)")
    return Path(path)


def name_option(message: str, flags: dict, *, keep_key: bool = False) -> str:
    """A library message that starts with a setting's name, made to name its command-line option.

    ``flags`` maps setting names to flags. ``"max_Lp must be >= 1, got 0"``
    becomes ``"--max-Lp must be >= 1, got 0"``, or with ``keep_key`` (the
    setting may also come from ``--set``) ``"max_Lp must be >= 1, got 0
    (option --max-Lp)"``; other messages are returned unchanged.
    """
    first, _, rest = message.partition(" ")
    flag = flags.get(first)
    if flag is None or not rest:
        return message
    return f"{message} (option {flag})" if keep_key else f"{flag} {rest}"

