"""``promptlimits sweep NAME [options]``: run one experiment's sweep, checkpointed and resumable.

One subcommand per registered experiment (:data:`promptlimits.experiments.EXPERIMENTS`),
with ``--scale``, ``--set KEY=VALUE`` and the options the experiment declares,
plus ``run --config FILE.toml`` for any :class:`promptlimits.sweep.SweepDef`.
Results go to ``--out DIR`` as ``NAME.csv`` + ``NAME.json``; ``--resume``
continues an interrupted run. Every error (unknown sweep, bad option, empty
grid, bad value, unreachable scheduler) is one line, exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from ..experiments import EXPERIMENTS
from ._running import add_experiment_options, add_running_options, run_experiment, run_sweep_from_args


def add_experiment_parser(sub, exp, name: str | None = None, helptext: str | None = None) -> None:
    """A subcommand ``name`` (default ``exp.name``) running experiment ``exp``."""
    q = sub.add_parser(name or exp.name, help=helptext or exp.description, description=exp.description)
    add_experiment_options(q, exp)
    add_running_options(q, worker_timeout=True)
    q.set_defaults(func=run_experiment, experiment=exp.name)


def register(subparsers) -> None:
    p = subparsers.add_parser("sweep", help="run one experiment's parameter sweep (or one from a TOML file)",
                              description="run one experiment's sweep (or one from a TOML file), checkpointed and "
                                          "resumable")
    sub = p.add_subparsers(dest="sweep_name", metavar="NAME", required=True)
    for exp in EXPERIMENTS:
        add_experiment_parser(sub, exp)
    r = sub.add_parser("run", help="run a sweep defined in a TOML file", description=CONFIG_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--config", required=True, metavar="FILE.toml", help="TOML file defining the sweep (see above)")
    add_running_options(r, worker_timeout=True)
    r.set_defaults(func=run_config)


CONFIG_HELP = """\
run a sweep defined in a TOML file, checkpointed and resumable.

A sweep file holds (promptlimits.sweep.SweepDef):
  name = "..."         required: the file names NAME.csv, NAME.json (letters, digits, - and _)
  point = "mod:fn"     required: the point function fn(params, seed) -> row(s)
  check = "mod:fn"     optional: validates every point before any work
                       (default: the point module's check_point, as every experiment has)
  summary = "mod:fn"   optional: rows -> summary stored in NAME.json and printed
  seed = 0             optional: base seed (integer >= 0; --seed replaces it)
  repeats = 1          optional: copies of each point, each with its own seed
  description = "..."  optional: free text
  [grid]               parameter = [values]: the Cartesian product (first key slowest)
  [fixed]              parameter = value (one value, not a list): added to every point
  [[points]]           optional explicit points, run before the grid's

example (examples/sweeps/phase.toml holds a commented one):
  name = "phase_custom"
  point = "promptlimits.experiments.phase:phase_point"
  summary = "promptlimits.experiments.phase:summarize"
  [grid]
  log2_n = [8.0, 12.0, 16.0]
  c = [0.5, 1.0]
  kappa = [0.1, 0.2, 0.3]      # a list of kappas: one point per value
  [fixed]
  regime = "log"
  d_fixed = 0
  beyond = false
  eps_exponent = 1.0
  eps = 1e-6
  kind = "auto"
  logit_scale = 1.0            # optional: R = logit_scale B^2 (1: exp(QK^T/d))

The phase kappa grid may instead be a step: kappa_step = 0.1 and kappa_max = 0.5
in [fixed] (kappa = 0.1, 0.2, ..., 0.5, one point per n); giving both is refused.
An unknown key, a value of the wrong type or a bad point is refused before any work."""


def run_config(args) -> int:
    """``promptlimits sweep run --config FILE.toml``; ``--seed`` replaces the file's seed."""
    from ..sweep import load_sweep
    from ..sweep.definition import resolve

    if not Path(args.config).is_file():
        raise ValueError(f"--config {args.config}: no such file")
    sweep = load_sweep(args.config)
    if args.seed is not None:
        sweep = dataclasses.replace(sweep, seed=args.seed)
    res = run_sweep_from_args(sweep, args, command=getattr(args, "argv", None))
    summary = res.meta.get("summary")
    if summary:
        module = sweep.summary.partition(":")[0]
        try:
            lines = resolve(f"{module}:summary_lines")
        except ValueError:  # no summary_lines beside the summary: the summary as JSON
            lines = None
        print("\n".join(lines(summary)) if lines else json.dumps(summary, indent=1, sort_keys=True, default=str))
    return 0
