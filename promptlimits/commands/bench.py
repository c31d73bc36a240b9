"""``promptlimits bench NAME``: benchmarks that print tables measured in one run.

Each benchmark is a module under :mod:`promptlimits.benchmarks` exposing
``add_arguments(parser)`` and ``run(args)``. Benchmarks are not tests.
"""

from __future__ import annotations

import importlib

#: benchmark name -> module under promptlimits.benchmarks
BENCHMARKS = {
    "tuning-step": "tuning_step",
    "attention": "attention",
    "certificate": "certificate",
    "walk": "walk",
}


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="run a benchmark and print its table")
    sub = p.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, module in BENCHMARKS.items():
        mod = importlib.import_module(f"promptlimits.benchmarks.{module}")
        bp = sub.add_parser(name, help=(mod.__doc__ or "").strip().splitlines()[0])
        mod.add_arguments(bp)
        bp.set_defaults(func=mod.run)
