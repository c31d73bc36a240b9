"""The sweep engine: declarative parameter sweeps, run locally or on Dask, checkpointed.

Every experiment of the project (DESIGN sections 4--6 and 8) is a *sweep*: a
point function evaluated on a list of parameter points, each with its own seed.
This module keeps the definition of a sweep apart from the code that runs it
(STYLE: "Keep a sweep's definition apart from the code that runs it") and writes
tidy results: CSV rows plus a JSON sidecar.

Defining a sweep
----------------
A :class:`SweepDef` is a frozen dataclass::

    from promptlimits.sweep import SweepDef, run_sweep, read_results

    sweep = SweepDef(
        name="phase",
        point="promptlimits.experiments.phase:phase_point",   # "module:function"
        grid={"n": [256, 1024], "B": [0.5, 1.0]},              # Cartesian product
        fixed={"d": 4, "eps": 1e-6},                          # added to every point
        repeats=1,                                            # copies of each point
        seed=0,                                               # base seed
        check="promptlimits.experiments.phase:check_point",   # optional validator
        summary="promptlimits.experiments.phase:summarize",   # optional, rows -> dict
    )

or, equivalently, from TOML with :func:`load_sweep` (``tomllib``)::

    name = "phase"
    point = "promptlimits.experiments.phase:phase_point"
    repeats = 1
    seed = 0
    [grid]
    n = [256, 1024]
    B = [0.5, 1.0]
    [fixed]
    d = 4
    eps = 1e-6
    [[points]]            # optional explicit points, run before the grid's
    n = 4096
    B = 0.25

Points are the explicit ``points`` (in order) followed by the Cartesian product
of ``grid`` (the first key varies slowest), each merged over ``fixed`` and
repeated ``repeats`` times (a ``repeat`` parameter is added when
``repeats > 1``). Point ``i`` gets the integer seed drawn from child ``i`` of
``numpy.random.SeedSequence(seed).spawn(n_points)``, so results never depend on
the number of workers or on the order in which points finish.

The point function
------------------
``fn(params: dict, seed: int) -> dict | list[dict]``: one result row or several
(e.g. one per algorithm). Values must be scalars (int, float, str, bool or
None). It must be importable by name in a worker process (module level). The
optional ``check(params)`` runs on every point in the calling process before
anything is computed and raises ``ValueError`` for bad points; the optional
``summary(rows) -> dict`` runs on the final rows and its result lands in the
sidecar (fits, frontiers, ...).

Running it
----------
``run_sweep(sweep, out_dir, workers=None, scheduler=None, resume=False,
progress=True)`` writes, under ``out_dir``:

* ``<name>.csv`` -- the tidy table, one or more rows per point, sorted in point
  order; columns ``point_id``, the parameters, ``seed``, then the result
  columns. Written atomically (temp file + ``os.replace``) at the end.
* ``<name>.json`` -- the sidecar: the definition and its SHA-256 hash, the
  per-point seeds, package versions, machine information, the summary.
* ``<name>.journal.jsonl`` -- the checkpoint ledger. Its first line holds the
  definition hash; each later line holds one finished point's rows and is
  written with one ``write`` call, flushed and ``fsync``-ed. A trailing line
  without a newline (a kill during the write) is dropped on resume; any other
  undecodable line makes the file corrupt, and it is refused, never overwritten.

``workers``: ``None`` = one process per CPU, ``0`` or ``1`` = in this process
(tests, tiny runs), ``k >= 2`` = a ``ProcessPoolExecutor`` of ``k`` spawned
workers, each with ``OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS=1`` in its environment
before it imports anything. ``scheduler="tcp://HOST:PORT"`` runs the points on a
Dask cluster through ``dask.distributed.Client(address).get_executor()`` (Dask is
imported only then; an unreachable scheduler fails within a few seconds).

``resume=True`` reuses every finished point from the journal and computes the
rest; without it an existing result is refused (pass ``resume`` or another
``out_dir``). A journal or sidecar from a different definition is refused.

Reading results
---------------
``read_results(path)`` takes the CSV, the sidecar or the directory (with
``name=`` if it holds several sweeps) and returns :class:`Results` with
``.rows`` (list of dicts with ints, floats, bools, strings, None), ``.meta``
(the sidecar), ``.columns`` and ``.column(name)`` (a NumPy array).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import dataclasses
import hashlib
import importlib
import itertools
import json
import math
import multiprocessing
import os
import platform
import socket
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

__all__ = [
    "SweepDef",
    "SweepError",
    "Results",
    "load_sweep",
    "expand_points",
    "point_seeds",
    "run_sweep",
    "read_results",
    "THREAD_ENV",
]

#: Environment variables that pin BLAS / OpenMP / Numba to one thread per worker.
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}

#: Seconds to wait for a Dask scheduler before giving up.
DASK_CONNECT_TIMEOUT = 3.0

_SCALARS = (bool, int, float, str, type(None))
_RESERVED = ("point_id", "seed")


class SweepError(ValueError):
    """A sweep cannot run or its results cannot be read (reported as one line)."""


# ----------------------------------------------------------------------------
# Definition
# ----------------------------------------------------------------------------


def _scalar(v, where: str):
    if isinstance(v, np.generic):
        v = v.item()
    if not isinstance(v, _SCALARS):
        raise SweepError(f"{where} must be a scalar (number, string, bool), got {type(v).__name__}")
    if isinstance(v, float) and not math.isfinite(v):
        raise SweepError(f"{where} must be finite, got {v}")
    return v


def _check_target(spec, what: str) -> str:
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise SweepError(f"{what} must be a 'module:function' string, got {spec!r}")
    return spec


@dataclass(frozen=True)
class SweepDef:
    """A declarative sweep (see the module docstring).

    Parameters
    ----------
    name : str
        Used for the file names ``<name>.csv`` / ``.json``; letters, digits,
        ``-`` and ``_``.
    point : str
        ``"module:function"`` of the point function ``fn(params, seed)``.
    grid : mapping of str to list
        Expanded as a Cartesian product (first key slowest). Empty lists are an
        error.
    points : sequence of mappings
        Explicit points, run before the grid's.
    fixed : mapping
        Parameters shared by every point (a point's own value wins).
    repeats : int
        Copies of each point (each with its own seed).
    seed : int
        Base of the ``SeedSequence`` that gives every point its seed.
    check, summary : str, optional
        ``"module:function"`` of a point validator and of a summary of the rows.
    description : str
        Free text, stored in the sidecar (not hashed).
    """

    name: str
    point: str
    grid: Mapping[str, Any] = field(default_factory=dict)
    points: tuple = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)
    repeats: int = 1
    seed: int = 0
    check: str | None = None
    summary: str | None = None
    description: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or not all(
            ch.isalnum() or ch in "-_" for ch in self.name
        ):
            raise SweepError(f"sweep name must be letters, digits, '-' or '_', got {self.name!r}")
        _check_target(self.point, "point")
        for attr in ("check", "summary"):
            if getattr(self, attr) is not None:
                _check_target(getattr(self, attr), attr)
        if not isinstance(self.grid, Mapping):
            raise SweepError(f"grid must be a mapping of parameter -> list, got {type(self.grid).__name__}")
        grid = {}
        for k, vals in self.grid.items():
            if not isinstance(k, str) or k in _RESERVED:
                raise SweepError(f"grid key {k!r} is not allowed (reserved or not a string)")
            if isinstance(vals, (str, bytes)) or not hasattr(vals, "__iter__"):
                raise SweepError(f"grid entry {k!r} must be a list, got {type(vals).__name__}")
            vals = tuple(_scalar(v, f"grid value {k}") for v in vals)
            if not vals:
                raise SweepError(f"grid entry {k!r} is empty: give at least one value")
            grid[k] = vals
        fixed = {}
        if not isinstance(self.fixed, Mapping):
            raise SweepError(f"fixed must be a mapping, got {type(self.fixed).__name__}")
        for k, v in self.fixed.items():
            if not isinstance(k, str) or k in _RESERVED:
                raise SweepError(f"fixed key {k!r} is not allowed (reserved or not a string)")
            fixed[k] = _scalar(v, f"fixed parameter {k}")
        pts = []
        for j, p in enumerate(self.points):
            if not isinstance(p, Mapping):
                raise SweepError(f"points[{j}] must be a mapping, got {type(p).__name__}")
            for k in p:
                if not isinstance(k, str) or k in _RESERVED:
                    raise SweepError(f"points[{j}] key {k!r} is not allowed")
            pts.append({k: _scalar(v, f"points[{j}].{k}") for k, v in p.items()})
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or self.repeats < 1:
            raise SweepError(f"repeats must be an integer >= 1, got {self.repeats!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SweepError(f"seed must be an integer >= 0, got {self.seed!r}")
        if not grid and not pts:
            raise SweepError(f"sweep {self.name!r} has no points: give a non-empty grid or points")
        object.__setattr__(self, "grid", grid)
        object.__setattr__(self, "fixed", fixed)
        object.__setattr__(self, "points", tuple(pts))

    # The definition as plain JSON data; ``description`` is left out of the hash.
    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "point": self.point,
            "grid": {k: list(v) for k, v in self.grid.items()},
            "points": [dict(p) for p in self.points],
            "fixed": dict(self.fixed),
            "repeats": self.repeats,
            "seed": self.seed,
            "check": self.check,
            "summary": self.summary,
            "description": self.description,
        }

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON of the definition (without description)."""
        d = self.to_dict()
        d.pop("description")
        blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def replace(self, **changes) -> "SweepDef":
        return dataclasses.replace(self, **changes)


def load_sweep(path) -> SweepDef:
    """Read a :class:`SweepDef` from a TOML file (keys as in :class:`SweepDef`)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"{path}: not valid TOML: {exc}") from None
    known = {f.name for f in dataclasses.fields(SweepDef)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SweepError(f"{path}: unknown keys {unknown}; expected some of {sorted(known)}")
    for key in ("name", "point"):
        if key not in data:
            raise SweepError(f"{path}: missing required key {key!r}")
    if "points" in data:
        data["points"] = tuple(data["points"])
    return SweepDef(**data)


def expand_points(sweep: SweepDef) -> list[dict]:
    """The sweep's points, in point order (explicit points, then the grid)."""
    base = []
    for p in sweep.points:
        base.append({**sweep.fixed, **p})
    if sweep.grid:
        keys = list(sweep.grid)
        for combo in itertools.product(*(sweep.grid[k] for k in keys)):
            base.append({**sweep.fixed, **dict(zip(keys, combo))})
    if sweep.repeats == 1:
        return base
    return [{**p, "repeat": r} for p in base for r in range(sweep.repeats)]


def point_seeds(sweep: SweepDef, n_points: int) -> list[int]:
    """Seed of point ``i``: child ``i`` of ``SeedSequence(sweep.seed)``, as a 63-bit int."""
    children = np.random.SeedSequence(sweep.seed).spawn(n_points)
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for c in children]


def _resolve(spec: str) -> Callable:
    mod, _, fn = spec.partition(":")
    try:
        obj = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as exc:
        raise SweepError(f"cannot import {spec!r}: {exc}") from None
    if not callable(obj):
        raise SweepError(f"{spec!r} is not callable")
    return obj


# ----------------------------------------------------------------------------
# Executing one point (runs in the worker)
# ----------------------------------------------------------------------------


def _worker_init() -> None:
    """ProcessPool initializer: keep each worker on one thread (env is inherited too)."""
    os.environ.update(THREAD_ENV)


def _run_point(spec: str, point_id: int, params: dict, seed: int) -> tuple[int, list[dict]]:
    """Run one point; return ``(point_id, rows)`` with id, params and seed in every row."""
    fn = _resolve(spec)
    out = fn(dict(params), seed)
    rows = [out] if isinstance(out, Mapping) else list(out)
    if not rows:
        raise SweepError(f"point function {spec} returned no rows for point {point_id}")
    tidy = []
    for row in rows:
        if not isinstance(row, Mapping):
            raise SweepError(f"point function {spec} must return dicts, got {type(row).__name__}")
        clash = [k for k in row if k in params or k in _RESERVED]
        if clash:
            raise SweepError(f"point function {spec} returned columns {clash} that clash with parameters")
        r = {"point_id": point_id, **params, "seed": seed}
        for k, v in row.items():
            if isinstance(v, np.generic):
                v = v.item()
            if not isinstance(v, _SCALARS):
                raise SweepError(f"column {k!r} of point {point_id} is not a scalar ({type(v).__name__})")
            if isinstance(v, float) and not math.isfinite(v):
                v = None if math.isnan(v) else v  # NaN -> empty cell; inf stays
            r[k] = v
        tidy.append(r)
    return point_id, tidy


# ----------------------------------------------------------------------------
# Journal (checkpoints)
# ----------------------------------------------------------------------------


def _paths(out_dir: Path, name: str) -> tuple[Path, Path, Path]:
    return out_dir / f"{name}.csv", out_dir / f"{name}.json", out_dir / f"{name}.journal.jsonl"


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _dumps(obj) -> str:
    # inf is written as Infinity (Python's json reads it back).
    return json.dumps(obj, default=_json_default, separators=(",", ":"))


def _read_journal(path: Path, sweep: SweepDef, n_points: int) -> tuple[dict[int, list[dict]], int]:
    """Finished points from a journal; return ``(rows by point id, bytes to keep)``.

    A final line without ``\\n`` is a write cut short by a kill and is dropped;
    anything else that does not decode is corruption and is refused.
    """
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    keep = len(data) - len(tail)
    if not lines:
        if tail:  # header itself cut short: nothing finished yet
            return {}, 0
        raise SweepError(f"{path} is empty; delete it or choose another output directory")
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError:
        raise SweepError(f"{path} is corrupt (bad header line); refusing to touch it") from None
    if not isinstance(header, dict) or "definition_hash" not in header:
        raise SweepError(f"{path} is not a promptlimits sweep journal; refusing to touch it")
    if header["definition_hash"] != sweep.hash:
        raise SweepError(
            f"{path} belongs to a different sweep definition "
            f"(hash {header['definition_hash'][:12]} != {sweep.hash[:12]}); choose another output directory"
        )
    done: dict[int, list[dict]] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        try:
            rec = json.loads(line)
            pid, rows = int(rec["point_id"]), rec["rows"]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise SweepError(f"{path} is corrupt at line {lineno}; refusing to touch it") from None
        if not 0 <= pid < n_points or not isinstance(rows, list):
            raise SweepError(f"{path} is corrupt at line {lineno} (point {pid}); refusing to touch it")
        done[pid] = rows
    return done, keep


class _Journal:
    def __init__(self, path: Path, sweep: SweepDef, keep: int | None):
        if keep is None:  # new journal
            self.fh = open(path, "xb")
            self._write({"definition_hash": sweep.hash, "name": sweep.name})
        else:
            self.fh = open(path, "r+b")
            self.fh.truncate(keep)  # drop a half-written last line
            self.fh.seek(keep)
            if keep == 0:
                self._write({"definition_hash": sweep.hash, "name": sweep.name})

    def _write(self, obj) -> None:
        self.fh.write((_dumps(obj) + "\n").encode())  # one write per unit
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def add(self, point_id: int, rows: list[dict]) -> None:
        self._write({"point_id": point_id, "rows": rows})

    def close(self) -> None:
        self.fh.close()


# ----------------------------------------------------------------------------
# Executors
# ----------------------------------------------------------------------------


class _InProcessExecutor(cf.Executor):
    """Runs each submission immediately in this process (``workers`` 0 or 1)."""

    def submit(self, fn, /, *args, **kwargs):
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            if not isinstance(exc, Exception):
                raise
            fut.set_exception(exc)
        return fut


@contextlib.contextmanager
def _thread_env():
    """Set THREAD_ENV in os.environ while workers are spawned (they inherit it)."""
    old = {k: os.environ.get(k) for k in THREAD_ENV}
    os.environ.update(THREAD_ENV)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _executor(workers, scheduler):
    if scheduler is not None:
        if not isinstance(scheduler, str) or "://" not in scheduler:
            raise SweepError(f"scheduler must be an address like tcp://HOST:PORT, got {scheduler!r}")
        try:
            from dask.distributed import Client
        except ImportError:
            raise SweepError("--scheduler needs dask.distributed: pip install 'dask[distributed]'") from None
        try:
            client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise SweepError(f"cannot reach Dask scheduler {scheduler} within {DASK_CONNECT_TIMEOUT:g} s: {exc}") from None
        try:
            yield client.get_executor(pure=False), 1 << 30
        finally:
            client.close()
        return
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise SweepError(f"workers must be an integer >= 0, got {workers!r}")
    if workers <= 1:
        yield _InProcessExecutor(), 1
        return
    with _thread_env():
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as ex:
            yield ex, 2 * workers


# ----------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------


def _versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for mod in ("promptlimits", "numpy", "scipy", "numba", "dask", "distributed"):
        m = sys.modules.get(mod)
        if m is None and mod in ("promptlimits", "numpy", "scipy"):
            m = importlib.import_module(mod)
        if m is not None:
            out[mod] = getattr(m, "__version__", "unknown")
    return out


def _machine() -> dict:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def _columns(rows: list[dict]) -> list[str]:
    cols: dict[str, None] = {}
    for r in rows:
        for k in r:
            cols.setdefault(k, None)
    return list(cols)


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)  # round-trips exactly
    return str(v)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _csv_text(rows: list[dict]) -> str:
    import io

    buf = io.StringIO()
    cols = _columns(rows)
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in cols])
    return buf.getvalue()


def run_sweep(
    sweep: SweepDef,
    out_dir,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool = True,
    extra_meta: Mapping | None = None,
) -> "Results":
    """Run ``sweep``, checkpointing each finished point; return its :class:`Results`.

    Parameters
    ----------
    sweep : SweepDef
    out_dir : path
        Directory for ``<name>.csv``, ``<name>.json``, ``<name>.journal.jsonl``
        (created if missing).
    workers : int, optional
        ``None``: one process per CPU; ``0``/``1``: in this process;
        ``k >= 2``: ``k`` spawned processes, one thread each.
    scheduler : str, optional
        ``"tcp://HOST:PORT"`` of a Dask scheduler; overrides ``workers``.
    resume : bool
        Continue an interrupted run (or return a finished one) instead of
        refusing an existing result.
    progress : bool
        A tqdm bar on stderr.
    extra_meta : mapping, optional
        Merged into the sidecar (e.g. the command line).

    Raises
    ------
    SweepError
        Bad definition or points, existing results without ``resume``, a
        journal from another definition, a corrupt journal, a failing point
        (finished points stay saved), an unreachable scheduler.
    """
    if not isinstance(sweep, SweepDef):
        raise TypeError(f"sweep must be a SweepDef, got {type(sweep).__name__}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise SweepError(f"output {out_dir} exists and is not a directory")
    csv_path, meta_path, journal_path = _paths(out_dir, sweep.name)
    fn = _resolve(sweep.point)  # fail early on a bad name
    del fn
    params = expand_points(sweep)
    if sweep.check is not None:
        check = _resolve(sweep.check)
        for i, p in enumerate(params):
            try:
                check(dict(p))
            except (ValueError, TypeError) as exc:
                raise SweepError(f"bad point {i} {p}: {exc}") from None
    seeds = point_seeds(sweep, len(params))

    # Existing files: refuse, or resume from the journal.
    done: dict[int, list[dict]] = {}
    keep = None
    if journal_path.exists():
        if not resume:
            raise SweepError(
                f"{journal_path} exists: pass --resume (resume=True) to continue it, or choose another --out"
            )
        done, keep = _read_journal(journal_path, sweep, len(params))
    elif csv_path.exists() or meta_path.exists():
        if not resume:
            raise SweepError(f"{csv_path} exists: pass --resume (resume=True) or choose another --out")
        # A finished run whose journal was removed: accept it only if it is ours.
        res = read_results(csv_path)
        if res.meta.get("definition_hash") != sweep.hash:
            raise SweepError(f"{meta_path} belongs to a different sweep definition; choose another --out")
        if res.meta.get("complete"):
            return res
        raise SweepError(f"{csv_path} is incomplete and has no journal; choose another --out")

    out_dir.mkdir(parents=True, exist_ok=True)
    todo = [i for i in range(len(params)) if i not in done]
    started = time.time()
    failure = None
    bar = None
    try:
        # A bounded window of submissions: in-process runs one point at a time
        # (so each is journaled before the next starts), a pool keeps every
        # worker busy, Dask gets everything at once.
        with _executor(workers, scheduler) as (ex, window):
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=len(params), initial=len(done), desc=sweep.name, file=sys.stderr, unit="pt")
            journal = _Journal(journal_path, sweep, keep)
            queue = iter(todo)
            pending: dict[cf.Future, int] = {}

            def fill():
                while len(pending) < window:
                    i = next(queue, None)
                    if i is None:
                        return
                    pending[ex.submit(_run_point, sweep.point, i, params[i], seeds[i])] = i

            try:
                fill()
                while pending and failure is None:
                    finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                    for fut in sorted(finished, key=pending.get):
                        i = pending.pop(fut)
                        try:
                            pid, rows = fut.result()
                        except Exception as exc:  # noqa: BLE001 - reported with the point
                            failure = failure or (i, exc)
                            continue
                        journal.add(pid, rows)
                        done[pid] = rows
                        if bar is not None:
                            bar.update(1)
                    if failure is None:
                        fill()
            finally:
                for f in pending:
                    f.cancel()
                journal.close()
    finally:
        if bar is not None:
            bar.close()
    if failure is not None:
        i, exc = failure
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SweepError(
            f"point {i} {params[i]} failed: {type(exc).__name__}: {msg} "
            f"({len(done)}/{len(params)} points saved; rerun with --resume)"
        ) from exc

    rows = [r for i in range(len(params)) for r in done[i]]
    cols = _columns(rows)
    rows = [{c: r.get(c) for c in cols} for r in rows]  # every row has every column
    meta = {
        "name": sweep.name,
        "definition": sweep.to_dict(),
        "definition_hash": sweep.hash,
        "complete": True,
        "n_points": len(params),
        "n_rows": len(rows),
        "seeds": seeds,
        "columns": _columns(rows),
        "versions": _versions(),
        "machine": _machine(),
        "executor": ("dask " + scheduler) if scheduler else f"local workers={workers}",
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_seconds_this_run": round(time.time() - started, 3),
    }
    if extra_meta:
        meta.update(extra_meta)
    if sweep.summary is not None:
        meta["summary"] = _resolve(sweep.summary)(rows)
    _write_atomic(csv_path, _csv_text(rows))
    _write_atomic(meta_path, json.dumps(meta, indent=2, default=_json_default, sort_keys=False) + "\n")
    return Results(rows=rows, meta=meta, csv_path=csv_path)


# ----------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------


def _parse(cell: str):
    if cell == "":
        return None
    if cell in ("True", "False"):
        return cell == "True"
    try:
        return int(cell)
    except ValueError:
        pass
    try:
        return float(cell)
    except ValueError:
        return cell


@dataclass
class Results:
    """Rows and sidecar of a finished sweep."""

    rows: list[dict]
    meta: dict
    csv_path: Path | None = None

    @property
    def columns(self) -> list[str]:
        return _columns(self.rows)

    def column(self, name: str, dtype=None) -> np.ndarray:
        """One column as an array (missing cells become NaN for numeric columns)."""
        vals = [r.get(name) for r in self.rows]
        if dtype is None and all(v is None or isinstance(v, (int, float)) for v in vals):
            return np.array([np.nan if v is None else v for v in vals], dtype=float)
        return np.array(vals, dtype=dtype if dtype is not None else object)

    def where(self, **equal) -> list[dict]:
        """Rows whose columns equal the given values."""
        return [r for r in self.rows if all(r.get(k) == v for k, v in equal.items())]


def read_results(path, name: str | None = None) -> Results:
    """Load a sweep's results from its CSV, its sidecar JSON or its directory."""
    path = Path(path)
    if path.is_dir():
        if name is None:
            metas = sorted(path.glob("*.json"))
            if len(metas) != 1:
                found = [m.stem for m in metas]
                raise SweepError(f"{path} holds {len(metas)} sweeps {found}; say which with name=")
            path = metas[0]
        else:
            path = path / f"{name}.json"
    if path.suffix == ".json":
        csv_path, meta_path = path.with_suffix(".csv"), path
    else:
        csv_path, meta_path = path, path.with_suffix(".json")
    if not csv_path.exists():
        raise SweepError(f"no results at {csv_path}")
    meta = {}
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError:
            raise SweepError(f"{meta_path} is corrupt (not JSON)") from None
    with open(csv_path, newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise SweepError(f"{csv_path} is empty") from None
        rows = []
        for lineno, rec in enumerate(reader, start=2):
            if len(rec) != len(header):
                raise SweepError(f"{csv_path} is corrupt at line {lineno}: {len(rec)} cells, expected {len(header)}")
            rows.append({k: _parse(v) for k, v in zip(header, rec)})
    return Results(rows=rows, meta=meta, csv_path=csv_path)
