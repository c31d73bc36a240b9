"""``promptlimits sweep NAME [options]``: run one experiment's sweep, checkpointed and resumable.

One subcommand per registered experiment (:data:`promptlimits.experiments.EXPERIMENTS`),
with ``--scale``, ``--set KEY=VALUE`` and the options the experiment declares,
plus ``run --config FILE.toml`` for any :class:`promptlimits.sweep.SweepDef`.
Results go to ``--out DIR`` as ``NAME.csv`` + ``NAME.json``; ``--resume``
continues an interrupted run. Every error (unknown sweep, bad option, empty
grid, bad value, unreachable scheduler) is one line, exit 2.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..experiments import EXPERIMENTS
from ._running import add_experiment_options, add_running_options, run_experiment, run_sweep_from_args


def add_experiment_parser(sub, exp, name: str | None = None, helptext: str | None = None) -> None:
    """A subcommand ``name`` (default ``exp.name``) running experiment ``exp``."""
    q = sub.add_parser(name or exp.name, help=helptext or exp.description, description=exp.description)
    add_experiment_options(q, exp)
    add_running_options(q)
    q.set_defaults(func=run_experiment, experiment=exp.name)


def register(subparsers) -> None:
    p = subparsers.add_parser("sweep", help="run one experiment's parameter sweep (or one from a TOML file)",
                              description="run one experiment's sweep (or one from a TOML file), checkpointed and "
                                          "resumable")
    sub = p.add_subparsers(dest="sweep_name", metavar="NAME", required=True)
    for exp in EXPERIMENTS:
        add_experiment_parser(sub, exp)
    r = sub.add_parser("run", help="run a sweep defined in a TOML file",
                       description="run a sweep defined in a TOML file (keys as in promptlimits.sweep.SweepDef)")
    r.add_argument("--config", required=True, metavar="FILE.toml", help="TOML file with the SweepDef")
    add_running_options(r)
    r.set_defaults(func=run_config)


def run_config(args) -> int:
    """``promptlimits sweep run --config FILE.toml``; ``--seed`` replaces the file's seed."""
    from ..sweep import load_sweep

    if not Path(args.config).is_file():
        raise ValueError(f"--config {args.config}: no such file")
    sweep = load_sweep(args.config)
    if args.seed is not None:
        sweep = dataclasses.replace(sweep, seed=args.seed)
    res = run_sweep_from_args(sweep, args, command=getattr(args, "argv", None))
    if res.meta.get("summary"):
        print(json.dumps(res.meta["summary"], indent=1, sort_keys=True, default=str))
    return 0
