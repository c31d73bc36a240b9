"""Check of the threshold arithmetic of the efficiency phase transition (docs/theory.md §5).

Setting (Alman--Song; docs/theory.md §5.2): ``d = log2 n``, ``eps = 1/n``, ``B = c
sqrt(ln n)``, default scale ``1/d`` so the logit range is ``R = B^2 = c^2 ln n``.
The polynomial method needs the least certified degree ``g*`` (the least
over the simulator's kinds of the least ``g`` whose approximation bound is
``<= eps``) and has rank ``r* = C(d + g*, g*)``; it beats quadratic time when
``log_n r* < 1``, i.e. ``r* < n``.

Verified by exact evaluation for ``n = 2^8 .. 2^40``:

* the approximation bounds are the simulator's own (``polyapprox.approximation_bound_interval``,
  the exact-arithmetic certificate; the float64 coefficient-rounding term is left
  out because it, not the mathematics, limits certification at large ``R``),
  evaluated with ``mpmath.iv`` interval arithmetic: ``g*`` is proved least by
  checking every smaller degree;
* ``r* < n`` and ``r* > n`` are decided in exact integer arithmetic;
* for ``c = 0.15`` every ``n`` is below the threshold and for ``c = 0.5``
  every ``n`` is above it; for each ``n`` the crossing ``c*(n)`` is located by
  bisection (``r*`` is non-decreasing in ``c`` because every bound grows with
  ``R``) and both ends of the final bracket are verified with intervals;
* where the simulator's ``least_degree`` (which includes the rounding term)
  can certify ``eps = 1/n``, it is never below ``g*``.
"""

from __future__ import annotations

import math

from .core import Failed, check, require

C_SMALL = "0.15"
C_LARGE = "0.5"
K_RANGE = range(8, 41)


def _float_least(pa, R, k):
    le = -k * math.log(2)
    best = None
    for kind in pa.KINDS:
        g = 0
        while pa.log_approximation_bound(kind, g, R) > le and g <= pa.MAX_DEGREE:
            g += 1
        best = g if best is None else min(best, g)
    return best


def _verified_least(pa, c, k):
    """g* for (c, n = 2^k), proved with interval arithmetic; returns (g*, kind)."""
    from mpmath import iv

    iv.dps = 60
    Ri = iv.mpf(c) ** 2 * k * iv.log(2)
    eps = iv.mpf(2) ** (-k)
    best = None
    for kind in pa.KINDS:
        R_float = float(Ri.mid)
        g_guess = 0
        while pa.log_approximation_bound(kind, g_guess, R_float) > -k * math.log(2) and g_guess <= pa.MAX_DEGREE:
            g_guess += 1
        g = None
        for gp in range(0, g_guess + 3):
            b = pa.approximation_bound_interval(kind, gp, Ri)
            if b.b <= eps.a:
                g = gp
                break
            if not b.a > eps.b:
                raise Failed(f"c={c}, n=2^{k}, {kind} g={gp}: bound interval {b} straddles eps = 2^-{k}")
        if g is None:
            raise Failed(f"c={c}, n=2^{k}, {kind}: no certified degree up to {g_guess + 2}")
        if best is None or g < best[0]:
            best = (g, kind)
    return best


@check("5.threshold",
       statement=f"with d = log2 n, eps = 1/n, R = B^2, B = c sqrt(ln n): r* = C(d+g*, g*) < n for c = {C_SMALL} and "
                 f"> n for c = {C_LARGE} at every n = 2^8..2^40 (g* the least certified degree); crossing c*(n) by "
                 "bisection",
       source="docs/theory.md §5.2 (B = o(sqrt(log n)) vs Theta(sqrt(log n))); Alman-Song 2023",
       method="exact integers + mpmath interval")
def threshold() -> str:
    from promptlimits import polyapprox as pa

    rows = []
    for c in (C_SMALL, C_LARGE):
        exps = []
        for k in K_RANGE:
            g, _ = _verified_least(pa, c, k)
            r = math.comb(k + g, g)
            if c == C_SMALL:
                require(r < 2**k, f"c={c}, n=2^{k}: g*={g}, rank {r} >= n")
            else:
                require(r > 2**k, f"c={c}, n=2^{k}: g*={g}, rank {r} <= n")
            exps.append(math.log(r) / (k * math.log(2)))
        rows.append(f"c={c}: log_n r* in [{min(exps):.3f}, {max(exps):.3f}]")
    # crossing by bisection (floats), then both ends verified with intervals
    crossings = {}
    for k in K_RANGE:
        lo, hi = 0.0, float(C_LARGE)
        for _ in range(30):
            mid = (lo + hi) / 2
            g = _float_least(pa, mid * mid * k * math.log(2), k)
            if math.comb(k + g, g) > 2**k:
                hi = mid
            else:
                lo = mid
        g_lo, _ = _verified_least(pa, repr(lo), k)
        g_hi, _ = _verified_least(pa, repr(hi), k)
        require(math.comb(k + g_lo, g_lo) <= 2**k < math.comb(k + g_hi, g_hi),
                f"n=2^{k}: bracket [{lo}, {hi}] not verified (g* = {g_lo}, {g_hi})")
        crossings[k] = (hi, g_hi)
    # monotonicity in c on a grid (the premise of bisection)
    for k in (8, 20, 40):
        prev = -1
        for i in range(1, 101):
            c = i * float(C_LARGE) / 100
            g = _float_least(pa, c * c * k * math.log(2), k)
            require(g >= prev, f"n=2^{k}: g* decreases in c at c={c}")
            prev = g
    # the simulator's least_degree (with the rounding term) never undercuts g*
    compared = equal = 0
    for k in range(8, 25):
        for c in (C_SMALL, C_LARGE):
            R = float(c) ** 2 * k * math.log(2)
            try:
                gs = pa.least_degree(R, 2.0**-k)
            except ValueError:
                continue
            g, _ = _verified_least(pa, c, k)
            require(gs >= g, f"n=2^{k}, c={c}: least_degree {gs} < exact-arithmetic g* {g}")
            compared += 1
            equal += gs == g
    cross = ", ".join(f"2^{k}:{crossings[k][0]:.4f}(g*={crossings[k][1]})" for k in (8, 12, 16, 20, 24, 28, 32, 36, 40))
    return (f"{'; '.join(rows)}; crossing c*(n) [n:c*(g* at c*)]: {cross}; c* over all n in "
            f"[{min(v[0] for v in crossings.values()):.4f}, {max(v[0] for v in crossings.values()):.4f}]; "
            f"simulator least_degree equals g* in {equal}/{compared} certifiable cases (never below)")



def _least_certified(pa, d, k, R, eps_p, g_top):
    """(g*, rank) at R proved with intervals: the least degree <= g_top some kind certifies, or (None, None) when
    no kind certifies any degree <= g_top; every comparison must be decided by the intervals."""
    from mpmath import iv

    Ri = iv.mpf(R)
    for g in range(g_top + 1):
        bounds = [pa.approximation_bound_interval(kind, g, Ri) for kind in pa.KINDS]
        if any(b.b <= eps_p.a for b in bounds):
            return g, math.comb(d + g, g)
        undecided = [b for b in bounds if not b.a > eps_p.b]
        if undecided:
            raise Failed(f"n=2^{k}, R={R!r}, g={g}: a bound interval {undecided[0]} straddles eps_p")
    return None, None


@check("5b.crossing-theorem-regime",
       statement="with d = log2 n, eps = 1/n (eps_p = 4 eps/(4 + eps^2)) and R = B^2: every bound increases with R, "
                 "and for every n = 2^8..2^64 the simulator's crossing R*(n) = c*(n)^2 ln n "
                 "(promptlimits.threshold.crossing) is bracketed: r* < n at R*(1 - 1e-9) and r* >= n at "
                 "R*(1 + 1e-9), every degree and kind decided in interval arithmetic",
       source="docs/theory.md §5.2, §5.4 (the phase experiment's c*(n)); Alman-Song 2023",
       method="sympy + exact integers + mpmath interval")
def crossing_theorem_regime() -> str:
    import sympy as sp
    from mpmath import iv

    from promptlimits import polyapprox as pa
    from promptlimits.threshold import crossing

    g, R = sp.symbols("g R", positive=True)
    fact = sp.factorial(g + 1)
    for kind, bound in (("taylor", sp.exp(R) * R ** (g + 1) / fact), ("shifted_taylor", (2 * R) ** (g + 1) / fact),
                        ("chebyshev", 2 * sp.exp(2 * R) * (R / 2) ** (g + 1) / fact)):
        slope = sp.simplify(sp.diff(sp.expand_log(sp.log(bound), force=True), R))
        require(slope.is_positive, f"{kind}: d log b / dR = {slope} is not positive")
    saved = iv.dps
    iv.dps = 40
    cs = []
    try:
        for k in range(8, 65):
            n = 2**k
            cr = crossing(k, k, 2.0**-k)
            E = iv.mpf(2) ** (-k)
            eps_p = 4 * E / (4 + E * E)
            g_max = max(gg for gg in range(200) if math.comb(k + gg, gg) < n)
            require(cr.g_max == g_max, f"n=2^{k}: simulator g_max {cr.g_max}, exact integers {g_max}")
            g_lo, r_lo = _least_certified(pa, k, k, cr.R_star * (1 - 1e-9), eps_p, g_max)
            require(r_lo is not None and r_lo < n, f"n=2^{k}: r* < n fails just below R* (g* = {g_lo})")
            g_hi, _ = _least_certified(pa, k, k, cr.R_star * (1 + 1e-9), eps_p, g_max)
            require(g_hi is None and math.comb(k + g_max + 1, g_max + 1) >= n,
                    f"n=2^{k}: degree {g_hi} <= g_max is certified just above R*")
            cs.append((k, cr.c_star, g_max))
    finally:
        iv.dps = saved
    lo, hi = min(c for _, c, _ in cs), max(c for _, c, _ in cs)
    shown = ", ".join(f"2^{k}:{c:.4f}(g_max={gm})" for k, c, gm in cs if k % 8 == 0)
    return (f"each bound's d log b/dR > 0; 57 crossings bracketed to 1e-9 in R; c*(n) [n:c*]: {shown}; c* in "
            f"[{lo:.4f}, {hi:.4f}], max/min {hi / lo:.3f}")
