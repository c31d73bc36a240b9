"""The universality construction (promptlimits.construct): sizes, retrieval, the proved bound, bad input."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptlimits import PromptedModel, construct
from promptlimits.datasets import AdditiveLipschitzTarget, SineTarget, grid


def cell_centres(X, k):
    return (np.minimum(np.floor(X * k), k - 1) + 0.5) / k


def band_free_corners(c, n, rng):
    """Points whose every coordinate sits at an edge of the band-free part of its cell."""
    a = rng.integers(0, c.k, size=(n, c.L, c.d))
    lo = np.where(a == 0, 0.0, a / c.k + c.xi)
    return np.where(rng.integers(0, 2, size=a.shape) == 1, (a + 1) / c.k, lo)


def rounding_allowance(c):
    """Float64 estimate from the module docstring, times 16: u (2L+2)/xi (1 + M L d + 2 R lambda d)."""
    u = 2.0**-53
    return 16 * u * (2 * c.L + 2) / c.xi * (1 + c.gate * c.L * c.d + 2 * c.value_range * c.lam * c.d)


@pytest.mark.parametrize("d,L,k", [(1, 1, 5), (1, 2, 3), (2, 1, 3), (2, 2, 2), (1, 3, 2), (3, 1, 2), (1, 1, 2)])
def test_predictions_are_the_cell_centre_values(d, L, k):
    c = construct.build(d, L, k)
    f = AdditiveLipschitzTarget.random(L, d, K=2.0, seed=d + 10 * L + 100 * k)
    P = construct.lookup_prompt(c, f)
    assert isinstance(c.model, PromptedModel) and P.shape == (c.Lp, c.model.d)
    X = np.random.default_rng(0).uniform(size=(300, L, d))
    keep = ~c.in_bands(X)
    assert keep.sum() > 250
    Y = c.predict(P, X)
    np.testing.assert_allclose(Y[keep], f(cell_centres(X, k))[keep], rtol=0, atol=1e-9)
    # the same numbers through the model's public forward on embedded inputs
    np.testing.assert_array_equal(c.model.forward(P, c.embed(X))[..., :d], Y)


def test_sizes_are_the_documented_formulas():
    for d, L, k in [(1, 1, 4), (2, 2, 3), (1, 3, 5), (3, 1, 2)]:
        c = construct.build(d, L, k)
        G = k ** (d * (L - 1))
        s = c.sizes
        assert (c.model.d, c.model.s) == (s["D"], s["s"]) == (d + L + 1 + 3 * L * d * k + d * G, L * d * k + d * G)
        assert c.model.m == s["m1"] == 2 * L * d * (k + 1)
        assert c.model.ff2.W1.shape[1] == s["m2"] == d + L * d * G
        assert c.Lp == s["Lp"] == L * k**d and c.model.E.shape == (L, s["D"])
        n = sum(w.size for w in c.model._weights()) + c.model.E.size
        assert s["n_weights"] == n and s["weight_bytes"] == 8 * n
        text = c.describe()
        for name in ("D", "FF1 width m1", "FF2 width m2", "prompt length Lp", "prompt key bias", "leakage eps_s"):
            assert name in text
        assert f"= {s['D']}" in text and "-lambda d" in text


def test_prompt_rows_pass_ff1_unchanged_and_retrieval_picks_the_own_cell():
    c = construct.build(2, 2, 3, lam=25.0)
    f = SineTarget(2, 2)
    P = construct.lookup_prompt(c, f)
    H, _ = c.model.ff1.forward(P)
    np.testing.assert_array_equal(H, P)
    X = np.array([[[0.1, 0.5], [0.9, 0.4]]])
    Z = np.concatenate([P, c.embed(X)[0] + c.model.E], axis=0)
    Hz, _ = c.model.ff1.forward(Z)
    S = (Hz[c.Lp:] @ c.model.WQ) @ (Hz @ c.model.WK).T
    # token 0 is in cell (0, 1) at position 0 -> prompt row 0 * 9 + 0 * 3 + 1; token 1 in cell (2, 1) -> 9 + 7
    for row, matched in ((0, 1), (1, 16)):
        top = np.flatnonzero(S[row] == S[row].max())
        assert set(top) == {matched, c.Lp, c.Lp + 1}
        others = np.delete(S[row], top)
        assert others.max() <= S[row].max() - c.lam + 1e-9


def test_leakage_formula_and_its_simple_bound():
    for d, L, k, lam in [(1, 1, 4, 2.0), (2, 3, 5, 1.5), (3, 2, 2, 7.0)]:
        x = math.exp(-lam)
        enum = sum(math.comb(d, m) * (k - 1) ** (d - m) * x ** (d - m) for m in range(d)) + (L - 1) * k**d * x**d
        assert construct.leakage(d, L, k, lam) == pytest.approx(enum, rel=1e-13)
        assert construct.leakage(d, L, k, lam) <= (L * k**d - 1) * x


def test_leakage_term_of_the_bound_is_reached_within_a_factor_two():
    """A +-R table and a small lambda: the measured error at cell centres sits between half the bound and it."""
    d, L, k = 1, 2, 4
    c = construct.build(d, L, k, lam=3.0)
    C = grid(1 / k, L, d)
    table = np.random.default_rng(3).choice([-1.0, 1.0], size=C.shape)

    def f(X):
        idx = np.floor(X * k).astype(int).reshape(len(X), -1) @ (k ** np.arange(L * d - 1, -1, -1))
        return table[idx]

    err = np.abs(c.predict(construct.lookup_prompt(c, f), C) - f(C)).max()
    assert 0.5 * c.bound(0.0) <= err <= c.bound(0.0)


@settings(max_examples=25, deadline=None)
@given(
    shape=st.sampled_from([(1, 1), (1, 2), (2, 1), (1, 3), (2, 2)]),
    k=st.integers(2, 6),
    lam=st.floats(0.5, 30.0),
    K=st.floats(0.1, 8.0),
    kind=st.sampled_from(["additive", "sine", "linear"]),
    seed=st.integers(0, 2**16),
)
def test_no_point_outside_the_bands_exceeds_the_proved_bound(shape, k, lam, K, kind, seed):
    d, L = shape
    rng = np.random.default_rng(seed)
    if kind == "additive":
        f = AdditiveLipschitzTarget.random(L, d, K=K, seed=seed)
    elif kind == "sine":
        f = SineTarget(L, d, amplitude=K / (3 * np.pi))
    else:  # max-norm Lipschitz constant max_o sum_m |W_om| = K, tight at every corner
        W = rng.normal(size=(L * d, L * d))
        W *= K / np.abs(W).sum(axis=1).max()
        f = lambda X: (X.reshape(len(X), -1) @ W.T - 0.5 * W.sum(axis=1)).reshape(X.shape)  # noqa: E731
    K_f = f.K if kind != "linear" else K
    R = float(np.abs(f(grid(1 / k, L, d))).max()) * 1.01 + 1e-3
    c = construct.build(d, L, k, lam=lam, value_range=R)
    P = construct.lookup_prompt(c, f)
    X = np.concatenate([rng.uniform(size=(200, L, d)), band_free_corners(c, 200, rng)])
    X = X[~c.in_bands(X)]
    err = np.abs(c.predict(P, X) - f(X)).max()
    assert err <= c.bound(K_f) + rounding_allowance(c)


def test_bound_is_tight_for_a_linear_target_at_band_free_corners():
    """Quantization error K_f delta / 2 is reached: the bound is not vacuous."""
    c = construct.build(1, 2, 4)
    f = lambda X: 0.3 * (X[..., ::-1] - 0.5) + 0.2 * (X - 0.5)  # noqa: E731  K_f = 0.5
    X = band_free_corners(c, 400, np.random.default_rng(1))
    err = np.abs(c.predict(construct.lookup_prompt(c, f), X) - f(X)).max()
    assert err == pytest.approx(c.bound(0.5), rel=1e-6) and c.bound(0.5) == pytest.approx(0.5 / 8, rel=1e-9)


def test_bands_are_the_ramp_intervals_and_have_the_stated_measure():
    c = construct.build(1, 2, 4, xi=0.01)
    X = np.array([[[0.25], [0.7]], [[0.2599], [0.7]], [[0.2601], [0.7]], [[0.9], [0.5]], [[0.0], [1.0]]])
    assert c.in_bands(X).tolist() == [True, True, False, True, False]
    U = np.random.default_rng(2).uniform(size=(200_000, 2, 1))
    frac = c.in_bands(U).mean()
    exact = 1 - (1 - 3 * 0.01) ** 2
    assert abs(frac - exact) < 5 * math.sqrt(exact / 200_000) and exact <= c.sizes["band_measure"]


def test_lambda_is_a_prompt_scalar():
    c = construct.build(2, 1, 3, lam=5.0)
    c2 = c.with_lam(11.0)
    assert c2.model is c.model and c2.lam == 11.0
    f = SineTarget(1, 2)
    P5, P11 = construct.lookup_prompt(c, f), construct.lookup_prompt(c2, f)
    changed = np.flatnonzero(np.any(P5 != P11, axis=0))
    lay = c.layout
    assert set(changed) <= set(range(lay.key, lay.key + lay.n_slots)) | {lay.bias}
    assert c2.bound(1.0) < c.bound(1.0)


def test_save_load_round_trip_of_a_constructed_model(tmp_path):
    c = construct.build(1, 2, 3)
    again = PromptedModel.load(c.model.save(tmp_path / "c.npz"))
    assert again == c.model and np.array_equal(again.E, c.model.E)
    P = construct.lookup_prompt(c, SineTarget(2, 1))
    X = np.random.default_rng(0).uniform(size=(20, 2, 1))
    assert np.array_equal(again.forward(P, c.embed(X)), c.model.forward(P, c.embed(X)))


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match=r"k \(cells per coordinate; k >= 2 .*\) must be >= 2, got 1"):
        construct.build(1, 1, 1)
    with pytest.raises(ValueError, match="lambda must be finite and > 0"):
        construct.build(1, 1, 2, lam=0.0)
    with pytest.raises(ValueError, match="lambda must be finite and > 0"):
        construct.build(1, 1, 2).with_lam(-1.0)
    with pytest.raises(ValueError, match=r"xi must be <= 1/\(2k\)"):
        construct.build(1, 1, 4, xi=0.2)
    with pytest.raises(ValueError, match=r"needs [\d.]+ MiB of weights \(D = \d+, FF2 width m2 = \d+"):
        construct.build(2, 3, 16)
    with pytest.raises(ValueError, match="above max_bytes"):
        construct.build(1, 2, 8, max_bytes=1000)
    c = construct.build(1, 2, 3)
    with pytest.raises(ValueError, match=r"target f returned shape \(9, 2\)"):
        construct.lookup_prompt(c, lambda X: X[..., 0])
    with pytest.raises(ValueError, match=r"f\(cell centres\) contains 6 NaN or infinite entries"):
        construct.lookup_prompt(c, lambda X: np.where(X > 0.5, np.nan, X))
    with pytest.raises(ValueError, match="above value_range R = 1.0"):
        construct.lookup_prompt(c, lambda X: 3 * X)
    with pytest.raises(TypeError, match="target f must be callable"):
        construct.lookup_prompt(c, np.zeros((9, 2, 1)))
    P = construct.lookup_prompt(c, lambda X: X)
    with pytest.raises(ValueError, match=r"inputs X must lie in \[0, 1\]"):
        c.predict(P, np.full((2, 2, 1), 1.5))
    with pytest.raises(ValueError, match=r"inputs X must have shape \(batch, 2, 1\)"):
        c.predict(P, np.zeros((2, 3, 1)))


def test_proofs_check_catches_a_bound_without_leakage(monkeypatch):
    import proofs_check
    from proofs_check import core

    assert all(r.passed for r in proofs_check.run_all(["8"]))
    monkeypatch.setattr(construct.Construction, "bound", lambda self, K_f: K_f * self.delta / 2)
    res = {r.name: r for r in proofs_check.run_all(["8c", "8d"])}
    assert res["8c.bound-algebra"].status == core.FAILED and "vs" in res["8c.bound-algebra"].details
    assert res["8d.bound-brute-force"].status == core.FAILED and "> bound" in res["8d.bound-brute-force"].details


def test_proofs_check_catches_a_gate_that_does_not_close(monkeypatch):
    """FF2 gates built with M = R instead of 4R: retrieval is wrong somewhere and 8a says so."""
    import proofs_check
    from proofs_check import core

    real = construct._ff2
    monkeypatch.setattr(construct, "_ff2", lambda lay, M, R: real(lay, M / 8, R))
    (r,) = proofs_check.run_all(["8a"])
    assert r.status == core.FAILED and "zero-leakage output" in r.details
