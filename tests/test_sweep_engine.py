"""The sweep engine: expansion, seeds, checkpoint/resume, workers, Dask, refusals."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from promptlimits.sweep import (
    SweepDef,
    SweepError,
    expand_points,
    load_sweep,
    point_seeds,
    read_results,
    run_sweep,
)

TESTS = Path(__file__).parent


def toy_sweep(**kw):
    base = dict(
        name="toy",
        point="_sweep_points:toy",
        grid={"x": list(range(8)), "scale": [1.0, 0.5]},
        fixed={"tag": "t"},
        seed=7,
    )
    base.update(kw)
    return SweepDef(**base)


def without(rows, cols=()):
    return sorted(tuple(sorted((k, v) for k, v in r.items() if k not in cols)) for r in rows)


def test_expansion_order_fixed_and_repeats():
    s = SweepDef(name="e", point="m:f", grid={"a": [1, 2], "b": ["x", "y"]}, points=({"a": 9},),
                 fixed={"c": 0.5, "b": "z"}, repeats=2)
    pts = expand_points(s)
    assert pts[0] == {"c": 0.5, "b": "z", "a": 9, "repeat": 0}
    assert [(p["a"], p["b"]) for p in pts[2::2]] == [(1, "x"), (1, "y"), (2, "x"), (2, "y")]
    assert len(pts) == 10
    seeds = point_seeds(s, len(pts))
    assert len(set(seeds)) == len(seeds) and seeds == point_seeds(s, len(pts))


def test_definition_validation():
    with pytest.raises(SweepError, match="empty"):
        SweepDef(name="e", point="m:f", grid={"a": []})
    with pytest.raises(SweepError, match="no points"):
        SweepDef(name="e", point="m:f")
    with pytest.raises(SweepError, match="module:function"):
        SweepDef(name="e", point="nofunction", grid={"a": [1]})
    with pytest.raises(SweepError, match="reserved"):
        SweepDef(name="e", point="m:f", grid={"seed": [1]})
    with pytest.raises(SweepError, match="name"):
        SweepDef(name="a/b", point="m:f", grid={"a": [1]})


def test_toml_roundtrip(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(textwrap.dedent("""
        name = "toy"
        point = "_sweep_points:toy"
        seed = 7
        [grid]
        x = [0, 1, 2, 3, 4, 5, 6, 7]
        scale = [1.0, 0.5]
        [fixed]
        tag = "t"
    """))
    s = load_sweep(p)
    assert s == toy_sweep() and s.hash == toy_sweep().hash
    p.write_text('name = "toy"\npoint = "_sweep_points:toy"\nbogus = 1\n[grid]\nx=[1]\n')
    with pytest.raises(SweepError, match="unknown keys"):
        load_sweep(p)


def test_results_roundtrip_and_refusals(tmp_path):
    res = run_sweep(toy_sweep(), tmp_path, workers=1, progress=False)
    assert len(res.rows) == 32
    back = read_results(tmp_path)
    assert back.rows == res.rows  # types and floats round-trip exactly
    assert back.meta["definition_hash"] == toy_sweep().hash and back.meta["complete"]
    assert back.columns[:5] == ["point_id", "tag", "x", "scale", "seed"]
    assert back.rows[1]["flag"] is True and back.rows[1]["note"] == "x=0"
    # no silent overwrite; resume of a finished run recomputes nothing
    with pytest.raises(SweepError, match="--resume"):
        run_sweep(toy_sweep(), tmp_path, workers=1, progress=False)
    again = run_sweep(toy_sweep(), tmp_path, workers=1, progress=False, resume=True)
    assert again.rows == res.rows
    # another definition onto the same directory is refused, files untouched
    before = (tmp_path / "toy.csv").read_bytes()
    with pytest.raises(SweepError, match="different sweep definition"):
        run_sweep(toy_sweep(seed=8), tmp_path, workers=1, progress=False, resume=True)
    assert (tmp_path / "toy.csv").read_bytes() == before


def test_one_vs_two_workers_identical(tmp_path):
    a = run_sweep(toy_sweep(), tmp_path / "one", workers=1, progress=False)
    b = run_sweep(toy_sweep(), tmp_path / "two", workers=2, progress=False)
    assert a.rows == b.rows
    assert (tmp_path / "one" / "toy.csv").read_bytes() == (tmp_path / "two" / "toy.csv").read_bytes()


def test_kill_and_resume_gives_same_csv(tmp_path):
    ref = run_sweep(toy_sweep(), tmp_path / "ref", workers=1, progress=False)
    out = tmp_path / "killed"
    script = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
        "from test_sweep_engine import toy_sweep\n"
        "from promptlimits.sweep import run_sweep\n"
        f"run_sweep(toy_sweep(), {str(out)!r}, workers=1, progress=False)\n"
    )
    env = {**os.environ, "SWEEP_TEST_CRASH_AT": "5"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=120)
    assert proc.returncode == 3, proc.stderr.decode()
    journal = out / "toy.journal.jsonl"
    lines = journal.read_bytes().splitlines()
    assert len(lines) == 1 + 10  # header + points x=0..4 (two scales each)
    assert not (out / "toy.csv").exists()
    # simulate a kill in the middle of a write: a half line at the end
    with open(journal, "ab") as fh:
        fh.write(b'{"point_id": 10, "rows": [{"x"')
    with pytest.raises(SweepError, match="--resume"):
        run_sweep(toy_sweep(), out, workers=1, progress=False)
    res = run_sweep(toy_sweep(), out, workers=2, progress=False, resume=True)
    assert res.rows == ref.rows
    assert (out / "toy.csv").read_bytes() == (tmp_path / "ref" / "toy.csv").read_bytes()


def test_corrupt_journal_refused(tmp_path):
    run_sweep(toy_sweep(), tmp_path, workers=1, progress=False)
    (tmp_path / "toy.csv").unlink()
    (tmp_path / "toy.json").unlink()
    j = tmp_path / "toy.journal.jsonl"
    lines = j.read_bytes().splitlines(keepends=True)
    lines[3] = b"garbage\n"
    j.write_bytes(b"".join(lines))
    with pytest.raises(SweepError, match="corrupt at line 4"):
        run_sweep(toy_sweep(), tmp_path, workers=1, progress=False, resume=True)
    assert j.read_bytes() == b"".join(lines)


def test_failing_point_keeps_finished_and_validation(tmp_path):
    s = SweepDef(name="f", point="_sweep_points:failing", grid={"x": [0, 1, 2, 3]})
    with pytest.raises(SweepError, match="boom at x=2"):
        run_sweep(s, tmp_path, workers=1, progress=False)
    lines = (tmp_path / "f.journal.jsonl").read_text().splitlines()
    assert [json.loads(x)["point_id"] for x in lines[1:]] == [0, 1]
    bad = SweepDef(name="g", point="_sweep_points:toy", grid={"x": [1, -1]}, check="_sweep_points:check_nonneg")
    with pytest.raises(SweepError, match="x must be >= 0, got -1"):
        run_sweep(bad, tmp_path, workers=1, progress=False)
    assert not (tmp_path / "g.journal.jsonl").exists()


def test_dask_local_cluster_same_rows(tmp_path):
    distributed = pytest.importorskip("distributed", reason="dask.distributed not installed")
    ref = run_sweep(toy_sweep(), tmp_path / "local", workers=1, progress=False)
    with distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        res = run_sweep(toy_sweep(), tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False)
    assert res.rows == ref.rows


def test_unreachable_scheduler_fails_fast(tmp_path):
    pytest.importorskip("distributed", reason="dask.distributed not installed")
    import time

    t0 = time.time()
    with pytest.raises(SweepError, match="cannot reach Dask scheduler"):
        run_sweep(toy_sweep(), tmp_path, scheduler="tcp://127.0.0.1:9", progress=False)
    assert time.time() - t0 < 20
    assert not (tmp_path / "toy.journal.jsonl").exists()
