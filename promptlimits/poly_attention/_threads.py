"""How the kernels' work is split into tasks and run on threads (docs/theory.md §3.9).

Two rules:

* **The split depends on the problem only.** :func:`split` cuts the rows into
  tasks from their number and the work per row, never from the number of
  threads, and the partial sums of the tasks are added in task order. So a
  result is bitwise the same whatever ``numba.set_num_threads`` says (and on
  one thread or in a sweep worker).
* **Threads by work, and no waiting on a busy core.** A problem of one task runs
  on the calling thread. Larger ones take up to ``numba.get_num_threads()``
  threads: the caller and helpers from a small pool claim tasks one at a time
  under a lock; the caller waits only for tasks already claimed, never for a
  helper that has not been scheduled yet (it finds no task left and returns).
  Threads block on a condition variable; nothing spins.

The kernels are serial Numba functions that release the GIL
(:mod:`._kernels`); a batch's units are grouped into thread tasks by :func:`group`.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from ._kernels import LANES

#: Multiply-adds of one task: about a quarter of a millisecond of one core. Below this a
#: problem runs as one task on the calling thread.
TASK_WORK = 2**22

#: Most tasks one call is split into (each key-side task keeps its own partial sums).
MAX_TASKS = 16

#: From this rank a task's own partial sums (``r x (W_v + 8)`` doubles: 1 MiB at ``W_v = 8``) no longer fit in a
#: core's second-level cache: each is made, filled and added from memory, once per task whatever its rows.
PARTIALS_RANK = 8192

#: Least rows of a task that keeps partial sums of rank ``>= PARTIALS_RANK``: its partials then cost a few
#: per cent of its work. (At rank 490,314 and 4,096 keys, sixteen tasks of 256 rows spent about a fifth of
#: the pass on their 1 GB of partials.)
PARTIALS_ROWS = 1024

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None


def split(n_rows: int, work_per_row: int, *, partials_rank: int = 0) -> np.ndarray:
    """Task bounds over ``n_rows`` padded rows (a multiple of :data:`LANES`): ``bounds[t]..bounds[t+1]``.

    The number of tasks is ``n_rows * work_per_row / TASK_WORK`` rounded up,
    between 1 and :data:`MAX_TASKS` (and at most one per block of rows); where
    each task keeps partial sums of rank ``partials_rank >= PARTIALS_RANK``,
    also at most one per :data:`PARTIALS_ROWS` rows. It does not depend on the
    number of threads.
    """
    blocks = n_rows // LANES
    most = MAX_TASKS if partials_rank < PARTIALS_RANK else max(1, min(MAX_TASKS, n_rows // PARTIALS_ROWS))
    tasks = max(1, min(most, blocks, -(-n_rows * work_per_row // TASK_WORK)))
    return (np.arange(tasks + 1, dtype=np.int64) * blocks // tasks) * LANES


class _Tasks:
    """Tasks ``0..n-1`` of one call, claimed one at a time by whichever thread asks first."""

    def __init__(self, run, n: int):
        self.run, self.n = run, n
        self.claimed = self.finished = 0
        self.error: BaseException | None = None
        self.cond = threading.Condition()

    def _claim(self) -> int | None:
        with self.cond:
            if self.claimed == self.n or self.error is not None:
                return None
            self.claimed += 1
            return self.claimed - 1

    def work(self) -> None:
        """Run tasks until none is left (the caller and every helper run this)."""
        while (t := self._claim()) is not None:
            try:
                self.run(t)
            except BaseException as exc:  # handed to the caller in wait()
                with self.cond:
                    self.error = self.error or exc
            with self.cond:
                self.finished += 1
                self.cond.notify_all()

    def wait(self) -> None:
        """Block until every claimed task has finished; re-raise the first error."""
        with self.cond:
            while self.finished < self.claimed:
                self.cond.wait()
        if self.error is not None:
            raise self.error


def _helpers() -> ThreadPoolExecutor:
    """The pool of helper threads (one fewer than Numba's thread limit), made anew after a fork."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            size = max(1, int(numba.config.NUMBA_NUM_THREADS) - 1)
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="promptlimits-kernel")
            _pool_pid = os.getpid()
        return _pool


def threads_for(n_tasks: int) -> int:
    """Threads for a call of ``n_tasks`` tasks: ``min(numba.get_num_threads(), n_tasks)``."""
    return max(1, min(numba.get_num_threads(), n_tasks))


def run_tasks(run, n_tasks: int) -> None:
    """Call ``run(t)`` for ``t = 0..n_tasks-1``, on :func:`threads_for` threads (module docstring)."""
    threads = threads_for(n_tasks) if n_tasks > 1 else 1
    if threads == 1:
        for t in range(n_tasks):
            run(t)
        return
    tasks = _Tasks(run, n_tasks)
    pool = _helpers()
    for _ in range(threads - 1):
        pool.submit(tasks.work)
    tasks.work()
    tasks.wait()


def group(n_units: int, work_per_unit: int) -> np.ndarray:
    """Bounds of the thread tasks over ``n_units`` units of a batch (:mod:`._kernels`): ``groups[g]..groups[g+1]``.

    As :func:`split`, from the problem's size alone: about :data:`TASK_WORK` each, between 1 and
    :data:`MAX_TASKS` of them. Every unit writes only its own outputs, so the grouping changes no result.
    """
    count = max(1, min(MAX_TASKS, n_units, -(-n_units * work_per_unit // TASK_WORK)))
    return np.arange(count + 1, dtype=np.int64) * n_units // count
