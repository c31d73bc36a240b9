"""From the polynomial's error to the attention output's error, and back (docs/theory.md §4).

The only place in the project where the two errors are converted:

* ``eps_p``: the polynomial's certified relative error, ``|p(x) - e^x| <= eps_p e^x``
  on the logit range ``[-R, R]``;
* ``eps``: the attention-output error, ``||T - Att||max <= eps ||V||max`` (AAttC).

If ``eps_p < 1`` every approximate weight ``p_ij`` lies in ``[(1-eps_p) e_ij,
(1+eps_p) e_ij]``, so each normalised weight is within a factor
``(1+eps_p)/(1-eps_p)`` of the exact one, and since the exact weights of a row
sum to at most 1,

    eps = 2 eps_p / (1 - eps_p),   inversely   eps_p = eps / (2 + eps).

The sharp constant is ``F(eps_p) = 2 (1 - sqrt(1 - eps_p^2)) / eps_p`` (attained by
a two-key instance; ``python -m proofs_check``), whose inverse is
``eps_p = 4 eps / (4 + eps^2)``; adopting it changes the two functions below
and nothing else.
"""

from __future__ import annotations

def output_eps_for_eps_p(eps_p: float) -> float:
    """The output error ``eps = 2 eps_p / (1 - eps_p)`` that a polynomial error ``eps_p < 1`` certifies."""
    return 2.0 * eps_p / (1.0 - eps_p)


def eps_p_for_output(eps: float) -> float:
    """The polynomial error ``eps_p = eps / (2 + eps)`` that certifies the output error ``eps``.

    The inverse of :func:`output_eps_for_eps_p`.
    """
    return eps / (2.0 + eps)
