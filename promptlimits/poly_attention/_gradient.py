"""How far the polynomial backward is from exact attention's backward (docs/theory.md §4.5).

:meth:`PolyPlan.backward` is the exact gradient of the polynomial attention
``T_p``. Its distance to the gradient of exact attention, for the same
``Q, K, V`` and upstream gradient ``G``, is bounded here in exact arithmetic, and
the kernels' float64 rounding on top of it (below).

Fix a query row ``i``; ``x_j = s q.k_j``, ``a_j`` the exact weights
(``sum_j a_j <= 1``), ``u_j = G_i . v_j``, ``ubar = G_i . Att_i``. The
polynomial's weights are ``p(x_j) = e^(x_j) (1 + e_j)``, ``|e_j| <= eps_p``,
and the backward also uses ``p'(x_j) = e^(x_j) (1 + e'_j)``,
``|e'_j| <= eps_dp`` (:func:`promptlimits.polyapprox.certified_derivative_eps`).
With ``ebar = sum_k a_k e_k`` and ``uhat = G_i . T_p,i``:

    ahat_j - a_j   = a_j (e_j - ebar) / (1 + ebar),
    dShat_j - dS_j = a_j [ (e'_j - ebar)/(1 + ebar) (u_j - uhat) + (ubar - uhat) ],

with ``|e'_j - ebar| / (1 + ebar) <= rho = (eps_p + eps_dp) / (1 - eps_p)``,
``gamma_i = sum_c |G_ic| max_j |V_jc| >= max_j |u_j|``, ``|ubar - uhat| <=
F(eps_p) gamma_i`` (the forward bound of docs/theory.md §4.2 applied to the
values ``u``) and ``|u_j - uhat| <= 2 gamma_i``:

    |dShat_j - dS_j|        <= a_j gamma_i kappa,     kappa     = 2 rho + F(eps_p),
    sum_j |dShat_j - dS_j|  <= gamma_i kappa_row,      kappa_row = rho (1 + F(eps_p)) + F(eps_p),

the second because ``sum_j a_j |u_j - ubar| <= gamma_i`` (the chord
``|u - ubar| <= gamma_i - ubar u / gamma_i`` on ``[-gamma_i, gamma_i]``). Per weight,
``|ahat_j - a_j| <= phi(a_j) = 2 eps_p a_j (1 - a_j) / (1 - eps_p |1 - 2 a_j|)``
(sharp). Every weight is at most ``a_max = 1 / (1 + (n - 1) e^(-2 w))`` with
``w = s max_i ||q_i||_2 max_j ||k_j - c||_2`` for any centre ``c``
(``|x_ij - x_ik| <= 2 w``). Then, through ``dQ = s dS K``, ``dK = s dS^T Q``,
``dV = A^T G``, entrywise in column ``c``:

    |dQ_p - dQ|  <= s max_j |K_jc| kappa_row max_i gamma_i,
    |dK_p - dK|  <= s max_i |Q_ic| kappa a_max sum_i gamma_i,
    |dV_p - dV|  <= Phi(a_max) sum_i |G_ic|,      Phi(t) = max_{a <= t} phi(a) <= F(eps_p)/2.

Rounding (docs/theory.md §4.6.1). The kernels' float64 backward is within
:func:`backward_rounding_columns` of ``dX_p`` computed exactly, for any
summation order and task split; :func:`gradient_bound` adds it, so
:class:`GradientBound` bounds what :meth:`PolyPlan.backward` returns. With
``beta`` the forward's relative error of ``N`` and ``D`` (docs/theory.md §4.6),
``e = 2 beta/(1 - beta)``, ``M_b`` the roundings any term of the backward
meets, ``eta = (gamma_{M_b} + beta)/(1 - beta)``, ``kappa = e^R A(R)/(1 - eps_p)``
and ``kappa' = e^R A'(R)/(1 - eps_p)`` (``A(t) = sum_j |c_j| t^j``) and, per
query, ``h_i = (2 gamma_i + ||G_i||_1 e ||V||max) eta + ||G_i||_1 e ||V||max``:

    |dQ_code - dQ_p|  <= s max_j |K_jc| kappa' max_i h_i,
    |dK_code - dK_p|  <= s max_i |Q_ic| (kappa'/n) sum_i h_i,
    |dV_code - dV_p|  <= (kappa/n) eta sum_i |G_ic|,

plus, for float32 arrays, ``2^-24`` of a bound on ``|dX_code|`` and ``2^-150`` (the cast).

Cheap: O((n_q + n) d) from norms, no attention pass. The model's bound
(:mod:`promptlimits.gradient_bound`) also needs how exact attention's
backward moves with its upstream gradient, :func:`exact_backward_sensitivity`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._error import output_eps_for_eps_p
from ._rounding import ETA32, U32, backward_rounding_events, derivative_condition, gamma


@dataclass(frozen=True)
class GradientBound:
    """Certified ``||dX_code - dX||max`` for ``X = Q, K, V``, rounding included (module docstring).

    ``dQ``, ``dK``, ``dV`` are the bounds on what :meth:`PolyPlan.backward`
    returns; ``rounding_dQ``, ``rounding_dK``, ``rounding_dV`` the parts of them
    that bound the kernels' rounding (docs/theory.md §4.6.1), the rest is the
    exact-arithmetic bound of docs/theory.md §4.5. ``eps_p`` and ``eps_dp`` are
    the certificates of ``p`` and ``p'`` they use, ``a_max`` the bound on every
    attention weight.
    """

    dQ: float
    dK: float
    dV: float
    eps_p: float
    eps_dp: float
    a_max: float
    rounding_dQ: float = 0.0
    rounding_dK: float = 0.0
    rounding_dV: float = 0.0

    @property
    def largest(self) -> float:
        return max(self.dQ, self.dK, self.dV)


def weight_error(eps_p, a):
    """``phi(a) = 2 eps_p a (1 - a) / (1 - eps_p |1 - 2a|)``: the sharp bound on ``|ahat_j - a_j|`` given
    ``a_j = a``."""
    a = np.asarray(a, dtype=np.float64)
    return 2.0 * eps_p * a * (1.0 - a) / (1.0 - eps_p * np.abs(1.0 - 2.0 * a))


def weight_error_peak(eps_p: float) -> float:
    """Where ``phi`` peaks on ``[0, 1/2]``: ``a* = (sqrt(1 - eps_p^2) - (1 - eps_p)) / (2 eps_p)``.

    Evaluated as ``sqrt(1 - eps_p) / (sqrt(1 + eps_p) + sqrt(1 - eps_p))``, the same
    number without cancellation (``a* -> 1/2`` as ``eps_p -> 0``).
    """
    lo, hi = math.sqrt(1.0 - eps_p), math.sqrt(1.0 + eps_p)
    return lo / (hi + lo)


def weight_error_cap(eps_p: float, a_max: float) -> float:
    """``Phi(a_max) = max_{0 <= a <= a_max} phi(a)``: ``phi`` rises up to ``a*`` and ``phi(a*) = F(eps_p)/2``."""
    return float(weight_error(eps_p, min(a_max, weight_error_peak(eps_p))))


def score_constants(eps_p: float, eps_dp: float) -> tuple[float, float]:
    """``(kappa_row, kappa)`` with ``rho = (eps_p + eps_dp) / (1 - eps_p)``, ``F = F(eps_p)``.

    ``kappa = 2 rho + F`` bounds one score, ``|dShat_ij - dS_ij| <= a_ij
    gamma_i kappa``; ``kappa_row = rho (1 + F) + F`` bounds a row,
    ``sum_j |dShat_ij - dS_ij| <= gamma_i kappa_row`` (the weights' mean
    absolute deviation of ``u`` is at most ``gamma_i``).
    """
    F = float(output_eps_for_eps_p(eps_p))
    rho = (eps_p + eps_dp) / (1.0 - eps_p)
    return rho * (1.0 + F) + F, 2.0 * rho + F


def largest_weight(Q, K, scale: float) -> float:
    """``a_max = 1 / (1 + (n - 1) e^(-2 w))``, a bound on every weight of softmax and Softmax_1 attention.

    ``w = s max_i ||q_i||_2 max_j ||k_j - c||_2`` with ``c`` the centre of
    ``K``'s bounding box: every two logits of a row differ by at most ``2 w``,
    so a weight is at most ``e^x / (e^x + (n - 1) e^(x - 2w))``. ``w`` is
    rounded up by a relative ``1e-12``, far above its float evaluation error.
    """
    n = K.shape[0]
    if n <= 1:
        return 1.0
    centre = 0.5 * (K.max(axis=0) + K.min(axis=0))
    qn = float(np.sqrt(np.max(np.einsum("ij,ij->i", Q, Q)))) if Q.size else 0.0
    kn = float(np.sqrt(np.max(np.einsum("ij,ij->i", K - centre, K - centre))))
    w = scale * qn * kn * (1.0 + 1e-12)
    return 1.0 / (1.0 + (n - 1) * math.exp(-2.0 * w))


def _column_max(X) -> np.ndarray:
    return np.abs(X).max(axis=0) if X.shape[0] else np.zeros(X.shape[1])


def _gammas(G, V) -> np.ndarray:
    """``gamma_i = sum_c |G_ic| max_j |V_jc|``, a bound on every ``|G_i . v_j|`` (and on ``|G_i . T_i|``)."""
    return np.abs(G) @ _column_max(V)


def backward_distance_columns(eps_p, eps_dp, scale, Q, K, V, G, a_max):
    """Per-column bounds ``(dQ (d,), dK (d,), dV (d_v,))`` on ``|dX_p - dX|`` (module docstring)."""
    kappa_row, kappa = score_constants(eps_p, eps_dp)
    gam = _gammas(G, V)
    top = float(gam.max()) if gam.size else 0.0
    dQ = scale * _column_max(K) * kappa_row * top
    dK = scale * _column_max(Q) * kappa * a_max * float(gam.sum())
    dV = weight_error_cap(eps_p, a_max) * np.abs(G).sum(axis=0)
    return dQ, dK, dV


def backward_rounding_columns(rounding, kappa_d: float, scale: float, Q, K, V, G, *, float32: bool = False):
    """Per-column bounds ``(dQ (d,), dK (d,), dV (d_v,))`` on ``|dX_code - dX_p|``, the kernels' rounding.

    ``rounding`` is the plan's :class:`~._rounding.KernelRounding` (its ``kappa``,
    ``beta``, degree and rank), ``kappa_d`` the derivative's condition
    ``kappa'`` (:func:`~._rounding.derivative_condition`); formulas in the module
    docstring and docs/theory.md §4.6.1. ``inf`` where the forward's ``beta``
    reaches 1 (no bound).
    """
    n, nq, d, dv = K.shape[0], Q.shape[0], K.shape[1], V.shape[1]
    beta = rounding.beta(n)
    events = backward_rounding_events(n, nq, rounding.rank, rounding.degree, d, dv)
    if not beta < 1.0 or not math.isfinite(kappa_d):
        inf = math.inf
        return np.full(d, inf), np.full(d, inf), np.full(dv, inf)
    e = 2.0 * beta / (1.0 - beta)
    eta = (gamma(events) + beta) / (1.0 - beta)
    vmax = float(_column_max(V).max()) if V.size else 0.0
    gam = _gammas(G, V)
    g1 = np.abs(G).sum(axis=1)
    h = (2.0 * gam + g1 * e * vmax) * eta + g1 * e * vmax
    kq, kk = scale * _column_max(K) * kappa_d, scale * _column_max(Q) * kappa_d / n
    gsum = np.abs(G).sum(axis=0)
    slack = 1.0 + 1e-12  # the float evaluation of these few dozen operations
    dQ = kq * (float(h.max()) if h.size else 0.0) * slack
    dK = kk * float(h.sum()) * slack
    dV = rounding.kappa / n * eta * gsum * slack
    if float32:  # the cast of the float64 result: 2^-24 of its size, bounded by the terms' sum plus the rounding
        mag = (2.0 * gam + g1 * e * vmax) / (1.0 - beta)
        dQ = dQ + U32 * (kq * (float(mag.max()) if mag.size else 0.0) + dQ) + ETA32
        dK = dK + U32 * (kk * float(mag.sum()) + dK) + ETA32
        dV = dV + U32 * (rounding.kappa / n * gsum / (1.0 - beta) + dV) + ETA32
    return dQ, dK, dV


def exact_backward_sensitivity(scale, Q, V, dG, a_max):
    """Per-column bounds ``(dK (d,), dV (d_v,))`` on exact attention's ``dK, dV`` for an upstream gradient ``dG``.

    Exact attention's backward is linear in ``G``: with ``dS_ij = a_ij (dG_i . v_j
    - dG_i . T_i)``, ``|dS_ij| <= 2 a_ij gamma_i(dG)``, so ``|dK_jc| <= 2 s
    max_i |Q_ic| a_max sum_i gamma_i(dG)`` and ``|dV_jc| <= a_max sum_i
    |dG_ic|``. ``dG`` may be a bound (non-negative) rather than a gradient.
    """
    gam = _gammas(dG, V)
    dK = 2.0 * scale * _column_max(Q) * a_max * float(gam.sum())
    dV = a_max * np.abs(dG).sum(axis=0)
    return dK, dV


def gradient_bound(plan, Q, K, V, G) -> GradientBound:
    """The certified distance of ``plan.backward(Q, K, V, G)`` from exact attention's gradients.

    The exact-arithmetic bound plus the kernels' float64 rounding (module
    docstring; float32 arrays add the cast); both variants. Arrays as for
    :meth:`PolyPlan.backward` (checked by the plan); ``Q`` and ``K`` within
    the plan's ``B``.

    Raises
    ------
    ValueError
        Bad inputs, or an uncertified plan (``eps_p >= 1``): there is no bound.
    """
    if not plan.certified:
        raise ValueError(f"this plan is uncertified (eps_p={plan.eps_p:.3e} >= 1 at R={plan.R:.6g}): "
                         "its backward has no bound")
    (Q, K, V, G), dtype = plan._check(Q, K, V, G)
    Q, K, V, G = (np.asarray(a, dtype=np.float64) for a in (Q, K, V, G))
    eps_p, eps_dp = plan.eps_p, plan.approx.eps_dp
    a_max = largest_weight(Q, K, plan.scale)
    cols = backward_distance_columns(eps_p, eps_dp, plan.scale, Q, K, V, G, a_max)
    exact = [float(c.max()) if c.size else 0.0 for c in cols]
    kappa_d = derivative_condition(plan.approx.coefficients, plan.R, eps_p)
    rcols = backward_rounding_columns(plan._rounding, kappa_d, plan.scale, Q, K, V, G,
                                      float32=dtype == np.float32)
    rnd = [float(c.max()) if c.size else 0.0 for c in rcols]
    dQ, dK, dV = (x + y for x, y in zip(exact, rnd))
    return GradientBound(dQ=dQ, dK=dK, dV=dV, eps_p=eps_p, eps_dp=eps_dp, a_max=a_max,
                         rounding_dQ=rnd[0], rounding_dK=rnd[1], rounding_dV=rnd[2])


# -- batches: the same bounds for every sequence of a batch at once ---------------------------------------
#
# Arrays ``(b, rows, cols)``; each function returns, per sequence, what its one-sequence twin above returns
# (up to the order of float additions in the sums over rows), in a few array operations for the whole batch.


def column_max_batch(X) -> np.ndarray:
    """``max_rows |X|`` per sequence and column, ``(b, cols)`` (a max is exact: any order gives the same)."""
    if not X.shape[1]:
        return np.zeros((X.shape[0], X.shape[2]))
    return np.abs(X).max(axis=1)


_column_max_batch = column_max_batch


def largest_weight_batch(Q, K, scale: float) -> np.ndarray:
    """:func:`largest_weight` of every sequence: ``(b,)``."""
    b, n = K.shape[0], K.shape[1]
    if n <= 1:
        return np.ones(b)
    centre = 0.5 * (K.max(axis=1) + K.min(axis=1))
    qn = np.sqrt(np.einsum("bij,bij->bi", Q, Q).max(axis=1)) if Q.shape[1] else np.zeros(b)
    Kc = K - centre[:, None, :]
    kn = np.sqrt(np.einsum("bij,bij->bi", Kc, Kc).max(axis=1))
    w = scale * qn * kn * (1.0 + 1e-12)
    return 1.0 / (1.0 + (n - 1) * np.exp(-2.0 * w))


def _gammas_batch(G, V) -> np.ndarray:
    """:func:`_gammas` of every sequence: ``(b, n_q)``."""
    return np.einsum("bic,bc->bi", np.abs(G), _column_max_batch(V))


def backward_distance_columns_batch(eps_p, eps_dp, scale, Q, K, V, G, a_max, *, maxima=None, need_dQ=True):
    """:func:`backward_distance_columns` of every sequence (``a_max`` of shape ``(b,)``): ``(b, d)``, ``(b, d)``,
    ``(b, d_v)``.

    ``maxima``: the column maxima ``(column_max_batch(Q), column_max_batch(K), column_max_batch(V))`` where
    already known (``None`` entries are computed); without ``need_dQ`` the first result is ``None``.
    """
    qmax, kmax, vmax = (None, None, None) if maxima is None else maxima
    qmax = column_max_batch(Q) if qmax is None else qmax
    vmax = column_max_batch(V) if vmax is None else vmax
    kappa_row, kappa = score_constants(eps_p, eps_dp)
    Ga = np.abs(G)
    gam = (Ga @ vmax[:, :, None])[:, :, 0]  # _gammas of every sequence, (b, n_q)
    dQ = None
    if need_dQ:
        kmax = column_max_batch(K) if kmax is None else kmax
        top = gam.max(axis=1) if gam.shape[1] else np.zeros(gam.shape[0])
        dQ = scale * kmax * kappa_row * top[:, None]
    dK = scale * qmax * kappa * (a_max * gam.sum(axis=1))[:, None]
    cap = weight_error(eps_p, np.minimum(a_max, weight_error_peak(eps_p)))
    dV = cap[:, None] * Ga.sum(axis=1)
    return dQ, dK, dV


def exact_backward_sensitivity_batch(scale, Q, V, dG, a_max):
    """:func:`exact_backward_sensitivity` of every sequence (``a_max`` of shape ``(b,)``): ``(b, d)``, ``(b, d_v)``."""
    gam = _gammas_batch(dG, V)
    dK = 2.0 * scale * _column_max_batch(Q) * (a_max * gam.sum(axis=1))[:, None]
    dV = a_max[:, None] * np.abs(dG).sum(axis=1)
    return dK, dV


def exact_backward_sensitivity_sums(scale, qmax, vmax, dG_sum, a_max):
    """:func:`exact_backward_sensitivity_batch` from the rows' sum of ``dG`` alone: ``(b, d)``, ``(b, d_v)``.

    Both bounds are linear in the non-negative ``dG`` and use it only summed over rows: ``sum_i gamma_i(dG)
    = (sum_i dG_i) . max_j |V_j|`` and ``sum_i |dG_ic| = (sum_i dG_i)_c``. ``qmax``, ``vmax`` are
    :func:`column_max_batch` of ``Q`` and ``V``, ``dG_sum`` is ``(b, d_v)``, non-negative.
    """
    gsum = np.einsum("bc,bc->b", dG_sum, vmax)
    dK = 2.0 * scale * qmax * (a_max * gsum)[:, None]
    dV = a_max[:, None] * dG_sum
    return dK, dV
