"""Verdict stability over seeds, comparison of two runs, provenance, and ``reproduce --check-stability``.

The tally and the comparison are checked on synthetic verdict lists whose
answer is known; ``--check-stability`` runs with a stand-in for one seed's
reproduce (the real one is covered by tests/test_reproduce.py), so its folder
layout, resume and refusals are checked in well under a second.
"""

import json
import shutil
import subprocess

import pytest

from promptlimits.cli import main
from promptlimits.commands import reproduce
from promptlimits.experiments.provenance import NOT_GIT, commit_info, header_lines, provenance
from promptlimits.experiments.report import read_verdicts, render, verdicts_document, write_verdicts
from promptlimits.experiments.stability import FLIPS, MISSING, STABLE, compare, tally
from promptlimits.experiments.verdict import Verdict


def run_of(**statuses):
    return [{"claim_id": cid, "title": cid.upper(), "status": s.replace("_", " ")} for cid, s in statuses.items()]


def make_verdict(cid, status):
    return Verdict(claim_id=cid, title=f"title of {cid}", claim="c", status=status, rule="r", falsifier="f",
                   strength="s", numbers=("n = 1",), figures=("fig1_phase",), why="w")


# ----------------------------------------------------------------------------- tally


def test_tally_counts_statuses_and_detects_a_flip():
    runs = [run_of(a="consistent", b="consistent", c="vacuous"),
            run_of(a="consistent", b="not_consistent", c="vacuous"),
            run_of(a="consistent", b="consistent", c="vacuous")]
    t = tally(runs, labels=[3, 4, 5])
    by_id = {c.claim_id: c for c in t.claims}
    assert [c.claim_id for c in t.claims] == ["a", "b", "c"]
    assert by_id["a"].counts == {"consistent": 3} and by_id["a"].stable and by_id["a"].label == STABLE
    assert by_id["b"].counts == {"consistent": 2, "not consistent": 1} and by_id["b"].label == FLIPS
    assert by_id["b"].describe() == "consistent 2 (seeds 3, 5); not consistent 1 (seed 4)"
    assert t.flips == ["b"] and not t.stable
    assert t.summary() == "2 of 3 claims kept one status over 3 runs; flips: b"
    table = t.markdown()
    assert len(table) == 2 + 3 and table[3].endswith("| FLIPS |") and table[2].endswith("| stable |")
    assert [line.split()[:2] for line in t.text()] == [["a", "stable"], ["b", "FLIPS"], ["c", "stable"]]


def test_tally_of_identical_runs_is_stable_and_of_one_run_too():
    run = run_of(a="illustration", b="inconclusive")
    assert tally([run, run]).stable
    t = tally([run])
    assert t.stable and t.labels == (0,) and t.summary() == "2 of 2 claims kept one status over 1 run"


def test_a_claim_missing_from_a_run_is_not_stable_and_verdicts_json_seeds_label_runs():
    docs = [{"seed": 7, "verdicts": run_of(a="consistent", b="consistent")},
            {"seed": 8, "verdicts": run_of(a="consistent")}]
    t = tally(docs)
    assert t.labels == (7, 8) and t.flips == ["b"]
    assert dict(t.claims[1].runs_by_status) == {"consistent": (7,), MISSING: (8,)}
    # Verdict objects are read the same way as mappings
    assert tally([[make_verdict("a", "consistent")], run_of(a="consistent")]).stable


@pytest.mark.parametrize("runs, kw, message", [
    ([], {}, "at least one run (K >= 1), got 0"),
    ({"verdicts": []}, {}, "runs must be a sequence of runs"),
    ([run_of(a="consistent")], {"labels": [1, 2]}, "2 labels for 1 runs"),
    ([run_of(a="consistent")] * 2, {"labels": [1, 1]}, "run labels must differ"),
    ([run_of(a="maybe")], {}, "claim 'a' has status 'maybe'"),
    ([run_of(a="consistent") * 2], {}, "claim 'a' appears twice"),
    ([{"seed": 1}], {}, "must hold 'verdicts'"),
    (["consistent"], {}, "expected a sequence of verdicts"),
])
def test_tally_refuses_bad_input(runs, kw, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        tally(runs, **kw)


def test_compare_names_exactly_the_claims_that_differ():
    quick = run_of(a="consistent", b="vacuous", c="illustration")
    full = run_of(a="consistent", b="consistent", d="consistent")
    diffs = compare(quick, full)
    assert [(d.claim_id, d.status_a, d.status_b) for d in diffs] == [
        ("b", "vacuous", "consistent"), ("c", "illustration", MISSING), ("d", MISSING, "consistent")]
    assert compare(quick, list(quick)) == []


# ----------------------------------------------------------------------------- provenance


def test_provenance_keys_and_header():
    prov = provenance()
    assert set(prov) == {"commit", "versions", "cpu", "blas", "numba", "platform"}
    assert set(prov["versions"]) == {"python", "promptlimits", "numpy", "scipy", "numba", "sympy", "matplotlib"}
    assert set(prov["commit"]) == {"describe", "hash", "dirty"}
    assert prov["cpu"]["model"] and prov["blas"]["name"] and prov["numba"]["threads"] >= 1
    json.dumps(prov)  # JSON-ready as it is
    lines = header_lines(prov)
    assert [line.split(":")[0] for line in lines] == ["- Commit", "- Versions", "- CPU", "- BLAS", "- Numba"]
    assert f"numpy {prov['versions']['numpy']}" in lines[1]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_commit_of_a_checkout_clean_and_dirty_and_of_a_plain_folder(tmp_path):
    assert commit_info(tmp_path) == {"describe": NOT_GIT, "hash": None, "dirty": None}
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*a):
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *a], check=True,
                       capture_output=True)

    git("init", "-q")
    (repo / "f.txt").write_text("one\n")
    git("add", "f.txt")
    git("commit", "-qm", "first")
    c = commit_info(repo)
    assert c["dirty"] is False and len(c["hash"]) == 40 and c["hash"].startswith(c["describe"])
    (repo / "untracked.txt").write_text("x\n")
    assert commit_info(repo)["dirty"] is False  # untracked files do not make the tree dirty
    (repo / "f.txt").write_text("two\n")
    c = commit_info(repo)
    assert c["dirty"] is True and c["describe"].endswith("-dirty")
    (repo / "sub").mkdir()
    assert commit_info(repo / "sub")["describe"] == NOT_GIT  # a folder inside a checkout is not its top
    prov = provenance(root=repo)
    assert "- Commit: `" in header_lines(prov)[0] and "tracked files modified" in header_lines(prov)[0]
    assert header_lines(provenance(root=tmp_path))[0] == f"- Commit: {NOT_GIT}"
    # the commit that computed the numbers is the one at the start; a change during the run is named
    started = commit_info(repo)
    assert "commit_at_end" not in provenance(root=repo, started=started)
    git("commit", "-qam", "second")
    prov = provenance(root=repo, started=started)
    assert prov["commit"] == started and prov["commit_at_end"]["hash"] != started["hash"]
    line = header_lines(prov)[0]
    assert started["describe"] in line and "changed during the run" in line


def test_report_of_a_run_without_figures_or_proofs_check():
    prov = provenance()
    text = render("quick", [make_verdict("a", "consistent")], {"total": 1.0}, None, seed=3, provenance=prov,
                  figures=False)
    assert text.startswith("# promptlimits report\n") and "smoke test" not in text.lower()
    assert "**Figure.** not drawn in this run" in text and "no figures drawn" in text
    assert "was not run with this run" in text and "**Verdict: consistent.** w" in text
    assert "- Scale `quick`, seed 3" in text and header_lines(prov)[1] in text


# ----------------------------------------------------------------------------- --check-stability


@pytest.fixture()
def fake_runs(monkeypatch):
    """One seed's reproduce replaced by a stand-in: claim b flips on odd seeds; the calls are recorded."""
    calls = []

    def fake(args, out, *, seed, resume, full=True, other=None):
        calls.append((seed, resume, full))
        out.mkdir(parents=True, exist_ok=True)
        verdicts = [make_verdict("a", "consistent"),
                    make_verdict("b", "not consistent" if seed % 2 else "consistent")]
        doc = verdicts_document(verdicts, scale=args.scale, seed=seed, provenance=provenance(),
                                seconds={"total": 0.5}, proofs_check="not run")
        write_verdicts(out, doc)
        return doc, 0

    monkeypatch.setattr(reproduce, "reproduce_once", fake)
    return calls


def stability_argv(out, *extra):
    return ["reproduce", "--scale", "tiny", "--out", str(out), "--no-progress", *extra]


def test_check_stability_runs_each_seed_in_its_folder_and_reports_flips(tmp_path, fake_runs, capsys):
    out = tmp_path / "st"
    assert main(stability_argv(out, "--check-stability", "3", "--seed", "4")) == 0
    assert fake_runs == [(4, False, False), (5, False, False), (6, False, False)]
    assert sorted(p.name for p in out.iterdir()) == ["stability", "stability.md"]
    assert sorted(p.name for p in (out / "stability").iterdir()) == ["seed-4", "seed-5", "seed-6"]
    printed = capsys.readouterr().out
    assert "stability at scale tiny (a smoke test: statuses, not verdicts), seeds 4..6: 1 of 2 claims kept one " \
           "status over 3 runs; flips: b" in printed
    assert "b                      FLIPS   consistent 2 (seeds 4, 6); not consistent 1 (seed 5)" not in printed
    assert [line.split()[:2] for line in printed.splitlines() if line.startswith(("a ", "b "))] == [
        ["a", "stable"], ["b", "FLIPS"]]
    text = (out / "stability.md").read_text()
    assert "| 1 | title of a | consistent 3 (seeds 4, 5, 6) | stable |" in text
    assert "| 2 | title of b | consistent 2 (seeds 4, 6); not consistent 1 (seed 5) | FLIPS |" in text
    assert "(smoke test)" in text and "## Provenance" in text and "| 5 | `stability/seed-5` | 0.5 |" in text

    # a plain rerun is refused; --resume reuses the finished seeds and runs the unfinished one
    assert main(stability_argv(out, "--check-stability", "3", "--seed", "4")) == 2
    assert "already holds a stability check" in capsys.readouterr().err
    (out / "stability" / "seed-6" / "verdicts.json").unlink()
    fake_runs.clear()
    assert main(stability_argv(out, "--check-stability", "4", "--seed", "4", "--resume")) == 0
    assert fake_runs == [(6, True, False), (7, False, False)]  # seed 6 resumes its folder, 7 starts afresh
    assert "consistent 2 (seeds 4, 6); not consistent 2 (seeds 5, 7)" in (out / "stability.md").read_text()
    assert read_verdicts(out / "stability" / "seed-7")["seed"] == 7


def test_check_stability_refuses_a_folder_of_another_run(tmp_path, fake_runs, capsys):
    out = tmp_path / "st"
    assert main(stability_argv(out, "--check-stability", "1")) == 0
    path = out / "stability" / "seed-0" / "verdicts.json"
    doc = json.loads(path.read_text())
    doc["seed"] = 9
    path.write_text(json.dumps(doc))
    fake_runs.clear()
    assert main(stability_argv(out, "--check-stability", "1", "--resume")) == 2
    err = capsys.readouterr().err
    assert "seed-0 holds a run at scale tiny, seed 9, not scale tiny, seed 0" in err and fake_runs == []
