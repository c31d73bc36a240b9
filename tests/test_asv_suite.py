"""The asv suite (benchmarks/): its configuration, a smoke run of every timed benchmark at a tiny size, and the
README speed table, which must be what benchmarks/table.py renders from the committed results.

No timing here: the smoke run calls each benchmark once and checks what it computed, and the table tests only
read stored JSON.
"""

import ast
import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_attention, bench_compile, bench_tuning, common, table  # noqa: E402


def test_asv_conf_is_json_with_the_fields_the_runner_relies_on():
    conf = json.loads((ROOT / "asv.conf.json").read_text())  # strict JSON: asv also accepts comments, we do not
    assert conf["version"] == 1
    assert conf["environment_type"] == "existing"  # `asv run --python=same`: the current environment
    assert conf["benchmark_dir"] == "benchmarks"
    assert (ROOT / conf["benchmark_dir"] / "__init__.py").is_file()
    assert Path(conf["results_dir"]) == Path("benchmarks/results") == table.RESULTS.relative_to(ROOT)
    ignored = (ROOT / "benchmarks" / ".gitignore").read_text().split()
    assert Path(conf["html_dir"]).relative_to("benchmarks").as_posix() + "/" in ignored


def test_library_does_not_import_the_suite():
    for path in (ROOT / "promptlimits").rglob("*.py"):
        text = path.read_text()
        assert "import benchmarks" not in text and "from benchmarks" not in text, path


def _benchmarks(cls):
    return [name for name in dir(cls) if name.startswith(("time_", "track_"))]


@pytest.mark.parametrize("cls, params", [
    (bench_attention.PolyAttention, (0.5, 32)),
    (bench_attention.ExactAttention, (32,)),
    (bench_attention.Plan, (0.25,)),
    (bench_attention.Blas, (16,)),
    (bench_tuning.TuningStep, ("exact", 16)),
    (bench_tuning.TuningStep, ("poly", 16)),
    (bench_tuning.BatchedTuning, ("3x8x2", "exact")),
    (bench_tuning.BatchedTuning, ("3x8x2", "poly")),
])
def test_each_benchmark_runs_once_at_a_tiny_size(cls, params):
    bench = cls()
    getattr(bench, "setup", lambda *p: None)(*params)  # as asv does: setup is optional
    names = _benchmarks(cls)
    assert names
    for name in names:
        getattr(bench, name)(*params)
    # the parameter grid asv runs matches the names it reports
    assert len(cls.params) == len(cls.param_names)


def test_setup_state_is_what_the_benchmarks_claim():
    poly = bench_attention.PolyAttention()
    poly.setup(0.25, 32)
    assert poly.plan.rank == 165 and poly.plan.certified  # degree 3 in d = 8 (C(11, 3))
    assert poly.Q.shape == (32, common.D) and float(abs(poly.Q).max()) <= 0.25
    plan = bench_attention.Plan()
    assert plan.track_rank(0.5) == 495
    before = dict(bench_attention._LAST_BOUND)
    plan.time_make_plan(0.5)
    plan.time_make_plan(0.5)
    assert bench_attention._LAST_BOUND[0.5] > before.get(0.5, 0.5)  # a new bound on each call: no cached plan
    batched = bench_tuning.BatchedTuning()
    batched.setup("3x8x2", "poly")
    assert batched.X.shape == (3, 4, common.D) and batched.Lp == 4 and batched.steps == 2


def test_batched_cases_parse_and_bad_ones_are_named():
    assert [common.parse_batched(c) for c in common.BATCHED] == [(8, 32, 100), (1024, 64, 10)]
    for bad in ("8x32", "8x0x3", "ax2x3", "2x1x3"):
        with pytest.raises(ValueError, match="SEQUENCESxNxSTEPS|n >= 2"):
            common.parse_batched(bad)


def test_cold_compile_script_is_valid_python():
    compile(bench_compile._SCRIPT, "<cold compile>", "exec")
    assert bench_compile.track_compile.params == ["cold", "warm"]


def test_degree_of_rank_inverts_the_binomial():
    assert [table.degree_of_rank(math.comb(8 + g, g)) for g in range(10)] == list(range(10))
    assert table.degree_of_rank(166) is None


def _fake_results(tmp_path, samples):
    """A results folder for machine ``m`` in asv's layout, every time benchmark with the given samples."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "machine.json").write_text(json.dumps({"machine": "m", "cpu": "Test CPU", "num_cpu": "2",
                                                      "ram": str(4 * 2**30), "os": "Linux", "version": 1}))
    columns = ["result", "params", "version", "started_at", "duration", "samples"]
    results = {}

    def add(name, params, values, sample_lists=None):
        keys = table._product([[ast.literal_eval(v) for v in p] for p in params])
        assert len(keys) == len(values)
        results[name] = [values, params, "v", 0, 1.0, sample_lists]

    B = [repr(b) for b in common.BS]
    N = [repr(n) for n in common.NS]
    k = len(common.BS) * len(common.NS)
    add("bench_attention.PolyAttention.time_forward", [B, N], [1.0] * k, [samples] * k)
    add("bench_attention.PolyAttention.time_backward", [B, N], [3.0] * k)
    add("bench_attention.ExactAttention.time_forward", [N], [10.0] * len(N))
    add("bench_attention.ExactAttention.time_backward", [N], [30.0] * len(N))
    add("bench_attention.Plan.track_rank", [B], [165, 495, 12870])
    add("bench_attention.Plan.time_make_plan", [B], [0.002, 0.003, 0.004])
    # BLAS: 50, 100 and 80 GFLOP/s; the reference is the best, 100
    add("bench_attention.Blas.time_matmul", [[repr(n) for n in common.BLAS_NS]],
        [common.flops_matmul(n) / r for n, r in zip(common.BLAS_NS, (50e9, 100e9, 80e9))])
    add("bench_attention.track_load_average", [], [1.5])
    add("bench_compile.track_compile", [["'cold'", "'warm'"]], [20.0, 2.0])
    add("bench_tuning.TuningStep.time_step", [["'exact'", "'poly'"], [repr(n) for n in common.TUNING_NS]],
        [1.0, 2.0, 0.5, 0.5])
    add("bench_tuning.BatchedTuning.time_adam", [[repr(c) for c in common.BATCHED], ["'exact'", "'poly'"]],
        [0.1, 1.0, 0.7, 0.35])
    run = {"commit_hash": "0123456789abcdef", "date": 1_700_000_000_000, "result_columns": columns,
           "results": results, "version": 2}
    (folder / "0123456-existing.json").write_text(json.dumps(run))
    return tmp_path


def test_table_arithmetic_on_known_results(tmp_path):
    # forward samples: the table takes the best (0.5 s), not asv's stored median (1.0 s)
    out = table.render("m", _fake_results(tmp_path, [0.9, 0.5, 0.7]))
    assert "Test CPU, 2 cores, 4 GiB RAM" in out and "commit `01234567`" in out and "load average 1.50" in out
    assert "100 GFLOP/s (BLAS)" in out
    rows = {tuple(c.strip() for c in line.split("|")[1:4]): [c.strip() for c in line.split("|")[4:-1]]
            for line in out.splitlines() if line.startswith("| 0.25") or line.startswith("| 1 ")}
    fwd, exact, ratio, rate, bwd, bexact, bratio, brate = rows[("0.25", "3, 165", "1,024")]
    assert (fwd, exact, ratio, bwd, bexact, bratio) == ("500 ms", "10 s", "20x", "3 s", "30 s", "10x")
    g = common.flops_forward(1024, 165) / 0.5 / 1e9
    assert rate == f"{g:.3g} ({g / 100:.2f})"
    gb = common.flops_backward(1024, 165) / 3.0 / 1e9
    assert brate == f"{gb:.3g} ({gb / 100:.2f})"
    assert rows[("1", "8, 12,870", "4,096")][:3] == ["500 ms", "10 s", "20x"]
    assert "| one step, n = 1,024 | 1 s | 500 ms | 2x |" in out
    assert "| one step, n = 4,096 | 2 s | 500 ms | 4x |" in out
    assert "| 100 Adam steps, 8 sequences of n = 32 | 100 ms | 1 s | 0.1x |" in out
    assert "| 10 Adam steps, 1,024 sequences of n = 64 | 700 ms | 350 ms | 2x |" in out
    assert "2 ms (B = 0.25), 3 ms (B = 0.5), 4 ms (B = 1)" in out
    assert "takes 20 s, against 2 s from a filled cache" in out


def test_table_warns_when_the_load_exceeded_the_cores(tmp_path):
    folder = _fake_results(tmp_path, None)
    assert "above the 2 cores" not in table.render("m", folder)  # load 1.5 on 2 cores
    run_file = next(p for p in (folder / "m").glob("*.json") if p.name != "machine.json")
    run = json.loads(run_file.read_text())
    run["results"]["bench_attention.track_load_average"][0] = [5.0]
    run_file.write_text(json.dumps(run))
    out = table.render("m", folder)
    assert "load average 5.00" in out and "above the 2 cores" in out


def test_table_refuses_an_unknown_machine(tmp_path):
    with pytest.raises(ValueError, match="no asv results for machine 'x'.*'m'"):
        table.render("x", _fake_results(tmp_path, None))


def test_readme_table_is_the_generator_output_of_the_committed_results():
    text = (ROOT / "README.md").read_text()
    machine, start, stop = table.readme_block(text)
    assert (table.RESULTS / machine / "machine.json").is_file()
    expected = table.render(machine)
    assert "-" not in [cell.strip() for line in expected.splitlines() if line.startswith("| ")
                       for cell in line.split("|")[1:-1]], "a benchmark of the committed run has no result"
    assert text[start:stop] == expected, "README's speed table is stale: run `python -m benchmarks.table --readme`"
