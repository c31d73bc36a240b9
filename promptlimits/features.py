"""The monomial feature map of the polynomial method (docs/theory.md §3.8).

For a polynomial ``p(x) = sum_{j<=g} c_j x^j`` and logits ``x = s q.k``
(``s`` the attention scale), the multinomial theorem
``(q.k)^j = sum_{|alpha|=j} (j!/alpha!) q^alpha k^alpha`` gives::

    p(s q.k) = sum_{|alpha|<=g} w_alpha q^alpha k^alpha = phi_L(q) . phi_R(k),

    w_alpha = c_|alpha| s^|alpha| |alpha|! / alpha!,
    phi_R(k)_alpha = k^alpha,    phi_L(q)_alpha = w_alpha q^alpha,

one feature per multi-index ``alpha`` in ``N^d`` with ``|alpha| <= g``: width
``r = C(d+g, g)``. The coefficients (and their signs) sit on the query side,
so ``phi_R`` is the plain monomial vector and negative ``c_j`` are fine. The
product is exact in exact arithmetic; in float64 each feature is a product of
at most ``g`` numbers, so the relative rounding per term is ``O(g u)``.

Monomials are listed in graded lexicographic order: all of degree 0, then 1,
...; within a degree, by the non-decreasing coordinate sequence of
``alpha`` (the order of ``itertools.combinations_with_replacement``). Each
monomial of degree ``j >= 1`` is ``x[coord] * parent`` with ``parent`` a
monomial of degree ``j-1`` listed earlier and ``coord <=`` the smallest
coordinate of ``parent``, so every multiset of coordinates is produced exactly
once and a kernel computes each feature with one multiply,
``m[a] = m[parent[a]] * x[coord[a]]``.

In this order the children of one coordinate are contiguous, and so are
their parents: the degree-``j`` block is the concatenation over ``c`` of
``x[c]`` times the degree-``(j-1)`` monomials whose smallest coordinate is
``>= c``, a suffix of that block. ``MonomialBasis.runs`` lists these ``g d``
runs ``(out, parent, length, coord)``; kernels loop over runs with a
contiguous, vectorisable inner loop ``m[out+i] = m[parent+i] * x[coord]``
instead of gathering through ``parent`` one monomial at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numba import njit

from ._checks import as_float_array, check_positive_int, physical_memory


def rank(d: int, g: int) -> int:
    """Number of monomials of degree ``<= g`` in ``d`` variables, ``C(d+g, g)``."""
    return math.comb(d + g, g)


@dataclass(frozen=True)
class MonomialBasis:
    """Graded monomials in ``d`` variables up to degree ``g``.

    Attributes
    ----------
    d, degree, rank : int
    parent : int64 array, shape ``(rank,)``
        Index of the parent monomial (``-1`` for the constant monomial 1).
    coord : int64 array, shape ``(rank,)``
        Coordinate multiplied onto the parent (``-1`` for the constant).
    runs : int64 array, shape ``(degree * d, 4)``
        Rows ``(out, parent, length, coord)``: monomials ``out .. out+length-1``
        are ``x[coord]`` times monomials ``parent .. parent+length-1``.
    exponents : int64 array, shape ``(rank, d)``
        The multi-index ``alpha`` of each monomial.
    total_degree : int64 array, shape ``(rank,)``
        ``|alpha|``.
    multinomial : float64 array, shape ``(rank,)``
        ``|alpha|! / alpha!`` (exact integers, correctly rounded to float64).
    """

    d: int
    degree: int
    rank: int
    parent: np.ndarray = field(repr=False, compare=False)
    coord: np.ndarray = field(repr=False, compare=False)
    runs: np.ndarray = field(repr=False, compare=False)
    exponents: np.ndarray = field(repr=False, compare=False)
    total_degree: np.ndarray = field(repr=False, compare=False)
    multinomial: np.ndarray = field(repr=False, compare=False)


#: Largest memory a monomial basis may take (its index arrays, multinomial coefficients
#: and the plan's weights), in bytes; the machine's available memory caps it further.
BASIS_MEMORY_BUDGET = 2 * 2**30


def basis_bytes(d: int, g: int) -> int:
    """Bytes held for the basis of ``d`` variables up to degree ``g`` and a plan's weights.

    Per monomial: ``parent``, ``coord``, ``total_degree``, ``multinomial`` and the
    weight (8 bytes each) and the ``d`` exponents (8 bytes each).
    """
    return rank(d, g) * 8 * (5 + d)


def _available_memory() -> int:
    """The machine's available memory in bytes (``MemAvailable``, else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return physical_memory() or BASIS_MEMORY_BUDGET


def check_basis_size(d: int, g: int) -> None:
    """Refuse, before building anything, a basis above the memory budget (its rank and size named)."""
    need = basis_bytes(d, g)
    limit = min(BASIS_MEMORY_BUDGET, _available_memory())
    if need > limit:
        raise ValueError(
            f"the monomial basis for d={d}, degree {g} has rank C(d+g, g) = {rank(d, g):,} and needs about "
            f"{need / 2**30:.3g} GiB, above the {limit / 2**30:.3g} GiB allowed (BASIS_MEMORY_BUDGET and the "
            f"machine's available memory); use a lower degree, a looser eps or a smaller B")


def largest_multinomial(d: int, j: int) -> int:
    """``max_{|alpha| = j} j!/alpha!`` over ``d`` variables: the most balanced ``alpha`` (exact integer)."""
    q, extra = divmod(j, d)
    return math.factorial(j) // (math.factorial(q + 1) ** extra * math.factorial(q) ** (d - extra))


@lru_cache(maxsize=64)
def monomial_basis(d: int, g: int) -> MonomialBasis:
    """The graded monomial basis for ``d`` variables and degree ``<= g`` (cached).

    Built run by run (module docstring) with array operations only: rank 2
    million takes about a second. Refuses a basis above the memory budget
    (:func:`check_basis_size`) before allocating it.
    """
    d = check_positive_int(d, "d")
    g = check_positive_int(g, "degree", minimum=0)
    check_basis_size(d, g)
    r = rank(d, g)
    parent = np.full(r, -1, dtype=np.int64)
    coord = np.full(r, -1, dtype=np.int64)
    tdeg = np.zeros(r, dtype=np.int64)
    runs = np.zeros((g * d, 4), dtype=np.int64)
    expo = np.zeros((r, d), dtype=np.int64)
    # |alpha|!/alpha! = (|alpha|-1)!/(alpha-e_c)! * |alpha| / alpha_c: exact integers, in int64 when
    # the largest intermediate product fits, else Python integers
    exact_int64 = largest_multinomial(d, g) * max(g, 1) < 2**63
    multi = np.ones(r, dtype=np.int64 if exact_int64 else object)
    # Monomials of degree j-1 end at stop; those with smallest coordinate >= c
    # start at suffix[c] (the constant counts as having every c).
    stop, nxt, suffix = 1, 1, [0] * d
    for j in range(1, g + 1):
        new_suffix = []
        for c in range(d):
            p0, length = suffix[c], stop - suffix[c]
            out = slice(nxt, nxt + length)
            runs[(j - 1) * d + c] = (nxt, p0, length, c)
            new_suffix.append(nxt)
            parent[out] = np.arange(p0, stop)
            coord[out] = c
            tdeg[out] = j
            expo[out] = expo[p0:stop]
            expo[out, c] += 1
            alpha_c = expo[out, c] if exact_int64 else expo[out, c].astype(object)
            multi[out] = multi[p0:stop] * j // alpha_c
            nxt += length
        stop, suffix = nxt, new_suffix
    assert nxt == r
    multi = multi.astype(np.float64)  # correctly rounded from the exact integers
    for arr in (parent, coord, runs, expo, tdeg, multi):
        arr.flags.writeable = False
    return MonomialBasis(d=d, degree=g, rank=r, parent=parent, coord=coord, runs=runs, exponents=expo,
                         total_degree=tdeg, multinomial=multi)


def feature_weights(basis: MonomialBasis, coefficients, scale: float) -> np.ndarray:
    """``w_alpha = c_|alpha| scale^|alpha| |alpha|!/alpha!`` (module docstring)."""
    c = np.asarray(coefficients, dtype=np.float64)
    if c.shape != (basis.degree + 1,):
        raise ValueError(f"need {basis.degree + 1} coefficients for degree {basis.degree}, got shape {c.shape}")
    # s^j by j - 1 successive multiplications, so each weight carries at most
    # g + 2 roundings (docs/theory.md §4.6): s^j, c_j s^j, the multinomial, the product
    powers = np.empty(basis.degree + 1)
    p = 1.0
    for j in range(basis.degree + 1):
        powers[j] = p
        p *= float(scale)
    return (c * powers)[basis.total_degree] * basis.multinomial


@njit(cache=True, fastmath=False)
def _monomials(X, runs, r):
    """``M[i, a] = prod_c X[i, c]^alpha_c`` by the runs of the parent recursion (one multiply each)."""
    n = X.shape[0]
    M = np.empty((n, r))
    for i in range(n):
        M[i, 0] = 1.0
        for k in range(runs.shape[0]):
            out, par, length, c = runs[k, 0], runs[k, 1], runs[k, 2], runs[k, 3]
            x = X[i, c]
            for a in range(length):
                M[i, out + a] = M[i, par + a] * x
    return M


def _as_rows(X, basis: MonomialBasis, name: str) -> np.ndarray:
    X = as_float_array(X, name, ndim=2)
    if X.shape[1] != basis.d:
        raise ValueError(f"{name} must have {basis.d} columns for this basis, got shape {X.shape}")
    return np.ascontiguousarray(X, dtype=np.float64)


def phi_right(K, basis: MonomialBasis) -> np.ndarray:
    """Key features ``phi_R(k)_alpha = k^alpha`` for each row of ``K``, shape ``(n, r)``."""
    K = _as_rows(K, basis, "K")
    return _monomials(K, basis.runs, basis.rank)


def phi_left(Q, basis: MonomialBasis, coefficients, scale: float) -> np.ndarray:
    """Query features ``phi_L(q)_alpha = w_alpha q^alpha``, shape ``(n, r)``."""
    Q = _as_rows(Q, basis, "Q")
    M = _monomials(Q, basis.runs, basis.rank)
    M *= feature_weights(basis, coefficients, scale)
    return M
