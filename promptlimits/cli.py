"""The ``promptlimits`` command line.

Each subcommand lives in its own module under :mod:`promptlimits.commands` and
exposes ``register(subparsers)``. User errors (bad options, bad input files,
unreachable schedulers) print one line and exit with status 2; set
``PROMPTLIMITS_DEBUG=1`` to see the traceback instead.

Every option is checked before any work: numeric values when the command line
is read (:mod:`promptlimits.commands._options`, naming the flag), output paths
and memory estimates before the first computation. A file-system error is
reported by its path and reason (no error numbers); running out of memory
anyway is reported in one line too.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ("reproduce", "tune", "sweep", "plot", "memorize", "bench")


class UserError(Exception):
    """An error caused by the user's input; reported as one line, exit 2."""


class CommandLineError(UserError):
    """A bad command line (unknown option, bad value, bad choice), raised by :class:`Parser`."""

    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """An argument parser (and, through ``add_subparsers``, every subparser) that raises
    :class:`CommandLineError` instead of printing the usage and exiting."""

    def error(self, message):
        raise CommandLineError(self.prog, message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="promptlimits",
        description="Simulator for the limits of prompt tuning and fast attention.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"promptlimits.commands.{name}").register(sub)
    return parser


def one_line(exc: BaseException) -> str:
    """The first line of an error's message, in command-line words (a path and a reason, not an errno)."""
    if isinstance(exc, MemoryError):
        return "ran out of memory; use smaller sizes"
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else "failed without a message"


def main(argv=None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser.parse_args(argv)
    except CommandLineError as exc:
        print(f"{exc.prog}: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    args.argv = ["promptlimits", *argv]
    try:
        result = args.func(args)
    except (UserError, ValueError, TypeError, OSError, MemoryError) as exc:
        if os.environ.get("PROMPTLIMITS_DEBUG"):
            raise
        print(f"promptlimits {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # a sweep's says what was saved and how to continue
        print(f"promptlimits {args.command}: interrupted" + (f": {exc}" if str(exc) else ""), file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
