"""What every sweep-like command shares: the running options, ``--scale``/``--set``, generated options.

- :func:`add_running_options`: ``--out``, ``--workers``, ``--resume``,
  ``--scheduler``, ``--seed``, ``--no-progress``.
- :func:`add_experiment_options`: ``--scale``, ``--set KEY=VALUE`` (repeatable;
  the value is a TOML literal such as ``256``, ``1e-6``, ``true``,
  ``[256, 1024]`` or ``"text"``, and a bare word is a string) and the options an
  experiment declares in its ``OPTIONS`` (:class:`~promptlimits.experiments._settings.Option`).
  No option has a default of its own: an option not given leaves the setting
  of ``make_sweep`` at the chosen scale.
- :func:`run_experiment`: build the sweep from those options, check every
  point (a refusal names the option that set the bad value), and run it.

Every numeric option is checked when the command line is read (``--seed`` >= 0,
``--workers`` >= 0 and within the machine's memory, an experiment's float
options finite); ranges are the experiment's ``check_point``, run on every
point before any work, and ``--out`` is probed before the sweep starts.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import time
import tomllib

from .._checks import check_memory
from ..experiments import Experiment, experiment
from ..experiments._settings import DEFAULT_SCALE, SCALES
from ._options import FINITE, NATURAL, POSITIVE, check_resume_folder, checked, name_option, probe_output_folder

_BARE_WORD = re.compile(r"[A-Za-z0-9_.^+\-/]+")
_PREFIX = "setting_"

#: About the memory of one worker process (a spawned Python with NumPy, SciPy and Numba: 300-400 MB measured).
WORKER_BYTES = 400 * 10**6


def _workers(value, flag: str) -> int:
    """``--workers``: an integer >= 0 whose processes fit in the machine's memory."""
    workers = NATURAL(value, flag)
    check_memory(workers * WORKER_BYTES, f"{flag} {workers} (about {WORKER_BYTES / 1e9:.1f} GB per worker process)")
    return workers


def add_running_options(p, *, out_default: str | None = None, worker_timeout: bool = False) -> None:
    """The running options; ``--out`` is required unless ``out_default`` is given; ``worker_timeout`` adds
    ``--no-worker-timeout`` (for commands that pass it on to :func:`run_sweep_from_args`)."""
    g = p.add_argument_group("running")
    if out_default is None:
        g.add_argument("--out", required=True, help="results directory (NAME.csv, NAME.json, journal)")
    else:
        g.add_argument("--out", default=out_default, help=f"output folder (default ./{out_default})")
    g.add_argument("--workers", type=int, default=None, **checked(_workers),
                   help="processes (default: one per CPU; 0 or 1: in this process)")
    g.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    g.add_argument("--scheduler", default=None, metavar="ADDR", help="Dask scheduler address tcp://HOST:PORT")
    if worker_timeout:
        g.add_argument("--no-worker-timeout", type=float, default=None, metavar="SECONDS", **checked(POSITIVE),
                       help="with --scheduler: give up after SECONDS with no live Dask worker (default: keep "
                            "waiting, saying so after 30 s)")
    g.add_argument("--seed", type=int, default=None, **checked(NATURAL),
                   help="base seed of the sweeps (default: make_sweep's)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def _run_size(logit_option: str | None):
    """The check of ``--scale`` (a run size of :data:`SCALES`); a number is answered with ``logit_option``."""
    def check(value, flag: str) -> str:
        if value in SCALES:
            return value
        hint = ""
        if logit_option:
            try:
                float(value)
                hint = f": {flag} is the size of the run; the logit multiplier is {logit_option}"
            except ValueError:
                pass
        raise ValueError(f"{flag}: invalid choice: {value!r} (choose from {', '.join(SCALES)}){hint}")
    return check


def add_scale_option(p, *, logit_option: str | None = None) -> None:
    """``--scale tiny|quick|full``, the size of the run (never a logit multiplier: that is ``logit_option``)."""
    p.add_argument("--scale", default=None, metavar="{" + ",".join(SCALES) + "}", **checked(_run_size(logit_option)),
                   help=f"size of the run: its grids and budgets (default {DEFAULT_SCALE})"
                        + (f"; the logit multiplier is {logit_option}" if logit_option else ""))


def _shown(value) -> str:
    if value is None:
        return "not set"
    text = " ".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def add_experiment_options(p, exp: Experiment) -> None:
    """``--scale``, ``--set`` and the options declared by ``exp``'s module."""
    mod = exp.module
    g = p.add_argument_group(f"{exp.name} settings (an option not given keeps the scale's value)")
    add_scale_option(g, logit_option=next((o.flag for o in mod.OPTIONS if o.key == "logit_scale"), None))
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="set_values",
                   help=f"override a setting (TOML value; repeatable); keys: {', '.join(mod.SETTINGS[DEFAULT_SCALE])}")
    for opt in mod.OPTIONS:
        helptext = f"{opt.help} ({DEFAULT_SCALE}: {_shown(mod.SETTINGS[DEFAULT_SCALE][opt.key])})"
        kw = {"dest": _PREFIX + opt.key, "default": argparse.SUPPRESS, "help": helptext}
        if opt.type is bool:
            kw.update(action="store_const", const=True)
        else:
            kw.update(type=opt.type, nargs=opt.nargs, choices=opt.choices)
            if opt.type is float:
                kw.update(checked(FINITE))
            if opt.choices is None:
                kw["metavar"] = opt.flag.lstrip("-").upper().replace("-", "_")
        g.add_argument(opt.flag, **kw)


def parse_set(text: str) -> tuple[str, object]:
    """``"KEY=VALUE"`` -> ``(KEY, value)``, the value read as a TOML literal or else as a bare word."""
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key.isidentifier():
        raise ValueError(f"--set expects KEY=VALUE with KEY a setting name, got {text!r}")
    try:
        return key, tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        if _BARE_WORD.fullmatch(raw):
            return key, raw
    raise ValueError(f"--set {key}: cannot read {raw!r} as a TOML value (e.g. 3, 1e-6, true, [1, 2], \"text\")")


def overrides(args) -> dict:
    """The settings given by ``--set`` and by the generated options (a key given twice is an error)."""
    out = {}
    for text in getattr(args, "set_values", []):
        key, value = parse_set(text)
        if key in out:
            raise ValueError(f"setting {key!r} is given twice")
        if any(isinstance(v, float) and not math.isfinite(v) for v in (value if isinstance(value, list) else [value])):
            raise ValueError(f"--set {key} must be finite, got {text.partition('=')[2].strip()}")
        out[key] = value
    for name, value in vars(args).items():
        if name.startswith(_PREFIX):
            key = name[len(_PREFIX):]
            if key in out:
                raise ValueError(f"setting {key!r} is given twice (by --set and by its option)")
            out[key] = value
    return out


def sweep_kwargs(args) -> dict:
    """``scale`` and ``seed`` for ``make_sweep``, only where given."""
    kw = {}
    if args.scale is not None:
        kw["scale"] = args.scale
    if args.seed is not None:
        kw["seed"] = args.seed
    return kw


def run_sweep_from_args(sweep, args, *, command=None):
    """Run ``sweep`` with the running options; print one line and the summary; return the results."""
    from ..sweep import SweepInterrupted, run_sweep

    probe_output_folder(args.out, "--out")
    check_resume_folder(args.out, args.resume)
    if getattr(args, "no_worker_timeout", None) is not None and args.scheduler is None:
        raise ValueError("--no-worker-timeout applies to Dask workers only: give --scheduler too")
    t0 = time.perf_counter()
    meta = {"command": list(command)} if command else None
    try:
        res = run_sweep(sweep, args.out, workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                        progress=not args.no_progress, extra_meta=meta,
                        no_worker_timeout=getattr(args, "no_worker_timeout", None))
    except SweepInterrupted as exc:
        if not command:
            raise
        again = list(command) + ([] if "--resume" in command else ["--resume"])
        raise KeyboardInterrupt(f"{exc.saved}/{exc.total} points of sweep {exc.name!r} saved in {exc.out_dir}; "
                                f"continue with: {shlex.join(again)}") from None
    print(f"{sweep.name}: {res.meta['n_points']} points, {len(res.rows)} rows -> {res.csv_path} "
          f"({time.perf_counter() - t0:.1f} s)")
    return res


def checked_sweep(exp: Experiment, **kwargs):
    """``exp``'s sweep with every point checked before any work; a refusal names the setting's option."""
    from ..sweep import expand_points
    from ..sweep.definition import resolve

    flags = {key: opt.flag for opt in exp.module.OPTIONS for key in (opt.key, opt.flag[2:].replace("-", "_"))}
    try:
        sweep = exp.module.make_sweep(**kwargs)
        check = resolve(sweep.check) if sweep.check is not None else None
        for point in expand_points(sweep) if check else ():
            check(dict(point))
    except (ValueError, TypeError) as exc:
        raise ValueError(name_option(str(exc), flags, keep_key=True)) from None
    return sweep


def run_experiment(args) -> int:
    """``promptlimits sweep NAME`` (and ``memorize sweep|universality``): build, check, run, summarize."""
    exp = experiment(args.experiment)
    sweep = checked_sweep(exp, **sweep_kwargs(args), **overrides(args))
    res = run_sweep_from_args(sweep, args, command=getattr(args, "argv", None))
    summary = res.meta.get("summary")
    lines = getattr(exp.module, "summary_lines", None)
    if summary and lines:
        print("\n".join(lines(summary)))
    elif summary:
        print(json.dumps(summary, indent=1, sort_keys=True, default=str))
    return 0
