"""``promptlimits reproduce`` at the tiny scale, driven by the registries; its resume and its bad input."""

import json
import re

import pytest

from promptlimits import figures
from promptlimits.cli import main
from promptlimits.experiments import EXPERIMENTS
from promptlimits.experiments.verdict import STATUSES

STEMS = [stem for e in EXPERIMENTS for stem in e.figures]

# The report's claim sections and table rows, numbered 1, 2, ..., 10, ... (any number of digits).
SECTION = re.compile(r"^## (\d+)\. (.+)$", re.M)
TABLE_ROW = re.compile(r"^\| (\d+) \| [^|]+ \| ([a-z ]+) \| [^|]+ \|$", re.M)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    rc = main(["reproduce", "--scale", "tiny", "--out", str(out), "--workers", "1", "--no-progress"])
    return out, rc


def test_the_registries_agree():
    # every figure module's stem is drawn by exactly one registered experiment, and no experiment names an unknown one
    assert sorted(STEMS) == sorted(figures.FIGURES)
    assert len(set(STEMS)) == len(STEMS)
    assert len({e.name for e in EXPERIMENTS}) == len(EXPERIMENTS)


def test_every_experiment_runs_and_every_figure_is_drawn(tiny_run):
    out, rc = tiny_run
    assert rc == 0
    for e in EXPERIMENTS:
        assert (out / "results" / f"{e.name}.csv").is_file(), e.name
    for stem in STEMS:
        for ext in ("png", "pdf"):
            path = out / "figures" / f"{stem}.{ext}"
            assert path.is_file() and path.stat().st_size > 1000, path


def test_report_has_one_section_per_verdict(tiny_run):
    out, _ = tiny_run
    report = (out / "report.md").read_text()
    claims = len(json.loads((out / "verdicts.json").read_text())["verdicts"])  # as many as the registry gives
    assert claims >= len(EXPERIMENTS) - 1  # every experiment but the prompt-norm evidence has a claim
    sections = SECTION.findall(report)
    assert [int(i) for i, _ in sections] == list(range(1, claims + 1))
    for part in ("**Claim.**", "**Figure.**", "**Measured.**", "**Settings.**", "**Rule.**",
                 "**Would have failed if.**", "**Test strength.**", "**Smoke test, not a verdict: the rule gave"):
        assert report.count(part) == claims, part
    assert "issue" not in report.lower()  # the report speaks about the project, not about its tracker
    # tiny is a smoke test: the header, the table and every status line say so, and no line calls it a verdict
    assert report.startswith("# promptlimits report (smoke test)") and "**Smoke test.** At the `tiny` scale" in report
    assert "**Verdict:" not in report and "| smoke test: the rule gave |" in report
    statuses = re.findall(r"\*\*Smoke test, not a verdict: the rule gave ([a-z ]+)\.\*\*", report)
    assert all(v in STATUSES for v in statuses) and "not checked" not in statuses, statuses
    table = TABLE_ROW.findall(report)
    assert [int(i) for i, _ in table] == list(range(1, claims + 1))
    assert [s for _, s in table] == statuses  # the table agrees with the sections
    assert "## proofs_check" in report and "every check holds" in report
    for stem in STEMS:
        assert f"figures/{stem}.png" in report
    # provenance in the header, before the claims
    head = report[:report.index("## Claims")]
    for part in ("## Provenance", "- Commit: ", "- Versions: python ", "numpy ", "scipy ", "numba ", "sympy ",
                 "matplotlib ", "promptlimits ", "- CPU: ", "- BLAS: ", "- Numba: threading layer ",
                 "- Scale `tiny`, seed 0"):
        assert part in head, part
    assert "## Timing" in report and "| total |" in report


def test_every_registered_experiment_gives_well_formed_verdicts_showing_its_figures(tiny_run):
    from test_experiments_registry import check_verdict_fields

    from promptlimits.sweep import read_results

    out, _ = tiny_run
    results = {e.name: read_results(out / "results", name=e.name) for e in EXPERIMENTS}
    by_experiment = {e.name: e.module.verdicts(results) for e in EXPERIMENTS}
    check_verdict_fields(by_experiment)
    assert {s for vs in by_experiment.values() for v in vs for s in v.figures} == set(STEMS)  # every figure shown


@pytest.mark.parametrize("scale", ["tiny", "quick"])
def test_report_numbers_ten_and_more_claims(scale):
    """Twelve claims: sections and table rows run 1..12 (two digits from 10 on) and agree title by title."""
    from promptlimits.experiments.report import render
    from promptlimits.experiments.verdict import Verdict

    verdicts = [Verdict(f"claim-{i}", f"Claim number {i}", "c", STATUSES[i % len(STATUSES)], "r", "f", "s",
                        numbers=(f"x = {i}",), figures=(STEMS[i % len(STEMS)],), why="w") for i in range(1, 13)]
    report = render(scale, verdicts, {"total": 1.0}, None, seed=0)
    sections = SECTION.findall(report)
    assert [(int(i), t) for i, t in sections] == [(i, f"Claim number {i}") for i in range(1, 13)]
    table = TABLE_ROW.findall(report)
    assert [(int(i), s) for i, s in table] == [(i, v.status) for i, v in enumerate(verdicts, 1)]
    # a one-digit pattern, the old one, would have lost claims 10 to 12: the test can tell
    assert len(re.findall(r"^## (\d)\. (.+)$", report, flags=re.M)) == 9


def test_the_run_folder_holds_each_part_once_and_the_verdict_table(tiny_run):
    out, _ = tiny_run
    assert sorted(p.name for p in out.iterdir()) == ["figures", "report.md", "results", "verdicts.json"]
    assert not (out / "results" / "results").exists() and not (out / "figures" / "figures").exists()
    assert not any(p.is_dir() for p in (out / "results").iterdir())  # sweep files only, nothing nested
    doc = json.loads((out / "verdicts.json").read_text())
    assert (doc["scale"], doc["seed"], doc["smoke_test"], doc["proofs_check"]) == ("tiny", 0, True,
                                                                                  "every check holds")
    assert set(doc["provenance"]) >= {"commit", "versions", "cpu", "blas", "numba"}
    report = (out / "report.md").read_text()
    titles = [t for _, t in SECTION.findall(report)]
    statuses = re.findall(r"the rule gave ([a-z ]+)\.\*\*", report)
    assert [(v["title"], v["status"]) for v in doc["verdicts"]] == list(zip(titles, statuses))
    for v in doc["verdicts"]:
        assert set(v) == {"claim_id", "title", "status", "scale", "seed"} and (v["scale"], v["seed"]) == ("tiny", 0)
    assert len({v["claim_id"] for v in doc["verdicts"]}) == len(doc["verdicts"])
    assert doc["seconds"]["total"] >= max(t for k, t in doc["seconds"].items() if k != "total")


def test_resume_reuses_finished_results_and_a_plain_rerun_is_refused(tiny_run, capsys, monkeypatch,
                                                                      tmp_path):
    import promptlimits.sweep.run as sweep

    out, _ = tiny_run
    csv = out / "results" / "phase.csv"
    before = csv.read_bytes()
    computed = []
    run_point = sweep._run_point

    def counting(spec, point_id, params, seed):
        computed.append((spec, point_id))
        return run_point(spec, point_id, params, seed)

    monkeypatch.setattr(sweep, "_run_point", counting)
    assert main(["reproduce", "--scale", "tiny", "--out", str(out), "--workers", "1", "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err
    # an interruption: drop the last finished point of one journal, then resume
    journal = out / "results" / "hardness.journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:-1]))
    figure = out / "figures" / "fig6_hardness.pdf"
    old_figure = figure.read_bytes()
    # the other run of --compare: this run's verdict table with one status changed
    other = tmp_path / "other"
    other.mkdir()
    doc = json.loads((out / "verdicts.json").read_text())
    changed = doc["verdicts"][2]
    changed["status"] = "not consistent" if changed["status"] != "not consistent" else "consistent"
    (other / "verdicts.json").write_text(json.dumps(doc))
    assert main(["reproduce", "--scale", "tiny", "--out", str(out), "--resume", "--workers", "1",
                 "--no-progress", "--compare", str(other)]) == 0
    printed = capsys.readouterr().out
    assert f"compared with {other}: {changed['claim_id']}: " in printed
    report = (out / "report.md").read_text()
    part = report[report.index(f"## Compared with `{other}`"):report.index("## 1. ")]
    assert "1 claim differs in status" in part and changed["title"] in part
    assert part.count("\n| ") == 2  # the header row and the one claim that differs
    assert computed == [("promptlimits.experiments.hardness:hardness_point", computed[0][1])]  # only the lost one
    assert csv.read_bytes() == before
    assert figure.read_bytes() == old_figure  # the recomputed point gives the same figure, byte for byte


@pytest.mark.parametrize("argv, message", [
    (["reproduce", "--scale", "huge"], "invalid choice: 'huge'"),
    (["reproduce", "--workers", "two"], "invalid int value: 'two'"),
    (["reproduce", "--out", "/proc/promptlimits-cannot-write"], "cannot be written"),
    (["reproduce", "--check-stability", "0"], "--check-stability must be >= 1, got 0"),
    (["reproduce", "--check-stability", "-2"], "--check-stability must be >= 1, got -2"),
    (["reproduce", "--check-stability", "2.5"], "invalid int value: '2.5'"),
    (["reproduce", "--out", "/nonexistent/promptlimits-run", "--resume"],
     "--out /nonexistent/promptlimits-run is not an existing folder; nothing to resume"),
    (["sweep", "phase", "--scale", "tiny", "--out", "/nonexistent/promptlimits-run", "--resume"],
     "--out /nonexistent/promptlimits-run is not an existing folder; nothing to resume"),
    (["reproduce", "--compare", "/nonexistent/promptlimits-other"],
     "--compare: folder /nonexistent/promptlimits-other does not exist"),
    (["reproduce", "--compare", "/proc/self"], "(not a finished reproduce run)"),
    (["reproduce", "--check-stability", "2", "--compare", "/tmp"], "cannot be combined"),
])
def test_bad_input_gives_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
