"""Outward-rounded interval arithmetic for boxes of ``z W + b`` and ``FF(z)`` (docs/theory.md §7.3).

The prompt-Lipschitz constant over a whole box ``‖P‖max <= rho``
(:func:`promptlimits.capacity.prompt_lipschitz`) needs boxes that contain the
exact real values of every layer's pre-activations, and upper bounds of sums
of non-negative terms, however floating point rounds. This module gives them
in midpoint-radius form with an a priori bound on the rounding of every dot
product (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1):
for vectors of length ``n`` and IEEE double arithmetic with round to nearest,
in any summation order (BLAS blocks and FMA included)::

    |fl(x . y) - x . y| <= gamma_n |x| . |y| + n eta,   gamma_n = n u / (1 - n u),

with ``u = 2^-53`` and ``eta = 2^-1074`` (the smallest subnormal, for
underflow). :func:`box_matmul` forms the centre ``c W + b`` and the radius
``r |W|`` in floating point, widens the radius by ``gamma_(n+2)`` times
``(|c| + r) |W| + |b|`` (computed, then multiplied by ``1 + 4u``) plus
``(n + 2) eta``, and rounds both ends outwards with :func:`numpy.nextafter`.
:func:`upper_abs_matmul` bounds ``|A| |B|`` entry by entry the same way.

Why not ``mpmath.iv``: it is rigorous too, but it works scalar by scalar in
Python; the constructed models' boxes are products of matrices with up to
``10^6`` entries, which would take minutes per model. The tests compare
these enclosures with exact rational arithmetic (``fractions.Fraction``) and
with ``mpmath.iv`` on small matrices.
"""

from __future__ import annotations

import numpy as np

__all__ = ["U", "ETA", "gamma", "box_matmul", "box_add", "box_relu", "ff_box", "upper_abs_matmul", "up", "down"]

#: Unit roundoff of float64 (round to nearest).
U = 2.0 ** -53
#: Smallest positive subnormal float64: the absolute error an underflow can add per operation.
ETA = 2.0 ** -1074


def gamma(n: int) -> float:
    """``n u / (1 - n u)``, rounded up: the relative error bound of a length-``n`` dot product of ``|terms|``."""
    if not n * U < 0.01:
        raise ValueError(f"inner dimension {n} is too large for the a priori rounding bound")
    return float(np.nextafter(n * U / (1.0 - n * U), np.inf)) * (1.0 + 4 * U)


def up(x):
    """The next float above ``x`` (entry by entry)."""
    return np.nextafter(np.asarray(x, dtype=np.float64), np.inf)


def down(x):
    """The next float below ``x`` (entry by entry)."""
    return np.nextafter(np.asarray(x, dtype=np.float64), -np.inf)


def _finite(*arrays):
    for a in arrays:
        if not np.all(np.isfinite(a)):
            raise ValueError("interval arithmetic needs finite inputs (a box or weight is NaN or infinite)")


def upper_abs_matmul(A, B) -> np.ndarray:
    """An upper bound, entry by entry, of the exact ``|A| |B|`` (non-negative sums, a priori rounding bound)."""
    A, B = np.abs(np.asarray(A, dtype=np.float64)), np.abs(np.asarray(B, dtype=np.float64))
    _finite(A, B)
    n = A.shape[-1]
    S = A @ B
    return up(S * (1.0 + gamma(n + 1)) + (n + 1) * ETA)


def box_matmul(lo, hi, W, b=None):
    """Box ``[out_lo, out_hi]`` that contains ``z W + b`` for every real ``z`` with ``lo <= z <= hi``.

    ``lo``, ``hi`` of shape ``(..., n)``, ``W`` of shape ``(n, m)``, ``b`` of shape ``(m,)``;
    rigorous in floating point (module docstring).
    """
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    _finite(lo, hi, W)
    if np.any(lo > hi):
        raise ValueError("interval box must have lo <= hi")
    n = W.shape[0]
    c = (lo + hi) * 0.5  # lo, hi finite: the halving is exact unless it underflows (covered by ETA below)
    r = up(np.maximum(hi - c, c - lo))  # radius: every z in the box is within r of c (rounded up)
    A = np.abs(W)
    centre = c @ W
    rad = r @ A
    mag = (np.abs(c) + r) @ A
    if b is not None:
        b = np.asarray(b, dtype=np.float64)
        _finite(b)
        centre = centre + b
        mag = mag + np.abs(b)
    slack = (mag * (1.0 + 4 * U)) * gamma(n + 2) + (n + 2) * ETA
    rad = up((rad + slack) * (1.0 + 4 * U) + U * np.abs(centre))
    return down(centre - rad), up(centre + rad)


def box_add(lo1, hi1, lo2, hi2):
    """Outward-rounded sum of two boxes."""
    return down(np.asarray(lo1) + np.asarray(lo2)), up(np.asarray(hi1) + np.asarray(hi2))


def box_relu(lo, hi):
    """``relu`` of a box (exact: ``max(., 0)`` does not round)."""
    return np.maximum(lo, 0.0), np.maximum(hi, 0.0)


def ff_box(ff, lo, hi):
    """Box containing ``FF(z) = z + relu(z W1 + b1) W2 + b2`` for every ``z`` in ``[lo, hi]``, and the
    pre-activation box ``(u_lo, u_hi)`` of the units."""
    u_lo, u_hi = box_matmul(lo, hi, ff.W1, ff.b1)
    f_lo, f_hi = box_matmul(*box_relu(u_lo, u_hi), ff.W2, ff.b2)
    o_lo, o_hi = box_add(lo, hi, f_lo, f_hi)
    return (o_lo, o_hi), (u_lo, u_hi)
