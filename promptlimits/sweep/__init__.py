"""The sweep engine: declarative parameter sweeps, run locally or on Dask, checkpointed.

Every experiment of the project (``docs/theory.md`` §3--§8) is a *sweep*: a
point function evaluated on a list of parameter points, each with its own seed.
The definition of a sweep is kept apart from the code that runs it, and the
results are tidy: CSV rows plus a JSON sidecar. The package has one module per
concern:

* :mod:`~promptlimits.sweep.definition` -- :class:`SweepDef`, :func:`load_sweep`,
  :func:`expand_points`, :func:`point_seeds`, name resolution;
* :mod:`~promptlimits.sweep.journal` -- the checkpoint ledger: reading,
  validating, appending;
* :mod:`~promptlimits.sweep.run` -- executors (in-process, process pool, Dask),
  :func:`run_sweep`, provenance;
* :mod:`~promptlimits.sweep.results` -- :class:`Results`, :func:`read_results`,
  the typed CSV.

Defining a sweep
----------------
A :class:`SweepDef` is a frozen dataclass (this one runs: the efficiency phase
transition of ``docs/theory.md`` §5 at three lengths ``n = 2^log2_n`` and two
constants ``c`` of ``d = ceil(c log2 n)``; the parameters are those
:func:`promptlimits.experiments.phase.check_point` accepts)::

    from promptlimits.sweep import SweepDef, run_sweep, read_results

    sweep = SweepDef(
        name="phase_custom",
        point="promptlimits.experiments.phase:phase_point",   # "module:function"
        grid={"log2_n": [8.0, 12.0, 16.0], "c": [0.5, 1.0]},  # Cartesian product
        fixed={"regime": "log", "d_fixed": 0, "beyond": False, "eps_exponent": 1.0, "eps": 1e-6,
               "kind": "auto", "kappa_step": 0.1, "kappa_max": 0.5},  # added to every point
        repeats=1,                                            # copies of each point
        seed=0,                                               # base seed
        check="promptlimits.experiments.phase:check_point",   # optional validator
        summary="promptlimits.experiments.phase:summarize",   # optional, rows -> dict
    )
    results = run_sweep(sweep, "results/phase-custom", workers=1)

or, equivalently, from TOML with :func:`load_sweep` (``tomllib``). The kappa grid takes
either form: the step form here (``kappa_step``, ``kappa_max`` in ``fixed``, one point per
``(log2_n, c)``), or a list in ``grid`` (``kappa = [0.1, 0.2, 0.3, 0.4, 0.5]``, one point per
value, any values), as in the commented file ``examples/sweeps/phase.toml``; giving both is
refused::

    name = "phase_custom"
    point = "promptlimits.experiments.phase:phase_point"
    check = "promptlimits.experiments.phase:check_point"
    summary = "promptlimits.experiments.phase:summarize"
    seed = 0
    [grid]
    log2_n = [8.0, 12.0, 16.0]
    c = [0.5, 1.0]
    [fixed]
    regime = "log"
    d_fixed = 0
    beyond = false
    eps_exponent = 1.0
    eps = 1e-6
    kind = "auto"
    kappa_step = 0.1
    kappa_max = 0.5
    [[points]]            # optional explicit points, run before the grid's
    regime = "fixed"
    d_fixed = 8
    c = 0.0
    log2_n = 20.0
    beyond = false

In a file, an unknown key or a value of the wrong TOML type is refused naming
the key and the type it must have, and ``check`` defaults to the point
module's ``check_point`` when it has one (every experiment does), so a bad
parameter is refused before the run starts.

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
None; NaN is stored as None). It must be importable by name in a worker
process (module level). The optional ``check(params)`` runs on every point in
the calling process before anything is computed and raises ``ValueError`` for
bad points; the optional ``summary(rows) -> dict`` runs on the final rows and
its result lands in the sidecar (fits, frontiers, ...).

Running it
----------
``run_sweep(sweep, out_dir, workers=None, scheduler=None, resume=False,
progress=True, extra_meta=None, no_worker_timeout=None, say=None)`` writes,
under ``out_dir``:

* ``<name>.csv`` -- the tidy table, one or more rows per point, sorted in point
  order; columns ``point_id``, the parameters, ``seed``, then the result
  columns; each column holds one type. Written atomically at the end.
* ``<name>.json`` -- the sidecar: the definition and its SHA-256 hash, the
  per-point seeds and row counts (``rows_per_point``), each column's type
  (``column_types``), package versions, machine information, the summary. It
  says ``complete: true`` only when every point id is present exactly once
  with its rows.
* ``<name>.journal.jsonl`` -- the checkpoint ledger, one fsync-ed line per
  finished point. On resume it is validated in full before any point is
  computed: a point with no rows or rows that do not carry its ``point_id``,
  parameters and seed is corruption (the error names the file and the line),
  and a corrupt journal is refused, never overwritten. A half-written last
  line (a kill) is dropped; byte-identical duplicates of a point are ignored,
  different ones refused (:mod:`~promptlimits.sweep.journal`).

The folder is created only when the first point is saved, so an early error
(bad point or definition, unreachable scheduler, existing results) leaves
nothing behind. All checks that need no computation run first.

``workers``: ``None`` = one process per CPU, ``0`` or ``1`` = in this process
(tests, tiny runs), ``k >= 2`` = a ``ProcessPoolExecutor`` of ``min(k, cores)``
spawned workers, each with ``OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS`` set to its
share of the cores (``cores // processes``, at least 1) in its environment
before it imports anything, so the workers never start more kernel threads
than the machine has cores; they exit when this process dies (even by
``kill -9``). ``scheduler="tcp://HOST:PORT"`` runs the points on a Dask
cluster through ``dask.distributed.Client(address).get_executor()`` (Dask is
imported only then; an unreachable scheduler fails within a few seconds).

With several workers (or a Dask cluster), when the point function's module defines
``point_cost(params)``, an estimate of a point's time, the points are submitted
costliest first (largest processing time first, ties in index order), so the
workers finish together instead of one working alone through the costliest
points at the end; a point's result does not depend on when it runs (its seed
comes from its index), and the CSV keeps the index order.

``resume=True`` reuses every finished point from the journal and computes the
rest, saying how many it reuses and computes (through ``say``, by default on
stderr); without it existing results are refused ("resume it or choose another
output folder"). A journal or sidecar from a different definition is refused,
naming the settings that differ with their old and new values (the journal's
header and the sidecar record the definition). Ctrl-C raises
:class:`SweepInterrupted` (a ``KeyboardInterrupt``) saying how many points are
saved. With a Dask scheduler, a cluster without a live worker for
:data:`~promptlimits.sweep.run.NO_WORKER_WARNING` seconds is reported; with
``no_worker_timeout`` the run gives up after that many seconds.
A finished run whose journal was removed is accepted only if its CSV matches
its sidecar point by point.

Reading results
---------------
``read_results(path)`` takes the CSV, the sidecar or the directory (with
``name=`` if it holds several sweeps) and returns :class:`Results` with
``.rows`` (list of dicts, each cell converted by its column's recorded type),
``.meta`` (the sidecar), ``.columns`` and ``.column(name)`` (a NumPy array). A
CSV that does not match its sidecar (header, a cell, a point's row count) is a
:class:`SweepError` naming the file and the line or point.
"""

from .definition import SweepDef, SweepError, expand_points, load_sweep, point_seeds
from .results import Results, read_results
from .run import THREAD_ENV, SweepInterrupted, run_sweep

__all__ = [
    "SweepDef",
    "SweepError",
    "SweepInterrupted",
    "Results",
    "load_sweep",
    "expand_points",
    "point_seeds",
    "run_sweep",
    "read_results",
    "THREAD_ENV",
]
