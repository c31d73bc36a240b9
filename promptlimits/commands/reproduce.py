"""``promptlimits reproduce``: every registered experiment, its figures, and a report.

``--out DIR`` (default ``./run``) is the run's folder; nothing is nested twice:

- ``DIR/results``: each experiment of :data:`promptlimits.experiments.EXPERIMENTS`
  run through the sweep engine (so an interrupted run continues with
  ``--resume`` and recomputes only unfinished points; ``--resume`` on a
  folder that does not exist is refused);
- ``DIR/figures``: each experiment's figures drawn from the saved results (PNG
  and PDF, byte-identical across runs);
- ``DIR/report.md`` (:mod:`promptlimits.experiments.report`): provenance,
  every verdict, the timing, the table of ``python -m proofs_check``;
- ``DIR/verdicts.json``: the verdict table, machine-readable (claim, title,
  status, scale, seed) with the provenance and timing, written last.

``--compare OTHER`` adds which claims differ in status from the finished run
in folder ``OTHER`` (e.g. the quick run beside a full one). ``--check-stability K``
runs the scale K times with seeds ``seed, seed+1, ...`` into
``DIR/stability/seed-<s>/`` (results, report and verdict table; no figures
and no proofs_check, which do not depend on the seed; a finished run is
reused with ``--resume``) and writes ``DIR/stability.md``: per claim, how often
each status came out, and ``stable`` or ``FLIPS`` (:mod:`promptlimits.experiments.stability`).
Stability is reported, not enforced: the exit status is 0 when every run
completed.

Scales: ``quick`` (default, minutes on 2 cores), ``full`` (a workstation or a
Dask cluster via ``--scheduler``), and ``tiny`` (seconds; a smoke test, whose
statuses the report does not call verdicts).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import time
from pathlib import Path

from .._io import atomic_write_text
from ..experiments import EXPERIMENTS
from ..experiments._settings import DEFAULT_SCALE
from ..sweep import read_results, run_sweep
from ._options import COUNT, check_resume_folder, checked, probe_output_folder
from ._running import add_running_options, add_scale_option, checked_sweep, sweep_kwargs

#: The default run folder (holds results/, figures/, report.md, verdicts.json).
DEFAULT_OUT = "run"

#: The seed of every ``make_sweep`` when ``--seed`` is not given.
DEFAULT_SEED = 0


def register(subparsers) -> None:
    p = subparsers.add_parser("reproduce", help="run every experiment, draw the figures, write a report",
                              description="run every registered experiment, draw its figures, write a report "
                                          "into the run folder --out (results/, figures/, report.md, "
                                          "verdicts.json)")
    add_scale_option(p)
    add_running_options(p, out_default=DEFAULT_OUT, worker_timeout=True)
    g = p.add_argument_group("stability and comparison")
    g.add_argument("--check-stability", type=int, default=None, metavar="K", **checked(COUNT),
                   help="run the scale K times with seeds seed..seed+K-1 into OUT/stability/seed-<s>/ and write "
                        "OUT/stability.md: each claim's statuses, stable or FLIPS")
    g.add_argument("--compare", default=None, metavar="OTHER_DIR",
                   help="also say which claims differ in status from the finished run in OTHER_DIR")
    p.set_defaults(func=run)


def _timed(seconds: dict, step: str, fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    seconds[step] = time.perf_counter() - t0
    return out


def build_sweeps(args) -> list:
    """Every registered experiment's sweep, each point checked: all before any runs."""
    return [(e, checked_sweep(e, **sweep_kwargs(args))) for e in EXPERIMENTS]


def run_experiments(args, sweeps: list, results: Path, seconds: dict, *, resume: bool | None = None) -> None:
    """Run the sweeps in order into ``results`` (the folder is made when the first point is saved)."""
    scale = args.scale or DEFAULT_SCALE
    resume = args.resume if resume is None else resume
    for i, (exp, sweep) in enumerate(sweeps, 1):
        print(f"[{i}/{len(sweeps)}] {exp.name}: {exp.description}", flush=True)
        _timed(seconds, exp.name, run_sweep, sweep, results, workers=args.workers, scheduler=args.scheduler,
               resume=resume, progress=not args.no_progress, extra_meta={"reproduce_scale": scale},
               no_worker_timeout=getattr(args, "no_worker_timeout", None))


def draw_figures(results: Path, figdir: Path) -> list[Path]:
    """Every registered experiment's figures, from its saved results."""
    from .. import figures

    written = []
    for exp in EXPERIMENTS:
        for stem in exp.figures:
            written += figures.draw(stem, results / f"{exp.name}.csv", figdir)
    return written


def _run_proofs():
    from proofs_check import run_all

    return run_all()


def figures_and_proofs(results: Path, figdir: Path, seconds: dict) -> tuple[list[Path], list]:
    """The figures (here) and ``proofs_check`` (in a second process) side by side: neither reads what the
    other writes, and each takes one core for about as long. Their times go into ``seconds`` from the same
    start, so the run's total is less than the sum of its steps."""
    ctx = multiprocessing.get_context("spawn")
    t0 = time.perf_counter()
    with cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as ex:
        proofs = ex.submit(_run_proofs)
        written = _timed(seconds, "figures", draw_figures, results, figdir)
        print("proofs_check ...", flush=True)
        proofs = proofs.result()
        seconds["proofs_check"] = time.perf_counter() - t0
    return written, proofs


def collect_verdicts(results: Path) -> list:
    """Every experiment's verdicts, in registry order, each given every experiment's results."""
    res = {e.name: read_results(results, name=e.name) for e in EXPERIMENTS}
    return [v for e in EXPERIMENTS for v in e.module.verdicts(res)]


def reproduce_once(args, out: Path, *, seed: int, resume: bool, full: bool = True,
                   other: tuple[str, dict] | None = None) -> tuple[dict, int]:
    """One run into the folder ``out``: results, (figures,) verdicts, report.md, verdicts.json.

    ``full``: also draw the figures and run ``proofs_check`` (a stability run
    does neither). ``other``: ``(folder, verdicts.json)`` of a run to compare
    with. Returns the verdict document and the exit status (1 if a
    ``proofs_check`` entry fails).
    """
    from ..experiments.provenance import commit_info, provenance
    from ..experiments.report import render, verdicts_document, write_verdicts
    from ..experiments.stability import compare

    scale = args.scale or DEFAULT_SCALE
    args.seed = seed
    started = commit_info()  # the code that computes the numbers, whatever the checkout holds at the end
    sweeps = build_sweeps(args)
    results, figdir = out / "results", out / "figures"
    seconds: dict[str, float] = {}
    t_all = time.perf_counter()
    run_experiments(args, sweeps, results, seconds, resume=resume)
    written, proofs, passed = [], None, True
    if full:
        from proofs_check import all_passed

        written, proofs = figures_and_proofs(results, figdir, seconds)
        passed = all_passed(proofs)
    verdicts = _timed(seconds, "verdicts", collect_verdicts, results)
    seconds["total"] = time.perf_counter() - t_all
    prov = provenance(started=started)
    comparison = None
    if other is not None:
        comparison = (other[0], compare(verdicts, other[1]))
    atomic_write_text(out / "report.md", render(scale, verdicts, seconds, proofs, seed=seed, provenance=prov,
                                                figures=full, comparison=comparison))
    proofs_text = "not run" if proofs is None else ("every check holds" if passed else "some checks fail")
    doc = verdicts_document(verdicts, scale=scale, seed=seed, provenance=prov, seconds=seconds,
                            proofs_check=proofs_text)
    write_verdicts(out, doc)
    figs = f"{len(written)} figure files under {figdir}, " if full else ""
    print(f"wrote {figs}{out / 'report.md'} and {out / 'verdicts.json'} in {seconds['total']:.0f} s")
    if comparison is not None:
        differ = comparison[1]
        print(f"compared with {other[0]}: " + ("every claim has the same status" if not differ else
              "; ".join(f"{d.claim_id}: {d.status_a} here, {d.status_b} there" for d in differ)))
    return doc, 0 if passed else 1


def _reusable(folder: Path, scale: str, seed: int) -> dict | None:
    """The verdict table of a finished stability run in ``folder``, or None if it did not finish."""
    from ..experiments.report import VERDICTS_FILE, read_verdicts

    if not (folder / VERDICTS_FILE).is_file():
        return None
    doc = read_verdicts(folder)
    if doc.get("scale") != scale or doc.get("seed") != seed:
        raise ValueError(f"{folder} holds a run at scale {doc.get('scale')}, seed {doc.get('seed')}, not scale "
                         f"{scale}, seed {seed}; choose another --out")
    return doc


def check_stability(args, out: Path) -> int:
    """``--check-stability K``: K runs with seeds ``seed..seed+K-1``, tallied into ``OUT/stability.md``."""
    from ..experiments.provenance import provenance
    from ..experiments.report import is_smoke, render_stability
    from ..experiments.stability import tally

    scale, k = args.scale or DEFAULT_SCALE, args.check_stability
    base = DEFAULT_SEED if args.seed is None else args.seed
    folder = out / "stability"
    if not args.resume and (folder.exists() or (out / "stability.md").exists()):
        raise ValueError(f"--out {out} already holds a stability check: resume it (--resume) or choose another "
                         "--out")
    docs, folders = [], []
    for i, seed in enumerate(range(base, base + k), 1):
        sub = folder / f"seed-{seed}"
        print(f"== stability run {i}/{k}: seed {seed} -> {sub}", flush=True)
        doc = _reusable(sub, scale, seed) if args.resume else None
        if doc is not None:
            print(f"finished earlier: reusing {sub / 'verdicts.json'}")
        else:
            doc, _ = reproduce_once(args, sub, seed=seed, resume=sub.is_dir(), full=False)
        docs.append(doc)
        folders.append(str(sub.relative_to(out)))
    t = tally(docs)
    atomic_write_text(out / "stability.md", render_stability(t, docs, scale=scale, folders=folders,
                                                             provenance=provenance()))
    smoke = " (a smoke test: statuses, not verdicts)" if is_smoke(scale) else ""
    print(f"stability at scale {scale}{smoke}, seeds {base}..{base + k - 1}: {t.summary()}")
    print("\n".join(t.text()))
    print(f"wrote {out / 'stability.md'}")
    return 0


def run(args) -> int:
    from ..experiments.report import read_verdicts

    out = probe_output_folder(args.out, "--out")
    check_resume_folder(out, args.resume)
    if args.no_worker_timeout is not None and args.scheduler is None:
        raise ValueError("--no-worker-timeout applies to Dask workers only: give --scheduler too")
    if args.check_stability is not None:
        if args.compare is not None:
            raise ValueError("--compare and --check-stability cannot be combined; run them separately")
        return check_stability(args, out)
    other = None
    if args.compare is not None:
        other = (args.compare, read_verdicts(args.compare, "--compare"))
    seed = DEFAULT_SEED if args.seed is None else args.seed
    return reproduce_once(args, out, seed=seed, resume=args.resume, other=other)[1]
