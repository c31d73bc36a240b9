"""``promptlimits reproduce`` at the tiny scale, driven by the registries; its resume and its bad input."""

import re

import pytest

import figures
from promptlimits.cli import main
from promptlimits.experiments import EXPERIMENTS
from promptlimits.experiments.verdict import STATUSES

STEMS = [stem for e in EXPERIMENTS for stem in e.figures]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    rc = main(["reproduce", "--scale", "tiny", "--out", str(out), "--workers", "1", "--no-progress"])
    return out, rc


def test_the_registries_agree():
    assert sorted(STEMS) == sorted(figures.FIGURES)  # every registered figure belongs to one experiment
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
    sections = re.findall(r"^## (\d)\. (.+)$", report, flags=re.M)
    assert [int(i) for i, _ in sections] == list(range(1, 9))
    for part in ("**Claim.**", "**Figure.**", "**Measured.**", "**Settings.**", "**Rule.**",
                 "**Would have failed if.**", "**Test strength.**", "**Verdict:"):
        assert report.count(part) == 8, part
    verdicts = re.findall(r"\*\*Verdict: ([a-z ]+)\.\*\*", report)
    assert all(v in STATUSES for v in verdicts) and "not checked" not in verdicts, verdicts
    table = re.findall(r"^\| (\d) \| [^|]+ \| ([a-z ]+) \| [^|]+ \|$", report, flags=re.M)
    assert [s for _, s in table] == verdicts  # the table agrees with the sections
    assert "## proofs_check" in report and "every check holds" in report
    for stem in STEMS:
        assert f"figures/{stem}.png" in report


def test_resume_reuses_finished_results_and_a_plain_rerun_is_refused(tiny_run, capsys, monkeypatch):
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
    assert main(["reproduce", "--scale", "tiny", "--out", str(out), "--resume", "--workers", "1",
                 "--no-progress"]) == 0
    assert computed == [("promptlimits.experiments.hardness:hardness_point", computed[0][1])]  # only the lost one
    assert csv.read_bytes() == before
    assert figure.read_bytes() == old_figure  # the recomputed point gives the same figure, byte for byte


@pytest.mark.parametrize("argv, message", [
    (["reproduce", "--scale", "huge"], "invalid choice: 'huge'"),
    (["reproduce", "--workers", "two"], "invalid int value: 'two'"),
    (["reproduce", "--out", "/proc/promptlimits-cannot-write"], "cannot be written"),
])
def test_bad_input_gives_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
