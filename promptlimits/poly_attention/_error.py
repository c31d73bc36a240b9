"""From the polynomial's error to the attention output's error, and back (docs/theory.md §4).

The only place in the project where the two errors are converted:

* ``eps_p``: the polynomial's certified relative error, ``|p(x) - e^x| <= eps_p e^x``
  on the logit range ``[-R, R]``;
* ``eps``: the attention-output error, ``||T - Att||max <= eps ||V||max`` (AAttC).

If ``eps_p < 1`` every approximate weight is ``p_ij = e_ij (1 + e)`` with
``|e| <= eps_p``. With ``a_j`` the exact normalised weights of a row and
``ebar = sum_k a_k e_k``, the chord bound ``|e - ebar| <= eps_p - ebar e / eps_p``
gives ``sum_j |ahat_j - a_j| <= (eps_p^2 - ebar^2) / (eps_p (1 + ebar))``, whose
largest value over ``ebar`` is the sharp constant

    eps = F(eps_p) = 2 (1 - sqrt(1 - eps_p^2)) / eps_p,
    inversely  eps_p = 4 eps / (4 + eps^2)        (0 < eps < 2).

A two-key instance attains ``F`` (docs/theory.md §4.2; ``python -m proofs_check``,
check ``3c``), so no smaller constant is valid. ``F(eps_p) ~ eps_p`` for small
``eps_p``: half of the textbook ``2 eps_p / (1 - eps_p)``, which this replaced.
"""

from __future__ import annotations


def output_eps_for_eps_p(eps_p):
    """The output error ``eps = F(eps_p) = 2 (1 - sqrt(1 - eps_p^2)) / eps_p`` that ``0 <= eps_p < 1`` certifies.

    Evaluated as ``2 eps_p / (1 + sqrt((1 - eps_p)(1 + eps_p)))``, the same
    number without the cancellation of ``1 - sqrt(...)`` at small ``eps_p``
    (relative rounding error a few units of the last place). Floats or arrays.
    """
    return 2.0 * eps_p / (1.0 + ((1.0 - eps_p) * (1.0 + eps_p)) ** 0.5)


def eps_p_for_output(eps):
    """The polynomial error ``eps_p = 4 eps / (4 + eps^2)`` that certifies the output error ``0 < eps < 2``.

    The inverse of :func:`output_eps_for_eps_p` (solve ``F(eps_p) = eps``:
    ``sqrt(1 - eps_p^2) = 1 - eps eps_p / 2``, squared). Floats or arrays.
    """
    return 4.0 * eps / (4.0 + eps * eps)
