"""Datasets on ``[0, 1]^{L x d}`` (docs/theory.md §7).

- :func:`grid`: the cell centres ``G_delta``, ``N = (1/delta)^(d L)`` inputs.
- :class:`LipschitzTarget`: random sequence-to-sequence maps with a known
  Lipschitz constant in the max norm.
- :func:`hard_family`: targets in ``{0, gamma}^{L x d}`` at every grid input.
- :func:`teacher`: targets produced by the model itself with a random prompt
  (realizable by construction).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ._checks import as_float_array, as_generator, check_positive_float, check_positive_int


def cells_per_side(delta) -> int:
    """``1/delta`` as an integer; ``delta`` must divide ``[0, 1]`` into whole cells."""
    delta = check_positive_float(delta, "delta")
    k = round(1.0 / delta)
    if k < 1 or abs(k * delta - 1.0) > 1e-9:
        raise ValueError(f"delta = {delta} does not divide [0, 1] into whole cells (1/delta = {1 / delta:.6g})")
    return k


def grid(delta, L, d, *, max_points=1_000_000):
    """The grid ``G_delta`` of cell centres in ``[0,1]^{L x d}``, shape ``(N, L, d)``.

    Cells have side ``delta``; their centres are ``(i + 1/2) delta``. Points are
    in lexicographic order of their flattened coordinates.
    """
    k = cells_per_side(delta)
    L = check_positive_int(L, "L")
    d = check_positive_int(d, "d")
    N = k ** (L * d)
    if N > max_points:
        raise ValueError(f"grid with delta={delta}, L={L}, d={d} has N = {k}^{L * d} = {N} points, above {max_points}")
    centres = (np.arange(k) + 0.5) / k
    pts = np.array(list(itertools.product(centres, repeat=L * d)), dtype=np.float64)
    return pts.reshape(N, L, d)


@dataclass(frozen=True)
class LipschitzTarget:
    """A random map ``f: [0,1]^{L x d} -> R^{L x d}`` with ``‖f(X) - f(X')‖max <= K ‖X - X'‖max``.

    ``f(X) = c + A sin(W vec(X) + b)`` with ``vec(X)`` in ``R^{Ld}``. Since
    ``sin`` is 1-Lipschitz coordinate-wise, in the max norm
    ``‖f(x) - f(y)‖ <= ‖A‖_inf ‖W‖_inf ‖x - y‖`` with ``‖.‖_inf`` the largest
    absolute row sum; ``A`` is rescaled so that this product equals the
    requested constant ``K`` exactly, so ``K`` is a valid (not necessarily tight)
    Lipschitz constant. Values lie in ``[c - ‖A‖_inf, c + ‖A‖_inf]``.
    """

    W: np.ndarray
    b: np.ndarray
    A: np.ndarray
    c: np.ndarray
    L: int
    d: int
    K: float

    @classmethod
    def random(cls, L, d, *, K=1.0, width=16, centre=0.5, seed=0):
        L = check_positive_int(L, "L")
        d = check_positive_int(d, "d")
        K = check_positive_float(K, "Lipschitz constant K")
        width = check_positive_int(width, "width")
        rng = as_generator(seed)
        D = L * d
        W = rng.normal(size=(width, D)) * 2.0
        b = rng.uniform(0, 2 * np.pi, size=width)
        A = rng.normal(size=(D, width))
        norm_W = np.abs(W).sum(axis=1).max()
        norm_A = np.abs(A).sum(axis=1).max()
        A *= K / (norm_A * norm_W)
        return cls(W, b, A, np.full(D, float(centre)), L, d, K)

    def __call__(self, X):
        X = as_float_array(X, "X", ndim=3)
        if X.shape[1:] != (self.L, self.d):
            raise ValueError(f"X must have shape (batch, {self.L}, {self.d}), got {X.shape}")
        flat = X.reshape(X.shape[0], -1)
        return (self.c + np.sin(flat @ self.W.T + self.b) @ self.A.T).reshape(X.shape)


def hard_family(X, gamma, *, seed=0):
    """One dataset of the hard family: targets in ``{0, gamma}`` drawn uniformly.

    Any two members of the family differ by ``gamma`` in some entry, which is
    what the counting bound of docs/theory.md §7 uses.
    """
    X = as_float_array(X, "X", ndim=3)
    gamma = check_positive_float(gamma, "gamma")
    rng = as_generator(seed)
    return gamma * rng.integers(0, 2, size=X.shape).astype(np.float64)


def teacher(model, X, Lp, *, prompt_scale=1.0, seed=0):
    """Targets ``model.forward(P*, X)`` for a random prompt ``P*`` (uniform on ``[0, prompt_scale]``).

    Returns ``(Y, P_star)``; a prompt of length ``>= Lp`` can fit ``Y`` exactly.
    """
    rng = as_generator(seed)
    Lp = check_positive_int(Lp, "Lp")
    P_star = rng.uniform(0.0, prompt_scale, size=(Lp, model.d))
    return model.forward(P_star, X), P_star
