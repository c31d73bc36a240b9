"""The sweep engine: expansion, seeds, checkpoint/resume, workers, Dask, refusals."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from promptlimits.experiments.phase import kappa_grid
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
    with pytest.raises(SweepError, match="unknown key 'bogus'; a sweep file holds name, point, grid"):
        load_sweep(p)


HEAD = 'name = "toy"\npoint = "_sweep_points:toy"\n'


@pytest.mark.parametrize("text, message", [
    (HEAD + 'seed = 1.5\n[grid]\nx = [1]\n', "key 'seed' must be an integer >= 0, got a float 1.5"),
    (HEAD + 'repeats = "2"\n[grid]\nx = [1]\n', "key 'repeats' must be an integer >= 1, got a string '2'"),
    (HEAD + 'grid = [1, 2]\n', "key 'grid' must be a table [grid] of parameter = [values], got an array"),
    (HEAD + 'fixed = 3\n[grid]\nx = [1]\n', "key 'fixed' must be a table [fixed] of parameter = value, got an integer"),
    (HEAD + 'points = {x = 1}\n', "key 'points' must be an array of tables [[points]], got a table"),
    (HEAD + 'check = true\n[grid]\nx = [1]\n', "key 'check' must be a 'module:function' string, got a boolean"),
    ('name = 3\npoint = "m:f"\n[grid]\nx = [1]\n', "key 'name' must be a string"),
    ('point = "m:f"\n[grid]\nx = [1]\n', "missing required key 'name'"),
    (HEAD + '[grid]\nx = 1\n', "grid entry 'x' must be a list, got int"),
    (HEAD + '[grid]\nx = [1]\n[fixed]\ny = [1, 2]\n', "fixed.y must be one value"),
])
def test_a_bad_sweep_file_names_the_key_and_the_type(tmp_path, text, message):
    p = tmp_path / "s.toml"
    p.write_text(text)
    with pytest.raises(SweepError) as info:
        load_sweep(p)
    assert str(info.value).startswith(f"{p}: ") and message in str(info.value), str(info.value)


def test_a_sweep_file_checks_points_with_the_point_modules_check_point(tmp_path):
    """Without ``check``, the point module's check_point refuses bad points before the run (no folder made)."""
    p = tmp_path / "s.toml"
    p.write_text('name = "stale"\npoint = "promptlimits.experiments.phase:phase_point"\n'
                 '[grid]\nn = [256, 1024]\nB = [0.5, 1.0]\n[fixed]\nd = 4\neps = 1e-6\n')
    sweep = load_sweep(p)
    assert sweep.check == "promptlimits.experiments.phase:check_point"
    with pytest.raises(SweepError, match="bad point 0 .*log2 n must be a real number") as info:
        run_sweep(sweep, tmp_path / "out", workers=1, progress=False)
    assert "resume" not in str(info.value)
    assert not (tmp_path / "out").exists()
    p.write_text('name = "t"\npoint = "_sweep_points:toy"\n[grid]\nx = [1]\n')
    assert load_sweep(p).check is None  # a module without check_point: no check


def test_the_documented_examples_run(tmp_path):
    """The SweepDef and TOML examples of the package docstring, and examples/sweeps/phase.toml, run."""
    import promptlimits.sweep as package

    doc = package.__doc__
    code = textwrap.dedent(doc[doc.index("    from promptlimits.sweep import"):doc.index("or, equivalently")])
    namespace = {}
    exec(code.replace('"results/phase-custom"', repr(str(tmp_path / "py"))), namespace)
    assert namespace["results"].meta["n_points"] == 6
    toml = textwrap.dedent(doc[doc.index('    name = "phase_custom"\n    point'):doc.index("In a file,")])
    (tmp_path / "doc.toml").write_text(toml)
    from_doc = load_sweep(tmp_path / "doc.toml")
    assert from_doc.check == namespace["sweep"].check and len(expand_points(from_doc)) == 7
    # examples/sweeps/phase.toml is the docstring's sweep with its kappa step grid given as a list
    example = load_sweep(TESTS.parent / "examples" / "sweeps" / "phase.toml")
    want = namespace["sweep"].to_dict()
    step, top = want["fixed"].pop("kappa_step"), want["fixed"].pop("kappa_max")
    want["grid"]["kappa"] = kappa_grid(step, top)
    assert {k: v for k, v in example.to_dict().items() if k != "description"} == \
        {k: v for k, v in want.items() if k != "description"}
    by_step = {(r["log2_n"], r["c"], r["kappa"]): r for r in namespace["results"].rows}
    by_list = run_sweep(example, tmp_path / "list", workers=1, progress=False).rows
    assert len(by_list) == len(by_step) == 30
    computed = ("B", "R", "g_star", "log_n_rank", "d", "B_star", "c_star", "verified")
    for r in by_list:  # the same rows, one point per kappa instead of one per (n, c)
        assert {k: r[k] for k in computed} == {k: by_step[r["log2_n"], r["c"], r["kappa"]][k] for k in computed}
    res = run_sweep(from_doc, tmp_path / "doc", workers=1, progress=False)
    assert [r["d"] for r in res.rows if r["point_id"] == 0] == [8] * 5  # the explicit point: d_fixed = 8
    assert res.rows[-1]["d"] == 16 and res.meta["summary"]["curves"]  # log2 n = 16, c = 1: d = 16


def test_resume_says_what_it_reuses_and_a_changed_setting_is_named(tmp_path):
    said = []
    ref = run_sweep(toy_sweep(), tmp_path / "ref", workers=1, progress=False, say=said.append)
    assert said == []
    out = tmp_path / "out"
    run_sweep(toy_sweep(), out, workers=1, progress=False)
    for f in ("toy.csv", "toy.json"):
        (out / f).unlink()
    journal = out / "toy.journal.jsonl"
    journal.write_text("\n".join(journal.read_text().splitlines()[:6]) + "\n")  # header + 5 points
    res = run_sweep(toy_sweep(), out, workers=1, progress=False, resume=True, say=said.append)
    assert res.rows == ref.rows
    assert said == [f"toy: resuming: 5 of 16 points reused from {journal}, 11 to compute"]
    res = run_sweep(toy_sweep(), tmp_path / "new", workers=1, progress=False, resume=True, say=said.append)
    assert said[-1] == f"toy: nothing to resume in {tmp_path / 'new'}; computing all 16 points"
    changed = toy_sweep(seed=8, grid={"x": list(range(9)), "scale": [1.0, 0.5]}, fixed={"tag": "t", "extra": 1})
    with pytest.raises(SweepError) as info:
        run_sweep(changed, out, workers=1, progress=False, resume=True)
    msg = str(info.value)
    assert msg.startswith(f"{journal} belongs to a different sweep definition: the settings differ (old -> new): ")
    assert "seed: 7 -> 8" in msg and "grid.x: [0, 1, 2, 3, 4, 5, 6, 7] -> [0, 1, 2, 3, 4, 5, 6, 7, 8]" in msg
    assert "fixed.extra: (absent) -> 1" in msg and "scale" not in msg.split("(old -> new)")[1]
    journal.unlink()  # a finished run without its journal: the sidecar's definition is compared
    with pytest.raises(SweepError, match=r"toy.json belongs to a different sweep definition: .*seed: 7 -> 3;"):
        run_sweep(toy_sweep(seed=3), out, workers=1, progress=False, resume=True)
    run_sweep(toy_sweep(), out, workers=1, progress=False, resume=True, say=said.append)
    assert said[-1] == f"toy: all 16 points already finished in {out}; nothing to compute"


def test_a_journal_without_its_definition_is_refused_by_hash(tmp_path):
    run_sweep(toy_sweep(), tmp_path, workers=1, progress=False)
    journal = tmp_path / "toy.journal.jsonl"
    lines = journal.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["definition"] == toy_sweep().to_dict()
    del header["definition"]
    journal.write_text("\n".join([json.dumps(header)] + lines[1:]) + "\n")
    with pytest.raises(SweepError, match=f"definition hash {toy_sweep().hash[:12]} != {toy_sweep(seed=8).hash[:12]}"):
        run_sweep(toy_sweep(seed=8), tmp_path, workers=1, progress=False, resume=True)


def test_ctrl_c_is_a_sweep_interrupted_that_keeps_the_finished_points(tmp_path, monkeypatch):
    import promptlimits.sweep.run as engine
    from promptlimits.sweep import SweepInterrupted

    real = engine._run_point

    def interrupt_at_three(spec, i, params, seed):
        if i == 3:
            raise KeyboardInterrupt
        return real(spec, i, params, seed)

    monkeypatch.setattr(engine, "_run_point", interrupt_at_three)
    with pytest.raises(SweepInterrupted) as info:
        run_sweep(toy_sweep(), tmp_path, workers=1, progress=False)
    assert isinstance(info.value, KeyboardInterrupt) and (info.value.saved, info.value.total) == (3, 16)
    assert str(info.value) == (f"3/16 points of sweep 'toy' saved in {tmp_path}; run the same command with --resume "
                               "to compute the rest")
    monkeypatch.setattr(engine, "_run_point", real)
    said = []
    run_sweep(toy_sweep(), tmp_path, workers=1, progress=False, resume=True, say=said.append)
    assert said == [f"toy: resuming: 3 of 16 points reused from {tmp_path / 'toy.journal.jsonl'}, 13 to compute"]


def test_a_first_point_that_fails_does_not_advise_resume(tmp_path):
    s = SweepDef(name="f", point="_sweep_points:failing", grid={"x": [2, 0]})
    with pytest.raises(SweepError, match=r"boom at x=2 \(no point saved\)$") as info:
        run_sweep(s, tmp_path, workers=1, progress=False)
    assert info.value.options is None


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


def test_several_workers_start_from_the_costliest_points():
    from promptlimits.sweep.run import point_costs, submission_order

    params = [{"x": x} for x in (3, 1, 4, 1, 5)]
    costs = point_costs("_sweep_points:toy", params)
    assert costs == [3.0, 1.0, 4.0, 1.0, 5.0]
    assert submission_order([0, 1, 2, 3, 4], costs) == [4, 2, 0, 1, 3]  # ties keep the index order
    assert submission_order([1, 3], costs) == [1, 3]
    assert point_costs("_sweep_points:typed", params) is not None  # one module, one cost function
    assert point_costs("promptlimits.experiments.phase:phase_point", [{}]) is None  # no point_cost: index order
    assert submission_order([2, 0], None) == [2, 0]
    assert point_costs("_sweep_points:toy", [{"x": 1}, {"y": 2}]) is None  # a cost that fails: index order
    big = point_costs("promptlimits.experiments.approx_error:error_point",
                      [{"n": 4096, "d": 8, "degree": g, "family": f} for g, f in ((15, "corners"), (15, "extremal"),
                                                                                  (3, "extremal"))])
    assert submission_order([0, 1, 2], big) == [1, 0, 2]


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


def test_no_live_dask_worker_is_reported_and_given_up_on(tmp_path, monkeypatch):
    """A cluster with no worker: the run says so after NO_WORKER_WARNING s and gives up after the timeout."""
    distributed = pytest.importorskip("distributed", reason="dask.distributed not installed")
    import promptlimits.sweep.run as engine

    monkeypatch.setattr(engine, "NO_WORKER_WARNING", 0.5)
    monkeypatch.setattr(engine, "DASK_POLL_SECONDS", 0.1)
    said = []
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        with pytest.raises(SweepError) as info:
            run_sweep(toy_sweep(), tmp_path, scheduler=address, progress=False, no_worker_timeout=1.5,
                      say=said.append)
    assert str(info.value).startswith(f"no live Dask worker at {address} for 1.5 s: gave up (0/16 points saved")
    assert info.value.options == "--resume"
    assert len(said) == 1 and said[0].startswith(f"toy: no live Dask worker at {address} for ")
    assert said[0].endswith("giving up after 1.5 s")
    with pytest.raises(SweepError, match="no_worker_timeout must be a finite number of seconds > 0"):
        run_sweep(toy_sweep(), tmp_path, scheduler=address, no_worker_timeout=0)


def test_without_a_timeout_the_run_waits_for_a_dask_worker_and_says_when_one_is_back(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed", reason="dask.distributed not installed")
    import promptlimits.sweep.run as engine

    monkeypatch.setattr(engine, "NO_WORKER_WARNING", 0.3)
    monkeypatch.setattr(engine, "DASK_POLL_SECONDS", 0.1)
    said = []
    with distributed.LocalCluster(n_workers=0, processes=False, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        def say(text):  # the warning starts a worker, as a user would
            said.append(text)
            if "no live Dask worker" in text:
                cluster.scale(1)

        res = run_sweep(toy_sweep(), tmp_path, scheduler=cluster.scheduler_address, progress=False, say=say)
    address = cluster.scheduler_address
    assert said[0].startswith(f"toy: no live Dask worker at {address} for ")
    assert said[0].endswith("waiting for one (Ctrl-C to stop; the finished points are saved)")
    assert said[1:] == [f"toy: a Dask worker is back at {address}"] and res.meta["complete"]


def test_unreachable_scheduler_fails_fast(tmp_path):
    pytest.importorskip("distributed", reason="dask.distributed not installed")
    import time

    t0 = time.time()
    with pytest.raises(SweepError, match="cannot reach Dask scheduler"):
        run_sweep(toy_sweep(), tmp_path, scheduler="tcp://127.0.0.1:9", progress=False)
    assert time.time() - t0 < 20
    assert not (tmp_path / "toy.journal.jsonl").exists()


def test_changes_of_explicit_points_name_the_parameter_and_its_values():
    from promptlimits.sweep.definition import definition_changes

    def pts(xs, last=5.0):
        return tuple({"x": float(x), "far": False} for x in xs) + ({"x": last, "far": True},)

    old = toy_sweep(grid={}, points=pts(range(8))).to_dict()
    assert definition_changes(old, toy_sweep(grid={}, points=pts((0, 1))).to_dict()) == [
        "points: 9 -> 3 explicit points",
        "points' x: [0.0, 1.0, 2.0, ..., 6.0, 7.0] -> [0.0, 1.0, 5.0]"]  # distinct values, sorted
    assert definition_changes(old, toy_sweep(grid={}, points=pts(range(8)), fixed={"tag": "u"}).to_dict()) == [
        "fixed.tag: 't' -> 'u'"]
    assert definition_changes(old, toy_sweep(grid={}, points=pts(range(8))).to_dict()) == []
    reordered = {**old, "points": old["points"][::-1]}  # the same values in another order: the first point
    assert definition_changes(old, reordered) == ["points[0]: x 0.0 -> 5.0, far False -> True"]
