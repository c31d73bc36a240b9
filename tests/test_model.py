"""The prompted model: gradients, induced norm, persistence, determinism, bad input."""

import numpy as np
import pytest
from naive import central_difference_prompt_grad

from promptlimits import PromptedModel
from promptlimits.datasets import teacher
from promptlimits.tuning import init_prompt, tune_prompt


def make(variant="softmax", **kw):
    return PromptedModel.from_seed(3, s=2, m=5, seed=1, variant=variant, **kw)


def data(seed=2, batch=4, L=2, d=3, Lp=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(Lp, d)), rng.uniform(size=(batch, L, d)), rng.uniform(size=(batch, L, d))


@pytest.mark.parametrize("variant", ["softmax", "softmax1"])
@pytest.mark.parametrize("scale", [None, "1/sqrt(s)"])
def test_prompt_gradient_matches_central_differences(variant, scale):
    model = make(variant, scale=scale)
    P, X, Y = data()
    _, g = model.loss_and_grad(P, X, Y)
    num = central_difference_prompt_grad(model, P, X, Y)
    assert np.abs(g - num).max() / np.abs(num).max() < 1e-6


def test_forward_matches_a_direct_transcription_of_the_definition():
    model = make()
    P, X, _ = data()
    Lp = P.shape[0]

    def ff(w, Z):
        return Z + np.maximum(Z @ w.W1 + w.b1, 0) @ w.W2 + w.b2

    for b in range(X.shape[0]):
        Z = np.vstack([P, X[b]])
        H = ff(model.ff1, Z)
        S = model.scale * (H @ model.WQ) @ (H @ model.WK).T
        A = np.exp(S) / np.exp(S).sum(1, keepdims=True)
        out = ff(model.ff2, H + A @ (H @ model.WV) @ model.WO)
        np.testing.assert_allclose(model.forward(P, X)[b], out[Lp:], rtol=1e-12)


def test_induced_norm_is_the_max_entry_of_queries_and_keys():
    model = make()
    P, X, _ = data()
    Z = np.concatenate([np.broadcast_to(P, (4,) + P.shape), X], axis=1)
    H, _ = model.ff1.forward(Z)
    Q, K = H @ model.WQ, H @ model.WK
    got = model.induced_norm(P, X)
    assert got.B == pytest.approx(max(np.abs(Q).max(), np.abs(K).max()), rel=1e-14)
    assert got.B_prompt == pytest.approx(max(np.abs(Q[:, :3]).max(), np.abs(K[:, :3]).max()), rel=1e-14)
    assert got.B == max(got.B_prompt, got.B_input)
    # the prompt drives B: a larger prompt gives a larger induced norm
    assert model.induced_norm(50 * P, X).B_prompt > 10 * got.B_prompt


def test_save_load_round_trip_is_bit_identical(tmp_path):
    model = make("softmax1", scale="1/sqrt(s)")
    path = model.save(tmp_path / "model.npz")
    again = PromptedModel.load(path)
    assert again == model
    P, X, _ = data()
    assert np.array_equal(again.forward(P, X), model.forward(P, X))
    assert again.variant == "softmax1" and again.scale == model.scale


def test_same_seed_same_model_and_same_tuning():
    assert make() == make()
    assert PromptedModel.from_seed(3, seed=1) != PromptedModel.from_seed(3, seed=2)
    model = make()
    _, X, Y = data()
    a = tune_prompt(model, X, Y, Lp=2, steps=30, seed=5, progress=False)
    b = tune_prompt(model, X, Y, Lp=2, steps=30, seed=5, progress=False)
    assert np.array_equal(a.P, b.P) and a.history == b.history


def tiny_task():
    """d=2, L=2, 4 sequences, targets from a teacher prompt of length 3 with entries in [0, 6]."""
    model = PromptedModel.from_seed(2, seed=0)
    X = np.random.default_rng(0).uniform(size=(4, 2, 2))
    Y, _ = teacher(model, X, 3, seed=10, prompt_scale=6.0)
    return model, X, Y


def best_of(model, X, Y, Lp, restarts=4):
    runs = [tune_prompt(model, X, Y, Lp=Lp, optimizer="lbfgs", steps=2000, init="normal", init_scale=3.0,
                        target_max_err=0.01, seed=s, progress=False) for s in range(restarts)]
    return min(runs, key=lambda r: r.max_err)


def test_tiny_dataset_is_memorized_by_a_modest_prompt_but_not_by_one_token():
    model, X, Y = tiny_task()
    assert best_of(model, X, Y, Lp=4).max_err < 0.05
    assert best_of(model, X, Y, Lp=1).max_err > 0.05


def test_adam_also_memorizes_and_respects_the_box():
    model, X, Y = tiny_task()
    res = tune_prompt(model, X, Y, Lp=4, optimizer="adam", steps=3000, lr=0.05, init="normal", init_scale=1.0,
                      target_max_err=0.05, seed=0, progress=False, rho=2.0)
    assert np.abs(res.P).max() <= 2.0
    assert res.history["mse"][-1] < res.history["mse"][0]
    box = tune_prompt(model, X, Y, Lp=4, optimizer="lbfgs", steps=200, rho=0.3, seed=0, progress=False)
    assert np.abs(box.P).max() <= 0.3 + 1e-12


def test_early_stop_at_target():
    model, X, Y = tiny_task()
    res = tune_prompt(model, X, Y, Lp=4, optimizer="adam", steps=5000, lr=0.05, target_max_err=0.5, seed=0,
                      progress=False)
    assert res.reached_target and res.max_err <= 0.5 and res.steps < 5000


@pytest.mark.parametrize(
    "P, X, Y, match",
    [
        (np.ones((2, 2)), np.ones((4, 2, 3)), np.ones((4, 2, 3)), "prompt P must have d=3 columns"),
        (np.ones((2, 3)), np.ones((4, 2, 2)), np.ones((4, 2, 2)), r"inputs X must have shape \(batch, L, 3\)"),
        (np.ones((2, 3)), np.ones((4, 2, 3)), np.ones((4, 1, 3)), "targets Y must have the shape of X"),
        (np.ones((0, 3)), np.ones((4, 2, 3)), np.ones((4, 2, 3)), "prompt length Lp must be >= 1"),
        (np.full((2, 3), np.nan), np.ones((4, 2, 3)), np.ones((4, 2, 3)), "prompt P contains 6 NaN"),
        (np.ones((2, 3)), np.full((4, 2, 3), np.inf), np.ones((4, 2, 3)), "inputs X contains 24 NaN or infinite"),
        (np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 3)), "inputs X must have 3 dimensions"),
    ],
)
def test_bad_input_names_the_problem(P, X, Y, match):
    with pytest.raises(ValueError, match=match):
        make().loss_and_grad(P, X, Y)


def test_bad_options_name_the_problem():
    model = make()
    _, X, Y = data()
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        tune_prompt(model, X, Y, Lp=2, optimizer="sgd")
    with pytest.raises(ValueError, match="prompt length Lp must be >= 1"):
        tune_prompt(model, X, Y, Lp=0)
    with pytest.raises(ValueError, match="unknown prompt initialisation 'zeros'"):
        init_prompt(2, 3, init="zeros")
    with pytest.raises(ValueError, match="unknown attention variant"):
        PromptedModel.from_seed(3, variant="relu")
    with pytest.raises(ValueError, match="rho must be finite and > 0"):
        tune_prompt(model, X, Y, Lp=2, rho=-1.0)
    with pytest.raises(ValueError, match="unknown scale"):
        PromptedModel.from_seed(3, scale="1/d")


def test_save_writes_the_file_that_file_for_names(tmp_path):
    model = make()
    assert PromptedModel.file_for(tmp_path / "m.npz") == tmp_path / "m.npz"
    assert PromptedModel.file_for(tmp_path / "m.v1") == tmp_path / "m.v1.npz"
    assert model.save(tmp_path / "m.v1") == tmp_path / "m.v1.npz" and (tmp_path / "m.v1.npz").exists()


def test_load_reads_the_file_save_wrote_for_the_same_path(tmp_path):
    """save("m") writes m.npz and load("m") reads it; a file named as given is read when there is no .npz."""
    model, other = make(), PromptedModel.from_seed(2, seed=9)
    model.save(tmp_path / "m")
    assert PromptedModel.file_to_read(tmp_path / "m") == tmp_path / "m.npz"
    assert PromptedModel.load(tmp_path / "m") == model and PromptedModel.load(tmp_path / "m.npz") == model
    other.save(tmp_path / "plain.npz")
    (tmp_path / "plain.npz").rename(tmp_path / "plain")  # a model file without the suffix
    assert PromptedModel.file_to_read(tmp_path / "plain") == tmp_path / "plain"
    assert PromptedModel.load(tmp_path / "plain") == other
    other.save(tmp_path / "m")  # both m and m.npz exist: m.npz, as save writes it, wins
    (tmp_path / "m").write_bytes((tmp_path / "m.npz").read_bytes())
    model.save(tmp_path / "m")
    assert PromptedModel.load(tmp_path / "m") == model
    with pytest.raises(FileNotFoundError):
        PromptedModel.load(tmp_path / "absent")
