"""SETH-hardness instances (docs/theory.md §6): promise at every gap, encoding algebra, least-degree search."""

import math
from fractions import Fraction

import numpy as np
import pytest
from naive import naive_attention, naive_poly_attention

from promptlimits.attention import exact_attention
from promptlimits.cli import main
from promptlimits.experiments import experiment
from promptlimits.experiments.hardness import make_sweep, resolve_budget
from promptlimits.experiments.verdict import ILLUSTRATION
from promptlimits.features import rank
from promptlimits.hardness import (
    MARGIN,
    decide,
    encode,
    exact_output,
    extra_dims,
    far_threshold,
    gap_parameters,
    hamming,
    lambda_min,
    least_poly_degree,
    make_instance,
    score_gap,
    sufficient_degree,
    within_margin,
)
from promptlimits.poly_attention import FloatOverflow, make_plan
from promptlimits.sweep import run_sweep

GAPS = (1.0, 0.5, 0.25, 0.1)


@pytest.mark.parametrize("gap", GAPS)
def test_promise_holds_exactly_at_every_gap(gap):
    """t'/t = 1 + gap exactly; the planted pair at distance t (or uniform in 0..t), every other pair >= t'."""
    n = 128
    m, t, tf = gap_parameters(n, gap)
    assert Fraction(tf, t) == 1 + Fraction(gap).limit_denominator(1000) and Fraction(str(gap)) == Fraction(tf - t, t)
    for k in range(4):
        close = t if k < 2 else None
        inst = make_instance(n, m, t, tf, planted=k % 2 == 0, seed=k, close_distance=close)
        H = hamming(inst.A, inst.C)
        if inst.planted:
            i, j = inst.pair
            assert H[i, j] == t if close is not None else H[i, j] <= t
            H = H.copy()
            H[i, j] = m
        assert H.min() >= tf


def test_gap_parameters_take_t_of_order_m_and_the_largest_feasible_t_far():
    from scipy.stats import binom

    for n in (256, 1024, 4096):
        for gap in GAPS:
            m, t, tf = gap_parameters(n, gap)
            tmax = far_threshold(n, m)
            # far_threshold: largest t' with n P(H < t') <= 1/4, against SciPy's binomial cdf
            assert n * binom.cdf(tmax - 1, m, 0.5) <= 0.25 < n * binom.cdf(tmax, m, 0.5)
            t_hi = math.floor(tmax / (1 + gap) + 1e-12)
            assert tf <= tmax and t_hi / 2 <= t <= t_hi and m == math.ceil(6 * math.log2(n))


def test_hamming_matches_naive():
    rng = np.random.default_rng(0)
    A, C = rng.integers(0, 2, (7, 9)), rng.integers(0, 2, (5, 9))
    naive = np.array([[np.sum(a != c) for c in C] for a in A])
    assert np.array_equal(hamming(A, C), naive)


def test_encoding_logits_are_affine_in_hamming_and_bounded():
    n = 64
    m, t, tf = gap_parameters(n, 0.5)
    inst = make_instance(n, m, t, tf, planted=True, seed=3)
    lam = 2.5
    Q, K, V = encode(inst, lam)
    e, _ = extra_dims(m, t, tf)
    d = m + e
    assert Q.shape == (n, d) and K.shape == (n + 1, d) and V.sum() == 1.0 and V[-1, 0] == 1.0
    assert max(np.abs(Q).max(), np.abs(K).max()) == pytest.approx(lam)  # B = lambda
    S = Q @ K.T / d
    H = hamming(inst.A, inst.C)
    assert np.allclose(S[:, :n], lam**2 * (t + tf - 2 * H) / d)
    assert np.allclose(S[:, n], 0.0)
    gamma = score_gap(lam, m, t, tf)
    close = H <= t
    assert np.all(S[:, :n][close] >= gamma - 1e-12) and np.all(S[:, :n][~close] <= -gamma + 1e-12)


@pytest.mark.parametrize("lam", [0.3, 2.0, 9.0])
def test_exact_output_from_distances_is_exact_attention(lam):
    n = 64
    m, t, tf = gap_parameters(n, 1.0)
    inst = make_instance(n, m, t, tf, planted=True, seed=5, close_distance=t)
    want = naive_attention(*encode(inst, lam)) if lam < 5 else exact_attention(*encode(inst, lam))
    np.testing.assert_allclose(exact_output(inst, lam), want, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("gap", GAPS)
def test_exact_attention_decides_every_instance_above_lambda_min(gap):
    n = 512
    m, t, tf = gap_parameters(n, gap)
    lam = 1.001 * lambda_min(n, m, t, tf)
    assert score_gap(lam, m, t, tf) > math.log(3 * n)
    rng = np.random.default_rng(2025)
    for k in range(6):
        inst = make_instance(n, m, t, tf, planted=k % 2 == 0, seed=rng, close_distance=t)
        T = exact_attention(*encode(inst, lam))[:, 0]
        assert np.all((T < 0.25) | (T > 0.75))  # the derived margin holds row by row
        assert decide(inst, lam, exact_attention)[0] == inst.planted


def _brute_force_least_degree(inputs, exact, lam, max_degree):
    """Every degree up to max_degree by the naive n x n formula; the first within the margin everywhere."""
    d = inputs[0][0].shape[1]
    for g in range(max_degree + 1):
        c = make_plan(d, lam, degree=g, kind="chebyshev", certify=False).approx.coefficients
        if all(np.abs(naive_poly_attention(*x, c) - e).max() < MARGIN for x, e in zip(inputs, exact)):
            return g
    return None


def test_least_degree_search_matches_a_brute_force_scan():
    """Random inputs where the error is not monotone in the degree (it passes at g, fails at g + 1)."""
    found = []
    for lam in (1.0, 1.5, 2.0, 2.5, 3.0):
        for seed in range(3):
            rng = np.random.default_rng(seed)
            inputs = [(rng.uniform(-lam, lam, (10, 3)), rng.uniform(-lam, lam, (12, 3)), rng.normal(0, 3, (12, 1)))
                      for _ in range(3)]
            exact = [naive_attention(*x) for x in inputs]
            search = least_poly_degree(inputs, exact, lam, max_rank=rank(3, 8))
            want = _brute_force_least_degree(inputs, exact, lam, 8)
            assert search.level == want, (lam, seed)
            assert search.size == (None if want is None else rank(3, want))
            assert [lv for lv, *_ in search.tried] == list(range(9 if want is None else want + 1))
            found.append(want)
    assert None in found and max(g for g in found if g is not None) >= 4 and 0 in found  # a real search


def test_sufficient_degree_is_sufficient_and_its_bound_is_the_stated_one():
    """At the sufficient degree every row is within 1/4 (naive formula); one degree less misses n delta < 1/5."""
    n, m, t, tf = 8, 8, 1, 3
    insts = [make_instance(n, m, t, tf, planted=k % 2 == 0, seed=k, close_distance=t) for k in range(4)]
    for lam in (0.5, 1.0, 1.5):
        R = lam * lam
        g = sufficient_degree(n, R)
        delta = [2 * math.exp(R) * (R / 2) ** (k + 1) / math.factorial(k + 1) for k in (g - 1, g)]
        assert n * delta[1] < 0.2 <= n * delta[0]
        inputs = [encode(inst, lam) for inst in insts]
        c = make_plan(inputs[0][0].shape[1], lam, degree=g, kind="chebyshev", certify=False).approx.coefficients
        assert within_margin(lambda Q, K, V, c=c: naive_poly_attention(Q, K, V, c), inputs,
                             [naive_attention(*x) for x in inputs])[0]


@pytest.mark.parametrize("gap, match", [
    (0.0, r"gap \(t'/t - 1\) must lie in \(0, 10\], got 0.0"),
    (10.5, r"must lie in \(0, 10\], got 10.5"),
    (float("nan"), "must lie in"),
])
def test_a_gap_outside_the_range_is_refused(gap, match):
    with pytest.raises(ValueError, match=match):
        gap_parameters(256, gap)


def test_bad_parameters():
    with pytest.raises(ValueError, match="t < t_far"):
        make_instance(16, 8, 3, 3, planted=False)
    with pytest.raises(ValueError, match="could not make"):
        make_instance(64, 8, 0, 8, planted=False, max_rounds=5)
    with pytest.raises(ValueError, match="lambda"):
        encode(make_instance(16, 12, 0, 1, planted=False), -1.0)
    with pytest.raises(ValueError, match="close_distance must be <= 2"):
        make_instance(16, 12, 2, 4, planted=True, close_distance=3)
    with pytest.raises(ValueError, match="raise c_m"):
        gap_parameters(16, 0.1)
    assert resolve_budget("n", 100) == 100 and resolve_budget("n^1.5", 100) == 1000 and resolve_budget(77, 100) == 77
    with pytest.raises(ValueError, match="budget must be"):
        resolve_budget("lots", 100)


@pytest.mark.parametrize("value, text", [
    ("11", "gap (t'/t - 1) must lie in (0, 10], got 11.0"),
    ("0", "gap (t'/t - 1) must lie in (0, 10], got 0.0"),
])
def test_cli_refuses_a_bad_gap_in_one_line(value, text, tmp_path, capsys):
    assert main(["sweep", "hardness", "--gap", value, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and text in err, err


def test_small_hardness_sweep_and_its_verdict(tmp_path):
    res = run_sweep(make_sweep("tiny", kappas=[0.5, 2.0, 6.0]), tmp_path, workers=1, progress=False)
    by = {(r["gap"], r["kappa"], r["method"]): r for r in res.rows}
    for gap in (1.0, 0.5):
        assert by[(gap, 6.0, "exact")]["accuracy"] == 1.0 and by[(gap, 6.0, "exact")]["margin_holds"]
        assert by[(gap, 0.5, "exact")]["accuracy"] == 0.5  # nothing to decide: every row is near 0
        assert by[(gap, 0.5, "poly")]["least_size"] == 1  # so a constant is within the margin
        assert by[(gap, 6.0, "poly")]["least_size"] is None and by[(gap, 6.0, "rf")]["matched_ok"] is False
        assert by[(gap, 6.0, "poly")]["largest_size_tried"] <= by[(gap, 6.0, "poly")]["max_rank"] == 430
    cases = res.meta["summary"]["cases"]
    assert [(c["gap"], c["n"]) for c in cases] == [(1.0, 128), (0.5, 128)]
    assert all(c["crossing_kappa"] == 2.0 and c["kappas_exact_decides"] == [6.0] for c in cases)
    [v] = experiment("hardness").module.verdicts({"hardness": res})
    assert v.status == ILLUSTRATION and "passes n at kappa = 2 (0.45-0.54 of the derived kappa_min)" in v.why


def test_degrees_that_overflow_float64_fail_the_margin_instead_of_stopping_the_search():
    """Large lambda: degree 1 overflows with 12 keys, degree 2's weights overflow; the search reports both as failed."""
    lam, d = 31.5, 3
    assert make_plan(d, lam, degree=1, kind="chebyshev", certify=False).overflows(12)
    with pytest.raises(FloatOverflow, match="feature weights"):
        make_plan(d, lam, degree=2, kind="chebyshev", certify=False)
    rng = np.random.default_rng(0)
    inputs = [(rng.uniform(-lam, lam, (10, d)), rng.uniform(-lam, lam, (12, d)), rng.normal(0, 3, (12, 1)))]
    exact = [naive_attention(*x) for x in inputs]
    search = least_poly_degree(inputs, exact, lam, max_rank=rank(d, 2))
    assert search.level is None
    assert [(lv, ok) for lv, _, ok, _ in search.tried[1:]] == [(1, False), (2, False)]
    assert all(err == np.inf for _, _, _, err in search.tried[1:])
