"""proofs_check runs clean, and a deliberately wrong statement is caught (docs/theory.md §9.11)."""

import json

import pytest

import proofs_check
from proofs_check import core
from proofs_check.__main__ import main


@pytest.fixture(scope="module")
def results():
    return proofs_check.run_all()


def test_every_check_passes(results):
    bad = [(r.name, r.status, r.details) for r in results if not r.passed]
    assert not bad, bad
    names = {r.name.split(".")[0] for r in results}
    for topic in ("1a", "1b", "1c", "2a", "2e", "2f", "3a", "3b", "3c", "3d", "4a", "4b", "4c", "5", "5b",
                  "6a", "6b", "6c",
                  "7a", "7b", "7c", "7d", "8a", "8b", "8c", "8d", "10a", "10b", "10c", "10d"):
        assert topic in names
    assert proofs_check.all_passed(results)


def test_table_and_json(results):
    text = proofs_check.format_table(results)
    assert "statement" in text and "2e.true-error" in text and "passed" in text
    md = proofs_check.format_table(results, style="markdown")
    assert md.startswith("| check | statement | method | result | seconds |")
    data = json.loads(proofs_check.to_json(results))
    assert data["all_passed"] is True and len(data["results"]) == len(results)


def test_certificate_ten_times_too_small_fails(monkeypatch):
    from promptlimits import polyapprox

    real = polyapprox.certified_eps
    monkeypatch.setattr(polyapprox, "certified_eps", lambda kind, g, R: real(kind, g, R) / 10)
    res = {r.name: r for r in proofs_check.run_all(["2d", "2e", "2f"])}
    assert res["2e.true-error"].status == core.FAILED
    assert "true relative error" in res["2e.true-error"].details or "closed-form" in res["2e.true-error"].details
    assert res["2d.coefficients"].status == core.FAILED
    assert not proofs_check.all_passed(list(res.values()))


def test_wrong_backward_fails(monkeypatch):
    import promptlimits

    real = promptlimits.exact_attention_backward

    def wrong(*a, **k):
        dQ, dK, dV = real(*a, **k)
        return 2 * dQ, dK, dV

    monkeypatch.setattr(promptlimits, "exact_attention_backward", wrong)
    (r,) = proofs_check.run_all(["4b"])
    assert r.status == core.FAILED


def test_exception_inside_a_check_is_a_failure(monkeypatch):
    def boom():
        raise ZeroDivisionError("deliberate")

    def unverifiable():
        raise core.NotVerified("module missing: nothing")

    c1 = core.Check("x.boom", "a check that crashes", "test", "none", boom)
    c2 = core.Check("x.nv", "a check that cannot be decided", "test", "none", unverifiable)
    r1, r2 = core.run_check(c1), core.run_check(c2)
    assert r1.status == core.FAILED and "ZeroDivisionError: deliberate" in r1.details
    assert r2.status == core.NOT_VERIFIED and not r2.passed
    assert not proofs_check.all_passed([r1]) and not proofs_check.all_passed([r2])
    assert not proofs_check.all_passed([])
    # the CLI exits non-zero when a check does not pass
    monkeypatch.setattr(core, "run_all", lambda names=None: [r2])
    import proofs_check.__main__ as cli

    monkeypatch.setattr(cli, "run_all", lambda names=None: [r2])
    assert main(["--brief"]) == 1


def test_the_replaced_constant_fails_the_conversion_checks(monkeypatch):
    """Going back to 2 eps_p/(1 - eps_p) is caught: 3d compares the code with F, 3b finds F attained below it."""
    import importlib

    pa = importlib.import_module("promptlimits.poly_attention")
    monkeypatch.setattr(pa, "output_eps_for_eps_p", lambda e: 2 * e / (1 - e))
    res = {r.name: r for r in proofs_check.run_all(["3b", "3d"])}
    assert res["3d.propagation-conversion"].status == core.FAILED
    assert res["3b.propagation-search"].status == core.FAILED
    assert "reached only 0.49" in res["3b.propagation-search"].details


def test_a_crossing_off_its_root_fails_5b(monkeypatch):
    import promptlimits.threshold as th

    real = th.crossing
    monkeypatch.setattr(th, "crossing", lambda *a, **k: real(*a, **k)._replace(R_star=real(*a, **k).R_star * 1.01))
    (r,) = proofs_check.run_all(["5b"])
    assert r.status == core.FAILED and "r* < n fails just below R*" in r.details


def test_a_gradient_bound_too_small_fails(monkeypatch):
    """Shrinking the score constants tenfold is caught by the perturbation search and the simulator (10c)."""
    from promptlimits.poly_attention import _gradient

    real = _gradient.score_constants
    monkeypatch.setattr(_gradient, "score_constants", lambda e, ed: tuple(k / 10 for k in real(e, ed)))
    (r,) = proofs_check.run_all(["10c"])
    assert r.status == core.FAILED and "above 1" in r.details


def test_a_derivative_certificate_too_small_fails(monkeypatch):
    from promptlimits import polyapprox

    real = polyapprox.certified_derivative_eps
    monkeypatch.setattr(polyapprox, "certified_derivative_eps", lambda kind, g, R: real(kind, g, R) / 10)
    (r,) = proofs_check.run_all(["10b"])
    assert r.status == core.FAILED and "certified_derivative_eps" in r.details
