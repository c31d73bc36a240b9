"""Checks of the benchmarks' command-line options shared by several benchmarks."""

from __future__ import annotations

from .._checks import check_positive_int


def check_sizes(args, minimums) -> None:
    """Each ``(flag, minimum)``: an integer option at least ``minimum``, named by its flag; ``--n-max >= --n-min``."""
    for flag, minimum in minimums:
        check_positive_int(getattr(args, flag[2:].replace("-", "_")), flag, minimum=minimum)
    if args.n_max < args.n_min:
        raise ValueError(f"--n-max must be >= --n-min, got {args.n_max} < {args.n_min}")
