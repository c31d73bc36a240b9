"""``promptlimits memorize least-lp`` explains itself: models, padding, what more search changed, the bound."""

import json
import math
import re

import pytest

from promptlimits.cli import main


def _run(argv, capsys, tmp_path):
    out = tmp_path / "r.json"
    rc = main(["memorize", "least-lp", *argv, "--json", str(out)])
    return rc, capsys.readouterr().out, json.loads(out.read_text())


def _table(text):
    """The per-``Lp`` rows of the printed table: ``[(Lp, best error, rest of the line)]``."""
    rows = re.findall(r"^\s*(\d+)\s+([0-9.e+-]+)\s+(yes|no)\s+(.*)$", text, flags=re.M)
    return [(int(Lp), float(err), rest) for Lp, err, _, rest in rows]


def test_random_model_lines_say_how_padding_restarts_and_steps_were_measured(capsys, tmp_path):
    rc, text, data = _run(["--delta", "0.5", "--max-Lp", "4", "--steps", "20", "--restarts", "2", "--tol", "0.001",
                           "--gamma", "0.02"], capsys, tmp_path)
    assert rc == 0
    assert "model: random frozen weights" in text and "the same dataset at every Lp" in text
    assert "no padding leaves the outputs unchanged" in text and "the best error can rise with Lp" in text
    assert "best of the first h = ceil(R/2) restarts with all R" in text and "after half of each run's step" in text
    rows = _table(text)
    assert [r[0] for r in rows] == [t["Lp"] for t in data["trials"]] and len(rows) >= 2  # one line per Lp
    for (_, err, rest), t in zip(rows, data["trials"]):
        assert err == pytest.approx(t["best_max_err"], rel=1e-4)
        assert re.search(r"restarts 1 -> 2 (unchanged|lowered it by|raised it by)", rest) or "reached at" in rest
        assert re.search(r"steps half -> all (unchanged|lowered it by|raised it by)", rest)
        assert (rest.split()[0] == "-") == (t["start_err"] is None)  # the padded start of every Lp after the first
    assert data["padding"] == "least change" and data["model"] == "random"
    # the per-sample form in words: what alpha is, and why it is 0 for a 2-bit family
    assert "probability at most about alpha = 1e-06" in text
    assert "it is 0 because the family has 2 bits, not more than log2(1/alpha) = 19.9" in text
    assert data["bound"]["Lp_sample"] == 0 and data["bound"]["log2_datasets"] == 2


def test_constructed_model_memorizes_at_the_predicted_length_with_a_non_increasing_best_error(capsys, tmp_path):
    rc, text, data = _run(["--model", "constructed", "--delta", "0.5", "--max-Lp", "4", "--steps", "20"], capsys,
                          tmp_path)
    assert rc == 0 and data["model"] == "constructed" and data["padding"] == "split"
    assert "token-width construction (d=1, L=1, k=2" in text and "construction predicts: Lp <= L k^d = 2" in text
    assert re.search(r"closed-form prompt of length L k\^d = 2 memorizes this dataset, max err \S+ \(<= tol", text)
    assert "the best error cannot rise with Lp" in text
    assert data["least_Lp"] == data["predicted_Lp"] == 2 and "least Lp: 2" in text
    errs = {t["Lp"]: t["best_max_err"] for t in data["trials"]}
    assert all(errs[b] <= errs[a] * (1 + 1e-9) for a in errs for b in errs if a < b), errs
    assert data["rho"] == 1.25 and math.isfinite(data["bound"]["Lp_bound"])


def test_constructed_model_with_k_3_reaches_at_3_not_at_the_doubling_length(capsys, tmp_path):
    rc, text, data = _run(["--model", "constructed", "--delta", str(1 / 3), "--max-Lp", "8", "--steps", "15"],
                          capsys, tmp_path)
    assert rc == 0 and data["least_Lp"] == 3 == data["predicted_Lp"], text


@pytest.mark.parametrize("argv, match", [
    (["--model", "bogus"], "invalid choice: 'bogus'"),
    (["--model", "constructed", "--q", "200"], "above the construction's value range (options --q, --gamma)"),
    (["--model", "constructed", "--rho", "0.5"], "rho = 0.5 does not contain the construction's closed-form prompt"),
])
def test_bad_input_one_line_exit_2(argv, match, capsys):
    rc = main(["memorize", "least-lp", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and match in err, err
