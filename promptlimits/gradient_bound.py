"""How far the prompt gradient of the ``poly`` backend is from the exact one (docs/theory.md §4.5).

:meth:`PromptedModel.loss_and_grad` with ``backend="poly"`` returns the exact
gradient of the polynomial model. Its distance to the gradient of the exact
model, ``|dMSE/dP (poly) - dMSE/dP (exact)|``, is bounded entrywise here, in
exact arithmetic, for the batch, from quantities of the poly run alone. The
two runs share FF1, ``Q``, ``K``, ``V`` (attention is the only difference), so
with ``|.|`` entrywise and ``W+ = |W|``:

1. forward: ``|T_p - T| <= alpha_b`` (the plan's :meth:`output_bound` of
   sequence ``b``), so ``|A_p - A| <= alpha_b 1 WO+ =: dA_b`` (a row vector),
   ``|U2_p - U2| <= dA_b W1b+ =: dU_b`` and, ReLU being 1-Lipschitz,
   ``|Yhat_p - Yhat| <= dA_b + dU_b W2b+``; the MSE's gradient ``(2/N) R``
   moves by ``(2/N)`` times that: ``ddY_b``;
2. FF2's ReLU mask can differ only where ``|U2_p| <= dU_b`` (*ambiguous*
   units, ``Z``); with ``M`` the exact mask and ``M_p`` the poly one,
   ``(dY_p W2b^T) M_p - (dY W2b^T) M = (dY_p W2b^T)(M_p - M) + (ddY W2b^T) M``, so
   ``|dA_p - dA| <= ddY_b + ((ddY_b W2b+^T) (M_p or Z)) W1b+^T + (|dY_p W2b^T| Z) W1b+^T``
   and ``|dT_p - dT| <= |dA_p - dA| WO+^T =: dG``; step 3 uses ``dG`` only summed over the rows of each
   sequence, so only that sum is formed (:func:`_upstream_moves`);
3. attention: ``dK_p(G_p) - dK(G) = [dK_p(G_p) - dK(G_p)] + dK(G_p - G)``: the
   first term is :func:`~promptlimits.poly_attention._gradient.backward_distance_columns`
   with the poly run's own upstream ``G_p``, the second exact attention's
   backward, linear in ``G``, at ``dG``
   (:func:`~promptlimits.poly_attention._gradient.exact_backward_sensitivity`);
   likewise ``dV``;
4. ``dH_P = sum_b dK_b[:Lp] WK^T + dV_b[:Lp] WV^T`` and FF1's backward with the
   prompt rows' mask, which both runs share.

The result is a ``(Lp, d)`` array; :attr:`LossInfo.grad_bound` is its largest
entry. Float64 rounding of either gradient is not counted (docs/theory.md §4.5
reports it as measured).
"""

from __future__ import annotations

import numpy as np

from .poly_attention._gradient import (
    backward_distance_columns_batch,
    column_max_batch,
    exact_backward_sensitivity_sums,
    largest_weight_batch,
)


def _forward_moves(model, alphas):
    """Per sequence: ``dA_b`` (d), ``dU_b`` (m) and the bound on ``|Yhat_p - Yhat|`` (d) from ``alpha_b``."""
    ff2 = model.ff2
    dA = alphas[:, None] * np.abs(model.WO).sum(axis=0)[None, :]
    dU = dA @ np.abs(ff2.W1)
    return dA, dU, dA + dU @ np.abs(ff2.W2)


def _upstream_moves(model, dY, U2, dU, ddY):
    """``sum_i dG_b,i`` ``(batch, s)``: the rows' sum, per sequence, of the bound ``dG`` on how far the poly run's
    upstream gradient of attention is from the exact run's (step 2 of the module docstring).

    ``ddY_b`` and ``dU_b`` are the same for every row of sequence ``b``, and step 3 uses ``dG`` only through
    its sum over rows (:func:`~promptlimits.poly_attention._gradient.exact_backward_sensitivity_sums`), so the
    row sums are formed before the products with ``|W1b|^T`` and ``|WO|^T``: ``sum_i ddA_b,i = L ddY_b +
    ((ddY_b |W2b|^T) (x) c_b) |W1b|^T + f_b |W1b|^T`` with ``c_b`` the number of rows where a unit is active or
    ambiguous and ``f_b = sum_i |dY_p W2b^T|_i (x) Z_i`` (only where some unit is ambiguous).
    """
    ff2 = model.ff2
    W1p, W2p, WOp = np.abs(ff2.W1), np.abs(ff2.W2), np.abs(model.WO)
    ambiguous = np.abs(U2) <= dU[:, None, :]  # units whose ReLU mask may differ between the runs
    counts = np.count_nonzero((U2 > 0) | ambiguous, axis=1)  # (batch, m)
    moved = (ddY @ W2p.T) * counts
    if ambiguous.any():
        moved = moved + (np.abs(dY @ ff2.W2.T) * ambiguous).sum(axis=1)
    ddA = U2.shape[1] * ddY + moved @ W1p.T
    return ddA @ WOp.T


def prompt_gradient_bound(model, P, Q, K, V, U1p, U2, dY, G, plan, curvature: float) -> np.ndarray:
    """Entrywise bound ``(Lp, d)`` on ``|dLoss/dP (poly) - dLoss/dP (exact)|``, exact arithmetic (module docstring).

    Parameters
    ----------
    model : PromptedModel
    P : array (Lp, d)
        The prompt (only its shape is used).
    Q, K, V : arrays (batch, L, s), (batch, n, s), (batch, n, s)
        Attention inputs, shared by both runs.
    U1p : array (Lp, m)
        FF1's pre-activation of the prompt rows, shared by both runs.
    U2 : array (batch, L, m)
        FF2's pre-activation in the poly run.
    dY : array (batch, L, d)
        The poly run's ``dLoss/dYhat``.
    G : array (batch, L, s)
        The poly run's upstream gradient of attention, ``dLoss/dT`` (its backward's input).
    plan : PolyPlan
        The plan of the poly run.
    curvature : float
        ``c`` with ``dLoss/dYhat = c (Yhat - Y)``: ``2 / N`` for the MSE over ``N`` entries.
    """
    Lp = P.shape[0]
    alphas = plan.output_bound_batch(V)
    _, dU, dYhat = _forward_moves(model, alphas)
    dG = _upstream_moves(model, dY, U2, dU, curvature * dYhat)
    WKp, WVp = np.abs(model.WK), np.abs(model.WV)
    eps_p, eps_dp = plan.eps_p, plan.approx.eps_dp
    qmax, vmax = column_max_batch(Q), column_max_batch(V)
    a_max = largest_weight_batch(Q, K, model.scale)  # every sequence at once, as one by one
    _, dK, dV = backward_distance_columns_batch(eps_p, eps_dp, model.scale, Q, K, V, G, a_max,
                                                maxima=(qmax, None, vmax), need_dQ=False)
    sK, sV = exact_backward_sensitivity_sums(model.scale, qmax, vmax, dG, a_max)
    dH = ((dK + sK) @ WKp.T + (dV + sV) @ WVp.T).sum(axis=0)  # the same bound for every prompt row
    ff1 = model.ff1
    rows = np.broadcast_to(dH, (Lp, model.d))
    return rows + ((dH @ np.abs(ff1.W2).T)[None, :] * (U1p > 0)) @ np.abs(ff1.W1).T
