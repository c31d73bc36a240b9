"""Sweeps cannot lose or invent rows, read back every cell as written, and leave nothing behind on an early error.

Each failure seen in earlier versions (rows lost silently, empty output folders, report.md
with mode 0600, resume=True on a changed sweep) is a test here.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_sweep_engine import toy_sweep

from promptlimits import _io
from promptlimits.sweep import SweepDef, SweepError, read_results, run_sweep

TESTS = Path(__file__).parent
ROOT = TESTS.parent


@pytest.fixture
def finished(tmp_path):
    """A finished toy sweep (16 points, 2 rows each) and its files."""
    ref = run_sweep(toy_sweep(), tmp_path, workers=1, progress=False)
    return ref, tmp_path / "toy.csv", tmp_path / "toy.json", tmp_path / "toy.journal.jsonl"


def _journal_only(finished):
    """Keep only the journal (as after a kill before the CSV was written); return its lines."""
    _, csv, meta, journal = finished
    csv.unlink()
    meta.unlink()
    return journal.read_bytes().splitlines(keepends=True)


def _resume(folder, **kw):
    return run_sweep(toy_sweep(**kw), folder, workers=1, progress=False, resume=True)


# ----------------------------------------------------------------------------- the journal
def test_a_point_with_no_rows_is_corrupt_not_dropped(finished):
    """Reproducer: {"point_id": 3, "rows": []} made --resume drop point 3 and mark the sidecar complete."""
    lines = _journal_only(finished)
    journal = finished[3]
    lines[1 + 3] = b'{"point_id": 3, "rows": []}\n'  # line 5: header, then points 0, 1, 2, 3
    journal.write_bytes(b"".join(lines))
    with pytest.raises(SweepError, match=r"toy\.journal\.jsonl is corrupt at line 5: point 3 has no rows"):
        _resume(journal.parent)
    assert journal.read_bytes() == b"".join(lines)
    assert not finished[1].exists() and not finished[2].exists()


def _row_edit(edit):
    """A journal line for point 3 whose rows went through ``edit(rows) -> rows``."""
    def apply(line):
        rec = json.loads(line)
        rec["rows"] = edit(rec["rows"])
        return (json.dumps(rec) + "\n").encode()
    return apply


@pytest.mark.parametrize("damage, problem", [
    (lambda line: b'{"point_id": 99, "rows": [{}]}\n', "point_id 99 is not in 0..15"),
    (lambda line: b'{"point_id": true, "rows": [{}]}\n', "point_id True is not in"),
    (lambda line: b'{"point_id": 3}\n', r"not a point record"),
    (lambda line: b'[3, []]\n', r"not a point record"),
    (_row_edit(lambda rows: {"x": 1}), "the rows of point 3 are not a list"),
    (_row_edit(lambda rows: [rows[0], 7]), "row 1 of point 3 is not an object"),
    (_row_edit(lambda rows: [{**rows[0], "point_id": 4}]), "row 0 of point 3 has point_id=4"),
    (_row_edit(lambda rows: [{**rows[0], "x": 9}]), "row 0 of point 3 has x=9, the definition says 1"),
    (_row_edit(lambda rows: [{**rows[0], "scale": 1}]), "row 0 of point 3 has scale=1, the definition says 0.5"),
    (_row_edit(lambda rows: [{**rows[0], "seed": 1}]), "row 0 of point 3 has seed=1"),
    (_row_edit(lambda rows: [{k: v for k, v in rows[0].items() if k != "tag"}]),
     "row 0 of point 3 has no 'tag', the definition says 't'"),
    (_row_edit(lambda rows: [{**rows[0], "value": [1, 2]}]), "column 'value' of row 0 of point 3 is not a scalar"),
    (_row_edit(lambda rows: [{**rows[0], "value": float("nan")}]), "column 'value' .* not a scalar: nan"),
])
def test_malformed_journal_rows_are_refused_before_any_point_is_computed(finished, damage, problem):
    """Journal rows must match their point; the refusal comes before the missing points are computed."""
    lines = _journal_only(finished)
    journal = finished[3]
    lines[1 + 3] = damage(lines[1 + 3])
    kept = b"".join(lines[:1 + 8])  # points 0..7 finished, the rest still to compute
    journal.write_bytes(kept)
    with pytest.raises(SweepError, match=r"toy\.journal\.jsonl is corrupt at line 5: " + problem):
        _resume(journal.parent)
    assert journal.read_bytes() == kept  # nothing computed, nothing appended


def test_duplicate_journal_entries(finished):
    """Byte-identical copies of a point are ignored; two different records of one point are refused."""
    ref = finished[0]
    lines = _journal_only(finished)
    journal = finished[3]
    journal.write_bytes(b"".join(lines[:6] + [lines[4]] + lines[6:]))  # point 3 twice, identical
    assert _resume(journal.parent).rows == ref.rows
    assert finished[1].read_bytes().count(b"\n") == 1 + 32
    for p in finished[1:3]:
        p.unlink()
    other = json.loads(lines[4])
    other["rows"][0]["value"] += 1.0
    journal.write_bytes(b"".join(lines + [(json.dumps(other) + "\n").encode()]))
    with pytest.raises(SweepError, match="lines 5 and 18 hold different rows for point 3"):
        _resume(journal.parent)


# ----------------------------------------------------------------------------- CSV + sidecar without journal
def test_truncated_csv_without_journal_is_refused(finished):
    """Reproducer: a truncated CSV resumed as "32 points, 40 rows", exit 0."""
    _, csv, _, journal = finished
    journal.unlink()
    lines = csv.read_bytes().splitlines(keepends=True)
    csv.write_bytes(b"".join(lines[:-3]))  # point 14 loses a row, point 15 both
    with pytest.raises(SweepError, match=r"toy\.csv holds 1 row\(s\) of point 14; its sidecar records 2"):
        _resume(csv.parent)
    with pytest.raises(SweepError, match="point 14"):
        read_results(csv)


@pytest.mark.parametrize("garbage", [b"", b"\x00\xff\xfe garbage", b"a,b\n1,2\n", b"garbage\n"])
def test_garbage_csv_without_journal_is_refused(finished, garbage):
    """Reproducer: a garbage CSV resumed as "0 rows", exit 0."""
    _, csv, _, journal = finished
    journal.unlink()
    csv.write_bytes(garbage)
    with pytest.raises(SweepError, match=r"toy\.csv"):
        _resume(csv.parent)


@pytest.mark.parametrize("edit, message", [
    (lambda ls: ls[:3] + [ls[3]] + ls[3:], r"holds 3 row\(s\) of point 1; its sidecar records 2"),  # a row invented
    (lambda ls: ls[:1] + ls[3:5] + ls[1:3] + ls[5:], "out of point order"),
    (lambda ls: ls[:5] + [ls[5].replace(b",t,1,", b",t,7,", 1)] + ls[6:],
     r"does not match its sweep definition: row 0 of point 2 has x=7, the definition says 1"),
    (lambda ls: ls[:2] + [ls[2].replace(b",b,", b",b,,", 1)] + ls[3:], "corrupt at line 3: 10 cells, expected 9"),
    (lambda ls: ls[:2] + [ls[2].replace(b"True", b"1", 1)] + ls[3:],
     r"corrupt at line 3, column 'flag' \(bool\|None\)"),
])
def test_csv_rows_that_do_not_match_the_sidecar_or_definition(finished, edit, message):
    _, csv, _, journal = finished
    journal.unlink()
    csv.write_bytes(b"".join(edit(csv.read_bytes().splitlines(keepends=True))))
    with pytest.raises(SweepError, match=message):
        _resume(csv.parent)


def test_a_csv_needs_its_typed_sidecar(finished):
    _, csv, meta, _ = finished
    data = json.loads(meta.read_text())
    del data["column_types"]
    meta.write_text(json.dumps(data))
    with pytest.raises(SweepError, match=r"toy\.json records no valid column types"):
        read_results(csv)
    meta.unlink()
    with pytest.raises(SweepError, match=r"toy\.csv has no sidecar toy\.json"):
        read_results(csv)


def test_sidecar_records_rows_per_point_and_complete(finished):
    ref, _, meta, _ = finished
    m = json.loads(meta.read_text())
    assert m["complete"] is True and m["rows_per_point"] == [2] * 16 and m["n_rows"] == 32
    assert m["column_types"] == {"point_id": "int", "tag": "str", "x": "int", "scale": "float", "seed": "int",
                                 "kind": "str", "value": "float", "note": "str|None", "flag": "bool|None"}


def test_an_incomplete_run_writes_no_sidecar(tmp_path):
    """The sidecar is written only from a full set of points (the engine's own guard)."""
    from promptlimits.sweep import run as run_mod

    run = run_mod._prepare(toy_sweep(), tmp_path, resume=False)
    for i in range(15):
        run.done[i] = run_mod._run_point(run.sweep.point, i, run.params[i], run.seeds[i])[1]
    with pytest.raises(SweepError, match=r"points \[15\] .* have no rows; nothing written"):
        run_mod._write(run, time.time(), "test", None)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- typed CSV
def test_every_cell_reads_back_as_its_type(tmp_path):
    """A string "1" stays a string, integral floats stay floats, ints and floats mixed become floats."""
    s = SweepDef(name="typed", point="_sweep_points:typed", grid={"x": [0, 1, 2, 3]})
    res = run_sweep(s, tmp_path, workers=1, progress=False)
    back = read_results(tmp_path)
    assert back.meta["column_types"] == {
        "point_id": "int", "x": "int", "seed": "int", "label": "str", "count": "int", "ratio": "float",
        "ok": "bool", "maybe": "float|None", "empty": "str", "mixed": "float", "nan": "None", "big": "float"}
    for got, want in zip(back.rows, res.rows):
        assert [(k, type(v), v) for k, v in got.items()] == [(k, type(v), v) for k, v in want.items()]
    assert [r["label"] for r in back.rows] == ["0", "1", "2", "3"]
    assert [r["ratio"] for r in back.rows] == [0.0, 1.0, 2.0, 3.0] and all(type(r["ratio"]) is float for r in back.rows)
    assert [r["mixed"] for r in back.rows] == [0.5, 1.0, 2.5, 3.0]
    assert back.rows[0]["maybe"] is None and back.rows[1]["big"] == float("inf")
    assert all(r["empty"] == "" and r["nan"] is None for r in back.rows)


def test_a_column_of_two_types_is_refused(tmp_path):
    s = SweepDef(name="clash", point="_sweep_points:clashing", grid={"x": [0, 1]})
    with pytest.raises(SweepError, match=r"column 'v' holds int \(point 1\) and str \(point 0\)"):
        run_sweep(s, tmp_path, workers=1, progress=False)
    assert not (tmp_path / "clash.csv").exists() and not (tmp_path / "clash.json").exists()


# ----------------------------------------------------------------------------- early errors leave nothing
@pytest.mark.parametrize("case", ["bad point", "bad definition", "first point fails", "unwritable", "workers"])
def test_early_errors_leave_no_folder(tmp_path, case):
    out = tmp_path / "a" / "b"
    kw = dict(workers=1, progress=False)
    if case == "bad point":
        s = SweepDef(name="g", point="_sweep_points:toy", grid={"x": [1, -1]}, check="_sweep_points:check_nonneg")
        match = "bad point 1"
    elif case == "bad definition":
        s, match = SweepDef(name="g", point="_sweep_points:nonexistent", grid={"x": [1]}), "cannot import"
    elif case == "first point fails":
        s, match = SweepDef(name="f", point="_sweep_points:failing", grid={"x": [2, 3]}), r"\(no point saved\)"
    elif case == "unwritable":
        s, match, out = toy_sweep(), "is not a folder", tmp_path / "file" / "sub"
        (tmp_path / "file").write_text("x")
    else:
        s, match, kw = toy_sweep(), "workers must be an integer >= 0", dict(workers=-1, progress=False)
    with pytest.raises(SweepError, match=match):
        run_sweep(s, out, **kw)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["file"] if case == "unwritable" else [])


def test_unreachable_scheduler_leaves_no_folder(tmp_path):
    pytest.importorskip("distributed", reason="dask.distributed not installed")
    with pytest.raises(SweepError, match="cannot reach Dask scheduler"):
        run_sweep(toy_sweep(), tmp_path / "new", scheduler="tcp://127.0.0.1:9", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_resuming_a_finished_journal_needs_no_workers_but_checks_them(finished):
    ref, csv, meta, _ = finished
    before = csv.read_bytes()
    csv.unlink()
    meta.unlink()
    with pytest.raises(SweepError, match="workers must be an integer >= 0, got -1"):
        run_sweep(toy_sweep(), csv.parent, workers=-1, progress=False, resume=True)
    res = run_sweep(toy_sweep(), csv.parent, scheduler="tcp://127.0.0.1:9", progress=False, resume=True)
    assert res.rows == ref.rows and csv.read_bytes() == before


def test_existing_results_message_names_the_folder_without_python(finished):
    folder = finished[1].parent
    before = sorted((p.name, p.read_bytes()) for p in folder.iterdir())
    with pytest.raises(SweepError) as info:
        run_sweep(toy_sweep(), folder, workers=1, progress=False)
    msg = str(info.value)
    assert msg == (f"{folder} already holds results of sweep 'toy': resume it or choose another output folder "
                   "(command line: --resume or --out)")
    assert "=True" not in msg and "\n" not in msg and info.value.options == "--resume or --out"
    assert sorted((p.name, p.read_bytes()) for p in folder.iterdir()) == before


def test_files_are_written_with_the_umask(tmp_path):
    """Reproducer: report.md (through _io) came out 0600 whatever the umask."""
    old = os.umask(0o027)
    try:
        _io.atomic_write_text(tmp_path / "report.md", "x\n")
        _io.write_json(tmp_path / "r.json", {"a": 1})
        run_sweep(toy_sweep(), tmp_path / "res", workers=1, progress=False)
    finally:
        os.umask(old)
    for p in [tmp_path / "report.md", tmp_path / "r.json", tmp_path / "res" / "toy.csv", tmp_path / "res" / "toy.json"]:
        assert p.stat().st_mode & 0o777 == 0o640, p
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "report.md", "res"]  # no temp files left


# ----------------------------------------------------------------------------- workers die with their parent
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie nobody reaps is gone too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _pids(folder: Path) -> list[int]:
    return sorted(int(p.name) for p in folder.iterdir())


def _reap(pids) -> None:
    for pid in pids:  # only processes this test started
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 semantics")
def test_pool_workers_exit_when_the_sweep_is_killed(tmp_path):
    """Reproducer: after kill -9 of a sweep with 2 workers, the workers stayed alive for minutes."""
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    script = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
        "from promptlimits.sweep import SweepDef, run_sweep\n"
        "s = SweepDef(name='sleepy', point='_sweep_points:sleepy', grid={'x': [0, 1, 2, 3]})\n"
        f"run_sweep(s, {str(tmp_path / 'out')!r}, workers=2, progress=False)\n"
    )
    env = {**os.environ, "SWEEP_TEST_PID_DIR": str(pid_dir)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers = []
    try:
        assert _wait_for(lambda: len(_pids(pid_dir)) == 2 or proc.poll() is not None, 120), "workers never started"
        workers = _pids(pid_dir)
        assert len(workers) == 2, proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert _wait_for(lambda: not any(_alive(p) for p in workers), 5), "workers outlived their parent"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stderr.close()
        _reap(workers)


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 semantics")
def test_parent_watch_fallback_without_prctl(tmp_path):
    """The portable fallback alone (a thread polling os.getppid) ends the process when its parent dies."""
    ready = tmp_path / "ready"
    child = (
        "import os, pathlib, time\n"
        "from promptlimits.sweep.run import exit_with_parent\n"
        "exit_with_parent(os.getppid(), use_prctl=False, poll=0.05)\n"
        f"pathlib.Path({str(ready) + '.tmp'!r}).write_text(str(os.getpid()))\n"
        f"os.replace({str(ready) + '.tmp'!r}, {str(ready)!r})\n"
        "time.sleep(600)\n"
    )
    middle = f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', {child!r}])\ntime.sleep(600)\n"
    proc = subprocess.Popen([sys.executable, "-c", middle], cwd=ROOT)
    pid = None
    try:
        assert _wait_for(ready.exists, 60), "child never armed"
        pid = int(ready.read_text())
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert _wait_for(lambda: not _alive(pid), 5), "child outlived its parent"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        _reap([pid] if pid else [])
