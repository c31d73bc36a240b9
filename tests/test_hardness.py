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
    distance_counts,
    encode,
    exact_output,
    extra_dims,
    far_threshold,
    gap_parameters,
    hamming,
    lambda_min,
    least_poly_degree,
    least_poly_degree_counts,
    make_instance,
    poly_output,
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


def test_small_hardness_sweep_reaches_degree_4_and_its_verdict(tmp_path):
    res = run_sweep(make_sweep("tiny", kappas=[0.5, 2.0, 6.0]), tmp_path, workers=1, progress=False)
    by = {(r["gap"], r["kappa"], r["method"]): r for r in res.rows}
    for gap in (1.0, 0.5):
        assert by[(gap, 6.0, "exact")]["accuracy"] == 1.0 and by[(gap, 6.0, "exact")]["margin_holds"]
        assert by[(gap, 0.5, "exact")]["accuracy"] == 0.5  # nothing to decide: every row is near 0
        assert by[(gap, 0.5, "poly")]["least_size"] == 1  # so a constant is within the margin
        po = by[(gap, 6.0, "poly")]
        assert po["least_size"] is None and by[(gap, 6.0, "rf")]["matched_ok"] is False
        # the search ran every degree up to the cap (6 at tiny scale), far past the rank budget n = 128
        assert po["degree_cap"] == 6 and po["largest_level_tried"] == 6
        assert [int(x.split(":")[0]) for x in po["errors_tried"].split()] == list(range(7))
        assert po["degree_at_rank_n"] == 1 and math.isclose(po["log10_rank_cap"], math.log10(rank(po["d"], 6)))
    cases = res.meta["summary"]["cases"]
    assert [(c["gap"], c["n"]) for c in cases] == [(1.0, 128), (0.5, 128)]
    assert all(c["kappas_exact_decides"] == [6.0] and c["kappa_decide_rank_n"] is None for c in cases)
    assert all(c["control_below"] < 0.75 < c["control_above"] for c in cases)
    [v] = experiment("hardness").module.verdicts({"hardness": res})
    assert v.status == ILLUSTRATION and "no rank <= n decides at any kappa" in v.why
    assert any(line.startswith("negative control") for line in v.numbers)


def test_worst_case_control_sits_exactly_on_the_margin_at_lambda_min():
    """The worst far row (all n keys at distance t') gives 3/4 at lambda_min, less below it, more above it."""
    from promptlimits.experiments.hardness import worst_case_control
    from promptlimits.hardness import HammingInstance

    n, (m, t, tf) = 256, gap_parameters(256, 1.0, c_m=3.0)
    assert math.isclose(worst_case_control(n, m, t, tf, 1.0), 0.75, rel_tol=1e-12)
    assert worst_case_control(n, m, t, tf, 0.99) < 0.75 < worst_case_control(n, m, t, tf, 1.01)
    counts = np.zeros((1, m + 1), dtype=np.int64)
    counts[0, tf] = n  # the same row through exact_output
    inst = HammingInstance(A=np.zeros((1, m)), C=np.zeros((1, m)), t=t, t_far=tf, planted=False, pair=None)
    lam = 0.99 * lambda_min(n, m, t, tf)
    assert math.isclose(exact_output(inst, lam, counts)[0, 0], worst_case_control(n, m, t, tf, 0.99), rel_tol=1e-12)


@pytest.mark.parametrize("n, c_m", [(64, 3.0), (40, 14.0)])  # m = 18 bits (one word), m = 75 (two words)
def test_packed_distance_passes_match_the_full_matrix(n, c_m):
    """The popcount passes (distance counts, close pairs) against the BLAS distance matrix."""
    import promptlimits.hardness as hardness

    m, t, tf = gap_parameters(n, 1.0, c_m=c_m)
    inst = make_instance(n, m, t, tf, planted=True, seed=3, close_distance=t)
    H = hamming(inst.A, inst.C)
    assert np.array_equal(distance_counts(inst), np.stack([np.bincount(row, minlength=m + 1) for row in H]))
    i, j = inst.pair
    assert H[i, j] == t
    H[i, j] = m
    assert H.min() >= tf
    # random bits (many close pairs, more than the first buffer holds at a large threshold), row-major
    rng = np.random.default_rng(5)
    A, C = rng.integers(0, 2, size=(2, n, m), dtype=np.int8)
    H = hamming(A, C)
    for limit in (1, m // 2, m + 1):
        want = [(int(a), int(b)) for a, b in zip(*np.nonzero(H < limit))]
        assert hardness._close_pairs(A, C, limit) == want


@pytest.mark.parametrize("degree", [0, 2, 3])
def test_poly_output_from_counts_is_the_kernels_output(degree):
    """The O(n m) evaluation of sum_j p(s_ij) from the distance counts equals the fused kernels on the encoding."""
    n = 48
    m, t, tf = gap_parameters(n, 1.0, c_m=2.0)
    inst = make_instance(n, m, t, tf, planted=True, seed=1, close_distance=t)
    counts = distance_counts(inst)
    for kappa in (0.7, 1.5):
        lam = kappa * math.sqrt(math.log(n))
        plan = make_plan(encode(inst, lam)[0].shape[1], lam, degree=degree, kind="chebyshev", certify=False)
        kernel = plan.forward(*encode(inst, lam))
        counted = poly_output(plan.approx, counts, lam, m, t, tf)
        np.testing.assert_allclose(counted, np.clip(kernel, -1, 1), rtol=1e-9, atol=1e-12)


def test_the_counts_search_finds_the_kernel_search_degree_and_goes_past_the_rank_budget():
    n = 48
    m, t, tf = gap_parameters(n, 1.0, c_m=2.0)
    insts = [make_instance(n, m, t, tf, planted=k % 2 == 0, seed=k, close_distance=t) for k in range(4)]
    cached = [(inst, distance_counts(inst)) for inst in insts]
    d = encode(insts[0], 1.0)[0].shape[1]
    for kappa in (0.5, 1.0, 1.5, 2.5):
        lam = kappa * math.sqrt(math.log(n))
        exact = [exact_output(inst, lam, c) for inst, c in cached]
        kern = least_poly_degree([encode(inst, lam) for inst in insts], exact, lam, max_rank=rank(d, 3))
        count = least_poly_degree_counts(cached, exact, lam, max_rank=rank(d, 3))
        assert kern.level == count.level
        assert [lv for lv, *_ in kern.tried] == [lv for lv, *_ in count.tried]
        np.testing.assert_allclose([e for *_, e in kern.tried], [e for *_, e in count.tried], rtol=1e-7)
        deep = least_poly_degree_counts(cached, exact, lam, max_rank=n, min_degree=5)
        assert max(lv for lv, *_ in deep.tried) == (5 if deep.level is None else deep.level)
        assert rank(d, 5) > n


def test_counts_path_fails_where_the_kernels_refuse_float64():
    """Where make_plan's weights or forward's intermediate values overflow, poly_output is inf (fails the margin)."""
    n = 48
    m, t, tf = gap_parameters(n, 1.0, c_m=2.0)
    inst = make_instance(n, m, t, tf, planted=False, seed=2)
    counts = distance_counts(inst)
    d = encode(inst, 1.0)[0].shape[1]
    lam = 30.0
    refused = []
    for g in range(0, 8):
        try:
            plan = make_plan(d, lam, degree=g, kind="chebyshev", certify=False)
            refuse = plan.overflows(n + 1)
        except FloatOverflow:
            refuse = True
        from promptlimits.polyapprox import exp_approximation

        out = poly_output(exp_approximation(lam * lam, degree=g, kind="chebyshev"), counts, lam, m, t, tf)
        refused.append(refuse)
        if refuse:
            assert np.all(out == np.inf)
    assert any(refused)


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


def test_kappa_decide_trend_states_monotonicity_only_when_every_size_decides():
    """The summary's trend across n: non-increasing / non-decreasing flags, and none claimed with a gap in it."""
    from promptlimits.experiments.hardness import _least_kappa, _trend, _trend_line

    assert _least_kappa({2.5: True, 2.0: False, 2.25: True}) == 2.25 and _least_kappa({1.0: False}) is None
    cases = [{"gap": 1.0, "n": n, "kappa_decide": k} for n, k in ((1024, 2.25), (256, 2.25), (4096, 2.0))]
    tr = _trend(cases, "kappa_decide")["1"]
    assert tr["n"] == [256, 1024, 4096] and tr["kappa_decide"] == [2.25, 2.25, 2.0]
    assert tr["non_increasing"] and not tr["non_decreasing"]
    assert "non-increasing in n" in _trend_line("kappa_decide", {"1": tr})
    cases[2]["kappa_decide"] = None
    tr = _trend(cases, "kappa_decide")["1"]
    assert not tr["non_increasing"] and not tr["non_decreasing"]
    assert "no trend: n/a at some n" in _trend_line("kappa_decide", {"1": tr})
