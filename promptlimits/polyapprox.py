"""Polynomial approximations of ``exp`` on ``[-R, R]`` with certified relative error.

docs/theory.md §3 (the polynomial method, AAttC): Alman and Song replace
``exp(x)`` by a polynomial ``p`` of degree ``g`` with::

    |p(x) - e^x| <= eps_p e^x   for every x in [-R, R],

and then the attention matrix by a low-rank product (see
:mod:`promptlimits.features`). This module builds ``p`` for three *kinds*
and proves an upper bound on ``eps_p`` for each, as a number computed with
interval arithmetic (``mpmath.iv``) and rounded up to a float. The certificate
covers the polynomial with the float64 monomial coefficients that are actually
returned, evaluated in exact arithmetic; rounding in the kernels that evaluate
``p`` (see :mod:`promptlimits.poly_attention`) is not part of it.

Kinds
-----
``"taylor"`` -- Taylor polynomial of ``e^x`` at 0, ``c_j = 1/j!``. Lagrange
remainder: ``e^x - p(x) = e^xi x^(g+1)/(g+1)!`` with ``xi`` between 0 and
``x``, so ``|e^x - p(x)| / e^x = e^(xi-x) |x|^(g+1)/(g+1)!``. For ``x >= 0``,
``xi - x <= 0``; for ``x < 0``, ``xi - x <= -x <= R``. Hence

    eps_p(g) <= e^R R^(g+1) / (g+1)!,

a factor ``e^R`` sharper than the ``e^(2R) R^(g+1)/(g+1)!`` obtained by
bounding ``e^xi <= e^R`` and ``e^-x <= e^R`` separately (also valid, only looser).

``"shifted_taylor"`` -- ``e^x = e^-R e^(x+R)`` with ``e^y`` expanded at 0,
``y = x + R`` in ``[0, 2R]``. Lagrange: ``e^y - p(y) = e^eta y^(g+1)/(g+1)!``
with ``0 < eta < y``, so the relative error is ``e^(eta-y) y^(g+1)/(g+1)! <=
(2R)^(g+1)/(g+1)!`` and the remainder is ``>= 0``: this ``p`` never overshoots
``e^x`` (its float64 version only by the coefficient rounding below). Monomial coefficients in ``x``:
``c_j = e^-R / j! sum_{m=0}^{g-j} R^m/m!``.

``"chebyshev"`` -- interpolation of ``e^x`` at the ``g+1`` Chebyshev nodes
``x_k = R cos(pi (k+1/2)/(g+1))``. The interpolation error theorem (e.g.
Trefethen, *Approximation Theory and Approximation Practice*, Thm. 11.1;
Atkinson, *An Introduction to Numerical Analysis*, Thm. 3.2) gives, for
``f`` in ``C^(g+1)``,

    f(x) - p(x) = f^(g+1)(xi) / (g+1)! * prod_k (x - x_k),

with ``xi`` in ``(-R, R)``. The node polynomial is ``R^(g+1) 2^-g
T_(g+1)(x/R)`` (the monic Chebyshev polynomial, scaled), so
``|prod_k (x - x_k)| <= 2 (R/2)^(g+1)``; ``f^(g+1)(xi) = e^xi <= e^R`` and
``e^x >= e^-R``. Hence

    eps_p(g) <= 2 e^(2R) (R/2)^(g+1) / (g+1)!.

This is smaller than the shifted-Taylor bound by ``2 e^(2R) / 4^(g+1)``, so it
gives the least degree whenever ``4^(g+1) > 2 e^(2R)``.

Rounding of the coefficients
----------------------------
Let ``p*`` be the exact polynomial of a kind (coefficients ``c*_j``) and
``p`` the one with the returned float64 coefficients ``c_j``. The
coefficients ``c*_j`` are enclosed in intervals by ``mpmath.iv`` (Chebyshev
nodes, values of ``exp`` and the Chebyshev-to-monomial conversion with exact
integer coefficients of ``T_m``), and ``c_j`` is the midpoint of ``I_j`` rounded to
the nearest float64 (``c*_j`` correctly rounded wherever ``I_j`` is narrow: everywhere
but at high ``j`` and small ``R``, where the conversion's cancellation widens ``I_j``
and ``delta_j R^j`` is negligible). ``delta_j = max |c_j - I_j|`` bounds
``|c_j - c*_j|`` rigorously. Then for ``|x| <= R``::

    |p(x) - p*(x)| / e^x <= e^R sum_j delta_j R^j,

and the certificate is ``eps_p = eps_approx + e^R sum_j delta_j R^j``,
evaluated as the upper end of an interval and rounded up to a float. The
second term is about ``u e^(2R)`` with ``u = 2^-53``: it is what limits
certification at large ``R`` (about ``R < 11`` for ``eps_p = 1e-6``), where the
monomial basis itself loses the small values of ``e^x`` near ``-R``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import mpmath.libmp as _libmp
import numpy as np
from mpmath import iv
from scipy.special import gammaln

from ._checks import check_choice, check_positive_int, check_real

#: The kinds of polynomial, in the order ``"auto"`` breaks ties (see least_degree).
KINDS = ("chebyshev", "shifted_taylor", "taylor")

#: Largest degree searched by :func:`least_degree`.
MAX_DEGREE = 400


def _check_R(R) -> float:
    return check_real(R, "R", low=0.0)


def _check_degree(g) -> int:
    return check_positive_int(g, "degree", minimum=0, maximum=MAX_DEGREE)


def _check_eps_p(eps_p) -> float:
    return check_real(eps_p, "eps_p", low=0.0, high=1.0, low_open=True, high_open=True)


def _upper_float(x) -> float:
    """Upper end of an ``iv`` interval, rounded up to a float."""
    return _libmp.to_float(x._mpi_[1], rnd=_libmp.round_ceiling)


def approximation_bound_interval(kind: str, g: int, Ri):
    """The kind's closed-form bound without the rounding term, as an ``mpmath.iv`` interval.

    ``Ri`` is the logit range ``R`` as an ``mpmath.iv.mpf`` interval (so a range
    known only to lie in an interval, e.g. ``c^2 ln n``, is covered whole); the
    result encloses ``e^R R^(g+1)/(g+1)!`` (taylor), ``(2R)^(g+1)/(g+1)!``
    (shifted_taylor) or ``2 e^(2R) (R/2)^(g+1)/(g+1)!`` (chebyshev) for every
    ``R`` in ``Ri`` (module docstring). :func:`certified_eps` adds the rounding
    term to it.
    """
    check_choice(kind, "polynomial kind", KINDS)
    g = _check_degree(g)
    fact = iv.mpf(math.factorial(g + 1))
    if kind == "taylor":
        return iv.exp(Ri) * Ri ** (g + 1) / fact
    if kind == "shifted_taylor":
        return (2 * Ri) ** (g + 1) / fact
    return 2 * iv.exp(2 * Ri) * (Ri / 2) ** (g + 1) / fact


def _chebyshev_monomial_table(g: int):
    """Exact integer monomial coefficients of T_0..T_g: ``t[m][j]``."""
    t = [[1], [0, 1]]
    for m in range(2, g + 1):
        prev, prev2 = t[m - 1], t[m - 2]
        new = [0] * (m + 1)
        for j, c in enumerate(prev):
            new[j + 1] += 2 * c
        for j, c in enumerate(prev2):
            new[j] -= c
        t.append(new)
    return t[: g + 1]


def _chebyshev_cosines(n: int, prec: int) -> list:
    """``cos(pi t / (2n))`` for ``t = 0 .. 4n-1`` as ``mpmath`` interval endpoint pairs at ``prec`` bits.

    One ``mpi_cos_sin`` per angle ``pi t/(2n)`` with ``t <= n/2`` gives the cosines at ``t`` and at ``n - t``
    (the sine); the rest of the period follows exactly by the symmetries ``cos(pi - x) = -cos(x)`` and
    ``cos(2 pi - x) = cos(x)``, whose negations are exact on endpoints. Eight times fewer transcendental
    evaluations than one ``iv.cos`` per entry (at ``R`` of several hundred they took most of a certificate);
    every entry still encloses its cosine.
    """
    pi = (_libmp.mpf_pi(prec, _libmp.round_floor), _libmp.mpf_pi(prec, _libmp.round_ceiling))  # iv.pi
    c = [None] * (4 * n)
    for t in range(n // 2 + 1):
        x = _libmp.mpi_div(_libmp.mpi_mul(pi, _mpi_int(t, prec), prec), _mpi_int(2 * n, prec), prec)
        cos, sin = _libmp.mpi_cos_sin(x, prec)
        c[n - t], c[t] = sin, cos  # at t = n/2 the cosine is kept
    for t in range(n + 1, 4 * n):
        if t <= 2 * n:
            c[t] = _libmp.mpi_neg(c[2 * n - t])
        elif t <= 3 * n:
            c[t] = _libmp.mpi_neg(c[t - 2 * n])
        else:
            c[t] = c[4 * n - t]
    return c


def _exact_coefficients_interval(kind: str, g: int, R: float):
    """Intervals enclosing the exact monomial coefficients ``c*_0..c*_g``."""
    Ri = iv.mpf(R)
    if R == 0.0:
        # Every kind reduces to p = 1 on the single point 0 (p(0) = e^0).
        return [iv.mpf(1)] + [iv.mpf(0)] * g
    if kind == "taylor":
        return [1 / iv.mpf(math.factorial(j)) for j in range(g + 1)]
    if kind == "shifted_taylor":
        emR = iv.exp(-Ri)
        partial = [iv.mpf(0)] * (g + 2)  # partial[k] = sum_{m<k} R^m/m!
        term = iv.mpf(1)
        for m in range(g + 1):
            partial[m + 1] = partial[m] + term
            term = term * Ri / (m + 1)
        return [emR / iv.mpf(math.factorial(j)) * partial[g - j + 1] for j in range(g + 1)]
    # Chebyshev interpolation: a_m = (2/(g+1)) sum_k f(x_k) T_m(y_k), a_0 halved,
    # with y_k = cos(theta_k), theta_k = pi (2k+1) / (2(g+1)); T_m(y_k) = cos(m theta_k)
    # = cos(pi t / (2(g+1))) with t = m(2k+1) mod 4(g+1).
    n = g + 1
    period = 4 * n
    prec = iv.prec
    cos_raw = _chebyshev_cosines(n, prec)
    f_raw = [iv.exp(Ri * iv.make_mpf(cos_raw[(2 * k + 1) % period]))._mpi_ for k in range(n)]
    # The O(g^2) sums below run on the endpoint pairs with the libmp functions that iv's operators call
    # (mpi_add, mpi_mul, mpi_div at iv.prec; integers converted as iv converts them, rounded outward):
    # the same intervals, without the operators' dispatch, which cost three quarters of the time.
    add, mul, div = _libmp.mpi_add, _libmp.mpi_mul, _libmp.mpi_div
    zero, two, count = _mpi_int(0, prec), _mpi_int(2, prec), _mpi_int(n, prec)
    a = []
    for m in range(n):
        s = zero
        for k in range(n):
            s = add(s, mul(f_raw[k], cos_raw[(m * (2 * k + 1)) % period], prec), prec)
        s = div(mul(s, two, prec), count, prec)
        if m == 0:
            s = div(s, two, prec)
        a.append(s)
    table = _chebyshev_monomial_table(g)
    coeffs = []
    Rpow, R_raw = _mpi_int(1, prec), Ri._mpi_
    for j in range(n):
        s = zero
        for m in range(j, n):
            tmj = table[m][j] if j < len(table[m]) else 0
            if tmj:
                s = add(s, mul(a[m], _mpi_int(tmj, prec), prec), prec)
        coeffs.append(iv.make_mpf(div(s, Rpow, prec)))
        Rpow = mul(Rpow, R_raw, prec)
    return coeffs


def _mpi_int(x: int, prec: int):
    """The integer ``x`` as an ``mpmath.iv`` endpoint pair at ``prec`` bits, rounded outward (as ``iv.mpf(x)``)."""
    return (_libmp.from_int(x, prec, _libmp.round_floor), _libmp.from_int(x, prec, _libmp.round_ceiling))


@lru_cache(maxsize=4096)
def _certified(kind: str, g: int, R: float):
    """(float64 coefficients, certified eps_p, approximation part, rounding part)."""
    saved = iv.prec
    iv.dps = 40 + g + int(R)
    try:
        return _certified_at_current_precision(kind, g, R)
    finally:
        iv.prec = saved


def _certified_at_current_precision(kind: str, g: int, R: float):
    Ri = iv.mpf(R)
    exact = _exact_coefficients_interval(kind, g, R)
    coeffs = np.array([_libmp.to_float(c.mid._mpi_[0], rnd=_libmp.round_nearest) for c in exact], dtype=np.float64)
    if R == 0.0:
        return coeffs, 0.0, 0.0, 0.0
    # delta_j bounds |c_j - c*_j| for every c*_j in the interval I_j.
    rounding = iv.mpf(0)
    Rpow = iv.mpf(1)
    for cj, Ij in zip(coeffs, exact):
        delta = abs(iv.mpf(float(cj)) - Ij).b  # upper end of |c_j - I_j|
        rounding = rounding + delta * Rpow
        Rpow = Rpow * Ri
    rounding = iv.exp(Ri) * rounding
    approx = approximation_bound_interval(kind, g, Ri)
    total = approx + rounding
    return coeffs, _upper_float(total), _upper_float(approx), _upper_float(rounding)


def derivative_bound_interval(kind: str, g: int, Ri):
    """The kind's closed-form bound on ``|p*'(x) - e^x| / e^x`` on ``[-R, R]``, as an ``mpmath.iv`` interval.

    The backward pass of the polynomial attention differentiates ``p``
    (docs/theory.md §4.5), so its distance to exact attention's gradient
    needs the derivative's relative error, which ``eps_p`` does not bound.
    For the exact polynomial ``p*`` of each kind:

    * ``taylor``: ``p*'`` is the Taylor polynomial of degree ``g - 1``:
      ``e^R R^g / g!``;
    * ``shifted_taylor``: ``p*'`` is the shifted Taylor polynomial of degree
      ``g - 1``: ``(2R)^g / g!``;
    * ``chebyshev``: with ``e = f - p* = f[x_0..x_g, x] w(x)`` (``w`` the node
      polynomial), ``e' = f[x_0..x_g, x, x] w(x) + f[x_0..x_g, x] w'(x)``;
      the divided differences of ``exp`` are at most ``e^R/(g+2)!`` and
      ``e^R/(g+1)!``, ``|w| <= 2 (R/2)^(g+1)`` and, by Markov's inequality
      ``|T'_(g+1)| <= (g+1)^2``, ``|w'| <= 2 (g+1)^2 (R/2)^(g+1) / R``; with
      ``e^x >= e^-R``: ``2 e^(2R) (R/2)^(g+1) (1/(g+2)! + (g+1)^2/(R (g+1)!))``.

    Degree 0 has ``p' = 0``: the bound is 1.
    """
    check_choice(kind, "polynomial kind", KINDS)
    g = _check_degree(g)
    if g == 0:
        return iv.mpf(1)
    if kind == "taylor":
        return iv.exp(Ri) * Ri ** g / iv.mpf(math.factorial(g))
    if kind == "shifted_taylor":
        return (2 * Ri) ** g / iv.mpf(math.factorial(g))
    node = 2 * iv.exp(2 * Ri) * (Ri / 2) ** (g + 1)
    return node * (1 / iv.mpf(math.factorial(g + 2)) + (g + 1) ** 2 / (Ri * math.factorial(g + 1)))


@lru_cache(maxsize=4096)
def _certified_derivative(kind: str, g: int, R: float) -> float:
    if R == 0.0 or g == 0:
        return 1.0  # p = 1 (R = 0) or a constant: p' = 0 against e^0 = 1
    coeffs = _certified(kind, g, R)[0]
    saved = iv.prec
    iv.dps = 40 + g + int(R)
    try:
        Ri = iv.mpf(R)
        exact = _exact_coefficients_interval(kind, g, R)
        rounding, Rpow = iv.mpf(0), iv.mpf(1)
        for j in range(1, g + 1):  # p' - p*' = sum_j j (c_j - c*_j) x^(j-1)
            rounding = rounding + j * abs(iv.mpf(float(coeffs[j])) - exact[j]).b * Rpow
            Rpow = Rpow * Ri
        return _upper_float(derivative_bound_interval(kind, g, Ri) + iv.exp(Ri) * rounding)
    finally:
        iv.prec = saved


def certified_derivative_eps(kind: str, g: int, R: float) -> float:
    """Certified bound ``eps_dp`` on ``sup_{|x|<=R} |p'(x) - e^x| / e^x`` for a kind and degree.

    The closed form of :func:`derivative_bound_interval` for the exact
    polynomial plus the rounding of the float64 coefficients,
    ``e^R sum_j j delta_j R^(j-1)`` (as in :func:`certified_eps`), rounded
    up. Typically 10 to 200 times ``eps_p`` for ``chebyshev``: the
    derivative of an interpolant is a worse approximation than the
    interpolant (docs/theory.md §4.5). May exceed 1.
    """
    check_choice(kind, "polynomial kind", KINDS)
    return _certified_derivative(kind, _check_degree(g), _check_R(R))


def _approx_log_bound(kind: str, g, R: float):
    """Natural log of the approximation bound in float (``g`` an int or an int array)."""
    if R == 0.0:
        return -math.inf if np.ndim(g) == 0 else np.full(np.shape(g), -math.inf)
    lf = gammaln(np.add(g, 2))
    if kind == "taylor":
        return R + np.multiply(np.add(g, 1), math.log(R)) - lf
    if kind == "shifted_taylor":
        return np.multiply(np.add(g, 1), math.log(2 * R)) - lf
    return math.log(2) + 2 * R + np.multiply(np.add(g, 1), math.log(R / 2)) - lf


def certified_eps(kind: str, g: int, R: float) -> float:
    """Certified bound on ``sup_{|x|<=R} |p(x) - e^x| / e^x`` for a kind and degree.

    Parameters
    ----------
    kind : {"chebyshev", "shifted_taylor", "taylor"}
    g : int
        Degree, ``0 <= g <= MAX_DEGREE``.
    R : float
        Half-width of the interval, ``>= 0``.

    Returns
    -------
    eps_p : float
        Approximation bound of the kind (module docstring) plus the effect of
        rounding the coefficients to float64, rounded up. May exceed 1.
    """
    check_choice(kind, "polynomial kind", KINDS)
    return _certified(kind, _check_degree(g), _check_R(R))[1]


def log_approximation_bound(kind: str, g: int, R: float) -> float:
    """Natural log of the kind's closed-form bound without the rounding term, in float.

    Cheap (no interval arithmetic). Since :func:`certified_eps` adds a
    non-negative rounding term to this bound, ``exp`` of it is, up to float
    rounding of the log itself, a lower bound on ``certified_eps``: a degree
    whose value is well above ``log(eps_p)`` cannot be certified at ``eps_p``.
    """
    check_choice(kind, "polynomial kind", KINDS)
    return float(_approx_log_bound(kind, _check_degree(g), _check_R(R)))


def log_approximation_bounds(kind: str, R: float) -> np.ndarray:
    """:func:`log_approximation_bound` for every degree ``0..MAX_DEGREE`` at once (float array)."""
    check_choice(kind, "polynomial kind", KINDS)
    return np.asarray(_approx_log_bound(kind, np.arange(MAX_DEGREE + 1), _check_R(R)), dtype=np.float64)


def monomial_coefficients(kind: str, g: int, R: float) -> np.ndarray:
    """Float64 monomial coefficients ``c_0..c_g`` of the kind's polynomial on ``[-R, R]``.

    ``p(x) = sum_j c_j x^j``; :func:`certified_eps` certifies this very
    polynomial. Returns a fresh array.
    """
    check_choice(kind, "polynomial kind", KINDS)
    return _certified(kind, _check_degree(g), _check_R(R))[0].copy()


def _least_degree_kind(kind: str, R: float, eps_p: float) -> int | None:
    g = 0
    while g <= MAX_DEGREE and _approx_log_bound(kind, g, R) > math.log(eps_p) + 1e-9:
        g += 1
    if g > MAX_DEGREE:
        # the closed form, a lower bound on every certificate, misses eps_p at every degree:
        # refuse without interval arithmetic (whose precision grows with R)
        return None
    # The float estimate may be off by rounding: step back a little, then verify.
    g = max(0, g - 1)
    while g <= MAX_DEGREE:
        _, total, approx, rounding = _certified(kind, g, R)
        if total <= eps_p:
            return g
        if approx <= eps_p / 4 and rounding > eps_p / 2:
            return None  # coefficient rounding alone keeps eps_p out of reach
        g += 1
    return None


def least_degree(R: float, eps_p: float, kind: str = "auto") -> int:
    """Least degree ``g`` whose certified ``eps_p(g)`` is ``<= eps_p`` on ``[-R, R]``.

    Parameters
    ----------
    R : float
        Half-width ``>= 0`` (``R = max |logit|``; docs/theory.md §3).
    eps_p : float
        Target relative error of the polynomial, in ``(0, 1)``.
    kind : {"auto", "chebyshev", "shifted_taylor", "taylor"}
        ``"auto"`` takes the kind with the least certified degree; among kinds
        with the same degree it takes the smallest certified ``eps_p``, and on
        an exact tie the first in :data:`KINDS`. Use :func:`exp_approximation`
        to learn which kind that is.

    Raises
    ------
    ValueError
        If no degree up to :data:`MAX_DEGREE` is certified (at large ``R`` the
        float64 rounding of monomial coefficients, ``~2^-53 e^(2R)``, exceeds
        ``eps_p``).
    """
    return exp_approximation(R, eps_p=eps_p, kind=kind).degree


@dataclass(frozen=True)
class ExpApprox:
    """A certified polynomial approximation of ``exp`` on ``[-R, R]``.

    Attributes
    ----------
    kind : str
    degree : int
    R : float
    eps_p : float
        Certified ``sup |p(x) - e^x| / e^x`` over ``[-R, R]`` (module docstring).
    coefficients : ndarray, shape ``(degree + 1,)``
        Float64 monomial coefficients ``c_0..c_g``, read-only.
    """

    kind: str
    degree: int
    R: float
    eps_p: float
    coefficients: np.ndarray = field(compare=False, repr=False)

    @property
    def eps_dp(self) -> float:
        """Certified ``sup |p'(x) - e^x| / e^x`` over ``[-R, R]`` (:func:`certified_derivative_eps`)."""
        return certified_derivative_eps(self.kind, self.degree, self.R)

    def __call__(self, x):
        """Evaluate ``p(x)`` in float64 (Horner)."""
        x = np.asarray(x, dtype=np.float64)
        out = np.zeros_like(x)
        for c in self.coefficients[::-1]:
            out = out * x + c
        return out


def _make(kind: str, g: int, R: float) -> ExpApprox:
    coeffs, total, _, _ = _certified(kind, g, R)
    c = coeffs.copy()
    c.flags.writeable = False
    return ExpApprox(kind=kind, degree=g, R=R, eps_p=total, coefficients=c)


def exp_approximation(R: float, *, eps_p=None, degree=None, kind: str = "auto") -> ExpApprox:
    """Build a certified approximation of ``exp`` on ``[-R, R]``.

    Give ``eps_p`` (least certified degree) or ``degree`` (fixed degree; the
    certificate is reported, whatever it is), or both (then the degree must
    meet ``eps_p``).

    Parameters
    ----------
    R : float
    eps_p : float in (0, 1), optional
        Target relative error of the polynomial.
    degree : int, optional
    kind : {"auto", "chebyshev", "shifted_taylor", "taylor"}
        With a fixed degree, ``"auto"`` takes the kind with the smallest
        certified ``eps_p``.

    Raises
    ------
    ValueError
        If neither ``eps_p`` nor ``degree`` is given, if ``degree`` is too low
        for ``eps_p`` (the message names both), or if ``eps_p`` cannot be certified.
    """
    R = _check_R(R)
    check_choice(kind, "polynomial kind", ("auto",) + KINDS)
    kinds = KINDS if kind == "auto" else (kind,)
    if eps_p is None and degree is None:
        raise ValueError("give eps_p or degree")
    if eps_p is not None:
        eps_p = _check_eps_p(eps_p)
    if degree is not None:
        g = _check_degree(degree)
        best = min((_make(k, g, R) for k in kinds), key=lambda a: a.eps_p)
        if eps_p is not None and best.eps_p > eps_p:
            raise ValueError(
                f"degree {g} ({best.kind}) on [-R, R] with R={R:.6g} certifies eps_p={best.eps_p:.3e}, "
                f"above the eps_p={eps_p:.3e} asked; use degree >= {least_degree(R, eps_p, kind)}"
            )
        return best
    found = []
    for k in kinds:
        g = _least_degree_kind(k, R, eps_p)
        if g is not None:
            found.append(_make(k, g, R))
    if not found:
        raise ValueError(
            f"eps_p={eps_p:.3e} cannot be certified on [-R, R] with R={R:.6g} up to degree {MAX_DEGREE}: "
            f"rounding float64 monomial coefficients alone costs about {2.0**-53 * math.exp(min(2 * R, 700)):.3e}"
        )
    return min(found, key=lambda a: (a.degree, a.eps_p))
