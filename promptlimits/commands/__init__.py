"""Subcommands of the ``promptlimits`` CLI, one module each (see :mod:`promptlimits.cli`)."""
