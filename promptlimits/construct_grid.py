"""What every universality construction shares: the grid of ``k`` cells per coordinate, the inputs, the bands.

Both constructions (:class:`promptlimits.construct.Construction`, rows ``D`` wide, and
:class:`promptlimits.construct_token.TokenConstruction`, prompt and input rows of one width;
docs/theory.md §8.3, §8.5) quantize each coordinate of ``x in [0, 1]`` into ``k`` cells with
ramps of width ``xi`` and run a :class:`~promptlimits.model.PromptedModel` whose width is
``model.d``. This base class holds what does not depend on the layout: the checked inputs,
their embedding as model rows, the band mask and the chunked prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import as_float_array
from .model import PromptedModel

__all__ = ["GridConstruction"]

#: bytes of work arrays per chunk of sequences in :meth:`GridConstruction.predict`
PREDICT_BYTES = 1 << 26


@dataclass(frozen=True, eq=False)
class GridConstruction:
    """Fields and grid behaviour shared by the constructions.

    Attributes
    ----------
    d, L, k : int
        Token width, sequence length, cells per coordinate (``delta = 1/k``).
    lam : float
        Retrieval margin or logit scale ``lambda`` (each construction says which).
    xi : float
        Ramp width (steepness ``1/xi``).
    value_range : float
        ``R``: cell-centre target values must lie in ``[-R, R]``.
    model : PromptedModel
        The constructed transformer; ``model.d`` is the width of its rows.
    """

    d: int
    L: int
    k: int
    lam: float
    xi: float
    value_range: float
    model: PromptedModel

    @property
    def delta(self) -> float:
        return 1.0 / self.k

    @property
    def Lp(self) -> int:
        """The closed-form prompt's length ``L k^d``."""
        return self.L * self.k**self.d

    @property
    def gate(self) -> float:
        """``M = 4 R``, the AND-gate strength in FF2."""
        return 4.0 * self.value_range

    def _inputs(self, X) -> np.ndarray:
        X = as_float_array(X, "inputs X", ndim=3, dtype=np.float64)
        if X.shape[1:] != (self.L, self.d) or X.shape[0] < 1:
            raise ValueError(f"inputs X must have shape (batch, {self.L}, {self.d}), got {X.shape}")
        if X.min() < 0.0 or X.max() > 1.0:
            raise ValueError(f"inputs X must lie in [0, 1], got entries in [{X.min():.6g}, {X.max():.6g}]")
        return X

    def embed(self, X) -> np.ndarray:
        """Tokens ``X (batch, L, d)`` as model rows ``(batch, L, model.d)``: ``[x, 0, ..., 0]``.

        The position rows ``model.E`` are added by the model, so
        ``model.forward(P, c.embed(X))`` is the whole construction.
        """
        X = self._inputs(X)
        Z = np.zeros(X.shape[:2] + (self.model.d,))
        Z[..., : self.d] = X
        return Z

    def in_bands(self, X) -> np.ndarray:
        """``(batch,)`` mask: some coordinate lies in a band ``[a/k, a/k + xi]``, ``0 < a < k``."""
        X = self._inputs(X).reshape(-1, self.L * self.d, 1)
        t = np.arange(1, self.k) / self.k
        return ((X >= t) & (X <= t + self.xi)).any(axis=(1, 2))

    def predict(self, P, X) -> np.ndarray:
        """``tau([P; embed(X)])[Lp:]`` read on the ``x`` block: shape ``(batch, L, d)``.

        Runs the model's own exact forward, in chunks of sequences that keep
        the work arrays near 64 MiB.
        """
        X = self._inputs(X)
        s = self.sizes
        n = self.Lp + self.L
        # per sequence: keys, values and weights over all n rows; FF1, FF2 and the rest on the L input rows
        # (the model computes the prompt rows once per call, so fewer, larger chunks are faster)
        per_seq = 8 * (2 * n * s["s"] + self.L * n + self.L * (4 * self.model.d + s["m1"] + s["m2"] + s["s"]))
        step = max(1, PREDICT_BYTES // per_seq)
        out = [self.model.forward(P, self.embed(X[a:a + step]))[..., : self.d] for a in range(0, X.shape[0], step)]
        return np.concatenate(out, axis=0)

    @property
    def sizes(self) -> dict:  # pragma: no cover - each construction gives its own
        raise NotImplementedError
