"""``promptlimits sweep NAME [options]``: run a sweep, checkpointed and resumable.

Sweeps: ``phase`` (DESIGN section 4), ``hardness`` (section 5),
``prompt-norm`` (sections 2, 4; needs the model and tuning modules) and
``run`` (any :class:`promptlimits.sweep.SweepDef` from a TOML file given with
``--config``). Results go to ``--out DIR`` as ``NAME.csv`` + ``NAME.json``;
``--resume`` continues an interrupted run. Every error (unknown sweep, bad
option, empty grid, bad value, unreachable scheduler) is one line, exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time

SWEEPS = ("phase", "hardness", "prompt-norm", "run")


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises ``ValueError`` (one line, exit 2 via cli.main)."""

    def error(self, message):
        raise ValueError(message)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep", help="run a parameter sweep (phase, hardness, prompt-norm, run)",
        description=__doc__.strip().splitlines()[0],
        epilog=f"sweeps: {', '.join(SWEEPS)}; see 'promptlimits sweep NAME --help'",
    )
    p.add_argument("name", metavar="NAME", help=f"one of {', '.join(SWEEPS)}")
    p.add_argument("args", nargs=argparse.REMAINDER, help="options of that sweep")
    p.set_defaults(func=run)


def _common(p) -> None:
    g = p.add_argument_group("running")
    g.add_argument("--out", required=True, help="results directory (NAME.csv, NAME.json, journal)")
    g.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    g.add_argument("--workers", type=int, default=None,
                   help="processes (default: one per CPU; 0 or 1: in this process)")
    g.add_argument("--scheduler", default=None, help="Dask scheduler address tcp://HOST:PORT")
    g.add_argument("--seed", type=int, default=0, help="base seed of the sweep")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def _phase_parser() -> argparse.ArgumentParser:
    from promptlimits.experiments.phase import DEFAULT_B, DEFAULT_N

    p = _Parser(prog="promptlimits sweep phase",
                description="efficiency phase transition over (n, B) (DESIGN section 4)")
    p.add_argument("--n", type=int, nargs="+", default=list(DEFAULT_N), help="sequence lengths")
    p.add_argument("--B", type=float, nargs="+", default=list(DEFAULT_B), help="norm bounds B")
    p.add_argument("--d", type=int, nargs="*", default=[4], help="fixed head sizes (regime 'fixed')")
    p.add_argument("--c", type=float, nargs="*", default=[1.0], help="d = ceil(c log2 n) (regime 'log')")
    p.add_argument("--regimes", nargs="+", default=["fixed", "log"], choices=["fixed", "log"])
    p.add_argument("--eps", type=float, default=1e-6, help="attention error target")
    p.add_argument("--eps-exponent", type=float, default=0.0, help="a > 0: eps = n^-a")
    p.add_argument("--kind", default="auto", choices=["auto", "chebyshev", "shifted_taylor", "taylor"])
    p.add_argument("--measure", action="store_true", help="also time exact and polynomial attention")
    p.add_argument("--measure-B", type=float, nargs="+", default=None,
                   help="B values to measure (nearest grid values; default: all)")
    p.add_argument("--measure-max-n", type=int, default=2048)
    p.add_argument("--measure-max-rank", type=int, default=5000)
    p.add_argument("--timing-repeats", type=int, default=3)
    _common(p)
    return p


def _hardness_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="promptlimits sweep hardness",
                description="planted Hamming instances decided by attention (DESIGN section 5)")
    p.add_argument("--n", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--kappa", type=float, nargs="+", default=None,
                   help="lambda / sqrt(ln n) values (default 0.25..4, 16 values)")
    p.add_argument("--instances", type=int, default=20, help="instances per point (half planted)")
    p.add_argument("--budget", default="n", help="rank budget: 'n', 'n^p' or an integer")
    p.add_argument("--c-m", type=float, default=3.0, help="m = ceil(c_m log2 n)")
    _common(p)
    return p


def _run_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="promptlimits sweep run", description="run a sweep defined in a TOML file")
    p.add_argument("--config", required=True, help="TOML file with the SweepDef")
    _common(p)
    return p


def _prompt_norm_parser() -> argparse.ArgumentParser:
    mod = importlib.import_module("promptlimits.experiments.prompt_norm")
    p = _Parser(prog="promptlimits sweep prompt-norm",
                description="prompt-induced norm B(P, X) against the frontier (DESIGN sections 2, 4)")
    mod.add_arguments(p)
    _common(p)
    return p


def _definition(name, a):
    if name == "phase":
        from promptlimits.experiments.phase import make_sweep

        for n in a.n:
            if n < 2:
                raise ValueError(f"n must be >= 2, got {n}")
        for B in a.B:
            if not B > 0:
                raise ValueError(f"B must be > 0, got {B}")
        return make_sweep(a.n, a.B, d_fixed=a.d, c=a.c, regimes=a.regimes, eps=a.eps,
                          eps_exponent=a.eps_exponent, kind=a.kind, measure=a.measure,
                          measure_B=a.measure_B, measure_max_n=a.measure_max_n,
                          measure_max_rank=a.measure_max_rank, timing_repeats=a.timing_repeats, seed=a.seed)
    if name == "hardness":
        from promptlimits.experiments.hardness import make_sweep

        return make_sweep(a.n, a.kappa, n_instances=a.instances, budget=a.budget, c_m=a.c_m, seed=a.seed)
    if name == "prompt-norm":
        mod = importlib.import_module("promptlimits.experiments.prompt_norm")
        return mod.make_sweep_from_args(a)
    from promptlimits.sweep import load_sweep

    return load_sweep(a.config)


def run(args) -> int:
    from promptlimits.sweep import run_sweep

    name = args.name
    if name not in SWEEPS:
        raise ValueError(f"unknown sweep {name!r}; expected one of {', '.join(SWEEPS)}")
    parser = {"phase": _phase_parser, "hardness": _hardness_parser, "run": _run_parser,
              "prompt-norm": _prompt_norm_parser}[name]()
    a = parser.parse_args(args.args)
    sweep = _definition(name, a)
    t0 = time.perf_counter()
    res = run_sweep(sweep, a.out, workers=a.workers, scheduler=a.scheduler, resume=a.resume,
                    progress=not a.no_progress,
                    extra_meta={"command": ["promptlimits", "sweep", name, *args.args]})
    wall = time.perf_counter() - t0
    print(f"{sweep.name}: {res.meta['n_points']} points, {len(res.rows)} rows -> {res.csv_path} "
          f"({wall:.1f} s)")
    summary = res.meta.get("summary")
    if name == "phase" and summary:
        _print_phase(summary)
    elif summary:
        print(json.dumps(summary, indent=1))
    sys.stdout.flush()
    return 0


def _fmt(x, spec=".3f"):
    return "-" if x is None else format(x, spec)


def _print_phase(s) -> None:
    print("frontier B*(n) (largest B with r*/n < 1, interpolated):")
    for f in s["frontier"]:
        print(f"  {f['curve']:<34} n={f['n']:>7} d={f['d']:>3}  B*={_fmt(f['B_star'])} ({f['status']})"
              f"  width(0.1..10)/B*={_fmt(f['relative_width'], '.2f')}")
    for label, fit in s["fit"].items():
        print(f"fit {label}: B*(n) = {_fmt(fit['a'])} sqrt(ln n) + {_fmt(fit['b'])}, "
              f"R^2 = {_fmt(fit['r2'], '.4f')} ({fit['n_points']} n values)")
    for f in s.get("frontier_measured", []):
        print(f"  measured {f['curve']:<25} n={f['n']:>7}  B*={_fmt(f['B_star'])} ({f['status']})")
    for label, fit in s.get("fit_measured", {}).items():
        print(f"fit (measured) {label}: a={_fmt(fit['a'])} b={_fmt(fit['b'])} R^2={_fmt(fit['r2'], '.4f')}")
