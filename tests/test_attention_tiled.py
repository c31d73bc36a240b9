"""Exact attention in query-by-key tiles with a running softmax, against the row-blocked exact attention and
the direct formula (tests/naive.py)."""

import numpy as np
import pytest
from naive import naive_attention, naive_attention_mp

from promptlimits.attention import exact_attention, exact_attention_tiled


@pytest.mark.parametrize("variant", ["softmax", "softmax1"])
@pytest.mark.parametrize("rows, keys", [(64, 512), (3, 5), (1, 1), (1000, 1000)])
def test_tiled_equals_the_direct_formula(variant, rows, keys):
    rng = np.random.default_rng(1)
    Q, K = rng.uniform(-2, 2, (37, 4)), rng.uniform(-2, 2, (53, 4))
    V = rng.uniform(-1, 1, (53, 3))
    T = exact_attention_tiled(Q, K, V, variant=variant, rows=rows, keys=keys)
    assert T.shape == (37, 3) and T.dtype == np.float64
    np.testing.assert_allclose(T, naive_attention(Q, K, V, variant=variant), rtol=0, atol=1e-15)
    np.testing.assert_allclose(T, exact_attention(Q, K, V, variant=variant), rtol=0, atol=1e-15)


def test_tiled_against_high_precision_with_large_logits():
    # logits spread over hundreds: the running maximum moves between tiles, and the first tile's weights
    # are rescaled by exp(m - m') ~ e^-200 later
    rng = np.random.default_rng(2)
    Q = rng.uniform(-1, 1, (9, 2)) * 20
    K = np.sort(rng.uniform(-1, 1, (40, 2)) * 20, axis=0)  # increasing keys: later tiles hold larger logits
    V = rng.uniform(-1, 1, (40, 2))
    for variant in ("softmax", "softmax1"):
        T = exact_attention_tiled(Q, K, V, scale=1.0, variant=variant, rows=4, keys=7)
        ref = np.array(naive_attention_mp(Q, K, V, scale=1.0, variant=variant), dtype=float)
        np.testing.assert_allclose(T, ref, rtol=0, atol=1e-14)


def test_tiled_batches_float32_and_extreme_inputs():
    rng = np.random.default_rng(3)
    Q, K, V = rng.normal(size=(2, 10, 3)), rng.normal(size=(2, 12, 3)), rng.normal(size=(2, 12, 5))
    T = exact_attention_tiled(Q, K, V, rows=4, keys=5)
    np.testing.assert_allclose(T, exact_attention(Q, K, V), rtol=0, atol=1e-14)
    T32 = exact_attention_tiled(Q.astype(np.float32), K.astype(np.float32), V.astype(np.float32), rows=4, keys=5)
    assert T32.dtype == np.float32
    np.testing.assert_allclose(T32, T, rtol=0, atol=1e-5)
    # near the float maximum: finite, inside [-||V||max, ||V||max], and equal to the row-blocked result
    Qb, Kb, Vb = np.full((3, 2), 1e154), np.full((4, 2), 1e154), np.full((4, 2), 1e308)
    Tb = exact_attention_tiled(Qb, Kb, Vb, rows=2, keys=3)
    assert np.all(np.isfinite(Tb)) and np.max(np.abs(Tb)) <= 1e308
    np.testing.assert_array_equal(Tb, exact_attention(Qb, Kb, Vb))


@pytest.mark.parametrize("kw, match", [({"rows": 0}, "rows"), ({"keys": -1}, "keys"),
                                       ({"variant": "relu"}, "variant")])
def test_tiled_refuses_bad_options(kw, match):
    Q = np.ones((2, 2))
    with pytest.raises(ValueError, match=match):
        exact_attention_tiled(Q, Q, Q, **kw)
