"""Results do not depend on the number of threads or sweep workers (docs/theory.md §3.9).

The kernels split their rows into tasks by problem size only and add the
tasks' partial sums in task order, so the polynomial method gives the same
bits on one thread, on two, and in a sweep worker limited to one.
"""

import threading

import numba
import numpy as np
import pytest

from promptlimits.experiments.runtime import make_sweep
from promptlimits.poly_attention import _threads, make_plan
from promptlimits.sweep import run_sweep

two_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")


@pytest.fixture
def numba_threads():
    """Set Numba's thread count inside a test and restore it afterwards."""
    old = numba.get_num_threads()
    yield numba.set_num_threads
    numba.set_num_threads(old)


@two_threads
def test_forward_and_backward_are_bitwise_the_same_on_one_and_two_threads(monkeypatch, numba_threads):
    monkeypatch.setattr(_threads, "TASK_WORK", 2**14)  # several tasks on a small problem
    plan = make_plan(5, 0.5, eps=1e-6)
    rng = np.random.default_rng(0)
    Q, K = rng.uniform(-0.5, 0.5, (300, 5)), rng.uniform(-0.5, 0.5, (517, 5))
    V, G = rng.normal(size=(517, 6)), rng.normal(size=(300, 6))
    tasks = len(_threads.split(520, plan.rank * 8)) - 1
    out = {}
    for threads in (1, 2):
        numba_threads(threads)
        assert _threads.threads_for(tasks) == min(threads, tasks)
        out[threads] = (plan(Q, K, V), plan(Q, K, V, variant="softmax1"), *plan.backward(Q, K, V, G))
    assert tasks >= 4
    for a, b in zip(out[1], out[2]):
        assert np.array_equal(a, b)


@two_threads
def test_every_task_runs_once_and_errors_reach_the_caller(numba_threads):
    numba_threads(2)
    seen, lock = [], threading.Lock()

    def record(t):
        with lock:
            seen.append(t)

    _threads.run_tasks(record, 11)
    assert sorted(seen) == list(range(11))

    def fail(t):
        if t == 3:
            raise RuntimeError("task 3 failed")

    with pytest.raises(RuntimeError, match="task 3 failed"):
        _threads.run_tasks(fail, 8)


def test_the_split_depends_on_the_problem_only(numba_threads):
    first = _threads.split(2**16, 495 * 8)
    numba_threads(1)
    assert np.array_equal(_threads.split(2**16, 495 * 8), first)
    assert first[0] == 0 and first[-1] == 2**16 and np.all(np.diff(first) % 8 == 0) and len(first) - 1 > 1
    assert len(_threads.split(256, 165 * 8)) == 2  # a small problem is one task: no threads


def test_tasks_with_large_partial_sums_get_many_rows():
    """A pass whose tasks keep partial sums of rank >= PARTIALS_RANK cuts at most one task per PARTIALS_ROWS rows
    (sixteen without partials); below that rank, or without partials, the split is unchanged."""
    r, wv = 490_314, 8
    assert len(_threads.split(4096, r * wv)) - 1 == _threads.MAX_TASKS
    big = _threads.split(4096, r * wv, partials_rank=r)
    assert len(big) - 1 == 4096 // _threads.PARTIALS_ROWS and np.all(np.diff(big) == _threads.PARTIALS_ROWS)
    assert len(_threads.split(1000, r * wv, partials_rank=r)) == 2  # fewer rows than PARTIALS_ROWS: one task
    assert len(_threads.split(2**16, r * wv, partials_rank=r)) - 1 == _threads.MAX_TASKS
    small = _threads.PARTIALS_RANK - 1
    assert np.array_equal(_threads.split(4096, small * wv, partials_rank=small), _threads.split(4096, small * wv))


@two_threads
def test_passes_with_large_partial_sums_are_the_same_on_one_and_two_threads(monkeypatch, numba_threads):
    """The partial-sum rule, made to bind at a small rank, still splits by the problem only: several tasks, the
    same bits on one and two threads, forward and backward."""
    monkeypatch.setattr(_threads, "TASK_WORK", 2**12)
    monkeypatch.setattr(_threads, "PARTIALS_RANK", 1)
    monkeypatch.setattr(_threads, "PARTIALS_ROWS", 128)
    plan = make_plan(3, 0.5, degree=4)
    rng = np.random.default_rng(1)
    Q, K = rng.uniform(-0.5, 0.5, (300, 3)), rng.uniform(-0.5, 0.5, (517, 3))
    V, G = rng.normal(size=(517, 5)), rng.normal(size=(300, 5))
    assert len(_threads.split(520, plan.rank * 8, partials_rank=plan.rank)) - 1 == 520 // 128
    out = {}
    for threads in (1, 2):
        numba_threads(threads)
        out[threads] = (plan(Q, K, V), *plan.backward(Q, K, V, G))
    for a, b in zip(out[1], out[2]):
        assert np.array_equal(a, b)


@pytest.mark.slow
def test_sweep_rows_are_the_same_with_one_and_two_workers(tmp_path):
    """The runtime sweep measures err_max with the fused kernel (several tasks at n = 4096): one in-process
    worker with every thread and two workers of one thread each give the same rows but for the timings."""
    sweep = make_sweep("tiny", log2_ns=[12], kappas=[0.15])
    rows = {w: run_sweep(sweep, tmp_path / str(w), workers=w, progress=False).rows for w in (1, 2)}
    poly = [r for r in rows[1] if r["algo"] == "poly"]
    assert poly and poly[0]["measured"] and poly[0]["err_max"] > 0
    assert len(_threads.split(4096, poly[0]["rank"] * 16)) > 2  # d = 12: two tiles of 8 columns
    timing = {"t", "calls", "t_rows", "t_repeats", "inner"}
    for a, b in zip(rows[1], rows[2], strict=True):
        assert {k: v for k, v in a.items() if k not in timing} == {k: v for k, v in b.items() if k not in timing}
