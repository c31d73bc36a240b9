"""The prompt box that keeps the prompt-induced norm below a level (docs/theory.md §2.4, §5.6).

The induced norm ``B(P, X) = max(‖Q‖max, ‖K‖max)`` (docs/theory.md §2.4) has a
prompt part, over the ``Lp`` prompt rows, and an input part, over the ``L``
input rows, which no prompt changes. For prompts in the box ``‖P‖max <= rho``
the prompt part is bounded from the weights alone: a prompt row ``p`` gives
``h = FF1(p) = p + relu(p W1 + b1) W2 + b2`` and, for ``W`` one of ``WQ``,
``WK``,

    h W = p W + relu(p W1 + b1) (W2 W) + b2 W,

where ``|p W|_c <= rho sum_i |W_ic|`` and the middle term lies in the box
that interval arithmetic gives for ``relu(p W1 + b1)`` on ``[-rho, rho]^d``,
multiplied by ``W2 W`` (one product, so the wrapping of two interval steps is
avoided). :func:`prompt_norm_bound` is the largest endpoint over the columns
and over ``WQ``, ``WK``; it grows with ``rho``. :func:`largest_box` inverts
it: the largest ``rho`` whose bound is at most a level, e.g. the frontier
``B_cert(n)`` of the polynomial method (:func:`promptlimits.poly_attention.frontier_B`),
so that every prompt in the box, whatever an optimizer does inside it, keeps
``B(P, X) <= B_cert(n)`` once the inputs' own part is below it.

The bound is sound but not tight (on random weights about 1.3 times the
largest ``B`` sampled in the box): the skip path and the ReLU path see the
same ``p`` but are bounded separately.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from ._checks import check_positive_float, check_real
from .capacity import linear_range

__all__ = ["rows_norm", "induced_parts", "prompt_norm_bound", "largest_box"]

#: Relative margin for the float64 rounding of the interval arithmetic (about 1e-15 per operation).
_ROUNDING = 1e-9


def rows_norm(model, Z) -> float:
    """``max(‖FF1(Z) WQ‖max, ‖FF1(Z) WK‖max)`` over the rows of ``Z`` (any leading shape): no attention is computed."""
    H, _ = model.ff1.forward(np.asarray(Z, dtype=np.float64))
    return float(max(np.abs(H @ model.WQ).max(), np.abs(H @ model.WK).max()))


def induced_parts(model, P, X) -> tuple[float, float]:
    """``(B_prompt, B_input)`` of ``B(P, X)`` (docs/theory.md §2.4), from FF1 alone (no attention pass).

    The prompt and input parts of :meth:`promptlimits.model.PromptedModel.induced_norm`.
    """
    ind = model.induced_norm(P, X)
    return ind.B_prompt, ind.B_input


def prompt_norm_bound(model, rho) -> float:
    """An upper bound on ``max(‖P WQ'‖max, ‖P WK'‖max)`` of the prompt rows (module docstring), ``‖P‖max <= rho``.

    ``rho = 0`` gives the norm of the zero prompt's rows (the biases alone).
    """
    rho = check_positive_float(rho, "rho", allow_zero=True)
    ff = model.ff1
    box = np.full(model.d, rho)
    u_lo, u_hi = linear_range(-box, box, ff.W1, ff.b1)
    r_lo, r_hi = np.maximum(u_lo, 0.0), np.maximum(u_hi, 0.0)
    top = 0.0
    for W in (model.WQ, model.WK):
        lo, hi = linear_range(r_lo, r_hi, ff.W2 @ W, ff.b2 @ W)
        skip = rho * np.abs(W).sum(axis=0)
        top = max(top, float(np.max(np.maximum(hi + skip, skip - lo))))
    return top * (1.0 + _ROUNDING)


def largest_box(model, level) -> float | None:
    """The largest ``rho`` (to a relative 1e-9, from below) with ``prompt_norm_bound(model, rho) <= level``.

    ``None`` when even the zero prompt's bound exceeds ``level``; ``inf`` when
    ``WQ`` and ``WK`` are zero (the prompt part is then constant). The input
    rows' part of ``B(P, X)`` is not bounded here: compare it with ``level``
    separately (:meth:`promptlimits.model.PromptedModel.induced_norm`).
    """
    level = check_real(level, "level", low=0.0)
    if prompt_norm_bound(model, 0.0) > level:
        return None
    if not (np.any(model.WQ) or np.any(model.WK)):
        return math.inf
    hi = 1.0
    while prompt_norm_bound(model, hi) <= level:
        hi *= 2.0
    rho = brentq(lambda r: prompt_norm_bound(model, r) - level, 0.0, hi, xtol=1e-12, rtol=1e-10)
    while rho > 0.0 and prompt_norm_bound(model, rho) > level:  # brentq may stop just above the root
        rho *= 1.0 - 1e-9
    return rho
