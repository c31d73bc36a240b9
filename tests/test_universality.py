"""The universality experiment on the constructed transformer: tiny sweep, verdict rule, figure 7, bad settings."""

import math

import numpy as np
import pytest

from promptlimits import construct
from promptlimits.cli import main
from promptlimits.experiments import universality as uni
from promptlimits.experiments.verdict import CONSISTENT, NOT_CHECKED, NOT_CONSISTENT
from promptlimits.sweep import read_results, run_sweep


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("univ")
    run_sweep(uni.make_sweep("tiny"), out, workers=0, progress=False)
    return out


def _slope(ks, errs):
    return float(np.polyfit(np.log(ks), np.log(errs), 1)[0])


def test_tiny_sweep_rows_are_within_the_bound_and_every_kind_is_there(tiny):
    res = read_results(tiny, name="universality")
    kinds = {r["kind"] for r in res.rows}
    assert kinds == set(uni.KINDS)
    for r in res.rows:
        if r["kind"] in ("k", "lambda"):
            assert 0 < r["sup_err"] <= r["bound"] and r["ratio"] == pytest.approx(r["sup_err"] / r["bound"])
            assert r["Lp"] == r["L"] * r["k"] ** r["d"] and r["n_outside"] <= r["n_test"]
            assert r["leakage"] == pytest.approx(construct.leakage(r["d"], r["L"], r["k"], r["lam"]))
        if r["kind"] == "lipschitz":  # exact constants; the estimate is a lower bound that finds them
            assert r["K_nominal"] * 0.99 <= r["K_measured"] <= r["K_nominal"] * (1 + 1e-6)
        if r["kind"] == "tune":  # the closed form is exact on the grid, tuning starts from worse
            assert r["closed_form_sup_err"] <= construct.build(r["d"], r["L"], r["k"]).bound(2.0)
        if r["kind"] == "random_weights":
            assert r["ref_err"] > 0 and r["sup_err"] > 0


def test_tiny_verdict_is_the_rule_applied_to_the_rows(tiny):
    res = read_results(tiny, name="universality")
    [v] = uni.verdicts({"universality": res})
    series = {}
    for r in res.rows:
        if r["kind"] == "k":
            series.setdefault((r["d"], r["L"], r["target"]), []).append((r["k"], r["sup_err"]))
    slopes = [_slope(*zip(*sorted(v))) for v in series.values()]
    lo, hi = uni.SLOPE_RANGE
    above = any(r["sup_err"] > r["bound"] for r in res.rows if r["kind"] in ("k", "lambda"))
    expected = NOT_CONSISTENT if above or any(not lo <= s <= hi for s in slopes) else CONSISTENT
    assert v.status == expected
    assert sorted(v.values["slopes"].values()) == pytest.approx(sorted(slopes))
    assert "illustration" in " ".join(v.numbers) and "illustrations" in v.strength


def _k_rows(slope_by_series, *, above=False, ks=(4, 8, 16)):
    """Synthetic ``k`` rows whose sup error is K/(4k) times (k/4)^(slope + 1)."""
    rows = []
    for (d, L, target), slope in slope_by_series.items():
        for k in ks:
            sup = (k / 4) ** (slope + 1) / (4 * k)
            bound = (0.4 if above and k == ks[-1] else 1.0) / (2 * k)
            rows.append({"kind": "k", "d": d, "L": L, "k": k, "target": target, "lam": 40.0, "K_nominal": 1.0,
                         "sup_err": sup, "rms_err": sup / 2, "rms_outside": sup / 3, "band_sup_err": 1.0,
                         "bound": bound, "ratio": sup / bound, "n_outside": 100, "n_test": 100, "seconds": 0.0,
                         "Lp": L * k**d, "D": 10, "m1": 1, "m2": 1, "head_size": 1, "weight_MiB": 0.1})
    return rows


def _status(rows):
    from types import SimpleNamespace

    res = SimpleNamespace(rows=rows, meta={"summary": uni.summarize(rows)})
    return uni.verdicts({"universality": res})[0]


@pytest.mark.parametrize("slopes, above, ks, status, why", [
    ({(1, 1, "sine"): -1.0, (2, 2, "additive"): -0.9}, False, (4, 8, 16), CONSISTENT, "falls like 1/k"),
    ({(1, 1, "sine"): -1.0, (2, 2, "additive"): -0.8}, False, (4, 8, 16), NOT_CONSISTENT, "(2, 2) additive"),
    ({(1, 1, "sine"): -1.2}, False, (4, 8, 16), NOT_CONSISTENT, "slope -1.2"),
    ({(1, 1, "sine"): -1.0}, True, (4, 8, 16), NOT_CONSISTENT, "exceed the proved bound"),
    ({(1, 1, "sine"): -1.0}, False, (4,), NOT_CHECKED, "fewer than two k values"),
])
def test_verdict_rule_on_synthetic_series(slopes, above, ks, status, why):
    v = _status(_k_rows(slopes, above=above, ks=ks))
    assert v.status == status and why in v.why, v.why
    if len(ks) > 1:
        assert sorted(v.values["slopes"].values()) == pytest.approx(sorted(slopes.values()))
    assert "[-1.15, -0.85]" in v.rule and "above its bound" in v.falsifier


def test_figure_7_is_deterministic(tiny, tmp_path):
    from figures import universality as fig7

    a = fig7.draw(tiny, tmp_path / "a")
    b = fig7.draw(tiny, tmp_path / "b")
    assert [p.suffix for p in a] == [".png", ".pdf"]
    assert all(pa.stat().st_size > 1000 and pa.read_bytes() == pb.read_bytes() for pa, pb in zip(a, b))


def test_readout_model_zeroes_the_residual_and_keeps_the_x_block():
    c = construct.build(1, 2, 3, lam=6.0)
    f = uni.make_target("sine", 1, 2, 1.0, 0)[0]
    P = construct.lookup_prompt(c, f)
    X = np.random.default_rng(0).uniform(size=(7, 2, 1))
    out = uni.readout_model(c).forward(P, c.embed(X))
    assert np.array_equal(out[..., 1:], np.zeros_like(out[..., 1:]))
    assert np.allclose(out[..., :1], c.predict(P, X), rtol=0, atol=1e-12)


def _point(**change):
    params = {**uni.SETTINGS["tiny"], "kind": "k", "d": 1, "L": 1, "k": 4, "target": "additive",
              "init": "random", "repeat": 0, "Lp": 2, **change}
    return {k: v for k, v in params.items() if k not in uni.LAYOUT}


@pytest.mark.parametrize("change, match", [
    (dict(k=0), "k must be >= 1"),
    (dict(lam=0.0), "lambda must be finite and > 0"),
    (dict(lam=-1.0), "lambda must be finite and > 0"),
    (dict(d=2, L=3, k=40), r"MiB of weights \(D = \d+, FF2 width m2 = \d+\), above the budget"),
    (dict(target="cubic"), "unknown target 'cubic'"),
    (dict(K_f=4.0), r"reaches \|f\| = 1.273 > value_range = 1"),
    (dict(kind="tune", d=2, L=2, k=9), "tuning grid k\\^\\(dL\\) = 9\\^4 is above 4096"),
    (dict(kind="tune", init="zeros"), "unknown prompt initialisation 'zeros'"),
    (dict(kind="random_weights", Lp=0), "Lp must be >= 1"),
    (dict(kind="random_weights", rw_delta=0.3), "whole cells"),
    (dict(n_test=0), "n_test must be >= 1"),
    (dict(kind="memorize"), "unknown kind 'memorize'"),
])
def test_check_point_refuses_bad_settings_before_work(change, match):
    with pytest.raises(ValueError, match=match):
        uni.check_point(_point(**change))


@pytest.mark.parametrize("override, match", [
    (dict(shapes=((1, 1),)), r"shapes entries must be \(d, L, \(k, ...\)\)"),
    (dict(shapes=((1, 1, ()),)), "has no k values"),
    (dict(shapes=((1, 1, (0, 2)),)), "shapes: k must be >= 1"),
    (dict(lam_shape=(1, 1)), r"lam_shape entries must be \(d, L, k\)"),
    (dict(targets=("sine", "cubic")), "unknown target 'cubic'"),
    (dict(tune_inits=("zeros",)), "unknown prompt initialisation"),
])
def test_make_sweep_refuses_malformed_layouts(override, match):
    with pytest.raises(ValueError, match=match):
        uni.make_sweep("tiny", **override)


def test_cli_refuses_a_bad_lambda_in_one_line(tmp_path, capsys):
    assert main(["sweep", "universality", "--scale", "tiny", "--lam", "0", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "lambda must be finite and > 0" in err, err
    assert not (tmp_path / "o" / "universality.csv").exists()


def test_quick_settings_stay_within_the_memory_budget_and_cover_the_issue_shapes():
    s = uni.SETTINGS["quick"]
    shapes = {(d, L) for d, L, _ in s["shapes"]}
    assert shapes == {(1, 1), (1, 2), (1, 3), (2, 1), (2, 2)}
    for scale in ("tiny", "quick", "full"):
        for d, L, ks in uni.SETTINGS[scale]["shapes"]:
            assert construct.sizes(d, L, max(ks))["weight_bytes"] <= construct.MAX_BYTES
            assert math.log(max(ks) / min(ks)) > 0
