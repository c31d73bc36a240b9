"""``promptlimits reproduce``: every registered experiment, its figures, and a report.

Runs each experiment of :data:`promptlimits.experiments.EXPERIMENTS` through the
sweep engine into ``OUT/results`` (so an interrupted run continues with
``--resume`` and recomputes only unfinished points), draws each experiment's
figures from the saved results into ``OUT/figures`` (PNG and PDF, byte-identical
across runs), and writes ``OUT/report.md`` (:mod:`promptlimits.experiments.report`):
every experiment's verdicts, the timing, and the table of ``python -m proofs_check``.

Scales: ``quick`` (default, minutes on 2 cores), ``full`` (a workstation or a
Dask cluster via ``--scheduler``), and ``tiny`` (seconds; for the smoke test).
"""

from __future__ import annotations

import time
from pathlib import Path

from .._io import atomic_write_text
from ..experiments import EXPERIMENTS
from ..experiments._settings import DEFAULT_SCALE
from ..sweep import read_results, run_sweep
from ._options import probe_output_folder
from ._running import add_running_options, add_scale_option, checked_sweep, sweep_kwargs


def register(subparsers) -> None:
    p = subparsers.add_parser("reproduce", help="run every experiment, draw the figures, write a report",
                              description="run every registered experiment, draw its figures, write a report")
    add_scale_option(p)
    add_running_options(p, out_default="results")
    p.set_defaults(func=run)


def _timed(seconds: dict, step: str, fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    seconds[step] = time.perf_counter() - t0
    return out


def build_sweeps(args) -> list:
    """Every registered experiment's sweep, each point checked: all before any runs."""
    return [(e, checked_sweep(e, **sweep_kwargs(args))) for e in EXPERIMENTS]


def run_experiments(args, sweeps: list, results: Path, seconds: dict) -> None:
    """Run the sweeps in order into ``results`` (the folder is made when the first point is saved)."""
    scale = args.scale or DEFAULT_SCALE
    for i, (exp, sweep) in enumerate(sweeps, 1):
        print(f"[{i}/{len(sweeps)}] {exp.name}: {exp.description}", flush=True)
        _timed(seconds, exp.name, run_sweep, sweep, results, workers=args.workers, scheduler=args.scheduler,
               resume=args.resume, progress=not args.no_progress, extra_meta={"reproduce_scale": scale})


def draw_figures(results: Path, figdir: Path) -> list[Path]:
    """Every registered experiment's figures, from its saved results."""
    import figures

    written = []
    for exp in EXPERIMENTS:
        for stem in exp.figures:
            written += figures.draw(stem, results / f"{exp.name}.csv", figdir)
    return written


def collect_verdicts(results: Path) -> list:
    """Every experiment's verdicts, in registry order, each given every experiment's results."""
    res = {e.name: read_results(results, name=e.name) for e in EXPERIMENTS}
    return [v for e in EXPERIMENTS for v in e.module.verdicts(res)]


def run(args) -> int:
    from proofs_check import all_passed, run_all

    from ..experiments.report import render

    out = probe_output_folder(args.out, "--out")
    sweeps = build_sweeps(args)
    results, figdir = out / "results", out / "figures"
    seconds: dict[str, float] = {}
    t_all = time.perf_counter()
    run_experiments(args, sweeps, results, seconds)
    written = _timed(seconds, "figures", draw_figures, results, figdir)
    print("proofs_check ...", flush=True)
    proofs = _timed(seconds, "proofs_check", run_all)
    seconds["total"] = time.perf_counter() - t_all
    atomic_write_text(out / "report.md", render(args.scale or DEFAULT_SCALE, collect_verdicts(results), seconds,
                                                proofs))
    print(f"wrote {len(written)} figure files under {figdir} and {out / 'report.md'} "
          f"in {seconds['total']:.0f} s")
    return 0 if all_passed(proofs) else 1
