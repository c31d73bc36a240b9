"""Slow, obviously-correct references for the tests (STYLE: one naive twin per kernel)."""

import numpy as np


def naive_attention(Q, K, V, *, scale=None, variant="softmax"):
    """Attention by the definition, one query row at a time, in float64 without max-subtraction."""
    Q, K, V = (np.asarray(a, dtype=np.float64) for a in (Q, K, V))
    scale = 1.0 / Q.shape[1] if scale is None else scale
    out = np.zeros((Q.shape[0], V.shape[1]))
    for i in range(Q.shape[0]):
        w = np.exp(scale * (K @ Q[i]))
        den = w.sum() + (1.0 if variant == "softmax1" else 0.0)
        out[i] = (w @ V) / den
    return out
