"""The token-width construction (promptlimits.construct_token): retrieval, codes, sizes, both bounds, bad input."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptlimits import PromptedModel, construct
from promptlimits.construct_token import context_codes, token_leakage
from promptlimits.datasets import AdditiveLipschitzTarget, SineTarget, grid

SHAPES = [(1, 1, 5), (1, 2, 3), (2, 1, 3), (2, 2, 2), (1, 3, 3), (3, 1, 2), (2, 2, 3)]


def cell_centres(X, k):
    return (np.minimum(np.floor(X * k), k - 1) + 0.5) / k


def band_free_corners(c, n, rng):
    """Points whose every coordinate sits just inside an edge of the band-free part of its cell."""
    a = rng.integers(0, c.k, size=(n, c.L, c.d))
    eta = 1e-4 * c.xi
    lo = np.where(a == 0, 0.0, a / c.k + c.xi + eta)
    return np.where(rng.integers(0, 2, size=a.shape) == 1, np.minimum((a + 1) / c.k - eta, 1.0), lo)


def rounding_allowance(c):
    """Float64: each FF1 step off by about u 2L/xi; logits by lambda (d+1)(k+L) times that; output by 2MK/(L+1)+2R."""
    step = 16 * 2.0**-53 * 2 * c.L / c.xi * c.k
    logit = c.lam * (c.d + 1) * (c.k + c.L) * step
    return (2 * c.gate * c.layout.K / (c.L + 1) + 2 * c.value_range) * logit + c.gate * c.layout.K * step


@pytest.mark.parametrize("d,L,k", SHAPES)
def test_token_predictions_are_the_cell_centre_values(d, L, k):
    c = construct.build(d, L, k, width="token")
    assert c.width == "token" and c.model.d == c.sizes["w"] == d * k ** (d * (L - 1)) + 5 * d + 8
    f = AdditiveLipschitzTarget.random(L, d, K=2.0, seed=d + 10 * L + 100 * k)
    P = construct.lookup_prompt(c, f)
    assert isinstance(c.model, PromptedModel) and P.shape == (L * k**d, c.model.d)
    assert np.abs(P).max() <= c.prompt_max == 1.0
    X = np.random.default_rng(0).uniform(size=(300, L, d))
    keep = ~c.in_bands(X)
    assert keep.sum() > 250
    Y = c.predict(P, X)
    np.testing.assert_allclose(Y[keep], f(cell_centres(X, k))[keep], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(c.model.forward(P, c.embed(X))[..., :d], Y)


def test_token_sizes_are_the_documented_formulas():
    for d, L, k in [(1, 1, 4), (2, 2, 3), (1, 3, 5), (3, 1, 2)]:
        c = construct.build(d, L, k, width="token")
        G = k ** (d * (L - 1))
        s = c.sizes
        assert (c.model.d, c.model.s) == (s["w"], s["s"]) == (d * G + 5 * d + 8, max(2 * d + 3, d * G + 1))
        assert c.model.m == s["m1"] == 2 * L * d * (k - 1)
        assert c.model.ff2.W1.shape[1] == s["m2"] == d + 2 * L * G * (d + 1)
        assert c.Lp == s["Lp"] == L * k**d and c.model.E.shape == (L, s["w"])
        assert s["w_lower"] == d * G - 1 < s["w"]
        n = sum(w.size for w in c.model._weights()) + c.model.E.size
        assert s["n_weights"] == n and s["weight_bytes"] == 8 * n
        text = c.describe()
        for name in ("width w", "lower bound on w", "FF2 width m2", "prompt length Lp", "||P||max"):
            assert name in text


def test_token_retrieval_logits_and_context_codes_against_brute_force():
    d, L, k = 2, 2, 3
    c = construct.build(d, L, k, width="token")
    lay = c.layout
    P = construct.lookup_prompt(c, SineTarget(L, d))
    H, _ = c.model.ff1.forward(P)
    np.testing.assert_array_equal(H, P)  # prompt rows pass FF1 unchanged
    rng = np.random.default_rng(4)
    X = band_free_corners(c, 40, rng)
    for x in X:
        Hx, _ = c.model.ff1.forward(c.embed(x[None])[0] + c.model.E)
        S = c.lam * (Hx @ c.model.WQ) @ np.concatenate([H @ c.model.WK, Hx @ c.model.WK]).T
        cells = np.minimum(np.floor(x * k), k - 1).astype(int)
        for i in range(L):
            matched = i * k**d + int(np.ravel_multi_index(tuple(cells[i]), (k,) * d))
            np.testing.assert_allclose(S[i, matched], 0.0, atol=1e-8)
            np.testing.assert_allclose(S[i, c.Lp:], lay.anchor, rtol=1e-14)  # input rows: the anchor Lambda
            # every other prompt token: -lambda |distance|^2 / 2 in the (position, cell) lattice
            for t in range(c.Lp):
                ti, tc = divmod(t, k**d)
                dist2 = (ti - i) ** 2 + sum((a - b) ** 2 for a, b in zip(np.unravel_index(tc, (k,) * d), cells[i]))
                assert S[i, t] == pytest.approx(-c.lam * dist2 / 2, abs=1e-7)
            # the context code u = i K + sum_{p != i} cell-code_p k^(d p), as FF2's gates expect
            u = i * k ** (d * L) + sum(int(np.ravel_multi_index(tuple(cells[p][::-1]), (k,) * d)) * k ** (d * p)
                                       for p in range(L) if p != i)
            assert u in set(context_codes(lay)[i].astype(int).tolist())


def test_token_leakage_bound_dominates_the_exact_lattice_sum():
    for d, L, k, lam in [(1, 3, 4, 1.0), (2, 2, 3, 2.0), (1, 1, 6, 0.5)]:
        worst = 0.0
        for i in range(L):
            for c0 in itertools.product(range(k), repeat=d):
                tot = sum(math.exp(-lam * ((ti - i) ** 2 + sum((a - b) ** 2 for a, b in zip(tc, c0))) / 2)
                          for ti in range(L) for tc in itertools.product(range(k), repeat=d)) - 1.0
                worst = max(worst, tot)
        assert worst <= token_leakage(d, L, k, lam) * (1 + 1e-12)
        assert worst >= 0.5 * token_leakage(d, L, k, lam)  # the bound is not loose by more than 2x


@settings(max_examples=20, deadline=None)
@given(shape=st.sampled_from([(1, 1), (1, 2), (2, 1), (1, 3), (2, 2)]), k=st.integers(2, 5),
       lam=st.floats(30.0, 120.0), K=st.floats(0.1, 8.0), seed=st.integers(0, 2**16))
def test_token_no_point_outside_the_bands_exceeds_the_proved_bound(shape, k, lam, K, seed):
    d, L = shape
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(L * d, L * d))
    W *= K / np.abs(W).sum(axis=1).max()
    f = lambda X: (X.reshape(len(X), -1) @ W.T - 0.5 * W.sum(axis=1)).reshape(X.shape)  # noqa: E731
    R = float(np.abs(f(grid(1 / k, L, d))).max()) * 1.01 + 1e-3
    c = construct.build(d, L, k, width="token", lam=lam, value_range=R)
    P = construct.lookup_prompt(c, f)
    X = np.concatenate([rng.uniform(size=(100, L, d)), band_free_corners(c, 200, rng)])
    X = X[~c.in_bands(X)]
    err = np.abs(c.predict(P, X) - f(X)).max()
    assert err <= c.bound(K) + rounding_allowance(c)


def test_token_bound_is_reached_at_band_free_corners_and_the_band_bound_holds_everywhere():
    c = construct.build(1, 2, 4, width="token", xi=0.02)
    f = lambda X: 0.3 * (X[..., ::-1] - 0.5) + 0.2 * (X - 0.5)  # noqa: E731  K_f = 0.5
    P = construct.lookup_prompt(c, f)
    X = band_free_corners(c, 400, np.random.default_rng(1))
    err = np.abs(c.predict(P, X) - f(X)).max()
    assert err == pytest.approx(c.bound(0.5), rel=1e-3) and c.bound(0.5) == pytest.approx(0.5 / 8, rel=1e-9)
    # inside the bands: dense points on the ramps, every error under the proved constant
    t = np.concatenate([a / 4 + np.linspace(0, 0.02, 41) for a in range(1, 4)])
    Xb = np.stack(np.meshgrid(t, t, indexing="ij"), axis=-1).reshape(-1, 2, 1)
    errb = np.abs(c.predict(P, Xb) - f(Xb)).max()
    assert c.in_bands(Xb).all() and errb <= c.band_bound(0.5)
    assert errb > 10 * c.bound(0.5)  # the bands do err: a rule that ignored them would miss it


def test_token_lambda_is_the_head_scale_and_the_prompt_does_not_depend_on_it():
    c = construct.build(2, 1, 3, width="token", lam=20.0)
    c2 = c.with_lam(60.0)
    assert c2.model.scale == 60.0 and c.model.scale == 20.0
    f = SineTarget(1, 2)
    assert np.array_equal(construct.lookup_prompt(c, f), construct.lookup_prompt(c2, f))
    assert c2.bound(1.0) < c.bound(1.0)


def test_token_bad_input_names_the_problem():
    with pytest.raises(ValueError, match=r"width 10 is too small for the token construction d=1, L=2, k=4"):
        construct.build(1, 2, 4, width="token", model_width=10)
    c = construct.build(1, 2, 4, width="token", model_width=40)
    assert c.model.d == 40
    with pytest.raises(ValueError, match=r"k >= 2"):
        construct.build(1, 2, 1, width="token")
    with pytest.raises(ValueError, match="unknown construction width 'narrow'"):
        construct.build(1, 2, 3, width="narrow")
    with pytest.raises(ValueError, match="model_width applies to width='token' only"):
        construct.build(1, 2, 3, model_width=50)
    with pytest.raises(ValueError, match=r"token construction d=2, L=3, k=12 needs [\d.]+ MiB"):
        construct.build(2, 3, 12, width="token")
    with pytest.raises(ValueError, match=r"f\(cell centres\) contains \d+ NaN"):
        construct.lookup_prompt(c, lambda X: np.where(X > 0.5, np.nan, X))


def test_proofs_check_catches_a_token_bound_without_the_quantization_term(monkeypatch):
    import proofs_check
    from promptlimits.construct_token import TokenConstruction
    from proofs_check import core

    real = TokenConstruction.bound
    monkeypatch.setattr(TokenConstruction, "bound", lambda self, K_f: real(self, K_f) - K_f * self.delta / 4)
    (r,) = proofs_check.run_all(["8f"])
    assert r.status == core.FAILED and "linear error" in r.details
