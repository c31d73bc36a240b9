"""The universality experiment on the constructed transformer: tiny sweep, verdict rule, figure 7, bad settings."""

import math

import numpy as np
import pytest

from promptlimits import construct
from promptlimits.cli import main
from promptlimits.construct_token import token_sizes
from promptlimits.experiments import universality as uni
from promptlimits.experiments.verdict import CONSISTENT, INCONCLUSIVE, NOT_CHECKED, NOT_CONSISTENT
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
    assert {(r["width"], r["ramps"]) for r in res.rows if r["kind"] == "k"} == {
        (w, ramps) for w in construct.WIDTHS for ramps in uni.RAMPS}
    for r in res.rows:
        if r["kind"] == "k":
            assert 0 < max(r["sup_err"], r["adv_err"]) <= r["bound"] + r["rounding"]
            assert r["L2_lo"] <= r["L2"] <= r["L2_hi"] and r["L2_lo"] <= r["L2_bound"]
            assert r["L1"] <= r["L1_bound"] and r["band_sup"] <= r["band_bound"]
            assert r["mu"] == pytest.approx(1 - (1 - (r["k"] - 1) * r["xi"]) ** (r["L"] * r["d"]), rel=1e-12)
            xi = 1e-3 / r["k"] ** 3 if r["ramps"] == "shrinking" else 0.01 / r["k"]
            assert r["xi"] == pytest.approx(xi) and r["Lp"] == r["L"] * r["k"] ** r["d"]
            if r["width"] == "token":
                assert r["D"] == r["d"] * r["k"] ** (r["d"] * (r["L"] - 1)) + 5 * r["d"] + 8 and r["prompt_max"] == 1
            assert r["D"] > r["w_lower"] == r["d"] * r["k"] ** (r["d"] * (r["L"] - 1)) - 1
        if r["kind"] == "lambda":
            assert 0 < r["sup_err"] <= r["bound"]
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
            series.setdefault((r["width"], r["ramps"], r["d"], r["L"], r["target"]), []).append((r["k"], r["L2"]))
    slopes = {key: _slope(*zip(*sorted(val))) for key, val in series.items()}
    lo, hi = uni.SLOPE_RANGE
    off = any(not lo <= sl <= hi for key, sl in slopes.items() if key[1] == "shrinking")
    control_fails = all(not lo <= sl <= hi for key, sl in slopes.items() if key[1] == "fixed")
    assert v.status == (NOT_CONSISTENT if off else CONSISTENT if control_fails else INCONCLUSIVE)
    assert sorted(v.values["slopes"].values()) == pytest.approx(sorted(slopes.values()))
    assert "illustration" in " ".join(v.numbers) and "illustrations" in v.strength
    assert "token width" in v.claim and "||P||max" in v.claim and "L^2" in v.claim


def _k_rows(slope_by_series, *, above=False, l2_above=False, ks=(4, 8, 16), control=-0.05):
    """Synthetic ``k`` rows, L2 error 1/(4k) times (k/4)^(slope + 1); a fixed-ramp control of slope ``control``."""
    rows = []
    series = {**{(key, "shrinking"): sl for key, sl in slope_by_series.items()}}
    if control is not None:
        series[((1, 2, "additive"), "fixed")] = control
    for ((d, L, target), ramps), slope in series.items():
        for width in ("token", "wide"):
            for k in ks:
                l2 = (k / 4) ** (slope + 1) / (4 * k)
                bound = (0.4 if above and k == ks[-1] else 1.0) / (2 * k)
                rows.append({"kind": "k", "width": width, "ramps": ramps, "d": d, "L": L, "k": k, "target": target,
                             "lam": 40.0, "K_nominal": 1.0, "xi": 1e-3 / k**3, "mu": 1e-5, "L2": l2, "L2_lo": l2 * 0.95,
                             "L2_hi": l2 * 1.05, "L2_bound": l2 / 2 if l2_above else 2 * l2, "L1": l2, "L1_bound": 1.0,
                             "L2_outside": l2, "sup_err": 0.45 / k, "adv_err": 0.48 / k, "bound": bound,
                             "band_sup": 1.0, "band_bound": 4.0, "rounding": 1e-9, "n_out": 100, "n_band": 10,
                             "n_adversarial": 5, "seconds": 0.0, "Lp": L * k**d, "D": 10, "m1": 1, "m2": 1,
                             "head_size": 1, "weight_MiB": 0.1, "prompt_max": 1.0, "prompt_entries": 10,
                             "w_lower": 1})
    return rows


def _status(rows):
    from types import SimpleNamespace

    res = SimpleNamespace(rows=rows, meta={"summary": uni.summarize(rows)})
    return uni.verdicts({"universality": res})[0]


@pytest.mark.parametrize("slopes, kw, ks, status, why", [
    ({(1, 1, "sine"): -1.0, (2, 2, "additive"): -0.9}, {}, (4, 8, 16), CONSISTENT, "falls like 1/k"),
    ({(1, 1, "sine"): -1.0, (2, 2, "additive"): -0.8}, {}, (4, 8, 16), NOT_CONSISTENT, "(2, 2), additive"),
    ({(1, 1, "sine"): -1.2}, {}, (4, 8, 16), NOT_CONSISTENT, "slope -1.2"),
    ({(1, 1, "sine"): -1.0}, {"above": True}, (4, 8, 16), NOT_CONSISTENT, "exceed the proved sup bound"),
    ({(1, 1, "sine"): -1.0}, {"l2_above": True}, (4, 8, 16), NOT_CONSISTENT, "above the proved L2 bound"),
    ({(1, 1, "sine"): -1.0}, {"control": -0.95}, (4, 8, 16), INCONCLUSIVE, "control passes the slope rule"),
    ({(1, 1, "sine"): -1.0}, {"control": None}, (4, 8, 16), INCONCLUSIVE, "no fixed-ramp control"),
    ({(1, 1, "sine"): -1.0}, {}, (4,), NOT_CHECKED, "fewer than two k values"),
])
def test_verdict_rule_on_synthetic_series(slopes, kw, ks, status, why):
    v = _status(_k_rows(slopes, ks=ks, **kw))
    assert v.status == status and why in v.why, v.why
    assert "[-1.15, -0.85]" in v.rule and "above its L2 bound" in v.falsifier


def test_figure_7_is_deterministic(tiny, tmp_path):
    from promptlimits.figures import universality as fig7

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
    params = {**uni.SETTINGS["tiny"], "kind": "k", "d": 1, "L": 1, "k": 4, "target": "additive", "width": "wide",
              "ramps": "shrinking",
              "init": "random", "repeat": 0, "Lp": 2, **change}
    return {k: v for k, v in params.items() if k not in uni.LAYOUT}


@pytest.mark.parametrize("change, match", [
    (dict(k=1), r"k \(cells per coordinate; k >= 2 .*\) must be >= 2, got 1"),
    (dict(width="narrow"), "unknown construction width 'narrow'"),
    (dict(ramps="steep"), "unknown ramps 'steep'"),
    (dict(ramps="fixed", xi0_fixed=4.0), r"ramp width xi = 1 is above 1/\(2k\)"),
    (dict(n_out=0), "n_out must be >= 1"),
    (dict(width="token", d=2, L=3, k=12), r"token construction d=2, L=3, k=12 needs [\d.]+ MiB"),
    (dict(lam=0.0), "lambda must be finite and > 0"),
    (dict(lam=-1.0), "lambda must be finite and > 0"),
    (dict(d=2, L=3, k=40), r"MiB of weights \(FF2 width m2 = \d+\), above the budget"),
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


def test_quick_settings_stay_within_the_memory_budget_and_cover_the_required_shapes():
    s = uni.SETTINGS["quick"]
    shapes = {(d, L) for d, L, _ in s["shapes"]}
    assert shapes == {(1, 1), (1, 2), (1, 3), (2, 1), (2, 2)}
    for scale in ("tiny", "quick", "full"):
        for d, L, ks in uni.SETTINGS[scale]["shapes"]:
            assert construct.sizes(d, L, max(ks))["weight_bytes"] <= construct.MAX_BYTES
            assert token_sizes(d, L, max(ks))["weight_bytes"] <= construct.MAX_BYTES
            assert math.log(max(ks) / min(ks)) > 0


def test_samplers_draw_exactly_from_their_strata_and_the_estimate_matches_quadrature():
    from promptlimits.universality_lp import Z95, estimate_lp, lp_bounds, sample_bands, sample_outside

    c = construct.build(1, 1, 4, width="token", xi=0.05)
    rng = np.random.default_rng(0)
    Xo, Xb = sample_outside(c, 4000, rng), sample_bands(c, 4000, rng)
    assert not c.in_bands(Xo).any() and c.in_bands(Xb).all()
    # band-free sample uniform on [0, 1] minus the bands: each cell's share is its band-free length
    share = np.bincount(np.minimum((Xo[:, 0, 0] * 4).astype(int), 3), minlength=4) / 4000
    want = np.array([0.25, 0.2, 0.2, 0.2]) / 0.85
    assert np.abs(share - want).max() < 4 * math.sqrt(0.3 * 0.7 / 4000)
    f = uni.make_target("sine", 1, 1, 1.0, 0)[0]
    P = construct.lookup_prompt(c, f)
    est = estimate_lp(c, P, f, n_out=2000, n_band=500, rng=rng)
    x = (np.arange(200_000) + 0.5) / 200_000  # midpoint rule over the whole interval, bands included
    e = np.abs(c.predict(P, x.reshape(-1, 1, 1)) - f(x.reshape(-1, 1, 1))).ravel()
    exact = math.sqrt(np.mean(e * e))
    half = (est["L2_hi"] - est["L2_lo"]) / 2
    assert abs(est["L2"] - exact) < 2.5 * half and half < 0.1 * exact and Z95 > 1.95
    b = lp_bounds(c, f.K)
    assert exact <= b["L2"] and np.mean(e) <= b["L1"] and e.max() <= b["band"]


def test_a_target_returning_nan_is_refused_with_its_name():
    from promptlimits.universality_lp import estimate_lp

    c = construct.build(1, 1, 4, width="token")
    P = construct.lookup_prompt(c, lambda X: 0.5 * X)
    with pytest.raises(ValueError, match="target f returned NaN"):
        estimate_lp(c, P, lambda X: np.where(X > 0.9, np.nan, X), n_out=64, n_band=8, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"f\(cell centres\) contains 1 NaN"):
        construct.lookup_prompt(c, lambda X: np.where(X > 0.8, np.nan, X))


def test_cli_refuses_a_bad_sample_size_in_one_line(tmp_path, capsys):
    assert main(["sweep", "universality", "--scale", "tiny", "--n-out", "0", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "n_out must be >= 1" in err, err


def test_band_sampler_matches_the_uniform_law_restricted_to_the_bands():
    """Which coordinates sit in a band: the exact sampler against rejection from uniform inputs."""
    from promptlimits.universality_lp import sample_bands

    c = construct.build(1, 2, 3, width="token", xi=0.1)
    rng = np.random.default_rng(1)
    Xb = sample_bands(c, 20000, rng)
    U = rng.uniform(size=(200000, 2, 1))
    U = U[c.in_bands(U)]

    def pattern(X):
        t = np.arange(1, c.k) / c.k
        inb = ((X.reshape(len(X), -1, 1) >= t) & (X.reshape(len(X), -1, 1) <= t + c.xi)).any(axis=2)
        return np.bincount(inb[:, 0] * 2 + inb[:, 1], minlength=4)[1:] / len(X)

    a, b = pattern(Xb), pattern(U)
    assert np.abs(a - b).max() < 0.02, (a, b)


def test_adversarial_points_find_the_corner_where_a_linear_target_varies_most():
    from promptlimits.universality_lp import adversarial_points

    c = construct.build(2, 1, 4, width="token", xi=1e-3)
    f = lambda X: 0.3 * X[..., ::-1] - 0.2 * X  # noqa: E731  max-norm constant 0.5, reached at cell corners
    A = adversarial_points(c, f, 6, np.random.default_rng(2))
    assert A.shape == (6 * (4 + 1), 1, 2) and not c.in_bands(A).any()
    centre = (np.minimum(np.floor(A * 4), 3) + 0.5) / 4
    dev = np.abs(f(A) - f(centre)).max(axis=(1, 2))
    # every cell's peak point reaches the largest variation inside its band-free box: 0.5 * (1/8 - xi) or more
    assert dev[-6:].min() >= 0.5 * (1 / 8 - c.xi) * (1 - 1e-6)
