"""Position rows E in PromptedModel: equivariance without them, gradients, persistence, K_P."""

import numpy as np
import pytest
from naive import central_difference_prompt_grad

from promptlimits import PromptedModel
from promptlimits.capacity import prompt_lipschitz


def make(positions=None, variant="softmax"):
    return PromptedModel.from_seed(3, s=2, m=5, seed=1, variant=variant, positions=positions)


def data(seed=2, batch=4, L=3, d=3, Lp=2):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(Lp, d)), rng.uniform(size=(batch, L, d)), rng.uniform(size=(batch, L, d))


@pytest.mark.parametrize("variant", ["softmax", "softmax1"])
def test_without_positions_the_model_is_permutation_equivariant_in_the_input_rows(variant):
    model = make(variant=variant)
    P, X, _ = data()
    perm = np.array([2, 0, 1])
    np.testing.assert_allclose(model.forward(P, X[:, perm]), model.forward(P, X)[:, perm], rtol=1e-13, atol=1e-14)
    # equal input rows give equal output rows, whatever the prompt
    X[:, 1] = X[:, 0]
    Y = model.forward(P, X)
    np.testing.assert_allclose(Y[:, 1], Y[:, 0], rtol=1e-13, atol=1e-14)


def test_with_positions_it_is_not():
    model = make(positions=3)
    P, X, _ = data()
    perm = np.array([2, 0, 1])
    gap = np.abs(model.forward(P, X[:, perm]) - model.forward(P, X)[:, perm]).max()
    assert gap > 1e-2
    X[:, 1] = X[:, 0]
    Y = model.forward(P, X)
    assert np.abs(Y[:, 1] - Y[:, 0]).max() > 1e-2


def test_positions_are_added_to_the_input_rows_only():
    """forward with E equals the E-free model applied to X + E (prompt rows untouched)."""
    with_E = make(positions=5)
    plain = make()
    P, X, _ = data()
    assert with_E.WQ is not plain.WQ and np.array_equal(with_E.WQ, plain.WQ)  # same stream, E drawn last
    np.testing.assert_array_equal(with_E.forward(P, X), plain.forward(P, X + with_E.E[:3]))


@pytest.mark.parametrize("variant", ["softmax", "softmax1"])
def test_prompt_gradient_with_positions_matches_central_differences(variant):
    model = make(positions=3, variant=variant)
    P, X, Y = data()
    _, g = model.loss_and_grad(P, X, Y)
    num = central_difference_prompt_grad(model, P, X, Y)
    assert np.abs(g - num).max() / np.abs(num).max() < 1e-6


def test_save_load_round_trip_keeps_the_positions(tmp_path):
    model = make(positions=4, variant="softmax1")
    again = PromptedModel.load(model.save(tmp_path / "m.npz"))
    assert again == model and again.E.shape == (4, 3)
    assert again != make(variant="softmax1")  # the E-free twin differs
    P, X, _ = data()
    assert np.array_equal(again.forward(P, X), model.forward(P, X))
    plain = PromptedModel.load(make().save(tmp_path / "p.npz"))
    assert plain.E is None


def test_bad_positions_name_the_problem():
    model = make(positions=2)
    P, X, _ = data(L=3)
    with pytest.raises(ValueError, match="L = 3 rows, more than the 2 positional rows E"):
        model.forward(P, X)
    with pytest.raises(ValueError, match=r"positional rows E must have shape \(L_max, 3\)"):
        PromptedModel(model.ff1, model.WQ, model.WK, model.WV, model.WO, model.ff2, 1.0, E=np.ones((2, 2)))
    with pytest.raises(ValueError, match="positional rows E contains 1 NaN"):
        PromptedModel(model.ff1, model.WQ, model.WK, model.WV, model.WO, model.ff2, 1.0, E=np.array([[np.nan, 0, 0]]))
    with pytest.raises(ValueError, match="positions must be >= 1"):
        PromptedModel.from_seed(3, positions=0)


def test_prompt_lipschitz_ranges_cover_inputs_shifted_by_positions():
    """capacity's interval ranges for the input rows hold for X + E, not only for X in [0, 1]."""
    model = PromptedModel.from_seed(2, s=2, m=3, seed=4, positions=3)
    fac = prompt_lipschitz(model, 1.0)
    X = np.random.default_rng(0).uniform(size=(256, 3, 2))
    X[:4] = np.round(X[:4])  # corners of the input box
    H, _ = model.ff1.forward(X + model.E)
    assert np.abs(H).max() <= fac.h_input_max
    assert np.abs(H @ model.WQ).max() <= fac.qabs_max
    # (ranges from the unshifted box [0, 1] give h_input_max = 1.59 here, below the 1.66 reached)
