"""Running a sweep: executors (in-process, a process pool, Dask), :func:`run_sweep`, provenance."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import importlib
import math
import multiprocessing
import os
import platform
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .._io import atomic_write_text, probe_folder, write_json
from .definition import RESERVED, SweepDef, SweepError, expand_points, plain, point_seeds, resolve
from .journal import Journal, different_definition, read_journal, row_problem
from .results import Results, csv_text, read_results, tidy_rows

#: Environment variables that set how many threads BLAS / OpenMP / Numba (the
#: polynomial kernels) start in a worker; :data:`THREAD_ENV` is one thread.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
THREAD_ENV = dict.fromkeys(THREAD_VARIABLES, "1")

#: Seconds to wait for a Dask scheduler before giving up.
DASK_CONNECT_TIMEOUT = 3.0

#: Seconds without a live Dask worker before the run says so (it keeps waiting unless given a timeout).
NO_WORKER_WARNING = 30.0

#: Seconds between two looks at a Dask cluster's workers while no point finishes.
DASK_POLL_SECONDS = 1.0

#: Seconds between two looks at the parent in :func:`exit_with_parent`'s fallback thread.
PARENT_POLL_SECONDS = 0.5

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


# ----------------------------------------------------------------------------
# In the worker
# ----------------------------------------------------------------------------


def _set_parent_death_signal() -> bool:
    """Linux: have the kernel send SIGKILL to this process when its parent dies."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, poll: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(poll)
    os._exit(1)


def exit_with_parent(parent_pid: int, *, use_prctl: bool = True, poll: float = PARENT_POLL_SECONDS) -> None:
    """End this process as soon as ``parent_pid`` is no longer its parent.

    On Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (through ctypes) makes the
    kernel do it; elsewhere (or with ``use_prctl=False``) a daemon thread polls
    ``os.getppid()`` every ``poll`` seconds. A parent that died before either
    was armed is caught by the check at the end. (The kernel signal follows the
    *thread* that started the worker: :func:`run_sweep` starts its pool and
    shuts it down in the calling thread, so the two lifetimes agree.)
    """
    if not (use_prctl and _set_parent_death_signal()):
        threading.Thread(target=_watch_parent, args=(parent_pid, poll), daemon=True,
                         name="exit-with-parent").start()
    if os.getppid() != parent_pid:
        os._exit(1)


def _worker_init(parent_pid: int, env: dict) -> None:
    """ProcessPool initializer: the worker's thread limits (inherited too), and die with the parent."""
    os.environ.update(env)
    exit_with_parent(parent_pid)


def _tidy_row(spec: str, point_id: int, params: dict, seed: int, row) -> dict:
    if not isinstance(row, Mapping):
        raise SweepError(f"point function {spec} must return dicts, got {type(row).__name__}")
    clash = [k for k in row if k in params or k in RESERVED]
    if clash:
        raise SweepError(f"point function {spec} returned columns {clash} that clash with parameters")
    out = {"point_id": point_id, **params, "seed": seed}
    for k, v in row.items():
        v = plain(v, f"column {k!r} of point {point_id}")
        out[k] = None if isinstance(v, float) and math.isnan(v) else v  # NaN -> empty cell; inf stays
    return out


def _run_point(spec: str, point_id: int, params: dict, seed: int) -> tuple[int, list[dict]]:
    """Run one point; return ``(point_id, rows)`` with id, params and seed in every row."""
    out = resolve(spec)(dict(params), seed)
    rows = [out] if isinstance(out, Mapping) else list(out)
    if not rows:
        raise SweepError(f"point function {spec} returned no rows for point {point_id}")
    return point_id, [_tidy_row(spec, point_id, params, seed, row) for row in rows]


# ----------------------------------------------------------------------------
# Executors
# ----------------------------------------------------------------------------


class _InProcessExecutor(cf.Executor):
    """Runs each submission immediately in this process (``workers`` 0 or 1)."""

    def submit(self, fn, /, *args, **kwargs):
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as exc:  # handed to the caller with the point
            fut.set_exception(exc)
        return fut


def local_processes(workers: int) -> int:
    """Processes of a local pool asked for ``workers``: at most one per core (points are CPU-bound)."""
    return max(1, min(workers, os.cpu_count() or 1))


def worker_threads(processes: int) -> int:
    """Threads each of ``processes`` local workers may start: the cores shared out, at least one.

    With :func:`local_processes`, the workers of a pool never start more
    kernel (or BLAS) threads together than the machine has cores.
    """
    return max(1, (os.cpu_count() or 1) // max(1, processes))


@contextlib.contextmanager
def _thread_env(env: dict):
    """Set ``env`` (thread limits) in os.environ while workers are spawned (they inherit it)."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _check_running(workers, scheduler) -> int:
    """The number of local workers (``None``: one per CPU); refuses bad values before any work."""
    if scheduler is not None and (not isinstance(scheduler, str) or "://" not in scheduler):
        raise SweepError(f"scheduler must be an address like tcp://HOST:PORT, got {scheduler!r}")
    if workers is None:
        return os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise SweepError(f"workers must be an integer >= 0, got {workers!r}")
    return workers


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: the finished points are saved; the message says how to continue."""

    def __init__(self, name: str, saved: int, total: int, out_dir: Path):
        self.name, self.saved, self.total, self.out_dir = name, saved, total, out_dir
        super().__init__(f"{saved}/{total} points of sweep {name!r} saved in {out_dir}; run the same command "
                         "with --resume to compute the rest")


@contextlib.contextmanager
def _dask_executor(scheduler: str):
    try:
        from dask.distributed import Client
    except ImportError:
        raise SweepError("a Dask scheduler needs dask.distributed: pip install 'dask[distributed]'") from None
    try:
        client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise SweepError(f"cannot reach Dask scheduler {scheduler} within {DASK_CONNECT_TIMEOUT:g} s: {exc}") from None
    try:
        yield client.get_executor(pure=False), lambda: len(client.nthreads())
    finally:
        client.close()


@contextlib.contextmanager
def _executor(workers: int, scheduler: str | None):
    """``(executor, window, live)``: a window of submissions keeps every worker busy without flooding it;
    ``live()`` counts a Dask cluster's workers (``None`` for local executors, which fail when a worker dies)."""
    if scheduler is not None:
        with _dask_executor(scheduler) as (ex, live):
            yield ex, 1 << 30, live  # Dask gets everything at once
        return
    if workers <= 1:
        yield _InProcessExecutor(), 1, None  # one point at a time, each journaled before the next starts
        return
    processes = local_processes(workers)
    env = dict.fromkeys(THREAD_VARIABLES, str(worker_threads(processes)))
    with _thread_env(env):
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=processes, mp_context=ctx, initializer=_worker_init,
                                    initargs=(os.getpid(), env)) as ex:
            yield ex, 2 * processes, None


# ----------------------------------------------------------------------------
# Provenance
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


# ----------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------


def paths(out_dir: Path, name: str) -> tuple[Path, Path, Path]:
    """``(<name>.csv, <name>.json, <name>.journal.jsonl)`` under ``out_dir``."""
    return out_dir / f"{name}.csv", out_dir / f"{name}.json", out_dir / f"{name}.journal.jsonl"


@dataclass
class _Run:
    """A sweep on its way: its points, the finished ones, and the journal they go to."""

    sweep: SweepDef
    out_dir: Path
    params: list[dict]
    seeds: list[int]
    done: dict[int, list[dict]]
    journal: Journal
    resumed: bool = False

    def save(self, point_id: int, rows: list[dict]) -> None:
        problem = row_problem(rows, point_id, self.params[point_id], self.seeds[point_id])
        if problem is not None:
            raise SweepError(f"point {point_id} returned rows that do not fit it: {problem}")
        self.journal.add(point_id, rows)
        self.done[point_id] = rows


def _check_out_dir(out_dir: Path) -> None:
    """Refuse an output folder that cannot be made, before any work (nothing is created here)."""
    try:
        probe_folder(out_dir, f"output folder {out_dir}")
    except ValueError as exc:
        raise SweepError(str(exc)) from None


def _already_there(out_dir: Path, sweep: SweepDef) -> SweepError:
    return SweepError(f"{out_dir} already holds results of sweep {sweep.name!r}: resume it or choose another "
                      "output folder", options="--resume or --out")


def _finished(sweep: SweepDef, csv_path: Path, params: list[dict], seeds: list[int]) -> Results:
    """A finished run whose journal was removed: its CSV and sidecar, checked point by point."""
    res = read_results(csv_path)
    if res.meta.get("definition_hash") != sweep.hash:
        raise different_definition(csv_path.with_suffix(".json"), res.meta.get("definition"),
                                   res.meta.get("definition_hash"), sweep.to_dict(), sweep.hash)
    per_point = res.meta["rows_per_point"]
    if not res.meta.get("complete") or len(per_point) != len(params):
        raise SweepError(f"{csv_path} is incomplete and has no journal; choose another output folder",
                         options="--out")
    start = 0
    for i, k in enumerate(per_point):
        problem = row_problem(res.rows[start:start + k], i, params[i], seeds[i])
        if problem is not None:
            raise SweepError(f"{csv_path} does not match its sweep definition: {problem}")
        start += k
    return res


def _prepare(sweep: SweepDef, out_dir: Path, resume: bool) -> _Run | Results:
    """Every check that needs no computation; the finished points of a resumed run."""
    if not isinstance(sweep, SweepDef):
        raise TypeError(f"sweep must be a SweepDef, got {type(sweep).__name__}")
    _check_out_dir(out_dir)
    resolve(sweep.point)  # fail early on a bad name
    params = expand_points(sweep)
    if sweep.check is not None:
        check = resolve(sweep.check)
        for i, p in enumerate(params):
            try:
                check(dict(p))
            except (ValueError, TypeError) as exc:
                raise SweepError(f"bad point {i} {p}: {exc}") from None
    seeds = point_seeds(sweep, len(params))
    csv_path, meta_path, journal_path = paths(out_dir, sweep.name)
    done, keep = {}, None
    if journal_path.exists() or csv_path.exists() or meta_path.exists():
        if not resume:
            raise _already_there(out_dir, sweep)
        if not journal_path.exists():
            return _finished(sweep, csv_path, params, seeds)
        done, keep = read_journal(journal_path, sweep.hash, params, seeds, sweep.to_dict())
    header = {"definition_hash": sweep.hash, "name": sweep.name, "definition": sweep.to_dict()}
    return _Run(sweep, out_dir, params, seeds, done, Journal(journal_path, header, keep), resumed=keep is not None)


@contextlib.contextmanager
def _progress_bar(run: _Run, show: bool):
    from tqdm.auto import tqdm

    bar = tqdm(total=len(run.params), initial=len(run.done), desc=run.sweep.name, file=sys.stderr, unit="pt",
               disable=not show)
    try:
        yield bar
    finally:
        bar.close()


class _Watch:
    """Says when a Dask cluster has had no live worker for :data:`NO_WORKER_WARNING` s; gives up after
    ``timeout`` s (``None``: keeps waiting)."""

    def __init__(self, live, scheduler, timeout, say):
        self.live, self.scheduler, self.timeout, self.say = live, scheduler, timeout, say
        self.since, self.warned = None, False

    def __call__(self, run: _Run) -> None:
        if self.live is None:
            return
        try:
            workers = self.live()
        except Exception:  # a scheduler that stopped answering has no worker to offer either
            workers = 0
        if workers > 0:
            if self.warned:
                self.say(f"{run.sweep.name}: a Dask worker is back at {self.scheduler}")
            self.since, self.warned = None, False
            return
        now = time.monotonic()
        self.since = self.since or now
        idle = now - self.since
        if self.timeout is not None and idle >= self.timeout:
            raise SweepError(f"no live Dask worker at {self.scheduler} for {self.timeout:g} s: gave up "
                             f"({len(run.done)}/{len(run.params)} points saved in {run.out_dir}; start workers "
                             "and resume it)", options="--resume")
        if not self.warned and idle >= NO_WORKER_WARNING:
            self.warned = True
            wait = ("waiting for one (Ctrl-C to stop; the finished points are saved)" if self.timeout is None
                    else f"giving up after {self.timeout:g} s")
            self.say(f"{run.sweep.name}: no live Dask worker at {self.scheduler} for {idle:.0f} s; {wait}")


def point_costs(point: str, params: list[dict]) -> list[float] | None:
    """The estimated costs of the points, from ``point_cost(params)`` in the point function's module (``None``
    when it has none, or when it fails on a point: an order is a hint, never a reason to stop a sweep)."""
    mod, _, _ = point.partition(":")
    try:
        cost = getattr(importlib.import_module(mod), "point_cost", None)
    except ImportError:
        return None
    if not callable(cost):
        return None
    try:
        costs = [float(cost(dict(p))) for p in params]
    except (ArithmeticError, KeyError, TypeError, ValueError):
        return None
    return costs if all(math.isfinite(c) for c in costs) else None


def submission_order(todo: list[int], costs: list[float] | None) -> list[int]:
    """``todo`` with the costliest points first (ties, and every point without costs, in index order).

    Several workers then finish together instead of one working alone through the costliest points
    at the end (largest processing time first); a point's result does not depend on when it runs
    (its seed comes from its index)."""
    if costs is None:
        return list(todo)
    return sorted(todo, key=lambda i: (-costs[i], i))


def _compute(run: _Run, workers, scheduler, progress: bool, no_worker_timeout=None, say=None) -> None:
    """Run the unfinished points, journaling each as it finishes; stop at the first failure."""
    todo = [i for i in range(len(run.params)) if i not in run.done]
    if not todo:  # a finished journal needs no workers (nor a scheduler)
        return
    if scheduler is not None or workers > 1:
        todo = submission_order(todo, point_costs(run.sweep.point, run.params))
    queue = iter(todo)
    pending: dict[cf.Future, int] = {}
    failure = None
    with _executor(workers, scheduler) as (ex, window, live), _progress_bar(run, progress) as bar, run.journal:
        watch = _Watch(live, scheduler, no_worker_timeout, say)
        try:
            while True:
                while failure is None and len(pending) < window and (i := next(queue, None)) is not None:
                    pending[ex.submit(_run_point, run.sweep.point, i, run.params[i], run.seeds[i])] = i
                if not pending:
                    break
                finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED,
                                      timeout=None if live is None else DASK_POLL_SECONDS)
                if not finished or watch.warned:  # an idle poll, or a warning to take back
                    watch(run)
                for fut in sorted(finished, key=pending.get):
                    i = pending.pop(fut)
                    try:
                        _, rows = fut.result()
                    except Exception as exc:  # reported with its point
                        failure = failure or (i, exc)
                        continue
                    run.save(i, rows)
                    bar.update(1)
                if failure is not None:
                    break
        except KeyboardInterrupt:
            raise SweepInterrupted(run.sweep.name, len(run.done), len(run.params), run.out_dir) from None
        finally:
            for f in pending:
                f.cancel()
    if failure is not None:
        i, exc = failure
        if scheduler is not None and isinstance(exc, cf.CancelledError):  # the cluster dropped it, not the point
            raise SweepError(f"the Dask cluster at {scheduler} cancelled point {i} (the scheduler stopped or lost "
                             f"it) ({len(run.done)}/{len(run.params)} points saved in {run.out_dir}; resume it when "
                             "the cluster is back)", options="--resume") from exc
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not run.done:  # nothing to resume: the point or its parameters are at fault
            raise SweepError(f"point {i} {run.params[i]} failed: {type(exc).__name__}: {msg} (no point saved)") \
                from exc
        raise SweepError(f"point {i} {run.params[i]} failed: {type(exc).__name__}: {msg} ({len(run.done)}/"
                         f"{len(run.params)} points saved in {run.out_dir}; resume it to compute the rest)",
                         options="--resume") from exc


def _write(run: _Run, started: float, executor: str, extra_meta: Mapping | None) -> Results:
    """Assemble the rows in point order and write the CSV and its sidecar."""
    n = len(run.params)
    missing = [i for i in range(n) if not run.done.get(i)]
    if missing:  # unreachable unless the engine is wrong: never write such a sidecar
        raise SweepError(f"points {missing[:5]} of sweep {run.sweep.name!r} have no rows; nothing written")
    rows, types = tidy_rows([r for i in range(n) for r in run.done[i]])
    meta = {
        "name": run.sweep.name,
        "definition": run.sweep.to_dict(),
        "definition_hash": run.sweep.hash,
        "complete": True,  # every point id present exactly once, with its rows (checked above)
        "n_points": n,
        "n_rows": len(rows),
        "rows_per_point": [len(run.done[i]) for i in range(n)],
        "seeds": run.seeds,
        "columns": list(types),
        "column_types": types,
        "versions": _versions(),
        "machine": _machine(),
        "executor": executor,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_seconds_this_run": round(time.time() - started, 3),
    }
    clash = sorted(set(extra_meta or {}) & set(meta))
    if clash:
        raise SweepError(f"extra_meta may not replace the sidecar's own keys {clash}")
    meta.update(extra_meta or {})
    if run.sweep.summary is not None:
        meta["summary"] = resolve(run.sweep.summary)(rows)
    csv_path, meta_path, _ = paths(run.out_dir, run.sweep.name)
    atomic_write_text(csv_path, csv_text(rows))
    write_json(meta_path, meta, sort_keys=False)
    return Results(rows=rows, meta=meta, csv_path=csv_path)


def _stderr(text: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(text, file=sys.stderr)  # above a progress bar, not through it


def run_sweep(
    sweep: SweepDef,
    out_dir,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool = True,
    extra_meta: Mapping | None = None,
    no_worker_timeout: float | None = None,
    say: Callable[[str], None] | None = None,
) -> Results:
    """Run ``sweep``, checkpointing each finished point; return its :class:`Results`.

    Parameters
    ----------
    sweep : SweepDef
    out_dir : path
        Folder for ``<name>.csv``, ``<name>.json``, ``<name>.journal.jsonl``;
        created (with its parents) only when the first point is saved.
    workers : int, optional
        ``None``: one process per CPU; ``0``/``1``: in this process;
        ``k >= 2``: ``min(k, cores)`` spawned processes that exit when this
        process dies, each limited to ``cores // processes`` threads (at least
        one), so together they never start more kernel threads than the
        machine has cores. Results do not depend on this (the kernels split
        their work by problem size, not by thread count).
    scheduler : str, optional
        ``"tcp://HOST:PORT"`` of a Dask scheduler; overrides ``workers``.
    resume : bool
        Continue an interrupted run (or return a finished one) instead of
        refusing an existing result.
    progress : bool
        A tqdm bar on stderr.
    extra_meta : mapping, optional
        Added to the sidecar (e.g. the command line); may not replace its keys.
    no_worker_timeout : float, optional
        With a Dask scheduler: give up (a :class:`SweepError`, finished points
        saved) after this many seconds with no live worker. Without it the run
        keeps waiting; either way it says so after :data:`NO_WORKER_WARNING`
        seconds without a worker.
    say : callable, optional
        Receives the run's status lines (how many points a resume reuses and
        computes; no live Dask worker). Default: printed on stderr.

    Raises
    ------
    SweepError
        Before any point is computed: a bad definition or point, an output
        folder that cannot be written, existing results without ``resume``,
        results of another definition, a corrupt journal or CSV, an
        unreachable scheduler. Later: a failing point or no Dask worker for
        ``no_worker_timeout`` seconds (finished points stay saved).
    SweepInterrupted
        Ctrl-C (a ``KeyboardInterrupt``; finished points stay saved).
    """
    n_workers = _check_running(workers, scheduler)
    if no_worker_timeout is not None and (isinstance(no_worker_timeout, bool) or not isinstance(
            no_worker_timeout, (int, float)) or not 0 < no_worker_timeout < math.inf):
        raise SweepError(f"no_worker_timeout must be a finite number of seconds > 0, got {no_worker_timeout!r}")
    say = say or _stderr
    run = _prepare(sweep, Path(out_dir), resume)
    if isinstance(run, Results):
        if resume:
            say(f"{sweep.name}: all {run.meta['n_points']} points already finished in {out_dir}; nothing to compute")
        return run
    if run.resumed:
        n, reused = len(run.params), len(run.done)
        say(f"{sweep.name}: resuming: {reused} of {n} points reused from {paths(run.out_dir, sweep.name)[2]}, "
            f"{n - reused} to compute")
    elif resume:
        say(f"{sweep.name}: nothing to resume in {out_dir}; computing all {len(run.params)} points")
    started = time.time()
    _compute(run, n_workers, scheduler, progress, no_worker_timeout, say)
    executor = f"dask {scheduler}" if scheduler else f"local workers={workers}"
    return _write(run, started, executor, extra_meta)
