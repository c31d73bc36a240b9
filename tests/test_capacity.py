"""Tests of the prompt-Lipschitz constant K_P and the counting bound (docs/theory.md §7)."""

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from promptlimits.capacity import (
    col_norm,
    counting_bound,
    counting_cells,
    ff_lipschitz,
    ff_range,
    lipschitz_lower_bound,
    prompt_lipschitz,
)
from promptlimits.model import PromptedModel

MODELS = [dict(seed=0), dict(seed=2, s=8, scale=1.0), dict(seed=3, s=4, weight_scale=2.0)]


def _ratio(model, P, P2, X):
    num = np.abs(model.forward(P, X) - model.forward(P2, X)).max()
    den = np.abs(P - P2).max()
    return num / den


def _adversarial(model, rho, Lp, L, seed, starts=2):
    """Gradient ascent (L-BFGS-B, numerical gradient) on the difference quotient over P, X and a direction."""
    d = model.d
    rng = np.random.default_rng(seed)
    nP, nX = Lp * d, L * d
    t = 1e-4 * rho

    def split(z):
        return z[:nP].reshape(Lp, d), z[nP:nP + nX].reshape(1, L, d), z[nP + nX:].reshape(Lp, d)

    def neg_ratio(z):
        P, X, v = split(z)
        if np.abs(v).max() < 1e-12:
            return 0.0
        P2 = np.clip(P + t * v, -rho, rho)
        if np.abs(P2 - P).max() == 0:
            return 0.0
        return -_ratio(model, P, P2, X)

    bounds = [(-rho, rho)] * nP + [(0.0, 1.0)] * nX + [(-1.0, 1.0)] * nP
    best = 0.0
    for _ in range(starts):
        z0 = np.concatenate([rng.uniform(-rho, rho, nP), rng.uniform(0, 1, nX), rng.choice([-1.0, 1.0], nP)])
        res = minimize(neg_ratio, z0, method="L-BFGS-B", bounds=bounds, options={"maxiter": 30})
        best = max(best, -res.fun, -neg_ratio(z0))
    return best


@pytest.mark.parametrize("variant", ["softmax", "softmax1"])
@pytest.mark.parametrize("mkw", MODELS)
def test_K_P_bounds_random_and_adversarial_probes(variant, mkw):
    d = 2
    model = PromptedModel.from_seed(d, variant=variant, **mkw)
    rng = np.random.default_rng(7)
    for rho in (0.5, 3.0):
        K = prompt_lipschitz(model, rho).K_P
        worst = 0.0
        for Lp, L in ((1, 1), (3, 2)):
            # random pairs, near and far
            for scale in (1e-3, 0.3, 2.0):
                P = rng.uniform(-rho, rho, size=(Lp, d))
                P2 = np.clip(P + rng.normal(0, scale * rho, size=(8,) + P.shape), -rho, rho)
                X = rng.uniform(0, 1, size=(4, L, d))
                for Q in P2:
                    if np.abs(Q - P).max() > 0:
                        worst = max(worst, _ratio(model, P, Q, X))
        worst = max(worst, _adversarial(model, rho, 2, 2, seed=int(rho * 10)))
        assert 0 < worst <= K, (variant, mkw, rho, worst, K)


def test_factors_are_each_rigorous():
    model = PromptedModel.from_seed(2, seed=5, s=3)
    rho = 2.0
    f = prompt_lipschitz(model, rho)
    rng = np.random.default_rng(0)
    # FF1 Lipschitz factor, per row in the max norm
    z = rng.uniform(-rho, rho, size=(2000, 2))
    z2 = z + rng.normal(0, 1e-2, size=z.shape)
    h, _ = model.ff1.forward(z)
    h2, _ = model.ff1.forward(z2)
    assert np.max(np.abs(h - h2).max(axis=1) / np.abs(z - z2).max(axis=1)) <= f.c_ff1
    # interval bounds on FF1 over the prompt box and over [0, 1]
    lo, hi = ff_range(model.ff1, np.full(2, -rho), np.full(2, rho))
    assert np.all(h >= lo - 1e-12) and np.all(h <= hi + 1e-12)
    assert np.abs(h).max() <= f.h_prompt_max
    x = rng.uniform(0, 1, size=(2000, 2))
    hx, _ = model.ff1.forward(x)
    assert np.abs(hx).max() <= f.h_input_max
    assert np.abs(hx @ model.WQ).max() <= f.qabs_max
    # the product formula
    K = f.c_ff2 * (f.softmax_factor * f.logit_factor * f.value_spread + f.value_factor) * f.c_ff1
    assert f.K_P == pytest.approx(K, rel=1e-8) and f.K_P >= K


def test_softmax_jacobian_inf_to_one_norm_at_most_one():
    rng = np.random.default_rng(1)
    for _ in range(200):
        s = rng.normal(0, 3, size=6)
        p = np.exp(s - s.max())
        p /= p.sum()
        x = rng.choice([-1.0, 1.0], size=6)
        assert np.abs(p * (x - p @ x)).sum() <= 1.0 + 1e-12


def test_col_norm_and_ff_lipschitz_closed_forms():
    W = np.array([[1.0, -2.0], [3.0, 0.5]])
    assert 4.0 <= col_norm(W) <= 4.0 * (1 + 1e-14)  # column sums 4 and 2.5, rounded up
    z = np.array([1.0, 1.0]) * np.sign(W[:, 0])
    assert np.abs(z @ W).max() == pytest.approx(col_norm(W))  # attained
    model = PromptedModel.from_seed(2, seed=0)
    assert ff_lipschitz(model.ff1) >= 1.0


def test_counting_bound_closed_form():
    # K_P = 10, gamma - 2 tol = 0.1: eta* = 0.005, rho = 1: rho / eta* = 200 -> M = 201
    b = counting_bound(d=2, L=1, gamma=0.2, tol=0.05, rho=1.0, K_P=10.0, N=16)
    assert b.eta == pytest.approx(0.005)
    assert b.M == 201
    assert b.Lp_bound == pytest.approx(16 * math.log(2) / math.log(201))
    assert b.Lp_min == 3.0  # 16 log 2 / log 201 = 2.09
    # the exponent: 2^(N L d) datasets against M^(d Lp) cubes
    assert b.M ** (2 * (b.Lp_min - 1)) < 2 ** (16 * 1 * 2) <= b.M ** (2 * b.Lp_min)
    # delta gives N = (1/delta)^(dL)
    assert counting_bound(d=2, L=2, gamma=0.2, tol=0.05, rho=1.0, K_P=10.0, delta=0.5).N == 16


def test_counting_cells_at_integer_ratio():
    # eta* = (0.5 - 0.25) / 2 = 0.125, rho / eta* = 8 exactly: any eta < eta* gives ceil(rho / eta) = 9
    assert counting_cells(1.0, 0.5, 0.125, 1.0) == 9
    assert counting_cells(1.0, 0.5, 0.125, 1.1) == 9  # rho / eta* = 8.8: floor + 1 = ceil


def test_counting_bound_infinite_when_box_is_one_cell():
    b = counting_bound(d=1, L=1, gamma=0.2, tol=0.05, rho=1e-3, K_P=1.0, N=4)
    assert b.M == 1 and math.isinf(b.Lp_bound) and math.isinf(b.Lp_min)


def test_counting_bound_from_model_matches_K_P():
    model = PromptedModel.from_seed(2, seed=0)
    b = counting_bound(d=2, L=1, gamma=0.2, tol=0.05, rho=3.0, model=model, delta=0.5)
    assert b.K_P == prompt_lipschitz(model, 3.0).K_P


@pytest.mark.parametrize("kwargs, match", [
    (dict(gamma=0.1, tol=0.05), "gamma > 2 tol"),
    (dict(gamma=0.1, tol=0.06), "gamma > 2 tol"),
    (dict(rho=0.0), "rho"),
    (dict(rho=-1.0), "rho"),
    (dict(delta=0.3, N=None), "whole cells"),
    (dict(delta=0.5), "exactly one of delta"),
    (dict(K_P=None), "exactly one of K_P"),
])
def test_counting_bound_bad_input(kwargs, match):
    base = dict(d=1, L=1, gamma=0.2, tol=0.05, rho=1.0, K_P=5.0, N=4)
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        counting_bound(**base)


def test_lipschitz_bound_exponential_in_dL_and_growing_in_inverse_tol():
    kw = dict(K_f=4.0, rho=2.0, K_P=50.0)
    by_dL = [lipschitz_lower_bound(d=d, L=1, tol=0.05, **kw).Lp_bound for d in (1, 2, 3)]
    assert by_dL[1] / by_dL[0] == pytest.approx(by_dL[2] / by_dL[1], rel=0.01)  # geometric in dL
    assert by_dL[2] > by_dL[1] > by_dL[0]
    by_tol = [lipschitz_lower_bound(d=1, L=1, tol=e, **kw).Lp_bound for e in (0.1, 0.05, 0.02, 0.01)]
    assert all(b2 > b1 for b1, b2 in zip(by_tol, by_tol[1:]))
    # K_f too small for one cell: trivial bound
    assert lipschitz_lower_bound(d=1, L=1, tol=1.0, **kw).Lp_bound == 0.0  # k = floor(4 / 8) = 0
    with pytest.raises(ValueError, match="exceed 2"):
        lipschitz_lower_bound(d=1, L=1, tol=0.05, gamma_over_tol=2.0, **kw)


# ---------------------------------------------------------------------------- q levels, D columns, tightening
def test_q_ary_bound_over_D_columns_closed_form():
    # eta* = (1e-3 - 5e-4) / (2 * 5) = 5e-5; rho = 1: M = floor(2e4) + 1 = 20001
    b = counting_bound(d=2, L=2, gamma=1e-3, tol=2.5e-4, rho=1.0, q=256, K_P=5.0, N=100, D=30)
    assert b.M == 20001
    assert b.Lp_bound == pytest.approx(100 * 2 * 2 * math.log(256) / (30 * math.log(20001)))
    assert b.log2_datasets == 100 * 2 * 2 * 8
    # per-sample form: M^(D Lp) q^(-NLd) <= alpha below Lp_sample, and the least Lp_min is exact
    assert b.log_probability(1) == pytest.approx(30 * math.log(20001) - 400 * math.log(256))
    x = b.Lp_sample
    assert 30 * x * math.log(20001) - 400 * math.log(256) == pytest.approx(math.log(b.alpha))
    lp = int(b.Lp_min)
    assert 30 * (lp - 1) * math.log(20001) < 400 * math.log(256) <= 30 * lp * math.log(20001)
    # q = 2 and D = d give the binary bound (docs/theory.md §7.4)
    b2 = counting_bound(d=2, L=1, gamma=0.2, tol=0.05, rho=1.0, K_P=10.0, N=16)
    assert b2.D == 2 and b2.q == 2 and b2.Lp_bound == pytest.approx(16 * math.log(2) / math.log(201))


@pytest.mark.parametrize("kw, match", [
    (dict(q=1), "q \\(levels of the hard family\\) must be >= 2"), (dict(gamma=0.1, tol=0.05), "gamma > 2 tol"),
    (dict(rho=0.0), "rho"), (dict(rho=-1.0), "rho"), (dict(D=0), "D \\(counted prompt columns\\)"),
    (dict(alpha=1.0), "alpha"),
])
def test_q_ary_counting_bound_bad_input(kw, match):
    args = {**dict(d=1, L=1, gamma=0.2, tol=0.05, rho=1.0, K_P=3.0, N=8), **kw}
    with pytest.raises(ValueError, match=match):
        counting_bound(**args)
    with pytest.raises(TypeError, match="q"):
        counting_bound(d=1, L=1, gamma=0.2, tol=0.05, rho=1.0, K_P=3.0, N=8, q=2.5)


def test_hard_family_levels():
    from promptlimits.datasets import hard_family

    X = np.zeros((50, 2, 3))
    Y = hard_family(X, 0.5, q=7, seed=1)
    assert Y.shape == X.shape and set(np.unique(Y / 0.5)) == set(range(7))
    with pytest.raises(ValueError, match="must be >= 2"):
        hard_family(X, 0.5, q=1)


def test_untightened_factor_is_the_plain_formula_and_tightening_only_lowers_it():
    model = PromptedModel.from_seed(2, seed=5, s=3, positions=2)
    old = prompt_lipschitz(model, 2.0, drop_inactive=False)
    assert old.c_ff1 == pytest.approx(1 + col_norm(np.abs(model.ff1.W1) @ np.abs(model.ff1.W2)))
    assert old.c_ff2 == pytest.approx(1 + col_norm(np.abs(model.ff2.W1) @ np.abs(model.ff2.W2)))
    X = np.random.default_rng(0).uniform(size=(6, 2, 2))
    new = prompt_lipschitz(model, 2.0, X=X, out_cols=[1])
    assert new.K_P <= old.K_P and new.exact_inputs and new.active_ff1 <= new.units_ff1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tightened_K_P_bounds_probes_on_its_box_and_inputs(seed):
    """Units dropped, inputs exact, a shifted box: random and adversarial probes stay below K_P."""
    model = PromptedModel.from_seed(2, seed=seed, s=4, positions=2, weight_scale=1.5)
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(5, 2, 2))
    lo, hi = np.array([-3.0, 0.5]), np.array([-1.0, 2.0])  # a box where some FF1 units are off
    f = prompt_lipschitz(model, box=(lo, hi), X=X, out_cols=[0])
    worst = 0.0
    for _ in range(300):
        Lp = int(rng.integers(1, 4))
        P = rng.uniform(lo, hi, size=(Lp, 2))
        P2 = np.clip(P + rng.normal(0, 10.0 ** rng.uniform(-4, 0), size=P.shape), lo, hi)
        if np.abs(P - P2).max() > 0:
            q = np.abs(model.forward(P, X)[..., 0] - model.forward(P2, X)[..., 0]).max() / np.abs(P - P2).max()
            worst = max(worst, q)
    assert 0 < worst <= f.K_P


# ---------------------------------------------------------------------------- outward-rounded intervals
def _exact_extremes(lo, hi, W, b):
    """Exact (Fraction) min and max of ``z W + b`` over the box: attained at a vertex, column by column."""
    from fractions import Fraction as F

    n, m = W.shape
    mins, maxs = [], []
    for j in range(m):
        terms = [(F(lo[i]) * F(W[i, j]), F(hi[i]) * F(W[i, j])) for i in range(n)]
        mins.append(sum(min(t) for t in terms) + F(b[j]))
        maxs.append(sum(max(t) for t in terms) + F(b[j]))
    return mins, maxs


@pytest.mark.parametrize("seed", range(4))
def test_box_matmul_encloses_exact_rational_extremes_even_with_cancellation(seed):
    from fractions import Fraction as F

    from promptlimits.interval import box_matmul

    rng = np.random.default_rng(seed)
    n, m = 7, 5
    W = rng.normal(size=(n, m)) * 10.0 ** rng.integers(-8, 9, size=(n, m))
    W[0] = 1e16
    W[1] = -1e16  # z0 W0 + z1 W1 cancels: naive float loses every digit of the rest
    b = rng.normal(size=m)
    c = rng.normal(size=n)
    for lo, hi in ((c, c), (c - np.abs(rng.normal(size=n)) * 1e-3, c + np.abs(rng.normal(size=n)) * 1e-3)):
        lo = lo.copy()
        hi = hi.copy()
        lo[:2] = hi[:2] = 1.0 + 2.0 ** -40
        o_lo, o_hi = box_matmul(lo, hi, W, b)
        mins, maxs = _exact_extremes(lo, hi, W, b)
        for j in range(m):
            assert F(o_lo[j]) <= mins[j] and maxs[j] <= F(o_hi[j])
        # and not absurdly wide: within a few ulps of the magnitudes involved
        assert np.all(o_hi - o_lo <= 2 * (hi - lo) @ np.abs(W) + 1e-12 * (np.abs(c) + 1) @ np.abs(W) + 1e-12)


def test_box_matmul_agrees_with_mpmath_iv_and_upper_abs_matmul_bounds_exact():
    from fractions import Fraction as F

    import mpmath

    from promptlimits.interval import box_matmul, upper_abs_matmul

    rng = np.random.default_rng(5)
    lo = rng.uniform(-1, 0, size=4)
    hi = lo + rng.uniform(0, 1, size=4)
    W = rng.normal(size=(4, 3))
    o_lo, o_hi = box_matmul(lo, hi, W)
    for j in range(3):
        ref = sum(mpmath.iv.mpf([lo[i], hi[i]]) * W[i, j] for i in range(4))
        # both enclose the exact range; ours is the float rounding of it, so the two nearly coincide
        assert o_lo[j] <= float(ref.a) + 1e-12 and float(ref.b) - 1e-12 <= o_hi[j]
        assert o_lo[j] >= float(ref.a) - 1e-12 and o_hi[j] <= float(ref.b) + 1e-12
    A, B = rng.normal(size=(3, 6)), rng.normal(size=(6, 2))
    U = upper_abs_matmul(A, B)
    for i in range(3):
        for j in range(2):
            assert F(U[i, j]) >= sum(F(abs(A[i, t])) * F(abs(B[t, j])) for t in range(6))


def test_interval_refuses_non_finite_and_inverted_boxes():
    from promptlimits.interval import box_matmul

    with pytest.raises(ValueError, match="finite"):
        box_matmul(np.array([np.nan]), np.array([1.0]), np.ones((1, 1)))
    with pytest.raises(ValueError, match="lo <= hi"):
        box_matmul(np.array([1.0]), np.array([0.0]), np.ones((1, 1)))
