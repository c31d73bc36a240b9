"""Targets with a known Lipschitz constant (promptlimits.datasets) and the measured estimate."""

import numpy as np
import pytest

from promptlimits.datasets import AdditiveLipschitzTarget, LipschitzTarget, SineTarget, measured_lipschitz


def difference_quotients(f, L, d, n=4000, seed=0):
    """max-norm difference quotients on random close pairs: each is a lower bound of the constant."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, L, d))
    X2 = np.clip(X + rng.uniform(-1e-3, 1e-3, size=X.shape), 0, 1)
    num = np.abs(f(X) - f(X2)).reshape(n, -1).max(axis=1)
    den = np.abs(X - X2).reshape(n, -1).max(axis=1)
    return num / den


@pytest.mark.parametrize("L,d", [(1, 1), (2, 1), (1, 2), (3, 1), (2, 2)])
def test_additive_target_constant_is_exact(L, d):
    f = AdditiveLipschitzTarget.random(L, d, K=2.0, seed=L + 3 * d)
    assert difference_quotients(f, L, d).max() <= 2.0 * (1 + 1e-6)
    assert measured_lipschitz(f, L, d, seed=1) == pytest.approx(2.0, rel=1e-4)
    C = np.random.default_rng(0).uniform(size=(500, L, d))
    assert np.abs(f(C)).max() <= 2.0 / np.pi


@pytest.mark.parametrize("L,d", [(1, 1), (3, 1), (2, 2)])
def test_sine_target_constant_is_exact(L, d):
    f = SineTarget(L, d)
    assert f.K == pytest.approx(1.5 * np.pi)
    assert difference_quotients(f, L, d).max() <= f.K * (1 + 1e-6)
    assert measured_lipschitz(f, L, d) == pytest.approx(f.K, rel=1e-4)
    v = np.array([[0.2, 0.7, 0.4, 0.9]])[:, : L * d]
    want = 0.5 * np.sin(2 * np.pi * (v + 0.5 * np.roll(v, -1, axis=1)))
    np.testing.assert_allclose(f(v.reshape(1, L, d)).ravel(), want.ravel(), rtol=1e-14)


def test_measured_lipschitz_of_a_linear_map_is_its_row_sum_norm():
    W = np.array([[1.0, -2.0, 0.5], [0.3, 0.3, -0.3], [-1.0, 0.0, 1.5]])
    f = lambda X: (X.reshape(len(X), -1) @ W.T).reshape(X.shape)  # noqa: E731
    assert measured_lipschitz(f, 3, 1) == pytest.approx(3.5, rel=1e-6)


def test_old_generator_overstates_its_constant():
    """LipschitzTarget's nominal K = 2 is valid but loose: the measured constant is below half of it."""
    for seed in range(3):
        f = LipschitzTarget.random(2, 1, K=2.0, seed=seed)
        assert difference_quotients(f, 2, 1).max() <= measured_lipschitz(f, 2, 1) * (1 + 1e-6) < 1.0


def test_bad_target_input():
    f = AdditiveLipschitzTarget.random(2, 1)
    with pytest.raises(ValueError, match=r"X must have shape \(batch, 2, 1\)"):
        f(np.zeros((3, 1, 2)))
    with pytest.raises(ValueError, match="Lipschitz constant K must be finite and > 0"):
        AdditiveLipschitzTarget.random(2, 1, K=0.0)
