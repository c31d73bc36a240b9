"""Smoke test of ``promptlimits reproduce`` at the tiny scale, its resume, and its bad input."""

import re

import pytest

from promptlimits.cli import main

FIGURES = ["fig1_phase", "fig2_runtime", "fig3_approx_error", "fig4_memorization", "fig5_tuning",
           "fig5_prompt_norm", "fig6_hardness", "fig7_universality"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    rc = main(["reproduce", "--scale", "tiny", "--out", str(out), "--workers", "1", "--no-progress"])
    return out, rc


def test_tiny_reproduce_writes_every_figure_and_report_section(tiny_run):
    out, rc = tiny_run
    assert rc == 0
    for stem in FIGURES:
        for ext in ("png", "pdf"):
            path = out / "figures" / f"{stem}.{ext}"
            assert path.is_file() and path.stat().st_size > 1000, path
    report = (out / "report.md").read_text()
    sections = re.findall(r"^## (\d)\. (.+)$", report, flags=re.M)
    assert [int(i) for i, _ in sections] == list(range(1, 8))
    for part in ("**Claim.**", "**Figure.**", "**Measured.**", "**Settings.**", "**Verdict:"):
        assert report.count(part) == 7, part
    verdicts = re.findall(r"\*\*Verdict: ([a-z ]+)\.\*\*", report)
    assert "not checked" not in verdicts, verdicts
    assert "## proofs_check" in report and "every check holds" in report
    for stem in FIGURES:
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
    (["reproduce", "--scale", "huge"], "unknown scale 'huge'"),
    (["reproduce", "--out", "/proc/promptlimits-cannot-write"], "is not writable"),
])
def test_bad_input_gives_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
