"""Datasets on ``[0, 1]^{L x d}`` (docs/theory.md §7).

- :func:`grid`: the cell centres ``G_delta``, ``N = (1/delta)^(d L)`` inputs.
- :class:`LipschitzTarget`: random sequence-to-sequence maps with a valid
  (but loose: the measured constant is a fraction of it) Lipschitz constant in
  the max norm.
- :class:`AdditiveLipschitzTarget`: random maps whose Lipschitz constant is
  exactly the nominal one; :class:`SineTarget`: a smooth closed-form map with
  interactions between neighbouring coordinates; :func:`measured_lipschitz`:
  a lower estimate of any map's constant (for reports).
- :func:`hard_family`: targets in ``gamma {0, ..., q-1}^{L x d}`` at every grid input.
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


def _check_X(X, L, d):
    X = as_float_array(X, "X", ndim=3)
    if X.shape[1:] != (L, d):
        raise ValueError(f"X must have shape (batch, {L}, {d}), got {X.shape}")
    return X


@dataclass(frozen=True)
class AdditiveLipschitzTarget:
    """A random map ``f: [0,1]^{L x d} -> R^{L x d}`` whose max-norm Lipschitz constant is exactly ``K``.

    With ``v = vec(X)`` in ``R^{Ld}``: ``f(X)_o = c + sum_m A_om sin(w_om v_m +
    b_om) / w_om``, frequencies ``w_om`` in ``[pi, 4 pi]``, ``A`` rescaled so
    that ``max_o sum_m |A_om| = K``. Every output depends on every input
    coordinate, additively (no interactions; :class:`SineTarget` has them).
    The Jacobian is ``J_om = A_om cos(w_om v_m + b_om)``, so
    ``‖J‖_(inf->inf) = max_o sum_m |A_om| |cos(.)| <= K``, with equality where
    every ``|cos| = 1``: each argument sweeps an interval of length
    ``w_om >= pi`` as ``v_m`` runs over ``[0, 1]``, which holds a multiple of
    ``pi``, and the coordinates are chosen independently. On a convex domain
    the max-norm Lipschitz constant of a C^1 map is the sup of
    ``‖J‖_(inf->inf)``, hence exactly ``K``. Values lie in ``c +- K/pi``.

    Unlike :class:`LipschitzTarget` (kept unchanged because the CLI's
    ``tune --dataset lipschitz`` draws from it), whose nominal
    constant ``‖A‖inf ‖W‖inf`` is 3 to 30 times the one :func:`measured_lipschitz`
    finds (15 draws with ``L d <= 4``).
    """

    A: np.ndarray  # (Ld, Ld)
    w: np.ndarray  # (Ld, Ld)
    b: np.ndarray  # (Ld, Ld)
    c: float
    L: int
    d: int
    K: float

    @classmethod
    def random(cls, L, d, *, K=1.0, centre=0.0, seed=0):
        L = check_positive_int(L, "L")
        d = check_positive_int(d, "d")
        K = check_positive_float(K, "Lipschitz constant K")
        rng = as_generator(seed)
        n = L * d
        A = rng.normal(size=(n, n))
        w = rng.uniform(np.pi, 4 * np.pi, size=(n, n))
        b = rng.uniform(0, 2 * np.pi, size=(n, n))
        A *= K / np.abs(A).sum(axis=1).max()
        return cls(A, w, b, float(centre), L, d, K)

    def __call__(self, X):
        X = _check_X(X, self.L, self.d)
        v = X.reshape(X.shape[0], 1, -1)  # (batch, 1, Ld): broadcast over outputs o
        return (self.c + (self.A * np.sin(self.w * v + self.b) / self.w).sum(axis=2)).reshape(X.shape)


@dataclass(frozen=True)
class SineTarget:
    """``f(X)_m = amplitude sin 2 pi (v_m + 0.5 v_(m+1 mod Ld))`` on ``v = vec(X)``.

    Smooth, with each output coupled to the next coordinate. Its max-norm
    Lipschitz constant is exactly ``K = 3 pi amplitude``: row ``m`` of the
    Jacobian is ``2 pi amplitude cos(theta_m)`` times ``(1, 0.5)`` on
    ``(v_m, v_(m+1))`` (``(1.5)`` when ``Ld = 1``), and ``theta_m`` sweeps
    ``[0, 3 pi]``, so ``|cos| = 1`` is reached.
    """

    L: int
    d: int
    amplitude: float = 0.5

    @property
    def K(self) -> float:
        return 3.0 * np.pi * self.amplitude

    def __call__(self, X):
        X = _check_X(X, self.L, self.d)
        v = X.reshape(X.shape[0], -1)
        return (self.amplitude * np.sin(2 * np.pi * (v + 0.5 * np.roll(v, -1, axis=1)))).reshape(X.shape)


def measured_lipschitz(f, L, d, *, samples=512, starts=8, h=1e-6, seed=0) -> float:
    """A lower estimate of ``f``'s max-norm Lipschitz constant on ``[0,1]^{L x d}``.

    The largest ``‖J(X)‖_(inf->inf)`` (largest absolute row sum of the
    central-difference Jacobian) over ``samples`` uniform points, then over
    local maximizations (``scipy.optimize.minimize``, Powell, box ``[0, 1]``)
    from the ``starts`` best. For a C^1 map this is at most the true constant.
    """
    from scipy.optimize import minimize

    L, d = check_positive_int(L, "L"), check_positive_int(d, "d")
    n = L * d
    rng = as_generator(seed)
    eye = np.eye(n) * h

    def norms(V):  # V (batch, n) -> (batch,) Jacobian row-sum norms, one call of f
        V = np.clip(V, h, 1 - h)
        pts = np.concatenate([V[:, None] + eye, V[:, None] - eye], axis=1)  # (batch, 2n, n)
        Y = np.asarray(f(pts.reshape(-1, L, d))).reshape(V.shape[0], 2, n, n)
        J = (Y[:, 0] - Y[:, 1]) / (2 * h)  # J[b, input m, output o]
        return np.abs(J).sum(axis=1).max(axis=1)

    V = rng.uniform(size=(check_positive_int(samples, "samples"), n))
    vals = norms(V)
    best = float(vals.max())
    for v0 in V[np.argsort(vals)[::-1][: check_positive_int(starts, "starts")]]:
        res = minimize(lambda v: -norms(v[None])[0], v0, method="Powell", bounds=[(0, 1)] * n)
        best = max(best, -float(res.fun))
    return best


def check_levels(q) -> int:
    """``q``, the number of target levels of a hard family: an integer ``>= 2``."""
    return check_positive_int(q, "q (levels of the hard family)", minimum=2)


def hard_family(X, gamma, *, q=2, seed=0):
    """One dataset of the hard family: offsets ``gamma B``, ``B`` uniform in ``{0, ..., q-1}^(shape of X)``.

    The family has ``q^(N L d)`` members, any two ``gamma`` apart in some
    entry, which is what the counting bound of docs/theory.md §7.4 uses;
    ``q = 2`` is the binary family ``{0, gamma}``.
    """
    X = as_float_array(X, "X", ndim=3)
    gamma = check_positive_float(gamma, "gamma")
    q = check_levels(q)
    rng = as_generator(seed)
    return gamma * rng.integers(0, q, size=X.shape).astype(np.float64)


def teacher(model, X, Lp, *, prompt_scale=1.0, seed=0):
    """Targets ``model.forward(P*, X)`` for a random prompt ``P*`` (uniform on ``[0, prompt_scale]``).

    Returns ``(Y, P_star)``; a prompt of length ``>= Lp`` can fit ``Y`` exactly.
    """
    rng = as_generator(seed)
    Lp = check_positive_int(Lp, "Lp")
    P_star = rng.uniform(0.0, prompt_scale, size=(Lp, model.d))
    return model.forward(P_star, X), P_star
