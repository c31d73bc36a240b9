"""An a-priori bound on the floating-point error of the polynomial-method kernels (docs/theory.md §4.6).

The certificate ``eps_p`` of :mod:`promptlimits.polyapprox` is about the
polynomial evaluated exactly. The kernels round. This module bounds what
rounding adds to the output, for the fused and the factors path, any
summation order and any split of the rows into tasks, float64 or float32
output, as a relative error ``delta`` to add to ``eps_p`` before the
conversion to an output error (:mod:`._error`):

    ||T_code - Att||max <= output_eps_for_eps_p(eps_p + delta) ||V||max  (+ 2^-150 for float32).

This is valid for any conversion whose slope is at least 1 (the present
``2 e/(1 - e)`` has slope >= 2, the sharp ``F`` of docs/theory.md §4.2 >= 1):
then ``conv(eps_p + delta) >= conv(eps_p) + delta``, and ``delta ||V||max``
bounds the distance between the code's output and the polynomial attention
``T_p = N/D`` computed exactly.

The bound (u = 2^-53, gamma_m = m u / (1 - m u), Higham, *Accuracy and
Stability of Numerical Algorithms*, Lemma 3.1 and 3.3):

* every term ``t = w_alpha q^alpha k_j^alpha v_j`` of a numerator ``N``
  (and of the denominator ``D``) meets at most ``M = n + r + 3g + 1``
  roundings whatever the order: ``g - 1`` in each monomial, ``g + 2`` in its
  weight and 1 where the weight multiplies, ``n`` in the sum over keys (one
  product, ``n - 1`` additions: any tree over ``n`` leaves), ``r`` in the
  dot product over the monomials. So ``|N_code - N| <= gamma_M sum|t|``;
* ``sum_alpha |w_alpha q^alpha k^alpha| = sum_j |c_j| rho^j =: A(rho)`` with
  ``rho = s sum_c |q_c k_c| <= R`` (the multinomial theorem), while each exact
  weight ``p(x) >= (1 - eps_p) e^x >= (1 - eps_p) e^-rho``: so
  ``sum|t| <= kappa D ||V||max`` with the condition number
  ``kappa = A(R) e^R / (1 - eps_p) >= e^(2R)``;
* with ``beta = gamma_M kappa`` (plus a term for products that underflow),
  ``|N_code - N| <= beta D ||V||max`` and ``|D_code - D| <= beta D``, and
  ``|T_p| <= ||V||max``, so ``|N_code/D_code - T_p| <= 2 beta/(1 - beta) ||V||max``;
  the division adds ``u (1 + e)``, the cast to float32 ``2^-24 (1 + e)``.

``V`` is scaled by a power of two to ``||V||max`` in ``[1/2, 1)`` before the
kernels run (exact) and the result scaled back; that bounds every
intermediate value by ``H = 2 r n G`` with ``G = max(1, B)^(2g) max(1, w_max)
max(1, m_max)``, and plans refuse inputs for which ``H`` could overflow. An
underflowing product errs by at most ``2^-1075`` absolutely; there are at most
``(3g + 8) r n`` of them per output entry, each multiplied downstream by at
most ``G``: relative to ``D >= (1 - eps_p) n e^-R`` that is the ``mu`` below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from mpmath import iv
from scipy.special import gammaln

from ..features import largest_multinomial
from ..polyapprox import _upper_float

#: Unit roundoff of float64 and float32 (round to nearest).
U = 2.0**-53
U32 = 2.0**-24
#: Largest absolute error of a float64 product or quotient that underflows is 2^-1075 (not a
#: float64 number: half the smallest subnormal); ``TWO_ETA`` is twice it. ``ETA32``: a float32 cast.
LOG2_ETA = -1075
TWO_ETA = 2.0**-1074
ETA32 = 2.0**-150
#: Every intermediate magnitude must stay below 2^OVERFLOW_LOG2.
OVERFLOW_LOG2 = 1022
#: Relative slack covering the float evaluation of the bound itself (a few dozen roundings).
_SLACK = 1.0 + 1e-12


def rounding_events(n: int, rank: int, degree: int) -> int:
    """``M = n + r + 3g + 1``: the most roundings any term of ``N`` or ``D`` meets (module docstring)."""
    return n + rank + 3 * degree + 1


def gamma(m: int) -> float:
    """``gamma_m = m u / (1 - m u)`` (``inf`` when ``m u >= 1``)."""
    mu = m * U
    return mu / (1.0 - mu) if mu < 1.0 else math.inf


def condition(coefficients, R: float, eps_p: float) -> float:
    """``kappa = e^R sum_j |c_j| R^j / (1 - eps_p)``, rounded up (interval arithmetic)."""
    saved = iv.prec
    iv.prec = 53
    try:
        Ri = iv.mpf(R)
        A, power = iv.mpf(0), iv.mpf(1)
        for c in coefficients:
            A += abs(iv.mpf(float(c))) * power
            power *= Ri
        return _upper_float(iv.exp(Ri) * A / (1 - iv.mpf(eps_p)))
    finally:
        iv.prec = saved


def derivative_condition(coefficients, R: float, eps_p: float) -> float:
    """``kappa' = e^R sum_j j |c_j| R^(j-1) / (1 - eps_p)``, rounded up (interval arithmetic).

    The backward's analogue of :func:`condition` (docs/theory.md §4.6.1): ``sum_alpha |w_alpha|
    |d m_alpha(q)/dq_c| |m_alpha(k)| = s |k_c| A'(rho)`` by the multinomial theorem.
    """
    saved = iv.prec
    iv.prec = 53
    try:
        Ri = iv.mpf(R)
        A, power = iv.mpf(0), iv.mpf(1)
        for j, c in enumerate(coefficients):
            if j:
                A += j * abs(iv.mpf(float(c))) * power
                power *= Ri
        return _upper_float(iv.exp(Ri) * A / (1 - iv.mpf(eps_p)))
    finally:
        iv.prec = saved


def backward_rounding_events(n: int, nq: int, rank: int, degree: int, d: int, dv: int) -> int:
    """``M_b``, at least the roundings any term of the backward's ``dX`` meets (docs/theory.md §4.6.1).

    ``n`` keys, ``nq`` queries, ``dv`` value columns (padded to a multiple of 8
    here, as the kernels do): key and query sums (``n + nq``), two passes over
    the columns (``2 W``), two over the monomials (``2 r``), the pull-back
    through the monomial tree (``(g + 1)(d + 1)``), monomials and weights
    (``4 g``) and a dozen single operations.
    """
    width = 8 * -(-dv // 8)
    return n + nq + 2 * width + 2 * rank + (degree + 1) * (d + 1) + 4 * degree + 12


def log2_growth(d: int, coefficients, B: float, scale: float) -> float:
    """``log2 G``, ``G = max(1, B)^(2g) max(1, w_max) max(1, m_max)``, an upper bound (closed forms).

    ``w_max >= max |w_alpha|`` from ``|c_j| s^j max_{|alpha|=j} j!/alpha!``
    (times 2 for the weights' own rounding); ``m_max`` is the largest
    multinomial coefficient at degree ``g``.
    """
    g = len(coefficients) - 1
    log2_w = 0.0
    for j, c in enumerate(coefficients):
        if c != 0.0:
            log2_w = max(log2_w, math.log2(abs(float(c))) + j * math.log2(scale)
                         + math.log2(largest_multinomial(d, j)) + 1.0)
    return 2 * g * math.log2(max(1.0, B)) + log2_w + math.log2(largest_multinomial(d, g))


def log_rounding_floor(n: int, rank: int, degree: int, R: float) -> float:
    """Natural log of ``2 M u e^(2R)``, a lower bound on :meth:`KernelRounding.delta` (``kappa >= e^(2R)``).

    Cheap and increasing in ``n``, ``rank`` and ``degree``: where it exceeds
    a target, no plan can meet it.
    """
    return math.log(2 * U * rounding_events(n, rank, degree)) + 2.0 * R


def log_rounding_floors(d: int, R: float, keys: int, max_degree: int) -> np.ndarray:
    """:func:`log_rounding_floor` for the degrees ``0..max_degree`` at once (``log r`` from ``gammaln``).

    The float logarithms are accurate to about 1e-12; callers compare with a slack of 1e-9.
    """
    g = np.arange(max_degree + 1)
    log_rank = gammaln(d + g + 1.0) - gammaln(g + 1.0) - gammaln(d + 1.0)
    log_events = np.logaddexp(log_rank, np.log(keys + 3.0 * g + 1.0))
    return math.log(2 * U) + log_events + 2.0 * R


@dataclass(frozen=True)
class KernelRounding:
    """The rounding bound of one polynomial (degree, rank, range, coefficients) as a function of ``n``.

    Made by :func:`kernel_rounding`; :meth:`delta` is the ``eps_p``
    contribution of docs/theory.md §4.6.
    """

    degree: int
    rank: int
    R: float
    eps_p: float
    kappa: float
    log2_growth: float

    def overflows(self, n: int) -> bool:
        """Could an intermediate value overflow with ``n`` keys (``log2 H >= OVERFLOW_LOG2``)?"""
        return 1.0 + math.log2(self.rank) + math.log2(n) + self.log2_growth >= OVERFLOW_LOG2

    def _underflow(self) -> float:
        """``mu``: products that underflow, relative to ``D`` (module docstring)."""
        log2_mu = (1 + LOG2_ETA + math.log2(self.rank * (3 * self.degree + 8)) + self.log2_growth
                   + self.R / math.log(2) - math.log2(1.0 - self.eps_p))
        return 2.0 ** min(log2_mu, 0.0) + TWO_ETA * self.kappa

    def beta(self, n: int) -> float:
        """``beta = gamma_M kappa + 2 mu``: ``|N_code - N| <= beta D ||V||max`` and ``|D_code - D| <= beta D``
        with ``n`` keys; ``inf`` if unbounded (overflow, no certificate)."""
        if n < 1 or self.overflows(n) or not math.isfinite(self.kappa):
            return math.inf
        return gamma(rounding_events(n, self.rank, self.degree)) * self.kappa + 2.0 * self._underflow()

    def delta(self, n: int, *, float32: bool = False) -> float:
        """Relative rounding error of the output with ``n`` keys, to add to ``eps_p``; ``inf`` if unbounded.

        ``beta`` (:meth:`beta`), ``e = 2 beta/(1 - beta)``, then the
        division ``u (1 + e) + 2 eta`` and, for float32 output, ``2^-24 (1 + e)``.
        """
        beta = self.beta(n)
        if not beta < 1.0:
            return math.inf
        e = 2.0 * beta / (1.0 - beta)
        e += U * (1.0 + e) + TWO_ETA
        if float32:
            e += U32 * (1.0 + e)
        return e * _SLACK

    def max_keys(self, budget: float) -> int:
        """Largest ``n`` (at most ``2^53``) with ``eps_p + delta(n) <= budget``; 0 if none."""
        def fits(n):
            return self.eps_p + self.delta(n) <= budget

        if not fits(1):
            return 0
        lo, hi = 1, 2**53
        if fits(hi):
            return hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        return lo


def kernel_rounding(d: int, rank: int, coefficients, R: float, eps_p: float, B: float,
                    scale: float) -> KernelRounding:
    """The :class:`KernelRounding` of a polynomial used with ``d``, ``B``, ``scale``.

    Without a certificate (``eps_p >= 1``) ``kappa`` is infinite: no rounding
    bound, but :meth:`KernelRounding.overflows` still applies.
    """
    kappa = condition(coefficients, R, eps_p) if eps_p < 1.0 and math.isfinite(R) else math.inf
    return KernelRounding(degree=len(coefficients) - 1, rank=rank, R=R, eps_p=eps_p, kappa=kappa,
                          log2_growth=log2_growth(d, coefficients, B, scale))
