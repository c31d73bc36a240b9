"""Checks of the monomial feature map (docs/theory.md §3.8; :mod:`promptlimits.features`).

Claims:

* the multinomial theorem ``(q.k)^j = sum_{|alpha|=j} j!/alpha! q^alpha k^alpha``
  (proved by SymPy expansion for ``d <= 4``, ``j <= 4``, summing over the
  simulator's own multi-indices and multinomial coefficients);
* ``phi_L(q) . phi_R(k) = p(s q.k)`` for the simulator's feature construction
  (``monomial_basis``, ``feature_weights``, ``phi_left``, ``phi_right``):
  exactly, in rational arithmetic, on dyadic inputs where every float64
  operation is exact; and within an explicit rounding margin, against mpmath
  at 50 digits, for the simulator's real (Taylor / Chebyshev) coefficients;
* the width is ``C(d+g, g)`` (the simulator's basis enumerated for
  ``d <= 8``, ``g <= 6``: distinct multi-indices, all of them, built by the
  parent recursion), and Alman--Song's ``C(2(g+d), 2g)`` is never smaller.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np

from .core import check, require


def _alphas(d, j):
    """All multi-indices of ``d`` variables with ``|alpha| = j`` (independent enumeration)."""
    for combo in itertools.combinations_with_replacement(range(d), j):
        alpha = [0] * d
        for c in combo:
            alpha[c] += 1
        yield tuple(alpha)


def _exact_multinomial(alpha):
    return math.factorial(sum(alpha)) // math.prod(math.factorial(a) for a in alpha)


@check("1a.multinomial",
       statement="(q.k)^j = sum_{|alpha|=j} j!/alpha! q^alpha k^alpha, with the simulator's multi-indices and "
                 "multinomial coefficients, for d <= 4, j <= 4",
       source="docs/theory.md §3.8 (multinomial theorem); promptlimits.features.monomial_basis",
       method="sympy identity")
def multinomial_identity() -> str:
    import sympy as sp

    from promptlimits.features import monomial_basis

    count = 0
    for d in range(1, 5):
        q = sp.symbols(f"q0:{d}")
        k = sp.symbols(f"k0:{d}")
        basis = monomial_basis(d, 4)
        for j in range(0, 5):
            rows = [a for a in range(basis.rank) if basis.total_degree[a] == j]
            total = 0
            for a in rows:
                alpha = tuple(int(x) for x in basis.exponents[a])
                m_float = float(basis.multinomial[a])
                m_exact = _exact_multinomial(alpha)
                require(m_float == m_exact,
                        f"multinomial coefficient of alpha={alpha}: simulator {m_float}, exact {m_exact}")
                mono = sp.Mul(*[(q[c] * k[c]) ** alpha[c] for c in range(d)])
                total += m_exact * mono
            lhs = sp.expand(sum(q[c] * k[c] for c in range(d)) ** j)
            diff = sp.expand(lhs - total)
            require(diff == 0, f"d={d}, j={j}: (q.k)^j - sum = {diff}")
            count += 1
    return f"{count} identities (d=1..4, j=0..4) expand to 0"


def _dyadic(rng, shape, bits=3, top=2):
    """Random dyadic rationals m / 2^bits with |x| <= top (few significant bits: products stay exact)."""
    return rng.integers(-top * 2**bits, top * 2**bits + 1, size=shape).astype(np.float64) / 2.0**bits


@check("1b.feature-map-exact",
       statement="phi_L(q).phi_R(k) = p(s q.k) for the simulator's phi_left/phi_right/feature_weights: exact "
                 "rational equality on dyadic inputs (d <= 4, g <= 4), and within a rounding margin for the real "
                 "Taylor/Chebyshev coefficients",
       source="docs/theory.md §3.8; promptlimits.features",
       method="exact rationals + mpmath 50 digits")
def feature_map_product() -> str:
    import mpmath

    from promptlimits.features import feature_weights, monomial_basis, phi_left, phi_right
    from promptlimits.polyapprox import monomial_coefficients

    rng = np.random.default_rng(1)
    exact_cases = 0
    for d in range(1, 5):
        for g in range(0, 5):
            basis = monomial_basis(d, g)
            for _ in range(4):
                q = _dyadic(rng, (1, d))
                k = _dyadic(rng, (1, d))
                # dyadic coefficients with few bits and s = 1/2: every weight and product is exact
                c = rng.integers(-7, 8, size=g + 1).astype(np.float64) / 4.0
                s = 0.5
                L = phi_left(q, basis, c, s)[0]
                Rk = phi_right(k, basis)[0]
                # phi_R must be exactly k^alpha
                for a in range(basis.rank):
                    want = math.prod(Fraction(float(k[0, i])) ** int(basis.exponents[a, i]) for i in range(d))
                    require(Fraction(float(Rk[a])) == want, f"phi_R(k)[{a}] = {Rk[a]} != k^alpha = {want}")
                dot = sum(Fraction(float(x)) * Fraction(float(y)) for x, y in zip(L, Rk))
                x = Fraction(s) * sum(Fraction(float(q[0, i])) * Fraction(float(k[0, i])) for i in range(d))
                p = sum(Fraction(float(cj)) * x**j for j, cj in enumerate(c))
                require(dot == p, f"d={d}, g={g}: phi_L.phi_R = {float(dot)!r} != p(s q.k) = {float(p)!r} exactly")
                exact_cases += 1
    # Real coefficients: compare float result with p evaluated at 50 digits from the same float coefficients.
    mpmath.mp.dps = 50
    u = 2.0**-53
    worst = 0.0
    real_cases = 0
    for kind, R in (("taylor", 1.0), ("shifted_taylor", 2.0), ("chebyshev", 4.0)):
        for d in (2, 3, 4):
            for g in (3, 6):
                coeffs = monomial_coefficients(kind, g, R)
                basis = monomial_basis(d, g)
                s = 1.0 / d
                B = math.sqrt(R)
                Q = rng.uniform(-B, B, size=(5, d))
                K = rng.uniform(-B, B, size=(5, d))
                got = phi_left(Q, basis, coeffs, s) @ phi_right(K, basis).T
                w = feature_weights(basis, coeffs, s)
                absterms = np.abs(phi_left(Q, basis, np.abs(coeffs), s)) @ np.abs(phi_right(K, basis)).T
                for i in range(5):
                    for j in range(5):
                        xx = mpmath.mpf(s) * mpmath.fsum(mpmath.mpf(Q[i, t]) * mpmath.mpf(K[j, t]) for t in range(d))
                        pv = mpmath.fsum(mpmath.mpf(cj) * xx**jj for jj, cj in enumerate(coeffs))
                        err = abs(mpmath.mpf(got[i, j]) - pv)
                        # each term: <= g+3 roundings in weight and monomials, r in the dot product
                        margin = (2 * g + 6 + basis.rank) * u * absterms[i, j]
                        require(err <= margin, f"{kind} d={d} g={g}: |phi_L.phi_R - p| = {float(err):.3e} "
                                                f"> margin {margin:.3e}")
                        worst = max(worst, float(err / margin) if margin > 0 else 0.0)
                        real_cases += 1
                require(np.all(np.isfinite(w)), "non-finite feature weights")
    return (f"{exact_cases} dyadic cases exactly equal (phi_R = k^alpha exactly); {real_cases} float cases within "
            f"(2g+6+r) u sum|terms|, worst error/margin = {worst:.3f}")


@check("1c.width",
       statement="the simulator's basis has width C(d+g, g): all multi-indices |alpha| <= g, each once, by the "
                 "parent recursion (d <= 8, g <= 6); C(2(g+d), 2g) >= C(d+g, g) for d, g <= 200",
       source="docs/theory.md §3.8; Alman-Song 2023 (looser width)",
       method="exhaustive")
def width() -> str:
    from promptlimits.features import monomial_basis, rank

    cases = 0
    for d in range(1, 9):
        for g in range(0, 7):
            basis = monomial_basis(d, g)
            want = math.comb(d + g, g)
            enum = {a for j in range(g + 1) for a in _alphas(d, j)}
            got = [tuple(int(x) for x in row) for row in basis.exponents]
            require(basis.rank == want == rank(d, g) == len(enum),
                    f"d={d}, g={g}: rank {basis.rank}, rank() {rank(d, g)}, C(d+g,g) {want}, enumerated {len(enum)}")
            require(len(got) == len(set(got)) and set(got) == enum,
                    f"d={d}, g={g}: the basis' multi-indices are not exactly the |alpha| <= g ones")
            require(all(int(t) == sum(a) for t, a in zip(basis.total_degree, got)), f"d={d}, g={g}: total_degree")
            require(basis.parent[0] == -1 and got[0] == (0,) * d, f"d={d}, g={g}: first monomial is not 1")
            for a in range(1, basis.rank):
                p, c = int(basis.parent[a]), int(basis.coord[a])
                require(0 <= p < a and 0 <= c < d, f"d={d}, g={g}: bad parent/coord at {a}")
                child = list(got[p])
                child[c] += 1
                require(tuple(child) == got[a], f"d={d}, g={g}: exponents[{a}] != exponents[parent] + e_coord")
            cases += 1
    ineq = 0
    tightest = math.inf
    for d in range(1, 201):
        for g in range(0, 201):
            a, b = math.comb(2 * (g + d), 2 * g), math.comb(d + g, g)
            require(a >= b, f"C(2(g+d), 2g) = {a} < C(d+g, g) = {b} at d={d}, g={g}")
            ineq += 1
            if g > 0:
                tightest = min(tightest, a / b)
    return (f"{cases} bases (d=1..8, g=0..6) enumerated; Alman-Song width >= C(d+g,g) on {ineq} pairs, smallest "
            f"ratio for g >= 1: {tightest:.3g}")
